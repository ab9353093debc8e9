//! `faccia.v1.Monitor`: the console's read-only view, and the live event log.

use std::collections::HashMap;
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
    /// Each site's tickets of today, kept up to date from the event log between snapshots.
    tickets: HashMap<String, Arc<Mutex<read::TicketCache>>>,
}

impl MonitorService {
    pub(crate) fn new(shared: Arc<Shared>) -> MonitorService {
        let tickets = shared
            .offices
            .iter()
            .map(|o| (o.site.id().to_string(), Arc::default()))
            .collect();
        MonitorService { shared, tickets }
    }
}

fn site_of(o: &super::Office) -> v1::Site {
    v1::Site {
        id: o.site.id().to_string(),
        name: o.site.name().to_string(),
        time_zone: o.site.settings.time_zone.clone(),
    }
}

/// How many log entries one read fetches while catching up.
const PAGE: i64 = 500;
/// How often a watcher looks at the log even without a local commit (other processes on a
/// shared PostgreSQL).
const POLL: Duration = Duration::from_secs(1);
/// After a commit, how long a watcher lets the log grow before it reads: under traffic a batch
/// commits every few milliseconds, and one read per interval carries them all for a fraction of
/// the work the writer would otherwise share its CPU with. A person sees no delay.
const COALESCE: Duration = Duration::from_millis(100);

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
        site_id: r.site_id,
    }
}

type LogStream = Pin<Box<dyn Stream<Item = Result<v1::LogEvent, Status>> + Send>>;

#[tonic::async_trait]
impl Monitor for MonitorService {
    async fn list_sites(
        &self,
        request: Request<v1::ListSitesRequest>,
    ) -> Result<Response<v1::SiteList>, Status> {
        let caller = request.extensions().get::<crate::auth::Caller>();
        let sites = self
            .shared
            .visible(caller)
            .into_iter()
            .map(|o| site_of(o))
            .collect();
        Ok(Response::new(v1::SiteList { sites }))
    }

    async fn get_snapshot(
        &self,
        request: Request<v1::SnapshotRequest>,
    ) -> Result<Response<v1::Snapshot>, Status> {
        let office = self
            .shared
            .office_for(&request, &request.get_ref().site_id)?;
        let now = office.store.now();
        let (day_start, _) = stats::day_bounds(office.site.time_zone, now);
        let since = day_start.min(now - faccia_domain::alerts::RED_WINDOW_MS);
        let keypads = office.keypads.health();
        let shared = self.shared.clone();
        let cache = self
            .tickets
            .get(office.site.id())
            .cloned()
            .unwrap_or_default();
        let site = office.site.id().to_string();
        let o = office.clone();
        // On a blocking thread, like the read itself: the figures of a busy day are no work for
        // the async workers that carry the queue's events.
        let snapshot = office
            .store
            .read(move |c| {
                let mut cache = cache.lock().unwrap_or_else(|poisoned| {
                    let mut c = poisoned.into_inner();
                    *c = read::TicketCache::default();
                    c
                });
                let data = read::office_data_cached(c, &site, since, &mut cache)?;
                Ok(office::snapshot_of(
                    &shared.config,
                    &o.site,
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
        let office = self
            .shared
            .office_for(&request, &request.get_ref().site_id)?;
        let tz = office.site.time_zone;
        let now = office.store.now();
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
        let site = office.site.id().to_string();
        let (votes, served) = office
            .store
            .read(move |c| read::period_data(c, &site, from, to))
            .await
            .map_err(convert::status)?;
        Ok(Response::new(office::satisfaction(
            &office.site,
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
        let office = self
            .shared
            .office_for(&request, &request.get_ref().site_id)?;
        let after = request.into_inner().after_seq;
        let mut cursor = i64::try_from(after)
            .map_err(|_| Status::invalid_argument("after_seq: is too large"))?;
        let store = office.store.clone();
        let site = office.site.id().to_string();
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
                let site = site.clone();
                let page = store
                    .read(move |c| read::log_after(c, Some(&site), from, PAGE))
                    .await;
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
                    changed = seq.changed() => {
                        if changed.is_err() {
                            return;
                        }
                        tokio::select! {
                            _ = tokio::time::sleep(COALESCE) => {},
                            _ = tx.closed() => return,
                        }
                    }
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
        let office = self
            .shared
            .office_for(&request, &request.get_ref().site_id)?;
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
        let detail = office.keypads.command(req.counter_id, action).await?;
        Ok(Response::new(v1::KeypadCommandReply {
            detail,
            result: convert::keypad_result(action) as i32,
        }))
    }
}
