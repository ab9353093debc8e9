//! Panoramica / Overview: every counter, what it does, and its keypad.

use faccia_proto::v1::KeypadLink;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Cell, Paragraph, Row, Table};
use ratatui::Frame;

use super::{empty, window};
use crate::format;
use crate::i18n::{self, tr};
use crate::model::{Activity, App, View};

pub fn render(frame: &mut Frame, app: &App, area: Rect) {
    let t = tr(app.lang);
    let th = &app.theme;
    let lang = app.lang;
    let counters = app.visible_counters();
    let rows_room = usize::from(area.height.saturating_sub(1));
    app.page_rows.set(rows_room.max(1));
    if counters.is_empty() {
        empty(frame, app, area);
        return;
    }
    let operators = app
        .site()
        .snapshot
        .as_ref()
        .is_some_and(|s| s.operator_data_enabled);
    // A tall screen shows the queues and the latest events under the counters.
    let table_h = u16::try_from(counters.len() + 1).unwrap_or(u16::MAX);
    let area = if area.height >= table_h.saturating_add(8) {
        let [top, _, bottom] = Layout::vertical([
            Constraint::Length(table_h),
            Constraint::Length(1),
            Constraint::Min(6),
        ])
        .areas(area);
        render_below(frame, app, bottom);
        top
    } else {
        area
    };
    let wide = area.width >= 120;
    let selected = app.selected_row(View::Overview, counters.len());
    let (start, end) = window(counters.len(), selected, rows_room);
    let name_w: u16 = if wide { 28 } else { 16 };
    let rows = counters[start..end].iter().enumerate().map(|(i, c)| {
        let label = if c.name.is_empty() { &c.id } else { &c.name };
        let name_cell = if c.configured {
            Cell::from(format::cut(label, usize::from(name_w)))
        } else {
            Cell::from(Span::styled(
                format::cut(
                    &format!("⚠ {label} ({})", t.unconfigured),
                    usize::from(name_w),
                ),
                th.warn(),
            ))
        };
        let activity = Activity::of(c);
        let busy = matches!(activity, Activity::Calling | Activity::Serving);
        let act_style = match activity {
            Activity::Closed => th.dim(),
            Activity::Idle => th.text(),
            Activity::Calling => th.warn(),
            Activity::Serving => th.ok(),
            Activity::Unknown => th.dim(),
        };
        let link = c.keypad();
        let link_style = match link {
            KeypadLink::KeypadOnline => th.ok(),
            KeypadLink::KeypadOffline => th.error(),
            KeypadLink::KeypadUnknown => th.warn(),
            _ => th.dim(),
        };
        let v = c.votes_today.clone().unwrap_or_default();
        let [g, y, r] = super::face_counts(&v, th);
        let mut cells = vec![
            name_cell,
            Cell::from(Span::styled(i18n::activity(lang, activity), act_style)),
            // A free or closed counter holds no ticket, whatever it showed last.
            Cell::from(if busy {
                c.ticket_display.clone()
            } else {
                String::new()
            }),
            Cell::from(if busy {
                c.service_code.clone()
            } else {
                String::new()
            }),
            Cell::from(Line::from(c.served_today.to_string()).right_aligned()),
            Cell::from(Line::from(format::minutes(c.avg_service_s, lang)).right_aligned()),
            Cell::from(Line::from(g).right_aligned()),
            Cell::from(Line::from(y).right_aligned()),
            Cell::from(Line::from(r).right_aligned()),
            Cell::from(Span::styled(i18n::keypad_link(lang, link), link_style)),
        ];
        if operators {
            cells.push(Cell::from(c.operator_ref.clone()));
        }
        let row = Row::new(cells);
        if start + i == selected {
            row.style(th.selected())
        } else {
            row
        }
    });
    let face = |i: usize| {
        Line::from(Span::styled(
            t.face_letters[i],
            match i {
                0 => th.green(),
                1 => th.yellow(),
                _ => th.red(),
            },
        ))
        .right_aligned()
    };
    let (ticket, service, svc_time) = if wide {
        (t.col_ticket, t.col_service, t.col_service_time)
    } else {
        (t.short[0], t.short[1], t.short[2])
    };
    let mut header = vec![
        Cell::from(t.col_counter),
        Cell::from(t.col_state),
        Cell::from(ticket),
        Cell::from(service),
        Cell::from(Line::from(t.col_served).right_aligned()),
        Cell::from(Line::from(svc_time).right_aligned()),
        Cell::from(face(0)),
        Cell::from(face(1)),
        Cell::from(face(2)),
        Cell::from(t.col_keypad),
    ];
    let mut widths = if wide {
        vec![
            Constraint::Length(name_w),
            Constraint::Length(12),
            Constraint::Length(10),
            Constraint::Length(9),
            Constraint::Length(8),
            Constraint::Length(11),
            Constraint::Length(5),
            Constraint::Length(5),
            Constraint::Length(5),
            Constraint::Length(12),
        ]
    } else {
        vec![
            Constraint::Length(name_w),
            Constraint::Length(11),
            Constraint::Length(6),
            Constraint::Length(5),
            Constraint::Length(7),
            Constraint::Length(8),
            Constraint::Length(3),
            Constraint::Length(3),
            Constraint::Length(3),
            Constraint::Length(11),
        ]
    };
    if operators {
        header.push(Cell::from(t.col_operator));
        widths.push(Constraint::Min(8));
    }
    let table = Table::new(rows, widths)
        .header(Row::new(header).style(th.title()))
        .column_spacing(1);
    frame.render_widget(table, area);
}

/// Under the counters: the queues at a glance (left) and the latest events (right).
fn render_below(frame: &mut Frame, app: &App, area: Rect) {
    let t = tr(app.lang);
    let th = &app.theme;
    let lang = app.lang;
    let [left, right] =
        Layout::horizontal([Constraint::Percentage(45), Constraint::Percentage(55)]).areas(area);
    let block = |title: &'static str| {
        Block::default()
            .borders(Borders::TOP)
            .border_style(th.border())
            .title(Span::styled(format!(" {title} "), th.title()))
    };
    let services = app
        .site()
        .snapshot
        .as_ref()
        .map_or(&[][..], |s| &s.services[..]);
    let inner = block(t.views[1]).inner(left);
    frame.render_widget(block(t.views[1]), left);
    let name_w = usize::from(inner.width.saturating_sub(30)).clamp(6, 40);
    let mut lines = Vec::new();
    for s in services.iter().take(usize::from(inner.height)) {
        let over = s
            .standard_wait_min
            .is_some_and(|m| u64::from(s.longest_wait_s) > u64::from(m) * 60);
        let label = format!("{} {}", s.code, s.name);
        let standard = s
            .standard_wait_min
            .map(|m| format!("{m} min"))
            .unwrap_or_else(|| format::DASH.to_string());
        lines.push(Line::from(vec![
            Span::raw(format!(" {:<name_w$}", format::cut(&label, name_w))),
            Span::styled(format!(" {:>4}", s.waiting_now), th.bold()),
            Span::styled(
                format!(" {:>8}", format::whole_minutes(u64::from(s.longest_wait_s))),
                if over { th.warn() } else { th.text() },
            ),
            Span::styled(format!(" / {standard}"), th.dim()),
        ]));
    }
    if lines.is_empty() {
        lines.push(Line::from(Span::styled(
            format!(" {}", t.no_data),
            th.dim(),
        )));
    }
    frame.render_widget(Paragraph::new(lines), inner);

    let inner = block(t.views[4]).inner(right);
    frame.render_widget(block(t.views[4]), right);
    let zone = app.zone();
    let width = usize::from(inner.width.saturating_sub(11));
    let lines: Vec<Line> = app
        .site()
        .events
        .newest_first()
        .take(usize::from(inner.height))
        .map(|e| {
            let time = format::ts(e.at.as_ref())
                .map(|at| format::clock_secs(at, zone))
                .unwrap_or_else(|| format::DASH.to_string());
            Line::from(vec![
                Span::styled(format!(" {time} "), th.dim()),
                Span::raw(format::fit(&i18n::describe_event(lang, e), width)),
            ])
        })
        .collect();
    frame.render_widget(Paragraph::new(lines), inner);
}
