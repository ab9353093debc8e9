//! Render functions. [`render`] draws the whole screen from an [`App`]: header, tabs, alert
//! line, the current view, footer and any overlay. Nothing here changes the state, except the
//! page height remembered for paging.

mod events;
mod keypads;
mod overview;
mod queues;
mod reports;
mod satisfaction;
mod sites;

use chrono_tz::Tz;
use faccia_domain::Lang;
use faccia_proto::v1::{Alert, AlertKind, FaceCounts, Snapshot};
use ratatui::layout::{Alignment, Constraint, Layout, Rect};
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Clear, Paragraph, Wrap};
use ratatui::Frame;

use crate::format;
use crate::i18n::{self, tr};
use crate::keymap::Action;
use crate::model::{App, ConnState, Mode, SiteFigures, View};
use crate::theme::Theme;

/// The smallest screen the console lays out; below it only a notice is shown.
pub const MIN_WIDTH: u16 = 40;
pub const MIN_HEIGHT: u16 = 10;

/// Draws the whole screen.
pub fn render(frame: &mut Frame, app: &App) {
    let area = frame.area();
    if area.width < MIN_WIDTH || area.height < MIN_HEIGHT {
        let text = format::cut(tr(app.lang).too_small, usize::from(area.width));
        frame.render_widget(Paragraph::new(text).style(app.theme.warn()), area);
        return;
    }
    let header_h = if area.width >= 130 { 2 } else { 3 };
    let alerts_h = if area.height >= 40 { 3 } else { 1 };
    let [header, tabs, alerts, body, footer] = Layout::vertical([
        Constraint::Length(header_h),
        Constraint::Length(1),
        Constraint::Length(alerts_h),
        Constraint::Min(1),
        Constraint::Length(1),
    ])
    .areas(area);
    render_header(frame, app, header);
    render_tabs(frame, app, tabs);
    render_alert_lines(frame, app, alerts);
    match app.view {
        View::Overview => overview::render(frame, app, body),
        View::Queues => queues::render(frame, app, body),
        View::Satisfaction => satisfaction::render(frame, app, body),
        View::Keypads => keypads::render(frame, app, body),
        View::Events => events::render(frame, app, body),
        View::Reports => reports::render(frame, app, body),
        View::Sites => sites::render(frame, app, body),
    }
    render_footer(frame, app, footer);
    match &app.mode {
        Mode::Help => render_help(frame, app, area),
        Mode::Picker { selected } => render_picker(frame, app, body, *selected),
        Mode::Alerts => render_alerts_overlay(frame, app, body),
        Mode::Confirm {
            counter_id, action, ..
        } => {
            // "3", or "3 (Anagrafe)" when the counter's name says more than its number.
            let name = app.counter_name(counter_id);
            let label = if name == *counter_id || name.ends_with(&format!(" {counter_id}")) {
                counter_id.clone()
            } else {
                format!("{counter_id} ({name})")
            };
            let q = i18n::confirm_keypad(app.lang, *action, &label);
            render_dialog(frame, app, body, &q);
        }
        Mode::Normal | Mode::Filter { .. } => {}
    }
}

/// Label-and-value items packed into at most `max_lines` lines of `width` cells, two spaces
/// apart, never splitting an item: an item that does not fit on the last line is left out
/// whole rather than shown cut.
pub(crate) fn pack_items<'a>(
    items: Vec<Vec<Span<'a>>>,
    width: usize,
    max_lines: usize,
) -> Vec<Line<'a>> {
    let mut lines: Vec<Line<'a>> = Vec::new();
    let mut current: Vec<Span<'a>> = Vec::new();
    let mut used = 0usize;
    for item in items {
        let w: usize = item.iter().map(|s| s.content.chars().count()).sum();
        let need = if current.is_empty() { w } else { w + 2 };
        if used + need > width && !current.is_empty() {
            lines.push(Line::from(std::mem::take(&mut current)));
            used = 0;
            if lines.len() >= max_lines {
                return lines;
            }
        }
        if w > width {
            continue;
        }
        if !current.is_empty() {
            current.push(Span::raw("  "));
            used += 2;
        }
        used += w;
        current.extend(item);
    }
    if !current.is_empty() && lines.len() < max_lines {
        lines.push(Line::from(current));
    }
    lines
}

/// First and one-past-last row to show of `len` rows in `rows` lines, keeping `selected` visible.
pub(crate) fn window(len: usize, selected: usize, rows: usize) -> (usize, usize) {
    if rows == 0 || len == 0 {
        return (0, 0);
    }
    let start = if selected >= rows {
        selected + 1 - rows
    } else {
        0
    };
    (start, (start + rows).min(len))
}

/// A stacked bar of the three faces, `width` cells: green █, yellow ▒, red ░ (readable without
/// colour too). Empty when there are no votes.
pub(crate) fn face_bar(f: &FaceCounts, width: usize, theme: &Theme) -> Vec<Span<'static>> {
    let total = format::votes(f);
    if total == 0 || width == 0 {
        return vec![Span::raw(" ".repeat(width))];
    }
    let w = width as u64;
    let g = ((u64::from(f.green) * w + total / 2) / total).min(w);
    let gy = (((u64::from(f.green) + u64::from(f.yellow)) * w + total / 2) / total).clamp(g, w);
    let y = gy - g;
    let r = w - gy;
    vec![
        Span::styled("█".repeat(g as usize), theme.green()),
        Span::styled("▒".repeat(y as usize), theme.yellow()),
        Span::styled("░".repeat(r as usize), theme.red()),
    ]
}

/// Face counts as three coloured numbers.
pub(crate) fn face_counts(f: &FaceCounts, theme: &Theme) -> [Span<'static>; 3] {
    [
        Span::styled(f.green.to_string(), theme.green()),
        Span::styled(f.yellow.to_string(), theme.yellow()),
        Span::styled(f.red.to_string(), theme.red()),
    ]
}

pub(crate) fn conn_span(app: &App, conn: &ConnState) -> Span<'static> {
    let t = tr(app.lang);
    let th = &app.theme;
    match conn {
        ConnState::Connecting => Span::styled(format!("◌ {}", t.connecting), th.warn()),
        ConnState::Connected => Span::styled(format!("● {}", t.connected), th.ok()),
        ConnState::Lost { attempt, .. } => Span::styled(
            format!("✖ {} ({} {})", t.lost, t.attempt, attempt),
            th.error(),
        ),
        ConnState::Resumed { from_seq } => {
            Span::styled(format!("● {} #{from_seq}", t.resumed_from), th.ok())
        }
    }
}

fn render_header(frame: &mut Frame, app: &App, area: Rect) {
    let t = tr(app.lang);
    let th = &app.theme;
    let lang = app.lang;
    let [top, rest] = Layout::vertical([Constraint::Length(1), Constraint::Min(0)]).areas(area);
    frame.render_widget(Block::default().style(th.header()), top);
    let all = app.view == View::Sites;
    // The clock is the office's; the all-sites view shows each office's own time instead.
    let clock = if all {
        String::new()
    } else {
        format::header_clock(app.now, app.zone(), lang)
    };
    let conn = if all {
        sites_conn_span(app)
    } else {
        conn_span(app, &app.site().conn)
    };
    let right_w = (clock.chars().count() + conn.content.chars().count() + 4) as u16;
    let right_w = right_w.min(top.width / 2 + top.width / 4);
    let [left, right] =
        Layout::horizontal([Constraint::Min(0), Constraint::Length(right_w)]).areas(top);
    let office = if all {
        format!("{} ({})", t.all_sites, app.offices.len())
    } else {
        app.office_name()
    };
    let title = if office.is_empty() {
        t.app.to_string()
    } else {
        format!("{} · {office}", t.app)
    };
    frame.render_widget(
        Paragraph::new(Line::from(Span::styled(
            format!(
                " {}",
                format::cut(&title, usize::from(left.width).saturating_sub(1))
            ),
            th.header().add_modifier(ratatui::style::Modifier::BOLD),
        ))),
        left,
    );
    frame.render_widget(
        Paragraph::new(Line::from(vec![
            Span::styled(clock, th.header()),
            Span::styled("  ", th.header()),
            conn.patch_style(Style::default().bg(th.header_bg)),
        ]))
        .alignment(Alignment::Right),
        right,
    );

    let [_, totals] = Layout::horizontal([Constraint::Length(1), Constraint::Min(0)]).areas(rest);
    let width = usize::from(totals.width.saturating_sub(1));
    let room = usize::from(totals.height);
    if all {
        // Every office's today added up (each office's today is its own local day).
        let mut sum = SiteFigures::of(&Snapshot::default());
        let mut known = 0usize;
        for o in &app.offices {
            if let Some(snap) = &o.state.snapshot {
                let f = SiteFigures::of(snap);
                sum.served = sum.served.saturating_add(f.served);
                sum.waiting = sum.waiting.saturating_add(f.waiting);
                sum.green = sum.green.saturating_add(f.green);
                sum.yellow = sum.yellow.saturating_add(f.yellow);
                sum.red = sum.red.saturating_add(f.red);
                sum.votes = sum.votes.saturating_add(f.votes);
                known += 1;
            }
        }
        if known == 0 {
            frame.render_widget(
                Paragraph::new(Line::from(Span::styled(t.waiting_server, th.dim()))),
                rest,
            );
            return;
        }
        let mut items = vec![vec![
            Span::styled(format!("{} ", t.sites_label), th.dim()),
            Span::styled(app.offices.len().to_string(), th.bold()),
        ]];
        items.extend(totals_items(app, &sum, None));
        frame.render_widget(Paragraph::new(pack_items(items, width, room)), totals);
        return;
    }
    let Some(snap) = &app.site().snapshot else {
        let msg = match &app.site().snapshot_error {
            Some(e) => Span::styled(e.describe(lang), th.error()),
            None => Span::styled(t.waiting_server, th.dim()),
        };
        frame.render_widget(Paragraph::new(Line::from(msg)), rest);
        return;
    };
    let f = SiteFigures::of(snap);
    let avg = snap.today.as_ref().and_then(|t| t.avg_wait_s);
    frame.render_widget(
        Paragraph::new(pack_items(totals_items(app, &f, Some(avg)), width, room)),
        totals,
    );
}

/// The header's figures: served, waiting now, average wait (when `avg` is given), votes,
/// participation, and the three faces' shares.
fn totals_items(app: &App, f: &SiteFigures, avg: Option<Option<f64>>) -> Vec<Vec<Span<'static>>> {
    let t = tr(app.lang);
    let th = &app.theme;
    let lang = app.lang;
    let label = |s: &str| Span::styled(format!("{s} "), th.dim());
    let value = |s: String| Span::styled(s, th.bold());
    let mut items = vec![
        vec![label(t.served), value(f.served.to_string())],
        vec![label(t.waiting_now), value(f.waiting.to_string())],
    ];
    if let Some(avg) = avg {
        items.push(vec![label(t.avg_wait), value(format::minutes(avg, lang))]);
    }
    items.extend([
        vec![label(t.votes), value(f.votes.to_string())],
        vec![
            label(t.participation),
            value(format::share(f.votes, u64::from(f.served), lang)),
        ],
        vec![
            label(t.faces[0]),
            Span::styled(format::share(f.green, f.votes, lang), th.green()),
        ],
        vec![
            label(t.faces[1]),
            Span::styled(format::share(f.yellow, f.votes, lang), th.yellow()),
        ],
        vec![
            label(t.faces[2]),
            Span::styled(format::share(f.red, f.votes, lang), th.red()),
        ],
    ]);
    items
}

/// The link with every office at once: connected, connecting, or how many cannot be reached.
fn sites_conn_span(app: &App) -> Span<'static> {
    let t = tr(app.lang);
    let th = &app.theme;
    let lost = app
        .offices
        .iter()
        .filter(|o| matches!(o.state.conn, ConnState::Lost { .. }))
        .count()
        + app
            .servers
            .iter()
            .filter(|s| matches!(s.conn, crate::model::ServerConn::Down { .. }))
            .count();
    if lost > 0 {
        let what = if lost == 1 {
            t.sites_lost_one
        } else {
            t.sites_lost_many
        };
        return Span::styled(format!("✖ {lost} {what}"), th.error());
    }
    let up = app.offices.iter().any(|o| {
        matches!(
            o.state.conn,
            ConnState::Connected | ConnState::Resumed { .. }
        )
    });
    if up {
        Span::styled(format!("● {}", t.connected), th.ok())
    } else {
        Span::styled(format!("◌ {}", t.connecting), th.warn())
    }
}

fn render_tabs(frame: &mut Frame, app: &App, area: Rect) {
    let t = tr(app.lang);
    let tabs = app.tabs();
    // The labels as long as the bar allows: all in full with separators; else the all-sites
    // tab short and no separators; else the tabs not shown by their number only.
    let label = |v: View, short: bool, bare: bool| match v {
        View::Sites if bare => " 0 ".to_string(),
        View::Sites => format!(
            " 0 {} ",
            if short {
                t.all_sites_short
            } else {
                t.all_sites
            }
        ),
        other => {
            let i = other.index();
            if bare {
                format!(" {} ", i + 1)
            } else {
                format!(" {} {} ", i + 1, t.views[i])
            }
        }
    };
    let width = usize::from(area.width);
    let fits = |short: bool, seps: bool, bare: bool| {
        let labels: usize = tabs
            .iter()
            .map(|v| label(*v, short, bare && *v != app.view).chars().count())
            .sum();
        labels + if seps { tabs.len() } else { 0 } <= width
    };
    let (short, seps, bare) = [(false, true, false), (true, false, false)]
        .into_iter()
        .find(|(s, p, b)| fits(*s, *p, *b))
        .unwrap_or((true, false, true));
    let mut spans = Vec::new();
    for v in &tabs {
        if *v == app.view {
            spans.push(Span::styled(
                label(*v, short, false),
                app.theme.selected().fg(app.theme.accent),
            ));
        } else {
            spans.push(Span::styled(label(*v, short, bare), app.theme.dim()));
        }
        if seps {
            spans.push(Span::raw("│"));
        }
    }
    frame.render_widget(Paragraph::new(Line::from(spans)), area);
}

/// One alert of the office shown as a sentence in the user's language.
pub fn alert_sentence(app: &App, a: &Alert) -> String {
    alert_sentence_in(app, app.site().snapshot.as_ref(), app.zone(), a)
}

/// One alert of the office whose snapshot is `snap`, its time in the office's `zone`.
pub fn alert_sentence_in(app: &App, snap: Option<&Snapshot>, zone: Tz, a: &Alert) -> String {
    let lang = app.lang;
    let kind = a.kind();
    // The subject may say what it is ("service:Z", "counter:3"); else it is looked up.
    let (subject, is_service) = match a.subject.split_once(':') {
        Some(("service" | "servizio", code)) => (code, true),
        Some(("counter" | "sportello" | "keypad", id)) => (id, false),
        _ => {
            let s = a.subject.as_str();
            let is_service = kind == AlertKind::AlertWaitOverStandard
                || snap.is_some_and(|snap| {
                    snap.services.iter().any(|v| v.code == s)
                        && !snap.counters.iter().any(|c| c.id == s)
                });
            (s, is_service)
        }
    };
    let what = i18n::alert_subject(lang, kind, subject, is_service);
    let since = format::ts(a.since.as_ref())
        .map(|at| format::local_time(at, app.now, zone))
        .unwrap_or_default();
    let (value, threshold) = match kind {
        AlertKind::AlertWaitOverStandard | AlertKind::AlertRedShare => (
            format::number(a.value, 1, lang),
            format::number(a.threshold, 1, lang),
        ),
        _ => (
            format::number(a.value, 0, lang),
            format::number(a.threshold, 0, lang),
        ),
    };
    i18n::alert_text(lang, kind, &what, &since, &value, &threshold)
}

/// The alerts the current view is about, as sentences: the office shown's, or in the all-sites
/// view every office's, each after its office's name.
pub(crate) fn alert_sentences(app: &App) -> Vec<String> {
    if app.view == View::Sites {
        let mut out = Vec::new();
        for o in &app.offices {
            let Some(snap) = &o.state.snapshot else {
                continue;
            };
            let zone = o.zone();
            for a in &snap.alerts {
                out.push(format!(
                    "{}: {}",
                    o.name(),
                    alert_sentence_in(app, Some(snap), zone, a)
                ));
            }
        }
        return out;
    }
    let snap = app.site().snapshot.as_ref();
    let zone = app.zone();
    snap.map_or(&[][..], |s| &s.alerts[..])
        .iter()
        .map(|a| alert_sentence_in(app, snap, zone, a))
        .collect()
}

fn render_alert_lines(frame: &mut Frame, app: &App, area: Rect) {
    let t = tr(app.lang);
    let th = &app.theme;
    let mut lines: Vec<Line> = Vec::new();
    // The all-sites view tells each office's link in its own rows.
    if app.view == View::Sites {
    } else if let ConnState::Lost { error, .. } = &app.site().conn {
        lines.push(Line::from(Span::styled(
            format!(" ✖ {}", error.describe(app.lang)),
            th.error(),
        )));
    } else if let (Some(e), Some(_)) = (&app.site().snapshot_error, &app.site().snapshot) {
        lines.push(Line::from(Span::styled(
            format!(" ✖ {}", e.describe(app.lang)),
            th.error(),
        )));
    }
    let alerts = alert_sentences(app);
    if alerts.is_empty() {
        if lines.is_empty() {
            lines.push(Line::from(Span::styled(
                format!(" ✓ {}", t.no_alerts),
                th.ok(),
            )));
        }
    } else {
        let room = usize::from(area.height).saturating_sub(lines.len()).max(1);
        let n = alerts.len();
        let count = format!(
            " ⚠ {n} {}",
            if n == 1 { t.alerts_one } else { t.alerts_many }
        );
        let hint = format!(
            " ({}: {})",
            app.keymap.first_key(Action::Alerts),
            t.more_alerts_hint
        );
        let width = usize::from(area.width);
        if room == 1 || n == 1 {
            let tail = if n > 1 { hint.chars().count() } else { 0 };
            let room_w = width.saturating_sub(count.chars().count() + 2 + tail + 1);
            let mut spans = vec![
                Span::styled(count, th.warn()),
                Span::styled(": ", th.warn()),
                Span::styled(format::fit(&alerts[0], room_w), th.warn()),
            ];
            if n > 1 {
                spans.push(Span::styled(hint, th.dim()));
            }
            lines.push(Line::from(spans));
        } else {
            lines.push(Line::from(vec![
                Span::styled(count, th.warn()),
                Span::styled(hint, th.dim()),
            ]));
            let show = room.saturating_sub(1).min(n);
            for (i, a) in alerts.iter().take(show).enumerate() {
                let more = if i + 1 == show && n > show {
                    format!(" (+{})", n - show)
                } else {
                    String::new()
                };
                let room_w = width.saturating_sub(5 + more.chars().count() + 1);
                lines.push(Line::from(vec![
                    Span::styled(format!("   • {}", format::fit(a, room_w)), th.warn()),
                    Span::styled(more, th.dim()),
                ]));
            }
        }
    }
    frame.render_widget(Paragraph::new(lines), area);
}

fn hint(app: &App, action: Action, label: &str) -> Vec<Span<'static>> {
    vec![
        Span::styled(app.keymap.first_key(action), app.theme.accent()),
        Span::styled(format!(" {label}  "), app.theme.dim()),
    ]
}

fn render_footer(frame: &mut Frame, app: &App, area: Rect) {
    let t = tr(app.lang);
    let th = &app.theme;
    if let Mode::Filter { .. } = app.mode {
        let line = Line::from(vec![
            Span::styled(format!(" {}: ", t.filter), th.accent()),
            Span::styled(format!("{}▏", app.filter()), th.bold()),
            Span::styled(format!("  {}", t.filter_hint), th.dim()),
        ]);
        frame.render_widget(Paragraph::new(line), area);
        return;
    }
    if let Some(n) = &app.notice {
        let style = if n.error { th.error() } else { th.ok() };
        frame.render_widget(
            Paragraph::new(Line::from(Span::styled(format!(" {}", n.text), style))),
            area,
        );
        return;
    }
    let lang = app.lang;
    let several = app.several();
    let mut spans = vec![Span::raw(" ")];
    spans.extend(hint(
        app,
        Action::NextView,
        match (lang, several) {
            (Lang::It, false) => "/1-6 viste",
            (Lang::En, false) => "/1-6 views",
            (Lang::It, true) => "/0-6 viste",
            (Lang::En, true) => "/0-6 views",
        },
    ));
    if several {
        spans.extend(hint(app, Action::ChooseSite, t.site_hint));
    }
    if app.view == View::Sites {
        spans.extend(hint(
            app,
            Action::Up,
            match lang {
                Lang::It => "↓ muovi",
                Lang::En => "↓ move",
            },
        ));
        spans.extend(hint(app, Action::OpenSite, t.open_hint));
    } else if app.view == View::Reports {
        // The month and the three documents; moving and filtering stay in the help.
        let t = tr(lang);
        spans.push(Span::styled(
            format!(
                "{}{}",
                app.keymap.first_key(Action::PrevPeriod),
                app.keymap.first_key(Action::NextPeriod)
            ),
            th.accent(),
        ));
        spans.push(Span::styled(format!(" {}  ", t.rep_hints[0]), th.dim()));
        spans.extend(hint(app, Action::SaveHtml, t.rep_hints[1]));
        spans.extend(hint(app, Action::SaveCsv, t.rep_hints[2]));
        spans.extend(hint(app, Action::SaveMinistry, t.rep_hints[3]));
    } else {
        spans.extend(hint(
            app,
            Action::Up,
            match lang {
                Lang::It => "↓ muovi",
                Lang::En => "↓ move",
            },
        ));
        spans.extend(hint(
            app,
            Action::Filter,
            i18n::action(lang, Action::Filter),
        ));
    }
    if app.view == View::Satisfaction {
        spans.extend(hint(
            app,
            Action::NextPeriod,
            match lang {
                Lang::It => "periodo",
                Lang::En => "period",
            },
        ));
    }
    if app.view == View::Keypads {
        spans.extend(hint(
            app,
            Action::Identify,
            match lang {
                Lang::It => "identifica",
                Lang::En => "identify",
            },
        ));
        spans.extend(hint(
            app,
            Action::SelfTest,
            match lang {
                Lang::It => "autotest",
                Lang::En => "self-test",
            },
        ));
    }
    spans.extend(hint(app, Action::Help, i18n::action(lang, Action::Help)));
    spans.extend(hint(app, Action::Quit, i18n::action(lang, Action::Quit)));
    if !app.filter().is_empty() {
        spans.push(Span::styled(
            format!("[{}: {}]", t.filter, app.filter()),
            th.accent(),
        ));
    }
    frame.render_widget(Paragraph::new(Line::from(spans)), area);
}

/// A centred rectangle of at most `w` x `h` inside `area`.
fn centered(area: Rect, w: u16, h: u16) -> Rect {
    let w = w.min(area.width);
    let h = h.min(area.height);
    Rect {
        x: area.x + (area.width - w) / 2,
        y: area.y + (area.height - h) / 2,
        width: w,
        height: h,
    }
}

fn render_help(frame: &mut Frame, app: &App, area: Rect) {
    let t = tr(app.lang);
    let th = &app.theme;
    let views = [
        Action::ViewOverview,
        Action::ViewQueues,
        Action::ViewSatisfaction,
        Action::ViewKeypads,
        Action::ViewEvents,
        Action::ViewReports,
    ];
    let saves = [
        Action::SaveHtml,
        Action::SaveCsv,
        Action::SaveMinistry,
        Action::SaveAnnual,
    ];
    // The six "go to view" keys share one line, and so do the four "save" keys. The keys of
    // several offices only when there are several.
    let mut entries: Vec<(String, String)> = Vec::new();
    for a in Action::ALL {
        if a.needs_several_sites() && !app.several() {
            continue;
        }
        if a == Action::ViewOverview {
            let keys: Vec<String> = views.iter().map(|v| app.keymap.keys_of(*v)).collect();
            entries.push((keys.join(" "), t.views.join(" · ")));
        } else if a == Action::SaveHtml {
            let keys: Vec<String> = saves.iter().map(|v| app.keymap.keys_of(*v)).collect();
            entries.push((keys.join(" "), i18n::save_keys(app.lang).to_string()));
        } else if !views.contains(&a) && !saves.contains(&a) {
            entries.push((app.keymap.keys_of(a), i18n::action(app.lang, a).to_string()));
        }
    }
    let key_w = entries
        .iter()
        .map(|(k, _)| k.chars().count())
        .max()
        .unwrap_or(0)
        .min(20);
    let lines: Vec<Line> = entries
        .into_iter()
        .map(|(k, l)| {
            Line::from(vec![
                Span::styled(format!(" {k:>key_w$}  "), th.accent()),
                Span::raw(l),
            ])
        })
        .collect();
    let r = centered(area, 78, (lines.len() as u16).saturating_add(2));
    frame.render_widget(Clear, r);
    frame.render_widget(
        Paragraph::new(lines).block(
            Block::bordered()
                .title(format!(" {} ", t.help_title))
                .title_bottom(Line::from(format!(" {} ", t.help_close)).right_aligned())
                .border_style(th.border()),
        ),
        r,
    );
}

fn render_alerts_overlay(frame: &mut Frame, app: &App, area: Rect) {
    let t = tr(app.lang);
    let th = &app.theme;
    let alerts = alert_sentences(app);
    let mut lines: Vec<Line> = alerts
        .iter()
        .skip(app.alerts_scroll.min(alerts.len().saturating_sub(1)))
        .map(|a| Line::from(Span::styled(format!("• {a}"), th.warn())))
        .collect();
    if lines.is_empty() {
        lines.push(Line::from(Span::styled(t.no_alerts, th.ok())));
    }
    let r = centered(
        area,
        area.width.saturating_sub(4),
        (lines.len() as u16).saturating_add(2),
    );
    frame.render_widget(Clear, r);
    frame.render_widget(
        Paragraph::new(lines).wrap(Wrap { trim: true }).block(
            Block::bordered()
                .title(format!(" {} ({}) ", t.alerts_title, alerts.len()))
                .border_style(th.border()),
        ),
        r,
    );
}

fn render_dialog(frame: &mut Frame, app: &App, area: Rect, text: &str) {
    let th = &app.theme;
    let w = area.width.saturating_sub(4).min(70);
    let inner_w = usize::from(w.saturating_sub(2)).max(1);
    let h = (text.chars().count() / inner_w + 3) as u16;
    let r = centered(area, w, h);
    frame.render_widget(Clear, r);
    frame.render_widget(
        Paragraph::new(text.to_string())
            .wrap(Wrap { trim: true })
            .block(Block::bordered().border_style(th.warn())),
        r,
    );
}

/// The office picker: every office with its number and local time; the one shown marked.
fn render_picker(frame: &mut Frame, app: &App, area: Rect, selected: usize) {
    let t = tr(app.lang);
    let th = &app.theme;
    let w = area.width.saturating_sub(4).min(70);
    let inner_w = usize::from(w.saturating_sub(2));
    let rows = usize::from(area.height.saturating_sub(4)).max(1);
    app.page_rows.set(rows);
    let selected = selected.min(app.offices.len().saturating_sub(1));
    let (start, end) = window(app.offices.len(), selected, rows);
    let mut lines: Vec<Line> = Vec::new();
    for (i, o) in app.offices.iter().enumerate().take(end).skip(start) {
        let number = if i < 9 {
            format!("{}", i + 1)
        } else {
            " ".to_string()
        };
        let mark = if i == app.current { "▸" } else { " " };
        let clock = format::header_clock(app.now, o.zone(), app.lang);
        let conn = conn_span(app, &o.state.conn);
        let marker = conn.content.chars().next().unwrap_or(' ').to_string();
        let name_w = inner_w.saturating_sub(clock.chars().count() + 9).max(1);
        let name = format::cut(o.name(), name_w);
        let pad = name_w.saturating_sub(name.chars().count());
        let mut line = Line::from(vec![
            Span::styled(format!(" {number} {mark} "), th.accent()),
            Span::styled(marker, conn.style),
            Span::raw(format!(" {name}{}  ", " ".repeat(pad))),
            Span::styled(clock, th.dim()),
        ]);
        if i == selected {
            line = line.style(th.selected());
        }
        lines.push(line);
    }
    let h = (lines.len() as u16).saturating_add(2);
    let r = centered(area, w, h);
    frame.render_widget(Clear, r);
    frame.render_widget(
        Paragraph::new(lines).block(
            Block::bordered()
                .title(format!(" {} ", t.picker_title))
                .title_bottom(Line::from(format!(" {} ", t.picker_hint)).right_aligned())
                .border_style(th.border()),
        ),
        r,
    );
}

/// A line saying there is nothing to show (yet).
pub(crate) fn empty(frame: &mut Frame, app: &App, area: Rect) {
    let t = tr(app.lang);
    let text = if app.site().snapshot.is_none() {
        t.waiting_server
    } else {
        t.no_data
    };
    frame.render_widget(
        Paragraph::new(Span::styled(format!(" {text}"), app.theme.dim())),
        area,
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows() {
        assert_eq!(window(0, 0, 10), (0, 0));
        assert_eq!(window(5, 0, 10), (0, 5));
        assert_eq!(window(100, 50, 10), (41, 51));
        assert_eq!(window(100, 5, 0), (0, 0));
    }

    #[test]
    fn bars_fill_their_width() {
        let th = Theme::default();
        let f = FaceCounts {
            green: 255,
            yellow: 11,
            red: 4,
            reasons: vec![],
        };
        for w in [0, 1, 3, 10, 37] {
            let n: usize = face_bar(&f, w, &th)
                .iter()
                .map(|s| s.content.chars().count())
                .sum();
            assert_eq!(n, w);
        }
        let huge = FaceCounts {
            green: u32::MAX,
            yellow: u32::MAX,
            red: u32::MAX,
            reasons: vec![],
        };
        let n: usize = face_bar(&huge, 9, &th)
            .iter()
            .map(|s| s.content.chars().count())
            .sum();
        assert_eq!(n, 9);
    }
}
