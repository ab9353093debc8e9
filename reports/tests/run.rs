//! `run`, as the binary calls it: office and database, output file.

mod common;

use clap::Parser;
use common::*;
use faccia_reports::{run, ReportArgs, Source};
use faccia_storage::DatabaseUrl;

#[derive(Parser)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(clap::Subcommand)]
enum Command {
    Report(ReportArgs),
}

/// The source the binary builds from its configuration file (tested with the configuration in
/// faccia-server's `report_context`).
fn source_for(db: &TestDb) -> Source {
    Source {
        sites: vec![ctx()],
        database: db.url.clone(),
        busy_timeout_ms: 5_000,
    }
}

fn args(line: &[&str]) -> ReportArgs {
    let mut argv = vec!["faccia", "report"];
    argv.extend_from_slice(line);
    match Cli::try_parse_from(argv).expect("arguments").command {
        Command::Report(a) => a,
    }
}

#[tokio::test]
async fn run_writes_the_documents() {
    let db = TestDb::new(Backend::Sqlite);
    let mut fx = Fixture::default();
    sassuolo(&mut fx);
    fx.insert(&mut db.conn());
    let dir = tempfile::tempdir().expect("dir");
    let source = source_for(&db);

    let out = dir.path().join("luglio.html");
    let o = out.display().to_string();
    run(
        args(&[
            "monthly", "--month", "2026-07", "--format", "html", "--output", &o,
        ]),
        source.clone(),
    )
    .await
    .expect("monthly html");
    let html = std::fs::read_to_string(&out).expect("html written");
    assert!(html.contains("255 positivi (94,4%)"));

    let out = dir.path().join("export.json");
    let o = out.display().to_string();
    run(
        args(&[
            "export", "--from", "2026-06", "--to", "2026-07", "--format", "json", "-o", &o,
        ]),
        source.clone(),
    )
    .await
    .expect("export");
    let v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&out).expect("json written")).expect("json");
    assert_eq!(v["schema"], "faccia.export.ministry/2");
    assert_eq!(v["offices"][0]["id"], "comune-test-urp");

    let out = dir.path().join("annual.csv");
    let o = out.display().to_string();
    run(
        args(&[
            "annual", "--year", "2026", "--format", "csv", "--lang", "en", "-o", &o,
        ]),
        source.clone(),
    )
    .await
    .expect("annual");
    let csv = std::fs::read_to_string(&out).expect("csv written");
    assert!(
        csv.lines()
            .any(|l| l.starts_with("2026-07,352,270,76.7,255,94.4,")),
        "{csv}"
    );

    // The export is CSV or JSON only.
    let err = run(
        args(&[
            "export", "--from", "2026-06", "--to", "2026-07", "--format", "html",
        ]),
        source.clone(),
    )
    .await
    .expect_err("html export refused");
    assert!(err.to_string().contains("csv or json"), "{err}");
    // A backwards range is refused.
    assert!(run(
        args(&["export", "--from", "2026-07", "--to", "2026-06"]),
        source.clone()
    )
    .await
    .is_err());
}

#[tokio::test]
async fn a_missing_database_is_an_error_and_is_not_created() {
    let db = TestDb::new(Backend::Sqlite);
    let dir = tempfile::tempdir().expect("dir");
    let mut source = source_for(&db);
    let missing = dir.path().join("nope").join("faccia.db");
    source.database = DatabaseUrl::Sqlite(missing.clone());
    let err = run(args(&["monthly", "--month", "2026-07"]), source)
        .await
        .expect_err("no database");
    assert!(err.to_string().contains("does not exist"), "{err}");
    assert!(!missing.exists());
}
