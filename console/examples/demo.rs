//! Runs the console against the fake Monitor with the test office, appending a ticket event
//! every second: `cargo run -p faccia-console --example demo [-- --lang en]`.
//! Token `demo-admin-token` (so keypad commands work); port from `FACCIA_DEMO_PORT` (50099);
//! `FACCIA_DEMO_RATE` events per second (default 1, 0 for none).

#[path = "../tests/common/mod.rs"]
mod common;

use clap::Parser;
use faccia_console::fake::{FakeMonitor, RunningServer};
use faccia_console::ConsoleArgs;
use faccia_proto::v1::{EventType, LogEvent, LogKind, Period};

#[derive(Parser)]
struct Cli {
    #[command(flatten)]
    console: ConsoleArgs,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut cli = Cli::parse();
    let port: u16 = std::env::var("FACCIA_DEMO_PORT")
        .ok()
        .and_then(|p| p.parse().ok())
        .unwrap_or(50099);
    let fake = FakeMonitor::new(common::snapshot());
    for p in [Period::Today, Period::Week, Period::Month] {
        fake.set_satisfaction(common::satisfaction(p));
    }
    for e in common::events() {
        fake.append(e);
    }
    // The Reports view: the fixture's November 2026, and the same figures for this month.
    let this_month =
        faccia_console::model::YearMonth::of(chrono::Utc::now(), &chrono_tz::Europe::Rome)?;
    for (code, lang) in [
        ("it", faccia_console::Lang::It),
        ("en", faccia_console::Lang::En),
    ] {
        let report = common::monthly_report(lang);
        fake.reports().set_monthly(code, report.clone());
        fake.reports().set_monthly(
            code,
            faccia_proto::v1::MonthlyReport {
                month: this_month.to_string(),
                previous_month: this_month.previous().to_string(),
                ..report
            },
        );
    }
    let server = RunningServer::start(fake.clone(), ([127, 0, 0, 1], port).into()).await?;
    if cli.console.server.is_empty() {
        cli.console.server.push(server.url());
    }
    cli.console
        .token
        .get_or_insert("demo-admin-token".to_string());
    let rate: u64 = std::env::var("FACCIA_DEMO_RATE")
        .ok()
        .and_then(|p| p.parse().ok())
        .unwrap_or(1);
    let feeder = tokio::spawn(async move {
        if rate == 0 {
            return;
        }
        let mut n = 52u32;
        loop {
            tokio::time::sleep(std::time::Duration::from_millis(1000 / rate.min(1000))).await;
            n += 1;
            fake.append(LogEvent {
                at: Some(faccia_proto::Timestamp {
                    seconds: chrono::Utc::now().timestamp(),
                    nanos: 0,
                }),
                kind: LogKind::LogTicketEvent as i32,
                ticket_event: EventType::Issued as i32,
                display_number: format!("A{n:03}"),
                service_code: "A".into(),
                ..Default::default()
            });
        }
    });
    let result = faccia_console::run(cli.console).await;
    feeder.abort();
    server.stop().await;
    result
}
