//! Opening the database for a report.
//!
//! A report reads. It never creates a database (a missing SQLite file is an error, and so is a
//! database without faccia's tables), but it can be run on a database that a server of this
//! version has not opened yet: one from before sites (its rows still without a site, the
//! migrations not applied). Such a database is first brought up to date exactly as the server
//! does at start, through `faccia_storage::Store::open_sites` with the configured sites: the
//! migrations, the adoption of the rows from before sites by the only configured site (refused,
//! with the storage's explanation, when that is ambiguous), the registration of the sites and
//! their report rollups. A database already up to date is not written to.

use diesel::prelude::*;
use diesel::sql_types::{BigInt, Text};
use faccia_storage::{self as storage, sites, AnyConnection, DatabaseUrl, Rules, Store};

use crate::error::ReportError;
use crate::model::ReportContext;

/// What a report finds when it opens a database.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DatabaseState {
    /// Migrated for sites, every row with its site: ready to be read.
    Current,
    /// faccia's tables from an older version, or rows from before sites: what needs doing.
    Outdated(String),
    /// No faccia tables at all (an empty database).
    NoSchema,
}

#[derive(QueryableByName)]
struct Count {
    #[diesel(sql_type = BigInt)]
    n: i64,
}

fn table_exists(conn: &mut AnyConnection, name: &str) -> Result<bool, ReportError> {
    let sql = match conn {
        AnyConnection::Sqlite(_) => {
            "SELECT COUNT(*) AS n FROM sqlite_master WHERE type = 'table' AND name = ?"
        }
        AnyConnection::Postgresql(_) => {
            "SELECT COUNT(*) AS n FROM information_schema.tables \
             WHERE table_name = $1 AND table_schema = current_schema()"
        }
    };
    let rows: Vec<Count> = match conn {
        AnyConnection::Sqlite(c) => diesel::sql_query(sql).bind::<Text, _>(name).load(c)?,
        AnyConnection::Postgresql(c) => diesel::sql_query(sql).bind::<Text, _>(name).load(c)?,
    };
    Ok(rows.first().is_some_and(|r| r.n > 0))
}

/// Reads (only) what state the database is in.
pub fn state(conn: &mut AnyConnection) -> Result<DatabaseState, ReportError> {
    if !table_exists(conn, "__diesel_schema_migrations")? {
        return Ok(DatabaseState::NoSchema);
    }
    if !table_exists(conn, "sites")? {
        return Ok(DatabaseState::Outdated(
            "the database is from before sites: its migrations are not applied".into(),
        ));
    }
    let legacy = sites::legacy_rows(conn)?;
    if legacy.any() {
        return Ok(DatabaseState::Outdated(format!(
            "the database holds rows from before sites ({} tickets, {} votes) that no site \
             has adopted yet",
            legacy.tickets, legacy.votes
        )));
    }
    Ok(DatabaseState::Current)
}

/// The store's rules for a configured site; only its id, name and time zone matter here (the
/// store is opened to migrate and adopt, never to write events).
fn rules_of(c: &ReportContext) -> Rules {
    Rules {
        site_id: c.site_id.clone(),
        site_name: c.site_name.clone(),
        vote_window_ms: 60_000,
        grace_ms: 10_000,
        reason_window_ms: 15_000,
        time_zone: c.time_zone,
        operator_data: false,
        keypad_counters: Vec::new(),
    }
}

/// Opens a connection for a report; brings an outdated database up to date first (see the
/// module's documentation), with `configured` as the sites of this installation.
pub fn open(
    url: &DatabaseUrl,
    busy_timeout_ms: u32,
    configured: &[ReportContext],
) -> Result<AnyConnection, ReportError> {
    if let DatabaseUrl::Sqlite(path) = url {
        if !path.is_file() {
            return Err(ReportError::DatabaseMissing(path.display().to_string()));
        }
    }
    let mut conn = storage::connect(url, busy_timeout_ms)?;
    match state(&mut conn)? {
        DatabaseState::Current => Ok(conn),
        DatabaseState::NoSchema => Err(ReportError::NoSchema(describe(url))),
        DatabaseState::Outdated(why) => {
            tracing::warn!(
                reason = %why,
                sites = %configured
                    .iter()
                    .map(|c| c.site_id.as_str())
                    .collect::<Vec<_>>()
                    .join(", "),
                "bringing the database up to date before the report, as the server does at start"
            );
            drop(conn);
            let stores = Store::open_sites(
                url,
                busy_timeout_ms,
                configured.iter().map(rules_of).collect(),
                storage::system_clock(),
            )?;
            // Nothing is written through them: dropping them stops their writer thread.
            drop(stores);
            Ok(storage::connect(url, busy_timeout_ms)?)
        }
    }
}

/// The database for messages: the SQLite path, or the PostgreSQL URL without its password.
pub fn describe(url: &DatabaseUrl) -> String {
    match url {
        DatabaseUrl::Sqlite(p) => p.display().to_string(),
        DatabaseUrl::Postgres(u) => match (u.find("://"), u.rfind('@')) {
            (Some(s), Some(at)) if at > s => match u[s + 3..at].find(':') {
                Some(colon) => format!("{}:***{}", &u[..s + 3 + colon], &u[at..]),
                None => u.clone(),
            },
            _ => u.clone(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_stay_out_of_messages() {
        let d = |u: &str| describe(&DatabaseUrl::Postgres(u.into()));
        assert_eq!(d("postgres://u:secret@h/db"), "postgres://u:***@h/db");
        assert_eq!(d("postgres://u@h/db"), "postgres://u@h/db");
        assert_eq!(
            describe(&DatabaseUrl::Sqlite("var/faccia.db".into())),
            "var/faccia.db"
        );
    }
}
