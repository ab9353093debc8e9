//! One tower layer in front of every gRPC call, of every service, unary and streaming: it checks
//! the caller's bearer token against the method's rule ([`crate::auth::METHODS`]) before any
//! handler runs, and counts and times the call in the metrics up to its final status (for a
//! streaming call, the end of the stream). Handlers neither check tokens nor count calls; the
//! checked [`Caller`](crate::auth::Caller) is in the request's extensions.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body::{Frame, SizeHint};
use tonic::body::Body;
use tonic::{Code, Status};

use super::Shared;
use crate::auth::{self, Access};
use crate::config::Role;
use crate::metrics::CallTimer;

/// The layer; `Server::builder().layer(CallLayer::new(shared))`.
#[derive(Clone)]
pub struct CallLayer {
    shared: Arc<Shared>,
}

impl CallLayer {
    pub fn new(shared: Arc<Shared>) -> CallLayer {
        CallLayer { shared }
    }
}

impl<S> tower_layer::Layer<S> for CallLayer {
    type Service = CallService<S>;

    fn layer(&self, inner: S) -> CallService<S> {
        CallService {
            inner,
            shared: self.shared.clone(),
        }
    }
}

#[derive(Clone)]
pub struct CallService<S> {
    inner: S,
    shared: Arc<Shared>,
}

type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;

/// A path not in the table needs `admin` (fail closed).
const UNLISTED: &[Role] = &[Role::Admin];

impl<S, B> tower_service::Service<http::Request<B>> for CallService<S>
where
    S: tower_service::Service<
            http::Request<B>,
            Response = http::Response<Body>,
            Error = Infallible,
        > + Clone
        + Send
        + 'static,
    S::Future: Send + 'static,
    B: Send + 'static,
{
    type Response = http::Response<Body>;
    type Error = Infallible;
    type Future = BoxFuture<Result<http::Response<Body>, Infallible>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: http::Request<B>) -> Self::Future {
        let rule = auth::rule(req.uri().path());
        let timer = rule.map(|(service, method, _)| self.shared.metrics.call(service, method));
        let allowed = match rule {
            Some((_, _, Access::Open)) => None,
            Some((_, _, Access::Roles(roles))) => Some(roles),
            None => Some(UNLISTED),
        };
        if let Some(allowed) = allowed {
            match self.shared.auth.check(req.headers(), allowed) {
                Ok(caller) => {
                    req.extensions_mut().insert(caller);
                }
                Err(status) => {
                    if let Some(t) = timer {
                        t.finish(status.code());
                    }
                    return Box::pin(std::future::ready(Ok(status.into_http())));
                }
            }
        }
        // The service that was polled ready serves this call; a clone takes its place.
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        Box::pin(async move {
            let response = inner.call(req).await?;
            Ok(match timer {
                Some(timer) => watch(response, timer),
                None => response,
            })
        })
    }
}

/// Records the call when its final status is known: at once for a "trailers-only" answer (the
/// status in the headers, as for an error before any message), else at the body's trailers.
fn watch(response: http::Response<Body>, timer: CallTimer) -> http::Response<Body> {
    if let Some(code) = response.headers().get(Status::GRPC_STATUS) {
        timer.finish(Code::from_bytes(code.as_bytes()));
        return response;
    }
    response.map(|inner| {
        Body::new(TimedBody {
            inner,
            timer: Some(timer),
        })
    })
}

/// A response body that finishes its call's timer at the trailers (or at the end, or when
/// dropped early: then the call counts as cancelled).
struct TimedBody {
    inner: Body,
    timer: Option<CallTimer>,
}

impl TimedBody {
    fn finish(&mut self, code: Code) {
        if let Some(t) = self.timer.take() {
            t.finish(code);
        }
    }
}

impl http_body::Body for TimedBody {
    type Data = Bytes;
    type Error = Status;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Status>>> {
        let this = self.get_mut();
        let polled = Pin::new(&mut this.inner).poll_frame(cx);
        match &polled {
            Poll::Ready(Some(Ok(frame))) => {
                if let Some(trailers) = frame.trailers_ref() {
                    // No grpc-status in the trailers is UNKNOWN, as the gRPC spec says.
                    let code = trailers
                        .get(Status::GRPC_STATUS)
                        .map_or(Code::Unknown, |c| Code::from_bytes(c.as_bytes()));
                    this.finish(code);
                }
            }
            Poll::Ready(Some(Err(status))) => this.finish(status.code()),
            Poll::Ready(None) => this.finish(Code::Unknown),
            Poll::Pending => {}
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}
