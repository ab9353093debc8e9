//! `faccia db copy` as IT runs it when an office joins the central PostgreSQL: the real
//! binary, an office's SQLite file with 100,000 tickets (a few served through the gRPC
//! service, the rest of half a year written as rows), a copy killed half-way and run again,
//! the monthly reports of both databases compared, and the refusals that keep two offices'
//! data apart.

mod common;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use common::{run_faccia as faccia, succeeded as ok};
use common::{Backend, TestClock, TestDb, TestServer};
use diesel::connection::SimpleConnection;
use faccia_domain::session::{Face, Judgement};
use faccia_server::config::DatabaseUrl;
use faccia_server::storage::{self, copy, rollup, AnyConnection};

const SITE: &str = "test-office";
const TICKETS: i64 = 100_000;

fn conn(url: &str) -> AnyConnection {
    let u = DatabaseUrl::parse(url).expect("url");
    let mut c = storage::connect(&u, 5000).expect("connect");
    storage::migrate(&mut c).expect("migrate");
    c
}

fn local(y: i32, m: u32, d: u32, h: u32) -> i64 {
    use chrono::TimeZone;
    chrono_tz::Europe::Rome
        .with_ymd_and_hms(y, m, d, h, 0, 0)
        .single()
        .expect("local time")
        .timestamp_millis()
}

/// A configuration of the test office on `db_url`.
fn config(dir: &Path, name: &str, db_url: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, common::config_text(db_url, "127.0.0.1:0", 60)).expect("write config");
    path
}

/// July 2026: three tickets through the gRPC service, two of them voted on the keypad.
async fn served_through_the_service(db: &TestDb) {
    let base = local(2026, 7, 6, 9);
    let s = TestServer::start(db, TestClock::new(base)).await;
    common::served_tickets(&s, base, "live", 3, |i| match i {
        0 => Some(Judgement {
            face: Face::Green,
            reason: None,
        }),
        1 => Some(Judgement {
            face: Face::Red,
            reason: Some(2),
        }),
        _ => None,
    })
    .await;
    s.stop().await;
}

/// January to June 2026 as rows: `n` tickets of services A/B/N at counters C1..C4, one in ten a
/// no-show; each with its three steps and received events and a log entry; seven in ten of
/// the served voted (faces and reasons varied), the other sessions expired.
fn half_a_year_of_rows(c: &mut AnyConnection, n: i64) {
    let start = local(2026, 1, 5, 8);
    let stride = (local(2026, 6, 30, 18) - start) / n;
    let at = format!("({start} + i * {stride})");
    let wait = "(((i * 7919) % 2400) * 1000)";
    let served = "(i % 10 <> 9)";
    let service = "CASE i % 3 WHEN 0 THEN 'A' WHEN 1 THEN 'B' ELSE 'N' END";
    let counter = "'C' || CAST(i % 4 + 1 AS TEXT)";
    let sql = format!(
        "WITH RECURSIVE seq(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM seq WHERE i < {last})
         INSERT INTO tickets (site_id, source_id, ticket_id, display_number, service_code, state,
             counter_id, first_at, issued_at, first_called_at, last_called_at, service_started_at,
             served_at, ended_at, recalls, transfers, reset, spans_midnight, waiting_ms,
             service_ms, last_at, operator_ref)
         SELECT '{SITE}', 'q', 'T' || i, 'A' || (i % 1000), {service},
             CASE WHEN {served} THEN 'SERVED' ELSE 'NO_SHOW' END, {counter},
             {at} - {wait} - 60000, {at} - {wait} - 60000, {at} - 60000, {at} - 60000, NULL,
             CASE WHEN {served} THEN {at} END, {at}, 0, 0, 0, 0,
             CASE WHEN {served} THEN {wait} END, CASE WHEN {served} THEN 60000 END, {at}, NULL
         FROM seq;
         WITH RECURSIVE seq(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM seq WHERE i < {last3})
         INSERT INTO ticket_steps (site_id, source_id, ticket_id, event_id, occurred_at, kind,
             counter_id, service_code, transfer_to_service, display_number, operator_ref)
         SELECT '{SITE}', 'q', 'T' || (i / 3), 'e' || i, {at3},
             CASE i % 3 WHEN 0 THEN 1 WHEN 1 THEN 2 ELSE
                 CASE WHEN (i / 3) % 10 <> 9 THEN 5 ELSE 6 END END,
             CASE WHEN i % 3 = 0 THEN '' ELSE 'C' || CAST((i / 3) % 4 + 1 AS TEXT) END,
             CASE (i / 3) % 3 WHEN 0 THEN 'A' WHEN 1 THEN 'B' ELSE 'N' END, '',
             'A' || ((i / 3) % 1000), NULL
         FROM seq;
         WITH RECURSIVE seq(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM seq WHERE i < {last3})
         INSERT INTO received_events (site_id, source_id, event_id, fingerprint, kind, ticket_id,
             occurred_at, status, session_id, detail, received_at)
         SELECT '{SITE}', 'q', 'e' || i, 'f' || i, i % 3 + 1, 'T' || (i / 3), {at3}, 1, NULL, '',
             {at3} + 40
         FROM seq;
         WITH RECURSIVE seq(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM seq WHERE i < {last})
         INSERT INTO vote_sessions (site_id, session_id, source_id, ticket_id, counter_id,
             service_code, channel, token, served_at, opened_at, expires_at, state, keypad,
             ended_at)
         SELECT '{SITE}', '{SITE}/q/T' || i, 'q', 'T' || i, {counter}, {service}, 'COUNTER',
             i + 1000, {at}, {at}, {at} + 60000,
             CASE WHEN i % 10 < 7 THEN 'VOTED' ELSE 'EXPIRED' END, 'NONE', {at} + 20000
         FROM seq WHERE {served};
         WITH RECURSIVE seq(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM seq WHERE i < {last})
         INSERT INTO votes (site_id, session_id, source_id, ticket_id, counter_id, service_code,
             channel, face, reason, waiting_ms, service_ms, voted_at)
         SELECT '{SITE}', '{SITE}/q/T' || i, 'q', 'T' || i, {counter}, {service}, 'COUNTER',
             CASE WHEN i % 100 < 70 THEN 1 WHEN i % 100 < 85 THEN 2 ELSE 3 END,
             CASE WHEN i % 100 >= 85 AND i % 5 <> 0 THEN i % 4 + 1 END,
             {wait}, 60000, {at} + 20000
         FROM seq WHERE i % 10 < 7;
         WITH RECURSIVE seq(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM seq WHERE i < {last})
         INSERT INTO vote_links (token_hash, site_id, session_id, issued_at, expires_at, used_at)
         SELECT printf('%064d', i), '{SITE}', '{SITE}/q/T' || i, {at}, {at} + 86400000,
             CASE WHEN i % 10 < 7 THEN {at} + 20000 END
         FROM seq WHERE i % 50 = 0;
         WITH RECURSIVE seq(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM seq WHERE i < {last})
         INSERT INTO vote_answers (session_id, site_id, stars, follow_up, answered_at)
         SELECT '{SITE}/q/T' || i, '{SITE}', i % 5 + 1, NULL, {at} + 20000
         FROM seq WHERE i % 50 = 0 AND i % 10 < 7;
         WITH RECURSIVE seq(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM seq WHERE i < {last})
         INSERT INTO vote_comments (session_id, site_id, body, written_at, keep_until)
         SELECT '{SITE}/q/T' || i, '{SITE}', 'grazie ' || i, {at} + 20000, {at} + 7776000000
         FROM seq WHERE i % 100 = 0;
         WITH RECURSIVE seq(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM seq WHERE i < {last})
         INSERT INTO event_log (site_id, at, kind, source_id, counter_id, service_code, ticket_id,
             display_number, ticket_event, session_id, outcome, detail, reason, keypad_state,
             figure_a, figure_b, fact_text)
         SELECT '{SITE}', {at}, 1, 'q', {counter}, {service}, 'T' || i, 'A' || (i % 1000), 5,
             '', 0, 'served', 0, 0, i, 0, ''
         FROM seq;",
        last = n - 1,
        last3 = 3 * n - 1,
        at3 = format!("({start} + (i / 3) * {stride} + (i % 3) * 1000)"),
    );
    match c {
        AnyConnection::Sqlite(s) => s.batch_execute(&sql).expect("bulk rows"),
        AnyConnection::Postgresql(_) => unreachable!("the source is SQLite"),
    }
    // What the writer keeps up to date event by event.
    rollup::rebuild(c, SITE, chrono_tz::Europe::Rome).expect("rollups");
}

fn counts(url: &str) -> Vec<(&'static str, i64)> {
    let mut c = conn(url);
    copy::TABLES
        .iter()
        .map(|t| (*t, copy::count(&mut c, t, SITE).expect("count")))
        .collect()
}

fn monthly_reports(config: &Path) -> Vec<String> {
    let cfg = config.to_str().expect("utf-8 path");
    (1..=7)
        .map(|m| {
            ok(&faccia(&[
                "report",
                "monthly",
                "--month",
                &format!("2026-{m:02}"),
                "--format",
                "json",
                "--config",
                cfg,
            ]))
        })
        .collect()
}

/// Runs `faccia db copy` and kills it once it has copied about a third of the rows.
fn copy_killed_half_way(args: &[&str]) -> String {
    let mut child = Command::new(env!("CARGO_BIN_EXE_faccia"))
        .args(args)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("faccia db copy");
    let err = child.stderr.take().expect("stderr");
    let mut seen = String::new();
    for line in BufReader::new(err).lines() {
        let line = line.expect("stderr line");
        seen.push_str(&line);
        seen.push('\n');
        let pct = line
            .trim_end()
            .strip_suffix("%)")
            .and_then(|l| l.rsplit('(').next())
            .and_then(|p| p.parse::<u32>().ok());
        if pct.is_some_and(|p| p >= 30) {
            child.kill().expect("kill the copy");
            break;
        }
    }
    let status = child.wait().expect("wait");
    assert!(
        !status.success(),
        "the copy finished before it could be killed:\n{seen}"
    );
    seen
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_office_of_100k_tickets_moves_to_postgres_killed_half_way_and_resumed() {
    let old = TestDb::new(Backend::Sqlite);
    served_through_the_service(&old).await;
    half_a_year_of_rows(&mut conn(&old.url), TICKETS);
    let central = TestDb::new(Backend::Postgres);
    let old_cfg = config(old.path(), "old.toml", &old.url);
    let new_cfg = config(old.path(), "central.toml", &central.url);
    let before = monthly_reports(&old_cfg);
    let source_counts = counts(&old.url);
    assert_eq!(source_counts[2], ("tickets", TICKETS + 3));

    let copy_args = [
        "db",
        "copy",
        "--from",
        &old.url,
        "--config",
        new_cfg.to_str().expect("utf-8"),
        "--batch",
        "500",
    ];
    let progress = copy_killed_half_way(&copy_args);
    assert!(progress.contains("received_events"), "{progress}");

    // Half a copy: recorded as unfinished, listed as such, and the office's server refuses it.
    let mut c = conn(&central.url);
    let row = copy::find(&mut c, SITE)
        .expect("copy row")
        .expect("started");
    assert!(row.finished_at.is_none() && row.copied > 0, "{row:?}");
    assert!(row.source.ends_with("faccia.db"), "{row:?}");
    let sites = ok(&faccia(&["db", "sites", "--database", &central.url]));
    assert!(sites.contains("NOT FINISHED"), "{sites}");
    // (`timeout`: a server that wrongly started would otherwise run for ever.)
    let serve = Command::new("timeout")
        .arg("60")
        .arg(env!("CARGO_BIN_EXE_faccia"))
        .args(["serve", "--config", new_cfg.to_str().expect("utf-8")])
        .env("RUST_LOG", "warn")
        .output()
        .expect("run faccia serve");
    assert!(!serve.status.success());
    let said = String::from_utf8_lossy(&serve.stderr);
    assert!(said.contains("not finished"), "{said}");

    // Run again: it goes on from the last batch committed and verifies.
    let out = ok(&faccia(&copy_args));
    assert!(out.contains("resumed"), "{out}");
    assert!(out.contains("verified"), "{out}");
    let resumed: u64 = out
        .lines()
        .find_map(|l| l.strip_prefix("resumed: "))
        .and_then(|l| l.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .expect("rows copied on resuming");
    let total: i64 = source_counts.iter().map(|(_, n)| n).sum();
    assert!(
        resumed as i64 + row.copied == total,
        "{resumed} + {} != {total}: a batch was copied twice or lost",
        row.copied
    );
    assert_eq!(counts(&central.url), source_counts, "nothing doubled");
    let after = monthly_reports(&new_cfg);
    for (m, (a, b)) in before.iter().zip(&after).enumerate() {
        assert_eq!(a, b, "the monthly report of 2026-{:02} changed", m + 1);
    }
    assert!(before[2].contains("\"served\""), "{}", before[2]);

    // A third run has nothing to do; the office's server now opens the central database.
    let out = ok(&faccia(&copy_args));
    assert!(out.contains("nothing to do"), "{out}");
    assert_eq!(counts(&central.url), source_counts);
    let sites = ok(&faccia(&["db", "sites", "--database", &central.url]));
    assert!(sites.contains("(done)"), "{sites}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_copy_never_mixes_with_a_site_already_in_the_destination() {
    let old = TestDb::new(Backend::Sqlite);
    served_through_the_service(&old).await;
    // The destination where the office has already been serving.
    let central = TestDb::new(Backend::Sqlite);
    served_through_the_service(&central).await;
    let there = counts(&central.url);
    let cfg = config(old.path(), "central.toml", &central.url);
    let out = faccia(&[
        "db",
        "copy",
        "--from",
        &old.url,
        "--config",
        cfg.to_str().expect("utf-8"),
    ]);
    assert!(!out.status.success());
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(said.contains("already holds data of site"), "{said}");
    assert_eq!(counts(&central.url), there, "nothing copied");

    // A source that does not hold the site, and a copy onto itself, are refused too.
    let out = faccia(&[
        "db",
        "copy",
        "--from",
        &old.url,
        "--to",
        &central.url,
        "--site",
        "another-office",
        "--time-zone",
        "Europe/Rome",
    ]);
    assert!(!out.status.success());
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(said.contains("holds nothing of site"), "{said}");
    let out = faccia(&["db", "copy", "--from", &old.url, "--to", &old.url]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("same database"));
    let out = faccia(&[
        "db",
        "copy",
        "--from",
        "sqlite:///nonexistent/dir/x.db",
        "--to",
        &central.url,
    ]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("no SQLite database"));
}
