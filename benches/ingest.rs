//! Ingest throughput: a real `faccia serve` (in this process, loopback only) on SQLite and on
//! PostgreSQL, measured in one run against the standard gRPC health check on the same server (a
//! no-op RPC) as the baseline. Phases, each a few seconds, each repeated (median shown):
//!
//! - `health`: `grpc.health.v1.Health/Check` at 16 in flight: the baseline;
//! - `publish N`: durable `Publish` of ISSUED events at N = 1, 16, 64 in flight;
//! - `stream W`: one `Stream` with at most W = 1, 100, 1000 events unacknowledged;
//! - `lifecycle`: 16 counters, each ISSUED, CALLED, SERVICE_STARTED, SERVED (a vote session) per
//!   ticket, one at a time per counter;
//! - `publish 16 + console`: `publish 16` with a console connected and caught up (a
//!   `WatchEvents` stream and a `GetSnapshot` every 500 ms, as the console does under traffic)
//!   on a day of `FACCIA_BENCH_DAY_TICKETS` tickets (default 131,000; filled before the pair,
//!   for at most 20 s, and grown by the pair's own events), against `publish 16` on that day
//!   without it. The pair runs first, after the health check, so that the day's size does not
//!   depend on how fast the machine ran the other phases.
//!
//! Run: `cargo bench --bench ingest`. Environment: `FACCIA_BENCH_SECS` (seconds per phase,
//! default 2), `FACCIA_BENCH_ROUNDS` (default 3), `FACCIA_BENCH_BACKENDS` (`sqlite,postgres`),
//! `FACCIA_BENCH_PHASES` (some of the phases by their names as printed, comma-separated; the
//! health check always runs), `FACCIA_TEST_PG` (default `postgres://postgres@127.0.0.1:5432/test`; a fresh database is
//! created and dropped).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use diesel::connection::SimpleConnection;
use faccia_proto::v1::{
    monitor_client::MonitorClient, queue_events_client::QueueEventsClient, EventType,
    SnapshotRequest, TicketEvent, WatchRequest,
};
use faccia_server::storage::{self, AnyConnection};
use futures::StreamExt;
use tonic::transport::Channel;
use tonic_health::pb::{health_client::HealthClient, HealthCheckRequest};

const COUNTERS: usize = 16;
const QUEUE_TOKEN: &str = "bench-queue-token";
const VIEWER_TOKEN: &str = "bench-viewer-token";

fn env_num(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn config(db: &str) -> String {
    let mut t = format!(
        "[server]\nlisten = \"127.0.0.1:0\"\n[database]\nurl = \"{db}\"\n[site]\nid = \"bench\"\nname = \"Bench\"\ntime_zone = \"Europe/Rome\"\n[[services]]\ncode = \"A\"\nname = \"Anagrafe\"\nstandard_wait_min = 20\n[[auth.tokens]]\nname = \"q\"\nrole = \"queue\"\ntoken = \"{QUEUE_TOKEN}\"\n[[auth.tokens]]\nname = \"v\"\nrole = \"viewer\"\ntoken = \"{VIEWER_TOKEN}\"\n"
    );
    for i in 1..=COUNTERS {
        t.push_str(&format!(
            "[[counters]]\nid = \"C{i:02}\"\nname = \"C{i}\"\n"
        ));
    }
    t
}

/// Adds the bearer token to every call.
#[derive(Clone)]
struct Bearer(tonic::metadata::MetadataValue<tonic::metadata::Ascii>);

impl tonic::service::Interceptor for Bearer {
    fn call(&mut self, mut r: tonic::Request<()>) -> Result<tonic::Request<()>, tonic::Status> {
        r.metadata_mut().insert("authorization", self.0.clone());
        Ok(r)
    }
}

fn bearer(token: &str) -> anyhow::Result<Bearer> {
    Ok(Bearer(format!("Bearer {token}").parse()?))
}

type Interceptor = Bearer;

type Queue =
    QueueEventsClient<tonic::service::interceptor::InterceptedService<Channel, Interceptor>>;
type Monitor = MonitorClient<tonic::service::interceptor::InterceptedService<Channel, Interceptor>>;

/// Unique ticket numbers across the run.
static NEXT: AtomicU64 = AtomicU64::new(0);

fn event(kind: EventType, ticket: &str, counter: &str, n: u64) -> TicketEvent {
    let now = chrono::Utc::now();
    TicketEvent {
        source_id: "bench".into(),
        event_id: format!("{ticket}-{n}"),
        occurred_at: Some(prost_types::Timestamp {
            seconds: now.timestamp(),
            nanos: now.timestamp_subsec_nanos() as i32,
        }),
        r#type: kind as i32,
        ticket_id: ticket.into(),
        display_number: "A001".into(),
        service_code: "A".into(),
        counter_id: counter.into(),
        ..Default::default()
    }
}

fn issued() -> TicketEvent {
    let t = format!("t{}", NEXT.fetch_add(1, Ordering::Relaxed));
    event(EventType::Issued, &t, "", 0)
}

/// Runs `workers` loops of `call` for `secs`; returns completed calls per second.
async fn closed_loop<F, Fut>(workers: usize, secs: f64, call: F) -> anyhow::Result<f64>
where
    F: Fn() -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = anyhow::Result<u64>> + Send,
{
    let call = Arc::new(call);
    let start = Instant::now();
    let deadline = start + Duration::from_secs_f64(secs);
    let done = Arc::new(AtomicU64::new(0));
    let mut tasks = Vec::new();
    for _ in 0..workers {
        let call = call.clone();
        let done = done.clone();
        tasks.push(tokio::spawn(async move {
            while Instant::now() < deadline {
                let n = call().await?;
                if Instant::now() <= deadline {
                    done.fetch_add(n, Ordering::Relaxed);
                }
            }
            Ok::<(), anyhow::Error>(())
        }));
    }
    for t in tasks {
        t.await??;
    }
    Ok(done.load(Ordering::Relaxed) as f64 / secs)
}

/// One `Stream` with at most `window` events unacknowledged, for `secs`: acks per second.
async fn stream_phase(q: &Queue, window: usize, secs: f64) -> anyhow::Result<f64> {
    let permits = Arc::new(tokio::sync::Semaphore::new(window));
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let (p, s) = (permits.clone(), stop.clone());
    let outgoing = futures::stream::unfold((), move |()| {
        let (p, s) = (p.clone(), s.clone());
        async move {
            let permit = p.acquire().await.ok()?;
            permit.forget();
            if s.load(Ordering::Relaxed) {
                return None;
            }
            Some((issued(), ()))
        }
    });
    let mut acks = q.clone().stream(outgoing).await?.into_inner();
    let start = Instant::now();
    let deadline = start + Duration::from_secs_f64(secs);
    let mut n = 0u64;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            break;
        }
        match tokio::time::timeout(left, acks.next()).await {
            Err(_) => break,
            Ok(None) => anyhow::bail!("the stream ended early"),
            Ok(Some(ack)) => {
                ack?;
                n += 1;
                permits.add_permits(1);
            }
        }
    }
    let rate = n as f64 / start.elapsed().as_secs_f64();
    // Drain what is still in flight, so the next phase starts from an idle server.
    stop.store(true, Ordering::Relaxed);
    permits.add_permits(1);
    while let Some(ack) = acks.next().await {
        ack?;
    }
    Ok(rate)
}

/// Top up the day to `tickets` tickets (through a Stream, window 1000), for at most
/// `FILL_LIMIT`: the phases after it then run on a day as full as that allowed.
async fn fill_day(q: &Queue, tickets: u64) -> anyhow::Result<()> {
    let have = NEXT.load(Ordering::Relaxed);
    if have >= tickets {
        println!("  (the day has {have} tickets)");
        return Ok(());
    }
    let t = Instant::now();
    let deadline = t + FILL_LIMIT;
    let events = futures::stream::iter(0..tickets - have)
        .take_while(move |_| futures::future::ready(Instant::now() < deadline))
        .map(|_| issued());
    let mut acks = q.clone().stream(events).await?.into_inner();
    while let Some(ack) = acks.next().await {
        ack?;
    }
    println!(
        "  (the day topped up to {} tickets in {:.1} s)",
        NEXT.load(Ordering::Relaxed),
        t.elapsed().as_secs_f64()
    );
    Ok(())
}

/// The longest the day is topped up for.
const FILL_LIMIT: Duration = Duration::from_secs(20);

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

async fn run_backend(name: &str, db_url: &str) -> anyhow::Result<()> {
    let secs = env_num("FACCIA_BENCH_SECS", 2) as f64;
    let rounds = env_num("FACCIA_BENCH_ROUNDS", 3).max(1) as usize;
    let day_tickets = env_num("FACCIA_BENCH_DAY_TICKETS", 131_000);
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("faccia.toml");
    std::fs::write(&path, config(db_url))?;
    let cfg =
        faccia_server::config::Config::load(Some(&path)).map_err(|e| anyhow::anyhow!("{e}"))?;
    let shared = faccia_server::open(cfg, faccia_server::storage::system_clock())?;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(faccia_server::serve(shared, listener, async {
        let _ = stop_rx.await;
    }));
    let channel = Channel::from_shared(format!("http://{addr}"))?
        .connect()
        .await?;
    let health = HealthClient::new(channel.clone());
    let q: Queue = QueueEventsClient::with_interceptor(channel.clone(), bearer(QUEUE_TOKEN)?);
    let mon: Monitor = MonitorClient::with_interceptor(channel.clone(), bearer(VIEWER_TOKEN)?);

    // Warm-up: connections, the writer, the database's first pages.
    closed_loop(16, 0.5, {
        let q = q.clone();
        move || {
            let mut q = q.clone();
            async move {
                q.publish(issued()).await?;
                Ok(1)
            }
        }
    })
    .await?;

    println!("\n{name}: {secs} s per phase, median of {rounds}");
    println!("  {:<26} {:>12} {:>8}", "phase", "per second", "ratio");
    let mut base = 0.0;
    // The console's pair first: on a day of the tickets asked for (the other phases publish as
    // fast as the machine goes, and would make the day as large as the machine is fast).
    let phases: Vec<&str> = vec![
        "health",
        "publish 16 (no console)",
        "publish 16 + console",
        "publish 1",
        "publish 16",
        "publish 64",
        "stream 1",
        "stream 100",
        "stream 1000",
        "lifecycle (16 counters)",
    ];
    // FACCIA_BENCH_PHASES: a comma-separated choice of the phases below (by name prefix).
    let chosen = std::env::var("FACCIA_BENCH_PHASES").unwrap_or_default();
    let chosen: Vec<&str> = chosen
        .split(',')
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .collect();
    // How long the console's snapshots took, over every round.
    let mut snapshot_ms: Vec<f64> = Vec::new();
    for phase in phases {
        if !chosen.is_empty() && phase != "health" && !chosen.contains(&phase) {
            continue;
        }
        if phase == "publish 16 (no console)" {
            fill_day(&q, day_tickets).await?;
            // A console that connects loads the day once; the phase measures the console that
            // stays connected.
            let t = Instant::now();
            mon.clone().get_snapshot(SnapshotRequest::default()).await?;
            println!(
                "  (a console's first snapshot of the day: {:.0} ms)",
                t.elapsed().as_secs_f64() * 1e3
            );
        }
        let mut rates = Vec::new();
        for _ in 0..rounds {
            let rate = match phase {
                "health" => {
                    closed_loop(16, secs, {
                        let h = health.clone();
                        move || {
                            let mut h = h.clone();
                            async move {
                                h.check(HealthCheckRequest {
                                    service: String::new(),
                                })
                                .await?;
                                Ok(1)
                            }
                        }
                    })
                    .await?
                }
                p if p.starts_with("publish") => {
                    let workers: usize = p
                        .split_whitespace()
                        .nth(1)
                        .and_then(|n| n.parse().ok())
                        .unwrap_or(16);
                    let console = p.ends_with("+ console");
                    let (cstop_tx, cstop_rx) = tokio::sync::watch::channel(false);
                    let console_task = if console {
                        // The console is connected and caught up before the clock starts: the
                        // phase measures one that stays connected.
                        let (ready_tx, ready_rx) = tokio::sync::oneshot::channel();
                        let t = tokio::spawn(run_console(mon.clone(), cstop_rx, ready_tx));
                        ready_rx.await.context("the console did not start")?;
                        Some(t)
                    } else {
                        None
                    };
                    let r = closed_loop(workers, secs, {
                        let q = q.clone();
                        move || {
                            let mut q = q.clone();
                            async move {
                                q.publish(issued()).await?;
                                Ok(1)
                            }
                        }
                    })
                    .await?;
                    let _ = cstop_tx.send(true);
                    if let Some(t) = console_task {
                        let snapshots = t.await??;
                        anyhow::ensure!(
                            !snapshots.is_empty()
                                || std::env::var("FACCIA_BENCH_CONSOLE")
                                    .is_ok_and(|v| v == "watch"),
                            "the console got no snapshot"
                        );
                        snapshot_ms.extend(snapshots);
                    }
                    r
                }
                p if p.starts_with("stream") => {
                    let window: usize = p
                        .split_whitespace()
                        .nth(1)
                        .and_then(|n| n.parse().ok())
                        .unwrap_or(1);
                    stream_phase(&q, window, secs).await?
                }
                _ => {
                    let counter = Arc::new(AtomicU64::new(0));
                    closed_loop(COUNTERS, secs, {
                        let q = q.clone();
                        move || {
                            let mut q = q.clone();
                            let c = counter.fetch_add(1, Ordering::Relaxed) % COUNTERS as u64;
                            async move {
                                let t = format!("t{}", NEXT.fetch_add(1, Ordering::Relaxed));
                                let at = format!("C{:02}", c + 1);
                                for (i, kind) in [
                                    EventType::Issued,
                                    EventType::Called,
                                    EventType::ServiceStarted,
                                    EventType::Served,
                                ]
                                .into_iter()
                                .enumerate()
                                {
                                    let counter = if i == 0 { "" } else { at.as_str() };
                                    q.publish(event(kind, &t, counter, i as u64)).await?;
                                }
                                Ok(4)
                            }
                        }
                    })
                    .await?
                }
            };
            rates.push(rate);
        }
        let m = median(rates);
        if phase == "health" {
            base = m;
        }
        println!("  {:<26} {:>12.0} {:>8.3}", phase, m, m / base);
        if !snapshot_ms.is_empty() {
            let n = snapshot_ms.len();
            println!(
                "    (the console's GetSnapshot: median {:.1} ms over {n} calls)",
                median(std::mem::take(&mut snapshot_ms))
            );
        }
    }
    let _ = stop_tx.send(());
    let _ = tokio::time::timeout(Duration::from_secs(5), server).await;
    Ok(())
}

/// A console: the live event log, and a snapshot every 500 ms. Says `ready` once it has
/// caught up (a first snapshot, its log stream open). Returns how long each later snapshot
/// took.
async fn run_console(
    mon: Monitor,
    mut stop: tokio::sync::watch::Receiver<bool>,
    ready: tokio::sync::oneshot::Sender<()>,
) -> anyhow::Result<Vec<f64>> {
    // FACCIA_BENCH_CONSOLE=snapshot or =watch runs only that half, to see what costs what.
    let only = std::env::var("FACCIA_BENCH_CONSOLE").unwrap_or_default();
    let mut watch = mon.clone();
    let last = mon
        .clone()
        .get_snapshot(SnapshotRequest {
            ..Default::default()
        })
        .await?
        .into_inner()
        .last_seq;
    let mut log = if only == "snapshot" {
        None
    } else {
        Some(
            watch
                .watch_events(WatchRequest {
                    after_seq: last,
                    ..Default::default()
                })
                .await?
                .into_inner(),
        )
    };
    let mut snaps = Vec::new();
    let mut tick = tokio::time::interval(Duration::from_millis(500));
    // Caught up (the first tick is at once: that snapshot is the phase's first).
    let _ = ready.send(());
    loop {
        tokio::select! {
            _ = stop.changed() => return Ok(snaps),
            entry = async { match log.as_mut() { Some(l) => l.next().await, None => std::future::pending().await } } => {
                entry.context("the log stream ended")??;
            }
            _ = tick.tick(), if only != "watch" => {
                let t = Instant::now();
                mon.clone().get_snapshot(SnapshotRequest { ..Default::default() }).await?;
                snaps.push(t.elapsed().as_secs_f64() * 1e3);
            }
        }
    }
}

fn pg_admin(base: &str, sql: &str) -> anyhow::Result<()> {
    let url = faccia_server::config::DatabaseUrl::parse(base).map_err(|e| anyhow::anyhow!(e))?;
    match storage::connect(&url, 1000)? {
        AnyConnection::Postgresql(mut pg) => pg.batch_execute(sql)?,
        AnyConnection::Sqlite(_) => anyhow::bail!("not a PostgreSQL URL"),
    }
    Ok(())
}

fn main() -> anyhow::Result<()> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let backends =
        std::env::var("FACCIA_BENCH_BACKENDS").unwrap_or_else(|_| "sqlite,postgres".into());
    println!(
        "ingest: events per second, and the ratio to the health check on the same server ({} cores)",
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    rt.block_on(async {
        for backend in backends.split(',').map(str::trim) {
            NEXT.store(0, Ordering::Relaxed);
            match backend {
                "sqlite" => {
                    let dir = tempfile::tempdir()?;
                    let url = format!("sqlite://{}", dir.path().join("bench.db").display());
                    run_backend("SQLite (WAL, durable: fsync before each ack)", &url).await?;
                }
                "postgres" => {
                    let base = std::env::var("FACCIA_TEST_PG")
                        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into());
                    let name = format!("faccia_bench_{}", std::process::id());
                    if let Err(e) = pg_admin(&base, &format!("CREATE DATABASE {name}")) {
                        println!("\nPostgreSQL at {base}: {e}; skipped");
                        continue;
                    }
                    let url = match base.rfind('/') {
                        Some(i) => format!("{}/{name}", &base[..i]),
                        None => anyhow::bail!("bad FACCIA_TEST_PG {base}"),
                    };
                    let r = run_backend("PostgreSQL", &url).await;
                    pg_admin(
                        &base,
                        &format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"),
                    )?;
                    r?;
                }
                other => anyhow::bail!("unknown backend {other:?} (sqlite, postgres)"),
            }
        }
        Ok(())
    })
}
