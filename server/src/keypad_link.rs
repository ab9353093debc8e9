//! Keypads wired to vote sessions: one bus task per serial port (from `faccia-serial`) and one
//! task per counter that runs the counter's [`CounterKeypad`] machine from `faccia_domain`.
//!
//! The counter task is the only one that commands its keypad for voting (arm, disarm, ACK). It is
//! fed, in order, by: the store's committed session changes ([`Store::session_changes`]), the
//! bus's events for its unit, the queue handler asking to arm a session it has just stored, and
//! a clock tick. It carries out the machine's effects one after the other and feeds each result
//! back before it takes the next input, so two commands for one keypad never cross.
//!
//! A totem's keypad (on a bus like any keypad) runs the same task and machine; its sessions
//! come from the scans of its scanner (`crate::totem`): each admitted scan is an "opened"
//! session for the machine, its latched votes go to the store through
//! [`Store::record_totem_vote`], and the ends the machine decides (the faces' window ran out, the
//! keypad unreachable or rebooted) do not end the store's session: the citizen may scan again
//! within the totem's window. A refused scan blinks the totem (IDENTIFY: every LED for 10 s,
//! voting state unchanged), is counted and written to the event log.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use faccia_domain::alerts::IgnoredPresses;
use faccia_domain::keypad::{
    CommandResult, CounterKeypad, Effect, EndCause, Input, KeypadRules, OpenSession, PadState,
};
use faccia_domain::session::{Judgement, KeypadArming, SessionState};
use faccia_proto::v1;
use faccia_serial::{Bus, BusConfig, BusEvent, BusHandle, KeypadError, KeypadHealth, KeypadState};
use futures::future::BoxFuture;
use tokio::sync::{mpsc, oneshot};
use tonic::Status;

use crate::config::{Config, SiteConfig};
use crate::grpc::convert::timestamp;
use crate::keypads::KeypadGateway;
use crate::storage::{read, KeypadNote, SessionChange, SessionInfo, Store, VoteOutcome};
use crate::totem::{self, Judged, ScanCounts, ScanLine, TotemSeat};

/// How long the queue event's answer waits for the keypad to be armed.
const ARM_WAIT: Duration = Duration::from_millis(400);
/// How long one command to a keypad may take (the bus answers or times out well before).
const COMMAND_WAIT: Duration = Duration::from_secs(2);
/// The counter machine's clock tick.
const TICK: Duration = Duration::from_millis(200);

struct BusEntry {
    port: String,
    handle: BusHandle,
    /// unit -> counter
    counters: HashMap<u8, String>,
}

/// What a counter task receives.
enum Msg {
    Input(Input),
    /// A vote the keypad latched, with its face and reason codes.
    Latched {
        token: u32,
        seq: u16,
        face: i64,
        reason: i64,
    },
    /// The queue handler stored this session and waits to know whether the keypad took it.
    Arm(OpenSession, oneshot::Sender<bool>),
    /// A line from a totem's scanner.
    Scan(ScanLine),
}

/// Whose keypad a task commands.
enum Seat {
    /// A counter's own keypad: the counter's sessions.
    Counter,
    /// A totem's keypad: the sessions its scans admit.
    Totem(TotemScans),
}

/// A totem's task state: the totem, the session the machine holds for the current scan.
struct TotemScans {
    seat: TotemSeat,
    counts: ScanCounts,
    /// Scans so far: each admitted scan is a session of its own for the machine
    /// (`<session id>#<n>`), so that a ticket scanned again after its faces went dark (which the
    /// machine remembers as ended) is armed again.
    scans: u64,
    /// The machine's id of the current scan and the store's session id.
    current: Option<(String, String)>,
}

impl TotemScans {
    /// The store's session id of a machine id.
    fn store_id(machine_id: &str) -> String {
        machine_id
            .rsplit_once('#')
            .map_or(machine_id, |(id, _)| id)
            .to_string()
    }

    /// The machine's id of a store session id (the current scan's, if it is that session).
    fn machine_id(&self, store_id: &str) -> String {
        match &self.current {
            Some((m, s)) if s == store_id => m.clone(),
            _ => store_id.to_string(),
        }
    }
}

pub struct SerialKeypads {
    buses: Vec<BusEntry>,
    /// counter -> (bus index, unit)
    where_is: HashMap<String, (usize, u8)>,
    /// counter (or totem) -> its task
    tasks: HashMap<String, mpsc::UnboundedSender<Msg>>,
    /// counter served by totems -> those totems
    totems_of: HashMap<String, Vec<String>>,
    /// totem -> (its name, the counters it serves), for the keypads' view
    totems: HashMap<String, (String, Vec<String>)>,
    /// totem scans by outcome
    scans: ScanCounts,
    health: Mutex<Vec<v1::Keypad>>,
    /// counter -> presses that did not count, recently (the burst alert)
    ignored: Mutex<HashMap<String, IgnoredPresses>>,
}

fn open_session(s: &SessionInfo) -> OpenSession {
    OpenSession {
        session_id: s.session_id.clone(),
        token: s.token,
        expires_at: s.expires_at,
        armed: s.keypad == KeypadArming::Armed,
    }
}

fn pad_state(s: KeypadState) -> PadState {
    match s {
        KeypadState::Idle => PadState::Idle,
        KeypadState::Armed => PadState::Armed,
        KeypadState::Reason => PadState::Reason,
        KeypadState::Latched => PadState::Latched,
    }
}

fn command_result(
    r: Result<Result<(), KeypadError>, tokio::time::error::Elapsed>,
) -> CommandResult {
    match r {
        Ok(Ok(())) => CommandResult::Done,
        Ok(Err(KeypadError::Busy)) => CommandResult::Busy,
        Ok(Err(_)) | Err(_) => CommandResult::Failed,
    }
}

impl SerialKeypads {
    /// Starts the bus tasks and the counter tasks of one site's keypads (a serial port belongs
    /// to one site). Must be called inside a tokio runtime.
    pub fn start(config: &Config, site: &SiteConfig, store: Store) -> Arc<SerialKeypads> {
        let mut by_port: Vec<(std::path::PathBuf, u32, HashMap<u8, String>)> = Vec::new();
        let seats = site
            .counters()
            .iter()
            .filter_map(|c| c.keypad.as_ref().map(|k| (c.id.clone(), k)))
            .chain(site.totems().iter().map(|t| (t.id.clone(), &t.keypad)));
        for (id, k) in seats {
            match by_port.iter_mut().find(|(p, _, _)| *p == k.port) {
                Some((_, _, units)) => {
                    units.insert(k.unit, id);
                }
                None => by_port.push((k.port.clone(), k.baud, HashMap::from([(k.unit, id)]))),
            }
        }
        let mut totems_of: HashMap<String, Vec<String>> = HashMap::new();
        let totems: HashMap<String, (String, Vec<String>)> = site
            .totems()
            .iter()
            .map(|t| (t.id.clone(), (t.name.clone(), t.counters.clone())))
            .collect();
        for t in site.totems() {
            for c in &t.counters {
                totems_of.entry(c.clone()).or_default().push(t.id.clone());
            }
        }
        let scans = ScanCounts::default();
        let reason_window_s = u16::try_from(config.settings.sessions.reason_window_s).unwrap_or(60);
        let rules = KeypadRules {
            reason_window_ms: store.rules().reason_window_ms,
            grace_ms: store.rules().grace_ms,
        };
        // Subscribed before anything is read, so that no change falls between the two.
        let changes = store.session_changes();
        let mut buses = Vec::new();
        let mut receivers = Vec::new();
        let mut where_is = HashMap::new();
        let mut tasks = HashMap::new();
        for (i, (port, baud, counters)) in by_port.into_iter().enumerate() {
            let mut units: Vec<u8> = counters.keys().copied().collect();
            units.sort_unstable();
            let (handle, events) = Bus::spawn(BusConfig::new(port.clone(), baud, units));
            for (unit, counter) in &counters {
                where_is.insert(counter.clone(), (i, *unit));
                let (tx, rx) = mpsc::unbounded_channel();
                tasks.insert(counter.clone(), tx.clone());
                let seat = match site.totems().iter().find(|t| t.id == *counter) {
                    Some(t) => match TotemSeat::new(site.id(), t) {
                        Some(seat) => Seat::Totem(TotemScans {
                            seat,
                            counts: scans.clone(),
                            scans: 0,
                            current: None,
                        }),
                        None => {
                            tracing::error!(totem = %t.id, "the totem's code pattern is not valid; its keypad is not run");
                            continue;
                        }
                    },
                    None => Seat::Counter,
                };
                if let Some(t) = site.totems().iter().find(|t| t.id == *counter) {
                    let tx = tx.clone();
                    let clock = store.clone();
                    totem::spawn_scanner(
                        t.id.clone(),
                        t.scanner.port.clone(),
                        t.scanner.baud,
                        t.scanner.prefix.clone(),
                        t.scanner.suffix.clone(),
                        move || clock.now(),
                        move |line| tx.send(Msg::Scan(line)).is_ok(),
                    );
                }
                let task = CounterTask {
                    counter: counter.clone(),
                    seat,
                    unit: *unit,
                    bus: handle.clone(),
                    store: store.clone(),
                    machine: CounterKeypad::new(rules),
                    reason_window_s,
                    latched: HashMap::new(),
                    waiters: Vec::new(),
                };
                tokio::spawn(task.run(rx));
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
            buses,
            where_is,
            tasks,
            totems_of,
            totems,
            scans,
            health: Mutex::new(Vec::new()),
            ignored: Mutex::new(HashMap::new()),
        });
        for (i, rx) in receivers.into_iter().enumerate() {
            tokio::spawn(Arc::clone(&this).bus_events(i, rx, store.clone()));
        }
        tokio::spawn(Arc::clone(&this).health_loop(store.clone()));
        tokio::spawn(Arc::clone(&this).follow_store(store, changes));
        this
    }

    fn send(&self, counter: &str, msg: Msg) {
        if let Some(tx) = self.tasks.get(counter) {
            let _ = tx.send(msg);
        }
    }

    fn counter_of(&self, bus: usize, unit: u8) -> String {
        self.buses
            .get(bus)
            .and_then(|b| b.counters.get(&unit))
            .cloned()
            .unwrap_or_default()
    }

    /// The store's open sessions once, then every committed change, to the counters' tasks.
    async fn follow_store(
        self: Arc<Self>,
        store: Store,
        mut changes: mpsc::UnboundedReceiver<SessionChange>,
    ) {
        let open = loop {
            let site = store.site_id().to_string();
            match store.read(move |c| read::open_sessions(c, &site)).await {
                Ok(rows) => break rows,
                Err(e) => {
                    tracing::warn!(error = %e, "cannot read open sessions; retrying");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
            }
        };
        let mut by_counter: HashMap<&str, Vec<OpenSession>> = HashMap::new();
        for row in &open {
            if row.keypad == KeypadArming::NoKeypad.as_str() {
                continue;
            }
            let Ok(token) = u32::try_from(row.token) else {
                continue;
            };
            by_counter
                .entry(row.counter_id.as_str())
                .or_default()
                .push(OpenSession {
                    session_id: row.session_id.clone(),
                    token,
                    expires_at: row.expires_at,
                    armed: row.keypad == KeypadArming::Armed.as_str(),
                });
        }
        for counter in self.tasks.keys() {
            let sessions = by_counter.remove(counter.as_str()).unwrap_or_default();
            self.send(counter, Msg::Input(Input::Loaded(sessions)));
        }
        while let Some(change) = changes.recv().await {
            match change {
                SessionChange::Opened(info) => {
                    // a totem's sessions reach its keypad through scans
                    if info.keypad != KeypadArming::NoKeypad && !info.keypad.is_totem() {
                        let s = open_session(&info);
                        self.send(&info.counter_id, Msg::Input(Input::Opened(s)));
                    }
                }
                SessionChange::Ended {
                    session_id,
                    counter_id,
                    state,
                } => {
                    for t in self.totems_of.get(&counter_id).into_iter().flatten() {
                        let ended = Input::Ended {
                            session_id: session_id.clone(),
                            state,
                        };
                        self.send(t, Msg::Input(ended));
                    }
                    self.send(&counter_id, Msg::Input(Input::Ended { session_id, state }))
                }
            }
        }
    }

    /// Events from one bus, to the counters' tasks; health news to the event log.
    async fn bus_events(
        self: Arc<Self>,
        bus: usize,
        mut rx: mpsc::Receiver<BusEvent>,
        store: Store,
    ) {
        while let Some(ev) = rx.recv().await {
            match ev {
                BusEvent::Latched {
                    unit,
                    token,
                    vote_seq,
                    face,
                    reason,
                } => self.send(
                    &self.counter_of(bus, unit),
                    Msg::Latched {
                        token,
                        seq: vote_seq,
                        face: face as i64,
                        reason: i64::from(reason),
                    },
                ),
                BusEvent::StateChanged {
                    unit,
                    state,
                    token,
                    window_left_s,
                } => self.send(
                    &self.counter_of(bus, unit),
                    Msg::Input(Input::Observed {
                        state: pad_state(state),
                        token,
                        window_left_s,
                    }),
                ),
                BusEvent::Rebooted {
                    unit,
                    boot_count,
                    lost_token,
                } => {
                    let counter = self.counter_of(bus, unit);
                    tracing::warn!(counter, unit, boot_count, "keypad rebooted");
                    self.send(&counter, Msg::Input(Input::Rebooted { lost_token }));
                    let _ = store
                        .log_keypad(counter, KeypadNote::Rebooted { boot_count })
                        .await;
                }
                BusEvent::Online { unit, ident } => {
                    let counter = self.counter_of(bus, unit);
                    tracing::info!(counter, unit, "keypad online");
                    let _ = store
                        .log_keypad(
                            counter,
                            KeypadNote::Online {
                                serial_no: ident.serial_no,
                                firmware: ident.firmware,
                            },
                        )
                        .await;
                }
                BusEvent::Offline { unit, since } => {
                    let counter = self.counter_of(bus, unit);
                    tracing::warn!(counter, unit, %since, "keypad offline");
                    self.send(&counter, Msg::Input(Input::Unreachable));
                    let _ = store.log_keypad(counter, KeypadNote::Offline).await;
                }
                BusEvent::IgnoredPresses { unit, delta } => {
                    let counter = self.counter_of(bus, unit);
                    if let Ok(mut m) = self.ignored.lock() {
                        m.entry(counter)
                            .or_default()
                            .add(store.now(), u64::from(delta));
                    }
                }
            }
        }
    }

    async fn health_loop(self: Arc<Self>, store: Store) {
        loop {
            let now = store.now();
            let mut out = Vec::new();
            for (i, b) in self.buses.iter().enumerate() {
                for h in b.handle.health().await {
                    let mut view = self.keypad_view(i, b, &h);
                    if let Ok(mut m) = self.ignored.lock() {
                        if let Some(w) = m.get_mut(&view.counter_id) {
                            view.ignored_presses_recent = w.in_window(now);
                        }
                    }
                    out.push(view);
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
        let counter_id = b.counters.get(&h.unit).cloned().unwrap_or_default();
        let (totem_name, totem_counters) =
            self.totems.get(&counter_id).cloned().unwrap_or_default();
        v1::Keypad {
            counter_id,
            totem_name,
            totem_counters,
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
            ignored_presses_recent: 0,
        }
    }
}

/// One counter (or totem): its machine and the keypad it commands.
struct CounterTask {
    /// The counter's id, or the totem's.
    counter: String,
    seat: Seat,
    unit: u8,
    bus: BusHandle,
    store: Store,
    machine: CounterKeypad,
    reason_window_s: u16,
    /// (token, seq) -> (face, reason) codes of latched votes not yet settled
    latched: HashMap<(u32, u16), (i64, i64)>,
    /// The queue handler waiting for these sessions to be armed.
    waiters: Vec<(String, oneshot::Sender<bool>)>,
}

impl CounterTask {
    async fn run(mut self, mut rx: mpsc::UnboundedReceiver<Msg>) {
        let mut tick = tokio::time::interval(TICK);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            let input = tokio::select! {
                msg = rx.recv() => match msg {
                    None => return,
                    Some(Msg::Input(Input::Ended { session_id, state })) => Input::Ended {
                        session_id: self.machine_id(&session_id),
                        state,
                    },
                    Some(Msg::Input(i)) => i,
                    Some(Msg::Latched { token, seq, face, reason }) => {
                        self.latched.insert((token, seq), (face, reason));
                        Input::Latched { token, seq }
                    }
                    Some(Msg::Arm(s, reply)) => {
                        self.waiters.push((s.session_id.clone(), reply));
                        Input::Opened(s)
                    }
                    Some(Msg::Scan(line)) => match self.scan(line).await {
                        Some(i) => i,
                        None => continue,
                    },
                },
                _ = tick.tick() => Input::Tick,
            };
            self.feed(input).await;
        }
    }

    /// The machine's id of a store session (a totem's current scan has one of its own).
    fn machine_id(&self, store_id: &str) -> String {
        match &self.seat {
            Seat::Counter => store_id.to_string(),
            Seat::Totem(t) => t.machine_id(store_id),
        }
    }

    /// The store's id of a machine's session.
    fn store_id(&self, machine_id: &str) -> String {
        match &self.seat {
            Seat::Counter => machine_id.to_string(),
            Seat::Totem(_) => TotemScans::store_id(machine_id),
        }
    }

    /// A totem's scan: the session it admits, for the machine, or a refusal shown on the
    /// totem, counted and logged.
    async fn scan(&mut self, line: ScanLine) -> Option<Input> {
        let Seat::Totem(t) = &mut self.seat else {
            return None;
        };
        let judged = totem::judge(&self.store, &t.seat, line, self.store.now()).await?;
        match judged {
            Judged::Arm(arming, held) => {
                t.counts.add(&t.seat.id, totem::ARMED);
                t.scans += 1;
                let machine_id = format!("{}#{}", arming.session_id, t.scans);
                tracing::info!(totem = %t.seat.id, session = %arming.session_id, "scan admitted: arming the totem");
                t.current = Some((machine_id.clone(), arming.session_id.clone()));
                Some(Input::Opened(OpenSession {
                    session_id: machine_id,
                    token: arming.token,
                    expires_at: arming.until,
                    armed: held,
                }))
            }
            Judged::Refused(note) => {
                tracing::info!(totem = %t.seat.id, refusal = note.refusal, "scan refused");
                // Shown on the totem: every LED blinks (IDENTIFY), the voting state unchanged.
                let shown = tokio::time::timeout(COMMAND_WAIT, self.bus.identify(self.unit)).await;
                if !matches!(shown, Ok(Ok(()))) {
                    tracing::warn!(totem = %t.seat.id, "cannot show the refusal on the totem");
                }
                let refusal = note.refusal;
                if let Err(e) = self.store.log_scan(note).await {
                    tracing::warn!(totem = %t.seat.id, error = %e, "cannot log the refused scan");
                }
                // Counted once its log entry is stored: what the metrics say, the log holds.
                t.counts.add(&t.seat.id, refusal);
                None
            }
        }
    }

    /// One input and everything it leads to, commands and their results in order.
    async fn feed(&mut self, input: Input) {
        let mut queue: VecDeque<Effect> = self.machine.step(self.store.now(), input).into();
        self.answer_waiters();
        while let Some(effect) = queue.pop_front() {
            if let Some(reply) = self.execute(effect).await {
                queue.extend(self.machine.step(self.store.now(), reply));
                self.answer_waiters();
            }
        }
    }

    /// Tells the queue handler as soon as its session is on the keypad (or will not be).
    fn answer_waiters(&mut self) {
        if self.waiters.is_empty() {
            return;
        }
        let open = self
            .machine
            .open_session()
            .map(|(id, _, held)| (id.to_string(), held));
        let busy = self.machine.busy();
        for (id, reply) in std::mem::take(&mut self.waiters) {
            match &open {
                Some((o, true)) if *o == id => {
                    let _ = reply.send(true);
                }
                // an ARM is on its way: wait for its result
                Some((o, false)) if *o == id && busy => self.waiters.push((id, reply)),
                _ => {
                    let _ = reply.send(false);
                }
            }
        }
    }

    async fn execute(&mut self, effect: Effect) -> Option<Input> {
        let counter = self.counter.clone();
        match effect {
            Effect::Arm {
                session_id,
                token,
                window_s,
            } => {
                let r = tokio::time::timeout(
                    COMMAND_WAIT,
                    self.bus
                        .arm(self.unit, token, window_s, self.reason_window_s),
                )
                .await;
                let result = command_result(r);
                tracing::debug!(counter, session = %session_id, window_s, ?result, "ARM");
                Some(Input::ArmDone { token, result })
            }
            Effect::Disarm { token } => {
                let r = tokio::time::timeout(COMMAND_WAIT, self.bus.disarm(self.unit)).await;
                let result = command_result(r);
                tracing::debug!(
                    counter,
                    token,
                    ?result,
                    "DISARM: the keypad's session has ended"
                );
                Some(Input::DisarmDone { result })
            }
            Effect::MarkArmed { session_id } => {
                let (id, arming) = match &self.seat {
                    Seat::Counter => (session_id, KeypadArming::Armed),
                    Seat::Totem(_) => (self.store_id(&session_id), KeypadArming::TotemArmed),
                };
                if let Err(e) = self.store.set_arming(id, arming).await {
                    tracing::warn!(counter, error = %e, "cannot record the keypad as armed");
                }
                None
            }
            Effect::End { session_id, cause } if matches!(self.seat, Seat::Totem(_)) => {
                // The faces went dark (or the totem was lost) with no vote: the session stays
                // open for the totem's window, the citizen may scan again.
                tracing::debug!(totem = %counter, session = %self.store_id(&session_id), ?cause, "the totem's faces went dark with no vote");
                None
            }
            Effect::End { session_id, cause } => {
                let why = match cause {
                    EndCause::WindowRanOut => "the keypad's window ran out with no vote",
                    EndCause::NotReached => {
                        "the keypad could not be reached (or never took the session) before the window and grace ran out"
                    }
                    EndCause::Rebooted => {
                        "the keypad rebooted during the session; its vote, if any, was lost"
                    }
                };
                match self
                    .store
                    .end_session(session_id.clone(), cause.state(), why.to_string())
                    .await
                {
                    Ok(_) => Some(Input::Ended {
                        session_id,
                        state: cause.state(),
                    }),
                    Err(e) => {
                        tracing::warn!(counter, error = %e, "cannot end session; the store's expiry will");
                        None
                    }
                }
            }
            Effect::StoreVote { token, seq } => {
                let Some((face, reason)) = self.latched.get(&(token, seq)).copied() else {
                    return Some(Input::VoteFailed { token, seq });
                };
                let judgement = match Judgement::from_codes(face, reason) {
                    Ok(j) => j,
                    Err(e) => {
                        tracing::warn!(counter, error = %e, "keypad latched an impossible vote: acknowledged and discarded");
                        self.latched.remove(&(token, seq));
                        return Some(Input::VoteSettled {
                            token,
                            seq,
                            voted: None,
                        });
                    }
                };
                let now = self.store.now();
                let recorded = match &self.seat {
                    Seat::Counter => {
                        self.store
                            .record_keypad_vote(counter.clone(), token, judgement, now)
                            .await
                    }
                    Seat::Totem(t) => {
                        self.store
                            .record_totem_vote(
                                counter.clone(),
                                t.seat.counters.clone(),
                                token,
                                judgement,
                                now,
                            )
                            .await
                    }
                };
                match recorded {
                    Ok(outcome) => {
                        self.latched.remove(&(token, seq));
                        let voted = match outcome {
                            VoteOutcome::Stored(s) => {
                                tracing::info!(counter, session = %s.session_id, "vote stored");
                                Some(self.machine_id(&s.session_id))
                            }
                            VoteOutcome::AlreadyStored(id) => {
                                tracing::info!(counter, session = %id, "vote was already stored: acknowledging only");
                                None
                            }
                            VoteOutcome::Orphan => {
                                tracing::warn!(counter, token, "orphan vote: no session of this counter has that token; acknowledged and discarded");
                                None
                            }
                        };
                        Some(Input::VoteSettled { token, seq, voted })
                    }
                    Err(e) => {
                        // Not stored: no ACK. The keypad keeps the vote and the bus offers it again.
                        tracing::warn!(counter, error = %e, "vote not stored yet; it will be offered again");
                        Some(Input::VoteFailed { token, seq })
                    }
                }
            }
            Effect::Ack { token, seq } => {
                // ACK only the vote we stored: after a reboot VOTE_SEQ starts again, so check
                // that the keypad still holds this token's vote with this sequence number.
                let holds = match tokio::time::timeout(COMMAND_WAIT, self.bus.info(self.unit)).await
                {
                    Ok(Ok(info)) => {
                        info.status.state == KeypadState::Latched
                            && info.status.token == token
                            && info.status.vote_seq == seq
                    }
                    _ => false,
                };
                let result = if holds {
                    command_result(
                        tokio::time::timeout(COMMAND_WAIT, self.bus.ack(self.unit, seq)).await,
                    )
                } else {
                    CommandResult::Failed
                };
                tracing::debug!(counter, token, seq, ?result, "ACK");
                Some(Input::AckDone { result })
            }
        }
    }
}

impl KeypadGateway for SerialKeypads {
    fn session_opened<'a>(&'a self, session: &'a mut SessionInfo) -> BoxFuture<'a, ()> {
        Box::pin(async move {
            if session.state != SessionState::Open || session.keypad != KeypadArming::Pending {
                return;
            }
            let Some(tx) = self.tasks.get(&session.counter_id) else {
                return;
            };
            let (reply, armed) = oneshot::channel();
            if tx.send(Msg::Arm(open_session(session), reply)).is_err() {
                return;
            }
            if let Ok(Ok(true)) = tokio::time::timeout(ARM_WAIT, armed).await {
                session.keypad = KeypadArming::Armed;
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

    fn totem_scans(&self) -> Vec<(String, &'static str, u64)> {
        self.scans.list()
    }
}
