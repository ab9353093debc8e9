//! faccia's server side: configuration, storage (diesel on SQLite or PostgreSQL), the keypad
//! seam and the gRPC services (`QueueEvents`, `Monitor`, health, reflection).

pub mod auth;
pub mod config;
pub mod grpc;
pub mod keypads;
pub mod office;
pub mod storage;

use std::sync::Arc;

pub use grpc::{bind, serve, ServeError, Shared};

use config::Config;
use storage::{Clock, Rules, Store, StoreError};

/// The store's rules from the configuration.
pub fn rules(config: &Config) -> Rules {
    let s = &config.settings.sessions;
    Rules {
        vote_window_ms: i64::from(s.vote_window_s) * 1000,
        grace_ms: i64::from(s.grace_s) * 1000,
        time_zone: config.time_zone,
        operator_data: config.settings.privacy.operator_data,
        keypad_counters: Vec::new(),
    }
}

/// Opens the store and assembles what the services share.
pub fn open(config: Config, clock: Clock) -> Result<Arc<Shared>, StoreError> {
    let store = Store::open(
        &config.database,
        config.settings.database.busy_timeout_ms,
        rules(&config),
        clock,
    )?;
    Ok(Arc::new(Shared {
        auth: auth::Credentials::from_settings(&config.settings.auth.tokens),
        keypads: Arc::new(keypads::NoKeypads),
        stopping: tokio::sync::watch::channel(false).0,
        store,
        config,
    }))
}
