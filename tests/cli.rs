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
