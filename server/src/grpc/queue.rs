//! `faccia.v1.QueueEvents`: what the queue system tells us.

use std::pin::Pin;
use std::sync::Arc;

use faccia_domain::session::Channel;
use faccia_domain::ticket::TicketState;
use faccia_domain::EventKind;
use faccia_proto::v1::{self, queue_events_server::QueueEvents};
use futures::{Stream, StreamExt};
use tonic::{Request, Response, Status, Streaming};

use super::convert;
use super::{Office, Shared};
use crate::auth::Caller;
use crate::storage::CounterClaim;

pub struct QueueService {
    pub(crate) shared: Arc<Shared>,
}

/// How many events of one `Stream` may be read ahead of their acks: queued to the writer, in
/// arrival order, while earlier ones commit.
const STREAM_WINDOW: usize = 1024;

impl QueueService {
    /// One event, checked against the caller's token, stored, answered (gRPC `Publish` and the
    /// HTTP ingress).
    pub(crate) async fn handle(
        &self,
        caller: Option<&Caller>,
        event: v1::TicketEvent,
    ) -> Result<v1::EventAck, Status> {
        let (office, event) = self.validate(caller, event)?;
        let kind = event.kind;
        let ack = office.store.publish(event).await.map_err(convert::status)?;
        Ok(self.answered(&office, kind, ack).await)
    }

    /// The event's office (its `site_id`, checked against the caller's token) and the event,
    /// checked.
    pub(crate) fn validate(
        &self,
        caller: Option<&Caller>,
        event: v1::TicketEvent,
    ) -> Result<(Arc<Office>, faccia_domain::TicketEvent), Status> {
        let office = self.shared.office(&event.site_id, caller)?;
        let now = office.store.now();
        let event = convert::raw_event(event)
            .validate(now)
            .map_err(|e| Status::invalid_argument(e.to_string()))?;
        Ok((office, event))
    }

    /// A counter snapshot, checked and applied (gRPC `Reconcile` and the HTTP ingress).
    pub(crate) async fn reconcile_snapshot(
        &self,
        caller: Option<&Caller>,
        snap: v1::CounterSnapshot,
    ) -> Result<v1::ReconcileReply, Status> {
        let office = self.shared.office(&snap.site_id, caller)?;
        if snap.source_id.is_empty() {
            return Err(Status::invalid_argument(
                "source_id: is required and was empty",
            ));
        }
        let at = match &snap.at {
            None => return Err(Status::invalid_argument("at: is required and was missing")),
            Some(ts) => {
                convert::millis(ts).map_err(|e| Status::invalid_argument(format!("at: {e}")))?
            }
        };
        if at > office.store.now() + faccia_domain::event::MAX_FUTURE_MS {
            return Err(Status::invalid_argument(
                "at: is more than 24 h in the future",
            ));
        }
        let mut claims = Vec::with_capacity(snap.counters.len());
        for (i, cs) in snap.counters.into_iter().enumerate() {
            if cs.counter_id.is_empty() {
                return Err(Status::invalid_argument(format!(
                    "counters[{i}].counter_id: is required and was empty"
                )));
            }
            let state = match (cs.ticket_id.is_empty(), EventKind::from_code(cs.ticket_state)) {
                (true, _) => "",
                (false, Some(EventKind::Called)) => TicketState::Called.as_str(),
                (false, Some(EventKind::ServiceStarted)) => TicketState::InService.as_str(),
                (false, Some(EventKind::Served)) => TicketState::Served.as_str(),
                (false, _) => {
                    return Err(Status::invalid_argument(format!(
                        "counters[{i}].ticket_state: must be CALLED, SERVICE_STARTED or SERVED when ticket_id is set"
                    )))
                }
            };
            claims.push(CounterClaim {
                counter_id: cs.counter_id,
                open: cs.open,
                ticket_id: cs.ticket_id,
                ticket_state: state.to_string(),
            });
        }
        let repaired = office
            .store
            .reconcile(snap.source_id, at, claims)
            .await
            .map_err(convert::status)?;
        Ok(v1::ReconcileReply { repaired })
    }

    /// After the commit: metrics, and the keypad seam of a SERVED.
    pub(crate) async fn answered(
        &self,
        office: &Office,
        kind: EventKind,
        mut ack: crate::storage::Ack,
    ) -> v1::EventAck {
        self.shared.metrics.event(kind, ack.status.name());
        if kind == EventKind::Served {
            if let Some(s) = ack
                .session
                .as_mut()
                .filter(|s| s.channel == Channel::Counter)
            {
                // The keypad seam: wait (briefly) for the counter's keypad to take the session,
                // so that the answer says ARMED. The counter's keypad task arms it; ends of
                // sessions reach it from the store itself. WEB and PHONE sessions have none.
                office.keypads.session_opened(s).await;
            }
        }
        let mut out = convert::ack(&ack);
        if let Some(s) = out.vote_session.as_mut() {
            self.finish_session(office, s);
        }
        out
    }

    /// The site and, for a WEB session, its link.
    fn finish_session(&self, office: &Office, s: &mut v1::VoteSession) {
        s.site_id = office.site.id().to_string();
        if s.channel == v1::vote_session::Channel::Web as i32 {
            if let Some(link) = crate::web::link_of(&self.shared, office, &s.session_id) {
                s.vote_link = link;
            }
        }
    }
}

type AckStream = Pin<Box<dyn Stream<Item = Result<v1::EventAck, Status>> + Send>>;

#[tonic::async_trait]
impl QueueEvents for QueueService {
    async fn publish(
        &self,
        request: Request<v1::TicketEvent>,
    ) -> Result<Response<v1::EventAck>, Status> {
        let caller = request.extensions().get::<Caller>().cloned();
        self.handle(caller.as_ref(), request.into_inner())
            .await
            .map(Response::new)
    }

    type StreamStream = AckStream;

    async fn stream(
        &self,
        request: Request<Streaming<v1::TicketEvent>>,
    ) -> Result<Response<Self::StreamStream>, Status> {
        let caller = request.extensions().get::<Caller>().cloned();
        let mut incoming = request.into_inner();
        let this = QueueService {
            shared: self.shared.clone(),
        };
        // The reader queues each event to the writer as it arrives (in arrival order, so the
        // events are decided in that order) and hands its pending answer to the acker, which
        // awaits them in order: up to STREAM_WINDOW events commit while the next are read. The
        // first failure ends the stream; the gate keeps anything queued after it from being
        // stored.
        type Queued = (
            u64,
            String,
            Arc<Office>,
            EventKind,
            Pin<
                Box<
                    dyn std::future::Future<
                            Output = Result<crate::storage::Ack, crate::storage::StoreError>,
                        > + Send,
                >,
            >,
        );
        let (pending_tx, mut pending_rx) =
            tokio::sync::mpsc::channel::<Result<Queued, Status>>(STREAM_WINDOW);
        let gate = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let reader_this = QueueService {
            shared: self.shared.clone(),
        };
        let reader = tokio::spawn(async move {
            let mut n: u64 = 0;
            while let Some(item) = incoming.next().await {
                n += 1;
                let queued = match item {
                    Ok(ev) => {
                        let id = ev.event_id.clone();
                        match reader_this.validate(caller.as_ref(), ev) {
                            Ok((office, event)) => {
                                let kind = event.kind;
                                let fut = office.store.publish_queued(&gate, event);
                                Ok((n, id, office, kind, Box::pin(fut) as _))
                            }
                            Err(s) => Err(numbered(n, &id, s)),
                        }
                    }
                    Err(s) => Err(s),
                };
                let stop = queued.is_err();
                if pending_tx.send(queued).await.is_err() || stop {
                    break;
                }
            }
        });
        let out = async_stream(move |tx| async move {
            while let Some(queued) = pending_rx.recv().await {
                let reply = match queued {
                    Ok((n, id, office, kind, answer)) => match answer.await {
                        Ok(ack) => Ok(this.answered(&office, kind, ack).await),
                        Err(e) => Err(numbered(n, &id, convert::status(e))),
                    },
                    Err(s) => Err(s),
                };
                let stop = reply.is_err();
                if tx.send(reply).await.is_err() || stop {
                    break;
                }
            }
            // The client went away or an event failed: read no further.
            reader.abort();
        });
        Ok(Response::new(out))
    }

    async fn reconcile(
        &self,
        request: Request<v1::CounterSnapshot>,
    ) -> Result<Response<v1::ReconcileReply>, Status> {
        let caller = request.extensions().get::<Caller>().cloned();
        self.reconcile_snapshot(caller.as_ref(), request.into_inner())
            .await
            .map(Response::new)
    }

    async fn issue_vote_link(
        &self,
        request: Request<v1::VoteLinkRequest>,
    ) -> Result<Response<v1::VoteLinkReply>, Status> {
        let office = self
            .shared
            .office_for(&request, &request.get_ref().site_id)?;
        let req = request.into_inner();
        let now = office.store.now();
        let Some(web) = self.shared.config.web.as_ref() else {
            return Err(Status::failed_precondition(
                "the web channel is off on this server ([web] enabled = false)",
            ));
        };
        let Some(links) = office.store.web_links() else {
            return Err(Status::failed_precondition(
                "the web channel is off for this site",
            ));
        };
        let served_at = match &req.served_at {
            None => now,
            Some(ts) => convert::millis(ts)
                .map_err(|e| Status::invalid_argument(format!("served_at: {e}")))?,
        };
        let online = crate::web::OnlineService {
            source_id: req.source_id,
            reference: req.reference,
            service_code: req.service_code,
            counter_id: req.counter_id,
            served_at,
        };
        let session = crate::web::online_session(&office, links, web, online, now)
            .map_err(|e| Status::invalid_argument(e.to_string()))?;
        let (info, opened_now) = office
            .store
            .open_remote(session)
            .await
            .map_err(convert::status)?;
        let mut vs = convert::session(&info);
        self.finish_session(&office, &mut vs);
        let status = if opened_now {
            v1::event_ack::Status::Accepted
        } else {
            v1::event_ack::Status::Duplicate
        };
        Ok(Response::new(v1::VoteLinkReply {
            status: status as i32,
            vote_session: Some(vs),
        }))
    }
}

fn numbered(n: u64, id: &str, s: Status) -> Status {
    Status::new(
        s.code(),
        format!("event #{n} (event_id {id:?}): {}", s.message()),
    )
}

/// A stream fed by a task through a bounded channel.
pub(crate) fn async_stream<T, F, Fut>(f: F) -> Pin<Box<dyn Stream<Item = T> + Send>>
where
    T: Send + 'static,
    F: FnOnce(tokio::sync::mpsc::Sender<T>) -> Fut,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let (tx, rx) = tokio::sync::mpsc::channel(64);
    tokio::spawn(f(tx));
    Box::pin(tokio_stream::wrappers::ReceiverStream::new(rx))
}
