//! The `report` command: arguments and the entry point the binary calls.

use std::io::Write as _;
use std::path::PathBuf;

use chrono_tz::Tz;
use diesel::connection::SimpleConnection;
use diesel::Connection;
use faccia_domain::{Lang, Millis};
use faccia_storage::sites::{self, SiteRow};
use faccia_storage::{AnyConnection, DatabaseUrl};

use crate::error::ReportError;
use crate::model::{self, ReportContext, DEFAULT_TARGET_TENTHS};
use crate::period::{self, MonthSpec};
use crate::render::{self, Format};

/// `faccia report …`: the monthly publication, the annual review, the Ministry export.
///
/// The offices (sites: time zone, services and their standards) and the database come from the
/// binary's global `--config FILE`, passed to [`run`] as a [`Source`]. `--site` and
/// `--all-sites` choose the offices reported (see [`select`]).
#[derive(Debug, Clone, clap::Args)]
pub struct ReportArgs {
    #[command(subcommand)]
    pub command: ReportCommand,
    /// Output format (default: text; csv for `export`). `export` accepts csv or json.
    #[arg(long, value_enum, global = true)]
    pub format: Option<Format>,
    /// Language of labels, month names and numbers (it: decimal comma).
    #[arg(long, default_value = "it", value_parser = parse_lang, global = true)]
    pub lang: Lang,
    /// Write to FILE instead of the standard output.
    #[arg(long, short = 'o', value_name = "FILE", global = true)]
    pub output: Option<PathBuf>,
    /// Write into DIR under the standard name (faccia-<site>-<YYYY-MM>.html, …), e.g. from a
    /// monthly timer with `--month previous`.
    #[arg(long, value_name = "DIR", global = true, conflicts_with = "output")]
    pub output_dir: Option<PathBuf>,
    /// A declared waiting standard is met when at least this percentage of tickets waited
    /// within it (one decimal at most). Default: `reports.standard_target_percent` (90).
    #[arg(long, value_parser = parse_target, value_name = "PERCENT", global = true)]
    pub target: Option<u64>,
    /// Report this site (office). Repeat it for a report of the body: one row per office, the
    /// body's totals and each office's detail. Default: the only configured site.
    #[arg(long = "site", value_name = "ID", global = true)]
    pub sites: Vec<String>,
    /// Report the whole body: every configured site and every other site that has opened the
    /// database (named as the database's `sites` table records them).
    #[arg(long, global = true, conflicts_with = "sites")]
    pub all_sites: bool,
}

impl ReportArgs {
    /// The arguments of `command` with every option at its default (the configured site,
    /// Italian, the command's default format, the standard output).
    pub fn new(command: ReportCommand) -> ReportArgs {
        ReportArgs {
            command,
            format: None,
            lang: Lang::It,
            output: None,
            output_dir: None,
            target: None,
            sites: Vec::new(),
            all_sites: false,
        }
    }
}

#[derive(Debug, Clone, clap::Subcommand)]
pub enum ReportCommand {
    /// One month: served, judgements, breakdowns, waiting times, the summary sentence.
    Monthly {
        /// The month, YYYY-MM (local time of the site), or `current` or `previous`.
        #[arg(long, value_parser = parse_month)]
        month: MonthSpec,
    },
    /// One year: the twelve months side by side and the review of declared standards.
    Annual {
        /// The year, YYYY.
        #[arg(long, value_parser = parse_year)]
        year: i32,
    },
    /// Aggregated counts for the Ministry, per month, office, channel and service.
    Export {
        /// First month, YYYY-MM, or `current` or `previous`.
        #[arg(long, value_parser = parse_month)]
        from: MonthSpec,
        /// Last month (included), YYYY-MM, or `current` or `previous`.
        #[arg(long, value_parser = parse_month)]
        to: MonthSpec,
    },
}

impl ReportCommand {
    /// The same command with `current` and `previous` resolved at `now` in `tz`.
    pub fn resolved(&self, now: Millis, tz: Tz) -> Result<ReportCommand, ReportError> {
        Ok(match self {
            ReportCommand::Monthly { month } => ReportCommand::Monthly {
                month: month.resolve(now, tz)?.into(),
            },
            ReportCommand::Annual { year } => ReportCommand::Annual { year: *year },
            ReportCommand::Export { from, to } => ReportCommand::Export {
                from: from.resolve(now, tz)?.into(),
                to: to.resolve(now, tz)?.into(),
            },
        })
    }

    /// The format used when none is asked for: text, or CSV for the Ministry export.
    pub fn default_format(&self) -> Format {
        match self {
            ReportCommand::Export { .. } => Format::Csv,
            _ => Format::Text,
        }
    }

    /// The standard file name of the document: `faccia-<site>-2026-07.html`,
    /// `faccia-<site>-2026.csv`, `faccia-<site>-ministero-2026-01-2026-06.csv` (months as
    /// resolved; see [`ReportCommand::resolved`]).
    pub fn file_name(&self, site_id: &str, format: Format) -> String {
        let site: String = site_id
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        let ext = format.extension();
        match self {
            ReportCommand::Monthly { month } => format!("faccia-{site}-{month}.{ext}"),
            ReportCommand::Annual { year } => format!("faccia-{site}-{year}.{ext}"),
            ReportCommand::Export { from, to } => {
                format!("faccia-{site}-ministero-{from}-{to}.{ext}")
            }
        }
    }
}

fn parse_lang(s: &str) -> Result<Lang, String> {
    s.parse()
}

fn parse_month(s: &str) -> Result<MonthSpec, String> {
    s.parse().map_err(|e: ReportError| e.to_string())
}

fn parse_year(s: &str) -> Result<i32, String> {
    period::parse_year(s).map_err(|e| e.to_string())
}

/// "90" or "92.5" (or "92,5") percent → tenths of a percent.
fn parse_target(s: &str) -> Result<u64, String> {
    let bad = || format!("{s:?} is not a percentage between 0 and 100 such as 90 or 92.5");
    let t = s.trim().trim_end_matches('%').replace(',', ".");
    let (int, frac) = t.split_once('.').unwrap_or((&t, "0"));
    if frac.len() != 1 && !(frac.is_empty() || frac == "0") {
        return Err(bad());
    }
    let i: u64 = int.parse().map_err(|_| bad())?;
    let f: u64 = if frac.is_empty() {
        0
    } else {
        frac.parse().map_err(|_| bad())?
    };
    let tenths = i * 10 + f;
    if tenths > 1000 {
        return Err(bad());
    }
    Ok(tenths)
}

/// Where reports read from: the offices of the configuration and their database.
#[derive(Debug, Clone)]
pub struct Source {
    /// The configured sites, in configuration order (each with its services, counters, time
    /// zone and the configured target).
    pub sites: Vec<ReportContext>,
    pub database: DatabaseUrl,
    pub busy_timeout_ms: u32,
}

impl Source {
    /// Opens a connection for reading (see [`crate::db::open`]): a SQLite file must already
    /// exist, a report never creates a database; a database from before sites is first
    /// migrated and its rows adopted, as the server does at start.
    pub fn open(&self) -> Result<AnyConnection, ReportError> {
        crate::db::open(&self.database, self.busy_timeout_ms, &self.sites)
    }
}

/// What a report is about: one office, or several offices of the body.
#[derive(Debug, Clone, PartialEq)]
pub enum Scope {
    /// One office: its own documents (`faccia.report.monthly/1`, …).
    Office(ReportContext),
    /// The body: one row per office, the body's totals, each office's detail
    /// (`faccia.report.body-monthly/1`, …).
    Body(Vec<ReportContext>),
}

/// The name in the standard file names of a report of the body: `faccia-ente-2026-07.html`.
pub const BODY_FILE_STEM: &str = "ente";

impl Scope {
    /// The offices reported, in order.
    pub fn offices(&self) -> &[ReportContext] {
        match self {
            Scope::Office(c) => std::slice::from_ref(c),
            Scope::Body(cs) => cs,
        }
    }

    /// What the standard file name carries: the site id, or [`BODY_FILE_STEM`].
    pub fn file_stem(&self) -> &str {
        match self {
            Scope::Office(c) => &c.site_id,
            Scope::Body(_) => BODY_FILE_STEM,
        }
    }

    /// The time zone `current` and `previous` are resolved in: the (first) office's.
    pub fn time_zone(&self) -> Tz {
        self.offices()
            .first()
            .map(|c| c.time_zone)
            .unwrap_or(chrono_tz::Europe::Rome)
    }
}

/// A site the database knows but the configuration does not: reported with the name and time
/// zone the `sites` table records, no counter or service names and no declared standards.
fn unconfigured(row: &SiteRow, target_tenths: u64) -> Result<ReportContext, ReportError> {
    let time_zone: Tz = row.time_zone.parse().map_err(|_| {
        ReportError::Inconsistent(format!(
            "the site {:?} is recorded with the time zone {:?}, not an IANA time zone",
            row.site_id, row.time_zone
        ))
    })?;
    Ok(ReportContext {
        site_id: row.site_id.clone(),
        site_name: row.name.clone(),
        time_zone,
        services: Vec::new(),
        counters: Vec::new(),
        target_tenths,
    })
}

fn id_list<'a>(ids: impl Iterator<Item = &'a str>) -> String {
    let v: Vec<&str> = ids.collect();
    if v.is_empty() {
        "none".into()
    } else {
        v.join(", ")
    }
}

/// The offices a report is about, from `--site` (`asked`) and `--all-sites` (`all`):
///
/// * neither: the only configured site; with several configured (or none) an error naming
///   the choices;
/// * `--site ID`, repeatable: those sites in the order given (repeats ignored), each
///   configured or recorded in the database's `sites` table (an unknown id is an error naming
///   the known ones); one site is a report of that office, several a report of the body;
/// * `--all-sites`: the body, every configured site in configuration order, then every other
///   site of the `sites` table by id.
///
/// A configured site is reported as configured (names, standards, time zone), whatever the
/// `sites` table says; a site only in the `sites` table with its recorded name and time zone.
pub fn select(
    configured: &[ReportContext],
    registered: &[SiteRow],
    asked: &[String],
    all: bool,
) -> Result<Scope, ReportError> {
    let target = configured
        .first()
        .map(|c| c.target_tenths)
        .unwrap_or(DEFAULT_TARGET_TENTHS);
    let others = || {
        registered
            .iter()
            .filter(|r| !configured.iter().any(|c| c.site_id == r.site_id))
    };
    if all {
        let mut v: Vec<ReportContext> = configured.to_vec();
        for r in others() {
            v.push(unconfigured(r, target)?);
        }
        if v.is_empty() {
            return Err(ReportError::Sites(
                "--all-sites: no site is configured and none has opened the database".into(),
            ));
        }
        return Ok(Scope::Body(v));
    }
    if asked.is_empty() {
        return match configured {
            [only] => Ok(Scope::Office(only.clone())),
            [] => Err(ReportError::Sites(format!(
                "no site is configured: choose one with --site ID (the database has {}) or                  report them all with --all-sites",
                id_list(registered.iter().map(|r| r.site_id.as_str()))
            ))),
            several => Err(ReportError::Sites(format!(
                "several sites are configured ({}): choose one with --site ID, several with                  --site ID --site ID, or every site with --all-sites",
                id_list(several.iter().map(|c| c.site_id.as_str()))
            ))),
        };
    }
    let mut v: Vec<ReportContext> = Vec::new();
    for id in asked {
        if v.iter().any(|c| &c.site_id == id) {
            continue;
        }
        if let Some(c) = configured.iter().find(|c| &c.site_id == id) {
            v.push(c.clone());
        } else if let Some(r) = registered.iter().find(|r| &r.site_id == id) {
            v.push(unconfigured(r, target)?);
        } else {
            return Err(ReportError::Sites(format!(
                "--site {id:?}: no such site; configured: {}; in the database also: {}",
                id_list(configured.iter().map(|c| c.site_id.as_str())),
                id_list(others().map(|r| r.site_id.as_str()))
            )));
        }
    }
    Ok(match v.len() {
        1 => Scope::Office(v.remove(0)),
        _ => Scope::Body(v),
    })
}

/// [`select`] with the sites recorded in the database (`sites::list`).
pub fn select_in(
    conn: &mut AnyConnection,
    configured: &[ReportContext],
    asked: &[String],
    all: bool,
) -> Result<Scope, ReportError> {
    let registered = sites::list(conn)?;
    select(configured, &registered, asked, all)
}

/// Runs `f` in one read transaction, so that all its queries see the same data. Sorting gets
/// more memory than the defaults (PostgreSQL `work_mem` for this transaction only; SQLite a
/// larger page cache and temporary storage in memory on this connection).
pub fn in_snapshot<T>(
    conn: &mut AnyConnection,
    f: impl FnOnce(&mut AnyConnection) -> Result<T, ReportError>,
) -> Result<T, ReportError> {
    if let AnyConnection::Sqlite(c) = conn {
        c.batch_execute("PRAGMA temp_store = MEMORY; PRAGMA cache_size = -65536;")?;
    }
    conn.transaction(|c| {
        if let AnyConnection::Postgresql(pg) = c {
            pg.batch_execute(
                "SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY; \
                 SET LOCAL work_mem = '64MB'",
            )?;
        }
        f(c)
    })
}

/// Produces the document the arguments ask for, as text (blocking: call it off the async
/// runtime's worker threads).
pub fn produce(
    args: &ReportArgs,
    ctx: &ReportContext,
    conn: &mut AnyConnection,
) -> Result<String, ReportError> {
    let mut ctx = ctx.clone();
    if let Some(t) = args.target {
        ctx.target_tenths = t;
    }
    let format = args.format.unwrap_or(args.command.default_format());
    // Relative months are resolved by the caller (see `run`), so that the document and its
    // file name agree; a month given as YYYY-MM resolves to itself.
    let (now, tz) = (now_ms(), ctx.time_zone);
    match &args.command {
        ReportCommand::Monthly { month } => {
            let m = month.resolve(now, tz)?;
            let r = in_snapshot(conn, |c| model::monthly(c, &ctx, m))?;
            render::monthly(&r, format, args.lang)
        }
        ReportCommand::Annual { year } => {
            let r = in_snapshot(conn, |c| model::annual(c, &ctx, *year))?;
            render::annual(&r, format, args.lang)
        }
        ReportCommand::Export { from, to } => {
            let (from, to) = (from.resolve(now, tz)?, to.resolve(now, tz)?);
            if !matches!(format, Format::Csv | Format::Json) {
                // Refused before any query; `render::export` says the same.
                return Err(ReportError::Unsupported(
                    "format: the Ministry export is written as csv or json".into(),
                ));
            }
            let rows = in_snapshot(conn, |c| model::ministry_export(c, &ctx, from, to))?;
            render::export(&rows, std::slice::from_ref(&ctx), from, to, format)
        }
    }
}

/// Produces the document for one office or for the body, as text (blocking).
pub fn produce_scope(
    args: &ReportArgs,
    scope: &Scope,
    conn: &mut AnyConnection,
) -> Result<String, ReportError> {
    match scope {
        Scope::Office(ctx) => produce(args, ctx, conn),
        Scope::Body(ctxs) => produce_body(args, ctxs, conn),
    }
}

/// Produces the document of the body (the offices `ctxs`), as text (blocking). Every office's
/// figures are of its own local month; `current` and `previous` are resolved in the first
/// office's time zone.
pub fn produce_body(
    args: &ReportArgs,
    ctxs: &[ReportContext],
    conn: &mut AnyConnection,
) -> Result<String, ReportError> {
    let mut ctxs = ctxs.to_vec();
    if let Some(t) = args.target {
        for c in &mut ctxs {
            c.target_tenths = t;
        }
    }
    let format = args.format.unwrap_or(args.command.default_format());
    let tz = ctxs
        .first()
        .map(|c| c.time_zone)
        .ok_or_else(|| ReportError::Sites("a report of the body needs an office".into()))?;
    let now = now_ms();
    match &args.command {
        ReportCommand::Monthly { month } => {
            let m = month.resolve(now, tz)?;
            let r = in_snapshot(conn, |c| model::monthly_body(c, &ctxs, m))?;
            render::monthly_body(&r, format, args.lang)
        }
        ReportCommand::Annual { year } => {
            let r = in_snapshot(conn, |c| model::annual_body(c, &ctxs, *year))?;
            render::annual_body(&r, format, args.lang)
        }
        ReportCommand::Export { from, to } => {
            let (from, to) = (from.resolve(now, tz)?, to.resolve(now, tz)?);
            if !matches!(format, Format::Csv | Format::Json) {
                return Err(ReportError::Unsupported(
                    "format: the Ministry export is written as csv or json".into(),
                ));
            }
            let rows = in_snapshot(conn, |c| model::ministry_export_body(c, &ctxs, from, to))?;
            render::export(&rows, &ctxs, from, to, format)
        }
    }
}

/// The entry point for the binary: `faccia report …`.
pub async fn run(mut args: ReportArgs, source: Source) -> anyhow::Result<()> {
    if let (None, Some(dir)) = (&args.output, &args.output_dir) {
        if !dir.is_dir() {
            return Err(ReportError::Write {
                path: dir.display().to_string(),
                source: std::io::Error::new(
                    std::io::ErrorKind::NotFound,
                    "the --output-dir directory does not exist",
                ),
            }
            .into());
        }
    }
    let (text, output) =
        tokio::task::spawn_blocking(move || -> Result<(String, Option<PathBuf>), ReportError> {
            let mut conn = source.open()?;
            let scope = select_in(&mut conn, &source.sites, &args.sites, args.all_sites)?;
            // `current` and `previous` are resolved once, for the document and its file name
            // alike.
            args.command = args.command.resolved(now_ms(), scope.time_zone())?;
            let format = args.format.unwrap_or(args.command.default_format());
            let output = match (&args.output, &args.output_dir) {
                (Some(file), _) => Some(file.clone()),
                (None, Some(dir)) => {
                    Some(dir.join(args.command.file_name(scope.file_stem(), format)))
                }
                (None, None) => None,
            };
            Ok((produce_scope(&args, &scope, &mut conn)?, output))
        })
        .await
        .map_err(|e| ReportError::Task(e.to_string()))??;
    write_output(output.as_deref(), &text)?;
    if let Some(p) = &output {
        tracing::info!(path = %p.display(), "report written");
    }
    Ok(())
}

fn now_ms() -> Millis {
    chrono::Utc::now().timestamp_millis()
}

/// Writes to the file (atomically: a temporary file renamed over it) or to standard output.
pub fn write_output(path: Option<&std::path::Path>, text: &str) -> Result<(), ReportError> {
    match path {
        Some(p) => {
            // Beside the target, named after all of it (the HTML and the CSV of one month
            // never share a temporary file) and after this process.
            let mut tmp_name = p.file_name().unwrap_or_default().to_os_string();
            tmp_name.push(format!(".{}.faccia-tmp", std::process::id()));
            let tmp = p.with_file_name(tmp_name);
            let err = |source| ReportError::Write {
                path: p.display().to_string(),
                source,
            };
            let written = std::fs::write(&tmp, text).and_then(|_| std::fs::rename(&tmp, p));
            if written.is_err() {
                let _ = std::fs::remove_file(&tmp);
            }
            written.map_err(err)
        }
        None => {
            let mut out = std::io::stdout().lock();
            out.write_all(text.as_bytes())
                .and_then(|_| out.flush())
                .map_err(|source| ReportError::Write {
                    path: "standard output".into(),
                    source,
                })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        args: ReportArgs,
    }

    #[test]
    fn output_files_are_replaced_whole_and_leave_nothing_behind() {
        let dir = tempfile::tempdir().unwrap();
        let page = dir.path().join("faccia-x-2026-07.html");
        write_output(Some(&page), "one").unwrap();
        write_output(Some(&page), "two").unwrap();
        assert_eq!(std::fs::read_to_string(&page).unwrap(), "two");
        let names: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, vec![page.file_name().unwrap().to_os_string()]);
        // A directory in the way of the rename: an error naming the file, no temporary left.
        let blocked = dir.path().join("blocked.csv");
        std::fs::create_dir(&blocked).unwrap();
        let err = write_output(Some(&blocked), "x").unwrap_err().to_string();
        assert!(err.contains("blocked.csv"), "{err}");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 2);
    }

    #[test]
    fn parses_commands() {
        let c = Cli::try_parse_from([
            "x", "monthly", "--month", "2026-07", "--format", "html", "--lang", "en",
        ])
        .unwrap();
        assert!(matches!(
            c.args.command,
            ReportCommand::Monthly { month: MonthSpec::At(m) } if m.month == 7
        ));
        assert_eq!(c.args.format, Some(Format::Html));
        assert_eq!(c.args.lang, Lang::En);
        assert_eq!(c.args.target, None);
        let c = Cli::try_parse_from([
            "x", "export", "--from", "2026-01", "--to", "2026-06", "--target", "92,5",
        ])
        .unwrap();
        assert_eq!(c.args.target, Some(925));
        assert!(Cli::try_parse_from(["x", "monthly", "--month", "2026-13"]).is_err());
        assert!(Cli::try_parse_from(["x", "annual", "--year", "26"]).is_err());
        assert!(parse_target("101").is_err());
        assert!(parse_target("90.55").is_err());
        assert!(c.args.sites.is_empty() && !c.args.all_sites);
        let c = Cli::try_parse_from([
            "x", "monthly", "--month", "2026-07", "--site", "a", "--site", "b",
        ])
        .unwrap();
        assert_eq!(c.args.sites, ["a", "b"]);
        let c = Cli::try_parse_from(["x", "annual", "--year", "2026", "--all-sites"]).unwrap();
        assert!(c.args.all_sites);
        assert!(Cli::try_parse_from([
            "x",
            "annual",
            "--year",
            "2026",
            "--all-sites",
            "--site",
            "a"
        ])
        .is_err());
    }

    fn office(id: &str, tz: Tz) -> ReportContext {
        ReportContext {
            site_id: id.into(),
            site_name: format!("Ufficio {id}"),
            time_zone: tz,
            services: vec![("A".into(), "Anagrafe".into(), Some(20))],
            counters: vec![("1".into(), "Sportello 1".into())],
            target_tenths: 925,
        }
    }

    fn row(id: &str, name: &str, tz: &str) -> SiteRow {
        SiteRow {
            site_id: id.into(),
            name: name.into(),
            time_zone: tz.into(),
            updated_at: 0,
        }
    }

    #[test]
    fn the_sites_reported() {
        let rome = chrono_tz::Europe::Rome;
        let a = office("a", rome);
        let b = office("b", chrono_tz::Asia::Tokyo);
        let db = [
            row("a", "stored name of a", "UTC"),
            row("c", "Ufficio C", "America/New_York"),
        ];
        let ids =
            |s: &Scope| -> Vec<String> { s.offices().iter().map(|c| c.site_id.clone()).collect() };
        let asked = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        // No flag: the only configured site, or an error naming the choices.
        assert_eq!(
            select(std::slice::from_ref(&a), &db, &[], false).unwrap(),
            Scope::Office(a.clone())
        );
        let err = select(&[a.clone(), b.clone()], &db, &[], false)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("(a, b)") && err.contains("--site ID") && err.contains("--all-sites"),
            "{err}"
        );
        let err = select(&[], &db, &[], false).unwrap_err().to_string();
        assert!(err.contains("a, c"), "{err}");
        // --site: configured as configured, others as the database records them.
        let s = select(&[a.clone(), b.clone()], &db, &asked(&["b"]), false).unwrap();
        assert_eq!(s, Scope::Office(b.clone()));
        assert_eq!(s.file_stem(), "b");
        let s = select(
            &[a.clone(), b.clone()],
            &db,
            &asked(&["c", "a", "c"]),
            false,
        )
        .unwrap();
        assert!(matches!(s, Scope::Body(_)));
        assert_eq!(ids(&s), ["c", "a"]);
        assert_eq!(s.file_stem(), BODY_FILE_STEM);
        let c = &s.offices()[0];
        assert_eq!(
            (
                c.site_name.as_str(),
                c.time_zone,
                c.services.len(),
                c.target_tenths
            ),
            ("Ufficio C", chrono_tz::America::New_York, 0, 925)
        );
        assert_eq!(
            s.offices()[1],
            a,
            "a configured site keeps its configuration"
        );
        assert_eq!(s.time_zone(), chrono_tz::America::New_York);
        let err = select(&[a.clone(), b.clone()], &db, &asked(&["z"]), false)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("\"z\"") && err.contains("configured: a, b") && err.contains("also: c"),
            "{err}"
        );
        // --all-sites: the configured sites, then the database's others; always the body.
        let s = select(&[b.clone(), a.clone()], &db, &[], true).unwrap();
        assert_eq!(ids(&s), ["b", "a", "c"]);
        let s = select(std::slice::from_ref(&a), &[], &[], true).unwrap();
        assert_eq!(s, Scope::Body(vec![a.clone()]));
        assert!(select(&[], &[], &[], true).is_err());
        // A time zone the database records wrongly is an error, not a guess.
        let bad = [row("d", "D", "Mars/Olympus")];
        let err = select(&[], &bad, &asked(&["d"]), false)
            .unwrap_err()
            .to_string();
        assert!(err.contains("Mars/Olympus"), "{err}");
    }
}
