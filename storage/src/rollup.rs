//! Monthly rollups for the reports: the month's votes, served tickets and waiting-time
//! distribution already counted, so that a monthly report reads a few hundred small rows
//! instead of grouping every vote and ticket of the month.
//!
//! * `report_votes (month, counter_id, service_code, channel, face, reason, n)`: reason 0 is
//!   "no reason"; month of `voted_at`.
//! * `report_tickets (month, counter_id, service_code, served, counted, total_ms, flagged)`:
//!   tickets in state SERVED, month of `served_at`; `counted`/`total_ms` over the tickets whose
//!   waiting time counts (known, not spanning midnight, not reset), `flagged` the ones that
//!   span midnight or a reset.
//! * `report_waits (month, service_code, wait_s, n)`: the counted waiting times in whole
//!   seconds rounded up, `wait_s = ⌈waiting_ms / 1000⌉`.
//!
//! Every rollup row belongs to one site (`site_id`, the first column of each key) and `month`
//! is the **local month of that site** (`Rules::time_zone`) as the integer YYYYMM.
//!
//! The writer keeps them exact in the same transaction as the raw row: [`add_vote`] when a
//! vote is stored (votes never change), [`apply_ticket_change`] whenever a ticket row is
//! written (the old row's contribution out, the new row's in; nothing when it did not change).
//! [`ticket_contribution`] is the one place that says what a ticket row contributes.
//!
//! `report_meta` records the time zone and [`VERSION`] the rollups were built with;
//! [`ensure`] (called by `Store::open` after the migrations) rebuilds them from the raw tables
//! when either differs or is missing: the first start after the upgrade backfills them, and a
//! changed `site.time_zone` regroups them.

use std::time::Instant;

use chrono::Datelike;
use chrono_tz::Tz;
use diesel::dsl::{max, min};
use diesel::prelude::*;
use diesel::sql_types::BigInt;
use diesel::upsert::excluded;
use faccia_domain::stats;
use faccia_domain::Millis;

use crate::conn::{self, execute_cached, on_backend, AnyConnection};
use crate::models::{TicketRow, VoteRow};
use crate::schema::{report_meta, report_tickets, report_votes, report_waits, tickets, votes};
use crate::StoreError;

/// The version of the rollups' definition: a different stored version makes [`ensure`]
/// rebuild them.
pub const VERSION: &str = "1";

const META_TIME_ZONE: &str = "time_zone";
const META_VERSION: &str = "version";

/// A month as the rollups key it: YYYYMM.
pub fn key(year: i32, month: u32) -> i32 {
    year * 100 + month as i32
}

/// The local month of the site holding the instant `at`, as YYYYMM.
pub fn month_key(tz: Tz, at: Millis) -> i32 {
    let d = stats::local_date(tz, at);
    key(d.year(), d.month())
}

/// [start, end) in ms of the local month `key` (YYYYMM).
pub fn month_bounds(tz: Tz, key: i32) -> Option<(Millis, Millis)> {
    let month = u32::try_from(key % 100).ok()?;
    stats::month_bounds(tz, key / 100, month)
}

/// The month after `key` (YYYYMM).
pub fn next_month(key: i32) -> i32 {
    if key % 100 >= 12 {
        (key / 100 + 1) * 100 + 1
    } else {
        key + 1
    }
}

/// A waiting time in whole seconds, rounded up: `⌈waiting_ms / 1000⌉`. For a standard in
/// whole seconds `s`, `waiting_ms <= 1000·s` exactly when `wait_bucket(waiting_ms) <= s`.
pub fn wait_bucket(waiting_ms: i64) -> i64 {
    -(-waiting_ms).div_euclid(1000)
}

/// The same in SQL (integer division truncates toward zero on both backends).
const WAIT_BUCKET_SQL: &str =
    "CASE WHEN waiting_ms >= 0 THEN (waiting_ms + 999) / 1000 ELSE -((-waiting_ms) / 1000) END";

/// What one ticket row adds to the rollups. `None`: nothing (not served).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TicketContribution {
    /// Local month of `served_at`, YYYYMM.
    pub month: i32,
    pub counter_id: String,
    pub service_code: String,
    /// The waiting time when it counts (known, not spanning midnight, not reset).
    pub counted_ms: Option<i64>,
    /// Left out of the waiting figures: spans midnight or a day reset.
    pub flagged: bool,
}

impl TicketContribution {
    /// `(counted, total_ms, flagged)` as the columns of `report_tickets` count them.
    pub fn sums(&self) -> (i64, i64, i64) {
        (
            i64::from(self.counted_ms.is_some()),
            self.counted_ms.unwrap_or(0),
            i64::from(self.flagged),
        )
    }

    /// The bucket of `report_waits` it counts in: (month, service, wait_s).
    pub fn wait_key(&self) -> Option<(i32, &str, i64)> {
        self.counted_ms
            .map(|ms| (self.month, self.service_code.as_str(), wait_bucket(ms)))
    }
}

/// The one rule for what a ticket row contributes: a ticket in state SERVED with a
/// `served_at` counts once as served in the local month of `served_at`, at its counter and
/// service; its waiting time counts when it is known and the ticket neither spans midnight nor
/// was reset; a ticket that spans midnight or was reset is flagged.
pub fn ticket_contribution(row: &TicketRow, tz: Tz) -> Option<TicketContribution> {
    if row.state != "SERVED" {
        return None;
    }
    let served_at = row.served_at?;
    let flagged = row.spans_midnight || row.reset;
    Some(TicketContribution {
        month: month_key(tz, served_at),
        counter_id: row.counter_id.clone(),
        service_code: row.service_code.clone(),
        counted_ms: row.waiting_ms.filter(|_| !flagged),
        flagged,
    })
}

/// Counts one stored vote (inside the writer's transaction).
pub fn add_vote(
    c: &mut AnyConnection,
    site: &str,
    tz: Tz,
    vote: &VoteRow,
) -> Result<(), StoreError> {
    use report_votes::dsl as v;
    let row = VoteRollup {
        site_id: site.to_string(),
        month: month_key(tz, vote.voted_at),
        counter_id: vote.counter_id.clone(),
        service_code: vote.service_code.clone(),
        channel: vote.channel.clone(),
        face: vote.face,
        reason: vote.reason.unwrap_or(0),
        n: 1,
    };
    on_backend!(c, |c| execute_cached!(
        c,
        diesel::insert_into(report_votes::table)
            .values(&row)
            .on_conflict((
                v::site_id,
                v::month,
                v::counter_id,
                v::service_code,
                v::channel,
                v::face,
                v::reason,
            ))
            .do_update()
            .set(v::n.eq(v::n + excluded(v::n)))
    ))?;
    Ok(())
}

/// Moves a ticket's contribution from what `old` (the row as stored, `None` for a new ticket)
/// counted to what `new` counts. Does nothing when the contribution did not change, which is
/// the case for every write before SERVED and most after it.
pub fn apply_ticket_change(
    c: &mut AnyConnection,
    site: &str,
    tz: Tz,
    old: Option<&TicketRow>,
    new: &TicketRow,
) -> Result<(), StoreError> {
    let before = old.and_then(|r| ticket_contribution(r, tz));
    let after = ticket_contribution(new, tz);
    if before == after {
        return Ok(());
    }
    let mut consistent = true;
    match (&before, &after) {
        (Some(b), Some(a))
            if (b.month, &b.counter_id, &b.service_code)
                == (a.month, &a.counter_id, &a.service_code) =>
        {
            let (bc, bt, bf) = b.sums();
            let (ac, at, af) = a.sums();
            consistent &= add_tickets(c, site, a, 0, ac - bc, at - bt, af - bf)?;
        }
        _ => {
            if let Some(b) = &before {
                let (bc, bt, bf) = b.sums();
                consistent &= add_tickets(c, site, b, -1, -bc, -bt, -bf)?;
            }
            if let Some(a) = &after {
                let (ac, at, af) = a.sums();
                add_tickets(c, site, a, 1, ac, at, af)?;
            }
        }
    }
    let (wb, wa) = (
        before.as_ref().and_then(TicketContribution::wait_key),
        after.as_ref().and_then(TicketContribution::wait_key),
    );
    if wb != wa {
        if let Some(k) = wb {
            consistent &= add_wait(c, site, k, -1)?;
        }
        if let Some(k) = wa {
            add_wait(c, site, k, 1)?;
        }
    }
    if !consistent {
        // The rollups do not hold what the raw rows say (raw rows written around the store):
        // forget what they were built with, so that reports read the raw tables and the next
        // start rebuilds them.
        tracing::warn!(
            ticket = %new.ticket_id,
            "the report rollups miss a ticket they should count; they will be rebuilt at the next start"
        );
        diesel::delete(report_meta::table.filter(report_meta::site_id.eq(site))).execute(c)?;
    }
    Ok(())
}

/// Adds to a `report_tickets` row (upsert). A subtraction (`served < 0` or any negative delta
/// on an existing key) must find the row: returns false when it did not.
#[allow(clippy::too_many_arguments)]
fn add_tickets(
    c: &mut AnyConnection,
    site: &str,
    k: &TicketContribution,
    served: i64,
    counted: i64,
    total_ms: i64,
    flagged: i64,
) -> Result<bool, StoreError> {
    use report_tickets::dsl as t;
    let key = report_tickets::table
        .filter(t::site_id.eq(site))
        .filter(t::month.eq(k.month))
        .filter(t::counter_id.eq(&k.counter_id))
        .filter(t::service_code.eq(&k.service_code));
    if served > 0 {
        let row = TicketRollup {
            site_id: site.to_string(),
            month: k.month,
            counter_id: k.counter_id.clone(),
            service_code: k.service_code.clone(),
            served,
            counted,
            total_ms,
            flagged,
        };
        on_backend!(c, |c| execute_cached!(
            c,
            diesel::insert_into(report_tickets::table)
                .values(&row)
                .on_conflict((t::site_id, t::month, t::counter_id, t::service_code))
                .do_update()
                .set((
                    t::served.eq(t::served + excluded(t::served)),
                    t::counted.eq(t::counted + excluded(t::counted)),
                    t::total_ms.eq(t::total_ms + excluded(t::total_ms)),
                    t::flagged.eq(t::flagged + excluded(t::flagged)),
                ))
        ))?;
        return Ok(true);
    }
    let n = on_backend!(c, |c| diesel::update(key)
        .set((
            t::served.eq(t::served + served),
            t::counted.eq(t::counted + counted),
            t::total_ms.eq(t::total_ms + total_ms),
            t::flagged.eq(t::flagged + flagged),
        ))
        .execute(c))?;
    if served < 0 {
        on_backend!(c, |c| diesel::delete(key.filter(t::served.le(0)))
            .execute(c))?;
    }
    Ok(n > 0)
}

/// Adds `n` (±1) to a `report_waits` bucket; a subtraction must find it (false otherwise) and
/// removes the bucket when it reaches zero.
fn add_wait(
    c: &mut AnyConnection,
    site: &str,
    (month, service, wait_s): (i32, &str, i64),
    n: i64,
) -> Result<bool, StoreError> {
    use report_waits::dsl as w;
    if n > 0 {
        let row = WaitRollup {
            site_id: site.to_string(),
            month,
            service_code: service.to_string(),
            wait_s,
            n,
        };
        on_backend!(c, |c| execute_cached!(
            c,
            diesel::insert_into(report_waits::table)
                .values(&row)
                .on_conflict((w::site_id, w::month, w::service_code, w::wait_s))
                .do_update()
                .set(w::n.eq(w::n + excluded(w::n)))
        ))?;
        return Ok(true);
    }
    let key = report_waits::table
        .filter(w::site_id.eq(site))
        .filter(w::month.eq(month))
        .filter(w::service_code.eq(service))
        .filter(w::wait_s.eq(wait_s));
    let found = on_backend!(c, |c| diesel::update(key).set(w::n.eq(w::n + n)).execute(c))?;
    on_backend!(c, |c| diesel::delete(key.filter(w::n.le(0))).execute(c))?;
    Ok(found > 0)
}

/// A row of `report_votes`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Queryable, Selectable, Insertable)]
#[diesel(table_name = report_votes)]
pub struct VoteRollup {
    pub site_id: String,
    pub month: i32,
    pub counter_id: String,
    pub service_code: String,
    pub channel: String,
    pub face: i32,
    /// 0: no reason.
    pub reason: i32,
    pub n: i64,
}

/// A row of `report_tickets`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Queryable, Selectable, Insertable)]
#[diesel(table_name = report_tickets)]
pub struct TicketRollup {
    pub site_id: String,
    pub month: i32,
    pub counter_id: String,
    pub service_code: String,
    pub served: i64,
    pub counted: i64,
    pub total_ms: i64,
    pub flagged: i64,
}

/// A row of `report_waits`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Queryable, Selectable, Insertable)]
#[diesel(table_name = report_waits)]
pub struct WaitRollup {
    pub site_id: String,
    pub month: i32,
    pub service_code: String,
    pub wait_s: i64,
    pub n: i64,
}

/// Every rollup row, in key order (tests compare them with a rebuild).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Rollups {
    pub votes: Vec<VoteRollup>,
    pub tickets: Vec<TicketRollup>,
    pub waits: Vec<WaitRollup>,
}

/// Every rollup row of `site`.
pub fn load_all(c: &mut AnyConnection, site: &str) -> Result<Rollups, StoreError> {
    let mut r = Rollups {
        votes: report_votes::table
            .filter(report_votes::site_id.eq(site))
            .select(VoteRollup::as_select())
            .load(c)?,
        tickets: report_tickets::table
            .filter(report_tickets::site_id.eq(site))
            .select(TicketRollup::as_select())
            .load(c)?,
        waits: report_waits::table
            .filter(report_waits::site_id.eq(site))
            .select(WaitRollup::as_select())
            .load(c)?,
    };
    r.votes.sort();
    r.tickets.sort();
    r.waits.sort();
    Ok(r)
}

/// What a rebuild did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rebuilt {
    /// Local months regrouped.
    pub months: u32,
    pub vote_rows: usize,
    pub ticket_rows: usize,
    pub wait_rows: usize,
    pub elapsed_ms: u128,
}

/// Rebuilds every rollup of `site` from its raw rows for the time zone `tz`, in one transaction
/// (ordered with the other writers on PostgreSQL), and records `tz` and [`VERSION`].
/// Public for tests, fixtures and benchmarks that insert raw rows directly.
pub fn rebuild(c: &mut AnyConnection, site: &str, tz: Tz) -> Result<Rebuilt, StoreError> {
    c.transaction(|c| {
        conn::lock_writers(c)?;
        rebuild_in(c, site, tz)
    })
}

/// `site` as an SQL string literal (site ids are checked to be letters, digits, '-', '_' and
/// '.', but quote anyway).
fn quoted(site: &str) -> String {
    format!("'{}'", site.replace('\'', "''"))
}

fn rebuild_in(c: &mut AnyConnection, site: &str, tz: Tz) -> Result<Rebuilt, StoreError> {
    let started = Instant::now();
    diesel::delete(report_votes::table.filter(report_votes::site_id.eq(site))).execute(c)?;
    diesel::delete(report_tickets::table.filter(report_tickets::site_id.eq(site))).execute(c)?;
    diesel::delete(report_waits::table.filter(report_waits::site_id.eq(site))).execute(c)?;
    let q = quoted(site);
    let (t0, t1) = tickets::table
        .filter(tickets::site_id.eq(site))
        .filter(tickets::state.eq("SERVED"))
        .select((min(tickets::served_at), max(tickets::served_at)))
        .get_result::<(Option<i64>, Option<i64>)>(c)?;
    let (v0, v1) = votes::table
        .filter(votes::site_id.eq(site))
        .select((min(votes::voted_at), max(votes::voted_at)))
        .get_result::<(Option<i64>, Option<i64>)>(c)?;
    let first = [t0, v0].into_iter().flatten().min();
    let last = [t1, v1].into_iter().flatten().max();
    let mut months = 0u32;
    let (mut vote_rows, mut ticket_rows, mut wait_rows) = (0, 0, 0);
    if let (Some(first), Some(last)) = (first, last) {
        let (mut m, end) = (month_key(tz, first), month_key(tz, last));
        while m <= end {
            let (from, to) = month_bounds(tz, m)
                .ok_or_else(|| StoreError::Corrupt(format!("month {m} has no bounds")))?;
            const CLEAN: &str = "waiting_ms IS NOT NULL AND NOT spans_midnight AND NOT reset";
            let served = format!(
                "site_id = {q} AND state = 'SERVED' AND served_at >= {from} AND served_at < {to}"
            );
            vote_rows += sql_execute(
                c,
                &format!(
                    "INSERT INTO report_votes \
                       (site_id, month, counter_id, service_code, channel, face, reason, n) \
                     SELECT {q}, {m}, counter_id, service_code, channel, face, \
                       COALESCE(reason, 0), COUNT(*) \
                     FROM votes WHERE site_id = {q} AND voted_at >= {from} AND voted_at < {to} \
                     GROUP BY counter_id, service_code, channel, face, COALESCE(reason, 0)"
                ),
            )?;
            ticket_rows += sql_execute(
                c,
                &format!(
                    "INSERT INTO report_tickets \
                       (site_id, month, counter_id, service_code, served, counted, total_ms, \
                        flagged) \
                     SELECT {q}, {m}, counter_id, service_code, COUNT(*), \
                       SUM(CASE WHEN {CLEAN} THEN 1 ELSE 0 END), \
                       COALESCE(SUM(CASE WHEN {CLEAN} THEN waiting_ms ELSE 0 END), 0), \
                       SUM(CASE WHEN spans_midnight OR reset THEN 1 ELSE 0 END) \
                     FROM tickets WHERE {served} \
                     GROUP BY counter_id, service_code"
                ),
            )?;
            wait_rows += sql_execute(
                c,
                &format!(
                    "INSERT INTO report_waits (site_id, month, service_code, wait_s, n) \
                     SELECT {q}, {m}, service_code, wait_s, COUNT(*) FROM \
                       (SELECT service_code, {WAIT_BUCKET_SQL} AS wait_s \
                        FROM tickets WHERE {served} AND {CLEAN}) w \
                     GROUP BY service_code, wait_s"
                ),
            )?;
            months += 1;
            m = next_month(m);
        }
    }
    diesel::delete(report_meta::table.filter(report_meta::site_id.eq(site))).execute(c)?;
    for (key, value) in [(META_TIME_ZONE, tz.name()), (META_VERSION, VERSION)] {
        diesel::insert_into(report_meta::table)
            .values((
                report_meta::site_id.eq(site),
                report_meta::key.eq(key),
                report_meta::value.eq(value),
            ))
            .execute(c)?;
    }
    let elapsed_ms = started.elapsed().as_millis();
    Ok(Rebuilt {
        months,
        vote_rows,
        ticket_rows,
        wait_rows,
        elapsed_ms,
    })
}

fn sql_execute(c: &mut AnyConnection, sql: &str) -> Result<usize, StoreError> {
    Ok(on_backend!(c, |c| diesel::sql_query(sql).execute(c))?)
}

/// The time zone and version the rollups were built with (`None`: not recorded).
fn built_with(
    c: &mut AnyConnection,
    site: &str,
) -> Result<(Option<String>, Option<String>), StoreError> {
    let rows: Vec<(String, String)> = report_meta::table
        .filter(report_meta::site_id.eq(site))
        .select((report_meta::key, report_meta::value))
        .load(c)?;
    let get = |k: &str| rows.iter().find(|r| r.0 == k).map(|r| r.1.clone());
    Ok((get(META_TIME_ZONE), get(META_VERSION)))
}

/// Rebuilds the rollups when they were not built for `tz` and this [`VERSION`] (the first
/// start after the upgrade, a changed `site.time_zone`, or rollups found inconsistent).
/// Returns what the rebuild did, `None` when none was needed. Called by `Store::open`.
pub fn ensure(c: &mut AnyConnection, site: &str, tz: Tz) -> Result<Option<Rebuilt>, StoreError> {
    c.transaction(|c| {
        conn::lock_writers(c)?;
        let (zone, version) = built_with(c, site)?;
        if zone.as_deref() == Some(tz.name()) && version.as_deref() == Some(VERSION) {
            return Ok(None);
        }
        let r = rebuild_in(c, site, tz)?;
        tracing::info!(
            site,
            time_zone = tz.name(),
            previous_time_zone = zone.as_deref().unwrap_or("none"),
            version = VERSION,
            months = r.months,
            elapsed_ms = r.elapsed_ms as u64,
            "report rollups rebuilt from the raw tables"
        );
        Ok(Some(r))
    })
}

#[derive(QueryableByName)]
struct Count {
    #[diesel(sql_type = BigInt)]
    n: i64,
}

/// Do the rollups hold the figures of the local months of `tz`? False when they were built
/// for another time zone or version, found inconsistent, or the database predates them (a
/// server of this version has not started on it yet). Only reads: reports use it to choose
/// between the rollups and the raw tables, and log why when they cannot use the rollups.
pub fn usable(c: &mut AnyConnection, site: &str, tz: Tz) -> Result<bool, StoreError> {
    let exists: Vec<Count> = match c {
        AnyConnection::Sqlite(c) => diesel::sql_query(
            "SELECT COUNT(*) AS n FROM sqlite_master WHERE type = 'table' AND name = 'report_meta'",
        )
        .load(c)?,
        AnyConnection::Postgresql(c) => diesel::sql_query(
            "SELECT COUNT(*) AS n FROM information_schema.tables \
             WHERE table_name = 'report_meta' AND table_schema = current_schema()",
        )
        .load(c)?,
    };
    if exists.first().is_none_or(|r| r.n == 0) {
        tracing::warn!(
            "the database has no report rollups yet (start the server once to migrate it): \
             reading the raw tables"
        );
        return Ok(false);
    }
    let (zone, version) = built_with(c, site)?;
    let ok = zone.as_deref() == Some(tz.name()) && version.as_deref() == Some(VERSION);
    if !ok {
        tracing::warn!(
            site,
            time_zone = tz.name(),
            rollups_time_zone = zone.as_deref().unwrap_or("none"),
            rollups_version = version.as_deref().unwrap_or("none"),
            "the report rollups were not built for this time zone and version (the server \
             rebuilds them at its next start): reading the raw tables"
        );
    }
    Ok(ok)
}

#[cfg(test)]
mod tests {
    use super::*;

    const ROME: Tz = chrono_tz::Europe::Rome;

    fn served(at: i64) -> TicketRow {
        TicketRow {
            site_id: "x".into(),
            source_id: "s".into(),
            ticket_id: "t1".into(),
            display_number: "A001".into(),
            service_code: "A".into(),
            state: "SERVED".into(),
            counter_id: "1".into(),
            first_at: at - 600_000,
            issued_at: Some(at - 600_000),
            first_called_at: Some(at - 300_000),
            last_called_at: Some(at - 300_000),
            service_started_at: None,
            served_at: Some(at),
            ended_at: Some(at),
            recalls: 0,
            transfers: 0,
            reset: false,
            spans_midnight: false,
            waiting_ms: Some(300_001),
            service_ms: Some(300_000),
            last_at: at,
            operator_ref: None,
        }
    }

    /// 2026-07-31T22:30:00Z: 1 August 00:30 in Rome.
    const LATE_JULY_UTC: i64 = 1_785_537_000_000;

    #[test]
    fn a_served_ticket_counts_in_the_local_month_of_served_at() {
        let c = ticket_contribution(&served(LATE_JULY_UTC), ROME).expect("served");
        assert_eq!(
            c,
            TicketContribution {
                month: 202608,
                counter_id: "1".into(),
                service_code: "A".into(),
                counted_ms: Some(300_001),
                flagged: false,
            }
        );
        assert_eq!(c.sums(), (1, 300_001, 0));
        assert_eq!(c.wait_key(), Some((202608, "A", 301)));
        let utc = ticket_contribution(&served(LATE_JULY_UTC), chrono_tz::UTC).expect("served");
        assert_eq!(utc.month, 202607);
    }

    #[test]
    fn only_served_tickets_count() {
        for state in ["WAITING", "CALLED", "IN_SERVICE", "NO_SHOW", "CANCELLED"] {
            let mut t = served(LATE_JULY_UTC);
            t.state = state.into();
            assert_eq!(ticket_contribution(&t, ROME), None, "{state}");
        }
        let mut t = served(LATE_JULY_UTC);
        t.served_at = None;
        assert_eq!(ticket_contribution(&t, ROME), None);
    }

    #[test]
    fn flagged_and_unknown_waits_are_served_but_not_counted() {
        for (spans, reset) in [(true, false), (false, true), (true, true)] {
            let mut t = served(LATE_JULY_UTC);
            t.spans_midnight = spans;
            t.reset = reset;
            let c = ticket_contribution(&t, ROME).expect("served");
            assert_eq!((c.sums(), c.wait_key()), ((0, 0, 1), None));
        }
        let mut t = served(LATE_JULY_UTC);
        t.waiting_ms = None;
        let c = ticket_contribution(&t, ROME).expect("served");
        assert_eq!((c.sums(), c.wait_key()), ((0, 0, 0), None));
        // A late CALLED fills the waiting time: the contribution changes.
        let before = c;
        t.waiting_ms = Some(59_000);
        let after = ticket_contribution(&t, ROME).expect("served");
        assert_ne!(before, after);
        assert_eq!(after.wait_key(), Some((202608, "A", 59)));
    }

    #[test]
    fn waits_round_up_to_the_second_and_keep_the_standard_exact() {
        assert_eq!(wait_bucket(0), 0);
        assert_eq!(wait_bucket(1), 1);
        assert_eq!(wait_bucket(999), 1);
        assert_eq!(wait_bucket(1000), 1);
        assert_eq!(wait_bucket(1001), 2);
        assert_eq!(wait_bucket(-1), 0);
        assert_eq!(wait_bucket(-1500), -1);
        let standard_s = 20 * 60;
        for w in [1_199_999, 1_200_000, 1_200_001, 1_201_000] {
            assert_eq!(w <= standard_s * 1000, wait_bucket(w) <= standard_s, "{w}");
        }
    }

    #[test]
    fn month_keys_agree_with_the_month_bounds() {
        for tz in [ROME, chrono_tz::UTC, chrono_tz::America::Sao_Paulo] {
            let mut m = 202512;
            for _ in 0..14 {
                let (from, to) = month_bounds(tz, m).expect("bounds");
                assert_eq!(month_key(tz, from), m);
                assert_eq!(month_key(tz, to - 1), m);
                assert_eq!(month_key(tz, to), next_month(m));
                m = next_month(m);
            }
            assert_eq!(m, 202702);
        }
    }
}
