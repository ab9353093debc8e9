//! Every citizen who presses a lit keypad votes. Real processes: `faccia serve` with 8 counters
//! on 2 RS-485 buses (two `faccia keypad simulate --pace` processes, units 1-4 each, 19200 baud,
//! answers timed as on the wire); a queue client in this test serves 300 tickets through the
//! real gRPC API, 8 counters working at once, their events forwarded by an adapter that polls the
//! queue system every second (so several counters' SERVED reach the server together, as from a
//! real eliminacode integration); for each served ticket a citizen waits until the
//! keypad lights with that session's token (as the simulator saw the ARM), presses a face
//! 0.2-2 s later, and the clerk calls the next ticket 2.5-4 s after SERVED, once the vote has
//! left the keypad. The server is SIGKILLed 5 times and restarted on the same SQLite file.
//!
//! A press "on a lit keypad" is one the simulator counted while the keypad was ARMED with that
//! ticket's session token at the moment of the press. Each such vote must be stored exactly once,
//! at the right counter, with the face pressed; the test fails on one lost. Presses that found
//! the keypad IDLE are counted and printed with what the keypad went through; since every press
//! comes before the next call at that counter and inside the vote window, the session was open
//! and the keypad had to be lit: such a refused press fails the test too (it is the citizen who
//! "could not vote"), and so does a session whose keypad never lit up.
//!
//! Run: `cargo test --test every_citizen_votes -- --nocapture` (about 2.5 minutes).
//! `FACCIA_E2E_SERVER_LOG=faccia_server=debug` sets the server's log filter (default `warn`);
//! `FACCIA_E2E_KEEP=1` keeps the files (database, logs) and prints where.

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Child;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{PressSeen, SimControl, Transition};
use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use faccia_proto::v1::{self, event_ack::Status as AckStatus, EventType as E};
use tokio::sync::{mpsc, oneshot, watch};

const TICKETS: u32 = 300;
const BUSES: usize = 2;
const UNITS: u8 = 4;
const COUNTERS: usize = BUSES * UNITS as usize;
const KILLS: u32 = 5;
const SOURCE: &str = "e2e-queue";

diesel::table! {
    votes (session_id) {
        session_id -> Text,
        ticket_id -> Text,
        counter_id -> Text,
        face -> Integer,
        reason -> Nullable<Integer>,
    }
}
diesel::table! {
    vote_sessions (session_id) {
        session_id -> Text,
        ticket_id -> Text,
        counter_id -> Text,
        token -> BigInt,
        state -> Text,
        keypad -> Text,
    }
}

/// A stored vote: session, ticket, counter, face, reason.
type StoredVote = (String, String, String, i32, Option<i32>);

/// A small xorshift generator: the same run every time for a seed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    /// Uniform in lo..=hi.
    fn between(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.next() % (hi - lo + 1)
    }
}

/// What happened to one served ticket's citizen.
#[derive(Debug, Clone)]
struct Citizen {
    ticket: String,
    counter: String,
    bus: usize,
    unit: u8,
    session_id: String,
    token: u32,
    /// When SERVED was sent (wall clock, µs).
    served_us: i64,
    /// When the keypad took the ARM with this session's token, as the simulator saw it.
    lit_us: Option<i64>,
    face: &'static str,
    press: Option<PressSeen>,
    reason: Option<(u8, PressSeen)>,
}

impl Citizen {
    /// Pressed while the keypad was lit for this very session, and the press counted.
    fn pressed_lit(&self) -> bool {
        self.press
            .as_ref()
            .is_some_and(|p| p.counted && p.state == "ARMED" && p.token == self.token)
    }
}

/// The queue system's adapter: once a second it takes what each counter did since and forwards
/// it, one `Publish` per event, in order for each counter and the counters at once (as an
/// eliminacode integration polling its queue system does), retrying each event until it is
/// acknowledged. So the SERVED of several counters often reach the server together.
struct Adapter {
    tick: watch::Receiver<u64>,
    url: String,
}

/// An event to forward, and where its acknowledgement goes.
type Forward = (v1::TicketEvent, oneshot::Sender<v1::EventAck>);

/// One counter's events, forwarded in order.
struct Lane(mpsc::UnboundedSender<Forward>);

impl Adapter {
    const POLL: Duration = Duration::from_secs(1);

    fn start(url: &str) -> (Adapter, tokio::task::JoinHandle<()>) {
        let (tx, tick) = watch::channel(0u64);
        let task = tokio::spawn(async move {
            let mut every = tokio::time::interval(Self::POLL);
            loop {
                every.tick().await;
                tx.send_modify(|n| *n += 1);
            }
        });
        let adapter = Adapter {
            tick,
            url: url.to_string(),
        };
        (adapter, task)
    }

    /// A counter's lane: what is submitted goes out at the next poll, in order.
    fn lane(&self) -> Lane {
        let (tx, mut rx) = mpsc::unbounded_channel::<Forward>();
        let mut tick = self.tick.clone();
        let mut q = common::lazy_queue_client(&self.url);
        tokio::spawn(async move {
            while tick.changed().await.is_ok() {
                loop {
                    match rx.try_recv() {
                        Ok((ev, reply)) => {
                            let ack =
                                common::publish_until_acked(&mut q, &ev, Duration::from_secs(60))
                                    .await;
                            let _ = reply.send(ack);
                        }
                        Err(mpsc::error::TryRecvError::Empty) => break,
                        Err(mpsc::error::TryRecvError::Disconnected) => return,
                    }
                }
            }
        });
        Lane(tx)
    }
}

impl Lane {
    /// Hands `ev` to the adapter; the acknowledgement comes once it is forwarded.
    fn submit(&self, ev: v1::TicketEvent) -> oneshot::Receiver<v1::EventAck> {
        let (tx, rx) = oneshot::channel();
        self.0.send((ev, tx)).expect("the adapter runs");
        rx
    }
}

/// Waits for the acknowledgement of `id`: accepted, or a duplicate after a lost answer.
async fn acked(id: &str, rx: oneshot::Receiver<v1::EventAck>) -> v1::EventAck {
    let ack = rx
        .await
        .unwrap_or_else(|_| panic!("{id}: the adapter gave up"));
    assert!(
        matches!(
            common::status(&ack),
            AckStatus::Accepted | AckStatus::Duplicate
        ),
        "{id}: {ack:?}"
    );
    ack
}

struct Ctx {
    adapter: Adapter,
    db_path: PathBuf,
    controls: Vec<String>,
    transitions: Vec<Arc<Mutex<Vec<Transition>>>>,
}

fn face_code(face: &str) -> i32 {
    match face {
        "green" => 1,
        "yellow" => 2,
        "red" => 3,
        other => panic!("face {other}"),
    }
}

fn event(id: &str, kind: E, ticket: &str, counter: &str, at_ms: i64) -> v1::TicketEvent {
    v1::TicketEvent {
        source_id: SOURCE.into(),
        event_id: id.into(),
        occurred_at: Some(common::ts(at_ms)),
        r#type: kind as i32,
        ticket_id: ticket.into(),
        display_number: ticket.to_ascii_uppercase(),
        service_code: "A".into(),
        counter_id: counter.into(),
        ..Default::default()
    }
}

/// The keypad token of a session the server has acknowledged (read from its database).
async fn session_token(db: &Path, session_id: &str) -> u32 {
    let db = db.to_path_buf();
    let id = session_id.to_string();
    tokio::task::spawn_blocking(move || {
        let mut c = diesel::SqliteConnection::establish(&db.display().to_string()).expect("db");
        c.batch_execute("PRAGMA busy_timeout = 5000")
            .expect("pragma");
        let token: i64 = vote_sessions::table
            .find(&id)
            .select(vote_sessions::token)
            .first(&mut c)
            .unwrap_or_else(|e| panic!("session {id} acknowledged but not stored: {e}"));
        token as u32
    })
    .await
    .expect("db task")
}

/// One counter: calls and serves its tickets one after the other; its citizens press.
async fn desk(ctx: Arc<Ctx>, desk: usize, tickets: Vec<u32>) -> Vec<Citizen> {
    let bus = desk / UNITS as usize;
    let unit = (desk % UNITS as usize) as u8 + 1;
    let counter = format!("S{:02}", desk + 1);
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15 ^ ((desk as u64 + 1) * 0x1234_5678_9ABC));
    let mut ctl = SimControl::new(&ctx.controls[bus]);
    let lane = ctx.adapter.lane();
    let mut last_ms = 0i64;
    let mut at = move || {
        last_ms = (common::now_us() / 1000).max(last_ms + 1);
        last_ms
    };
    let mut out = Vec::new();
    for n in tickets {
        let ticket = format!("t{n:03}");
        // Issued earlier; called; the citizen comes to the desk; served.
        let mut pending = Vec::new();
        let mut seen_from = 0;
        let mut served_us = 0;
        for (step, kind) in [
            ("issued", E::Issued),
            ("called", E::Called),
            ("started", E::ServiceStarted),
            ("served", E::Served),
        ] {
            let c = if kind == E::Issued { "" } else { &counter };
            if kind == E::Served {
                seen_from = ctx.transitions[bus].lock().expect("transitions").len();
                served_us = common::now_us();
            }
            let ev = event(&format!("{ticket}-{step}"), kind, &ticket, c, at());
            pending.push((ev.event_id.clone(), lane.submit(ev)));
            if kind == E::Called || kind == E::ServiceStarted {
                tokio::time::sleep(Duration::from_millis(rng.between(100, 400))).await;
            }
        }
        let mut ack = None;
        for (id, rx) in pending {
            ack = Some(acked(&id, rx).await);
        }
        let ack = ack.expect("SERVED acknowledged");
        let session = ack
            .vote_session
            .unwrap_or_else(|| panic!("{ticket}: SERVED opened no session: {}", ack.detail));
        assert_eq!(session.counter_id, counter);
        let token = session_token(&ctx.db_path, &session.session_id).await;
        let face = match rng.between(0, 9) {
            0..=6 => "green",
            7 | 8 => "yellow",
            _ => "red",
        };
        let mut citizen = Citizen {
            ticket: ticket.clone(),
            counter: counter.clone(),
            bus,
            unit,
            session_id: session.session_id.clone(),
            token,
            served_us,
            lit_us: None,
            face,
            press: None,
            reason: None,
        };
        // The citizen looks at the keypad until it lights for this session (a restarted server
        // arms the sessions left pending within a few seconds).
        let look_until = tokio::time::Instant::now() + Duration::from_secs(12);
        while tokio::time::Instant::now() < look_until {
            citizen.lit_us = ctx.transitions[bus]
                .lock()
                .expect("transitions")
                .get(seen_from..)
                .unwrap_or_default()
                .iter()
                .find(|t| t.unit == unit && t.to == "ARMED" && t.to_token == token)
                .map(|t| t.time_us);
            if citizen.lit_us.is_some() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        if let Some(lit) = citizen.lit_us {
            let press_at = lit + rng.between(200_000, 2_000_000) as i64;
            let wait = (press_at - common::now_us()).max(0) as u64;
            tokio::time::sleep(Duration::from_micros(wait)).await;
            let p = ctl.press_seen(unit, face).await;
            let counted_red = face == "red" && p.counted;
            citizen.press = Some(p);
            if counted_red {
                tokio::time::sleep(Duration::from_millis(rng.between(300, 1000))).await;
                let k = rng.between(1, 4) as u8;
                citizen.reason = Some((k, ctl.press_seen(unit, &format!("reason {k}")).await));
            }
        }
        // The clerk calls the next ticket 2.5-4 s after SERVED, once the citizen has left:
        // a vote on the keypad has been taken by the server (the keypad is dark again).
        let leave_us = served_us + rng.between(2_500_000, 4_000_000) as i64;
        let give_up = tokio::time::Instant::now() + Duration::from_secs(30);
        loop {
            let state = ctl.state(unit).await;
            let busy = matches!(state.as_str(), "LATCHED" | "REASON");
            if (!busy && common::now_us() >= leave_us) || tokio::time::Instant::now() > give_up {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        out.push(citizen);
    }
    out
}

/// The server process, killed and restarted by the chaos task.
struct Server {
    config: PathBuf,
    log: PathBuf,
    child: Option<Child>,
}

impl Server {
    fn start(&mut self) {
        let filter = std::env::var("FACCIA_E2E_SERVER_LOG").unwrap_or_else(|_| "warn".into());
        self.child = Some(common::spawn_serve(&self.config, &self.log, &filter));
    }
}

fn describe(c: &Citizen, trans: &[Transition]) -> String {
    let t0 = c.served_us;
    let ms = |t: i64| (t - t0) as f64 / 1000.0;
    let mut s = format!(
        "{} at {} (bus {} unit {}, token {}): ",
        c.ticket,
        c.counter,
        c.bus + 1,
        c.unit,
        c.token
    );
    let end = c.press.as_ref().map_or(t0 + 5_000_000, |p| p.time_us);
    for t in trans
        .iter()
        .filter(|t| t.unit == c.unit && t.time_us >= t0 - 200_000 && t.time_us <= end)
    {
        s.push_str(&format!(
            "{}({})->{}({}) at +{:.0} ms; ",
            t.from,
            t.from_token,
            t.to,
            t.to_token,
            ms(t.time_us)
        ));
    }
    if let Some(p) = &c.press {
        s.push_str(&format!(
            "pressed {} at +{:.0} ms: {} {} token {}",
            c.face,
            ms(p.time_us),
            if p.counted { "counted" } else { "ignored" },
            p.state,
            p.token
        ));
    }
    s
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_citizen_who_presses_a_lit_keypad_votes() {
    let started = std::time::Instant::now();
    let dir = tempfile::tempdir().expect("tmp");
    if std::env::var_os("FACCIA_E2E_KEEP").is_some() {
        println!(
            "every_citizen_votes: files kept in {}",
            dir.path().display()
        );
    }
    let (sims, config, db_path, port) =
        common::paced_office(dir.path(), BUSES, UNITS, "faccia.db").expect("office");
    let server = Arc::new(Mutex::new(Server {
        config,
        log: dir.path().join("serve.log"),
        child: None,
    }));
    server.lock().expect("server").start();
    let url = format!("http://127.0.0.1:{port}");
    drop(common::connect(&url).await);

    let mut followers = Vec::new();
    let mut transitions = Vec::new();
    for s in &sims {
        let (list, task) = common::follow_transitions(&s.control);
        transitions.push(list);
        followers.push(task);
    }
    let (adapter, adapter_task) = Adapter::start(&url);
    let ctx = Arc::new(Ctx {
        adapter,
        db_path: db_path.clone(),
        controls: sims.iter().map(|s| s.control.clone()).collect(),
        transitions,
    });

    // SIGKILL 5 times, 12-28 s apart, and restart 0.1-0.6 s later on the same database.
    let (done_tx, mut done_rx) = tokio::sync::watch::channel(false);
    let chaos = {
        let server = server.clone();
        tokio::spawn(async move {
            let mut rng = Rng(0x2545_F491_4F6C_DD1D);
            let mut kills = 0;
            while kills < KILLS {
                let pause = Duration::from_millis(rng.between(12_000, 28_000));
                if tokio::time::timeout(pause, done_rx.changed()).await.is_ok() {
                    break;
                }
                let mut child = server
                    .lock()
                    .expect("server")
                    .child
                    .take()
                    .expect("running");
                child.kill().expect("SIGKILL");
                let _ = child.wait();
                kills += 1;
                tokio::time::sleep(Duration::from_millis(rng.between(100, 600))).await;
                server.lock().expect("server").start();
            }
            kills
        })
    };

    let mut desks = Vec::new();
    for d in 0..COUNTERS {
        let tickets: Vec<u32> = (0..TICKETS)
            .filter(|n| *n as usize % COUNTERS == d)
            .collect();
        desks.push(tokio::spawn(desk(ctx.clone(), d, tickets)));
    }
    let mut citizens = Vec::new();
    for d in desks {
        citizens.extend(d.await.expect("desk"));
    }
    let _ = done_tx.send(true);
    let kills = chaos.await.expect("chaos");
    // Votes latched at the very end are stored and acknowledged within a few poll cycles.
    tokio::time::sleep(Duration::from_secs(3)).await;
    if let Some(child) = server.lock().expect("server").child.take() {
        common::terminate(child);
    }
    let trans: Vec<Vec<Transition>> = ctx
        .transitions
        .iter()
        .map(|t| t.lock().expect("transitions").clone())
        .collect();
    for f in followers {
        f.abort();
    }
    adapter_task.abort();

    // What the database holds.
    let mut c = diesel::SqliteConnection::establish(&db_path.display().to_string()).expect("db");
    let stored: Vec<StoredVote> = votes::table
        .select((
            votes::session_id,
            votes::ticket_id,
            votes::counter_id,
            votes::face,
            votes::reason,
        ))
        .load(&mut c)
        .expect("votes");
    let sessions: BTreeMap<String, (String, String)> = vote_sessions::table
        .select((
            vote_sessions::session_id,
            vote_sessions::state,
            vote_sessions::keypad,
        ))
        .load::<(String, String, String)>(&mut c)
        .expect("sessions")
        .into_iter()
        .map(|(id, s, k)| (id, (s, k)))
        .collect();
    let mut by_session: BTreeMap<&str, Vec<&StoredVote>> = BTreeMap::new();
    for v in &stored {
        by_session.entry(v.0.as_str()).or_default().push(v);
    }

    let lit: Vec<&Citizen> = citizens.iter().filter(|c| c.pressed_lit()).collect();
    let idle: Vec<&Citizen> = citizens
        .iter()
        .filter(|c| c.press.as_ref().is_some_and(|p| p.state == "IDLE"))
        .collect();
    let never_lit: Vec<&Citizen> = citizens.iter().filter(|c| c.lit_us.is_none()).collect();
    let other: Vec<&Citizen> = citizens
        .iter()
        .filter(|c| {
            c.press
                .as_ref()
                .is_some_and(|p| p.state != "IDLE" && !c.pressed_lit())
        })
        .collect();
    let mut lost = Vec::new();
    let mut wrong = Vec::new();
    for c in &lit {
        match by_session.get(c.session_id.as_str()).map(Vec::as_slice) {
            Some([v]) => {
                let reason_ok = match &c.reason {
                    Some((k, p)) if p.counted => v.4 == Some(i32::from(*k)),
                    _ => true,
                };
                if v.1 != c.ticket || v.2 != c.counter || v.3 != face_code(c.face) || !reason_ok {
                    wrong.push(format!("{}: stored {v:?}", describe(c, &trans[c.bus])));
                }
            }
            Some(many) => wrong.push(format!("{}: stored {many:?}", c.ticket)),
            None => lost.push(*c),
        }
    }
    // No vote without a citizen who pressed that session's lit keypad.
    let pressed: BTreeMap<&str, &Citizen> =
        lit.iter().map(|c| (c.session_id.as_str(), *c)).collect();
    let unexplained: Vec<_> = stored
        .iter()
        .filter(|v| !pressed.contains_key(v.0.as_str()))
        .collect();
    // Each latched vote was acknowledged once on the keypads.
    let mut acked: BTreeMap<(usize, u64, u64), usize> = BTreeMap::new();
    for (b, s) in sims.iter().enumerate() {
        let text = std::fs::read_to_string(&s.vote_log).unwrap_or_default();
        for line in text.lines() {
            let v: serde_json::Value = serde_json::from_str(line).expect("vote log line");
            if v["event"] == "acked" {
                let key = (
                    b,
                    v["unit"].as_u64().unwrap_or(0),
                    v["token"].as_u64().unwrap_or(0),
                );
                *acked.entry(key).or_default() += 1;
            }
        }
    }
    let acked_twice = acked.values().filter(|n| **n > 1).count();

    let elapsed = started.elapsed();
    println!(
        "every_citizen_votes: {} tickets served at {COUNTERS} counters on {BUSES} paced buses, \
         {kills} SIGKILLs, {:.0} s",
        citizens.len(),
        elapsed.as_secs_f64()
    );
    println!(
        "  presses on a lit keypad (ARMED with the session's token): {}; votes stored: {}",
        lit.len(),
        stored.len()
    );
    println!(
        "  LOST (pressed while lit, not stored): {}; stored wrong: {}; stored without a press: {}",
        lost.len(),
        wrong.len(),
        unexplained.len()
    );
    println!(
        "  presses that found the keypad IDLE: {}; keypad never lit for the session: {}; \
         other (ARMED with another token, busy): {}",
        idle.len(),
        never_lit.len(),
        other.len()
    );
    let mut idle_session_states: BTreeMap<String, usize> = BTreeMap::new();
    for c in &idle {
        let s = sessions
            .get(&c.session_id)
            .map(|(s, k)| format!("{s}/{k}"))
            .unwrap_or_default();
        *idle_session_states.entry(s).or_default() += 1;
    }
    println!("  sessions of the IDLE presses, final state/keypad: {idle_session_states:?}");
    for c in idle.iter().chain(&never_lit).chain(&other).take(25) {
        println!("    {}", describe(c, &trans[c.bus]));
    }
    for c in lost.iter().take(25) {
        println!("    lost: {}", describe(c, &trans[c.bus]));
    }
    for w in wrong.iter().take(25) {
        println!("    wrong: {w}");
    }

    if std::env::var_os("FACCIA_E2E_KEEP").is_some() {
        let _ = dir.keep();
    }
    assert_eq!(kills, KILLS, "the run was long enough for {KILLS} kills");
    assert_eq!(citizens.len(), TICKETS as usize);
    assert!(
        lost.is_empty(),
        "{} votes pressed on a lit keypad were lost",
        lost.len()
    );
    assert!(wrong.is_empty(), "{} votes stored wrong", wrong.len());
    assert!(
        unexplained.is_empty(),
        "votes stored without a press: {unexplained:?}"
    );
    assert_eq!(acked_twice, 0, "a vote acknowledged twice on a keypad");
    // Every press happened before the next ticket was called at that counter and well inside
    // the 60 s window: the session was open, so the keypad had to be lit for it.
    assert!(
        idle.is_empty() && other.is_empty(),
        "{} citizens saw their keypad light up and were refused when they pressed while their \
         session was open ({} found it IDLE, {} ARMED for another session or busy)",
        idle.len() + other.len(),
        idle.len(),
        other.len()
    );
    assert!(
        never_lit.is_empty(),
        "{} served citizens never saw their keypad light up",
        never_lit.len()
    );
}
