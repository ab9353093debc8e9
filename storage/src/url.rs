//! Where the database is: the `database.url` setting, parsed.

use std::path::PathBuf;

/// Which backend a database URL names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DatabaseUrl {
    Sqlite(PathBuf),
    Postgres(String),
}

impl DatabaseUrl {
    pub fn parse(url: &str) -> Result<DatabaseUrl, String> {
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            return Ok(DatabaseUrl::Postgres(url.to_string()));
        }
        let path = url
            .strip_prefix("sqlite://")
            .or_else(|| url.strip_prefix("sqlite:"))
            .unwrap_or(url);
        if path.is_empty() {
            return Err(
                "is empty: give `sqlite://path/to/faccia.db` or a `postgres://` URL".into(),
            );
        }
        if path.contains("://") {
            return Err(format!(
                "scheme of {url:?} is not supported: use `sqlite://` or `postgres://`"
            ));
        }
        Ok(DatabaseUrl::Sqlite(PathBuf::from(path)))
    }
}
