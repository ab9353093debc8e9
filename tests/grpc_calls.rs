//! One layer in front of every gRPC method: tokens and roles are checked for all of them
//! (streaming too), every call is counted in /metrics, the metrics pass `promtool check
//! metrics`, and both reflection versions answer (v1alpha through Python's grpcio-reflection).

mod common;

use std::io::{Read, Write};
use std::time::Duration;

use common::tools::available;
use common::{ev, Backend, Bearer, TestClock, TestDb, TestServer, T0};
use faccia_proto::v1::{self, EventType as E};
use tonic::Code;

fn scrape(addr: &str) -> String {
    let mut s = std::net::TcpStream::connect(addr).expect("connect to metrics");
    s.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
        .expect("write");
    let mut out = String::new();
    s.read_to_string(&mut out).expect("read");
    out
}

async fn scrape_async(addr: &str) -> String {
    let a = addr.to_string();
    tokio::task::spawn_blocking(move || scrape(&a))
        .await
        .expect("scrape")
}

fn value(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find(|l| l.starts_with(series) && l[series.len()..].starts_with(' '))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
}

/// A server with metrics on a free port; returns it and the metrics address.
async fn start(db: &TestDb) -> (TestServer, String) {
    let addr = format!("127.0.0.1:{}", common::free_port());
    let text = format!(
        "{}\n[metrics]\nlisten = \"{addr}\"\n",
        common::config_text(&db.url, "127.0.0.1:0", 60)
    );
    let s = TestServer::start_text(db, TestClock::new(T0 + 1_800_000), &text).await;
    for _ in 0..100 {
        if std::net::TcpStream::connect(&addr).is_ok() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    (s, addr)
}

/// Calls each of the 9 methods once, with the token its role needs.
async fn call_every_method(s: &TestServer) {
    let ch = s.channel().await;
    let mut q = s.queue().await;
    q.publish(ev("e1", T0, E::Issued, "t1", ""))
        .await
        .expect("Publish");
    let mut acks = q
        .stream(futures::stream::iter(vec![ev(
            "e2",
            T0 + 1000,
            E::Called,
            "t1",
            "C1",
        )]))
        .await
        .expect("Stream")
        .into_inner();
    while let Some(a) = acks.message().await.expect("Stream ack") {
        assert!(!a.event_id.is_empty());
    }
    q.reconcile(v1::CounterSnapshot {
        source_id: "eliminacode".into(),
        at: Some(common::ts(T0 + 2000)),
        counters: vec![],
        ..Default::default()
    })
    .await
    .expect("Reconcile");
    let mut m = s.monitor(common::VIEWER_TOKEN).await;
    m.get_snapshot(v1::SnapshotRequest {
        ..Default::default()
    })
    .await
    .expect("GetSnapshot");
    m.get_satisfaction(v1::SatisfactionRequest {
        period: v1::Period::Today as i32,
        ..Default::default()
    })
    .await
    .expect("GetSatisfaction");
    let mut watch = m
        .watch_events(v1::WatchRequest {
            after_seq: 0,
            ..Default::default()
        })
        .await
        .expect("WatchEvents")
        .into_inner();
    watch
        .message()
        .await
        .expect("WatchEvents entry")
        .expect("an entry");
    // The client goes away: the call ends as CANCELLED.
    drop(watch);
    // No keypads in this office: an answer with an error, counted all the same.
    let mut admin = s.monitor(common::ADMIN_TOKEN).await;
    let _ = admin
        .keypad_command(v1::KeypadCommandRequest {
            counter_id: "C1".into(),
            action: v1::KeypadAction::KeypadIdentify as i32,
            ..Default::default()
        })
        .await;
    let mut r = v1::reports_client::ReportsClient::with_interceptor(
        ch.clone(),
        Bearer(common::VIEWER_TOKEN.into()),
    );
    r.get_monthly(v1::MonthlyRequest {
        month: "2026-11".into(),
        lang: "it".into(),
        ..Default::default()
    })
    .await
    .expect("GetMonthly");
    r.render(v1::RenderRequest {
        kind: v1::ReportKind::ReportMonthly as i32,
        format: v1::ReportFormat::ReportCsv as i32,
        month: "2026-11".into(),
        ..Default::default()
    })
    .await
    .expect("Render");
    let mut health = tonic_health::pb::health_client::HealthClient::new(ch);
    health
        .check(tonic_health::pb::HealthCheckRequest {
            service: String::new(),
        })
        .await
        .expect("health Check needs no token");
}

const FACCIA_METHODS: [(&str, &str); 9] = [
    ("faccia.v1.QueueEvents", "Publish"),
    ("faccia.v1.QueueEvents", "Stream"),
    ("faccia.v1.QueueEvents", "Reconcile"),
    ("faccia.v1.Monitor", "GetSnapshot"),
    ("faccia.v1.Monitor", "GetSatisfaction"),
    ("faccia.v1.Monitor", "WatchEvents"),
    ("faccia.v1.Monitor", "KeypadCommand"),
    ("faccia.v1.Reports", "GetMonthly"),
    ("faccia.v1.Reports", "Render"),
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_method_is_counted_in_metrics() {
    let db = TestDb::new(Backend::Sqlite);
    let (s, addr) = start(&db).await;
    call_every_method(&s).await;
    // The cancelled WatchEvents is recorded when the server sees the stream reset.
    let mut text = String::new();
    for _ in 0..100 {
        text = scrape_async(&addr).await;
        if value(
            &text,
            "faccia_grpc_requests_total{service=\"faccia.v1.Monitor\",method=\"WatchEvents\",code=\"Cancelled\"}",
        )
        .is_some()
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    for (service, method) in FACCIA_METHODS {
        let labels = format!("service=\"{service}\",method=\"{method}\"");
        assert_eq!(
            value(
                &text,
                &format!("faccia_grpc_request_seconds_count{{{labels}}}")
            ),
            Some(1.0),
            "{service}/{method} not counted once:\n{text}"
        );
        assert_eq!(
            value(
                &text,
                &format!("faccia_grpc_request_seconds_bucket{{{labels},le=\"+Inf\"}}")
            ),
            Some(1.0),
            "{text}"
        );
    }
    for (service, method) in FACCIA_METHODS
        .iter()
        .filter(|(_, m)| !["WatchEvents", "KeypadCommand"].contains(m))
    {
        assert_eq!(
            value(
                &text,
                &format!(
                    "faccia_grpc_requests_total{{service=\"{service}\",method=\"{method}\",code=\"Ok\"}}"
                )
            ),
            Some(1.0),
            "{text}"
        );
    }
    assert_eq!(
        value(
            &text,
            "faccia_grpc_requests_total{service=\"grpc.health.v1.Health\",method=\"Check\",code=\"Ok\"}"
        ),
        Some(1.0),
        "{text}"
    );
    s.stop().await;
}

/// Tokens are checked for every method, streaming ones included, with the same codes and
/// messages as before the layer; refused calls are counted with their code.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_method_needs_its_role() {
    let db = TestDb::new(Backend::Sqlite);
    let (s, addr) = start(&db).await;
    let ch = s.channel().await;
    // No token at all on a client stream and a server stream.
    let mut anon = v1::queue_events_client::QueueEventsClient::new(ch.clone());
    let e = anon
        .stream(futures::stream::iter(vec![ev("x", T0, E::Issued, "t", "")]))
        .await
        .expect_err("Stream without a token");
    assert_eq!(e.code(), Code::Unauthenticated);
    assert_eq!(
        e.message(),
        "missing credentials: send the header `authorization: Bearer <token>`"
    );
    let mut anon_m = v1::monitor_client::MonitorClient::new(ch.clone());
    let e = anon_m
        .watch_events(v1::WatchRequest {
            after_seq: 0,
            ..Default::default()
        })
        .await
        .expect_err("WatchEvents without a token");
    assert_eq!(e.code(), Code::Unauthenticated);
    // A queue token where a viewer is needed, and the reverse.
    let mut q_on_m = s.monitor(common::QUEUE_TOKEN).await;
    let e = q_on_m
        .watch_events(v1::WatchRequest {
            after_seq: 0,
            ..Default::default()
        })
        .await
        .expect_err("WatchEvents with the queue token");
    assert_eq!(e.code(), Code::PermissionDenied);
    assert_eq!(
        e.message(),
        "the credential \"queue\" has role `queue`; this call needs `viewer` or `admin`"
    );
    let mut v_on_q = v1::queue_events_client::QueueEventsClient::with_interceptor(
        ch.clone(),
        Bearer(common::VIEWER_TOKEN.into()),
    );
    let e = v_on_q
        .reconcile(v1::CounterSnapshot::default())
        .await
        .expect_err("Reconcile with the viewer token");
    assert_eq!(e.code(), Code::PermissionDenied);
    let mut v_on_m = s.monitor(common::VIEWER_TOKEN).await;
    let e = v_on_m
        .keypad_command(v1::KeypadCommandRequest::default())
        .await
        .expect_err("KeypadCommand with the viewer token");
    assert_eq!(e.code(), Code::PermissionDenied);
    assert_eq!(
        e.message(),
        "the credential \"viewer\" has role `viewer`; this call needs `admin`"
    );
    let mut wrong =
        v1::reports_client::ReportsClient::with_interceptor(ch.clone(), Bearer("nope".into()));
    let e = wrong
        .get_monthly(v1::MonthlyRequest::default())
        .await
        .expect_err("unknown token");
    assert_eq!(e.code(), Code::Unauthenticated);
    assert_eq!(e.message(), "unknown or revoked token");
    // The admin token may call everything that needs a role.
    let mut admin = s.monitor(common::ADMIN_TOKEN).await;
    admin
        .get_snapshot(v1::SnapshotRequest {
            ..Default::default()
        })
        .await
        .expect("admin reads the monitor");
    let text = scrape_async(&addr).await;
    for (method, code) in [
        ("Stream", "Unauthenticated"),
        ("Reconcile", "PermissionDenied"),
    ] {
        assert_eq!(
            value(
                &text,
                &format!(
                    "faccia_grpc_requests_total{{service=\"faccia.v1.QueueEvents\",method=\"{method}\",code=\"{code}\"}}"
                )
            ),
            Some(1.0),
            "{text}"
        );
    }
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_pass_promtool() {
    if !available(
        "promtool",
        std::process::Command::new("promtool").arg("--version"),
        "Debian package prometheus",
    ) {
        return;
    }
    let db = TestDb::new(Backend::Sqlite);
    let (s, addr) = start(&db).await;
    call_every_method(&s).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let text = scrape_async(&addr).await;
    let (_, body) = text.split_once("\r\n\r\n").expect("an HTTP answer");
    assert!(
        body.contains("faccia_grpc_request_seconds_bucket"),
        "{body}"
    );
    let mut child = std::process::Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("run promtool");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(body.as_bytes())
        .expect("write to promtool");
    let out = child.wait_with_output().expect("promtool");
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.status.success() && said.trim().is_empty(),
        "promtool check metrics: {said}\n---\n{body}"
    );
    s.stop().await;
}

const PY_REFLECTION: &str = r#"
import sys
import grpc
from google.protobuf.descriptor_pool import DescriptorPool
from grpc_reflection.v1alpha.proto_reflection_descriptor_database import (
    ProtoReflectionDescriptorDatabase,
)

channel = grpc.insecure_channel(sys.argv[1])
db = ProtoReflectionDescriptorDatabase(channel)
for name in db.get_services():
    print("service", name)
pool = DescriptorPool(db)
for name in ("faccia.v1.QueueEvents", "faccia.v1.Monitor", "faccia.v1.Reports"):
    svc = pool.FindServiceByName(name)
    print("methods", name, " ".join(m.name for m in svc.methods))
"#;

/// The official Python reflection client speaks v1alpha only.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_reflection_client_lists_the_services() {
    if !available(
        "python3 with grpcio and grpcio-reflection",
        std::process::Command::new("python3").args(["-c", "import grpc, grpc_reflection"]),
        "pip install grpcio grpcio-reflection",
    ) {
        return;
    }
    let db = TestDb::new(Backend::Sqlite);
    let (s, _) = start(&db).await;
    let target = s.addr.to_string();
    let out = tokio::task::spawn_blocking(move || {
        std::process::Command::new("python3")
            .args(["-c", PY_REFLECTION, &target])
            .output()
            .expect("run python3")
    })
    .await
    .expect("python");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "python reflection client failed: {}{}",
        stdout,
        String::from_utf8_lossy(&out.stderr)
    );
    for name in [
        "faccia.v1.QueueEvents",
        "faccia.v1.Monitor",
        "faccia.v1.Reports",
        "grpc.health.v1.Health",
        "grpc.reflection.v1alpha.ServerReflection",
        "grpc.reflection.v1.ServerReflection",
    ] {
        assert!(
            stdout.lines().any(|l| l == format!("service {name}")),
            "{name} not listed:\n{stdout}"
        );
    }
    assert!(
        stdout
            .lines()
            .any(|l| l == "methods faccia.v1.QueueEvents Publish Stream Reconcile IssueVoteLink"),
        "{stdout}"
    );
    assert!(
        stdout.lines().any(|l| l
            == "methods faccia.v1.Monitor ListSites GetSnapshot GetSatisfaction WatchEvents KeypadCommand"),
        "{stdout}"
    );
    s.stop().await;
}
