//! Code / Queues: per service, waiting now and today against the declared standard.

use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Cell, Paragraph, Row, Sparkline, Table};
use ratatui::Frame;

use super::{empty, window};
use crate::format;
use crate::i18n::tr;
use crate::model::{App, View};

pub fn render(frame: &mut Frame, app: &App, area: Rect) {
    let t = tr(app.lang);
    let th = &app.theme;
    let lang = app.lang;
    let services = app.visible_services();
    if services.is_empty() {
        app.page_rows.set(usize::from(area.height).max(1));
        empty(frame, app, area);
        return;
    }
    let detail_h = if area.height >= 30 { 9 } else { 5 };
    let [table_area, detail] =
        Layout::vertical([Constraint::Min(2), Constraint::Length(detail_h)]).areas(area);
    let rows_room = usize::from(table_area.height.saturating_sub(1));
    app.page_rows.set(rows_room.max(1));
    let selected = app.selected_row(View::Queues, services.len());
    let (start, end) = window(services.len(), selected, rows_room);
    let wide = area.width >= 120;
    // Wide: the names as long as they are (up to 40), the day's queue gets the rest.
    let longest_name = services
        .iter()
        .map(|s| s.code.chars().count() + 1 + s.name.chars().count())
        .max()
        .unwrap_or(0);
    let name_w: u16 = if wide {
        u16::try_from(longest_name.clamp(14, 40)).unwrap_or(40)
    } else {
        14
    };
    let spark_w = if wide {
        usize::from(
            area.width
                .saturating_sub(name_w + 9 + 4 * 10 + 8 + 7 + 8 + 2),
        )
    } else {
        0
    };
    let rows = services[start..end].iter().enumerate().map(|(i, s)| {
        let label = if s.name.is_empty() {
            s.code.clone()
        } else {
            format!("{} {}", s.code, s.name)
        };
        let name = if s.configured {
            Cell::from(format::cut(&label, usize::from(name_w)))
        } else {
            Cell::from(Span::styled(
                format::cut(
                    &format!("⚠ {label} ({})", t.unconfigured),
                    usize::from(name_w),
                ),
                th.warn(),
            ))
        };
        let over = s
            .standard_wait_min
            .is_some_and(|m| u64::from(s.longest_wait_s) > u64::from(m) * 60);
        let longest = Span::styled(
            format::whole_minutes(u64::from(s.longest_wait_s)),
            if over { th.warn() } else { th.text() },
        );
        let standard = s
            .standard_wait_min
            .map(|m| format!("{m} min"))
            .unwrap_or_else(|| format::DASH.to_string());
        let mut cells = vec![
            name,
            Cell::from(Line::from(s.waiting_now.to_string()).right_aligned()),
            Cell::from(Line::from(longest).right_aligned()),
            Cell::from(Line::from(format::minutes(s.avg_wait_s, lang)).right_aligned()),
            Cell::from(Line::from(format::minutes(s.p90_wait_s, lang)).right_aligned()),
            Cell::from(Line::from(format::percent(s.within_standard_pct, lang)).right_aligned()),
            Cell::from(Line::from(standard).right_aligned()),
            Cell::from(Line::from(s.served_today.to_string()).right_aligned()),
        ];
        if spark_w > 0 {
            let slots = format::resample_max(&s.waiting_by_slot, spark_w);
            cells.push(Cell::from(Span::styled(format::spark(&slots), th.accent())));
        }
        let row = Row::new(cells);
        if start + i == selected {
            row.style(th.selected())
        } else {
            row
        }
    });
    let titles = if wide {
        [
            t.col_waiting,
            t.col_longest,
            t.col_avg,
            t.col_p90,
            t.col_within,
            t.col_standard,
        ]
    } else {
        [
            t.short[3], t.short[4], t.short[5], t.short[6], t.short[7], t.short[8],
        ]
    };
    let mut header = vec![Cell::from(t.col_service)];
    header.extend(
        titles
            .iter()
            .map(|x| Cell::from(Line::from(*x).right_aligned())),
    );
    header.push(Cell::from(Line::from(t.col_served).right_aligned()));
    let mut widths = if wide {
        vec![
            Constraint::Length(name_w),
            Constraint::Length(9),
            Constraint::Length(10),
            Constraint::Length(10),
            Constraint::Length(10),
            Constraint::Length(10),
            Constraint::Length(8),
            Constraint::Length(7),
        ]
    } else {
        vec![
            Constraint::Length(name_w),
            Constraint::Length(5),
            Constraint::Length(7),
            Constraint::Length(8),
            Constraint::Length(8),
            Constraint::Length(7),
            Constraint::Length(7),
            Constraint::Length(7),
        ]
    };
    if spark_w > 0 {
        header.push(Cell::from(t.col_queue_day));
        widths.push(Constraint::Min(4));
    }
    frame.render_widget(
        Table::new(rows, widths)
            .header(Row::new(header).style(th.title()))
            .column_spacing(1),
        table_area,
    );

    // The selected service's queue through the day: 96 quarter hours.
    let Some(s) = services.get(selected) else {
        return;
    };
    let block = Block::default()
        .borders(Borders::TOP)
        .border_style(th.border())
        .title(Span::styled(
            format!(" {} — {} {} ", t.queue_of, s.code, s.name),
            th.title(),
        ));
    let inner = block.inner(detail);
    frame.render_widget(block, detail);
    let [spark_area, axis] =
        Layout::vertical([Constraint::Min(1), Constraint::Length(1)]).areas(inner);
    let width = usize::from(spark_area.width);
    let data: Vec<u64> = format::resample_max(&s.waiting_by_slot, width)
        .into_iter()
        .map(u64::from)
        .collect();
    let max = data.iter().copied().max().unwrap_or(0);
    frame.render_widget(
        Sparkline::default().data(&data).style(th.accent()),
        spark_area,
    );
    // Hour marks under the sparkline, every 2 hours when there is room.
    let n = data.len().max(1);
    let mut axis_text = vec![' '; width];
    let slots = s.waiting_by_slot.len().max(1);
    for hour in (0..24).step_by(if width >= 96 { 2 } else { 4 }) {
        let col = hour * 4 * n / slots;
        let label = format!("{hour:02}");
        if slots >= 96 && col + 2 <= width {
            for (k, ch) in label.chars().enumerate() {
                axis_text[col + k] = ch;
            }
        }
    }
    let peak = format!(" max {max} ");
    let mut axis_line: String = axis_text.into_iter().collect();
    if axis_line.chars().count() > peak.chars().count() {
        let keep = axis_line.chars().count() - peak.chars().count();
        axis_line = axis_line.chars().take(keep).collect::<String>() + &peak;
    }
    frame.render_widget(Paragraph::new(Span::styled(axis_line, th.dim())), axis);
}
