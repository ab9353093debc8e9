//! Terminali / Keypads: every keypad's link, health, faults and firmware; technician commands.

use faccia_proto::v1::{Keypad, KeypadLink};
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Cell, Paragraph, Row, Table, Wrap};
use ratatui::Frame;

use super::{empty, window};
use crate::format;
use crate::i18n::{self, tr};
use crate::keymap::Action;
use crate::model::{App, View};

/// Names of the FAULTS bits that are set (bit 0..=6 per the FK-3 register map; any other bit is
/// named by its number).
pub fn fault_names(bits: u32, lang: faccia_domain::Lang) -> Vec<String> {
    let t = tr(lang);
    (0..32)
        .filter(|b| bits & (1 << b) != 0)
        .map(|b| match t.faults.get(b as usize) {
            Some(name) => (*name).to_string(),
            None => format!("bit {b}"),
        })
        .collect()
}

fn link_style(app: &App, link: KeypadLink) -> Style {
    match link {
        KeypadLink::KeypadOnline => app.theme.ok(),
        KeypadLink::KeypadOffline => app.theme.error(),
        KeypadLink::KeypadUnknown => app.theme.warn(),
        _ => app.theme.dim(),
    }
}

fn rtt(k: &Keypad, lang: faccia_domain::Lang) -> String {
    match (k.rtt_median_ms, k.rtt_p99_ms) {
        (Some(m), Some(p)) => format!(
            "{}/{} ms",
            format::number(m, 0, lang),
            format::number(p, 0, lang)
        ),
        (Some(m), None) => format!("{} ms", format::number(m, 0, lang)),
        _ => format::DASH.to_string(),
    }
}

pub fn render(frame: &mut Frame, app: &App, area: Rect) {
    let t = tr(app.lang);
    let th = &app.theme;
    let lang = app.lang;
    let keypads = app.visible_keypads();
    if keypads.is_empty() {
        app.page_rows.set(usize::from(area.height).max(1));
        empty(frame, app, area);
        return;
    }
    let detail_h = if area.height >= 30 { 8 } else { 6 };
    let [table_area, detail] =
        Layout::vertical([Constraint::Min(2), Constraint::Length(detail_h)]).areas(area);
    let rows_room = usize::from(table_area.height.saturating_sub(1));
    app.page_rows.set(rows_room.max(1));
    let selected = app.selected_row(View::Keypads, keypads.len());
    let (start, end) = window(keypads.len(), selected, rows_room);
    let wide = area.width >= 120;
    let zone = app.zone();
    let rows = keypads[start..end].iter().enumerate().map(|(i, k)| {
        let link = k.link();
        let since = format::ts(k.since.as_ref())
            .map(|s| format::local_time(s, app.now, zone))
            .unwrap_or_else(|| format::DASH.to_string());
        let errors = k
            .timeouts
            .saturating_add(k.crc_errors)
            .saturating_add(k.exceptions);
        let faults = fault_names(k.faults, lang);
        let faults_text = if faults.is_empty() {
            t.no_faults.to_string()
        } else if wide {
            faults.join(", ")
        } else {
            format!("{}: {}", faults.len(), faults.join(", "))
        };
        let fault_style = if faults.is_empty() {
            th.dim()
        } else {
            th.error()
        };
        let mut cells = vec![
            Cell::from(app.keypad_name(k)),
            Cell::from(k.bus.clone()),
            Cell::from(Line::from(k.unit_id.to_string()).right_aligned()),
            Cell::from(Span::styled(
                i18n::keypad_link(lang, link),
                link_style(app, link),
            )),
            Cell::from(since),
        ];
        if wide {
            let last = format::ts(k.last_seen.as_ref())
                .map(|s| format::age((app.now - s).num_seconds(), lang))
                .unwrap_or_else(|| format::DASH.to_string());
            cells.push(Cell::from(Line::from(last).right_aligned()));
        }
        cells.push(Cell::from(Line::from(rtt(k, lang)).right_aligned()));
        if wide {
            cells.push(Cell::from(Line::from(errors.to_string()).right_aligned()));
            cells.push(Cell::from(
                Line::from(k.ignored_presses.to_string()).right_aligned(),
            ));
            cells.push(Cell::from(k.firmware.clone()));
        }
        cells.push(Cell::from(Span::styled(faults_text, fault_style)));
        let row = Row::new(cells);
        if start + i == selected {
            row.style(th.selected())
        } else {
            row
        }
    });
    let mut header = vec![
        Cell::from(t.col_counter),
        Cell::from(t.col_bus),
        Cell::from(Line::from(t.col_unit).right_aligned()),
        Cell::from(t.col_link),
        Cell::from(t.col_since),
    ];
    let mut widths = vec![
        Constraint::Length(if wide { 18 } else { 12 }),
        Constraint::Length(if wide { 14 } else { 12 }),
        Constraint::Length(5),
        Constraint::Length(11),
        Constraint::Length(if wide { 11 } else { 5 }),
    ];
    if wide {
        header.push(Cell::from(Line::from(t.col_last_seen).right_aligned()));
        widths.push(Constraint::Length(15));
    }
    header.push(Cell::from(Line::from(t.col_rtt).right_aligned()));
    widths.push(Constraint::Length(if wide { 10 } else { 9 }));
    if wide {
        header.push(Cell::from(Line::from(t.col_errors).right_aligned()));
        widths.push(Constraint::Length(7));
        header.push(Cell::from(Line::from(t.col_ignored).right_aligned()));
        widths.push(Constraint::Length(8));
        header.push(Cell::from(t.col_firmware));
        widths.push(Constraint::Length(9));
    }
    header.push(Cell::from(t.col_faults));
    widths.push(Constraint::Min(6));
    frame.render_widget(
        Table::new(rows, widths)
            .header(Row::new(header).style(th.title()))
            .column_spacing(1),
        table_area,
    );

    // Everything about the selected keypad.
    let Some(k) = keypads.get(selected) else {
        return;
    };
    let name = app.keypad_name(k);
    let block = Block::default()
        .borders(Borders::TOP)
        .border_style(th.border())
        .title(Span::styled(
            format!(" {} — {name} ", t.col_keypad),
            th.title(),
        ));
    let inner = block.inner(detail);
    frame.render_widget(block, detail);
    let link = k.link();
    let since = format::ts(k.since.as_ref())
        .map(|s| {
            format!(
                "{} {} ({})",
                t.col_since.to_lowercase(),
                format::local_time(s, app.now, zone),
                format::age((app.now - s).num_seconds(), lang)
            )
        })
        .unwrap_or_default();
    let last = format::ts(k.last_seen.as_ref())
        .map(|s| {
            format!(
                " · {} {}",
                t.col_last_seen.to_lowercase(),
                format::clock_secs(s, zone)
            )
        })
        .unwrap_or_default();
    let faults = fault_names(k.faults, lang);
    let dim = |s: String| Span::styled(s, th.dim());
    let lines = vec![
        Line::from(vec![
            dim(format!("{} ", t.col_bus)),
            Span::raw(k.bus.clone()),
            dim(format!(" · {} ", t.col_unit.to_lowercase())),
            Span::raw(k.unit_id.to_string()),
            dim(format!(" · {} ", t.serial_no)),
            Span::raw(k.serial_no.clone()),
            dim(format!(" · {} ", t.col_firmware.to_lowercase())),
            Span::raw(k.firmware.clone()),
        ]),
        Line::from(vec![
            Span::styled(i18n::keypad_link(lang, link), link_style(app, link)),
            Span::raw(format!(" {since}{last}")),
        ]),
        Line::from(vec![
            dim(format!("{} ", t.col_rtt)),
            Span::raw(rtt(k, lang)),
            dim(format!(" · {} ", t.timeouts)),
            Span::raw(k.timeouts.to_string()),
            dim(format!(" · {} ", t.crc_errors)),
            Span::raw(k.crc_errors.to_string()),
            dim(format!(" · {} ", t.exceptions)),
            Span::raw(k.exceptions.to_string()),
            dim(format!(" · {} ", t.reboots)),
            Span::raw(k.reboots.to_string()),
            dim(format!(" · {} ", t.col_ignored.to_lowercase())),
            Span::raw(k.ignored_presses.to_string()),
        ]),
        Line::from(vec![
            dim(format!("{}: ", t.col_faults)),
            if faults.is_empty() {
                Span::styled(t.no_faults, th.ok())
            } else {
                Span::styled(faults.join(", "), th.error())
            },
        ]),
        Line::from(vec![
            Span::styled(app.keymap.first_key(Action::Identify), th.accent()),
            dim(format!(" {} · ", i18n::action(lang, Action::Identify))),
            Span::styled(app.keymap.first_key(Action::SelfTest), th.accent()),
            dim(format!(" {}", i18n::action(lang, Action::SelfTest))),
        ]),
    ];
    frame.render_widget(Paragraph::new(lines).wrap(Wrap { trim: false }), inner);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_faults() {
        assert!(fault_names(0, faccia_domain::Lang::It).is_empty());
        assert_eq!(
            fault_names(0b100_1100, faccia_domain::Lang::En),
            vec!["red key stuck", "LED fault", "brown-out since boot"]
        );
        assert_eq!(
            fault_names(1 << 31, faccia_domain::Lang::It),
            vec!["bit 31"]
        );
        assert_eq!(fault_names(u32::MAX, faccia_domain::Lang::It).len(), 32);
    }
}
