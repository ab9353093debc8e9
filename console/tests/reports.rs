//! The Reports view against a real tonic server on loopback (the fake Monitor with the fake
//! Reports next to it): keys become requests, answers reach the view, a slow answer for a month
//! no longer shown is dropped, errors read as the console's other API errors, and saving writes
//! the server's document into the reports directory.

mod common;

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use faccia_console::client::{self, Backoff, Clients};
use faccia_console::config::Settings;
use faccia_console::fake::{FakeMonitor, RunningServer};
use faccia_console::keymap::Action;
use faccia_console::model::{ApiErrorKind, App, ConnState, Msg, ReportDoc, YearMonth};
use faccia_console::runtime::Tasks;
use faccia_console::Lang;
use faccia_proto::v1::MonthlyReport;
use tokio::time::timeout;
use tonic::Code;

struct Rig {
    server: Option<RunningServer>,
    fake: FakeMonitor,
    clients: Clients,
    tasks: Tasks,
    app: App,
}

fn october() -> MonthlyReport {
    let mut r = common::monthly_report(Lang::It);
    r.month = "2026-10".into();
    r.served = 2400;
    r.summary = "Ottobre 2026: 2400 utenti serviti.".into();
    r.month_complete = true;
    r
}

async fn rig(token: &str, dir: &Path) -> Rig {
    let mut r = rig_unready(token, dir).await;
    // The console asks the server for its offices first: keys act on the office found.
    r.pump(|a, _| a.office().is_some()).await;
    r
}

/// The rig before the console knows the server's offices.
async fn rig_unready(token: &str, dir: &Path) -> Rig {
    let fake = FakeMonitor::new(common::snapshot());
    let reports = fake.reports();
    reports.set_monthly("it", common::monthly_report(Lang::It));
    reports.set_monthly("en", common::monthly_report(Lang::En));
    reports.set_monthly("it", october());
    let server = RunningServer::start(
        fake.clone(),
        "127.0.0.1:0".parse::<SocketAddr>().expect("addr"),
    )
    .await
    .expect("bind");
    let clients = client::connect_all(&server.url(), Some(token)).expect("client");
    let backoff = Backoff {
        initial: Duration::from_millis(50),
        max: Duration::from_millis(400),
    };
    let tasks = Tasks::start(vec![clients.clone()], Duration::from_secs(60), backoff);
    let settings = Settings {
        reports_dir: dir.to_path_buf(),
        ..Settings::default()
    };
    let app = App::new(&settings, common::now());
    Rig {
        server: Some(server),
        fake,
        clients,
        tasks,
        app,
    }
}

impl Rig {
    fn act(&mut self, action: Action) {
        for cmd in self.app.act(action) {
            assert!(self.tasks.execute(&self.app, cmd));
        }
    }

    /// Feeds messages to the app until `done` holds; returns the messages seen.
    async fn pump(&mut self, mut done: impl FnMut(&App, &[Msg]) -> bool) -> Vec<Msg> {
        let mut seen = Vec::new();
        let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
        while !done(&self.app, &seen) {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            match timeout(left, self.tasks.rx.recv()).await {
                Ok(Some(m)) => {
                    self.app.apply(m.clone());
                    seen.push(m);
                }
                Ok(None) => panic!("channel closed"),
                Err(_) => panic!(
                    "timed out; reports {:?} notice {:?}",
                    self.app.site().reports,
                    self.app.notice
                ),
            }
        }
        seen
    }

    async fn stop(&mut self) {
        if let Some(s) = self.server.take() {
            s.stop().await;
        }
    }

    fn screen(&self) -> String {
        common::draw(&self.app, 160, 48)
    }
}

fn is_monthly(m: &Msg, month: &str) -> bool {
    match m {
        Msg::Of { msg, .. } => is_monthly(msg, month),
        Msg::Monthly { month: got, .. } => got.to_string() == month,
        _ => false,
    }
}

fn saved(app: &App) -> bool {
    app.site().reports.saving.is_none() && app.notice.is_some()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn months_load_over_grpc_and_stale_answers_are_dropped() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut r = rig("demo-viewer-token", dir.path()).await;
    r.act(Action::ViewReports);
    r.pump(|a, _| a.site().reports.report.is_some()).await;
    let s = r.screen();
    assert!(
        s.contains("A novembre 2026 l'ufficio ha servito 2520 utenti"),
        "{s}"
    );
    assert!(s.contains("⚠ sotto l'obiettivo"), "{s}");
    let calls = r.fake.reports().monthly_calls();
    assert_eq!(calls.len(), 1);
    assert_eq!(
        (calls[0].month.as_str(), calls[0].lang.as_str()),
        ("2026-11", "it")
    );

    // October answers slowly; the user goes on to September before it comes.
    r.fake
        .reports()
        .delay("2026-10", Duration::from_millis(600));
    r.act(Action::PrevPeriod);
    r.act(Action::PrevPeriod);
    assert_eq!(r.app.report_month().to_string(), "2026-09");
    let seen = r
        .pump(|_, seen| seen.iter().any(|m| is_monthly(m, "2026-10")))
        .await;
    assert!(
        seen.iter().any(|m| is_monthly(m, "2026-09")),
        "September came first"
    );
    let shown = r.app.site().reports.report.as_ref().expect("report");
    assert_eq!(shown.month, "2026-09", "October's late answer was dropped");
    let s = r.screen();
    assert!(
        s.contains("settembre 2026") && !s.contains("Ottobre 2026: 2400"),
        "{s}"
    );
    // Both requests went out (in either order: each is its own task).
    let mut months: Vec<String> = r
        .fake
        .reports()
        .monthly_calls()
        .into_iter()
        .map(|c| c.month)
        .collect();
    months.sort();
    assert_eq!(months, vec!["2026-09", "2026-10", "2026-11"]);

    // Back to October: this time its answer is shown.
    r.fake.reports().delay("2026-10", Duration::ZERO);
    r.act(Action::NextPeriod);
    r.pump(|a, _| {
        a.site()
            .reports
            .report
            .as_ref()
            .is_some_and(|x| x.month == "2026-10")
    })
    .await;
    assert!(r.screen().contains("Ottobre 2026: 2400 utenti serviti."));
    r.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn saving_writes_the_servers_documents_into_the_reports_dir() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut r = rig("demo-viewer-token", dir.path()).await;
    r.act(Action::ViewReports);
    r.pump(|a, _| a.site().reports.report.is_some()).await;

    r.act(Action::SaveHtml);
    r.pump(|a, _| saved(a)).await;
    let path = dir.path().join("faccia-2026-11.html");
    let notice = r.app.notice.clone().expect("notice");
    assert!(!notice.error, "{notice:?}");
    assert!(
        notice.text.contains(&path.display().to_string()),
        "{notice:?}"
    );
    assert!(r.screen().contains("Salvato in"), "the footer says where");
    // Byte for byte what the server renders.
    let expected = client::render(
        r.clients.reports.clone(),
        "",
        ReportDoc::MonthlyHtml(YearMonth::new(2026, 11).expect("month")),
        Lang::It,
    )
    .await
    .expect("render");
    assert_eq!(std::fs::read(&path).expect("saved file"), expected.content);
    let html = String::from_utf8(expected.content).expect("utf-8");
    assert!(html.contains("A novembre 2026 l'ufficio"), "{html}");

    // The Ministry export: CSV from January to the month shown.
    r.app.notice = None;
    r.act(Action::SaveMinistry);
    r.pump(|a, _| saved(a)).await;
    let csv = std::fs::read_to_string(dir.path().join("faccia-ministero-2026-01-2026-11.csv"))
        .expect("ministry export");
    assert_eq!(csv.lines().count(), 12, "{csv}");
    assert!(csv.contains("2026-10,2400,"), "{csv}");
    let calls = r.fake.reports().render_calls();
    let last = calls.last().expect("render call");
    assert_eq!(
        (last.from.as_str(), last.to.as_str()),
        ("2026-01", "2026-11")
    );

    // A name that would leave the directory is not used.
    r.fake.reports().set_file_name("../escape.csv");
    r.app.notice = None;
    r.act(Action::SaveCsv);
    r.pump(|a, _| saved(a)).await;
    assert!(dir.path().join("faccia-2026-11.csv").is_file());
    assert!(!dir.path().join("..").join("escape.csv").exists());
    let mut names: Vec<String> = std::fs::read_dir(dir.path())
        .expect("list")
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(
        names,
        vec![
            "faccia-2026-11.csv",
            "faccia-2026-11.html",
            "faccia-ministero-2026-01-2026-11.csv"
        ],
        "no temporary file is left behind"
    );

    // A refusal from the server is told, and nothing is written.
    r.fake.reports().fail_next(
        Code::InvalidArgument,
        "the Ministry export is CSV or JSON only",
    );
    r.app.notice = None;
    r.act(Action::SaveHtml);
    r.pump(|a, _| saved(a)).await;
    let notice = r.app.notice.clone().expect("notice");
    assert!(notice.error, "{notice:?}");
    assert!(
        notice.text.contains("INVALID_ARGUMENT")
            && notice
                .text
                .contains("the Ministry export is CSV or JSON only"),
        "{notice:?}"
    );
    r.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn saving_into_a_missing_directory_says_so() {
    let dir = tempfile::tempdir().expect("tempdir");
    let missing = dir.path().join("not-there");
    let mut r = rig("demo-viewer-token", &missing).await;
    r.act(Action::ViewReports);
    r.act(Action::SaveHtml);
    r.pump(|a, _| saved(a)).await;
    let notice = r.app.notice.clone().expect("notice");
    assert!(notice.error, "{notice:?}");
    assert!(
        notice.text.contains("Salvataggio non riuscito")
            && notice.text.contains("not-there/faccia-2026-11.html"),
        "{notice:?}"
    );
    r.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn report_errors_over_grpc() {
    let dir = tempfile::tempdir().expect("tempdir");
    // A wrong token.
    // A wrong token: the server will not even say which offices it has, and the screen says why.
    let mut r = rig_unready("nope", dir.path()).await;
    r.pump(|_, seen| {
        seen.iter().any(|m| {
            matches!(m, Msg::ServerDown { error, .. } if error.kind == ApiErrorKind::Unauthenticated)
        })
    })
    .await;
    r.act(Action::ViewReports);
    let s = r.screen();
    assert!(
        s.contains("Accesso negato: token mancante o non valido (UNAUTHENTICATED)"),
        "{s}"
    );
    r.stop().await;

    // The server refuses the month, with its reason; the permission error reads as elsewhere.
    let mut r = rig("demo-viewer-token", dir.path()).await;
    r.fake.reports().fail_next(
        Code::InvalidArgument,
        "month must be YYYY-MM, not \"2026-13\"",
    );
    r.act(Action::ViewReports);
    r.pump(|a, _| a.site().reports.error.is_some()).await;
    let s = r.screen();
    assert!(
        s.contains("Richiesta rifiutata dal server (INVALID_ARGUMENT): month must be YYYY-MM"),
        "{s}"
    );
    r.fake
        .reports()
        .fail_next(Code::PermissionDenied, "role viewer or admin required");
    r.act(Action::Refresh);
    r.pump(|a, _| !a.site().reports.loading).await;
    let s = r.screen();
    assert!(
        s.contains("Permesso negato: servono i ruoli viewer o admin (PERMISSION_DENIED)"),
        "{s}"
    );
    // The server goes away (the event stream notices first): UNAVAILABLE.
    r.stop().await;
    r.pump(|a, _| matches!(a.site().conn, ConnState::Lost { .. }))
        .await;
    r.act(Action::Refresh);
    r.pump(|a, _| !a.site().reports.loading).await;
    let s = r.screen();
    assert!(
        s.contains("Server non raggiungibile (UNAVAILABLE)"),
        "{s} {:?}",
        r.app.site().reports.error
    );
}
