//! The web channel end to end: a real `faccia serve` process on a real SQLite file issues vote
//! links in the EventAck of SERVED events published over gRPC (and through IssueVoteLink), and
//! a real headless Chromium (tests/web/drive.mjs: playwright-core and axe-core, installed by
//! `.ci/run` with `npm ci`) votes through them, with and without JavaScript. The database is
//! checked afterwards: one vote per link, the raw AGID answer, the free text apart, no token.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::{Duration, Instant};

use common::*;
use diesel::prelude::*;
use faccia_proto::v1::{self, event_ack::Status as AckStatus, EventType as E};
use faccia_server::storage::schema::{vote_answers, vote_comments, vote_links, votes};

const HOUR: i64 = 3_600_000;

fn web_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/web")
}

/// Node and the driver's packages (`npm ci` in tests/web), and Chromium. Under CI a missing
/// piece fails the test; elsewhere it is skipped with what to install.
fn browser_tools() -> Option<PathBuf> {
    if !tools::available(
        "node",
        Command::new("node").arg("--version"),
        "Debian nodejs, or node 20",
    ) {
        return None;
    }
    let modules = web_dir().join("node_modules");
    let ok = modules.join("playwright-core").is_dir() && modules.join("axe-core").is_dir();
    if !ok {
        assert!(
            !tools::under_ci(),
            "tests/web/node_modules is missing: .ci/run installs it (npm ci in tests/web)"
        );
        eprintln!("SKIPPED: run `npm ci` in tests/web first (under CI=true this fails)");
        return None;
    }
    let chromium = std::env::var_os("FACCIA_CHROMIUM")
        .map(PathBuf::from)
        .or_else(|| {
            ["chromium", "chromium-browser", "google-chrome"]
                .iter()
                .find_map(|n| {
                    std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default())
                        .map(|d| d.join(n))
                        .find(|p| p.is_file())
                })
        });
    match chromium {
        Some(p) => Some(p),
        None => {
            assert!(
                !tools::under_ci(),
                "chromium is missing: .ci/run installs it"
            );
            eprintln!("SKIPPED: chromium is missing (Debian package chromium)");
            None
        }
    }
}

struct Office {
    dir: tempfile::TempDir,
    db: PathBuf,
    config: PathBuf,
    log: PathBuf,
    grpc: String,
    web: String,
    metrics: String,
    key_file: PathBuf,
    server: Option<Child>,
}

impl Office {
    fn new(agid: bool, key: Option<&str>) -> Office {
        let dir = tempfile::tempdir().expect("dir");
        let db = dir.path().join("faccia.db");
        let (g, w, m) = (free_port(), free_port(), free_port());
        let key_file = dir.path().join("keys/web-link.key");
        if let Some(k) = key {
            std::fs::create_dir_all(key_file.parent().expect("parent")).expect("key dir");
            std::fs::write(&key_file, format!("{k}\n")).expect("key");
        }
        let mut text = config_text(
            &format!("sqlite://{}", db.display()),
            &format!("127.0.0.1:{g}"),
            60,
        );
        text.push_str(&format!(
            "\n[metrics]\nlisten = \"127.0.0.1:{m}\"\n\n[web]\nenabled = true\n\
             listen = \"127.0.0.1:{w}\"\npublic_url = \"http://127.0.0.1:{w}/\"\n\
             link_counters = [\"C3\", \"C4\"]\nagid_form = {agid}\nkey_file = \"{}\"\n",
            key_file.display()
        ));
        let config = dir.path().join("faccia.toml");
        std::fs::write(&config, text).expect("config");
        let log = dir.path().join("server.log");
        Office {
            grpc: format!("http://127.0.0.1:{g}"),
            web: format!("http://127.0.0.1:{w}"),
            metrics: format!("127.0.0.1:{m}"),
            dir,
            db,
            config,
            log,
            key_file,
            server: None,
        }
    }

    async fn start(&mut self) {
        self.server = Some(spawn_serve(&self.config, &self.log, "info"));
        let deadline = Instant::now() + Duration::from_secs(20);
        let web = self.web.trim_start_matches("http://").to_string();
        while std::net::TcpStream::connect(&web).is_err() {
            if let Some(Ok(Some(status))) = self.server.as_mut().map(|c| c.try_wait()) {
                panic!("faccia serve exited ({status}): {}", self.log_text());
            }
            assert!(Instant::now() < deadline, "the web port did not open");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    async fn queue(
        &self,
    ) -> v1::queue_events_client::QueueEventsClient<
        tonic::service::interceptor::InterceptedService<tonic::transport::Channel, Bearer>,
    > {
        v1::queue_events_client::QueueEventsClient::with_interceptor(
            connect(&self.grpc).await,
            Bearer(QUEUE_TOKEN.into()),
        )
    }

    fn conn(&self) -> faccia_server::storage::AnyConnection {
        let url = faccia_server::config::DatabaseUrl::Sqlite(self.db.clone());
        faccia_server::storage::connect(&url, 2000).expect("connect")
    }

    fn stop(&mut self) {
        if let Some(c) = self.server.take() {
            terminate(c);
        }
    }
}

impl Drop for Office {
    fn drop(&mut self) {
        self.stop();
    }
}

/// CALLED then SERVED of `ticket` at `counter`, served at `served_at`: the SERVED's ack.
async fn serve_ticket(o: &Office, ticket: &str, counter: &str, served_at: i64) -> v1::EventAck {
    let mut q = o.queue().await;
    let called = ev(
        &format!("{ticket}-called"),
        served_at - 300_000,
        E::Called,
        ticket,
        counter,
    );
    q.publish(called).await.expect("CALLED");
    let served = ev(
        &format!("{ticket}-served"),
        served_at,
        E::Served,
        ticket,
        counter,
    );
    q.publish(served).await.expect("SERVED").into_inner()
}

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

/// The link of a SERVED's ack, checked: a WEB session with no keypad and its link.
fn link_of(o: &Office, ack: &v1::EventAck, served_at: i64) -> (String, String) {
    let s = ack.vote_session.as_ref().expect("a vote session");
    assert_eq!(s.channel, v1::vote_session::Channel::Web as i32, "{ack:?}");
    assert_eq!(
        s.keypad,
        v1::vote_session::KeypadState::NoKeypad as i32,
        "{ack:?}"
    );
    assert_eq!(
        s.expires_at.as_ref().map(|t| t.seconds * 1000),
        Some((served_at + 24 * HOUR).div_euclid(1000) * 1000),
        "a link is good for 24 h from the end of the service"
    );
    let prefix = format!("{}/v/", o.web);
    assert!(s.vote_link.starts_with(&prefix), "{}", s.vote_link);
    let token = &s.vote_link[prefix.len()..];
    assert!(
        faccia_domain::remote::looks_like_token(token),
        "{}",
        s.vote_link
    );
    (s.vote_link.clone(), s.session_id.clone())
}

fn run_driver(chromium: &Path, plan: serde_json::Value, dir: &Path) -> serde_json::Value {
    let plan_file = dir.join("plan.json");
    std::fs::write(&plan_file, plan.to_string()).expect("plan");
    let out = Command::new("node")
        .arg(web_dir().join("drive.mjs"))
        .arg(&plan_file)
        .env("PLAYWRIGHT_BROWSERS_PATH", "0")
        .current_dir(web_dir())
        .output()
        .expect("node drive.mjs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    println!("{stdout}");
    let _ = chromium;
    assert!(
        out.status.success(),
        "the browser checks failed:\n{stdout}\n{stderr}"
    );
    let summary = stdout
        .lines()
        .find_map(|l| l.strip_prefix("SUMMARY "))
        .expect("a summary line");
    serde_json::from_str(summary).expect("summary JSON")
}

type VoteRow = (String, String, i32, Option<i32>);

fn votes_of(o: &Office) -> Vec<VoteRow> {
    let mut c = o.conn();
    votes::table
        .select((
            votes::session_id,
            votes::channel,
            votes::face,
            votes::reason,
        ))
        .load(&mut c)
        .expect("votes")
}

fn web_metric(o: &Office, page: &str) -> u64 {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(&o.metrics).expect("metrics");
    s.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
        .expect("write");
    let mut text = String::new();
    let _ = s.read_to_string(&mut text);
    let key = format!("faccia_web_pages_total{{page=\"{page}\"}} ");
    text.lines()
        .find_map(|l| l.strip_prefix(&key))
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or(0)
}

/// Nothing the database or the log holds lets anyone vote: no token, only its hash.
fn assert_no_token_kept(o: &Office, links: &[&str]) {
    let mut bytes = Vec::new();
    for suffix in ["", "-wal"] {
        let p = PathBuf::from(format!("{}{suffix}", o.db.display()));
        if let Ok(b) = std::fs::read(&p) {
            bytes.extend(b);
        }
    }
    let log = o.log_text();
    for link in links {
        let token = link.rsplit('/').next().expect("token");
        assert!(
            !bytes.windows(token.len()).any(|w| w == token.as_bytes()),
            "the database holds a link token"
        );
        assert!(!log.contains(token), "the log holds a link token");
        let hash = faccia_domain::remote::token_hash(token);
        let mut c = o.conn();
        let n: i64 = vote_links::table
            .filter(vote_links::token_hash.eq(&hash))
            .count()
            .get_result(&mut c)
            .expect("links");
        assert_eq!(n, 1, "the link's hash is kept");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn web_links_vote_once_in_a_real_browser() {
    let Some(chromium) = browser_tools() else {
        return;
    };
    let mut o = Office::new(false, None);
    o.start().await;
    // The key file was created on the first start, 0600, 64 hex digits.
    let key_text = std::fs::read_to_string(&o.key_file).expect("key file created");
    assert_eq!(key_text.trim().len(), 64, "{key_text:?}");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&o.key_file)
            .expect("meta")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600, "the key file is private");
    }

    let now = now_ms();
    let mut links = std::collections::BTreeMap::new();
    let mut sessions = std::collections::BTreeMap::new();
    for (name, ticket, counter) in [
        ("nojs", "t-nojs", "C3"),
        ("js", "t-js", "C4"),
        ("concurrent", "t-conc", "C3"),
        ("axe", "t-axe", "C3"),
    ] {
        let served = now - 60_000;
        let ack = serve_ticket(&o, ticket, counter, served).await;
        assert_eq!(status(&ack), AckStatus::Accepted, "{ack:?}");
        assert!(ack.detail.contains("web vote link"), "{}", ack.detail);
        let (link, session) = link_of(&o, &ack, served);
        links.insert(name, link);
        sessions.insert(name, session);
    }
    // A retried SERVED answers DUPLICATE with the same link.
    {
        let mut q = o.queue().await;
        let again = q
            .publish(ev("t-nojs-served", now - 60_000, E::Served, "t-nojs", "C3"))
            .await
            .expect("retry")
            .into_inner();
        assert_eq!(status(&again), AckStatus::Duplicate);
        assert_eq!(
            again.vote_session.as_ref().map(|s| s.vote_link.as_str()),
            Some(links["nojs"].as_str())
        );
        // A counter that is not a link counter keeps its counter session, with no link.
        let ack = serve_ticket(&o, "t-counter", "C1", now - 1000).await;
        let s = ack.vote_session.expect("session");
        assert_eq!(s.channel, v1::vote_session::Channel::Counter as i32);
        assert!(s.vote_link.is_empty());
    }
    // Served 25 hours ago: the link is born expired.
    let served = now - 25 * HOUR;
    let ack = serve_ticket(&o, "t-expired", "C4", served).await;
    let (link, session) = link_of(&o, &ack, served);
    links.insert("expired", link);
    sessions.insert("expired", session);

    // The end of an online service: IssueVoteLink, idempotent on its reference.
    {
        let mut q = o.queue().await;
        let req = v1::VoteLinkRequest {
            site_id: String::new(),
            source_id: "portale-servizi".into(),
            reference: "PRATICA-2026-0042".into(),
            service_code: "B".into(),
            served_at: None,
            counter_id: String::new(),
        };
        let first = q
            .issue_vote_link(req.clone())
            .await
            .expect("issue")
            .into_inner();
        assert_eq!(first.status, AckStatus::Accepted as i32);
        let s = first.vote_session.expect("session");
        assert_eq!(s.channel, v1::vote_session::Channel::Web as i32);
        assert_eq!(s.counter_id, "", "an online service is no counter's");
        assert!(s.vote_link.starts_with(&format!("{}/v/", o.web)));
        let second = q
            .issue_vote_link(req.clone())
            .await
            .expect("again")
            .into_inner();
        assert_eq!(second.status, AckStatus::Duplicate as i32);
        assert_eq!(
            second.vote_session.map(|v| v.vote_link),
            Some(s.vote_link.clone())
        );
        links.insert("thanks", s.vote_link.clone());
        sessions.insert("thanks", s.session_id.clone());
        for (bad, field) in [
            (
                v1::VoteLinkRequest {
                    reference: String::new(),
                    ..req.clone()
                },
                "reference",
            ),
            (
                v1::VoteLinkRequest {
                    source_id: String::new(),
                    ..req.clone()
                },
                "source_id",
            ),
            (
                v1::VoteLinkRequest {
                    service_code: "Z".into(),
                    ..req.clone()
                },
                "service_code",
            ),
            (
                v1::VoteLinkRequest {
                    served_at: Some(ts(now - 30 * HOUR)),
                    reference: "old".into(),
                    ..req.clone()
                },
                "served_at",
            ),
        ] {
            let e = q.issue_vote_link(bad).await.expect_err(field);
            assert_eq!(e.code(), tonic::Code::InvalidArgument, "{e:?}");
            assert!(e.message().starts_with(field), "{}", e.message());
        }
        let mut viewer = v1::queue_events_client::QueueEventsClient::with_interceptor(
            connect(&o.grpc).await,
            Bearer(VIEWER_TOKEN.into()),
        );
        let e = viewer
            .issue_vote_link(req.clone())
            .await
            .expect_err("viewer");
        assert_eq!(e.code(), tonic::Code::PermissionDenied);
        let mut anon = v1::queue_events_client::QueueEventsClient::new(connect(&o.grpc).await);
        let e = anon.issue_vote_link(req).await.expect_err("no token");
        assert_eq!(e.code(), tonic::Code::Unauthenticated);
    }

    let dir = o.dir.path().to_path_buf();
    let summary = run_driver(
        &chromium,
        serde_json::json!({
            "mode": "faces",
            "chromium": chromium,
            "base": o.web,
            "links": links,
            "random_tokens": 1000,
        }),
        &dir,
    );
    assert_eq!(summary["failed"], 0);
    assert_eq!(summary["random_refused"], 1000);

    // The database: exactly one vote per used link, none for the expired or unused ones.
    let stored = votes_of(&o);
    let of =
        |name: &str| -> Vec<&VoteRow> { stored.iter().filter(|v| v.0 == sessions[name]).collect() };
    assert_eq!(of("nojs").len(), 1);
    assert_eq!((of("nojs")[0].2, of("nojs")[0].3), (1, None), "green");
    assert_eq!(
        (of("js")[0].2, of("js")[0].3),
        (3, Some(1)),
        "red, waiting time"
    );
    assert_eq!(of("js").len(), 1);
    assert_eq!(
        of("concurrent").len(),
        1,
        "concurrent submissions: one vote"
    );
    assert_eq!(of("thanks").len(), 1);
    assert_eq!(of("thanks")[0].2, 2, "yellow");
    assert!(of("expired").is_empty());
    assert!(of("axe").is_empty(), "showing the reasons stores nothing");
    assert_eq!(stored.len(), 4, "{stored:?}");
    assert!(stored.iter().all(|v| v.1 == "WEB"));
    let link_refs: Vec<&str> = links.values().map(String::as_str).collect();
    assert_no_token_kept(&o, &link_refs);
    assert!(
        web_metric(&o, "not_found") >= 1000,
        "unknown tokens are counted"
    );
    // After a restart the same key gives the same link to a retried SERVED.
    o.stop();
    o.start().await;
    let mut q = o.queue().await;
    let again = q
        .publish(ev("t-js-served", now - 60_000, E::Served, "t-js", "C4"))
        .await
        .expect("retry after restart")
        .into_inner();
    assert_eq!(
        again.vote_session.map(|s| s.vote_link),
        Some(links["js"].clone())
    );
    o.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn agid_form_keeps_the_raw_answer_and_the_free_text_apart() {
    let Some(chromium) = browser_tools() else {
        return;
    };
    // A key shared with other servers of the same database, given as a file.
    let key_hex = "0f".repeat(32);
    let mut o = Office::new(true, Some(&key_hex));
    o.start().await;
    let now = now_ms();
    let mut links = std::collections::BTreeMap::new();
    let mut sessions = std::collections::BTreeMap::new();
    for name in ["agid", "agid_js", "agid_long", "agid_axe"] {
        let ack = serve_ticket(&o, &format!("t-{name}"), "C3", now - 1000).await;
        let (link, session) = link_of(&o, &ack, now - 1000);
        // Derived under the configured key: any server with the key gives the same link.
        let key: [u8; 32] = hex_key(&key_hex);
        assert!(link.ends_with(&faccia_domain::remote::link_token(&key, &session)));
        links.insert(name, link);
        sessions.insert(name, session);
    }
    let free_text = "L'attesa è stata lunga, ma il personale è stato gentile.";
    let dir = o.dir.path().to_path_buf();
    let summary = run_driver(
        &chromium,
        serde_json::json!({
            "mode": "agid",
            "chromium": chromium,
            "base": o.web,
            "links": links,
            "free_text": free_text,
        }),
        &dir,
    );
    assert_eq!(summary["failed"], 0);
    let stored = votes_of(&o);
    let face = |name: &str| {
        stored
            .iter()
            .find(|v| v.0 == sessions[name])
            .map(|v| (v.2, v.3))
    };
    assert_eq!(face("agid"), Some((3, None)), "2 stars count red");
    assert_eq!(face("agid_js"), Some((1, None)), "5 stars count green");
    assert_eq!(face("agid_long"), Some((2, None)), "3 stars count yellow");
    assert_eq!(face("agid_axe"), None);
    let mut c = o.conn();
    let answers: Vec<(String, i32, Option<i32>)> = vote_answers::table
        .select((
            vote_answers::session_id,
            vote_answers::stars,
            vote_answers::follow_up,
        ))
        .load(&mut c)
        .expect("answers");
    let answer = |name: &str| {
        answers
            .iter()
            .find(|a| a.0 == sessions[name])
            .map(|a| (a.1, a.2))
    };
    assert_eq!(answer("agid"), Some((2, Some(4))));
    assert_eq!(answer("agid_js"), Some((5, None)));
    assert_eq!(answer("agid_long"), Some((3, Some(5))));
    let comments: Vec<(String, String, i64, i64)> = vote_comments::table
        .select((
            vote_comments::session_id,
            vote_comments::body,
            vote_comments::written_at,
            vote_comments::keep_until,
        ))
        .load(&mut c)
        .expect("comments");
    assert_eq!(comments.len(), 2, "{comments:?}");
    let first = comments
        .iter()
        .find(|x| x.0 == sessions["agid"])
        .expect("free text");
    assert_eq!(first.1, free_text);
    assert_eq!(first.3 - first.2, 90 * 24 * HOUR, "kept 90 days");
    let long = comments
        .iter()
        .find(|x| x.0 == sessions["agid_long"])
        .expect("long text");
    assert_eq!(long.1.chars().count(), 200, "cut at 200 characters");
    o.stop();
}

fn hex_key(h: &str) -> [u8; 32] {
    let mut k = [0u8; 32];
    for (i, b) in k.iter_mut().enumerate() {
        *b = u8::from_str_radix(&h[2 * i..2 * i + 2], 16).expect("hex");
    }
    k
}

#[test]
fn a_bad_link_key_stops_the_start_naming_key_and_file() {
    let o = Office::new(false, Some("not-a-key"));
    let out = Command::new(faccia_bin())
        .args(["serve", "--config"])
        .arg(&o.config)
        .output()
        .expect("faccia serve");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("web.key_file"), "{err}");
    assert!(err.contains(&o.key_file.display().to_string()), "{err}");
    // And a configuration naming a counter with a keypad as a link counter is refused.
    let text = std::fs::read_to_string(&o.config).expect("config").replace(
        "name = \"Sportello 3\"\n",
        "name = \"Sportello 3\"\nkeypad = { port = \"/dev/null\", unit = 3 }\n",
    );
    std::fs::write(&o.config, text).expect("write");
    let out = Command::new(faccia_bin())
        .args(["check-config", "--config"])
        .arg(&o.config)
        .output()
        .expect("check-config");
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("web.link_counters[0]") && err.contains("keypad"),
        "{err}"
    );
}
