//! The console's side of `faccia.v1.Monitor` and `faccia.v1.Reports`: clients carrying the
//! bearer token; per server, the discovery of its sites (`ListSites`, or the one office of an
//! older server); per site, the event watcher (which reconnects by itself and resumes after the
//! last seq it saw) and the snapshot refresher (debounced re-fetch on events, plus a slow
//! periodic refresh); and the one-shot calls. Every request about an office names its site.
//! They talk to the model only through [`Msg`]s on a channel, each tagged with its office.

use std::collections::HashSet;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use faccia_domain::Lang;
use faccia_proto::v1::monitor_client::MonitorClient;
use faccia_proto::v1::reports_client::ReportsClient;
use faccia_proto::v1::{
    Document, KeypadAction, KeypadCommandRequest, ListSitesRequest, LogEvent, MonthlyRequest,
    Period, SatisfactionRequest, SnapshotRequest, WatchRequest,
};
use futures::{FutureExt, StreamExt};
use tokio::sync::{mpsc, watch, Notify};
use tokio::task::JoinSet;
use tonic::codegen::InterceptedService;
use tonic::metadata::{Ascii, MetadataValue};
use tonic::service::Interceptor;
use tonic::transport::{Channel, Endpoint};
use tonic::{Code, Request, Status};

use crate::model::reports::lang_code;
use crate::model::{ApiError, ApiErrorKind, DiscoveredSite, Msg, ReportDoc, SiteKey, YearMonth};

/// Adds `authorization: Bearer <token>` to every call.
#[derive(Clone, Debug)]
pub struct Auth {
    header: Option<MetadataValue<Ascii>>,
}

impl Interceptor for Auth {
    fn call(&mut self, mut req: Request<()>) -> Result<Request<()>, Status> {
        if let Some(h) = &self.header {
            req.metadata_mut().insert("authorization", h.clone());
        }
        Ok(req)
    }
}

/// The Monitor client the console uses.
pub type Api = MonitorClient<InterceptedService<Channel, Auth>>;

/// The Reports client the console uses.
pub type ReportsApi = ReportsClient<InterceptedService<Channel, Auth>>;

/// Both clients of one server, on one connection.
#[derive(Clone, Debug)]
pub struct Clients {
    pub monitor: Api,
    pub reports: ReportsApi,
    /// The server's address, as configured.
    pub url: String,
}

/// A client for `server` (e.g. `http://127.0.0.1:50051`). It connects lazily and reconnects by
/// itself on the next call after a loss, so it never fails for a server that is down.
pub fn connect(server: &str, token: Option<&str>) -> anyhow::Result<Api> {
    Ok(connect_all(server, token)?.monitor)
}

/// The Monitor and Reports clients for `server`, sharing one lazily opened connection.
pub fn connect_all(server: &str, token: Option<&str>) -> anyhow::Result<Clients> {
    let endpoint = Endpoint::from_shared(server.to_string())
        .map_err(|e| anyhow::anyhow!("invalid server address {server:?}: {e}"))?
        .connect_timeout(Duration::from_secs(3))
        .tcp_nodelay(true)
        .http2_keep_alive_interval(Duration::from_secs(15))
        .keep_alive_timeout(Duration::from_secs(10))
        .keep_alive_while_idle(true);
    let header = match token {
        Some(t) => Some(
            format!("Bearer {}", t.trim())
                .parse::<MetadataValue<Ascii>>()
                .map_err(|_| {
                    anyhow::anyhow!("the token holds characters not allowed in a header")
                })?,
        ),
        None => None,
    };
    let channel = endpoint.connect_lazy();
    let auth = Auth { header };
    Ok(Clients {
        monitor: MonitorClient::with_interceptor(channel.clone(), auth.clone()),
        reports: ReportsClient::with_interceptor(channel, auth),
        url: server.to_string(),
    })
}

/// How a gRPC status is told to the user.
pub fn api_error(status: &Status) -> ApiError {
    let kind = match status.code() {
        Code::Unauthenticated => ApiErrorKind::Unauthenticated,
        Code::PermissionDenied => ApiErrorKind::PermissionDenied,
        Code::Unavailable => ApiErrorKind::Unavailable,
        Code::InvalidArgument => ApiErrorKind::InvalidArgument,
        other => ApiErrorKind::Other(code_name(other)),
    };
    ApiError {
        kind,
        message: status.message().to_string(),
    }
}

/// The canonical name of a gRPC code: `DeadlineExceeded` -> "DEADLINE_EXCEEDED".
fn code_name(code: Code) -> String {
    let mut out = String::new();
    for (i, c) in format!("{code:?}").chars().enumerate() {
        if c.is_ascii_uppercase() && i > 0 {
            out.push('_');
        }
        out.push(c.to_ascii_uppercase());
    }
    out
}

/// Delays between reconnection attempts: `initial`, doubling up to `max`.
#[derive(Debug, Clone, Copy)]
pub struct Backoff {
    pub initial: Duration,
    pub max: Duration,
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff {
            initial: Duration::from_millis(250),
            max: Duration::from_secs(10),
        }
    }
}

impl Backoff {
    /// The delay after the `attempt`-th failure in a row (1-based).
    pub fn delay(&self, attempt: u32) -> Duration {
        let factor = 1u32 << attempt.saturating_sub(1).min(16);
        self.initial.saturating_mul(factor).min(self.max)
    }
}

/// Longest wait for the answer of one unary call (or the opening of the event stream).
pub const CALL_TIMEOUT: Duration = Duration::from_secs(10);

/// Runs a call with [`CALL_TIMEOUT`]; a call that takes longer fails as DEADLINE_EXCEEDED.
async fn timed<T>(
    fut: impl std::future::Future<Output = Result<tonic::Response<T>, Status>>,
) -> Result<T, Status> {
    match tokio::time::timeout(CALL_TIMEOUT, fut).await {
        Ok(r) => r.map(tonic::Response::into_inner),
        Err(_) => Err(Status::deadline_exceeded("no answer from the server")),
    }
}

/// Where the tasks of one office send their messages: the model's channel, each message
/// tagged with the office's key (untagged when `site` is `None`: the only office, for tools and
/// tests that follow one office directly).
#[derive(Debug, Clone)]
pub struct Outbox {
    pub tx: mpsc::Sender<Msg>,
    pub site: Option<SiteKey>,
}

impl Outbox {
    /// Messages about the only office, untagged.
    pub fn untagged(tx: mpsc::Sender<Msg>) -> Outbox {
        Outbox { tx, site: None }
    }

    /// Sends `msg` about this office; `Err` once the model is gone.
    pub async fn send(&self, msg: Msg) -> Result<(), ()> {
        let msg = match &self.site {
            Some(key) => Msg::of(key, msg),
            None => msg,
        };
        self.tx.send(msg).await.map_err(|_| ())
    }

    pub fn is_closed(&self) -> bool {
        self.tx.is_closed()
    }
}

/// One office's end of the link: its server's clients, the `site_id` its requests carry and
/// where its messages go.
#[derive(Debug, Clone)]
pub struct SiteLink {
    pub monitor: Api,
    pub reports: ReportsApi,
    /// Empty for an older server that knows no sites (it answers for its only office).
    pub site_id: String,
    pub out: Outbox,
}

impl SiteLink {
    /// The link with the only office of `clients`' server (empty `site_id`), untagged.
    pub fn only(clients: &Clients, tx: mpsc::Sender<Msg>) -> SiteLink {
        SiteLink {
            monitor: clients.monitor.clone(),
            reports: clients.reports.clone(),
            site_id: String::new(),
            out: Outbox::untagged(tx),
        }
    }
}

/// Signals shared by the watcher and the refresher of one office.
#[derive(Debug, Clone, Default)]
pub struct Signals {
    /// Re-fetch the snapshot (debounced by the refresher).
    pub refresh: Arc<Notify>,
    /// Drop the event stream and open it again (resuming after the last seq). Raised when a
    /// unary call finds the connection gone while the stream still looks open: a server that
    /// shuts down gracefully may keep old streams open without ever sending on them again.
    pub reconnect: Arc<Notify>,
    /// Reopen the event stream quietly: the snapshot's seq went past the stream's for a while.
    /// Sequence numbers are shared by the sites of one database, so a quiet office whose
    /// neighbours are busy falls behind the snapshot's seq without anything being wrong; a
    /// fresh stream from the last seq delivered brings whatever was missed, and says nothing
    /// to the user unless it cannot be opened.
    pub probe: Arc<Notify>,
    /// The snapshot's seq that raised `probe`: once the stream is reopened, it is as good as
    /// seen (the new stream delivers every entry of the office up to it).
    pub probe_at: Arc<AtomicU64>,
    /// The last seq the watcher delivered (or vouched for), for the refresher to spot a stream
    /// that fell silent (the snapshot says the log went on, the stream brought nothing).
    pub seen: Arc<AtomicU64>,
}

/// How long the stream may stay behind the snapshot before it is reopened.
pub const STALL_GRACE: Duration = Duration::from_secs(3);

/// Whether a failed call means the connection itself is gone.
fn connection_lost(status: &Status) -> bool {
    matches!(
        status.code(),
        Code::Unavailable | Code::Cancelled | Code::Unknown
    )
}

/// Largest batch of events handed to the model at once.
const BATCH: usize = 512;

/// Why an open event stream was left.
enum StreamEnd {
    Lost(ApiError),
    /// Reopen quietly (see [`Signals::probe`]).
    Probe,
}

/// Follows the event log of one office for as long as the model listens. First fetches the
/// snapshot (unless `start_after` gives the seq to start from), then watches the office's
/// entries from its `last_seq`; after any loss it waits with backoff and resumes after the last
/// seq it delivered, so the model sees every entry of the office once, in order (their seq
/// numbers may have gaps: the other offices of the database take the numbers between). Every
/// batch of events pokes `refresh` so that the snapshot is re-fetched. `was_lost`: the link
/// failed before (the server could not be reached at first), so the first stream opened says
/// it resumed.
pub async fn watch_events(
    link: SiteLink,
    signals: Signals,
    start_after: Option<u64>,
    backoff: Backoff,
    was_lost: bool,
) {
    let SiteLink {
        monitor: api,
        site_id,
        out,
        ..
    } = link;
    let mut last_seq = start_after;
    let mut attempt: u32 = 0;
    let mut was_lost = was_lost;
    let mut quiet = false;
    loop {
        if out.is_closed() {
            return;
        }
        let from = match last_seq {
            Some(seq) => seq,
            None => match timed(api.clone().get_snapshot(SnapshotRequest {
                site_id: site_id.clone(),
            }))
            .await
            {
                Ok(snap) => {
                    let seq = snap.last_seq;
                    if out.send(Msg::Snapshot(Box::new(snap))).await.is_err() {
                        return;
                    }
                    last_seq = Some(seq);
                    signals.seen.store(seq, Ordering::Relaxed);
                    seq
                }
                Err(status) => {
                    attempt = attempt.saturating_add(1);
                    let error = api_error(&status);
                    tracing::debug!(site = %site_id, attempt, ?error, "snapshot failed");
                    was_lost = true;
                    quiet = false;
                    if out.send(Msg::StreamDown { attempt, error }).await.is_err() {
                        return;
                    }
                    tokio::time::sleep(backoff.delay(attempt)).await;
                    continue;
                }
            },
        };
        let mut client = api.clone();
        let opened = timed(client.watch_events(WatchRequest {
            after_seq: from,
            site_id: site_id.clone(),
        }))
        .await;
        let end = match opened {
            Ok(mut stream) => {
                if quiet {
                    // Nothing to tell: the link never went down.
                    let vouched = signals.probe_at.load(Ordering::Relaxed);
                    signals.seen.fetch_max(vouched, Ordering::Relaxed);
                    tracing::debug!(site = %site_id, from, "event stream reopened quietly");
                } else {
                    let resumed_from = was_lost.then_some(from);
                    if out.send(Msg::StreamUp { resumed_from }).await.is_err() {
                        return;
                    }
                    if was_lost {
                        tracing::info!(site = %site_id, from, "event stream resumed");
                        // Things changed while we were away.
                        signals.refresh.notify_one();
                    }
                }
                // Forget requests that predate this stream.
                let _ = signals.reconnect.notified().now_or_never();
                let _ = signals.probe.notified().now_or_never();
                attempt = 0;
                let mut seen = from;
                loop {
                    let next = tokio::select! {
                        next = stream.next() => next,
                        _ = signals.reconnect.notified() => {
                            break StreamEnd::Lost(ApiError {
                                kind: ApiErrorKind::Unavailable,
                                message: "connection reset".to_string(),
                            })
                        }
                        _ = signals.probe.notified() => break StreamEnd::Probe,
                    };
                    let first = match next {
                        Some(Ok(e)) => e,
                        Some(Err(status)) => break StreamEnd::Lost(api_error(&status)),
                        None => {
                            break StreamEnd::Lost(ApiError {
                                kind: ApiErrorKind::Unavailable,
                                message: "event stream ended".to_string(),
                            })
                        }
                    };
                    let mut batch: Vec<LogEvent> = Vec::new();
                    let mut pending: Option<ApiError> = None;
                    let mut push = |e: LogEvent, batch: &mut Vec<LogEvent>| {
                        // Defensive: never hand the model an entry twice.
                        if e.seq > seen {
                            seen = e.seq;
                            batch.push(e);
                        }
                    };
                    push(first, &mut batch);
                    while batch.len() < BATCH {
                        match stream.next().now_or_never() {
                            Some(Some(Ok(e))) => push(e, &mut batch),
                            Some(Some(Err(status))) => {
                                pending = Some(api_error(&status));
                                break;
                            }
                            Some(None) => {
                                pending = Some(ApiError {
                                    kind: ApiErrorKind::Unavailable,
                                    message: "event stream ended".to_string(),
                                });
                                break;
                            }
                            None => break,
                        }
                    }
                    if !batch.is_empty() {
                        last_seq = Some(seen);
                        signals.seen.fetch_max(seen, Ordering::Relaxed);
                        if out.send(Msg::Events(batch)).await.is_err() {
                            return;
                        }
                        signals.refresh.notify_one();
                    }
                    if let Some(e) = pending {
                        break StreamEnd::Lost(e);
                    }
                }
            }
            Err(status) => StreamEnd::Lost(api_error(&status)),
        };
        let error = match end {
            StreamEnd::Probe => {
                quiet = true;
                continue;
            }
            StreamEnd::Lost(e) => e,
        };
        tracing::debug!(site = %site_id, ?error, "event stream lost");
        was_lost = true;
        quiet = false;
        attempt = attempt.saturating_add(1);
        if out.send(Msg::StreamDown { attempt, error }).await.is_err() {
            return;
        }
        tokio::time::sleep(backoff.delay(attempt)).await;
    }
}

/// What the runtime tells the refreshers: which office is shown, which satisfaction period it
/// keeps fresh, and requests to refresh now.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Focus {
    /// The office shown (its key); `None` before any is known.
    pub site: Option<SiteKey>,
    /// The satisfaction period to re-fetch with the snapshot of the office shown (while the
    /// satisfaction view is open).
    pub period: Option<Period>,
    /// Every office is on screen (the all-sites view): all refresh as fast as the one shown.
    pub all: bool,
    /// Bumped to refresh now: the office named by `refresh_site`, or every office.
    pub refresh: u64,
    pub refresh_site: Option<SiteKey>,
}

/// How often the snapshots are fetched.
#[derive(Debug, Clone, Copy)]
pub struct Timing {
    /// The slow periodic refresh.
    pub every: Duration,
    /// At most one fetch per `min_gap` for the office shown (and for all in the all-sites view).
    pub min_gap: Duration,
    /// At most one fetch per `background_gap` for the offices not on screen.
    pub background_gap: Duration,
}

/// Re-fetches the office's snapshot when poked (at most once per gap) and every `every` anyway;
/// also the satisfaction of the period the focus names while the office is shown.
pub async fn refresh_snapshots(
    link: SiteLink,
    signals: Signals,
    mut focus: watch::Receiver<Focus>,
    timing: Timing,
) {
    let SiteLink {
        monitor: api,
        site_id,
        out,
        ..
    } = link;
    let me = out.site.clone();
    let is_me = |f: &Focus| me.is_none() || f.site == me;
    // Set while the stream is behind the snapshot: the snapshot's seq and since when.
    let mut behind: Option<(u64, tokio::time::Instant)> = None;
    let mut refresh_seen = focus.borrow().refresh;
    let mut focus_open = true;
    loop {
        let deadline = tokio::time::Instant::now() + timing.every;
        loop {
            tokio::select! {
                _ = signals.refresh.notified() => break,
                _ = tokio::time::sleep_until(deadline) => break,
                changed = focus.changed(), if focus_open => {
                    if changed.is_err() {
                        focus_open = false;
                        continue;
                    }
                    let f = focus.borrow_and_update().clone();
                    let asked = f.refresh != refresh_seen
                        && (f.refresh_site.is_none() || f.refresh_site == me || me.is_none());
                    refresh_seen = f.refresh;
                    if asked {
                        break;
                    }
                }
            }
        }
        if out.is_closed() {
            return;
        }
        let msg = match timed(api.clone().get_snapshot(SnapshotRequest {
            site_id: site_id.clone(),
        }))
        .await
        {
            Ok(snap) => {
                let seen = signals.seen.load(Ordering::Relaxed);
                behind = match behind {
                    _ if seen >= snap.last_seq => None,
                    Some((seq, since)) if seen < seq && since.elapsed() >= STALL_GRACE => {
                        signals.probe_at.store(snap.last_seq, Ordering::Relaxed);
                        signals.probe.notify_one();
                        None
                    }
                    Some(b) if seen < b.0 => Some(b),
                    _ => Some((snap.last_seq, tokio::time::Instant::now())),
                };
                Msg::Snapshot(Box::new(snap))
            }
            Err(status) => {
                if connection_lost(&status) {
                    signals.reconnect.notify_one();
                }
                Msg::SnapshotFailed(api_error(&status))
            }
        };
        if out.send(msg).await.is_err() {
            return;
        }
        let f = focus.borrow().clone();
        if let (true, Some(p)) = (is_me(&f), f.period) {
            if out
                .send(fetch_satisfaction(api.clone(), &site_id, p).await)
                .await
                .is_err()
            {
                return;
            }
        }
        let gap = if is_me(&f) || f.all {
            timing.min_gap
        } else {
            timing.background_gap
        };
        tokio::time::sleep(gap).await;
    }
}

/// The sites already followed through some server: a site named by two servers (two processes
/// on one database may both serve it) is followed once, through the first that names it.
pub type Claimed = Arc<Mutex<HashSet<SiteKey>>>;

/// Everything a server's task needs besides its server.
#[derive(Debug, Clone)]
pub struct ServerTask {
    pub tx: mpsc::Sender<Msg>,
    pub claimed: Claimed,
    pub focus: watch::Receiver<Focus>,
    pub timing: Timing,
    pub backoff: Backoff,
}

/// Asks server number `server` for its sites until it answers (`ListSites`; an older server
/// that does not know it answers UNIMPLEMENTED and is one office, named by its snapshot), tells
/// the model, then follows each of its offices (watcher and refresher) for as long as the model
/// listens.
pub async fn serve_server(server: usize, clients: Clients, task: ServerTask) {
    let ServerTask {
        tx,
        claimed,
        focus,
        timing,
        backoff,
    } = task;
    let mut attempt: u32 = 0;
    let sites = loop {
        if tx.is_closed() {
            return;
        }
        let (error, delay) = match discover(&clients).await {
            Ok(sites) => break sites,
            Err(
                e @ ApiError {
                    kind: ApiErrorKind::NoSites,
                    ..
                },
            ) => (e, backoff.max),
            Err(e) => (e, backoff.delay(attempt.saturating_add(1))),
        };
        attempt = attempt.saturating_add(1);
        tracing::warn!(server = %clients.url, attempt, ?error, "cannot list the server's sites");
        if tx
            .send(Msg::ServerDown {
                server,
                attempt,
                error,
            })
            .await
            .is_err()
        {
            return;
        }
        tokio::time::sleep(delay).await;
    };
    let mine: Vec<DiscoveredSite> = {
        let mut taken = claimed.lock().unwrap_or_else(|p| p.into_inner());
        sites
            .into_iter()
            .filter(|d| {
                let fresh = taken.insert(d.key.clone());
                if !fresh {
                    tracing::info!(server = %clients.url, site = %d.key, "site already followed through another server");
                }
                fresh
            })
            .collect()
    };
    tracing::info!(
        server = %clients.url,
        sites = ?mine.iter().map(|d| d.key.as_str()).collect::<Vec<_>>(),
        "following the server's sites"
    );
    if tx
        .send(Msg::Sites {
            server,
            sites: mine.clone(),
        })
        .await
        .is_err()
    {
        return;
    }
    let mut set = JoinSet::new();
    for d in mine {
        let link = SiteLink {
            monitor: clients.monitor.clone(),
            reports: clients.reports.clone(),
            site_id: d.request_id,
            out: Outbox {
                tx: tx.clone(),
                site: Some(d.key),
            },
        };
        let signals = Signals::default();
        set.spawn(watch_events(
            link.clone(),
            signals.clone(),
            None,
            backoff,
            attempt > 0,
        ));
        set.spawn(refresh_snapshots(link, signals, focus.clone(), timing));
    }
    // The tasks end together, when the model stops listening; a panic is a bug: stop, and the
    // runtime exits rather than show frozen figures.
    while let Some(done) = set.join_next().await {
        if let Err(e) = done {
            tracing::error!(server = %clients.url, error = %e, "a site task failed");
            return;
        }
        if tx.is_closed() {
            return;
        }
    }
}

/// The sites of one server, as the console will follow them.
pub async fn discover(clients: &Clients) -> Result<Vec<DiscoveredSite>, ApiError> {
    match timed(clients.monitor.clone().list_sites(ListSitesRequest {})).await {
        Ok(list) => {
            let sites: Vec<DiscoveredSite> = list
                .sites
                .into_iter()
                .filter(|s| !s.id.is_empty())
                .map(|site| DiscoveredSite {
                    key: site.id.clone(),
                    request_id: site.id.clone(),
                    site,
                })
                .collect();
            if sites.is_empty() {
                Err(ApiError {
                    kind: ApiErrorKind::NoSites,
                    message: String::new(),
                })
            } else {
                Ok(sites)
            }
        }
        Err(status) if status.code() == Code::Unimplemented => {
            // A server older than sites: one office, which its snapshot names.
            let snap = timed(
                clients
                    .monitor
                    .clone()
                    .get_snapshot(SnapshotRequest::default()),
            )
            .await
            .map_err(|s| api_error(&s))?;
            let site = snap.site.unwrap_or_default();
            let key = if site.id.is_empty() {
                clients.url.clone()
            } else {
                site.id.clone()
            };
            Ok(vec![DiscoveredSite {
                key,
                site,
                request_id: String::new(),
            }])
        }
        Err(status) => Err(api_error(&status)),
    }
}

/// One satisfaction request about `site_id`, as a message for the model.
pub async fn fetch_satisfaction(mut api: Api, site_id: &str, period: Period) -> Msg {
    match timed(api.get_satisfaction(SatisfactionRequest {
        period: period as i32,
        site_id: site_id.to_string(),
    }))
    .await
    {
        Ok(mut s) => {
            if s.period == Period::Unspecified as i32 {
                s.period = period as i32;
            }
            Msg::Satisfaction(Box::new(s))
        }
        Err(status) => Msg::SatisfactionFailed(period, api_error(&status)),
    }
}

/// One keypad command at a counter of `site_id`, as a message for the model.
pub async fn keypad_command(
    mut api: Api,
    site_id: &str,
    counter_id: String,
    action: KeypadAction,
) -> Msg {
    let req = KeypadCommandRequest {
        counter_id,
        action: action as i32,
        site_id: site_id.to_string(),
    };
    match timed(api.keypad_command(req)).await {
        Ok(reply) => Msg::CommandDone(Ok(reply.result())),
        Err(status) => Msg::CommandDone(Err(api_error(&status))),
    }
}

/// One `Reports.GetMonthly` request about `site_id`, as a message for the model (tagged with
/// its month, so that the model can drop an answer for a month no longer shown).
pub async fn fetch_monthly(
    mut api: ReportsApi,
    site_id: &str,
    month: YearMonth,
    lang: Lang,
) -> Msg {
    let req = MonthlyRequest {
        month: month.to_string(),
        lang: lang_code(lang).to_string(),
        site_id: site_id.to_string(),
    };
    let result = timed(api.get_monthly(req))
        .await
        .map(Box::new)
        .map_err(|status| api_error(&status));
    Msg::Monthly { month, result }
}

/// One `Reports.Render` request about `site_id`.
pub async fn render(
    mut api: ReportsApi,
    site_id: &str,
    doc: ReportDoc,
    lang: Lang,
) -> Result<Document, ApiError> {
    timed(api.render(doc.request(lang, site_id)))
        .await
        .map_err(|status| api_error(&status))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_max() {
        let b = Backoff::default();
        assert_eq!(b.delay(1), Duration::from_millis(250));
        assert_eq!(b.delay(2), Duration::from_millis(500));
        assert_eq!(b.delay(6), Duration::from_secs(8));
        assert_eq!(b.delay(7), Duration::from_secs(10));
        assert_eq!(b.delay(u32::MAX), Duration::from_secs(10));
    }

    #[tokio::test]
    async fn statuses_are_named() {
        assert_eq!(
            api_error(&Status::unauthenticated("x")).kind,
            ApiErrorKind::Unauthenticated
        );
        assert_eq!(
            api_error(&Status::permission_denied("x")).kind,
            ApiErrorKind::PermissionDenied
        );
        assert_eq!(
            api_error(&Status::unavailable("x")).kind,
            ApiErrorKind::Unavailable
        );
        assert_eq!(
            api_error(&Status::invalid_argument("x")).kind,
            ApiErrorKind::InvalidArgument
        );
        assert_eq!(
            api_error(&Status::deadline_exceeded("x")).kind,
            ApiErrorKind::Other("DEADLINE_EXCEEDED".into())
        );
        assert!(matches!(
            api_error(&Status::internal("x")).kind,
            ApiErrorKind::Other(_)
        ));
        assert_eq!(
            api_error(&Status::unimplemented("x")).kind,
            ApiErrorKind::Other("UNIMPLEMENTED".into())
        );
        assert!(connect("not a url", None).is_err());
        assert!(connect("http://127.0.0.1:1", Some("bad\ntoken")).is_err());
    }
}
