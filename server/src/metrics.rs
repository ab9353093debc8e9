//! Prometheus metrics over plain HTTP (`GET /metrics`, text format 0.0.4): ticket events by type
//! and answer, sessions by outcome, votes by face, keypad health, gRPC calls and their latency.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use faccia_domain::EventKind;
use faccia_proto::v1;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

use crate::grpc::Shared;
use crate::storage::{log_kind, read};

/// Latency buckets in seconds.
const BUCKETS: [f64; 10] = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0, 5.0];

#[derive(Default)]
struct Histogram {
    counts: [u64; BUCKETS.len()],
    sum: f64,
    total: u64,
}

#[derive(Default)]
struct Inner {
    events: BTreeMap<(&'static str, &'static str), u64>,
    /// (service, method, status code) -> calls.
    calls: BTreeMap<(&'static str, &'static str, i32), u64>,
    latency: BTreeMap<(&'static str, &'static str), Histogram>,
    sessions_opened: u64,
    sessions_ended: BTreeMap<i32, u64>,
    votes_recorded: u64,
    orphan_votes: u64,
    /// Phone surveys by how they ended.
    phone_calls: BTreeMap<&'static str, u64>,
    /// Web vote pages answered, by page (a bounded set of names).
    web_pages: BTreeMap<&'static str, u64>,
}

/// Counters kept by the running process (they start at zero with it, as Prometheus expects).
/// Clones share the same counters.
#[derive(Default, Clone)]
pub struct Metrics {
    inner: Arc<Mutex<Inner>>,
}

/// Times one gRPC call, from its request to its final status (for a streaming call: the whole
/// stream); records it once, when finished or dropped (a call dropped unfinished, because the
/// client went away, counts as `Cancelled`).
pub struct CallTimer {
    metrics: Metrics,
    service: &'static str,
    method: &'static str,
    start: Instant,
    code: Option<tonic::Code>,
}

impl CallTimer {
    /// Records the call with its final status code.
    pub fn finish(mut self, code: tonic::Code) {
        self.code = Some(code);
    }
}

impl Drop for CallTimer {
    fn drop(&mut self) {
        let secs = self.start.elapsed().as_secs_f64();
        let code = self.code.unwrap_or(tonic::Code::Cancelled);
        if let Ok(mut m) = self.metrics.inner.lock() {
            *m.calls
                .entry((self.service, self.method, code as i32))
                .or_default() += 1;
            let h = m.latency.entry((self.service, self.method)).or_default();
            for (i, b) in BUCKETS.iter().enumerate() {
                if secs <= *b {
                    h.counts[i] += 1;
                }
            }
            h.sum += secs;
            h.total += 1;
        }
    }
}

fn outcome_name(code: i32) -> &'static str {
    match code {
        1 => "open",
        2 => "voted",
        3 => "expired",
        4 => "superseded",
        5 => "cancelled",
        6 => "keypad_rebooted",
        _ => "unknown",
    }
}

impl Metrics {
    /// Starts timing a call of `service`/`method` (names from the method table: a bounded set).
    pub fn call(&self, service: &'static str, method: &'static str) -> CallTimer {
        CallTimer {
            metrics: self.clone(),
            service,
            method,
            start: Instant::now(),
            code: None,
        }
    }

    pub fn event(&self, kind: EventKind, status: &'static str) {
        if let Ok(mut m) = self.inner.lock() {
            *m.events.entry((kind.name(), status)).or_default() += 1;
        }
    }

    /// A phone survey (FastAGI call) ended this way (`voted`, `hung_up`, ...: a bounded set).
    pub fn phone_call(&self, outcome: &'static str) {
        if let Ok(mut m) = self.inner.lock() {
            *m.phone_calls.entry(outcome).or_default() += 1;
        }
    }

    /// A web vote page answered: `vote`, `reasons`, `follow_up`, `thanks`, `already_voted`,
    /// `expired`, `not_found`, `bad_request`, `unavailable`.
    pub fn web_page(&self, page: &'static str) {
        if let Ok(mut m) = self.inner.lock() {
            *m.web_pages.entry(page).or_default() += 1;
        }
    }

    fn log_entry(&self, kind: i32, outcome: i32) {
        if let Ok(mut m) = self.inner.lock() {
            match kind {
                log_kind::SESSION_OPENED => m.sessions_opened += 1,
                log_kind::SESSION_ENDED => *m.sessions_ended.entry(outcome).or_default() += 1,
                log_kind::VOTE_RECORDED => {
                    m.votes_recorded += 1;
                    *m.sessions_ended.entry(outcome).or_default() += 1;
                }
                log_kind::ORPHAN_VOTE => m.orphan_votes += 1,
                _ => {}
            }
        }
    }

    fn render(
        &self,
        votes: &[(i32, i64)],
        keypads: &[v1::Keypad],
        scans: &[(String, &'static str, u64)],
    ) -> String {
        let mut out = String::new();
        let Ok(m) = self.inner.lock() else {
            return out;
        };
        let _ = writeln!(
            out,
            "# HELP faccia_ticket_events_total Ticket events received, by type and answer."
        );
        let _ = writeln!(out, "# TYPE faccia_ticket_events_total counter");
        for ((kind, status), n) in &m.events {
            let _ = writeln!(
                out,
                "faccia_ticket_events_total{{type=\"{kind}\",status=\"{status}\"}} {n}"
            );
        }
        let _ = writeln!(
            out,
            "# HELP faccia_sessions_opened_total Vote sessions opened."
        );
        let _ = writeln!(out, "# TYPE faccia_sessions_opened_total counter");
        let _ = writeln!(out, "faccia_sessions_opened_total {}", m.sessions_opened);
        let _ = writeln!(
            out,
            "# HELP faccia_sessions_ended_total Vote sessions ended, by outcome."
        );
        let _ = writeln!(out, "# TYPE faccia_sessions_ended_total counter");
        for (o, n) in &m.sessions_ended {
            let _ = writeln!(
                out,
                "faccia_sessions_ended_total{{outcome=\"{}\"}} {n}",
                outcome_name(*o)
            );
        }
        let _ = writeln!(out, "# HELP faccia_orphan_votes_total Latched votes that matched no session (acknowledged, discarded).");
        let _ = writeln!(out, "# TYPE faccia_orphan_votes_total counter");
        let _ = writeln!(out, "faccia_orphan_votes_total {}", m.orphan_votes);
        let _ = writeln!(
            out,
            "# HELP faccia_phone_calls_total Phone surveys (FastAGI calls) by how they ended."
        );
        let _ = writeln!(out, "# TYPE faccia_phone_calls_total counter");
        for (outcome, n) in &m.phone_calls {
            let _ = writeln!(out, "faccia_phone_calls_total{{outcome=\"{outcome}\"}} {n}");
        }
        let _ = writeln!(
            out,
            "# HELP faccia_web_pages_total Web vote pages answered, by page (not_found: unknown or malformed links)."
        );
        let _ = writeln!(out, "# TYPE faccia_web_pages_total counter");
        for (page, n) in &m.web_pages {
            let _ = writeln!(out, "faccia_web_pages_total{{page=\"{page}\"}} {n}");
        }
        let _ = writeln!(
            out,
            "# HELP faccia_votes Votes stored, by face (all time, from the database)."
        );
        let _ = writeln!(out, "# TYPE faccia_votes gauge");
        for (face, n) in votes {
            let name = match face {
                1 => "green",
                2 => "yellow",
                3 => "red",
                _ => "unknown",
            };
            let _ = writeln!(out, "faccia_votes{{face=\"{name}\"}} {n}");
        }
        let _ = writeln!(
            out,
            "# HELP faccia_keypad_online 1 when the counter's keypad answers."
        );
        let _ = writeln!(out, "# TYPE faccia_keypad_online gauge");
        for k in keypads {
            let up = u8::from(k.link == v1::KeypadLink::KeypadOnline as i32);
            let _ = writeln!(
                out,
                "faccia_keypad_online{{counter=\"{}\",bus=\"{}\",unit=\"{}\"}} {up}",
                k.counter_id, k.bus, k.unit_id
            );
        }
        for (name, help, get) in [
            (
                "faccia_keypad_timeouts_total",
                "Requests to the keypad that timed out.",
                (|k: &v1::Keypad| k.timeouts) as fn(&v1::Keypad) -> u64,
            ),
            (
                "faccia_keypad_crc_errors_total",
                "CRC and framing errors on the keypad's answers.",
                |k| k.crc_errors,
            ),
            ("faccia_keypad_reboots_total", "Keypad reboots seen.", |k| {
                k.reboots
            }),
            (
                "faccia_keypad_ignored_presses_total",
                "Presses that did not count.",
                |k| k.ignored_presses,
            ),
        ] {
            let _ = writeln!(out, "# HELP {name} {help}");
            let _ = writeln!(out, "# TYPE {name} counter");
            for k in keypads {
                let _ = writeln!(out, "{name}{{counter=\"{}\"}} {}", k.counter_id, get(k));
            }
        }
        let _ = writeln!(
            out,
            "# HELP faccia_totem_scans_total Tickets scanned at a totem, by outcome (armed, or why refused)."
        );
        let _ = writeln!(out, "# TYPE faccia_totem_scans_total counter");
        for (totem, outcome, n) in scans {
            let _ = writeln!(
                out,
                "faccia_totem_scans_total{{totem=\"{totem}\",outcome=\"{outcome}\"}} {n}"
            );
        }
        let _ = writeln!(
            out,
            "# HELP faccia_grpc_requests_total gRPC calls by service, method and final status code."
        );
        let _ = writeln!(out, "# TYPE faccia_grpc_requests_total counter");
        for ((service, method, code), n) in &m.calls {
            let _ = writeln!(
                out,
                "faccia_grpc_requests_total{{service=\"{service}\",method=\"{method}\",code=\"{:?}\"}} {n}",
                tonic::Code::from_i32(*code)
            );
        }
        let _ = writeln!(out, "# HELP faccia_grpc_request_seconds gRPC call duration, from the request to the final status (a streaming call: the whole stream).");
        let _ = writeln!(out, "# TYPE faccia_grpc_request_seconds histogram");
        for ((service, method), h) in &m.latency {
            let labels = format!("service=\"{service}\",method=\"{method}\"");
            for (i, b) in BUCKETS.iter().enumerate() {
                let _ = writeln!(
                    out,
                    "faccia_grpc_request_seconds_bucket{{{labels},le=\"{b}\"}} {}",
                    h.counts[i]
                );
            }
            let _ = writeln!(
                out,
                "faccia_grpc_request_seconds_bucket{{{labels},le=\"+Inf\"}} {}",
                h.total
            );
            let _ = writeln!(out, "faccia_grpc_request_seconds_sum{{{labels}}} {}", h.sum);
            let _ = writeln!(
                out,
                "faccia_grpc_request_seconds_count{{{labels}}} {}",
                h.total
            );
        }
        out
    }
}

/// Follows the event log and counts sessions and votes as they happen.
pub async fn follow_log(shared: Arc<Shared>) {
    let store = shared.offices[0].store.clone();
    let sites: Vec<String> = shared
        .offices
        .iter()
        .map(|o| o.site.id().to_string())
        .collect();
    let mut seq = store.watch_seq();
    let mut cursor = *seq.borrow();
    loop {
        let from = cursor;
        if let Ok(rows) = store
            .read(move |c| read::log_after(c, None, from, 1000))
            .await
        {
            // Every site of the database writes the log: count this process's sites, but move
            // past every entry.
            let rows: Vec<_> = rows
                .into_iter()
                .inspect(|r| cursor = r.seq)
                .filter(|r| sites.contains(&r.site_id))
                .collect();
            for r in rows {
                shared.metrics.log_entry(r.kind, r.outcome);
            }
        }
        tokio::select! {
            r = seq.changed() => if r.is_err() { return },
            _ = tokio::time::sleep(Duration::from_secs(5)) => {},
        }
    }
}

/// Serves `GET /metrics` on `addr` until the process stops.
pub async fn serve(addr: SocketAddr, shared: Arc<Shared>) -> std::io::Result<()> {
    let listener = TcpListener::bind(addr).await?;
    tracing::info!(%addr, "metrics on http://{addr}/metrics");
    tokio::spawn(follow_log(shared.clone()));
    loop {
        let (mut sock, _) = match listener.accept().await {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!(error = %e, "metrics: accept failed");
                continue;
            }
        };
        let shared = shared.clone();
        tokio::spawn(async move {
            let mut buf = [0u8; 2048];
            let n = match tokio::time::timeout(Duration::from_secs(5), sock.read(&mut buf)).await {
                Ok(Ok(n)) => n,
                _ => return,
            };
            let head = String::from_utf8_lossy(&buf[..n]);
            let (status, body, ctype) =
                if head.starts_with("GET /metrics ") || head.starts_with("GET / ") {
                    let mut votes: Vec<(i32, i64)> = Vec::new();
                    let mut keypads = Vec::new();
                    let mut scans = Vec::new();
                    for o in &shared.offices {
                        let site = o.site.id().to_string();
                        let mine = o
                            .store
                            .read(move |c| read::votes_by_face(c, &site))
                            .await
                            .unwrap_or_default();
                        for (face, n) in mine {
                            match votes.iter_mut().find(|(f, _)| *f == face) {
                                Some((_, total)) => *total += n,
                                None => votes.push((face, n)),
                            }
                        }
                        keypads.extend(o.keypads.health());
                        scans.extend(o.keypads.totem_scans());
                    }
                    votes.sort_unstable();
                    let body = shared.metrics.render(&votes, &keypads, &scans);
                    ("200 OK", body, "text/plain; version=0.0.4; charset=utf-8")
                } else {
                    (
                        "404 Not Found",
                        "not found: try /metrics\n".to_string(),
                        "text/plain; charset=utf-8",
                    )
                };
            let reply = format!(
                "HTTP/1.1 {status}\r\nContent-Type: {ctype}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
            let _ = sock.write_all(reply.as_bytes()).await;
            let _ = sock.shutdown().await;
        });
    }
}
