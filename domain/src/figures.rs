//! Percentages, computed once and in one place so that every view, report and export agrees.
//!
//! Rule: a share is `part / whole` expressed in tenths of a percent, rounded half up
//! (away from zero) on exact integer arithmetic. 255 / 270 = 94.444…% is 944 tenths, shown as
//! `94,4` in Italian and `94.4` in English. A share of nothing (`whole == 0`) does not exist:
//! it is `None` and shown as a dash, never as 0%.

use std::fmt;

/// A percentage with one decimal, held exactly as tenths of a percent (0..=1000 for proper shares).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Share {
    tenths: u64,
}

impl Share {
    /// `part` out of `whole`; `None` when `whole` is zero.
    pub fn of(part: u64, whole: u64) -> Option<Share> {
        if whole == 0 {
            return None;
        }
        // round half up: floor((part * 1000 * 2 + whole) / (2 * whole))
        let num = u128::from(part) * 2000 + u128::from(whole);
        let den = u128::from(whole) * 2;
        let tenths = u64::try_from(num / den).unwrap_or(u64::MAX);
        Some(Share { tenths })
    }

    /// Tenths of a percent (944 for 94,4%).
    pub fn tenths(self) -> u64 {
        self.tenths
    }

    /// As a floating-point percentage (94.4), for charts and JSON.
    pub fn percent(self) -> f64 {
        self.tenths as f64 / 10.0
    }

    /// Formatted with one decimal in the given language, without the `%` sign.
    pub fn format(self, lang: Lang) -> String {
        let sep = match lang {
            Lang::It => ',',
            Lang::En => '.',
        };
        format!("{}{}{}", self.tenths / 10, sep, self.tenths % 10)
    }
}

impl fmt::Display for Share {
    /// English form with a percent sign: `94.4%`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}%", self.tenths / 10, self.tenths % 10)
    }
}

/// Formats an optional share with a percent sign, a dash when there is nothing to share.
pub fn format_share(share: Option<Share>, lang: Lang) -> String {
    match share {
        Some(s) => format!("{}%", s.format(lang)),
        None => DASH.to_string(),
    }
}

// The one set of number conventions of the console, the reports and the technician tool.

/// The dash shown for a figure that does not exist (no standard, no votes, not measured).
pub const DASH: &str = "\u{2014}";
/// The minus sign of negative figures (U+2212, not the hyphen).
pub const MINUS: &str = "\u{2212}";

/// The decimal separator: comma in Italian, point in English.
pub fn decimal_sep(lang: Lang) -> char {
    match lang {
        Lang::It => ',',
        Lang::En => '.',
    }
}

/// An integer with thousands separators: `1.234.567` in Italian, `1,234,567` in English.
pub fn format_int(n: u64, lang: Lang) -> String {
    let digits = n.to_string();
    let sep = match lang {
        Lang::It => '.',
        Lang::En => ',',
    };
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, ch) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(sep);
        }
        out.push(ch);
    }
    out
}

/// A signed integer change: `+12`, `−3`, `0`.
pub fn format_signed_int(n: i64, lang: Lang) -> String {
    let body = format_int(n.unsigned_abs(), lang);
    match n.signum() {
        1 => format!("+{body}"),
        -1 => format!("{MINUS}{body}"),
        _ => body,
    }
}

/// A change in tenths of a percentage point, with its sign: `+1,2`, `−0,4`, `0,0`; a dash when
/// unknown.
pub fn format_points(tenths: Option<i64>, lang: Lang) -> String {
    let Some(t) = tenths else {
        return DASH.to_string();
    };
    let a = t.unsigned_abs();
    let sign = match t.signum() {
        1 => "+",
        -1 => MINUS,
        _ => "",
    };
    format!("{sign}{}{}{}", a / 10, decimal_sep(lang), a % 10)
}

/// The two languages of the product. Italian is the default.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Default, Hash, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum Lang {
    #[default]
    It,
    En,
}

impl std::str::FromStr for Lang {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "it" | "ita" | "italiano" => Ok(Lang::It),
            "en" | "eng" | "english" => Ok(Lang::En),
            other => Err(format!("unknown language {other:?}: use `it` or `en`")),
        }
    }
}

/// Formats a decimal number with `decimals` digits in the language's convention
/// (decimal comma in Italian), for averages and times.
pub fn format_decimal(value: f64, decimals: usize, lang: Lang) -> String {
    let s = format!("{:.decimals$}", value.abs());
    let s = match lang {
        Lang::It => s.replace('.', ","),
        Lang::En => s,
    };
    // a true minus sign, and no "−0,0" for a value that rounds to zero
    if value < 0.0 && s.chars().any(|c| c.is_ascii_digit() && c != '0') {
        format!("{MINUS}{s}")
    } else {
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_set_of_conventions() {
        assert_eq!(format_int(1_234_567, Lang::It), "1.234.567");
        assert_eq!(format_int(1_234_567, Lang::En), "1,234,567");
        assert_eq!(format_signed_int(-3, Lang::It), "\u{2212}3");
        assert_eq!(format_points(Some(-4), Lang::It), "\u{2212}0,4");
        assert_eq!(format_points(Some(12), Lang::En), "+1.2");
        assert_eq!(format_points(None, Lang::It), DASH);
        assert_eq!(format_decimal(-3.5, 1, Lang::It), "\u{2212}3,5");
        assert_eq!(format_decimal(-0.01, 1, Lang::It), "0,0");
        assert_eq!(format_share(None, Lang::It), DASH);
    }

    #[test]
    fn sassuolo_july() {
        // 352 served, 270 votes: 255 green, 11 yellow, 4 red.
        assert_eq!(
            Share::of(255, 270).map(|s| s.format(Lang::It)).as_deref(),
            Some("94,4")
        );
        assert_eq!(
            Share::of(270, 352).map(|s| s.format(Lang::It)).as_deref(),
            Some("76,7")
        );
        assert_eq!(
            Share::of(11, 270).map(|s| s.format(Lang::En)).as_deref(),
            Some("4.1")
        );
        assert_eq!(
            Share::of(4, 270).map(|s| s.format(Lang::En)).as_deref(),
            Some("1.5")
        );
    }

    #[test]
    fn rounds_half_up_and_handles_empty() {
        assert_eq!(Share::of(1, 8).map(Share::tenths), Some(125)); // 12.5 exactly
        assert_eq!(Share::of(1, 16).map(Share::tenths), Some(63)); // 6.25 -> 6.3
        assert_eq!(Share::of(1, 3).map(Share::tenths), Some(333));
        assert_eq!(Share::of(2, 3).map(Share::tenths), Some(667));
        assert_eq!(Share::of(0, 0), None);
        assert_eq!(format_share(None, Lang::It), DASH);
        assert_eq!(
            Share::of(5, 5).map(|s| s.to_string()).as_deref(),
            Some("100.0%")
        );
    }

    #[test]
    fn decimals_follow_language() {
        assert_eq!(format_decimal(3.25, 1, Lang::It), "3,2");
        assert_eq!(format_decimal(12.0, 2, Lang::En), "12.00");
    }
}
