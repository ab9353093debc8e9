//! Renderers: text (terminal), CSV, JSON and one self-contained HTML page. They only format:
//! every figure and share comes ready from [`crate::model`].

pub mod csv;
pub mod html;
pub mod json;
pub mod text;

use faccia_domain::Lang;

use crate::error::ReportError;
use crate::model::{
    AnnualReport, BodyAnnualReport, BodyMonthlyReport, ExportRow, MonthlyReport, ReportContext,
};

/// Output formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum Format {
    #[default]
    Text,
    Csv,
    Json,
    Html,
}

impl Format {
    /// The file name extension.
    pub fn extension(self) -> &'static str {
        match self {
            Format::Text => "txt",
            Format::Csv => "csv",
            Format::Json => "json",
            Format::Html => "html",
        }
    }

    /// The media type, for a document sent over the network.
    pub fn media_type(self) -> &'static str {
        match self {
            Format::Text => "text/plain; charset=utf-8",
            Format::Csv => "text/csv; charset=utf-8",
            Format::Json => "application/json",
            Format::Html => "text/html; charset=utf-8",
        }
    }
}

pub fn monthly(r: &MonthlyReport, format: Format, lang: Lang) -> Result<String, ReportError> {
    Ok(match format {
        Format::Text => text::monthly(r, lang),
        Format::Csv => csv::monthly(r, lang),
        Format::Json => json::to_string(&json::monthly(r, lang))?,
        Format::Html => html::monthly(r, lang),
    })
}

pub fn annual(r: &AnnualReport, format: Format, lang: Lang) -> Result<String, ReportError> {
    Ok(match format {
        Format::Text => text::annual(r, lang),
        Format::Csv => csv::annual(r, lang),
        Format::Json => json::to_string(&json::annual(r, lang))?,
        Format::Html => html::annual(r, lang),
    })
}

/// The monthly publication of the body (several offices).
pub fn monthly_body(
    r: &BodyMonthlyReport,
    format: Format,
    lang: Lang,
) -> Result<String, ReportError> {
    Ok(match format {
        Format::Text => text::monthly_body(r, lang),
        Format::Csv => csv::monthly_body(r, lang),
        Format::Json => json::to_string(&json::monthly_body(r, lang))?,
        Format::Html => html::monthly_body(r, lang),
    })
}

/// The annual review of the body (several offices).
pub fn annual_body(
    r: &BodyAnnualReport,
    format: Format,
    lang: Lang,
) -> Result<String, ReportError> {
    Ok(match format {
        Format::Text => text::annual_body(r, lang),
        Format::Csv => csv::annual_body(r, lang),
        Format::Json => json::to_string(&json::annual_body(r, lang))?,
        Format::Html => html::annual_body(r, lang),
    })
}

/// The Ministry export of one office or several (`offices`: the ones exported, named in the
/// JSON document): CSV or JSON only (text and HTML are refused by the caller).
pub fn export(
    rows: &[ExportRow],
    offices: &[ReportContext],
    from: crate::period::YearMonth,
    to: crate::period::YearMonth,
    format: Format,
) -> Result<String, ReportError> {
    match format {
        Format::Json => Ok(json::to_string(&json::export(rows, offices, from, to))?),
        Format::Csv => Ok(csv::export(rows)),
        other => Err(ReportError::Unsupported(format!(
            "format: the Ministry export is written as csv or json, not {other:?}"
        ))),
    }
}
