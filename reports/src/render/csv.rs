//! CSV. Monthly and annual tables follow the language: Italian uses `;` between fields and the
//! decimal comma (what an Italian spreadsheet opens directly), English `,` and the decimal point.
//! The Ministry export is language-independent: `,`, counts only, no percentages.

use faccia_domain::{Lang, Share};

use crate::model::{
    AnnualReport, BodyAnnualReport, BodyMonthlyReport, ExportRow, Faces, Group, MonthlyReport,
    Waiting,
};
use crate::words::pct_cell;

fn sep(lang: Lang) -> char {
    match lang {
        Lang::It => ';',
        Lang::En => ',',
    }
}

/// Quotes a field when it holds the separator, a quote or a line break (RFC 4180).
pub(crate) fn field(s: &str, sep: char) -> String {
    if s.contains(sep) || s.contains('"') || s.contains('\n') || s.contains('\r') {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

fn line(out: &mut String, cells: &[String], sep: char) {
    let joined: Vec<String> = cells.iter().map(|c| field(c, sep)).collect();
    out.push_str(&joined.join(&sep.to_string()));
    out.push_str("\r\n");
}

fn dec(v: Option<f64>, lang: Lang) -> String {
    v.map(|v| faccia_domain::figures::format_decimal(v / 60_000.0, 1, lang))
        .unwrap_or_default()
}

const FACE_COLUMNS: [&str; 14] = [
    "served",
    "votes",
    "participation_pct",
    "green",
    "green_pct",
    "yellow",
    "yellow_pct",
    "red",
    "red_pct",
    "reason_1_waiting_time",
    "reason_2_staff_behaviour",
    "reason_3_had_to_come_back",
    "reason_4_negative_outcome",
    "red_without_reason",
];

fn face_cells(served: Option<u64>, f: &Faces, lang: Lang) -> Vec<String> {
    let participation = served.and_then(|s| Share::of(f.votes, s));
    let mut v = vec![
        served.map(|s| s.to_string()).unwrap_or_default(),
        f.votes.to_string(),
        pct_cell(participation, lang),
        f.green.to_string(),
        pct_cell(f.green_share(), lang),
        f.yellow.to_string(),
        pct_cell(f.yellow_share(), lang),
        f.red.to_string(),
        pct_cell(f.red_share(), lang),
    ];
    v.extend(f.reasons.iter().map(|r| r.to_string()));
    v.push(f.red_without_reason.to_string());
    v
}

const WAIT_COLUMNS: [&str; 6] = [
    "standard_min",
    "wait_counted",
    "wait_left_out",
    "avg_wait_min",
    "p90_wait_min",
    "within_standard_pct",
];

fn wait_cells(w: Option<&Waiting>, lang: Lang) -> Vec<String> {
    match w {
        None => vec![String::new(); WAIT_COLUMNS.len()],
        Some(w) => vec![
            w.standard_min.map(|s| s.to_string()).unwrap_or_default(),
            w.counted.to_string(),
            w.left_out.to_string(),
            dec(w.avg_ms(), lang),
            dec(w.p90_ms.map(|v| v as f64), lang),
            pct_cell(w.within_share(), lang),
        ],
    }
}

/// One table: `section` is `total`, `previous_total`, `counter`, `service` or `channel`;
/// service rows also carry the waiting-time columns.
pub fn monthly(r: &MonthlyReport, lang: Lang) -> String {
    let s = sep(lang);
    let mut out = String::new();
    let mut header: Vec<String> = ["month", "section", "code", "name"]
        .map(String::from)
        .to_vec();
    header.extend(FACE_COLUMNS.map(String::from));
    header.extend(WAIT_COLUMNS.map(String::from));
    line(&mut out, &header, s);
    for v in monthly_rows(r, lang) {
        line(&mut out, &v, s);
    }
    out
}

/// The rows of [`monthly`] (without the header).
fn monthly_rows(r: &MonthlyReport, lang: Lang) -> Vec<Vec<String>> {
    let mut out: Vec<Vec<String>> = Vec::new();
    let c = &r.current;
    let month = c.month.to_string();
    let mut row =
        |section: &str, code: &str, name: &str, cells: Vec<String>, w: Option<&Waiting>| {
            let mut v = vec![
                month.clone(),
                section.to_string(),
                code.to_string(),
                name.to_string(),
            ];
            v.extend(cells);
            v.extend(wait_cells(w, lang));
            out.push(v);
        };
    row(
        "total",
        "",
        &r.site_name,
        face_cells(Some(c.served), &c.faces, lang),
        None,
    );
    let group = |g: &Group| face_cells(g.served, &g.faces, lang);
    for g in &c.by_counter {
        row(
            "counter",
            &g.code,
            g.name.as_deref().unwrap_or(""),
            group(g),
            None,
        );
    }
    for g in &c.by_service {
        let w = c.waiting.iter().find(|w| w.service_code == g.code);
        row(
            "service",
            &g.code,
            g.name.as_deref().unwrap_or(""),
            group(g),
            w,
        );
    }
    for g in &c.by_channel {
        row("channel", &g.code, "", group(g), None);
    }
    let p = &r.previous;
    let mut v = vec![
        p.month.to_string(),
        "previous_total".into(),
        String::new(),
        r.site_name.clone(),
    ];
    v.extend(face_cells(Some(p.served), &p.faces, lang));
    v.extend(wait_cells(None, lang));
    out.push(v);
    out
}

/// The monthly publication of the body: every office's rows of [`monthly`] with the office's
/// id and name after the month, then the body's `body_total`, `body_channel` and
/// `body_previous_total` rows (office empty).
pub fn monthly_body(r: &BodyMonthlyReport, lang: Lang) -> String {
    let s = sep(lang);
    let mut out = String::new();
    let mut header: Vec<String> = ["month", "office", "office_name", "section", "code", "name"]
        .map(String::from)
        .to_vec();
    header.extend(FACE_COLUMNS.map(String::from));
    header.extend(WAIT_COLUMNS.map(String::from));
    line(&mut out, &header, s);
    for o in &r.offices {
        for mut v in monthly_rows(o, lang) {
            v.splice(1..1, [o.site_id.clone(), o.site_name.clone()]);
            line(&mut out, &v, s);
        }
    }
    let mut body = |month: String, section: &str, code: &str, cells: Vec<String>| {
        let mut v = vec![
            month,
            String::new(),
            String::new(),
            section.to_string(),
            code.to_string(),
            String::new(),
        ];
        v.extend(cells);
        v.extend(wait_cells(None, lang));
        line(&mut out, &v, s);
    };
    let t = &r.totals;
    body(
        t.month.to_string(),
        "body_total",
        "",
        face_cells(Some(t.served), &t.faces, lang),
    );
    for g in &r.by_channel {
        body(
            t.month.to_string(),
            "body_channel",
            &g.code,
            face_cells(g.served, &g.faces, lang),
        );
    }
    let p = &r.previous;
    body(
        p.month.to_string(),
        "body_previous_total",
        "",
        face_cells(Some(p.served), &p.faces, lang),
    );
    out
}

/// The columns of the standards in the body's annual CSV.
const STANDARD_COLUMNS: [&str; 5] = [
    "service",
    "standard_min",
    "wait_counted",
    "within_standard",
    "within_standard_pct",
];

/// The annual review of the body, one table: per office its `month` rows (twelve), its `year`
/// row and its `standard` rows (per service with a declared standard, per month and for the
/// year); then the body's `body_month` and `body_year` rows (office empty).
pub fn annual_body(r: &BodyAnnualReport, lang: Lang) -> String {
    let s = sep(lang);
    let mut out = String::new();
    let mut header: Vec<String> = ["office", "office_name", "section", "month"]
        .map(String::from)
        .to_vec();
    header.extend(FACE_COLUMNS.map(String::from));
    header.extend(STANDARD_COLUMNS.map(String::from));
    line(&mut out, &header, s);
    let no_standard = || vec![String::new(); STANDARD_COLUMNS.len()];
    let mut row = |office: (&str, &str), section: &str, month: String, cells: Vec<String>| {
        let mut v = vec![
            office.0.to_string(),
            office.1.to_string(),
            section.to_string(),
            month,
        ];
        v.extend(cells);
        line(&mut out, &v, s);
    };
    for o in &r.offices {
        let id = (o.site_id.as_str(), o.site_name.as_str());
        for m in &o.months {
            let mut cells = face_cells(Some(m.served), &m.faces, lang);
            cells.extend(no_standard());
            row(id, "month", m.month.to_string(), cells);
        }
        let mut cells = face_cells(Some(o.served), &o.faces, lang);
        cells.extend(no_standard());
        row(id, "year", o.year.to_string(), cells);
        for st in &o.standards {
            let periods = st
                .months
                .iter()
                .enumerate()
                .map(|(i, (c, w))| {
                    (
                        format!("{}-{:02}", o.year, i + 1),
                        *c,
                        *w,
                        st.month_share(i),
                    )
                })
                .chain(std::iter::once((
                    o.year.to_string(),
                    st.counted,
                    st.within,
                    st.year_share(),
                )));
            for (month, counted, within, share) in periods {
                let mut cells = vec![String::new(); FACE_COLUMNS.len()];
                cells.extend([
                    st.service_code.clone(),
                    st.standard_min.to_string(),
                    counted.to_string(),
                    within.to_string(),
                    pct_cell(share, lang),
                ]);
                row(id, "standard", month, cells);
            }
        }
    }
    for m in &r.months {
        let mut cells = face_cells(Some(m.served), &m.faces, lang);
        cells.extend(no_standard());
        row(("", ""), "body_month", m.month.to_string(), cells);
    }
    let mut cells = face_cells(Some(r.served), &r.faces, lang);
    cells.extend(no_standard());
    row(("", ""), "body_year", r.year.to_string(), cells);
    out
}

/// One row per month and a `total` row; then one `within_<service>_pct` column per service
/// with a declared standard.
pub fn annual(r: &AnnualReport, lang: Lang) -> String {
    let s = sep(lang);
    let mut out = String::new();
    let mut header: Vec<String> = vec!["month".into()];
    header.extend(FACE_COLUMNS.map(String::from));
    for st in &r.standards {
        header.push(format!("within_{}_pct", st.service_code));
    }
    line(&mut out, &header, s);
    for (i, m) in r.months.iter().enumerate() {
        let mut v = vec![m.month.to_string()];
        v.extend(face_cells(Some(m.served), &m.faces, lang));
        v.extend(
            r.standards
                .iter()
                .map(|st| pct_cell(st.month_share(i), lang)),
        );
        line(&mut out, &v, s);
    }
    let mut v = vec![r.year.to_string()];
    v.extend(face_cells(Some(r.served), &r.faces, lang));
    v.extend(r.standards.iter().map(|st| pct_cell(st.year_share(), lang)));
    line(&mut out, &v, s);
    out
}

/// The Ministry export's columns (see docs/reports.md; `office_name` since version 2).
pub const EXPORT_COLUMNS: [&str; 15] = [
    "month",
    "office",
    "office_name",
    "channel",
    "service",
    "served",
    "votes",
    "green",
    "yellow",
    "red",
    "reason_1",
    "reason_2",
    "reason_3",
    "reason_4",
    "red_without_reason",
];

pub fn export(rows: &[ExportRow]) -> String {
    let mut out = String::new();
    line(&mut out, &EXPORT_COLUMNS.map(String::from), ',');
    for r in rows {
        let f = &r.faces;
        let mut v = vec![
            r.month.to_string(),
            r.office.clone(),
            r.office_name.clone(),
            r.channel.clone(),
            r.service.clone(),
            r.served.map(|s| s.to_string()).unwrap_or_default(),
            f.votes.to_string(),
            f.green.to_string(),
            f.yellow.to_string(),
            f.red.to_string(),
        ];
        v.extend(f.reasons.iter().map(|n| n.to_string()));
        v.push(f.red_without_reason.to_string());
        line(&mut out, &v, ',');
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn quotes_fields() {
        assert_eq!(
            super::field("Carta d'identità; CIE", ';'),
            "\"Carta d'identità; CIE\""
        );
        assert_eq!(super::field("a\"b", ','), "\"a\"\"b\"");
        assert_eq!(super::field("plain", ','), "plain");
    }
}
