//! `faccia report` on a database no server of this version has opened yet, on SQLite and on
//! PostgreSQL (PostgreSQL must be reachable: FACCIA_TEST_PG, default
//! postgres://postgres@127.0.0.1:5432/test): a database from before sites is migrated and its
//! rows adopted by the only configured site before the report, as the server does at start; an
//! ambiguous one is refused with the storage's explanation; an empty one is an error and stays
//! empty.

mod common;

use clap::Parser;
use common::*;
use diesel::connection::SimpleConnection;
use diesel_migrations::{embed_migrations, EmbeddedMigrations, MigrationHarness};
use faccia_reports::db::{self, DatabaseState};
use faccia_reports::model::Via;
use faccia_reports::{run, ReportArgs, ReportContext, Source};
use faccia_storage::{self as storage, sites, AnyConnection};
use serde_json::Value;

const SQLITE_MIGRATIONS: EmbeddedMigrations = embed_migrations!("../migrations/sqlite");
const POSTGRES_MIGRATIONS: EmbeddedMigrations = embed_migrations!("../migrations/postgres");

/// The first migration of sites: everything older is the schema of a database from before.
const SITES_MIGRATION: &str = "2026-12-20-000001_sites";

/// Applies the migrations older than sites, one by one; returns their names.
fn migrate_to_before_sites(conn: &mut AnyConnection) -> Vec<String> {
    fn older<C: MigrationHarness<DB>, DB: diesel::backend::Backend>(
        c: &mut C,
        source: EmbeddedMigrations,
    ) -> Vec<String> {
        let pending = c.pending_migrations(source).expect("pending migrations");
        let mut done = Vec::new();
        for m in pending {
            let name = m.name().to_string();
            if name.as_str() >= SITES_MIGRATION {
                continue;
            }
            c.run_migration(&*m).expect("migration");
            done.push(name);
        }
        done
    }
    match conn {
        AnyConnection::Sqlite(c) => older(c, SQLITE_MIGRATIONS),
        AnyConnection::Postgresql(c) => older(c, POSTGRES_MIGRATIONS),
    }
}

/// One office's July in the schema from before sites: three served tickets (one with a vote
/// on the web), a no-show, two votes.
fn legacy_rows(conn: &mut AnyConnection) {
    let rome = tz();
    let t = |id: &str, state: &str, counter: &str, at: i64, served: bool| {
        let served_at = if served {
            at.to_string()
        } else {
            "NULL".into()
        };
        format!(
            "INSERT INTO tickets (source_id, ticket_id, display_number, service_code, state, \
               counter_id, first_at, issued_at, first_called_at, last_called_at, \
               service_started_at, served_at, ended_at, recalls, transfers, reset, \
               spans_midnight, waiting_ms, service_ms, last_at, operator_ref) \
             VALUES ('queue-test', '{id}', 'A001', 'A', '{state}', '{counter}', {a}, {a}, {b}, \
               {b}, NULL, {served_at}, {at}, 0, 0, FALSE, FALSE, 600000, 300000, {at}, \
               'OPERATORE-SEGRETO');",
            a = at - 900_000,
            b = at - 300_000,
        )
    };
    let v = |id: &str, counter: &str, channel: &str, face: i32, at: i64| {
        format!(
            "INSERT INTO vote_sessions (session_id, source_id, ticket_id, counter_id, \
               service_code, channel, token, served_at, opened_at, expires_at, state, keypad, \
               ended_at) \
             VALUES ('SES-{id}', 'queue-test', '{id}', '{counter}', 'A', '{channel}', 1, {at}, \
               {at}, {e}, 'VOTED', 'NONE', {at});\n\
             INSERT INTO votes (session_id, source_id, ticket_id, counter_id, service_code, \
               channel, face, reason, waiting_ms, service_ms, voted_at) \
             VALUES ('SES-{id}', 'queue-test', '{id}', '{counter}', 'A', '{channel}', {face}, \
               NULL, NULL, NULL, {at});",
            e = at + 60_000,
        )
    };
    let at = |d: u32| local(rome, 2026, 7, d, 10, 0);
    let sql = [
        t("TKT-1", "SERVED", "1", at(6), true),
        t("TKT-2", "SERVED", "2", at(7), true),
        t("TKT-3", "SERVED", "1", at(8), true),
        t("TKT-4", "NO_SHOW", "1", at(9), false),
        v("TKT-1", "1", "COUNTER", 1, at(6) + 20_000),
        v("TKT-3", "1", "WEB", 3, at(8) + 20_000),
    ]
    .join("\n");
    match conn {
        AnyConnection::Sqlite(c) => c.batch_execute(&sql),
        AnyConnection::Postgresql(c) => c.batch_execute(&sql),
    }
    .expect("legacy rows");
}

#[derive(Parser)]
struct Cli {
    #[command(flatten)]
    args: ReportArgs,
}

fn args(line: &[&str]) -> ReportArgs {
    let mut argv = vec!["report"];
    argv.extend_from_slice(line);
    Cli::try_parse_from(argv).expect("arguments").args
}

fn source(db: &TestDb, sites: Vec<ReportContext>) -> Source {
    Source {
        sites,
        database: db.url.clone(),
        busy_timeout_ms: 5_000,
    }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
}

both!(a_database_from_before_sites_is_brought_up_to_date_first);
fn a_database_from_before_sites_is_brought_up_to_date_first(b: Backend) {
    let db = TestDb::empty(b);
    let mut conn = storage::connect(&db.url, 5_000).expect("connect");
    let applied = migrate_to_before_sites(&mut conn);
    assert_eq!(applied.len(), 4, "{applied:?}");
    legacy_rows(&mut conn);
    assert!(matches!(
        db::state(&mut conn).expect("state"),
        DatabaseState::Outdated(why) if why.contains("before sites")
    ));
    drop(conn);

    let dir = tempfile::tempdir().expect("dir");
    let out = dir.path().join("luglio.json");
    let o = out.display().to_string();
    let monthly = [
        "monthly", "--month", "2026-07", "--format", "json", "-o", &o,
    ];
    runtime().block_on(async {
        // Two configured sites: whose are the rows? Refused, as the server refuses to start.
        let err = run(args(&monthly), source(&db, vec![ctx(), rome_office()]))
            .await
            .expect_err("ambiguous adoption")
            .to_string();
        assert!(err.contains("from before sites"), "{err}");
        assert!(!out.exists());
        // The office alone: the rows become its own and the report counts them.
        run(args(&monthly), source(&db, vec![ctx()]))
            .await
            .expect("report after the adoption");
    });
    let v: Value =
        serde_json::from_str(&std::fs::read_to_string(&out).expect("written")).expect("json");
    assert_eq!(v["site"]["id"], "comune-test-urp");
    assert_eq!(v["totals"]["served"], 3);
    assert_eq!(v["totals"]["votes"], 2);
    assert_eq!(v["totals"]["green"], 1);
    assert_eq!(v["by_channel"][1]["code"], "WEB");
    assert_eq!(v["by_channel"][1]["votes"], 1);
    let text = v.to_string();
    assert!(!text.contains("OPERATORE") && !text.contains("TKT-") && !text.contains("A001"));

    let mut conn = db.conn();
    assert_eq!(db::state(&mut conn).expect("state"), DatabaseState::Current);
    assert!(!sites::legacy_rows(&mut conn).expect("legacy").any());
    let registered = sites::list(&mut conn).expect("sites");
    assert_eq!(registered.len(), 1);
    assert_eq!(
        (
            registered[0].site_id.as_str(),
            registered[0].time_zone.as_str()
        ),
        ("comune-test-urp", "Europe/Rome")
    );
    // The rollups were built for the adopted rows, and say what the raw tables say.
    assert_eq!(
        Via::choose(&mut conn, &ctx()).expect("choose"),
        Via::Rollups
    );
    rollups_agree_with_raw(&mut conn, &[month(2026, 6), month(2026, 7)]);
}

both!(an_empty_database_is_an_error_and_stays_empty);
fn an_empty_database_is_an_error_and_stays_empty(b: Backend) {
    let db = TestDb::empty(b);
    if let faccia_storage::DatabaseUrl::Sqlite(path) = &db.url {
        std::fs::write(path, b"").expect("an empty file");
    }
    let err = runtime()
        .block_on(run(
            args(&["annual", "--year", "2026"]),
            source(&db, vec![ctx()]),
        ))
        .expect_err("no faccia data")
        .to_string();
    assert!(err.contains("holds no faccia data"), "{err}");
    assert_eq!(
        db::state(&mut db.conn()).expect("state"),
        DatabaseState::NoSchema
    );
}
