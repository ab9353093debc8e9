//! Every channel of one office, end to end with real processes: `faccia serve` on a real SQLite
//! file with a simulated keypad bus (`faccia keypad simulate`), the vote page (`[web]`) and the
//! phone survey (`[phone]`). A ticket served at counter S01 is voted on its keypad; a ticket
//! served at S02 (a link counter) gets a link in its EventAck and is voted over HTTP; an online
//! service gets a link from IssueVoteLink; an answered call is surveyed over FastAGI. The
//! monitor's satisfaction and the monthly report (`faccia report monthly`, JSON) give each
//! channel its users served and its votes; the office counts every user once.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::time::Duration;

use common::*;
use faccia_proto::v1;
use serde_json::Value;

/// One HTTP/1.1 request on a fresh connection: (status, body).
fn http(addr: &str, method: &str, path: &str, body: &str) -> (u16, String) {
    let mut s = TcpStream::connect(addr).expect("connect to the vote page");
    s.set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    let req = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nAccept-Language: it\r\nConnection: close\r\n\
         Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    s.write_all(req.as_bytes()).expect("send");
    let mut out = String::new();
    s.read_to_string(&mut out).expect("read");
    let status = out
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or_else(|| panic!("no HTTP status in {out:?}"));
    let body = out.split_once("\r\n\r\n").map(|(_, b)| b).unwrap_or("");
    (status, body.to_string())
}

/// The path of a vote link (`http://host/v/<token>`).
fn link_path(link: &str) -> String {
    let at = link
        .find("/v/")
        .unwrap_or_else(|| panic!("not a vote link: {link:?}"));
    link[at..].to_string()
}

/// A PBX handing one answered call to the survey: the AGI environment, then each command
/// answered as Asterisk does, the caller pressing `digit` at the question.
fn phone_call(addr: &str, call_id: &str, digit: char) {
    let w = TcpStream::connect(addr).expect("connect to the FastAGI listener");
    w.set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    let mut r = BufReader::new(w.try_clone().expect("clone"));
    let mut w = w;
    let env = format!(
        "agi_network: yes\nagi_network_script: vote\nagi_request: agi://faccia/vote\n\
         agi_channel: SIP/urp-0001\nagi_uniqueid: {call_id}\nagi_linkedid: {call_id}\n\
         agi_callerid: 3331234567\nagi_calleridname: Mario Rossi\n\n"
    );
    w.write_all(env.as_bytes()).expect("environment");
    let mut asked = false;
    loop {
        let mut line = String::new();
        if r.read_line(&mut line).unwrap_or(0) == 0 {
            break;
        }
        let reply = if line.starts_with("GET DATA") {
            asked = true;
            format!("200 result={digit}")
        } else if line.starts_with("GET VARIABLE") {
            format!("200 result=1 ({call_id})")
        } else if line.starts_with("HANGUP") {
            "200 result=1".to_string()
        } else {
            "200 result=0".to_string()
        };
        w.write_all(format!("{reply}\n").as_bytes())
            .expect("answer");
    }
    assert!(asked, "the survey asked nothing");
}

fn config(dir: &Path, link: &Path, db: &Path, ports: (u16, u16, u16)) -> String {
    let (grpc, web, agi) = ports;
    let mut text = config_text_buses(
        &format!("sqlite://{}", db.display()),
        &format!("127.0.0.1:{grpc}"),
        60,
        &[(link, 1)],
    );
    text.push_str(&format!(
        "[[counters]]\nid = \"S02\"\nname = \"Sportello 2\"\n\
         [[services]]\ncode = \"X\"\nname = \"Informazioni\"\n\
         [web]\nenabled = true\nlisten = \"127.0.0.1:{web}\"\npublic_url = \"http://127.0.0.1:{web}\"\n\
         link_counters = [\"S02\"]\nkey_file = \"{}\"\n\
         [phone]\nenabled = true\nlisten = \"127.0.0.1:{agi}\"\npbx = \"centralino\"\n\
         [[phone.lines]]\nline = \"TEL\"\nservice = \"X\"\n",
        dir.join("web-link.key").display()
    ));
    text
}

async fn wait_for<F: FnMut() -> bool>(what: &str, mut ok: F) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    while !ok() {
        assert!(tokio::time::Instant::now() < deadline, "timed out: {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_channel_of_one_office_in_its_monthly_report() {
    let dir = tempfile::tempdir().expect("temp dir");
    let sim = KeypadSimProcess::spawn(dir.path(), "bus", 1, false);
    let db = dir.path().join("faccia.db");
    let ports = (free_port(), free_port(), free_port());
    let cfg = dir.path().join("faccia.toml");
    std::fs::write(&cfg, config(dir.path(), &sim.link, &db, ports)).expect("config");
    let log = dir.path().join("serve.log");
    let server = spawn_serve(&cfg, &log, "info");
    let url = format!("http://127.0.0.1:{}", ports.0);
    let web = format!("127.0.0.1:{}", ports.1);
    let agi = format!("127.0.0.1:{}", ports.2);
    let mut q = lazy_queue_client(&url);
    let now = chrono::Utc::now().timestamp_millis();
    let within = Duration::from_secs(20);

    // 1. A ticket served at S01: its keypad lights, the citizen presses green.
    for (i, kind) in [v1::EventType::Issued, v1::EventType::Called]
        .into_iter()
        .enumerate()
    {
        let e = ev(
            &format!("t1-{i}"),
            now - 60_000 + i as i64,
            kind,
            "T1",
            "S01",
        );
        publish_until_acked(&mut q, &e, within).await;
    }
    let served = ev("t1-s", now - 1_000, v1::EventType::Served, "T1", "S01");
    let ack = publish_until_acked(&mut q, &served, within).await;
    let session = ack.vote_session.expect("a counter session");
    assert_eq!(session.channel, v1::vote_session::Channel::Counter as i32);
    assert!(session.vote_link.is_empty());
    let mut ctl = SimControl::new(&sim.control);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    while ctl.state(1).await != "ARMED" {
        assert!(
            tokio::time::Instant::now() < deadline,
            "S01's keypad never lit"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(ctl.press_seen(1, "green").await.counted);

    // 2. A ticket served at S02, a link counter: the link comes in the EventAck.
    let e = ev("t2-s", now - 500, v1::EventType::Served, "T2", "S02");
    let ack = publish_until_acked(&mut q, &e, within).await;
    let s2 = ack.vote_session.expect("a web session");
    assert_eq!(s2.channel, v1::vote_session::Channel::Web as i32);
    // The office's day ends before the citizen opens the link: the link outlives it.
    let mut reset = ev("reset", now - 400, v1::EventType::DayReset, "", "");
    reset.ticket_id.clear();
    publish_until_acked(&mut q, &reset, within).await;
    let (status, page) = http(&web, "GET", &link_path(&s2.vote_link), "");
    assert_eq!(status, 200, "{page}");
    assert!(page.contains("lang=\"it\""), "{page}");
    let (status, _) = http(&web, "POST", &link_path(&s2.vote_link), "face=yellow");
    assert_eq!(status, 200);

    // 3. An online service: a link from IssueVoteLink, voted red with reason 1.
    let online = q
        .issue_vote_link(v1::VoteLinkRequest {
            site_id: String::new(),
            source_id: "portale".into(),
            reference: "PRATICA-1".into(),
            service_code: "X".into(),
            served_at: None,
            counter_id: String::new(),
        })
        .await
        .expect("issue a link")
        .into_inner()
        .vote_session
        .expect("a web session");
    let (status, _) = http(
        &web,
        "POST",
        &link_path(&online.vote_link),
        "face=red&reason=1",
    );
    assert_eq!(status, 200);

    // 4. An answered call: the caller presses 1 (green).
    let agi_addr = agi.clone();
    tokio::task::spawn_blocking(move || phone_call(&agi_addr, "1764750000.42", '1'))
        .await
        .expect("the call");

    let db_file = db.clone();
    wait_for("four votes stored", || {
        let mut c = sqlite(&db_file);
        count(&mut c, "SELECT COUNT(*) AS n FROM votes") == 4
    })
    .await;

    // The monitor: the month's satisfaction by channel, with each channel's users.
    let mut m = faccia_proto::v1::monitor_client::MonitorClient::with_interceptor(
        connect(&url).await,
        Bearer(VIEWER_TOKEN.into()),
    );
    let sat = m
        .get_satisfaction(v1::SatisfactionRequest {
            period: v1::Period::Month as i32,
            site_id: String::new(),
        })
        .await
        .expect("satisfaction")
        .into_inner();
    let ch = |k: &str| {
        sat.by_channel.iter().find(|g| g.key == k).map(|g| {
            (
                g.served,
                g.faces.clone().map(|f| (f.green, f.yellow, f.red)),
            )
        })
    };
    assert_eq!(ch("COUNTER"), Some((1, Some((1, 0, 0)))));
    assert_eq!(ch("WEB"), Some((2, Some((0, 1, 1)))));
    assert_eq!(ch("PHONE"), Some((1, Some((1, 0, 0)))));
    assert_eq!(sat.served, 4);
    let counters: Vec<&str> = sat.by_counter.iter().map(|g| g.key.as_str()).collect();
    assert_eq!(
        counters,
        ["S01", "S02"],
        "calls and online links are no counter's"
    );

    terminate(server);
    drop(sim);

    // The monthly report of this month, from the stored rows.
    let out = succeeded(&run_faccia(&[
        "report",
        "monthly",
        "--month",
        "current",
        "--format",
        "json",
        "--config",
        cfg.to_str().expect("utf-8"),
    ]));
    let r: Value = serde_json::from_str(&out).expect("report JSON");
    let cur = &r;
    assert_eq!(cur["totals"]["served"], 4, "{out}");
    assert_eq!(cur["totals"]["votes"], 4, "{out}");
    let channel = |code: &str| {
        cur["by_channel"]
            .as_array()
            .and_then(|a| a.iter().find(|g| g["code"] == code))
            .cloned()
            .unwrap_or_else(|| panic!("channel {code} in {out}"))
    };
    for (code, served, votes) in [("COUNTER", 1, 1), ("WEB", 2, 2), ("PHONE", 1, 1)] {
        let g = channel(code);
        assert_eq!(
            (g["served"].clone(), g["votes"].clone()),
            (served.into(), votes.into()),
            "{code}: {g}"
        );
        assert_eq!(g["participation_pct"], 100.0, "{code}: {g}");
    }
    // The caller's number and name are nowhere: not in the database, not in the log.
    for f in std::fs::read_dir(dir.path()).expect("dir").flatten() {
        let name = f.file_name().to_string_lossy().into_owned();
        if name.starts_with("faccia.db") || name == "serve.log" {
            let bytes = std::fs::read(f.path()).expect("read");
            let text = String::from_utf8_lossy(&bytes);
            assert!(!text.contains("3331234567"), "caller id in {name}");
            assert!(!text.contains("Mario Rossi"), "caller name in {name}");
        }
    }
}

#[derive(diesel::QueryableByName)]
struct N {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    n: i64,
}

fn sqlite(path: &Path) -> diesel::SqliteConnection {
    use diesel::Connection;
    diesel::SqliteConnection::establish(&path.display().to_string()).expect("open the database")
}

fn count(c: &mut diesel::SqliteConnection, sql: &str) -> i64 {
    use diesel::RunQueryDsl;
    diesel::sql_query(sql)
        .load::<N>(c)
        .ok()
        .and_then(|v| v.first().map(|n| n.n))
        .unwrap_or(-1)
}
