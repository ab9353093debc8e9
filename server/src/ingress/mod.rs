//! The HTTP/JSON ingress (`[ingress] enabled`): queue systems that can only send webhooks post
//! the same `TicketEvent`s and `CounterSnapshot`s as gRPC `QueueEvents`, under the same rules
//! and the same bearer tokens (role `queue`, scoped to sites), on a port of their own for the
//! internal network (not the public vote page's). The built-in NovoSGA adapter
//! ([`novosga`]) takes NovoSGA's webhooks as they are.
//!
//! Request bodies are never logged: NovoSGA's carry personal data.
//!
//! | method | path | body | answer |
//! |---|---|---|---|
//! | POST | `/v1/events` | one `TicketEvent` | `EventAck` |
//! | POST | `/v1/events:batch` | `{"events": [TicketEvent, ...]}` (at most 1000) | `{"acks": [EventAck, ...]}` |
//! | POST | `/v1/reconcile` | `CounterSnapshot` | `{"repaired": n}` |
//! | POST | `/v1/novosga/<unit>` | a NovoSGA webhook (`x-webhook-event`) | `{"event": ..., "acks": [...]}` |
//! | GET | `/healthz` | | `{"status": "ok"}` |
//!
//! Errors are `{"error": {"code", "message", "field"}}` with the HTTP status of [`ApiError`].

pub mod error;
pub mod json;
pub mod novosga;

use std::future::Future;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Path, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use faccia_proto::v1;
use tokio::net::TcpListener;

use crate::auth::Caller;
use crate::config::{IngressConfig, Role};
use crate::grpc::queue::QueueService;
use crate::grpc::Shared;

pub use error::ApiError;

/// The most events one batch takes.
pub const MAX_BATCH: usize = 1000;

#[derive(Clone)]
struct App {
    shared: Arc<Shared>,
    ingress: Arc<IngressConfig>,
}

impl App {
    fn queue(&self) -> QueueService {
        QueueService {
            shared: self.shared.clone(),
        }
    }

    /// The caller of a request with a `queue` token (or `admin`).
    fn caller(&self, headers: &HeaderMap) -> Result<Caller, ApiError> {
        self.shared
            .auth
            .check(headers, &[Role::Queue])
            .map_err(ApiError::from_status)
    }
}

/// The ingress router (also used by tests in-process).
pub fn router(shared: Arc<Shared>, ingress: IngressConfig) -> Router {
    let limit = ingress.max_body_bytes;
    let app = App {
        shared,
        ingress: Arc::new(ingress),
    };
    Router::new()
        .route("/healthz", get(healthz))
        .route("/v1/events", post(publish))
        .route("/v1/events:batch", post(batch))
        .route("/v1/reconcile", post(reconcile))
        .route("/v1/novosga/{unit}", post(novosga_webhook))
        .fallback(fallback)
        .layer(DefaultBodyLimit::max(limit))
        .with_state(app)
}

/// Serves the ingress on `listener` until `shutdown` completes.
pub async fn serve(
    shared: Arc<Shared>,
    ingress: IngressConfig,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    if let Ok(addr) = listener.local_addr() {
        tracing::info!(%addr, novosga_units = ingress.novosga.len(), "HTTP ingress on http://{addr}");
    }
    axum::serve(listener, router(shared, ingress))
        .with_graceful_shutdown(shutdown)
        .await
}

fn ok_json(value: serde_json::Value) -> Response {
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "application/json")],
        value.to_string(),
    )
        .into_response()
}

/// A JSON body is expected: a `Content-Type` other than JSON is refused.
fn json_body(headers: &HeaderMap, body: &[u8]) -> Result<serde_json::Value, ApiError> {
    if let Some(ct) = headers.get(header::CONTENT_TYPE) {
        let ct = ct.to_str().unwrap_or("").to_ascii_lowercase();
        let mime = ct.split(';').next().unwrap_or("").trim();
        if !(mime == "application/json" || mime.ends_with("+json")) {
            return Err(ApiError::unsupported_media(mime));
        }
    }
    json::parse(body)
}

async fn healthz(State(app): State<App>) -> Response {
    let ok = *app.shared.stopping.borrow();
    if ok {
        return ApiError::unavailable("the server is stopping").into_response();
    }
    ok_json(serde_json::json!({ "status": "ok" }))
}

async fn publish(State(app): State<App>, headers: HeaderMap, body: Bytes) -> Response {
    let run = async {
        let caller = app.caller(&headers)?;
        let value = json_body(&headers, &body)?;
        let event = json::ticket_event(&value, "")?;
        let ack = app
            .queue()
            .handle(Some(&caller), event)
            .await
            .map_err(ApiError::from_status)?;
        Ok::<_, ApiError>(ok_json(json::ack(&ack)))
    };
    run.await.unwrap_or_else(IntoResponse::into_response)
}

async fn batch(State(app): State<App>, headers: HeaderMap, body: Bytes) -> Response {
    let run = async {
        let caller = app.caller(&headers)?;
        let value = json_body(&headers, &body)?;
        let events = json::batch(&value)?;
        // Every event is checked before any is stored: a bad one refuses the whole batch.
        let queue = app.queue();
        let mut checked = Vec::with_capacity(events.len());
        for (i, e) in events.into_iter().enumerate() {
            let c = queue
                .validate(Some(&caller), e)
                .map_err(|s| ApiError::from_status(s).at_index("events", i))?;
            checked.push(c);
        }
        // Queued in order to the writer (group commit), answered in order; the first that
        // fails stops the rest (nothing of them is stored) and says how far the batch got.
        let gate = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let pending: Vec<_> = checked
            .into_iter()
            .map(|(office, event)| {
                let kind = event.kind;
                let fut = office.store.publish_queued(&gate, event);
                (office, kind, fut)
            })
            .collect();
        let mut acks = Vec::with_capacity(pending.len());
        for (i, (office, kind, fut)) in pending.into_iter().enumerate() {
            match fut.await {
                Ok(ack) => {
                    let ack = queue.answered(&office, kind, ack).await;
                    acks.push(json::ack(&ack));
                }
                Err(e) => {
                    return Err(ApiError::from_status(crate::grpc::convert::status(e))
                        .at_index("events", i)
                        .with_done(acks));
                }
            }
        }
        Ok(ok_json(serde_json::json!({ "acks": acks })))
    };
    run.await.unwrap_or_else(IntoResponse::into_response)
}

async fn reconcile(State(app): State<App>, headers: HeaderMap, body: Bytes) -> Response {
    let run = async {
        let caller = app.caller(&headers)?;
        let value = json_body(&headers, &body)?;
        let snap = json::snapshot(&value)?;
        let reply: v1::ReconcileReply = app
            .queue()
            .reconcile_snapshot(Some(&caller), snap)
            .await
            .map_err(ApiError::from_status)?;
        Ok::<_, ApiError>(ok_json(serde_json::json!({ "repaired": reply.repaired })))
    };
    run.await.unwrap_or_else(IntoResponse::into_response)
}

async fn novosga_webhook(
    State(app): State<App>,
    Path(unit): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    novosga::handle(&app.shared, &app.ingress, &unit, &headers, &body)
        .await
        .unwrap_or_else(IntoResponse::into_response)
}

async fn fallback() -> Response {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "NOT_FOUND",
        "no such endpoint: see docs/openapi/ingress.yaml (POST /v1/events, /v1/events:batch, \
         /v1/reconcile, /v1/novosga/<unit>; GET /healthz)",
    )
    .into_response()
}
