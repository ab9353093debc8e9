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

#[cfg(test)]
mod tests {
    use diesel::prelude::*;

    use super::*;

    /// The runs come after 1,000 jobs, then 2,000 more, 4,000 more, ..., at most 1,000,000
    /// apart; a request while one is pending does not queue a second.
    #[test]
    fn runs_come_after_a_doubling_count_of_jobs() {
        let (tx, rx) = mpsc::sync_channel::<()>(1);
        let mut a = Analyser {
            tx: Some(tx),
            since: 0,
            next: FIRST,
        };
        let mut gaps = Vec::new();
        let mut jobs = 0u64;
        while gaps.len() < 14 {
            a.committed(100);
            jobs += 100;
            if rx.try_recv().is_ok() {
                gaps.push(jobs);
                jobs = 0;
            }
        }
        let mut want: Vec<u64> = (0..10).map(|i| 1_000 << i).collect();
        want.extend([1_000_000; 4]);
        assert_eq!(gaps, want);

        // Two thresholds passed while the thread is busy: one pending request, not two.
        a.committed(2_000_000);
        a.committed(2_000_000);
        assert!(rx.try_recv().is_ok());
        assert!(rx.try_recv().is_err());
    }

    /// A store opened on PostgreSQL analyses its tables at once, without anyone waiting for it.
    #[tokio::test]
    async fn a_store_on_postgres_analyses_its_tables_when_it_opens() {
        crate::on_scratch_postgres("faccia_analyse", |url| async move {
            let rules = crate::test_rules("a");
            let _store =
                crate::Store::open(&url, 2_000, rules, crate::system_clock()).expect("open");
            let mut c = crate::connect(&url, 1000).expect("connect");
            let crate::AnyConnection::Postgresql(pg) = &mut c else {
                panic!("not PostgreSQL");
            };
            #[derive(QueryableByName)]
            struct Count {
                #[diesel(sql_type = diesel::sql_types::BigInt)]
                n: i64,
            }
            let mut analysed = 0;
            for _ in 0..100 {
                analysed = diesel::sql_query(
                    "SELECT count(*) AS n FROM pg_stat_user_tables \
                     WHERE relname = 'tickets' AND analyze_count > 0",
                )
                .get_result::<Count>(pg)
                .expect("statistics")
                .n;
                if analysed > 0 {
                    break;
                }
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            }
            assert_eq!(analysed, 1, "tickets was never analysed");
        })
        .await;
    }
}
