//! `faccia report` as an office runs it: the real binary, a configuration file, a database the
//! server filled, relative months and `--output-dir`, the commands of etc/faccia-report.service.

mod common;

use std::path::Path;
use std::process::{Command, Output};

use common::{Backend, TestClock, TestDb, TestServer};
use faccia_domain::session::{Face, Judgement};
use faccia_reports::YearMonth;

const MIN: i64 = 60_000;

fn faccia(config: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_faccia"))
        .args(args)
        .arg("--config")
        .arg(config)
        .env("RUST_LOG", "warn")
        .output()
        .expect("run faccia")
}

use common::succeeded as ok;

/// Three tickets served this month (in the site's time zone), two of them judged green.
async fn this_months_office(db: &TestDb) -> YearMonth {
    let tz = chrono_tz::Europe::Rome;
    let now = chrono::Utc::now().timestamp_millis();
    let month = YearMonth::containing(now, tz).expect("this month");
    let (start, _) = month.bounds(tz).expect("bounds");
    // Ten minutes ago, or just after midnight on the 1st: always inside this month.
    let base = (now - 10 * MIN).max(start + 1000);
    let s = TestServer::start(db, TestClock::new(base)).await;
    common::served_tickets(&s, base, "t", 3, |i| {
        (i < 2).then_some(Judgement {
            face: Face::Green,
            reason: None,
        })
    })
    .await;
    s.stop().await;
    month
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn monthly_timer_commands_write_the_documents_under_their_names() {
    let db = TestDb::new(Backend::Sqlite);
    let month = this_months_office(&db).await;
    let config = common::write_config(db.path(), &db.url, "127.0.0.1:50051", 60);
    let out_dir = tempfile::tempdir().expect("reports dir");
    let dir = out_dir.path().to_str().expect("utf-8 path");

    // This month, as the office website page.
    ok(&faccia(
        &config,
        &[
            "report",
            "monthly",
            "--month",
            "current",
            "--format",
            "html",
            "--output-dir",
            dir,
        ],
    ));
    let page = std::fs::read_to_string(
        out_dir
            .path()
            .join(format!("faccia-test-office-{month}.html")),
    )
    .expect("page under its standard name");
    assert!(
        page.contains("sono stati 3 gli utenti serviti; 2 hanno espresso un giudizio"),
        "the month's sentence"
    );

    // The commands of etc/faccia-report.service, as the timer runs them on the 1st.
    let unit = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("etc/faccia-report.service"),
    )
    .expect("the unit file");
    let commands: Vec<Vec<String>> = unit
        .lines()
        .filter_map(|l| l.strip_prefix("ExecStart=/usr/local/bin/faccia "))
        .map(|l| {
            l.split_whitespace()
                .map(|w| w.replace("/var/lib/faccia/reports", dir))
                .collect()
        })
        .collect();
    assert_eq!(commands.len(), 3, "{unit}");
    for c in &commands {
        // `--config /etc/faccia/faccia.toml` is the test's configuration here.
        let n = c.len();
        assert_eq!(c[n - 2], "--config", "{c:?}");
        let args: Vec<&str> = c[..n - 2].iter().map(String::as_str).collect();
        ok(&faccia(&config, &args));
    }
    let previous = month.previous();
    let csv = std::fs::read_to_string(
        out_dir
            .path()
            .join(format!("faccia-test-office-{previous}.csv")),
    )
    .expect("last month's CSV");
    assert!(!csv.is_empty());
    let export = std::fs::read_to_string(out_dir.path().join(format!(
        "faccia-test-office-ministero-{previous}-{previous}.csv"
    )))
    .expect("last month's Ministry export");
    assert!(export.lines().next().is_some_and(|h| h.contains("served")));
    assert!(
        out_dir
            .path()
            .join(format!("faccia-test-office-{previous}.html"))
            .is_file(),
        "last month's page"
    );

    // The Ministry export of this month counts the three tickets and two green votes.
    let text = ok(&faccia(
        &config,
        &["report", "export", "--from", "current", "--to", "current"],
    ));
    assert!(
        text.contains(&format!(
            "{month},test-office,Ufficio di prova,COUNTER,A,3,2,2,0,0"
        )),
        "{text}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_report_requests_are_refused_and_write_nothing() {
    let db = TestDb::new(Backend::Sqlite);
    this_months_office(&db).await;
    let config = common::write_config(db.path(), &db.url, "127.0.0.1:50051", 60);
    let out_dir = tempfile::tempdir().expect("dir");
    let missing = out_dir.path().join("nope");

    let out = faccia(
        &config,
        &[
            "report",
            "monthly",
            "--month",
            "previous",
            "--output-dir",
            missing.to_str().expect("utf-8"),
        ],
    );
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("nope") && err.contains("does not exist"),
        "{err}"
    );
    assert!(!missing.exists(), "no directory is created");

    let out = faccia(&config, &["report", "monthly", "--month", "yesterday"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("`current` or `previous`"), "{err}");

    let out = faccia(
        &config,
        &[
            "report",
            "monthly",
            "--month",
            "current",
            "-o",
            "x.txt",
            "--output-dir",
            "/tmp",
        ],
    );
    assert!(
        !out.status.success(),
        "--output and --output-dir exclude each other"
    );
    assert!(std::fs::read_dir(out_dir.path())
        .expect("dir")
        .next()
        .is_none());
}
