//! `faccia.v1.Reports`: the monthly publication, the annual review and the Ministry export, as
//! `faccia report` produces them (the same model, the same renderers), for the console.

use std::sync::Arc;

use faccia_domain::calendar::check_year;
use faccia_domain::{Lang, Millis, Share};
use faccia_proto::v1::{self, reports_server::Reports};
use faccia_reports::cli::in_snapshot;
use faccia_reports::{
    model, Faces, Format, Group, MonthlyReport, ReportArgs, ReportCommand, ReportContext,
    ReportError, Waiting, YearMonth,
};
use tonic::{Request, Response, Status};

use super::{convert, Office, Shared};
use crate::storage::{AnyConnection, StoreError};

/// `RenderRequest.site_id` for a report of the whole body.
const BODY: &str = "*";

pub struct ReportsService {
    pub(crate) shared: Arc<Shared>,
}

/// One office's reports: its store and what reports know of it.
struct Site {
    office: Arc<Office>,
    ctx: ReportContext,
}

impl ReportsService {
    pub fn new(shared: Arc<Shared>) -> ReportsService {
        ReportsService { shared }
    }

    /// The office a request names, checked against the caller's token.
    fn site<T>(&self, request: &Request<T>, site_id: &str) -> Result<Site, Status> {
        let office = self.shared.office_for(request, site_id)?;
        let ctx = crate::site_report_context(&self.shared.config, &office.site);
        Ok(Site { office, ctx })
    }
}

impl Site {
    fn month(&self, field: &str, s: &str) -> Result<YearMonth, Status> {
        if s.is_empty() {
            return YearMonth::containing(self.office.store.now(), self.ctx.time_zone)
                .map_err(|e| Status::internal(e.to_string()));
        }
        s.parse::<YearMonth>()
            .map_err(|e| Status::invalid_argument(format!("{field}: {e}")))
    }

    /// Runs a report on a pooled reader connection, off the async runtime.
    async fn query<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut AnyConnection, &ReportContext) -> Result<T, ReportError> + Send + 'static,
    ) -> Result<T, Status> {
        let ctx = self.ctx.clone();
        self.office
            .store
            .read(move |c| match f(c, &ctx) {
                // Database errors go back to the store, which drops a broken connection
                // instead of returning it to the pool.
                Err(ReportError::Query(e)) => Err(StoreError::Db(e)),
                Err(ReportError::Store(e)) => Err(e),
                other => Ok(other),
            })
            .await
            .map_err(|e| match e {
                StoreError::Db(e) => {
                    tracing::warn!(error = %e, "report query failed");
                    Status::unavailable(format!("the report's query failed: {e}; try again"))
                }
                other => convert::status(other),
            })?
            .map_err(report_status)
    }
}

fn lang(s: &str) -> Result<Lang, Status> {
    if s.is_empty() {
        return Ok(Lang::It);
    }
    s.parse()
        .map_err(|_| Status::invalid_argument(format!("lang: {s:?} is not `it` or `en`")))
}

/// Why a report failed, as a gRPC status a person can act on (database errors are answered by
/// [`ReportsService::query`]).
fn report_status(e: ReportError) -> Status {
    match e {
        ReportError::InvalidPeriod(m) | ReportError::Unsupported(m) => Status::invalid_argument(m),
        ReportError::Inconsistent(m) => Status::data_loss(format!("stored data: {m}")),
        other => Status::internal(other.to_string()),
    }
}

fn tenths(s: Option<Share>) -> Option<u32> {
    s.map(|s| u32::try_from(s.tenths()).unwrap_or(u32::MAX))
}

fn change(t: Option<i64>) -> Option<i32> {
    t.map(|t| t.clamp(i64::from(i32::MIN), i64::from(i32::MAX)) as i32)
}

fn faces(f: &Faces) -> v1::ReportFaces {
    v1::ReportFaces {
        votes: f.votes,
        green: f.green,
        yellow: f.yellow,
        red: f.red,
        reasons: f.reasons.to_vec(),
        red_without_reason: f.red_without_reason,
        green_tenths: tenths(f.green_share()),
        yellow_tenths: tenths(f.yellow_share()),
        red_tenths: tenths(f.red_share()),
        reason_tenths: (0..4).filter_map(|i| tenths(f.reason_share(i))).collect(),
        red_without_reason_tenths: tenths(f.red_without_reason_share()),
    }
}

fn group(g: &Group) -> v1::ReportGroup {
    v1::ReportGroup {
        code: g.code.clone(),
        name: g.name.clone().unwrap_or_default(),
        served: g.served,
        faces: Some(faces(&g.faces)),
        participation_tenths: tenths(g.participation()),
    }
}

fn waiting(w: &Waiting, target_tenths: u64) -> v1::ReportWaiting {
    let within = w.within_share();
    v1::ReportWaiting {
        service_code: w.service_code.clone(),
        name: w.name.clone().unwrap_or_default(),
        standard_min: w.standard_min,
        counted: w.counted,
        left_out: w.left_out,
        avg_ms: w.avg_ms(),
        p90_ms: w.p90_ms,
        within: w.within,
        within_tenths: tenths(within),
        met: within.map(|s| s.tenths() >= target_tenths),
    }
}

/// The wire form of a monthly report, with its summary sentence in `lang`; `now` and the
/// month's end (`end`) tell whether the month is over.
pub fn monthly_reply(
    r: &MonthlyReport,
    target_tenths: u64,
    lang: Lang,
    now: Millis,
    end: Millis,
) -> v1::MonthlyReport {
    let m = &r.current;
    v1::MonthlyReport {
        month: m.month.to_string(),
        site_id: r.site_id.clone(),
        site_name: r.site_name.clone(),
        time_zone: r.time_zone.clone(),
        served: m.served,
        faces: Some(faces(&m.faces)),
        participation_tenths: tenths(m.participation()),
        by_counter: m.by_counter.iter().map(group).collect(),
        by_service: m.by_service.iter().map(group).collect(),
        by_channel: m.by_channel.iter().map(group).collect(),
        waiting: m
            .waiting
            .iter()
            .map(|w| waiting(w, target_tenths))
            .collect(),
        previous_month: r.previous.month.to_string(),
        previous_served: r.previous.served,
        previous_faces: Some(faces(&r.previous.faces)),
        previous_participation_tenths: tenths(r.previous.participation()),
        participation_change_tenths: change(r.change.participation_tenths),
        green_change_tenths: change(r.change.green_tenths),
        yellow_change_tenths: change(r.change.yellow_tenths),
        red_change_tenths: change(r.change.red_tenths),
        summary: faccia_reports::summary_sentence(m, lang),
        target_tenths: u32::try_from(target_tenths).unwrap_or(u32::MAX),
        month_complete: now >= end,
        generated_at: Some(convert::timestamp(now)),
    }
}

fn format(f: i32) -> Result<Format, Status> {
    match v1::ReportFormat::try_from(f) {
        Ok(v1::ReportFormat::ReportText) => Ok(Format::Text),
        Ok(v1::ReportFormat::ReportCsv) => Ok(Format::Csv),
        Ok(v1::ReportFormat::ReportJson) => Ok(Format::Json),
        Ok(v1::ReportFormat::ReportHtml) => Ok(Format::Html),
        _ => Err(Status::invalid_argument(
            "format: must be REPORT_TEXT, REPORT_CSV, REPORT_JSON or REPORT_HTML",
        )),
    }
}

#[tonic::async_trait]
impl Reports for ReportsService {
    async fn get_monthly(
        &self,
        request: Request<v1::MonthlyRequest>,
    ) -> Result<Response<v1::MonthlyReport>, Status> {
        self.monthly(request).await
    }

    async fn render(
        &self,
        request: Request<v1::RenderRequest>,
    ) -> Result<Response<v1::Document>, Status> {
        self.document(request).await
    }
}

impl ReportsService {
    async fn monthly(
        &self,
        request: Request<v1::MonthlyRequest>,
    ) -> Result<Response<v1::MonthlyReport>, Status> {
        let site = self.site(&request, &request.get_ref().site_id)?;
        let req = request.into_inner();
        let lang = lang(&req.lang)?;
        let month = site.month("month", &req.month)?;
        let (_, end) = month
            .bounds(site.ctx.time_zone)
            .map_err(|e| Status::invalid_argument(format!("month: {e}")))?;
        let report = site
            .query(move |c, ctx| in_snapshot(c, |c| model::monthly(c, ctx, month)))
            .await?;
        Ok(Response::new(monthly_reply(
            &report,
            site.ctx.target_tenths,
            lang,
            site.office.store.now(),
            end,
        )))
    }

    async fn document(
        &self,
        request: Request<v1::RenderRequest>,
    ) -> Result<Response<v1::Document>, Status> {
        // "*": the body, every office of this server the caller may see, each with its rows.
        let body: Option<Vec<ReportContext>> = (request.get_ref().site_id == BODY).then(|| {
            let caller = request.extensions().get::<crate::auth::Caller>();
            self.shared
                .visible(caller)
                .iter()
                .map(|o| crate::site_report_context(&self.shared.config, &o.site))
                .collect()
        });
        let site = match &body {
            Some(ctxs) => {
                let first = ctxs.first().ok_or_else(|| {
                    Status::permission_denied("site_id \"*\": the credential may not use any site")
                })?;
                self.site(&request, &first.site_id)?
            }
            None => self.site(&request, &request.get_ref().site_id)?,
        };
        let req = request.into_inner();
        let lang = lang(&req.lang)?;
        let fmt = format(req.format)?;
        let command = match v1::ReportKind::try_from(req.kind) {
            Ok(v1::ReportKind::ReportMonthly) => ReportCommand::Monthly {
                month: site.month("month", &req.month)?.into(),
            },
            Ok(v1::ReportKind::ReportAnnual) => ReportCommand::Annual {
                year: check_year(req.year)
                    .map_err(|e| Status::invalid_argument(format!("year: {e}")))?,
            },
            // The format (CSV or JSON) and the order of the months are checked by the report.
            Ok(v1::ReportKind::ReportMinistryExport) => ReportCommand::Export {
                from: site.month("from", &req.from)?.into(),
                to: site.month("to", &req.to)?.into(),
            },
            _ => {
                return Err(Status::invalid_argument(
                    "kind: must be REPORT_MONTHLY, REPORT_ANNUAL or REPORT_MINISTRY_EXPORT",
                ))
            }
        };
        let stem = match &body {
            Some(_) => faccia_reports::cli::BODY_FILE_STEM,
            None => site.ctx.site_id.as_str(),
        };
        let file_name = command.file_name(stem, fmt);
        let args = ReportArgs {
            command,
            format: Some(fmt),
            lang,
            output: None,
            output_dir: None,
            target: None,
            sites: Vec::new(),
            all_sites: false,
        };
        // `produce` runs its queries in one read transaction of its own.
        let text = match body {
            Some(ctxs) => {
                site.query(move |c, _| faccia_reports::cli::produce_body(&args, &ctxs, c))
                    .await?
            }
            None => {
                site.query(move |c, ctx| faccia_reports::produce(&args, ctx, c))
                    .await?
            }
        };
        Ok(Response::new(v1::Document {
            file_name,
            media_type: fmt.media_type().to_string(),
            content: text.into_bytes(),
        }))
    }
}
