//! `faccia import csv`: a day's ticket log from a queue system that only exports files, turned
//! into the contract's events and stored through the same rules as live events.
//!
//! Columns (by name, in any order; `,`, `;` or tab; a header line first; unknown columns are
//! ignored and never read, so an export with citizens' names is harmless):
//! `ticket_id` (required), `display_number`, `service_code`, `counter_id`, `issued_at`,
//! `called_at`, `started_at`, `ended_at` (or `served_at`), `outcome` (`SERVED`, `NO_SHOW`,
//! `CANCELLED`, or empty for a ticket still open). Times are RFC 3339 with an offset, or
//! `YYYY-MM-DD HH:MM[:SS]` (also with `T`) in the site's time zone.
//!
//! Event ids are `csv:<TYPE>:<ticket_id>` of the source: importing the same file again changes
//! nothing (every event is a DUPLICATE). An imported SERVED opens no vote session
//! ([`faccia_server::storage::Store::publish_imported`]): the citizens of a day's log have left.

use std::path::PathBuf;

use anyhow::{bail, Context};
use chrono_tz::Tz;
use faccia_domain::{EventKind, Millis, RawEvent};
use faccia_server::config::Config;
use faccia_server::ingress::novosga::local_time;
use faccia_server::storage::{AckStatus, Store, StoreError};

#[derive(clap::Args)]
pub struct ImportArgs {
    /// Configuration file (default: etc/faccia.toml when it exists): the database, the site and
    /// its time zone.
    #[arg(long, env = "FACCIA_CONFIG", value_name = "FILE", global = true)]
    pub config: Option<PathBuf>,
    #[command(subcommand)]
    pub command: ImportCommand,
}

#[derive(clap::Subcommand)]
pub enum ImportCommand {
    /// A day's ticket log as CSV (columns: ticket_id, display_number, service_code, counter_id,
    /// issued_at, called_at, started_at, ended_at, outcome). Idempotent: importing the same
    /// file again changes nothing. Opens no vote sessions.
    Csv(CsvArgs),
}

#[derive(clap::Args)]
pub struct CsvArgs {
    /// The CSV file.
    #[arg(long, value_name = "FILE")]
    pub file: PathBuf,
    /// The site (default: the only configured one).
    #[arg(long, value_name = "ID")]
    pub site: Option<String>,
    /// The events' source_id (the queue system the log comes from).
    #[arg(long, value_name = "ID", default_value = "csv-import")]
    pub source: String,
}

/// The columns read.
pub const COLUMNS: &[&str] = &[
    "ticket_id",
    "display_number",
    "service_code",
    "counter_id",
    "issued_at",
    "called_at",
    "started_at",
    "ended_at",
    "served_at",
    "outcome",
];

/// Splits one CSV line (RFC 4180 quoting: `"a ""b"""`).
pub fn split_line(line: &str, delim: char) -> Result<Vec<String>, String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut chars = line.chars().peekable();
    let mut quoted = false;
    let mut was_quoted = false;
    while let Some(c) = chars.next() {
        if quoted {
            if c == '"' {
                if chars.peek() == Some(&'"') {
                    chars.next();
                    cur.push('"');
                } else {
                    quoted = false;
                }
            } else {
                cur.push(c);
            }
        } else if c == '"' && cur.trim().is_empty() && !was_quoted {
            cur.clear();
            quoted = true;
            was_quoted = true;
        } else if c == delim {
            out.push(std::mem::take(&mut cur).trim().to_string());
            was_quoted = false;
        } else {
            cur.push(c);
        }
    }
    if quoted {
        return Err(
            "a quoted field is not closed (a line break inside quotes is not supported)".into(),
        );
    }
    out.push(cur.trim().to_string());
    Ok(out)
}

/// The events of one line, checked; or why the line is refused.
pub fn line_events(
    header: &[String],
    cells: &[String],
    source: &str,
    tz: Tz,
    now: Millis,
) -> Result<Vec<faccia_domain::TicketEvent>, String> {
    let get = |name: &str| -> &str {
        header
            .iter()
            .position(|h| h == name)
            .and_then(|i| cells.get(i))
            .map_or("", String::as_str)
    };
    let time = |name: &'static str| -> Result<Option<Millis>, String> {
        let v = get(name);
        if v.is_empty() {
            return Ok(None);
        }
        local_time(v, tz)
            .map(Some)
            .map_err(|p| format!("{name}: {p}"))
    };
    let ticket = get("ticket_id");
    if ticket.is_empty() {
        return Err("ticket_id: is required and was empty".into());
    }
    let ended = match (time("ended_at")?, time("served_at")?) {
        (Some(e), _) | (None, Some(e)) => Some(e),
        (None, None) => None,
    };
    let outcome = match get("outcome").to_ascii_uppercase().as_str() {
        "" => None,
        "SERVED" => Some(EventKind::Served),
        "NO_SHOW" | "NOSHOW" => Some(EventKind::NoShow),
        "CANCELLED" | "CANCELED" => Some(EventKind::Cancelled),
        other => {
            return Err(format!(
                "outcome: {other:?} is not SERVED, NO_SHOW, CANCELLED or empty"
            ))
        }
    };
    let mut steps: Vec<(EventKind, Millis)> = Vec::new();
    if let Some(t) = time("issued_at")? {
        steps.push((EventKind::Issued, t));
    }
    if let Some(t) = time("called_at")? {
        steps.push((EventKind::Called, t));
    }
    if let Some(t) = time("started_at")? {
        steps.push((EventKind::ServiceStarted, t));
    }
    match (outcome, ended) {
        (Some(k), Some(t)) => steps.push((k, t)),
        (Some(k), None) => return Err(format!("ended_at: is required with outcome {}", k.name())),
        (None, Some(_)) => {
            return Err("outcome: is required with ended_at (SERVED, NO_SHOW or CANCELLED)".into())
        }
        (None, None) => {}
    }
    if steps.is_empty() {
        return Err("the line has no time: give at least issued_at".into());
    }
    for w in steps.windows(2) {
        if w[1].1 < w[0].1 {
            return Err(format!(
                "{} is before {}: the times of a ticket must not go back",
                w[1].0.name(),
                w[0].0.name()
            ));
        }
    }
    steps
        .into_iter()
        .map(|(kind, at)| {
            RawEvent {
                source_id: source.to_string(),
                event_id: format!("csv:{}:{ticket}", kind.name()),
                occurred_at: Some(Ok(at)),
                kind: kind.code(),
                ticket_id: ticket.to_string(),
                display_number: get("display_number").to_string(),
                service_code: get("service_code").to_string(),
                counter_id: get("counter_id").to_string(),
                ..RawEvent::default()
            }
            .validate(now)
            .map_err(|e| format!("{} event: {e}", kind.name()))
        })
        .collect()
}

/// What an import did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Summary {
    pub lines: usize,
    pub accepted: usize,
    pub duplicates: usize,
    pub stale: usize,
    /// (line number, reason)
    pub rejected: Vec<(usize, String)>,
}

pub fn run(args: ImportArgs, config: &Config) -> anyhow::Result<()> {
    let ImportCommand::Csv(a) = args.command;
    let site = match &a.site {
        Some(id) => config
            .sites
            .iter()
            .find(|s| s.id() == id)
            .with_context(|| {
                format!(
                    "site {id:?} is not configured (sites: {})",
                    config
                        .sites
                        .iter()
                        .map(|s| s.id())
                        .collect::<Vec<_>>()
                        .join(", ")
                )
            })?,
        None if config.sites.len() == 1 => config.first_site(),
        None => bail!(
            "--site is required: the configuration has several sites ({})",
            config
                .sites
                .iter()
                .map(|s| s.id())
                .collect::<Vec<_>>()
                .join(", ")
        ),
    };
    let text = std::fs::read_to_string(&a.file)
        .with_context(|| format!("cannot read {}", a.file.display()))?;
    let rules = faccia_server::site_rules(config, site);
    let store = Store::open(
        &config.database,
        config.settings.database.busy_timeout_ms,
        rules,
        faccia_server::storage::system_clock(),
    )
    .context("cannot open the database")?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let summary = rt.block_on(import(&store, &text, &a.source, site.time_zone))?;
    println!(
        "{}: {} lines; events: {} accepted, {} duplicate, {} stale; {} lines rejected",
        a.file.display(),
        summary.lines,
        summary.accepted,
        summary.duplicates,
        summary.stale,
        summary.rejected.len()
    );
    for (n, why) in &summary.rejected {
        println!("line {n}: {why}");
    }
    if !summary.rejected.is_empty() {
        bail!(
            "{} of {} lines were rejected (the others were imported)",
            summary.rejected.len(),
            summary.lines
        );
    }
    Ok(())
}

/// How many lines are stored at once (the writer commits them together).
const IN_FLIGHT: usize = 64;

pub async fn import(store: &Store, text: &str, source: &str, tz: Tz) -> anyhow::Result<Summary> {
    let mut lines = text
        .lines()
        .enumerate()
        .map(|(i, l)| (i + 1, l.trim_start_matches('\u{feff}')))
        .filter(|(_, l)| !l.trim().is_empty());
    let Some((_, head)) = lines.next() else {
        bail!(
            "the file is empty: a header line is expected ({})",
            COLUMNS.join(", ")
        );
    };
    let delim = [',', ';', '\t']
        .into_iter()
        .max_by_key(|d| head.matches(*d).count())
        .unwrap_or(',');
    let header: Vec<String> = split_line(head, delim)
        .map_err(|e| anyhow::anyhow!("line 1: {e}"))?
        .into_iter()
        .map(|h| h.to_ascii_lowercase())
        .collect();
    if !header.iter().any(|h| h == "ticket_id") {
        bail!(
            "line 1: the header has no ticket_id column (columns read: {})",
            COLUMNS.join(", ")
        );
    }
    let now = store.now();
    let mut summary = Summary::default();
    let mut parsed = Vec::new();
    for (n, line) in lines {
        summary.lines += 1;
        let events =
            split_line(line, delim).and_then(|cells| line_events(&header, &cells, source, tz, now));
        match events {
            Ok(e) => parsed.push((n, e)),
            Err(why) => summary.rejected.push((n, why)),
        }
    }
    for chunk in parsed.chunks(IN_FLIGHT) {
        let mut set = tokio::task::JoinSet::new();
        for (n, events) in chunk.iter().cloned() {
            let store = store.clone();
            // A ticket's events in order, one after the other; tickets side by side.
            set.spawn(async move {
                let mut got = Vec::new();
                for e in events {
                    match store.publish_imported(e).await {
                        Ok(ack) => got.push(ack.status),
                        Err(StoreError::Conflict(m)) => {
                            return (
                                n,
                                got,
                                Some(format!("conflicts with an earlier import: {m}")),
                            )
                        }
                        Err(e) => return (n, got, Some(format!("not stored: {e}"))),
                    }
                }
                (n, got, None)
            });
        }
        while let Some(done) = set.join_next().await {
            let (n, got, err) = done.context("an import task failed")?;
            for s in got {
                match s {
                    AckStatus::Accepted => summary.accepted += 1,
                    AckStatus::Duplicate => summary.duplicates += 1,
                    AckStatus::Stale => summary.stale += 1,
                }
            }
            if let Some(why) = err {
                summary.rejected.push((n, why));
            }
        }
    }
    summary.rejected.sort();
    Ok(summary)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_lines_split_with_quotes() {
        assert_eq!(
            split_line(r#"a,"b, c","d ""e""",,f"#, ',').unwrap(),
            vec!["a", "b, c", "d \"e\"", "", "f"]
        );
        assert_eq!(split_line("x;y", ';').unwrap(), vec!["x", "y"]);
        assert!(split_line(r#"a,"b"#, ',').is_err());
    }

    #[test]
    fn a_line_becomes_its_events() {
        let tz: Tz = "Europe/Rome".parse().unwrap();
        let header: Vec<String> = [
            "ticket_id",
            "counter_id",
            "issued_at",
            "called_at",
            "ended_at",
            "outcome",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        let cells = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let now = 1_900_000_000_000;
        let e = line_events(
            &header,
            &cells(&[
                "t1",
                "S1",
                "2026-11-23 09:00",
                "2026-11-23 09:10",
                "2026-11-23T09:20:00+01:00",
                "SERVED",
            ]),
            "csv",
            tz,
            now,
        )
        .unwrap();
        assert_eq!(e.len(), 3);
        assert_eq!(e[2].kind, EventKind::Served);
        assert_eq!(e[2].event_id, "csv:SERVED:t1");
        assert_eq!(e[0].occurred_at + 20 * 60_000, e[2].occurred_at);
        let err = line_events(
            &header,
            &cells(&[
                "t2",
                "",
                "2026-11-23 09:00",
                "",
                "2026-11-23 09:20",
                "SERVED",
            ]),
            "csv",
            tz,
            now,
        )
        .unwrap_err();
        assert!(err.contains("counter_id"), "{err}");
        let err = line_events(
            &header,
            &cells(&["t3", "S1", "2026-11-23 09:00", "", "2026-11-23 09:20", ""]),
            "csv",
            tz,
            now,
        )
        .unwrap_err();
        assert!(err.starts_with("outcome"), "{err}");
        let err = line_events(
            &header,
            &cells(&["t4", "S1", "2026-11-23 09:30", "2026-11-23 09:10", "", ""]),
            "csv",
            tz,
            now,
        )
        .unwrap_err();
        assert!(err.contains("before"), "{err}");
    }
}
