//! SERVED -> ack and SERVED -> keypad armed, against the real `faccia serve` process: 8 counters
//! on 2 buses of 4 simulated FK-3 keypads (two `faccia keypad simulate --pace` processes at
//! 19200 baud, answers timed as on a real wire). Each counter serves tickets on its own rhythm
//! (CALLED, SERVED; the citizen presses green 0.2-1 s after the keypad lights; the next call
//! 1.5-3 s after SERVED, once the vote has left the keypad).
//!
//! "Armed" is the moment the simulated keypad took the ARM with that session's token, as the
//! simulator saw it (its `transitions` list: the instant the request's last byte reached the
//! keypad on the modelled wire), not the server's word. Times are wall-clock microseconds taken
//! in this process (SERVED sent, ack received) and in the simulator (ARM taken), on one machine.
//! Prints figures only: no pass/fail.
//!
//! Run: `cargo bench --bench served_to_armed` (about a minute; `SERVED_TO_ARMED_ROUNDS=N`
//! tickets per counter, default 20).

#[path = "../tests/common/mod.rs"]
mod common;

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use common::{SimControl, Transition};
use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use faccia_proto::v1::{self, vote_session::KeypadState as AckKeypad, EventType as E};

const BUSES: usize = 2;
const UNITS: u8 = 4;
const COUNTERS: usize = BUSES * UNITS as usize;

diesel::table! {
    vote_sessions (session_id) {
        session_id -> Text,
        token -> BigInt,
    }
}

/// One served ticket's timings (wall clock, µs).
struct Sample {
    sent_us: i64,
    ack_us: i64,
    armed_us: Option<i64>,
    ack_keypad: AckKeypad,
    /// The keypad went dark for this session before the citizen pressed.
    dark_before_press: bool,
}

struct Rng(u64);

impl Rng {
    fn between(&mut self, lo: u64, hi: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        lo + self.0 % (hi - lo + 1)
    }
}

fn event(id: &str, kind: E, ticket: &str, counter: &str) -> v1::TicketEvent {
    v1::TicketEvent {
        source_id: "bench-queue".into(),
        event_id: id.into(),
        occurred_at: Some(common::ts(common::now_us() / 1000)),
        r#type: kind as i32,
        ticket_id: ticket.into(),
        service_code: "A".into(),
        counter_id: counter.into(),
        ..Default::default()
    }
}

fn token_of(db: &Path, session_id: &str) -> anyhow::Result<u32> {
    let mut c = diesel::SqliteConnection::establish(&db.display().to_string())?;
    c.batch_execute("PRAGMA busy_timeout = 5000")?;
    let t: i64 = vote_sessions::table
        .find(session_id)
        .select(vote_sessions::token)
        .first(&mut c)?;
    Ok(t as u32)
}

async fn desk(
    url: String,
    db: std::path::PathBuf,
    control: String,
    transitions: Arc<std::sync::Mutex<Vec<Transition>>>,
    desk: usize,
    rounds: usize,
) -> anyhow::Result<Vec<Sample>> {
    let unit = (desk % UNITS as usize) as u8 + 1;
    let counter = format!("S{:02}", desk + 1);
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15 ^ ((desk as u64 + 1) * 0x0123_4567_89AB));
    let mut q = common::lazy_queue_client(&url);
    let mut ctl = SimControl::new(&control);
    // the desks start at different moments
    tokio::time::sleep(Duration::from_millis(rng.between(0, 1500))).await;
    let mut out = Vec::new();
    for r in 0..rounds {
        let ticket = format!("b{desk}-{r}");
        let called = event(&format!("{ticket}-c"), E::Called, &ticket, &counter);
        common::publish_until_acked(&mut q, &called, Duration::from_secs(10)).await;
        tokio::time::sleep(Duration::from_millis(rng.between(50, 300))).await;
        let from = transitions.lock().map(|t| t.len()).unwrap_or(0);
        let served = event(&format!("{ticket}-s"), E::Served, &ticket, &counter);
        let sent_us = common::now_us();
        let ack = common::publish_until_acked(&mut q, &served, Duration::from_secs(10)).await;
        let ack_us = common::now_us();
        let session = ack
            .vote_session
            .ok_or_else(|| anyhow::anyhow!("{ticket}: no session: {}", ack.detail))?;
        let ack_keypad = AckKeypad::try_from(session.keypad).unwrap_or(AckKeypad::Unspecified);
        let (db2, id) = (db.clone(), session.session_id.clone());
        let token = tokio::task::spawn_blocking(move || token_of(&db2, &id)).await??;
        let mut armed_us = None;
        let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
        while armed_us.is_none() && tokio::time::Instant::now() < deadline {
            armed_us = transitions.lock().ok().and_then(|t| {
                t.get(from..)?
                    .iter()
                    .find(|t| t.unit == unit && t.to == "ARMED" && t.to_token == token)
                    .map(|t| t.time_us)
            });
            if armed_us.is_none() {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        }
        let mut dark_before_press = false;
        if let Some(armed) = armed_us {
            let at = armed + rng.between(200_000, 1_000_000) as i64;
            tokio::time::sleep(Duration::from_micros((at - common::now_us()).max(0) as u64)).await;
            let p = ctl.press_seen(unit, "green").await;
            dark_before_press = !(p.counted && p.token == token);
        }
        out.push(Sample {
            sent_us,
            ack_us,
            armed_us,
            ack_keypad,
            dark_before_press,
        });
        let next_at = sent_us + rng.between(1_500_000, 3_000_000) as i64;
        let give_up = tokio::time::Instant::now() + Duration::from_secs(10);
        loop {
            let busy = matches!(ctl.state(unit).await.as_str(), "LATCHED" | "REASON");
            if (!busy && common::now_us() >= next_at) || tokio::time::Instant::now() > give_up {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    Ok(out)
}

fn ms(us: i64) -> f64 {
    us as f64 / 1000.0
}

fn line(name: &str, v: &mut [i64]) {
    if v.is_empty() {
        println!("  {name:<24} no samples");
        return;
    }
    let median = common::percentile(v, 50.0);
    let p99 = common::percentile(v, 99.0);
    println!(
        "  {name:<24} median {:.1} ms, p99 {:.1} ms (min {:.1}, max {:.1}, n = {})",
        ms(median),
        ms(p99),
        ms(v[0]),
        ms(v[v.len() - 1]),
        v.len()
    );
}

fn main() -> anyhow::Result<()> {
    let rounds: usize = std::env::var("SERVED_TO_ARMED_ROUNDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(20);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    rt.block_on(async {
        let dir = tempfile::tempdir()?;
        let (sims, config, db_path, port) =
            common::paced_office(dir.path(), BUSES, UNITS, "bench.db")?;
        let server = common::spawn_serve(&config, &dir.path().join("serve.log"), "warn");
        let url = format!("http://127.0.0.1:{port}");
        drop(common::connect(&url).await);
        let mut followers = Vec::new();
        let mut lists = Vec::new();
        for s in &sims {
            let (list, task) = common::follow_transitions(&s.control);
            lists.push(list);
            followers.push(task);
        }
        // Let the buses find every keypad.
        tokio::time::sleep(Duration::from_secs(2)).await;
        let mut tasks = Vec::new();
        for d in 0..COUNTERS {
            let bus = d / UNITS as usize;
            tasks.push(tokio::spawn(desk(
                url.clone(),
                db_path.clone(),
                sims[bus].control.clone(),
                lists[bus].clone(),
                d,
                rounds,
            )));
        }
        let mut samples = Vec::new();
        let mut failed = None;
        for t in tasks {
            match t.await {
                Ok(Ok(s)) => samples.extend(s),
                Ok(Err(e)) => failed = Some(e),
                Err(e) => failed = Some(e.into()),
            }
        }
        for f in followers {
            f.abort();
        }
        common::terminate(server);
        if let Some(e) = failed {
            return Err(e);
        }

        let mut to_ack: Vec<i64> = samples.iter().map(|s| s.ack_us - s.sent_us).collect();
        let mut to_armed: Vec<i64> = samples
            .iter()
            .filter_map(|s| s.armed_us.map(|a| a - s.sent_us))
            .collect();
        let armed_before_ack = samples
            .iter()
            .filter(|s| s.armed_us.is_some_and(|a| a <= s.ack_us))
            .count();
        let said = |k: AckKeypad| samples.iter().filter(|s| s.ack_keypad == k).count();
        println!(
            "served_to_armed: {} tickets at {COUNTERS} counters, {BUSES} buses of {UNITS} FK-3 \
             keypads at 19200 baud (paced), real `faccia serve`",
            samples.len()
        );
        line("SERVED -> ack:", &mut to_ack);
        line("SERVED -> keypad armed:", &mut to_armed);
        println!(
            "  armed before the ack: {armed_before_ack}; ack said ARMED {}, PENDING {}; \
             never armed within 5 s: {}; dark again before the citizen pressed: {}",
            said(AckKeypad::Armed),
            said(AckKeypad::Pending),
            samples.iter().filter(|s| s.armed_us.is_none()).count(),
            samples.iter().filter(|s| s.dark_before_press).count()
        );
        Ok(())
    })
}
