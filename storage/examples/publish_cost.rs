//! The writer's raw cost per event, deterministic enough to compare before and after a change:
//! opens a `Store` on a fresh SQLite file (or `FACCIA_COST_PG`, a PostgreSQL URL of a database
//! to wipe), publishes `N` events (`FACCIA_COST_EVENTS`, default 20,000: per ticket ISSUED, CALLED,
//! SERVED at one of 16 counters, so every SERVED opens a vote session and the next CALLED at
//! that counter supersedes it), `FACCIA_COST_WINDOW` in flight (default 1: one event per
//! transaction, the same batches on every run), and prints the statements per event that the
//! writer's connection ran (diesel's instrumentation) and the wall time.
//!
//! Instructions per event: run it under callgrind and read the inclusive cost of
//! `faccia_storage::ops::publish` (one call per event), e.g.
//! `valgrind --tool=callgrind --callgrind-out-file=cg.out target/release/examples/publish_cost`
//! then `callgrind_annotate --inclusive=yes cg.out | grep ops::publish`.
//! `FACCIA_COST_ISSUED=1` publishes only ISSUED events (a ticket each), as the ingest bench's
//! `publish` phases do. `FACCIA_COST_SQLITE=<path>` keeps the SQLite file there (it must not exist yet).
//! `FACCIA_COST_SQL=1` also prints each distinct statement with how often it ran and the time it
//! took in all (with the instrumentation's own cost), the slowest first.

use std::collections::{HashMap, VecDeque};
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use diesel::connection::{set_default_instrumentation, Instrumentation, InstrumentationEvent};
use faccia_domain::{EventKind, TicketEvent};
use faccia_storage::{Ack, AckStatus, DatabaseUrl, Rules, Store, StoreError};

static QUERIES: AtomicU64 = AtomicU64::new(0);
static PREPARED: AtomicU64 = AtomicU64::new(0);
static COUNTING: AtomicBool = AtomicBool::new(false);
/// Per statement text: how often it ran and for how long in all.
static SQL: Mutex<Option<HashMap<String, (u64, Duration)>>> = Mutex::new(None);

thread_local! {
    /// The statement running on this thread's connection, and since when.
    static RUNNING: std::cell::RefCell<Option<(String, Instant)>> = const { std::cell::RefCell::new(None) };
}

/// 2026-03-02 08:00 in Rome.
const T0: i64 = 1_772_434_800_000;
const COUNTERS: u64 = 16;

fn counter() -> Option<Box<dyn Instrumentation>> {
    Some(Box::new(|event: InstrumentationEvent<'_>| {
        if !COUNTING.load(Ordering::Relaxed) {
            return;
        }
        match event {
            InstrumentationEvent::StartQuery { query, .. } => {
                QUERIES.fetch_add(1, Ordering::Relaxed);
                if let Ok(mut m) = SQL.lock() {
                    if let Some(m) = m.as_mut() {
                        let text = query.to_string();
                        let key = text.split(" -- binds").next().unwrap_or("").to_string();
                        m.entry(key.clone()).or_default().0 += 1;
                        RUNNING.with(|r| *r.borrow_mut() = Some((key, Instant::now())));
                    }
                }
            }
            InstrumentationEvent::FinishQuery { .. } => {
                if let Some((key, at)) = RUNNING.with(|r| r.borrow_mut().take()) {
                    if let Ok(mut m) = SQL.lock() {
                        if let Some(m) = m.as_mut() {
                            m.entry(key).or_default().1 += at.elapsed();
                        }
                    }
                }
            }
            InstrumentationEvent::CacheQuery { sql, .. } => {
                PREPARED.fetch_add(1, Ordering::Relaxed);
                if let Ok(mut m) = SQL.lock() {
                    if let Some(m) = m.as_mut() {
                        m.entry(format!("(prepared, cached) {sql}")).or_default().0 += 1;
                    }
                }
            }
            _ => {}
        }
    }))
}

fn env_num(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn event(n: u64, issued_only: bool) -> TicketEvent {
    let ticket = if issued_only { n } else { n / 3 };
    let (kind, offset) = match if issued_only { 0 } else { n % 3 } {
        0 => (EventKind::Issued, 0),
        1 => (EventKind::Called, 1_000),
        _ => (EventKind::Served, 2_000),
    };
    TicketEvent {
        source_id: "cost".into(),
        event_id: format!("e{n}"),
        occurred_at: T0 + i64::try_from(ticket).unwrap_or(0) * 3_000 + offset,
        kind,
        ticket_id: format!("t{ticket}"),
        display_number: format!("A{:03}", ticket % 1000),
        service_code: "A".into(),
        counter_id: if kind == EventKind::Issued {
            String::new()
        } else {
            format!("C{:02}", ticket % COUNTERS + 1)
        },
        operator_ref: String::new(),
        transfer_to_service: String::new(),
        priority: 0,
    }
}

type Answer = Pin<Box<dyn Future<Output = Result<Ack, StoreError>> + Send>>;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    set_default_instrumentation(counter)?;
    let events = env_num("FACCIA_COST_EVENTS", 20_000);
    let issued_only = std::env::var("FACCIA_COST_ISSUED").is_ok_and(|v| v == "1");
    let window = usize::try_from(env_num("FACCIA_COST_WINDOW", 1).max(1))?;
    if std::env::var("FACCIA_COST_SQL").is_ok_and(|v| v == "1") {
        *SQL.lock().map_err(|e| e.to_string())? = Some(HashMap::new());
    }
    let dir = tempfile::tempdir()?;
    let url = match std::env::var("FACCIA_COST_PG") {
        Ok(u) => {
            let mut c = faccia_storage::connect(&DatabaseUrl::Postgres(u.clone()), 1000)?;
            if let faccia_storage::AnyConnection::Postgresql(pg) = &mut c {
                use diesel::connection::SimpleConnection;
                pg.batch_execute("DROP SCHEMA public CASCADE; CREATE SCHEMA public;")?;
            }
            DatabaseUrl::Postgres(u)
        }
        Err(_) => DatabaseUrl::Sqlite(match std::env::var("FACCIA_COST_SQLITE") {
            Ok(path) => path.into(),
            Err(_) => dir.path().join("cost.db"),
        }),
    };
    let rules = Rules {
        site_id: "cost".into(),
        site_name: "Cost".into(),
        vote_window_ms: 60_000,
        grace_ms: 10_000,
        reason_window_ms: 10_000,
        time_zone: chrono_tz::Europe::Rome,
        operator_data: false,
        keypad_counters: Vec::new(),
    };
    // A stepped clock: the same instants on every run.
    let ticks = Arc::new(AtomicI64::new(0));
    let clock: faccia_storage::Clock = {
        let ticks = ticks.clone();
        Arc::new(move || T0 + ticks.fetch_add(1, Ordering::Relaxed) * 1_000)
    };
    let store = Store::open(&url, 5_000, rules, clock)?;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let started = Instant::now();
    COUNTING.store(true, Ordering::Relaxed);
    let statuses = rt.block_on(async {
        let gate = Arc::new(AtomicBool::new(false));
        let mut in_flight: VecDeque<Answer> = VecDeque::new();
        let mut statuses: HashMap<AckStatus, u64> = HashMap::new();
        for n in 0..events {
            in_flight.push_back(Box::pin(store.publish_queued(&gate, event(n, issued_only))));
            if in_flight.len() >= window {
                if let Some(f) = in_flight.pop_front() {
                    *statuses.entry(f.await?.status).or_default() += 1;
                }
            }
        }
        while let Some(f) = in_flight.pop_front() {
            *statuses.entry(f.await?.status).or_default() += 1;
        }
        Ok::<_, StoreError>(statuses)
    })?;
    COUNTING.store(false, Ordering::Relaxed);
    let elapsed = started.elapsed();
    let q = QUERIES.load(Ordering::Relaxed);
    println!(
        "{events} events, window {window}: {:.2} statements/event ({q} statements, {} prepared), \
         {:.0} events/s, acks {statuses:?}",
        q as f64 / events as f64,
        PREPARED.load(Ordering::Relaxed),
        events as f64 / elapsed.as_secs_f64(),
    );
    if let Some(m) = SQL.lock().map_err(|e| e.to_string())?.as_ref() {
        let mut rows: Vec<_> = m.iter().collect();
        rows.sort_by(|a, b| b.1 .1.cmp(&a.1 .1).then(b.1 .0.cmp(&a.1 .0)));
        for (sql, (n, spent)) in rows {
            println!("{n:>8} {:>9.1} ms  {sql}", spent.as_secs_f64() * 1e3);
        }
    }
    Ok(())
}
