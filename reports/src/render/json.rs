//! JSON with a versioned schema (see docs/reports.md): `faccia.report.monthly/1`,
//! `faccia.report.annual/1`, `faccia.report.body-monthly/1`, `faccia.report.body-annual/1`,
//! `faccia.export.ministry/2`. Percentages are numbers with one decimal (`94.4`) made by
//! `Share`, or `null` when there is nothing to share.

use faccia_domain::{Lang, Share};
use serde_json::{json, Map, Value};

use crate::model::{
    AnnualReport, BodyAnnualReport, BodyMonthlyReport, ExportRow, Faces, Group, MonthFigures,
    MonthTotals, MonthlyReport, ReportContext, Waiting,
};
use crate::period::YearMonth;
use crate::words;

pub const MONTHLY_SCHEMA: &str = "faccia.report.monthly/1";
pub const ANNUAL_SCHEMA: &str = "faccia.report.annual/1";
pub const BODY_MONTHLY_SCHEMA: &str = "faccia.report.body-monthly/1";
pub const BODY_ANNUAL_SCHEMA: &str = "faccia.report.body-annual/1";
/// Version 2: the offices (`offices`, rows with `office_name`), for exports of the body.
pub const EXPORT_SCHEMA: &str = "faccia.export.ministry/2";
/// The rounding rule, stated in every document.
pub const ROUNDING: &str = "percent with one decimal: part/whole in tenths of a percent, rounded half up on exact integers; null when the whole is 0";

pub fn to_string(v: &Value) -> Result<String, serde_json::Error> {
    let mut s = serde_json::to_string_pretty(v)?;
    s.push('\n');
    Ok(s)
}

fn p(s: Option<Share>) -> Value {
    s.map(|s| json!(s.percent())).unwrap_or(Value::Null)
}

fn points(t: Option<i64>) -> Value {
    t.map(|t| json!(t as f64 / 10.0)).unwrap_or(Value::Null)
}

fn reasons(f: &Faces) -> Value {
    json!({
        "waiting_time": f.reasons[0],
        "staff_behaviour": f.reasons[1],
        "had_to_come_back": f.reasons[2],
        "negative_outcome": f.reasons[3],
        "none": f.red_without_reason,
    })
}

fn reasons_pct(f: &Faces) -> Value {
    json!({
        "waiting_time": p(f.reason_share(0)),
        "staff_behaviour": p(f.reason_share(1)),
        "had_to_come_back": p(f.reason_share(2)),
        "negative_outcome": p(f.reason_share(3)),
        "none": p(f.red_without_reason_share()),
    })
}

/// The figures block shared by totals and breakdowns.
fn figures(served: Option<u64>, f: &Faces) -> Map<String, Value> {
    let mut m = Map::new();
    m.insert("served".into(), json!(served));
    m.insert("votes".into(), json!(f.votes));
    m.insert(
        "participation_pct".into(),
        p(served.and_then(|s| Share::of(f.votes, s))),
    );
    m.insert("green".into(), json!(f.green));
    m.insert("green_pct".into(), p(f.green_share()));
    m.insert("yellow".into(), json!(f.yellow));
    m.insert("yellow_pct".into(), p(f.yellow_share()));
    m.insert("red".into(), json!(f.red));
    m.insert("red_pct".into(), p(f.red_share()));
    m.insert("red_reasons".into(), reasons(f));
    m.insert("red_reasons_pct".into(), reasons_pct(f));
    m
}

fn group(g: &Group) -> Value {
    let mut m = Map::new();
    m.insert("code".into(), json!(g.code));
    m.insert("name".into(), json!(g.name));
    m.extend(figures(g.served, &g.faces));
    Value::Object(m)
}

fn waiting(w: &Waiting) -> Value {
    json!({
        "service": w.service_code,
        "name": w.name,
        "standard_min": w.standard_min,
        "counted": w.counted,
        "left_out": w.left_out,
        "avg_ms": w.avg_ms().map(|v| v.round() as i64),
        "p90_ms": w.p90_ms,
        "within_standard": w.within,
        "within_standard_pct": p(w.within_share()),
    })
}

fn month(m: &MonthFigures) -> Value {
    json!({
        "month": m.month,
        "totals": Value::Object(figures(Some(m.served), &m.faces)),
        "by_counter": m.by_counter.iter().map(group).collect::<Vec<_>>(),
        "by_service": m.by_service.iter().map(group).collect::<Vec<_>>(),
        "by_channel": m.by_channel.iter().map(group).collect::<Vec<_>>(),
        "waiting": m.waiting.iter().map(waiting).collect::<Vec<_>>(),
    })
}

fn lang_code(lang: Lang) -> &'static str {
    match lang {
        Lang::It => "it",
        Lang::En => "en",
    }
}

pub fn monthly(r: &MonthlyReport, lang: Lang) -> Value {
    let c = &r.current;
    let mut v = month(c);
    if let Value::Object(m) = &mut v {
        let mut head = Map::new();
        head.insert("schema".into(), json!(MONTHLY_SCHEMA));
        head.insert("rounding".into(), json!(ROUNDING));
        head.insert(
            "site".into(),
            json!({"id": r.site_id, "name": r.site_name, "time_zone": r.time_zone}),
        );
        head.insert("lang".into(), json!(lang_code(lang)));
        head.insert("summary".into(), json!(words::summary_sentence(c, lang)));
        head.insert(
            "participation_text".into(),
            json!(words::participation_sentence(c, lang)),
        );
        head.extend(std::mem::take(m));
        head.insert(
            "previous".into(),
            json!({
                "month": r.previous.month,
                "totals": Value::Object(figures(Some(r.previous.served), &r.previous.faces)),
            }),
        );
        head.insert(
            "change".into(),
            json!({
                "served": r.change.served,
                "votes": r.change.votes,
                "participation_points": points(r.change.participation_tenths),
                "green_points": points(r.change.green_tenths),
                "yellow_points": points(r.change.yellow_tenths),
                "red_points": points(r.change.red_tenths),
            }),
        );
        *m = head;
    }
    v
}

pub fn annual(r: &AnnualReport, lang: Lang) -> Value {
    json!({
        "schema": ANNUAL_SCHEMA,
        "rounding": ROUNDING,
        "site": {"id": r.site_id, "name": r.site_name, "time_zone": r.time_zone},
        "lang": lang_code(lang),
        "year": r.year,
        "totals": Value::Object(figures(Some(r.served), &r.faces)),
        "months": r.months.iter().map(|m| {
            let mut o = Map::new();
            o.insert("month".into(), json!(m.month));
            o.extend(figures(Some(m.served), &m.faces));
            o.insert("waiting".into(), json!(m.waiting.iter().map(waiting).collect::<Vec<_>>()));
            Value::Object(o)
        }).collect::<Vec<_>>(),
        "standards": {
            "target_pct": Share::of(r.target_tenths, 1000).map(|s| s.percent()),
            "services": r.standards.iter().map(|s| json!({
                "service": s.service_code,
                "name": s.name,
                "standard_min": s.standard_min,
                "months": s.months.iter().enumerate().map(|(i, (c, w))| json!({
                    "month": YearMonth { year: r.year, month: i as u32 + 1 },
                    "counted": c,
                    "within_standard": w,
                    "within_standard_pct": p(s.month_share(i)),
                })).collect::<Vec<_>>(),
                "counted": s.counted,
                "within_standard": s.within,
                "within_standard_pct": p(s.year_share()),
                "met": s.met,
            })).collect::<Vec<_>>(),
        },
    })
}

pub fn export(
    rows: &[ExportRow],
    offices: &[ReportContext],
    from: YearMonth,
    to: YearMonth,
) -> Value {
    json!({
        "schema": EXPORT_SCHEMA,
        "offices": offices.iter().map(|o| json!({
            "id": o.site_id,
            "name": o.site_name,
            "time_zone": o.time_zone.name(),
        })).collect::<Vec<_>>(),
        "from": from,
        "to": to,
        "rows": rows.iter().map(|r| json!({
            "month": r.month,
            "office": r.office,
            "office_name": r.office_name,
            "channel": r.channel,
            "service": r.service,
            "served": r.served,
            "votes": r.faces.votes,
            "green": r.faces.green,
            "yellow": r.faces.yellow,
            "red": r.faces.red,
            "reasons": {
                "1": r.faces.reasons[0],
                "2": r.faces.reasons[1],
                "3": r.faces.reasons[2],
                "4": r.faces.reasons[3],
            },
            "red_without_reason": r.faces.red_without_reason,
        })).collect::<Vec<_>>(),
    })
}

fn previous_and_change(previous: &MonthTotals, change: &crate::model::Change) -> (Value, Value) {
    (
        json!({
            "month": previous.month,
            "totals": Value::Object(figures(Some(previous.served), &previous.faces)),
        }),
        json!({
            "served": change.served,
            "votes": change.votes,
            "participation_points": points(change.participation_tenths),
            "green_points": points(change.green_tenths),
            "yellow_points": points(change.yellow_tenths),
            "red_points": points(change.red_tenths),
        }),
    )
}

/// `faccia.report.body-monthly/1`: the body's totals, channels, previous month and change,
/// and every office's own `faccia.report.monthly/1` document under `offices`.
pub fn monthly_body(r: &BodyMonthlyReport, lang: Lang) -> Value {
    let (previous, change) = previous_and_change(&r.previous, &r.change);
    json!({
        "schema": BODY_MONTHLY_SCHEMA,
        "rounding": ROUNDING,
        "lang": lang_code(lang),
        "month": r.month,
        "summary": words::totals_summary_sentence(&r.totals, lang),
        "participation_text": words::totals_participation_sentence(&r.totals, lang),
        "totals": Value::Object(figures(Some(r.totals.served), &r.totals.faces)),
        "by_channel": r.by_channel.iter().map(group).collect::<Vec<_>>(),
        "previous": previous,
        "change": change,
        "offices": r.offices.iter().map(|o| monthly(o, lang)).collect::<Vec<_>>(),
    })
}

/// `faccia.report.body-annual/1`: the body's year and months, and every office's own
/// `faccia.report.annual/1` document (with its standards review) under `offices`.
pub fn annual_body(r: &BodyAnnualReport, lang: Lang) -> Value {
    json!({
        "schema": BODY_ANNUAL_SCHEMA,
        "rounding": ROUNDING,
        "lang": lang_code(lang),
        "year": r.year,
        "totals": Value::Object(figures(Some(r.served), &r.faces)),
        "months": r.months.iter().map(|m| {
            let mut o = Map::new();
            o.insert("month".into(), json!(m.month));
            o.extend(figures(Some(m.served), &m.faces));
            Value::Object(o)
        }).collect::<Vec<_>>(),
        "offices": r.offices.iter().map(|o| annual(o, lang)).collect::<Vec<_>>(),
    })
}
