//! PostgreSQL's planner statistics for the tables the writer grows.
//!
//! The writer keeps its statements prepared. PostgreSQL plans a prepared statement once for
//! generic parameters and keeps that plan until the table's statistics change. Planned on a
//! new, empty `tickets` table, a lookup by the whole primary key ties with a scan of every row
//! of the site through another index that starts with `site_id`, and may take it: every event
//! then costs a scan of the day, slower by the hour (measured: 590 events/s at the start of a
//! fresh database, 90/s at 33,000 tickets). Autovacuum refreshes the statistics, when it is on
//! and when its naptime comes; many installations turn it off or tune it for other tables.
//!
//! So the store analyses its own tables, on a thread and a connection of its own (nothing
//! waits for it): once when it opens, then each time the jobs committed since the last run
//! reach the size they had then (1,000, 2,000, 4,000, ...: a handful of runs a day, each a
//! sample of at most 30,000 rows per table). New statistics make PostgreSQL plan the cached
//! statements again. SQLite needs none of this (its planner prefers the full-key index).

use std::sync::mpsc;

use diesel::connection::SimpleConnection;

use crate::{conn, AnyConnection, DatabaseUrl};

/// The tables the writer grows on every event.
const TABLES: &str = "tickets, ticket_steps, received_events, event_log, vote_sessions, votes";

/// The jobs committed before the second run.
const FIRST: u64 = 1_000;

/// Most jobs between two runs once the tables are large.
const MOST: u64 = 1_000_000;

/// Asks the analyser thread for a run when enough jobs committed.
pub(crate) struct Analyser {
    tx: Option<mpsc::SyncSender<()>>,
    since: u64,
    next: u64,
}

impl Analyser {
    /// Starts the analyser for `url` (nothing on SQLite); its first run is now.
    pub(crate) fn start(url: &DatabaseUrl, busy_timeout_ms: u32) -> Analyser {
        let tx = match url {
            DatabaseUrl::Sqlite(_) => None,
            DatabaseUrl::Postgres(_) => {
                let (tx, rx) = mpsc::sync_channel::<()>(1);
                let url = url.clone();
                let started = std::thread::Builder::new()
                    .name("faccia-db-analyse".into())
                    .spawn(move || run(url, busy_timeout_ms, rx));
                match started {
                    Ok(_) => {
                        let _ = tx.try_send(());
                        Some(tx)
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "cannot start the statistics thread");
                        None
                    }
                }
            }
        };
        Analyser {
            tx,
            since: 0,
            next: FIRST,
        }
    }

    /// `jobs` more committed.
    pub(crate) fn committed(&mut self, jobs: usize) {
        let Some(tx) = &self.tx else { return };
        self.since += jobs as u64;
        if self.since >= self.next {
            // A run still going takes these rows too: no second request queues behind it.
            let _ = tx.try_send(());
            self.since = 0;
            self.next = (self.next * 2).min(MOST);
        }
    }
}

fn run(url: DatabaseUrl, busy_timeout_ms: u32, rx: mpsc::Receiver<()>) {
    let mut c: Option<AnyConnection> = None;
    while rx.recv().is_ok() {
        if c.is_none() {
            c = conn::connect(&url, busy_timeout_ms).ok();
        }
        let Some(AnyConnection::Postgresql(pg)) = c.as_mut() else {
            continue;
        };
        let started = std::time::Instant::now();
        match pg.batch_execute(&format!("ANALYZE {TABLES}")) {
            Ok(()) => tracing::debug!(
                ms = started.elapsed().as_millis() as u64,
                "planner statistics refreshed"
            ),
            Err(e) => {
                tracing::warn!(error = %e, "cannot refresh the planner statistics");
                c = None;
            }
        }
    }
}
