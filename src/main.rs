//! `faccia`: the one user-facing binary.

mod db;
mod demo;
mod import;

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand};
use faccia_server::config::{Config, ConfigError, LogFormat};

#[derive(Parser)]
#[command(
    name = "faccia",
    version,
    about = "Mettiamoci la faccia: queue events, face keypads and satisfaction figures for public offices"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(clap::Args)]
struct ServerOpts {
    /// Configuration file (default: etc/faccia.toml when it exists).
    #[arg(long, env = "FACCIA_CONFIG", value_name = "FILE", global = true)]
    config: Option<PathBuf>,
}

#[derive(clap::Args)]
struct ReportCmd {
    #[command(flatten)]
    opts: ServerOpts,
    #[command(flatten)]
    args: faccia_reports::ReportArgs,
}

// Parsed once at start: the size of the largest variant does not matter.
#[allow(clippy::large_enum_variant)]
#[derive(Subcommand)]
enum Command {
    /// Run the gRPC service (queue events, vote sessions, keypads, monitor).
    Serve(ServerOpts),
    /// Check the configuration and print what it amounts to.
    CheckConfig(ServerOpts),
    /// The URP console (Italian by default; --lang en).
    Console(faccia_console::ConsoleArgs),
    /// The technician's tool for FK-3 keypads: list, scan, show, watch, test, set-id, set-baud, simulate.
    Keypad(faccia_serial::tool::KeypadArgs),
    /// Reports: the monthly publication, the annual review, the Ministry export.
    Report(ReportCmd),
    /// A demo office: server on a temporary SQLite database, simulated keypads, simulated queue, console.
    Demo(demo::DemoArgs),
    /// The databases: copy an office's history into another one (`copy`), list their sites.
    Db(db::DbArgs),
    /// Import a queue system's exported log: `csv --file day.csv [--site ID] [--source ID]`.
    Import(import::ImportArgs),
    /// Simulators for tests and demonstrations.
    #[command(subcommand)]
    Sim(SimCommand),
}

#[derive(Subcommand)]
enum SimCommand {
    /// Drive a running server with realistic queue traffic; citizens vote on simulated keypads.
    Queue(faccia_sim::QueueSimArgs),
}

/// Colours only on a terminal: logs that go to a file, a pipe or journald stay plain text
/// (and `NO_COLOR` turns them off on a terminal too).
fn log_colours() -> bool {
    use std::io::IsTerminal;
    std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
}

fn init_logging(config: &Config) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(&config.settings.logging.level));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match config.settings.logging.format {
        LogFormat::Json => builder.json().init(),
        LogFormat::Human => builder.with_ansi(log_colours()).init(),
    }
}

/// What `check-config` says when it finds no configuration file (exit code 2).
fn no_config_file() -> String {
    format!(
        "no configuration file: {} does not exist in {} and neither --config FILE nor \
         FACCIA_CONFIG was given; the built-in defaults alone configure no counters and no \
         tokens. Point --config at the office's file (e.g. /etc/faccia/faccia.toml).",
        faccia_server::config::DEFAULT_CONFIG_FILE,
        std::env::current_dir()
            .map(|d| d.display().to_string())
            .unwrap_or_else(|_| "this directory".into()),
    )
}

fn load(path: Option<&std::path::Path>) -> Result<Config, ExitCode> {
    Config::load(path).map_err(|e: ConfigError| {
        eprintln!("faccia: configuration error: {e}");
        ExitCode::from(2)
    })
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(s) => s,
                Err(e) => {
                    tracing::warn!(error = %e, "cannot listen for SIGTERM");
                    let _ = ctrl_c.await;
                    return;
                }
            };
        tokio::select! {
            _ = ctrl_c => {},
            _ = term.recv() => {},
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
    tracing::info!("stopping: finishing calls in flight");
}

async fn serve(config: Config) -> anyhow::Result<()> {
    let listen = config.listen;
    let db = match &config.database {
        faccia_server::config::DatabaseUrl::Sqlite(p) => format!("SQLite {}", p.display()),
        faccia_server::config::DatabaseUrl::Postgres(_) => "PostgreSQL".to_string(),
    };
    if config.file.is_none() {
        tracing::warn!(
            "no configuration file ({} not found, no --config): built-in defaults, no counters, no tokens",
            faccia_server::config::DEFAULT_CONFIG_FILE
        );
    }
    let shared = faccia_server::open(config, faccia_server::storage::system_clock())
        .context("cannot start")?;
    let listener = faccia_server::bind(listen).await?;
    // The phone survey's FastAGI listener, bound before serving so that a taken port stops
    // start-up; it stops with the gRPC server (`Shared::stopping`).
    let phone = match shared.config.phone.clone() {
        Some(p) => {
            let l = faccia_server::agi::bind(p.listen).await?;
            Some(tokio::spawn(faccia_server::agi::serve(
                shared.clone(),
                p,
                l,
            )))
        }
        None => None,
    };
    let sites = shared
        .offices
        .iter()
        .map(|o| o.site.id())
        .collect::<Vec<_>>()
        .join(", ");
    tracing::info!(%listen, database = %db, %sites, "faccia serving");
    faccia_server::serve(shared, listener, shutdown_signal())
        .await
        .context("the gRPC server failed")?;
    if let Some(phone) = phone {
        let _ = phone.await;
    }
    tracing::info!("stopped");
    Ok(())
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")
}

fn init_tool_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(log_colours())
        .init();
}

fn report(result: anyhow::Result<()>) -> ExitCode {
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("faccia: {e:#}");
            // A configuration problem found only at start (the web link key) exits like the
            // others found while loading.
            let config = e.chain().any(|c| {
                matches!(
                    c.downcast_ref::<faccia_server::OpenError>(),
                    Some(faccia_server::OpenError::Config(_))
                )
            });
            if config {
                ExitCode::from(2)
            } else {
                ExitCode::FAILURE
            }
        }
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let opts = match cli.command {
        Command::Console(args) => {
            // The console owns the terminal: no log lines on it.
            return report(runtime().and_then(|rt| rt.block_on(faccia_console::run(args))));
        }
        Command::Keypad(args) => {
            init_tool_logging();
            return report(runtime().and_then(|rt| rt.block_on(faccia_serial::tool::run(args))));
        }
        Command::Demo(args) => {
            return report(runtime().and_then(|rt| rt.block_on(demo::run(args))));
        }
        Command::Sim(SimCommand::Queue(args)) => {
            init_tool_logging();
            return report(runtime().and_then(|rt| {
                rt.block_on(async {
                    let s = faccia_sim::run(args).await?;
                    println!("{}", serde_json::to_string_pretty(&s)?);
                    Ok(())
                })
            }));
        }
        Command::Serve(ref o) | Command::CheckConfig(ref o) => o.config.clone(),
        Command::Report(ref r) => r.opts.config.clone(),
        Command::Db(ref d) => d.config.clone(),
        Command::Import(ref i) => i.config.clone(),
    };
    let config = match load(opts.as_deref()) {
        Ok(c) => c,
        Err(code) => return code,
    };
    init_logging(&config);
    let result = match cli.command {
        Command::Console(_) | Command::Keypad(_) | Command::Demo(_) | Command::Sim(_) => Ok(()),
        Command::CheckConfig(_) => {
            let Some(file) = &config.file else {
                eprintln!("faccia: {}", no_config_file());
                return ExitCode::from(2);
            };
            let s = &config.settings;
            if s.auth.tokens.is_empty() {
                eprintln!(
                    "faccia: warning: no [[auth.tokens]] in {}: every call but health checks and \
                     reflection will be refused",
                    file.display()
                );
            }
            for site in &config.sites {
                if site.counters().is_empty() && config.sites.len() == 1 {
                    eprintln!(
                        "faccia: warning: no [[counters]] in {}: no counter can serve tickets",
                        file.display()
                    );
                } else if site.counters().is_empty() {
                    eprintln!(
                        "faccia: warning: site {:?} has no [[sites.counters]] in {}: no counter \
                         can serve tickets there",
                        site.id(),
                        file.display()
                    );
                }
            }
            match config.sites.as_slice() {
                [site] => println!(
                    "configuration OK ({}): site {:?}, {} services, {} counters, {} tokens, listen {}",
                    file.display(),
                    site.name(),
                    site.services().len(),
                    site.counters().len(),
                    s.auth.tokens.len(),
                    config.listen
                ),
                sites => {
                    println!(
                        "configuration OK ({}): {} sites, {} tokens, listen {}",
                        file.display(),
                        sites.len(),
                        s.auth.tokens.len(),
                        config.listen
                    );
                    for site in sites {
                        println!(
                            "  site {} {:?} ({}): {} services, {} counters",
                            site.id(),
                            site.name(),
                            site.time_zone.name(),
                            site.services().len(),
                            site.counters().len()
                        );
                    }
                }
            }
            // The channels beside the counters' keypads.
            let totems: usize = config.sites.iter().map(|s| s.totems().len()).sum();
            if totems > 0 {
                println!("  totems: {totems}");
            }
            if let Some(w) = &config.web {
                println!(
                    "  web links: page on {}, links {}/v/..., {} link counters, valid {} h",
                    w.listen,
                    w.public_url,
                    w.link_counters.len(),
                    w.lifetime_ms / 3_600_000
                );
            }
            if let Some(p) = &config.phone {
                println!(
                    "  phone survey: FastAGI on {}, {} lines",
                    p.listen,
                    p.lines.len()
                );
            }
            Ok(())
        }
        Command::Serve(_) => runtime().and_then(|rt| rt.block_on(serve(config))),
        Command::Db(args) => db::run(args, &config),
        Command::Import(args) => import::run(args, &config),
        Command::Report(r) => runtime().and_then(|rt| {
            rt.block_on(faccia_reports::run(
                r.args,
                faccia_server::report_source(&config),
            ))
        }),
    };
    report(result)
}
