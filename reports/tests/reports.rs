//! Reports from fixed data sets, on SQLite and on PostgreSQL (PostgreSQL must be reachable:
//! FACCIA_TEST_PG, default postgres://postgres@127.0.0.1:5432/test).

mod common;

use common::*;
use faccia_domain::{Lang, Share};
use faccia_reports::render::{self, Format};
use faccia_reports::{annual, ministry_export, monthly, summary_sentence};
use serde_json::Value;

/// Nearest rank, the ⌈0.9·n⌉-th smallest, at the published one-second resolution (rounded up).
fn p90(mut v: Vec<i64>) -> Option<i64> {
    if v.is_empty() {
        return None;
    }
    v.sort_unstable();
    let exact = v[(9 * v.len()).div_ceil(10) - 1];
    Some((exact + 999).div_euclid(1000) * 1000)
}

fn all_formats(r: &faccia_reports::MonthlyReport) -> Vec<String> {
    let mut out = Vec::new();
    for f in [Format::Text, Format::Csv, Format::Json, Format::Html] {
        for l in [Lang::It, Lang::En] {
            out.push(render::monthly(r, f, l).expect("render"));
        }
    }
    out
}

fn no_private_data(docs: &[String]) {
    for d in docs {
        assert!(!d.contains("TKT-"), "a ticket id leaked");
        assert!(!d.contains("SES-"), "a session id leaked");
        assert!(!d.contains("OPERATORE"), "operator data leaked");
        assert!(!d.contains("queue-test"), "the queue source leaked");
    }
}

both!(sassuolo_july);
fn sassuolo_july(b: Backend) {
    let db = TestDb::new(b);
    let mut conn = db.conn();
    let mut fx = Fixture::default();
    let waits = sassuolo(&mut fx);
    fx.insert(&mut conn);

    let r = monthly(&mut conn, &ctx(), month(2026, 7)).expect("monthly");
    rollups_agree_with_raw(&mut conn, &[month(2026, 6), month(2026, 7), month(2026, 8)]);
    let c = &r.current;
    assert_eq!(c.served, 352);
    assert_eq!(
        (c.faces.votes, c.faces.green, c.faces.yellow, c.faces.red),
        (270, 255, 11, 4)
    );
    assert_eq!(c.faces.reasons, [2, 0, 1, 0]);
    assert_eq!(c.faces.red_without_reason, 1);
    assert_eq!(
        c.faces.green_share().map(|s| s.format(Lang::It)).as_deref(),
        Some("94,4")
    );
    assert_eq!(
        c.participation().map(|s| s.format(Lang::It)).as_deref(),
        Some("76,7")
    );
    assert_eq!(
        summary_sentence(c, Lang::It),
        "Nel mese di luglio sono stati 352 gli utenti serviti; 270 hanno espresso un giudizio: \
         255 positivi (94,4%), 11 neutri e 4 negativi."
    );
    assert_eq!(
        summary_sentence(c, Lang::En),
        "In July 352 users were served; 270 gave a judgement: 255 positive (94.4%), 11 neutral \
         and 4 negative."
    );

    // Breakdowns add up to the totals.
    for groups in [&c.by_counter, &c.by_service] {
        assert_eq!(groups.iter().filter_map(|g| g.served).sum::<u64>(), 352);
        assert_eq!(groups.iter().map(|g| g.faces.votes).sum::<u64>(), 270);
        assert_eq!(groups.iter().map(|g| g.faces.green).sum::<u64>(), 255);
    }
    let codes: Vec<&str> = c.by_service.iter().map(|g| g.code.as_str()).collect();
    assert_eq!(codes, ["A", "C", "X"]);
    let ch = |code: &str| {
        c.by_channel
            .iter()
            .find(|g| g.code == code)
            .expect("channel")
    };
    // The six web votes are of tickets given a link: those users count under WEB.
    assert_eq!(ch("COUNTER").served, Some(346));
    assert_eq!(ch("COUNTER").faces.votes, 264);
    assert_eq!(ch("WEB").served, Some(6));
    assert_eq!(ch("PHONE").served, None, "no call answered");
    assert_eq!(ch("WEB").faces.votes, 6);
    assert_eq!(ch("PHONE").faces.votes, 0);

    // Waiting times against a computation in Rust over the same tickets.
    for w in &c.waiting {
        let expected = waits.get(&w.service_code).cloned().unwrap_or_default();
        assert_eq!(
            w.counted,
            expected.len() as u64,
            "service {}",
            w.service_code
        );
        assert_eq!(w.total_ms, expected.iter().sum::<i64>() as u64);
        assert_eq!(w.p90_ms, p90(expected.clone()), "p90 of {}", w.service_code);
        let std_ms = w.standard_min.map(|m| i64::from(m) * MINUTE);
        assert_eq!(
            w.within,
            std_ms.map(|s| expected.iter().filter(|v| **v <= s).count() as u64)
        );
    }
    assert_eq!(c.waiting.iter().map(|w| w.left_out).sum::<u64>(), 7);
    // The three ways of computing the percentile agree (window function, values read and
    // selected in Rust, and the backend's choice).
    let (from, to) = month(2026, 7).bounds(tz()).expect("bounds");
    let sorted = |mut v: Vec<faccia_reports::query::P90>| {
        v.sort_by(|a, b| a.service_code.cmp(&b.service_code));
        v
    };
    let chosen = sorted(
        faccia_reports::query::p90_groups(&mut conn, "comune-test-urp", from, to).expect("p90"),
    );
    assert_eq!(chosen.len(), 3);
    assert_eq!(
        sorted(
            faccia_reports::query::p90_window(&mut conn, "comune-test-urp", from, to)
                .expect("window")
        ),
        chosen
    );
    assert_eq!(
        sorted(
            faccia_reports::query::p90_loaded(&mut conn, "comune-test-urp", from, to)
                .expect("loaded")
        ),
        chosen
    );
    // The report publishes them at one-second resolution, rounded up.
    for p in &chosen {
        let w = c
            .waiting
            .iter()
            .find(|w| w.service_code == p.service_code)
            .expect("service");
        assert_eq!(w.p90_ms, Some((p.p90_ms + 999) / 1000 * 1000));
    }

    // The change from June: 80,0% green then, 94,4% now.
    assert_eq!(r.previous.served, 100);
    assert_eq!(r.previous.faces.green_share().map(Share::tenths), Some(800));
    assert_eq!(r.change.green_tenths, Some(144));
    assert_eq!(r.change.served, 252);
    assert_eq!(r.change.participation_tenths, Some(767 - 500));

    // Every format says the same.
    let text = render::monthly(&r, Format::Text, Lang::It).expect("text");
    assert!(text.contains(&summary_sentence(c, Lang::It)));
    assert!(text.contains("94,4%") && text.contains("76,7%") && text.contains("+14,4 punti"));
    let csv = render::monthly(&r, Format::Csv, Lang::It).expect("csv");
    let total = csv.lines().nth(1).expect("total row");
    assert!(
        total.starts_with(
            "2026-07;total;;Comune di Prova – URP;352;270;76,7;255;94,4;11;4,1;4;1,5;2;0;1;0;1;"
        ),
        "{total}"
    );
    let csv_en = render::monthly(&r, Format::Csv, Lang::En).expect("csv");
    assert!(csv_en
        .lines()
        .nth(1)
        .expect("row")
        .contains(",352,270,76.7,255,94.4,11,4.1,4,1.5,"));
    let json: Value =
        serde_json::from_str(&render::monthly(&r, Format::Json, Lang::It).expect("json"))
            .expect("parse");
    assert_eq!(json["schema"], "faccia.report.monthly/1");
    assert_eq!(json["month"], "2026-07");
    assert_eq!(json["totals"]["green_pct"], 94.4);
    assert_eq!(json["totals"]["participation_pct"], 76.7);
    assert_eq!(json["totals"]["served"], 352);
    assert_eq!(json["totals"]["red_reasons"]["waiting_time"], 2);
    assert_eq!(json["change"]["green_points"], 14.4);
    assert_eq!(json["summary"], summary_sentence(c, Lang::It));
    let html = render::monthly(&r, Format::Html, Lang::It).expect("html");
    assert!(html.starts_with("<!DOCTYPE html>\n<html lang=\"it\">"));
    assert!(html.contains("255 positivi (94,4%)"));
    assert!(html.contains("role=\"img\"") && html.contains("<title id=\"chart-faces-t\">"));
    assert!(!html.contains("<script"));
    // July 2026 is over: the page says when it was computed, not that it is in progress
    assert!(
        html.contains("<p class=\"computed\">Dati calcolati il "),
        "{html}"
    );
    assert!(!html.contains("Mese in corso"));
    no_private_data(&all_formats(&r));
}

both!(month_without_votes);
fn month_without_votes(b: Backend) {
    let db = TestDb::new(b);
    let mut conn = db.conn();
    let mut fx = Fixture::default();
    let aug = month_start(2026, 8);
    for i in 0..120i64 {
        fx.served(T {
            service: if i % 2 == 0 { "A" } else { "C" },
            counter: "2",
            served_at: aug + (i % 20) * 86_400_000 + 9 * 3_600_000,
            waiting_ms: Some((i % 30 + 1) * MINUTE),
            spans_midnight: false,
            reset: false,
        });
    }
    fx.insert(&mut conn);
    let r = monthly(&mut conn, &ctx(), month(2026, 8)).expect("monthly");
    rollups_agree_with_raw(&mut conn, &[month(2026, 7), month(2026, 8), month(2026, 9)]);
    let c = &r.current;
    assert_eq!(c.served, 120);
    assert_eq!(c.faces.votes, 0);
    assert_eq!(c.faces.green_share(), None);
    assert_eq!(c.participation().map(Share::tenths), Some(0));
    assert_eq!(
        summary_sentence(c, Lang::It),
        "Nel mese di agosto sono stati 120 gli utenti serviti; nessuno ha espresso un giudizio."
    );
    assert_eq!(r.change.green_tenths, None);
    let json: Value =
        serde_json::from_str(&render::monthly(&r, Format::Json, Lang::It).expect("json"))
            .expect("parse");
    assert_eq!(json["totals"]["green_pct"], Value::Null);
    assert_eq!(json["totals"]["participation_pct"], 0.0);
    let text = render::monthly(&r, Format::Text, Lang::It).expect("text");
    assert!(
        text.lines()
            .any(|l| l.starts_with("Positivi") && l.ends_with(" 0  —")),
        "{text}"
    );
    assert!(text.contains("Partecipazione: 0,0% (giudizi espressi / utenti serviti)."));
    let html = render::monthly(&r, Format::Html, Lang::It).expect("html");
    assert!(html.contains("nessun dato"));
    no_private_data(&all_formats(&r));

    // A month with nothing at all.
    let r = monthly(&mut conn, &ctx(), month(2026, 9)).expect("monthly");
    assert_eq!(r.current.served, 0);
    assert_eq!(r.current.participation(), None);
    assert_eq!(
        summary_sentence(&r.current, Lang::It),
        "Nel mese di settembre non ci sono stati utenti serviti; nessuno ha espresso un giudizio."
    );
    assert_eq!(r.change.served, -120);
    all_formats(&r);
}

both!(midnight_and_month_edges);
fn midnight_and_month_edges(b: Backend) {
    let db = TestDb::new(b);
    let mut conn = db.conn();
    let mut fx = Fixture::default();
    let oct = month_start(2026, 10);
    for i in 1..=10i64 {
        fx.served(T {
            service: "A",
            counter: "1",
            served_at: oct + i * 86_400_000,
            waiting_ms: Some(i * MINUTE),
            spans_midnight: false,
            reset: false,
        });
    }
    for (i, (spans, reset)) in [
        (true, false),
        (true, false),
        (true, false),
        (false, true),
        (false, true),
    ]
    .into_iter()
    .enumerate()
    {
        fx.served(T {
            service: "A",
            counter: "1",
            served_at: oct + (12 + i as i64) * 86_400_000,
            waiting_ms: Some(500 * MINUTE),
            spans_midnight: spans,
            reset,
        });
    }
    // 2026-10-31 23:30 in Rome (22:30 UTC, after the end of summer time) is October;
    // 2026-11-01 00:15 in Rome (23:15 UTC on the 31st) is November.
    let nov = month_start(2026, 11);
    assert_eq!(nov, 1_793_487_600_000); // 2026-10-31T23:00:00Z
    let late = fx.served(T {
        service: "C",
        counter: "2",
        served_at: nov - 30 * MINUTE,
        waiting_ms: Some(3 * MINUTE),
        spans_midnight: false,
        reset: false,
    });
    fx.vote(&late, "COUNTER", 3, Some(2), nov - 29 * MINUTE);
    let early = fx.served(T {
        service: "C",
        counter: "2",
        served_at: nov + 15 * MINUTE,
        waiting_ms: Some(4 * MINUTE),
        spans_midnight: false,
        reset: false,
    });
    fx.vote(&early, "COUNTER", 1, None, nov + 16 * MINUTE);
    fx.insert(&mut conn);
    rollups_agree_with_raw(&mut conn, &[month(2026, 10), month(2026, 11)]);

    let r = monthly(&mut conn, &ctx(), month(2026, 10)).expect("monthly");
    let c = &r.current;
    assert_eq!(c.served, 16);
    assert_eq!((c.faces.votes, c.faces.red, c.faces.reasons[1]), (1, 1, 1));
    let a = c.waiting.iter().find(|w| w.service_code == "A").expect("A");
    assert_eq!((a.counted, a.left_out), (10, 5));
    assert_eq!(a.avg_ms(), Some(5.5 * MINUTE as f64)); // the 500-minute waits are left out
    assert_eq!(a.p90_ms, Some(9 * MINUTE));
    assert_eq!(a.within_share().map(Share::tenths), Some(1000));
    let text = render::monthly(&r, Format::Text, Lang::It).expect("text");
    assert!(text.contains("5,5") && text.contains("9,0"), "{text}");

    let r = monthly(&mut conn, &ctx(), month(2026, 11)).expect("monthly");
    assert_eq!(
        (
            r.current.served,
            r.current.faces.votes,
            r.current.faces.green
        ),
        (1, 1, 1)
    );
    assert_eq!(
        summary_sentence(&r.current, Lang::It),
        "Nel mese di novembre è stato 1 l'utente servito; 1 ha espresso un giudizio: \
         1 positivo (100,0%), 0 neutri e 0 negativi."
    );
}

both!(service_without_standard);
fn service_without_standard(b: Backend) {
    let db = TestDb::new(b);
    let mut conn = db.conn();
    let mut fx = Fixture::default();
    let may = month_start(2026, 5);
    for i in 0..10i64 {
        for service in ["X", "Z"] {
            let id = fx.served(T {
                service,
                counter: "9",
                served_at: may + i * 86_400_000 + 10 * 3_600_000,
                waiting_ms: Some((i + 1) * 2 * MINUTE),
                spans_midnight: false,
                reset: false,
            });
            fx.vote(
                &id,
                "COUNTER",
                1 + (i % 3) as i32,
                None,
                may + i * 86_400_000 + 10 * 3_600_000 + 5_000,
            );
        }
    }
    fx.insert(&mut conn);
    let r = monthly(&mut conn, &ctx(), month(2026, 5)).expect("monthly");
    rollups_agree_with_raw(&mut conn, &[month(2026, 4), month(2026, 5), month(2026, 6)]);
    let x = r
        .current
        .waiting
        .iter()
        .find(|w| w.service_code == "X")
        .expect("X");
    assert_eq!(x.standard_min, None);
    assert_eq!(x.within, None);
    assert_eq!(x.within_share(), None);
    assert_eq!(x.counted, 10);
    assert_eq!(x.avg_ms(), Some(11.0 * MINUTE as f64));
    // An unconfigured service and counter are still counted, and named as such.
    let z = r
        .current
        .by_service
        .iter()
        .find(|g| g.code == "Z")
        .expect("Z");
    assert_eq!(
        (z.name.as_deref(), z.served, z.faces.votes),
        (None, Some(10), 10)
    );
    assert!(r
        .current
        .by_counter
        .iter()
        .any(|g| g.code == "9" && g.served == Some(20)));

    let text = render::monthly(&r, Format::Text, Lang::It).expect("text");
    let row = text
        .lines()
        .rfind(|l| l.starts_with("Informazioni"))
        .expect("waiting row of X");
    let cells: Vec<&str> = row.split_whitespace().collect();
    assert_eq!(&cells[cells.len() - 2..], ["—", "—"], "{row}");
    assert!(text.contains("Z (non configurato)"));
    let json: Value =
        serde_json::from_str(&render::monthly(&r, Format::Json, Lang::En).expect("json"))
            .expect("parse");
    let wx = json["waiting"]
        .as_array()
        .and_then(|a| a.iter().find(|w| w["service"] == "X"))
        .expect("X in JSON");
    assert_eq!(wx["standard_min"], Value::Null);
    assert_eq!(wx["within_standard_pct"], Value::Null);
    assert_eq!(wx["avg_ms"], 660_000);
    let html = render::monthly(&r, Format::Html, Lang::It).expect("html");
    assert!(html.contains("min; nessuno standard"));
}

both!(ministry_export_counts);
fn ministry_export_counts(b: Backend) {
    let db = TestDb::new(b);
    let mut conn = db.conn();
    let mut fx = Fixture::default();
    sassuolo(&mut fx);
    fx.insert(&mut conn);
    let rows = ministry_export(&mut conn, &ctx(), month(2026, 6), month(2026, 7)).expect("export");
    rollups_agree_with_raw(&mut conn, &[month(2026, 6), month(2026, 7)]);
    for (m, served, votes, green, yellow, red) in
        [(6, 100, 50, 40, 6, 4), (7, 352, 270, 255, 11, 4)]
    {
        let rs: Vec<_> = rows.iter().filter(|r| r.month == month(2026, m)).collect();
        assert_eq!(rs.iter().filter_map(|r| r.served).sum::<u64>(), served);
        assert_eq!(rs.iter().map(|r| r.faces.votes).sum::<u64>(), votes);
        assert_eq!(rs.iter().map(|r| r.faces.green).sum::<u64>(), green);
        assert_eq!(rs.iter().map(|r| r.faces.yellow).sum::<u64>(), yellow);
        assert_eq!(rs.iter().map(|r| r.faces.red).sum::<u64>(), red);
        assert!(rs.iter().all(|r| r.office == "comune-test-urp"));
    }
    // Every web vote here is of a ticket given a link: its user moves from COUNTER to WEB.
    assert_eq!(
        rows.iter()
            .filter(|r| r.channel == "WEB")
            .map(|r| r.served.expect("links issued"))
            .sum::<u64>(),
        6
    );
    assert_eq!(
        rows.iter()
            .filter(|r| r.channel == "WEB")
            .map(|r| r.faces.votes)
            .sum::<u64>(),
        6
    );

    let csv =
        render::export(&rows, &[ctx()], month(2026, 6), month(2026, 7), Format::Csv).expect("csv");
    let mut lines = csv.lines();
    assert_eq!(
        lines.next(),
        Some("month,office,office_name,channel,service,served,votes,green,yellow,red,reason_1,reason_2,reason_3,reason_4,red_without_reason")
    );
    assert!(
        csv.contains(
            "2026-06,comune-test-urp,Comune di Prova – URP,COUNTER,A,100,50,40,6,4,0,0,0,0,4\r\n"
        ),
        "{csv}"
    );
    assert!(csv.lines().any(|l| l
        .starts_with("2026-07,comune-test-urp,Comune di Prova – URP,WEB,")
        && l.split(',')
            .nth(5)
            .is_some_and(|n| n.parse::<u64>().is_ok())));
    let json = render::export(
        &rows,
        &[ctx()],
        month(2026, 6),
        month(2026, 7),
        Format::Json,
    )
    .expect("json");
    let v: Value = serde_json::from_str(&json).expect("parse");
    assert_eq!(v["schema"], "faccia.export.ministry/2");
    assert_eq!(v["offices"][0]["name"], "Comune di Prova – URP");
    assert_eq!(v["rows"][0]["office_name"], "Comune di Prova – URP");
    assert_eq!(v["rows"].as_array().map(Vec::len), Some(rows.len()));
    no_private_data(&[csv, json]);
    assert!(render::export(
        &rows,
        &[ctx()],
        month(2026, 6),
        month(2026, 7),
        Format::Html
    )
    .is_err());
}

both!(annual_review);
fn annual_review(b: Backend) {
    let db = TestDb::new(b);
    let mut conn = db.conn();
    let mut fx = Fixture::default();
    let waits = sassuolo(&mut fx);
    fx.insert(&mut conn);
    let r = annual(&mut conn, &ctx(), 2026).expect("annual");
    let year: Vec<_> = (1..=12).map(|m| month(2026, m)).collect();
    rollups_agree_with_raw(&mut conn, &year);
    assert_eq!(r.months.len(), 12);
    assert_eq!(r.served, 452);
    assert_eq!(r.faces.votes, 320);
    assert_eq!(
        r.months[6].faces.green_share().map(Share::tenths),
        Some(944)
    );
    assert_eq!(r.months[0].faces.votes, 0);
    let a = r
        .standards
        .iter()
        .find(|s| s.service_code == "A")
        .expect("A");
    // June: 100 tickets of A at 10 minutes, all within 20.
    assert_eq!(a.months[5], (100, 100));
    let july_a = &waits["A"];
    let within = july_a.iter().filter(|w| **w <= 20 * MINUTE).count() as u64;
    assert_eq!(a.months[6], (july_a.len() as u64, within));
    assert_eq!(a.counted, 100 + july_a.len() as u64);
    assert_eq!(a.within, 100 + within);
    let share = Share::of(a.within, a.counted).expect("share");
    assert_eq!(a.met, Some(share.tenths() >= 900));
    assert!(
        r.standards.iter().all(|s| s.service_code != "X"),
        "X declares no standard"
    );
    let c = r
        .standards
        .iter()
        .find(|s| s.service_code == "C")
        .expect("C");
    assert_eq!(c.months[5], (0, 0));
    assert_eq!(c.month_share(5), None);

    for f in [Format::Text, Format::Csv, Format::Json, Format::Html] {
        let doc = render::annual(&r, f, Lang::It).expect("render");
        no_private_data(std::slice::from_ref(&doc));
    }
    let json: Value =
        serde_json::from_str(&render::annual(&r, Format::Json, Lang::It).expect("json"))
            .expect("parse");
    assert_eq!(json["schema"], "faccia.report.annual/1");
    assert_eq!(json["months"][6]["green_pct"], 94.4);
    assert_eq!(json["standards"]["target_pct"], 90.0);
    let text = render::annual(&r, Format::Text, Lang::It).expect("text");
    assert!(text.contains("luglio") && text.contains("94,4%"));
}

both!(waits_at_one_second_resolution);
fn waits_at_one_second_resolution(b: Backend) {
    let db = TestDb::new(b);
    let mut conn = db.conn();
    let mut fx = Fixture::default();
    let march = month_start(2026, 3);
    // Service A declares 20 minutes: 20:00.000 is within it, 20:00.001 is not.
    let waits = [
        20 * MINUTE,
        20 * MINUTE + 1,
        20 * MINUTE + 999,
        MINUTE + 1,
        MINUTE + 500,
        2 * MINUTE,
        3 * MINUTE + 250,
        4 * MINUTE,
        5 * MINUTE,
        6 * MINUTE,
    ];
    for (i, w) in waits.iter().enumerate() {
        fx.served(T {
            service: "A",
            counter: "1",
            served_at: march + (i as i64 + 1) * 86_400_000 + 10 * 3_600_000,
            waiting_ms: Some(*w),
            spans_midnight: false,
            reset: false,
        });
    }
    fx.insert(&mut conn);
    rollups_agree_with_raw(&mut conn, &[month(2026, 3)]);
    let r = monthly(&mut conn, &ctx(), month(2026, 3)).expect("monthly");
    let a = r
        .current
        .waiting
        .iter()
        .find(|w| w.service_code == "A")
        .expect("A");
    assert_eq!(a.counted, 10);
    assert_eq!(
        a.within,
        Some(8),
        "20:00.001 and 20:00.999 are over 20 minutes"
    );
    // The average is exact to the millisecond.
    assert_eq!(a.total_ms, waits.iter().sum::<i64>() as u64);
    // ⌈0.9·10⌉ = 9th smallest: 20:00.001, published as 20:01 (one-second resolution).
    assert_eq!(a.p90_ms, Some(20 * MINUTE + 1000));
    let (from, to) = month(2026, 3).bounds(tz()).expect("bounds");
    let exact =
        faccia_reports::query::p90_groups(&mut conn, "comune-test-urp", from, to).expect("p90");
    assert_eq!(exact[0].p90_ms, 20 * MINUTE + 1);
}
