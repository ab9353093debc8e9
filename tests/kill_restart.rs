//! The real `faccia serve` process killed with SIGKILL while a client streams events, restarted,
//! and every unacknowledged event sent again: the stored state equals a run with no kill.

mod common;

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use common::{Backend, TestDb, T0};
use faccia_proto::v1::{self, queue_events_client::QueueEventsClient, EventType as E};
use faccia_server::config::DatabaseUrl;
use faccia_server::storage::{read, Store};

struct Server {
    child: Child,
    url: String,
}

impl Server {
    fn start(db: &TestDb, port: u16, dir: &std::path::Path) -> Server {
        let config = common::write_config(dir, &db.url, &format!("127.0.0.1:{port}"), 600);
        let child = Command::new(env!("CARGO_BIN_EXE_faccia"))
            .args(["serve", "--config"])
            .arg(&config)
            .current_dir(dir)
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start faccia serve");
        Server {
            child,
            url: format!("http://127.0.0.1:{port}"),
        }
    }

    fn kill(mut self) {
        self.child.kill().expect("SIGKILL");
        let _ = self.child.wait();
    }

    fn terminate(mut self) {
        // SIGTERM: a clean stop.
        let _ = Command::new("kill")
            .arg(self.child.id().to_string())
            .status();
        let status = self.child.wait().expect("wait");
        assert!(
            status.success(),
            "faccia serve stops cleanly on SIGTERM: {status}"
        );
    }
}

/// 60 tickets over 4 counters: issued, called, started, served (some no-shows and recalls).
fn events() -> Vec<v1::TicketEvent> {
    let mut out = Vec::new();
    for i in 0..60i64 {
        let t = format!("k{i}");
        let counter = format!("C{}", 1 + i % 4);
        let base = T0 + i * 20_000;
        out.push(common::ev(&format!("{t}-1"), base, E::Issued, &t, ""));
        out.push(common::ev(
            &format!("{t}-2"),
            base + 5_000,
            E::Called,
            &t,
            &counter,
        ));
        if i % 7 == 3 {
            out.push(common::ev(
                &format!("{t}-3"),
                base + 6_000,
                E::Recalled,
                &t,
                &counter,
            ));
            out.push(common::ev(
                &format!("{t}-4"),
                base + 7_000,
                E::NoShow,
                &t,
                "",
            ));
            continue;
        }
        out.push(common::ev(
            &format!("{t}-5"),
            base + 8_000,
            E::ServiceStarted,
            &t,
            &counter,
        ));
        out.push(common::ev(
            &format!("{t}-6"),
            base + 15_000,
            E::Served,
            &t,
            &counter,
        ));
    }
    out
}

/// Streams `events` from `from` on until an error; returns how many were acknowledged.
async fn stream_from(
    url: &str,
    events: &[v1::TicketEvent],
    from: usize,
    kill_after: Option<usize>,
) -> (usize, bool) {
    let ch = common::connect(url).await;
    let mut q = QueueEventsClient::with_interceptor(ch, common::Bearer(common::QUEUE_TOKEN.into()));
    let (tx, rx) = tokio::sync::mpsc::channel(16);
    let todo: Vec<v1::TicketEvent> = events[from..].to_vec();
    tokio::spawn(async move {
        for e in todo {
            if tx.send(e).await.is_err() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    });
    let mut acks = match q
        .stream(tokio_stream::wrappers::ReceiverStream::new(rx))
        .await
    {
        Ok(r) => r.into_inner(),
        Err(_) => return (0, false),
    };
    let mut n = 0;
    loop {
        match acks.message().await {
            Ok(Some(a)) => {
                assert_eq!(a.event_id, events[from + n].event_id, "acks come in order");
                n += 1;
                if kill_after == Some(n) {
                    return (n, true);
                }
            }
            Ok(None) => return (n, false),
            Err(_) => return (n, false),
        }
    }
}

async fn dump(url: &str) -> read::Dump {
    let store = Store::open(
        &DatabaseUrl::parse(url).expect("url"),
        2_000,
        faccia_server::storage::Rules {
            // The site of common::write_config.
            site_id: "test-office".into(),
            site_name: "Ufficio di prova".into(),
            vote_window_ms: 600_000,
            grace_ms: 5_000,
            reason_window_ms: 5_000,
            time_zone: chrono_tz::Europe::Rome,
            operator_data: false,
            keypad_counters: Vec::new(),
        },
        faccia_server::storage::system_clock(),
    )
    .expect("open");
    store.read_site(read::dump).await.expect("dump")
}

async fn killed_and_restarted(backend: Backend) {
    let all = events();
    // The run with no kill.
    let clean_db = TestDb::new(backend);
    let port = common::free_port();
    let server = Server::start(&clean_db, port, clean_db.path());
    let (n, _) = stream_from(&server.url, &all, 0, None).await;
    assert_eq!(n, all.len());
    server.terminate();
    let expected = dump(&clean_db.url).await;
    assert_eq!(
        expected.sessions.len(),
        60 - 9,
        "one session per served ticket"
    );

    // The same events, with the server killed three times mid-stream.
    let db = TestDb::new(backend);
    let port = common::free_port();
    let mut acked = 0;
    let mut kills = 0;
    for kill_at in [37usize, 61, 23, usize::MAX] {
        let server = Server::start(&db, port, db.path());
        let kill_after = (kill_at != usize::MAX).then_some(kill_at);
        let (n, killed) = stream_from(&server.url, &all, acked, kill_after).await;
        acked += n;
        if killed {
            // Events may be on the wire or committed but unacknowledged: the kill is abrupt.
            server.kill();
            kills += 1;
        } else {
            assert_eq!(acked, all.len(), "the last run acknowledges everything");
            server.terminate();
        }
    }
    assert_eq!(kills, 3);
    let got = dump(&db.url).await;
    assert_eq!(
        got, expected,
        "the stored state equals that of a run with no kill"
    );
}
both_backends!(sigkill, killed_and_restarted);
