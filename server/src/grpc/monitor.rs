//! `faccia.v1.Monitor`: the console's read-only view, and the live event log.

use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use faccia_domain::stats;
use faccia_proto::v1::{self, monitor_server::Monitor};
use futures::Stream;
use tonic::{Request, Response, Status};

use super::{convert, queue::async_stream, Shared};
use crate::office;
use crate::storage::models::LogRow;
use crate::storage::read;

pub struct MonitorService {
    pub(crate) shared: Arc<Shared>,
    /// Today's tickets, kept up to date from the event log between snapshots.
    tickets: Arc<Mutex<read::TicketCache>>,
}

impl MonitorService {
    pub(crate) fn new(shared: Arc<Shared>) -> MonitorService {
        MonitorService {
            shared,
            tickets: Arc::new(Mutex::new(read::TicketCache::default())),
        }
    }
}

/// How many log entries one read fetches while catching up.
const PAGE: i64 = 500;
/// How often a watcher looks at the log even without a local commit (other processes on a
/// shared PostgreSQL).
const POLL: Duration = Duration::from_secs(1);

pub fn log_event(r: LogRow) -> v1::LogEvent {
    let facts = convert::log_facts(&r);
    v1::LogEvent {
        facts,
        seq: r.seq.max(0) as u64,
        at: Some(convert::timestamp(r.at)),
        kind: r.kind,
        source_id: r.source_id,
        counter_id: r.counter_id,
        service_code: r.service_code,
        ticket_id: r.ticket_id,
        display_number: r.display_number,
        ticket_event: r.ticket_event,
        session_id: r.session_id,
        outcome: r.outcome,
        detail: r.detail,
    }
}

type LogStream = Pin<Box<dyn Stream<Item = Result<v1::LogEvent, Status>> + Send>>;

#[tonic::async_trait]
impl Monitor for MonitorService {
    async fn get_snapshot(
        &self,
        _request: Request<v1::SnapshotRequest>,
    ) -> Result<Response<v1::Snapshot>, Status> {
        let now = self.shared.store.now();
        let (day_start, _) = stats::day_bounds(self.shared.config.time_zone, now);
        let since = day_start.min(now - faccia_domain::alerts::RED_WINDOW_MS);
        let keypads = self.shared.keypads.health();
        let shared = self.shared.clone();
        let cache = self.tickets.clone();
        // On a blocking thread, like the read itself: the figures of a busy day are no work for
        // the async workers that carry the queue's events.
        let snapshot = self
            .shared
            .store
            .read(move |c| {
                let mut cache = cache.lock().unwrap_or_else(|poisoned| {
                    let mut c = poisoned.into_inner();
                    *c = read::TicketCache::default();
                    c
                });
                let data = read::office_data_cached(c, since, &mut cache)?;
                Ok(office::snapshot_of(
                    &shared.config,
                    &data,
                    cache.tickets().collect(),
                    keypads,
                    now,
                ))
            })
            .await
            .map_err(convert::status)?;
        Ok(Response::new(snapshot))
    }

    async fn get_satisfaction(
        &self,
        request: Request<v1::SatisfactionRequest>,
    ) -> Result<Response<v1::Satisfaction>, Status> {
        let tz = self.shared.config.time_zone;
        let now = self.shared.store.now();
        let period = v1::Period::try_from(request.into_inner().period).map_err(|_| {
            Status::invalid_argument("period: unknown value; use TODAY, WEEK or MONTH")
        })?;
        let (from, to) = match period {
            v1::Period::Unspecified | v1::Period::Today => stats::day_bounds(tz, now),
            v1::Period::Week => stats::week_bounds(tz, now),
            v1::Period::Month => stats::month_bounds_at(tz, now),
        };
        let period = if period == v1::Period::Unspecified {
            v1::Period::Today
        } else {
            period
        };
        let (votes, served) = self
            .shared
            .store
            .read(move |c| read::period_data(c, from, to))
            .await
            .map_err(convert::status)?;
        Ok(Response::new(office::satisfaction(
            &self.shared.config,
            period,
            from,
            to,
            &votes,
            &served,
        )))
    }

    type WatchEventsStream = LogStream;

    async fn watch_events(
        &self,
        request: Request<v1::WatchRequest>,
    ) -> Result<Response<Self::WatchEventsStream>, Status> {
        let after = request.into_inner().after_seq;
        let mut cursor = i64::try_from(after)
            .map_err(|_| Status::invalid_argument("after_seq: is too large"))?;
        let store = self.shared.store.clone();
        let mut seq = store.watch_seq();
        let mut stopping = self.shared.stopping.subscribe();
        let out = async_stream(move |tx| async move {
            loop {
                if *stopping.borrow() {
                    let _ = tx
                        .send(Err(Status::unavailable(
                            "the server is stopping; resume with after_seq",
                        )))
                        .await;
                    return;
                }
                let from = cursor;
                let page = store.read(move |c| read::log_after(c, from, PAGE)).await;
                match page {
                    Ok(rows) => {
                        let full = rows.len() as i64 == PAGE;
                        for r in rows {
                            cursor = r.seq;
                            if tx.send(Ok(log_event(r))).await.is_err() {
                                return;
                            }
                        }
                        if full {
                            continue;
                        }
                    }
                    Err(e) => {
                        let _ = tx.send(Err(convert::status(e))).await;
                        return;
                    }
                }
                tokio::select! {
                    changed = seq.changed() => if changed.is_err() { return },
                    _ = tokio::time::sleep(POLL) => {},
                    _ = tx.closed() => return,
                    r = stopping.changed() => if r.is_err() { return },
                }
            }
        });
        Ok(Response::new(out))
    }

    async fn keypad_command(
        &self,
        request: Request<v1::KeypadCommandRequest>,
    ) -> Result<Response<v1::KeypadCommandReply>, Status> {
        let req = request.into_inner();
        if req.counter_id.is_empty() {
            return Err(Status::invalid_argument(
                "counter_id: is required and was empty",
            ));
        }
        let action = match v1::KeypadAction::try_from(req.action) {
            Ok(a) if a != v1::KeypadAction::Unspecified => a,
            _ => {
                return Err(Status::invalid_argument(
                    "action: must be KEYPAD_IDENTIFY or KEYPAD_SELF_TEST",
                ))
            }
        };
        let detail = self.shared.keypads.command(req.counter_id, action).await?;
        Ok(Response::new(v1::KeypadCommandReply {
            detail,
            result: convert::keypad_result(action) as i32,
        }))
    }
}
