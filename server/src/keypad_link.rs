//! Keypads wired to vote sessions: one bus task per serial port (from `faccia-serial`), arming
//! the counter's keypad for each open session, storing latched votes exactly once and only then
//! acknowledging them, disarming keypads whose session has ended, and keeping their health.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use faccia_domain::session::{Judgement, KeypadArming, SessionState};
use faccia_proto::v1;
use faccia_serial::{Bus, BusConfig, BusEvent, BusHandle, KeypadError, KeypadHealth, KeypadState};
use futures::future::BoxFuture;
use tokio::sync::{mpsc, Notify};
use tonic::Status;

use crate::config::Config;
use crate::grpc::convert::timestamp;
use crate::keypads::KeypadGateway;
use crate::storage::models::SessionRow;
use crate::storage::{read, SessionInfo, Store, VoteOutcome};

/// How often open sessions and keypads are compared when nothing wakes the loop earlier.
const SYNC_EVERY: Duration = Duration::from_millis(250);
/// How long the queue event's answer waits for the keypad to be armed.
const ARM_WAIT: Duration = Duration::from_millis(400);
/// The shortest window worth arming (the keypad's minimum).
const MIN_WINDOW_S: i64 = 5;

struct BusEntry {
    port: String,
    handle: BusHandle,
    /// unit -> counter
    counters: HashMap<u8, String>,
}

/// What a keypad last showed: its state and session token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Seen {
    state: KeypadState,
    token: u32,
}

pub struct SerialKeypads {
    store: Store,
    buses: Vec<BusEntry>,
    /// counter -> (bus index, unit)
    where_is: HashMap<String, (usize, u8)>,
    seen: Mutex<HashMap<(usize, u8), Seen>>,
    health: Mutex<Vec<v1::Keypad>>,
    reason_window_s: u16,
    kick: Notify,
}

fn arming_window(expires_at: i64, now: i64) -> Option<u16> {
    let left = (expires_at - now) / 1000;
    (left >= MIN_WINDOW_S).then(|| left.min(600) as u16)
}

impl SerialKeypads {
    /// Starts the bus tasks. Must be called inside a tokio runtime.
    pub fn start(config: &Config, store: Store) -> Arc<SerialKeypads> {
        let mut by_port: Vec<(std::path::PathBuf, u32, HashMap<u8, String>)> = Vec::new();
        for c in &config.settings.counters {
            let Some(k) = &c.keypad else { continue };
            match by_port.iter_mut().find(|(p, _, _)| *p == k.port) {
                Some((_, _, units)) => {
                    units.insert(k.unit, c.id.clone());
                }
                None => by_port.push((
                    k.port.clone(),
                    k.baud,
                    HashMap::from([(k.unit, c.id.clone())]),
                )),
            }
        }
        let mut buses = Vec::new();
        let mut receivers = Vec::new();
        let mut where_is = HashMap::new();
        for (i, (port, baud, counters)) in by_port.into_iter().enumerate() {
            let mut units: Vec<u8> = counters.keys().copied().collect();
            units.sort_unstable();
            let (handle, events) = Bus::spawn(BusConfig::new(port.clone(), baud, units));
            for (unit, counter) in &counters {
                where_is.insert(counter.clone(), (i, *unit));
            }
            tracing::info!(port = %port.display(), baud, keypads = counters.len(), "keypad bus started");
            buses.push(BusEntry {
                port: port.display().to_string(),
                handle,
                counters,
            });
            receivers.push(events);
        }
        let this = Arc::new(SerialKeypads {
            store,
            buses,
            where_is,
            seen: Mutex::new(HashMap::new()),
            health: Mutex::new(Vec::new()),
            reason_window_s: u16::try_from(config.settings.sessions.reason_window_s).unwrap_or(60),
            kick: Notify::new(),
        });
        for (i, rx) in receivers.into_iter().enumerate() {
            tokio::spawn(Arc::clone(&this).bus_events(i, rx));
        }
        tokio::spawn(Arc::clone(&this).sync_loop());
        tokio::spawn(Arc::clone(&this).health_loop());
        this
    }

    fn counter_of(&self, bus: usize, unit: u8) -> String {
        self.buses
            .get(bus)
            .and_then(|b| b.counters.get(&unit))
            .cloned()
            .unwrap_or_default()
    }

    fn seen(&self, bus: usize, unit: u8) -> Option<Seen> {
        self.seen
            .lock()
            .ok()
            .and_then(|m| m.get(&(bus, unit)).copied())
    }

    async fn open_sessions(&self) -> Vec<SessionRow> {
        match self.store.read(read::open_sessions).await {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!(error = %e, "cannot read open sessions");
                Vec::new()
            }
        }
    }

    /// Arms the keypad of `session`'s counter; true when the keypad took it.
    async fn arm(&self, counter: &str, token: u32, expires_at: i64) -> bool {
        let Some(&(bus, unit)) = self.where_is.get(counter) else {
            return false;
        };
        let Some(window) = arming_window(expires_at, self.store.now()) else {
            return false;
        };
        let handle = &self.buses[bus].handle;
        match tokio::time::timeout(
            ARM_WAIT,
            handle.arm(unit, token, window, self.reason_window_s),
        )
        .await
        {
            Ok(Ok(())) => true,
            Ok(Err(KeypadError::Busy)) => {
                tracing::debug!(
                    counter,
                    "keypad busy (a vote waits for its ACK): session pending"
                );
                false
            }
            Ok(Err(e)) => {
                tracing::debug!(counter, error = %e, "keypad not armed: session pending");
                false
            }
            Err(_) => false,
        }
    }

    /// Events from one bus: votes, reboots, state changes, online/offline.
    async fn bus_events(self: Arc<Self>, bus: usize, mut rx: mpsc::Receiver<BusEvent>) {
        while let Some(ev) = rx.recv().await {
            match ev {
                BusEvent::Latched {
                    unit,
                    token,
                    vote_seq,
                    face,
                    reason,
                } => {
                    // Store and acknowledge on its own task: one keypad's ACK waiting for its turn
                    // on the bus must not delay the next keypad's vote.
                    let this = Arc::clone(&self);
                    tokio::spawn(async move {
                        this.latched(bus, unit, token, vote_seq, face as i64, i64::from(reason))
                            .await;
                    });
                }
                BusEvent::StateChanged { unit, state, token } => {
                    let before = self.seen(bus, unit);
                    if let Ok(mut m) = self.seen.lock() {
                        m.insert((bus, unit), Seen { state, token });
                    }
                    if state == KeypadState::Idle {
                        if let Some(prev) = before
                            .filter(|p| matches!(p.state, KeypadState::Armed | KeypadState::Reason))
                        {
                            // The keypad's own window ran out with no vote: its word is final.
                            self.end_by_token(
                                prev.token,
                                SessionState::Expired,
                                "the keypad's window ran out with no vote",
                            )
                            .await;
                        }
                    }
                    self.kick.notify_one();
                }
                BusEvent::Rebooted {
                    unit,
                    boot_count,
                    lost_token,
                } => {
                    let counter = self.counter_of(bus, unit);
                    tracing::warn!(counter, unit, boot_count, "keypad rebooted");
                    // A rebooted keypad holds no session any more: whatever it was armed with,
                    // seen by a poll or not yet, is lost. Say so; never hide it.
                    let why = "the keypad rebooted during the session; its vote, if any, was lost";
                    if let Some(t) = lost_token {
                        self.end_by_token(t, SessionState::KeypadRebooted, why)
                            .await;
                    }
                    for s in self.open_sessions().await {
                        if s.counter_id == counter && s.keypad == KeypadArming::Armed.as_str() {
                            let _ = self
                                .store
                                .end_session(
                                    s.session_id,
                                    SessionState::KeypadRebooted,
                                    why.to_string(),
                                )
                                .await;
                        }
                    }
                    let _ = self
                        .store
                        .log_keypad(
                            counter,
                            format!("keypad rebooted (boot count {boot_count})"),
                        )
                        .await;
                    self.kick.notify_one();
                }
                BusEvent::Online { unit, ident } => {
                    let counter = self.counter_of(bus, unit);
                    tracing::info!(counter, unit, "keypad online");
                    let _ = self
                        .store
                        .log_keypad(
                            counter,
                            format!(
                                "keypad online (serial {}, firmware {}.{})",
                                ident.serial_no, ident.firmware.0, ident.firmware.1
                            ),
                        )
                        .await;
                    self.kick.notify_one();
                }
                BusEvent::Offline { unit, since } => {
                    let counter = self.counter_of(bus, unit);
                    tracing::warn!(counter, unit, %since, "keypad offline");
                    let _ = self
                        .store
                        .log_keypad(counter, "keypad offline".to_string())
                        .await;
                }
                BusEvent::IgnoredPresses { .. } => {}
            }
        }
    }

    async fn end_by_token(&self, token: u32, state: SessionState, why: &str) {
        let open = self.open_sessions().await;
        if let Some(s) = open.iter().find(|s| s.token == i64::from(token)) {
            if let Err(e) = self
                .store
                .end_session(s.session_id.clone(), state, why.to_string())
                .await
            {
                tracing::warn!(error = %e, "cannot end session");
            }
        }
    }

    /// A latched vote: store it (exactly once), then acknowledge; never the other way round.
    async fn latched(&self, bus: usize, unit: u8, token: u32, seq: u16, face: i64, reason: i64) {
        let counter = self.counter_of(bus, unit);
        let judgement = match Judgement::from_codes(face, reason) {
            Ok(j) => j,
            Err(e) => {
                tracing::warn!(counter, error = %e, "keypad latched an impossible vote: acknowledged and discarded");
                let _ = self.buses[bus].handle.ack(unit, seq).await;
                return;
            }
        };
        let outcome = match self
            .store
            .record_vote(token, judgement, self.store.now())
            .await
        {
            Ok(o) => o,
            Err(e) => {
                // Not stored: no ACK. The keypad keeps the vote and the bus reports it again.
                tracing::warn!(counter, error = %e, "vote not stored yet; it will be offered again");
                return;
            }
        };
        match &outcome {
            VoteOutcome::Stored(s) => {
                tracing::info!(counter, session = %s.session_id, "vote stored")
            }
            VoteOutcome::AlreadyStored(id) => {
                tracing::info!(counter, session = %id, "vote was already stored: acknowledging only")
            }
            VoteOutcome::Orphan => tracing::warn!(
                counter,
                token,
                "orphan vote: no open session has that token; acknowledged and discarded"
            ),
        }
        if let Err(e) = self.buses[bus].handle.ack(unit, seq).await {
            tracing::debug!(counter, error = %e, "ACK not delivered; the vote will be offered again and recognised");
        }
        self.kick.notify_one();
    }

    /// Brings keypads in line with open sessions: arm the pending, disarm what has no session.
    async fn sync_loop(self: Arc<Self>) {
        loop {
            tokio::select! {
                _ = tokio::time::sleep(SYNC_EVERY) => {},
                _ = self.kick.notified() => {},
            }
            let open = self.open_sessions().await;
            let now = self.store.now();
            for s in &open {
                let Some(&(bus, unit)) = self.where_is.get(&s.counter_id) else {
                    continue;
                };
                let token = s.token as u32;
                let seen = self.seen(bus, unit);
                let holds = seen.is_some_and(|x| x.token == token && x.state != KeypadState::Idle);
                if holds {
                    if s.keypad == KeypadArming::Pending.as_str() {
                        let _ = self
                            .store
                            .set_arming(s.session_id.clone(), KeypadArming::Armed)
                            .await;
                    }
                    continue;
                }
                if s.keypad == KeypadArming::Pending.as_str()
                    && arming_window(s.expires_at, now).is_some()
                    && self.arm(&s.counter_id, token, s.expires_at).await
                {
                    let _ = self
                        .store
                        .set_arming(s.session_id.clone(), KeypadArming::Armed)
                        .await;
                }
            }
            // Keypads lit for a session that has ended (superseded, cancelled, expired): dark.
            let snapshot: Vec<((usize, u8), Seen)> = match self.seen.lock() {
                Ok(m) => m.iter().map(|(k, v)| (*k, *v)).collect(),
                Err(_) => Vec::new(),
            };
            for ((bus, unit), seen) in snapshot {
                // In REASON the citizen has already pressed red inside the session: let the
                // keypad latch it (with or without a reason) rather than discard it.
                if seen.state == KeypadState::Armed
                    && !open.iter().any(|s| s.token == i64::from(seen.token))
                {
                    match self.buses[bus].handle.disarm(unit).await {
                        Ok(()) => tracing::debug!(unit, "keypad disarmed: its session has ended"),
                        Err(e) => tracing::debug!(unit, error = %e, "disarm failed; will retry"),
                    }
                }
            }
        }
    }

    async fn health_loop(self: Arc<Self>) {
        loop {
            let mut out = Vec::new();
            for (i, b) in self.buses.iter().enumerate() {
                for h in b.handle.health().await {
                    out.push(self.keypad_view(i, b, &h));
                }
            }
            out.sort_by(|a, b| a.counter_id.cmp(&b.counter_id));
            if let Ok(mut cache) = self.health.lock() {
                *cache = out;
            }
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    }

    fn keypad_view(&self, _bus: usize, b: &BusEntry, h: &KeypadHealth) -> v1::Keypad {
        let link = if h.online {
            v1::KeypadLink::KeypadOnline
        } else if h.last_seen.is_none() && h.timeouts == 0 {
            v1::KeypadLink::KeypadUnknown
        } else {
            v1::KeypadLink::KeypadOffline
        };
        v1::Keypad {
            counter_id: b.counters.get(&h.unit).cloned().unwrap_or_default(),
            bus: b.port.clone(),
            unit_id: u32::from(h.unit),
            link: link as i32,
            since: Some(timestamp(h.since.timestamp_millis())),
            last_seen: h.last_seen.map(|t| timestamp(t.timestamp_millis())),
            rtt_median_ms: h.rtt_median.map(|d| d.as_secs_f64() * 1000.0),
            rtt_p99_ms: h.rtt_p99.map(|d| d.as_secs_f64() * 1000.0),
            timeouts: h.timeouts,
            crc_errors: h.crc_errors + h.framing_errors,
            exceptions: h.exceptions,
            reboots: h.reboots_seen,
            faults: u32::from(h.faults),
            ignored_presses: h.ignored_presses,
            firmware: h
                .firmware
                .map(|(a, b)| format!("{a}.{b}"))
                .unwrap_or_default(),
            serial_no: h.serial_no.map(|s| s.to_string()).unwrap_or_default(),
            polls: h.polls,
        }
    }
}

impl KeypadGateway for SerialKeypads {
    fn session_opened<'a>(&'a self, session: &'a mut SessionInfo) -> BoxFuture<'a, ()> {
        Box::pin(async move {
            if session.state != SessionState::Open || session.keypad != KeypadArming::Pending {
                return;
            }
            if self
                .arm(&session.counter_id, session.token, session.expires_at)
                .await
            {
                match self
                    .store
                    .set_arming(session.session_id.clone(), KeypadArming::Armed)
                    .await
                {
                    Ok(Some(s)) => *session = s,
                    Ok(None) => {}
                    Err(e) => tracing::warn!(error = %e, "cannot record the keypad as armed"),
                }
            }
        })
    }

    fn command(
        &self,
        counter_id: String,
        action: v1::KeypadAction,
    ) -> BoxFuture<'_, Result<String, Status>> {
        Box::pin(async move {
            let Some(&(bus, unit)) = self.where_is.get(&counter_id) else {
                return Err(Status::failed_precondition(format!(
                    "counter {counter_id:?} has no keypad configured"
                )));
            };
            let h = &self.buses[bus].handle;
            let r = match action {
                v1::KeypadAction::KeypadIdentify => h
                    .identify(unit)
                    .await
                    .map(|()| "identify: the keypad blinks for 10 s".to_string()),
                v1::KeypadAction::KeypadSelfTest => h.self_test(unit).await.map(|()| {
                    "self-test started: each LED lights in turn; FAULTS is updated".to_string()
                }),
                v1::KeypadAction::Unspecified => {
                    return Err(Status::invalid_argument("action: unspecified"))
                }
            };
            r.map_err(|e| match e {
                KeypadError::Busy => Status::failed_precondition("the keypad is busy"),
                other => Status::unavailable(format!(
                    "keypad of {counter_id} on {}: {other}",
                    self.buses[bus].port
                )),
            })
        })
    }

    fn health(&self) -> Vec<v1::Keypad> {
        self.health.lock().map(|h| h.clone()).unwrap_or_default()
    }

    fn changed(&self) {
        self.kick.notify_one();
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn windows() {
        assert_eq!(super::arming_window(60_000, 0), Some(60));
        assert_eq!(super::arming_window(4_999, 0), None);
        assert_eq!(super::arming_window(1_000_000, 0), Some(600));
    }
}
