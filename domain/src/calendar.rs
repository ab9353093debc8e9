//! Calendar months of the office: `2026-07`, their names, their neighbours and their bounds in
//! the site's time zone. Reports count by month, the console pages by month: one definition.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Datelike, TimeZone, Utc};
use chrono_tz::Tz;
use serde::{Serialize, Serializer};
use thiserror::Error;

use crate::figures::Lang;
use crate::{stats, Millis};

/// Why a month could not be made.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum MonthError {
    #[error("{0:04}-{1:02} is not a month (YYYY-MM, 1970..9999)")]
    OutOfRange(i32, u32),
    #[error("{0:?} is not a month: use YYYY-MM")]
    Malformed(String),
    #[error("{0} is not a year (1970..9999)")]
    Year(i32),
    #[error("{0} ms is not a date")]
    NoDate(Millis),
    #[error("{0} has no bounds in {1}")]
    NoBounds(YearMonth, Tz),
    #[error("{to} is before {from}")]
    Backwards { from: YearMonth, to: YearMonth },
    #[error("a range of more than 100 years")]
    TooLong,
}

/// A calendar month, `YYYY-MM`, of the years 1970..=9999.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct YearMonth {
    pub year: i32,
    /// 1..=12
    pub month: u32,
}

/// A year of the calendar, 1970..=9999.
pub fn check_year(year: i32) -> Result<i32, MonthError> {
    if (1970..=9999).contains(&year) {
        Ok(year)
    } else {
        Err(MonthError::Year(year))
    }
}

impl YearMonth {
    /// The first month there is: January 1970.
    pub const FIRST: YearMonth = YearMonth {
        year: 1970,
        month: 1,
    };
    /// The last month there is: December 9999.
    pub const LAST: YearMonth = YearMonth {
        year: 9999,
        month: 12,
    };

    pub fn new(year: i32, month: u32) -> Result<YearMonth, MonthError> {
        if !(1..=12).contains(&month) || check_year(year).is_err() {
            return Err(MonthError::OutOfRange(year, month));
        }
        Ok(YearMonth { year, month })
    }

    /// The month before (January 1970 has none: it stays).
    pub fn previous(self) -> YearMonth {
        match self {
            YearMonth::FIRST => self,
            YearMonth { year, month: 1 } => YearMonth {
                year: year - 1,
                month: 12,
            },
            YearMonth { year, month } => YearMonth {
                year,
                month: month - 1,
            },
        }
    }

    /// The month after (December 9999 has none: it stays).
    pub fn next(self) -> YearMonth {
        match self {
            YearMonth::LAST => self,
            YearMonth { year, month: 12 } => YearMonth {
                year: year + 1,
                month: 1,
            },
            YearMonth { year, month } => YearMonth {
                year,
                month: month + 1,
            },
        }
    }

    /// January of the same year.
    pub fn january(self) -> YearMonth {
        YearMonth {
            year: self.year,
            month: 1,
        }
    }

    /// The month of the instant `at` in the local time of `zone`.
    pub fn of<Z: TimeZone>(at: DateTime<Utc>, zone: &Z) -> Result<YearMonth, MonthError> {
        let local = at.with_timezone(zone);
        YearMonth::new(local.year(), local.month())
    }

    /// The month that holds the instant `at` (ms since the epoch) in the local time of `tz`.
    pub fn containing(at: Millis, tz: Tz) -> Result<YearMonth, MonthError> {
        let at = DateTime::from_timestamp_millis(at).ok_or(MonthError::NoDate(at))?;
        YearMonth::of(at, &tz)
    }

    /// [start, end) in milliseconds since the epoch, local months of `tz`.
    pub fn bounds(self, tz: Tz) -> Result<(Millis, Millis), MonthError> {
        stats::month_bounds(tz, self.year, self.month).ok_or(MonthError::NoBounds(self, tz))
    }

    /// Every month from `from` to `to`, both included (at most 100 years).
    pub fn range(from: YearMonth, to: YearMonth) -> Result<Vec<YearMonth>, MonthError> {
        if to < from {
            return Err(MonthError::Backwards { from, to });
        }
        let n = (to.year - from.year) * 12 + to.month as i32 - from.month as i32 + 1;
        if n > 1200 {
            return Err(MonthError::TooLong);
        }
        let mut out = Vec::with_capacity(n as usize);
        let mut m = from;
        while m <= to {
            out.push(m);
            if m == YearMonth::LAST {
                break;
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

/// A month's name: `luglio`, `July` (1..=12; out of range is clamped).
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
    type Err = MonthError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || MonthError::Malformed(s.to_string());
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

#[cfg(test)]
mod tests {
    use super::*;

    fn ym(s: &str) -> YearMonth {
        s.parse().unwrap()
    }

    #[test]
    fn parses_prints_and_refuses() {
        assert_eq!(ym("2026-07"), YearMonth::new(2026, 7).unwrap());
        assert_eq!(ym(" 2026-07 ").to_string(), "2026-07");
        for bad in ["2026-13", "2026-00", "2026-7", "26-07", "x", "1969-12", ""] {
            assert!(bad.parse::<YearMonth>().is_err(), "{bad}");
        }
        let e = "2026-13".parse::<YearMonth>().unwrap_err().to_string();
        assert!(e.contains("is not a month"), "{e}");
    }

    #[test]
    fn walks_months_and_stops_at_the_ends() {
        assert_eq!(ym("2026-01").previous(), ym("2025-12"));
        assert_eq!(ym("2025-12").next(), ym("2026-01"));
        assert_eq!(ym("2026-11").january(), ym("2026-01"));
        assert_eq!(YearMonth::FIRST.previous(), YearMonth::FIRST);
        assert_eq!(YearMonth::LAST.next(), YearMonth::LAST);
        let r = YearMonth::range(ym("2025-11"), ym("2026-02")).unwrap();
        assert_eq!(
            r.iter().map(ToString::to_string).collect::<Vec<_>>(),
            ["2025-11", "2025-12", "2026-01", "2026-02"]
        );
        assert!(YearMonth::range(ym("2026-02"), ym("2026-01")).is_err());
        assert!(YearMonth::range(ym("1970-01"), ym("2071-01")).is_err());
        assert_eq!(
            YearMonth::range(ym("9999-11"), YearMonth::LAST)
                .unwrap()
                .len(),
            2
        );
    }

    #[test]
    fn the_month_of_an_instant_is_local() {
        let rome: Tz = "Europe/Rome".parse().unwrap();
        // 2026-07-31T22:30Z is already 1 August in Rome (UTC+2).
        let at = 1_785_537_000_000;
        assert_eq!(YearMonth::containing(at, rome).unwrap(), ym("2026-08"));
        assert_eq!(
            YearMonth::containing(at, chrono_tz::UTC).unwrap(),
            ym("2026-07")
        );
        // July in Rome: [30 June 22:00Z, 31 July 22:00Z).
        let (from, to) = ym("2026-07").bounds(rome).unwrap();
        assert_eq!((from, to), (1_782_856_800_000, 1_785_535_200_000));
    }

    #[test]
    fn years_are_checked() {
        assert_eq!(check_year(2026), Ok(2026));
        assert_eq!(check_year(0), Err(MonthError::Year(0)));
        assert!(check_year(10_000).is_err());
    }

    #[test]
    fn names_in_both_languages() {
        assert_eq!(ym("2026-07").name(Lang::It), "luglio");
        assert_eq!(ym("2026-07").name(Lang::En), "July");
    }
}
