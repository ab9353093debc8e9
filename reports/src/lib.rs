//! faccia's reports: the monthly publication for the office website, the annual review of the
//! declared service standards and the aggregated export for the Ministry.
//!
//! * [`model`] builds report structures from a database connection with aggregate SQL
//!   (reusable by the console): for one office (site) [`model::month_figures`],
//!   [`model::monthly`], [`model::annual`], [`model::ministry_export`]; for the body, several
//!   offices each in its own time zone, [`model::monthly_body`], [`model::annual_body`],
//!   [`model::ministry_export_body`]. Every query is scoped to one site.
//! * [`render`] turns them into text, CSV, JSON (versioned schemas) or one HTML page.
//! * [`cli`] holds [`ReportArgs`] and [`run`], the entry point for `faccia report`, the
//!   [`Source`] the binary builds from its configuration and the choice of offices
//!   ([`select`], `--site` / `--all-sites`); [`db`] opens the database for a report (and
//!   brings one from before sites up to date first).
//!
//! Every percentage is a `faccia_domain::Share` (tenths of a percent, half up), made in one
//! place, so the sentence, the tables and the exports always agree. Reports never read operator
//! data, ticket ids or display numbers. See docs/reports.md.

pub mod cli;
pub mod db;
pub mod error;
pub mod model;
pub mod period;
pub mod query;
pub mod render;
pub mod words;

pub use cli::{produce, produce_scope, run, select, ReportArgs, ReportCommand, Scope, Source};
pub use error::ReportError;
pub use model::{
    annual, annual_body, ministry_export, ministry_export_body, month_figures, monthly,
    monthly_body, AnnualReport, BodyAnnualReport, BodyMonthlyReport, ExportRow, Faces, Group,
    MonthFigures, MonthTotals, MonthlyReport, ReportContext, StandardReview, Via, Waiting,
};
pub use period::YearMonth;
pub use render::Format;
pub use words::summary_sentence;
