//! The months of the reports: calendar months are the domain's ([`YearMonth`]); the command
//! line also names them relative to today ([`MonthSpec`]).

use std::fmt;
use std::str::FromStr;

use chrono_tz::Tz;
use faccia_domain::Millis;

pub use faccia_domain::calendar::{month_name, MonthError, YearMonth};

use crate::error::ReportError;

/// A month as the command line names it: `YYYY-MM`, or relative to today in the site's time
/// zone, `current` (`corrente`) or `previous` (`precedente`), so that a monthly timer can ask
/// for "last month" without computing it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MonthSpec {
    At(YearMonth),
    Current,
    Previous,
}

impl MonthSpec {
    /// The month meant, at the instant `now` in `tz`.
    pub fn resolve(self, now: Millis, tz: Tz) -> Result<YearMonth, ReportError> {
        Ok(match self {
            MonthSpec::At(m) => m,
            MonthSpec::Current => YearMonth::containing(now, tz)?,
            MonthSpec::Previous => YearMonth::containing(now, tz)?.previous(),
        })
    }
}

impl From<YearMonth> for MonthSpec {
    fn from(m: YearMonth) -> MonthSpec {
        MonthSpec::At(m)
    }
}

impl fmt::Display for MonthSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MonthSpec::At(m) => m.fmt(f),
            MonthSpec::Current => f.write_str("current"),
            MonthSpec::Previous => f.write_str("previous"),
        }
    }
}

impl FromStr for MonthSpec {
    type Err = ReportError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "current" | "corrente" => Ok(MonthSpec::Current),
            "previous" | "precedente" | "last" => Ok(MonthSpec::Previous),
            _ => s.parse().map(MonthSpec::At).map_err(|_| {
                ReportError::InvalidPeriod(format!(
                    "{s:?} is not a month: use YYYY-MM, `current` or `previous`"
                ))
            }),
        }
    }
}

/// Parses a year `YYYY` (1970..=9999).
pub fn parse_year(s: &str) -> Result<i32, ReportError> {
    let y: i32 = s
        .trim()
        .parse()
        .map_err(|_| ReportError::InvalidPeriod(format!("{s:?} is not a year: use YYYY")))?;
    Ok(faccia_domain::calendar::check_year(y)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_months_resolve_in_the_site_time_zone() {
        let rome: Tz = "Europe/Rome".parse().unwrap();
        // 2026-07-31T22:30Z is 1 August 00:30 in Rome.
        let at = 1_785_537_000_000;
        let spec = |s: &str| s.parse::<MonthSpec>().unwrap();
        assert_eq!(
            spec("previous").resolve(at, rome).unwrap(),
            YearMonth::new(2026, 7).unwrap()
        );
        assert_eq!(
            spec("corrente").resolve(at, rome).unwrap(),
            YearMonth::new(2026, 8).unwrap()
        );
        assert_eq!(
            spec("2025-12").resolve(at, rome).unwrap(),
            YearMonth::new(2025, 12).unwrap()
        );
        let err = "yesterday".parse::<MonthSpec>().unwrap_err().to_string();
        assert!(err.contains("YYYY-MM, `current` or `previous`"), "{err}");
    }

    #[test]
    fn years_are_four_digits() {
        assert_eq!(parse_year("2026").unwrap(), 2026);
        assert!(parse_year("26").is_err());
        assert!(parse_year("duemila").is_err());
    }
}
