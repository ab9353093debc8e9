//! Press-to-stored latency: 32 simulated FK-3 keypads on one bus at 115200 baud (bytes paced
//! as on a real wire), the real server in this process. For each vote, the time from the key
//! press on the keypad to the vote committed in SQLite. Target: p99 under one poll cycle + 50 ms.
//!
//! Run: `cargo bench --bench press_to_stored`

use std::collections::HashMap;
use std::time::{Duration, Instant};

use faccia_proto::v1::{queue_events_client::QueueEventsClient, EventType, TicketEvent};
use faccia_serial::sim::{Key, SimConfig, Simulator};
use faccia_serial::{Face, KeypadState};
use faccia_server::storage::{log_kind, read};

const KEYPADS: u8 = 32;
const ROUNDS: usize = 6;
const BAUD: u32 = 115_200;

fn config(db: &str, link: &std::path::Path) -> String {
    let mut t = format!(
        "[server]\nlisten = \"127.0.0.1:0\"\n[database]\nurl = \"{db}\"\n[site]\nid = \"bench\"\nname = \"Bench\"\ntime_zone = \"Europe/Rome\"\n[[auth.tokens]]\nname = \"q\"\nrole = \"queue\"\ntoken = \"bench-queue-token\"\n"
    );
    for i in 1..=KEYPADS {
        t.push_str(&format!(
            "[[counters]]\nid = \"K{i:02}\"\nname = \"K{i}\"\nkeypad = {{ port = \"{}\", unit = {i}, baud = {BAUD} }}\n",
            link.display()
        ));
    }
    t
}

/// Wire time of one status poll while a session is open (the 7 input registers
/// 0x0002..=0x0008 the spec asks for; BOOT_COUNT comes with the periodic counters read, or at
/// once when a status looks like a reboot) at 8N1, plus the two inter-frame silences Modbus RTU
/// prescribes (1.75 ms each above 19200 baud).
fn poll_wire_time() -> Duration {
    let bytes = 8 + (3 + 2 * 7 + 2);
    let char_s = 10.0 / f64::from(BAUD);
    Duration::from_secs_f64(bytes as f64 * char_s + 2.0 * 0.00175)
}

fn percentile(v: &mut [Duration], p: f64) -> Duration {
    v.sort_unstable();
    let rank = ((p / 100.0) * v.len() as f64).ceil() as usize;
    v[rank.clamp(1, v.len()) - 1]
}

fn main() -> anyhow::Result<()> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    rt.block_on(async {
        let dir = tempfile::tempdir()?;
        let link = dir.path().join("bus");
        let mut sim_cfg = SimConfig::new((1..=KEYPADS).collect(), &link);
        sim_cfg.baud = BAUD;
        sim_cfg.pace = std::env::var_os("NO_PACE").is_none();
        // The keypads run on their own thread and runtime, as a real bus is another device:
        // the simulator's byte pacing must not compete with the server for worker threads.
        let (handle_tx, handle_rx) = std::sync::mpsc::channel();
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let sim_thread = std::thread::spawn(move || {
            let rt = match tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            {
                Ok(rt) => rt,
                Err(e) => {
                    let _ = handle_tx.send(Err(anyhow::anyhow!("simulator runtime: {e}")));
                    return;
                }
            };
            rt.block_on(async move {
                match Simulator::start(sim_cfg).await {
                    Ok(sim) => {
                        let _ = handle_tx.send(Ok(sim.handle()));
                        let _ = stop_rx.await;
                        sim.shutdown().await;
                    }
                    Err(e) => {
                        let _ = handle_tx.send(Err(anyhow::anyhow!("simulator: {e}")));
                    }
                }
            });
        });
        let keys = handle_rx.recv()??;
        let db = format!("sqlite://{}", dir.path().join("bench.db").display());
        let path = dir.path().join("faccia.toml");
        std::fs::write(&path, config(&db, &link))?;
        let cfg =
            faccia_server::config::Config::load(Some(&path)).map_err(|e| anyhow::anyhow!("{e}"))?;
        let shared = faccia_server::open(cfg, faccia_server::storage::system_clock())?;
        let store = shared.offices[0].store.clone();
        let gateway = shared.clone();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        tokio::spawn(faccia_server::serve(
            shared,
            listener,
            std::future::pending(),
        ));
        let channel = tonic::transport::Channel::from_shared(format!("http://{addr}"))?
            .connect()
            .await?;
        let mut q = QueueEventsClient::with_interceptor(channel, |mut r: tonic::Request<()>| {
            r.metadata_mut().insert(
                "authorization",
                "Bearer bench-queue-token"
                    .parse()
                    .map_err(|_| tonic::Status::internal("token"))?,
            );
            Ok(r)
        });
        // Let the bus find every keypad.
        tokio::time::sleep(Duration::from_secs(3)).await;
        let mut latencies = Vec::new();
        let polls = |g: &faccia_server::Shared| {
            g.offices[0]
                .keypads
                .health()
                .iter()
                .map(|k| k.polls)
                .sum::<u64>()
        };
        let t_start = Instant::now();
        let polls_start = polls(&gateway);
        let mut seq = store.watch_seq();
        let mut cursor = *seq.borrow();
        let mut rng: u64 = 0x9e37_79b9_7f4a_7c15;
        let now_ms = || chrono::Utc::now().timestamp_millis();
        for round in 0..ROUNDS {
            let mut pressed: HashMap<String, Instant> = HashMap::new();
            let mut unit_of: HashMap<String, u8> = HashMap::new();
            for i in 1..=KEYPADS {
                let ticket = format!("r{round}-k{i}");
                let ack = q
                    .publish(TicketEvent {
                        source_id: "bench".into(),
                        event_id: ticket.clone(),
                        occurred_at: Some(prost_types::Timestamp {
                            seconds: now_ms() / 1000,
                            nanos: 0,
                        }),
                        r#type: EventType::Served as i32,
                        ticket_id: ticket.clone(),
                        counter_id: format!("K{i:02}"),
                        service_code: "A".into(),
                        ..Default::default()
                    })
                    .await?
                    .into_inner();
                if let Some(s) = ack.vote_session {
                    unit_of.insert(s.session_id.clone(), i);
                    pressed.insert(s.session_id, Instant::now());
                }
            }
            // Wait until every keypad shows the session, then press all of them.
            let deadline = Instant::now() + Duration::from_secs(10);
            while keys
                .status()
                .iter()
                .filter(|u| u.state == KeypadState::Armed)
                .count()
                < usize::from(KEYPADS)
                && Instant::now() < deadline
            {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            // Citizens press at their own moments: one keypad every 20-80 ms, in a shuffled order,
            // while this task watches the votes arrive.
            let mut order: Vec<u8> = (1..=KEYPADS).collect();
            for k in (1..order.len()).rev() {
                rng = rng
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                order.swap(k, (rng >> 33) as usize % (k + 1));
            }
            let mut gaps = Vec::new();
            for _ in 0..order.len() {
                rng = rng
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                gaps.push(Duration::from_millis(20 + (rng >> 33) % 60));
            }
            let presser = keys.clone();
            let pressing = tokio::spawn(async move {
                let mut at_unit: HashMap<u8, Instant> = HashMap::new();
                for (i, gap) in order.into_iter().zip(gaps) {
                    if presser.press(i, Key::Face(Face::Green)).is_ok() {
                        at_unit.insert(i, Instant::now());
                    }
                    tokio::time::sleep(gap).await;
                }
                at_unit
            });
            let started = Instant::now();
            let mut seen_at: HashMap<String, Instant> = HashMap::new();
            while seen_at.len() < pressed.len() && started.elapsed() < Duration::from_secs(15) {
                let _ = tokio::time::timeout(Duration::from_millis(200), seq.changed()).await;
                let at = Instant::now();
                let from = cursor;
                let rows = store
                    .read(move |c| read::log_after(c, None, from, 10_000))
                    .await?;
                for r in rows {
                    cursor = r.seq;
                    if r.kind == log_kind::VOTE_RECORDED && pressed.contains_key(&r.session_id) {
                        seen_at.insert(r.session_id, at);
                    }
                }
            }
            let at_unit = pressing.await?;
            for (session, stored_at) in &seen_at {
                if let Some(t) = unit_of.get(session).and_then(|u| at_unit.get(u)) {
                    latencies.push(stored_at.saturating_duration_since(*t));
                }
            }
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
        let n = latencies.len();
        let min = latencies.iter().min().copied().unwrap_or_default();
        let max = latencies.iter().max().copied().unwrap_or_default();
        println!(
            "  min {:.1} ms, max {:.1} ms",
            min.as_secs_f64() * 1e3,
            max.as_secs_f64() * 1e3
        );
        let median = percentile(&mut latencies, 50.0);
        let p99 = percentile(&mut latencies, 99.0);
        // The poll cycle the bus really achieved (health is refreshed every second).
        let polls_end = polls(&gateway);
        let cycles = (polls_end.saturating_sub(polls_start)) as f64 / f64::from(KEYPADS);
        let cycle = Duration::from_secs_f64(t_start.elapsed().as_secs_f64() / cycles.max(1.0));
        let wire = poll_wire_time() * u32::from(KEYPADS);
        let limit = cycle + Duration::from_millis(50);
        println!("press_to_stored: {n} votes, {KEYPADS} keypads on one bus at {BAUD} baud (paced)");
        println!(
            "  poll cycle measured: {:.1} ms; wire-time bound: {:.1} ms",
            cycle.as_secs_f64() * 1e3,
            wire.as_secs_f64() * 1e3
        );
        println!(
            "  latency median {:.1} ms, p99 {:.1} ms; target p99 < {:.1} ms: {}",
            median.as_secs_f64() * 1e3,
            p99.as_secs_f64() * 1e3,
            limit.as_secs_f64() * 1e3,
            if p99 < limit { "met" } else { "NOT met" }
        );
        let _ = stop_tx.send(());
        let _ = sim_thread.join();
        Ok(())
    })
}
