//! Time of the monthly report on 1,000,000 votes, on SQLite and on PostgreSQL.
//!
//! `cargo bench -p faccia-reports --bench monthly` (PostgreSQL at FACCIA_TEST_PG, default
//! postgres://postgres@127.0.0.1:5432/test; a fresh database is created and dropped).
//! FACCIA_BENCH_VOTES changes the number of votes, FACCIA_BENCH_RUNS the runs per figure
//! (default 7), FACCIA_BENCH_ONLY=sqlite skips PostgreSQL, FACCIA_BENCH_PROFILE=1 times each
//! rollup query. Prints figures; checks only that the rollups and the raw tables agree.
//!
//! After generating the raw rows the rollups are built with `faccia_storage::rollup::rebuild`
//! (timed: it is what the first start after the upgrade does). Each report is timed from the
//! rollups (what `faccia report` reads) and, as the baseline, from the raw tables.
//!
//! The data: July 2026 holds N votes (85% green, 10% yellow, 5% red with reasons) on 1.25·N
//! served tickets over four services and eight counters, spread over the month; 0.2% of the
//! tickets are flagged (midnight or reset). Generated in SQL (a recursive CTE on SQLite,
//! generate_series on PostgreSQL) in one transaction.

use std::time::{Duration, Instant};

use diesel::connection::SimpleConnection;
use diesel::Connection;
use faccia_domain::Lang;
use faccia_reports::cli::{in_snapshot, produce, ReportArgs, ReportCommand};
use faccia_reports::render;
use faccia_reports::{model, Format, ReportContext, Via, YearMonth};
use faccia_storage::DatabaseUrl;
use faccia_storage::{self as storage, AnyConnection, Rules, Store};

const DEFAULT_PG: &str = "postgres://postgres@127.0.0.1:5432/test";

fn ctx() -> ReportContext {
    ReportContext {
        site_id: "bench".into(),
        site_name: "Bench".into(),
        time_zone: chrono_tz::Europe::Rome,
        services: vec![
            ("A".into(), "Anagrafe".into(), Some(20)),
            ("C".into(), "CIE".into(), Some(30)),
            ("S".into(), "Stato civile".into(), Some(20)),
            ("U".into(), "URP".into(), None),
        ],
        counters: (1..=8)
            .map(|i| (i.to_string(), format!("Sportello {i}")))
            .collect(),
        target_tenths: 900,
    }
}

fn args(month: YearMonth) -> ReportArgs {
    ReportArgs {
        format: Some(Format::Text),
        ..ReportArgs::new(ReportCommand::Monthly {
            month: month.into(),
        })
    }
}

/// The SELECT list of the generated rows, over an integer `i`; `{start}` is July's first ms.
fn ticket_select(start: i64, stride: i64) -> String {
    format!(
        "'bench', 'bench', 'T' || i, 'A001', \
         CASE i % 4 WHEN 0 THEN 'A' WHEN 1 THEN 'C' WHEN 2 THEN 'S' ELSE 'U' END, 'SERVED', \
         CAST(i % 8 + 1 AS TEXT), \
         {start} + (i * {stride}) * 1000 - ((i * 7919) % 3600) * 1000 - 300000, \
         {start} + (i * {stride}) * 1000 - ((i * 7919) % 3600) * 1000 - 300000, \
         {start} + (i * {stride}) * 1000 - 300000, {start} + (i * {stride}) * 1000 - 300000, NULL, \
         {start} + (i * {stride}) * 1000, {start} + (i * {stride}) * 1000, 0, 0, \
         (i % 700 = 3), (i % 500 = 1), ((i * 7919) % 3600) * 1000, 300000, \
         {start} + (i * {stride}) * 1000, NULL"
    )
}

fn session_select(start: i64, stride: i64) -> String {
    format!(
        "'bench', 'S' || i, 'bench', 'T' || i, CAST(i % 8 + 1 AS TEXT), \
         CASE i % 4 WHEN 0 THEN 'A' WHEN 1 THEN 'C' WHEN 2 THEN 'S' ELSE 'U' END, \
         CASE WHEN i % 50 = 0 THEN 'WEB' ELSE 'COUNTER' END, i, \
         {start} + (i * {stride}) * 1000, {start} + (i * {stride}) * 1000, \
         {start} + (i * {stride}) * 1000 + 60000, 'VOTED', 'NONE', {start} + (i * {stride}) * 1000 + 20000"
    )
}

fn vote_select(start: i64, stride: i64) -> String {
    format!(
        "'bench', 'S' || i, 'bench', 'T' || i, CAST(i % 8 + 1 AS TEXT), \
         CASE i % 4 WHEN 0 THEN 'A' WHEN 1 THEN 'C' WHEN 2 THEN 'S' ELSE 'U' END, \
         CASE WHEN i % 50 = 0 THEN 'WEB' ELSE 'COUNTER' END, \
         CASE WHEN i % 100 < 85 THEN 1 WHEN i % 100 < 95 THEN 2 ELSE 3 END, \
         CASE WHEN i % 100 >= 95 AND i % 5 <> 0 THEN i % 4 + 1 ELSE NULL END, \
         NULL, NULL, {start} + (i * {stride}) * 1000 + 20000"
    )
}

const TICKET_COLS: &str =
    "site_id, source_id, ticket_id, display_number, service_code, state, counter_id, \
    first_at, issued_at, first_called_at, last_called_at, service_started_at, served_at, ended_at, \
    recalls, transfers, reset, spans_midnight, waiting_ms, service_ms, last_at, operator_ref";
const SESSION_COLS: &str =
    "site_id, session_id, source_id, ticket_id, counter_id, service_code, channel, \
    token, served_at, opened_at, expires_at, state, keypad, ended_at";
const VOTE_COLS: &str =
    "site_id, session_id, source_id, ticket_id, counter_id, service_code, channel, \
    face, reason, waiting_ms, service_ms, voted_at";

/// `votes` votes on served tickets spread over `span` seconds from `start`.
fn generate(
    conn: &mut AnyConnection,
    votes: i64,
    start: i64,
    span: i64,
) -> Result<(), diesel::result::Error> {
    let tickets = votes + votes / 4;
    // Seconds between two tickets, so that they fill the span.
    let stride = (span / tickets.max(1)).max(1);
    let sql = match conn {
        AnyConnection::Sqlite(_) => {
            let seq = |n: i64| {
                format!(
                    "WITH RECURSIVE seq(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM seq WHERE i < {})",
                    n - 1
                )
            };
            format!(
                "{} INSERT INTO tickets ({TICKET_COLS}) SELECT {} FROM seq;\n\
                 {} INSERT INTO vote_sessions ({SESSION_COLS}) SELECT {} FROM seq;\n\
                 {} INSERT INTO votes ({VOTE_COLS}) SELECT {} FROM seq;",
                seq(tickets),
                ticket_select(start, stride),
                seq(votes),
                session_select(start, stride),
                seq(votes),
                vote_select(start, stride)
            )
        }
        AnyConnection::Postgresql(_) => format!(
            "INSERT INTO tickets ({TICKET_COLS}) SELECT {} FROM generate_series(CAST(0 AS BIGINT), {}) AS g(i);\n\
             INSERT INTO vote_sessions ({SESSION_COLS}) SELECT {} FROM generate_series(CAST(0 AS BIGINT), {}) AS g(i);\n\
             INSERT INTO votes ({VOTE_COLS}) SELECT {} FROM generate_series(CAST(0 AS BIGINT), {}) AS g(i);",
            ticket_select(start, stride),
            tickets - 1,
            session_select(start, stride),
            votes - 1,
            vote_select(start, stride),
            votes - 1
        ),
    };
    conn.transaction(|c| c.batch_execute(&sql))?;
    if let AnyConnection::Postgresql(c) = conn {
        // What autovacuum would have done by the time anyone asks for a report.
        c.batch_execute("VACUUM ANALYZE")?;
    }
    Ok(())
}

/// Times of `runs` monthly reports as `faccia report` makes them: a new connection, the
/// queries in one read transaction, the text rendering. `via` None: the report's own choice
/// (the rollups); `Some(Via::Raw)`: the raw-table reference.
fn time_report(
    url: &DatabaseUrl,
    month: YearMonth,
    runs: usize,
    via: Option<Via>,
) -> Result<(Vec<Duration>, usize), String> {
    let mut times = Vec::new();
    let mut len = 0;
    for _ in 0..runs {
        let t = Instant::now();
        let mut conn = storage::connect(url, 5_000).map_err(|e| e.to_string())?;
        let text = match via {
            None => produce(&args(month), &ctx(), &mut conn).map_err(|e| e.to_string())?,
            Some(via) => {
                let r = in_snapshot(&mut conn, |c| model::monthly_via(c, &ctx(), month, via))
                    .map_err(|e| e.to_string())?;
                render::monthly(&r, Format::Text, Lang::It).map_err(|e| e.to_string())?
            }
        };
        times.push(t.elapsed());
        len = text.len();
    }
    times.sort();
    Ok((times, len))
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// median, min, max in ms
fn stats(times: &[Duration]) -> (f64, f64, f64) {
    (
        ms(times[times.len() / 2]),
        ms(times[0]),
        ms(times[times.len() - 1]),
    )
}

/// Creates the schema in an empty database, fills it with raw rows, then builds the rollups
/// from them. Returns (generation s, rebuild s).
fn setup(url: &DatabaseUrl, votes: i64, start: i64, span: i64) -> Result<(f64, f64), String> {
    let rules = Rules {
        site_id: ctx().site_id,
        site_name: ctx().site_name,
        vote_window_ms: 60_000,
        grace_ms: 10_000,
        reason_window_ms: 15_000,
        time_zone: chrono_tz::Europe::Rome,
        operator_data: false,
        keypad_counters: Vec::new(),
    };
    drop(Store::open(url, 5_000, rules, storage::system_clock()).map_err(|e| e.to_string())?);
    let mut conn = storage::connect(url, 5_000).map_err(|e| e.to_string())?;
    let t = Instant::now();
    generate(&mut conn, votes, start, span).map_err(|e| e.to_string())?;
    let generated = t.elapsed().as_secs_f64();
    let t = Instant::now();
    storage::rollup::rebuild(&mut conn, "bench", chrono_tz::Europe::Rome)
        .map_err(|e| e.to_string())?;
    if let AnyConnection::Postgresql(c) = &mut conn {
        c.batch_execute("ANALYZE report_votes, report_tickets, report_waits, report_meta")
            .map_err(|e| e.to_string())?;
    }
    Ok((generated, t.elapsed().as_secs_f64()))
}

fn profile(url: &DatabaseUrl, month: YearMonth) -> Result<(), String> {
    use faccia_reports::query;
    let mut conn = storage::connect(url, 5_000).map_err(|e| e.to_string())?;
    let key = month.year * 100 + month.month as i32;
    let t = Instant::now();
    let v = query::rollup::vote_groups(&mut conn, "bench", key).map_err(|e| e.to_string())?;
    let votes = t.elapsed();
    let t = Instant::now();
    let tk = query::rollup::ticket_groups(&mut conn, "bench", key).map_err(|e| e.to_string())?;
    let tickets = t.elapsed();
    let t = Instant::now();
    let w = query::rollup::waits(&mut conn, "bench", key).map_err(|e| e.to_string())?;
    let waits = t.elapsed();
    println!(
        "    rollup queries: votes {votes:.1?} ({} rows), tickets {tickets:.1?} ({} rows), waits {waits:.1?} ({} rows)",
        v.len(),
        tk.len(),
        w.len()
    );
    Ok(())
}

/// Times the month's report from the rollups and from the raw tables (the baseline), checks
/// that both say the same, and prints medians, ranges and the ratio.
fn report(name: &str, url: &DatabaseUrl, label: &str, m: YearMonth) -> Result<(), String> {
    {
        let mut conn = storage::connect(url, 5_000).map_err(|e| e.to_string())?;
        let chosen = Via::choose(&mut conn, &ctx()).map_err(|e| e.to_string())?;
        if chosen != Via::Rollups {
            return Err(format!(
                "the report would not read the rollups ({chosen:?})"
            ));
        }
        let a = in_snapshot(&mut conn, |c| {
            model::monthly_via(c, &ctx(), m, Via::Rollups)
        })
        .map_err(|e| e.to_string())?;
        let b = in_snapshot(&mut conn, |c| model::monthly_via(c, &ctx(), m, Via::Raw))
            .map_err(|e| e.to_string())?;
        if a != b {
            return Err(format!("{m}: the rollups and the raw tables disagree"));
        }
    }
    let runs: usize = std::env::var("FACCIA_BENCH_RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(7);
    let (rolled, len) = time_report(url, m, runs, None)?;
    let (raw, _) = time_report(url, m, runs.min(5), Some(Via::Raw))?;
    let (med, lo, hi) = stats(&rolled);
    let (rmed, rlo, rhi) = stats(&raw);
    println!(
        "{name}: monthly report {m}, {label}: rollups median {med:.1} ms (range {lo:.1}-{hi:.1}, {} runs); \
         raw tables median {rmed:.0} ms (range {rlo:.0}-{rhi:.0}); ratio {:.1}x ({len} bytes)",
        rolled.len(),
        rmed / med.max(0.001)
    );
    if std::env::var_os("FACCIA_BENCH_PROFILE").is_some() {
        profile(url, m)?;
    }
    Ok(())
}

/// Both scenarios on one backend; `fresh` makes an empty database and returns its URL.
fn bench(
    name: &str,
    votes: i64,
    fresh: &mut dyn FnMut(&str) -> Result<DatabaseUrl, String>,
) -> Result<(), String> {
    let tz = chrono_tz::Europe::Rome;
    let july = YearMonth::new(2026, 7).map_err(|e| e.to_string())?;
    let january = YearMonth::new(2026, 1).map_err(|e| e.to_string())?;
    let sept = YearMonth::new(2026, 9).map_err(|e| e.to_string())?;
    let served = votes + votes / 4;

    // 1. A year of a very large office: N votes over 2026, about N/12 a month.
    let url = fresh("year")?;
    let year_start = january.bounds(tz).map_err(|e| e.to_string())?.0;
    let (secs, rebuild) = setup(&url, votes, year_start, 31_500_000)?;
    println!(
        "{name}: {votes} votes and {served} served tickets over 2026 generated in {secs:.1} s; \
         rollups rebuilt in {rebuild:.2} s"
    );
    report(name, &url, "database of a year", july)?;

    // 2. Stress: all N votes in the month reported.
    let url = fresh("month")?;
    let start = july.bounds(tz).map_err(|e| e.to_string())?.0;
    let (secs, rebuild) = setup(&url, votes, start, 2_600_000)?;
    println!(
        "{name}: {votes} votes and {served} served tickets in July 2026 generated in {secs:.1} s; \
         rollups rebuilt in {rebuild:.2} s"
    );
    report(name, &url, "all votes in this month", july)?;
    report(name, &url, "a month without data", sept)?;
    Ok(())
}

fn main() {
    let votes: i64 = std::env::var("FACCIA_BENCH_VOTES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000);
    let dir = match tempfile::tempdir() {
        Ok(d) => d,
        Err(e) => {
            eprintln!("no temporary directory: {e}");
            std::process::exit(1);
        }
    };
    let mut sqlite = |tag: &str| -> Result<DatabaseUrl, String> {
        Ok(DatabaseUrl::Sqlite(
            dir.path().join(format!("bench-{tag}.db")),
        ))
    };
    if let Err(e) = bench("SQLite", votes, &mut sqlite) {
        eprintln!("SQLite: {e}");
        std::process::exit(1);
    }

    if std::env::var("FACCIA_BENCH_ONLY").as_deref() == Ok("sqlite") {
        return;
    }
    let admin = std::env::var("FACCIA_TEST_PG").unwrap_or_else(|_| DEFAULT_PG.to_string());
    let mut admin_conn = match diesel::PgConnection::establish(&admin) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("PostgreSQL {admin}: {e}");
            std::process::exit(1);
        }
    };
    let base = admin.split('?').next().unwrap_or(&admin).to_string();
    let mut created: Vec<String> = Vec::new();
    let result = {
        let mut pg = |tag: &str| -> Result<DatabaseUrl, String> {
            let name = format!("faccia_rep_bench_{}_{tag}", std::process::id());
            admin_conn
                .batch_execute(&format!("CREATE DATABASE {name}"))
                .map_err(|e| format!("CREATE DATABASE: {e}"))?;
            created.push(name.clone());
            let url = match base.rfind('/') {
                Some(i) if i > base.find("://").map(|s| s + 2).unwrap_or(0) => {
                    format!("{}/{name}", &base[..i])
                }
                _ => format!("{base}/{name}"),
            };
            Ok(DatabaseUrl::Postgres(url))
        };
        bench("PostgreSQL", votes, &mut pg)
    };
    for name in &created {
        let _ = admin_conn.batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"));
    }
    if let Err(e) = result {
        eprintln!("PostgreSQL: {e}");
        std::process::exit(1);
    }
}
