//! `faccia demo`: a living office in one process tree. The server on a temporary SQLite
//! database, a bus of simulated FK-3 keypads on a pseudo-terminal, the queue simulator feeding
//! tickets through the real gRPC API, and the console. Quitting the console stops everything and
//! removes the temporary files.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use faccia_server::config::Config;

/// The sample office shipped in `etc/faccia.toml`, embedded so the demo runs from anywhere.
const SAMPLE: &str = include_str!("../etc/faccia.toml");

#[derive(clap::Args, Debug, Clone)]
pub struct DemoArgs {
    /// Simulated seconds per real second, as for `faccia sim queue`: 1 = real time, 60 = a
    /// simulated minute per second (an office hour in a real minute), 3600 = an hour per second.
    #[arg(long, default_value_t = 60.0, value_name = "SIM_S_PER_S")]
    pub speed: f64,
    /// Number of counters, each with its keypad (1..=32).
    #[arg(long, default_value_t = 8)]
    pub counters: u8,
    /// Seed of the simulated traffic: the same seed gives the same day.
    #[arg(long, default_value_t = 2009)]
    pub seed: u64,
    /// Language of the console: it (default) or en.
    #[arg(long, value_name = "it|en")]
    pub lang: Option<faccia_domain::Lang>,
    /// Run without the console for this many real seconds, then print a summary.
    #[arg(long, value_name = "SECONDS")]
    pub headless: Option<u64>,
    /// Keep the temporary directory (database, logs, vote logs) and print its path.
    #[arg(long)]
    pub keep: bool,
    /// Serve Prometheus metrics on this address (default: a free port on 127.0.0.1).
    #[arg(long, value_name = "ADDR:PORT")]
    pub metrics: Option<std::net::SocketAddr>,
    /// Where the console saves reports (default: `rapporti/` in the demo's temporary
    /// directory, removed on exit unless --keep).
    #[arg(long, value_name = "DIR")]
    pub reports_dir: Option<PathBuf>,
}

fn free_port() -> anyhow::Result<u16> {
    let l = std::net::TcpListener::bind("127.0.0.1:0").context("no free port on 127.0.0.1")?;
    Ok(l.local_addr()?.port())
}

/// The sample office with the demo's database, port and keypads.
fn demo_config(
    dir: &Path,
    port: u16,
    metrics: std::net::SocketAddr,
    counters: u8,
    keypads: &Path,
) -> anyhow::Result<PathBuf> {
    let mut doc: toml::Table = SAMPLE
        .parse()
        .context("the embedded sample configuration")?;
    if let Some(toml::Value::Table(s)) = doc.get_mut("server") {
        s.insert("listen".into(), format!("127.0.0.1:{port}").into());
    }
    if let Some(toml::Value::Table(m)) = doc.get_mut("metrics") {
        m.insert("listen".into(), metrics.to_string().into());
    }
    if let Some(toml::Value::Table(d)) = doc.get_mut("database") {
        d.insert(
            "url".into(),
            format!("sqlite://{}", dir.join("faccia.db").display()).into(),
        );
    }
    let names: Vec<toml::Value> = match doc.get("counters") {
        Some(toml::Value::Array(a)) => a.clone(),
        _ => Vec::new(),
    };
    let mut list = Vec::new();
    for i in 1..=counters {
        let mut c = match names.get(usize::from(i) - 1) {
            Some(toml::Value::Table(t)) => t.clone(),
            _ => {
                let mut t = toml::Table::new();
                t.insert("id".into(), format!("S{i:02}").into());
                t.insert("name".into(), format!("Sportello {i}").into());
                t
            }
        };
        let mut k = toml::Table::new();
        k.insert("port".into(), keypads.display().to_string().into());
        k.insert("unit".into(), i64::from(i).into());
        c.insert("keypad".into(), toml::Value::Table(k));
        list.push(toml::Value::Table(c));
    }
    doc.insert("counters".into(), toml::Value::Array(list));
    let path = dir.join("faccia.toml");
    std::fs::write(&path, toml::to_string(&doc)?)?;
    Ok(path)
}

fn counter_ids(config: &Config) -> Vec<(String, u8)> {
    config
        .settings
        .counters
        .iter()
        .filter_map(|c| c.keypad.as_ref().map(|k| (c.id.clone(), k.unit)))
        .collect()
}

/// The fastest demo: 10 simulated hours per real second.
const MAX_SPEED: f64 = 36_000.0;

pub async fn run(args: DemoArgs) -> anyhow::Result<()> {
    if !(1..=32).contains(&args.counters) {
        anyhow::bail!("--counters must be 1..=32 (one RS-485 bus)");
    }
    if !(args.speed > 0.0 && args.speed <= MAX_SPEED) {
        anyhow::bail!(
            "--speed is simulated seconds per real second: above 0 and at most {MAX_SPEED} \
             (60 = a simulated minute per second)"
        );
    }
    let tmp = tempfile::Builder::new().prefix("faccia-demo-").tempdir()?;
    let dir = tmp.path().to_path_buf();
    let log = std::fs::File::create(dir.join("faccia.log"))?;
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_ansi(false)
        .with_writer(std::sync::Mutex::new(log))
        .init();

    // Keypads first: the server opens their port.
    let link = dir.join("keypads");
    let units: Vec<u8> = (1..=args.counters).collect();
    let mut sim_cfg = faccia_serial::sim::SimConfig::new(units, &link);
    sim_cfg.vote_log = Some(dir.join("keypad-votes.jsonl"));
    let keypads = faccia_serial::sim::Simulator::start(sim_cfg)
        .await
        .context("cannot start the simulated keypads")?;

    let port = free_port()?;
    let metrics = match args.metrics {
        Some(a) => a,
        None => ([127, 0, 0, 1], free_port()?).into(),
    };
    let config_path = demo_config(&dir, port, metrics, args.counters, &link)?;
    let config = Config::load(Some(&config_path)).map_err(|e| anyhow::anyhow!("{e}"))?;
    let counters = counter_ids(&config);
    let services: Vec<String> = config
        .settings
        .services
        .iter()
        .map(|s| s.code.clone())
        .collect();

    // The server's clock runs with the simulated day, so that waits, windows and "today" agree.
    let start = faccia_sim::model::today_at(chrono::Utc::now(), 8, 30);
    let factor = args.speed;
    let t0 = Instant::now();
    let t0_sim = start.timestamp_millis();
    let clock: faccia_server::storage::Clock =
        Arc::new(move || t0_sim + (t0.elapsed().as_secs_f64() * 1000.0 * factor) as i64);
    let shared = faccia_server::open(config, clock).context("cannot open the demo database")?;
    let listener = faccia_server::bind(([127, 0, 0, 1], port).into()).await?;
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(faccia_server::serve(shared, listener, async {
        let _ = stop_rx.await;
    }));
    let url = format!("http://127.0.0.1:{port}");

    // A busy morning: a crowd at the door at opening and a peak above what the counters can
    // serve, so queues build and ease, some waits go over the standard and raise alerts.
    let plan = faccia_sim::SimPlan::new(args.seed)
        .counters(counters.iter().map(|(c, _)| c.clone()))
        .services(&services)
        .start(start)
        .tickets(None)
        .duration(Some(Duration::from_secs(10 * 3600)))
        .busy_morning();
    let sim = faccia_sim::QueueSim::new(plan)
        .server(url.clone())
        .token(Some("demo-queue-token".into()))
        .speed(factor)
        .keypads(faccia_sim::Keypads::InProcess(keypads.handle()))
        .keypad_map(counters.clone())
        .log(Some(dir.join("queue-sim.jsonl")));
    let traffic = tokio::spawn(async move { sim.run().await });

    let reports_dir = match &args.reports_dir {
        Some(d) => d.clone(),
        None => {
            let d = dir.join("rapporti");
            std::fs::create_dir_all(&d)?;
            d
        }
    };
    let outcome = match args.headless {
        Some(secs) => {
            // The address first, for whoever drives the demo (tests, scripts).
            println!("faccia demo: server on {url}");
            use std::io::Write as _;
            let _ = std::io::stdout().flush();
            tokio::select! {
                _ = tokio::time::sleep(Duration::from_secs(secs)) => {},
                _ = tokio::signal::ctrl_c() => {},
            }
            if args.keep {
                println!(
                    "faccia demo ran {secs} s on {url}; files in {}",
                    dir.display()
                );
            } else {
                println!(
                    "faccia demo ran {secs} s on {url}; its temporary files are removed (--keep keeps them)"
                );
            }
            Ok(())
        }
        None => {
            // The console shows the simulated day's clock, the one its figures run on.
            let console_clock = faccia_console::Clock(Arc::new(move || {
                let ms = t0_sim + (t0.elapsed().as_secs_f64() * 1000.0 * factor) as i64;
                chrono::DateTime::from_timestamp_millis(ms).unwrap_or_else(chrono::Utc::now)
            }));
            faccia_console::run(faccia_console::ConsoleArgs {
                server: vec![url.clone()],
                token: Some("demo-admin-token".into()),
                lang: args.lang,
                reports_dir: Some(reports_dir),
                clock: Some(console_clock),
                ..Default::default()
            })
            .await
        }
    };

    traffic.abort();
    let _ = stop_tx.send(());
    let _ = tokio::time::timeout(Duration::from_secs(5), server).await;
    keypads.shutdown().await;
    if args.keep {
        let kept = tmp.keep();
        eprintln!("faccia demo: files kept in {}", kept.display());
    }
    outcome
}
