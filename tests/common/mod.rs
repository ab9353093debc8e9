//! Test harness: real servers on loopback, real SQLite files, real PostgreSQL databases.
#![allow(dead_code)]

pub mod tools;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicI64, AtomicU32, Ordering};
use std::sync::Arc;

use faccia_proto::v1::{
    self, monitor_client::MonitorClient, queue_events_client::QueueEventsClient,
};
use faccia_server::config::Config;
use faccia_server::storage::{self, AnyConnection, Clock};
use tonic::transport::Channel;

pub const QUEUE_TOKEN: &str = "test-queue-token";
pub const VIEWER_TOKEN: &str = "test-viewer-token";
pub const ADMIN_TOKEN: &str = "test-admin-token";

/// The PostgreSQL server CI provides (trust auth). Tests fail, never skip, when it is missing.
pub fn pg_base_url() -> String {
    std::env::var("FACCIA_TEST_PG")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into())
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// A fresh database: a SQLite file in a temporary directory, or a new PostgreSQL database
/// dropped at the end.
pub struct TestDb {
    pub url: String,
    pub dir: tempfile::TempDir,
    pg_name: Option<String>,
}

static PG_SEQ: AtomicU32 = AtomicU32::new(0);

impl TestDb {
    pub fn new(backend: Backend) -> TestDb {
        let dir = tempfile::tempdir().expect("temporary directory");
        match backend {
            Backend::Sqlite => TestDb {
                url: format!("sqlite://{}", dir.path().join("faccia.db").display()),
                dir,
                pg_name: None,
            },
            Backend::Postgres => {
                let name = format!(
                    "faccia_t{}_{}_{}",
                    std::process::id(),
                    PG_SEQ.fetch_add(1, Ordering::SeqCst),
                    chrono::Utc::now().timestamp_micros() % 1_000_000
                );
                pg_admin(&format!("CREATE DATABASE {name}"));
                let base = pg_base_url();
                let url = match base.rfind('/') {
                    Some(i) => format!("{}/{name}", &base[..i]),
                    None => panic!("bad FACCIA_TEST_PG {base}"),
                };
                TestDb {
                    url,
                    dir,
                    pg_name: Some(name),
                }
            }
        }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }
}

fn pg_admin(sql: &str) {
    use diesel::connection::SimpleConnection;
    let url = faccia_server::config::DatabaseUrl::parse(&pg_base_url()).expect("pg url");
    let mut c = storage::connect(&url, 1000).unwrap_or_else(|e| {
        panic!(
            "PostgreSQL at {} is required for these tests: {e}",
            pg_base_url()
        )
    });
    match &mut c {
        AnyConnection::Postgresql(pg) => pg.batch_execute(sql).expect(sql),
        AnyConnection::Sqlite(_) => unreachable!(),
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        if let Some(name) = &self.pg_name {
            pg_admin(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"));
        }
    }
}

/// A configuration file for tests: 3 services, 4 counters, test tokens.
pub fn config_text(db_url: &str, listen: &str, vote_window_s: u32) -> String {
    format!(
        r#"
[server]
listen = "{listen}"
[database]
url = "{db_url}"
[site]
id = "test-office"
name = "Ufficio di prova"
time_zone = "Europe/Rome"
[sessions]
vote_window_s = {vote_window_s}
reason_window_s = 10
grace_s = 5
[[services]]
code = "A"
name = "Anagrafe"
standard_wait_min = 20
[[services]]
code = "B"
name = "Tributi"
standard_wait_min = 30
[[services]]
code = "N"
name = "Senza standard"
[[counters]]
id = "C1"
name = "Sportello 1"
[[counters]]
id = "C2"
name = "Sportello 2"
[[counters]]
id = "C3"
name = "Sportello 3"
[[counters]]
id = "C4"
name = "Sportello 4"
[[auth.tokens]]
name = "queue"
role = "queue"
token = "{QUEUE_TOKEN}"
[[auth.tokens]]
name = "viewer"
role = "viewer"
token = "{VIEWER_TOKEN}"
[[auth.tokens]]
name = "admin"
role = "admin"
token = "{ADMIN_TOKEN}"
"#
    )
}

/// The same office with keypad units 1..=4 of one bus on `port` at counters C1..C4.
pub fn config_text_keypads(db_url: &str, listen: &str, vote_window_s: u32, port: &Path) -> String {
    let mut text = config_text(db_url, listen, vote_window_s);
    for i in 1..=4 {
        text = text.replace(
            &format!("name = \"Sportello {i}\"\n"),
            &format!(
                "name = \"Sportello {i}\"\nkeypad = {{ port = \"{}\", unit = {i} }}\n",
                port.display()
            ),
        );
    }
    text
}

pub fn write_config(dir: &Path, db_url: &str, listen: &str, vote_window_s: u32) -> PathBuf {
    let path = dir.join("faccia.toml");
    std::fs::write(&path, config_text(db_url, listen, vote_window_s)).expect("write config");
    path
}

/// A free TCP port on the loopback interface.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

/// A clock the test moves by hand.
#[derive(Clone)]
pub struct TestClock(pub Arc<AtomicI64>);

impl TestClock {
    pub fn new(start: i64) -> TestClock {
        TestClock(Arc::new(AtomicI64::new(start)))
    }
    pub fn now(&self) -> i64 {
        self.0.load(Ordering::SeqCst)
    }
    pub fn advance(&self, ms: i64) {
        self.0.fetch_add(ms, Ordering::SeqCst);
    }
    pub fn clock(&self) -> Clock {
        let c = self.0.clone();
        Arc::new(move || c.load(Ordering::SeqCst))
    }
}

/// A server running in this process on a free loopback port.
pub struct TestServer {
    pub addr: std::net::SocketAddr,
    pub shared: Arc<faccia_server::Shared>,
    pub clock: TestClock,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl TestServer {
    pub async fn start(db: &TestDb, clock: TestClock) -> TestServer {
        Self::start_with(db, clock, 60).await
    }

    pub async fn start_with(db: &TestDb, clock: TestClock, vote_window_s: u32) -> TestServer {
        Self::start_text(
            db,
            clock,
            &config_text(&db.url, "127.0.0.1:0", vote_window_s),
        )
        .await
    }

    pub async fn start_text(db: &TestDb, clock: TestClock, text: &str) -> TestServer {
        let path = db.path().join("faccia.toml");
        std::fs::write(&path, text).expect("write config");
        let config = Config::load(Some(&path)).expect("test config");
        let shared = faccia_server::open(config, clock.clock()).expect("open store");
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        let (stop, rx) = tokio::sync::oneshot::channel::<()>();
        let s = shared.clone();
        let task = tokio::spawn(async move {
            let _ = faccia_server::serve(s, listener, async {
                let _ = rx.await;
            })
            .await;
        });
        TestServer {
            addr,
            shared,
            clock,
            stop: Some(stop),
            task: Some(task),
        }
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub async fn channel(&self) -> Channel {
        connect(&self.url()).await
    }

    pub async fn queue(
        &self,
    ) -> QueueEventsClient<tonic::service::interceptor::InterceptedService<Channel, Bearer>> {
        QueueEventsClient::with_interceptor(self.channel().await, Bearer(QUEUE_TOKEN.into()))
    }

    pub async fn monitor(
        &self,
        token: &str,
    ) -> MonitorClient<tonic::service::interceptor::InterceptedService<Channel, Bearer>> {
        MonitorClient::with_interceptor(self.channel().await, Bearer(token.into()))
    }

    pub async fn stop(mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        if let Some(t) = self.task.take() {
            let _ = t.await;
        }
    }
}

pub async fn connect(url: &str) -> Channel {
    for _ in 0..100 {
        if let Ok(ch) = Channel::from_shared(url.to_string())
            .expect("url")
            .connect()
            .await
        {
            return ch;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!("cannot connect to {url}");
}

/// Adds `authorization: Bearer <token>`.
#[derive(Clone)]
pub struct Bearer(pub String);

impl tonic::service::Interceptor for Bearer {
    fn call(&mut self, mut req: tonic::Request<()>) -> Result<tonic::Request<()>, tonic::Status> {
        let v = format!("Bearer {}", self.0)
            .parse()
            .map_err(|_| tonic::Status::internal("token"))?;
        req.metadata_mut().insert("authorization", v);
        Ok(req)
    }
}

pub fn ts(ms: i64) -> prost_types::Timestamp {
    prost_types::Timestamp {
        seconds: ms.div_euclid(1000),
        nanos: (ms.rem_euclid(1000) * 1_000_000) as i32,
    }
}

/// A well-formed event.
pub fn ev(id: &str, at: i64, kind: v1::EventType, ticket: &str, counter: &str) -> v1::TicketEvent {
    v1::TicketEvent {
        source_id: "eliminacode-test".into(),
        event_id: id.into(),
        occurred_at: Some(ts(at)),
        r#type: kind as i32,
        ticket_id: ticket.into(),
        display_number: format!("A{:03}", ticket.len()),
        service_code: "A".into(),
        counter_id: counter.into(),
        operator_ref: String::new(),
        transfer_to_service: String::new(),
        priority: 0,
        site_id: String::new(),
    }
}

/// 2026-11-23 10:00 Rome.
pub const T0: i64 = 1_795_424_400_000;

pub fn status(ack: &v1::EventAck) -> v1::event_ack::Status {
    v1::event_ack::Status::try_from(ack.status).expect("status")
}

/// Runs the same test body against SQLite and PostgreSQL.
#[macro_export]
macro_rules! both_backends {
    ($name:ident, $body:path) => {
        mod $name {
            use super::*;
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                $body(common::Backend::Sqlite).await;
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                $body(common::Backend::Postgres).await;
            }
        }
    };
}

// ---------------------------------------------------------------------------------------------
// Real processes: `faccia serve` and `faccia keypad simulate`, the simulator's control socket.

/// The `faccia` binary built for this test or bench.
pub fn faccia_bin() -> &'static str {
    env!("CARGO_BIN_EXE_faccia")
}

/// `faccia keypad simulate` on its own pty link, with a control socket and a vote log.
pub struct KeypadSimProcess {
    pub child: std::process::Child,
    pub link: PathBuf,
    pub control: String,
    pub vote_log: PathBuf,
}

impl KeypadSimProcess {
    /// Units 1..=`units` at 19200 baud in `dir` (files named after `name`); `pace` times the
    /// answers as on a real wire. Waits until the link and the control socket are up.
    pub fn spawn(dir: &Path, name: &str, units: u8, pace: bool) -> KeypadSimProcess {
        let link = dir.join(format!("{name}-link"));
        let vote_log = dir.join(format!("{name}-votes.jsonl"));
        let control = format!("127.0.0.1:{}", free_port());
        let mut cmd = std::process::Command::new(faccia_bin());
        cmd.args(["keypad", "simulate", "--no-stdin", "--baud", "19200"])
            .args(["--units", &format!("1-{units}"), "--control", &control])
            .arg("--link")
            .arg(&link)
            .arg("--vote-log")
            .arg(&vote_log)
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null());
        if pace {
            cmd.arg("--pace");
        }
        let child = cmd.spawn().expect("faccia keypad simulate");
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while !link.exists() || std::net::TcpStream::connect(&control).is_err() {
            assert!(
                std::time::Instant::now() < deadline,
                "the keypad simulator {name} did not come up"
            );
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        KeypadSimProcess {
            child,
            link,
            control,
            vote_log,
        }
    }
}

impl Drop for KeypadSimProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// An office on `buses` paced simulated buses of `units` keypads each, written in `dir`: the
/// simulator processes, the configuration file, the SQLite file (`db_file` in `dir`) and the
/// port the server is to listen on.
pub fn paced_office(
    dir: &Path,
    buses: usize,
    units: u8,
    db_file: &str,
) -> std::io::Result<(Vec<KeypadSimProcess>, PathBuf, PathBuf, u16)> {
    let sims: Vec<KeypadSimProcess> = (0..buses)
        .map(|b| KeypadSimProcess::spawn(dir, &format!("bus{}", b + 1), units, true))
        .collect();
    let db_path = dir.join(db_file);
    let db = format!("sqlite://{}", db_path.display());
    let port = free_port();
    let on: Vec<(&Path, u8)> = sims.iter().map(|s| (s.link.as_path(), units)).collect();
    let config = dir.join("faccia.toml");
    std::fs::write(
        &config,
        config_text_buses(&db, &format!("127.0.0.1:{port}"), 60, &on),
    )?;
    Ok((sims, config, db_path, port))
}

/// An office whose counters S01, S02, ... have keypads: `buses` lists each bus's link and its
/// number of units (1..=n); counters are numbered across the buses in order.
pub fn config_text_buses(
    db_url: &str,
    listen: &str,
    vote_window_s: u32,
    buses: &[(&Path, u8)],
) -> String {
    let mut text = format!(
        "[server]\nlisten = \"{listen}\"\n[database]\nurl = \"{db_url}\"\n[site]\nid = \"e2e\"\nname = \"E2E\"\ntime_zone = \"Europe/Rome\"\n[sessions]\nvote_window_s = {vote_window_s}\nreason_window_s = 5\ngrace_s = 5\n[[services]]\ncode = \"A\"\nname = \"A\"\nstandard_wait_min = 20\n[[auth.tokens]]\nname = \"q\"\nrole = \"queue\"\ntoken = \"{QUEUE_TOKEN}\"\n[[auth.tokens]]\nname = \"v\"\nrole = \"viewer\"\ntoken = \"{VIEWER_TOKEN}\"\n"
    );
    let mut n = 0;
    for (link, units) in buses {
        for unit in 1..=*units {
            n += 1;
            text.push_str(&format!(
                "[[counters]]\nid = \"S{n:02}\"\nname = \"Sportello {n}\"\nkeypad = {{ port = \"{}\", unit = {unit} }}\n",
                link.display()
            ));
        }
    }
    text
}

/// `faccia serve --config CONFIG`, its stderr appended to `log` (RUST_LOG as given).
pub fn spawn_serve(config: &Path, log: &Path, rust_log: &str) -> std::process::Child {
    let err = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)
        .expect("server log");
    std::process::Command::new(faccia_bin())
        .args(["serve", "--config"])
        .arg(config)
        .env("RUST_LOG", rust_log)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(err)
        .spawn()
        .expect("faccia serve")
}

/// SIGTERM, then wait: a clean stop.
pub fn terminate(mut child: std::process::Child) {
    let _ = std::process::Command::new("kill")
        .arg(child.id().to_string())
        .status();
    let _ = child.wait();
}

/// The queue API of a server that may be down for a while: the channel reconnects by itself.
pub fn lazy_queue_client(
    url: &str,
) -> QueueEventsClient<tonic::service::interceptor::InterceptedService<Channel, Bearer>> {
    let ch = Channel::from_shared(url.to_string())
        .expect("url")
        .connect_timeout(std::time::Duration::from_millis(500))
        .timeout(std::time::Duration::from_secs(5))
        .connect_lazy();
    QueueEventsClient::with_interceptor(ch, Bearer(QUEUE_TOKEN.into()))
}

/// Publishes `ev` until the server acknowledges it (a killed server is restarted meanwhile):
/// the same event id every time, as the queue contract asks. Panics after `within`.
pub async fn publish_until_acked(
    q: &mut QueueEventsClient<tonic::service::interceptor::InterceptedService<Channel, Bearer>>,
    ev: &v1::TicketEvent,
    within: std::time::Duration,
) -> v1::EventAck {
    let deadline = tokio::time::Instant::now() + within;
    loop {
        match q.publish(ev.clone()).await {
            Ok(r) => return r.into_inner(),
            Err(s) => {
                assert!(
                    matches!(
                        s.code(),
                        tonic::Code::Unavailable
                            | tonic::Code::Unknown
                            | tonic::Code::Cancelled
                            | tonic::Code::DeadlineExceeded
                            | tonic::Code::Internal
                    ),
                    "{}: {s}",
                    ev.event_id
                );
                assert!(
                    tokio::time::Instant::now() < deadline,
                    "{}: no ack within {within:?}: {s}",
                    ev.event_id
                );
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            }
        }
    }
}

/// A keypad state change made by the master, as the simulator saw it (`transitions`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transition {
    pub unit: u8,
    pub from: String,
    pub from_token: u32,
    pub to: String,
    pub to_token: u32,
    /// Wall clock, microseconds since the Unix epoch.
    pub time_us: i64,
}

/// What a press found on the keypad (`press-seen`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PressSeen {
    pub counted: bool,
    pub state: String,
    pub token: u32,
    pub time_us: i64,
}

/// A connection to the control socket of `faccia keypad simulate`.
pub struct SimControl {
    addr: String,
    conn: Option<(
        tokio::io::BufReader<tokio::net::tcp::OwnedReadHalf>,
        tokio::net::tcp::OwnedWriteHalf,
    )>,
}

const SIM_SYNC: &str = "faccia-test-sync";

impl SimControl {
    pub fn new(addr: &str) -> SimControl {
        SimControl {
            addr: addr.to_string(),
            conn: None,
        }
    }

    /// Sends `cmd` and a sync line (answered with an error naming it) and returns the answer's
    /// lines before that.
    pub async fn command(&mut self, cmd: &str) -> Vec<String> {
        use tokio::io::{AsyncBufReadExt, AsyncWriteExt};
        if self.conn.is_none() {
            let s = tokio::net::TcpStream::connect(&self.addr)
                .await
                .expect("simulator control socket");
            s.set_nodelay(true).expect("nodelay");
            let (r, w) = s.into_split();
            self.conn = Some((tokio::io::BufReader::new(r), w));
        }
        let Some((r, w)) = self.conn.as_mut() else {
            unreachable!()
        };
        w.write_all(format!("{cmd}\n{SIM_SYNC}\n").as_bytes())
            .await
            .expect("control write");
        let mut out = Vec::new();
        loop {
            let mut line = String::new();
            let n = r.read_line(&mut line).await.expect("control read");
            assert!(n > 0, "the keypad simulator closed its control socket");
            let line = line.trim_end();
            if line.contains(SIM_SYNC) {
                return out;
            }
            if !line.is_empty() {
                out.push(line.to_string());
            }
        }
    }

    /// State changes made by the master from the `from`-th on.
    pub async fn transitions(&mut self, from: usize) -> Vec<Transition> {
        let lines = self.command(&format!("transitions {from}")).await;
        assert!(
            lines.first().is_some_and(|l| l.starts_with("OK ")),
            "transitions: {lines:?}"
        );
        lines[1..]
            .iter()
            .map(|l| {
                let v: serde_json::Value = serde_json::from_str(l).expect("transition json");
                let s = |k: &str| v[k].as_str().unwrap_or_default().to_ascii_uppercase();
                let n = |k: &str| v[k].as_u64().unwrap_or_default();
                Transition {
                    unit: n("unit") as u8,
                    from: s("from"),
                    from_token: n("from_token") as u32,
                    to: s("to"),
                    to_token: n("to_token") as u32,
                    time_us: v["time_us"].as_i64().unwrap_or_default(),
                }
            })
            .collect()
    }

    /// Presses `key` (`green`, `reason 2`, ...) on `unit`: what the press found.
    pub async fn press_seen(&mut self, unit: u8, key: &str) -> PressSeen {
        let lines = self.command(&format!("press-seen {unit} {key}")).await;
        let words: Vec<&str> = lines
            .first()
            .map(|l| l.split_whitespace().collect())
            .unwrap_or_default();
        match words.as_slice() {
            ["OK", counted, state, token, time] => PressSeen {
                counted: *counted == "counted",
                state: state.to_string(),
                token: token.parse().expect("token"),
                time_us: time.parse().expect("time"),
            },
            _ => panic!("press-seen {unit} {key}: {lines:?}"),
        }
    }

    /// The unit's state name (`IDLE`, `ARMED`, `REASON`, `LATCHED`).
    pub async fn state(&mut self, unit: u8) -> String {
        let prefix = format!("unit {unit} ");
        self.command("status")
            .await
            .iter()
            .find_map(|l| l.strip_prefix(&prefix))
            .and_then(|rest| rest.split_whitespace().next())
            .map(str::to_string)
            .unwrap_or_else(|| panic!("no unit {unit} in the simulator's status"))
    }
}

/// Follows a simulator's transitions on a task: the list so far, refreshed every 5 ms.
pub fn follow_transitions(
    addr: &str,
) -> (
    Arc<std::sync::Mutex<Vec<Transition>>>,
    tokio::task::JoinHandle<()>,
) {
    let list = Arc::new(std::sync::Mutex::new(Vec::new()));
    let l = list.clone();
    let mut ctl = SimControl::new(addr);
    let task = tokio::spawn(async move {
        loop {
            let from = l.lock().map(|v| v.len()).unwrap_or(0);
            let new = ctl.transitions(from).await;
            if let Ok(mut v) = l.lock() {
                v.extend(new);
            }
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
    });
    (list, task)
}

/// Wall clock now, microseconds since the Unix epoch.
pub fn now_us() -> i64 {
    chrono::Utc::now().timestamp_micros()
}

/// The `p`-th percentile (nearest rank) of `v`, which it sorts.
pub fn percentile<T: Ord + Copy + Default>(v: &mut [T], p: f64) -> T {
    if v.is_empty() {
        return T::default();
    }
    v.sort_unstable();
    let rank = ((p / 100.0) * v.len() as f64).ceil() as usize;
    v[rank.clamp(1, v.len()) - 1]
}

/// Serves tickets `{prefix}0`, `{prefix}1`, ... at counter C1 through the queue API, from
/// `base` three minutes apart (issued, called and served a minute apart); `judge(i)` is the
/// vote of ticket i on the keypad seam, five seconds after it was served, or none.
pub async fn served_tickets(
    s: &TestServer,
    base: i64,
    prefix: &str,
    n: i64,
    judge: impl Fn(i64) -> Option<faccia_domain::session::Judgement>,
) {
    use v1::{event_ack::Status as Ack, EventType as E};
    const MIN: i64 = 60_000;
    let mut q = s.queue().await;
    for i in 0..n {
        let t = format!("{prefix}{i}");
        let at = base + i * 3 * MIN;
        for (id, dt, kind, counter) in [
            ("i", 0, E::Issued, ""),
            ("c", MIN, E::Called, "C1"),
            ("s", 2 * MIN, E::Served, "C1"),
        ] {
            let a = q
                .publish(ev(&format!("{t}{id}"), at + dt, kind, &t, counter))
                .await
                .expect("publish")
                .into_inner();
            assert_eq!(status(&a), Ack::Accepted, "{}", a.detail);
        }
        if let Some(j) = judge(i) {
            let token = s.shared.offices[0]
                .store
                .read_site(storage::read::sessions)
                .await
                .expect("sessions")
                .iter()
                .find(|x| x.ticket_id == t && x.state == "OPEN")
                .map(|x| x.token as u32)
                .expect("open session");
            s.shared.offices[0]
                .store
                .record_vote(token, j, at + 2 * MIN + 5_000)
                .await
                .expect("vote");
        }
    }
}

/// Runs the real `faccia` binary with `args` (RUST_LOG=warn) and waits for it.
pub fn run_faccia(args: &[&str]) -> std::process::Output {
    std::process::Command::new(faccia_bin())
        .args(args)
        .env("RUST_LOG", "warn")
        .output()
        .expect("run faccia")
}

/// The standard output of a run that must have succeeded (else its output in the panic).
pub fn succeeded(out: &std::process::Output) -> String {
    assert!(
        out.status.success(),
        "faccia failed: {}\n{}",
        String::from_utf8_lossy(&out.stderr),
        String::from_utf8_lossy(&out.stdout)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}
