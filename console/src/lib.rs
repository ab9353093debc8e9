//! The URP console of faccia: a terminal dashboard (ratatui + crossterm) for the staff of an
//! office running "Mettiamoci la faccia". It knows the server only through the `faccia.v1.Monitor`
//! and `faccia.v1.Reports` gRPC APIs.
//!
//! Layout of the crate:
//! - [`model`]: the application state, pure and testable (no I/O): snapshot, satisfaction, the
//!   bounded event log, connection state, key handling.
//! - [`views`]: render functions, one per view, plus header, alerts, footer and overlays.
//! - [`i18n`]: every string shown, in Italian and English.
//! - [`config`]: the TOML configuration with keybindings ([`keymap`]) and colours ([`theme`]).
//! - [`client`]: the gRPC clients: auth, snapshot refresher, event watcher with reconnect,
//!   report calls.
//! - [`save`]: writing a rendered report into the reports directory, atomically.
//! - [`runtime`]: the terminal loop (crossterm `EventStream` + gRPC tasks + tokio channels).
//! - [`fake`]: fake Monitor and Reports servers for tests, benchmarks and demos.

pub mod client;
pub mod config;
pub mod fake;
pub mod format;
pub mod i18n;
pub mod keymap;
pub mod model;
pub mod runtime;
pub mod save;
pub mod theme;
pub mod views;

use std::path::PathBuf;

pub use faccia_domain::Lang;

/// Command-line arguments of `faccia console`. Every option can also come from the environment
/// or the configuration file; the command line wins over the environment, which wins over the
/// file.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct ConsoleArgs {
    /// Address of a faccia server (default http://127.0.0.1:50051). Repeat it to watch the
    /// offices of several servers (`FACCIA_SERVER` takes them comma-separated).
    #[arg(
        long = "server",
        env = "FACCIA_SERVER",
        value_name = "URL",
        value_delimiter = ','
    )]
    pub server: Vec<String>,
    /// Access token (role viewer or admin), sent as `authorization: Bearer <token>` to every
    /// server that has no token of its own in the configuration file (`[[servers]]`).
    #[arg(
        long,
        env = "FACCIA_TOKEN",
        value_name = "TOKEN",
        hide_env_values = true
    )]
    pub token: Option<String>,
    /// Language of the console: `it` (default) or `en`.
    #[arg(long, env = "FACCIA_LANG", value_name = "it|en")]
    pub lang: Option<Lang>,
    /// Configuration file (TOML): servers and tokens, language, keybindings, colours.
    /// Default: $XDG_CONFIG_HOME/faccia/console.toml or ~/.config/faccia/console.toml if present.
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Where the Rapporti view saves reports (default `reports-dir` of the file, else the
    /// current directory).
    #[arg(long, env = "FACCIA_REPORTS_DIR", value_name = "DIR")]
    pub reports_dir: Option<PathBuf>,
    /// The clock to show (the demo's simulated day); the wall clock when `None`.
    #[arg(skip)]
    pub clock: Option<Clock>,
}

/// A clock for the console: the header shows its time and every "since" counts from it.
#[derive(Clone)]
pub struct Clock(pub std::sync::Arc<dyn Fn() -> chrono::DateTime<chrono::Utc> + Send + Sync>);

impl Clock {
    pub fn now(&self) -> chrono::DateTime<chrono::Utc> {
        (self.0)()
    }
}

impl std::fmt::Debug for Clock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Clock(..)")
    }
}

/// Runs the console until the user quits. Restores the terminal on every exit, panics included.
pub async fn run(args: ConsoleArgs) -> anyhow::Result<()> {
    let settings = config::Settings::resolve(&args)?;
    runtime::run(settings).await
}
