//! Connections to either backend, migrations, and the pragmas that make SQLite durable.

use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use diesel_migrations::{embed_migrations, EmbeddedMigrations, MigrationHarness};

use super::StoreError;
use crate::DatabaseUrl;

pub const SQLITE_MIGRATIONS: EmbeddedMigrations = embed_migrations!("../migrations/sqlite");
pub const POSTGRES_MIGRATIONS: EmbeddedMigrations = embed_migrations!("../migrations/postgres");

/// One schema, two backends.
#[derive(diesel::MultiConnection)]
pub enum AnyConnection {
    Postgresql(diesel::PgConnection),
    Sqlite(diesel::SqliteConnection),
}

/// Opens a connection; SQLite gets WAL, `synchronous=FULL`, a busy timeout and foreign keys.
pub fn connect(url: &DatabaseUrl, busy_timeout_ms: u32) -> Result<AnyConnection, StoreError> {
    match url {
        DatabaseUrl::Sqlite(path) => {
            if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                std::fs::create_dir_all(dir).map_err(|e| {
                    StoreError::Unavailable(format!("cannot create {}: {e}", dir.display()))
                })?;
            }
            let text = path.to_string_lossy();
            let mut c = diesel::SqliteConnection::establish(&text)
                .map_err(|e| StoreError::Unavailable(format!("SQLite {text}: {e}")))?;
            c.batch_execute(&format!(
                "PRAGMA busy_timeout = {busy_timeout_ms}; PRAGMA journal_mode = WAL; \
                 PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON;"
            ))?;
            Ok(AnyConnection::Sqlite(c))
        }
        DatabaseUrl::Postgres(u) => {
            let c = diesel::PgConnection::establish(u)
                .map_err(|e| StoreError::Unavailable(format!("PostgreSQL {}: {e}", redact(u))))?;
            Ok(AnyConnection::Postgresql(c))
        }
    }
}

/// Applies pending migrations (they are embedded in the binary).
pub fn migrate(conn: &mut AnyConnection) -> Result<(), StoreError> {
    let done = match conn {
        AnyConnection::Sqlite(c) => c.run_pending_migrations(SQLITE_MIGRATIONS).map(|v| v.len()),
        AnyConnection::Postgresql(c) => c
            .run_pending_migrations(POSTGRES_MIGRATIONS)
            .map(|v| v.len()),
    }
    .map_err(|e| StoreError::Migration(e.to_string()))?;
    if done > 0 {
        tracing::info!(applied = done, "database migrations applied");
    }
    Ok(())
}

/// Serialises writers across processes sharing one PostgreSQL database, so that the event log's
/// sequence numbers commit in order (a reader never sees seq N+1 before N). SQLite has one writer.
pub fn lock_writers(conn: &mut AnyConnection) -> Result<(), StoreError> {
    if let AnyConnection::Postgresql(c) = conn {
        c.batch_execute("SELECT pg_advisory_xact_lock(7357001)")?;
    }
    Ok(())
}

/// A URL without its password, for messages.
pub fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(s), Some(at)) if at > s => {
            let creds = &url[s + 3..at];
            match creds.find(':') {
                Some(colon) => format!("{}{}:***{}", &url[..s + 3], &creds[..colon], &url[at..]),
                None => url.to_string(),
            }
        }
        _ => url.to_string(),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn redacts_passwords() {
        assert_eq!(
            super::redact("postgres://u:secret@h/db"),
            "postgres://u:***@h/db"
        );
        assert_eq!(super::redact("postgres://u@h/db"), "postgres://u@h/db");
    }
}
