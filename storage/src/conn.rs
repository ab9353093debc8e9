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

/// Runs the same code on the concrete connection of either backend: diesel then builds the
/// statement for that backend directly and finds it in the connection's prepared-statement cache
/// (through `AnyConnection` = diesel's `MultiConnection` the SQL is serialised again on every
/// pass over the query). Also for statements `MultiConnection` does not support (`ON CONFLICT`).
macro_rules! on_backend {
    ($conn:expr, |$c:ident| $body:expr) => {
        match $conn {
            $crate::conn::AnyConnection::Sqlite($c) => $body,
            $crate::conn::AnyConnection::Postgresql($c) => $body,
        }
    };
}
pub(crate) use on_backend;

/// A query that the connection keeps prepared, found in its cache by the type `K` (one per call
/// site: see [`cached!`]) without building its SQL text again, although diesel would not cache it
/// (diesel never caches `UPDATE`, `ON CONFLICT ... DO UPDATE`, `IN` lists or SQL literals, as
/// their text may vary between calls, and builds the text of an insert to find it).
///
/// Only for a statement whose SQL text is the same on every call at that site (no `Option`
/// field that diesel turns into a left-out column, no list of varying length): the cache finds
/// the statement by `K` alone.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Cached<Q, K> {
    query: Q,
    key: std::marker::PhantomData<K>,
}

impl<Q, K> Cached<Q, K> {
    pub(crate) fn new(query: Q) -> Self {
        Cached {
            query,
            key: std::marker::PhantomData,
        }
    }
}

/// `cached!(query)`: the query as a [`Cached`] keyed by a type of its own, declared here.
macro_rules! cached {
    ($query:expr) => {{
        /// The key of one cached statement.
        struct Key;
        $crate::conn::Cached::<_, Key>::new($query)
    }};
}
pub(crate) use cached;

/// `execute_cached!(conn, statement)`: runs a statement without result rows (an insert, an
/// `UPDATE`, an upsert) as [`cached!`] from the connection's cache of prepared statements.
macro_rules! execute_cached {
    ($conn:expr, $query:expr) => {
        $crate::conn::run_cached($conn, $crate::conn::cached!($query))
    };
}
pub(crate) use execute_cached;

impl<Q, K, DB> diesel::query_builder::QueryFragment<DB> for Cached<Q, K>
where
    DB: diesel::backend::Backend,
    Q: diesel::query_builder::QueryFragment<DB>,
{
    fn walk_ast<'b>(
        &'b self,
        pass: diesel::query_builder::AstPass<'_, 'b, DB>,
    ) -> diesel::QueryResult<()> {
        self.query.walk_ast(pass)
    }

    fn is_safe_to_cache_prepared(&self, _backend: &DB) -> diesel::QueryResult<bool> {
        Ok(true)
    }
}

impl<Q, K: 'static> diesel::query_builder::QueryId for Cached<Q, K> {
    type QueryId = K;
    const HAS_STATIC_QUERY_ID: bool = true;
}

impl<Q: diesel::query_builder::Query, K> diesel::query_builder::Query for Cached<Q, K> {
    type SqlType = Q::SqlType;
}

impl<Q, K, C> diesel::query_dsl::RunQueryDsl<C> for Cached<Q, K> {}

/// A statement without result rows, run through the connection's cache of prepared statements
/// (see [`Cached`]). Diesel's `execute` hands the connection a reference to the query, and a
/// reference does not pass on [`Cached`]'s answer that it may be cached; a query loaded (even
/// one that returns no rows) is handed over by value. So: loaded, as a query of no columns.
pub(crate) struct NoRows<Q>(Q);

impl<Q, DB> diesel::query_builder::QueryFragment<DB> for NoRows<Q>
where
    DB: diesel::backend::Backend,
    Q: diesel::query_builder::QueryFragment<DB>,
{
    fn walk_ast<'b>(
        &'b self,
        pass: diesel::query_builder::AstPass<'_, 'b, DB>,
    ) -> diesel::QueryResult<()> {
        self.0.walk_ast(pass)
    }

    fn is_safe_to_cache_prepared(&self, backend: &DB) -> diesel::QueryResult<bool> {
        self.0.is_safe_to_cache_prepared(backend)
    }
}

impl<Q: diesel::query_builder::QueryId> diesel::query_builder::QueryId for NoRows<Q> {
    type QueryId = Q::QueryId;
    const HAS_STATIC_QUERY_ID: bool = Q::HAS_STATIC_QUERY_ID;
}

impl<Q> diesel::query_builder::Query for NoRows<Q> {
    type SqlType = diesel::sql_types::Untyped;
}

impl<Q, C> diesel::query_dsl::RunQueryDsl<C> for NoRows<Q> {}

/// No row (what [`NoRows`] loads).
#[derive(diesel::QueryableByName)]
pub(crate) struct NoRow {}

/// Runs `q`, a [`Cached`] statement without result rows (an insert, an `UPDATE`, an upsert),
/// from the connection's cache of prepared statements.
pub(crate) fn run_cached<'q, C, Q, K>(c: &mut C, q: Cached<Q, K>) -> diesel::QueryResult<()>
where
    C: diesel::connection::LoadConnection,
    NoRows<Cached<Q, K>>: diesel::query_dsl::LoadQuery<'q, C, NoRow>,
{
    let rows: Vec<NoRow> = diesel::query_dsl::RunQueryDsl::load(NoRows(q), c)?;
    debug_assert!(
        rows.is_empty(),
        "a statement without result rows returned rows"
    );
    Ok(())
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
        c.batch_execute(LOCK_WRITERS)?;
    }
    Ok(())
}

/// The SQL of [`lock_writers`].
const LOCK_WRITERS: &str = "SELECT pg_advisory_xact_lock(7357001)";

/// Runs `f` in a transaction that holds the writers' lock (see [`lock_writers`]); on
/// PostgreSQL the lock is taken in the round trip of the BEGIN itself. Commits when `f`
/// succeeds, else rolls back.
pub(crate) fn write_transaction<T, E>(
    conn: &mut AnyConnection,
    f: impl FnOnce(&mut AnyConnection) -> Result<T, E>,
) -> Result<T, E>
where
    E: From<diesel::result::Error>,
{
    use diesel::connection::{AnsiTransactionManager, TransactionManager};
    type Manager = <AnyConnection as Connection>::TransactionManager;
    match conn {
        AnyConnection::Postgresql(pg) => {
            AnsiTransactionManager::begin_transaction_sql(pg, &format!("BEGIN; {LOCK_WRITERS}"))?
        }
        AnyConnection::Sqlite(_) => Manager::begin_transaction(conn)?,
    }
    match f(conn) {
        Ok(v) => {
            Manager::commit_transaction(conn)?;
            Ok(v)
        }
        Err(e) => match Manager::rollback_transaction(conn) {
            Ok(()) | Err(diesel::result::Error::BrokenTransactionManager) => Err(e),
            Err(rollback) => Err(rollback.into()),
        },
    }
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
