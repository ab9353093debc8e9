//! Eventi / Events: the live event log, newest first, with filters.

use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Cell, Paragraph, Row, Table};
use ratatui::Frame;

use super::window;
use crate::format;
use crate::i18n::{self, tr};
use crate::model::{App, EventFilter, View};

pub fn render(frame: &mut Frame, app: &App, area: Rect) {
    let t = tr(app.lang);
    let th = &app.theme;
    let lang = app.lang;
    let [info, table_area] =
        Layout::vertical([Constraint::Length(1), Constraint::Min(1)]).areas(area);
    let filter = EventFilter::parse(app.filter());
    let rows_room = usize::from(table_area.height.saturating_sub(1));
    app.page_rows.set(rows_room.max(1));
    let total = app.site().events.len();
    let len = if filter.is_empty() {
        total
    } else {
        app.site()
            .events
            .newest_first()
            .filter(|e| filter.matches(e, lang))
            .count()
    };
    let mut info_spans = vec![Span::styled(
        format!(
            " {len}/{total} · {} {} (max {}) · #{}",
            t.events_kept,
            total,
            app.site().events.capacity(),
            app.site().events.last_seq()
        ),
        th.dim(),
    )];
    if !filter.is_empty() {
        info_spans.push(Span::styled(
            format!("  {}: {}", t.filter, app.filter()),
            th.accent(),
        ));
    }
    frame.render_widget(Paragraph::new(Line::from(info_spans)), info);
    let selected = app.selected_row(View::Events, len);
    let (start, end) = window(len, selected, rows_room);
    let zone = app.zone();
    let wide = area.width >= 120;
    // The description takes what the other columns leave (7 + 8 + kind, counter, service and
    // the spaces between them).
    let fixed: u16 = if wide {
        7 + 8 + 16 + 16 + 9 + 5
    } else {
        7 + 8 + 14 + 3
    };
    let desc_w = area.width.saturating_sub(fixed).max(10);
    let rows = app
        .site()
        .events
        .newest_first()
        .filter(|e| filter.matches(e, lang))
        .skip(start)
        .take(end - start)
        .enumerate()
        .map(|(i, e)| {
            let time = format::ts(e.at.as_ref())
                .map(|at| format::clock_secs(at, zone))
                .unwrap_or_else(|| format::DASH.to_string());
            let mut cells = vec![
                Cell::from(Line::from(e.seq.to_string()).right_aligned()),
                Cell::from(time),
                Cell::from(Span::styled(i18n::log_kind(lang, e.kind()), th.accent())),
            ];
            if wide {
                cells.push(Cell::from(app.counter_name(&e.counter_id)));
                cells.push(Cell::from(e.service_code.clone()));
            }
            cells.push(Cell::from(format::fit(
                &i18n::describe_event(lang, e),
                usize::from(desc_w),
            )));
            let row = Row::new(cells);
            if start + i == selected {
                row.style(th.selected())
            } else {
                row
            }
        });
    let mut header = vec![
        Cell::from(Line::from(t.col_seq).right_aligned()),
        Cell::from(t.col_time),
        Cell::from(t.col_kind),
    ];
    let mut widths = vec![
        Constraint::Length(7),
        Constraint::Length(8),
        Constraint::Length(if wide { 16 } else { 14 }),
    ];
    if wide {
        header.push(Cell::from(t.col_counter));
        widths.push(Constraint::Length(16));
        header.push(Cell::from(t.col_service));
        widths.push(Constraint::Length(9));
    }
    header.push(Cell::from(t.col_description));
    widths.push(Constraint::Min(10));
    frame.render_widget(
        Table::new(rows, widths)
            .header(Row::new(header).style(th.title()))
            .column_spacing(1),
        table_area,
    );
}
