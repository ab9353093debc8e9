//! Panoramica / Overview: every counter, what it does, and its keypad.

use faccia_proto::v1::KeypadLink;
use ratatui::layout::{Constraint, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Cell, Row, Table};
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
        .snapshot
        .as_ref()
        .is_some_and(|s| s.operator_data_enabled);
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
