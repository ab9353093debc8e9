//! The configuration file (TOML) and the settings resolved from command line, environment and
//! file. Example:
//!
//! ```toml
//! server = "http://127.0.0.1:50051"   # or several: ["http://10.0.1.5:50051", "http://10.0.2.5:50051"]
//! lang = "it"                 # or "en"
//! token-file = "/etc/faccia/console.token"   # the token of every server without its own
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
//!
//! [[servers]]                 # a server with its own token (token or token-file)
//! url = "http://10.0.3.5:50051"
//! token-file = "/etc/faccia/napoli.token"
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

/// A `[[servers]]` table: one server, with its own token when it has one.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct ServerEntry {
    pub url: String,
    pub token: Option<String>,
    pub token_file: Option<PathBuf>,
}

/// What the file may hold. Unknown keys are an error, so a typo does not go unnoticed.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct ConfigFile {
    /// One server or several, all with the file's token.
    pub server: Option<OneOrMany>,
    /// Servers with their own tokens (after those of `server`).
    #[serde(default)]
    pub servers: Vec<ServerEntry>,
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

/// One server the console talks to, and the token it sends there.
#[derive(Clone, PartialEq, Eq)]
pub struct ServerSettings {
    pub url: String,
    pub token: Option<String>,
}

impl std::fmt::Debug for ServerSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never a token in a log line or a panic message.
        f.debug_struct("ServerSettings")
            .field("url", &self.url)
            .field("token", &self.token.as_ref().map(|_| "…"))
            .finish()
    }
}

impl ServerSettings {
    pub fn new(url: &str, token: Option<&str>) -> ServerSettings {
        ServerSettings {
            url: url.to_string(),
            token: token.map(str::to_string),
        }
    }
}

/// Everything the console needs to start.
#[derive(Debug, Clone)]
pub struct Settings {
    /// The servers, in order (at least one): the offices of the first are listed first.
    pub servers: Vec<ServerSettings>,
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
            servers: vec![ServerSettings::new(DEFAULT_SERVER, None)],
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
            (None, None, Some(path)) => Some(read_token(&path)?),
            (None, None, None) => None,
        };
        let token = token.filter(|t| !t.is_empty());
        let servers = servers(&args.server, file.server, file.servers, token)?;
        Ok(Settings {
            servers,
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

fn read_token(path: &Path) -> anyhow::Result<String> {
    Ok(std::fs::read_to_string(path)
        .with_context(|| format!("cannot read token file {}", path.display()))?
        .trim()
        .to_string())
}

/// The servers: those of the command line (or `FACCIA_SERVER`, comma-separated) when given,
/// else the file's `server` then its `[[servers]]`; the default server when none. Each gets the
/// token of its `[[servers]]` table when that names one (it is the more specific), else `token`.
/// The same address twice is one server.
fn servers(
    args: &[String],
    file_server: Option<OneOrMany>,
    tables: Vec<ServerEntry>,
    token: Option<String>,
) -> anyhow::Result<Vec<ServerSettings>> {
    let mut own: Vec<(String, Option<String>)> = Vec::new();
    for (i, t) in tables.iter().enumerate() {
        let url = t.url.trim();
        if url.is_empty() {
            anyhow::bail!("in [[servers]] number {}: url must not be empty", i + 1);
        }
        let tok = match (&t.token, &t.token_file) {
            (Some(tok), None) => Some(tok.trim().to_string()),
            (None, Some(path)) => Some(read_token(path)?),
            (None, None) => None,
            (Some(_), Some(_)) => {
                anyhow::bail!("in [[servers]] {url}: give token or token-file, not both")
            }
        };
        own.push((url.to_string(), tok.filter(|t| !t.is_empty())));
    }
    let urls: Vec<String> = if args.iter().any(|a| !a.trim().is_empty()) {
        args.iter().map(|a| a.trim().to_string()).collect()
    } else {
        let mut v: Vec<String> = file_server
            .map(OneOrMany::into_vec)
            .unwrap_or_default()
            .into_iter()
            .map(|u| u.trim().to_string())
            .collect();
        v.extend(own.iter().map(|(u, _)| u.clone()));
        v
    };
    let mut out: Vec<ServerSettings> = Vec::new();
    for url in urls.into_iter().filter(|u| !u.is_empty()) {
        if out.iter().any(|s| s.url == url) {
            continue;
        }
        let tok = own
            .iter()
            .find(|(u, _)| *u == url)
            .and_then(|(_, t)| t.clone())
            .or_else(|| token.clone());
        out.push(ServerSettings { url, token: tok });
    }
    if out.is_empty() {
        out.push(ServerSettings {
            url: DEFAULT_SERVER.to_string(),
            token,
        });
    }
    Ok(out)
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
        assert_eq!(
            s.servers,
            vec![ServerSettings::new("http://10.0.0.1:50051", None)]
        );
        assert_eq!(s.lang, Lang::En);
        assert_eq!(s.event_capacity, 10);
        assert_eq!(s.keymap.keys_of(crate::keymap::Action::Quit), "x");
        let args = ConsoleArgs {
            server: vec!["http://127.0.0.1:1".into()],
            lang: Some(Lang::It),
            token: Some("t".into()),
            config: None,
            reports_dir: None,
            clock: None,
        };
        let s = Settings::merge(&args, file).unwrap();
        assert_eq!(
            s.servers,
            vec![ServerSettings::new("http://127.0.0.1:1", Some("t"))]
        );
        assert_eq!(s.lang, Lang::It);
    }

    #[test]
    fn several_servers_each_with_its_token() {
        let dir = tempfile::tempdir().unwrap();
        let napoli = dir.path().join("napoli.token");
        std::fs::write(&napoli, "tok-napoli\n").unwrap();
        let text = format!(
            r#"
server = ["http://10.0.1.5:50051", "http://10.0.2.5:50051"]
token = "tok-all"
[[servers]]
url = "http://10.0.2.5:50051"
token = "tok-milano"
[[servers]]
url = "http://10.0.3.5:50051"
token-file = "{}"
"#,
            napoli.display()
        );
        let file = ConfigFile::parse(&text).unwrap();
        let s = Settings::merge(&ConsoleArgs::default(), file.clone()).unwrap();
        assert_eq!(
            s.servers,
            vec![
                ServerSettings::new("http://10.0.1.5:50051", Some("tok-all")),
                ServerSettings::new("http://10.0.2.5:50051", Some("tok-milano")),
                ServerSettings::new("http://10.0.3.5:50051", Some("tok-napoli")),
            ]
        );
        // The command line names the servers; a table's own token still goes with its server,
        // the others take the command line's token.
        let args = ConsoleArgs {
            server: vec!["http://10.0.3.5:50051".into(), "http://127.0.0.1:9".into()],
            token: Some("tok-cli".into()),
            ..ConsoleArgs::default()
        };
        let s = Settings::merge(&args, file).unwrap();
        assert_eq!(
            s.servers,
            vec![
                ServerSettings::new("http://10.0.3.5:50051", Some("tok-napoli")),
                ServerSettings::new("http://127.0.0.1:9", Some("tok-cli")),
            ]
        );
        // No token is ever printed.
        assert!(!format!("{s:?}").contains("tok-"), "{s:?}");
        // The same server twice is one; a table needs its url and one token at most.
        let args = ConsoleArgs {
            server: vec!["http://a:1".into(), "http://a:1".into()],
            ..ConsoleArgs::default()
        };
        let s = Settings::merge(&args, ConfigFile::default()).unwrap();
        assert_eq!(s.servers.len(), 1);
        let f = ConfigFile::parse("[[servers]]\nurl = \"\"\n").unwrap();
        assert!(Settings::merge(&ConsoleArgs::default(), f).is_err());
        let f = ConfigFile::parse(
            "[[servers]]\nurl = \"http://a:1\"\ntoken = \"x\"\ntoken-file = \"/y\"\n",
        )
        .unwrap();
        assert!(Settings::merge(&ConsoleArgs::default(), f).is_err());
        assert!(ConfigFile::parse("[[servers]]\nurl = \"http://a:1\"\ntokn = \"x\"\n").is_err());
        // Nothing at all: the default server.
        let s = Settings::merge(&ConsoleArgs::default(), ConfigFile::default()).unwrap();
        assert_eq!(s.servers, vec![ServerSettings::new(DEFAULT_SERVER, None)]);
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
