//! The console's side of `faccia.v1.Monitor` and `faccia.v1.Reports`: clients carrying the
//! bearer token, the event watcher (which reconnects by itself and resumes after the last seq it
//! saw), the snapshot refresher (debounced re-fetch on events, plus a slow periodic refresh) and
//! the one-shot report calls. They talk to the model only through [`Msg`]s on a channel.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use faccia_domain::Lang;
use faccia_proto::v1::monitor_client::MonitorClient;
use faccia_proto::v1::reports_client::ReportsClient;
use faccia_proto::v1::{
    Document, KeypadAction, KeypadCommandRequest, LogEvent, MonthlyRequest, Period,
    SatisfactionRequest, SnapshotRequest, WatchRequest,
};
use futures::{FutureExt, StreamExt};
use tokio::sync::{mpsc, watch, Notify};
use tonic::codegen::InterceptedService;
use tonic::metadata::{Ascii, MetadataValue};
use tonic::service::Interceptor;
use tonic::transport::{Channel, Endpoint};
use tonic::{Code, Request, Status};

use crate::model::reports::lang_code;
use crate::model::{ApiError, ApiErrorKind, Msg, ReportDoc, YearMonth};

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

/// Both clients, on one connection.
#[derive(Clone, Debug)]
pub struct Clients {
    pub monitor: Api,
    pub reports: ReportsApi,
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

/// Signals shared by the watcher and the refresher.
#[derive(Debug, Clone, Default)]
pub struct Signals {
    /// Re-fetch the snapshot (debounced by the refresher).
    pub refresh: Arc<Notify>,
    /// Drop the event stream and open it again (resuming after the last seq). Raised when a
    /// unary call finds the connection gone while the stream still looks open: a server that
    /// shuts down gracefully may keep old streams open without ever sending on them again.
    pub reconnect: Arc<Notify>,
    /// The last seq the watcher delivered, for the refresher to spot a stream that fell silent
    /// (the snapshot says the log went on, the stream brought nothing).
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

/// Follows the event log for as long as `tx` is open. First fetches the snapshot (unless
/// `start_after` gives the seq to start from), then watches from its `last_seq`; after any loss
/// it waits with backoff and resumes after the last seq it delivered, so the model sees every
/// entry once, in order. Every batch of events pokes `refresh` so that the snapshot is re-fetched.
pub async fn watch_events(
    api: Api,
    tx: mpsc::Sender<Msg>,
    signals: Signals,
    start_after: Option<u64>,
    backoff: Backoff,
) {
    let mut last_seq = start_after;
    let mut attempt: u32 = 0;
    let mut was_lost = false;
    loop {
        if tx.is_closed() {
            return;
        }
        let from = match last_seq {
            Some(seq) => seq,
            None => match timed(api.clone().get_snapshot(SnapshotRequest::default())).await {
                Ok(snap) => {
                    let seq = snap.last_seq;
                    if tx.send(Msg::Snapshot(Box::new(snap))).await.is_err() {
                        return;
                    }
                    last_seq = Some(seq);
                    signals.seen.store(seq, Ordering::Relaxed);
                    seq
                }
                Err(status) => {
                    attempt = attempt.saturating_add(1);
                    let error = api_error(&status);
                    was_lost = true;
                    if tx.send(Msg::StreamDown { attempt, error }).await.is_err() {
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
            ..Default::default()
        }))
        .await;
        let error = match opened {
            Ok(mut stream) => {
                let resumed_from = was_lost.then_some(from);
                if tx.send(Msg::StreamUp { resumed_from }).await.is_err() {
                    return;
                }
                if was_lost {
                    // Things changed while we were away.
                    signals.refresh.notify_one();
                }
                // Forget a reconnect request that predates this stream.
                let _ = signals.reconnect.notified().now_or_never();
                attempt = 0;
                let mut seen = from;
                loop {
                    let next = tokio::select! {
                        next = stream.next() => next,
                        _ = signals.reconnect.notified() => {
                            break ApiError {
                                kind: ApiErrorKind::Unavailable,
                                message: "connection reset".to_string(),
                            }
                        }
                    };
                    let first = match next {
                        Some(Ok(e)) => e,
                        Some(Err(status)) => break api_error(&status),
                        None => {
                            break ApiError {
                                kind: ApiErrorKind::Unavailable,
                                message: "event stream ended".to_string(),
                            }
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
                        signals.seen.store(seen, Ordering::Relaxed);
                        if tx.send(Msg::Events(batch)).await.is_err() {
                            return;
                        }
                        signals.refresh.notify_one();
                    }
                    if let Some(e) = pending {
                        break e;
                    }
                }
            }
            Err(status) => api_error(&status),
        };
        was_lost = true;
        attempt = attempt.saturating_add(1);
        if tx.send(Msg::StreamDown { attempt, error }).await.is_err() {
            return;
        }
        tokio::time::sleep(backoff.delay(attempt)).await;
    }
}

/// Re-fetches the snapshot when poked (at most once per `min_gap`) and every `every` anyway; also
/// the satisfaction of the period in `period` while it is `Some` (the satisfaction view is open).
pub async fn refresh_snapshots(
    api: Api,
    tx: mpsc::Sender<Msg>,
    signals: Signals,
    period: watch::Receiver<Option<Period>>,
    every: Duration,
    min_gap: Duration,
) {
    // Set while the stream is behind the snapshot: the snapshot's seq and since when.
    let mut behind: Option<(u64, tokio::time::Instant)> = None;
    loop {
        tokio::select! {
            _ = signals.refresh.notified() => {}
            _ = tokio::time::sleep(every) => {}
        }
        if tx.is_closed() {
            return;
        }
        let msg = match timed(api.clone().get_snapshot(SnapshotRequest::default())).await {
            Ok(snap) => {
                let seen = signals.seen.load(Ordering::Relaxed);
                behind = match behind {
                    _ if seen >= snap.last_seq => None,
                    Some((seq, since)) if seen < seq && since.elapsed() >= STALL_GRACE => {
                        signals.reconnect.notify_one();
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
        if tx.send(msg).await.is_err() {
            return;
        }
        let wanted = *period.borrow();
        if let Some(p) = wanted {
            if tx
                .send(fetch_satisfaction(api.clone(), p).await)
                .await
                .is_err()
            {
                return;
            }
        }
        tokio::time::sleep(min_gap).await;
    }
}

/// One satisfaction request, as a message for the model.
pub async fn fetch_satisfaction(mut api: Api, period: Period) -> Msg {
    match timed(api.get_satisfaction(SatisfactionRequest {
        period: period as i32,
        ..Default::default()
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

/// One keypad command, as a message for the model.
pub async fn keypad_command(mut api: Api, counter_id: String, action: KeypadAction) -> Msg {
    let req = KeypadCommandRequest {
        counter_id,
        action: action as i32,
        ..Default::default()
    };
    match timed(api.keypad_command(req)).await {
        Ok(reply) => Msg::CommandDone(Ok(reply.result())),
        Err(status) => Msg::CommandDone(Err(api_error(&status))),
    }
}

/// One `Reports.GetMonthly` request, as a message for the model (tagged with its month, so
/// that the model can drop an answer for a month no longer shown).
pub async fn fetch_monthly(mut api: ReportsApi, month: YearMonth, lang: Lang) -> Msg {
    let req = MonthlyRequest {
        month: month.to_string(),
        lang: lang_code(lang).to_string(),
        ..Default::default()
    };
    let result = timed(api.get_monthly(req))
        .await
        .map(Box::new)
        .map_err(|status| api_error(&status));
    Msg::Monthly { month, result }
}

/// One `Reports.Render` request.
pub async fn render(mut api: ReportsApi, doc: ReportDoc, lang: Lang) -> Result<Document, ApiError> {
    timed(api.render(doc.request(lang)))
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
        assert!(connect("not a url", None).is_err());
        assert!(connect("http://127.0.0.1:1", Some("bad\ntoken")).is_err());
    }
}
