//! What a person sees from the `faccia` command line: plain logs off a terminal, clear errors
//! for wrong arguments, `check-config` without a configuration.

mod common;

use std::io::BufRead;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{Backend, TestDb};

fn faccia() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_faccia"));
    c.env_remove("NO_COLOR")
        .env_remove("FACCIA_CONFIG")
        .stdin(Stdio::null());
    c
}

/// Human logs piped to a file or journald carry no ANSI colour codes.
#[test]
fn human_logs_off_a_terminal_have_no_colours() {
    let db = TestDb::new(Backend::Sqlite);
    let port = common::free_port();
    let config = common::write_config(db.path(), &db.url, &format!("127.0.0.1:{port}"), 60);
    let mut child = faccia()
        .args(["serve", "--config"])
        .arg(&config)
        .current_dir(db.path())
        .env("RUST_LOG", "info")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start faccia serve");
    let stderr = child.stderr.take().expect("stderr");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stderr).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut seen = Vec::new();
    while Instant::now() < deadline {
        match rx.recv_timeout(Duration::from_millis(200)) {
            Ok(line) => {
                let serving = line.contains("faccia serving");
                seen.push(line);
                if serving {
                    break;
                }
            }
            Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {}
            Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => break,
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    assert!(
        seen.iter().any(|l| l.contains("faccia serving")),
        "no start-up log line: {seen:?}"
    );
    assert!(
        seen.iter().all(|l| !l.contains('\u{1b}')),
        "ANSI escape codes in piped logs: {seen:?}"
    );
    assert!(
        seen.iter()
            .any(|l| l.contains(" INFO ") && l.contains("faccia serving")),
        "{seen:?}"
    );
}

/// With no configuration file to check, `check-config` says so and fails (exit code 2): the
/// built-in defaults alone are not an office.
#[test]
fn check_config_without_a_file_fails() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = faccia()
        .arg("check-config")
        .current_dir(dir.path())
        .output()
        .expect("run check-config");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("no configuration file: etc/faccia.toml does not exist in"),
        "{err}"
    );
    assert!(err.contains("--config FILE"), "{err}");
    assert!(!String::from_utf8_lossy(&out.stdout).contains("OK"));
    // A real file is checked and summed up.
    let db = TestDb::new(Backend::Sqlite);
    let config = common::write_config(db.path(), &db.url, "127.0.0.1:50051", 60);
    let out = faccia()
        .args(["check-config", "--config"])
        .arg(&config)
        .output()
        .expect("run check-config");
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{said}");
    assert!(said.contains("configuration OK"), "{said}");
    assert!(said.contains("4 counters, 3 tokens"), "{said}");
    // A file without tokens is valid, with a warning that nothing can call.
    let bare = db.path().join("bare.toml");
    std::fs::write(&bare, "[site]\nid = \"x\"\nname = \"X\"\n").expect("write");
    let out = faccia()
        .args(["check-config", "--config"])
        .arg(&bare)
        .output()
        .expect("run check-config");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert!(err.contains("warning: no [[auth.tokens]]"), "{err}");
    assert!(err.contains("warning: no [[counters]]"), "{err}");
}

fn help(args: &[&str]) -> String {
    let out = faccia().args(args).output().expect("run --help");
    assert!(out.status.success());
    String::from_utf8_lossy(&out.stdout).to_string()
}

/// `demo --speed` and `sim queue --speed` mean the same: simulated seconds per real second.
#[test]
fn speed_means_the_same_everywhere() {
    for args in [&["demo", "--help"][..], &["sim", "queue", "--help"]] {
        let text = help(args).split_whitespace().collect::<Vec<_>>().join(" ");
        assert!(
            text.contains("Simulated seconds per real second")
                && text.contains("60 = a simulated minute per second"),
            "{args:?}: {text}"
        );
        assert!(text.contains("[default: 60]"), "{args:?}: {text}");
    }
    for bad in ["0", "-1", "36001"] {
        let out = faccia()
            .args(["demo", "--headless", "1", &format!("--speed={bad}")])
            .output()
            .expect("run demo");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "--speed {bad} accepted");
        assert!(
            err.contains("--speed is simulated seconds per real second"),
            "--speed {bad}: {err}"
        );
    }
}
