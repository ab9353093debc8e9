//! Plain text for the terminal.

use std::fmt::Write;

use faccia_domain::Lang;

use crate::model::{
    AnnualReport, BodyAnnualReport, BodyMonthlyReport, Change, Faces, Group, MonthFigures,
    MonthTotals, MonthlyReport,
};
use crate::words::{self, group_name, int, labels, minutes, pct, points, signed_int, DASH};

/// A table: first column left-aligned, the others right-aligned.
pub(crate) fn table(out: &mut String, header: &[String], rows: &[Vec<String>]) {
    let cols = header.len();
    let mut w = vec![0usize; cols];
    for r in std::iter::once(header).chain(rows.iter().map(|r| r.as_slice())) {
        for (i, c) in r.iter().enumerate().take(cols) {
            w[i] = w[i].max(c.chars().count());
        }
    }
    let line = |out: &mut String, r: &[String]| {
        for (i, c) in r.iter().enumerate().take(cols) {
            let pad = w[i] - c.chars().count();
            if i == 0 {
                out.push_str(c);
                out.push_str(&" ".repeat(pad));
            } else {
                out.push_str("  ");
                out.push_str(&" ".repeat(pad));
                out.push_str(c);
            }
        }
        let trimmed = out.trim_end_matches(' ').len();
        out.truncate(trimmed);
        out.push('\n');
    };
    line(out, header);
    let total: usize = w.iter().sum::<usize>() + 2 * cols.saturating_sub(1);
    out.push_str(&"-".repeat(total));
    out.push('\n');
    for r in rows {
        line(out, r);
    }
    out.push('\n');
}

fn group_rows(groups: &[Group], is_channel: bool, lang: Lang) -> Vec<Vec<String>> {
    groups
        .iter()
        .map(|g| {
            vec![
                group_name(&g.code, g.name.as_deref(), is_channel, lang),
                g.served
                    .map(|s| int(s, lang))
                    .unwrap_or_else(|| DASH.to_string()),
                int(g.faces.votes, lang),
                pct(g.participation(), lang),
                pct(g.faces.green_share(), lang),
                pct(g.faces.yellow_share(), lang),
                pct(g.faces.red_share(), lang),
            ]
        })
        .collect()
}

fn group_header(first: &str, lang: Lang) -> Vec<String> {
    let l = labels(lang);
    [
        first,
        l.served,
        l.votes,
        l.participation,
        l.green,
        l.yellow,
        l.red,
    ]
    .iter()
    .map(|s| s.to_string())
    .collect()
}

fn faces_rows(f: &Faces, lang: Lang) -> Vec<Vec<String>> {
    let l = labels(lang);
    vec![
        vec![
            l.green.into(),
            int(f.green, lang),
            pct(f.green_share(), lang),
        ],
        vec![
            l.yellow.into(),
            int(f.yellow, lang),
            pct(f.yellow_share(), lang),
        ],
        vec![l.red.into(), int(f.red, lang), pct(f.red_share(), lang)],
    ]
}

pub(crate) fn reason_rows(f: &Faces, lang: Lang) -> Vec<Vec<String>> {
    let l = labels(lang);
    let mut rows: Vec<Vec<String>> = (0..4)
        .map(|i| {
            vec![
                l.reasons[i].to_string(),
                int(f.reasons[i], lang),
                pct(f.reason_share(i), lang),
            ]
        })
        .collect();
    rows.push(vec![
        l.no_reason.to_string(),
        int(f.red_without_reason, lang),
        pct(faccia_domain::Share::of(f.red_without_reason, f.red), lang),
    ]);
    rows
}

pub(crate) fn waiting_rows(m: &MonthFigures, lang: Lang) -> Vec<Vec<String>> {
    m.waiting
        .iter()
        .map(|w| {
            vec![
                group_name(&w.service_code, w.name.as_deref(), false, lang),
                int(w.counted, lang),
                int(w.left_out, lang),
                minutes(w.avg_ms(), lang),
                minutes(w.p90_ms.map(|v| v as f64), lang),
                w.standard_min
                    .map(|s| int(u64::from(s), lang))
                    .unwrap_or_else(|| DASH.into()),
                pct(w.within_share(), lang),
            ]
        })
        .collect()
}

pub(crate) fn waiting_header(lang: Lang) -> Vec<String> {
    let l = labels(lang);
    [
        l.service, l.counted, l.left_out, l.avg_wait, l.p90_wait, l.standard, l.within,
    ]
    .iter()
    .map(|s| s.to_string())
    .collect()
}

pub(crate) fn change_rows(r: &MonthlyReport, lang: Lang) -> Vec<Vec<String>> {
    totals_change_rows(&r.current.totals(), &r.previous, &r.change, lang)
}

/// The change from the previous month, from the two months' totals.
pub(crate) fn totals_change_rows(
    c: &MonthTotals,
    p: &MonthTotals,
    ch: &Change,
    lang: Lang,
) -> Vec<Vec<String>> {
    let l = labels(lang);
    let pts = |t: Option<i64>| match t {
        Some(_) => format!("{} {}", points(t, lang), l.points),
        None => DASH.to_string(),
    };
    vec![
        vec![
            l.served.into(),
            int(p.served, lang),
            int(c.served, lang),
            signed_int(ch.served, lang),
        ],
        vec![
            l.votes.into(),
            int(p.faces.votes, lang),
            int(c.faces.votes, lang),
            signed_int(ch.votes, lang),
        ],
        vec![
            l.participation.into(),
            pct(p.participation(), lang),
            pct(c.participation(), lang),
            pts(ch.participation_tenths),
        ],
        vec![
            l.green.into(),
            pct(p.faces.green_share(), lang),
            pct(c.faces.green_share(), lang),
            pts(ch.green_tenths),
        ],
        vec![
            l.yellow.into(),
            pct(p.faces.yellow_share(), lang),
            pct(c.faces.yellow_share(), lang),
            pts(ch.yellow_tenths),
        ],
        vec![
            l.red.into(),
            pct(p.faces.red_share(), lang),
            pct(c.faces.red_share(), lang),
            pts(ch.red_tenths),
        ],
    ]
}

pub(crate) fn month_title(m: crate::period::YearMonth, lang: Lang) -> String {
    format!("{} {}", m.name(lang), m.year)
}

pub fn monthly(r: &MonthlyReport, lang: Lang) -> String {
    let l = labels(lang);
    let c = &r.current;
    let mut out = String::new();
    let _ = writeln!(out, "{}", l.monthly_title);
    let _ = writeln!(
        out,
        "{} ({}), {}\n",
        r.site_name,
        r.site_id,
        month_title(c.month, lang)
    );
    let _ = writeln!(out, "{}", words::summary_sentence(c, lang));
    let _ = writeln!(out, "{}\n", words::participation_sentence(c, lang));
    table(
        &mut out,
        &[l.satisfaction_title.into(), l.votes.into(), "%".into()],
        &faces_rows(&c.faces, lang),
    );
    let _ = writeln!(out, "{}", l.reasons_title);
    table(
        &mut out,
        &[String::new(), l.votes.into(), "%".into()],
        &reason_rows(&c.faces, lang),
    );
    let _ = writeln!(out, "{}", l.change_title);
    table(
        &mut out,
        &[
            String::new(),
            month_title(r.previous.month, lang),
            month_title(c.month, lang),
            l.change.into(),
        ],
        &change_rows(r, lang),
    );
    for (title, groups, first, ch) in [
        (l.by_counter, &c.by_counter, l.counter, false),
        (l.by_service, &c.by_service, l.service, false),
        (l.by_channel, &c.by_channel, l.channel, true),
    ] {
        let _ = writeln!(out, "{title}");
        table(
            &mut out,
            &group_header(first, lang),
            &group_rows(groups, ch, lang),
        );
    }
    let _ = writeln!(out, "{}", l.waiting_title);
    table(&mut out, &waiting_header(lang), &waiting_rows(c, lang));
    let _ = writeln!(out, "{}", l.left_out_note);
    out
}

pub(crate) fn annual_rows(r: &AnnualReport, lang: Lang) -> Vec<Vec<String>> {
    let l = labels(lang);
    let mut rows: Vec<Vec<String>> = r
        .months
        .iter()
        .map(|m| {
            vec![
                m.month.name(lang).to_string(),
                int(m.served, lang),
                int(m.faces.votes, lang),
                pct(m.participation(), lang),
                pct(m.faces.green_share(), lang),
                pct(m.faces.yellow_share(), lang),
                pct(m.faces.red_share(), lang),
            ]
        })
        .collect();
    rows.push(vec![
        format!("{} {}", l.total, r.year),
        int(r.served, lang),
        int(r.faces.votes, lang),
        pct(r.participation(), lang),
        pct(r.faces.green_share(), lang),
        pct(r.faces.yellow_share(), lang),
        pct(r.faces.red_share(), lang),
    ]);
    rows
}

pub(crate) fn standards_rows(r: &AnnualReport, lang: Lang) -> (Vec<String>, Vec<Vec<String>>) {
    let l = labels(lang);
    let mut header = vec![l.service.to_string(), l.standard.to_string()];
    header.extend((1..=12).map(|m| {
        crate::period::month_name(m, lang)
            .chars()
            .take(3)
            .collect::<String>()
    }));
    header.push(r.year.to_string());
    header.push(format!(
        "{} {}",
        l.target,
        pct(faccia_domain::Share::of(r.target_tenths, 1000), lang)
    ));
    let rows = r
        .standards
        .iter()
        .map(|s| {
            let mut row = vec![
                group_name(&s.service_code, s.name.as_deref(), false, lang),
                int(u64::from(s.standard_min), lang),
            ];
            row.extend((0..12).map(|i| pct(s.month_share(i), lang)));
            row.push(pct(s.year_share(), lang));
            row.push(match s.met {
                Some(true) => l.met.to_string(),
                Some(false) => l.not_met.to_string(),
                None => l.no_data.to_string(),
            });
            row
        })
        .collect();
    (header, rows)
}

pub fn annual(r: &AnnualReport, lang: Lang) -> String {
    let l = labels(lang);
    let mut out = String::new();
    let _ = writeln!(out, "{}", l.annual_title);
    let _ = writeln!(
        out,
        "{} ({}), {} {}\n",
        r.site_name,
        r.site_id,
        l.year.to_lowercase(),
        r.year
    );
    table(
        &mut out,
        &group_header(l.month, lang),
        &annual_rows(r, lang),
    );
    let _ = writeln!(out, "{}", l.standards_title);
    let (h, rows) = standards_rows(r, lang);
    table(&mut out, &h, &rows);
    let _ = writeln!(out, "{}", l.left_out_note);
    out
}

/// A count with its share: `2 (50,0%)`.
fn count_pct(n: u64, share: Option<faccia_domain::Share>, lang: Lang) -> String {
    format!("{} ({})", int(n, lang), pct(share, lang))
}

/// One row per office and the body's total: served, votes, participation and the three shares.
pub(crate) fn office_rows<'a>(
    offices: impl Iterator<Item = (&'a str, u64, &'a Faces)>,
    total: (u64, &Faces),
    lang: Lang,
) -> Vec<Vec<String>> {
    let l = labels(lang);
    let row = |name: &str, served: u64, f: &Faces| {
        vec![
            name.to_string(),
            int(served, lang),
            int(f.votes, lang),
            pct(faccia_domain::Share::of(f.votes, served), lang),
            pct(f.green_share(), lang),
            pct(f.yellow_share(), lang),
            pct(f.red_share(), lang),
        ]
    };
    let mut rows: Vec<Vec<String>> = offices.map(|(n, s, f)| row(n, s, f)).collect();
    rows.push(row(l.total, total.0, total.1));
    rows
}

pub(crate) fn office_header(lang: Lang) -> Vec<String> {
    group_header(labels(lang).office, lang)
}

/// One row per office and the body's total: the red votes by reason, with their shares.
pub(crate) fn office_reason_rows<'a>(
    offices: impl Iterator<Item = (&'a str, &'a Faces)>,
    total: &Faces,
    lang: Lang,
) -> Vec<Vec<String>> {
    let l = labels(lang);
    let row = |name: &str, f: &Faces| {
        let mut r = vec![name.to_string(), int(f.red, lang)];
        r.extend((0..4).map(|i| count_pct(f.reasons[i], f.reason_share(i), lang)));
        r.push(count_pct(
            f.red_without_reason,
            f.red_without_reason_share(),
            lang,
        ));
        r
    };
    let mut rows: Vec<Vec<String>> = offices.map(|(n, f)| row(n, f)).collect();
    rows.push(row(l.total, total));
    rows
}

pub(crate) fn office_reason_header(lang: Lang) -> Vec<String> {
    let l = labels(lang);
    let mut h = vec![l.office.to_string(), l.red.to_string()];
    h.extend(l.reasons.iter().map(|r| r.to_string()));
    h.push(l.no_reason.to_string());
    h
}

/// "Ogni ufficio conta giorni e mesi nel proprio fuso orario: A (Europe/Rome), B (…)."
pub(crate) fn time_zones_sentence<'a>(
    offices: impl Iterator<Item = (&'a str, &'a str)>,
    lang: Lang,
) -> String {
    let list: Vec<String> = offices.map(|(n, tz)| format!("{n} ({tz})")).collect();
    format!("{}: {}.", labels(lang).time_zones_note, list.join(", "))
}

/// The monthly publication of the body: the body's sentences, one row per office with the
/// body's total, the reasons by office, the change and the channels of the body, then every
/// office's own page.
pub fn monthly_body(r: &BodyMonthlyReport, lang: Lang) -> String {
    let l = labels(lang);
    let mut out = String::new();
    let _ = writeln!(out, "{}", l.monthly_title);
    let _ = writeln!(
        out,
        "{} ({}), {}\n",
        l.all_offices,
        r.offices.len(),
        month_title(r.month, lang)
    );
    let _ = writeln!(out, "{}", words::totals_summary_sentence(&r.totals, lang));
    let _ = writeln!(
        out,
        "{}\n",
        words::totals_participation_sentence(&r.totals, lang)
    );
    let _ = writeln!(out, "{}", l.by_office);
    table(
        &mut out,
        &office_header(lang),
        &office_rows(
            r.offices
                .iter()
                .map(|o| (o.site_name.as_str(), o.current.served, &o.current.faces)),
            (r.totals.served, &r.totals.faces),
            lang,
        ),
    );
    let _ = writeln!(out, "{}", l.reasons_by_office);
    table(
        &mut out,
        &office_reason_header(lang),
        &office_reason_rows(
            r.offices
                .iter()
                .map(|o| (o.site_name.as_str(), &o.current.faces)),
            &r.totals.faces,
            lang,
        ),
    );
    let _ = writeln!(out, "{}", l.change_title);
    table(
        &mut out,
        &[
            String::new(),
            month_title(r.previous.month, lang),
            month_title(r.month, lang),
            l.change.into(),
        ],
        &totals_change_rows(&r.totals, &r.previous, &r.change, lang),
    );
    let _ = writeln!(out, "{}", l.by_channel);
    table(
        &mut out,
        &group_header(l.channel, lang),
        &group_rows(&r.by_channel, true, lang),
    );
    let _ = writeln!(
        out,
        "{}\n",
        time_zones_sentence(
            r.offices
                .iter()
                .map(|o| (o.site_name.as_str(), o.time_zone.as_str())),
            lang
        )
    );
    let _ = writeln!(out, "{}", l.office_detail);
    for o in &r.offices {
        let _ = writeln!(out, "{}\n", "=".repeat(72));
        out.push_str(&monthly(o, lang));
        out.push('\n');
    }
    out
}

/// The annual review of the body: one row per office with the body's year, the body's months,
/// then every office's own review (standards are the offices' own).
pub fn annual_body(r: &BodyAnnualReport, lang: Lang) -> String {
    let l = labels(lang);
    let mut out = String::new();
    let _ = writeln!(out, "{}", l.annual_title);
    let _ = writeln!(
        out,
        "{} ({}), {} {}\n",
        l.all_offices,
        r.offices.len(),
        l.year.to_lowercase(),
        r.year
    );
    let _ = writeln!(out, "{}", l.by_office);
    table(
        &mut out,
        &office_header(lang),
        &office_rows(
            r.offices
                .iter()
                .map(|o| (o.site_name.as_str(), o.served, &o.faces)),
            (r.served, &r.faces),
            lang,
        ),
    );
    let _ = writeln!(out, "{}", l.reasons_by_office);
    table(
        &mut out,
        &office_reason_header(lang),
        &office_reason_rows(
            r.offices.iter().map(|o| (o.site_name.as_str(), &o.faces)),
            &r.faces,
            lang,
        ),
    );
    let _ = writeln!(out, "{}", l.trend_title);
    table(
        &mut out,
        &group_header(l.month, lang),
        &body_annual_rows(r, lang),
    );
    let _ = writeln!(
        out,
        "{}\n",
        time_zones_sentence(
            r.offices
                .iter()
                .map(|o| (o.site_name.as_str(), o.time_zone.as_str())),
            lang
        )
    );
    let _ = writeln!(out, "{}", l.office_detail);
    for o in &r.offices {
        let _ = writeln!(out, "{}\n", "=".repeat(72));
        out.push_str(&annual(o, lang));
        out.push('\n');
    }
    out
}

/// The body's twelve months and its year.
pub(crate) fn body_annual_rows(r: &BodyAnnualReport, lang: Lang) -> Vec<Vec<String>> {
    let l = labels(lang);
    let row = |label: String, served: u64, f: &Faces| {
        vec![
            label,
            int(served, lang),
            int(f.votes, lang),
            pct(faccia_domain::Share::of(f.votes, served), lang),
            pct(f.green_share(), lang),
            pct(f.yellow_share(), lang),
            pct(f.red_share(), lang),
        ]
    };
    let mut rows: Vec<Vec<String>> = r
        .months
        .iter()
        .map(|m| row(m.month.name(lang).to_string(), m.served, &m.faces))
        .collect();
    rows.push(row(format!("{} {}", l.total, r.year), r.served, &r.faces));
    rows
}
