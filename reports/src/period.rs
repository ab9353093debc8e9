//! Calendar months and their bounds in the site's time zone.

use std::fmt;
use std::str::FromStr;

use chrono_tz::Tz;
use faccia_domain::{stats, Lang, Millis};
use serde::{Serialize, Serializer};

use crate::error::ReportError;

/// A calendar month, `YYYY-MM`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct YearMonth {
    pub year: i32,
    /// 1..=12
    pub month: u32,
}

impl YearMonth {
    pub fn new(year: i32, month: u32) -> Result<YearMonth, ReportError> {
        if !(1..=12).contains(&month) || !(1970..=9999).contains(&year) {
            return Err(ReportError::InvalidPeriod(format!(
                "{year:04}-{month:02} is not a month (YYYY-MM, 1970..9999)"
            )));
        }
        Ok(YearMonth { year, month })
    }

    pub fn previous(self) -> YearMonth {
        if self.month == 1 {
            YearMonth {
                year: self.year - 1,
                month: 12,
            }
        } else {
            YearMonth {
                year: self.year,
                month: self.month - 1,
            }
        }
    }

    pub fn next(self) -> YearMonth {
        if self.month == 12 {
            YearMonth {
                year: self.year + 1,
                month: 1,
            }
        } else {
            YearMonth {
                year: self.year,
                month: self.month + 1,
            }
        }
    }

    /// The month that holds the instant `at` in the local time of `tz`.
    pub fn containing(at: Millis, tz: Tz) -> Result<YearMonth, ReportError> {
        use chrono::Datelike;
        let local = chrono::DateTime::from_timestamp_millis(at)
            .ok_or_else(|| ReportError::InvalidPeriod(format!("{at} ms is not a date")))?
            .with_timezone(&tz);
        YearMonth::new(local.year(), local.month())
    }

    /// [start, end) in milliseconds since the epoch, local months of `tz`.
    pub fn bounds(self, tz: Tz) -> Result<(Millis, Millis), ReportError> {
        stats::month_bounds(tz, self.year, self.month)
            .ok_or_else(|| ReportError::InvalidPeriod(format!("{self} has no bounds")))
    }

    /// Every month from `from` to `to`, both included.
    pub fn range(from: YearMonth, to: YearMonth) -> Result<Vec<YearMonth>, ReportError> {
        if to < from {
            return Err(ReportError::InvalidPeriod(format!("{to} is before {from}")));
        }
        let mut out = Vec::new();
        let mut m = from;
        while m <= to {
            out.push(m);
            if out.len() > 1200 {
                return Err(ReportError::InvalidPeriod("more than 100 years".into()));
            }
            m = m.next();
        }
        Ok(out)
    }

    /// The month's name, lowercase in Italian (`luglio`), capitalised in English (`July`).
    pub fn name(self, lang: Lang) -> &'static str {
        month_name(self.month, lang)
    }
}

/// A month's name: `luglio`, `July`.
pub fn month_name(month: u32, lang: Lang) -> &'static str {
    const IT: [&str; 12] = [
        "gennaio",
        "febbraio",
        "marzo",
        "aprile",
        "maggio",
        "giugno",
        "luglio",
        "agosto",
        "settembre",
        "ottobre",
        "novembre",
        "dicembre",
    ];
    const EN: [&str; 12] = [
        "January",
        "February",
        "March",
        "April",
        "May",
        "June",
        "July",
        "August",
        "September",
        "October",
        "November",
        "December",
    ];
    let i = (month.clamp(1, 12) - 1) as usize;
    match lang {
        Lang::It => IT[i],
        Lang::En => EN[i],
    }
}

impl fmt::Display for YearMonth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04}-{:02}", self.year, self.month)
    }
}

impl FromStr for YearMonth {
    type Err = ReportError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || ReportError::InvalidPeriod(format!("{s:?} is not a month: use YYYY-MM"));
        let (y, m) = s.trim().split_once('-').ok_or_else(bad)?;
        if y.len() != 4 || m.len() != 2 {
            return Err(bad());
        }
        let year: i32 = y.parse().map_err(|_| bad())?;
        let month: u32 = m.parse().map_err(|_| bad())?;
        YearMonth::new(year, month)
    }
}

impl Serialize for YearMonth {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

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
    YearMonth::new(y, 1)?;
    Ok(y)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_month_of_an_instant_is_local() {
        let rome: Tz = "Europe/Rome".parse().unwrap();
        // 2026-07-31T22:30Z is already 1 August in Rome (UTC+2).
        let at = 1_785_537_000_000;
        assert_eq!(
            YearMonth::containing(at, rome).unwrap(),
            YearMonth::new(2026, 8).unwrap()
        );
        assert_eq!(
            YearMonth::containing(at, chrono_tz::UTC).unwrap(),
            YearMonth::new(2026, 7).unwrap()
        );
    }

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
    fn parses_and_walks_months() {
        let m: YearMonth = "2026-07".parse().unwrap();
        assert_eq!(
            m,
            YearMonth {
                year: 2026,
                month: 7
            }
        );
        assert_eq!(m.name(Lang::It), "luglio");
        assert_eq!(
            "2026-01"
                .parse::<YearMonth>()
                .unwrap()
                .previous()
                .to_string(),
            "2025-12"
        );
        assert!("2026-13".parse::<YearMonth>().is_err());
        assert!("2026-7".parse::<YearMonth>().is_err());
        assert!("luglio".parse::<YearMonth>().is_err());
        let r = YearMonth::range("2025-11".parse().unwrap(), "2026-02".parse().unwrap()).unwrap();
        assert_eq!(r.len(), 4);
        assert!(YearMonth::range(m, m.previous()).is_err());
        assert!(parse_year("26").is_err());
    }
}
