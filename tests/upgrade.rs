//! An office's database made by the previous release (before sites) opens with this one,
//! migrates with nothing lost, and reports the same month. The fixtures in
//! tests/fixtures/prev-release were made by that release's own server, queue simulator and
//! keypad simulator (make.sh there says how), with its reports of the month beside them.

mod common;

use std::path::{Path, PathBuf};

use common::{run_faccia as faccia, succeeded as ok};
use common::{Backend, TestDb};
use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use diesel::sql_types::BigInt;
use faccia_server::config::{Config, DatabaseUrl};
use faccia_server::storage::{self, AnyConnection};
use serde_json::Value;

const SITE: &str = "c_h501-urp";

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/prev-release")
        .join(name)
}

/// The fixture's configuration on `db_url`.
fn config(dir: &Path, db_url: &str) -> PathBuf {
    let text = std::fs::read_to_string(fixture("office.toml")).expect("office.toml");
    // The keypads' pty links are gone: the counters without them.
    let text = text
        .lines()
        .filter(|l| !l.starts_with("keypad = "))
        .map(|l| {
            if l.starts_with("url = ") {
                format!("url = \"{db_url}\"")
            } else if l.starts_with("listen = ") {
                "listen = \"127.0.0.1:0\"".to_string()
            } else {
                l.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join("\n");
    let path = dir.join("faccia.toml");
    std::fs::write(&path, text).expect("write config");
    path
}

#[derive(QueryableByName)]
struct N {
    #[diesel(sql_type = BigInt)]
    n: i64,
}

/// The tables of a site's history in the fixture's release (its `copy::TABLES`); later
/// releases add tables the fixture cannot have rows in.
const PREVIOUS_TABLES: [&str; 7] = [
    "received_events",
    "ticket_steps",
    "tickets",
    "counters",
    "vote_sessions",
    "votes",
    "event_log",
];

/// Rows per table, whatever the schema (before sites: all of them; after: the site's).
fn counts(url: &str, site: Option<&str>) -> Vec<(&'static str, i64)> {
    let u = DatabaseUrl::parse(url).expect("url");
    let mut c = storage::connect(&u, 5000).expect("connect");
    assert!(PREVIOUS_TABLES
        .iter()
        .all(|t| faccia_server::storage::copy::TABLES.contains(t)));
    PREVIOUS_TABLES
        .into_iter()
        .map(|t| {
            let sql = match site {
                Some(s) => format!("SELECT COUNT(*) AS n FROM {t} WHERE site_id = '{s}'"),
                None => format!("SELECT COUNT(*) AS n FROM {t}"),
            };
            let rows: Vec<N> = match &mut c {
                AnyConnection::Sqlite(c) => diesel::sql_query(sql).load(c),
                AnyConnection::Postgresql(c) => diesel::sql_query(sql).load(c),
            }
            .expect("count");
            (t, rows[0].n)
        })
        .collect()
}

/// Every figure of the previous release's document is in this one's, equal (this release
/// may add fields, never change one).
fn same_figures(old: &Value, new: &Value, path: &str) {
    match (old, new) {
        (Value::Object(o), Value::Object(n)) => {
            for (k, v) in o {
                let Some(w) = n.get(k) else {
                    panic!("{path}.{k} is gone: {v}");
                };
                same_figures(v, w, &format!("{path}.{k}"));
            }
        }
        (Value::Array(o), Value::Array(n)) => {
            assert_eq!(
                o.len(),
                n.len(),
                "{path}: {} items, now {}",
                o.len(),
                n.len()
            );
            for (i, (v, w)) in o.iter().zip(n).enumerate() {
                same_figures(v, w, &format!("{path}[{i}]"));
            }
        }
        (o, n) => assert_eq!(o, n, "{path}"),
    }
}

fn json(text: &str) -> Value {
    serde_json::from_str(text).expect("a JSON document")
}

fn report_month(cfg: &Path) -> Value {
    json(&ok(&faccia(&[
        "report",
        "monthly",
        "--month",
        "2026-12",
        "--format",
        "json",
        "--config",
        cfg.to_str().expect("utf-8"),
    ])))
}

/// The server of this release opens the migrated database for the site.
fn server_opens(cfg: &Path) {
    let config = Config::load(Some(cfg)).expect("config");
    let shared = faccia_server::open(config, faccia_server::storage::system_clock()).expect("open");
    assert_eq!(shared.offices.len(), 1);
    assert_eq!(shared.offices[0].site.id(), SITE);
}

#[test]
fn a_sqlite_office_of_the_previous_release_migrates_and_reports_the_same_month() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = dir.path().join("office.db");
    std::fs::copy(fixture("office.db"), &db).expect("copy the fixture");
    let url = format!("sqlite://{}", db.display());
    let before = counts(&url, None);
    assert!(before.iter().all(|(_, n)| *n > 0), "{before:?}");
    let cfg = config(dir.path(), &url);

    // `faccia report` is the first to open it: it migrates and the site adopts the history.
    let old: Value = json(&std::fs::read_to_string(fixture("monthly-2026-12.json")).expect("old"));
    let new = report_month(&cfg);
    same_figures(&old, &new, "monthly");
    assert_eq!(counts(&url, Some(SITE)), before, "rows lost or added");

    let old: Value = json(&std::fs::read_to_string(fixture("export-2026-12.json")).expect("old"));
    let new = json(&ok(&faccia(&[
        "report",
        "export",
        "--from",
        "2026-12",
        "--to",
        "2026-12",
        "--format",
        "json",
        "--config",
        cfg.to_str().expect("utf-8"),
    ])));
    let (o, n) = (&old["rows"], &new["rows"]);
    assert!(o.as_array().is_some_and(|r| !r.is_empty()), "{old}");
    same_figures(o, n, "export.rows");

    server_opens(&cfg);
    same_figures(
        &json(&std::fs::read_to_string(fixture("monthly-2026-12.json")).expect("old")),
        &report_month(&cfg),
        "monthly after serve",
    );
    assert_eq!(counts(&url, Some(SITE)), before);
}

#[test]
fn a_postgres_office_of_the_previous_release_migrates_and_reports_the_same_month() {
    let db = TestDb::new(Backend::Postgres);
    let dump = std::fs::read_to_string(fixture("office-pg.sql")).expect("office-pg.sql");
    let u = DatabaseUrl::parse(&db.url).expect("url");
    match storage::connect(&u, 5000).expect("connect") {
        AnyConnection::Postgresql(mut c) => c.batch_execute(&dump).expect("load the dump"),
        AnyConnection::Sqlite(_) => unreachable!(),
    }
    let before = counts(&db.url, None);
    assert!(before.iter().all(|(_, n)| *n > 0), "{before:?}");
    let cfg = config(db.path(), &db.url);

    server_opens(&cfg);
    assert_eq!(counts(&db.url, Some(SITE)), before, "rows lost or added");
    let old: Value =
        json(&std::fs::read_to_string(fixture("pg-monthly-2026-12.json")).expect("old"));
    same_figures(&old, &report_month(&cfg), "monthly");
}
