//! The whole promise with real processes: `faccia keypad simulate` (8 FK-3 keypads on a pty),
//! `faccia serve` with those keypads, and `faccia sim queue` serving 1,000 tickets through the
//! real gRPC API while simulated citizens press keys. The votes stored must equal exactly the
//! votes latched and acknowledged on the keypads: none for an unserved ticket, none twice, none
//! at the wrong counter; also when the server is killed with SIGKILL ten times, and when the
//! keypads' port disappears for 30 s.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use diesel::prelude::*;

fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_faccia")
}

struct Office {
    dir: tempfile::TempDir,
    db: String,
    config: PathBuf,
    url: String,
    control: String,
    keypads: Child,
}

impl Office {
    fn new() -> Office {
        let dir = tempfile::tempdir().expect("tmp");
        let link = dir.path().join("kp");
        let control = format!("127.0.0.1:{}", common::free_port());
        let keypads = Command::new(bin())
            .args([
                "keypad",
                "simulate",
                "--units",
                "1-8",
                "--no-stdin",
                "--control",
                &control,
            ])
            .arg("--link")
            .arg(&link)
            .arg("--vote-log")
            .arg(dir.path().join("keypad-votes.jsonl"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("faccia keypad simulate");
        let deadline = Instant::now() + Duration::from_secs(10);
        while !link.exists() || std::net::TcpStream::connect(&control).is_err() {
            assert!(
                Instant::now() < deadline,
                "the keypad simulator did not come up"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        let db = format!("sqlite://{}", dir.path().join("faccia.db").display());
        let port = common::free_port();
        let mut text = format!(
            "[server]\nlisten = \"127.0.0.1:{port}\"\n[database]\nurl = \"{db}\"\n[site]\nid = \"e2e\"\nname = \"E2E\"\ntime_zone = \"Europe/Rome\"\n[sessions]\nvote_window_s = 60\nreason_window_s = 5\ngrace_s = 5\n[[services]]\ncode = \"A\"\nname = \"A\"\nstandard_wait_min = 20\n[[services]]\ncode = \"C\"\nname = \"C\"\n[[auth.tokens]]\nname = \"q\"\nrole = \"queue\"\ntoken = \"{}\"\n[[auth.tokens]]\nname = \"v\"\nrole = \"viewer\"\ntoken = \"{}\"\n",
            common::QUEUE_TOKEN,
            common::VIEWER_TOKEN
        );
        for i in 1..=8 {
            text.push_str(&format!(
                "[[counters]]\nid = \"S{i:02}\"\nname = \"Sportello {i}\"\nkeypad = {{ port = \"{}\", unit = {i} }}\n",
                link.display()
            ));
        }
        let config = dir.path().join("faccia.toml");
        std::fs::write(&config, text).expect("config");
        Office {
            dir,
            db,
            config,
            url: format!("http://127.0.0.1:{port}"),
            control,
            keypads,
        }
    }

    fn serve(&self) -> Child {
        Command::new(bin())
            .args(["serve", "--config"])
            .arg(&self.config)
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("faccia serve")
    }

    fn queue(&self, tickets: u32, speed: u32) -> Child {
        Command::new(bin())
            .args([
                "sim",
                "queue",
                "--server",
                &self.url,
                "--token",
                common::QUEUE_TOKEN,
                "--keypads",
                &self.control,
            ])
            .args(["--services", "A,C", "--seed", "7", "--retry-for", "5m"])
            .args([
                "--tickets",
                &tickets.to_string(),
                "--speed",
                &speed.to_string(),
            ])
            .arg("--log")
            .arg(self.dir.path().join("queue-sim.jsonl"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("faccia sim queue")
    }

    fn control(&self, line: &str) -> String {
        let mut s = std::net::TcpStream::connect(&self.control).expect("control socket");
        s.write_all(format!("{line}\n").as_bytes()).expect("write");
        let mut r = std::io::BufReader::new(s);
        let mut out = String::new();
        let _ = r.read_line(&mut out);
        out
    }
}

impl Drop for Office {
    fn drop(&mut self) {
        let _ = self.keypads.kill();
        let _ = self.keypads.wait();
    }
}

/// SIGTERM, then wait: a clean stop.
fn stop(mut server: Child) {
    let _ = Command::new("kill").arg(server.id().to_string()).status();
    let _ = server.wait();
}

/// (unit, token) of a keypad session.
type KeypadSession = (u8, u32);

/// Every vote the keypads latched, and every one they had acknowledged.
fn keypad_votes(path: &Path) -> (Vec<KeypadSession>, Vec<KeypadSession>) {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let mut latched = Vec::new();
    let mut acked = Vec::new();
    for line in text.lines() {
        let v: serde_json::Value = serde_json::from_str(line).expect("vote log line");
        let key = (
            v["unit"].as_u64().unwrap_or(0) as u8,
            v["token"].as_u64().unwrap_or(0) as u32,
        );
        match v["event"].as_str() {
            Some("latched") => latched.push(key),
            Some("acked") => acked.push(key),
            _ => {}
        }
    }
    (latched, acked)
}

diesel::table! {
    votes (session_id) {
        session_id -> Text,
        ticket_id -> Text,
        counter_id -> Text,
        face -> Integer,
    }
}
diesel::table! {
    vote_sessions (session_id) {
        session_id -> Text,
        ticket_id -> Text,
        counter_id -> Text,
        token -> BigInt,
    }
}
diesel::table! {
    tickets (source_id, ticket_id) {
        source_id -> Text,
        ticket_id -> Text,
        state -> Text,
        counter_id -> Text,
    }
}

/// Checks the stored votes against the keypads' log.
fn check_exact(office: &Office) -> usize {
    let path = office.db.trim_start_matches("sqlite://");
    let mut c = diesel::SqliteConnection::establish(path).expect("open db");
    let stored: Vec<(String, String, String, i32)> = votes::table
        .select((
            votes::session_id,
            votes::ticket_id,
            votes::counter_id,
            votes::face,
        ))
        .load(&mut c)
        .expect("votes");
    let sessions: BTreeMap<String, (String, String, i64)> = vote_sessions::table
        .select((
            vote_sessions::session_id,
            vote_sessions::ticket_id,
            vote_sessions::counter_id,
            vote_sessions::token,
        ))
        .load::<(String, String, String, i64)>(&mut c)
        .expect("sessions")
        .into_iter()
        .map(|(id, t, cn, tok)| (id, (t, cn, tok)))
        .collect();
    let served: BTreeMap<String, (String, String)> = tickets::table
        .select((tickets::ticket_id, tickets::state, tickets::counter_id))
        .load::<(String, String, String)>(&mut c)
        .expect("tickets")
        .into_iter()
        .map(|(t, s, cn)| (t, (s, cn)))
        .collect();
    let mut from_db = BTreeSet::new();
    let mut per_ticket = BTreeSet::new();
    for (session, ticket, counter, _) in &stored {
        let (s_ticket, s_counter, token) = sessions.get(session).expect("vote's session");
        assert_eq!(s_ticket, ticket);
        assert_eq!(s_counter, counter, "a vote at the counter of its session");
        let (state, served_at) = served.get(ticket).expect("vote's ticket");
        assert_eq!(state, "SERVED", "no vote for an unserved ticket");
        assert_eq!(served_at, counter, "the vote is at the counter that served");
        assert!(
            per_ticket.insert(ticket.clone()),
            "never two votes for one ticket"
        );
        let unit: u8 = counter
            .trim_start_matches('S')
            .parse()
            .expect("counter number");
        assert!(
            from_db.insert((unit, *token as u32)),
            "one vote per keypad session"
        );
    }
    let (latched, acked) = keypad_votes(&office.dir.path().join("keypad-votes.jsonl"));
    let latched: BTreeSet<_> = latched.into_iter().collect();
    let acked_set: BTreeSet<_> = acked.iter().copied().collect();
    assert_eq!(
        acked_set.len(),
        acked.len(),
        "each latched vote acknowledged once"
    );
    assert_eq!(latched, acked_set, "every latched vote was acknowledged");
    assert_eq!(
        from_db, acked_set,
        "votes stored = votes latched and acknowledged on the keypads"
    );
    stored.len()
}

fn wait_exit(child: &mut Child, secs: u64) -> bool {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while Instant::now() < deadline {
        if let Ok(Some(_)) = child.try_wait() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    false
}

#[test]
fn thousand_tickets_with_ten_sigkills_stay_exact() {
    let office = Office::new();
    let mut server = office.serve();
    let mut queue = office.queue(1000, 1200);
    let mut kills = 0;
    let mut rng = 0x2545_f491_4f6c_dd1du64;
    let mut next = || {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        rng
    };
    while kills < 10 {
        std::thread::sleep(Duration::from_millis(1500 + next() % 2500));
        if let Ok(Some(_)) = queue.try_wait() {
            break;
        }
        server.kill().expect("SIGKILL");
        let _ = server.wait();
        kills += 1;
        std::thread::sleep(Duration::from_millis(100 + next() % 400));
        server = office.serve();
    }
    assert!(wait_exit(&mut queue, 600), "the queue simulator finished");
    assert!(
        queue.wait().expect("status").success(),
        "the queue simulator lost no event"
    );
    // Votes latched at the end are stored and acknowledged within a few poll cycles.
    std::thread::sleep(Duration::from_secs(4));
    stop(server);
    assert_eq!(kills, 10, "the run was long enough for ten kills");
    let n = check_exact(&office);
    assert!(n > 300, "about three quarters of 1,000 citizens vote: {n}");
}

#[test]
fn keypads_unplugged_for_thirty_seconds_lose_nothing() {
    let office = Office::new();
    let server = office.serve();
    let mut queue = office.queue(250, 120);
    std::thread::sleep(Duration::from_secs(8));
    assert!(office.control("unplug").starts_with("OK"));
    std::thread::sleep(Duration::from_secs(30));
    assert!(office.control("replug").starts_with("OK"));
    assert!(wait_exit(&mut queue, 600), "the queue simulator finished");
    std::thread::sleep(Duration::from_secs(4));
    stop(server);
    check_exact(&office);
    // The keypads were reported offline and online again in the event log.
    let path = office.db.trim_start_matches("sqlite://");
    let mut c = diesel::SqliteConnection::establish(path).expect("db");
    diesel::table! { event_log (seq) { seq -> BigInt, kind -> Integer, detail -> Text, } }
    let details: Vec<String> = event_log::table
        .filter(event_log::kind.eq(8))
        .select(event_log::detail)
        .load(&mut c)
        .expect("log");
    let offline = details
        .iter()
        .position(|d| d == "keypad offline")
        .expect("reported offline");
    assert!(
        details[offline..]
            .iter()
            .any(|d| d.starts_with("keypad online")),
        "and online again"
    );
    // Sessions opened while the keypads were away were answered PENDING; each was then armed
    // when the keypads came back (and may carry a vote), or ended without one.
    let log = std::fs::read_to_string(office.dir.path().join("queue-sim.jsonl")).expect("sim log");
    let pending: Vec<String> = log
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|v| v["ack"]["vote_session"]["keypad"] == "PENDING")
        .filter_map(|v| {
            v["ack"]["vote_session"]["session_id"]
                .as_str()
                .map(str::to_string)
        })
        .collect();
    assert!(
        !pending.is_empty(),
        "sessions opened during the outage were PENDING"
    );
    diesel::table! { vote_sessions (session_id) { session_id -> Text, state -> Text, keypad -> Text, } }
    for id in &pending {
        let (state, keypad): (String, String) = vote_sessions::table
            .find(id)
            .select((vote_sessions::state, vote_sessions::keypad))
            .first(&mut c)
            .expect("pending session");
        assert!(
            state != "VOTED" || keypad == "ARMED",
            "{id}: a vote only after the keypad was armed"
        );
        assert!(
            state != "OPEN" || keypad == "ARMED",
            "{id}: no session left pending"
        );
    }
}
