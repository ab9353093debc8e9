//! Gradimento / Satisfaction: faces over today, the week or the month, by counter, service and
//! channel, with the reasons given after red and the participation rate.

use faccia_proto::v1::{KeyedFaces, Period};
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Paragraph};
use ratatui::Frame;

use super::{face_bar, window};
use crate::format;
use crate::i18n::{self, tr};
use crate::model::{App, View};

enum Item<'a> {
    Section(&'static str),
    /// A row, and whether it is a channel (named by its code, in the user's language).
    Row(&'a KeyedFaces, bool),
}

pub fn render(frame: &mut Frame, app: &App, area: Rect) {
    let t = tr(app.lang);
    let th = &app.theme;
    let lang = app.lang;
    let [periods, totals, bar, rest] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Length(1),
        Constraint::Length(1),
        Constraint::Min(1),
    ])
    .areas(area);

    let mut spans = vec![Span::styled(" ◀ ", th.dim())];
    for (i, p) in [Period::Today, Period::Week, Period::Month]
        .into_iter()
        .enumerate()
    {
        let label = format!(" {} ", i18n::period(lang, p));
        if p == app.period {
            spans.push(Span::styled(label, th.selected().fg(th.accent)));
        } else {
            spans.push(Span::styled(label, th.dim()));
        }
        if i < 2 {
            spans.push(Span::raw("│"));
        }
    }
    spans.push(Span::styled(" ▶ ", th.dim()));
    let sat = app.current_satisfaction();
    if let Some(s) = sat {
        if let (Some(from), Some(to)) = (format::ts(s.from.as_ref()), format::ts(s.to.as_ref())) {
            let zone = app.zone();
            // The period's end is exclusive: show its last day, and one day as one date.
            let first = format::date(from, zone);
            let last = format::date(to - chrono::Duration::milliseconds(1), zone);
            spans.push(Span::styled(
                if first == last {
                    format!("  {first}")
                } else {
                    format!("  {} {first} {} {last}", t.from_to[0], t.from_to[1])
                },
                th.dim(),
            ));
        }
    }
    frame.render_widget(Paragraph::new(Line::from(spans)), periods);

    let Some(s) = sat else {
        let text = match &app.site().satisfaction_error {
            Some(e) => Span::styled(format!(" {}", e.describe(lang)), th.error()),
            None => Span::styled(format!(" {}", t.loading), th.dim()),
        };
        frame.render_widget(Paragraph::new(text), totals);
        app.page_rows.set(1);
        return;
    };
    let total = s.total.clone().unwrap_or_default();
    let votes = format::votes(&total);
    let label = |x: &str| Span::styled(format!("{x} "), th.dim());
    // The participation's short label when the whole line would not fit otherwise.
    let part_label = if totals.width < 90 {
        t.short[10]
    } else {
        t.participation
    };
    let items = vec![
        vec![label(t.votes), Span::styled(votes.to_string(), th.bold())],
        vec![
            label(t.served),
            Span::styled(s.served.to_string(), th.bold()),
        ],
        vec![
            label(part_label),
            Span::styled(format::share(votes, u64::from(s.served), lang), th.bold()),
        ],
        vec![
            label(t.faces[0]),
            Span::styled(
                format::share(u64::from(total.green), votes, lang),
                th.green(),
            ),
        ],
        vec![
            label(t.faces[1]),
            Span::styled(
                format::share(u64::from(total.yellow), votes, lang),
                th.yellow(),
            ),
        ],
        vec![
            label(t.faces[2]),
            Span::styled(format::share(u64::from(total.red), votes, lang), th.red()),
        ],
    ];
    let [_, totals_in] =
        Layout::horizontal([Constraint::Length(1), Constraint::Min(0)]).areas(totals);
    frame.render_widget(
        Paragraph::new(super::pack_items(
            items,
            usize::from(totals_in.width.saturating_sub(1)),
            usize::from(totals_in.height.max(1)),
        )),
        totals_in,
    );
    let mut bar_spans = vec![Span::raw(" ")];
    bar_spans.extend(face_bar(
        &total,
        usize::from(bar.width.saturating_sub(2)),
        th,
    ));
    frame.render_widget(Paragraph::new(Line::from(bar_spans)), bar);

    let wide = rest.width >= 110;
    let (list_area, reasons_area) = if wide {
        let [l, r] = Layout::horizontal([Constraint::Percentage(62), Constraint::Percentage(38)])
            .areas(rest);
        (l, r)
    } else {
        // The reasons take 6 lines, fewer on a short screen so the list keeps some room.
        let reasons_h = (rest.height / 2).clamp(2, 6);
        let [l, r] =
            Layout::vertical([Constraint::Min(3), Constraint::Length(reasons_h)]).areas(rest);
        (l, r)
    };

    // Faces by counter, service and channel as one scrolling list with section titles.
    let mut items: Vec<Item> = Vec::new();
    for (title, list, channel) in [
        (t.by_counter, &s.by_counter, false),
        (t.by_service, &s.by_service, false),
        (t.by_channel, &s.by_channel, true),
    ] {
        items.push(Item::Section(title));
        items.extend(list.iter().map(|k| Item::Row(k, channel)));
    }
    let rows_room = usize::from(list_area.height.saturating_sub(1));
    app.page_rows.set(rows_room.max(1));
    let selected = app.selected_row(View::Satisfaction, items.len());
    let (start, end) = window(items.len(), selected, rows_room);
    // Names as long as they are, within reason; the bar takes what is left.
    let longest_name = items
        .iter()
        .map(|i| match i {
            Item::Row(k, true) => i18n::channel(lang, &k.key).chars().count(),
            Item::Row(k, false) if k.name.is_empty() => k.key.chars().count(),
            Item::Row(k, false) => k.name.chars().count(),
            Item::Section(_) => 0,
        })
        .max()
        .unwrap_or(0);
    let name_w = (longest_name + 2).clamp(14, if wide { 32 } else { 22 });
    let bar_w = usize::from(list_area.width)
        .saturating_sub(name_w + 6 + 3 * 7 + 8 + 4)
        .clamp(0, 40);
    let header = Line::from(Span::styled(
        format!(
            " {:<name_w$} {:>5} {:bar_w$} {:>6} {:>6} {:>6} {:>7}",
            "",
            t.short[9],
            "",
            t.face_letters[0],
            t.face_letters[1],
            t.face_letters[2],
            t.short[10],
        ),
        th.title(),
    ));
    let mut lines = vec![header];
    for (i, item) in items[start..end].iter().enumerate() {
        let sel = start + i == selected;
        let mut line = match item {
            Item::Section(title) => Line::from(Span::styled(format!(" {title}"), th.accent())),
            Item::Row(k, channel) => {
                let f = k.faces.clone().unwrap_or_default();
                let n = format::votes(&f);
                let name = if *channel {
                    i18n::channel(lang, &k.key)
                } else if k.name.is_empty() {
                    k.key.clone()
                } else {
                    k.name.clone()
                };
                let mut spans = vec![Span::raw(format!(
                    "   {:<w$} {:>5} ",
                    format::cut(&name, name_w - 2),
                    n,
                    w = name_w - 2
                ))];
                spans.extend(face_bar(&f, bar_w, th));
                spans.push(Span::styled(
                    format!(" {:>6}", format::share(u64::from(f.green), n, lang)),
                    th.green(),
                ));
                spans.push(Span::styled(
                    format!(" {:>6}", format::share(u64::from(f.yellow), n, lang)),
                    th.yellow(),
                ));
                spans.push(Span::styled(
                    format!(" {:>6}", format::share(u64::from(f.red), n, lang)),
                    th.red(),
                ));
                spans.push(Span::raw(format!(
                    " {:>7}",
                    format::share(n, u64::from(k.served), lang)
                )));
                Line::from(spans)
            }
        };
        if sel {
            line = line.style(th.selected());
        }
        lines.push(line);
    }
    frame.render_widget(Paragraph::new(lines), list_area);

    // Reasons after red.
    let block = Block::default()
        .borders(if wide { Borders::LEFT } else { Borders::TOP })
        .border_style(th.border())
        .title(Span::styled(format!(" {} ", t.reasons_title), th.title()));
    let inner = block.inner(reasons_area);
    frame.render_widget(block, reasons_area);
    let reds = u64::from(total.red);
    let counts: Vec<u64> = (0..5)
        .map(|i| u64::from(total.reasons.get(i).copied().unwrap_or(0)))
        .collect();
    let max = counts.iter().copied().max().unwrap_or(0);
    let label_w = if wide { 28 } else { 22 };
    let bar_w = usize::from(inner.width).saturating_sub(label_w + 6 + 8 + 2);
    // Waiting time, staff, come back, outcome, then "no reason" last.
    let order = [1usize, 2, 3, 4, 0];
    let lines: Vec<Line> = order
        .iter()
        .map(|&i| {
            let c = counts[i];
            let filled = c
                .saturating_mul(bar_w as u64)
                .saturating_add(max.saturating_sub(1))
                .checked_div(max)
                .unwrap_or(0) as usize;
            Line::from(vec![
                Span::raw(format!(
                    " {:<w$} {:>5} ",
                    format::cut(t.reasons[i], label_w),
                    c,
                    w = label_w
                )),
                Span::styled("█".repeat(filled.min(bar_w)), th.red()),
                Span::raw(" ".repeat(bar_w - filled.min(bar_w))),
                Span::styled(format!(" {:>6}", format::share(c, reds, lang)), th.dim()),
            ])
        })
        .collect();
    frame.render_widget(Paragraph::new(lines), inner);
}
