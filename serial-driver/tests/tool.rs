//! The technician's tool through its library functions, against the simulator.
mod common;

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use clap::Parser;
use faccia_serial::regs::holding;
use faccia_serial::sim::Key;
use faccia_serial::tool::{run_to, KeypadArgs};
use faccia_serial::{Face, KeypadState};

#[derive(Parser)]
struct Cli {
    #[command(flatten)]
    k: KeypadArgs,
}

fn args(v: &[&str]) -> KeypadArgs {
    let mut all = vec!["faccia-keypad"];
    all.extend_from_slice(v);
    Cli::try_parse_from(all).expect("valid arguments").k
}

#[derive(Clone, Default)]
struct Buf(Arc<Mutex<Vec<u8>>>);

impl Write for Buf {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Buf {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap_or_else(|e| e.into_inner())).into_owned()
    }
}

async fn run(v: &[&str]) -> (anyhow::Result<()>, String) {
    let mut out = Buf::default();
    let r = run_to(args(v), &mut out).await;
    (r, out.text())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scan_finds_every_unit() {
    let env = common::sim((1..=8).collect(), 19200, false).await;
    let link = env.link.display().to_string();
    let (r, out) = run(&["scan", "--port", &link, "--ids", "1-12", "--lang", "en"]).await;
    r.expect("scan");
    for u in 1..=8 {
        assert!(
            out.contains(&format!("unit {u} @ 19200: FK-3 fw 1.3")),
            "unit {u} missing:\n{out}"
        );
    }
    assert!(!out.contains("unit 9 @"), "{out}");
    assert!(out.contains("Keypads found: 8"), "{out}");
    env.sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scan_all_bauds_finds_the_speed() {
    let env = common::sim(vec![2, 3], 38400, false).await;
    let link = env.link.display().to_string();
    let (r, out) = run(&[
        "scan",
        "--port",
        &link,
        "--ids",
        "1-4",
        "--all-bauds",
        "--timeout-ms",
        "40",
    ])
    .await;
    r.expect("scan");
    assert!(out.contains("unità 2 @ 38400"), "{out}");
    assert!(out.contains("unità 3 @ 38400"), "{out}");
    assert!(!out.contains("@ 19200: FK-3"), "{out}");
    assert!(out.contains("Pulsantiere trovate: 2"), "{out}");
    // nothing at the wrong speed gives the hint
    let (r, out) = run(&[
        "scan",
        "--port",
        &link,
        "--ids",
        "1-3",
        "--baud",
        "9600",
        "--timeout-ms",
        "30",
    ])
    .await;
    r.expect("scan");
    assert!(out.contains("fili A/B"), "{out}");
    env.sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watch_shows_a_press_within_one_poll_period() {
    let env = common::sim(vec![1, 2], 19200, false).await;
    let h = env.sim.handle();
    let link = env.link.display().to_string();
    let log = env.dir.path().join("watch.log");
    let logs = log.display().to_string();
    let buf = Buf::default();
    let mut out = buf.clone();
    let a = args(&[
        "watch",
        "--port",
        &link,
        "--units",
        "1-2",
        "--frames",
        "--interval-ms",
        "100",
        "--seconds",
        "3",
        "--log",
        &logs,
        "--lang",
        "en",
    ]);
    let task = tokio::spawn(async move { run_to(a, &mut out).await });
    // arm unit 2 on the keypad side
    h.with_keypad(2, |k, now| {
        k.write(holding::ARM_TOKEN_HI, &[0, 77, 30, 0, 0, 1], now)
    })
    .expect("unit")
    .expect("arm");
    let wait = |needle: &'static str, max: Duration| {
        let buf = buf.clone();
        async move {
            let t = Instant::now();
            while t.elapsed() < max {
                if buf.text().contains(needle) {
                    return Some(t.elapsed());
                }
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
            None
        }
    };
    wait("state ARMED token 77", Duration::from_secs(1))
        .await
        .expect("armed shown");
    assert!(h.press(2, Key::Face(Face::Green)).expect("press"));
    let seen = wait("vote green", Duration::from_secs(1))
        .await
        .expect("vote shown");
    assert!(
        seen <= Duration::from_millis(150),
        "press shown after {seen:?} (poll period 100 ms)"
    );
    task.await.expect("join").expect("watch");
    let text = buf.text();
    assert!(
        text.contains(
            "unit 2: state VOTE WAITING FOR ACK token 77 seq 1 vote green presses 1 ignored 0"
        ),
        "{text}"
    );
    // frame log: hex + decoded + CRC
    assert!(text.contains("TX 01 04 00 02 00 0D"), "{text}");
    assert!(text.contains("RX 02 04 1A"), "{text}");
    assert!(text.contains("CRC ok"), "{text}");
    assert!(std::fs::read_to_string(&log)
        .expect("log")
        .contains("vote green"));
    env.sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn guided_test_passes_with_a_green_press() {
    let env = common::sim(vec![4], 19200, false).await;
    let h = env.sim.handle();
    let link = env.link.display().to_string();
    let buf = Buf::default();
    let mut out = buf.clone();
    let a = args(&["test", "--port", &link, "--unit", "4", "--window-s", "10"]);
    let task = tokio::spawn(async move { run_to(a, &mut out).await });
    let t = Instant::now();
    while h.status()[0].state != KeypadState::Armed {
        assert!(
            t.elapsed() < Duration::from_secs(3),
            "never armed: {}",
            buf.text()
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    // The tool prints its prompt once the ARM command has been answered, a moment after the
    // keypad itself shows ARMED.
    while !buf.text().contains("Premere ora il tasto VERDE") {
        assert!(
            t.elapsed() < Duration::from_secs(3),
            "no prompt: {}",
            buf.text()
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    h.press(4, Key::Face(Face::Green)).expect("press");
    task.await.expect("join").expect("guided test passes");
    let text = buf.text();
    assert!(text.contains("PROVA SUPERATA"), "{text}");
    assert!(h.status()[0].identifying && h.status()[0].self_testing);
    assert_eq!(h.votes().iter().filter(|v| v.event == "acked").count(), 1);
    env.sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn set_id_and_set_baud_are_safe() {
    let env = common::sim(vec![1, 2], 19200, false).await;
    let link = env.link.display().to_string();
    // refuses an id already in use
    let (r, _) = run(&[
        "set-id", "--port", &link, "--unit", "1", "--new-id", "2", "--lang", "en",
    ])
    .await;
    let e = r.expect_err("id 2 in use").to_string();
    assert!(e.contains("already answers"), "{e}");
    let (r, out) = run(&[
        "set-id", "--port", &link, "--unit", "1", "--new-id", "9", "--lang", "en",
    ])
    .await;
    r.expect("set-id");
    assert!(out.contains("OK: unit 9 @ 19200"), "{out}");
    let (r, out) = run(&[
        "set-baud",
        "--port",
        &link,
        "--unit",
        "9",
        "--new-baud",
        "57600",
        "--lang",
        "en",
    ])
    .await;
    r.expect("set-baud");
    assert!(out.contains("OK: unit 9 @ 57600"), "{out}");
    let (r, out) = run(&[
        "scan",
        "--port",
        &link,
        "--ids",
        "1-10",
        "--all-bauds",
        "--timeout-ms",
        "30",
        "--lang",
        "en",
    ])
    .await;
    r.expect("scan");
    assert!(out.contains("unit 9 @ 57600"), "{out}");
    assert!(out.contains("unit 2 @ 19200"), "{out}");
    assert!(out.contains("Keypads found: 2"), "{out}");
    env.sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn show_and_actionable_errors() {
    let env = common::sim(vec![1], 19200, false).await;
    let link = env.link.display().to_string();
    let (r, out) = run(&["show", "--port", &link, "--unit", "1", "--lang", "en"]).await;
    r.expect("show");
    assert!(out.contains("IDENT            0xFACE"), "{out}");
    assert!(out.contains("BAUD_CODE        1 (19200 baud)"), "{out}");
    let (r, _) = run(&["show", "--port", &link, "--unit", "3", "--timeout-ms", "50"]).await;
    let e = r.expect_err("no unit 3").to_string();
    assert!(
        e.contains("nessuna risposta dall'unità 3") && e.contains("A/B"),
        "{e}"
    );
    let (r, _) = run(&[
        "show",
        "--port",
        "/dev/does-not-exist-faccia",
        "--lang",
        "en",
    ])
    .await;
    let e = r.expect_err("no port").to_string();
    assert!(e.contains("not found"), "{e}");
    env.sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn simulate_with_control_socket() {
    use tokio::io::{AsyncBufReadExt, AsyncWriteExt};
    let dir = tempfile::tempdir().expect("tempdir");
    let link = dir.path().join("kp-sim");
    let votes = dir.path().join("votes.jsonl");
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        l.local_addr().expect("addr").port()
    };
    let control = format!("127.0.0.1:{port}");
    let a = args(&[
        "simulate",
        "--units",
        "1-3",
        "--link",
        &link.display().to_string(),
        "--control",
        &control,
        "--vote-log",
        &votes.display().to_string(),
        "--seconds",
        "3",
        "--no-stdin",
    ]);
    let buf = Buf::default();
    let mut out = buf.clone();
    let task = tokio::spawn(async move { run_to(a, &mut out).await });
    let t = Instant::now();
    let sock = loop {
        match tokio::net::TcpStream::connect(&control).await {
            Ok(s) => break s,
            Err(_) if t.elapsed() < Duration::from_secs(2) => {
                tokio::time::sleep(Duration::from_millis(20)).await
            }
            Err(e) => panic!("control socket: {e}"),
        }
    };
    let (r, mut w) = sock.into_split();
    let mut lines = tokio::io::BufReader::new(r).lines();
    // arm unit 2 through the pty with this crate's master, press through the socket
    let mut m = faccia_serial::Master::new(
        faccia_serial::open_port(&link, 19200).expect("open"),
        19200,
        Duration::from_millis(100),
    );
    m.arm(2, 555, 30, 10).await.expect("arm");
    w.write_all(b"press 2 red\npress 2 reason 3\nfault 3 silent\nstatus\n")
        .await
        .expect("send");
    assert_eq!(
        lines.next_line().await.expect("line").as_deref(),
        Some("OK counted")
    );
    assert_eq!(
        lines.next_line().await.expect("line").as_deref(),
        Some("OK counted")
    );
    assert_eq!(
        lines.next_line().await.expect("line").as_deref(),
        Some("OK")
    );
    let mut status = Vec::new();
    for _ in 0..3 {
        status.push(lines.next_line().await.expect("line").unwrap_or_default());
    }
    assert!(status[1].starts_with("unit 2 LATCHED"), "{status:?}");
    assert!(status[2].contains("Silent"), "{status:?}");
    let s = m.status(2).await.expect("status");
    assert_eq!((s.face, s.reason), (Some(Face::Red), 3));
    m.ack(2, s.vote_seq).await.expect("ack");
    assert!(m.status(3).await.is_err(), "unit 3 silent");
    drop(m);
    task.await.expect("join").expect("simulate");
    let log = std::fs::read_to_string(&votes).expect("vote log");
    let v: Vec<serde_json::Value> = log
        .lines()
        .map(|l| serde_json::from_str(l).expect("json"))
        .collect();
    assert_eq!(v.len(), 2, "{log}");
    assert_eq!(v[0]["event"], "latched");
    assert_eq!(v[0]["token"], 555);
    assert_eq!(v[0]["reason"], 3);
    assert_eq!(v[1]["event"], "acked");
    assert!(!link.exists(), "link removed at exit");
}

#[tokio::test]
async fn list_ports_runs() {
    let (r, out) = run(&["list", "--lang", "en"]).await;
    r.expect("list");
    assert!(
        out.starts_with("PORT") || out.starts_with("No serial ports found."),
        "{out}"
    );
}

/// A port another process (the server) holds is reported as busy, not as missing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_port_held_by_another_opener_is_busy() {
    let env = common::sim(vec![1], 19200, false).await;
    let held = faccia_serial::open_port(&env.link, 19200).expect("first opener");
    let link = env.link.display().to_string();
    let (r, _) = run(&["scan", "--port", &link, "--ids", "1", "--lang", "en"]).await;
    let e = format!("{:#}", r.expect_err("the port is held"));
    assert!(
        e.contains(&format!(
            "port {link} busy: another process (faccia serve?) holds it"
        )),
        "{e}"
    );
    assert!(!e.contains("not found"), "{e}");
    drop(held);
    // Once it is free again the same scan finds the keypad.
    let (r, out) = run(&["scan", "--port", &link, "--ids", "1", "--lang", "en"]).await;
    r.expect("scan after the port is free");
    assert!(out.contains("unit 1 @ 19200: FK-3"), "{out}");
    // A port that does not exist is still "not found".
    let missing = env.dir.path().join("nope").display().to_string();
    let (r, _) = run(&["scan", "--port", &missing, "--lang", "en"]).await;
    let e = format!("{:#}", r.expect_err("no such port"));
    assert!(e.contains("not found: check the USB cable"), "{e}");
    env.sim.shutdown().await;
}

/// A baud rate the keypad does not support is refused while parsing, with the list.
#[test]
fn an_unsupported_baud_rate_is_refused() {
    for v in [
        &["scan", "--port", "/dev/null", "--baud", "12345"][..],
        &["show", "--port", "/dev/null", "--baud", "12345"],
        &["set-baud", "--port", "/dev/null", "--new-baud", "4800"],
        &["simulate", "--baud", "fast"],
    ] {
        let mut all = vec!["faccia-keypad"];
        all.extend_from_slice(v);
        let e = match Cli::try_parse_from(all) {
            Ok(_) => panic!("{v:?} accepted"),
            Err(e) => e.to_string(),
        };
        assert!(
            e.contains("is not a baud rate of the FK-3 keypad: use one of 9600, 19200, 38400, 57600, 115200"),
            "{v:?}: {e}"
        );
    }
    for b in ["9600", "19200", "38400", "57600", "115200"] {
        args(&["show", "--port", "/dev/null", "--baud", b]);
    }
}
