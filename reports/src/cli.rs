//! The `report` command: arguments and the entry point the binary calls.

use std::io::Write as _;
use std::path::PathBuf;

use chrono_tz::Tz;
use diesel::connection::SimpleConnection;
use diesel::Connection;
use faccia_domain::{Lang, Millis};
use faccia_storage::{self as storage, AnyConnection, DatabaseUrl};

use crate::error::ReportError;
use crate::model::{self, ReportContext};
use crate::period::{self, MonthSpec};
use crate::render::{self, Format};

/// `faccia report …`: the monthly publication, the annual review, the Ministry export.
///
/// The office (site, time zone, services and their standards) and the database come from the
/// binary's global `--config FILE`, passed to [`run`] as a [`Source`].
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

/// Where reports read from: the office, as configured, and its database.
#[derive(Debug, Clone)]
pub struct Source {
    pub ctx: ReportContext,
    pub database: DatabaseUrl,
    pub busy_timeout_ms: u32,
}

impl Source {
    /// Opens a connection for reading. A SQLite file must already exist: a report never creates
    /// an empty database.
    pub fn open(&self) -> Result<AnyConnection, ReportError> {
        if let DatabaseUrl::Sqlite(path) = &self.database {
            if !path.is_file() {
                return Err(ReportError::DatabaseMissing(path.display().to_string()));
            }
        }
        Ok(storage::connect(&self.database, self.busy_timeout_ms)?)
    }
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
            render::export(&rows, &ctx.site_id, from, to, format)
        }
    }
}

/// The entry point for the binary: `faccia report …`.
pub async fn run(mut args: ReportArgs, source: Source) -> anyhow::Result<()> {
    // `current` and `previous` are resolved once, for the document and its file name alike.
    args.command = args.command.resolved(now_ms(), source.ctx.time_zone)?;
    let format = args.format.unwrap_or(args.command.default_format());
    let output = match (&args.output, &args.output_dir) {
        (Some(file), _) => Some(file.clone()),
        (None, Some(dir)) => {
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
            Some(dir.join(args.command.file_name(&source.ctx.site_id, format)))
        }
        (None, None) => None,
    };
    let text = tokio::task::spawn_blocking(move || -> Result<String, ReportError> {
        let mut conn = source.open()?;
        produce(&args, &source.ctx, &mut conn)
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
    }
}
