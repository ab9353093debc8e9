//! Every view of the Italian console, drawn from a real server fed by the queue simulator (the
//! demo office, headless), at 80×24 and 160×48: no English word of the server's vocabulary, no
//! figure cut, no empty half of the screen.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use faccia_console::client;
use faccia_console::config::Settings;
use faccia_console::format;
use faccia_console::model::{App, Msg, View};
use faccia_console::views;
use faccia_console::Lang;
use faccia_proto::v1::{Period, SnapshotRequest, WatchRequest};
use ratatui::backend::TestBackend;
use ratatui::Terminal;
use tokio_stream::StreamExt;

/// Words of the server's English (its detail notes, codes, command results) that must never
/// reach the Italian screen. Whole words; upper-case ones are codes and match exactly.
const ENGLISH: &[&str] = &[
    "keypad",
    "counter",
    "session",
    "sessions",
    "ticket",
    "tickets",
    "vote",
    "votes",
    "served",
    "opened",
    "closed",
    "called",
    "issued",
    "cancelled",
    "expired",
    "superseded",
    "rebooted",
    "window",
    "already",
    "repaired",
    "identify",
    "blinks",
    "started",
    "waiting",
    "reason",
    "service",
    "queue",
    "snapshot",
    "offline:",
    "none",
    "unknown",
    "month",
    "progress",
    "Served",
    "Votes",
    "Waiting",
    "Counter",
    "Phone",
    "Green",
    "Yellow",
    "Red",
    "ARMED",
    "PENDING",
    "NO_KEYPAD",
    "COUNTER",
    "PHONE",
    "WAITING",
    "CALLED",
    "SERVED",
    "IN_SERVICE",
    "ISSUED",
    "DAY_RESET",
    "ACCEPTED",
    "DUPLICATE",
    "STALE_IGNORED",
];

struct Demo(Child);

impl Drop for Demo {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start_demo() -> (Demo, String) {
    let reports = std::env::temp_dir();
    let mut child = Command::new(env!("CARGO_BIN_EXE_faccia"))
        .args([
            "demo",
            "--headless",
            "600",
            "--speed",
            "20",
            "--reports-dir",
        ])
        .arg(reports)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("faccia demo");
    let out = child.stdout.take().expect("stdout");
    let demo = Demo(child);
    let mut line = String::new();
    BufReader::new(out)
        .read_line(&mut line)
        .expect("demo output");
    let url = line
        .trim()
        .rsplit(' ')
        .next()
        .filter(|u| u.starts_with("http://"))
        .unwrap_or_else(|| panic!("no server address in {line:?}"))
        .to_string();
    (demo, url)
}

/// The screen as text, one line per row (trailing spaces kept off).
fn draw(app: &App, w: u16, h: u16) -> Vec<String> {
    let mut terminal = Terminal::new(TestBackend::new(w, h)).expect("backend");
    terminal.draw(|f| views::render(f, app)).expect("draw");
    let buf = terminal.backend().buffer();
    (0..buf.area.height)
        .map(|y| {
            (0..buf.area.width)
                .map(|x| buf[(x, y)].symbol())
                .collect::<String>()
                .trim_end()
                .to_string()
        })
        .collect()
}

fn words(line: &str) -> impl Iterator<Item = &str> {
    line.split(|c: char| !(c.is_alphanumeric() || c == '_' || c == ':' || c == '\''))
        .filter(|w| !w.is_empty())
}

fn english_words(screen: &[String]) -> Vec<String> {
    let mut found = Vec::new();
    for line in screen {
        for w in words(line) {
            let w = w.trim_end_matches(':');
            let hit = ENGLISH.iter().any(|e| {
                let e = e.trim_end_matches(':');
                if e.chars().all(|c| c.is_ascii_uppercase() || c == '_') {
                    w == e
                } else {
                    w.eq_ignore_ascii_case(e) && w != "online"
                }
            });
            if hit {
                found.push(format!("{w:?} in {line:?}"));
            }
        }
    }
    found
}

/// A figure cut short: digits followed by the ellipsis, or a decimal comma or sign at the very
/// edge of the screen.
fn cut_figures(screen: &[String], w: u16) -> Vec<String> {
    let mut found = Vec::new();
    for line in screen {
        let chars: Vec<char> = line.chars().collect();
        for (i, c) in chars.iter().enumerate() {
            if *c == '…' && i > 0 && chars[i - 1].is_ascii_digit() {
                found.push(format!("digits cut in {line:?}"));
            }
        }
        if chars.len() == usize::from(w) && chars.last().is_some_and(|c| c.is_ascii_digit()) {
            // A number touching the right edge may go on beyond it.
            found.push(format!("figure at the edge in {line:?}"));
        }
    }
    found
}

/// The body (between the tab line and the footer) must use both halves, left/right and
/// top/bottom.
fn empty_halves(screen: &[String], w: u16) -> Vec<&'static str> {
    let body: Vec<&String> = screen[3..screen.len() - 1].iter().collect();
    let half_w = usize::from(w) / 2;
    let filled = |l: &&String| l.chars().any(|c| c != ' ');
    let right = |l: &&String| l.chars().skip(half_w).any(|c| c != ' ');
    let mut out = Vec::new();
    let (top, bottom) = body.split_at(body.len() / 2);
    if !top.iter().any(filled) {
        out.push("top");
    }
    if !bottom.iter().any(filled) {
        out.push("bottom");
    }
    if !body.iter().any(right) {
        out.push("right");
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_italian_view_of_a_simulated_office_is_italian_whole_and_full() {
    let (_demo, url) = start_demo();
    let clients = client::connect_all(&url, Some("demo-admin-token")).expect("client");
    let mut monitor = clients.monitor.clone();
    // Let the morning build up: tickets served, votes given, a queue and its alerts.
    let started = Instant::now();
    let deadline = started + Duration::from_secs(120);
    let snapshot = loop {
        let got = monitor
            .get_snapshot(SnapshotRequest {
                ..Default::default()
            })
            .await;
        let last = format!(
            "{:?}",
            got.as_ref()
                .map(|s| (s.get_ref().today.clone(), s.get_ref().alerts.len()))
        );
        if let Ok(s) = got {
            let s = s.into_inner();
            let t = s.today.clone().unwrap_or_default();
            let votes = t.votes.as_ref().map_or(0, |v| v.green + v.yellow + v.red);
            if t.served >= 12 && votes >= 6 && t.waiting_now > 0 && !s.alerts.is_empty() {
                eprintln!(
                    "busy after {:?}: {t:?}, {} alerts",
                    started.elapsed(),
                    s.alerts.len()
                );
                break s;
            }
        }
        assert!(
            Instant::now() < deadline,
            "the demo office never got busy: {last}"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    let now = format::ts(snapshot.at.as_ref()).expect("snapshot time");
    let settings = Settings {
        lang: Lang::It,
        ..Settings::default()
    };
    let mut app = App::new(&settings, now);
    app.apply(Msg::Snapshot(Box::new(snapshot.clone())));
    for p in [Period::Today, Period::Week, Period::Month] {
        app.apply(client::fetch_satisfaction(clients.monitor.clone(), "", p).await);
    }
    let mut stream = monitor
        .watch_events(WatchRequest {
            after_seq: 0,
            ..Default::default()
        })
        .await
        .expect("watch")
        .into_inner();
    let mut events = Vec::new();
    while let Ok(Some(Ok(e))) = tokio::time::timeout(Duration::from_secs(2), stream.next()).await {
        let last = e.seq >= snapshot.last_seq;
        events.push(e);
        if last {
            break;
        }
    }
    assert!(events.len() > 50, "{} events", events.len());
    app.apply(Msg::Events(events));
    let month = app.current_month();
    app.site_mut().reports.show(month);
    app.apply(client::fetch_monthly(clients.reports.clone(), "", month, Lang::It).await);
    app.apply(Msg::StreamUp { resumed_from: None });

    let mut failures = Vec::new();
    for view in View::ALL {
        for (w, h) in [(80u16, 24u16), (160, 48)] {
            app.view = view;
            let screen = draw(&app, w, h);
            let text = screen.join("\n");
            if let Some(dir) = std::env::var_os("FACCIA_SCREENS_DIR") {
                let _ = std::fs::write(
                    std::path::Path::new(&dir).join(format!("{view:?}-{w}x{h}.txt")),
                    &text,
                );
            }
            let mut problems = english_words(&screen);
            problems.extend(cut_figures(&screen, w));
            problems.extend(
                empty_halves(&screen, w)
                    .into_iter()
                    .map(|half| format!("the {half} half is empty")),
            );
            if !problems.is_empty() {
                failures.push(format!(
                    "{view:?} at {w}x{h}:\n  {}\n{text}",
                    problems.join("\n  ")
                ));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}
