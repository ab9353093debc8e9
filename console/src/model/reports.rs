//! The state of the Rapporti / Reports view, with no I/O: which month is shown, the report the
//! server sent for it, whether a request is in flight, and the documents that can be saved.

use std::cell::Cell;
use std::fmt;

use chrono::{DateTime, Datelike, Utc};
use faccia_domain::Lang;
use faccia_proto::v1::{MonthlyReport, RenderRequest, ReportFormat, ReportKind};

use super::ApiError;

/// A calendar month, e.g. November 2026 ("2026-11").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct YearMonth {
    pub year: i32,
    /// 1..=12.
    pub month: u32,
}

impl YearMonth {
    /// A month, or `None` when `month` is not 1..=12 or the year is out of range.
    pub fn new(year: i32, month: u32) -> Option<YearMonth> {
        ((1..=12).contains(&month) && (1..=9999).contains(&year))
            .then_some(YearMonth { year, month })
    }

    /// The month of `now` in the time zone `zone`.
    pub fn of<Z: chrono::TimeZone>(now: DateTime<Utc>, zone: &Z) -> YearMonth {
        let local = now.with_timezone(zone);
        YearMonth {
            year: local.year(),
            month: local.month(),
        }
    }

    /// Parses "YYYY-MM".
    pub fn parse(s: &str) -> Option<YearMonth> {
        let (y, m) = s.trim().split_once('-')?;
        if y.len() != 4 || m.len() != 2 {
            return None;
        }
        YearMonth::new(y.parse().ok()?, m.parse().ok()?)
    }

    pub fn previous(self) -> YearMonth {
        if self.month <= 1 {
            YearMonth {
                year: (self.year - 1).max(1),
                month: if self.year > 1 { 12 } else { 1 },
            }
        } else {
            YearMonth {
                year: self.year,
                month: self.month - 1,
            }
        }
    }

    pub fn next(self) -> YearMonth {
        if self.month >= 12 {
            if self.year >= 9999 {
                return self;
            }
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

    /// January of the same year.
    pub fn january(self) -> YearMonth {
        YearMonth {
            year: self.year,
            month: 1,
        }
    }
}

impl fmt::Display for YearMonth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04}-{:02}", self.year, self.month)
    }
}

/// A document the user can save from the Reports view.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ReportDoc {
    /// The month's page for the office website.
    MonthlyHtml(YearMonth),
    /// The month's figures as CSV.
    MonthlyCsv(YearMonth),
    /// The aggregated export for the Ministry (CSV), `from` ..= `to`.
    Ministry { from: YearMonth, to: YearMonth },
    /// The annual review of a year (the twelve months and the declared standards), HTML.
    AnnualHtml(i32),
}

impl ReportDoc {
    /// The request for the server's `Reports.Render`.
    pub fn request(self, lang: Lang) -> RenderRequest {
        let lang = lang_code(lang).to_string();
        match self {
            ReportDoc::MonthlyHtml(m) | ReportDoc::MonthlyCsv(m) => RenderRequest {
                kind: ReportKind::ReportMonthly as i32,
                format: if matches!(self, ReportDoc::MonthlyHtml(_)) {
                    ReportFormat::ReportHtml as i32
                } else {
                    ReportFormat::ReportCsv as i32
                },
                lang,
                month: m.to_string(),
                ..Default::default()
            },
            ReportDoc::Ministry { from, to } => RenderRequest {
                kind: ReportKind::ReportMinistryExport as i32,
                format: ReportFormat::ReportCsv as i32,
                lang,
                from: from.to_string(),
                to: to.to_string(),
                ..Default::default()
            },
            ReportDoc::AnnualHtml(year) => RenderRequest {
                kind: ReportKind::ReportAnnual as i32,
                format: ReportFormat::ReportHtml as i32,
                lang,
                year,
                ..Default::default()
            },
        }
    }

    /// The file name used when the server suggests none we can use.
    pub fn fallback_file_name(self) -> String {
        match self {
            ReportDoc::MonthlyHtml(m) => format!("faccia-{m}.html"),
            ReportDoc::MonthlyCsv(m) => format!("faccia-{m}.csv"),
            ReportDoc::Ministry { from, to } => format!("faccia-ministero-{from}-{to}.csv"),
            ReportDoc::AnnualHtml(year) => format!("faccia-{year}.html"),
        }
    }
}

/// "it" or "en", as the Reports API wants it.
pub fn lang_code(lang: Lang) -> &'static str {
    match lang {
        Lang::It => "it",
        Lang::En => "en",
    }
}

/// Why saving a document failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SaveError {
    /// The server refused or could not render it.
    Api(ApiError),
    /// The server sent an empty document.
    Empty,
    /// Writing the file failed: the path tried and the system's message.
    Io { path: String, message: String },
}

/// What the Reports view holds.
#[derive(Debug, Default)]
pub struct ReportsState {
    /// The month shown; `None` until the view is first opened (then the current month).
    pub month: Option<YearMonth>,
    /// Whether the user moved away from the current month (then it stays put).
    pub pinned: bool,
    /// The report of `month`, once it came.
    pub report: Option<MonthlyReport>,
    /// A request for `month` is in flight.
    pub loading: bool,
    /// The last request for `month` failed.
    pub error: Option<ApiError>,
    /// A document is being rendered and saved.
    pub saving: Option<ReportDoc>,
    /// The largest useful scroll offset at the last render (lines of content - rows shown).
    pub scroll_max: Cell<usize>,
}

impl ReportsState {
    /// Shows `month` (clearing what belonged to another month) and marks it as loading.
    pub fn show(&mut self, month: YearMonth) {
        if self.month != Some(month) {
            self.report = None;
        }
        self.month = Some(month);
        self.error = None;
        self.loading = true;
    }

    /// Takes the server's answer for `month`. An answer for a month no longer shown is ignored.
    /// Returns whether anything visible changed.
    pub fn answer(&mut self, month: YearMonth, result: Result<MonthlyReport, ApiError>) -> bool {
        if self.month != Some(month) {
            return false;
        }
        self.loading = false;
        match result {
            Ok(r) => {
                self.error = None;
                self.report = Some(r);
            }
            // The last good report of this month stays visible, with the error above it.
            Err(e) => self.error = Some(e),
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn months_roll_over_years() {
        let nov = YearMonth::parse("2026-11").expect("month");
        assert_eq!(nov.next().to_string(), "2026-12");
        assert_eq!(nov.next().next().to_string(), "2027-01");
        assert_eq!(
            YearMonth::parse("2027-01")
                .map(|m| m.previous().to_string())
                .as_deref(),
            Some("2026-12")
        );
        assert_eq!(nov.january().to_string(), "2026-01");
        assert_eq!(YearMonth::parse("2026-13"), None);
        assert_eq!(YearMonth::parse("2026-1"), None);
        assert_eq!(YearMonth::parse("x"), None);
        let edge = YearMonth::new(9999, 12).expect("month");
        assert_eq!(edge.next(), edge);
        let first = YearMonth::new(1, 1).expect("month");
        assert_eq!(first.previous(), first);
    }

    #[test]
    fn the_month_is_the_local_one() {
        // 23:30 UTC on 31 October is already November in Rome.
        let t = Utc
            .with_ymd_and_hms(2026, 10, 31, 23, 30, 0)
            .single()
            .expect("time");
        assert_eq!(
            YearMonth::of(t, &chrono_tz::Europe::Rome).to_string(),
            "2026-11"
        );
        assert_eq!(YearMonth::of(t, &Utc).to_string(), "2026-10");
    }

    #[test]
    fn stale_answers_are_ignored() {
        let oct = YearMonth::new(2026, 10).expect("month");
        let nov = YearMonth::new(2026, 11).expect("month");
        let mut s = ReportsState::default();
        s.show(oct);
        s.show(nov);
        let r = MonthlyReport {
            month: "2026-10".into(),
            ..Default::default()
        };
        assert!(!s.answer(oct, Ok(r)));
        assert!(s.report.is_none() && s.loading);
        assert!(s.answer(nov, Ok(MonthlyReport::default())));
        assert!(!s.loading && s.report.is_some());
    }

    #[test]
    fn requests_name_the_documents() {
        let m = YearMonth::new(2026, 7).expect("month");
        let r = ReportDoc::MonthlyHtml(m).request(Lang::En);
        assert_eq!(r.kind(), ReportKind::ReportMonthly);
        assert_eq!(r.format(), ReportFormat::ReportHtml);
        assert_eq!((r.month.as_str(), r.lang.as_str()), ("2026-07", "en"));
        let r = ReportDoc::Ministry {
            from: m.january(),
            to: m,
        }
        .request(Lang::It);
        assert_eq!(r.kind(), ReportKind::ReportMinistryExport);
        assert_eq!(r.format(), ReportFormat::ReportCsv);
        assert_eq!((r.from.as_str(), r.to.as_str()), ("2026-01", "2026-07"));
        let r = ReportDoc::AnnualHtml(2026).request(Lang::It);
        assert_eq!(r.kind(), ReportKind::ReportAnnual);
        assert_eq!(r.format(), ReportFormat::ReportHtml);
        assert_eq!(r.year, 2026);
    }
}
