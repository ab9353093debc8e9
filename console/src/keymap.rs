//! Actions and their keys. Every binding can be overridden in the `[bindings]` table of the
//! configuration file, e.g. `quit = ["q", "ctrl+c"]` or `help = "f1"`.

use std::collections::BTreeMap;
use std::fmt;

use crossterm::event::{KeyCode, KeyEvent, KeyEventKind, KeyModifiers};

/// Something the user can ask for with a key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Action {
    Quit,
    NextView,
    PrevView,
    ViewOverview,
    ViewQueues,
    ViewSatisfaction,
    ViewKeypads,
    ViewEvents,
    ViewReports,
    /// The all-sites view (with several offices).
    ViewSites,
    /// The office picker (with several offices).
    ChooseSite,
    /// Open the office selected in the all-sites view.
    OpenSite,
    Up,
    Down,
    PageUp,
    PageDown,
    Top,
    Bottom,
    Filter,
    ClearFilter,
    Help,
    Alerts,
    PrevPeriod,
    NextPeriod,
    Identify,
    SelfTest,
    SaveHtml,
    SaveCsv,
    SaveMinistry,
    SaveAnnual,
    Refresh,
}

impl Action {
    /// Every action, in the order the help lists them.
    pub const ALL: [Action; 31] = [
        Action::NextView,
        Action::PrevView,
        Action::ViewOverview,
        Action::ViewQueues,
        Action::ViewSatisfaction,
        Action::ViewKeypads,
        Action::ViewEvents,
        Action::ViewReports,
        Action::ViewSites,
        Action::ChooseSite,
        Action::OpenSite,
        Action::Up,
        Action::Down,
        Action::PageUp,
        Action::PageDown,
        Action::Top,
        Action::Bottom,
        Action::Filter,
        Action::ClearFilter,
        Action::PrevPeriod,
        Action::NextPeriod,
        Action::Alerts,
        Action::Identify,
        Action::SelfTest,
        Action::SaveHtml,
        Action::SaveCsv,
        Action::SaveMinistry,
        Action::SaveAnnual,
        Action::Refresh,
        Action::Help,
        Action::Quit,
    ];

    /// The name used in the configuration file.
    pub fn config_name(self) -> &'static str {
        match self {
            Action::Quit => "quit",
            Action::NextView => "next-view",
            Action::PrevView => "previous-view",
            Action::ViewOverview => "view-overview",
            Action::ViewQueues => "view-queues",
            Action::ViewSatisfaction => "view-satisfaction",
            Action::ViewKeypads => "view-keypads",
            Action::ViewEvents => "view-events",
            Action::ViewReports => "view-reports",
            Action::ViewSites => "view-all-sites",
            Action::ChooseSite => "choose-site",
            Action::OpenSite => "open-site",
            Action::Up => "up",
            Action::Down => "down",
            Action::PageUp => "page-up",
            Action::PageDown => "page-down",
            Action::Top => "top",
            Action::Bottom => "bottom",
            Action::Filter => "filter",
            Action::ClearFilter => "clear-filter",
            Action::Help => "help",
            Action::Alerts => "alerts",
            Action::PrevPeriod => "previous-period",
            Action::NextPeriod => "next-period",
            Action::Identify => "identify",
            Action::SelfTest => "self-test",
            Action::SaveHtml => "save-html",
            Action::SaveCsv => "save-csv",
            Action::SaveMinistry => "save-ministry",
            Action::SaveAnnual => "save-annual",
            Action::Refresh => "refresh",
        }
    }

    /// Whether the action only means something when the console watches several offices (the
    /// help and the hints leave it out otherwise).
    pub fn needs_several_sites(self) -> bool {
        matches!(
            self,
            Action::ViewSites | Action::ChooseSite | Action::OpenSite
        )
    }

    pub fn from_config_name(name: &str) -> Option<Action> {
        Action::ALL.into_iter().find(|a| a.config_name() == name)
    }

    fn default_keys(self) -> &'static [&'static str] {
        match self {
            Action::Quit => &["q", "ctrl+c"],
            Action::NextView => &["tab"],
            Action::PrevView => &["shift+tab"],
            Action::ViewOverview => &["1"],
            Action::ViewQueues => &["2"],
            Action::ViewSatisfaction => &["3"],
            Action::ViewKeypads => &["4"],
            Action::ViewEvents => &["5"],
            Action::ViewReports => &["6"],
            Action::ViewSites => &["0"],
            Action::ChooseSite => &["o"],
            Action::OpenSite => &["enter"],
            Action::Up => &["up", "k"],
            Action::Down => &["down", "j"],
            Action::PageUp => &["pageup"],
            Action::PageDown => &["pagedown"],
            Action::Top => &["home", "g"],
            Action::Bottom => &["end", "G"],
            Action::Filter => &["/"],
            Action::ClearFilter => &["esc"],
            Action::Help => &["?", "f1"],
            Action::Alerts => &["a"],
            Action::PrevPeriod => &["left", "h"],
            Action::NextPeriod => &["right", "l"],
            Action::Identify => &["i"],
            Action::SelfTest => &["t"],
            Action::SaveHtml => &["s"],
            Action::SaveCsv => &["c"],
            Action::SaveMinistry => &["m"],
            Action::SaveAnnual => &["y"],
            Action::Refresh => &["r", "f5"],
        }
    }
}

/// A key with its modifiers, as written in the configuration (`ctrl+c`, `shift+tab`, `G`, `f1`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct KeyBinding {
    pub code: KeyCode,
    pub ctrl: bool,
    pub alt: bool,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum KeyError {
    #[error("unknown key {0:?}")]
    UnknownKey(String),
    #[error("unknown action {0:?}")]
    UnknownAction(String),
}

impl KeyBinding {
    pub fn parse(text: &str) -> Result<KeyBinding, KeyError> {
        let mut ctrl = false;
        let mut alt = false;
        let mut shift = false;
        let mut rest = text.trim();
        loop {
            let lower = rest.to_ascii_lowercase();
            if rest.len() > 1 && lower.starts_with("ctrl+") {
                ctrl = true;
                rest = &rest[5..];
            } else if rest.len() > 1 && lower.starts_with("alt+") {
                alt = true;
                rest = &rest[4..];
            } else if rest.len() > 1 && lower.starts_with("shift+") {
                shift = true;
                rest = &rest[6..];
            } else {
                break;
            }
        }
        let lower = rest.to_ascii_lowercase();
        let code = match lower.as_str() {
            "tab" if shift => KeyCode::BackTab,
            "tab" => KeyCode::Tab,
            "backtab" => KeyCode::BackTab,
            "enter" | "return" => KeyCode::Enter,
            "esc" | "escape" => KeyCode::Esc,
            "space" => KeyCode::Char(' '),
            "up" => KeyCode::Up,
            "down" => KeyCode::Down,
            "left" => KeyCode::Left,
            "right" => KeyCode::Right,
            "pageup" | "pgup" => KeyCode::PageUp,
            "pagedown" | "pgdn" => KeyCode::PageDown,
            "home" => KeyCode::Home,
            "end" => KeyCode::End,
            "backspace" => KeyCode::Backspace,
            "delete" | "del" => KeyCode::Delete,
            "insert" | "ins" => KeyCode::Insert,
            f if f.len() >= 2
                && f.starts_with('f')
                && f[1..].chars().all(|c| c.is_ascii_digit()) =>
            {
                match f[1..].parse::<u8>() {
                    Ok(n @ 1..=12) => KeyCode::F(n),
                    _ => return Err(KeyError::UnknownKey(text.to_string())),
                }
            }
            _ => {
                let mut chars = rest.chars();
                match (chars.next(), chars.next()) {
                    (Some(c), None) => {
                        let c = if shift { c.to_ascii_uppercase() } else { c };
                        KeyCode::Char(c)
                    }
                    _ => return Err(KeyError::UnknownKey(text.to_string())),
                }
            }
        };
        Ok(KeyBinding { code, ctrl, alt })
    }

    /// Whether a terminal key event is this binding.
    pub fn matches(&self, key: &KeyEvent) -> bool {
        let ctrl = key.modifiers.contains(KeyModifiers::CONTROL);
        let alt = key.modifiers.contains(KeyModifiers::ALT);
        if ctrl != self.ctrl || alt != self.alt {
            return false;
        }
        match (self.code, key.code) {
            (KeyCode::Char(a), KeyCode::Char(b)) => {
                if self.ctrl {
                    a.eq_ignore_ascii_case(&b)
                } else {
                    a == b
                }
            }
            (a, b) => a == b,
        }
    }
}

impl fmt::Display for KeyBinding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.ctrl {
            write!(f, "Ctrl+")?;
        }
        if self.alt {
            write!(f, "Alt+")?;
        }
        match self.code {
            KeyCode::Char(' ') => write!(f, "Space"),
            KeyCode::Char(c) => write!(f, "{c}"),
            KeyCode::Tab => write!(f, "Tab"),
            KeyCode::BackTab => write!(f, "Shift+Tab"),
            KeyCode::Enter => write!(f, "Enter"),
            KeyCode::Esc => write!(f, "Esc"),
            KeyCode::Up => write!(f, "↑"),
            KeyCode::Down => write!(f, "↓"),
            KeyCode::Left => write!(f, "←"),
            KeyCode::Right => write!(f, "→"),
            KeyCode::PageUp => write!(f, "PgUp"),
            KeyCode::PageDown => write!(f, "PgDn"),
            KeyCode::Home => write!(f, "Home"),
            KeyCode::End => write!(f, "End"),
            KeyCode::F(n) => write!(f, "F{n}"),
            KeyCode::Backspace => write!(f, "Backspace"),
            KeyCode::Delete => write!(f, "Del"),
            KeyCode::Insert => write!(f, "Ins"),
            other => write!(f, "{other:?}"),
        }
    }
}

/// Which keys do what.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Keymap {
    bindings: BTreeMap<Action, Vec<KeyBinding>>,
}

impl Default for Keymap {
    fn default() -> Self {
        let mut bindings = BTreeMap::new();
        for action in Action::ALL {
            let keys = action
                .default_keys()
                .iter()
                .filter_map(|k| KeyBinding::parse(k).ok())
                .collect();
            bindings.insert(action, keys);
        }
        Keymap { bindings }
    }
}

impl Keymap {
    /// The defaults with the given overrides (action name -> keys). An override replaces all the
    /// keys of its action.
    pub fn with_overrides(overrides: &BTreeMap<String, Vec<String>>) -> Result<Keymap, KeyError> {
        let mut map = Keymap::default();
        for (name, keys) in overrides {
            let action = Action::from_config_name(name)
                .ok_or_else(|| KeyError::UnknownAction(name.clone()))?;
            let parsed = keys
                .iter()
                .map(|k| KeyBinding::parse(k))
                .collect::<Result<Vec<_>, _>>()?;
            map.bindings.insert(action, parsed);
        }
        Ok(map)
    }

    /// The action of a key event, if any. Key releases are ignored.
    pub fn action(&self, key: &KeyEvent) -> Option<Action> {
        if key.kind == KeyEventKind::Release {
            return None;
        }
        // Ask in help order, so that a key bound twice resolves the same way every time.
        Action::ALL.into_iter().find(|a| {
            self.bindings
                .get(a)
                .is_some_and(|keys| keys.iter().any(|k| k.matches(key)))
        })
    }

    /// The keys of an action, for the help and the footer ("Tab", "↑/k").
    pub fn keys_of(&self, action: Action) -> String {
        match self.bindings.get(&action) {
            Some(keys) if !keys.is_empty() => keys
                .iter()
                .map(|k| k.to_string())
                .collect::<Vec<_>>()
                .join("/"),
            _ => crate::format::DASH.to_string(),
        }
    }

    /// The first key of an action, for compact hints.
    pub fn first_key(&self, action: Action) -> String {
        match self.bindings.get(&action).and_then(|k| k.first()) {
            Some(k) => k.to_string(),
            None => crate::format::DASH.to_string(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(code: KeyCode, modifiers: KeyModifiers) -> KeyEvent {
        KeyEvent::new(code, modifiers)
    }

    #[test]
    fn parses_and_matches() {
        let ctrl_c = KeyBinding::parse("ctrl+c").unwrap();
        assert!(ctrl_c.matches(&key(KeyCode::Char('c'), KeyModifiers::CONTROL)));
        assert!(!ctrl_c.matches(&key(KeyCode::Char('c'), KeyModifiers::NONE)));
        let big_g = KeyBinding::parse("G").unwrap();
        assert!(big_g.matches(&key(KeyCode::Char('G'), KeyModifiers::SHIFT)));
        assert!(!big_g.matches(&key(KeyCode::Char('g'), KeyModifiers::NONE)));
        assert_eq!(
            KeyBinding::parse("shift+tab").unwrap().code,
            KeyCode::BackTab
        );
        assert_eq!(KeyBinding::parse("F5").unwrap().code, KeyCode::F(5));
        assert!(KeyBinding::parse("f13").is_err());
        assert!(KeyBinding::parse("ctrl+").is_err() || KeyBinding::parse("ctrl+").is_ok());
        assert!(KeyBinding::parse("nope").is_err());
    }

    #[test]
    fn default_keys_do_not_clash() {
        let map = Keymap::default();
        for a in Action::ALL {
            for k in &map.bindings[&a] {
                let mods = if k.ctrl {
                    KeyModifiers::CONTROL
                } else {
                    KeyModifiers::NONE
                };
                let ev = key(k.code, mods);
                // Ctrl+C also quits; every other default key means its own action only.
                assert_eq!(map.action(&ev), Some(a), "{k} of {a:?}");
            }
        }
    }

    #[test]
    fn overrides_replace_defaults() {
        let mut o = BTreeMap::new();
        o.insert("quit".to_string(), vec!["x".to_string()]);
        let map = Keymap::with_overrides(&o).unwrap();
        assert_eq!(
            map.action(&key(KeyCode::Char('x'), KeyModifiers::NONE)),
            Some(Action::Quit)
        );
        assert_eq!(
            map.action(&key(KeyCode::Char('q'), KeyModifiers::NONE)),
            None
        );
        o.insert("fly".to_string(), vec!["y".to_string()]);
        assert_eq!(
            Keymap::with_overrides(&o),
            Err(KeyError::UnknownAction("fly".to_string()))
        );
    }
}
