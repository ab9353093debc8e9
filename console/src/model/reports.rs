//! The state of the Rapporti / Reports view, with no I/O: which month is shown, the report the
//! server sent for it, whether a request is in flight, and the documents that can be saved.

use std::cell::Cell;

use faccia_domain::Lang;
use faccia_proto::v1::{MonthlyReport, RenderRequest, ReportFormat, ReportKind};

use super::ApiError;

pub use faccia_domain::YearMonth;

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
    /// The request for the server's `Reports.Render`, about `site_id`.
    pub fn request(self, lang: Lang, site_id: &str) -> RenderRequest {
        let lang = lang_code(lang).to_string();
        let site_id = site_id.to_string();
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
                site_id,
                ..Default::default()
            },
            ReportDoc::Ministry { from, to } => RenderRequest {
                kind: ReportKind::ReportMinistryExport as i32,
                format: ReportFormat::ReportCsv as i32,
                lang,
                from: from.to_string(),
                to: to.to_string(),
                site_id,
                ..Default::default()
            },
            ReportDoc::AnnualHtml(year) => RenderRequest {
                kind: ReportKind::ReportAnnual as i32,
                format: ReportFormat::ReportHtml as i32,
                lang,
                year,
                site_id,
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
        let r = ReportDoc::MonthlyHtml(m).request(Lang::En, "milano");
        assert_eq!(r.site_id, "milano");
        assert_eq!(r.kind(), ReportKind::ReportMonthly);
        assert_eq!(r.format(), ReportFormat::ReportHtml);
        assert_eq!((r.month.as_str(), r.lang.as_str()), ("2026-07", "en"));
        let r = ReportDoc::Ministry {
            from: m.january(),
            to: m,
        }
        .request(Lang::It, "");
        assert_eq!(r.kind(), ReportKind::ReportMinistryExport);
        assert_eq!(r.format(), ReportFormat::ReportCsv);
        assert_eq!((r.from.as_str(), r.to.as_str()), ("2026-01", "2026-07"));
        let r = ReportDoc::AnnualHtml(2026).request(Lang::It, "roma");
        assert_eq!(r.site_id, "roma");
        assert_eq!(r.kind(), ReportKind::ReportAnnual);
        assert_eq!(r.format(), ReportFormat::ReportHtml);
        assert_eq!(r.year, 2026);
    }
}
