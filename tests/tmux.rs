//! Real terminals: the demo and the console run under tmux, and the test reads the screen.

mod common;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

struct Tmux {
    name: String,
}

impl Tmux {
    fn start(name: &str, cmd: &str) -> Tmux {
        let _ = Command::new("tmux")
            .args(["kill-session", "-t", name])
            .status();
        let ok = Command::new("tmux")
            .args(["new-session", "-d", "-s", name, "-x", "160", "-y", "48"])
            .arg(format!("{cmd}; echo FACCIA-EXITED $?; sleep 60"))
            .env("TERM", "xterm-256color")
            .status()
            .expect("tmux must be installed (Debian package tmux)");
        assert!(ok.success(), "tmux new-session");
        Tmux {
            name: name.to_string(),
        }
    }

    fn screen(&self) -> String {
        let out = Command::new("tmux")
            .args(["capture-pane", "-p", "-t", &self.name])
            .output()
            .expect("capture-pane");
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    fn keys(&self, keys: &str) {
        let _ = Command::new("tmux")
            .args(["send-keys", "-t", &self.name, keys])
            .status();
    }

    fn wait_for(&self, secs: u64, what: &str, check: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + Duration::from_secs(secs);
        loop {
            let s = self.screen();
            if check(&s) {
                return s;
            }
            if Instant::now() > deadline {
                panic!("timed out waiting for {what}; screen:\n{s}");
            }
            std::thread::sleep(Duration::from_millis(250));
        }
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = Command::new("tmux")
            .args(["kill-session", "-t", &self.name])
            .status();
    }
}

fn scrape(addr: &str) -> String {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(addr).expect("metrics endpoint");
    s.write_all(b"GET /metrics HTTP/1.1\r\nHost: demo\r\n\r\n")
        .expect("request");
    let mut out = String::new();
    s.read_to_string(&mut out).expect("response");
    assert!(out.starts_with("HTTP/1.1 200 OK"), "{out}");
    assert!(out.contains("text/plain; version=0.0.4"), "{out}");
    out
}

fn sample(text: &str, name: &str) -> f64 {
    text.lines()
        .find(|l| l.starts_with(name) && l[name.len()..].starts_with(' '))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0.0)
}

/// A figure of the header, e.g. `Serviti 16`.
fn figure(screen: &str, label: &str) -> Option<u64> {
    let at = screen.find(&format!("{label} "))? + label.len() + 1;
    let digits: String = screen[at..]
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    digits.parse().ok()
}

#[test]
fn demo_shows_a_living_office_and_quits_cleanly() {
    let bin = env!("CARGO_BIN_EXE_faccia");
    let port = common::free_port();
    let metrics = format!("127.0.0.1:{port}");
    let t = Tmux::start(
        "faccia-demo-test",
        &format!("{bin} demo --speed 180 --metrics {metrics}"),
    );
    let first = t.wait_for(30, "the Italian overview with a connected server", |s| {
        s.contains("Panoramica") && s.contains("Sportello")
    });
    // Live figures move: tickets are served and citizens vote while the test watches.
    let scrape_before = scrape(&metrics);
    assert!(
        scrape_before.contains("# TYPE faccia_ticket_events_total counter"),
        "{scrape_before}"
    );
    let served = figure(&first, "Serviti").expect("served today on the header");
    let votes = figure(&first, "Giudizi").expect("votes today on the header");
    let later = t.wait_for(60, "more tickets served and more votes", |s| {
        figure(s, "Serviti").is_some_and(|n| n > served)
            && figure(s, "Giudizi").is_some_and(|n| n > votes)
    });
    assert!(later.contains("online"), "keypads online:\n{later}");
    // The metrics endpoint answers in the Prometheus text format and its counters move.
    let scrape_after = scrape(&metrics);
    let opened = |t: &str| sample(t, "faccia_sessions_opened_total");
    assert!(
        opened(&scrape_after) > opened(&scrape_before),
        "sessions counter moved:\n{scrape_after}"
    );
    assert!(
        scrape_after.contains("faccia_keypad_online{counter=\"S01\""),
        "{scrape_after}"
    );
    t.keys("q");
    let end = t.wait_for(20, "the demo to exit", |s| s.contains("FACCIA-EXITED"));
    assert!(end.contains("FACCIA-EXITED 0"), "clean exit:\n{end}");
    assert!(
        !end.contains("Panoramica"),
        "the terminal was restored (alternate screen left):\n{end}"
    );
}

#[test]
fn demo_morning_builds_a_queue_and_raises_alerts_on_the_simulated_clock() {
    let bin = env!("CARGO_BIN_EXE_faccia");
    let reports = tempfile::tempdir().expect("reports dir");
    let t = Tmux::start(
        "faccia-demo-morning",
        &format!("{bin} demo --reports-dir {}", reports.path().display()),
    );
    // The office opens at 08:30 on the simulated day, whatever the wall clock says.
    let first = t.wait_for(30, "the overview on the simulated clock", |s| {
        s.contains("Panoramica") && s.contains("Sportello")
    });
    let header = first.lines().next().unwrap_or_default();
    assert!(header.contains(" 08:"), "simulated morning clock:\n{first}");
    t.keys("2");
    // Within a minute (an hour of the office day) people wait and the wait alert fires.
    let queue = t.wait_for(60, "people waiting and a wait alert", |s| {
        s.contains("2 Code")
            && figure(s, "In attesa").is_some_and(|n| n > 0)
            && s.contains("oltre lo standard")
    });
    assert!(!queue.contains("Nessun avviso"), "{queue}");
    // Saving a report writes into the chosen directory, not the working tree.
    t.keys("6");
    t.wait_for(30, "the Reports view", |s| {
        s.contains("6 Rapporti") && s.contains("Serviti")
    });
    t.keys("c");
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let saved = std::fs::read_dir(reports.path())
            .expect("reports dir")
            .filter_map(Result::ok)
            .any(|e| e.path().extension().is_some_and(|x| x == "csv"));
        if saved {
            break;
        }
        assert!(Instant::now() < deadline, "no CSV saved:\n{}", t.screen());
        std::thread::sleep(Duration::from_millis(250));
    }
    t.keys("q");
    let end = t.wait_for(20, "the demo to exit", |s| s.contains("FACCIA-EXITED"));
    assert!(end.contains("FACCIA-EXITED 0"), "clean exit:\n{end}");
}

#[test]
fn console_against_a_served_office_shows_live_numbers() {
    let bin = env!("CARGO_BIN_EXE_faccia");
    let db = common::TestDb::new(common::Backend::Sqlite);
    let port = common::free_port();
    let config = common::write_config(db.path(), &db.url, &format!("127.0.0.1:{port}"), 60);
    let mut server = Command::new(bin)
        .args(["serve", "--config"])
        .arg(&config)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("faccia serve");
    let url = format!("http://127.0.0.1:{port}");
    let saved = tempfile::tempdir().expect("reports dir");
    let t = Tmux::start(
        "faccia-console-test",
        &format!(
            "{bin} console --server {url} --token {} --lang en --reports-dir {}",
            common::VIEWER_TOKEN,
            saved.path().display()
        ),
    );
    let first = t.wait_for(30, "the English overview, connected", |s| {
        s.contains("Overview") && s.contains("Sportello 1")
    });
    let served = figure(&first, "Served").unwrap_or(0);
    let mut sim = Command::new(bin)
        .args([
            "sim",
            "queue",
            "--server",
            &url,
            "--token",
            common::QUEUE_TOKEN,
        ])
        .args([
            "--counters",
            "C1,C2,C3,C4",
            "--services",
            "A,B",
            "--speed",
            "600",
            "--tickets",
            "300",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("faccia sim queue");
    let later = t.wait_for(60, "tickets served on screen", |s| {
        figure(s, "Served").is_some_and(|n| n > served + 3)
    });
    let n1 = figure(&later, "Served").unwrap_or(0);
    t.wait_for(60, "more tickets served", |s| {
        figure(s, "Served").is_some_and(|n| n > n1)
    });
    // The Reports view: this month's sentence as the server words it, then the page saved.
    t.keys("6");
    t.wait_for(30, "the Reports view with this month's sentence", |s| {
        s.contains("6 Reports") && s.contains("users were served")
    });
    t.keys("s");
    let deadline = Instant::now() + Duration::from_secs(30);
    let page = loop {
        let html = std::fs::read_dir(saved.path())
            .expect("reports dir")
            .filter_map(Result::ok)
            .map(|e| e.path())
            .find(|p| p.extension().is_some_and(|x| x == "html"));
        if let Some(p) = html {
            break std::fs::read_to_string(&p).expect("saved page");
        }
        assert!(
            Instant::now() < deadline,
            "no page saved; screen:\n{}",
            t.screen()
        );
        std::thread::sleep(Duration::from_millis(250));
    };
    assert!(
        page.contains("users were served"),
        "the page states the month"
    );
    assert!(page.contains("<svg"), "with its charts inline");
    t.keys("q");
    t.wait_for(20, "the console to exit", |s| s.contains("FACCIA-EXITED 0"));
    let _ = sim.kill();
    let _ = sim.wait();
    let _ = server.kill();
    let _ = server.wait();
}
