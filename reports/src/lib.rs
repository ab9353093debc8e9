//! faccia's reports: the monthly publication for the office website, the annual review of the
//! declared service standards and the aggregated export for the Ministry.
//!
//! * [`model`] builds report structures from a database connection with aggregate SQL
//!   (reusable by the console): [`model::month_figures`], [`model::monthly`],
//!   [`model::annual`], [`model::ministry_export`].
//! * [`render`] turns them into text, CSV, JSON (versioned schemas) or one HTML page.
//! * [`cli`] holds [`ReportArgs`] and [`run`], the entry point for `faccia report`.
//!
//! Every percentage is a `faccia_domain::Share` (tenths of a percent, half up), made in one
//! place, so the sentence, the tables and the exports always agree. Reports never read operator
//! data, ticket ids or display numbers. See docs/reports.md.

pub mod cli;
pub mod error;
pub mod model;
pub mod period;
pub mod query;
pub mod render;
pub mod words;

pub use cli::{produce, run, ReportArgs, ReportCommand, Source};
pub use error::ReportError;
pub use model::{
    annual, ministry_export, month_figures, monthly, AnnualReport, ExportRow, Faces, Group,
    MonthFigures, MonthlyReport, ReportContext, StandardReview, Via, Waiting,
};
pub use period::YearMonth;
pub use render::Format;
pub use words::summary_sentence;
