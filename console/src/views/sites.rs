//! Tutte le sedi / All offices: one row per office, side by side — its local time, served
//! today, waiting now, the average wait and the longest wait against its service's declared
//! standard, participation, the three faces' shares, keypads online and open alerts. Every
//! row is one office's own snapshot: its "today" is its own local day, its clock its own time
//! zone's. Below, what stops an office or a server from answering, and the selected office's
//! alerts.

use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Cell, Paragraph, Row, Table};
use ratatui::Frame;

use super::{alert_sentence_in, conn_span, window};
use crate::format;
use crate::i18n::tr;
use crate::model::{App, ConnState, Office, ServerConn, SiteFigures, View};

/// From this width every column has its full title and the clock its day.
const WIDE: u16 = 145;

pub fn render(frame: &mut Frame, app: &App, area: Rect) {
    let t = tr(app.lang);
    let th = &app.theme;
    let offices = app.visible_offices();
    let notes = notes(app);
    if offices.is_empty() {
        app.page_rows.set(usize::from(area.height).max(1));
        let text = if app.offices.is_empty() {
            t.waiting_server
        } else {
            t.no_data
        };
        let mut lines = vec![Line::from(Span::styled(format!(" {text}"), th.dim()))];
        lines.extend(notes);
        frame.render_widget(Paragraph::new(lines), area);
        return;
    }
    let table_h = u16::try_from(offices.len() + 1).unwrap_or(u16::MAX);
    let area = if area.height >= table_h.saturating_add(5) {
        let [top, _, bottom] = Layout::vertical([
            Constraint::Length(table_h),
            Constraint::Length(1),
            Constraint::Min(4),
        ])
        .areas(area);
        let selected = app.selected_row(View::Sites, offices.len());
        render_below(
            frame,
            app,
            bottom,
            notes,
            offices.get(selected).map(|(_, o)| *o),
        );
        top
    } else {
        area
    };
    let rows_room = usize::from(area.height.saturating_sub(1));
    app.page_rows.set(rows_room.max(1));
    let selected = app.selected_row(View::Sites, offices.len());
    let (start, end) = window(offices.len(), selected, rows_room);
    let wide = area.width >= WIDE;
    let fixed: u16 = if wide {
        20 + 7 + 9 + 12 + 14 + 14 + 6 + 6 + 6 + 11 + 6 + 11
    } else {
        5 + 5 + 4 + 10 + 5 + 5 + 5 + 5 + 5 + 4 + 10
    };
    let name_w = area.width.saturating_sub(fixed).clamp(12, 40);
    let rows = offices[start..end].iter().enumerate().map(|(i, (_, o))| {
        let row = Row::new(cells(app, o, wide, usize::from(name_w)));
        let row = if matches!(o.state.conn, ConnState::Lost { .. }) {
            // What it shows is from before the link went down.
            row.style(th.dim())
        } else {
            row
        };
        if start + i == selected {
            row.style(th.selected())
        } else {
            row
        }
    });
    let right = |s: &'static str| Cell::from(Line::from(s).right_aligned());
    let (header, widths): (Vec<Cell>, Vec<Constraint>) = if wide {
        (
            vec![
                Cell::from(t.col_site),
                Cell::from(t.col_local_time),
                right(t.col_served),
                right(t.col_waiting),
                right(t.avg_wait),
                right(t.col_worst),
                right(t.participation),
                right(t.faces[0]),
                right(t.faces[1]),
                right(t.faces[2]),
                right(t.col_keypads),
                right(t.col_alerts),
            ],
            [name_w, 20, 7, 9, 12, 14, 14, 6, 6, 6, 11, 6]
                .into_iter()
                .map(Constraint::Length)
                .collect(),
        )
    } else {
        let s = &t.sites_short;
        let mut h = vec![Cell::from(t.col_site), Cell::from(s[0])];
        h.extend(s[1..].iter().map(|x| right(x)));
        (
            h,
            [name_w, 5, 5, 4, 10, 5, 5, 5, 5, 5, 4]
                .into_iter()
                .map(Constraint::Length)
                .collect(),
        )
    };
    frame.render_widget(
        Table::new(rows, widths)
            .header(Row::new(header).style(th.title()))
            .column_spacing(1),
        area,
    );
}

/// One office's row.
fn cells(app: &App, o: &Office, wide: bool, name_w: usize) -> Vec<Cell<'static>> {
    let th = &app.theme;
    let lang = app.lang;
    let conn = conn_span(app, &o.state.conn);
    let marker = conn.content.chars().next().unwrap_or(' ');
    let zone = o.zone();
    let clock = if wide {
        format::header_clock(app.now, zone, lang)
    } else {
        format::local_time(app.now, app.now, zone)
    };
    let mut cells = vec![
        Cell::from(Line::from(vec![
            Span::styled(format!("{marker} "), conn.style),
            Span::raw(format::cut(o.name(), name_w.saturating_sub(2))),
        ])),
        Cell::from(clock),
    ];
    let right =
        |s: String, style: Style| Cell::from(Line::from(Span::styled(s, style)).right_aligned());
    let Some(snap) = &o.state.snapshot else {
        let n = if wide { 10 } else { 9 };
        cells.extend((0..n).map(|_| right(format::DASH.to_string(), th.dim())));
        return cells;
    };
    let f = SiteFigures::of(snap);
    // Narrow columns leave the per cent sign to their titles.
    let share = |part: u64, whole: u64| {
        let s = format::share(part, whole, lang);
        if wide {
            s
        } else {
            s.trim_end_matches('%').to_string()
        }
    };
    let over = if f.over_standard > 0 {
        th.warn()
    } else {
        th.text()
    };
    cells.push(right(f.served.to_string(), th.text()));
    cells.push(right(f.waiting.to_string(), th.bold()));
    if wide {
        cells.push(right(format::minutes(f.avg_wait_s, lang), th.text()));
        let worst = f.worst.as_ref().map_or_else(
            || format::DASH.to_string(),
            |w| format!("{} {}/{} min", w.code, w.longest_s / 60, w.standard_min),
        );
        let style = if f.worst.as_ref().is_some_and(|w| w.over) {
            th.warn()
        } else {
            th.text()
        };
        cells.push(right(format::cut(&worst, 14), style));
    } else {
        // The average wait, and how many services wait longer than their standard now.
        let mut s = format::minutes(f.avg_wait_s, lang);
        if f.over_standard > 0 {
            s = format!("{s} ⚠{}", f.over_standard);
        }
        cells.push(right(format::cut(&s, 10), over));
    }
    cells.push(right(share(f.votes, u64::from(f.served)), th.text()));
    cells.push(right(share(f.green, f.votes), th.green()));
    cells.push(right(share(f.yellow, f.votes), th.yellow()));
    cells.push(right(share(f.red, f.votes), th.red()));
    let keypads = if wide {
        format!(
            "{}/{} {}",
            f.keypads_online,
            f.keypads,
            tr(lang).keypads_online
        )
    } else {
        format!("{}/{}", f.keypads_online, f.keypads)
    };
    let keypad_style = if f.keypads == 0 {
        th.dim()
    } else if f.keypads_online < f.keypads {
        th.error()
    } else {
        th.ok()
    };
    cells.push(right(keypads, keypad_style));
    let alert_style = if f.alerts > 0 { th.warn() } else { th.dim() };
    cells.push(right(f.alerts.to_string(), alert_style));
    cells
}

/// What keeps a server or an office from answering, one line each.
fn notes(app: &App) -> Vec<Line<'static>> {
    let t = tr(app.lang);
    let th = &app.theme;
    let lang = app.lang;
    let mut lines = Vec::new();
    for s in &app.servers {
        match &s.conn {
            ServerConn::Discovering => lines.push(Line::from(Span::styled(
                format!(" ◌ {}: {}", s.url, t.discovering),
                th.dim(),
            ))),
            ServerConn::Down { attempt, error } => lines.push(Line::from(Span::styled(
                format!(
                    " ✖ {}: {} ({} {attempt})",
                    s.url,
                    error.describe(lang),
                    t.attempt
                ),
                th.error(),
            ))),
            ServerConn::Up { .. } => {}
        }
    }
    for o in &app.offices {
        if let ConnState::Lost { attempt, error } = &o.state.conn {
            lines.push(Line::from(Span::styled(
                format!(
                    " ✖ {}: {} ({} {attempt}): {}",
                    o.name(),
                    t.lost,
                    t.attempt,
                    error.describe(lang)
                ),
                th.error(),
            )));
        } else if let Some(e) = &o.state.snapshot_error {
            lines.push(Line::from(Span::styled(
                format!(" ✖ {}: {}", o.name(), e.describe(lang)),
                th.error(),
            )));
        }
    }
    lines
}

/// Under the table: the notes, then the selected office's alerts.
fn render_below(
    frame: &mut Frame,
    app: &App,
    area: Rect,
    notes: Vec<Line<'static>>,
    selected: Option<&Office>,
) {
    let t = tr(app.lang);
    let th = &app.theme;
    let mut lines = notes;
    if let Some(o) = selected {
        let block = Block::default()
            .borders(Borders::TOP)
            .border_style(th.border())
            .title(Span::styled(
                format!(" {} — {} ", t.alerts_title, o.name()),
                th.title(),
            ));
        let inner = block.inner(area);
        frame.render_widget(block, area);
        let alerts = o.state.snapshot.as_ref().map_or(&[][..], |s| &s.alerts[..]);
        let width = usize::from(inner.width.saturating_sub(4));
        if alerts.is_empty() && o.state.snapshot.is_some() {
            lines.push(Line::from(Span::styled(
                format!(" ✓ {}", t.no_alerts),
                th.ok(),
            )));
        }
        let zone = o.zone();
        for a in alerts {
            let s = alert_sentence_in(app, o.state.snapshot.as_ref(), zone, a);
            lines.push(Line::from(Span::styled(
                format!(" • {}", format::fit(&s, width)),
                th.warn(),
            )));
        }
        frame.render_widget(Paragraph::new(lines), inner);
    } else {
        frame.render_widget(Paragraph::new(lines), area);
    }
}
