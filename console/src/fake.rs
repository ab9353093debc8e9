//! A fake `faccia.v1.Monitor` server for tests, benchmarks and demos: it serves one office or
//! several (each with its snapshot and satisfaction; counter ids may repeat between offices),
//! keeps one in-memory event log shared by the offices (seq numbers shared, as on one database)
//! that can be appended to, checks bearer tokens and sites like the real server (viewer reads,
//! admin also sends keypad commands; a token may be restricted to some sites; an empty site_id
//! means the only site the caller may see), can pretend to be a server older than sites (no
//! ListSites), and can be stopped and started again on the same port. Next to it, a fake
//! `faccia.v1.Reports` ([`FakeReports`]) serves the monthly reports it was given, per office,
//! and renders small deterministic documents.

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
    ListSitesRequest, LogEvent, MonthlyReport, MonthlyRequest, RenderRequest, ReportFormat,
    ReportKind, Satisfaction, SatisfactionRequest, SiteList, Snapshot, SnapshotRequest,
    WatchRequest,
};
use futures::Stream;
use tokio::net::TcpListener;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;
use tokio_stream::wrappers::{ReceiverStream, TcpListenerStream};
use tonic::{Code, Request, Response, Status};

use crate::model::YearMonth;

/// One office of the fake.
#[derive(Default)]
struct FakeSite {
    snapshot: Snapshot,
    satisfaction: HashMap<i32, Satisfaction>,
}

impl FakeSite {
    fn id(&self) -> &str {
        self.snapshot.site.as_ref().map_or("", |s| s.id.as_str())
    }
}

struct Watcher {
    /// The site whose entries it gets (`None`: every entry, as an older server sends them).
    site: Option<String>,
    tx: mpsc::Sender<Result<LogEvent, Status>>,
}

#[derive(Default)]
struct Inner {
    sites: Vec<FakeSite>,
    /// The one event log of the database: seq numbers are shared by the sites.
    log: Vec<LogEvent>,
    watchers: Vec<Watcher>,
    keypad_commands: Vec<KeypadCommandRequest>,
    /// Streams kept open but never sent to again (a server shutting down gracefully).
    stalled: Vec<mpsc::Sender<Result<LogEvent, Status>>>,
    fail_snapshots: u32,
    /// Every request that named a site: (method, site_id as sent).
    requests: Vec<(&'static str, String)>,
}

/// Who may see what, shared by the fake Monitor and the fake Reports: the tokens, the sites
/// served (ids, in order) and which sites a token is restricted to.
#[derive(Default)]
struct Access {
    viewer: String,
    admin: String,
    sites: Vec<String>,
    /// Tokens that see only some sites (an admin token sees every site whatever this says).
    restricted: HashMap<String, Vec<String>>,
    /// An older server: no ListSites (UNIMPLEMENTED), site_id ignored, one office.
    legacy: bool,
}

type SharedAccess = Arc<Mutex<Access>>;

fn lock_access(a: &SharedAccess) -> MutexGuard<'_, Access> {
    a.lock().unwrap_or_else(|p| p.into_inner())
}

/// The caller: its token and whether it is the admin's.
struct Caller {
    token: String,
    admin: bool,
}

fn caller<T>(req: &Request<T>, access: &SharedAccess) -> Result<Caller, Status> {
    let header = req
        .metadata()
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let a = lock_access(access);
    match header.strip_prefix("Bearer ") {
        Some(t) if t == a.admin => Ok(Caller {
            token: t.to_string(),
            admin: true,
        }),
        Some(t) if t == a.viewer || a.restricted.contains_key(t) => Ok(Caller {
            token: t.to_string(),
            admin: false,
        }),
        _ => Err(Status::unauthenticated("missing or unknown token")),
    }
}

impl Access {
    /// The sites `c` may see, in order.
    fn visible(&self, c: &Caller) -> Vec<&String> {
        match self.restricted.get(&c.token) {
            Some(only) if !c.admin => self.sites.iter().filter(|s| only.contains(s)).collect(),
            _ => self.sites.iter().collect(),
        }
    }

    /// The index of the site a request names, as the real server decides it: empty means the
    /// only site the caller may see (INVALID_ARGUMENT when there are several), a site it may not
    /// see is PERMISSION_DENIED, one not served NOT_FOUND. An older server ignores the field.
    fn resolve(&self, c: &Caller, site_id: &str) -> Result<usize, Status> {
        if self.legacy {
            return Ok(0);
        }
        let visible = self.visible(c);
        let id = if site_id.is_empty() {
            match visible.as_slice() {
                [one] => one.as_str(),
                [] => return Err(Status::permission_denied("this token may see no site")),
                many => {
                    return Err(Status::invalid_argument(format!(
                        "site_id is required: this server serves {} sites",
                        many.len()
                    )))
                }
            }
        } else {
            site_id
        };
        let Some(i) = self.sites.iter().position(|s| s == id) else {
            return Err(Status::not_found(format!("no site {id:?} here")));
        };
        if !visible.iter().any(|s| s.as_str() == id) {
            return Err(Status::permission_denied(format!(
                "this token may not see site {id:?}"
            )));
        }
        Ok(i)
    }
}

/// The state behind the fake; clone it to keep a handle while the server runs.
#[derive(Clone, Default)]
pub struct FakeMonitor {
    inner: Arc<Mutex<Inner>>,
    access: SharedAccess,
    pub viewer_token: Arc<str>,
    pub admin_token: Arc<str>,
    snapshot_calls: Arc<AtomicU64>,
    reports: FakeReports,
}

/// The id of a snapshot's site, or the fake's default for a snapshot that names none.
fn site_id_of(s: &Snapshot) -> String {
    s.site
        .as_ref()
        .map(|x| x.id.clone())
        .filter(|id| !id.is_empty())
        .unwrap_or_else(|| "ufficio".to_string())
}

impl FakeMonitor {
    /// A fake serving one office (the snapshot's site), with the demo tokens
    /// `demo-viewer-token` and `demo-admin-token`.
    pub fn new(snapshot: Snapshot) -> FakeMonitor {
        let viewer_token: Arc<str> = Arc::from("demo-viewer-token");
        let admin_token: Arc<str> = Arc::from("demo-admin-token");
        let access: SharedAccess = Arc::new(Mutex::new(Access {
            viewer: viewer_token.to_string(),
            admin: admin_token.to_string(),
            ..Default::default()
        }));
        let fake = FakeMonitor {
            reports: FakeReports {
                access: access.clone(),
                ..Default::default()
            },
            access,
            viewer_token,
            admin_token,
            ..Default::default()
        };
        fake.add_site(snapshot);
        fake
    }

    /// One more office served, with its snapshot (its `site` names it; a snapshot that names
    /// none is the office "ufficio"). Counter ids and service codes may be the same as another
    /// office's.
    pub fn add_site(&self, mut snapshot: Snapshot) {
        let id = site_id_of(&snapshot);
        if snapshot.site.as_ref().is_none_or(|s| s.id.is_empty()) {
            let mut site = snapshot.site.clone().unwrap_or_default();
            site.id = id.clone();
            snapshot.site = Some(site);
        }
        let mut inner = self.lock();
        snapshot.last_seq = snapshot.last_seq.max(inner.log.last().map_or(0, |e| e.seq));
        match inner.sites.iter_mut().find(|s| s.id() == id) {
            Some(s) => s.snapshot = snapshot,
            None => {
                inner.sites.push(FakeSite {
                    snapshot,
                    satisfaction: HashMap::new(),
                });
                lock_access(&self.access).sites.push(id);
            }
        }
    }

    /// Serves as a server older than sites: ListSites is UNIMPLEMENTED, every site_id is
    /// ignored, and the first office is the only one.
    pub fn set_legacy(&self, legacy: bool) {
        lock_access(&self.access).legacy = legacy;
    }

    /// `token` (a viewer's) may see only `sites`.
    pub fn restrict(&self, token: &str, sites: &[&str]) {
        lock_access(&self.access).restricted.insert(
            token.to_string(),
            sites.iter().map(|s| s.to_string()).collect(),
        );
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A test that panicked while holding the lock must not hide its own failure.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn index_of(inner: &Inner, site_id: &str) -> usize {
        inner
            .sites
            .iter()
            .position(|s| s.id() == site_id)
            .unwrap_or(0)
    }

    /// The satisfaction of the first office.
    pub fn set_satisfaction(&self, s: Satisfaction) {
        let mut inner = self.lock();
        if let Some(site) = inner.sites.first_mut() {
            site.satisfaction.insert(s.period, s);
        }
    }

    /// The satisfaction of the office `site_id`.
    pub fn set_satisfaction_of(&self, site_id: &str, s: Satisfaction) {
        let mut inner = self.lock();
        let i = FakeMonitor::index_of(&inner, site_id);
        if let Some(site) = inner.sites.get_mut(i) {
            site.satisfaction.insert(s.period, s);
        }
    }

    /// The snapshot of the office its `site` names (the first office when it names none).
    pub fn set_snapshot(&self, s: Snapshot) {
        let mut inner = self.lock();
        let id = s.site.as_ref().map_or("", |x| x.id.as_str());
        let i = FakeMonitor::index_of(&inner, id);
        if let Some(site) = inner.sites.get_mut(i) {
            site.snapshot = s;
        }
    }

    /// Appends an event with the next seq of the shared log (its `seq` is overwritten) for the
    /// office its `site_id` names (the first office when empty), and sends it to that office's
    /// watchers. Every office's snapshot then covers the log up to it, as a snapshot of a
    /// database shared by several offices does. Returns the seq given.
    pub fn append(&self, mut e: LogEvent) -> u64 {
        let mut inner = self.lock();
        let seq = inner.log.last().map_or(1, |l| l.seq + 1);
        e.seq = seq;
        if e.site_id.is_empty() {
            e.site_id = inner
                .sites
                .first()
                .map(|s| s.id().to_string())
                .unwrap_or_default();
        }
        for s in &mut inner.sites {
            s.snapshot.last_seq = seq;
        }
        inner.log.push(e.clone());
        // A watcher that is gone or too slow is dropped: its stream ends and the client
        // resumes after its last seq, so nothing is lost.
        inner.watchers.retain(|w| match &w.site {
            Some(site) if *site != e.site_id => !w.tx.is_closed(),
            _ => w.tx.try_send(Ok(e.clone())).is_ok(),
        });
        seq
    }

    /// Appends an event for the office `site_id`.
    pub fn append_to(&self, site_id: &str, mut e: LogEvent) -> u64 {
        e.site_id = site_id.to_string();
        self.append(e)
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

    /// Every request that named a site so far, as (method, site_id sent): "GetSnapshot",
    /// "GetSatisfaction", "WatchEvents", "KeypadCommand", "GetMonthly", "Render".
    pub fn requests(&self) -> Vec<(&'static str, String)> {
        let mut all = self.lock().requests.clone();
        all.extend(self.reports.lock().requests.iter().cloned());
        all
    }

    /// Ends every open event stream with UNAVAILABLE, as a server going down would.
    pub fn drop_watchers(&self) {
        let watchers = std::mem::take(&mut self.lock().watchers);
        for w in watchers {
            let _ =
                w.tx.try_send(Err(Status::unavailable("server shutting down")));
        }
    }

    /// Keeps the open event streams open but stops sending on them, as a server that is
    /// shutting down and waits for calls in flight does.
    pub fn stall_watchers(&self) {
        let mut inner = self.lock();
        let watchers = std::mem::take(&mut inner.watchers);
        inner.stalled.extend(watchers.into_iter().map(|w| w.tx));
    }

    /// The next `n` GetSnapshot calls fail with CANCELLED.
    pub fn fail_snapshots(&self, n: u32) {
        self.lock().fail_snapshots = n;
    }

    /// The fake Reports service served next to this Monitor (same tokens and sites).
    pub fn reports(&self) -> FakeReports {
        self.reports.clone()
    }

    fn caller<T>(&self, req: &Request<T>) -> Result<Caller, Status> {
        caller(req, &self.access)
    }

    /// The caller and the index of the site its request names.
    fn site<T>(
        &self,
        req: &Request<T>,
        method: &'static str,
        site_id: &str,
    ) -> Result<(Caller, usize), Status> {
        let c = self.caller(req)?;
        self.lock().requests.push((method, site_id.to_string()));
        let i = lock_access(&self.access).resolve(&c, site_id)?;
        Ok((c, i))
    }
}

#[derive(Default)]
struct ReportsInner {
    /// By (site, month, lang); a month missing in a language falls back to "it", a report that
    /// names no site is every site's.
    monthly: HashMap<(String, String, String), MonthlyReport>,
    /// What an empty `month` means.
    current: String,
    delays: HashMap<String, Duration>,
    monthly_calls: Vec<MonthlyRequest>,
    render_calls: Vec<RenderRequest>,
    fail_next: Option<(Code, String)>,
    file_name: Option<String>,
    requests: Vec<(&'static str, String)>,
}

/// A fake `faccia.v1.Reports`: the reports it is given, by office, month and language (a month
/// it does not know is an empty report), documents made from them, the same roles and sites as
/// the real server (viewer or admin), and the same refusals of malformed requests
/// (INVALID_ARGUMENT).
#[derive(Clone, Default)]
pub struct FakeReports {
    inner: Arc<Mutex<ReportsInner>>,
    access: SharedAccess,
}

impl FakeReports {
    fn lock(&self) -> MutexGuard<'_, ReportsInner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Serves `report` for its `month` in `lang` ("it" or "en"), for the office its `site_id`
    /// names (every office when it names none).
    pub fn set_monthly(&self, lang: &str, report: MonthlyReport) {
        self.lock().monthly.insert(
            (
                report.site_id.clone(),
                report.month.clone(),
                lang.to_string(),
            ),
            report,
        );
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

    /// The caller's token and the site the request names (its id), as the Monitor checks them.
    fn check<T>(
        &self,
        req: &Request<T>,
        method: &'static str,
        site_id: &str,
    ) -> Result<String, Status> {
        let c = caller(req, &self.access)?;
        self.lock().requests.push((method, site_id.to_string()));
        if let Some((code, message)) = self.lock().fail_next.take() {
            return Err(Status::new(code, message));
        }
        let a = lock_access(&self.access);
        let i = a.resolve(&c, site_id)?;
        Ok(a.sites.get(i).cloned().unwrap_or_default())
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

    /// The report of `month` in `lang` for the office `site`: the one set, else an empty one.
    pub fn report(&self, site: &str, month: YearMonth, lang: &str) -> MonthlyReport {
        let key = month.to_string();
        let inner = self.lock();
        let get = |s: &str, l: &str| {
            inner
                .monthly
                .get(&(s.to_string(), key.clone(), l.to_string()))
        };
        get(site, lang)
            .or_else(|| get(site, "it"))
            .or_else(|| get("", lang))
            .or_else(|| get("", "it"))
            .cloned()
            .unwrap_or_else(|| MonthlyReport {
                month: key.clone(),
                site_id: site.to_string(),
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
        let site = self.check(&req, "GetMonthly", &req.get_ref().site_id)?;
        let r = req.into_inner();
        self.lock().monthly_calls.push(r.clone());
        let month = self.month(&r.month, "month")?;
        let lang = FakeReports::lang(&r.lang)?;
        let delay = self.lock().delays.get(&month.to_string()).copied();
        if let Some(d) = delay {
            tokio::time::sleep(d).await;
        }
        Ok(Response::new(self.report(&site, month, &lang)))
    }

    async fn render(&self, req: Request<RenderRequest>) -> Result<Response<Document>, Status> {
        let site = self.check(&req, "Render", &req.get_ref().site_id)?;
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
                let rep = self.report(&site, month, &lang);
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
                    let rep = self.report(&site, m, &lang);
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
        req: Request<ListSitesRequest>,
    ) -> Result<Response<SiteList>, Status> {
        let c = self.caller(&req)?;
        let access = lock_access(&self.access);
        if access.legacy {
            return Err(Status::unimplemented("unknown method ListSites"));
        }
        let visible: Vec<String> = access.visible(&c).into_iter().cloned().collect();
        drop(access);
        let inner = self.lock();
        let sites = inner
            .sites
            .iter()
            .filter(|s| visible.iter().any(|v| v == s.id()))
            .map(|s| s.snapshot.site.clone().unwrap_or_default())
            .collect();
        Ok(Response::new(SiteList { sites }))
    }

    async fn get_snapshot(
        &self,
        req: Request<SnapshotRequest>,
    ) -> Result<Response<Snapshot>, Status> {
        let (_, i) = self.site(&req, "GetSnapshot", &req.get_ref().site_id)?;
        self.snapshot_calls.fetch_add(1, Ordering::Relaxed);
        let mut inner = self.lock();
        if inner.fail_snapshots > 0 {
            inner.fail_snapshots -= 1;
            return Err(Status::cancelled("operation was canceled"));
        }
        inner
            .sites
            .get(i)
            .map(|s| Response::new(s.snapshot.clone()))
            .ok_or_else(|| Status::not_found("no such site"))
    }

    async fn get_satisfaction(
        &self,
        req: Request<SatisfactionRequest>,
    ) -> Result<Response<Satisfaction>, Status> {
        let (_, i) = self.site(&req, "GetSatisfaction", &req.get_ref().site_id)?;
        let p = req.get_ref().period;
        let s = self
            .lock()
            .sites
            .get(i)
            .and_then(|s| s.satisfaction.get(&p).cloned());
        s.map(Response::new)
            .ok_or_else(|| Status::not_found("no satisfaction for that period"))
    }

    type WatchEventsStream = EventStream;

    async fn watch_events(
        &self,
        req: Request<WatchRequest>,
    ) -> Result<Response<Self::WatchEventsStream>, Status> {
        let (_, i) = self.site(&req, "WatchEvents", &req.get_ref().site_id)?;
        let after = req.get_ref().after_seq;
        let legacy = lock_access(&self.access).legacy;
        let mut inner = self.lock();
        let site = if legacy {
            None
        } else {
            inner.sites.get(i).map(|s| s.id().to_string())
        };
        let backlog: Vec<LogEvent> = inner
            .log
            .iter()
            .filter(|e| e.seq > after && site.as_ref().is_none_or(|s| *s == e.site_id))
            .cloned()
            .collect();
        let (tx, rx) = mpsc::channel(backlog.len() + 4096);
        for e in backlog {
            // The channel was sized for the backlog.
            let _ = tx.try_send(Ok(e));
        }
        inner.watchers.push(Watcher { site, tx });
        Ok(Response::new(Box::pin(ReceiverStream::new(rx))))
    }

    async fn keypad_command(
        &self,
        req: Request<KeypadCommandRequest>,
    ) -> Result<Response<KeypadCommandReply>, Status> {
        let (c, _) = self.site(&req, "KeypadCommand", &req.get_ref().site_id)?;
        if !c.admin {
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

    /// The fake it serves.
    pub fn fake(&self) -> &FakeMonitor {
        &self.fake
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
