//! A fake `faccia.v1.Monitor` server for tests, benchmarks and demos: it serves a fixed snapshot
//! and satisfaction, keeps an in-memory event log that can be appended to, checks bearer tokens
//! like the real server (viewer reads, admin also sends keypad commands), and can be stopped and
//! started again on the same port. Next to it, a fake `faccia.v1.Reports` ([`FakeReports`])
//! serves the monthly reports it was given and renders small deterministic documents.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use faccia_proto::v1::monitor_server::{Monitor, MonitorServer};
use faccia_proto::v1::reports_server::{Reports, ReportsServer};
use faccia_proto::v1::{
    Document, KeypadAction, KeypadCommandReply, KeypadCommandRequest, KeypadCommandResult,
    LogEvent, MonthlyReport, MonthlyRequest, RenderRequest, ReportFormat, ReportKind, Satisfaction,
    SatisfactionRequest, Snapshot, SnapshotRequest, WatchRequest,
};
use futures::Stream;
use tokio::net::TcpListener;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;
use tokio_stream::wrappers::{ReceiverStream, TcpListenerStream};
use tonic::{Code, Request, Response, Status};

use crate::model::YearMonth;

#[derive(Default)]
struct Inner {
    snapshot: Snapshot,
    satisfaction: HashMap<i32, Satisfaction>,
    log: Vec<LogEvent>,
    watchers: Vec<mpsc::Sender<Result<LogEvent, Status>>>,
    keypad_commands: Vec<KeypadCommandRequest>,
    /// Streams kept open but never sent to again (a server shutting down gracefully).
    stalled: Vec<mpsc::Sender<Result<LogEvent, Status>>>,
    fail_snapshots: u32,
}

/// The state behind the fake; clone it to keep a handle while the server runs.
#[derive(Clone, Default)]
pub struct FakeMonitor {
    inner: Arc<Mutex<Inner>>,
    pub viewer_token: Arc<str>,
    pub admin_token: Arc<str>,
    snapshot_calls: Arc<AtomicU64>,
    reports: FakeReports,
}

/// The bearer token's role: `Ok(true)` for admin, `Ok(false)` for viewer.
fn role_of<T>(req: &Request<T>, viewer: &str, admin: &str) -> Result<bool, Status> {
    let header = req
        .metadata()
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    match header.strip_prefix("Bearer ") {
        Some(t) if t == admin => Ok(true),
        Some(t) if t == viewer => Ok(false),
        _ => Err(Status::unauthenticated("missing or unknown token")),
    }
}

impl FakeMonitor {
    /// A fake with the demo tokens `demo-viewer-token` and `demo-admin-token`.
    pub fn new(snapshot: Snapshot) -> FakeMonitor {
        let viewer_token: Arc<str> = Arc::from("demo-viewer-token");
        let admin_token: Arc<str> = Arc::from("demo-admin-token");
        let fake = FakeMonitor {
            reports: FakeReports {
                viewer_token: viewer_token.clone(),
                admin_token: admin_token.clone(),
                ..Default::default()
            },
            viewer_token,
            admin_token,
            ..Default::default()
        };
        fake.lock().snapshot = snapshot;
        fake
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A test that panicked while holding the lock must not hide its own failure.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn set_satisfaction(&self, s: Satisfaction) {
        self.lock().satisfaction.insert(s.period, s);
    }

    pub fn set_snapshot(&self, s: Snapshot) {
        self.lock().snapshot = s;
    }

    /// Appends an event with the next seq (its `seq` is overwritten) and sends it to watchers.
    /// Returns the seq given.
    pub fn append(&self, mut e: LogEvent) -> u64 {
        let mut inner = self.lock();
        let seq = inner.log.last().map_or(1, |l| l.seq + 1);
        e.seq = seq;
        inner.snapshot.last_seq = seq;
        inner.log.push(e.clone());
        // A watcher that is gone or too slow is dropped: its stream ends and the client
        // resumes after its last seq, so nothing is lost.
        inner.watchers.retain(|w| w.try_send(Ok(e.clone())).is_ok());
        seq
    }

    pub fn last_seq(&self) -> u64 {
        self.lock().log.last().map_or(0, |e| e.seq)
    }

    pub fn snapshot_calls(&self) -> u64 {
        self.snapshot_calls.load(Ordering::Relaxed)
    }

    pub fn keypad_commands(&self) -> Vec<KeypadCommandRequest> {
        self.lock().keypad_commands.clone()
    }

    /// Ends every open event stream with UNAVAILABLE, as a server going down would.
    pub fn drop_watchers(&self) {
        let watchers = std::mem::take(&mut self.lock().watchers);
        for w in watchers {
            let _ = w.try_send(Err(Status::unavailable("server shutting down")));
        }
    }

    /// Keeps the open event streams open but stops sending on them, as a server that is
    /// shutting down and waits for calls in flight does.
    pub fn stall_watchers(&self) {
        let mut inner = self.lock();
        let watchers = std::mem::take(&mut inner.watchers);
        inner.stalled.extend(watchers);
    }

    /// The next `n` GetSnapshot calls fail with CANCELLED.
    pub fn fail_snapshots(&self, n: u32) {
        self.lock().fail_snapshots = n;
    }

    /// The fake Reports service served next to this Monitor (same tokens).
    pub fn reports(&self) -> FakeReports {
        self.reports.clone()
    }

    fn role<T>(&self, req: &Request<T>) -> Result<bool, Status> {
        role_of(req, &self.viewer_token, &self.admin_token)
    }
}

#[derive(Default)]
struct ReportsInner {
    /// By (month, lang); a month missing in a language falls back to "it".
    monthly: HashMap<(String, String), MonthlyReport>,
    /// What an empty `month` means.
    current: String,
    delays: HashMap<String, Duration>,
    monthly_calls: Vec<MonthlyRequest>,
    render_calls: Vec<RenderRequest>,
    fail_next: Option<(Code, String)>,
    file_name: Option<String>,
}

/// A fake `faccia.v1.Reports`: the reports it is given, by month and language (a month it does
/// not know is an empty report), documents made from them, the same roles as the real server
/// (viewer or admin), and the same refusals of malformed requests (INVALID_ARGUMENT).
#[derive(Clone, Default)]
pub struct FakeReports {
    inner: Arc<Mutex<ReportsInner>>,
    viewer_token: Arc<str>,
    admin_token: Arc<str>,
}

impl FakeReports {
    fn lock(&self) -> MutexGuard<'_, ReportsInner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Serves `report` for its `month` in `lang` ("it" or "en").
    pub fn set_monthly(&self, lang: &str, report: MonthlyReport) {
        self.lock()
            .monthly
            .insert((report.month.clone(), lang.to_string()), report);
    }

    /// The month an empty request means ("YYYY-MM").
    pub fn set_current(&self, month: &str) {
        self.lock().current = month.to_string();
    }

    /// Answers GetMonthly for `month` only after `delay`.
    pub fn delay(&self, month: &str, delay: Duration) {
        self.lock().delays.insert(month.to_string(), delay);
    }

    /// The next call (either method) fails with `code` and `message`.
    pub fn fail_next(&self, code: Code, message: &str) {
        self.lock().fail_next = Some((code, message.to_string()));
    }

    /// Suggests this file name in every Document instead of the usual one.
    pub fn set_file_name(&self, name: &str) {
        self.lock().file_name = Some(name.to_string());
    }

    pub fn monthly_calls(&self) -> Vec<MonthlyRequest> {
        self.lock().monthly_calls.clone()
    }

    pub fn render_calls(&self) -> Vec<RenderRequest> {
        self.lock().render_calls.clone()
    }

    fn month(&self, text: &str, field: &str) -> Result<YearMonth, Status> {
        let text = if text.is_empty() {
            self.lock().current.clone()
        } else {
            text.to_string()
        };
        text.parse::<YearMonth>()
            .map_err(|e| Status::invalid_argument(format!("{field}: {e}")))
    }

    fn check<T>(&self, req: &Request<T>) -> Result<(), Status> {
        role_of(req, &self.viewer_token, &self.admin_token)?;
        if let Some((code, message)) = self.lock().fail_next.take() {
            return Err(Status::new(code, message));
        }
        Ok(())
    }

    fn lang(lang: &str) -> Result<String, Status> {
        match lang {
            "" | "it" => Ok("it".to_string()),
            "en" => Ok("en".to_string()),
            other => Err(Status::invalid_argument(format!(
                "lang must be \"it\" or \"en\", not {other:?}"
            ))),
        }
    }

    /// The report of `month` in `lang`: the one set, else an empty one.
    pub fn report(&self, month: YearMonth, lang: &str) -> MonthlyReport {
        let key = month.to_string();
        let inner = self.lock();
        inner
            .monthly
            .get(&(key.clone(), lang.to_string()))
            .or_else(|| inner.monthly.get(&(key.clone(), "it".to_string())))
            .cloned()
            .unwrap_or_else(|| MonthlyReport {
                month: key,
                previous_month: month.previous().to_string(),
                target_tenths: 900,
                ..Default::default()
            })
    }
}

#[tonic::async_trait]
impl Reports for FakeReports {
    async fn get_monthly(
        &self,
        req: Request<MonthlyRequest>,
    ) -> Result<Response<MonthlyReport>, Status> {
        self.check(&req)?;
        let r = req.into_inner();
        self.lock().monthly_calls.push(r.clone());
        let month = self.month(&r.month, "month")?;
        let lang = FakeReports::lang(&r.lang)?;
        let delay = self.lock().delays.get(&month.to_string()).copied();
        if let Some(d) = delay {
            tokio::time::sleep(d).await;
        }
        Ok(Response::new(self.report(month, &lang)))
    }

    async fn render(&self, req: Request<RenderRequest>) -> Result<Response<Document>, Status> {
        self.check(&req)?;
        let r = req.into_inner();
        self.lock().render_calls.push(r.clone());
        let lang = FakeReports::lang(&r.lang)?;
        let (ext, media) = match r.format() {
            ReportFormat::ReportHtml => ("html", "text/html; charset=utf-8"),
            ReportFormat::ReportCsv => ("csv", "text/csv; charset=utf-8"),
            ReportFormat::ReportJson => ("json", "application/json"),
            ReportFormat::ReportText => ("txt", "text/plain; charset=utf-8"),
            ReportFormat::Unspecified => {
                return Err(Status::invalid_argument("format is required"))
            }
        };
        let (name, content) = match r.kind() {
            ReportKind::ReportMonthly => {
                let month = self.month(&r.month, "month")?;
                let rep = self.report(month, &lang);
                let faces = rep.faces.clone().unwrap_or_default();
                let content = match ext {
                    "html" => format!(
                        "<!doctype html>\n<html lang=\"{lang}\"><meta charset=\"utf-8\">\
                         <title>Mettiamoci la faccia {month}</title>\n<p>{}</p></html>\n",
                        rep.summary
                    ),
                    _ => format!(
                        "month,served,votes,green,yellow,red\n{month},{},{},{},{},{}\n",
                        rep.served, faces.votes, faces.green, faces.yellow, faces.red
                    ),
                };
                (format!("faccia-{month}.{ext}"), content)
            }
            ReportKind::ReportMinistryExport => {
                if !matches!(ext, "csv" | "json") {
                    return Err(Status::invalid_argument(
                        "the Ministry export is CSV or JSON only",
                    ));
                }
                let from = self.month(&r.from, "from")?;
                let to = self.month(&r.to, "to")?;
                if from > to {
                    return Err(Status::invalid_argument("from is after to"));
                }
                let mut content = String::from("month,served,votes,green,yellow,red\n");
                let mut m = from;
                loop {
                    let rep = self.report(m, &lang);
                    let f = rep.faces.clone().unwrap_or_default();
                    content.push_str(&format!(
                        "{m},{},{},{},{},{}\n",
                        rep.served, f.votes, f.green, f.yellow, f.red
                    ));
                    if m >= to || m.next() == m {
                        break;
                    }
                    m = m.next();
                }
                (format!("faccia-ministero-{from}-{to}.{ext}"), content)
            }
            ReportKind::ReportAnnual => {
                if r.year <= 0 {
                    return Err(Status::invalid_argument("year is required"));
                }
                (
                    format!("faccia-{}.{ext}", r.year),
                    format!("year {}\n", r.year),
                )
            }
            ReportKind::Unspecified => return Err(Status::invalid_argument("kind is required")),
        };
        let file_name = self.lock().file_name.clone().unwrap_or(name);
        Ok(Response::new(Document {
            file_name,
            media_type: media.to_string(),
            content: content.into_bytes(),
        }))
    }
}

type EventStream = Pin<Box<dyn Stream<Item = Result<LogEvent, Status>> + Send>>;

#[tonic::async_trait]
impl Monitor for FakeMonitor {
    async fn list_sites(
        &self,
        _req: Request<faccia_proto::v1::ListSitesRequest>,
    ) -> Result<Response<faccia_proto::v1::SiteList>, Status> {
        Err(Status::unimplemented("ListSites"))
    }

    async fn get_snapshot(
        &self,
        req: Request<SnapshotRequest>,
    ) -> Result<Response<Snapshot>, Status> {
        self.role(&req)?;
        self.snapshot_calls.fetch_add(1, Ordering::Relaxed);
        let mut inner = self.lock();
        if inner.fail_snapshots > 0 {
            inner.fail_snapshots -= 1;
            return Err(Status::cancelled("operation was canceled"));
        }
        Ok(Response::new(inner.snapshot.clone()))
    }

    async fn get_satisfaction(
        &self,
        req: Request<SatisfactionRequest>,
    ) -> Result<Response<Satisfaction>, Status> {
        self.role(&req)?;
        let p = req.get_ref().period;
        let s = self.lock().satisfaction.get(&p).cloned();
        s.map(Response::new)
            .ok_or_else(|| Status::not_found("no satisfaction for that period"))
    }

    type WatchEventsStream = EventStream;

    async fn watch_events(
        &self,
        req: Request<WatchRequest>,
    ) -> Result<Response<Self::WatchEventsStream>, Status> {
        self.role(&req)?;
        let after = req.get_ref().after_seq;
        let mut inner = self.lock();
        let backlog: Vec<LogEvent> = inner
            .log
            .iter()
            .filter(|e| e.seq > after)
            .cloned()
            .collect();
        let (tx, rx) = mpsc::channel(backlog.len() + 4096);
        for e in backlog {
            // The channel was sized for the backlog.
            let _ = tx.try_send(Ok(e));
        }
        inner.watchers.push(tx);
        Ok(Response::new(Box::pin(ReceiverStream::new(rx))))
    }

    async fn keypad_command(
        &self,
        req: Request<KeypadCommandRequest>,
    ) -> Result<Response<KeypadCommandReply>, Status> {
        if !self.role(&req)? {
            return Err(Status::permission_denied("admin role required"));
        }
        let r = req.into_inner();
        let detail = format!("keypad of counter {} acknowledged", r.counter_id);
        let result = match r.action() {
            KeypadAction::KeypadSelfTest => KeypadCommandResult::KeypadSelfTestStarted,
            _ => KeypadCommandResult::KeypadBlinking,
        };
        self.lock().keypad_commands.push(r);
        Ok(Response::new(KeypadCommandReply {
            detail,
            result: result as i32,
        }))
    }
}

/// A running fake server; [`RunningServer::stop`] frees the port.
pub struct RunningServer {
    pub addr: SocketAddr,
    shutdown: Option<oneshot::Sender<()>>,
    task: JoinHandle<()>,
    fake: FakeMonitor,
}

impl RunningServer {
    /// Serves `fake` on `addr` (port 0 for any free port).
    pub async fn start(fake: FakeMonitor, addr: SocketAddr) -> std::io::Result<RunningServer> {
        let listener = TcpListener::bind(addr).await?;
        let addr = listener.local_addr()?;
        let (shutdown, rx) = oneshot::channel::<()>();
        let service = MonitorServer::new(fake.clone());
        let reports = ReportsServer::new(fake.reports());
        let task = tokio::spawn(async move {
            let _ = tonic::transport::Server::builder()
                .add_service(service)
                .add_service(reports)
                .serve_with_incoming_shutdown(TcpListenerStream::new(listener), async {
                    let _ = rx.await;
                })
                .await;
        });
        Ok(RunningServer {
            addr,
            shutdown: Some(shutdown),
            task,
            fake,
        })
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Stops serving: open streams end with UNAVAILABLE, connections close, the port is freed.
    pub async fn stop(mut self) {
        self.fake.drop_watchers();
        if let Some(s) = self.shutdown.take() {
            let _ = s.send(());
        }
        let abort = self.task.abort_handle();
        if tokio::time::timeout(std::time::Duration::from_secs(3), &mut self.task)
            .await
            .is_err()
        {
            abort.abort();
        }
    }
}
