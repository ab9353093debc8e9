//! A third-party Modbus master (mbpoll, Debian package `mbpoll`) against the simulator.
//! This test FAILS when mbpoll is not installed: CI must `apt-get install -y mbpoll`.
mod common;

use std::process::Command;

use faccia_serial::sim::Key;
use faccia_serial::{Face, KeypadState};

/// Runs mbpoll on a blocking thread (it opens the pty itself) and returns stdout.
async fn mbpoll(args: Vec<String>) -> (bool, String) {
    tokio::task::spawn_blocking(move || {
        let out = Command::new("mbpoll")
            .args(&args)
            .output()
            .unwrap_or_else(|e| {
                panic!("mbpoll is required for this test (apt-get install -y mbpoll): {e}")
            });
        (
            out.status.success(),
            format!(
                "{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ),
        )
    })
    .await
    .expect("mbpoll thread")
}

fn args(link: &std::path::Path, unit: u8, baud: u32, extra: &[&str]) -> Vec<String> {
    args_w(link, unit, baud, extra, &[])
}

fn args_w(
    link: &std::path::Path,
    unit: u8,
    baud: u32,
    extra: &[&str],
    write: &[&str],
) -> Vec<String> {
    let mut v: Vec<String> = [
        "-m",
        "rtu",
        "-a",
        &unit.to_string(),
        "-b",
        &baud.to_string(),
        "-P",
        "none",
        "-0",
        "-o",
        "0.5",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    v.extend(extra.iter().map(|s| s.to_string()));
    v.push(link.display().to_string());
    v.extend(write.iter().map(|s| s.to_string()));
    v
}

/// Parses "[ref]: \tvalue" lines.
fn values(out: &str) -> Vec<(u32, String)> {
    out.lines()
        .filter_map(|l| {
            let l = l.trim();
            let rest = l.strip_prefix('[')?;
            let (r, v) = rest.split_once("]:")?;
            Some((r.parse().ok()?, v.trim().to_string()))
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mbpoll_reads_and_writes_the_simulated_keypad() {
    let env = common::sim(vec![1, 7], 19200, false).await;
    let h = env.sim.handle();
    // full input block, hex
    let (ok, out) = mbpoll(args(
        &env.link,
        7,
        19200,
        &["-t", "3:hex", "-r", "0", "-c", "17", "-1"],
    ))
    .await;
    assert!(ok, "{out}");
    let v = values(&out);
    assert_eq!(v.len(), 17, "{out}");
    let expect = [
        "0xFACE", "0x0103", "0x0000", "0x0000", "0x0000", "0x0000", "0x0000", "0x0000", "0x0000",
        "0x0000", "0x0000", "0x0000", "0x0000", "0x0000", "0x0001", "0x00F0", "0x0007",
    ];
    for (i, (r, val)) in v.iter().enumerate() {
        assert_eq!(*r, i as u32);
        if i == 0x0C {
            continue; // UPTIME lo may have ticked
        }
        assert_eq!(val, expect[i], "register 0x{i:04X}: {out}");
    }
    // ARM through mbpoll: one 0x10 write of 0x0100..=0x0105
    let (ok, out) = mbpoll(args_w(
        &env.link,
        7,
        19200,
        &["-t", "4", "-r", "256"],
        &["0", "4242", "30", "0", "0", "1"],
    ))
    .await;
    assert!(ok, "{out}");
    assert!(out.contains("Written 6 references"), "{out}");
    assert_eq!(
        h.status().iter().find(|s| s.unit == 7).map(|s| s.state),
        Some(KeypadState::Armed)
    );
    h.press(7, Key::Face(Face::Red)).expect("press");
    let (ok, out) = mbpoll(args(
        &env.link,
        7,
        19200,
        &["-t", "3", "-r", "2", "-c", "7", "-1"],
    ))
    .await;
    assert!(ok, "{out}");
    let v: Vec<String> = values(&out).into_iter().map(|(_, v)| v).collect();
    assert_eq!(v, ["3", "0", "4242", "1", "3", "0", "0"], "{out}");
    // holding registers read back, COMMAND reads 0
    let (ok, out) = mbpoll(args(
        &env.link,
        7,
        19200,
        &["-t", "4", "-r", "256", "-c", "6", "-1"],
    ))
    .await;
    assert!(ok, "{out}");
    let v: Vec<String> = values(&out).into_iter().map(|(_, v)| v).collect();
    assert_eq!(v, ["0", "4242", "30", "0", "0", "0"], "{out}");
    // an out-of-range write is refused (exception 0x03): BRIGHTNESS 101
    let (ok, out) = mbpoll(args_w(
        &env.link,
        7,
        19200,
        &["-t", "4", "-r", "274"],
        &["101"],
    ))
    .await;
    assert!(!ok, "{out}");
    // an unlisted address is refused (exception 0x02)
    let (ok, out) = mbpoll(args(&env.link, 7, 19200, &["-t", "3", "-r", "17", "-1"])).await;
    assert!(!ok, "{out}");
    // wrong baud: no answer
    let (ok, _) = mbpoll(args(&env.link, 1, 9600, &["-t", "3", "-r", "0", "-1"])).await;
    assert!(!ok);
    env.sim.shutdown().await;
}
