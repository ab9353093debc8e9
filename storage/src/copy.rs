//! `faccia db copy`: moves one office's whole history from one database into another (the
//! SQLite file of an office that moves to the central PostgreSQL), resumable and verified.
//!
//! The rows of the site are read from the source table by table, in key order, in batches;
//! each batch is inserted into the destination in one transaction together with the progress
//! it makes (`site_copies`), so a copy that is stopped at any point resumes after the last
//! batch committed and copies nothing twice. The destination's event log and ticket steps
//! number their rows themselves: the site's entries keep their order and get new numbers
//! after those already there. At the end the rollups are rebuilt for the site's time zone and
//! the copy is verified: the same number of rows in every table on both sides and the same
//! monthly figures (the rollups of both sides, rebuilt from their raw rows, are equal).
//!
//! A destination that already holds rows of the site, other than those of an unfinished copy
//! from the same source, is refused: they belong to an office running there, or to another
//! copy. Servers refuse to open a site whose copy is not finished (see [`unfinished`]).

use chrono_tz::Tz;
use diesel::prelude::*;
use faccia_domain::Millis;

use crate::conn::{self, AnyConnection};
use crate::models::{
    AnswerRow, CommentRow, CounterRow, LinkRow, LogRow, NewLog, NewStep, ReceivedRow, SessionRow,
    StepRow, TicketRow, VoteRow,
};
use crate::rollup::{self, Rollups};
use crate::schema::{
    counters, event_log, received_events, site_copies, ticket_steps, tickets, vote_answers,
    vote_comments, vote_links, vote_sessions, votes,
};
use crate::sites::{self, LegacyRows, SiteRow};
use crate::StoreError;

/// The tables of a site's history, in the order they are copied (sessions before the votes
/// that refer to them).
pub const TABLES: [&str; 10] = [
    "received_events",
    "ticket_steps",
    "tickets",
    "counters",
    "vote_sessions",
    "votes",
    "vote_links",
    "vote_answers",
    "vote_comments",
    "event_log",
];

/// The stage of a copy that has copied every table and been verified.
pub const DONE: &str = "done";

/// Separates the columns of a composite key in `site_copies.last_key`.
const SEP: char = '\u{1f}';

/// Rows per batch unless told otherwise: well inside SQLite's and PostgreSQL's limits on bound
/// parameters for the widest table (tickets, 22 columns).
pub const DEFAULT_BATCH: usize = 1000;

/// A row of `site_copies`.
#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable, Insertable, AsChangeset)]
#[diesel(table_name = site_copies, treat_none_as_null = true)]
pub struct CopyRow {
    pub site_id: String,
    pub source: String,
    pub stage: String,
    pub last_key: String,
    pub copied: i64,
    pub started_at: Millis,
    pub finished_at: Option<Millis>,
}

/// What to copy: the site and how the destination should know it.
#[derive(Debug, Clone)]
pub struct CopyRequest {
    pub site_id: String,
    pub name: String,
    pub time_zone: Tz,
    /// The source as people read it (its URL without the password): recorded in the
    /// destination, and a resumed copy must come from the same one.
    pub source_label: String,
    /// Rows per batch (0: [`DEFAULT_BATCH`]).
    pub batch: usize,
}

/// The progress of a copy, reported after every batch.
#[derive(Debug, Clone, Copy)]
pub struct Progress<'a> {
    pub table: &'a str,
    /// Rows copied so far, all tables together (this run and earlier ones).
    pub copied: u64,
    /// The rows of the site in the source, all tables together.
    pub total: u64,
}

/// One table's rows for the site on both sides.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TableCount {
    pub table: &'static str,
    pub source: i64,
    pub destination: i64,
}

/// What a copy did.
#[derive(Debug, Clone)]
pub struct Copied {
    /// The source's legacy rows (from before sites) that the site adopted first.
    pub adopted: Option<LegacyRows>,
    /// It went on from where an earlier run had stopped.
    pub resumed: bool,
    /// An earlier run had finished it: this one only verified it again.
    pub already_done: bool,
    /// Rows copied by this run.
    pub copied_now: u64,
    pub counts: Vec<TableCount>,
    /// The local months (YYYYMM) with figures, the same on both sides.
    pub months: Vec<i32>,
}

/// The copy of `site`'s history into this database, if one was started.
pub fn find(c: &mut AnyConnection, site: &str) -> Result<Option<CopyRow>, StoreError> {
    Ok(site_copies::table
        .find(site)
        .select(CopyRow::as_select())
        .first(c)
        .optional()?)
}

/// The sites among `ids` whose copy into this database was started and is not finished: a
/// server must not write there until it is.
pub fn unfinished(c: &mut AnyConnection, ids: &[&str]) -> Result<Vec<CopyRow>, StoreError> {
    Ok(site_copies::table
        .filter(site_copies::site_id.eq_any(ids))
        .filter(site_copies::finished_at.is_null())
        .select(CopyRow::as_select())
        .load(c)?)
}

/// The site's rows in one table.
pub fn count(c: &mut AnyConnection, table: &str, site: &str) -> Result<i64, StoreError> {
    Ok(match table {
        "received_events" => received_events::table
            .filter(received_events::site_id.eq(site))
            .count()
            .get_result(c)?,
        "ticket_steps" => ticket_steps::table
            .filter(ticket_steps::site_id.eq(site))
            .count()
            .get_result(c)?,
        "tickets" => tickets::table
            .filter(tickets::site_id.eq(site))
            .count()
            .get_result(c)?,
        "counters" => counters::table
            .filter(counters::site_id.eq(site))
            .count()
            .get_result(c)?,
        "vote_sessions" => vote_sessions::table
            .filter(vote_sessions::site_id.eq(site))
            .count()
            .get_result(c)?,
        "votes" => votes::table
            .filter(votes::site_id.eq(site))
            .count()
            .get_result(c)?,
        "vote_links" => vote_links::table
            .filter(vote_links::site_id.eq(site))
            .count()
            .get_result(c)?,
        "vote_answers" => vote_answers::table
            .filter(vote_answers::site_id.eq(site))
            .count()
            .get_result(c)?,
        "vote_comments" => vote_comments::table
            .filter(vote_comments::site_id.eq(site))
            .count()
            .get_result(c)?,
        "event_log" => event_log::table
            .filter(event_log::site_id.eq(site))
            .count()
            .get_result(c)?,
        other => return Err(StoreError::Corrupt(format!("no table {other} in a copy"))),
    })
}

fn counts(c: &mut AnyConnection, site: &str) -> Result<Vec<(&'static str, i64)>, StoreError> {
    TABLES
        .iter()
        .map(|t| Ok((*t, count(c, t, site)?)))
        .collect()
}

/// One batch of rows read from the source.
enum Batch {
    Received(Vec<ReceivedRow>),
    Steps(Vec<StepRow>),
    Tickets(Vec<TicketRow>),
    Counters(Vec<CounterRow>),
    Sessions(Vec<SessionRow>),
    Votes(Vec<VoteRow>),
    Links(Vec<LinkRow>),
    Answers(Vec<AnswerRow>),
    Comments(Vec<CommentRow>),
    Log(Vec<LogRow>),
}

fn key2(last: &str) -> (String, String) {
    match last.split_once(SEP) {
        Some((a, b)) => (a.to_string(), b.to_string()),
        None => (String::new(), String::new()),
    }
}

fn key_i64(last: &str) -> i64 {
    last.parse().unwrap_or(i64::MIN)
}

/// Inserts rows on the concrete connection (batch inserts of many rows at once).
macro_rules! insert_rows {
    ($c:expr, $table:expr, $rows:expr) => {
        match $c {
            AnyConnection::Sqlite(c) => diesel::insert_into($table).values($rows).execute(c)?,
            AnyConnection::Postgresql(c) => diesel::insert_into($table).values($rows).execute(c)?,
        }
    };
}

impl Batch {
    /// The next rows of `table` after `last` (a key from [`Batch::last_key`], or '').
    fn read(
        c: &mut AnyConnection,
        table: &str,
        site: &str,
        last: &str,
        limit: i64,
    ) -> Result<Batch, StoreError> {
        Ok(match table {
            "received_events" => {
                let (a, b) = key2(last);
                Batch::Received(
                    received_events::table
                        .filter(received_events::site_id.eq(site))
                        .filter(
                            received_events::source_id
                                .gt(a.clone())
                                .or(received_events::source_id
                                    .eq(a)
                                    .and(received_events::event_id.gt(b))),
                        )
                        .order((received_events::source_id, received_events::event_id))
                        .limit(limit)
                        .select(ReceivedRow::as_select())
                        .load(c)?,
                )
            }
            "ticket_steps" => Batch::Steps(
                ticket_steps::table
                    .filter(ticket_steps::site_id.eq(site))
                    .filter(ticket_steps::id.gt(key_i64(last)))
                    .order(ticket_steps::id)
                    .limit(limit)
                    .select(StepRow::as_select())
                    .load(c)?,
            ),
            "tickets" => {
                let (a, b) = key2(last);
                Batch::Tickets(
                    tickets::table
                        .filter(tickets::site_id.eq(site))
                        .filter(
                            tickets::source_id
                                .gt(a.clone())
                                .or(tickets::source_id.eq(a).and(tickets::ticket_id.gt(b))),
                        )
                        .order((tickets::source_id, tickets::ticket_id))
                        .limit(limit)
                        .select(TicketRow::as_select())
                        .load(c)?,
                )
            }
            "counters" => Batch::Counters(
                counters::table
                    .filter(counters::site_id.eq(site))
                    .filter(counters::counter_id.gt(last))
                    .order(counters::counter_id)
                    .limit(limit)
                    .select(CounterRow::as_select())
                    .load(c)?,
            ),
            "vote_sessions" => Batch::Sessions(
                vote_sessions::table
                    .filter(vote_sessions::site_id.eq(site))
                    .filter(vote_sessions::session_id.gt(last))
                    .order(vote_sessions::session_id)
                    .limit(limit)
                    .select(SessionRow::as_select())
                    .load(c)?,
            ),
            "votes" => Batch::Votes(
                votes::table
                    .filter(votes::site_id.eq(site))
                    .filter(votes::session_id.gt(last))
                    .order(votes::session_id)
                    .limit(limit)
                    .select(VoteRow::as_select())
                    .load(c)?,
            ),
            "vote_links" => Batch::Links(
                vote_links::table
                    .filter(vote_links::site_id.eq(site))
                    .filter(vote_links::token_hash.gt(last))
                    .order(vote_links::token_hash)
                    .limit(limit)
                    .select(LinkRow::as_select())
                    .load(c)?,
            ),
            "vote_answers" => Batch::Answers(
                vote_answers::table
                    .filter(vote_answers::site_id.eq(site))
                    .filter(vote_answers::session_id.gt(last))
                    .order(vote_answers::session_id)
                    .limit(limit)
                    .select(AnswerRow::as_select())
                    .load(c)?,
            ),
            "vote_comments" => Batch::Comments(
                vote_comments::table
                    .filter(vote_comments::site_id.eq(site))
                    .filter(vote_comments::session_id.gt(last))
                    .order(vote_comments::session_id)
                    .limit(limit)
                    .select(CommentRow::as_select())
                    .load(c)?,
            ),
            "event_log" => Batch::Log(
                event_log::table
                    .filter(event_log::site_id.eq(site))
                    .filter(event_log::seq.gt(key_i64(last)))
                    .order(event_log::seq)
                    .limit(limit)
                    .select(LogRow::as_select())
                    .load(c)?,
            ),
            other => return Err(StoreError::Corrupt(format!("no table {other} in a copy"))),
        })
    }

    fn len(&self) -> usize {
        match self {
            Batch::Received(r) => r.len(),
            Batch::Steps(r) => r.len(),
            Batch::Tickets(r) => r.len(),
            Batch::Counters(r) => r.len(),
            Batch::Sessions(r) => r.len(),
            Batch::Votes(r) => r.len(),
            Batch::Links(r) => r.len(),
            Batch::Answers(r) => r.len(),
            Batch::Comments(r) => r.len(),
            Batch::Log(r) => r.len(),
        }
    }

    /// The key of the last row, as `site_copies.last_key` keeps it.
    fn last_key(&self) -> Option<String> {
        match self {
            Batch::Received(r) => r
                .last()
                .map(|x| format!("{}{SEP}{}", x.source_id, x.event_id)),
            Batch::Steps(r) => r.last().map(|x| x.id.to_string()),
            Batch::Tickets(r) => r
                .last()
                .map(|x| format!("{}{SEP}{}", x.source_id, x.ticket_id)),
            Batch::Counters(r) => r.last().map(|x| x.counter_id.clone()),
            Batch::Sessions(r) => r.last().map(|x| x.session_id.clone()),
            Batch::Votes(r) => r.last().map(|x| x.session_id.clone()),
            Batch::Links(r) => r.last().map(|x| x.token_hash.clone()),
            Batch::Answers(r) => r.last().map(|x| x.session_id.clone()),
            Batch::Comments(r) => r.last().map(|x| x.session_id.clone()),
            Batch::Log(r) => r.last().map(|x| x.seq.to_string()),
        }
    }

    /// Inserts the rows as rows of `site` (the destination numbers steps and log entries).
    fn insert(self, c: &mut AnyConnection, site: &str) -> Result<(), StoreError> {
        let s = || site.to_string();
        match self {
            Batch::Received(mut rows) => {
                rows.iter_mut().for_each(|r| r.site_id = s());
                insert_rows!(c, received_events::table, &rows);
            }
            Batch::Steps(rows) => {
                let rows: Vec<NewStep> = rows
                    .into_iter()
                    .map(|r| NewStep {
                        site_id: s(),
                        source_id: r.source_id,
                        ticket_id: r.ticket_id,
                        event_id: r.event_id,
                        occurred_at: r.occurred_at,
                        kind: r.kind,
                        counter_id: r.counter_id,
                        service_code: r.service_code,
                        transfer_to_service: r.transfer_to_service,
                        display_number: r.display_number,
                        operator_ref: r.operator_ref,
                    })
                    .collect();
                insert_rows!(c, ticket_steps::table, &rows);
            }
            Batch::Tickets(mut rows) => {
                rows.iter_mut().for_each(|r| r.site_id = s());
                insert_rows!(c, tickets::table, &rows);
            }
            Batch::Counters(mut rows) => {
                rows.iter_mut().for_each(|r| r.site_id = s());
                insert_rows!(c, counters::table, &rows);
            }
            Batch::Sessions(mut rows) => {
                rows.iter_mut().for_each(|r| r.site_id = s());
                insert_rows!(c, vote_sessions::table, &rows);
            }
            Batch::Votes(mut rows) => {
                rows.iter_mut().for_each(|r| r.site_id = s());
                insert_rows!(c, votes::table, &rows);
            }
            Batch::Links(mut rows) => {
                rows.iter_mut().for_each(|r| r.site_id = s());
                insert_rows!(c, vote_links::table, &rows);
            }
            Batch::Answers(mut rows) => {
                rows.iter_mut().for_each(|r| r.site_id = s());
                insert_rows!(c, vote_answers::table, &rows);
            }
            Batch::Comments(mut rows) => {
                rows.iter_mut().for_each(|r| r.site_id = s());
                insert_rows!(c, vote_comments::table, &rows);
            }
            Batch::Log(rows) => {
                let rows: Vec<NewLog> = rows
                    .into_iter()
                    .map(|r| NewLog {
                        site_id: s(),
                        at: r.at,
                        kind: r.kind,
                        source_id: r.source_id,
                        counter_id: r.counter_id,
                        service_code: r.service_code,
                        ticket_id: r.ticket_id,
                        display_number: r.display_number,
                        ticket_event: r.ticket_event,
                        session_id: r.session_id,
                        outcome: r.outcome,
                        detail: r.detail,
                        reason: r.reason,
                        keypad_state: r.keypad_state,
                        figure_a: r.figure_a,
                        figure_b: r.figure_b,
                        fact_text: r.fact_text,
                    })
                    .collect();
                insert_rows!(c, event_log::table, &rows);
            }
        }
        Ok(())
    }
}

/// Gives the source's rows from before sites to the site being copied, under the same rule as
/// a server's first start (only when no other site uses the source).
fn adopt_in_source(from: &mut AnyConnection, site: &str) -> Result<Option<LegacyRows>, StoreError> {
    from.transaction(|c| {
        let legacy = sites::legacy_rows(c)?;
        if !legacy.any() {
            return Ok(None);
        }
        let others: Vec<String> = sites::list(c)?
            .into_iter()
            .map(|s| s.site_id)
            .filter(|id| id != site)
            .collect();
        if !others.is_empty() {
            return Err(StoreError::Copy(format!(
                "the source holds an office's history from before sites ({} tickets) and other \
                 sites ({}) too: it cannot tell whose it is; nothing was copied",
                legacy.tickets,
                others.join(", ")
            )));
        }
        sites::adopt(c, site)?;
        Ok(Some(legacy))
    })
}

/// Copies `req.site_id`'s history from `from` into `to` (both migrated), or goes on with a copy
/// that was stopped, then verifies it. `now` stamps the copy's start and end.
pub fn copy_site(
    from: &mut AnyConnection,
    to: &mut AnyConnection,
    req: &CopyRequest,
    now: &dyn Fn() -> Millis,
    progress: &mut dyn FnMut(Progress<'_>),
) -> Result<Copied, StoreError> {
    let site = req.site_id.as_str();
    let batch = if req.batch == 0 {
        DEFAULT_BATCH
    } else {
        req.batch
    } as i64;
    let adopted = adopt_in_source(from, site)?;
    let source_counts = counts(from, site)?;
    let total: u64 = source_counts.iter().map(|(_, n)| *n as u64).sum();
    if total == 0 {
        let known: Vec<String> = sites::list(from)?.into_iter().map(|s| s.site_id).collect();
        return Err(StoreError::Copy(format!(
            "the source holds nothing of site {site:?} (its sites: {}); nothing was copied",
            if known.is_empty() {
                "none".to_string()
            } else {
                known.join(", ")
            }
        )));
    }

    // Start, or take up, the copy: one transaction decides, ordered with the other writers.
    let started = to.transaction(|c| {
        conn::lock_writers(c)?;
        match find(c, site)? {
            Some(row) if row.source != req.source_label => Err(StoreError::Copy(format!(
                "a copy of site {site:?} from {} into this database was started before: run it \
                 again from that source to finish it; nothing was copied",
                row.source
            ))),
            Some(row) => Ok(row),
            None => {
                let there = counts(c, site)?;
                let held: Vec<String> = there
                    .iter()
                    .filter(|(_, n)| *n > 0)
                    .map(|(t, n)| format!("{n} {t}"))
                    .collect();
                if !held.is_empty() {
                    return Err(StoreError::Copy(format!(
                        "the destination already holds data of site {site:?} ({}): it belongs to \
                         an office running there or to an earlier copy, and a copy never \
                         overwrites or mixes with it; nothing was copied",
                        held.join(", ")
                    )));
                }
                sites::register(
                    c,
                    &SiteRow {
                        site_id: site.to_string(),
                        name: req.name.clone(),
                        time_zone: req.time_zone.name().to_string(),
                        updated_at: now(),
                    },
                )?;
                let row = CopyRow {
                    site_id: site.to_string(),
                    source: req.source_label.clone(),
                    stage: String::new(),
                    last_key: String::new(),
                    copied: 0,
                    started_at: now(),
                    finished_at: None,
                };
                diesel::insert_into(site_copies::table)
                    .values(&row)
                    .execute(c)?;
                Ok(row)
            }
        }
    })?;
    let already_done = started.finished_at.is_some();
    let resumed = !already_done && (started.copied > 0 || !started.stage.is_empty());
    let mut copied = started.copied as u64;
    let mut copied_now = 0u64;

    if !already_done {
        let first = TABLES.iter().position(|t| *t == started.stage).unwrap_or(0);
        for (i, table) in TABLES.iter().enumerate().skip(first) {
            let mut last = if i == first && started.stage == *table {
                started.last_key.clone()
            } else {
                String::new()
            };
            loop {
                let rows = Batch::read(from, table, site, &last, batch)?;
                let Some(key) = rows.last_key() else { break };
                let n = rows.len();
                to.transaction(|c| {
                    conn::lock_writers(c)?;
                    rows.insert(c, site)?;
                    diesel::update(site_copies::table.find(site))
                        .set((
                            site_copies::stage.eq(*table),
                            site_copies::last_key.eq(&key),
                            site_copies::copied.eq(site_copies::copied + n as i64),
                        ))
                        .execute(c)?;
                    Ok::<_, StoreError>(())
                })?;
                copied += n as u64;
                copied_now += n as u64;
                last = key;
                progress(Progress {
                    table,
                    copied,
                    total,
                });
            }
        }
        rollup::rebuild(to, site, req.time_zone)?;
    }

    let dest_counts = counts(to, site)?;
    let counts: Vec<TableCount> = source_counts
        .iter()
        .zip(&dest_counts)
        .map(|((t, s), (_, d))| TableCount {
            table: t,
            source: *s,
            destination: *d,
        })
        .collect();
    if already_done {
        // Verified when it finished; the office may have been served here since.
        return Ok(Copied {
            adopted,
            resumed,
            already_done,
            copied_now,
            counts,
            months: Vec::new(),
        });
    }

    // Verify: every table's rows, and the monthly figures rebuilt from each side's raw rows.
    let differ: Vec<String> = counts
        .iter()
        .filter(|c| c.source != c.destination)
        .map(|c| format!("{}: {} here, {} there", c.table, c.source, c.destination))
        .collect();
    if !differ.is_empty() {
        return Err(StoreError::Copy(format!(
            "the copy of site {site:?} does not match its source ({}): has a server written to \
             either side during the copy?",
            differ.join("; ")
        )));
    }
    rollup::ensure(from, site, req.time_zone)?;
    let there = rollup::load_all(from, site)?;
    let here = rollup::load_all(to, site)?;
    if there != here {
        return Err(StoreError::Copy(format!(
            "the monthly figures of site {site:?} differ between the source and the copy \
             (months {:?} there, {:?} here)",
            months(&there),
            months(&here)
        )));
    }
    {
        let at = now();
        to.transaction(|c| {
            conn::lock_writers(c)?;
            diesel::update(site_copies::table.find(site))
                .set((
                    site_copies::stage.eq(DONE),
                    site_copies::last_key.eq(""),
                    site_copies::finished_at.eq(Some(at)),
                ))
                .execute(c)?;
            Ok::<_, StoreError>(())
        })?;
    }
    Ok(Copied {
        adopted,
        resumed,
        already_done,
        copied_now,
        counts,
        months: months(&here),
    })
}

/// The months with any figure, in order.
fn months(r: &Rollups) -> Vec<i32> {
    let mut m: Vec<i32> = r
        .votes
        .iter()
        .map(|v| v.month)
        .chain(r.tickets.iter().map(|t| t.month))
        .collect();
    m.sort_unstable();
    m.dedup();
    m
}
