//! Poll cycle of 32 simulated FK-3 keypads on one bus at 115200 baud, with the simulator
//! pacing bytes to the baud rate (request, 3.5-character silence, response, 3.5-character
//! silence), next to the wire-time bound computed from the bytes that crossed the wire.
//!
//! Run: `cargo bench -p faccia-serial --bench poll_cycle`. Prints figures; exits non-zero when
//! the cycle exceeds 1.3x the bound.

use std::time::{Duration, Instant};

use faccia_serial::rtu;
use faccia_serial::sim::{SimConfig, Simulator};
use faccia_serial::{open_port, Bus, BusConfig, BusEvent, BusTiming, Master};

const BAUD: u32 = 115_200;
const UNITS: u8 = 32;
const LIMIT: f64 = 1.3;

fn ms(d: Duration) -> String {
    format!("{:.3} ms", d.as_secs_f64() * 1e3)
}

/// Wire time of the bytes plus a 3.5-character silence before every frame.
fn bound(bytes: u64, frames: u64) -> (Duration, Duration) {
    let raw = rtu::wire_time(bytes as usize, BAUD);
    let silences = rtu::char_time(BAUD) * 7 / 2 * frames as u32;
    (raw, raw + silences)
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let dir = match tempfile::tempdir() {
        Ok(d) => d,
        Err(e) => {
            eprintln!("tempdir: {e}");
            std::process::exit(2);
        }
    };
    let link = dir.path().join("kp-bench");
    let mut cfg = SimConfig::new((1..=UNITS).collect(), &link);
    cfg.baud = BAUD;
    cfg.pace = true;
    let sim = match Simulator::start(cfg).await {
        Ok(s) => s,
        Err(e) => {
            eprintln!("simulator: {e}");
            std::process::exit(2);
        }
    };
    let h = sim.handle();
    println!("poll cycle: {UNITS} simulated keypads, {BAUD} baud 8N1, paced simulator");
    println!("status poll = read input 0x0002..=0x0008: request 8 bytes, response 19 bytes");

    // 1. the bus task as the server uses it, polling as fast as the wire allows
    let timing = BusTiming {
        poll_interval: Duration::ZERO,
        request_timeout: Duration::from_millis(50),
        full_read_interval: Duration::from_secs(3600),
        counters_interval: Duration::from_secs(3600),
        inter_frame_gap: Some(Duration::ZERO),
        ..BusTiming::default()
    };
    let mut bc = BusConfig::new(&link, BAUD, (1..=UNITS).collect());
    bc.timing = timing;
    let (bus, mut rx) = Bus::spawn(bc);
    let mut online = 0;
    let t = Instant::now();
    while online < UNITS as usize && t.elapsed() < Duration::from_secs(10) {
        if let Ok(Some(BusEvent::Online { .. })) =
            tokio::time::timeout(Duration::from_secs(1), rx.recv()).await
        {
            online += 1;
        }
    }
    if online < UNITS as usize {
        eprintln!("only {online} keypads online");
        std::process::exit(2);
    }
    tokio::spawn(async move { while rx.recv().await.is_some() {} });
    tokio::time::sleep(Duration::from_millis(200)).await;
    let polls0: u64 = bus.health().await.iter().map(|x| x.polls).sum();
    let s0 = h.stats();
    let t0 = Instant::now();
    tokio::time::sleep(Duration::from_secs(3)).await;
    let health = bus.health().await;
    let el = t0.elapsed();
    let s1 = h.stats();
    let polls: u64 = health.iter().map(|x| x.polls).sum::<u64>() - polls0;
    let frames = (s1.frames - s0.frames) + (s1.answered - s0.answered);
    let bytes = (s1.bytes_rx - s0.bytes_rx) + (s1.bytes_tx - s0.bytes_tx);
    let cycles = polls as f64 / f64::from(UNITS);
    let cycle = el.div_f64(cycles);
    let (raw, with_sil) = bound(bytes, frames);
    let raw_c = raw.div_f64(cycles);
    let bound_c = with_sil.div_f64(cycles);
    let ratio_bus = cycle.as_secs_f64() / bound_c.as_secs_f64();
    let p99 = health
        .iter()
        .filter_map(|x| x.rtt_p99)
        .max()
        .unwrap_or_default();
    let med = health
        .iter()
        .filter_map(|x| x.rtt_median)
        .max()
        .unwrap_or_default();
    println!();
    println!("[Bus task] {polls} polls in {}, {cycles:.1} cycles", ms(el));
    println!("  measured cycle           {}", ms(cycle));
    println!(
        "  wire bytes only          {}  ({bytes} bytes over {frames} frames)",
        ms(raw_c)
    );
    println!("  wire bound (+t3.5/frame) {}", ms(bound_c));
    println!("  ratio                    {ratio_bus:.3}  (limit {LIMIT})");
    println!("  per-keypad poll period   {} (spec: <= 250 ms)", ms(cycle));
    println!("  response time median/p99 {} / {}", ms(med), ms(p99));
    bus.shutdown().await;

    // 2. a bare master loop, for comparison
    tokio::time::sleep(Duration::from_millis(100)).await;
    let port = match open_port(&link, BAUD) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("open: {e}");
            std::process::exit(2);
        }
    };
    let mut m = Master::new(port, BAUD, Duration::from_millis(50));
    m.set_inter_frame_gap(Duration::ZERO);
    let rounds = 60u32;
    let st0 = m.stats();
    let t0 = Instant::now();
    for _ in 0..rounds {
        for u in 1..=UNITS {
            if let Err(e) = m.status(u).await {
                eprintln!("unit {u}: {e}");
            }
        }
    }
    let el = t0.elapsed();
    let st = m.stats();
    let bytes = (st.bytes_tx - st0.bytes_tx) + (st.bytes_rx - st0.bytes_rx);
    let frames = (st.requests - st0.requests) + (st.responses - st0.responses);
    let (raw, with_sil) = bound(bytes, frames);
    let cycle_m = el / rounds;
    let ratio_m = el.as_secs_f64() / with_sil.as_secs_f64();
    println!();
    println!("[Master loop] {rounds} cycles");
    println!("  measured cycle           {}", ms(cycle_m));
    println!("  wire bytes only          {}", ms(raw / rounds));
    println!("  wire bound (+t3.5/frame) {}", ms(with_sil / rounds));
    println!("  ratio                    {ratio_m:.3}  (limit {LIMIT})");
    println!();
    println!(
        "note: t3.5 is 3.5 characters ({}) as the simulator paces it; Modbus recommends a fixed 1.75 ms above 19200 baud, \
         which a real line would add per frame.",
        ms(rtu::char_time(BAUD) * 7 / 2)
    );
    sim.shutdown().await;
    if ratio_bus > LIMIT || ratio_m > LIMIT {
        eprintln!("FAIL: poll cycle above {LIMIT}x the wire-time bound");
        std::process::exit(1);
    }
    println!("OK: poll cycle within {LIMIT}x the wire-time bound");
}
