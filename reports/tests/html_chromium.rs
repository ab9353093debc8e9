//! The HTML page renders in headless Chromium: a screenshot is taken and checked. Chromium is
//! required (Debian: `apt-get install chromium`; or set FACCIA_CHROMIUM to the browser): the
//! test fails without it. Set FACCIA_SCREENSHOT_DIR to keep the screenshots.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::*;
use faccia_domain::Lang;
use faccia_reports::render::{self, Format};
use faccia_reports::{annual, monthly};

fn chromium() -> PathBuf {
    if let Some(p) = std::env::var_os("FACCIA_CHROMIUM") {
        return PathBuf::from(p);
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    for name in [
        "chromium",
        "chromium-browser",
        "google-chrome",
        "google-chrome-stable",
    ] {
        for dir in std::env::split_paths(&path) {
            let p = dir.join(name);
            if p.is_file() {
                return p;
            }
        }
    }
    panic!("headless Chromium is required: install the Debian package `chromium` or set FACCIA_CHROMIUM");
}

/// Runs the browser with a time limit; returns its standard output.
fn run_browser(args: &[String]) -> String {
    let out_file = tempfile::NamedTempFile::new().expect("temp file");
    let mut child = Command::new(chromium())
        .args(args)
        .stdin(Stdio::null())
        .stdout(out_file.reopen().expect("reopen"))
        .stderr(Stdio::null())
        .spawn()
        .expect("start chromium");
    let started = Instant::now();
    loop {
        match child.try_wait().expect("wait for chromium") {
            Some(status) => {
                assert!(status.success(), "chromium failed: {status}");
                break;
            }
            None if started.elapsed() > Duration::from_secs(90) => {
                let _ = child.kill();
                let _ = child.wait();
                panic!("chromium did not finish in 90 s");
            }
            None => std::thread::sleep(Duration::from_millis(100)),
        }
    }
    std::fs::read_to_string(out_file.path()).unwrap_or_default()
}

fn base_args(profile: &Path) -> Vec<String> {
    [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        "--hide-scrollbars",
    ]
    .iter()
    .map(|s| s.to_string())
    .chain(std::iter::once(format!(
        "--user-data-dir={}",
        profile.display()
    )))
    .collect()
}

/// Screenshots `html` and checks the PNG; returns its size in bytes.
fn screenshot(name: &str, html: &str, must_contain: &[&str]) -> u64 {
    let dir = tempfile::tempdir().expect("temp dir");
    let page = dir.path().join(format!("{name}.html"));
    std::fs::write(&page, html).expect("write page");
    let url = format!("file://{}", page.display());

    // The DOM Chromium built holds the charts and the sentence: the page parsed as intended.
    let mut args = base_args(&dir.path().join("profile-dom"));
    args.push("--dump-dom".into());
    args.push(url.clone());
    let dom = run_browser(&args);
    for needle in must_contain {
        assert!(
            dom.contains(needle),
            "the rendered DOM of {name} lacks {needle:?}"
        );
    }

    let png = dir.path().join(format!("{name}.png"));
    let mut args = base_args(&dir.path().join("profile-shot"));
    args.push(format!("--screenshot={}", png.display()));
    args.push("--window-size=1200,2000".into());
    args.push(url);
    run_browser(&args);
    let bytes = std::fs::read(&png).expect("the screenshot exists");
    assert!(bytes.starts_with(b"\x89PNG\r\n\x1a\n"), "not a PNG");
    let width = u32::from_be_bytes([bytes[16], bytes[17], bytes[18], bytes[19]]);
    let height = u32::from_be_bytes([bytes[20], bytes[21], bytes[22], bytes[23]]);
    assert_eq!((width, height), (1200, 2000));
    // A blank 1200×2000 page compresses to a few kilobytes; text, tables and charts do not.
    assert!(
        bytes.len() > 40_000,
        "the screenshot of {name} looks empty ({} bytes)",
        bytes.len()
    );
    if let Some(keep) = std::env::var_os("FACCIA_SCREENSHOT_DIR") {
        let keep = PathBuf::from(keep);
        std::fs::create_dir_all(&keep).expect("screenshot dir");
        std::fs::copy(&png, keep.join(format!("{name}.png"))).expect("keep screenshot");
        std::fs::copy(&page, keep.join(format!("{name}.html"))).expect("keep page");
    }
    bytes.len() as u64
}

#[test]
fn html_pages_render_in_chromium() {
    let db = TestDb::new(Backend::Sqlite);
    let mut conn = db.conn();
    let mut fx = Fixture::default();
    sassuolo(&mut fx);
    fx.insert(&mut conn);
    let r = monthly(&mut conn, &ctx(), month(2026, 7)).expect("monthly");
    let html = render::monthly(&r, Format::Html, Lang::It).expect("html");
    screenshot(
        "monthly-it",
        &html,
        &[
            "<html lang=\"it\">",
            "255 positivi (94,4%)",
            "<svg",
            "chart-faces-t",
            "chart-wait-t",
            "Tempi di attesa per servizio",
        ],
    );
    let html = render::monthly(&r, Format::Html, Lang::En).expect("html");
    screenshot(
        "monthly-en",
        &html,
        &["<html lang=\"en\">", "255 positive (94.4%)"],
    );
    let a = annual(&mut conn, &ctx(), 2026).expect("annual");
    let html = render::annual(&a, Format::Html, Lang::It).expect("html");
    screenshot(
        "annual-it",
        &html,
        &["chart-months-t", "Verifica degli standard"],
    );
}
