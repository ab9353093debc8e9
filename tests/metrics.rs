//! The metrics endpoint answers in the Prometheus text format and its counters move.

mod common;

use std::io::{Read, Write};

use common::{ev, Backend, TestClock, TestDb, TestServer, T0};
use faccia_proto::v1::EventType as E;

fn scrape(addr: &str) -> String {
    let mut s = std::net::TcpStream::connect(addr).expect("connect to metrics");
    s.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
        .expect("write");
    let mut out = String::new();
    s.read_to_string(&mut out).expect("read");
    out
}

fn value(text: &str, series: &str) -> f64 {
    text.lines()
        .find(|l| l.starts_with(series) && l[series.len()..].starts_with(' '))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0.0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_move_with_the_office() {
    let db = TestDb::new(Backend::Sqlite);
    let port = common::free_port();
    let addr = format!("127.0.0.1:{port}");
    let text = format!(
        "{}\n[metrics]\nlisten = \"{addr}\"\n",
        common::config_text(&db.url, "127.0.0.1:0", 60)
    );
    let s = TestServer::start_text(&db, TestClock::new(T0 + 1_800_000), &text).await;
    let before = tokio::task::spawn_blocking({
        let a = addr.clone();
        move || {
            for _ in 0..50 {
                if std::net::TcpStream::connect(&a).is_ok() {
                    break;
                }
                std::thread::sleep(std::time::Duration::from_millis(50));
            }
            scrape(&a)
        }
    })
    .await
    .expect("scrape");
    assert!(before.starts_with("HTTP/1.1 200 OK"), "{before}");
    assert!(
        before.contains("Content-Type: text/plain; version=0.0.4"),
        "{before}"
    );
    assert!(before.contains("# TYPE faccia_sessions_opened_total counter"));
    assert_eq!(value(&before, "faccia_sessions_opened_total"), 0.0);
    let mut q = s.queue().await;
    q.publish(ev("i", T0, E::Issued, "t1", ""))
        .await
        .expect("issued");
    q.publish(ev("s", T0 + 60_000, E::Served, "t1", "C1"))
        .await
        .expect("served");
    q.publish(ev("s", T0 + 60_000, E::Served, "t1", "C1"))
        .await
        .expect("retry");
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let after = tokio::task::spawn_blocking(move || scrape(&addr))
        .await
        .expect("scrape");
    assert_eq!(
        value(
            &after,
            "faccia_ticket_events_total{type=\"SERVED\",status=\"ACCEPTED\"}"
        ),
        1.0,
        "{after}"
    );
    assert_eq!(
        value(
            &after,
            "faccia_ticket_events_total{type=\"SERVED\",status=\"DUPLICATE\"}"
        ),
        1.0
    );
    assert_eq!(value(&after, "faccia_sessions_opened_total"), 1.0);
    assert_eq!(
        value(
            &after,
            "faccia_grpc_requests_total{service=\"faccia.v1.QueueEvents\",method=\"Publish\",code=\"Ok\"}"
        ),
        3.0
    );
    assert!(after.contains("faccia_grpc_request_seconds_bucket{service=\"faccia.v1.QueueEvents\",method=\"Publish\",le=\"+Inf\"} 3"));
    s.stop().await;
}
