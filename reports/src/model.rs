//! Report structures and the pure functions that build them from a connection.
//!
//! Every percentage is a [`Share`] made here, once, by `Share::of` (tenths of a percent, half
//! up): the text, CSV, JSON and HTML renderers only format what they are given.

use std::collections::BTreeMap;

use chrono_tz::Tz;
use faccia_domain::{Channel, Share};
use faccia_storage::{rollup, AnyConnection};
use serde::Serialize;

use crate::error::ReportError;
use crate::period::YearMonth;
use crate::query;

/// What a report needs to know about the office. Built from the configuration (by the server's
/// `report_context`); it never holds operator data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReportContext {
    pub site_id: String,
    pub site_name: String,
    pub time_zone: Tz,
    /// (code, name, declared maximum wait in minutes)
    pub services: Vec<(String, String, Option<u32>)>,
    /// (id, name)
    pub counters: Vec<(String, String)>,
    /// A standard is met when at least this share (in tenths of a percent) of tickets waited
    /// within it. Default 900 (90,0%).
    pub target_tenths: u64,
}

impl ReportContext {
    fn service_name(&self, code: &str) -> Option<&str> {
        self.services
            .iter()
            .find(|s| s.0 == code)
            .map(|s| s.1.as_str())
    }

    fn counter_name(&self, id: &str) -> Option<&str> {
        self.counters
            .iter()
            .find(|c| c.0 == id)
            .map(|c| c.1.as_str())
    }

    fn standard_min(&self, code: &str) -> Option<u32> {
        self.services.iter().find(|s| s.0 == code).and_then(|s| s.2)
    }

    fn standards_ms(&self) -> Vec<(String, i64)> {
        self.services
            .iter()
            .filter_map(|(code, _, m)| m.map(|m| (code.clone(), i64::from(m) * 60_000)))
            .collect()
    }
}

/// 90,0%: the default share of tickets that must wait within a declared standard.
pub const DEFAULT_TARGET_TENTHS: u64 = 900;

/// Votes by face, with the reasons given after red.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Faces {
    pub votes: u64,
    pub green: u64,
    pub yellow: u64,
    pub red: u64,
    /// Red votes with reason 1 (waiting time), 2 (staff behaviour), 3 (had to come back),
    /// 4 (negative outcome).
    pub reasons: [u64; 4],
    pub red_without_reason: u64,
}

impl Faces {
    fn add(&mut self, face: i32, reason: Option<i32>, n: i64) -> Result<(), ReportError> {
        let n = count(n)?;
        self.votes += n;
        match (face, reason) {
            (1, None) => self.green += n,
            (2, None) => self.yellow += n,
            (3, None) => {
                self.red += n;
                self.red_without_reason += n;
            }
            (3, Some(r @ 1..=4)) => {
                self.red += n;
                self.reasons[(r - 1) as usize] += n;
            }
            (f, r) => {
                return Err(ReportError::Inconsistent(format!(
                    "a vote with face {f} and reason {r:?}"
                )))
            }
        }
        Ok(())
    }

    /// Adds the votes of `o` (the sum of two offices, of two months).
    pub fn merge(&mut self, o: &Faces) {
        self.votes += o.votes;
        self.green += o.green;
        self.yellow += o.yellow;
        self.red += o.red;
        for i in 0..4 {
            self.reasons[i] += o.reasons[i];
        }
        self.red_without_reason += o.red_without_reason;
    }

    pub fn green_share(&self) -> Option<Share> {
        Share::of(self.green, self.votes)
    }
    pub fn yellow_share(&self) -> Option<Share> {
        Share::of(self.yellow, self.votes)
    }
    pub fn red_share(&self) -> Option<Share> {
        Share::of(self.red, self.votes)
    }
    /// Red votes without a reason, out of the red votes.
    pub fn red_without_reason_share(&self) -> Option<Share> {
        Share::of(self.red_without_reason, self.red)
    }
    /// Reason `i` (0..4) out of the red votes.
    pub fn reason_share(&self, i: usize) -> Option<Share> {
        Share::of(self.reasons.get(i).copied().unwrap_or(0), self.red)
    }
}

fn count(n: i64) -> Result<u64, ReportError> {
    u64::try_from(n).map_err(|_| ReportError::Inconsistent(format!("a negative count {n}")))
}

/// One line of a breakdown: a counter, a service or a channel.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Group {
    /// Counter id, service code or channel (`COUNTER`, `WEB`, `PHONE`).
    pub code: String,
    /// The configured name; `None` for a code the configuration does not know.
    pub name: Option<String>,
    /// Users served: tickets served; for the channels, tickets served at counters with a keypad
    /// or totem, links issued (WEB), calls answered (PHONE). `None` for a channel code this
    /// version does not know.
    pub served: Option<u64>,
    pub faces: Faces,
}

impl Group {
    pub fn participation(&self) -> Option<Share> {
        self.served.and_then(|s| Share::of(self.faces.votes, s))
    }
}

/// Waiting time of one service in one period.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Waiting {
    pub service_code: String,
    pub name: Option<String>,
    /// Declared maximum wait (minutes), `None` when the service declares none.
    pub standard_min: Option<u32>,
    /// Served tickets whose waiting time is counted.
    pub counted: u64,
    /// Served tickets left out of the figures: they span midnight or a day reset.
    pub left_out: u64,
    pub total_ms: u64,
    pub p90_ms: Option<i64>,
    /// Of `counted`, how many waited no longer than the standard (`None` without a standard).
    pub within: Option<u64>,
}

impl Waiting {
    /// Average in milliseconds, `None` when nothing is counted.
    pub fn avg_ms(&self) -> Option<f64> {
        (self.counted > 0).then(|| self.total_ms as f64 / self.counted as f64)
    }
    /// Share of counted tickets within the standard; `None` without a standard or tickets.
    pub fn within_share(&self) -> Option<Share> {
        self.within.and_then(|w| Share::of(w, self.counted))
    }
}

/// Everything about one month.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MonthFigures {
    pub month: YearMonth,
    pub served: u64,
    pub faces: Faces,
    pub by_counter: Vec<Group>,
    pub by_service: Vec<Group>,
    pub by_channel: Vec<Group>,
    pub waiting: Vec<Waiting>,
}

impl MonthFigures {
    /// Votes / served (the Ministry's definition).
    pub fn participation(&self) -> Option<Share> {
        Share::of(self.faces.votes, self.served)
    }
}

/// A month's totals only: served and votes by face (the previous month of a monthly report).
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct MonthTotals {
    pub month: YearMonth,
    pub served: u64,
    pub faces: Faces,
}

impl MonthTotals {
    /// Votes / served.
    pub fn participation(&self) -> Option<Share> {
        Share::of(self.faces.votes, self.served)
    }
}

impl MonthFigures {
    pub fn totals(&self) -> MonthTotals {
        MonthTotals {
            month: self.month,
            served: self.served,
            faces: self.faces,
        }
    }
}

/// Where a report's figures come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Via {
    /// The monthly rollups the storage writer maintains (`report_votes`, `report_tickets`,
    /// `report_waits`): a few hundred rows a month whatever the traffic.
    Rollups,
    /// The raw tables (`votes`, `tickets`), grouped in SQL: the reference implementation, and
    /// the fallback when the rollups were not built for the site's time zone.
    Raw,
}

impl Via {
    /// The rollups when they hold the local months of the report's time zone, otherwise the
    /// raw tables (`faccia_storage::rollup::usable` logs why).
    pub fn choose(conn: &mut AnyConnection, ctx: &ReportContext) -> Result<Via, ReportError> {
        Ok(if rollup::usable(conn, &ctx.site_id, ctx.time_zone)? {
            Via::Rollups
        } else {
            Via::Raw
        })
    }
}

/// The month as the rollups key it (YYYYMM).
fn month_key(month: YearMonth) -> i32 {
    rollup::key(month.year, month.month)
}

/// A month's totals with two light queries.
pub fn month_totals(
    conn: &mut AnyConnection,
    ctx: &ReportContext,
    month: YearMonth,
) -> Result<MonthTotals, ReportError> {
    let via = Via::choose(conn, ctx)?;
    month_totals_via(conn, ctx, month, via)
}

pub fn month_totals_via(
    conn: &mut AnyConnection,
    ctx: &ReportContext,
    month: YearMonth,
    via: Via,
) -> Result<MonthTotals, ReportError> {
    let site = ctx.site_id.as_str();
    let (faces_rows, served) = match via {
        Via::Rollups => {
            let key = month_key(month);
            (
                query::rollup::face_groups(conn, site, key)?,
                query::rollup::served_count(conn, site, key)?,
            )
        }
        Via::Raw => {
            let (from, to) = month.bounds(ctx.time_zone)?;
            (
                query::face_groups(conn, site, from, to)?,
                query::served_count(conn, site, from, to)?,
            )
        }
    };
    let mut faces = Faces::default();
    for g in faces_rows {
        faces.add(g.face, g.reason, g.n)?;
    }
    let offers = Offers::of_month(conn, ctx, month)?;
    Ok(MonthTotals {
        month,
        served: count(served)? + offers.unticketed_total()?,
        faces,
    })
}

/// The users the web and phone channels served in one month: links issued and calls answered
/// ([`query::offer_groups`]). A link handed out at a counter is of a ticket already served
/// there: that user counts once, under the WEB channel.
struct Offers {
    groups: Vec<query::OfferGroup>,
}

impl Offers {
    fn of_month(
        conn: &mut AnyConnection,
        ctx: &ReportContext,
        month: YearMonth,
    ) -> Result<Offers, ReportError> {
        let (from, to) = month.bounds(ctx.time_zone)?;
        Ok(Offers {
            groups: query::offer_groups(conn, &ctx.site_id, from, to)?,
        })
    }

    /// Users served through sessions without a ticket (online services, calls).
    fn unticketed_total(&self) -> Result<u64, ReportError> {
        self.groups
            .iter()
            .filter(|g| g.ticketed == 0)
            .map(|g| count(g.n))
            .sum()
    }

    /// Users each channel other than COUNTER served (links issued, calls answered).
    fn by_channel(&self) -> Result<BTreeMap<String, u64>, ReportError> {
        let mut m = BTreeMap::new();
        for g in &self.groups {
            *m.entry(g.channel.clone()).or_default() += count(g.n)?;
        }
        Ok(m)
    }

    /// Served tickets whose session went to another channel (their users count there).
    fn ticketed_total(&self) -> Result<u64, ReportError> {
        self.groups
            .iter()
            .filter(|g| g.ticketed != 0)
            .map(|g| count(g.n))
            .sum()
    }
}

/// The waiting-time figures of one service that are not plain sums: how many waited within
/// the standard, and the 90th percentile (ms, at one-second resolution).
#[derive(Debug, Default)]
struct WaitStats {
    within: BTreeMap<String, u64>,
    p90_ms: BTreeMap<String, i64>,
}

/// Within the standard and the 90th percentile from the rollups' distribution of waiting
/// times in whole seconds (rounded up). `buckets` come sorted by service, then seconds.
fn wait_stats_of_buckets(
    ctx: &ReportContext,
    buckets: &[query::rollup::WaitBucket],
) -> Result<WaitStats, ReportError> {
    let standards = ctx.standards_ms();
    let mut stats = WaitStats::default();
    let mut start = 0;
    while start < buckets.len() {
        let service = &buckets[start].service_code;
        let end = start
            + buckets[start..]
                .iter()
                .take_while(|b| &b.service_code == service)
                .count();
        let group = &buckets[start..end];
        let total: u64 = group.iter().map(|b| count(b.n)).sum::<Result<u64, _>>()?;
        // Nearest rank: the ⌈0.9·n⌉-th smallest.
        let rank = (9 * total).div_ceil(10).max(1);
        let mut seen = 0;
        for b in group {
            seen += count(b.n)?;
            if seen >= rank {
                stats.p90_ms.insert(service.clone(), b.wait_s * 1000);
                break;
            }
        }
        if let Some((_, std_ms)) = standards.iter().find(|(code, _)| code == service) {
            // Exact for a standard in whole seconds: ⌈w / 1000⌉ ≤ s ⇔ w ≤ 1000·s.
            let within = group
                .iter()
                .filter(|b| b.wait_s * 1000 <= *std_ms)
                .map(|b| count(b.n))
                .sum::<Result<u64, _>>()?;
            stats.within.insert(service.clone(), within);
        }
        start = end;
    }
    Ok(stats)
}

/// Builds one month's figures: from the rollups when they hold the site's local months (three
/// small queries), otherwise from the raw tables.
pub fn month_figures(
    conn: &mut AnyConnection,
    ctx: &ReportContext,
    month: YearMonth,
) -> Result<MonthFigures, ReportError> {
    let via = Via::choose(conn, ctx)?;
    month_figures_via(conn, ctx, month, via)
}

/// [`month_figures`] from the source given. Both give the same figures (the tests prove it).
pub fn month_figures_via(
    conn: &mut AnyConnection,
    ctx: &ReportContext,
    month: YearMonth,
    via: Via,
) -> Result<MonthFigures, ReportError> {
    let site = ctx.site_id.as_str();
    let (votes, tickets, wait_stats) = match via {
        Via::Rollups => {
            let key = month_key(month);
            let votes = query::rollup::vote_groups(conn, site, key)?;
            let tickets = query::rollup::ticket_groups(conn, site, key)?;
            let buckets = query::rollup::waits(conn, site, key)?;
            (votes, tickets, wait_stats_of_buckets(ctx, &buckets)?)
        }
        Via::Raw => {
            let (from, to) = month.bounds(ctx.time_zone)?;
            let standards = ctx.standards_ms();
            let votes = query::vote_groups(conn, site, from, to)?;
            let tickets = query::ticket_groups(conn, site, from, to, &standards)?;
            let mut stats = WaitStats::default();
            for t in &tickets {
                if standards.iter().any(|(code, _)| code == &t.service_code) {
                    *stats.within.entry(t.service_code.clone()).or_default() += count(t.within)?;
                }
            }
            for p in query::p90_groups(conn, site, from, to)? {
                // The published resolution: whole seconds, rounded up (as the rollups keep them).
                stats
                    .p90_ms
                    .insert(p.service_code, rollup::wait_bucket(p.p90_ms) * 1000);
            }
            (votes, tickets, stats)
        }
    };

    let mut total = Faces::default();
    let mut counters: BTreeMap<String, (u64, Faces)> = BTreeMap::new();
    let mut services: BTreeMap<String, (u64, Faces)> = BTreeMap::new();
    let mut channels: BTreeMap<String, Faces> = BTreeMap::new();
    let mut served_total = 0u64;
    for t in &tickets {
        let n = count(t.served)?;
        served_total += n;
        counters.entry(t.counter_id.clone()).or_default().0 += n;
        services.entry(t.service_code.clone()).or_default().0 += n;
    }
    // Served at a counter: the tickets, less those whose session is a link.
    let offers = Offers::of_month(conn, ctx, month)?;
    let counter_served = served_total.saturating_sub(offers.ticketed_total()?);
    // Online services and calls: users of their service, not of a counter.
    for g in offers.groups.iter().filter(|g| g.ticketed == 0) {
        let n = count(g.n)?;
        served_total += n;
        services.entry(g.service_code.clone()).or_default().0 += n;
    }
    let mut channel_served = offers.by_channel()?;
    for g in &votes {
        let (f, r, n) = (g.face, g.reason, g.n);
        total.add(f, r, n)?;
        if faccia_domain::session::given_at_counter(&g.channel, &g.counter_id) {
            counters
                .entry(g.counter_id.clone())
                .or_default()
                .1
                .add(f, r, n)?;
        }
        services
            .entry(g.service_code.clone())
            .or_default()
            .1
            .add(f, r, n)?;
        channels
            .entry(g.channel.clone())
            .or_default()
            .add(f, r, n)?;
    }
    // Configured counters and services appear even in a month without activity.
    for (id, _) in &ctx.counters {
        counters.entry(id.clone()).or_default();
    }
    for (code, _, _) in &ctx.services {
        services.entry(code.clone()).or_default();
    }
    let by_counter = order(
        counters
            .into_iter()
            .map(|(code, (served, faces))| Group {
                name: ctx.counter_name(&code).map(str::to_string),
                code,
                served: Some(served),
                faces,
            })
            .collect(),
        ctx.counters.iter().map(|c| c.0.as_str()),
    );
    let by_service = order(
        services
            .into_iter()
            .map(|(code, (served, faces))| Group {
                name: ctx.service_name(&code).map(str::to_string),
                code,
                served: Some(served),
                faces,
            })
            .collect(),
        ctx.services.iter().map(|s| s.0.as_str()),
    );
    let mut by_channel: Vec<Group> = Channel::ALL
        .iter()
        .map(|c| {
            let code = c.as_str();
            Group {
                code: code.to_string(),
                name: None,
                // A channel that served nobody this month (no link issued, no call answered)
                // has no figure of users served.
                served: if *c == Channel::Counter {
                    Some(counter_served)
                } else {
                    channel_served.remove(code)
                },
                faces: channels.remove(code).unwrap_or_default(),
            }
        })
        .collect();
    // A channel the code does not know yet (stored by a newer version): still counted.
    by_channel.extend(channels.into_iter().map(|(code, faces)| Group {
        served: channel_served.remove(&code),
        code,
        name: None,
        faces,
    }));

    let mut waiting: BTreeMap<String, Waiting> = BTreeMap::new();
    for (code, _, _) in &ctx.services {
        waiting.insert(code.clone(), empty_waiting(ctx, code));
    }
    for t in &tickets {
        let e = waiting
            .entry(t.service_code.clone())
            .or_insert_with(|| empty_waiting(ctx, &t.service_code));
        e.counted += count(t.counted)?;
        e.total_ms += count(t.total_ms)?;
        e.left_out += count(t.flagged)?;
    }
    for (code, within) in wait_stats.within {
        if let Some(e) = waiting.get_mut(&code) {
            if e.standard_min.is_some() {
                e.within = Some(within);
            }
        }
    }
    for (code, p90) in wait_stats.p90_ms {
        if let Some(e) = waiting.get_mut(&code) {
            e.p90_ms = Some(p90);
        }
    }
    let order_keys: Vec<&str> = ctx.services.iter().map(|s| s.0.as_str()).collect();
    let mut waiting: Vec<Waiting> = waiting.into_values().collect();
    waiting.sort_by_key(|w| rank(&order_keys, &w.service_code));

    Ok(MonthFigures {
        month,
        served: served_total,
        faces: total,
        by_counter,
        by_service,
        by_channel,
        waiting,
    })
}

fn empty_waiting(ctx: &ReportContext, code: &str) -> Waiting {
    let standard_min = ctx.standard_min(code);
    Waiting {
        service_code: code.to_string(),
        name: ctx.service_name(code).map(str::to_string),
        standard_min,
        counted: 0,
        left_out: 0,
        total_ms: 0,
        p90_ms: None,
        within: standard_min.map(|_| 0),
    }
}

/// Configured entries first, in configuration order, then unknown codes alphabetically.
fn rank(configured: &[&str], code: &str) -> (usize, String) {
    (
        configured
            .iter()
            .position(|c| *c == code)
            .unwrap_or(usize::MAX),
        code.to_string(),
    )
}

fn order<'a>(mut groups: Vec<Group>, configured: impl Iterator<Item = &'a str>) -> Vec<Group> {
    let keys: Vec<&str> = configured.collect();
    groups.sort_by_key(|g| rank(&keys, &g.code));
    groups
}

/// Difference between two shares in tenths of a percentage point (`None` if either is missing).
pub fn points_change(now: Option<Share>, before: Option<Share>) -> Option<i64> {
    match (now, before) {
        (Some(a), Some(b)) => Some(a.tenths() as i64 - b.tenths() as i64),
        _ => None,
    }
}

/// The change from the previous month.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Change {
    pub served: i64,
    pub votes: i64,
    /// In tenths of a percentage point: +12 is "+1,2 points".
    pub participation_tenths: Option<i64>,
    pub green_tenths: Option<i64>,
    pub yellow_tenths: Option<i64>,
    pub red_tenths: Option<i64>,
}

impl Change {
    pub fn between(now: &MonthTotals, before: &MonthTotals) -> Change {
        Change {
            served: now.served as i64 - before.served as i64,
            votes: now.faces.votes as i64 - before.faces.votes as i64,
            participation_tenths: points_change(now.participation(), before.participation()),
            green_tenths: points_change(now.faces.green_share(), before.faces.green_share()),
            yellow_tenths: points_change(now.faces.yellow_share(), before.faces.yellow_share()),
            red_tenths: points_change(now.faces.red_share(), before.faces.red_share()),
        }
    }
}

/// The monthly publication.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MonthlyReport {
    pub site_id: String,
    pub site_name: String,
    pub time_zone: String,
    pub current: MonthFigures,
    pub previous: MonthTotals,
    pub change: Change,
}

pub fn monthly(
    conn: &mut AnyConnection,
    ctx: &ReportContext,
    month: YearMonth,
) -> Result<MonthlyReport, ReportError> {
    let via = Via::choose(conn, ctx)?;
    monthly_via(conn, ctx, month, via)
}

/// [`monthly`] from the source given.
pub fn monthly_via(
    conn: &mut AnyConnection,
    ctx: &ReportContext,
    month: YearMonth,
    via: Via,
) -> Result<MonthlyReport, ReportError> {
    let current = month_figures_via(conn, ctx, month, via)?;
    let previous = month_totals_via(conn, ctx, month.previous(), via)?;
    let change = Change::between(&current.totals(), &previous);
    Ok(MonthlyReport {
        site_id: ctx.site_id.clone(),
        site_name: ctx.site_name.clone(),
        time_zone: ctx.time_zone.name().to_string(),
        current,
        previous,
        change,
    })
}

/// One service's declared standard over a year.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StandardReview {
    pub service_code: String,
    pub name: Option<String>,
    pub standard_min: u32,
    /// (counted, within) per month, January first.
    pub months: Vec<(u64, u64)>,
    pub counted: u64,
    pub within: u64,
    /// Met when the year's share within the standard reaches the target.
    pub met: Option<bool>,
}

impl StandardReview {
    pub fn month_share(&self, i: usize) -> Option<Share> {
        self.months.get(i).and_then(|(c, w)| Share::of(*w, *c))
    }
    pub fn year_share(&self) -> Option<Share> {
        Share::of(self.within, self.counted)
    }
}

/// The annual review: twelve months side by side and the declared standards.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AnnualReport {
    pub site_id: String,
    pub site_name: String,
    pub time_zone: String,
    pub year: i32,
    pub months: Vec<MonthFigures>,
    pub served: u64,
    pub faces: Faces,
    pub target_tenths: u64,
    pub standards: Vec<StandardReview>,
}

impl AnnualReport {
    pub fn participation(&self) -> Option<Share> {
        Share::of(self.faces.votes, self.served)
    }
}

pub fn annual(
    conn: &mut AnyConnection,
    ctx: &ReportContext,
    year: i32,
) -> Result<AnnualReport, ReportError> {
    let via = Via::choose(conn, ctx)?;
    let mut months = Vec::with_capacity(12);
    for m in 1..=12 {
        months.push(month_figures_via(conn, ctx, YearMonth::new(year, m)?, via)?);
    }
    let mut faces = Faces::default();
    let mut served = 0;
    for m in &months {
        faces.merge(&m.faces);
        served += m.served;
    }
    let mut standards = Vec::new();
    for (code, name, std_min) in &ctx.services {
        let Some(std_min) = std_min else { continue };
        let per_month: Vec<(u64, u64)> = months
            .iter()
            .map(|m| {
                m.waiting
                    .iter()
                    .find(|w| &w.service_code == code)
                    .map(|w| (w.counted, w.within.unwrap_or(0)))
                    .unwrap_or((0, 0))
            })
            .collect();
        let counted = per_month.iter().map(|p| p.0).sum();
        let within = per_month.iter().map(|p| p.1).sum();
        let met = Share::of(within, counted).map(|s| s.tenths() >= ctx.target_tenths);
        standards.push(StandardReview {
            service_code: code.clone(),
            name: Some(name.clone()),
            standard_min: *std_min,
            months: per_month,
            counted,
            within,
            met,
        });
    }
    Ok(AnnualReport {
        site_id: ctx.site_id.clone(),
        site_name: ctx.site_name.clone(),
        time_zone: ctx.time_zone.name().to_string(),
        year,
        months,
        served,
        faces,
        target_tenths: ctx.target_tenths,
        standards,
    })
}

/// One row of the Ministry export: a month, the office, a channel and a service.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ExportRow {
    pub month: YearMonth,
    /// The office's site id.
    pub office: String,
    /// The office's name (configured, or as the `sites` table has it).
    pub office_name: String,
    pub channel: String,
    pub service: String,
    /// Users served: tickets served at counters (less those given a link), links issued,
    /// calls answered; `None` for a channel this version does not know the users of.
    pub served: Option<u64>,
    pub faces: Faces,
}

/// Aggregated counts for the Ministry, month by month from `from` to `to` included.
/// No personal data, no operator data, no ticket ids: only counts.
pub fn ministry_export(
    conn: &mut AnyConnection,
    ctx: &ReportContext,
    from: YearMonth,
    to: YearMonth,
) -> Result<Vec<ExportRow>, ReportError> {
    let via = Via::choose(conn, ctx)?;
    ministry_export_via(conn, ctx, from, to, via)
}

/// [`ministry_export`] from the source given.
pub fn ministry_export_via(
    conn: &mut AnyConnection,
    ctx: &ReportContext,
    from: YearMonth,
    to: YearMonth,
    via: Via,
) -> Result<Vec<ExportRow>, ReportError> {
    let site = ctx.site_id.as_str();
    let mut rows = Vec::new();
    for month in YearMonth::range(from, to)? {
        let (served, votes) = match via {
            Via::Rollups => {
                let key = month_key(month);
                (
                    query::rollup::served_groups(conn, site, key)?,
                    query::rollup::vote_groups(conn, site, key)?,
                )
            }
            Via::Raw => {
                let (start, end) = month.bounds(ctx.time_zone)?;
                (
                    query::served_groups(conn, site, start, end)?,
                    query::vote_groups(conn, site, start, end)?,
                )
            }
        };
        let mut cells: BTreeMap<(String, String), (Option<u64>, Faces)> = BTreeMap::new();
        for g in served {
            let cell = cells
                .entry((
                    Channel::Counter.as_str().to_string(),
                    g.service_code.clone(),
                ))
                .or_default();
            cell.0 = Some(cell.0.unwrap_or(0) + count(g.n)?);
        }
        // Links and calls: the users of those channels; a link of a ticket moves that user
        // from the counter's row to the web's.
        for g in Offers::of_month(conn, ctx, month)?.groups {
            let n = count(g.n)?;
            if g.ticketed != 0 {
                let cell = cells
                    .entry((
                        Channel::Counter.as_str().to_string(),
                        g.service_code.clone(),
                    ))
                    .or_default();
                cell.0 = Some(cell.0.unwrap_or(0).saturating_sub(n));
            }
            let cell = cells
                .entry((g.channel.clone(), g.service_code.clone()))
                .or_default();
            cell.0 = Some(cell.0.unwrap_or(0) + n);
        }
        for g in votes {
            let cell = cells
                .entry((g.channel.clone(), g.service_code.clone()))
                .or_default();
            if g.channel == Channel::Counter.as_str() && cell.0.is_none() {
                cell.0 = Some(0);
            }
            cell.1.add(g.face, g.reason, g.n)?;
        }
        for ((channel, service), (served, faces)) in cells {
            rows.push(ExportRow {
                month,
                office: ctx.site_id.clone(),
                office_name: ctx.site_name.clone(),
                channel,
                service,
                served,
                faces,
            });
        }
    }
    Ok(rows)
}

// ---------------------------------------------------------------------------------------------
// The whole body: several offices (sites) of one public body on one database.

/// The offices of a report of the body: at least one, each site once.
fn check_offices(ctxs: &[ReportContext]) -> Result<(), ReportError> {
    if ctxs.is_empty() {
        return Err(ReportError::Sites(
            "a report of the body needs at least one office".into(),
        ));
    }
    for (i, c) in ctxs.iter().enumerate() {
        if ctxs[..i].iter().any(|o| o.site_id == c.site_id) {
            return Err(ReportError::Sites(format!(
                "the site {:?} is asked for twice",
                c.site_id
            )));
        }
    }
    Ok(())
}

/// The sum of the offices' totals of one month.
fn sum_totals<'a>(month: YearMonth, parts: impl Iterator<Item = &'a MonthTotals>) -> MonthTotals {
    let mut t = MonthTotals {
        month,
        served: 0,
        faces: Faces::default(),
    };
    for p in parts {
        t.served += p.served;
        t.faces.merge(&p.faces);
    }
    t
}

/// The channels of several offices added up (channel codes are the same everywhere): the
/// known channels in their order, then any other code in the order first seen.
fn sum_channels<'a>(parts: impl Iterator<Item = &'a [Group]>) -> Vec<Group> {
    let mut out: Vec<Group> = Vec::new();
    for groups in parts {
        for g in groups {
            match out.iter_mut().find(|o| o.code == g.code) {
                Some(o) => {
                    o.served = match (o.served, g.served) {
                        (None, None) => None,
                        (a, b) => Some(a.unwrap_or(0) + b.unwrap_or(0)),
                    };
                    o.faces.merge(&g.faces);
                }
                None => out.push(Group {
                    code: g.code.clone(),
                    name: None,
                    served: g.served,
                    faces: g.faces,
                }),
            }
        }
    }
    out
}

/// The monthly publication of the body: every office's own monthly report (its month in its
/// own time zone, its counters and services) and the body's totals, their sums.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BodyMonthlyReport {
    pub month: YearMonth,
    /// One per office, in the order asked.
    pub offices: Vec<MonthlyReport>,
    /// The body: served and votes (faces, reasons) summed over the offices.
    pub totals: MonthTotals,
    /// The channels summed over the offices (`served` only for `COUNTER`).
    pub by_channel: Vec<Group>,
    /// The previous month of the body, summed likewise.
    pub previous: MonthTotals,
    pub change: Change,
}

impl BodyMonthlyReport {
    /// Do the offices count their months in different time zones?
    pub fn time_zones_differ(&self) -> bool {
        self.offices
            .windows(2)
            .any(|w| w[0].time_zone != w[1].time_zone)
    }
}

/// The monthly publication of the offices `ctxs` (each from its rollups when they hold its
/// local months, otherwise from its raw rows).
pub fn monthly_body(
    conn: &mut AnyConnection,
    ctxs: &[ReportContext],
    month: YearMonth,
) -> Result<BodyMonthlyReport, ReportError> {
    check_offices(ctxs)?;
    let mut offices = Vec::with_capacity(ctxs.len());
    for ctx in ctxs {
        offices.push(monthly(conn, ctx, month)?);
    }
    Ok(body_of_monthly(month, offices))
}

/// [`monthly_body`] with every office read from the source given.
pub fn monthly_body_via(
    conn: &mut AnyConnection,
    ctxs: &[ReportContext],
    month: YearMonth,
    via: Via,
) -> Result<BodyMonthlyReport, ReportError> {
    check_offices(ctxs)?;
    let mut offices = Vec::with_capacity(ctxs.len());
    for ctx in ctxs {
        offices.push(monthly_via(conn, ctx, month, via)?);
    }
    Ok(body_of_monthly(month, offices))
}

/// The body's figures: the sums of its offices' reports.
pub fn body_of_monthly(month: YearMonth, offices: Vec<MonthlyReport>) -> BodyMonthlyReport {
    let current: Vec<MonthTotals> = offices.iter().map(|o| o.current.totals()).collect();
    let totals = sum_totals(month, current.iter());
    let previous = sum_totals(month.previous(), offices.iter().map(|o| &o.previous));
    let by_channel = sum_channels(offices.iter().map(|o| o.current.by_channel.as_slice()));
    let change = Change::between(&totals, &previous);
    BodyMonthlyReport {
        month,
        offices,
        totals,
        by_channel,
        previous,
        change,
    }
}

/// The annual review of the body: every office's own review (its standards, its months) and
/// the body's months and year, their sums.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BodyAnnualReport {
    pub year: i32,
    /// One per office, in the order asked.
    pub offices: Vec<AnnualReport>,
    /// The body's twelve months, January first.
    pub months: Vec<MonthTotals>,
    pub served: u64,
    pub faces: Faces,
}

impl BodyAnnualReport {
    pub fn participation(&self) -> Option<Share> {
        Share::of(self.faces.votes, self.served)
    }

    /// Do the offices count their months in different time zones?
    pub fn time_zones_differ(&self) -> bool {
        self.offices
            .windows(2)
            .any(|w| w[0].time_zone != w[1].time_zone)
    }
}

/// The annual review of the offices `ctxs`.
pub fn annual_body(
    conn: &mut AnyConnection,
    ctxs: &[ReportContext],
    year: i32,
) -> Result<BodyAnnualReport, ReportError> {
    check_offices(ctxs)?;
    let mut offices = Vec::with_capacity(ctxs.len());
    for ctx in ctxs {
        offices.push(annual(conn, ctx, year)?);
    }
    body_of_annual(year, offices)
}

/// The body's year: the sums of its offices' reviews.
pub fn body_of_annual(
    year: i32,
    offices: Vec<AnnualReport>,
) -> Result<BodyAnnualReport, ReportError> {
    let mut months = Vec::with_capacity(12);
    for m in 1..=12u32 {
        let i = (m - 1) as usize;
        let parts: Vec<MonthTotals> = offices
            .iter()
            .filter_map(|o| o.months.get(i).map(MonthFigures::totals))
            .collect();
        months.push(sum_totals(YearMonth::new(year, m)?, parts.iter()));
    }
    let mut faces = Faces::default();
    let mut served = 0;
    for o in &offices {
        faces.merge(&o.faces);
        served += o.served;
    }
    Ok(BodyAnnualReport {
        year,
        offices,
        months,
        served,
        faces,
    })
}

/// The Ministry export of the offices `ctxs`: one row per month, office, channel and service,
/// months first, then the offices in the order asked.
pub fn ministry_export_body(
    conn: &mut AnyConnection,
    ctxs: &[ReportContext],
    from: YearMonth,
    to: YearMonth,
) -> Result<Vec<ExportRow>, ReportError> {
    check_offices(ctxs)?;
    let mut parts = Vec::with_capacity(ctxs.len());
    for ctx in ctxs {
        parts.push(ministry_export(conn, ctx, from, to)?);
    }
    Ok(interleave_by_month(parts))
}

/// [`ministry_export_body`] with every office read from the source given.
pub fn ministry_export_body_via(
    conn: &mut AnyConnection,
    ctxs: &[ReportContext],
    from: YearMonth,
    to: YearMonth,
    via: Via,
) -> Result<Vec<ExportRow>, ReportError> {
    check_offices(ctxs)?;
    let mut parts = Vec::with_capacity(ctxs.len());
    for ctx in ctxs {
        parts.push(ministry_export_via(conn, ctx, from, to, via)?);
    }
    Ok(interleave_by_month(parts))
}

/// The offices' rows, month by month, each month's offices in order.
fn interleave_by_month(parts: Vec<Vec<ExportRow>>) -> Vec<ExportRow> {
    let mut rows: Vec<(usize, ExportRow)> = parts
        .into_iter()
        .enumerate()
        .flat_map(|(i, rows)| rows.into_iter().map(move |r| (i, r)))
        .collect();
    // Stable: within an office and month the channel and service order stays.
    rows.sort_by_key(|(i, r)| (r.month, *i));
    rows.into_iter().map(|(_, r)| r).collect()
}
