//! faccia's server side: configuration, the keypad seam and the gRPC services (`QueueEvents`,
//! `Monitor`, `Reports`, health, reflection). Storage is the `faccia-storage` crate, re-exported
//! here as [`storage`].

pub mod agi;
pub mod auth;
pub mod config;
pub mod grpc;
pub mod ingress;
pub mod keypad_link;
pub mod keypads;
pub mod metrics;
pub mod office;
pub mod totem;
pub mod web;

pub use faccia_storage as storage;

use std::sync::Arc;

pub use grpc::{bind, serve, Office, ServeError, Shared};

use config::{Config, ConfigError, SiteConfig};
use storage::{Clock, Rules, Store, StoreError, WebLinks};

/// Why the server cannot start.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The web link key cannot be read or created (names the key and the file).
    #[error(transparent)]
    Config(#[from] ConfigError),
}

/// The store's rules for one site from the configuration.
pub fn site_rules(config: &Config, site: &SiteConfig) -> Rules {
    let s = &config.settings.sessions;
    Rules {
        site_id: site.id().to_string(),
        site_name: site.name().to_string(),
        vote_window_ms: i64::from(s.vote_window_s) * 1000,
        grace_ms: i64::from(s.grace_s) * 1000,
        reason_window_ms: i64::from(s.reason_window_s) * 1000,
        time_zone: site.time_zone,
        operator_data: config.settings.privacy.operator_data,
        keypad_counters: site
            .counters()
            .iter()
            .filter(|c| c.keypad.is_some())
            .map(|c| c.id.clone())
            .collect(),
    }
}

/// The store's rules for the first (with one office: the only) site.
pub fn rules(config: &Config) -> Rules {
    site_rules(config, config.first_site())
}

/// What reports need to know about one office, from the configuration (no operator data).
pub fn site_report_context(config: &Config, site: &SiteConfig) -> faccia_reports::ReportContext {
    faccia_reports::ReportContext {
        site_id: site.id().to_string(),
        site_name: site.name().to_string(),
        time_zone: site.time_zone,
        services: site
            .services()
            .iter()
            .map(|v| (v.code.clone(), v.name.clone(), v.standard_wait_min))
            .collect(),
        counters: site
            .counters()
            .iter()
            .map(|c| (c.id.clone(), c.name.clone()))
            .collect(),
        target_tenths: config.settings.reports.standard_target_tenths(),
    }
}

/// The report context of the first (with one office: the only) site.
pub fn report_context(config: &Config) -> faccia_reports::ReportContext {
    site_report_context(config, config.first_site())
}

/// The office and its database, for `faccia report`.
pub fn report_source(config: &Config) -> faccia_reports::Source {
    faccia_reports::Source {
        sites: config
            .sites
            .iter()
            .map(|site| site_report_context(config, site))
            .collect(),
        database: config.database.clone(),
        busy_timeout_ms: config.settings.database.busy_timeout_ms,
    }
}

/// Opens the store of every configured site (one writer for all), starts one bus task per
/// keypad serial port (inside a tokio runtime), and assembles what the services share.
pub fn open(config: Config, clock: Clock) -> Result<Arc<Shared>, OpenError> {
    let link_key = match &config.web {
        Some(_) => Some(config.web_link_key()?),
        None => None,
    };
    let rules = config
        .sites
        .iter()
        .map(|site| site_rules(&config, site))
        .collect();
    let stores = Store::open_sites(
        &config.database,
        config.settings.database.busy_timeout_ms,
        rules,
        clock,
    )?;
    let offices = config
        .sites
        .iter()
        .zip(stores)
        .map(|(site, store)| {
            let store = match (&config.web, &link_key) {
                (Some(web), Some(key)) => store.with_web_links(WebLinks {
                    counters: web.counters_of(site.id()),
                    lifetime_ms: web.lifetime_ms,
                    key: key.clone(),
                }),
                _ => store,
            };
            let store = store.with_totems(site.totem_counters());
            let keypads: Arc<dyn keypads::KeypadGateway> = if site.has_keypads() {
                keypad_link::SerialKeypads::start(&config, site, store.clone())
            } else {
                Arc::new(keypads::NoKeypads)
            };
            Arc::new(Office {
                site: site.clone(),
                store,
                keypads,
            })
        })
        .collect();
    Ok(Arc::new(Shared {
        auth: auth::Credentials::from_settings(&config.settings.auth.tokens),
        offices,
        stopping: tokio::sync::watch::channel(false).0,
        metrics: metrics::Metrics::default(),
        config,
    }))
}
