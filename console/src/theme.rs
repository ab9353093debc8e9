//! Colours. Every one can be overridden in the `[theme]` table of the configuration file with a
//! colour name (`red`, `light-blue`, `dark-gray`, `reset`), an index (`208`) or `#rrggbb`.

use std::collections::BTreeMap;
use std::str::FromStr;

use ratatui::style::{Color, Modifier, Style};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Theme {
    pub text: Color,
    pub dim: Color,
    pub accent: Color,
    pub header_bg: Color,
    pub selected_bg: Color,
    pub green: Color,
    pub yellow: Color,
    pub red: Color,
    pub ok: Color,
    pub warn: Color,
    pub error: Color,
    pub border: Color,
}

impl Default for Theme {
    fn default() -> Self {
        Theme {
            text: Color::Reset,
            dim: Color::DarkGray,
            accent: Color::Cyan,
            header_bg: Color::Blue,
            selected_bg: Color::DarkGray,
            green: Color::Green,
            yellow: Color::Yellow,
            red: Color::Red,
            ok: Color::Green,
            warn: Color::Yellow,
            error: Color::LightRed,
            border: Color::Gray,
        }
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ThemeError {
    #[error("unknown theme colour {0:?}")]
    UnknownItem(String),
    #[error("invalid colour {value:?} for {item}")]
    BadColour { item: String, value: String },
}

impl Theme {
    pub const ITEMS: [&'static str; 12] = [
        "text",
        "dim",
        "accent",
        "header-bg",
        "selected-bg",
        "green",
        "yellow",
        "red",
        "ok",
        "warn",
        "error",
        "border",
    ];

    pub fn with_overrides(overrides: &BTreeMap<String, String>) -> Result<Theme, ThemeError> {
        let mut theme = Theme::default();
        for (item, value) in overrides {
            let colour =
                Color::from_str(&value.replace('-', "")).map_err(|_| ThemeError::BadColour {
                    item: item.clone(),
                    value: value.clone(),
                })?;
            let slot = match item.as_str() {
                "text" => &mut theme.text,
                "dim" => &mut theme.dim,
                "accent" => &mut theme.accent,
                "header-bg" => &mut theme.header_bg,
                "selected-bg" => &mut theme.selected_bg,
                "green" => &mut theme.green,
                "yellow" => &mut theme.yellow,
                "red" => &mut theme.red,
                "ok" => &mut theme.ok,
                "warn" => &mut theme.warn,
                "error" => &mut theme.error,
                "border" => &mut theme.border,
                other => return Err(ThemeError::UnknownItem(other.to_string())),
            };
            *slot = colour;
        }
        Ok(theme)
    }

    pub fn text(&self) -> Style {
        Style::default().fg(self.text)
    }
    pub fn dim(&self) -> Style {
        Style::default().fg(self.dim)
    }
    pub fn accent(&self) -> Style {
        Style::default().fg(self.accent)
    }
    pub fn bold(&self) -> Style {
        Style::default().add_modifier(Modifier::BOLD)
    }
    pub fn title(&self) -> Style {
        Style::default()
            .fg(self.accent)
            .add_modifier(Modifier::BOLD)
    }
    pub fn header(&self) -> Style {
        Style::default().bg(self.header_bg).fg(Color::White)
    }
    pub fn selected(&self) -> Style {
        Style::default()
            .bg(self.selected_bg)
            .add_modifier(Modifier::BOLD)
    }
    pub fn green(&self) -> Style {
        Style::default().fg(self.green)
    }
    pub fn yellow(&self) -> Style {
        Style::default().fg(self.yellow)
    }
    pub fn red(&self) -> Style {
        Style::default().fg(self.red)
    }
    pub fn ok(&self) -> Style {
        Style::default().fg(self.ok)
    }
    pub fn warn(&self) -> Style {
        Style::default().fg(self.warn).add_modifier(Modifier::BOLD)
    }
    pub fn error(&self) -> Style {
        Style::default().fg(self.error).add_modifier(Modifier::BOLD)
    }
    pub fn border(&self) -> Style {
        Style::default().fg(self.border)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overrides() {
        let mut o = BTreeMap::new();
        o.insert("red".to_string(), "#ff0000".to_string());
        o.insert("dim".to_string(), "dark-gray".to_string());
        o.insert("accent".to_string(), "208".to_string());
        let t = Theme::with_overrides(&o).unwrap();
        assert_eq!(t.red, Color::Rgb(255, 0, 0));
        assert_eq!(t.dim, Color::DarkGray);
        assert_eq!(t.accent, Color::Indexed(208));
        o.insert("sky".to_string(), "blue".to_string());
        assert!(matches!(
            Theme::with_overrides(&o),
            Err(ThemeError::UnknownItem(_))
        ));
        let mut bad = BTreeMap::new();
        bad.insert("red".to_string(), "rosso".to_string());
        assert!(matches!(
            Theme::with_overrides(&bad),
            Err(ThemeError::BadColour { .. })
        ));
    }
}
