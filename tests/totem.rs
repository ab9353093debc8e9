//! The totem end to end, with real processes: `faccia serve` on a real SQLite file; one bus of
//! simulated FK-3 keypads (`faccia keypad simulate`, its own process and pty) carrying counter
//! C1's keypad (unit 1) and the totem's (unit 2); a simulated barcode scanner on a pty of its
//! own, into which this test writes lines as a serial scanner does. The totem serves counters
//! C2 and C3 (no keypad of their own); C4 has neither keypad nor totem.
//!
//! Scans of: a ticket served at C2 (armed, the vote stored into its session, even though the
//! next citizen was served at C2 meanwhile), the same ticket again (already voted), a ticket
//! issued but never served, a ticket served at C4 (a counter the totem does not serve), a
//! ticket of another office, an unknown ticket, and malformed lines; each with its outcome: the
//! votes stored, the refusals shown on the totem (IDENTIFY blink), counted in the metrics and
//! written to the event log. Counter C1's own keypad keeps working beside the totem.

mod common;

use std::path::Path;
use std::time::Duration;

use common::{ev, SimControl};
use diesel::prelude::*;
use faccia_proto::v1::{self, event_ack::Status as Ack, EventType as E};
use tokio::io::AsyncWriteExt;

diesel::table! {
    votes (session_id) {
        session_id -> Text,
        ticket_id -> Text,
        counter_id -> Text,
        channel -> Text,
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
        expires_at -> BigInt,
        opened_at -> BigInt,
    }
}
diesel::table! {
    event_log (seq) {
        seq -> BigInt,
        kind -> Integer,
        counter_id -> Text,
        ticket_id -> Text,
        detail -> Text,
        fact_text -> Text,
    }
}

const SITE: &str = "test-office";

fn config(db: &str, listen: &str, metrics: &str, bus: &Path, scanner: &Path) -> String {
    format!(
        r#"
[server]
listen = "{listen}"
[database]
url = "{db}"
[metrics]
listen = "{metrics}"
[site]
id = "{SITE}"
name = "Ufficio di prova"
time_zone = "Europe/Rome"
[sessions]
vote_window_s = 60
reason_window_s = 5
grace_s = 5
[[services]]
code = "A"
name = "Anagrafe"
[[counters]]
id = "C1"
name = "Sportello 1"
keypad = {{ port = "{bus}", unit = 1 }}
[[counters]]
id = "C2"
name = "Sportello 2"
[[counters]]
id = "C3"
name = "Sportello 3"
[[counters]]
id = "C4"
name = "Sportello 4"
[[totems]]
id = "T1"
name = "Totem ingresso"
counters = ["C2", "C3"]
window_s = 600
arm_window_s = 30
keypad = {{ port = "{bus}", unit = 2 }}
scanner = {{ port = "{scanner}", baud = 9600, prefix = "<", suffix = ">" }}
[[auth.tokens]]
name = "q"
role = "queue"
token = "{q}"
[[auth.tokens]]
name = "v"
role = "viewer"
token = "{v}"
"#,
        bus = bus.display(),
        scanner = scanner.display(),
        q = common::QUEUE_TOKEN,
        v = common::VIEWER_TOKEN,
    )
}

/// Waits until `check` holds, up to `secs`.
async fn eventually<F, Fut>(secs: u64, what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + Duration::from_secs(secs);
    while tokio::time::Instant::now() < deadline {
        if check().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("timed out waiting for: {what}");
}

fn db(path: &Path) -> diesel::SqliteConnection {
    diesel::SqliteConnection::establish(&path.display().to_string()).expect("sqlite")
}

/// (ticket, counter, channel, face, reason) of every vote.
fn stored_votes(path: &Path) -> Vec<(String, String, String, i32, Option<i32>)> {
    votes::table
        .select((
            votes::ticket_id,
            votes::counter_id,
            votes::channel,
            votes::face,
            votes::reason,
        ))
        .order(votes::ticket_id)
        .load(&mut db(path))
        .expect("votes")
}

/// (token, state, keypad, expires_at - opened_at) of a ticket's session.
fn session_of(path: &Path, ticket: &str) -> (u32, String, String, i64) {
    let (t, s, k, e, o): (i64, String, String, i64, i64) = vote_sessions::table
        .filter(vote_sessions::ticket_id.eq(ticket))
        .select((
            vote_sessions::token,
            vote_sessions::state,
            vote_sessions::keypad,
            vote_sessions::expires_at,
            vote_sessions::opened_at,
        ))
        .first(&mut db(path))
        .expect("session");
    (t as u32, s, k, e - o)
}

/// The refusals the event log holds, as `totem-refused:<why>`, in order.
fn logged_refusals(path: &Path) -> Vec<(String, String)> {
    event_log::table
        .filter(event_log::fact_text.like("totem-refused:%"))
        .order(event_log::seq)
        .select((event_log::fact_text, event_log::ticket_id))
        .load(&mut db(path))
        .expect("event log")
}

async fn metrics(addr: &str) -> String {
    use tokio::io::AsyncReadExt;
    let Ok(mut s) = tokio::net::TcpStream::connect(addr).await else {
        return String::new();
    };
    let _ = s
        .write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
        .await;
    let mut out = String::new();
    let _ = s.read_to_string(&mut out).await;
    out
}

fn scans(metrics: &str, outcome: &str) -> u64 {
    let key = format!("faccia_totem_scans_total{{totem=\"T1\",outcome=\"{outcome}\"}} ");
    metrics
        .lines()
        .find_map(|l| l.strip_prefix(&key))
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or(0)
}

/// A unit's line in the simulator's status (state, IDENTIFY flag).
async fn unit_status(ctl: &mut SimControl, unit: u8) -> String {
    let prefix = format!("unit {unit} ");
    ctl.command("status")
        .await
        .into_iter()
        .find(|l| l.starts_with(&prefix))
        .unwrap_or_default()
}

/// The simulated scanner: the master side of a pty whose slave the server reads.
struct Scanner {
    master: tokio_serial::SerialStream,
    _slave: tokio_serial::SerialStream,
}

impl Scanner {
    fn open(link: &Path) -> Scanner {
        use tokio_serial::SerialPort;
        let (master, slave) = tokio_serial::SerialStream::pair().expect("scanner pty");
        let name = slave.name().expect("pty name");
        std::os::unix::fs::symlink(name, link).expect("scanner link");
        Scanner {
            master,
            _slave: slave,
        }
    }

    async fn scan(&mut self, bytes: &[u8]) {
        self.master.write_all(bytes).await.expect("scanner write");
        self.master.flush().await.expect("scanner flush");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scans_at_the_totem_have_the_right_outcome() {
    let dir = tempfile::tempdir().expect("tempdir");
    let sim = common::KeypadSimProcess::spawn(dir.path(), "bus", 2, false);
    let scanner_link = dir.path().join("scanner");
    let mut scanner = Scanner::open(&scanner_link);
    let db_path = dir.path().join("faccia.db");
    let port = common::free_port();
    let metrics_addr = format!("127.0.0.1:{}", common::free_port());
    let config_path = dir.path().join("faccia.toml");
    std::fs::write(
        &config_path,
        config(
            &format!("sqlite://{}", db_path.display()),
            &format!("127.0.0.1:{port}"),
            &metrics_addr,
            &sim.link,
            &scanner_link,
        ),
    )
    .expect("config");
    let log = dir.path().join("serve.log");
    let server = common::spawn_serve(&config_path, &log, "warn,faccia_server=info");
    let url = format!("http://127.0.0.1:{port}");
    let mut ctl = SimControl::new(&sim.control);

    let monitor = v1::monitor_client::MonitorClient::with_interceptor(
        common::connect(&url).await,
        common::Bearer(common::VIEWER_TOKEN.into()),
    );
    eventually(15, "both keypads (C1's and the totem's) online", || {
        let mut m = monitor.clone();
        async move {
            let Ok(snap) = m.get_snapshot(v1::SnapshotRequest::default()).await else {
                return false;
            };
            let k = snap.into_inner().keypads;
            k.len() == 2
                && k.iter()
                    .all(|k| k.link == v1::KeypadLink::KeypadOnline as i32)
        }
    })
    .await;

    let mut q = common::lazy_queue_client(&url);
    let base = chrono::Utc::now().timestamp_millis() - 10 * 60_000;
    let mut n = 0;
    let mut publish = |kind: E, ticket: &str, counter: &str| {
        n += 1;
        let mut e = ev(&format!("e{n}"), base + n * 1_000, kind, ticket, counter);
        if kind == E::Issued {
            e.counter_id.clear();
        }
        e
    };
    let mut events = Vec::new();
    for (t, c) in [
        ("t1", "C2"),
        ("t2", "C2"),
        ("t4", "C4"),
        ("t5", "C3"),
        ("t6", "C3"),
    ] {
        events.push(publish(E::Issued, t, c));
        events.push(publish(E::Called, t, c));
        events.push(publish(E::Served, t, c));
    }
    events.push(publish(E::Issued, "u1", ""));
    for e in &events {
        let a = q.publish(e.clone()).await.expect("publish").into_inner();
        assert_eq!(
            common::status(&a),
            Ack::Accepted,
            "{}: {}",
            e.event_id,
            a.detail
        );
        if e.r#type == E::Served as i32 && e.counter_id != "C4" {
            let vs = a.vote_session.expect("session");
            assert_eq!(
                vs.keypad,
                v1::vote_session::KeypadState::Pending as i32,
                "a totem's session waits for the scan"
            );
        }
    }

    // t1 was served at C2, then t2 at C2: t1's session is still open, with the totem's window.
    let (t1_token, state, keypad, window) = session_of(&db_path, "t1");
    assert_eq!((state.as_str(), keypad.as_str()), ("OPEN", "TOTEM"));
    assert_eq!(window, 600_000);
    assert_eq!(session_of(&db_path, "t2").1, "OPEN");
    // C4 has no keypad and no totem: its session is an ordinary one
    assert_eq!(session_of(&db_path, "t4").2, "NO_KEYPAD");

    // 1. A served ticket: the totem lights for t1's session; green is stored into it.
    scanner.scan(format!("{SITE}/t1\r\n").as_bytes()).await;
    eventually(5, "the totem armed with t1's token", || {
        let mut c = SimControl::new(&sim.control);
        async move {
            c.transitions(0)
                .await
                .iter()
                .any(|t| t.unit == 2 && t.to == "ARMED" && t.to_token == t1_token)
        }
    })
    .await;
    let p = ctl.press_seen(2, "green").await;
    assert!(
        p.counted && p.state == "ARMED" && p.token == t1_token,
        "{p:?}"
    );
    eventually(5, "t1's green stored", || async {
        stored_votes(&db_path).len() == 1
    })
    .await;
    assert_eq!(
        stored_votes(&db_path),
        vec![("t1".into(), "C2".into(), "COUNTER".into(), 1, None)]
    );
    let (_, state, keypad, _) = session_of(&db_path, "t1");
    assert_eq!((state.as_str(), keypad.as_str()), ("VOTED", "TOTEM_ARMED"));
    eventually(5, "the totem's vote acknowledged", || {
        let mut c = SimControl::new(&sim.control);
        async move { unit_status(&mut c, 2).await.contains(" IDLE ") }
    })
    .await;
    assert!(!unit_status(&mut ctl, 2).await.contains("IDENTIFY"));

    // 2. The same ticket again: already voted, shown on the totem (every LED blinks).
    scanner.scan(format!("{SITE}/t1\n").as_bytes()).await;
    eventually(5, "the refusal shown on the totem", || {
        let mut c = SimControl::new(&sim.control);
        async move { unit_status(&mut c, 2).await.contains("IDENTIFY") }
    })
    .await;
    assert!(
        unit_status(&mut ctl, 2).await.contains(" IDLE "),
        "not armed"
    );
    assert!(!unit_status(&mut ctl, 1).await.contains("IDENTIFY"));

    // 3-8. Not served, another counter, another office, unknown, malformed (three ways).
    scanner.scan(b"]Q1test-office/u1\r").await;
    scanner.scan(b"]C0test-office/t4\r\n").await;
    scanner.scan(b"c_x999-tributi/t2\r\n").await;
    scanner.scan(b"test-office/nobody\n").await;
    scanner.scan(b"hello world\r\n").await;
    scanner.scan(b"test-office/\x07bell\r\n").await;
    scanner.scan(b"\xff\xfe\r\n").await;
    let want = [
        ("already_voted", 1),
        ("not_served", 1),
        ("other_counter", 1),
        ("other_office", 1),
        ("unknown", 1),
        ("malformed", 3),
        ("armed", 1),
    ];
    eventually(10, "every scan counted", || async {
        let m = metrics(&metrics_addr).await;
        want.iter().all(|(o, n)| scans(&m, o) == *n)
    })
    .await;
    // nothing armed the totem, nothing was stored
    assert!(unit_status(&mut ctl, 2).await.contains(" IDLE "));
    assert_eq!(stored_votes(&db_path).len(), 1);
    let logged = logged_refusals(&db_path);
    let kinds: Vec<&str> = logged.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(
        kinds,
        vec![
            "totem-refused:already_voted",
            "totem-refused:not_served",
            "totem-refused:other_counter",
            "totem-refused:other_office",
            "totem-refused:unknown",
            "totem-refused:malformed",
            "totem-refused:malformed",
            "totem-refused:malformed",
        ]
    );
    // The ticket is logged only when it is one of this office's tickets: a scanned card that
    // is not a ticket leaves no trace of its content.
    let tickets: Vec<&str> = logged.iter().map(|(_, t)| t.as_str()).collect();
    assert_eq!(tickets, vec!["t1", "u1", "t4", "", "", "", "", ""]);

    // 9. t2 (served at C2 after t1), with the scanner's prefix, AIM id and suffix: red with a
    // reason enters t2's session.
    let (t2_token, ..) = session_of(&db_path, "t2");
    scanner.scan(format!("<]Q1{SITE}/t2>\r\n").as_bytes()).await;
    eventually(5, "the totem armed with t2's token", || {
        let mut c = SimControl::new(&sim.control);
        async move {
            c.transitions(0)
                .await
                .iter()
                .any(|t| t.unit == 2 && t.to == "ARMED" && t.to_token == t2_token)
        }
    })
    .await;
    assert!(ctl.press_seen(2, "red").await.counted);
    assert!(ctl.press_seen(2, "reason 2").await.counted);
    eventually(5, "t2's red stored", || async {
        stored_votes(&db_path).len() == 2
    })
    .await;

    // 10. One citizen at a time: a new scan replaces the one whose faces nobody pressed yet.
    // t5 is scanned and left; t6 is scanned and votes; t5, still open, is scanned again.
    let armed_with = |token: u32| {
        let control = sim.control.clone();
        async move {
            let mut c = SimControl::new(&control);
            c.transitions(0)
                .await
                .iter()
                .filter(|t| t.unit == 2 && t.to == "ARMED" && t.to_token == token)
                .count()
        }
    };
    let (t5_token, ..) = session_of(&db_path, "t5");
    let (t6_token, ..) = session_of(&db_path, "t6");
    scanner.scan(format!("{SITE}/t5\r\n").as_bytes()).await;
    eventually(5, "the totem armed with t5's token", || async {
        armed_with(t5_token).await == 1
    })
    .await;
    scanner.scan(format!("{SITE}/t6\r\n").as_bytes()).await;
    eventually(5, "the totem armed with t6's token instead", || async {
        armed_with(t6_token).await == 1
    })
    .await;
    let p = ctl.press_seen(2, "yellow").await;
    assert!(p.counted && p.token == t6_token, "{p:?}");
    eventually(5, "t6's yellow stored", || async {
        stored_votes(&db_path).len() == 3
    })
    .await;
    let (_, state, keypad, _) = session_of(&db_path, "t5");
    assert_eq!((state.as_str(), keypad.as_str()), ("OPEN", "TOTEM_ARMED"));
    scanner.scan(format!("{SITE}/t5\r\n").as_bytes()).await;
    eventually(5, "the totem armed with t5's token again", || async {
        armed_with(t5_token).await == 2
    })
    .await;

    // C1's own keypad works beside the totem on the same bus.
    let a = q
        .publish(ev("k1", base + 60_000, E::Served, "k1", "C1"))
        .await
        .expect("publish")
        .into_inner();
    assert_eq!(
        a.vote_session.map(|v| v.keypad),
        Some(v1::vote_session::KeypadState::Armed as i32)
    );
    assert!(ctl.press_seen(1, "yellow").await.counted);
    eventually(5, "C1's yellow stored", || async {
        stored_votes(&db_path).len() == 4
    })
    .await;
    assert_eq!(
        stored_votes(&db_path),
        vec![
            ("k1".into(), "C1".into(), "COUNTER".into(), 2, None),
            ("t1".into(), "C2".into(), "COUNTER".into(), 1, None),
            ("t2".into(), "C2".into(), "COUNTER".into(), 3, Some(2)),
            ("t6".into(), "C3".into(), "COUNTER".into(), 2, None),
        ]
    );
    // The totem's t5 was not disturbed by C1's keypad.
    assert!(unit_status(&mut ctl, 2).await.contains(" ARMED "));

    common::terminate(server);
    let text = std::fs::read_to_string(&log).unwrap_or_default();
    assert!(!text.contains("panicked"), "{text}");
}
