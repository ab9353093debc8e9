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
