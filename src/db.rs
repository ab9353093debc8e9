//! `faccia db ...`: the databases themselves: `copy` moves an office's history into another
//! database (the SQLite file of an office that joins the central PostgreSQL), `sites` says
//! which offices a database holds.

use std::path::PathBuf;

use anyhow::{bail, Context};
use chrono_tz::Tz;
use faccia_server::config::{Config, DatabaseUrl};
use faccia_server::storage::{self, copy, sites, AnyConnection};

#[derive(clap::Args)]
pub struct DbArgs {
    /// Configuration file (default: etc/faccia.toml when it exists): the sites' names and time
    /// zones, and the database `copy --to` and `sites` use unless told otherwise.
    #[arg(long, env = "FACCIA_CONFIG", value_name = "FILE", global = true)]
    pub config: Option<PathBuf>,
    #[command(subcommand)]
    pub command: DbCommand,
}

#[derive(clap::Subcommand)]
pub enum DbCommand {
    /// Copy one office's whole history (tickets, sessions, votes, event log; rollups rebuilt)
    /// into another database. Resumable: run it again after a stop and it goes on where it
    /// left off. Verified at the end: the same rows and the same monthly figures on both sides.
    /// Stop the office's server first, and start it on the new database only afterwards.
    Copy(CopyArgs),
    /// The sites (offices) of a database, with their rows and any copy into it.
    Sites {
        /// The database (default: the configured one).
        #[arg(long, value_name = "URL")]
        database: Option<String>,
    },
}

#[derive(clap::Args)]
pub struct CopyArgs {
    /// The database the history is in: sqlite://path/to/faccia.db (or a postgres:// URL).
    #[arg(long, value_name = "URL")]
    pub from: String,
    /// The database to copy it into (default: the configured one, database.url).
    #[arg(long, value_name = "URL")]
    pub to: Option<String>,
    /// The site whose history is copied. Default: the only configured site, else the only site
    /// of the source. The rows of a database from before sites become this site's.
    #[arg(long, value_name = "ID")]
    pub site: Option<String>,
    /// The site's name in the destination (default: the configured one, else the source's).
    #[arg(long, value_name = "NAME")]
    pub name: Option<String>,
    /// The site's time zone, which its months are counted in (default: the configured one,
    /// else the source's).
    #[arg(long, value_name = "TZ")]
    pub time_zone: Option<String>,
    /// Rows per batch (each batch is committed with the copy's progress).
    #[arg(long, default_value_t = copy::DEFAULT_BATCH, value_name = "ROWS")]
    pub batch: usize,
}

fn parse_url(what: &str, url: &str) -> anyhow::Result<DatabaseUrl> {
    DatabaseUrl::parse(url).map_err(|e| anyhow::anyhow!("{what}: {e}"))
}

/// Connects and applies the pending migrations; a SQLite source must exist (a copy never
/// creates the database it reads).
fn open(what: &str, url: &DatabaseUrl, must_exist: bool) -> anyhow::Result<AnyConnection> {
    if let (DatabaseUrl::Sqlite(p), true) = (url, must_exist) {
        if !p.is_file() {
            bail!("{what}: there is no SQLite database at {}", p.display());
        }
    }
    let mut c = storage::connect(url, 10_000).with_context(|| format!("{what}: cannot connect"))?;
    storage::migrate(&mut c).with_context(|| format!("{what}: cannot migrate"))?;
    Ok(c)
}

fn label(url: &DatabaseUrl) -> String {
    match url {
        DatabaseUrl::Sqlite(p) => format!(
            "sqlite://{}",
            std::fs::canonicalize(p)
                .unwrap_or_else(|_| p.clone())
                .display()
        ),
        DatabaseUrl::Postgres(u) => storage::redact(u),
    }
}

fn now() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

pub fn run(args: DbArgs, config: &Config) -> anyhow::Result<()> {
    let configured = config.file.is_some();
    match args.command {
        DbCommand::Copy(a) => run_copy(a, config, configured),
        DbCommand::Sites { database } => {
            let url = match database {
                Some(u) => parse_url("--database", &u)?,
                None => config.database.clone(),
            };
            let mut c = open("--database", &url, true)?;
            print_sites(&mut c)
        }
    }
}

fn run_copy(a: CopyArgs, config: &Config, configured: bool) -> anyhow::Result<()> {
    let from_url = parse_url("--from", &a.from)?;
    let to_url = match &a.to {
        Some(u) => parse_url("--to", u)?,
        None if configured => config.database.clone(),
        None => bail!("--to: give the database to copy into (or --config with its database.url)"),
    };
    if from_url == to_url {
        bail!("--from and --to name the same database");
    }
    let mut from = open("--from", &from_url, true)?;
    let source_sites = sites::list(&mut from).context("--from")?;

    let site_id = match (&a.site, configured, config.sites.as_slice()) {
        (Some(s), _, _) => s.clone(),
        (None, true, [only]) => only.id().to_string(),
        (None, true, many) => bail!(
            "--site: the configuration has {} sites ({}): say which one's history to copy",
            many.len(),
            many.iter().map(|s| s.id()).collect::<Vec<_>>().join(", ")
        ),
        (None, false, _) => match source_sites.as_slice() {
            [only] => only.site_id.clone(),
            [] => bail!(
                "--site: the source is from before sites and there is no configuration: say \
                 which site its history is (its IPA code and office code, as in [site] id)"
            ),
            many => bail!(
                "--site: the source holds {} sites ({}): say which one to copy",
                many.len(),
                many.iter()
                    .map(|s| s.site_id.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        },
    };
    if !faccia_server::config::valid_site_id(&site_id) {
        bail!("--site {site_id:?}: not a site id (letters, digits, '-', '_' and '.', at most 64)");
    }
    let in_config = config.site(&site_id).filter(|_| configured);
    let in_source = source_sites.iter().find(|s| s.site_id == site_id);
    let name = a
        .name
        .clone()
        .or_else(|| in_config.map(|s| s.name().to_string()))
        .or_else(|| in_source.map(|s| s.name.clone()))
        .unwrap_or_else(|| site_id.clone());
    let time_zone: Tz = match (&a.time_zone, in_config, in_source) {
        (Some(z), _, _) => z.parse().map_err(|_| {
            anyhow::anyhow!("--time-zone {z:?}: not an IANA time zone (e.g. Europe/Rome)")
        })?,
        (None, Some(s), _) => s.time_zone,
        (None, None, Some(s)) => s.time_zone.parse().map_err(|_| {
            anyhow::anyhow!(
                "the source records time zone {:?} for site {site_id:?}: give --time-zone",
                s.time_zone
            )
        })?,
        (None, None, None) => bail!(
            "--time-zone: site {site_id:?} is neither configured nor known to the source: say \
             which time zone its months are counted in (e.g. Europe/Rome)"
        ),
    };

    let mut to = open("--to", &to_url, false)?;
    let req = copy::CopyRequest {
        site_id: site_id.clone(),
        name,
        time_zone,
        source_label: label(&from_url),
        batch: a.batch,
    };
    eprintln!(
        "copying site {site_id:?} ({}, {}) from {} into {}",
        req.name,
        time_zone.name(),
        req.source_label,
        label(&to_url)
    );
    let mut last_table = String::new();
    let mut last_print = std::time::Instant::now();
    let done = copy::copy_site(&mut from, &mut to, &req, &now, &mut |p| {
        if p.table != last_table || last_print.elapsed().as_secs() >= 2 {
            eprintln!(
                "  {:<16} {:>10} / {} rows ({:.0}%)",
                p.table,
                p.copied,
                p.total,
                100.0 * p.copied as f64 / p.total.max(1) as f64
            );
            last_table = p.table.to_string();
            last_print = std::time::Instant::now();
        }
    })
    .context("the copy stopped")?;
    if let Some(l) = done.adopted {
        println!(
            "the source's history from before sites ({} tickets, {} votes) is now site {site_id:?}'s",
            l.tickets, l.votes
        );
    }
    if done.already_done {
        println!("site {site_id:?} was copied from this source before: nothing to do");
    } else if done.resumed {
        println!("resumed: {} more rows copied", done.copied_now);
    } else {
        println!("{} rows copied", done.copied_now);
    }
    println!("{:<16} {:>10} {:>12}", "table", "source", "destination");
    for t in &done.counts {
        println!("{:<16} {:>10} {:>12}", t.table, t.source, t.destination);
    }
    if !done.already_done {
        let months: Vec<String> = done
            .months
            .iter()
            .map(|m| format!("{}-{:02}", m / 100, m % 100))
            .collect();
        println!(
            "verified: the same rows and the same monthly figures on both sides ({} months{})",
            months.len(),
            match (months.first(), months.last()) {
                (Some(a), Some(b)) => format!(": {a} to {b}"),
                _ => String::new(),
            }
        );
    }
    Ok(())
}

fn print_sites(c: &mut AnyConnection) -> anyhow::Result<()> {
    let known = sites::list(c)?;
    let legacy = sites::legacy_rows(c)?;
    if known.is_empty() && !legacy.any() {
        println!("no sites: no server has opened this database yet");
    }
    println!(
        "{:<24} {:<28} {:<18} {:>9} {:>8} {:>10}  copy",
        "site", "name", "time zone", "tickets", "votes", "log"
    );
    for s in &known {
        let tickets = copy::count(c, "tickets", &s.site_id)?;
        let votes = copy::count(c, "votes", &s.site_id)?;
        let log = copy::count(c, "event_log", &s.site_id)?;
        let copy = match copy::find(c, &s.site_id)? {
            None => "-".to_string(),
            Some(r) if r.finished_at.is_some() => format!("from {} (done)", r.source),
            Some(r) => format!("from {} (NOT FINISHED, at {})", r.source, r.stage),
        };
        println!(
            "{:<24} {:<28} {:<18} {:>9} {:>8} {:>10}  {copy}",
            s.site_id, s.name, s.time_zone, tickets, votes, log
        );
    }
    if legacy.any() {
        println!(
            "{:<24} {:<28} {:<18} {:>9} {:>8} {:>10}  -",
            "(from before sites)", "", "", legacy.tickets, legacy.votes, legacy.log_entries
        );
    }
    Ok(())
}
