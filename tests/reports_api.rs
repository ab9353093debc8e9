//! `faccia.v1.Reports` end to end: tickets and votes enter through the real queue API and the
//! store's keypad seam, the figures come back over loopback gRPC, on SQLite and PostgreSQL.

mod common;

use common::{ev, status, Backend, Bearer, TestClock, TestDb, TestServer, T0};
use faccia_domain::session::{Face, Judgement};
use faccia_proto::v1::{
    self, event_ack::Status as Ack, reports_client::ReportsClient, EventType as E,
};
use faccia_server::storage::read;
use tonic::transport::Channel;
use tonic::Code;

const MIN: i64 = 60_000;

type Client = ReportsClient<tonic::service::interceptor::InterceptedService<Channel, Bearer>>;

async fn reports(s: &TestServer, token: &str) -> Client {
    ReportsClient::with_interceptor(s.channel().await, Bearer(token.into()))
}

/// Serves `n` tickets of service `service` at `counter`, each waiting `wait` minutes, and
/// votes `faces[i]` for the first `faces.len()` of them (through the keypad seam).
async fn serve_and_vote(
    s: &TestServer,
    prefix: &str,
    service: &str,
    counter: &str,
    wait_min: i64,
    n: usize,
    faces: &[(Face, Option<u8>)],
) {
    let mut q = s.queue().await;
    for i in 0..n {
        let t = format!("{prefix}{i}");
        let at = s.clock.now();
        let e = |id: &str, dt: i64, kind: E| {
            let mut e = ev(&format!("{t}-{id}"), at + dt, kind, &t, counter);
            e.service_code = service.into();
            if kind == E::Issued {
                e.counter_id = String::new();
            }
            e
        };
        for (id, dt, kind) in [
            ("i", 0, E::Issued),
            ("c", wait_min * MIN, E::Called),
            ("s", wait_min * MIN + 2 * MIN, E::Served),
        ] {
            let a = q
                .publish(e(id, dt, kind))
                .await
                .expect("publish")
                .into_inner();
            assert_eq!(status(&a), Ack::Accepted, "{t} {id}: {}", a.detail);
        }
        s.clock.advance(wait_min * MIN + 3 * MIN);
        if let Some((face, reason)) = faces.get(i) {
            let sessions = s.shared.offices[0]
                .store
                .read_site(read::sessions)
                .await
                .expect("sessions");
            let token = sessions
                .iter()
                .find(|x| x.ticket_id == t && x.state == "OPEN")
                .map(|x| x.token as u32)
                .expect("an open session for the served ticket");
            s.shared.offices[0]
                .store
                .record_vote(
                    token,
                    Judgement {
                        face: *face,
                        reason: *reason,
                    },
                    s.clock.now(),
                )
                .await
                .expect("vote");
        }
        s.clock.advance(2 * MIN);
    }
}

async fn monthly_figures_and_documents(backend: Backend) {
    let db = TestDb::new(backend);
    // 23 November 2026, 10:00 in Rome.
    let s = TestServer::start(&db, TestClock::new(T0)).await;
    // Service A (standard 20 min): 4 served, waits of 5 minutes; 3 votes: 2 green, 1 red (reason 1).
    serve_and_vote(
        &s,
        "a",
        "A",
        "C1",
        5,
        4,
        &[
            (Face::Green, None),
            (Face::Green, None),
            (Face::Red, Some(1)),
        ],
    )
    .await;
    // Service B (standard 30 min): 2 served, waits of 40 minutes; 1 yellow vote.
    serve_and_vote(&s, "b", "B", "C2", 40, 2, &[(Face::Yellow, None)]).await;

    let mut r = reports(&s, common::VIEWER_TOKEN).await;
    // Empty month: the current one (November 2026).
    let m = r
        .get_monthly(v1::MonthlyRequest::default())
        .await
        .expect("monthly")
        .into_inner();
    assert_eq!(m.month, "2026-11");
    assert_eq!(m.previous_month, "2026-10");
    assert_eq!(m.served, 6);
    let f = m.faces.as_ref().expect("faces");
    assert_eq!((f.votes, f.green, f.yellow, f.red), (4, 2, 1, 1));
    assert_eq!(f.reasons, vec![1, 0, 0, 0]);
    // 2/4 = 50,0%, 1/4 = 25,0%; participation 4/6 = 66,7% (half up).
    assert_eq!(f.green_tenths, Some(500));
    assert_eq!(f.yellow_tenths, Some(250));
    assert_eq!(f.red_tenths, Some(250));
    assert_eq!(f.reason_tenths, vec![1000, 0, 0, 0]);
    assert_eq!(f.red_without_reason_tenths, Some(0));
    assert_eq!(m.participation_tenths, Some(667));
    assert!(
        m.summary.starts_with("Nel mese di novembre"),
        "{}",
        m.summary
    );
    assert!(m.summary.contains("6 gli utenti serviti"), "{}", m.summary);
    // October had nothing: no change can be computed for shares.
    assert_eq!(m.previous_served, 0);
    assert_eq!(m.participation_change_tenths, None);

    let c1 = m.by_counter.iter().find(|g| g.code == "C1").expect("C1");
    assert_eq!(c1.name, "Sportello 1");
    assert_eq!(c1.served, Some(4));
    assert_eq!(c1.participation_tenths, Some(750));
    let c3 = m
        .by_counter
        .iter()
        .find(|g| g.code == "C3")
        .expect("C3 listed though idle");
    assert_eq!(c3.served, Some(0));
    assert_eq!(c3.participation_tenths, None);
    let web = m.by_channel.iter().find(|g| g.code == "WEB").expect("WEB");
    assert_eq!(web.served, None);

    let a = m.waiting.iter().find(|w| w.service_code == "A").expect("A");
    assert_eq!(
        (a.counted, a.within, a.within_tenths),
        (4, Some(4), Some(1000))
    );
    assert_eq!(a.met, Some(true));
    assert_eq!(a.avg_ms, Some((5 * MIN) as f64));
    let b = m.waiting.iter().find(|w| w.service_code == "B").expect("B");
    assert_eq!(
        (b.counted, b.within, b.within_tenths),
        (2, Some(0), Some(0))
    );
    assert_eq!(b.met, Some(false));
    assert_eq!(b.p90_ms, Some(40 * MIN));
    let n = m.waiting.iter().find(|w| w.service_code == "N").expect("N");
    assert_eq!((n.standard_min, n.within, n.met), (None, None, None));
    assert_eq!(m.target_tenths, 900);
    assert!(
        !m.month_complete,
        "November is still running on the server's clock"
    );
    assert_eq!(
        m.generated_at.map(|t| t.seconds * 1000),
        Some(s.clock.now())
    );

    // English sentence on request.
    let en = r
        .get_monthly(v1::MonthlyRequest {
            month: "2026-11".into(),
            lang: "en".into(),
            ..Default::default()
        })
        .await
        .expect("monthly en")
        .into_inner();
    assert!(en.summary.contains("November"), "{}", en.summary);
    let october = r
        .get_monthly(v1::MonthlyRequest {
            month: "2026-10".into(),
            lang: String::new(),
            ..Default::default()
        })
        .await
        .expect("october")
        .into_inner();
    assert!(october.month_complete);
    assert_eq!(october.served, 0);
    assert!(
        october.summary.contains("nessuno ha espresso un giudizio"),
        "{}",
        october.summary
    );

    // The publication as one HTML page, as `faccia report monthly --format html` writes it.
    let doc = r
        .render(v1::RenderRequest {
            kind: v1::ReportKind::ReportMonthly as i32,
            format: v1::ReportFormat::ReportHtml as i32,
            month: "2026-11".into(),
            ..Default::default()
        })
        .await
        .expect("render")
        .into_inner();
    assert_eq!(doc.file_name, "faccia-test-office-2026-11.html");
    assert!(doc.media_type.starts_with("text/html"));
    let html = String::from_utf8(doc.content).expect("utf-8");
    assert!(html.contains("<svg"), "charts inline");
    assert!(
        html.contains("2 positivi (50,0%)"),
        "the sentence's figures"
    );

    // The Ministry export, CSV.
    let doc = r
        .render(v1::RenderRequest {
            kind: v1::ReportKind::ReportMinistryExport as i32,
            format: v1::ReportFormat::ReportCsv as i32,
            from: "2026-10".into(),
            to: "2026-11".into(),
            ..Default::default()
        })
        .await
        .expect("export")
        .into_inner();
    assert_eq!(
        doc.file_name,
        "faccia-test-office-ministero-2026-10-2026-11.csv"
    );
    let csv = String::from_utf8(doc.content).expect("utf-8");
    assert!(
        csv.contains("2026-11,test-office,Ufficio di prova,COUNTER,A,4,3,2,0,1"),
        "{csv}"
    );
    assert!(
        !csv.contains("Sportello"),
        "no counter (operator) data in the export"
    );

    // The annual review, JSON.
    let doc = r
        .render(v1::RenderRequest {
            kind: v1::ReportKind::ReportAnnual as i32,
            format: v1::ReportFormat::ReportJson as i32,
            year: 2026,
            ..Default::default()
        })
        .await
        .expect("annual")
        .into_inner();
    let v: serde_json::Value = serde_json::from_slice(&doc.content).expect("json");
    assert_eq!(v["year"], 2026);
    s.stop().await;
}
both_backends!(monthly_figures_and_documents, monthly_figures_and_documents);

async fn bad_requests_are_refused_clearly(backend: Backend) {
    let db = TestDb::new(backend);
    let s = TestServer::start(&db, TestClock::new(T0)).await;
    let mut r = reports(&s, common::VIEWER_TOKEN).await;
    let e = r
        .get_monthly(v1::MonthlyRequest {
            month: "2026-13".into(),
            lang: String::new(),
            ..Default::default()
        })
        .await
        .expect_err("no 13th month");
    assert_eq!(e.code(), Code::InvalidArgument);
    assert!(e.message().starts_with("month:"), "{}", e.message());
    let e = r
        .get_monthly(v1::MonthlyRequest {
            month: String::new(),
            lang: "fr".into(),
            ..Default::default()
        })
        .await
        .expect_err("no French");
    assert_eq!(e.code(), Code::InvalidArgument);
    assert!(e.message().contains("lang"), "{}", e.message());
    let e = r
        .render(v1::RenderRequest {
            kind: v1::ReportKind::ReportMinistryExport as i32,
            format: v1::ReportFormat::ReportHtml as i32,
            from: "2026-01".into(),
            to: "2026-02".into(),
            ..Default::default()
        })
        .await
        .expect_err("the export is CSV or JSON");
    assert_eq!(e.code(), Code::InvalidArgument);
    assert!(e.message().contains("csv or json"), "{}", e.message());
    let e = r
        .render(v1::RenderRequest {
            kind: v1::ReportKind::ReportMinistryExport as i32,
            format: v1::ReportFormat::ReportCsv as i32,
            from: "2026-05".into(),
            to: "2026-02".into(),
            ..Default::default()
        })
        .await
        .expect_err("backwards range");
    assert_eq!(e.code(), Code::InvalidArgument);
    assert!(
        e.message().contains("2026-02 is before 2026-05"),
        "{}",
        e.message()
    );
    let e = r
        .render(v1::RenderRequest {
            kind: v1::ReportKind::ReportAnnual as i32,
            format: v1::ReportFormat::ReportHtml as i32,
            ..Default::default()
        })
        .await
        .expect_err("no year");
    assert_eq!(e.code(), Code::InvalidArgument);
    assert!(
        e.message().starts_with("year: 0 is not a year"),
        "{}",
        e.message()
    );
    let e = r
        .render(v1::RenderRequest {
            kind: v1::ReportKind::ReportMonthly as i32,
            ..Default::default()
        })
        .await
        .expect_err("no format");
    assert_eq!(e.code(), Code::InvalidArgument);
    assert!(e.message().starts_with("format:"), "{}", e.message());
    let e = r
        .render(v1::RenderRequest {
            format: v1::ReportFormat::ReportCsv as i32,
            ..Default::default()
        })
        .await
        .expect_err("no kind");
    assert!(e.message().starts_with("kind:"), "{}", e.message());

    // The queue system's token cannot read reports; no token is unauthenticated.
    let e = reports(&s, common::QUEUE_TOKEN)
        .await
        .get_monthly(v1::MonthlyRequest::default())
        .await
        .expect_err("queue role");
    assert_eq!(e.code(), Code::PermissionDenied);
    let e = ReportsClient::new(s.channel().await)
        .get_monthly(v1::MonthlyRequest::default())
        .await
        .expect_err("no token");
    assert_eq!(e.code(), Code::Unauthenticated);
    // An admin may.
    reports(&s, common::ADMIN_TOKEN)
        .await
        .get_monthly(v1::MonthlyRequest::default())
        .await
        .expect("admin reads reports");

    // A database that fails under the report: UNAVAILABLE with the database's reason, and the
    // server goes on answering.
    {
        use diesel::connection::SimpleConnection;
        let url = faccia_server::config::DatabaseUrl::parse(&db.url).expect("url");
        match faccia_server::storage::connect(&url, 1000).expect("connect") {
            faccia_server::storage::AnyConnection::Sqlite(mut c) => {
                c.batch_execute("DROP TABLE report_waits").expect("drop")
            }
            faccia_server::storage::AnyConnection::Postgresql(mut c) => {
                c.batch_execute("DROP TABLE report_waits").expect("drop")
            }
        }
    }
    for _ in 0..2 {
        let e = r
            .get_monthly(v1::MonthlyRequest::default())
            .await
            .expect_err("no waits table");
        assert_eq!(e.code(), Code::Unavailable);
        assert!(
            e.message().starts_with("the report's query failed")
                && e.message().contains("report_waits"),
            "{}",
            e.message()
        );
    }
    s.stop().await;
}
both_backends!(
    bad_requests_are_refused_clearly,
    bad_requests_are_refused_clearly
);

/// Two offices served by one `faccia serve` ([[sites]], both with a counter "1"): `Render`
/// with `site_id = "*"` is the body's report, one entry per office the token may see.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_body_report_has_every_office_the_token_sees() {
    let db = TestDb::new(Backend::Sqlite);
    let text = format!(
        r#"
[server]
listen = "127.0.0.1:0"
[database]
url = "{url}"
[[sites]]
id = "ente-anagrafe"
name = "Anagrafe"
time_zone = "Europe/Rome"
[[sites.services]]
code = "A"
name = "Certificati"
[[sites.counters]]
id = "1"
name = "Sportello 1"
[[sites]]
id = "ente-tributi"
name = "Tributi"
time_zone = "Europe/Rome"
[[sites.services]]
code = "A"
name = "IMU"
[[sites.counters]]
id = "1"
name = "Sportello 1"
[[auth.tokens]]
name = "queue"
role = "queue"
token = "{q}"
[[auth.tokens]]
name = "viewer"
role = "viewer"
token = "{v}"
[[auth.tokens]]
name = "viewer-tributi"
role = "viewer"
token = "viewer-tributi-token"
sites = ["ente-tributi"]
"#,
        url = db.url,
        q = common::QUEUE_TOKEN,
        v = common::VIEWER_TOKEN,
    );
    let s = TestServer::start_text(&db, TestClock::new(T0), &text).await;
    let mut q = s.queue().await;
    for (site, tickets) in [("ente-anagrafe", 2), ("ente-tributi", 1)] {
        for i in 0..tickets {
            let t = format!("{site}-{i}");
            for (id, dt, kind, counter) in [
                ("i", 0, E::Issued, ""),
                ("c", MIN, E::Called, "1"),
                ("s", 2 * MIN, E::Served, "1"),
            ] {
                let mut e = ev(
                    &format!("{t}{id}"),
                    T0 + i * 3 * MIN + dt,
                    kind,
                    &t,
                    counter,
                );
                e.site_id = site.into();
                e.service_code = "A".into();
                let a = q.publish(e).await.expect("publish").into_inner();
                assert_eq!(status(&a), Ack::Accepted, "{}", a.detail);
            }
        }
    }
    let month = chrono::DateTime::from_timestamp_millis(T0)
        .expect("T0")
        .with_timezone(&chrono_tz::Europe::Rome)
        .format("%Y-%m")
        .to_string();
    let render = |token: &'static str| {
        let s = &s;
        let month = month.clone();
        async move {
            reports(s, token)
                .await
                .render(v1::RenderRequest {
                    kind: v1::ReportKind::ReportMonthly as i32,
                    format: v1::ReportFormat::ReportJson as i32,
                    month,
                    site_id: "*".into(),
                    lang: "it".into(),
                    ..Default::default()
                })
                .await
        }
    };
    let doc = render(common::VIEWER_TOKEN)
        .await
        .expect("the body's report")
        .into_inner();
    assert_eq!(doc.file_name, format!("faccia-ente-{month}.json"));
    let body: serde_json::Value = serde_json::from_slice(&doc.content).expect("JSON");
    assert_eq!(body["schema"], "faccia.report.body-monthly/1");
    assert_eq!(body["totals"]["served"], 3, "{body}");
    let offices = body["offices"].as_array().expect("offices");
    let served: Vec<(String, u64)> = offices
        .iter()
        .map(|o| {
            (
                o["site"]["id"].as_str().unwrap_or_default().to_string(),
                o["totals"]["served"].as_u64().unwrap_or(0),
            )
        })
        .collect();
    assert_eq!(
        served,
        [
            ("ente-anagrafe".to_string(), 2),
            ("ente-tributi".to_string(), 1)
        ],
        "{body}"
    );
    // A token of one office: the body it may see is that office alone.
    let doc = render("viewer-tributi-token")
        .await
        .expect("one office's body")
        .into_inner();
    let body: serde_json::Value = serde_json::from_slice(&doc.content).expect("JSON");
    assert_eq!(body["offices"].as_array().map(Vec::len), Some(1), "{body}");
    assert_eq!(body["totals"]["served"], 1, "{body}");
    s.stop().await;
}
