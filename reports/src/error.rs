//! The library's errors.

use thiserror::Error;

/// Why a report could not be produced.
#[derive(Debug, Error)]
pub enum ReportError {
    /// A month or year that does not exist or a range that runs backwards.
    #[error("invalid period: {0}")]
    InvalidPeriod(String),
    /// A document asked in a format it is not written in (the Ministry export in HTML).
    #[error("{0}")]
    Unsupported(String),
    /// The sites asked for cannot be reported: unknown, ambiguous or repeated.
    #[error("{0}")]
    Sites(String),
    /// The database cannot be opened.
    #[error(transparent)]
    Store(#[from] faccia_storage::StoreError),
    /// A query failed.
    #[error("database query failed: {0}")]
    Query(#[from] diesel::result::Error),
    /// The database has no faccia tables (an empty database: reports never create one).
    #[error("database {0} holds no faccia data (reports never create a database: start `faccia serve` on it first)")]
    NoSchema(String),
    /// The SQLite database file named in the configuration does not exist.
    #[error("database {0} does not exist (reports never create a database)")]
    DatabaseMissing(String),
    /// The stored data breaks the schema's rules (a face outside 1..=3, a negative count).
    #[error("stored data is inconsistent: {0}")]
    Inconsistent(String),
    #[error("cannot write {path}: {source}")]
    Write {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("JSON encoding failed: {0}")]
    Json(#[from] serde_json::Error),
    /// The database work did not finish (the blocking task panicked or was cancelled).
    #[error("report task failed: {0}")]
    Task(String),
}

impl From<faccia_domain::calendar::MonthError> for ReportError {
    fn from(e: faccia_domain::calendar::MonthError) -> ReportError {
        ReportError::InvalidPeriod(e.to_string())
    }
}
