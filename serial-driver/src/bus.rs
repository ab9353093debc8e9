//! The bus task: one per serial port, owning the port and serving every keypad on it.
//!
//! ```no_run
//! # async fn demo() -> Result<(), faccia_serial::KeypadError> {
//! use faccia_serial::{Bus, BusConfig, BusEvent};
//! let (bus, mut events) = Bus::spawn(BusConfig::new("/dev/ttyUSB0", 19200, vec![1, 2, 3]));
//! bus.arm(1, 0xC0FFEE, 60, 20).await?;
//! while let Some(ev) = events.recv().await {
//!     if let BusEvent::Latched { unit, token, vote_seq, .. } = ev {
//!         // store the vote durably (keyed by token), then:
//!         bus.ack(unit, vote_seq).await?;
//!         let _ = token;
//!     }
//! }
//! # Ok(()) }
//! ```
//!
//! Scheduling: every unit has a next-due instant; the task serves pending commands first, then
//! polls the unit that is most overdue. Online units are polled every
//! [`BusTiming::poll_interval`] (spec: at least every 250 ms), offline units every
//! [`BusTiming::offline_poll_interval`], so a dead unit costs one timeout per that interval.
//! When the port fails (USB unplug) it is closed and reopened every
//! [`BusTiming::reopen_interval`] until it comes back.
//!
//! What a poll reads (spec: status 0x0002..=0x0008, full block on connect and about once a
//! minute): the status block alone (7 registers), also while a session is open; status and
//! counters 0x0002..=0x000E every [`BusTiming::counters_interval`]; the full block
//! 0x0000..=0x0010 on connect and every [`BusTiming::full_read_interval`]. A status that looks
//! like a reboot (IDLE out of a session we did not end and whose window was not at its end, or
//! VOTE_SEQ moved outside LATCHED) makes the same poll read the counters (BOOT_COUNT) before
//! that status is reported, so [`BusEvent::Rebooted`] comes before the IDLE it caused.

use std::collections::VecDeque;
use std::path::PathBuf;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::Serialize;
use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;

use crate::error::KeypadError;
use crate::master::{open_port, LinkStats, Master};
use crate::regs::{Face, KeypadCounters, KeypadInfo, KeypadState, KeypadStatus};

/// Timing of a bus. Defaults suit a real RS-485 line at 19200 baud.
#[derive(Debug, Clone)]
pub struct BusTiming {
    /// Poll period of each online keypad (status block 0x0002..=0x0008). Default 100 ms.
    pub poll_interval: Duration,
    /// Time to wait for an answer. Default 100 ms (the keypad answers within 50 ms).
    pub request_timeout: Duration,
    /// A keypad not heard from for this long is reported offline. Default 1 s.
    pub offline_after: Duration,
    /// Poll period of an offline keypad. Default 2 s.
    pub offline_poll_interval: Duration,
    /// Delay of the one quick retry after a keypad's first failed poll; further retries use
    /// `offline_poll_interval`. Default 250 ms.
    pub retry_interval: Duration,
    /// How often to try reopening a failed port. Default 500 ms.
    pub reopen_interval: Duration,
    /// Full block 0x0000..=0x0010 read period (health). Default 60 s.
    pub full_read_interval: Duration,
    /// Counters (presses, faults, BOOT_COUNT) read period, folded into a poll (0x0002..=0x000E
    /// instead of the status block), in a session or not. Default 5 s. A reboot is caught
    /// earlier by the status it causes (see the module documentation).
    pub counters_interval: Duration,
    /// `Latched` is repeated this often while a vote stays un-ACKed. Default 3 s.
    pub latched_repeat: Duration,
    /// Silence kept between exchanges; `None` = Modbus t3.5 for the baud rate.
    pub inter_frame_gap: Option<Duration>,
}

impl Default for BusTiming {
    fn default() -> Self {
        BusTiming {
            poll_interval: Duration::from_millis(100),
            request_timeout: Duration::from_millis(100),
            offline_after: Duration::from_secs(1),
            offline_poll_interval: Duration::from_secs(2),
            retry_interval: Duration::from_millis(250),
            reopen_interval: Duration::from_millis(500),
            full_read_interval: Duration::from_secs(60),
            counters_interval: Duration::from_secs(5),
            latched_repeat: Duration::from_secs(3),
            inter_frame_gap: None,
        }
    }
}

/// One serial port and the keypads on it.
#[derive(Debug, Clone)]
pub struct BusConfig {
    pub port: PathBuf,
    pub baud: u32,
    /// Unit ids (1..=247) of the keypads on this port.
    pub units: Vec<u8>,
    pub timing: BusTiming,
}

impl BusConfig {
    pub fn new(port: impl Into<PathBuf>, baud: u32, units: Vec<u8>) -> Self {
        BusConfig {
            port: port.into(),
            baud,
            units,
            timing: BusTiming::default(),
        }
    }
}

/// What the bus reports. Events are sent in order; the channel is bounded (1024) and the bus
/// waits for room rather than drop one.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub enum BusEvent {
    /// The keypad answered with IDENT = 0xFACE (first contact or back from offline).
    Online { unit: u8, ident: KeypadInfo },
    /// The keypad has not answered for `offline_after` (also sent once for a keypad that has
    /// not answered at all since the bus started).
    Offline { unit: u8, since: DateTime<Utc> },
    /// BOOT_COUNT moved. `lost_token` is the session that was ARMED/REASON/LATCHED before the
    /// reboot (its vote, if any, is lost on the keypad). Sent before the `StateChanged` (to
    /// IDLE) that the reboot caused.
    Rebooted {
        unit: u8,
        boot_count: u16,
        lost_token: Option<u32>,
    },
    /// A vote is latched and waits for ACK. Sent when first seen and again every
    /// `latched_repeat` while the keypad stays LATCHED and un-ACKed.
    Latched {
        unit: u8,
        token: u32,
        vote_seq: u16,
        face: Face,
        reason: u8,
    },
    /// STATE or SESSION_TOKEN changed. A reboot is always reported (`Rebooted`) before the
    /// IDLE it caused, so an IDLE after ARMED/REASON/LATCHED with no `Rebooted` before it
    /// means the keypad's own window ran out, or the session was ACKed or disarmed.
    StateChanged {
        unit: u8,
        state: KeypadState,
        token: u32,
        /// WINDOW_LEFT_S at this read: seconds left in the keypad's own ARMED or REASON window
        /// (authoritative); 0 in IDLE and LATCHED.
        window_left_s: u16,
    },
    /// PRESSES_IGNORED grew by `delta`.
    IgnoredPresses { unit: u8, delta: u16 },
}

/// Health record of one keypad.
#[derive(Debug, Clone, Serialize)]
pub struct KeypadHealth {
    pub unit: u8,
    pub online: bool,
    /// Since when online/offline.
    pub since: DateTime<Utc>,
    pub last_seen: Option<DateTime<Utc>>,
    pub last_status: Option<KeypadStatus>,
    pub rtt_median: Option<Duration>,
    pub rtt_p99: Option<Duration>,
    /// Successful exchanges (polls, reads and commands).
    pub responses: u64,
    /// Successful status polls.
    pub polls: u64,
    pub timeouts: u64,
    pub crc_errors: u64,
    pub framing_errors: u64,
    /// Bytes received that were not part of a valid answer (noise, truncated frames).
    pub garbage_bytes: u64,
    pub exceptions: u64,
    pub reboots_seen: u64,
    pub faults: u16,
    /// Sum of PRESSES_IGNORED increases seen.
    pub ignored_presses: u64,
    pub boot_count: Option<u16>,
    pub firmware: Option<(u8, u8)>,
    pub serial_no: Option<u32>,
    /// Last error, if the last exchange failed.
    pub last_error: Option<String>,
}

enum Cmd {
    Arm {
        unit: u8,
        token: u32,
        window_s: u16,
        reason_window_s: u16,
        reply: oneshot::Sender<Result<(), KeypadError>>,
    },
    Disarm {
        unit: u8,
        reply: oneshot::Sender<Result<(), KeypadError>>,
    },
    Ack {
        unit: u8,
        seq: u16,
        reply: oneshot::Sender<Result<(), KeypadError>>,
    },
    Identify {
        unit: u8,
        reply: oneshot::Sender<Result<(), KeypadError>>,
    },
    SelfTest {
        unit: u8,
        reply: oneshot::Sender<Result<(), KeypadError>>,
    },
    Info {
        unit: u8,
        reply: oneshot::Sender<Result<KeypadInfo, KeypadError>>,
    },
    Health {
        reply: oneshot::Sender<Vec<KeypadHealth>>,
    },
    Shutdown {
        reply: oneshot::Sender<()>,
    },
}

/// Handle to a bus task. Cheap to clone; every method is served by the task between polls.
#[derive(Clone)]
pub struct BusHandle {
    tx: mpsc::Sender<Cmd>,
}

/// Spawner of bus tasks.
pub struct Bus;

impl Bus {
    /// Starts the task for `cfg.port`. Must run inside a tokio runtime. The port is opened by
    /// the task (and reopened after failures); open errors show as `Offline` keypads and in
    /// [`KeypadHealth::last_error`].
    pub fn spawn(cfg: BusConfig) -> (BusHandle, mpsc::Receiver<BusEvent>) {
        let (tx, rx) = mpsc::channel(64);
        let (ev_tx, ev_rx) = mpsc::channel(1024);
        let task = BusTask::new(cfg, ev_tx);
        tokio::spawn(task.run(rx));
        (BusHandle { tx }, ev_rx)
    }
}

impl BusHandle {
    async fn call<R>(
        &self,
        make: impl FnOnce(oneshot::Sender<R>) -> Cmd,
    ) -> Result<R, KeypadError> {
        let (reply, rx) = oneshot::channel();
        self.tx
            .send(make(reply))
            .await
            .map_err(|_| KeypadError::BusStopped)?;
        rx.await.map_err(|_| KeypadError::BusStopped)
    }

    /// Opens a session: one 0x10 write of 0x0100..=0x0105 with COMMAND = ARM.
    /// `KeypadError::Busy` while the keypad is in REASON or LATCHED.
    pub async fn arm(
        &self,
        unit: u8,
        token: u32,
        window_s: u16,
        reason_window_s: u16,
    ) -> Result<(), KeypadError> {
        self.call(|reply| Cmd::Arm {
            unit,
            token,
            window_s,
            reason_window_s,
            reply,
        })
        .await?
    }

    /// Ends an ARMED/REASON session with no vote (`Busy` while LATCHED).
    pub async fn disarm(&self, unit: u8) -> Result<(), KeypadError> {
        self.call(|reply| Cmd::Disarm { unit, reply }).await?
    }

    /// Acknowledges the latched vote `vote_seq` (call only after storing it durably).
    /// `BadValue` when nothing is latched or the sequence is not current.
    pub async fn ack(&self, unit: u8, vote_seq: u16) -> Result<(), KeypadError> {
        self.call(|reply| Cmd::Ack {
            unit,
            seq: vote_seq,
            reply,
        })
        .await?
    }

    /// Blinks the keypad's LEDs for 10 s.
    pub async fn identify(&self, unit: u8) -> Result<(), KeypadError> {
        self.call(|reply| Cmd::Identify { unit, reply }).await?
    }

    /// Starts SELF_TEST (FAULTS is updated; voting state unchanged).
    pub async fn self_test(&self, unit: u8) -> Result<(), KeypadError> {
        self.call(|reply| Cmd::SelfTest { unit, reply }).await?
    }

    /// Reads the full block 0x0000..=0x0010 now.
    pub async fn info(&self, unit: u8) -> Result<KeypadInfo, KeypadError> {
        self.call(|reply| Cmd::Info { unit, reply }).await?
    }

    /// Health of every configured keypad, in configuration order.
    pub async fn health(&self) -> Vec<KeypadHealth> {
        self.call(|reply| Cmd::Health { reply })
            .await
            .unwrap_or_default()
    }

    /// Stops the task and closes the port.
    pub async fn shutdown(&self) {
        let _ = self.call(|reply| Cmd::Shutdown { reply }).await;
    }
}

const RTT_SAMPLES: usize = 512;

struct Unit {
    id: u8,
    /// When the bus started polling it.
    started: Instant,
    /// `Offline` was sent for a unit that has never answered since the bus started.
    silence_reported: bool,
    online: bool,
    since: DateTime<Utc>,
    last_ok: Option<Instant>,
    last_seen: Option<DateTime<Utc>>,
    next_due: Instant,
    next_full: Instant,
    next_counters: Instant,
    status: Option<KeypadStatus>,
    counters: Option<KeypadCounters>,
    info: Option<KeypadInfo>,
    latched_emitted: Option<(u32, u16, Instant)>,
    /// Where a successful ARM/DISARM/ACK put the keypad, until the next status read: what the
    /// next read is judged against (see [`Unit::believed`]).
    commanded: Option<KeypadStatus>,
    rtts: VecDeque<Duration>,
    responses: u64,
    polls: u64,
    timeouts: u64,
    crc_errors: u64,
    framing_errors: u64,
    garbage_bytes: u64,
    exceptions: u64,
    reboots_seen: u64,
    ignored_presses: u64,
    last_error: Option<String>,
    /// Consecutive failed polls.
    fails: u32,
}

impl Unit {
    fn new(id: u8, now: Instant) -> Self {
        Unit {
            id,
            started: now,
            silence_reported: false,
            online: false,
            since: Utc::now(),
            last_ok: None,
            last_seen: None,
            next_due: now,
            next_full: now,
            next_counters: now,
            status: None,
            counters: None,
            info: None,
            latched_emitted: None,
            commanded: None,
            rtts: VecDeque::with_capacity(RTT_SAMPLES),
            responses: 0,
            polls: 0,
            timeouts: 0,
            crc_errors: 0,
            framing_errors: 0,
            garbage_bytes: 0,
            exceptions: 0,
            reboots_seen: 0,
            ignored_presses: 0,
            last_error: None,
            fails: 0,
        }
    }

    /// What the bus believes the keypad is doing now: the effect of the last command if one
    /// succeeded since the last status read, else the last status read.
    fn believed(&self) -> Option<KeypadStatus> {
        self.commanded.or(self.status)
    }

    /// True when status `s`, just read, cannot be explained by the keypad's own rules or by
    /// our commands, so that it may be a reboot: the keypad went IDLE from ARMED/REASON/LATCHED
    /// although we sent no ACK/DISARM and the ARMED window was not at its end, or VOTE_SEQ
    /// moved outside LATCHED (it starts at 0 on boot).
    fn looks_like_reboot(&self, s: &KeypadStatus) -> bool {
        let Some(p) = self.believed() else {
            return false;
        };
        let unexpected_idle = p.state != KeypadState::Idle
            && s.state == KeypadState::Idle
            && !(p.state == KeypadState::Armed && p.window_left_s <= 1);
        let seq_moved = s.vote_seq != p.vote_seq && s.state != KeypadState::Latched;
        unexpected_idle || seq_moved
    }

    /// Records the effect of a command the keypad accepted, by the spec, so that the next
    /// status read is judged against it: after ACK/DISARM an IDLE is expected; after ARM the
    /// new session runs with its whole window (an IDLE next is not the end of the old window).
    fn command_done(&mut self, op: Op) {
        let Some(b) = self.believed() else {
            // never read: the next read is the full block, with the counters
            return;
        };
        let (state, token, window_left_s) = match op {
            Op::Arm(token, window_s, _) => (KeypadState::Armed, token, window_s),
            Op::Ack(_) | Op::Disarm => (KeypadState::Idle, 0, 0),
            Op::Identify | Op::SelfTest | Op::Info => return,
        };
        // VOTE_SEQ does not move on ARM, ACK or DISARM
        self.commanded = Some(KeypadStatus {
            state,
            token,
            face: None,
            reason: 0,
            window_left_s,
            ..b
        });
    }

    fn health(&self) -> KeypadHealth {
        let mut v: Vec<Duration> = self.rtts.iter().copied().collect();
        v.sort();
        let pct = |p: f64| -> Option<Duration> {
            if v.is_empty() {
                None
            } else {
                let i = ((v.len() as f64 - 1.0) * p).round() as usize;
                v.get(i).copied()
            }
        };
        KeypadHealth {
            unit: self.id,
            online: self.online,
            since: self.since,
            last_seen: self.last_seen,
            last_status: self.status,
            rtt_median: pct(0.5),
            rtt_p99: pct(0.99),
            responses: self.responses,
            polls: self.polls,
            timeouts: self.timeouts,
            crc_errors: self.crc_errors,
            framing_errors: self.framing_errors,
            garbage_bytes: self.garbage_bytes,
            exceptions: self.exceptions,
            reboots_seen: self.reboots_seen,
            faults: self.counters.map_or(0, |c| c.faults),
            ignored_presses: self.ignored_presses,
            boot_count: self.counters.map(|c| c.boot_count),
            firmware: self.info.map(|i| i.firmware),
            serial_no: self.info.map(|i| i.serial_no),
            last_error: self.last_error.clone(),
        }
    }
}

struct BusTask {
    cfg: BusConfig,
    units: Vec<Unit>,
    events: mpsc::Sender<BusEvent>,
    master: Option<Master<tokio_serial::SerialStream>>,
    next_open: Instant,
}

enum Read {
    Full(KeypadInfo),
    StatusCounters(KeypadStatus, KeypadCounters),
    Status(KeypadStatus),
}

impl BusTask {
    fn new(cfg: BusConfig, events: mpsc::Sender<BusEvent>) -> Self {
        let now = Instant::now();
        let mut ids: Vec<u8> = Vec::new();
        for u in &cfg.units {
            if !ids.contains(u) {
                ids.push(*u);
            }
        }
        let units = ids.iter().map(|u| Unit::new(*u, now)).collect();
        BusTask {
            cfg,
            units,
            events,
            master: None,
            next_open: now,
        }
    }

    async fn emit(&self, ev: BusEvent) {
        tracing::debug!(?ev, "bus event");
        let _ = self.events.send(ev).await;
    }

    fn try_open(&mut self) {
        let now = Instant::now();
        if self.master.is_some() || now < self.next_open {
            return;
        }
        match open_port(&self.cfg.port, self.cfg.baud) {
            Ok(port) => {
                tracing::info!(port = %self.cfg.port.display(), baud = self.cfg.baud, "serial port open");
                let mut m = Master::new(port, self.cfg.baud, self.cfg.timing.request_timeout);
                if let Some(g) = self.cfg.timing.inter_frame_gap {
                    m.set_inter_frame_gap(g);
                }
                self.master = Some(m);
                // a (re)opened port may be another adapter or a replugged bus: read the full
                // block of every unit again (BOOT_COUNT, serial number)
                for u in &mut self.units {
                    u.next_due = now;
                    u.next_full = now;
                }
            }
            Err(e) => {
                tracing::debug!(error = %e, "cannot open the serial port");
                for u in &mut self.units {
                    u.last_error = Some(e.to_string());
                }
                self.next_open = now + self.cfg.timing.reopen_interval;
            }
        }
    }

    fn close_port(&mut self, why: &KeypadError) {
        tracing::warn!(port = %self.cfg.port.display(), error = %why, "serial port failed; reopening");
        self.master = None;
        self.next_open = Instant::now() + self.cfg.timing.reopen_interval;
    }

    async fn run(mut self, mut rx: mpsc::Receiver<Cmd>) {
        loop {
            self.try_open();
            // commands first
            while let Ok(cmd) = rx.try_recv() {
                if self.exec(cmd).await {
                    return;
                }
            }
            self.check_offline().await;
            let now = Instant::now();
            let wake = if self.master.is_none() {
                self.next_open
            } else {
                self.units
                    .iter()
                    .map(|u| u.next_due)
                    .min()
                    .unwrap_or(now + Duration::from_secs(1))
            };
            if wake > now {
                tokio::select! {
                    c = rx.recv() => match c {
                        Some(cmd) => if self.exec(cmd).await { return; },
                        None => return,
                    },
                    _ = tokio::time::sleep_until(wake) => {}
                }
                continue;
            }
            if self.master.is_none() {
                continue;
            }
            // most overdue unit
            let Some(idx) = (0..self.units.len()).min_by_key(|i| self.units[*i].next_due) else {
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            };
            self.poll(idx).await;
        }
    }

    /// Marks units offline when they have not been heard from for `offline_after`
    /// (also while the port is closed).
    async fn check_offline(&mut self) {
        let now = Instant::now();
        let after = self.cfg.timing.offline_after;
        let mut evs = Vec::new();
        for u in &mut self.units {
            // Never answered since the bus started: say so once, as for one that stopped.
            if !u.online
                && u.last_ok.is_none()
                && !u.silence_reported
                && now.duration_since(u.started) >= after
            {
                u.silence_reported = true;
                evs.push(BusEvent::Offline {
                    unit: u.id,
                    since: u.since,
                });
                continue;
            }
            if u.online && u.last_ok.is_none_or(|t| now.duration_since(t) >= after) {
                u.online = false;
                u.since = Utc::now();
                u.next_due = u.next_due.min(now + self.cfg.timing.offline_poll_interval);
                evs.push(BusEvent::Offline {
                    unit: u.id,
                    since: u.since,
                });
            }
        }
        for e in evs {
            self.emit(e).await;
        }
    }

    /// Attributes the link counters of one exchange to the unit.
    fn account(
        &mut self,
        idx: usize,
        before: LinkStats,
        started: Instant,
        res: Result<(), &KeypadError>,
    ) {
        let after = self.master.as_ref().map(|m| m.stats()).unwrap_or(before);
        let u = &mut self.units[idx];
        u.timeouts += after.timeouts - before.timeouts;
        u.crc_errors += after.crc_errors - before.crc_errors;
        u.framing_errors += after.framing_errors - before.framing_errors;
        u.garbage_bytes += after.garbage_bytes - before.garbage_bytes;
        u.exceptions += after.exceptions - before.exceptions;
        let answered = after.responses > before.responses;
        if answered {
            u.responses += 1;
            u.last_ok = Some(Instant::now());
            u.last_seen = Some(Utc::now());
            if u.rtts.len() == RTT_SAMPLES {
                u.rtts.pop_front();
            }
            u.rtts.push_back(started.elapsed());
        }
        u.last_error = res.err().map(|e| e.to_string());
    }

    /// One poll of a unit. Normally the status block 0x0002..=0x0008 alone (7 registers), in a
    /// session or not; the full block 0x0000..=0x0010 when the unit is not online or the health
    /// read is due (`full_read_interval`); status and counters 0x0002..=0x000E together when
    /// the counters are due (`counters_interval`). When a status-only read looks like a reboot
    /// ([`Unit::looks_like_reboot`]) the counters (BOOT_COUNT) are read at once, in the same
    /// poll and before that status is reported, so that `Rebooted` always comes before the
    /// `StateChanged` the reboot caused.
    async fn poll(&mut self, idx: usize) {
        let now = Instant::now();
        let t = self.cfg.timing.clone();
        let (id, online, full_due, counters_due) = {
            let u = &self.units[idx];
            (u.id, u.online, now >= u.next_full, now >= u.next_counters)
        };
        let Some(m) = self.master.as_mut() else {
            return;
        };
        let before = m.stats();
        let started = Instant::now();
        let res = if !online || full_due {
            m.identify(id).await.map(Read::Full)
        } else if counters_due {
            m.status_and_counters(id)
                .await
                .map(|(s, c)| Read::StatusCounters(s, c))
        } else {
            m.status(id).await.map(Read::Status)
        };
        self.account(idx, before, started, res.as_ref().map(|_| ()));
        let read = match res {
            Ok(read) => read,
            Err(e) => {
                self.poll_failed(idx, now, e);
                return;
            }
        };
        let u = &mut self.units[idx];
        u.next_due = now + t.poll_interval;
        u.polls += 1;
        u.fails = 0;
        match read {
            Read::Full(info) => {
                u.next_full = now + t.full_read_interval;
                u.next_counters = now + t.counters_interval;
                let was_online = u.online;
                u.info = Some(info);
                if !was_online {
                    u.online = true;
                    u.since = Utc::now();
                    self.emit(BusEvent::Online {
                        unit: id,
                        ident: info,
                    })
                    .await;
                }
                self.on_counters(idx, info.counters).await;
                self.on_status(idx, info.status).await;
            }
            Read::StatusCounters(s, c) => {
                u.next_counters = now + t.counters_interval;
                self.on_counters(idx, c).await;
                self.on_status(idx, s).await;
            }
            Read::Status(s) => {
                if u.looks_like_reboot(&s) {
                    // possibly a reboot: BOOT_COUNT decides, before this status is reported
                    tracing::debug!(unit = id, status = ?s, "unexpected status: reading counters");
                    match self.read_counters(idx).await {
                        Ok(c) => {
                            self.units[idx].next_counters = now + t.counters_interval;
                            self.on_counters(idx, c).await;
                        }
                        Err(e) => {
                            // the status is not reported (nor remembered): the next poll reads
                            // it again and asks the counters again
                            self.poll_failed(idx, now, e);
                            return;
                        }
                    }
                }
                self.on_status(idx, s).await;
            }
        }
    }

    /// Reads the counters block 0x0009..=0x000E of a unit (one exchange, accounted).
    async fn read_counters(&mut self, idx: usize) -> Result<KeypadCounters, KeypadError> {
        let id = self.units[idx].id;
        let Some(m) = self.master.as_mut() else {
            return Err(KeypadError::PortClosed);
        };
        let before = m.stats();
        let started = Instant::now();
        let res = m.counters(id).await;
        self.account(idx, before, started, res.as_ref().map(|_| ()));
        res
    }

    /// Schedules the next poll of a unit whose poll failed (or closes a failed port).
    fn poll_failed(&mut self, idx: usize, now: Instant, e: KeypadError) {
        if e.is_port_failure() {
            self.close_port(&e);
            return;
        }
        let t = &self.cfg.timing;
        let u = &mut self.units[idx];
        u.fails += 1;
        if e.is_exception()
            || matches!(
                e,
                KeypadError::NotAFaceKeypad { .. } | KeypadError::InvalidRegister { .. }
            )
        {
            // it answers, but not as an FK-3 should: keep it offline, poll slowly
            tracing::warn!(unit = u.id, error = %e, "unexpected answer");
            u.next_due = now + t.offline_poll_interval;
        } else if u.online && u.fails == 1 {
            // one retry soon; after that back off at once, so that a dying unit's
            // timeouts do not eat the bus time of the others while it goes offline
            // (offline is decided on time since last answer, not on polls)
            u.next_due = now + t.retry_interval.max(t.poll_interval);
        } else {
            u.next_due = now + t.offline_poll_interval;
        }
        tracing::debug!(unit = u.id, error = %e, "poll failed");
    }

    /// Counters just read. Runs before [`Self::on_status`] of the status read with them (or
    /// just before them), so that `Rebooted` names the session believed before the reboot and
    /// comes before the `StateChanged` the reboot caused.
    async fn on_counters(&mut self, idx: usize, c: KeypadCounters) {
        let u = &mut self.units[idx];
        let id = u.id;
        let prev = u.counters.replace(c);
        let mut evs = Vec::new();
        if let Some(p) = prev {
            let rebooted = p.boot_count != c.boot_count;
            if rebooted {
                u.reboots_seen += 1;
                let lost = u
                    .believed()
                    .filter(|s| s.state != KeypadState::Idle && s.token != 0)
                    .map(|s| s.token);
                evs.push(BusEvent::Rebooted {
                    unit: id,
                    boot_count: c.boot_count,
                    lost_token: lost,
                });
                // the old latch (if any) is gone with the reboot
                u.latched_emitted = None;
            }
            let delta = if rebooted {
                c.presses_ignored
            } else {
                c.presses_ignored.wrapping_sub(p.presses_ignored)
            };
            if delta > 0 {
                u.ignored_presses += u64::from(delta);
                evs.push(BusEvent::IgnoredPresses { unit: id, delta });
            }
        }
        for e in evs {
            self.emit(e).await;
        }
    }

    /// Status just read (after the counters read with it, if any).
    async fn on_status(&mut self, idx: usize, s: KeypadStatus) {
        let now = Instant::now();
        let repeat = self.cfg.timing.latched_repeat;
        let u = &mut self.units[idx];
        let id = u.id;
        let prev = u.status.replace(s);
        u.commanded = None;
        let mut evs = Vec::new();
        let changed = prev.is_none_or(|p| p.state != s.state || p.token != s.token);
        if changed {
            evs.push(BusEvent::StateChanged {
                unit: id,
                state: s.state,
                token: s.token,
                window_left_s: s.window_left_s,
            });
        }
        if s.state == KeypadState::Latched {
            if let Some(face) = s.face {
                let due = match u.latched_emitted {
                    Some((tok, seq, at)) if tok == s.token && seq == s.vote_seq => {
                        now.duration_since(at) >= repeat
                    }
                    _ => true,
                };
                if due {
                    u.latched_emitted = Some((s.token, s.vote_seq, now));
                    evs.push(BusEvent::Latched {
                        unit: id,
                        token: s.token,
                        vote_seq: s.vote_seq,
                        face,
                        reason: s.reason,
                    });
                }
            }
        } else {
            u.latched_emitted = None;
        }
        for e in evs {
            self.emit(e).await;
        }
    }

    fn index(&self, unit: u8) -> Result<usize, KeypadError> {
        self.units
            .iter()
            .position(|u| u.id == unit)
            .ok_or(KeypadError::UnknownUnit(unit))
    }

    /// Runs one command on the wire. Returns true on shutdown.
    async fn exec(&mut self, cmd: Cmd) -> bool {
        match cmd {
            Cmd::Health { reply } => {
                let _ = reply.send(self.units.iter().map(|u| u.health()).collect());
            }
            Cmd::Shutdown { reply } => {
                self.master = None;
                let _ = reply.send(());
                return true;
            }
            Cmd::Arm {
                unit,
                token,
                window_s,
                reason_window_s,
                reply,
            } => {
                let r = self
                    .wire(unit, Op::Arm(token, window_s, reason_window_s))
                    .await;
                let _ = reply.send(r.map(|_| ()));
            }
            Cmd::Disarm { unit, reply } => {
                let r = self.wire(unit, Op::Disarm).await;
                let _ = reply.send(r.map(|_| ()));
            }
            Cmd::Ack { unit, seq, reply } => {
                let r = self.wire(unit, Op::Ack(seq)).await;
                let _ = reply.send(r.map(|_| ()));
            }
            Cmd::Identify { unit, reply } => {
                let r = self.wire(unit, Op::Identify).await;
                let _ = reply.send(r.map(|_| ()));
            }
            Cmd::SelfTest { unit, reply } => {
                let r = self.wire(unit, Op::SelfTest).await;
                let _ = reply.send(r.map(|_| ()));
            }
            Cmd::Info { unit, reply } => {
                let r = self.wire(unit, Op::Info).await;
                let _ = reply.send(r.and_then(|i| i.ok_or(KeypadError::BusStopped)));
            }
        }
        false
    }

    async fn wire(&mut self, unit: u8, op: Op) -> Result<Option<KeypadInfo>, KeypadError> {
        let idx = self.index(unit)?;
        self.try_open();
        let Some(m) = self.master.as_mut() else {
            return Err(KeypadError::PortClosed);
        };
        let before = m.stats();
        let started = Instant::now();
        let res = match op {
            Op::Arm(t, w, r) => m.arm(unit, t, w, r).await.map(|_| None),
            Op::Disarm => m.disarm(unit).await.map(|_| None),
            Op::Ack(seq) => m.ack(unit, seq).await.map(|_| None),
            Op::Identify => m.identify_blink(unit).await.map(|_| None),
            Op::SelfTest => m.self_test(unit).await.map(|_| None),
            Op::Info => m.identify(unit).await.map(Some),
        };
        self.account(idx, before, started, res.as_ref().map(|_| ()));
        match &res {
            Ok(_) => {
                let u = &mut self.units[idx];
                u.command_done(op);
                // see the effect at the next poll right away
                u.next_due = Instant::now();
            }
            Err(e) if e.is_port_failure() => {
                let e2 = KeypadError::Io(std::io::Error::other(e.to_string()));
                self.close_port(&e2);
            }
            Err(_) => {}
        }
        res
    }
}

#[derive(Clone, Copy)]
enum Op {
    Arm(u32, u16, u16),
    Disarm,
    Ack(u16),
    Identify,
    SelfTest,
    Info,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status(state: KeypadState, token: u32, vote_seq: u16, window_left_s: u16) -> KeypadStatus {
        KeypadStatus {
            state,
            token,
            vote_seq,
            face: (state == KeypadState::Latched).then_some(Face::Green),
            reason: 0,
            window_left_s,
        }
    }

    fn unit_with(s: KeypadStatus) -> Unit {
        let mut u = Unit::new(1, Instant::now());
        u.status = Some(s);
        u
    }

    const IDLE: KeypadStatus = KeypadStatus {
        state: KeypadState::Idle,
        token: 0,
        vote_seq: 3,
        face: None,
        reason: 0,
        window_left_s: 0,
    };

    #[test]
    fn idle_out_of_a_session_is_suspect_unless_explained() {
        for st in [
            KeypadState::Armed,
            KeypadState::Reason,
            KeypadState::Latched,
        ] {
            let u = unit_with(status(st, 9, 3, 20));
            assert!(u.looks_like_reboot(&IDLE), "{st:?}");
        }
        // the ARMED window at its end
        let u = unit_with(status(KeypadState::Armed, 9, 3, 1));
        assert!(!u.looks_like_reboot(&IDLE));
        // REASON at its end latches, it never goes IDLE by itself
        let u = unit_with(status(KeypadState::Reason, 9, 3, 1));
        assert!(u.looks_like_reboot(&IDLE));
        // IDLE to IDLE, same sequence
        let u = unit_with(IDLE);
        assert!(!u.looks_like_reboot(&IDLE));
        // nothing read yet
        let u = Unit::new(1, Instant::now());
        assert!(!u.looks_like_reboot(&IDLE));
    }

    #[test]
    fn vote_seq_moving_outside_latched_is_suspect() {
        let u = unit_with(IDLE);
        assert!(u.looks_like_reboot(&status(KeypadState::Idle, 0, 0, 0)));
        assert!(u.looks_like_reboot(&status(KeypadState::Armed, 5, 0, 30)));
        // a new latch moves it forward, in LATCHED
        let u = unit_with(status(KeypadState::Armed, 5, 3, 30));
        assert!(!u.looks_like_reboot(&status(KeypadState::Latched, 5, 4, 0)));
    }

    #[test]
    fn commands_set_what_the_next_read_is_judged_against() {
        // ACK and DISARM: the IDLE that follows is ours
        let mut u = unit_with(status(KeypadState::Latched, 9, 3, 0));
        u.command_done(Op::Ack(3));
        assert!(!u.looks_like_reboot(&IDLE));
        let mut u = unit_with(status(KeypadState::Armed, 9, 3, 20));
        u.command_done(Op::Disarm);
        assert!(!u.looks_like_reboot(&IDLE));
        // ACK then ARM before a read: an IDLE next is not ours any more
        let mut u = unit_with(status(KeypadState::Latched, 9, 3, 0));
        u.command_done(Op::Ack(3));
        u.command_done(Op::Arm(10, 30, 0));
        assert!(u.looks_like_reboot(&IDLE));
        assert_eq!(u.believed().map(|b| b.token), Some(10));
        // re-ARM at the very end of the old window: the new window is whole
        let mut u = unit_with(status(KeypadState::Armed, 9, 3, 1));
        u.command_done(Op::Arm(10, 30, 0));
        assert!(u.looks_like_reboot(&IDLE));
        // commands without a voting effect change nothing
        let mut u = unit_with(status(KeypadState::Armed, 9, 3, 20));
        u.command_done(Op::Identify);
        u.command_done(Op::SelfTest);
        u.command_done(Op::Info);
        assert_eq!(u.commanded, None);
        assert!(u.looks_like_reboot(&IDLE));
    }
}
