//! The aggregate queries. The same SQL runs on SQLite and PostgreSQL: it is written with `?`
//! placeholders, renumbered to `$1, $2, …` for PostgreSQL.
//!
//! * [`rollup`]: what reports read, the monthly rollups the storage writer maintains
//!   (`report_votes`, `report_tickets`, `report_waits`; see `faccia_storage::rollup`): a
//!   month's rows are already counted, so a report reads a few hundred small rows whatever the
//!   month's traffic.
//! * The functions at the top level are the **reference implementation** over the raw tables
//!   (`votes`, `tickets`): everything is counted and summed in SQL (`GROUP BY` with
//!   `COUNT`/`SUM`), only grouped rows come back. Reports fall back to them when the rollups
//!   were not built for the site's time zone, and the tests prove both give the same figures.
//!
//! Every query is about **one site** (`site_id`, the first bound parameter): the rows of the
//! other offices sharing the database are never counted. Nothing here reads `operator_ref`,
//! ticket ids or display numbers.

use diesel::pg::Pg;
use diesel::prelude::*;
use diesel::query_builder::BoxedSqlQuery;
use diesel::sql_types::{BigInt, Integer, Nullable, Text};
use diesel::sqlite::Sqlite;
use faccia_domain::Millis;
use faccia_storage::AnyConnection;

/// A bound parameter.
#[derive(Debug, Clone)]
pub(crate) enum Arg {
    Int(i64),
    Text(String),
}

/// `?` → `$n` for PostgreSQL (our SQL has no `?` inside literals).
pub(crate) fn pg_placeholders(sql: &str) -> String {
    let mut out = String::with_capacity(sql.len() + 16);
    let mut n = 0;
    for ch in sql.chars() {
        if ch == '?' {
            n += 1;
            out.push('$');
            out.push_str(&n.to_string());
        } else {
            out.push(ch);
        }
    }
    out
}

fn bind_all<'f, DB>(
    mut q: BoxedSqlQuery<'f, DB, diesel::query_builder::SqlQuery>,
    args: &[Arg],
) -> BoxedSqlQuery<'f, DB, diesel::query_builder::SqlQuery>
where
    DB: diesel::backend::Backend
        + diesel::sql_types::HasSqlType<BigInt>
        + diesel::sql_types::HasSqlType<Text>,
    i64: diesel::serialize::ToSql<BigInt, DB>,
    String: diesel::serialize::ToSql<Text, DB>,
{
    for a in args {
        q = match a {
            Arg::Int(v) => q.bind::<BigInt, _>(*v),
            Arg::Text(s) => q.bind::<Text, _>(s.clone()),
        };
    }
    q
}

/// Runs one read-only query on whichever backend the connection is.
pub(crate) fn load<R>(conn: &mut AnyConnection, sql: &str, args: &[Arg]) -> QueryResult<Vec<R>>
where
    R: QueryableByName<Sqlite> + QueryableByName<Pg> + 'static,
{
    match conn {
        AnyConnection::Sqlite(c) => {
            bind_all(diesel::sql_query(sql).into_boxed::<Sqlite>(), args).load::<R>(c)
        }
        AnyConnection::Postgresql(c) => bind_all(
            diesel::sql_query(pg_placeholders(sql)).into_boxed::<Pg>(),
            args,
        )
        .load::<R>(c),
    }
}

/// Votes of a period counted by counter, service, channel, face and reason.
#[derive(Debug, Clone, PartialEq, Eq, QueryableByName)]
pub struct VoteGroup {
    #[diesel(sql_type = Text)]
    pub counter_id: String,
    #[diesel(sql_type = Text)]
    pub service_code: String,
    #[diesel(sql_type = Text)]
    pub channel: String,
    #[diesel(sql_type = Integer)]
    pub face: i32,
    #[diesel(sql_type = Nullable<Integer>)]
    pub reason: Option<i32>,
    #[diesel(sql_type = BigInt)]
    pub n: i64,
}

pub fn vote_groups(
    conn: &mut AnyConnection,
    site: &str,
    from: Millis,
    to: Millis,
) -> QueryResult<Vec<VoteGroup>> {
    load(
        conn,
        "SELECT counter_id, service_code, channel, face, reason, COUNT(*) AS n \
         FROM votes WHERE site_id = ? AND voted_at >= ? AND voted_at < ? \
         GROUP BY counter_id, service_code, channel, face, reason",
        &[site_arg(site), Arg::Int(from), Arg::Int(to)],
    )
}

/// Served tickets of a period (by `served_at`) counted by counter and service.
#[derive(Debug, Clone, PartialEq, Eq, QueryableByName)]
pub struct ServedGroup {
    #[diesel(sql_type = Text)]
    pub counter_id: String,
    #[diesel(sql_type = Text)]
    pub service_code: String,
    #[diesel(sql_type = BigInt)]
    pub n: i64,
}

pub fn served_groups(
    conn: &mut AnyConnection,
    site: &str,
    from: Millis,
    to: Millis,
) -> QueryResult<Vec<ServedGroup>> {
    load(
        conn,
        &format!(
            "SELECT counter_id, service_code, COUNT(*) AS n FROM tickets WHERE {SERVED} \
             GROUP BY counter_id, service_code"
        ),
        &[site_arg(site), Arg::Int(from), Arg::Int(to)],
    )
}

/// Served tickets of a period, by counter and service, with their waiting-time sums: one pass.
#[derive(Debug, Clone, PartialEq, Eq, QueryableByName)]
pub struct TicketGroup {
    #[diesel(sql_type = Text)]
    pub counter_id: String,
    #[diesel(sql_type = Text)]
    pub service_code: String,
    #[diesel(sql_type = BigInt)]
    pub served: i64,
    /// Tickets with a waiting time that are not flagged: the ones averaged.
    #[diesel(sql_type = BigInt)]
    pub counted: i64,
    #[diesel(sql_type = BigInt)]
    pub total_ms: i64,
    /// Tickets left out: they span midnight or a day reset.
    #[diesel(sql_type = BigInt)]
    pub flagged: i64,
    /// Of `counted`, waited no longer than the service's standard (0 without a standard).
    #[diesel(sql_type = BigInt)]
    pub within: i64,
}

/// The condition for a ticket whose waiting time counts.
const CLEAN: &str = "waiting_ms IS NOT NULL AND NOT spans_midnight AND NOT reset";

/// The served tickets of one site in a period: binds the site, then [from, to).
const SERVED: &str = "site_id = ? AND state = 'SERVED' AND served_at >= ? AND served_at < ?";

/// Web and phone sessions of a period (by `served_at`: when the service ended) counted by
/// channel, counter and service: the links issued and the calls answered, the users those
/// channels served. `ticketed` says whether the session is of a ticket served at a counter (a
/// link handed out at the counter: that user is already among the served tickets).
#[derive(Debug, Clone, PartialEq, Eq, QueryableByName)]
pub struct OfferGroup {
    #[diesel(sql_type = Text)]
    pub channel: String,
    #[diesel(sql_type = Text)]
    pub counter_id: String,
    #[diesel(sql_type = Text)]
    pub service_code: String,
    #[diesel(sql_type = Integer)]
    pub ticketed: i32,
    #[diesel(sql_type = BigInt)]
    pub n: i64,
}

/// The sessions of channels other than COUNTER. Read from `vote_sessions` for closed months too:
/// they are one row per link or call, few beside the tickets, and the index
/// `vote_sessions_channel` serves the range.
pub fn offer_groups(
    conn: &mut AnyConnection,
    site: &str,
    from: Millis,
    to: Millis,
) -> QueryResult<Vec<OfferGroup>> {
    load(
        conn,
        "SELECT s.channel, s.counter_id, s.service_code, \
                CASE WHEN EXISTS (SELECT 1 FROM tickets t WHERE t.site_id = s.site_id \
                     AND t.source_id = s.source_id AND t.ticket_id = s.ticket_id) \
                THEN 1 ELSE 0 END AS ticketed, COUNT(*) AS n \
         FROM vote_sessions s WHERE s.site_id = ? AND s.channel <> 'COUNTER' \
         AND s.served_at >= ? AND s.served_at < ? \
         GROUP BY s.channel, s.counter_id, s.service_code, ticketed",
        &[site_arg(site), Arg::Int(from), Arg::Int(to)],
    )
}

fn site_arg(site: &str) -> Arg {
    Arg::Text(site.to_string())
}

/// `standards`: (service code, standard in ms) of the services that declare one.
pub fn ticket_groups(
    conn: &mut AnyConnection,
    site: &str,
    from: Millis,
    to: Millis,
    standards: &[(String, i64)],
) -> QueryResult<Vec<TicketGroup>> {
    let mut args = Vec::new();
    let limit = if standards.is_empty() {
        "NULL".to_string()
    } else {
        let mut s = String::from("CASE service_code");
        for (code, ms) in standards {
            s.push_str(" WHEN ? THEN ?");
            args.push(Arg::Text(code.clone()));
            args.push(Arg::Int(*ms));
        }
        s.push_str(" ELSE NULL END");
        s
    };
    args.push(site_arg(site));
    args.push(Arg::Int(from));
    args.push(Arg::Int(to));
    let sql = format!(
        "SELECT counter_id, service_code, COUNT(*) AS served, \
           CAST(COALESCE(SUM(CASE WHEN {CLEAN} THEN 1 ELSE 0 END), 0) AS BIGINT) AS counted, \
           CAST(COALESCE(SUM(CASE WHEN {CLEAN} THEN waiting_ms ELSE 0 END), 0) AS BIGINT) AS total_ms, \
           CAST(COALESCE(SUM(CASE WHEN spans_midnight OR reset THEN 1 ELSE 0 END), 0) AS BIGINT) AS flagged, \
           CAST(COALESCE(SUM(CASE WHEN {CLEAN} AND waiting_ms <= ({limit}) THEN 1 ELSE 0 END), 0) AS BIGINT) AS within \
         FROM tickets WHERE {SERVED} \
         GROUP BY counter_id, service_code"
    );
    load(conn, &sql, &args)
}

/// Votes of a period by face and reason only (the previous month's totals).
#[derive(Debug, Clone, PartialEq, Eq, QueryableByName)]
pub struct FaceGroup {
    #[diesel(sql_type = Integer)]
    pub face: i32,
    #[diesel(sql_type = Nullable<Integer>)]
    pub reason: Option<i32>,
    #[diesel(sql_type = BigInt)]
    pub n: i64,
}

pub fn face_groups(
    conn: &mut AnyConnection,
    site: &str,
    from: Millis,
    to: Millis,
) -> QueryResult<Vec<FaceGroup>> {
    load(
        conn,
        "SELECT face, reason, COUNT(*) AS n FROM votes \
         WHERE site_id = ? AND voted_at >= ? AND voted_at < ? GROUP BY face, reason",
        &[site_arg(site), Arg::Int(from), Arg::Int(to)],
    )
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, QueryableByName)]
pub struct Count {
    #[diesel(sql_type = BigInt)]
    pub n: i64,
}

/// Served tickets of a period.
pub fn served_count(
    conn: &mut AnyConnection,
    site: &str,
    from: Millis,
    to: Millis,
) -> QueryResult<i64> {
    let rows: Vec<Count> = load(
        conn,
        &format!("SELECT COUNT(*) AS n FROM tickets WHERE {SERVED}"),
        &[site_arg(site), Arg::Int(from), Arg::Int(to)],
    )?;
    Ok(rows.first().map(|c| c.n).unwrap_or(0))
}

/// The 90th percentile (nearest rank: the ⌈0.9·n⌉-th smallest) of the counted waiting times,
/// per service, computed in SQL with a window function.
#[derive(Debug, Clone, PartialEq, Eq, QueryableByName)]
pub struct P90 {
    #[diesel(sql_type = Text)]
    pub service_code: String,
    #[diesel(sql_type = BigInt)]
    pub p90_ms: i64,
}

pub fn p90_groups(
    conn: &mut AnyConnection,
    site: &str,
    from: Millis,
    to: Millis,
) -> QueryResult<Vec<P90>> {
    match conn {
        // PostgreSQL: an ordered-set aggregate; percentile_disc(0.9) is the nearest rank.
        AnyConnection::Postgresql(_) => load(
            conn,
            &format!(
                "SELECT service_code, \
                   CAST(percentile_disc(0.9) WITHIN GROUP (ORDER BY waiting_ms) AS BIGINT) AS p90_ms \
                 FROM tickets WHERE {SERVED} AND {CLEAN} GROUP BY service_code"
            ),
            &[site_arg(site), Arg::Int(from), Arg::Int(to)],
        ),
        // SQLite: its window functions sort slowly; reading the month's counted waiting times
        // (one small row each) and selecting in Rust is several times faster.
        AnyConnection::Sqlite(_) => p90_loaded(conn, site, from, to),
    }
}

/// The same with a window function (SQLite has no percentile aggregate).
pub fn p90_window(
    conn: &mut AnyConnection,
    site: &str,
    from: Millis,
    to: Millis,
) -> QueryResult<Vec<P90>> {
    let sql = format!(
        "WITH w AS (SELECT service_code, waiting_ms, \
             ROW_NUMBER() OVER (PARTITION BY service_code ORDER BY waiting_ms) AS rn, \
             COUNT(*) OVER (PARTITION BY service_code) AS n \
           FROM tickets WHERE {SERVED} AND {CLEAN}) \
         SELECT service_code, CAST(waiting_ms AS BIGINT) AS p90_ms FROM w WHERE rn = (9 * n + 9) / 10"
    );
    load(conn, &sql, &[site_arg(site), Arg::Int(from), Arg::Int(to)])
}

#[derive(Debug, Clone, PartialEq, Eq, QueryableByName)]
struct Wait {
    #[diesel(sql_type = Text)]
    service_code: String,
    #[diesel(sql_type = BigInt)]
    waiting_ms: i64,
}

/// The same by reading the counted waiting times (one small row each) and selecting in Rust.
pub fn p90_loaded(
    conn: &mut AnyConnection,
    site: &str,
    from: Millis,
    to: Millis,
) -> QueryResult<Vec<P90>> {
    let rows: Vec<Wait> = load(
        conn,
        &format!(
            "SELECT service_code, CAST(waiting_ms AS BIGINT) AS waiting_ms FROM tickets \
             WHERE {SERVED} AND {CLEAN}"
        ),
        &[site_arg(site), Arg::Int(from), Arg::Int(to)],
    )?;
    let mut by: std::collections::BTreeMap<String, Vec<i64>> = Default::default();
    for r in rows {
        by.entry(r.service_code).or_default().push(r.waiting_ms);
    }
    Ok(by
        .into_iter()
        .filter_map(|(service_code, mut v)| {
            if v.is_empty() {
                return None;
            }
            let k = (9 * v.len()).div_ceil(10).max(1) - 1;
            let (_, p, _) = v.select_nth_unstable(k);
            Some(P90 {
                service_code,
                p90_ms: *p,
            })
        })
        .collect())
}

/// The same figures from the monthly rollups. `month` is the local month as YYYYMM
/// (`faccia_storage::rollup::month_key`).
pub mod rollup {
    use super::{load, site_arg, Arg, Count, FaceGroup, ServedGroup, TicketGroup, VoteGroup};
    use diesel::prelude::*;
    use diesel::sql_types::{BigInt, Text};
    use faccia_storage::AnyConnection;

    /// The month's votes by counter, service, channel, face and reason.
    pub fn vote_groups(
        conn: &mut AnyConnection,
        site: &str,
        month: i32,
    ) -> QueryResult<Vec<VoteGroup>> {
        load(
            conn,
            "SELECT counter_id, service_code, channel, face, NULLIF(reason, 0) AS reason, n \
             FROM report_votes WHERE site_id = ? AND month = ?",
            &[site_arg(site), Arg::Int(i64::from(month))],
        )
    }

    /// The month's served tickets by counter and service, with the waiting sums (`within` is
    /// 0: it comes from [`waits`]).
    pub fn ticket_groups(
        conn: &mut AnyConnection,
        site: &str,
        month: i32,
    ) -> QueryResult<Vec<TicketGroup>> {
        load(
            conn,
            "SELECT counter_id, service_code, served, counted, total_ms, flagged, \
               CAST(0 AS BIGINT) AS within \
             FROM report_tickets WHERE site_id = ? AND month = ?",
            &[site_arg(site), Arg::Int(i64::from(month))],
        )
    }

    /// One bucket of the month's distribution of counted waiting times.
    #[derive(Debug, Clone, PartialEq, Eq, QueryableByName)]
    pub struct WaitBucket {
        #[diesel(sql_type = Text)]
        pub service_code: String,
        /// Whole seconds, rounded up.
        #[diesel(sql_type = BigInt)]
        pub wait_s: i64,
        #[diesel(sql_type = BigInt)]
        pub n: i64,
    }

    /// The month's counted waiting times per service, shortest first.
    pub fn waits(conn: &mut AnyConnection, site: &str, month: i32) -> QueryResult<Vec<WaitBucket>> {
        load(
            conn,
            "SELECT service_code, wait_s, n FROM report_waits WHERE site_id = ? AND month = ? \
             ORDER BY service_code, wait_s",
            &[site_arg(site), Arg::Int(i64::from(month))],
        )
    }

    /// The month's votes by face and reason only.
    pub fn face_groups(
        conn: &mut AnyConnection,
        site: &str,
        month: i32,
    ) -> QueryResult<Vec<FaceGroup>> {
        load(
            conn,
            "SELECT face, NULLIF(reason, 0) AS reason, CAST(SUM(n) AS BIGINT) AS n \
             FROM report_votes WHERE site_id = ? AND month = ? GROUP BY face, reason",
            &[site_arg(site), Arg::Int(i64::from(month))],
        )
    }

    /// The month's served tickets by counter and service.
    pub fn served_groups(
        conn: &mut AnyConnection,
        site: &str,
        month: i32,
    ) -> QueryResult<Vec<ServedGroup>> {
        load(
            conn,
            "SELECT counter_id, service_code, served AS n FROM report_tickets WHERE site_id = ? AND month = ?",
            &[site_arg(site), Arg::Int(i64::from(month))],
        )
    }

    /// The month's served tickets.
    pub fn served_count(conn: &mut AnyConnection, site: &str, month: i32) -> QueryResult<i64> {
        let rows: Vec<Count> = load(
            conn,
            "SELECT CAST(COALESCE(SUM(served), 0) AS BIGINT) AS n FROM report_tickets \
             WHERE site_id = ? AND month = ?",
            &[site_arg(site), Arg::Int(i64::from(month))],
        )?;
        Ok(rows.first().map(|c| c.n).unwrap_or(0))
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn placeholders_are_numbered() {
        assert_eq!(
            super::pg_placeholders("a = ? AND b < ?"),
            "a = $1 AND b < $2"
        );
    }
}
