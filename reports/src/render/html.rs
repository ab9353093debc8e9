//! One self-contained HTML page for the office website: no scripts, no external files, charts
//! as inline SVG with `<title>`/`<desc>` and `role="img"`, every chart's data also in a table,
//! colours with enough contrast and never the only carrier of meaning.

use std::fmt::Write;

use faccia_domain::{Lang, Share};

use crate::model::{AnnualReport, BodyAnnualReport, BodyMonthlyReport, Faces, MonthlyReport};
use crate::period::YearMonth;
use crate::render::text::{
    self, annual_rows, change_rows, month_title, reason_rows, standards_rows, waiting_header,
    waiting_rows,
};
use crate::words::{self, group_name, int, labels, pct, DASH};

const GREEN: &str = "#1a7f37";
const YELLOW: &str = "#e0b000";
const RED: &str = "#c62828";
const INK: &str = "#1b1b1b";

/// Escapes text for HTML content and attribute values.
pub fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for ch in s.chars() {
        match ch {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

const STYLE: &str = "
:root{color-scheme:light}
body{margin:0;background:#fff;color:#1b1b1b;font:16px/1.5 system-ui,-apple-system,'Segoe UI',Roboto,'Helvetica Neue',Arial,sans-serif}
main{max-width:72rem;margin:0 auto;padding:1.5rem}
tbody th{text-align:left;font-weight:600}
table.wide{font-size:.875rem}
table.wide th,table.wide td{padding:.25rem .4rem}
h1{font-size:1.6rem;margin:0 0 .25rem}
h2{font-size:1.25rem;margin:2rem 0 .5rem;border-bottom:2px solid #0b4f8a;padding-bottom:.2rem}
.site{margin:0;color:#3d3d3d}
.summary{font-size:1.15rem;background:#f2f6fa;border-left:4px solid #0b4f8a;padding:.75rem 1rem}
table{border-collapse:collapse;margin:.5rem 0 1rem;min-width:50%}
caption{text-align:left;font-weight:600;padding:.25rem 0}
th,td{border:1px solid #8a8a8a;padding:.3rem .6rem;vertical-align:top}
thead th{background:#e4ebf2}
td.n,th.n{text-align:right;font-variant-numeric:tabular-nums}
.wrap{overflow-x:auto}
svg{max-width:100%;height:auto;display:block;margin:.5rem 0}
.note{color:#3d3d3d;font-size:.9rem}
.met{font-weight:600}
footer{margin-top:2rem;border-top:1px solid #8a8a8a;padding-top:.5rem;color:#3d3d3d;font-size:.9rem}
";

fn head(out: &mut String, title: &str, lang: Lang) {
    let code = match lang {
        Lang::It => "it",
        Lang::En => "en",
    };
    let _ = write!(
        out,
        "<!DOCTYPE html>\n<html lang=\"{code}\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>{}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n<main>\n",
        esc(title)
    );
}

fn foot(out: &mut String, lang: Lang) {
    let text = match lang {
        Lang::It => "Percentuali con un decimale, calcolate sui conteggi esatti e arrotondate al decimo più vicino (la metà per eccesso: 94,45 diventa 94,5). Partecipazione = giudizi / utenti serviti. Dati aggregati: nessun dato personale né sul personale. Prodotto da faccia.",
        Lang::En => "Percentages with one decimal, computed on the exact counts and rounded to the nearest tenth (halves up: 94.45 becomes 94.5). Participation = judgements / users served. Aggregated data: nothing about individual citizens or staff. Produced by faccia.",
    };
    let _ = write!(
        out,
        "<footer><p>{}</p></footer>\n</main>\n</body>\n</html>\n",
        esc(text)
    );
}

/// A table; `numeric` marks the right-aligned columns (all but the first).
fn table(out: &mut String, caption: &str, header: &[String], rows: &[Vec<String>]) {
    let _ = write!(
        out,
        "<div class=\"wrap\"><table>\n<caption>{}</caption>\n<thead><tr>",
        esc(caption)
    );
    for (i, h) in header.iter().enumerate() {
        let class = if i == 0 { "" } else { " class=\"n\"" };
        let _ = write!(out, "<th scope=\"col\"{class}>{}</th>", esc(h));
    }
    out.push_str("</tr></thead>\n<tbody>\n");
    for r in rows {
        out.push_str("<tr>");
        for (i, c) in r.iter().enumerate() {
            if i == 0 {
                let _ = write!(out, "<th scope=\"row\">{}</th>", esc(c));
            } else {
                let _ = write!(out, "<td class=\"n\">{}</td>", esc(c));
            }
        }
        out.push_str("</tr>\n");
    }
    out.push_str("</tbody>\n</table></div>\n");
}

/// Opens an accessible SVG: `role="img"`, a `<title>` and a `<desc>` referenced by
/// `aria-labelledby`.
fn svg_open(out: &mut String, id: &str, w: u32, h: u32, title: &str, desc: &str) {
    let _ = write!(
        out,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" role=\"img\" viewBox=\"0 0 {w} {h}\" width=\"{w}\" height=\"{h}\" \
         aria-labelledby=\"{id}-t {id}-d\"><title id=\"{id}-t\">{}</title><desc id=\"{id}-d\">{}</desc>",
        esc(title),
        esc(desc)
    );
}

fn faces_desc(f: &Faces, lang: Lang) -> String {
    let l = labels(lang);
    format!(
        "{}: {} ({}); {}: {} ({}); {}: {} ({}).",
        l.green,
        int(f.green, lang),
        pct(f.green_share(), lang),
        l.yellow,
        int(f.yellow, lang),
        pct(f.yellow_share(), lang),
        l.red,
        int(f.red, lang),
        pct(f.red_share(), lang)
    )
}

/// One horizontal bar split green / yellow / red, with labels under it.
fn faces_bar(out: &mut String, id: &str, f: &Faces, lang: Lang) {
    let l = labels(lang);
    let (w, x0, bar_w) = (720u32, 10.0f64, 700.0f64);
    svg_open(out, id, w, 96, l.satisfaction_title, &faces_desc(f, lang));
    if f.votes == 0 {
        let _ = writeln!(
            out,
            "<rect x=\"{x0}\" y=\"10\" width=\"{bar_w}\" height=\"36\" fill=\"#f4f4f4\" stroke=\"{INK}\"/>\
             <text x=\"{}\" y=\"34\" text-anchor=\"middle\" fill=\"{INK}\" font-size=\"15\">{}</text></svg>",
            x0 + bar_w / 2.0,
            esc(l.no_data)
        );
        return;
    }
    let mut x = x0;
    let parts = [
        (f.green, GREEN, l.green, f.green_share()),
        (f.yellow, YELLOW, l.yellow, f.yellow_share()),
        (f.red, RED, l.red, f.red_share()),
    ];
    for (n, colour, _, _) in parts {
        let seg = bar_w * n as f64 / f.votes as f64;
        if seg > 0.0 {
            let _ = write!(
                out,
                "<rect x=\"{x:.2}\" y=\"10\" width=\"{seg:.2}\" height=\"36\" fill=\"{colour}\" stroke=\"#fff\" stroke-width=\"1\"/>"
            );
        }
        x += seg;
    }
    let _ = write!(out, "<rect x=\"{x0}\" y=\"10\" width=\"{bar_w}\" height=\"36\" fill=\"none\" stroke=\"{INK}\"/>");
    for (i, (_, colour, name, share)) in parts.iter().enumerate() {
        let lx = x0 + i as f64 * 235.0;
        let _ = write!(
            out,
            "<rect x=\"{lx}\" y=\"62\" width=\"16\" height=\"16\" fill=\"{colour}\" stroke=\"{INK}\"/>\
             <text x=\"{}\" y=\"76\" fill=\"{INK}\" font-size=\"15\">{} {}</text>",
            lx + 22.0,
            esc(name),
            esc(&pct(*share, lang))
        );
    }
    out.push_str("</svg>\n");
}

/// Horizontal bars: (label, value, value label, optional marker value and its label).
struct Bar {
    label: String,
    value: f64,
    text: String,
    marker: Option<(f64, String)>,
}

/// `fixed_max`: the scale's end (100 for percentages), else the largest value or marker.
fn hbars(
    out: &mut String,
    id: &str,
    title: &str,
    desc: &str,
    bars: &[Bar],
    colour: &str,
    fixed_max: Option<f64>,
) {
    let label_w = 250.0;
    let plot_w = 400.0;
    let row_h = 30.0;
    let h = (bars.len().max(1) as f64 * row_h + 20.0) as u32;
    svg_open(out, id, 860, h, title, desc);
    let max = fixed_max.unwrap_or_else(|| {
        bars.iter()
            .flat_map(|b| std::iter::once(b.value).chain(b.marker.as_ref().map(|m| m.0)))
            .fold(0.0f64, f64::max)
    });
    let markers = bars.iter().any(|b| b.marker.is_some());
    for (i, b) in bars.iter().enumerate() {
        let y = 10.0 + i as f64 * row_h;
        let len = if max > 0.0 {
            plot_w * b.value / max
        } else {
            0.0
        };
        let label: String = b.label.chars().take(34).collect();
        let _ = write!(
            out,
            "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\" fill=\"{INK}\" font-size=\"14\">{}</text>\
             <rect x=\"{:.1}\" y=\"{:.1}\" width=\"{len:.2}\" height=\"20\" fill=\"{colour}\"/>\
             <text x=\"{:.1}\" y=\"{:.1}\" fill=\"{INK}\" font-size=\"14\">{}</text>",
            label_w - 8.0,
            y + 15.0,
            esc(&label),
            label_w,
            y,
            // With markers the value goes after the scale, where no marker can cover it.
            if markers { label_w + plot_w + 12.0 } else { label_w + len + 6.0 },
            y + 15.0,
            esc(&b.text)
        );
        if let Some((m, mlabel)) = &b.marker {
            let mx = if max > 0.0 {
                label_w + plot_w * m / max
            } else {
                label_w
            };
            let _ = write!(
                out,
                "<line x1=\"{mx:.1}\" x2=\"{mx:.1}\" y1=\"{:.1}\" y2=\"{:.1}\" stroke=\"{INK}\" stroke-width=\"3\" stroke-dasharray=\"4 2\"><title>{}</title></line>",
                y - 3.0,
                y + 23.0,
                esc(mlabel)
            );
        }
    }
    out.push_str("</svg>\n");
}

/// Opens a section headed `<h{h}>` (2 on an office's page, 3 inside an office of the body's).
fn section(out: &mut String, id: &str, title: &str, h: u8) {
    let _ = write!(
        out,
        "<section aria-labelledby=\"{id}\">\n<h{h} id=\"{id}\">{}</h{h}>\n",
        esc(title)
    );
}

/// Whether the month is still running, and when these figures were computed (in `time_zone`).
fn computed(out: &mut String, month: crate::period::YearMonth, time_zone: &str, lang: Lang) {
    if let Ok(tz) = time_zone.parse::<chrono_tz::Tz>() {
        if let Ok((_, end)) = month.bounds(tz) {
            let now = chrono::Utc::now().timestamp_millis();
            let _ = writeln!(
                out,
                "<p class=\"computed\">{}</p>",
                esc(&words::computed_note(end, now, tz, lang))
            );
        }
    }
}

pub fn monthly(r: &MonthlyReport, lang: Lang) -> String {
    let l = labels(lang);
    let c = &r.current;
    let mut out = String::new();
    let period = month_title(c.month, lang);
    head(
        &mut out,
        &format!("{} – {} – {}", l.monthly_title, r.site_name, period),
        lang,
    );
    let _ = write!(
        out,
        "<header>\n<h1>{}</h1>\n<p class=\"site\">{} – {}</p>\n</header>\n\
         <p class=\"summary\">{}</p>\n<p>{}</p>\n",
        esc(l.monthly_title),
        esc(&r.site_name),
        esc(&period),
        esc(&words::summary_sentence(c, lang)),
        esc(&words::participation_sentence(c, lang))
    );
    computed(&mut out, c.month, &r.time_zone, lang);
    monthly_sections(&mut out, r, lang, "", 2);
    foot(&mut out, lang);
    out
}

/// The sections of an office's monthly page; ids start with `p`, headings are `<h{h}>`.
fn monthly_sections(out: &mut String, r: &MonthlyReport, lang: Lang, p: &str, h: u8) {
    let l = labels(lang);
    let c = &r.current;
    let period = month_title(c.month, lang);
    section(out, &format!("{p}giudizi"), l.satisfaction_title, h);
    faces_bar(out, &format!("{p}chart-faces"), &c.faces, lang);
    let f = &c.faces;
    table(
        out,
        l.satisfaction_title,
        &[String::new(), l.number.into(), "%".into()],
        &[
            vec![l.served.into(), int(c.served, lang), String::new()],
            vec![
                l.votes.into(),
                int(f.votes, lang),
                pct(c.participation(), lang),
            ],
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
        ],
    );
    out.push_str("</section>\n");

    section(out, &format!("{p}motivi"), l.reasons_title, h);
    let reasons = reason_rows(f, lang);
    let bars: Vec<Bar> = (0..4)
        .map(|i| Bar {
            label: l.reasons[i].to_string(),
            value: f.reasons[i] as f64,
            text: format!(
                "{} ({})",
                int(f.reasons[i], lang),
                pct(f.reason_share(i), lang)
            ),
            marker: None,
        })
        .chain(std::iter::once(Bar {
            label: l.no_reason.to_string(),
            value: f.red_without_reason as f64,
            text: format!(
                "{} ({})",
                int(f.red_without_reason, lang),
                pct(f.red_without_reason_share(), lang)
            ),
            marker: None,
        }))
        .collect();
    let desc = bars
        .iter()
        .map(|b| format!("{}: {}", b.label, b.text))
        .collect::<Vec<_>>()
        .join("; ");
    hbars(
        out,
        &format!("{p}chart-reasons"),
        l.reasons_title,
        &desc,
        &bars,
        RED,
        None,
    );
    table(
        out,
        l.reasons_title,
        &[String::new(), l.red.into(), "%".into()],
        &reasons,
    );
    out.push_str("</section>\n");

    section(out, &format!("{p}confronto"), l.change_title, h);
    table(
        out,
        l.change_title,
        &[
            String::new(),
            month_title(r.previous.month, lang),
            period.clone(),
            l.change.into(),
        ],
        &change_rows(r, lang),
    );
    out.push_str("</section>\n");

    for (id, title, groups, first, is_channel) in [
        ("sportelli", l.by_counter, &c.by_counter, l.counter, false),
        ("servizi", l.by_service, &c.by_service, l.service, false),
        ("canali", l.by_channel, &c.by_channel, l.channel, true),
    ] {
        section(out, &format!("{p}{id}"), title, h);
        let rows: Vec<Vec<String>> = groups
            .iter()
            .map(|g| {
                vec![
                    group_name(&g.code, g.name.as_deref(), is_channel, lang),
                    g.served
                        .map(|s| int(s, lang))
                        .unwrap_or_else(|| DASH.to_string()),
                    int(g.faces.votes, lang),
                    pct(g.participation(), lang),
                    format!(
                        "{} ({})",
                        int(g.faces.green, lang),
                        pct(g.faces.green_share(), lang)
                    ),
                    format!(
                        "{} ({})",
                        int(g.faces.yellow, lang),
                        pct(g.faces.yellow_share(), lang)
                    ),
                    format!(
                        "{} ({})",
                        int(g.faces.red, lang),
                        pct(g.faces.red_share(), lang)
                    ),
                ]
            })
            .collect();
        table(
            out,
            title,
            &[
                first,
                l.served,
                l.votes,
                l.participation,
                l.green,
                l.yellow,
                l.red,
            ]
            .map(String::from),
            &rows,
        );
        out.push_str("</section>\n");
    }

    section(out, &format!("{p}attese"), l.waiting_title, h);
    let bars: Vec<Bar> = c
        .waiting
        .iter()
        .map(|w| Bar {
            label: group_name(&w.service_code, w.name.as_deref(), false, lang),
            value: w.avg_ms().map(|v| v / 60_000.0).unwrap_or(0.0),
            text: match w.standard_min {
                Some(s) => format!(
                    "{} {}; {} {s} {}",
                    words::minutes(w.avg_ms(), lang),
                    l.minutes,
                    l.standard_word,
                    l.minutes
                ),
                None => format!(
                    "{} {}; {}",
                    words::minutes(w.avg_ms(), lang),
                    l.minutes,
                    l.no_standard
                ),
            },
            marker: w
                .standard_min
                .map(|s| (f64::from(s), format!("{} {s} {}", l.standard, l.minutes))),
        })
        .collect();
    let desc = bars
        .iter()
        .map(|b| format!("{}: {}", b.label, b.text))
        .collect::<Vec<_>>()
        .join("; ");
    hbars(
        out,
        &format!("{p}chart-wait"),
        l.avg_wait,
        &desc,
        &bars,
        "#0b4f8a",
        None,
    );
    table(
        out,
        l.waiting_title,
        &waiting_header(lang),
        &waiting_rows(c, lang),
    );
    let _ = write!(
        out,
        "<p class=\"note\">{}</p>\n</section>\n",
        esc(l.left_out_note)
    );
}

/// Twelve stacked columns (green / yellow / red shares of each month's votes).
fn months_chart(out: &mut String, id: &str, months: &[(YearMonth, Faces)], lang: Lang) {
    let l = labels(lang);
    let desc = months
        .iter()
        .map(|(m, f)| format!("{}: {}", m.name(lang), faces_desc(f, lang)))
        .collect::<Vec<_>>()
        .join(" ");
    svg_open(out, id, 720, 300, l.trend_title, &desc);
    let (x0, top, plot_h, col_w, gap) = (50.0, 10.0, 220.0, 40.0, 15.0);
    for pcent in [0, 50, 100] {
        let y = top + plot_h * (1.0 - f64::from(pcent) / 100.0);
        let _ = write!(
            out,
            "<line x1=\"{x0}\" x2=\"710\" y1=\"{y}\" y2=\"{y}\" stroke=\"#8a8a8a\" stroke-width=\"1\"/>\
             <text x=\"{}\" y=\"{}\" text-anchor=\"end\" font-size=\"13\" fill=\"{INK}\">{pcent}%</text>",
            x0 - 6.0,
            y + 4.0
        );
    }
    for (i, (m, f)) in months.iter().enumerate() {
        let x = x0 + 10.0 + i as f64 * (col_w + gap);
        let mut y = top + plot_h;
        if f.votes > 0 {
            for (n, colour) in [(f.green, GREEN), (f.yellow, YELLOW), (f.red, RED)] {
                let h = plot_h * n as f64 / f.votes as f64;
                y -= h;
                if h > 0.0 {
                    let _ = write!(
                        out,
                        "<rect x=\"{x:.1}\" y=\"{y:.2}\" width=\"{col_w}\" height=\"{h:.2}\" fill=\"{colour}\" stroke=\"#fff\"/>"
                    );
                }
            }
        }
        let name: String = m.name(lang).chars().take(3).collect();
        let _ = write!(
            out,
            "<text x=\"{:.1}\" y=\"{}\" text-anchor=\"middle\" font-size=\"13\" fill=\"{INK}\">{}</text>\
             <text x=\"{:.1}\" y=\"{}\" text-anchor=\"middle\" font-size=\"12\" fill=\"{INK}\">{}</text>",
            x + col_w / 2.0,
            top + plot_h + 18.0,
            esc(&name),
            x + col_w / 2.0,
            top + plot_h + 34.0,
            esc(&f.green_share().map(|s| s.format(lang)).unwrap_or_else(|| DASH.into()))
        );
    }
    for (i, (name, colour)) in [(l.green, GREEN), (l.yellow, YELLOW), (l.red, RED)]
        .iter()
        .enumerate()
    {
        let lx = x0 + i as f64 * 160.0;
        let _ = write!(
            out,
            "<rect x=\"{lx}\" y=\"276\" width=\"14\" height=\"14\" fill=\"{colour}\" stroke=\"{INK}\"/>\
             <text x=\"{}\" y=\"288\" font-size=\"13\" fill=\"{INK}\">{}</text>",
            lx + 20.0,
            esc(name)
        );
    }
    out.push_str("</svg>\n");
}

pub fn annual(r: &AnnualReport, lang: Lang) -> String {
    let l = labels(lang);
    let mut out = String::new();
    let period = format!("{} {}", l.year, r.year);
    head(
        &mut out,
        &format!("{} – {} – {}", l.annual_title, r.site_name, period),
        lang,
    );
    let _ = write!(
        out,
        "<header>\n<h1>{}</h1>\n<p class=\"site\">{} – {}</p>\n</header>\n",
        esc(l.annual_title),
        esc(&r.site_name),
        esc(&period)
    );
    let _ = writeln!(
        out,
        "<p class=\"summary\">{}: {} · {}: {} · {}: {} · {}: {}</p>",
        esc(l.served),
        esc(&int(r.served, lang)),
        esc(l.votes),
        esc(&int(r.faces.votes, lang)),
        esc(l.participation),
        esc(&pct(r.participation(), lang)),
        esc(l.green),
        esc(&pct(r.faces.green_share(), lang))
    );
    annual_sections(&mut out, r, lang, "", 2);
    foot(&mut out, lang);
    out
}

/// The sections of an office's annual page; ids start with `p`, headings are `<h{h}>`.
fn annual_sections(out: &mut String, r: &AnnualReport, lang: Lang, p: &str, h: u8) {
    let l = labels(lang);
    section(out, &format!("{p}andamento"), l.trend_title, h);
    let months: Vec<(YearMonth, Faces)> = r.months.iter().map(|m| (m.month, m.faces)).collect();
    months_chart(out, &format!("{p}chart-months"), &months, lang);
    let l2 = labels(lang);
    table(
        out,
        l.trend_title,
        &[
            l2.month,
            l2.served,
            l2.votes,
            l2.participation,
            l2.green,
            l2.yellow,
            l2.red,
        ]
        .map(String::from),
        &annual_rows(r, lang),
    );
    out.push_str("</section>\n");
    section(out, &format!("{p}standard"), l.standards_title, h);
    let (h, rows) = standards_rows(r, lang);
    if rows.is_empty() {
        let _ = writeln!(out, "<p>{}</p>", esc(l.no_data));
    } else {
        let bars: Vec<Bar> = r
            .standards
            .iter()
            .map(|s| Bar {
                label: group_name(&s.service_code, s.name.as_deref(), false, lang),
                value: s.year_share().map(Share::percent).unwrap_or(0.0),
                text: format!(
                    "{} ({})",
                    pct(s.year_share(), lang),
                    match s.met {
                        Some(true) => l.met,
                        Some(false) => l.not_met,
                        None => l.no_data,
                    }
                ),
                marker: Some((
                    r.target_tenths as f64 / 10.0,
                    format!(
                        "{} {}",
                        l.target,
                        pct(Share::of(r.target_tenths, 1000), lang)
                    ),
                )),
            })
            .collect();
        let desc = bars
            .iter()
            .map(|b| format!("{}: {}", b.label, b.text))
            .collect::<Vec<_>>()
            .join("; ");
        // The dashed line is the target: say so in words.
        let desc = format!(
            "{desc}. {} {} ({})",
            l.target,
            pct(Share::of(r.target_tenths, 1000), lang),
            l.target_line
        );
        hbars(
            out,
            &format!("{p}chart-standards"),
            l.within,
            &desc,
            &bars,
            "#0b4f8a",
            Some(100.0),
        );
        table(out, l.standards_title, &h, &rows);
    }
    let _ = write!(
        out,
        "<p class=\"note\">{}</p>\n</section>\n",
        esc(l.left_out_note)
    );
}

/// The green share of each office, as bars over 0-100%, and the body's.
fn green_by_office<'a>(
    out: &mut String,
    offices: impl Iterator<Item = (&'a str, &'a Faces)>,
    total: &Faces,
    lang: Lang,
) {
    let l = labels(lang);
    let bar = |name: &str, f: &Faces| Bar {
        label: name.to_string(),
        value: f.green_share().map(Share::percent).unwrap_or(0.0),
        text: format!(
            "{} ({} / {})",
            pct(f.green_share(), lang),
            int(f.green, lang),
            int(f.votes, lang)
        ),
        marker: None,
    };
    let mut bars: Vec<Bar> = offices.map(|(n, f)| bar(n, f)).collect();
    bars.push(bar(l.total, total));
    let desc = bars
        .iter()
        .map(|b| format!("{}: {}", b.label, b.text))
        .collect::<Vec<_>>()
        .join("; ");
    hbars(
        out,
        "chart-offices",
        l.green_by_office,
        &desc,
        &bars,
        GREEN,
        Some(100.0),
    );
}

/// One office of the body's page: an `<article>` headed by its name, with its sentences and
/// its own sections (ids prefixed `u<n>-`, headings `<h3>`).
fn office_article(
    out: &mut String,
    n: usize,
    name: &str,
    id: &str,
    body: impl FnOnce(&mut String, &str),
) {
    let aid = format!("u{n}");
    let _ = write!(
        out,
        "<article aria-labelledby=\"{aid}\">\n<h2 id=\"{aid}\">{} ({})</h2>\n",
        esc(name),
        esc(id)
    );
    body(out, &format!("{aid}-"));
    out.push_str("</article>\n");
}

/// The monthly page of the body: its sentences, one row per office with the body's total (and
/// a chart of the green shares), the reasons by office, the change and the channels of the
/// body, then every office with its own sections.
pub fn monthly_body(r: &BodyMonthlyReport, lang: Lang) -> String {
    let l = labels(lang);
    let mut out = String::new();
    let period = month_title(r.month, lang);
    head(
        &mut out,
        &format!("{} – {} – {}", l.monthly_title, l.all_offices, period),
        lang,
    );
    let _ = write!(
        out,
        "<header>\n<h1>{}</h1>\n<p class=\"site\">{} ({}) – {}</p>\n</header>\n\
         <p class=\"summary\">{}</p>\n<p>{}</p>\n",
        esc(l.monthly_title),
        esc(l.all_offices),
        r.offices.len(),
        esc(&period),
        esc(&words::totals_summary_sentence(&r.totals, lang)),
        esc(&words::totals_participation_sentence(&r.totals, lang))
    );
    // The month of the office whose month ends last says whether the body's is still running.
    if let Some(o) = r.offices.iter().max_by_key(|o| {
        o.time_zone
            .parse::<chrono_tz::Tz>()
            .ok()
            .and_then(|tz| r.month.bounds(tz).ok())
            .map(|(_, end)| end)
    }) {
        computed(&mut out, r.month, &o.time_zone, lang);
    }
    let _ = writeln!(
        out,
        "<p class=\"note\">{}</p>",
        esc(&text::time_zones_sentence(
            r.offices
                .iter()
                .map(|o| (o.site_name.as_str(), o.time_zone.as_str())),
            lang
        ))
    );

    section(&mut out, "uffici", l.by_office, 2);
    green_by_office(
        &mut out,
        r.offices
            .iter()
            .map(|o| (o.site_name.as_str(), &o.current.faces)),
        &r.totals.faces,
        lang,
    );
    table(
        &mut out,
        l.by_office,
        &text::office_header(lang),
        &text::office_rows(
            r.offices
                .iter()
                .map(|o| (o.site_name.as_str(), o.current.served, &o.current.faces)),
            (r.totals.served, &r.totals.faces),
            lang,
        ),
    );
    out.push_str("</section>\n");

    section(&mut out, "motivi", l.reasons_by_office, 2);
    table(
        &mut out,
        l.reasons_by_office,
        &text::office_reason_header(lang),
        &text::office_reason_rows(
            r.offices
                .iter()
                .map(|o| (o.site_name.as_str(), &o.current.faces)),
            &r.totals.faces,
            lang,
        ),
    );
    out.push_str("</section>\n");

    section(&mut out, "confronto", l.change_title, 2);
    table(
        &mut out,
        l.change_title,
        &[
            String::new(),
            month_title(r.previous.month, lang),
            period.clone(),
            l.change.into(),
        ],
        &text::totals_change_rows(&r.totals, &r.previous, &r.change, lang),
    );
    out.push_str("</section>\n");

    section(&mut out, "canali", l.by_channel, 2);
    let rows: Vec<Vec<String>> = r
        .by_channel
        .iter()
        .map(|g| {
            vec![
                group_name(&g.code, None, true, lang),
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
        .collect();
    table(
        &mut out,
        l.by_channel,
        &[
            l.channel,
            l.served,
            l.votes,
            l.participation,
            l.green,
            l.yellow,
            l.red,
        ]
        .map(String::from),
        &rows,
    );
    out.push_str("</section>\n");

    let _ = writeln!(out, "<h2>{}</h2>", esc(l.office_detail));
    for (n, o) in r.offices.iter().enumerate() {
        office_article(&mut out, n + 1, &o.site_name, &o.site_id, |out, p| {
            let _ = write!(
                out,
                "<p class=\"summary\">{}</p>\n<p>{}</p>\n",
                esc(&words::summary_sentence(&o.current, lang)),
                esc(&words::participation_sentence(&o.current, lang))
            );
            monthly_sections(out, o, lang, p, 3);
        });
    }
    foot(&mut out, lang);
    out
}

/// The annual page of the body: one row per office with the body's year, the body's months
/// (chart and table), then every office with its own review of its standards.
pub fn annual_body(r: &BodyAnnualReport, lang: Lang) -> String {
    let l = labels(lang);
    let mut out = String::new();
    let period = format!("{} {}", l.year, r.year);
    head(
        &mut out,
        &format!("{} – {} – {}", l.annual_title, l.all_offices, period),
        lang,
    );
    let _ = write!(
        out,
        "<header>\n<h1>{}</h1>\n<p class=\"site\">{} ({}) – {}</p>\n</header>\n",
        esc(l.annual_title),
        esc(l.all_offices),
        r.offices.len(),
        esc(&period)
    );
    let _ = writeln!(
        out,
        "<p class=\"summary\">{}: {} · {}: {} · {}: {} · {}: {}</p>",
        esc(l.served),
        esc(&int(r.served, lang)),
        esc(l.votes),
        esc(&int(r.faces.votes, lang)),
        esc(l.participation),
        esc(&pct(r.participation(), lang)),
        esc(l.green),
        esc(&pct(r.faces.green_share(), lang))
    );
    let _ = writeln!(
        out,
        "<p class=\"note\">{}</p>",
        esc(&text::time_zones_sentence(
            r.offices
                .iter()
                .map(|o| (o.site_name.as_str(), o.time_zone.as_str())),
            lang
        ))
    );

    section(&mut out, "uffici", l.by_office, 2);
    green_by_office(
        &mut out,
        r.offices.iter().map(|o| (o.site_name.as_str(), &o.faces)),
        &r.faces,
        lang,
    );
    table(
        &mut out,
        l.by_office,
        &text::office_header(lang),
        &text::office_rows(
            r.offices
                .iter()
                .map(|o| (o.site_name.as_str(), o.served, &o.faces)),
            (r.served, &r.faces),
            lang,
        ),
    );
    table(
        &mut out,
        l.reasons_by_office,
        &text::office_reason_header(lang),
        &text::office_reason_rows(
            r.offices.iter().map(|o| (o.site_name.as_str(), &o.faces)),
            &r.faces,
            lang,
        ),
    );
    out.push_str("</section>\n");

    section(&mut out, "andamento", l.trend_title, 2);
    let months: Vec<(YearMonth, Faces)> = r.months.iter().map(|m| (m.month, m.faces)).collect();
    months_chart(&mut out, "chart-months", &months, lang);
    table(
        &mut out,
        l.trend_title,
        &[
            l.month,
            l.served,
            l.votes,
            l.participation,
            l.green,
            l.yellow,
            l.red,
        ]
        .map(String::from),
        &text::body_annual_rows(r, lang),
    );
    out.push_str("</section>\n");

    let _ = writeln!(out, "<h2>{}</h2>", esc(l.office_detail));
    for (n, o) in r.offices.iter().enumerate() {
        office_article(&mut out, n + 1, &o.site_name, &o.site_id, |out, p| {
            let _ = writeln!(
                out,
                "<p class=\"summary\">{}: {} · {}: {} · {}: {} · {}: {}</p>",
                esc(l.served),
                esc(&int(o.served, lang)),
                esc(l.votes),
                esc(&int(o.faces.votes, lang)),
                esc(l.participation),
                esc(&pct(o.participation(), lang)),
                esc(l.green),
                esc(&pct(o.faces.green_share(), lang))
            );
            annual_sections(out, o, lang, p, 3);
        });
    }
    foot(&mut out, lang);
    out
}
