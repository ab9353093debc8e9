//! Figures for the console (`cargo bench -p faccia-console`):
//! 1. time to render one frame of a large office (200 counters, 30 services, 200 keypads,
//!    2,000 events in memory) for every view at 80x24 and 160x48 — target: median under 5 ms;
//! 2. resident memory while the console's client and model consume a stream of 1,000 events/s
//!    from a fake Monitor server over loopback gRPC, redrawing as the runtime would — target:
//!    under 40 MB. `FACCIA_BENCH_SECS` sets how long (default 10 s).

use std::time::{Duration, Instant};

use chrono::{TimeZone, Utc};
use faccia_console::client::{self, Backoff};
use faccia_console::config::Settings;
use faccia_console::fake::{FakeMonitor, RunningServer};
use faccia_console::model::{App, Msg, View, YearMonth};
use faccia_console::runtime::Tasks;
use faccia_console::views;
use faccia_proto::v1::*;
use faccia_proto::Timestamp;
use ratatui::backend::TestBackend;
use ratatui::Terminal;

fn ts(secs: i64) -> Option<Timestamp> {
    Some(Timestamp {
        seconds: secs,
        nanos: 0,
    })
}

fn faces(g: u32, y: u32, r: u32) -> Option<FaceCounts> {
    Some(FaceCounts {
        green: g,
        yellow: y,
        red: r,
        reasons: vec![r / 5, r / 2, r / 5, r / 10, 0],
    })
}

fn office(base: i64) -> Snapshot {
    let counters = (1..=200u32)
        .map(|i| Counter {
            id: i.to_string(),
            name: format!("Sportello {i} – servizi demografici"),
            configured: i % 50 != 0,
            activity: (i % 4 + 1) as i32,
            ticket_display: format!("A{:03}", i),
            service_code: format!("S{}", i % 30),
            served_today: i * 3,
            avg_service_s: Some(200.0 + f64::from(i)),
            votes_today: faces(i * 2, i / 2, i / 4),
            keypad: (i % 4 + 1) as i32,
            session_open: i % 3 == 0,
            operator_ref: String::new(),
        })
        .collect();
    let services = (0..30u32)
        .map(|i| Service {
            code: format!("S{i}"),
            name: format!("Servizio numero {i}"),
            configured: true,
            standard_wait_min: Some(20),
            waiting_now: i,
            longest_wait_s: i * 97,
            avg_wait_s: Some(f64::from(i) * 31.0),
            p90_wait_s: Some(f64::from(i) * 77.0),
            within_standard_pct: Some(90.0 - f64::from(i)),
            served_today: i * 11,
            waiting_by_slot: (0..96).map(|s| (s * i) % 23).collect(),
            called_today: i * 12,
        })
        .collect();
    let keypads = (1..=200u32)
        .map(|i| Keypad {
            counter_id: i.to_string(),
            bus: format!("/dev/ttyUSB{}", i / 32),
            unit_id: i % 247 + 1,
            link: (i % 4 + 1) as i32,
            since: ts(base - i64::from(i) * 60),
            last_seen: ts(base - i64::from(i)),
            rtt_median_ms: Some(12.0),
            rtt_p99_ms: Some(40.0),
            timeouts: u64::from(i),
            crc_errors: 1,
            exceptions: 0,
            reboots: 2,
            faults: i % 128,
            ignored_presses: u64::from(i),
            firmware: "1.4".into(),
            serial_no: format!("FK3-{i:06}"),
            polls: 0,
            ignored_presses_recent: 0,
            ..Default::default()
        })
        .collect();
    let alerts = (0..40u32)
        .map(|i| Alert {
            kind: (i % 5 + 1) as i32,
            subject: (i + 1).to_string(),
            since: ts(base - 600),
            value: 30.0,
            threshold: 20.0,
        })
        .collect();
    Snapshot {
        site: Some(Site {
            id: "big".into(),
            name: "Ufficio grande".into(),
            time_zone: "Europe/Rome".into(),
        }),
        at: ts(base),
        last_seq: 0,
        today: Some(Totals {
            served: 12_000,
            waiting_now: 300,
            avg_wait_s: Some(600.0),
            votes: faces(7000, 1000, 500),
            sessions_open: 40,
            no_show: 100,
        }),
        counters,
        services,
        keypads,
        alerts,
        operator_data_enabled: false,
    }
}

fn satisfaction(snap: &Snapshot) -> Satisfaction {
    let keyed = |k: String, n: String| KeyedFaces {
        key: k,
        name: n,
        faces: faces(50, 10, 5),
        served: 90,
    };
    Satisfaction {
        period: Period::Today as i32,
        from: snap.at,
        to: snap.at,
        total: faces(7000, 1000, 500),
        served: 12_000,
        by_counter: snap
            .counters
            .iter()
            .map(|c| keyed(c.id.clone(), c.name.clone()))
            .collect(),
        by_service: snap
            .services
            .iter()
            .map(|s| keyed(s.code.clone(), s.name.clone()))
            .collect(),
        by_channel: vec![keyed("counter".into(), "Sportello".into())],
    }
}

fn event(i: u64, base: i64) -> LogEvent {
    LogEvent {
        seq: i,
        at: ts(base + i as i64 / 1000),
        kind: (i % 9 + 1) as i32,
        site_id: String::new(),
        source_id: "novosga".into(),
        counter_id: (i % 200 + 1).to_string(),
        service_code: format!("S{}", i % 30),
        ticket_id: format!("t-{i}"),
        display_number: format!("A{:03}", i % 1000),
        ticket_event: (i % 12 + 1) as i32,
        session_id: format!("s-{i}"),
        outcome: (i % 6 + 1) as i32,
        detail: String::new(),
        facts: None,
    }
}

/// The month's report of the same office: one line per counter and service.
fn monthly(snap: &Snapshot) -> MonthlyReport {
    let faces = |g: u64, y: u64, r: u64| {
        Some(ReportFaces {
            votes: g + y + r,
            green: g,
            yellow: y,
            red: r,
            reasons: vec![r / 2, r / 4, r / 8, r / 16],
            red_without_reason: r - r / 2 - r / 4 - r / 8 - r / 16,
            green_tenths: Some(800),
            yellow_tenths: Some(120),
            red_tenths: Some(80),
            reason_tenths: vec![500, 250, 125, 63],
            red_without_reason_tenths: Some(63),
        })
    };
    let group = |code: &str, name: &str| ReportGroup {
        code: code.into(),
        name: name.into(),
        served: Some(650),
        faces: faces(400, 60, 40),
        participation_tenths: Some(769),
    };
    MonthlyReport {
        month: "2026-11".into(),
        site_name: "Comune di prova".into(),
        served: 130_000,
        faces: faces(80_000, 12_000, 8_000),
        participation_tenths: Some(769),
        by_counter: snap
            .counters
            .iter()
            .map(|c| group(&c.id, &c.name))
            .collect(),
        by_service: snap
            .services
            .iter()
            .map(|v| group(&v.code, &v.name))
            .collect(),
        by_channel: vec![group("COUNTER", "")],
        waiting: snap
            .services
            .iter()
            .map(|v| ReportWaiting {
                service_code: v.code.clone(),
                name: v.name.clone(),
                standard_min: v.standard_wait_min,
                counted: 4000,
                left_out: 3,
                avg_ms: Some(600_000.0),
                p90_ms: Some(1_300_000),
                within: v.standard_wait_min.map(|_| 3500),
                within_tenths: v.standard_wait_min.map(|_| 875),
                met: v.standard_wait_min.map(|_| false),
            })
            .collect(),
        previous_month: "2026-10".into(),
        participation_change_tenths: Some(12),
        summary: "Nel mese di novembre 2026 l'ufficio ha servito 130000 utenti.".into(),
        target_tenths: 900,
        ..Default::default()
    }
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn rss_kib(field: &str) -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    status
        .lines()
        .find(|l| l.starts_with(field))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

fn render_bench() {
    let now = Utc
        .with_ymd_and_hms(2026, 11, 23, 10, 15, 0)
        .single()
        .expect("valid time");
    let base = now.timestamp();
    let snap = office(base);
    let mut app = App::new(&Settings::default(), now);
    app.apply(Msg::Satisfaction(Box::new(satisfaction(&snap))));
    let month = YearMonth::new(2026, 11).expect("valid month");
    app.site_mut().reports.show(month);
    app.apply(Msg::Monthly {
        month,
        result: Ok(Box::new(monthly(&snap))),
    });
    app.apply(Msg::Snapshot(Box::new(snap)));
    app.apply(Msg::Events((1..=2000).map(|i| event(i, base)).collect()));
    println!("render: one frame, 200 counters, 30 services, 200 keypads, 40 alerts, 2000 events");
    let mut worst = Duration::ZERO;
    for (w, h) in [(80u16, 24u16), (160, 48)] {
        let Ok(mut terminal) = Terminal::new(TestBackend::new(w, h));
        for view in View::ALL {
            app.view = view;
            // Middle of the lists, so that scrolling is part of it.
            app.selected = [100, 15, 120, 100, 1000, 200, 0];
            let mut times = Vec::new();
            for i in 0..300u64 {
                // Force a full redraw each time, as after a change.
                if i.is_multiple_of(2) {
                    app.site_mut().events.push(event(2000 + i, base));
                }
                let t = Instant::now();
                if terminal.draw(|f| views::render(f, &app)).is_err() {
                    eprintln!("draw failed");
                    return;
                }
                times.push(t.elapsed());
            }
            let m = median(times);
            worst = worst.max(m);
            let name = format!("{view:?}");
            println!(
                "  {w:>3}x{h:<3} {name:<13} median {:>7.3} ms",
                m.as_secs_f64() * 1e3
            );
        }
    }
    println!(
        "render: worst median {:.3} ms (target < 5 ms): {}",
        worst.as_secs_f64() * 1e3,
        if worst < Duration::from_millis(5) {
            "OK"
        } else {
            "OVER"
        }
    );
}

async fn memory_bench(secs: u64) {
    let now = Utc
        .with_ymd_and_hms(2026, 11, 23, 10, 15, 0)
        .single()
        .expect("valid time");
    let base = now.timestamp();
    let snap = office(base);
    let fake = FakeMonitor::new(snap.clone());
    fake.set_satisfaction(satisfaction(&snap));
    let server = match RunningServer::start(fake.clone(), ([127, 0, 0, 1], 0).into()).await {
        Ok(s) => s,
        Err(e) => {
            eprintln!("cannot start the fake server: {e}");
            return;
        }
    };
    let rss_before = rss_kib("VmRSS:").unwrap_or(0);
    let api = match client::connect_all(&server.url(), Some("demo-viewer-token")) {
        Ok(a) => a,
        Err(e) => {
            eprintln!("{e}");
            return;
        }
    };
    let mut tasks = Tasks::start(vec![api], Duration::from_secs(30), Backoff::default());
    let mut app = App::new(&Settings::default(), now);
    let Ok(mut terminal) = Terminal::new(TestBackend::new(160, 48));
    // The producer: 1,000 events per second, in ticks of 10 ms.
    let producer = {
        let fake = fake.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_millis(10));
            let mut i = 0u64;
            loop {
                tick.tick().await;
                for _ in 0..10 {
                    i += 1;
                    fake.append(event(i, base));
                }
            }
        })
    };
    let start = Instant::now();
    let mut frames = 0u64;
    let mut last_draw = Instant::now();
    let mut views_cycle = View::ALL.iter().cycle();
    let mut peak_rss = 0;
    while start.elapsed() < Duration::from_secs(secs) {
        match tokio::time::timeout(Duration::from_millis(40), tasks.rx.recv()).await {
            Ok(Some(m)) => {
                app.apply(m);
                while let Ok(m) = tasks.rx.try_recv() {
                    app.apply(m);
                }
            }
            Ok(None) => break,
            Err(_) => {}
        }
        if last_draw.elapsed() >= Duration::from_millis(40) {
            if frames.is_multiple_of(25) {
                if let Some(v) = views_cycle.next() {
                    app.view = *v;
                }
            }
            let _ = terminal.draw(|f| views::render(f, &app));
            frames += 1;
            last_draw = Instant::now();
            peak_rss = peak_rss.max(rss_kib("VmRSS:").unwrap_or(0));
        }
    }
    producer.abort();
    let elapsed = start.elapsed().as_secs_f64();
    let produced = fake.last_seq();
    let rss = rss_kib("VmRSS:").unwrap_or(0);
    let hwm = rss_kib("VmHWM:").unwrap_or(0);
    println!("memory: {secs} s of 1,000 events/s from a fake Monitor over loopback gRPC");
    println!(
        "  events produced {produced}, received {} (last seq {}), kept {} (cap {}), {:.0} events/s, {frames} frames",
        app.site().events.last_seq(),
        app.site().events.last_seq(),
        app.site().events.len(),
        app.site().events.capacity(),
        app.site().events.last_seq() as f64 / elapsed
    );
    println!(
        "  VmRSS before {:.1} MB, peak while streaming {:.1} MB, at end {:.1} MB; VmHWM {:.1} MB (whole process, fake server included)",
        rss_before as f64 / 1024.0,
        peak_rss as f64 / 1024.0,
        rss as f64 / 1024.0,
        hwm as f64 / 1024.0
    );
    println!(
        "memory: peak VmRSS {:.1} MB (target < 40 MB): {}",
        peak_rss as f64 / 1024.0,
        if peak_rss < 40 * 1024 { "OK" } else { "OVER" }
    );
    drop(tasks);
    server.stop().await;
}

fn main() {
    // `cargo test --benches` runs this with `--test`-like flags; keep it short then.
    let quick = std::env::args().any(|a| a == "--test");
    render_bench();
    let secs = std::env::var("FACCIA_BENCH_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(if quick { 1 } else { 10 });
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("cannot start tokio: {e}");
            return;
        }
    };
    rt.block_on(memory_bench(secs));
}
