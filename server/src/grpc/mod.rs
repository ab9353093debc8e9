//! The gRPC server: QueueEvents, Monitor, Reports, standard health checking and reflection
//! (v1 and v1alpha), optional TLS. Tokens and metrics are applied to every call by one layer
//! ([`calls`]), never in the handlers.

pub mod calls;
pub mod convert;
pub mod monitor;
pub mod queue;
pub mod reports;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use faccia_proto::v1::monitor_server::MonitorServer;
use faccia_proto::v1::queue_events_server::QueueEventsServer;
use faccia_proto::v1::reports_server::ReportsServer;
use thiserror::Error;
use tokio::net::TcpListener;

use crate::auth::{Caller, Credentials};
use crate::config::{Config, SiteConfig};
use crate::keypads::KeypadGateway;
use crate::storage::Store;
use tonic::Status;

/// One office (site) this process serves: its configuration, its store, its keypads.
pub struct Office {
    pub site: SiteConfig,
    pub store: Store,
    pub keypads: Arc<dyn KeypadGateway>,
}

/// What every service shares.
pub struct Shared {
    pub config: Config,
    /// The offices served, in configuration order (at least one).
    pub offices: Vec<Arc<Office>>,
    pub auth: Credentials,
    /// Turns true when the server stops: long-lived streams end so shutdown does not wait on them.
    pub stopping: tokio::sync::watch::Sender<bool>,
    pub metrics: crate::metrics::Metrics,
}

impl Shared {
    /// The offices `caller` may use (every office when the call carries no caller).
    pub fn visible(&self, caller: Option<&Caller>) -> Vec<&Arc<Office>> {
        self.offices
            .iter()
            .filter(|o| caller.is_none_or(|c| c.may_use(o.site.id())))
            .collect()
    }

    /// The office a request names (`site_id`), or the only one the caller may use when it
    /// names none. PERMISSION_DENIED for a site the caller's token does not name, NOT_FOUND for
    /// a site this server does not serve, INVALID_ARGUMENT for no site when there are several.
    pub fn office(&self, site_id: &str, caller: Option<&Caller>) -> Result<Arc<Office>, Status> {
        let visible = self.visible(caller);
        if site_id.is_empty() {
            return match visible.as_slice() {
                [one] => Ok(Arc::clone(one)),
                [] => Err(Status::permission_denied(format!(
                    "the credential {:?} may not use any site of this server",
                    caller.map_or("", |c| c.name.as_str())
                ))),
                several => Err(Status::invalid_argument(format!(
                    "site_id is required: this server serves several sites ({})",
                    several
                        .iter()
                        .map(|o| o.site.id())
                        .collect::<Vec<_>>()
                        .join(", ")
                ))),
            };
        }
        if let Some(c) = caller.filter(|c| !c.may_use(site_id)) {
            return Err(Status::permission_denied(format!(
                "the credential {:?} may not use site {site_id:?}",
                c.name
            )));
        }
        self.offices
            .iter()
            .find(|o| o.site.id() == site_id)
            .cloned()
            .ok_or_else(|| {
                Status::not_found(format!(
                    "site {site_id:?} is not served here (this server serves {})",
                    self.offices
                        .iter()
                        .map(|o| o.site.id())
                        .collect::<Vec<_>>()
                        .join(", ")
                ))
            })
    }

    /// The office a request names, for the caller the auth layer put in its extensions.
    pub fn office_for<T>(
        &self,
        request: &tonic::Request<T>,
        site_id: &str,
    ) -> Result<Arc<Office>, Status> {
        self.office(site_id, request.extensions().get::<Caller>())
    }
}

#[derive(Debug, Error)]
pub enum ServeError {
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("TLS: {0}")]
    Tls(String),
    #[error("reflection: {0}")]
    Reflection(String),
    #[error("gRPC server: {0}")]
    Transport(#[from] tonic::transport::Error),
}

/// Binds the configured address.
/// Accepted connections with TCP_NODELAY: an answer is a few small HTTP/2 frames, and Nagle's
/// algorithm would hold each one back for the peer's delayed ACK (measured: SERVED -> ack p50
/// 43 ms without, 9 ms with). tonic's own `tcp_nodelay` setting does not apply to a listener
/// handed to it, so it is set here.
fn incoming(listener: TcpListener) -> tonic::transport::server::TcpIncoming {
    tonic::transport::server::TcpIncoming::from(listener).with_nodelay(Some(true))
}

pub async fn bind(addr: SocketAddr) -> Result<TcpListener, ServeError> {
    TcpListener::bind(addr)
        .await
        .map_err(|source| ServeError::Bind { addr, source })
}

/// Serves until `shutdown` completes, then stops accepting and lets calls in flight finish.
pub async fn serve(
    shared: Arc<Shared>,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ServeError> {
    let (health_reporter, health) = tonic_health::server::health_reporter();
    health_reporter
        .set_serving::<QueueEventsServer<queue::QueueService>>()
        .await;
    health_reporter
        .set_serving::<MonitorServer<monitor::MonitorService>>()
        .await;
    health_reporter
        .set_serving::<ReportsServer<reports::ReportsService>>()
        .await;
    // Both reflection versions: grpcurl and current clients speak v1; the Python reflection
    // client, older grpcurl and several GUI clients only v1alpha.
    let reflection = || {
        tonic_reflection::server::Builder::configure()
            .register_encoded_file_descriptor_set(faccia_proto::FILE_DESCRIPTOR_SET)
            .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
            // Each lists both reflection services, as both are served.
            .include_reflection_service(false)
            .register_encoded_file_descriptor_set(tonic_reflection::pb::v1::FILE_DESCRIPTOR_SET)
            .register_encoded_file_descriptor_set(
                tonic_reflection::pb::v1alpha::FILE_DESCRIPTOR_SET,
            )
    };
    let reflection_v1 = reflection()
        .build_v1()
        .map_err(|e| ServeError::Reflection(e.to_string()))?;
    let reflection_v1alpha = reflection()
        .build_v1alpha()
        .map_err(|e| ServeError::Reflection(e.to_string()))?;

    // Sessions whose window has passed end on the server's clock.
    let expiry_stores: Vec<Store> = shared.offices.iter().map(|o| o.store.clone()).collect();
    let expiry = tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_millis(500));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            for store in &expiry_stores {
                match store.expire_due().await {
                    Ok(0) => {}
                    Ok(n) => {
                        tracing::debug!(
                            site = store.site_id(),
                            expired = n,
                            "vote sessions expired"
                        )
                    }
                    Err(e) => {
                        tracing::warn!(site = store.site_id(), error = %e, "cannot expire sessions")
                    }
                }
            }
        }
    });

    let metrics = match shared
        .config
        .settings
        .metrics
        .listen
        .as_deref()
        .map(str::parse::<SocketAddr>)
    {
        Some(Ok(addr)) => {
            let m = shared.clone();
            Some(tokio::spawn(async move {
                if let Err(e) = crate::metrics::serve(addr, m).await {
                    tracing::error!(%addr, error = %e, "cannot serve metrics");
                }
            }))
        }
        _ => None,
    };

    // Free text of web votes is deleted when its retention period is over (every site of the
    // database: each comment carries its own date).
    let purge_store = shared.offices[0].store.clone();
    let purge = tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(3600));
        loop {
            tick.tick().await;
            match purge_store.purge_comments().await {
                Ok(0) => {}
                Ok(n) => tracing::info!(deleted = n, "free text past its retention deleted"),
                Err(e) => tracing::warn!(error = %e, "cannot delete old free text"),
            }
        }
    });

    // The web vote page, on its own port.
    let web = match shared.config.web.clone() {
        Some(w) => {
            let listener = bind(w.listen).await?;
            let mut stop = shared.stopping.subscribe();
            let s = shared.clone();
            Some(tokio::spawn(async move {
                let stopped = async move {
                    let _ = stop.wait_for(|v| *v).await;
                };
                if let Err(e) = crate::web::serve(s, w, listener, stopped).await {
                    tracing::error!(error = %e, "the web vote page failed");
                }
            }))
        }
        None => None,
    };

    // The HTTP/JSON ingress for queue systems, on its own port (the internal network).
    let ingress = match shared.config.ingress.clone() {
        Some(i) => {
            let listener = bind(i.listen).await?;
            let mut stop = shared.stopping.subscribe();
            let s = shared.clone();
            Some(tokio::spawn(async move {
                let stopped = async move {
                    let _ = stop.wait_for(|v| *v).await;
                };
                if let Err(e) = crate::ingress::serve(s, i, listener, stopped).await {
                    tracing::error!(error = %e, "the HTTP ingress failed");
                }
            }))
        }
        None => None,
    };

    let mut builder = tonic::transport::Server::builder();
    let s = &shared.config.settings.server;
    if let (Some(cert), Some(key)) = (&s.tls_cert, &s.tls_key) {
        let read = |p: &std::path::Path| {
            std::fs::read(p)
                .map_err(|e| ServeError::Tls(format!("cannot read {}: {e}", p.display())))
        };
        let identity = tonic::transport::Identity::from_pem(read(cert)?, read(key)?);
        builder = builder
            .tls_config(tonic::transport::ServerTlsConfig::new().identity(identity))
            .map_err(|e| ServeError::Tls(e.to_string()))?;
    }
    let stopping = shared.clone();
    let shutdown = async move {
        shutdown.await;
        stopping.stopping.send_replace(true);
    };
    let result = builder
        .layer(calls::CallLayer::new(shared.clone()))
        .add_service(health)
        .add_service(reflection_v1)
        .add_service(reflection_v1alpha)
        .add_service(QueueEventsServer::new(queue::QueueService {
            shared: shared.clone(),
        }))
        .add_service(MonitorServer::new(monitor::MonitorService::new(
            shared.clone(),
        )))
        .add_service(ReportsServer::new(reports::ReportsService::new(
            shared.clone(),
        )))
        .serve_with_incoming_shutdown(incoming(listener), shutdown)
        .await;
    expiry.abort();
    purge.abort();
    if let Some(m) = metrics {
        m.abort();
    }
    if let Some(w) = web {
        // Answers in flight finish; a slow client does not hold the stop for long.
        if tokio::time::timeout(Duration::from_secs(5), w)
            .await
            .is_err()
        {
            tracing::warn!("the web vote page did not stop in 5 s");
        }
    }
    if let Some(i) = ingress {
        if tokio::time::timeout(Duration::from_secs(5), i)
            .await
            .is_err()
        {
            tracing::warn!("the HTTP ingress did not stop in 5 s");
        }
    }
    result.map_err(ServeError::from)
}
