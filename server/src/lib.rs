//! faccia's server side: configuration, the keypad seam and the gRPC services (`QueueEvents`,
//! `Monitor`, `Reports`, health, reflection). Storage is the `faccia-storage` crate, re-exported
//! here as [`storage`].

pub mod auth;
pub mod config;
pub mod grpc;
pub mod keypad_link;
pub mod keypads;
pub mod metrics;
pub mod office;

pub use faccia_storage as storage;

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
        reason_window_ms: i64::from(s.reason_window_s) * 1000,
        time_zone: config.time_zone,
        operator_data: config.settings.privacy.operator_data,
        keypad_counters: config
            .settings
            .counters
            .iter()
            .filter(|c| c.keypad.is_some())
            .map(|c| c.id.clone())
            .collect(),
    }
}

/// What reports need to know about the office, from the configuration (no operator data).
pub fn report_context(config: &Config) -> faccia_reports::ReportContext {
    let s = &config.settings;
    faccia_reports::ReportContext {
        site_id: s.site.id.clone(),
        site_name: s.site.name.clone(),
        time_zone: config.time_zone,
        services: s
            .services
            .iter()
            .map(|v| (v.code.clone(), v.name.clone(), v.standard_wait_min))
            .collect(),
        counters: s
            .counters
            .iter()
            .map(|c| (c.id.clone(), c.name.clone()))
            .collect(),
        target_tenths: s.reports.standard_target_tenths(),
    }
}

/// The office and its database, for `faccia report`.
pub fn report_source(config: &Config) -> faccia_reports::Source {
    faccia_reports::Source {
        ctx: report_context(config),
        database: config.database.clone(),
        busy_timeout_ms: config.settings.database.busy_timeout_ms,
    }
}

/// Opens the store, starts one bus task per keypad serial port (inside a tokio runtime), and
/// assembles what the services share.
pub fn open(config: Config, clock: Clock) -> Result<Arc<Shared>, StoreError> {
    let store = Store::open(
        &config.database,
        config.settings.database.busy_timeout_ms,
        rules(&config),
        clock,
    )?;
    let keypads: Arc<dyn keypads::KeypadGateway> =
        if config.settings.counters.iter().any(|c| c.keypad.is_some()) {
            keypad_link::SerialKeypads::start(&config, store.clone())
        } else {
            Arc::new(keypads::NoKeypads)
        };
    Ok(Arc::new(Shared {
        auth: auth::Credentials::from_settings(&config.settings.auth.tokens),
        keypads,
        stopping: tokio::sync::watch::channel(false).0,
        metrics: metrics::Metrics::default(),
        store,
        config,
    }))
}
