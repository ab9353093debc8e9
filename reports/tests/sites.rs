//! Several offices (sites) of one body on one database, on SQLite and on PostgreSQL
//! (PostgreSQL must be reachable: FACCIA_TEST_PG, default
//! postgres://postgres@127.0.0.1:5432/test): every site's report holds exactly its own
//! figures, counted in its own time zone; the body's report is the offices' reports side by
//! side with their sums; the Ministry export has one row per month, office, channel and
//! service; and the rollups say the same as the raw tables for each site.

mod common;

use std::collections::BTreeSet;

use clap::Parser;
use common::*;
use faccia_domain::Lang;
use faccia_reports::model::{self, Via};
use faccia_reports::render::{self, Format};
use faccia_reports::{
    annual, annual_body, ministry_export, ministry_export_body, monthly, monthly_body, run,
    ExportRow, Faces, ReportArgs, ReportContext, Source,
};
use serde_json::Value;

/// Instants near midnight UTC whose local month is not the same in Rome and in New York.
/// 2026-06-30 23:30 UTC: 1 July 01:30 in Rome, 30 June 19:30 in New York.
fn z() -> i64 {
    utc(2026, 6, 30, 23, 30)
}
/// 2026-07-31 23:30 UTC: 1 August 01:30 in Rome, 31 July 19:30 in New York.
fn x() -> i64 {
    utc(2026, 7, 31, 23, 30)
}
/// 2026-08-01 02:00 UTC: 1 August 04:00 in Rome, 31 July 22:00 in New York.
fn y() -> i64 {
    utc(2026, 8, 1, 2, 0)
}

fn served(fx: &mut Fixture, service: &str, counter: &str, at: i64, wait_min: i64) -> String {
    fx.served(T {
        service,
        counter,
        served_at: at,
        waiting_ms: Some(wait_min * MINUTE),
        spans_midnight: false,
        reset: false,
    })
}

/// Rome: 40 tickets in July on counters 1..8 (30 votes: 20 green, 6 yellow, 4 red with
/// reasons 1, 2, none, 4; one on the web), one served at `z` (July in Rome, green) and one at
/// `x` (August in Rome, red with reason 2).
fn rome_rows(fx: &mut Fixture) {
    let tz = chrono_tz::Europe::Rome;
    for i in 0..40u32 {
        let counter = (i % 8 + 1).to_string();
        let service = ["A", "C"][(i % 2) as usize];
        let at = local(tz, 2026, 7, 2 + i % 25, 9 + i / 25, 0);
        let id = served(fx, service, &counter, at, i64::from(i % 20 + 1));
        if i < 30 {
            let (face, reason) = match i {
                0..=19 => (1, None),
                20..=25 => (2, None),
                26 => (3, Some(1)),
                27 => (3, Some(2)),
                28 => (3, None),
                _ => (3, Some(4)),
            };
            let channel = if i == 5 { "WEB" } else { "COUNTER" };
            fx.vote(&id, channel, face, reason, at + 20_000);
        }
    }
    let id = served(fx, "A", "8", z(), 3);
    fx.vote(&id, "COUNTER", 1, None, z() + 20_000);
    let id = served(fx, "C", "1", x(), 4);
    fx.vote(&id, "COUNTER", 3, Some(2), x() + 20_000);
}

/// New York: 25 tickets in July on counters 1..8 (20 votes: 10 green, 5 yellow, 5 red with
/// reasons 1, 1, 3, none, none; one by phone), one served at `x` (July in New York, yellow),
/// one at `y` (July, no vote) and one at `z` (June in New York, green).
fn new_york_rows(fx: &mut Fixture) {
    let tz = chrono_tz::America::New_York;
    for i in 0..25u32 {
        let counter = (i % 8 + 1).to_string();
        let service = ["A", "V"][(i % 2) as usize];
        let at = local(tz, 2026, 7, 3 + i, 11, 0);
        let id = served(fx, service, &counter, at, i64::from(i % 15 + 2));
        if i < 20 {
            let (face, reason) = match i {
                0..=9 => (1, None),
                10..=14 => (2, None),
                15 | 16 => (3, Some(1)),
                17 => (3, Some(3)),
                _ => (3, None),
            };
            let channel = if i == 6 { "PHONE" } else { "COUNTER" };
            fx.vote(&id, channel, face, reason, at + 20_000);
        }
    }
    let id = served(fx, "A", "1", x(), 5);
    fx.vote(&id, "COUNTER", 2, None, x() + 20_000);
    served(fx, "V", "2", y(), 6);
    let id = served(fx, "A", "8", z(), 7);
    fx.vote(&id, "COUNTER", 1, None, z() + 20_000);
}

/// A database with both offices registered and their rows inserted (the same ticket ids,
/// counter ids and instants in both).
fn two_offices(b: Backend) -> TestDb {
    let (rome, ny) = (rome_office(), new_york_office());
    let db = TestDb::with_sites(b, &[rome.clone(), ny.clone()]);
    let mut conn = db.conn();
    let mut fr = Fixture::for_site(&rome);
    rome_rows(&mut fr);
    fr.insert(&mut conn);
    let mut fy = Fixture::for_site(&ny);
    new_york_rows(&mut fy);
    fy.insert(&mut conn);
    let ids = |f: &Fixture| -> BTreeSet<String> {
        f.tickets.iter().map(|t| t.ticket_id.clone()).collect()
    };
    assert_eq!(
        ids(&fy).difference(&ids(&fr)).count(),
        0,
        "the sites share ticket ids"
    );
    for at in [x(), z()] {
        for f in [&fr, &fy] {
            assert!(f.tickets.iter().any(|t| t.served_at == Some(at)));
        }
    }
    db
}

fn faces(votes: u64, green: u64, yellow: u64, red: u64, reasons: [u64; 4], none: u64) -> Faces {
    Faces {
        votes,
        green,
        yellow,
        red,
        reasons,
        red_without_reason: none,
    }
}

fn served_at_counter(r: &faccia_reports::MonthlyReport, counter: &str) -> Option<u64> {
    r.current
        .by_counter
        .iter()
        .find(|g| g.code == counter)
        .and_then(|g| g.served)
}

fn no_private_data(docs: &[String]) {
    for d in docs {
        assert!(!d.contains("TKT-"), "a ticket id leaked");
        assert!(!d.contains("SES-"), "a session id leaked");
        assert!(!d.contains("OPERATORE"), "operator data leaked");
        assert!(!d.contains("queue-test"), "the queue source leaked");
        // Display numbers of the fixtures look like A001, C012, V003.
        assert!(
            !d.split(|c: char| !c.is_ascii_alphanumeric())
                .any(|w| w.len() == 4
                    && w.starts_with(['A', 'C', 'V'])
                    && w[1..].chars().all(|c| c.is_ascii_digit())),
            "a display number leaked"
        );
    }
}

both!(each_site_reports_its_own_figures_in_its_own_time_zone);
fn each_site_reports_its_own_figures_in_its_own_time_zone(b: Backend) {
    let db = two_offices(b);
    let mut conn = db.conn();
    let (rome, ny) = (rome_office(), new_york_office());
    for c in [&rome, &ny] {
        rollups_agree_with_raw_for(
            &mut conn,
            c,
            &[month(2026, 6), month(2026, 7), month(2026, 8)],
        );
    }

    let r = monthly(&mut conn, &rome, month(2026, 7)).expect("Rome July");
    assert_eq!(
        (r.site_id.as_str(), r.time_zone.as_str()),
        ("ente-anagrafe", "Europe/Rome")
    );
    assert_eq!(
        r.current.served, 41,
        "40 in July and the one served at 01:30 on 1 July"
    );
    assert_eq!(r.current.faces, faces(31, 21, 6, 4, [1, 1, 0, 1], 1));
    assert_eq!(r.previous.served, 0);
    assert_eq!(served_at_counter(&r, "8"), Some(6));
    assert_eq!(served_at_counter(&r, "1"), Some(5), "x is August in Rome");
    assert_eq!(r.current.by_counter[7].name.as_deref(), Some("Sportello 8"));
    assert_eq!(r.current.by_counter.len(), 8);
    let codes: Vec<&str> = r
        .current
        .by_service
        .iter()
        .map(|g| g.code.as_str())
        .collect();
    assert_eq!(codes, ["A", "C"], "no service of New York");
    let aug = monthly(&mut conn, &rome, month(2026, 8)).expect("Rome August");
    assert_eq!(aug.current.served, 1);
    assert_eq!(aug.current.faces, faces(1, 0, 0, 1, [0, 1, 0, 0], 0));

    let r = monthly(&mut conn, &ny, month(2026, 7)).expect("New York July");
    assert_eq!(r.time_zone, "America/New_York");
    assert_eq!(
        r.current.served, 27,
        "25 in July and the two of 31 July evening"
    );
    assert_eq!(r.current.faces, faces(21, 10, 6, 5, [2, 0, 1, 0], 2));
    assert_eq!(
        (
            r.previous.served,
            r.previous.faces.votes,
            r.previous.faces.green
        ),
        (1, 1, 1),
        "z is 30 June in New York"
    );
    assert_eq!(served_at_counter(&r, "8"), Some(3));
    assert_eq!(served_at_counter(&r, "1"), Some(5));
    assert_eq!(r.current.by_counter[7].name.as_deref(), Some("Banco 8"));
    let codes: Vec<&str> = r
        .current
        .by_service
        .iter()
        .map(|g| g.code.as_str())
        .collect();
    assert_eq!(codes, ["A", "V"], "no service of Rome");
    let passports = r
        .current
        .waiting
        .iter()
        .find(|w| w.service_code == "A")
        .expect("A");
    assert_eq!(
        passports.standard_min,
        Some(45),
        "New York's standard, not Rome's"
    );
    let phone = r
        .current
        .by_channel
        .iter()
        .find(|g| g.code == "PHONE")
        .expect("phone");
    assert_eq!(phone.faces.votes, 1);
    let aug = monthly(&mut conn, &ny, month(2026, 8)).expect("New York August");
    assert_eq!((aug.current.served, aug.current.faces.votes), (0, 0));

    // The same through the raw-table queries of one site (the reference implementation).
    let (from, to) = month(2026, 7).bounds(ny.time_zone).expect("bounds");
    let n = faccia_reports::query::served_count(&mut conn, &ny.site_id, from, to).expect("count");
    assert_eq!(n, 27);
    let n =
        faccia_reports::query::served_count(&mut conn, "no-such-site", from, to).expect("count");
    assert_eq!(n, 0);
}

both!(the_body_is_its_offices_side_by_side_with_their_sums);
fn the_body_is_its_offices_side_by_side_with_their_sums(b: Backend) {
    let db = two_offices(b);
    let mut conn = db.conn();
    let offices = [rome_office(), new_york_office()];
    let july = month(2026, 7);

    let body = monthly_body(&mut conn, &offices, july).expect("body");
    assert_eq!(body.offices.len(), 2);
    for (o, c) in body.offices.iter().zip(&offices) {
        assert_eq!(
            o,
            &monthly(&mut conn, c, july).expect("office"),
            "{}",
            c.site_id
        );
    }
    assert_eq!(body.totals.served, 41 + 27);
    assert_eq!(body.totals.faces, faces(52, 31, 12, 9, [3, 1, 1, 1], 3));
    let mut sum = Faces::default();
    for o in &body.offices {
        sum.merge(&o.current.faces);
    }
    assert_eq!(body.totals.faces, sum);
    assert_eq!(
        body.totals.participation().map(|s| s.tenths()),
        faccia_domain::Share::of(52, 68).map(|s| s.tenths())
    );
    assert_eq!((body.previous.served, body.previous.faces.votes), (1, 1));
    assert_eq!(body.change.served, 67);
    for code in ["COUNTER", "WEB", "PHONE"] {
        let g = body
            .by_channel
            .iter()
            .find(|g| g.code == code)
            .expect("channel");
        let parts: Vec<_> = body
            .offices
            .iter()
            .map(|o| {
                o.current
                    .by_channel
                    .iter()
                    .find(|g| g.code == code)
                    .expect("channel")
            })
            .collect();
        assert_eq!(
            g.faces.votes,
            parts.iter().map(|p| p.faces.votes).sum::<u64>(),
            "{code}"
        );
        // An office whose channel served nobody has no figure: the body's is the others' sum.
        assert_eq!(
            g.served,
            parts.iter().filter_map(|p| p.served).reduce(|a, b| a + b),
            "{code}"
        );
    }
    assert!(body.time_zones_differ());
    // Rollups and raw tables, office by office.
    assert_eq!(
        model::monthly_body_via(&mut conn, &offices, july, Via::Rollups).expect("rollups"),
        model::monthly_body_via(&mut conn, &offices, july, Via::Raw).expect("raw")
    );
    assert_eq!(
        model::monthly_body_via(&mut conn, &offices, july, Via::Rollups).expect("rollups"),
        body
    );
    // A site asked twice is refused; no office at all too.
    assert!(monthly_body(&mut conn, &[rome_office(), rome_office()], july).is_err());
    assert!(monthly_body(&mut conn, &[], july).is_err());

    // The annual review of the body.
    let year = annual_body(&mut conn, &offices, 2026).expect("annual body");
    for (o, c) in year.offices.iter().zip(&offices) {
        assert_eq!(o, &annual(&mut conn, c, 2026).expect("office year"));
    }
    assert_eq!(year.months[5].served, 1, "June: z in New York");
    assert_eq!(year.months[6].served, 68);
    assert_eq!(year.months[6].faces, body.totals.faces);
    assert_eq!(year.months[7].served, 1, "August: x in Rome");
    assert_eq!(year.served, 70);
    assert_eq!(
        year.served,
        year.offices.iter().map(|o| o.served).sum::<u64>()
    );
    assert_eq!(year.faces.votes, 52 + 1 + 1);
    // Each office's standards are its own.
    let rome_std: Vec<&str> = year.offices[0]
        .standards
        .iter()
        .map(|s| s.service_code.as_str())
        .collect();
    let ny_std: Vec<&str> = year.offices[1]
        .standards
        .iter()
        .map(|s| s.service_code.as_str())
        .collect();
    assert_eq!((rome_std, ny_std), (vec!["A", "C"], vec!["A"]));

    // Every format, both languages; nothing private; what each says.
    let mut docs = Vec::new();
    for f in [Format::Text, Format::Csv, Format::Json, Format::Html] {
        for l in [Lang::It, Lang::En] {
            docs.push(render::monthly_body(&body, f, l).expect("monthly body"));
            docs.push(render::annual_body(&year, f, l).expect("annual body"));
        }
    }
    no_private_data(&docs);

    let text = render::monthly_body(&body, Format::Text, Lang::It).expect("text");
    assert!(
        text.contains("Nel mese di luglio sono stati 68 gli utenti serviti; 52 hanno espresso"),
        "{text}"
    );
    let row = |name: &str| {
        text.lines()
            .find(|l| l.starts_with(name))
            .unwrap_or_else(|| panic!("a row for {name}: {text}"))
            .split_whitespace()
            .map(str::to_string)
            .collect::<Vec<_>>()
    };
    assert!(row("Anagrafe centrale").contains(&"41".to_string()));
    assert!(row("Consolato generale di New York").contains(&"27".to_string()));
    assert!(row("Totale").contains(&"68".to_string()));
    assert!(text.contains("Consolato generale di New York (America/New_York)"));
    assert!(
        text.contains("Banco 8") && text.contains("Sportello 8"),
        "each office's detail"
    );

    let csv = render::monthly_body(&body, Format::Csv, Lang::En).expect("csv");
    let lines: Vec<&str> = csv.lines().collect();
    assert!(lines[0].starts_with("month,office,office_name,section,code,name,served,votes"));
    assert!(lines.contains(
        &"2026-07,ente-anagrafe,Anagrafe centrale,total,,Anagrafe centrale,41,31,75.6,21,67.7,6,19.4,4,12.9,1,1,0,1,1,,,,,,"
    ), "{csv}");
    assert!(lines.iter().any(|l| l.starts_with(
        "2026-07,consolato-new-york,Consolato generale di New York,counter,8,Banco 8,3,"
    )));
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("2026-07,,,body_total,,,68,52,76.5,31,")),
        "{csv}"
    );
    assert!(lines
        .iter()
        .any(|l| l.starts_with("2026-06,,,body_previous_total,,,1,1,")));

    let json: Value =
        serde_json::from_str(&render::monthly_body(&body, Format::Json, Lang::It).expect("json"))
            .expect("parse");
    assert_eq!(json["schema"], "faccia.report.body-monthly/1");
    assert_eq!(json["totals"]["served"], 68);
    assert_eq!(json["totals"]["red_reasons"]["waiting_time"], 3);
    assert_eq!(json["offices"][0]["schema"], "faccia.report.monthly/1");
    assert_eq!(json["offices"][1]["site"]["time_zone"], "America/New_York");
    assert_eq!(json["offices"][1]["totals"]["served"], 27);
    assert_eq!(json["previous"]["totals"]["served"], 1);
    let json: Value =
        serde_json::from_str(&render::annual_body(&year, Format::Json, Lang::En).expect("json"))
            .expect("parse");
    assert_eq!(json["schema"], "faccia.report.body-annual/1");
    assert_eq!(json["months"][6]["served"], 68);
    assert_eq!(json["offices"][1]["schema"], "faccia.report.annual/1");
    assert_eq!(
        json["offices"][1]["standards"]["services"][0]["standard_min"],
        45
    );

    let csv = render::annual_body(&year, Format::Csv, Lang::It).expect("csv");
    assert!(
        csv.starts_with("office;office_name;section;month;served;"),
        "{csv}"
    );
    assert!(csv.contains("\r\n;;body_year;2026;70;54;"), "{csv}");
    assert!(csv.contains("\r\nconsolato-new-york;Consolato generale di New York;standard;2026;"));

    for (html, what) in [
        (
            render::monthly_body(&body, Format::Html, Lang::It).expect("html"),
            "monthly",
        ),
        (
            render::annual_body(&year, Format::Html, Lang::En).expect("html"),
            "annual",
        ),
    ] {
        assert!(html.starts_with("<!DOCTYPE html>\n<html lang="));
        assert!(!html.contains("<script"));
        assert!(html.contains("<article aria-labelledby=\"u2\">"), "{what}");
        // Every id once (the offices' charts and sections are prefixed), every reference to one.
        let ids: Vec<&str> = html
            .split(" id=\"")
            .skip(1)
            .filter_map(|s| s.split('"').next())
            .collect();
        let unique: BTreeSet<&str> = ids.iter().copied().collect();
        assert_eq!(ids.len(), unique.len(), "duplicate ids in the {what} page");
        for refs in html.split("aria-labelledby=\"").skip(1) {
            for r in refs.split('"').next().unwrap_or("").split_whitespace() {
                assert!(
                    unique.contains(r),
                    "{what}: aria-labelledby {r} has no element"
                );
            }
        }
    }
}

fn office_sums<'a>(rows: impl Iterator<Item = &'a ExportRow>) -> (u64, Faces) {
    let mut served = 0;
    let mut f = Faces::default();
    for r in rows {
        served += r.served.unwrap_or(0);
        f.merge(&r.faces);
    }
    (served, f)
}

both!(ministry_export_of_the_body);
fn ministry_export_of_the_body(b: Backend) {
    let db = two_offices(b);
    let mut conn = db.conn();
    let offices = [rome_office(), new_york_office()];
    let (june, aug) = (month(2026, 6), month(2026, 8));
    let rows = ministry_export_body(&mut conn, &offices, june, aug).expect("export");
    assert_eq!(
        rows,
        model::ministry_export_body_via(&mut conn, &offices, june, aug, Via::Raw).expect("raw")
    );
    // Months first, then the offices in order.
    let order: Vec<(String, &str)> = rows
        .iter()
        .map(|r| (r.month.to_string(), r.office.as_str()))
        .collect();
    let mut sorted = order.clone();
    sorted.sort_by_key(|(m, o)| (m.clone(), offices.iter().position(|c| c.site_id == *o)));
    assert_eq!(order, sorted);
    for c in &offices {
        let mine: Vec<ExportRow> = rows
            .iter()
            .filter(|r| r.office == c.site_id)
            .cloned()
            .collect();
        assert_eq!(
            mine,
            ministry_export(&mut conn, c, june, aug).expect("office export")
        );
        assert!(mine.iter().all(|r| r.office_name == c.site_name));
    }
    let at = |m: u32, office: &str| {
        office_sums(
            rows.iter()
                .filter(|r| r.month == month(2026, m) && r.office == office),
        )
    };
    assert_eq!(
        at(7, "ente-anagrafe"),
        (41, faces(31, 21, 6, 4, [1, 1, 0, 1], 1))
    );
    assert_eq!(
        at(7, "consolato-new-york"),
        (27, faces(21, 10, 6, 5, [2, 0, 1, 0], 2))
    );
    assert_eq!(at(6, "consolato-new-york").0, 1);
    assert_eq!(at(6, "ente-anagrafe").0, 0);
    assert_eq!(at(8, "ente-anagrafe").0, 1);
    for r in &rows {
        let f = &r.faces;
        assert_eq!(f.green + f.yellow + f.red, f.votes);
        assert_eq!(f.reasons.iter().sum::<u64>() + f.red_without_reason, f.red);
        // Every channel here served its users: tickets, or tickets given a link or a call.
        assert!(r.served.is_some(), "{r:?}");
    }

    let csv = render::export(&rows, &offices, june, aug, Format::Csv).expect("csv");
    assert!(csv.starts_with("month,office,office_name,channel,service,served,votes,"));
    assert!(
        csv.contains("\r\n2026-07,consolato-new-york,Consolato generale di New York,PHONE,A,1,1,"),
        "{csv}"
    );
    assert!(csv.contains(
        "\r\n2026-06,consolato-new-york,Consolato generale di New York,COUNTER,A,1,1,1,0,0,"
    ));
    let json: Value = serde_json::from_str(
        &render::export(&rows, &offices, june, aug, Format::Json).expect("json"),
    )
    .expect("parse");
    assert_eq!(json["schema"], "faccia.export.ministry/2");
    assert_eq!(json["offices"][1]["id"], "consolato-new-york");
    assert_eq!(json["offices"][1]["time_zone"], "America/New_York");
    assert_eq!(json["rows"].as_array().map(Vec::len), Some(rows.len()));
    no_private_data(&[csv, json.to_string()]);
}

#[derive(Parser)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(clap::Subcommand)]
enum Command {
    Report(ReportArgs),
}

fn args(line: &[&str]) -> ReportArgs {
    let mut argv = vec!["faccia", "report"];
    argv.extend_from_slice(line);
    match Cli::try_parse_from(argv).expect("arguments").command {
        Command::Report(a) => a,
    }
}

fn source(db: &TestDb, sites: Vec<ReportContext>) -> Source {
    Source {
        sites,
        database: db.url.clone(),
        busy_timeout_ms: 5_000,
    }
}

fn read_json(path: &std::path::Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(path).expect("written")).expect("json")
}

both!(the_sites_of_faccia_report);
fn the_sites_of_faccia_report(b: Backend) {
    let db = two_offices(b);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let dir = tempfile::tempdir().expect("dir");
    let d = dir.path().display().to_string();
    let registered_before = faccia_storage::sites::list(&mut db.conn()).expect("sites");
    let both_configured = source(&db, vec![rome_office(), new_york_office()]);
    rt.block_on(async {
        // Two configured sites and no choice: an error naming them.
        let err = run(
            args(&["monthly", "--month", "2026-07"]),
            both_configured.clone(),
        )
        .await
        .expect_err("a choice is needed");
        let err = err.to_string();
        assert!(
            err.contains("ente-anagrafe, consolato-new-york") && err.contains("--all-sites"),
            "{err}"
        );
        // One site: its own document, under its own name.
        run(
            args(&[
                "monthly",
                "--month",
                "2026-07",
                "--site",
                "consolato-new-york",
                "--format",
                "json",
                "--output-dir",
                &d,
            ]),
            both_configured.clone(),
        )
        .await
        .expect("one site");
        let v = read_json(&dir.path().join("faccia-consolato-new-york-2026-07.json"));
        assert_eq!(v["schema"], "faccia.report.monthly/1");
        assert_eq!(v["totals"]["served"], 27);
        // Every site: the body's document.
        run(
            args(&[
                "monthly",
                "--month",
                "2026-07",
                "--all-sites",
                "--format",
                "json",
                "--output-dir",
                &d,
            ]),
            both_configured.clone(),
        )
        .await
        .expect("all sites");
        let v = read_json(&dir.path().join("faccia-ente-2026-07.json"));
        assert_eq!(v["schema"], "faccia.report.body-monthly/1");
        assert_eq!(v["totals"]["served"], 68);
        run(
            args(&[
                "export",
                "--from",
                "2026-06",
                "--to",
                "2026-08",
                "--site",
                "ente-anagrafe",
                "--site",
                "consolato-new-york",
                "--output-dir",
                &d,
            ]),
            both_configured.clone(),
        )
        .await
        .expect("export of two sites");
        let csv =
            std::fs::read_to_string(dir.path().join("faccia-ente-ministero-2026-06-2026-08.csv"))
                .expect("export written");
        assert!(csv.contains(",ente-anagrafe,") && csv.contains(",consolato-new-york,"));
        // An unknown site: an error naming the known ones.
        let err = run(
            args(&["annual", "--year", "2026", "--site", "altrove"]),
            both_configured.clone(),
        )
        .await
        .expect_err("unknown site")
        .to_string();
        assert!(
            err.contains("altrove") && err.contains("consolato-new-york"),
            "{err}"
        );

        // The central office configures only itself: the consulate is still reported, with
        // the name and time zone the database records for it.
        let rome_only = source(&db, vec![rome_office()]);
        let out = dir.path().join("all.json");
        let o = out.display().to_string();
        run(
            args(&[
                "monthly",
                "--month",
                "2026-07",
                "--all-sites",
                "--format",
                "json",
                "-o",
                &o,
            ]),
            rome_only.clone(),
        )
        .await
        .expect("all sites from one configured");
        let v = read_json(&out);
        assert_eq!(v["totals"]["served"], 68);
        let consulate = &v["offices"][1];
        assert_eq!(consulate["site"]["name"], "Consolato generale di New York");
        assert_eq!(consulate["site"]["time_zone"], "America/New_York");
        assert_eq!(
            consulate["totals"]["served"], 27,
            "counted in New York's July"
        );
        assert_eq!(
            consulate["by_counter"][0]["name"],
            Value::Null,
            "no configuration: no names"
        );
        // Without a flag the only configured site is reported.
        run(
            args(&[
                "monthly", "--month", "2026-07", "--format", "json", "-o", &o,
            ]),
            rome_only.clone(),
        )
        .await
        .expect("the configured site");
        let v = read_json(&out);
        assert_eq!(v["site"]["id"], "ente-anagrafe");
        assert_eq!(v["totals"]["served"], 41);
        // Its HTML and text pages for the body too.
        for f in ["html", "text", "csv"] {
            run(
                args(&[
                    "annual",
                    "--year",
                    "2026",
                    "--all-sites",
                    "--format",
                    f,
                    "-o",
                    &o,
                ]),
                rome_only.clone(),
            )
            .await
            .expect("annual of the body");
            let doc = std::fs::read_to_string(&out).expect("written");
            assert!(doc.contains("Consolato generale di New York"), "{f}");
        }
    });
    // The reports only read: the database's sites are as the offices registered them.
    let mut conn = db.conn();
    let registered = faccia_storage::sites::list(&mut conn).expect("sites");
    assert_eq!(registered, registered_before);
    let ids: Vec<&str> = registered.iter().map(|s| s.site_id.as_str()).collect();
    assert_eq!(ids, ["consolato-new-york", "ente-anagrafe"]);
    for c in [rome_office(), new_york_office()] {
        assert_eq!(Via::choose(&mut conn, &c).expect("choose"), Via::Rollups);
    }
}
