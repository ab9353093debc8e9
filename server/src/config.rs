//! Configuration: built-in defaults, then `etc/faccia.toml` (or `--config FILE`), then
//! environment variables `FACCIA__SECTION__KEY`. Every error names the key and where it came from.

use std::collections::HashSet;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use chrono_tz::Tz;
use serde::Deserialize;
use thiserror::Error;

pub use faccia_storage::DatabaseUrl;

/// The default configuration file, relative to the working directory.
pub const DEFAULT_CONFIG_FILE: &str = "etc/faccia.toml";
const ENV_PREFIX: &str = "FACCIA";
const ENV_SEPARATOR: &str = "__";

const DEFAULTS: &str = r#"
[server]
listen = "127.0.0.1:50051"

[database]
url = "sqlite://var/faccia.db"
"#;

/// The site when the configuration names none.
const DEFAULT_SITE_ID: &str = "ufficio";
const DEFAULT_SITE_NAME: &str = "Ufficio";
const DEFAULT_TIME_ZONE: &str = "Europe/Rome";

/// A configuration that cannot be used. The binary exits with code 2 on it.
#[derive(Debug, Error)]
pub enum ConfigError {
    #[error("configuration file {path} cannot be read: {reason}")]
    Unreadable { path: String, reason: String },
    #[error("{origin}: key `{key}`: {problem}")]
    Key {
        origin: String,
        key: String,
        problem: String,
    },
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    pub server: ServerSettings,
    pub database: DatabaseSettings,
    /// One office: `[site]` with top-level `[[services]]` and `[[counters]]`.
    #[serde(default)]
    pub site: Option<SiteHeader>,
    /// Several offices served by this process: `[[sites]]`, each with its own
    /// `[[sites.services]]` and `[[sites.counters]]`. Not together with `[site]`.
    #[serde(default)]
    pub sites: Vec<SiteSettings>,
    #[serde(default)]
    pub sessions: SessionSettings,
    #[serde(default)]
    pub privacy: PrivacySettings,
    #[serde(default)]
    pub services: Vec<ServiceSettings>,
    #[serde(default)]
    pub counters: Vec<CounterSettings>,
    /// Totems of a one-office configuration (`[[totems]]`; with `[[sites]]`: `[[sites.totems]]`).
    #[serde(default)]
    pub totems: Vec<TotemSettings>,
    #[serde(default)]
    pub auth: AuthSettings,
    #[serde(default)]
    pub logging: LoggingSettings,
    #[serde(default)]
    pub metrics: MetricsSettings,
    #[serde(default)]
    pub reports: ReportSettings,
    #[serde(default)]
    pub phone: PhoneSettings,
    #[serde(default)]
    pub web: WebSettings,
    #[serde(default)]
    pub ingress: IngressSettings,
}

/// `[ingress]`: the HTTP/JSON ingress for queue systems that send only webhooks (the same
/// events and rules as gRPC `QueueEvents`), and the built-in NovoSGA adapter
/// (`[[ingress.novosga]]`), on its own port for the internal network.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IngressSettings {
    #[serde(default)]
    pub enabled: bool,
    /// Address and port of the ingress HTTP server, e.g. `127.0.0.1:8081`.
    #[serde(default = "default_ingress_listen")]
    pub listen: String,
    /// The largest request body taken, in KiB (1..=16384; a batch of 1000 events is ~300 KiB).
    #[serde(default = "default_ingress_body_kib")]
    pub max_body_kib: u32,
    /// The NovoSGA units that post webhooks to `/v1/novosga/<unit>`.
    #[serde(default)]
    pub novosga: Vec<NovosgaSettings>,
}

fn default_ingress_listen() -> String {
    "127.0.0.1:8081".to_string()
}
fn default_ingress_body_kib() -> u32 {
    1024
}

impl Default for IngressSettings {
    fn default() -> Self {
        IngressSettings {
            enabled: false,
            listen: default_ingress_listen(),
            max_body_kib: default_ingress_body_kib(),
            novosga: Vec::new(),
        }
    }
}

/// `[[ingress.novosga]]`: one NovoSGA unit (unidade).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NovosgaSettings {
    /// The unit's id in NovoSGA: the webhook URL is `/v1/novosga/<unit>`.
    pub unit: String,
    /// The faccia site of this unit (may be left out with one site).
    #[serde(default)]
    pub site: Option<String>,
    /// The events' `source_id` (default `novosga-<unit>`).
    #[serde(default)]
    pub source_id: Option<String>,
    /// The attendant's NovoSGA login -> the counter id where that attendant works. NovoSGA's
    /// payload names no counter; an event that needs one from an unmapped login is refused.
    #[serde(default)]
    pub counters: std::collections::BTreeMap<String, String>,
    /// NovoSGA service (servico) id -> faccia service code (default: the id itself).
    #[serde(default)]
    pub services: std::collections::BTreeMap<String, String>,
    /// The header carrying an HMAC-SHA256 of the raw body, hex (optionally `sha256=` first),
    /// e.g. `x-signature`; with `secret`. NovoSGA itself does not sign: for a signing proxy.
    #[serde(default)]
    pub signature_header: Option<String>,
    /// The HMAC secret (better from the environment).
    #[serde(default)]
    pub secret: Option<String>,
}

/// The checked `[ingress]` section (only when enabled).
#[derive(Debug, Clone)]
pub struct IngressConfig {
    pub listen: SocketAddr,
    pub max_body_bytes: usize,
    pub novosga: Vec<NovosgaUnit>,
}

/// One checked NovoSGA unit.
#[derive(Debug, Clone)]
pub struct NovosgaUnit {
    pub unit: String,
    pub site_id: String,
    pub source_id: String,
    pub counters: std::collections::BTreeMap<String, String>,
    pub services: std::collections::BTreeMap<String, String>,
    /// (lower-case header name, secret) when the webhooks are signed.
    pub signature: Option<(String, Vec<u8>)>,
}

/// `[web]`: the web channel, a single-use vote link issued at SERVED (at `link_counters`) or by
/// `QueueEvents.IssueVoteLink`, and the page that takes the vote.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebSettings {
    #[serde(default)]
    pub enabled: bool,
    /// Address and port of the vote page's HTTP server (beside gRPC), e.g. `127.0.0.1:8080`;
    /// put the office's HTTPS reverse proxy in front of it.
    #[serde(default = "default_web_listen")]
    pub listen: String,
    /// The address citizens open, as printed on the ticket: `https://host[/prefix]`; the link
    /// is `<public_url>/v/<token>`. Required when enabled.
    #[serde(default)]
    pub public_url: Option<String>,
    /// How long a link takes a vote from the end of the service, in hours (1..=720).
    #[serde(default = "default_link_lifetime_h")]
    pub link_lifetime_h: u32,
    /// How long the free text of the AGID form is kept, in days (1..=3650); then deleted.
    #[serde(default = "default_free_text_retention_days")]
    pub free_text_retention_days: u32,
    /// Counters whose SERVED issues a link instead of a counter session: counter ids (with
    /// `[[sites]]`: `site-id/counter-id`). A counter with a keypad cannot be listed.
    #[serde(default)]
    pub link_counters: Vec<String>,
    /// Ask the AGID "valutazione del servizio" (1-5 stars, follow-up, free text) instead of
    /// the three faces.
    #[serde(default)]
    pub agid_form: bool,
    /// The link key as 64 hexadecimal digits (better from the environment, FACCIA__WEB__KEY).
    /// Overrides `key_file`.
    #[serde(default)]
    pub key: Option<String>,
    /// The file with the 32-byte link key (64 hex digits, or 32 raw bytes); created with a
    /// random key, mode 0600, on the first start when missing. Servers sharing one database
    /// must share the key.
    #[serde(default = "default_key_file")]
    pub key_file: PathBuf,
}

fn default_web_listen() -> String {
    "127.0.0.1:8080".to_string()
}
fn default_link_lifetime_h() -> u32 {
    24
}
fn default_free_text_retention_days() -> u32 {
    90
}
fn default_key_file() -> PathBuf {
    PathBuf::from("var/web-link.key")
}

impl Default for WebSettings {
    fn default() -> Self {
        WebSettings {
            enabled: false,
            listen: default_web_listen(),
            public_url: None,
            link_lifetime_h: default_link_lifetime_h(),
            free_text_retention_days: default_free_text_retention_days(),
            link_counters: Vec::new(),
            agid_form: false,
            key: None,
            key_file: default_key_file(),
        }
    }
}

/// The checked `[web]` section (only when enabled).
#[derive(Debug, Clone)]
pub struct WebConfig {
    pub listen: SocketAddr,
    /// `public_url` without a trailing slash.
    pub public_url: String,
    pub lifetime_ms: i64,
    pub retention_ms: i64,
    pub agid_form: bool,
    /// (site id, counter id) of every link counter.
    pub link_counters: Vec<(String, String)>,
}

impl WebConfig {
    /// The link counters of `site`.
    pub fn counters_of(&self, site: &str) -> Vec<String> {
        self.link_counters
            .iter()
            .filter(|(s, _)| s == site)
            .map(|(_, c)| c.clone())
            .collect()
    }

    /// The vote link of a token.
    pub fn link(&self, token: &str) -> String {
        format!("{}/v/{token}", self.public_url)
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReportSettings {
    /// A declared waiting standard is met when at least this percentage of the tickets waited
    /// within it (one decimal at most, e.g. 90 or 92.5). Default 90.
    #[serde(default = "default_standard_target")]
    pub standard_target_percent: f64,
}

fn default_standard_target() -> f64 {
    90.0
}

impl Default for ReportSettings {
    fn default() -> Self {
        ReportSettings {
            standard_target_percent: default_standard_target(),
        }
    }
}

impl ReportSettings {
    /// The target in tenths of a percent (900 for 90%), once the configuration is checked.
    pub fn standard_target_tenths(&self) -> u64 {
        (self.standard_target_percent * 10.0).round() as u64
    }
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MetricsSettings {
    /// Address for Prometheus metrics over HTTP (`GET /metrics`), e.g. `127.0.0.1:9464`.
    /// Off when not set.
    #[serde(default)]
    pub listen: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerSettings {
    /// Address and port of the gRPC service.
    pub listen: String,
    /// PEM certificate chain; with `tls_key`, the service speaks TLS only.
    #[serde(default)]
    pub tls_cert: Option<PathBuf>,
    #[serde(default)]
    pub tls_key: Option<PathBuf>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DatabaseSettings {
    /// `sqlite://path/to/file.db` (default, embedded) or `postgres://user@host/db`.
    pub url: String,
    /// How long a writer waits for a busy SQLite database.
    #[serde(default = "default_busy_timeout_ms")]
    pub busy_timeout_ms: u32,
    /// Connections for readers (snapshot, watch).
    #[serde(default = "default_pool_size")]
    pub pool_size: u32,
}

fn default_busy_timeout_ms() -> u32 {
    5_000
}
fn default_pool_size() -> u32 {
    4
}

/// `[site]` of a one-office configuration (its services and counters are top-level).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SiteHeader {
    pub id: String,
    pub name: String,
    /// IANA time zone, e.g. `Europe/Rome`: days, months and midnight are local.
    #[serde(default = "default_time_zone")]
    pub time_zone: String,
}

fn default_time_zone() -> String {
    DEFAULT_TIME_ZONE.to_string()
}

/// One office (site): its id is unique in the database (the IPA code of the public body plus
/// an office code is a good choice, e.g. `c_e001-anagrafe`); counter ids and service codes are
/// unique within it.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SiteSettings {
    pub id: String,
    pub name: String,
    /// IANA time zone, e.g. `Europe/Rome`: days, months and midnight are local.
    #[serde(default = "default_time_zone")]
    pub time_zone: String,
    #[serde(default)]
    pub services: Vec<ServiceSettings>,
    #[serde(default)]
    pub counters: Vec<CounterSettings>,
    #[serde(default)]
    pub totems: Vec<TotemSettings>,
}

/// A checked site.
#[derive(Debug, Clone)]
pub struct SiteConfig {
    pub settings: SiteSettings,
    pub time_zone: Tz,
}

impl SiteConfig {
    pub fn id(&self) -> &str {
        &self.settings.id
    }

    pub fn name(&self) -> &str {
        &self.settings.name
    }

    pub fn services(&self) -> &[ServiceSettings] {
        &self.settings.services
    }

    pub fn counters(&self) -> &[CounterSettings] {
        &self.settings.counters
    }

    pub fn service(&self, code: &str) -> Option<&ServiceSettings> {
        self.settings.services.iter().find(|s| s.code == code)
    }

    pub fn counter(&self, id: &str) -> Option<&CounterSettings> {
        self.settings.counters.iter().find(|c| c.id == id)
    }

    pub fn totems(&self) -> &[TotemSettings] {
        &self.settings.totems
    }

    /// Does the site have any keypad (a counter's or a totem's)?
    pub fn has_keypads(&self) -> bool {
        self.counters().iter().any(|c| c.keypad.is_some()) || !self.totems().is_empty()
    }

    /// The site's counters served by a totem, with their sessions' window in ms.
    pub fn totem_counters(&self) -> faccia_storage::TotemCounters {
        faccia_storage::TotemCounters::new(self.totems().iter().flat_map(|t| {
            t.counters
                .iter()
                .map(|c| (c.clone(), i64::from(t.window_s) * 1000))
        }))
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SessionSettings {
    /// How long the faces stay lit after SERVED (5..=600 s).
    #[serde(default = "default_vote_window")]
    pub vote_window_s: u32,
    /// How long the reason keys stay lit after red (0..=60 s, 0 = do not ask).
    #[serde(default = "default_reason_window")]
    pub reason_window_s: u32,
    /// Extra time after the window before an unreachable keypad's session is called expired.
    #[serde(default = "default_grace")]
    pub grace_s: u32,
}

fn default_vote_window() -> u32 {
    60
}
fn default_reason_window() -> u32 {
    15
}
fn default_grace() -> u32 {
    10
}

impl Default for SessionSettings {
    fn default() -> Self {
        SessionSettings {
            vote_window_s: default_vote_window(),
            reason_window_s: default_reason_window(),
            grace_s: default_grace(),
        }
    }
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PrivacySettings {
    /// Store and show `operator_ref` (per-operator figures). Off by default: Italian labour law
    /// restricts remote monitoring of workers; enable only with the required agreements.
    #[serde(default)]
    pub operator_data: bool,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServiceSettings {
    pub code: String,
    pub name: String,
    /// Maximum waiting time declared in the Carta dei servizi, in minutes.
    #[serde(default)]
    pub standard_wait_min: Option<u32>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CounterSettings {
    pub id: String,
    pub name: String,
    /// The counter's FK-3 keypad, if it has one.
    #[serde(default)]
    pub keypad: Option<KeypadSettings>,
}

/// Where a counter's keypad is: a serial port (an RS-485 bus or a USB-serial adapter) and a unit id.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeypadSettings {
    /// Serial port, e.g. `/dev/ttyUSB0` or `/dev/serial/by-id/...`.
    pub port: PathBuf,
    /// Modbus unit id, 1..=247.
    pub unit: u8,
    /// Baud rate of the bus: 9600, 19200 (factory default), 38400, 57600 or 115200.
    #[serde(default = "default_baud")]
    pub baud: u32,
}

fn default_baud() -> u32 {
    19_200
}

/// A totem: an FK-3 keypad at the entrance serving several counters, with a serial
/// barcode/QR scanner. See `docs/totem.md`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TotemSettings {
    /// Unique among the site's totems and counters (it names the totem in the event log).
    pub id: String,
    pub name: String,
    /// The counters it serves: ids of `[[counters]]` that have no keypad of their own.
    pub counters: Vec<String>,
    /// How long after SERVED the citizen may scan the ticket at the totem (60..=14400 s,
    /// default 600): the session of a counter served by a totem stays open this long.
    #[serde(default = "default_totem_window")]
    pub window_s: u32,
    /// How long the faces stay lit after a scan (5..=600 s, default 30, at most `window_s`).
    #[serde(default = "default_totem_arm_window")]
    pub arm_window_s: u32,
    /// What the ticket's code holds: `{site}`, `{source}` and `{ticket}` with literal text
    /// between them (default `{site}/{ticket}`).
    #[serde(default = "default_totem_code")]
    pub code: String,
    /// The totem's FK-3 keypad, on a bus like any keypad (it may share a counters' bus).
    pub keypad: KeypadSettings,
    pub scanner: ScannerSettings,
}

fn default_totem_window() -> u32 {
    600
}
fn default_totem_arm_window() -> u32 {
    30
}
fn default_totem_code() -> String {
    faccia_domain::totem::CodePattern::DEFAULT.to_string()
}

/// A serial barcode/QR scanner: one ASCII line per scan (CR, LF or CRLF), 8N1.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScannerSettings {
    /// Its serial port, e.g. `/dev/ttyACM0` or `/dev/serial/by-id/...` (not a keypad bus).
    pub port: PathBuf,
    /// 1200, 2400, 4800, 9600 (default), 19200, 38400, 57600 or 115200.
    #[serde(default = "default_scanner_baud")]
    pub baud: u32,
    /// Text the scanner sends before the code, stripped when present.
    #[serde(default)]
    pub prefix: String,
    /// Text the scanner sends after the code (before the terminator), stripped when present.
    #[serde(default)]
    pub suffix: String,
}

fn default_scanner_baud() -> u32 {
    9_600
}

/// Baud rates a scanner may be set to.
pub const SCANNER_BAUDS: [u32; 8] = [1_200, 2_400, 4_800, 9_600, 19_200, 38_400, 57_600, 115_200];

/// Baud rates an FK-3 keypad speaks.
pub const KEYPAD_BAUDS: [u32; 5] = [9_600, 19_200, 38_400, 57_600, 115_200];

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuthSettings {
    #[serde(default)]
    pub tokens: Vec<TokenSettings>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// The queue system's adapter: QueueEvents.
    Queue,
    /// Read-only console: Monitor.
    Viewer,
    /// Everything.
    Admin,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TokenSettings {
    pub name: String,
    pub role: Role,
    /// The bearer token in clear (fine for development).
    #[serde(default)]
    pub token: Option<String>,
    /// Hex SHA-256 of the bearer token (recommended in production).
    #[serde(default)]
    pub sha256: Option<String>,
    /// The sites this token may publish for (queue) or see (viewer). Left out: every site of
    /// this configuration. An admin token sees every site whatever this says.
    #[serde(default)]
    pub sites: Option<Vec<String>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    #[default]
    Human,
    Json,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LoggingSettings {
    #[serde(default)]
    pub format: LogFormat,
    /// A tracing filter such as `info` or `faccia_server=debug,info`.
    #[serde(default = "default_level")]
    pub level: String,
}

fn default_level() -> String {
    "info".to_string()
}

impl Default for LoggingSettings {
    fn default() -> Self {
        LoggingSettings {
            format: LogFormat::default(),
            level: default_level(),
        }
    }
}

/// The configuration after loading and checking.
#[derive(Debug, Clone)]
pub struct Config {
    pub settings: Settings,
    pub listen: SocketAddr,
    /// The offices this process serves, in configuration order (at least one).
    pub sites: Vec<SiteConfig>,
    pub database: DatabaseUrl,
    /// Where the file layer came from, if any.
    pub file: Option<PathBuf>,
    /// The phone survey (FastAGI), when `[phone] enabled`.
    pub phone: Option<PhoneConfig>,
    /// The web channel, when `[web] enabled`.
    pub web: Option<WebConfig>,
    /// The HTTP/JSON ingress, when `[ingress] enabled`.
    pub ingress: Option<IngressConfig>,
}

/// Where a key's value came from, for error messages.
fn origin_of(key: &str, file: Option<&Path>) -> String {
    let env_name = format!(
        "{ENV_PREFIX}{ENV_SEPARATOR}{}",
        key.split(['.', '['])
            .take(2)
            .collect::<Vec<_>>()
            .join(ENV_SEPARATOR)
            .to_uppercase()
    );
    if std::env::var_os(&env_name).is_some() {
        return format!("environment variable {env_name}");
    }
    match file {
        Some(f) => f.display().to_string(),
        None => "built-in defaults".to_string(),
    }
}

impl Config {
    /// Loads defaults, then the file (`explicit`, else `etc/faccia.toml` when it exists), then
    /// the environment.
    pub fn load(explicit: Option<&Path>) -> Result<Config, ConfigError> {
        let file = match explicit {
            Some(p) => {
                if !p.is_file() {
                    return Err(ConfigError::Unreadable {
                        path: p.display().to_string(),
                        reason: "no such file".to_string(),
                    });
                }
                Some(p.to_path_buf())
            }
            None => Some(PathBuf::from(DEFAULT_CONFIG_FILE)).filter(|p| p.is_file()),
        };
        let mut builder = config::Config::builder()
            .add_source(config::File::from_str(DEFAULTS, config::FileFormat::Toml));
        if let Some(f) = &file {
            let text = std::fs::read_to_string(f).map_err(|e| ConfigError::Unreadable {
                path: f.display().to_string(),
                reason: e.to_string(),
            })?;
            // Parse once ourselves so that syntax errors name the file and line.
            if let Err(e) = text.parse::<toml::Table>() {
                return Err(ConfigError::Unreadable {
                    path: f.display().to_string(),
                    reason: e.to_string().trim().to_string(),
                });
            }
            builder = builder.add_source(config::File::from_str(&text, config::FileFormat::Toml));
        }
        builder = builder.add_source(
            config::Environment::with_prefix(ENV_PREFIX)
                .prefix_separator(ENV_SEPARATOR)
                .separator(ENV_SEPARATOR)
                .try_parsing(true),
        );
        let origin_file = file.as_deref();
        let raw = builder.build().map_err(|e| ConfigError::Key {
            origin: origin_file
                .map(|f| f.display().to_string())
                .unwrap_or_else(|| "environment".to_string()),
            key: "(any)".to_string(),
            problem: e.to_string(),
        })?;
        let settings: Settings = serde_path_to_error::deserialize(raw).map_err(|e| {
            let key = e.path().to_string();
            let problem = e.inner().to_string();
            // serde names an unknown field in the message; make it part of the key.
            let key = match problem.strip_prefix("unknown field `") {
                Some(rest) => {
                    let field = rest.split('`').next().unwrap_or("");
                    if key == "." || key.is_empty() {
                        field.to_string()
                    } else if key == field || key.ends_with(&format!(".{field}")) {
                        key
                    } else {
                        format!("{key}.{field}")
                    }
                }
                None => key,
            };
            ConfigError::Key {
                origin: origin_of(&key, origin_file),
                key,
                problem,
            }
        })?;
        Config::check(settings, file)
    }

    fn check(settings: Settings, file: Option<PathBuf>) -> Result<Config, ConfigError> {
        let fail = |key: &str, problem: String| ConfigError::Key {
            origin: origin_of(key, file.as_deref()),
            key: key.to_string(),
            problem,
        };
        let listen: SocketAddr = settings.server.listen.parse().map_err(|_| {
            fail(
                "server.listen",
                format!(
                    "{:?} is not an address:port such as 127.0.0.1:50051",
                    settings.server.listen
                ),
            )
        })?;
        if let Some(m) = &settings.metrics.listen {
            if m.parse::<SocketAddr>().is_err() {
                return Err(fail(
                    "metrics.listen",
                    format!("{m:?} is not an address:port such as 127.0.0.1:9464"),
                ));
            }
        }
        if settings.server.tls_cert.is_some() != settings.server.tls_key.is_some() {
            return Err(fail(
                "server.tls_cert",
                "tls_cert and tls_key must be given together".into(),
            ));
        }
        let database =
            DatabaseUrl::parse(&settings.database.url).map_err(|p| fail("database.url", p))?;
        if settings.database.pool_size == 0 {
            return Err(fail("database.pool_size", "must be at least 1".into()));
        }
        let target = settings.reports.standard_target_percent;
        let tenths = (target * 10.0).round();
        if !(0.0..=1000.0).contains(&tenths) || (target * 10.0 - tenths).abs() > 1e-6 {
            return Err(fail(
                "reports.standard_target_percent",
                format!("{target} is not a percentage between 0 and 100 with at most one decimal, such as 90 or 92.5"),
            ));
        }
        let s = &settings.sessions;
        if !(5..=600).contains(&s.vote_window_s) {
            return Err(fail(
                "sessions.vote_window_s",
                format!("{} is out of range 5..=600 seconds", s.vote_window_s),
            ));
        }
        if s.reason_window_s > 60 {
            return Err(fail(
                "sessions.reason_window_s",
                format!("{} is out of range 0..=60 seconds", s.reason_window_s),
            ));
        }
        if s.grace_s > 600 {
            return Err(fail(
                "sessions.grace_s",
                format!("{} is out of range 0..=600 seconds", s.grace_s),
            ));
        }
        let sites = Config::check_sites(&settings, &fail)?;
        let phone = check_phone(&settings.phone, &sites, &fail)?;
        let web = Config::check_web(&settings.web, &sites, &fail)?;
        let ingress = check_ingress(&settings.ingress, &sites, &fail)?;
        let mut names = HashSet::new();
        for (i, t) in settings.auth.tokens.iter().enumerate() {
            let key = format!("auth.tokens[{i}]");
            if !names.insert(t.name.as_str()) {
                return Err(fail(
                    &format!("{key}.name"),
                    format!("{:?} is listed twice", t.name),
                ));
            }
            match (&t.token, &t.sha256) {
                (Some(_), Some(_)) | (None, None) => {
                    return Err(fail(
                        &key,
                        "give exactly one of `token` (clear text) or `sha256` (hex digest)".into(),
                    ))
                }
                (Some(tok), None) if tok.len() < 8 => {
                    return Err(fail(
                        &format!("{key}.token"),
                        "is shorter than 8 characters".into(),
                    ))
                }
                (None, Some(h)) if h.len() != 64 || hex::decode(h).is_err() => {
                    return Err(fail(
                        &format!("{key}.sha256"),
                        "must be 64 hexadecimal digits (sha256sum of the token)".into(),
                    ))
                }
                _ => {}
            }
            // A token may name sites other processes serve (one token list for every office
            // of a central database): the names must be site ids, not served here.
            for (j, site) in t.sites.iter().flatten().enumerate() {
                if !valid_site_id(site) {
                    return Err(fail(
                        &format!("{key}.sites[{j}]"),
                        format!(
                            "{site:?} is not a site id (sites of this configuration: {})",
                            site_list(&sites)
                        ),
                    ));
                }
            }
            if t.sites.as_ref().is_some_and(|l| l.is_empty()) {
                return Err(fail(
                    &format!("{key}.sites"),
                    "is empty: leave it out for every site, or name at least one".into(),
                ));
            }
        }
        Ok(Config {
            settings,
            listen,
            sites,
            database,
            file,
            phone,
            web,
            ingress,
        })
    }

    fn check_web(
        w: &WebSettings,
        sites: &[SiteConfig],
        fail: &dyn Fn(&str, String) -> ConfigError,
    ) -> Result<Option<WebConfig>, ConfigError> {
        if let Some(k) = &w.key {
            parse_key_hex(k).map_err(|p| fail("web.key", p))?;
        }
        if !w.enabled {
            return Ok(None);
        }
        let listen: SocketAddr = w.listen.parse().map_err(|_| {
            fail(
                "web.listen",
                format!(
                    "{:?} is not an address:port such as 127.0.0.1:8080",
                    w.listen
                ),
            )
        })?;
        let Some(url) = &w.public_url else {
            return Err(fail(
                "web.public_url",
                "is required with [web] enabled: the address citizens open, such as \
                 https://voto.comune.example.it"
                    .into(),
            ));
        };
        let rest = url
            .strip_prefix("https://")
            .or_else(|| url.strip_prefix("http://"));
        let ok = rest.is_some_and(|r| {
            let host = r.split('/').next().unwrap_or("");
            !host.is_empty()
                && !r.contains(['?', '#', ' '])
                && r.chars().all(|c| c.is_ascii_graphic())
        });
        if !ok {
            return Err(fail(
                "web.public_url",
                format!(
                    "{url:?} is not an http(s) address without query, such as \
                     https://voto.comune.example.it"
                ),
            ));
        }
        if !(1..=720).contains(&w.link_lifetime_h) {
            return Err(fail(
                "web.link_lifetime_h",
                format!("{} is out of range 1..=720 hours", w.link_lifetime_h),
            ));
        }
        if !(1..=3650).contains(&w.free_text_retention_days) {
            return Err(fail(
                "web.free_text_retention_days",
                format!(
                    "{} is out of range 1..=3650 days",
                    w.free_text_retention_days
                ),
            ));
        }
        let mut link_counters = Vec::new();
        for (i, entry) in w.link_counters.iter().enumerate() {
            let key = format!("web.link_counters[{i}]");
            let (site, counter) = match (entry.split_once('/'), sites) {
                (Some((s, c)), _) => match sites.iter().find(|x| x.id() == s) {
                    Some(site) => (site, c),
                    None => {
                        return Err(fail(
                            &key,
                            format!(
                                "{entry:?}: site {s:?} is not configured (sites: {})",
                                site_list(sites)
                            ),
                        ))
                    }
                },
                (None, [one]) => (one, entry.as_str()),
                (None, _) => {
                    return Err(fail(
                        &key,
                        format!(
                            "{entry:?}: with several sites write site-id/counter-id (sites: {})",
                            site_list(sites)
                        ),
                    ))
                }
            };
            let Some(c) = site.counter(counter) else {
                return Err(fail(
                    &key,
                    format!(
                        "{entry:?} is not a counter of site {:?} ({})",
                        site.id(),
                        site.counters()
                            .iter()
                            .map(|c| c.id.as_str())
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                ));
            };
            if c.keypad.is_some() {
                return Err(fail(
                    &key,
                    format!(
                        "counter {counter:?} has a keypad: a served ticket gets one vote \
                         session, and there it is the keypad's"
                    ),
                ));
            }
            if let Some(t) = site
                .totems()
                .iter()
                .find(|t| t.counters.iter().any(|x| x == counter))
            {
                return Err(fail(
                    &key,
                    format!(
                        "counter {counter:?} is served by totem {:?}: a served ticket gets one \
                         vote session, and there it is the totem's",
                        t.id
                    ),
                ));
            }
            let pair = (site.id().to_string(), counter.to_string());
            if link_counters.contains(&pair) {
                return Err(fail(&key, format!("{entry:?} is listed twice")));
            }
            link_counters.push(pair);
        }
        Ok(Some(WebConfig {
            listen,
            public_url: url.trim_end_matches('/').to_string(),
            lifetime_ms: i64::from(w.link_lifetime_h) * 3_600_000,
            retention_ms: i64::from(w.free_text_retention_days) * 86_400_000,
            agid_form: w.agid_form,
            link_counters,
        }))
    }

    /// The web link key: `web.key`, else the contents of `web.key_file`, which is created with
    /// a random key (mode 0600) when it does not exist yet.
    pub fn web_link_key(&self) -> Result<faccia_storage::LinkKey, ConfigError> {
        let w = &self.settings.web;
        let fail = |key: &str, problem: String| ConfigError::Key {
            origin: origin_of(key, self.file.as_deref()),
            key: key.to_string(),
            problem,
        };
        if let Some(k) = &w.key {
            return parse_key_hex(k)
                .map(faccia_storage::LinkKey::new)
                .map_err(|p| fail("web.key", p));
        }
        let path = &w.key_file;
        let shown = path.display();
        let read = |bytes: Vec<u8>| -> Result<[u8; 32], String> {
            if let Ok(k) = <[u8; 32]>::try_from(bytes.as_slice()) {
                return Ok(k);
            }
            let text = String::from_utf8(bytes)
                .map_err(|_| format!("{shown}: is neither 32 bytes nor 64 hexadecimal digits"))?;
            parse_key_hex(text.trim()).map_err(|p| format!("{shown}: {p}"))
        };
        match std::fs::read(path) {
            Ok(bytes) => read(bytes)
                .map(faccia_storage::LinkKey::new)
                .map_err(|p| fail("web.key_file", p)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let mut key = [0u8; 32];
                getrandom::fill(&mut key).map_err(|e| {
                    fail(
                        "web.key_file",
                        format!("{shown}: no randomness for a new key: {e}"),
                    )
                })?;
                if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                    std::fs::create_dir_all(dir).map_err(|e| {
                        fail(
                            "web.key_file",
                            format!("{shown}: cannot create its folder: {e}"),
                        )
                    })?;
                }
                let mut opts = std::fs::OpenOptions::new();
                opts.write(true).create_new(true);
                #[cfg(unix)]
                std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
                match opts.open(path) {
                    Ok(mut f) => {
                        use std::io::Write;
                        f.write_all(format!("{}\n", hex::encode(key)).as_bytes())
                            .and_then(|()| f.sync_all())
                            .map_err(|e| {
                                fail("web.key_file", format!("{shown}: cannot write: {e}"))
                            })?;
                        tracing::info!(file = %shown, "created a new web link key");
                        Ok(faccia_storage::LinkKey::new(key))
                    }
                    // Another server created it meanwhile: use that one.
                    Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                        let bytes = std::fs::read(path).map_err(|e| {
                            fail("web.key_file", format!("{shown}: cannot read: {e}"))
                        })?;
                        read(bytes)
                            .map(faccia_storage::LinkKey::new)
                            .map_err(|p| fail("web.key_file", p))
                    }
                    Err(e) => Err(fail("web.key_file", format!("{shown}: cannot create: {e}"))),
                }
            }
            Err(e) => Err(fail("web.key_file", format!("{shown}: cannot read: {e}"))),
        }
    }

    /// The sites from `[site]` + top-level services and counters, or from `[[sites]]`.
    fn check_sites(
        settings: &Settings,
        fail: &dyn Fn(&str, String) -> ConfigError,
    ) -> Result<Vec<SiteConfig>, ConfigError> {
        let (list, prefix): (Vec<SiteSettings>, Option<&str>) = if settings.sites.is_empty() {
            let header = settings.site.clone().unwrap_or_else(|| SiteHeader {
                id: DEFAULT_SITE_ID.into(),
                name: DEFAULT_SITE_NAME.into(),
                time_zone: DEFAULT_TIME_ZONE.into(),
            });
            let one = SiteSettings {
                id: header.id,
                name: header.name,
                time_zone: header.time_zone,
                services: settings.services.clone(),
                counters: settings.counters.clone(),
                totems: settings.totems.clone(),
            };
            (vec![one], None)
        } else {
            if settings.site.is_some() {
                return Err(fail(
                    "site",
                    "give either [site] (one office) or [[sites]] (several), not both".into(),
                ));
            }
            if !settings.services.is_empty()
                || !settings.counters.is_empty()
                || !settings.totems.is_empty()
            {
                let key = if !settings.services.is_empty() {
                    "services"
                } else if !settings.counters.is_empty() {
                    "counters"
                } else {
                    "totems"
                };
                return Err(fail(
                    key,
                    "with [[sites]], each site lists its own [[sites.services]], [[sites.counters]] and [[sites.totems]]"
                        .into(),
                ));
            }
            (settings.sites.clone(), Some("sites"))
        };
        let at = |i: usize, key: &str| match prefix {
            None if key.is_empty() => "site".to_string(),
            None => {
                if key.starts_with("services")
                    || key.starts_with("counters")
                    || key.starts_with("totems")
                {
                    key.to_string()
                } else {
                    format!("site.{key}")
                }
            }
            Some(p) if key.is_empty() => format!("{p}[{i}]"),
            Some(p) => format!("{p}[{i}].{key}"),
        };
        let mut ids = HashSet::new();
        let mut units = std::collections::HashMap::new();
        let mut bauds = std::collections::HashMap::new();
        let mut port_sites: std::collections::HashMap<PathBuf, String> =
            std::collections::HashMap::new();
        let mut scanner_ports: std::collections::HashMap<PathBuf, String> =
            std::collections::HashMap::new();
        let mut out = Vec::new();
        for (si, site) in list.into_iter().enumerate() {
            if !valid_site_id(&site.id) {
                return Err(fail(
                    &at(si, "id"),
                    format!(
                        "{:?} is not a site id: use 1 to 64 letters, digits, '-', '_' or '.',                          e.g. the IPA code and an office code such as c_e001-anagrafe",
                        site.id
                    ),
                ));
            }
            if !ids.insert(site.id.clone()) {
                return Err(fail(
                    &at(si, "id"),
                    format!("{:?} is listed twice", site.id),
                ));
            }
            let time_zone: Tz = site.time_zone.parse().map_err(|_| {
                fail(
                    &at(si, "time_zone"),
                    format!(
                        "{:?} is not an IANA time zone such as Europe/Rome",
                        site.time_zone
                    ),
                )
            })?;
            let mut seen = HashSet::new();
            for (i, svc) in site.services.iter().enumerate() {
                if svc.code.trim().is_empty() {
                    return Err(fail(
                        &at(si, &format!("services[{i}].code")),
                        "must not be empty".into(),
                    ));
                }
                if !seen.insert(svc.code.as_str()) {
                    return Err(fail(
                        &at(si, &format!("services[{i}].code")),
                        format!("{:?} is listed twice", svc.code),
                    ));
                }
                if svc.standard_wait_min == Some(0) {
                    return Err(fail(
                        &at(si, &format!("services[{i}].standard_wait_min")),
                        "must be at least 1 minute, or left out when the service declares none"
                            .into(),
                    ));
                }
            }
            let mut seen = HashSet::new();
            for (i, c) in site.counters.iter().enumerate() {
                if c.id.trim().is_empty() {
                    return Err(fail(
                        &at(si, &format!("counters[{i}].id")),
                        "must not be empty".into(),
                    ));
                }
                if !seen.insert(c.id.as_str()) {
                    return Err(fail(
                        &at(si, &format!("counters[{i}].id")),
                        format!("{:?} is listed twice", c.id),
                    ));
                }
            }
            let mut keypads: Vec<(String, String, &KeypadSettings)> = site
                .counters
                .iter()
                .enumerate()
                .filter_map(|(i, c)| {
                    c.keypad.as_ref().map(|k| {
                        let owner = format!("counter {:?}", format!("{}/{}", site.id, c.id));
                        (at(si, &format!("counters[{i}].keypad")), owner, k)
                    })
                })
                .collect();
            check_totems(&site, &|k: &str| at(si, k), fail)?;
            for (i, t) in site.totems.iter().enumerate() {
                keypads.push((
                    at(si, &format!("totems[{i}].keypad")),
                    format!("totem {:?}", format!("{}/{}", site.id, t.id)),
                    &t.keypad,
                ));
                let key = at(si, &format!("totems[{i}].scanner.port"));
                if let Some(other) = scanner_ports.insert(t.scanner.port.clone(), key.clone()) {
                    return Err(fail(
                        &key,
                        format!(
                            "{} is already the scanner port of {other}",
                            t.scanner.port.display()
                        ),
                    ));
                }
            }
            for (key, owner_id, k) in keypads {
                if !(1..=247).contains(&k.unit) {
                    return Err(fail(
                        &format!("{key}.unit"),
                        format!("{} is out of range 1..=247", k.unit),
                    ));
                }
                if !KEYPAD_BAUDS.contains(&k.baud) {
                    return Err(fail(
                        &format!("{key}.baud"),
                        format!("{} is not one of 9600, 19200, 38400, 57600, 115200", k.baud),
                    ));
                }
                if let Some(other) = port_sites.insert(k.port.clone(), site.id.clone()) {
                    if other != site.id {
                        return Err(fail(
                            &format!("{key}.port"),
                            format!(
                                "{} already carries the keypads of site {other:?}: a serial \
                                 port belongs to one site",
                                k.port.display()
                            ),
                        ));
                    }
                }
                if let Some(other) = units.insert((k.port.clone(), k.unit), owner_id) {
                    return Err(fail(
                        &format!("{key}.unit"),
                        format!(
                            "unit {} on {} is already the keypad of {other}",
                            k.unit,
                            k.port.display()
                        ),
                    ));
                }
                if let Some(b) = bauds.insert(k.port.clone(), k.baud) {
                    if b != k.baud {
                        return Err(fail(
                            &format!("{key}.baud"),
                            format!(
                                "every keypad on {} must use the same baud ({b})",
                                k.port.display()
                            ),
                        ));
                    }
                }
            }
            out.push(SiteConfig {
                settings: site,
                time_zone,
            });
        }
        for (port, key) in &scanner_ports {
            if port_sites.contains_key(port) {
                return Err(fail(
                    key,
                    format!(
                        "{} is a keypad bus: a scanner needs a serial port of its own",
                        port.display()
                    ),
                ));
            }
        }
        Ok(out)
    }

    /// The site with this id.
    pub fn site(&self, id: &str) -> Option<&SiteConfig> {
        self.sites.iter().find(|s| s.id() == id)
    }

    /// The first (with one office: the only) site.
    pub fn first_site(&self) -> &SiteConfig {
        // `check` refuses a configuration without sites.
        &self.sites[0]
    }
}

/// The totems of one site: ids, counters served, windows, scanner and code settings (the
/// keypads are checked with the counters' keypads). `at` names a key of this site.
fn check_totems(
    site: &SiteSettings,
    at: &dyn Fn(&str) -> String,
    fail: &dyn Fn(&str, String) -> ConfigError,
) -> Result<(), ConfigError> {
    let mut ids = HashSet::new();
    for (i, t) in site.totems.iter().enumerate() {
        let key = |k: &str| at(&format!("totems[{i}].{k}"));
        if t.id.trim().is_empty() {
            return Err(fail(&key("id"), "must not be empty".into()));
        }
        if !ids.insert(t.id.as_str()) {
            return Err(fail(&key("id"), format!("{:?} is listed twice", t.id)));
        }
        if site.counters.iter().any(|c| c.id == t.id) {
            return Err(fail(
                &key("id"),
                format!(
                    "{:?} is also a counter id: a totem needs an id of its own",
                    t.id
                ),
            ));
        }
        if t.counters.is_empty() {
            return Err(fail(
                &key("counters"),
                "must list at least one counter".into(),
            ));
        }
        for (j, c) in t.counters.iter().enumerate() {
            let ck = key(&format!("counters[{j}]"));
            match site.counters.iter().find(|x| x.id == *c) {
                None => {
                    return Err(fail(
                        &ck,
                        format!("{c:?} is not one of this site's [[counters]]"),
                    ))
                }
                Some(x) if x.keypad.is_some() => {
                    return Err(fail(
                        &ck,
                        format!(
                            "counter {c:?} has a keypad of its own: a counter served by a \
                             totem has none (its citizens vote at the totem)"
                        ),
                    ))
                }
                Some(_) => {}
            }
            if t.counters[..j].contains(c) {
                return Err(fail(&ck, format!("{c:?} is listed twice")));
            }
        }
        if !(60..=14_400).contains(&t.window_s) {
            return Err(fail(
                &key("window_s"),
                format!("{} is out of range 60..=14400 seconds", t.window_s),
            ));
        }
        if !(5..=600).contains(&t.arm_window_s) {
            return Err(fail(
                &key("arm_window_s"),
                format!("{} is out of range 5..=600 seconds", t.arm_window_s),
            ));
        }
        if t.arm_window_s > t.window_s {
            return Err(fail(
                &key("arm_window_s"),
                format!(
                    "{} is longer than window_s ({})",
                    t.arm_window_s, t.window_s
                ),
            ));
        }
        if let Err(e) = faccia_domain::totem::CodePattern::parse(&t.code) {
            return Err(fail(&key("code"), format!("{:?}: {e}", t.code)));
        }
        if !SCANNER_BAUDS.contains(&t.scanner.baud) {
            return Err(fail(
                &key("scanner.baud"),
                format!(
                    "{} is not one of 1200, 2400, 4800, 9600, 19200, 38400, 57600, 115200",
                    t.scanner.baud
                ),
            ));
        }
        for (name, v) in [("prefix", &t.scanner.prefix), ("suffix", &t.scanner.suffix)] {
            if !v.bytes().all(|b| (0x20..0x7F).contains(&b)) || v.len() > 32 {
                return Err(fail(
                    &key(&format!("scanner.{name}")),
                    "must be at most 32 printable ASCII characters".into(),
                ));
            }
        }
    }
    Ok(())
}

/// A site id: 1 to 64 ASCII letters, digits, '-', '_' or '.'.
pub fn valid_site_id(id: &str) -> bool {
    (1..=64).contains(&id.len())
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

/// A link key written as 64 hexadecimal digits.
fn parse_key_hex(text: &str) -> Result<[u8; 32], String> {
    hex::decode(text)
        .ok()
        .and_then(|b| <[u8; 32]>::try_from(b.as_slice()).ok())
        .ok_or_else(|| {
            "is not a link key: 64 hexadecimal digits (32 bytes, e.g. from `openssl rand -hex 32`)"
                .to_string()
        })
}

fn site_list(sites: &[SiteConfig]) -> String {
    sites.iter().map(|s| s.id()).collect::<Vec<_>>().join(", ")
}

// ---------------------------------------------------------------------------------------------
// [phone]: the survey at the end of a call, over Asterisk's FastAGI.

/// Which of the PBX's ids keys a call's one vote.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CallIdKey {
    /// The id of the whole call (`CHANNEL(linkedid)`): the same however many channels the call
    /// went through. Falls back to the channel's uniqueid when the PBX gives none.
    #[default]
    Linkedid,
    /// The id of the caller's channel (`agi_uniqueid`).
    Uniqueid,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PhoneSettings {
    /// Start the FastAGI listener with `faccia serve`. Off by default.
    #[serde(default)]
    pub enabled: bool,
    /// Address and port of the FastAGI listener (Asterisk's default port is 4573).
    #[serde(default = "default_phone_listen")]
    pub listen: String,
    /// The PBX's name: calls are the sessions of source `pbx:<name>`.
    #[serde(default = "default_pbx")]
    pub pbx: String,
    /// `linkedid` (default) or `uniqueid`.
    #[serde(default)]
    pub call_id: CallIdKey,
    /// How long after the call reached the survey its vote is taken (30..=3600 s).
    #[serde(default = "default_phone_vote_window")]
    pub vote_window_s: u32,
    /// How long faccia waits for a key after a question (1..=60 s).
    #[serde(default = "default_digit_timeout")]
    pub digit_timeout_s: u32,
    /// How many times a question is asked when the key is invalid or does not come (1..=5).
    #[serde(default = "default_attempts")]
    pub attempts: u8,
    /// Ask a reason (1-4) after red.
    #[serde(default = "default_true")]
    pub ask_reason: bool,
    /// The longest wait for one answer of the PBX: the longest prompt plus the digit timeout
    /// (10..=600 s). A PBX that says nothing for longer is hung up on.
    #[serde(default = "default_reply_timeout")]
    pub reply_timeout_s: u32,
    #[serde(default)]
    pub prompts: PromptSettings,
    /// The survey scripts the PBX may ask for: `AGI(agi://host/<script>)`.
    #[serde(default)]
    pub lines: Vec<PhoneLineSettings>,
}

fn default_phone_listen() -> String {
    "127.0.0.1:4573".to_string()
}
fn default_pbx() -> String {
    "asterisk".to_string()
}
fn default_phone_vote_window() -> u32 {
    300
}
fn default_digit_timeout() -> u32 {
    6
}
fn default_attempts() -> u8 {
    3
}
fn default_true() -> bool {
    true
}
fn default_reply_timeout() -> u32 {
    120
}

impl Default for PhoneSettings {
    fn default() -> Self {
        PhoneSettings {
            enabled: false,
            listen: default_phone_listen(),
            pbx: default_pbx(),
            call_id: CallIdKey::default(),
            vote_window_s: default_phone_vote_window(),
            digit_timeout_s: default_digit_timeout(),
            attempts: default_attempts(),
            ask_reason: true,
            reply_timeout_s: default_reply_timeout(),
            prompts: PromptSettings::default(),
            lines: Vec::new(),
        }
    }
}

/// The sound files the PBX plays (names as `STREAM FILE` takes them: no extension; the PBX
/// picks the channel language's directory, e.g. `sounds/it/faccia/domanda.wav`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PromptSettings {
    /// Played once before the question, if given.
    #[serde(default)]
    pub welcome: Option<String>,
    /// The faces: 1 satisfied, 2 so-so, 3 unsatisfied.
    #[serde(default = "default_prompt_question")]
    pub question: String,
    /// After red: 1 waiting time, 2 staff, 3 having to come back, 4 outcome.
    #[serde(default = "default_prompt_reason")]
    pub reason: String,
    #[serde(default = "default_prompt_thanks")]
    pub thanks: String,
    /// A key that is not one of the choices.
    #[serde(default = "default_prompt_invalid")]
    pub invalid: String,
    /// The call's vote was given already.
    #[serde(default = "default_prompt_already_voted")]
    pub already_voted: String,
}

fn default_prompt_question() -> String {
    "faccia/domanda".to_string()
}
fn default_prompt_reason() -> String {
    "faccia/motivo".to_string()
}
fn default_prompt_thanks() -> String {
    "faccia/grazie".to_string()
}
fn default_prompt_invalid() -> String {
    "faccia/tasto-non-valido".to_string()
}
fn default_prompt_already_voted() -> String {
    "faccia/gia-votato".to_string()
}

impl Default for PromptSettings {
    fn default() -> Self {
        PromptSettings {
            welcome: None,
            question: default_prompt_question(),
            reason: default_prompt_reason(),
            thanks: default_prompt_thanks(),
            invalid: default_prompt_invalid(),
            already_voted: default_prompt_already_voted(),
        }
    }
}

/// One survey script: which office and phone line its calls belong to.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PhoneLineSettings {
    /// The script path of `AGI(agi://host/<script>)`. Default `vote`.
    #[serde(default = "default_script")]
    pub script: String,
    /// The office (site id) of the calls; may be left out when there is one.
    #[serde(default)]
    pub site: Option<String>,
    /// The phone line's id: the calls' "counter" in figures (not a counter of the office).
    pub line: String,
    /// The service code of the calls, a service of the site; the dialplan may give another one
    /// as the first AGI argument (`AGI(agi://host/vote,B)`).
    pub service: String,
}

fn default_script() -> String {
    "vote".to_string()
}

/// A checked `[phone]`.
#[derive(Debug, Clone)]
pub struct PhoneConfig {
    pub listen: SocketAddr,
    /// `pbx:<name>`.
    pub source_id: String,
    pub call_id: CallIdKey,
    pub vote_window_s: u32,
    pub digit_timeout_s: u32,
    pub attempts: u8,
    pub ask_reason: bool,
    pub reply_timeout_s: u32,
    pub prompts: PromptSettings,
    pub lines: Vec<PhoneLine>,
}

/// A checked `[[phone.lines]]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PhoneLine {
    pub script: String,
    pub site_id: String,
    pub line: String,
    pub service: String,
}

impl PhoneConfig {
    /// The line a script path names.
    pub fn line(&self, script: &str) -> Option<&PhoneLine> {
        self.lines.iter().find(|l| l.script == script)
    }
}

fn id_like(s: &str, extra: &[char]) -> bool {
    (1..=64).contains(&s.len())
        && s.chars().all(|c| {
            c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') || extra.contains(&c)
        })
}

fn check_phone(
    p: &PhoneSettings,
    sites: &[SiteConfig],
    fail: &dyn Fn(&str, String) -> ConfigError,
) -> Result<Option<PhoneConfig>, ConfigError> {
    if !p.enabled {
        return Ok(None);
    }
    let listen: SocketAddr = p.listen.parse().map_err(|_| {
        fail(
            "phone.listen",
            format!(
                "{:?} is not an address:port such as 127.0.0.1:4573",
                p.listen
            ),
        )
    })?;
    if !id_like(&p.pbx, &[]) {
        return Err(fail(
            "phone.pbx",
            format!(
                "{:?} is not a name: use 1 to 64 letters, digits, '-', '_' or '.'",
                p.pbx
            ),
        ));
    }
    let ranges: [(&str, u32, std::ops::RangeInclusive<u32>); 4] = [
        ("phone.vote_window_s", p.vote_window_s, 30..=3600),
        ("phone.digit_timeout_s", p.digit_timeout_s, 1..=60),
        ("phone.attempts", u32::from(p.attempts), 1..=5),
        ("phone.reply_timeout_s", p.reply_timeout_s, 10..=600),
    ];
    for (key, v, range) in ranges {
        if !range.contains(&v) {
            return Err(fail(
                key,
                format!("{v} is out of range {}..={}", range.start(), range.end()),
            ));
        }
    }
    if p.reply_timeout_s <= p.digit_timeout_s {
        return Err(fail(
            "phone.reply_timeout_s",
            format!(
                "must be longer than phone.digit_timeout_s ({} s): it covers a prompt and the wait for its key",
                p.digit_timeout_s
            ),
        ));
    }
    let pr = &p.prompts;
    let prompts = [
        ("welcome", pr.welcome.as_deref()),
        ("question", Some(pr.question.as_str())),
        ("reason", Some(pr.reason.as_str())),
        ("thanks", Some(pr.thanks.as_str())),
        ("invalid", Some(pr.invalid.as_str())),
        ("already_voted", Some(pr.already_voted.as_str())),
    ];
    for (key, name) in prompts {
        if let Some(name) = name {
            if !faccia_domain::phone::valid_prompt(name) {
                return Err(fail(
                    &format!("phone.prompts.{key}"),
                    format!(
                        "{name:?} is not a sound file name such as faccia/domanda (no extension, \
                         space or quote)"
                    ),
                ));
            }
        }
    }
    if p.lines.is_empty() {
        return Err(fail(
            "phone.lines",
            "with [phone] enabled, give at least one [[phone.lines]] (script, line, service)"
                .into(),
        ));
    }
    let mut scripts = HashSet::new();
    let mut lines = Vec::new();
    for (i, l) in p.lines.iter().enumerate() {
        let key = |k: &str| format!("phone.lines[{i}].{k}");
        let script = l.script.trim_matches('/');
        if !id_like(script, &['/']) {
            return Err(fail(
                &key("script"),
                format!(
                    "{:?} is not a script path such as vote: 1 to 64 letters, digits, '-', '_', '.' or '/'",
                    l.script
                ),
            ));
        }
        if !scripts.insert(script.to_string()) {
            return Err(fail(&key("script"), format!("{script:?} is listed twice")));
        }
        let site = match (&l.site, sites) {
            (Some(id), _) => sites.iter().find(|s| s.id() == id).ok_or_else(|| {
                fail(
                    &key("site"),
                    format!(
                        "{id:?} is not a site of this configuration ({})",
                        site_list(sites)
                    ),
                )
            })?,
            (None, [one]) => one,
            (None, _) => {
                return Err(fail(
                    &key("site"),
                    format!(
                        "is required: this configuration has several sites ({})",
                        site_list(sites)
                    ),
                ))
            }
        };
        if !id_like(&l.line, &[]) {
            return Err(fail(
                &key("line"),
                format!(
                    "{:?} is not a line id: use 1 to 64 letters, digits, '-', '_' or '.'",
                    l.line
                ),
            ));
        }
        if site.counter(&l.line).is_some() {
            return Err(fail(
                &key("line"),
                format!(
                    "{:?} is a counter of site {:?}: a phone line needs an id of its own",
                    l.line,
                    site.id()
                ),
            ));
        }
        if site.service(&l.service).is_none() {
            return Err(fail(
                &key("service"),
                format!(
                    "{:?} is not a service of site {:?} (its services: {})",
                    l.service,
                    site.id(),
                    site.services()
                        .iter()
                        .map(|s| s.code.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            ));
        }
        lines.push(PhoneLine {
            script: script.to_string(),
            site_id: site.id().to_string(),
            line: l.line.clone(),
            service: l.service.clone(),
        });
    }
    Ok(Some(PhoneConfig {
        listen,
        source_id: format!("pbx:{}", p.pbx),
        call_id: p.call_id,
        vote_window_s: p.vote_window_s,
        digit_timeout_s: p.digit_timeout_s,
        attempts: p.attempts,
        ask_reason: p.ask_reason,
        reply_timeout_s: p.reply_timeout_s,
        prompts: p.prompts.clone(),
        lines,
    }))
}

fn check_ingress(
    s: &IngressSettings,
    sites: &[SiteConfig],
    fail: &dyn Fn(&str, String) -> ConfigError,
) -> Result<Option<IngressConfig>, ConfigError> {
    if !s.enabled {
        return Ok(None);
    }
    let listen: SocketAddr = s.listen.parse().map_err(|_| {
        fail(
            "ingress.listen",
            format!(
                "{:?} is not an address:port such as 127.0.0.1:8081",
                s.listen
            ),
        )
    })?;
    if !(1..=16384).contains(&s.max_body_kib) {
        return Err(fail(
            "ingress.max_body_kib",
            format!("{} is out of range 1..=16384 KiB", s.max_body_kib),
        ));
    }
    let id_ok = |v: &str| {
        !v.is_empty()
            && v.len() <= 64
            && v.bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
    };
    let mut units: Vec<NovosgaUnit> = Vec::new();
    for (i, n) in s.novosga.iter().enumerate() {
        let key = format!("ingress.novosga[{i}]");
        if !id_ok(&n.unit) {
            return Err(fail(
                &format!("{key}.unit"),
                format!(
                    "{:?} is not a unit id (letters, digits, - _ .; NovoSGA's unidade id such as 1)",
                    n.unit
                ),
            ));
        }
        if units.iter().any(|u| u.unit == n.unit) {
            return Err(fail(
                &format!("{key}.unit"),
                format!("{:?} is listed twice", n.unit),
            ));
        }
        let site = match (&n.site, sites) {
            (Some(id), _) => sites.iter().find(|x| x.id() == id).ok_or_else(|| {
                fail(
                    &format!("{key}.site"),
                    format!("{id:?} is not configured (sites: {})", site_list(sites)),
                )
            })?,
            (None, [one]) => one,
            (None, _) => {
                return Err(fail(
                    &format!("{key}.site"),
                    format!(
                        "is required with several sites (sites: {})",
                        site_list(sites)
                    ),
                ))
            }
        };
        let source_id = n
            .source_id
            .clone()
            .unwrap_or_else(|| format!("novosga-{}", n.unit));
        if !id_ok(&source_id) {
            return Err(fail(
                &format!("{key}.source_id"),
                format!("{source_id:?} is not an identifier (letters, digits, - _ .)"),
            ));
        }
        for (login, counter) in &n.counters {
            if counter.is_empty() || counter.len() > 128 || counter.trim() != counter {
                return Err(fail(
                    &format!("{key}.counters.{login}"),
                    format!("{counter:?} is not a counter id"),
                ));
            }
        }
        for (id, code) in &n.services {
            if code.is_empty() || code.len() > 128 || code.trim() != code {
                return Err(fail(
                    &format!("{key}.services.{id}"),
                    format!("{code:?} is not a service code"),
                ));
            }
        }
        let signature = match (&n.signature_header, &n.secret) {
            (None, None) => None,
            (Some(h), Some(secret)) => {
                let h = h.to_ascii_lowercase();
                if http::HeaderName::from_bytes(h.as_bytes()).is_err() {
                    return Err(fail(
                        &format!("{key}.signature_header"),
                        format!("{h:?} is not an HTTP header name"),
                    ));
                }
                if secret.len() < 16 {
                    return Err(fail(
                        &format!("{key}.secret"),
                        "is shorter than 16 characters".into(),
                    ));
                }
                Some((h, secret.as_bytes().to_vec()))
            }
            (Some(_), None) => {
                return Err(fail(
                    &format!("{key}.secret"),
                    "is required with signature_header".into(),
                ))
            }
            (None, Some(_)) => {
                return Err(fail(
                    &format!("{key}.signature_header"),
                    "is required with secret: the header that carries the signature".into(),
                ))
            }
        };
        units.push(NovosgaUnit {
            unit: n.unit.clone(),
            site_id: site.id().to_string(),
            source_id,
            counters: n.counters.clone(),
            services: n.services.clone(),
            signature,
        });
    }
    Ok(Some(IngressConfig {
        listen,
        max_body_bytes: s.max_body_kib as usize * 1024,
        novosga: units,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn load_text(text: &str) -> Result<Config, ConfigError> {
        let mut f = tempfile::NamedTempFile::new().unwrap();
        f.write_all(text.as_bytes()).unwrap();
        Config::load(Some(f.path()))
    }

    #[test]
    fn sample_office_loads() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../etc/faccia.toml");
        let c = Config::load(Some(&path)).unwrap();
        assert_eq!(c.settings.counters.len(), 8);
        assert_eq!(c.settings.services.len(), 4);
        assert_eq!(c.listen.to_string(), "127.0.0.1:50051");
        assert!(!c.settings.privacy.operator_data);
    }

    #[test]
    fn unknown_key_is_named_with_file() {
        let err = load_text("[server]\nlisten = \"127.0.0.1:1\"\nlisten_port = 5\n").unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("key `server.listen_port`"), "{msg}");
        let msg = load_text("[[counters]]\nid = \"a\"\nname = \"b\"\ncolour = \"red\"\n")
            .unwrap_err()
            .to_string();
        assert!(msg.contains("key `counters[0].colour`:"), "{msg}");
        assert!(msg.contains(".tmp"), "{msg}");
    }

    #[test]
    fn wrong_type_and_value_are_named() {
        let msg = load_text("[sessions]\nvote_window_s = \"soon\"\n")
            .unwrap_err()
            .to_string();
        assert!(msg.contains("sessions.vote_window_s"), "{msg}");
        let msg = load_text("[sessions]\nvote_window_s = 3\n")
            .unwrap_err()
            .to_string();
        assert!(
            msg.contains("sessions.vote_window_s") && msg.contains("5..=600"),
            "{msg}"
        );
        let msg = load_text("[site]\nid=\"x\"\nname=\"x\"\ntime_zone = \"Mars/Olympus\"\n")
            .unwrap_err()
            .to_string();
        assert!(msg.contains("site.time_zone"), "{msg}");
        let msg = load_text("[[auth.tokens]]\nname=\"a\"\nrole=\"queue\"\n")
            .unwrap_err()
            .to_string();
        assert!(msg.contains("auth.tokens[0]"), "{msg}");
        let msg = load_text("[[auth.tokens]]\nname=\"a\"\nrole=\"boss\"\ntoken=\"12345678\"\n")
            .unwrap_err()
            .to_string();
        assert!(msg.contains("auth.tokens[0].role"), "{msg}");
    }

    const TWO_SITES: &str = r#"
[[sites]]
id = "c_h501-anagrafe"
name = "Anagrafe"
time_zone = "Europe/Rome"
[[sites.services]]
code = "A"
name = "Certificati"
[[sites.counters]]
id = "1"
name = "Sportello 1"
keypad = { port = "/dev/ttyUSB0", unit = 1 }

[[sites]]
id = "c_h501-tributi"
name = "Tributi"
time_zone = "America/New_York"
[[sites.counters]]
id = "1"
name = "Sportello 1"
keypad = { port = "/dev/ttyUSB1", unit = 1 }

[[auth.tokens]]
name = "eliminacode-anagrafe"
role = "queue"
token = "12345678"
sites = ["c_h501-anagrafe"]
"#;

    #[test]
    fn several_sites_with_their_own_counters() {
        let c = load_text(TWO_SITES).unwrap();
        assert_eq!(c.sites.len(), 2);
        assert_eq!(c.sites[0].id(), "c_h501-anagrafe");
        assert_eq!(c.sites[1].time_zone, chrono_tz::America::New_York);
        assert_eq!(c.sites[0].counters()[0].id, c.sites[1].counters()[0].id);
        assert_eq!(c.sites[1].services().len(), 0);
        assert_eq!(
            c.settings.auth.tokens[0].sites.as_deref(),
            Some(&["c_h501-anagrafe".to_string()][..])
        );
        // One office: [site] with top-level counters, as before sites.
        let one =
            load_text("[site]\nid = \"a\"\nname = \"A\"\n[[counters]]\nid = \"1\"\nname = \"x\"\n")
                .unwrap();
        assert_eq!(one.sites.len(), 1);
        assert_eq!(one.first_site().counters().len(), 1);
        assert_eq!(one.first_site().time_zone, chrono_tz::Europe::Rome);
        // Nothing at all: the default site.
        assert_eq!(load_text("").unwrap().first_site().id(), "ufficio");
    }

    #[test]
    fn bad_sites_are_named() {
        let msg = |text: &str| load_text(text).unwrap_err().to_string();
        let m = msg(&format!("[site]\nid = \"x\"\nname = \"X\"\n{TWO_SITES}"));
        assert!(m.contains("key `site`") && m.contains("not both"), "{m}");
        let m = msg(&format!(
            "[[counters]]\nid = \"9\"\nname = \"N\"\n{TWO_SITES}"
        ));
        assert!(m.contains("key `counters`"), "{m}");
        let m = msg(&TWO_SITES.replace("c_h501-tributi", "c_h501-anagrafe"));
        assert!(
            m.contains("key `sites[1].id`") && m.contains("twice"),
            "{m}"
        );
        let m = msg(&TWO_SITES.replace("c_h501-tributi", "tributi e tasse"));
        assert!(m.contains("key `sites[1].id`"), "{m}");
        let m = msg(&TWO_SITES.replace("America/New_York", "Mars/Olympus"));
        assert!(m.contains("key `sites[1].time_zone`"), "{m}");
        let m = msg(&TWO_SITES.replace("/dev/ttyUSB1", "/dev/ttyUSB0"));
        assert!(m.contains("sites[1].counters[0].keypad.port"), "{m}");
        let m = msg(&TWO_SITES.replace("sites = [\"c_h501-anagrafe\"]", "sites = []"));
        assert!(m.contains("auth.tokens[0].sites"), "{m}");
        let m = msg(&TWO_SITES.replace("sites = [\"c_h501-anagrafe\"]", "sites = [\"a b\"]"));
        assert!(m.contains("auth.tokens[0].sites[0]"), "{m}");
        let m = msg("[site]\nid = \"x\"\nname = \"X\"\n[[counters]]\nid = \"1\"\nname = \"a\"\n[[counters]]\nid = \"1\"\nname = \"b\"\n");
        assert!(m.contains("key `counters[1].id`"), "{m}");
    }

    const PHONE: &str = "[site]\nid = \"x\"\nname = \"X\"\n[[services]]\ncode = \"A\"\nname = \"A\"\n[[counters]]\nid = \"1\"\nname = \"S1\"\n[phone]\nenabled = true\nlisten = \"127.0.0.1:4573\"\npbx = \"centralino\"\n[[phone.lines]]\nline = \"tel\"\nservice = \"A\"\n";

    #[test]
    fn ingress_section() {
        assert!(load_text("").unwrap().ingress.is_none());
        const INGRESS: &str = "[ingress]\nenabled = true\nlisten = \"127.0.0.1:8081\"\n\
            [[ingress.novosga]]\nunit = \"1\"\ncounters = { \"mario\" = \"S1\" }\n\
            signature_header = \"X-Signature\"\nsecret = \"0123456789abcdef\"\n";
        let i = load_text(INGRESS).unwrap().ingress.expect("ingress on");
        assert_eq!(i.novosga[0].source_id, "novosga-1");
        assert_eq!(i.novosga[0].site_id, DEFAULT_SITE_ID);
        assert_eq!(
            i.novosga[0].signature.as_ref().map(|s| s.0.as_str()),
            Some("x-signature")
        );
        let msg = |text: &str| load_text(text).unwrap_err().to_string();
        let m = msg(&INGRESS.replace("127.0.0.1:8081", "8081"));
        assert!(m.contains("key `ingress.listen`"), "{m}");
        let m = msg(&INGRESS.replace("0123456789abcdef", "short"));
        assert!(m.contains("key `ingress.novosga[0].secret`"), "{m}");
        let m = msg(&INGRESS.replace("secret = \"0123456789abcdef\"\n", ""));
        assert!(m.contains("key `ingress.novosga[0].secret`"), "{m}");
        let m = msg(&INGRESS.replace("unit = \"1\"", "unit = \"1/2\""));
        assert!(m.contains("key `ingress.novosga[0].unit`"), "{m}");
        let m = msg(&INGRESS.replace("unit = \"1\"", "unit = \"1\"\nsite = \"nope\""));
        assert!(m.contains("key `ingress.novosga[0].site`"), "{m}");
    }

    #[test]
    fn phone_section() {
        // Off by default: nothing to check, nothing started.
        assert!(load_text("").unwrap().phone.is_none());
        let c = load_text(PHONE).unwrap();
        let p = c.phone.expect("phone on");
        assert_eq!(p.source_id, "pbx:centralino");
        assert_eq!(p.call_id, CallIdKey::Linkedid);
        assert_eq!(p.attempts, 3);
        assert_eq!(p.prompts.question, "faccia/domanda");
        assert_eq!(
            p.line("vote"),
            Some(&PhoneLine {
                script: "vote".into(),
                site_id: "x".into(),
                line: "tel".into(),
                service: "A".into()
            })
        );
        let msg = |text: &str| load_text(text).unwrap_err().to_string();
        let m = msg(&PHONE.replace("listen = \"127.0.0.1:4573\"", "listen = \"4573\""));
        assert!(m.contains("key `phone.listen`"), "{m}");
        let m = msg(&PHONE.replace("service = \"A\"", "service = \"Z\""));
        assert!(m.contains("key `phone.lines[0].service`"), "{m}");
        let m = msg(&PHONE.replace("line = \"tel\"", "line = \"1\""));
        assert!(
            m.contains("key `phone.lines[0].line`") && m.contains("counter"),
            "{m}"
        );
        let m = msg(&PHONE.replace("pbx = \"centralino\"", "pbx = \"centralino\"\nattempts = 9"));
        assert!(m.contains("key `phone.attempts`"), "{m}");
        let m = msg(&PHONE.replace(
            "pbx = \"centralino\"",
            "pbx = \"centralino\"\n[phone.prompts]\nthanks = \"grazie mille\"",
        ));
        assert!(m.contains("key `phone.prompts.thanks`"), "{m}");
        let m = msg(&PHONE.replace("[[phone.lines]]\nline = \"tel\"\nservice = \"A\"\n", ""));
        assert!(m.contains("key `phone.lines`"), "{m}");
        let m = msg(&format!("{PHONE}site = \"nowhere\"\n"));
        assert!(m.contains("key `phone.lines[0].site`"), "{m}");
        let m = msg(&PHONE.replace("pbx = \"centralino\"", "pbx = \"centralino\"\ncolour = 1"));
        assert!(m.contains("key `phone.colour`"), "{m}");
        // Several sites: each line names its site.
        let m = msg(&format!(
            "{TWO_SITES}[phone]\nenabled = true\n[[phone.lines]]\nline = \"tel\"\nservice = \"A\"\n"
        ));
        assert!(
            m.contains("key `phone.lines[0].site`") && m.contains("required"),
            "{m}"
        );
        let c = load_text(&format!(
            "{TWO_SITES}[phone]\nenabled = true\n[[phone.lines]]\nsite = \"c_h501-anagrafe\"\nline = \"tel\"\nservice = \"A\"\n"
        ))
        .unwrap();
        assert_eq!(c.phone.unwrap().lines[0].site_id, "c_h501-anagrafe");
    }

    const TOTEM: &str = r#"
[site]
id = "ufficio-a"
name = "A"
[[counters]]
id = "S01"
name = "Sportello 1"
keypad = { port = "/dev/ttyUSB0", unit = 1 }
[[counters]]
id = "S02"
name = "Sportello 2"
[[counters]]
id = "S03"
name = "Sportello 3"
[[totems]]
id = "T1"
name = "Totem"
counters = ["S02", "S03"]
keypad = { port = "/dev/ttyUSB0", unit = 9 }
scanner = { port = "/dev/ttyACM0" }
"#;

    #[test]
    fn totems_load_with_defaults() {
        let c = load_text(TOTEM).unwrap();
        let site = c.first_site();
        let t = &site.totems()[0];
        assert_eq!((t.window_s, t.arm_window_s), (600, 30));
        assert_eq!(t.code, "{site}/{ticket}");
        assert_eq!((t.scanner.baud, t.scanner.prefix.as_str()), (9600, ""));
        assert!(site.has_keypads());
        let w = site.totem_counters();
        assert_eq!(w.window("S02"), Some(600_000));
        assert_eq!(w.window("S01"), None);
        // several sites: [[sites.totems]]
        let multi = TOTEM
            .replace("[site]", "[[sites]]")
            .replace("[[counters]]", "[[sites.counters]]")
            .replace("[[totems]]", "[[sites.totems]]");
        assert_eq!(load_text(&multi).unwrap().sites[0].totems().len(), 1);
    }

    #[test]
    fn bad_totems_are_named() {
        let msg = |text: &str| load_text(text).unwrap_err().to_string();
        let m = msg(&TOTEM.replace("[\"S02\", \"S03\"]", "[\"S01\"]"));
        assert!(
            m.contains("key `totems[0].counters[0]`") && m.contains("keypad of its own"),
            "{m}"
        );
        let m = msg(&TOTEM.replace("[\"S02\", \"S03\"]", "[\"S02\", \"S09\"]"));
        assert!(m.contains("key `totems[0].counters[1]`"), "{m}");
        let m = msg(&TOTEM.replace("[\"S02\", \"S03\"]", "[]"));
        assert!(m.contains("key `totems[0].counters`"), "{m}");
        let m = msg(&TOTEM.replace("id = \"T1\"", "id = \"S02\""));
        assert!(
            m.contains("key `totems[0].id`") && m.contains("counter id"),
            "{m}"
        );
        let m = msg(&TOTEM.replace("unit = 9", "unit = 1"));
        assert!(
            m.contains("key `totems[0].keypad.unit`") && m.contains("S01"),
            "{m}"
        );
        let m = msg(&TOTEM.replace("name = \"Totem\"", "name = \"Totem\"\nwindow_s = 30"));
        assert!(m.contains("key `totems[0].window_s`"), "{m}");
        let m = msg(&TOTEM.replace("name = \"Totem\"", "name = \"Totem\"\narm_window_s = 700"));
        assert!(m.contains("key `totems[0].arm_window_s`"), "{m}");
        let m = msg(&TOTEM.replace(
            "name = \"Totem\"",
            "name = \"Totem\"\ncode = \"{site}{ticket}\"",
        ));
        assert!(m.contains("key `totems[0].code`"), "{m}");
        let m = msg(&TOTEM.replace(
            "port = \"/dev/ttyACM0\"",
            "port = \"/dev/ttyACM0\", baud = 1234",
        ));
        assert!(m.contains("key `totems[0].scanner.baud`"), "{m}");
        // A totem's counter cannot also give links: one session per served ticket.
        let m = msg(&format!(
            "{TOTEM}[web]\nenabled = true\npublic_url = \"https://voto.example.it\"\nkey = \"{}\"\nlink_counters = [\"S02\"]\n",
            "ab".repeat(32)
        ));
        assert!(
            m.contains("key `web.link_counters[0]`") && m.contains("totem"),
            "{m}"
        );
        let m = msg(&TOTEM.replace("port = \"/dev/ttyACM0\"", "port = \"/dev/ttyUSB0\""));
        assert!(
            m.contains("key `totems[0].scanner.port`") && m.contains("keypad bus"),
            "{m}"
        );
        let m = msg(&TOTEM.replace(
            "port = \"/dev/ttyACM0\"",
            "port = \"/dev/ttyACM0\", parity = \"odd\"",
        ));
        assert!(m.contains("totems[0].scanner.parity"), "{m}");
    }

    #[test]
    fn database_urls() {
        assert_eq!(
            DatabaseUrl::parse("sqlite://var/x.db"),
            Ok(DatabaseUrl::Sqlite("var/x.db".into()))
        );
        assert!(matches!(
            DatabaseUrl::parse("postgres://u@h/db"),
            Ok(DatabaseUrl::Postgres(_))
        ));
        assert!(DatabaseUrl::parse("mysql://x").is_err());
    }

    #[test]
    fn report_target_is_checked_and_kept_in_tenths() {
        let c = load_text("[reports]\nstandard_target_percent = 92.5\n").unwrap();
        assert_eq!(c.settings.reports.standard_target_tenths(), 925);
        assert_eq!(crate::report_context(&c).target_tenths, 925);
        let c = load_text("[reports]\nstandard_target_percent = 85\n").unwrap();
        assert_eq!(c.settings.reports.standard_target_tenths(), 850);
        let c = load_text("").unwrap();
        assert_eq!(crate::report_context(&c).target_tenths, 900);
        for bad in ["101", "-1", "92.55"] {
            let msg = load_text(&format!("[reports]\nstandard_target_percent = {bad}\n"))
                .unwrap_err()
                .to_string();
            assert!(msg.contains("reports.standard_target_percent"), "{msg}");
        }
    }
}
