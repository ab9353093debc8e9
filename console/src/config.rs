//! The configuration file (TOML) and the settings resolved from command line, environment and
//! file. Example:
//!
//! ```toml
//! server = "http://127.0.0.1:50051"
//! lang = "it"                 # or "en"
//! token-file = "/etc/faccia/console.token"
//! event-log-capacity = 2000   # events kept in memory
//! refresh-secs = 30           # slow periodic refresh of the snapshot
//! reports-dir = "/srv/www/faccia"   # where saved reports go (default: the current directory)
//!
//! [bindings]                  # action = key or [keys]
//! quit = ["q", "ctrl+c"]
//! help = "f1"
//!
//! [theme]                     # item = colour name, index or #rrggbb
//! red = "#d70000"
//! accent = "light-blue"
//! ```

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context;
use faccia_domain::Lang;
use serde::Deserialize;

use crate::keymap::Keymap;
use crate::theme::Theme;
use crate::ConsoleArgs;

pub const DEFAULT_SERVER: &str = "http://127.0.0.1:50051";
pub const DEFAULT_EVENT_CAPACITY: usize = 2000;
pub const MAX_EVENT_CAPACITY: usize = 100_000;
pub const DEFAULT_REFRESH: Duration = Duration::from_secs(30);

#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum OneOrMany {
    One(String),
    Many(Vec<String>),
}

impl OneOrMany {
    fn into_vec(self) -> Vec<String> {
        match self {
            OneOrMany::One(s) => vec![s],
            OneOrMany::Many(v) => v,
        }
    }
}

/// What the file may hold. Unknown keys are an error, so a typo does not go unnoticed.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct ConfigFile {
    pub server: Option<String>,
    pub token: Option<String>,
    pub token_file: Option<PathBuf>,
    pub lang: Option<Lang>,
    pub event_log_capacity: Option<usize>,
    pub refresh_secs: Option<u64>,
    pub reports_dir: Option<PathBuf>,
    #[serde(default)]
    pub bindings: BTreeMap<String, OneOrMany>,
    #[serde(default)]
    pub theme: BTreeMap<String, String>,
}

impl ConfigFile {
    pub fn parse(text: &str) -> anyhow::Result<ConfigFile> {
        Ok(toml::from_str(text)?)
    }

    pub fn load(path: &Path) -> anyhow::Result<ConfigFile> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read {}", path.display()))?;
        ConfigFile::parse(&text).with_context(|| format!("in {}", path.display()))
    }
}

/// Everything the console needs to start.
#[derive(Debug, Clone)]
pub struct Settings {
    pub server: String,
    pub token: Option<String>,
    pub lang: Lang,
    pub keymap: Keymap,
    pub theme: Theme,
    pub event_capacity: usize,
    pub refresh: Duration,
    /// Where the Reports view saves documents.
    pub reports_dir: PathBuf,
    /// The clock of the header and of every "since"; the wall clock when `None`.
    pub clock: Option<crate::Clock>,
}

impl Settings {
    /// Now, by the console's clock.
    pub fn now(&self) -> chrono::DateTime<chrono::Utc> {
        match &self.clock {
            Some(c) => c.now(),
            None => chrono::Utc::now(),
        }
    }
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            server: DEFAULT_SERVER.to_string(),
            token: None,
            lang: Lang::It,
            keymap: Keymap::default(),
            theme: Theme::default(),
            event_capacity: DEFAULT_EVENT_CAPACITY,
            refresh: DEFAULT_REFRESH,
            reports_dir: PathBuf::from("."),
            clock: None,
        }
    }
}

fn default_config_path() -> Option<PathBuf> {
    let base = std::env::var_os("XDG_CONFIG_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".config")))?;
    let path = base.join("faccia").join("console.toml");
    path.is_file().then_some(path)
}

impl Settings {
    /// Command line and environment (already merged by clap) over the file over the defaults.
    pub fn resolve(args: &ConsoleArgs) -> anyhow::Result<Settings> {
        let file = match args.config.clone().or_else(default_config_path) {
            Some(path) => ConfigFile::load(&path)?,
            None => ConfigFile::default(),
        };
        Settings::merge(args, file)
    }

    pub fn merge(args: &ConsoleArgs, file: ConfigFile) -> anyhow::Result<Settings> {
        let overrides: BTreeMap<String, Vec<String>> = file
            .bindings
            .into_iter()
            .map(|(k, v)| (k, v.into_vec()))
            .collect();
        let keymap = Keymap::with_overrides(&overrides).context("in [bindings]")?;
        let theme = Theme::with_overrides(&file.theme).context("in [theme]")?;
        let token = match (&args.token, file.token, file.token_file) {
            (Some(t), _, _) => Some(t.clone()),
            (None, Some(t), _) => Some(t),
            (None, None, Some(path)) => Some(
                std::fs::read_to_string(&path)
                    .with_context(|| format!("cannot read token file {}", path.display()))?
                    .trim()
                    .to_string(),
            ),
            (None, None, None) => None,
        };
        let server = args
            .server
            .clone()
            .or(file.server)
            .unwrap_or_else(|| DEFAULT_SERVER.to_string());
        Ok(Settings {
            server,
            token: token.filter(|t| !t.is_empty()),
            lang: args.lang.or(file.lang).unwrap_or_default(),
            keymap,
            theme,
            event_capacity: file
                .event_log_capacity
                .unwrap_or(DEFAULT_EVENT_CAPACITY)
                .clamp(10, MAX_EVENT_CAPACITY),
            refresh: Duration::from_secs(file.refresh_secs.unwrap_or(30).clamp(2, 3600)),
            reports_dir: args
                .reports_dir
                .clone()
                .or(file.reports_dir)
                .filter(|d| !d.as_os_str().is_empty())
                .unwrap_or_else(|| PathBuf::from(".")),
            clock: args.clock.clone(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_then_args() {
        let file = ConfigFile::parse(
            r##"
server = "http://10.0.0.1:50051"
lang = "en"
event-log-capacity = 5
[bindings]
quit = "x"
help = ["f1", "?"]
[theme]
red = "#aa0000"
"##,
        )
        .unwrap();
        let s = Settings::merge(&ConsoleArgs::default(), file.clone()).unwrap();
        assert_eq!(s.server, "http://10.0.0.1:50051");
        assert_eq!(s.lang, Lang::En);
        assert_eq!(s.event_capacity, 10);
        assert_eq!(s.keymap.keys_of(crate::keymap::Action::Quit), "x");
        let args = ConsoleArgs {
            server: Some("http://127.0.0.1:1".into()),
            lang: Some(Lang::It),
            token: Some("t".into()),
            config: None,
            reports_dir: None,
            clock: None,
        };
        let s = Settings::merge(&args, file).unwrap();
        assert_eq!(s.server, "http://127.0.0.1:1");
        assert_eq!(s.lang, Lang::It);
        assert_eq!(s.token.as_deref(), Some("t"));
    }

    #[test]
    fn reports_dir_from_file_then_args() {
        let s = Settings::merge(&ConsoleArgs::default(), ConfigFile::default()).unwrap();
        assert_eq!(s.reports_dir, PathBuf::from("."));
        let f = ConfigFile::parse("reports-dir = \"/srv/www/faccia\"").unwrap();
        let s = Settings::merge(&ConsoleArgs::default(), f.clone()).unwrap();
        assert_eq!(s.reports_dir, PathBuf::from("/srv/www/faccia"));
        let args = ConsoleArgs {
            reports_dir: Some("/tmp/r".into()),
            ..ConsoleArgs::default()
        };
        let s = Settings::merge(&args, f).unwrap();
        assert_eq!(s.reports_dir, PathBuf::from("/tmp/r"));
    }

    #[test]
    fn rejects_typos() {
        assert!(ConfigFile::parse("sever = \"x\"").is_err());
        let f = ConfigFile::parse("[bindings]\nquitt = \"q\"").unwrap();
        assert!(Settings::merge(&ConsoleArgs::default(), f).is_err());
        let f = ConfigFile::parse("[theme]\nred = \"rossissimo\"").unwrap();
        assert!(Settings::merge(&ConsoleArgs::default(), f).is_err());
    }
}
