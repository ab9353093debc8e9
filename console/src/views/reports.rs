//! Rapporti / Reports: one month's published figures as the server computed them (summary
//! sentence, totals, faces, reasons after red, change from the previous month, breakdowns by
//! counter, service and channel, waiting time against the declared standards). Every share is
//! the server's `*_tenths`; nothing here divides counts. On a wide, tall screen the totals and
//! the reasons sit side by side above the tables; otherwise everything scrolls as one list.

use faccia_proto::v1::{MonthlyReport, ReportFaces, ReportGroup, ReportWaiting};
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Paragraph};
use ratatui::Frame;

use crate::format::{self, DASH};
use crate::i18n::{self, tr};
use crate::keymap::Action;
use crate::model::{App, View};
use crate::theme::Theme;

/// Width and height from which the totals and the reasons sit side by side.
const WIDE_W: u16 = 120;
const WIDE_H: u16 = 30;

pub fn render(frame: &mut Frame, app: &App, area: Rect) {
    let t = tr(app.lang);
    let th = &app.theme;
    let [title, body] = Layout::vertical([Constraint::Length(1), Constraint::Min(0)]).areas(area);
    let st = &app.site().reports;

    let Some(r) = &st.report else {
        render_title(frame, app, title, None);
        let line = match &st.error {
            Some(e) => Line::from(Span::styled(
                format!(" ✖ {}", i18n::report_error(app.lang, e)),
                th.error(),
            )),
            None => Line::from(Span::styled(format!(" {}", t.loading), th.dim())),
        };
        frame.render_widget(Paragraph::new(line), body);
        st.scroll_max.set(0);
        app.page_rows.set(1);
        return;
    };

    // A failed reload keeps the report on screen, with the error above it.
    let body = match &st.error {
        Some(e) if body.height > 1 => {
            let [err, rest] =
                Layout::vertical([Constraint::Length(1), Constraint::Min(0)]).areas(body);
            frame.render_widget(
                Paragraph::new(Span::styled(
                    format!(" ✖ {}", i18n::report_error(app.lang, e)),
                    th.error(),
                )),
                err,
            );
            rest
        }
        _ => body,
    };

    let wide = body.width >= WIDE_W && body.height >= WIDE_H;
    let width = usize::from(body.width);
    let (list_area, lines) = if wide {
        let left_w = usize::from(body.width) * 3 / 5;
        let left = totals_lines(app, r, left_w);
        let right = reasons_lines(app, r, true);
        let h = left.len().max(right.len()) as u16;
        let [top, _gap, rest] = Layout::vertical([
            Constraint::Length(h.min(body.height)),
            Constraint::Length(1),
            Constraint::Min(0),
        ])
        .areas(body);
        let [l, rr] =
            Layout::horizontal([Constraint::Length(left_w as u16), Constraint::Min(0)]).areas(top);
        frame.render_widget(Paragraph::new(left), l);
        let block = Block::default()
            .borders(Borders::LEFT)
            .border_style(th.border());
        let inner = block.inner(rr);
        frame.render_widget(block, rr);
        frame.render_widget(Paragraph::new(right), inner);
        (rest, table_lines(app, r, width, true))
    } else {
        let mut lines = totals_lines(app, r, width);
        lines.push(Line::default());
        lines.extend(reasons_lines(app, r, false));
        lines.push(Line::default());
        lines.extend(table_lines(app, r, width, false));
        (body, lines)
    };
    let rows = usize::from(list_area.height);
    let total = lines.len();
    let max = total.saturating_sub(rows);
    st.scroll_max.set(max);
    app.page_rows.set(rows.max(1));
    let offset = app.selected[View::Reports.index()].min(max);
    let shown: Vec<Line> = lines.into_iter().skip(offset).take(rows).collect();
    render_title(
        frame,
        app,
        title,
        (max > 0).then_some((offset + 1, offset + shown.len(), total)),
    );
    frame.render_widget(Paragraph::new(shown), list_area);
}

/// " ◀ novembre 2026 ▶  Comune di Sassuolo – URP  Caricamento…", with the scroll position and
/// the save keys on the right.
fn render_title(frame: &mut Frame, app: &App, area: Rect, scroll: Option<(usize, usize, usize)>) {
    let t = tr(app.lang);
    let th = &app.theme;
    let lang = app.lang;
    let month = app.report_month();
    let mut spans = vec![
        Span::styled(" ◀ ", th.dim()),
        Span::styled(
            format!(" {} ", i18n::month(lang, month)),
            th.selected().fg(th.accent),
        ),
        Span::styled(" ▶ ", th.dim()),
    ];
    if let Some(r) = &app.site().reports.report {
        let site = if r.site_name.is_empty() {
            &r.site_id
        } else {
            &r.site_name
        };
        if !site.is_empty() {
            spans.push(Span::styled(
                format!(" {}", format::cut(site, 40)),
                th.bold(),
            ));
        }
        if !r.month_complete {
            spans.push(Span::styled(format!("  ({})", t.rep_in_progress), th.dim()));
        }
    }
    if app.site().reports.loading {
        spans.push(Span::styled(format!("  {}", t.loading), th.dim()));
    }
    let used: usize = spans.iter().map(|s| s.content.chars().count()).sum();
    let mut right: Vec<Span> = Vec::new();
    if let Some((from, to, of)) = scroll {
        right.push(Span::styled(format!("{from}–{to}/{of} "), th.dim()));
    }
    if usize::from(area.width) >= 100 {
        let mut saves = vec![
            (Action::SaveHtml, t.rep_hints[1]),
            (Action::SaveCsv, t.rep_hints[2]),
            (Action::SaveMinistry, t.rep_hints[3]),
        ];
        if usize::from(area.width) >= 130 {
            saves.push((Action::SaveAnnual, t.rep_hints[4]));
        }
        for (a, label) in saves {
            right.push(Span::styled(app.keymap.first_key(a), th.accent()));
            right.push(Span::styled(format!(" {label}  "), th.dim()));
        }
    }
    let right_w: usize = right.iter().map(|s| s.content.chars().count()).sum();
    let pad = usize::from(area.width).saturating_sub(used + right_w);
    if pad > 0 {
        spans.push(Span::raw(" ".repeat(pad)));
        spans.extend(right);
    }
    frame.render_widget(Paragraph::new(Line::from(spans)), area);
}

/// Words of `text` in lines of at most `width` characters (a longer word is cut).
fn wrap(text: &str, width: usize) -> Vec<String> {
    let width = width.max(1);
    let mut lines = Vec::new();
    let mut cur = String::new();
    for word in text.split_whitespace() {
        let word = format::cut(word, width);
        let n = cur.chars().count();
        if n > 0 && n + 1 + word.chars().count() > width {
            lines.push(std::mem::take(&mut cur));
        }
        if !cur.is_empty() {
            cur.push(' ');
        }
        cur.push_str(&word);
    }
    if !cur.is_empty() {
        lines.push(cur);
    }
    lines
}

/// A bar of the three faces from the server's shares: green █, yellow ▒, red ░.
fn tenths_bar(f: &ReportFaces, width: usize, th: &Theme) -> Vec<Span<'static>> {
    let (Some(g), Some(y)) = (f.green_tenths, f.yellow_tenths) else {
        return vec![Span::raw(" ".repeat(width))];
    };
    let w = width as u64;
    let g_w = (u64::from(g) * w / 1000).min(w);
    let gy_w = ((u64::from(g) + u64::from(y)) * w / 1000).clamp(g_w, w);
    let r_w = if f.red_tenths.is_some_and(|r| r > 0) || u64::from(g) + u64::from(y) >= 1000 {
        w - gy_w
    } else {
        0
    };
    vec![
        Span::styled("█".repeat(g_w as usize), th.green()),
        Span::styled("▒".repeat((gy_w - g_w) as usize), th.yellow()),
        Span::styled("░".repeat(r_w as usize), th.red()),
        Span::raw(" ".repeat((w - gy_w - r_w) as usize)),
    ]
}

fn change_style(v: Option<i32>, good_when_up: Option<bool>, th: &Theme) -> Style {
    match (v, good_when_up) {
        (Some(v), Some(up)) if v != 0 => {
            if (v > 0) == up {
                th.ok()
            } else {
                th.warn()
            }
        }
        _ => th.bold(),
    }
}

/// Summary sentence, totals, faces with a bar, and the change from the previous month.
fn totals_lines(app: &App, r: &MonthlyReport, width: usize) -> Vec<Line<'static>> {
    let t = tr(app.lang);
    let th = &app.theme;
    let lang = app.lang;
    let mut lines: Vec<Line<'static>> = Vec::new();
    for l in wrap(&r.summary, width.saturating_sub(2)) {
        lines.push(Line::from(Span::styled(format!(" {l}"), th.bold())));
    }
    if !lines.is_empty() {
        lines.push(Line::default());
    }
    let f = r.faces.clone().unwrap_or_default();
    let label = |s: &str| Span::styled(format!("{s} "), th.dim());
    let value = |s: String| Span::styled(s, th.bold());
    lines.push(Line::from(vec![
        Span::raw(" "),
        label(t.served),
        value(r.served.to_string()),
        Span::raw("   "),
        label(t.votes),
        value(f.votes.to_string()),
        Span::raw("   "),
        label(t.participation),
        value(format::tenths(r.participation_tenths, lang)),
    ]));
    let faces = [
        (t.faces[0], f.green, f.green_tenths, th.green()),
        (t.faces[1], f.yellow, f.yellow_tenths, th.yellow()),
        (t.faces[2], f.red, f.red_tenths, th.red()),
    ];
    let mut spans = vec![Span::raw(" ")];
    for (name, n, share, style) in faces {
        spans.push(label(name));
        spans.push(Span::styled(format!("{n} "), style));
        spans.push(Span::styled(
            format!("({})", format::tenths(share, lang)),
            style,
        ));
        spans.push(Span::raw("   "));
    }
    lines.push(Line::from(spans));
    let mut bar = vec![Span::raw(" ")];
    bar.extend(tenths_bar(&f, width.saturating_sub(2).min(100), th));
    lines.push(Line::from(bar));

    if !r.previous_month.is_empty() {
        let pf = r.previous_faces.clone().unwrap_or_default();
        lines.push(Line::from(vec![
            Span::styled(
                format!(
                    " {} {} ",
                    t.rep_compared,
                    i18n::month_text(lang, &r.previous_month)
                ),
                th.dim(),
            ),
            Span::raw(format!(
                "({} {}, {} {}, {} {}):",
                t.served.to_lowercase(),
                r.previous_served,
                t.votes.to_lowercase(),
                pf.votes,
                t.participation.to_lowercase(),
                format::tenths(r.previous_participation_tenths, lang),
            )),
        ]));
        let changes = [
            (t.participation, r.participation_change_tenths, Some(true)),
            (t.faces[0], r.green_change_tenths, Some(true)),
            (t.faces[1], r.yellow_change_tenths, None),
            (t.faces[2], r.red_change_tenths, Some(false)),
        ];
        let mut spans = vec![Span::raw("   ")];
        for (i, (name, v, up)) in changes.into_iter().enumerate() {
            if i > 0 {
                spans.push(Span::styled(" · ", th.dim()));
            }
            spans.push(Span::raw(format!("{} ", name.to_lowercase())));
            spans.push(Span::styled(
                format::points(v, lang),
                change_style(v, up, th),
            ));
        }
        spans.push(Span::styled(format!(" {}", t.rep_points), th.dim()));
        lines.push(Line::from(spans));
    }
    lines
}

/// The reasons given after red, with the server's shares of the red votes.
fn reasons_lines(app: &App, r: &MonthlyReport, wide: bool) -> Vec<Line<'static>> {
    let t = tr(app.lang);
    let th = &app.theme;
    let lang = app.lang;
    let f = r.faces.clone().unwrap_or_default();
    let mut lines = vec![Line::from(vec![
        Span::styled(format!(" {}", t.reasons_title), th.accent()),
        Span::styled(format!(" ({} {})", f.red, t.rep_red_votes), th.dim()),
    ])];
    let label_w = if wide { 30 } else { 28 };
    for i in 0..4 {
        let n = f.reasons.get(i).copied().unwrap_or(0);
        let share = f.reason_tenths.get(i).copied();
        lines.push(Line::from(vec![
            Span::raw(format!(
                "   {:<label_w$} {:>7} ",
                format::cut(t.reasons[i + 1], label_w),
                n
            )),
            Span::styled(format!("{:>7}", format::tenths(share, lang)), th.red()),
        ]));
    }
    lines.push(Line::from(Span::styled(
        format!(
            "   {:<label_w$} {:>7} {:>7}",
            format::cut(t.reasons[0], label_w),
            f.red_without_reason,
            format::tenths(f.red_without_reason_tenths, lang)
        ),
        th.dim(),
    )));
    lines
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Breakdown {
    Counter,
    Service,
    Channel,
}

/// A counter by its name (which says "Sportello 3"), a service by code and name, a channel by
/// its name in the language; the code alone when the configuration does not know it.
fn group_name(app: &App, g: &ReportGroup, kind: Breakdown) -> String {
    match kind {
        Breakdown::Channel => i18n::channel(app.lang, &g.code),
        _ if g.name.is_empty() || g.name == g.code => g.code.clone(),
        Breakdown::Counter => g.name.clone(),
        Breakdown::Service => format!("{} {}", g.code, g.name),
    }
}

fn matches(filter: &str, fields: &[&str]) -> bool {
    let f = filter.trim().to_lowercase();
    f.is_empty()
        || f.split_whitespace()
            .all(|w| fields.iter().any(|x| x.to_lowercase().contains(w)))
}

/// The three breakdowns and the waiting times, as lines.
fn table_lines(app: &App, r: &MonthlyReport, width: usize, wide: bool) -> Vec<Line<'static>> {
    let t = tr(app.lang);
    let th = &app.theme;
    let lang = app.lang;
    let filter = app.filter();
    let mut lines: Vec<Line<'static>> = Vec::new();

    // Fixed columns: served, votes, participation, then the shares (and the counts when wide).
    let fixed = 8 * 3 + 8 * 3 + if wide { 7 * 3 } else { 0 };
    let bar_w = if wide {
        width.saturating_sub(3 + 34 + fixed + 2).min(30)
    } else {
        0
    };
    let name_w = width
        .saturating_sub(3 + fixed + bar_w + if wide { 2 } else { 0 })
        .clamp(8, 34);
    for (title, groups, kind) in [
        (t.by_counter, &r.by_counter, Breakdown::Counter),
        (t.by_service, &r.by_service, Breakdown::Service),
        (t.by_channel, &r.by_channel, Breakdown::Channel),
    ] {
        let mut head = format!(
            " {:<w$} {:>7} {:>7} {:>7}",
            format::cut(title, name_w + 2),
            t.col_served,
            t.short[9],
            t.short[10],
            w = name_w + 2
        );
        if wide {
            for l in t.face_letters {
                head.push_str(&format!(" {l:>6}"));
            }
        }
        for l in t.face_letters {
            head.push_str(&format!(" {:>7}", format!("% {l}")));
        }
        lines.push(Line::from(Span::styled(head, th.title())));
        let shown: Vec<&ReportGroup> = groups
            .iter()
            .filter(|g| matches(filter, &[&g.code, &g.name, &group_name(app, g, kind)]))
            .collect();
        if shown.is_empty() {
            lines.push(Line::from(Span::styled(
                format!("   {}", t.no_data),
                th.dim(),
            )));
        }
        for g in shown {
            let f = g.faces.clone().unwrap_or_default();
            let served = g.served.map_or_else(|| DASH.to_string(), |s| s.to_string());
            let mut spans = vec![Span::raw(format!(
                "   {:<name_w$} {:>7} {:>7} {:>7}",
                format::cut(&group_name(app, g, kind), name_w),
                served,
                f.votes,
                format::tenths(g.participation_tenths, lang),
            ))];
            let faces = [
                (f.green, f.green_tenths, th.green()),
                (f.yellow, f.yellow_tenths, th.yellow()),
                (f.red, f.red_tenths, th.red()),
            ];
            if wide {
                for (n, _, style) in faces {
                    spans.push(Span::styled(format!(" {n:>6}"), style));
                }
            }
            for (_, share, style) in faces {
                spans.push(Span::styled(
                    format!(" {:>7}", format::tenths(share, lang)),
                    style,
                ));
            }
            if bar_w > 0 {
                spans.push(Span::raw("  "));
                spans.extend(tenths_bar(&f, bar_w, th));
            }
            lines.push(Line::from(spans));
        }
        lines.push(Line::default());
    }

    // Waiting time per service against its declared standard.
    lines.push(Line::from(vec![
        Span::styled(format!(" {}", t.rep_waiting), th.accent()),
        Span::styled(
            format!(
                "  ({} {} {})",
                t.rep_target,
                format::tenths(Some(r.target_tenths), lang),
                t.col_within.to_lowercase()
            ),
            th.dim(),
        ),
    ]));
    // Name, average, p90, standard, share within, and room for "⚠ below target".
    let mark_w = 4 + t.rep_below_target.chars().count();
    let name_w = if wide {
        34
    } else {
        width.saturating_sub(3 + 10 * 3 + 9 + mark_w).clamp(8, 20)
    };
    let mut head = format!(
        "   {:<name_w$} {:>9} {:>9}",
        t.col_service,
        t.col_avg,
        if wide { t.col_p90 } else { t.short[6] }
    );
    if wide {
        head.push_str(&format!(" {:>11} {:>8}", t.rep_counted, t.rep_left_out));
    }
    head.push_str(&format!(" {:>9} {:>8}", t.col_standard, t.short[7]));
    lines.push(Line::from(Span::styled(head, th.title())));
    let shown: Vec<&ReportWaiting> = r
        .waiting
        .iter()
        .filter(|w| matches(filter, &[&w.service_code, &w.name]))
        .collect();
    if shown.is_empty() {
        lines.push(Line::from(Span::styled(
            format!("   {}", t.no_data),
            th.dim(),
        )));
    }
    for w in shown {
        let name = if w.name.is_empty() || w.name == w.service_code {
            w.service_code.clone()
        } else {
            format!("{} {}", w.service_code, w.name)
        };
        let avg = format::minutes(w.avg_ms.map(|ms| ms / 1000.0), lang);
        let p90 = format::minutes(w.p90_ms.map(|ms| ms as f64 / 1000.0), lang);
        let mut spans = vec![Span::raw(format!(
            "   {:<name_w$} {:>9} {:>9}",
            format::cut(&name, name_w),
            avg,
            p90
        ))];
        if wide {
            spans.push(Span::raw(format!(" {:>11} {:>8}", w.counted, w.left_out)));
        }
        match w.standard_min {
            None => {
                spans.push(Span::styled(format!("  {}", t.rep_no_standard), th.dim()));
            }
            Some(std) => {
                let within = format::tenths(w.within_tenths, lang);
                let style = match w.met {
                    Some(false) => th.error(),
                    Some(true) => th.ok(),
                    None => th.text(),
                };
                spans.push(Span::raw(format!(" {:>9}", format!("{std} {}", t.min))));
                spans.push(Span::styled(format!(" {within:>8}"), style));
                match w.met {
                    Some(false) => spans.push(Span::styled(
                        format!("  ⚠ {}", t.rep_below_target),
                        th.error(),
                    )),
                    Some(true) => spans.push(Span::styled(format!("  ✓ {}", t.rep_met), th.ok())),
                    None => {}
                }
            }
        }
        lines.push(Line::from(spans));
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wraps_words() {
        assert_eq!(wrap("a bb ccc", 4), vec!["a bb", "ccc"]);
        assert_eq!(wrap("", 10), Vec::<String>::new());
        assert_eq!(wrap("abcdefgh", 4), vec!["abc…"]);
        assert_eq!(wrap("x y", 0), vec!["x", "y"]);
    }

    #[test]
    fn bars_fill_their_width_from_tenths() {
        let th = Theme::default();
        let f = ReportFaces {
            green_tenths: Some(944),
            yellow_tenths: Some(41),
            red_tenths: Some(15),
            ..Default::default()
        };
        for w in [0, 1, 7, 40] {
            let n: usize = tenths_bar(&f, w, &th)
                .iter()
                .map(|s| s.content.chars().count())
                .sum();
            assert_eq!(n, w);
        }
        let odd = ReportFaces {
            green_tenths: Some(u32::MAX),
            yellow_tenths: Some(u32::MAX),
            red_tenths: Some(u32::MAX),
            ..Default::default()
        };
        let n: usize = tenths_bar(&odd, 9, &th)
            .iter()
            .map(|s| s.content.chars().count())
            .sum();
        assert_eq!(n, 9);
    }
}
