//! What a batch reads and the rows it holds (see [`crate::batch`]) on PostgreSQL: one statement
//! reads the three tables, one writes the four, whatever the number of rows (a round trip
//! each), and each is one SQL text kept prepared.
//!
//! The read returns each table's rows as one JSON array (`json_agg`, in the key's order for the
//! steps): three results of different shapes in one row.
//!
//! Each column goes as an array (`$n::type[]`), the rows are `unnest` of the arrays, and each
//! table's insert is a data-modifying `WITH` of the one statement. `ticket_steps` and `event_log`
//! take their rows in the order held (their serial ids and sequence numbers follow it:
//! `WITH ORDINALITY ... ORDER BY`); `tickets` is an upsert of rows of distinct keys.

use std::sync::OnceLock;

use diesel::pg::{Pg, PgConnection};
use diesel::query_builder::{BoxedSqlQuery, SqlQuery};
use diesel::sql_types::{Array, BigInt, Bool, Integer, Nullable, Text};

use diesel::{QueryableByName, RunQueryDsl};

use crate::conn::Cached;
use crate::models::{NewLog, NewStep, ReceivedRow, TicketRow};
use crate::StoreError;

type Boxed = BoxedSqlQuery<'static, Pg, SqlQuery>;

/// One table's columns, each with its SQL type, its cast and the field it comes from, in one
/// place: `COLUMNS` for the statement's text, `bind` for its arrays, in the same order.
macro_rules! columns {
    ($name:ident, $row:ty, [$($col:ident: $st:ty = $pg:literal),+ $(,)?]) => {
        mod $name {
            use super::*;
            pub(super) const COLUMNS: &[(&str, &str)] = &[$((stringify!($col), $pg)),+];
            /// Binds the rows' columns, each as an array; the rows are emptied (taken, not
            /// copied: they are written once).
            pub(super) fn bind(mut q: Boxed, rows: &mut [$row]) -> Boxed {
                $(
                    q = q.bind::<Array<$st>, _>(
                        rows.iter_mut()
                            .map(|r| std::mem::take(&mut r.$col))
                            .collect::<Vec<_>>(),
                    );
                )+
                q
            }
        }
    };
}

columns!(steps, NewStep, [
    site_id: Text = "text",
    source_id: Text = "text",
    ticket_id: Text = "text",
    event_id: Text = "text",
    occurred_at: BigInt = "int8",
    kind: Integer = "int4",
    counter_id: Text = "text",
    service_code: Text = "text",
    transfer_to_service: Text = "text",
    display_number: Text = "text",
    operator_ref: Nullable<Text> = "text",
]);

columns!(tickets, TicketRow, [
    site_id: Text = "text",
    source_id: Text = "text",
    ticket_id: Text = "text",
    display_number: Text = "text",
    service_code: Text = "text",
    state: Text = "text",
    counter_id: Text = "text",
    first_at: BigInt = "int8",
    issued_at: Nullable<BigInt> = "int8",
    first_called_at: Nullable<BigInt> = "int8",
    last_called_at: Nullable<BigInt> = "int8",
    service_started_at: Nullable<BigInt> = "int8",
    served_at: Nullable<BigInt> = "int8",
    ended_at: Nullable<BigInt> = "int8",
    recalls: Integer = "int4",
    transfers: Integer = "int4",
    reset: Bool = "bool",
    spans_midnight: Bool = "bool",
    waiting_ms: Nullable<BigInt> = "int8",
    service_ms: Nullable<BigInt> = "int8",
    last_at: BigInt = "int8",
    operator_ref: Nullable<Text> = "text",
]);

columns!(received, ReceivedRow, [
    site_id: Text = "text",
    source_id: Text = "text",
    event_id: Text = "text",
    fingerprint: Text = "text",
    kind: Integer = "int4",
    ticket_id: Text = "text",
    occurred_at: BigInt = "int8",
    status: Integer = "int4",
    session_id: Nullable<Text> = "text",
    detail: Text = "text",
    received_at: BigInt = "int8",
]);

columns!(logs, NewLog, [
    site_id: Text = "text",
    at: BigInt = "int8",
    kind: Integer = "int4",
    source_id: Text = "text",
    counter_id: Text = "text",
    service_code: Text = "text",
    ticket_id: Text = "text",
    display_number: Text = "text",
    ticket_event: Integer = "int4",
    session_id: Text = "text",
    outcome: Integer = "int4",
    detail: Text = "text",
    reason: Integer = "int4",
    keypad_state: Integer = "int4",
    figure_a: BigInt = "int8",
    figure_b: BigInt = "int8",
    fact_text: Text = "text",
]);

/// `INSERT INTO table (columns) SELECT columns FROM unnest($n::type[], ...)`, its parameters
/// numbered on from `*param`; in the order of the arrays when `ordered`.
fn insert(table: &str, columns: &[(&str, &str)], param: &mut usize, ordered: bool) -> String {
    let names: Vec<&str> = columns.iter().map(|(name, _)| *name).collect();
    let names = names.join(", ");
    let arrays: Vec<String> = columns
        .iter()
        .map(|(_, ty)| {
            *param += 1;
            format!("${param}::{ty}[]")
        })
        .collect();
    let arrays = arrays.join(", ");
    if ordered {
        format!(
            "INSERT INTO {table} ({names}) SELECT {names} FROM unnest({arrays}) \
             WITH ORDINALITY AS u({names}, n) ORDER BY n"
        )
    } else {
        format!("INSERT INTO {table} ({names}) SELECT {names} FROM unnest({arrays}) AS u({names})")
    }
}

/// The statement's text (built once).
fn sql() -> &'static str {
    static SQL: OnceLock<String> = OnceLock::new();
    SQL.get_or_init(|| {
        let mut n = 0;
        let steps = insert("ticket_steps", steps::COLUMNS, &mut n, true);
        let key = ["site_id", "source_id", "ticket_id"];
        let set: Vec<String> = tickets::COLUMNS
            .iter()
            .filter(|(name, _)| !key.contains(name))
            .map(|(name, _)| format!("{name} = excluded.{name}"))
            .collect();
        let tickets = format!(
            "{} ON CONFLICT ({}) DO UPDATE SET {}",
            insert("tickets", tickets::COLUMNS, &mut n, false),
            key.join(", "),
            set.join(", ")
        );
        let received = insert("received_events", received::COLUMNS, &mut n, false);
        let logs = insert("event_log", logs::COLUMNS, &mut n, true);
        format!(
            "WITH s AS ({steps}), t AS ({tickets}), r AS ({received}), \
             l AS ({logs} RETURNING seq) SELECT max(seq) AS seq FROM l"
        )
    })
}

/// The key of the statement in the connection's cache.
struct Rows;

/// What the statement returns: the highest sequence number of the log rows it wrote.
#[derive(QueryableByName)]
struct Written {
    #[diesel(sql_type = Nullable<BigInt>)]
    seq: Option<i64>,
}

/// Writes the rows, in one statement (and leaves them emptied). Returns the sequence number of
/// the last log row written (`None`: none was).
pub(crate) fn write(
    c: &mut PgConnection,
    steps: &mut [NewStep],
    tickets: &mut [TicketRow],
    logs: &mut [NewLog],
    received: &mut [ReceivedRow],
) -> diesel::QueryResult<Option<i64>> {
    if steps.is_empty() && tickets.is_empty() && logs.is_empty() && received.is_empty() {
        return Ok(None);
    }
    let q = diesel::sql_query(sql()).into_boxed::<Pg>();
    let q = steps::bind(q, steps);
    let q = tickets::bind(q, tickets);
    let q = received::bind(q, received);
    let q = logs::bind(q, logs);
    let written: Vec<Written> = Cached::<_, Rows>::new(q).load(c)?;
    Ok(written.into_iter().find_map(|w| w.seq))
}

/// The read: the rows of the three tables for the event ids `$3` and the ticket ids `$4` of
/// site `$1` and source `$2`, each table's as a JSON array.
const READ: &str = "SELECT \
     (SELECT coalesce(json_agg(r), '[]') FROM received_events r \
      WHERE r.site_id = $1 AND r.source_id = $2 AND r.event_id = ANY($3))::text AS received, \
     (SELECT coalesce(json_agg(s ORDER BY s.occurred_at, s.id), '[]') FROM ticket_steps s \
      WHERE s.site_id = $1 AND s.source_id = $2 AND s.ticket_id = ANY($4))::text AS steps, \
     (SELECT coalesce(json_agg(t), '[]') FROM tickets t \
      WHERE t.site_id = $1 AND t.source_id = $2 AND t.ticket_id = ANY($4))::text AS tickets";

/// The key of the read in the connection's cache.
struct Read;

#[derive(QueryableByName)]
struct Found {
    #[diesel(sql_type = Text)]
    received: String,
    #[diesel(sql_type = Text)]
    steps: String,
    #[diesel(sql_type = Text)]
    tickets: String,
}

/// What a batch reads of one site and source: the received events among `event_ids`, and the
/// steps (in each ticket's order) and rows of the tickets `ticket_ids`.
pub(crate) fn read(
    c: &mut PgConnection,
    site: &str,
    source: &str,
    event_ids: &[&str],
    ticket_ids: &[&str],
) -> Result<crate::batch::Loaded, StoreError> {
    let q = diesel::sql_query(READ)
        .into_boxed::<Pg>()
        .bind::<Text, _>(site.to_string())
        .bind::<Text, _>(source.to_string())
        .bind::<Array<Text>, _>(event_ids.iter().map(|s| s.to_string()).collect::<Vec<_>>())
        .bind::<Array<Text>, _>(ticket_ids.iter().map(|s| s.to_string()).collect::<Vec<_>>());
    let found: Vec<Found> = Cached::<_, Read>::new(q).load(c)?;
    let Some(found) = found.into_iter().next() else {
        return Ok(Default::default());
    };
    fn parse<T: serde::de::DeserializeOwned>(what: &str, json: &str) -> Result<T, StoreError> {
        serde_json::from_str(json)
            .map_err(|e| StoreError::Corrupt(format!("the batch's read of {what}: {e}")))
    }
    Ok((
        parse("received events", &found.received)?,
        parse("ticket steps", &found.steps)?,
        parse("tickets", &found.tickets)?,
    ))
}

#[cfg(test)]
mod tests {
    use diesel::prelude::*;

    use super::*;
    use crate::schema;

    /// The column names of `select`, a query of every column of a table, as PostgreSQL gets them.
    fn names<Q: diesel::query_builder::QueryFragment<Pg>>(select: Q) -> Vec<String> {
        let sql = diesel::debug_query::<Pg, _>(&select).to_string();
        let list = sql
            .strip_prefix("SELECT ")
            .and_then(|s| s.split(" FROM ").next())
            .unwrap_or_default();
        let mut out: Vec<String> = list
            .split(", ")
            .map(|c| {
                c.rsplit('.')
                    .next()
                    .unwrap_or(c)
                    .trim_matches('"')
                    .to_string()
            })
            .collect();
        out.sort();
        out
    }

    fn listed(columns: &[(&str, &str)]) -> Vec<String> {
        let mut out: Vec<String> = columns.iter().map(|(n, _)| n.to_string()).collect();
        out.sort();
        out
    }

    /// A column added to a table (and its row) but not here would be left out of every batch
    /// written on PostgreSQL: each list is the table's columns, but the ones the database gives.
    #[test]
    fn each_table_is_written_with_all_its_columns() {
        let without = |mut all: Vec<String>, given: &str| {
            all.retain(|c| c != given);
            all
        };
        use schema::{event_log, received_events, ticket_steps, tickets as t};
        assert_eq!(
            listed(steps::COLUMNS),
            without(
                names(ticket_steps::table.select(ticket_steps::all_columns)),
                "id"
            )
        );
        assert_eq!(
            listed(tickets::COLUMNS),
            names(t::table.select(t::all_columns))
        );
        assert_eq!(
            listed(received::COLUMNS),
            names(received_events::table.select(received_events::all_columns))
        );
        assert_eq!(
            listed(logs::COLUMNS),
            without(
                names(event_log::table.select(event_log::all_columns)),
                "seq"
            )
        );
    }
}
