//! FK-3 simulator: one or several keypads on a pseudo-terminal, answering as Modbus RTU slaves.
//!
//! [`Simulator::start`] opens a pty pair, points a symlink of the caller's choice at the slave
//! side (the path a master opens, like `/dev/ttyUSB0`), and serves every configured unit id on it
//! like an RS-485 bus. Keys are pressed from code with [`SimHandle::press`], or with text
//! commands ([`SimHandle::command`]) from stdin or a control socket ([`serve_control`]).
//! Faults can be injected per unit ([`Fault`]), the port can be "unplugged" and "replugged"
//! ([`SimHandle::unplug`]/[`SimHandle::replug`]), and with `pace` the answers are timed as on a
//! real wire at the configured baud rate (request, 3.5-character silence, response).
//! Latched and acknowledged votes go to an in-memory list and optionally a JSON-lines file.
//! The requests the bus receives can be watched with [`SimHandle::watch_requests`] (what a
//! master reads and writes, for tests).
//! Every change of a unit's state or session token made by a master's request (ARM, DISARM,
//! ACK) is kept with the moment the keypad took it ([`SimHandle::transitions`], control command
//! `transitions [FROM]`), so tests can see when a keypad lit up and went dark.

pub mod fk3;

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde::Serialize;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::mpsc;
use tokio_serial::SerialPort;

pub use fk3::{Fk3, Fk3Event, Key};

use crate::regs::{baud_code, baud_from_code, faults, input, Face, KeypadState};
use crate::rtu;

/// Errors of the simulator.
#[derive(Debug, thiserror::Error)]
pub enum SimError {
    #[error("unit {0} is not simulated")]
    NoSuchUnit(u8),
    #[error("baud {0} is not one of 9600, 19200, 38400, 57600, 115200")]
    BadBaud(u32),
    #[error("cannot create the pseudo-terminal: {0}")]
    Pty(String),
    #[error("I/O: {0}")]
    Io(#[from] std::io::Error),
    #[error("the simulator has stopped")]
    Stopped,
    #[error("{0}")]
    BadCommand(String),
}

/// Communication fault injected on one unit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Fault {
    /// Answers normally.
    Ok,
    /// Never answers.
    Silent,
    /// Answers with random bytes.
    Garbage,
    /// Answers with a corrupted CRC.
    BadCrc,
}

/// Simulator settings.
#[derive(Debug, Clone)]
pub struct SimConfig {
    /// Unit ids on the bus.
    pub units: Vec<u8>,
    /// Symlink to create to the pty slave (replaced if it exists).
    pub link: PathBuf,
    /// Baud rate the keypads are set to (BAUD_CODE).
    pub baud: u32,
    /// Time answers as on a real wire at `baud`.
    pub pace: bool,
    /// JSON-lines file for latched/acked votes.
    pub vote_log: Option<PathBuf>,
    /// Ignore requests when the port's configured baud differs from the keypad's (as a real
    /// keypad would see only noise). Default true.
    pub check_baud: bool,
}

impl SimConfig {
    pub fn new(units: Vec<u8>, link: impl Into<PathBuf>) -> Self {
        SimConfig {
            units,
            link: link.into(),
            baud: 19200,
            pace: false,
            vote_log: None,
            check_baud: true,
        }
    }
}

/// A vote seen on the keypad side.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SimVote {
    /// "latched" or "acked".
    pub event: &'static str,
    pub unit: u8,
    pub token: u32,
    pub seq: u16,
    pub face: Face,
    pub reason: u8,
    pub time: chrono::DateTime<chrono::Utc>,
}

/// A change of a unit's state or session token made by a master's request (ARM, DISARM, ACK),
/// as the keypad saw it. Window expiry and presses are not master requests and are not listed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SimTransition {
    pub unit: u8,
    pub from: KeypadState,
    pub from_token: u32,
    pub to: KeypadState,
    pub to_token: u32,
    /// When the keypad took the request, in microseconds since the Unix epoch (wall clock).
    /// With `pace`, the moment the request's last byte arrives on the modelled wire.
    pub time_us: i64,
}

/// What a press found on the keypad: whether it counted, and the state and session token the
/// keypad had at the moment of the press.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct PressSeen {
    pub counted: bool,
    pub state: KeypadState,
    pub token: u32,
    /// When the press happened, in microseconds since the Unix epoch (wall clock).
    pub time_us: i64,
}

/// Counters of the slave side.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct SimStats {
    pub frames: u64,
    pub answered: u64,
    /// Bytes discarded because they did not form a valid request.
    pub garbage_bytes: u64,
    /// Requests ignored because the port baud did not match the keypad's.
    pub baud_mismatch: u64,
    pub bytes_rx: u64,
    pub bytes_tx: u64,
}

/// A CRC-valid request frame the simulated bus received, as seen by
/// [`SimHandle::watch_requests`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct SimRequest {
    /// Unit id addressed.
    pub unit: u8,
    pub function: u8,
    /// Start address (0x03, 0x04, 0x06, 0x10), else 0.
    pub addr: u16,
    /// Registers read or written: the quantity of 0x03/0x04/0x10, 1 for 0x06, else 0.
    pub count: u16,
    /// State of the addressed keypad when the request arrived (`None`: no such unit).
    pub state: Option<KeypadState>,
}

impl SimRequest {
    fn decode(frame: &[u8], state: Option<KeypadState>) -> Self {
        let word = |i: usize| match (frame.get(i), frame.get(i + 1)) {
            (Some(h), Some(l)) => u16::from_be_bytes([*h, *l]),
            _ => 0,
        };
        let function = frame.get(1).copied().unwrap_or(0);
        let (addr, count) = match function {
            0x03 | 0x04 | 0x10 => (word(2), word(4)),
            0x06 => (word(2), 1),
            _ => (0, 0),
        };
        SimRequest {
            unit: frame.first().copied().unwrap_or(0),
            function,
            addr,
            count,
            state,
        }
    }
}

/// Snapshot of one simulated unit.
#[derive(Debug, Clone, Serialize)]
pub struct SimUnitStatus {
    pub unit: u8,
    pub state: KeypadState,
    pub fault: Fault,
    pub requests: u64,
    pub boot_count: u16,
    pub identifying: bool,
    pub self_testing: bool,
}

struct SimUnit {
    kp: Fk3,
    fault: Fault,
    requests: u64,
}

struct SimState {
    units: Vec<SimUnit>,
    stats: SimStats,
    votes: Vec<SimVote>,
    vote_log: Option<std::fs::File>,
    rng: u64,
    requests: Option<mpsc::UnboundedSender<SimRequest>>,
    transitions: Vec<SimTransition>,
}

struct Shared {
    state: Mutex<SimState>,
    epoch: Instant,
    ctl: mpsc::UnboundedSender<Ctl>,
    link: PathBuf,
}

enum Ctl {
    Noise(Vec<u8>),
    Unplug,
    Replug,
    Shutdown,
}

/// Handle to a running simulator (cheap to clone).
#[derive(Clone)]
pub struct SimHandle {
    shared: Arc<Shared>,
}

/// A running simulator; dropping it does not stop it, call [`Simulator::shutdown`].
pub struct Simulator {
    handle: SimHandle,
    task: tokio::task::JoinHandle<()>,
}

fn lock(m: &Mutex<SimState>) -> std::sync::MutexGuard<'_, SimState> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Simulator {
    /// Creates the pty and symlink and starts serving. Must run inside a tokio runtime.
    pub async fn start(cfg: SimConfig) -> Result<Simulator, SimError> {
        let code = baud_code(cfg.baud).ok_or(SimError::BadBaud(cfg.baud))?;
        let epoch = Instant::now();
        let units = cfg
            .units
            .iter()
            .map(|u| SimUnit {
                kp: Fk3::new(*u, 0x00F0_0000 + u32::from(*u), 0).with_baud_code(code),
                fault: Fault::Ok,
                requests: 0,
            })
            .collect();
        let vote_log = match &cfg.vote_log {
            Some(p) => Some(
                std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(p)?,
            ),
            None => None,
        };
        let (ctl_tx, ctl_rx) = mpsc::unbounded_channel();
        let shared = Arc::new(Shared {
            state: Mutex::new(SimState {
                units,
                stats: SimStats::default(),
                votes: Vec::new(),
                vote_log,
                rng: 0x9E37_79B9_7F4A_7C15,
                requests: None,
                transitions: Vec::new(),
            }),
            epoch,
            ctl: ctl_tx,
            link: cfg.link.clone(),
        });
        // create the first pty now so the link exists when start() returns
        let pty = Pty::open(&cfg.link)?;
        let task = tokio::spawn(run(shared.clone(), cfg, pty, ctl_rx));
        Ok(Simulator {
            handle: SimHandle { shared },
            task,
        })
    }

    pub fn handle(&self) -> SimHandle {
        self.handle.clone()
    }

    /// Stops serving and removes the symlink.
    pub async fn shutdown(self) {
        let _ = self.handle.shared.ctl.send(Ctl::Shutdown);
        let _ = self.task.await;
    }
}

struct Pty {
    master: tokio_serial::SerialStream,
    slave: tokio_serial::SerialStream,
}

impl Pty {
    fn open(link: &Path) -> Result<Pty, SimError> {
        let (master, slave) =
            tokio_serial::SerialStream::pair().map_err(|e| SimError::Pty(e.to_string()))?;
        let name = slave
            .name()
            .ok_or_else(|| SimError::Pty("pty slave has no name".into()))?;
        match std::fs::remove_file(link) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(e.into()),
        }
        std::os::unix::fs::symlink(&name, link)?;
        tracing::info!(link = %link.display(), pty = %name, "simulated keypad bus ready");
        Ok(Pty { master, slave })
    }
}

impl SimHandle {
    fn now_ms(&self) -> u64 {
        self.shared.epoch.elapsed().as_millis() as u64
    }

    /// The symlink masters open.
    pub fn link(&self) -> &Path {
        &self.shared.link
    }

    fn with_unit<R>(
        &self,
        unit: u8,
        f: impl FnOnce(&mut SimUnit, u64) -> R,
    ) -> Result<R, SimError> {
        let now = self.now_ms();
        let mut st = lock(&self.shared.state);
        let r = {
            let u = st
                .units
                .iter_mut()
                .find(|u| u.kp.unit_id() == unit)
                .ok_or(SimError::NoSuchUnit(unit))?;
            f(u, now)
        };
        flush_events(&mut st);
        Ok(r)
    }

    /// Presses a key on `unit`; true when the press counted.
    pub fn press(&self, unit: u8, key: Key) -> Result<bool, SimError> {
        self.with_unit(unit, |u, now| u.kp.press(key, now))
    }

    /// Presses a key on `unit` and tells what the press found: the keypad's state and session
    /// token at that moment (read in the same step as the press).
    pub fn press_seen(&self, unit: u8, key: Key) -> Result<PressSeen, SimError> {
        self.with_unit(unit, |u, now| {
            let (state, token) = state_token(&mut u.kp, now);
            let time_us = chrono::Utc::now().timestamp_micros();
            let counted = u.kp.press(key, now);
            PressSeen {
                counted,
                state,
                token,
                time_us,
            }
        })
    }

    /// The state changes made by master requests, from the `from`-th on (0: all of them).
    pub fn transitions(&self, from: usize) -> Vec<SimTransition> {
        let st = lock(&self.shared.state);
        st.transitions.get(from..).unwrap_or_default().to_vec()
    }

    /// Injects a communication fault.
    pub fn set_fault(&self, unit: u8, fault: Fault) -> Result<(), SimError> {
        self.with_unit(unit, |u, _| u.fault = fault)
    }

    /// Injects hardware faults (FAULTS bit layout: stuck keys, LED).
    pub fn set_hw_faults(&self, unit: u8, bits: u16) -> Result<(), SimError> {
        self.with_unit(unit, |u, _| u.kp.set_hw_faults(bits))
    }

    /// Power-cycles a unit (all voting state lost, BOOT_COUNT + 1).
    pub fn reboot(&self, unit: u8) -> Result<(), SimError> {
        self.with_unit(unit, |u, now| u.kp.reboot(now))
    }

    /// Runs a closure on a unit's state machine (for tests).
    pub fn with_keypad<R>(
        &self,
        unit: u8,
        f: impl FnOnce(&mut Fk3, u64) -> R,
    ) -> Result<R, SimError> {
        self.with_unit(unit, |u, now| f(&mut u.kp, now))
    }

    /// Requests received per unit (answered or not).
    pub fn status(&self) -> Vec<SimUnitStatus> {
        let now = self.now_ms();
        let mut st = lock(&self.shared.state);
        let v = st
            .units
            .iter_mut()
            .map(|u| SimUnitStatus {
                unit: u.kp.unit_id(),
                state: u.kp.state(now),
                fault: u.fault,
                requests: u.requests,
                boot_count: u.kp.boot_count,
                identifying: u.kp.identifying(now),
                self_testing: u.kp.self_testing(now),
            })
            .collect();
        flush_events(&mut st);
        v
    }

    pub fn stats(&self) -> SimStats {
        lock(&self.shared.state).stats
    }

    /// Every vote latched or acknowledged so far.
    pub fn votes(&self) -> Vec<SimVote> {
        let mut st = lock(&self.shared.state);
        let now = self.now_ms();
        for u in st.units.iter_mut() {
            u.kp.advance(now);
        }
        flush_events(&mut st);
        st.votes.clone()
    }

    /// Sends every CRC-valid request frame received from now on (answered or not) to the
    /// returned receiver, until it is dropped or this is called again.
    pub fn watch_requests(&self) -> mpsc::UnboundedReceiver<SimRequest> {
        let (tx, rx) = mpsc::unbounded_channel();
        lock(&self.shared.state).requests = Some(tx);
        rx
    }

    /// Writes raw bytes on the line towards the master (noise, truncated frames), between
    /// answers.
    pub fn inject(&self, bytes: Vec<u8>) {
        let _ = self.shared.ctl.send(Ctl::Noise(bytes));
    }

    /// Closes the pty and removes the link, as a USB unplug.
    pub fn unplug(&self) {
        let _ = self.shared.ctl.send(Ctl::Unplug);
    }

    /// Creates a new pty behind the same link, as a USB replug.
    pub fn replug(&self) {
        let _ = self.shared.ctl.send(Ctl::Replug);
    }

    /// Runs one text command and returns the answer (control socket and stdin):
    /// `press U green|yellow|red|reason N`, `press-seen U KEY` (answers `OK counted|ignored
    /// STATE TOKEN TIME_US`: what the press found), `fault U silent|garbage|badcrc|stuck [KEY]|
    /// led|brownout|reboot|ok`, `status`, `votes`, `transitions [FROM]` (answers `OK N`, then N
    /// JSON lines), `unplug`, `replug`, `help`.
    pub fn command(&self, line: &str) -> String {
        match self.command_inner(line) {
            Ok(s) => s,
            Err(e) => format!("ERR {e}"),
        }
    }

    fn command_inner(&self, line: &str) -> Result<String, SimError> {
        let words: Vec<&str> = line.split_whitespace().collect();
        let bad = |m: &str| SimError::BadCommand(m.to_string());
        let unit = |i: usize| -> Result<u8, SimError> {
            words
                .get(i)
                .and_then(|w| w.parse::<u8>().ok())
                .ok_or_else(|| bad("expected a unit id"))
        };
        match words.first().copied() {
            None => Ok(String::new()),
            Some("help") => Ok("press U green|yellow|red|reason N; press-seen U KEY; transitions [FROM]; fault U silent|garbage|badcrc|stuck [green|yellow|red|reason]|led|brownout|reboot|ok; noise [N]; status; votes; unplug; replug".into()),
            Some("press") => {
                let u = unit(1)?;
                let key: Key = words[2..].join(" ").parse().map_err(SimError::BadCommand)?;
                let counted = self.press(u, key)?;
                Ok(format!("OK {}", if counted { "counted" } else { "ignored" }))
            }
            Some("press-seen") => {
                let u = unit(1)?;
                let key: Key = words[2..].join(" ").parse().map_err(SimError::BadCommand)?;
                let p = self.press_seen(u, key)?;
                Ok(format!(
                    "OK {} {} {} {}",
                    if p.counted { "counted" } else { "ignored" },
                    p.state.name(),
                    p.token,
                    p.time_us
                ))
            }
            Some("transitions") => {
                let from = match words.get(1) {
                    Some(w) => w.parse::<usize>().map_err(|_| bad("transitions [FROM]"))?,
                    None => 0,
                };
                let list = self.transitions(from);
                let mut out = vec![format!("OK {}", list.len())];
                out.extend(list.iter().map(|t| serde_json::to_string(t).unwrap_or_default()));
                Ok(out.join("\n"))
            }
            Some("fault") => {
                let u = unit(1)?;
                match words.get(2).copied() {
                    Some("silent") => self.set_fault(u, Fault::Silent)?,
                    Some("garbage") => self.set_fault(u, Fault::Garbage)?,
                    Some("badcrc") => self.set_fault(u, Fault::BadCrc)?,
                    Some("reboot") => self.reboot(u)?,
                    Some("brownout") => self.with_keypad(u, |k, _| k.brown_out())?,
                    Some("led") => self.with_unit(u, |x, _| x.kp.set_hw_faults(faults::LED))?,
                    Some("stuck") => {
                        let bit = match words.get(3).copied().unwrap_or("green") {
                            "green" | "verde" => faults::GREEN_STUCK,
                            "yellow" | "giallo" => faults::YELLOW_STUCK,
                            "red" | "rosso" => faults::RED_STUCK,
                            "reason" | "motivo" => faults::REASON_STUCK,
                            o => return Err(bad(&format!("unknown key {o}"))),
                        };
                        self.set_hw_faults(u, bit)?
                    }
                    Some("ok") => {
                        self.set_fault(u, Fault::Ok)?;
                        self.set_hw_faults(u, 0)?
                    }
                    _ => return Err(bad("fault U silent|garbage|badcrc|stuck [KEY]|led|brownout|reboot|ok")),
                }
                Ok("OK".into())
            }
            Some("status") => {
                let lines: Vec<String> = self
                    .status()
                    .iter()
                    .map(|s| {
                        format!(
                            "unit {} {} fault {:?} requests {} boots {}{}{}",
                            s.unit,
                            s.state.name(),
                            s.fault,
                            s.requests,
                            s.boot_count,
                            if s.identifying { " IDENTIFY" } else { "" },
                            if s.self_testing { " SELF-TEST" } else { "" }
                        )
                    })
                    .collect();
                Ok(lines.join("\n"))
            }
            Some("votes") => Ok(self
                .votes()
                .iter()
                .map(|v| serde_json::to_string(v).unwrap_or_default())
                .collect::<Vec<_>>()
                .join("\n")),
            Some("noise") => {
                let n: usize = words.get(1).and_then(|w| w.parse().ok()).unwrap_or(16).min(4096);
                let mut st = lock(&self.shared.state);
                let bytes: Vec<u8> = (0..n).map(|_| next_rand(&mut st) as u8).collect();
                drop(st);
                self.inject(bytes);
                Ok("OK".into())
            }
            Some("unplug") => {
                self.unplug();
                Ok("OK".into())
            }
            Some("replug") => {
                self.replug();
                Ok("OK".into())
            }
            Some(o) => Err(bad(&format!("unknown command {o:?} (try help)"))),
        }
    }
}

fn flush_events(st: &mut SimState) {
    let mut new = Vec::new();
    for u in st.units.iter_mut() {
        let unit = u.kp.unit_id();
        for ev in u.kp.take_events() {
            let (event, token, seq, face, reason) = match ev {
                Fk3Event::Latched {
                    token,
                    seq,
                    face,
                    reason,
                } => ("latched", token, seq, face, reason),
                Fk3Event::Acked {
                    token,
                    seq,
                    face,
                    reason,
                } => ("acked", token, seq, face, reason),
                Fk3Event::Rebooted { .. } => continue,
            };
            new.push(SimVote {
                event,
                unit,
                token,
                seq,
                face,
                reason,
                time: chrono::Utc::now(),
            });
        }
    }
    for v in new {
        if let Some(f) = st.vote_log.as_mut() {
            if let Ok(line) = serde_json::to_string(&v) {
                if let Err(e) = writeln!(f, "{line}") {
                    tracing::warn!(error = %e, "cannot write the vote log");
                }
            }
        }
        st.votes.push(v);
    }
}

/// Serves the simulator's text commands on a TCP address (e.g. `127.0.0.1:7070`), one command
/// per line, one answer per command (multi-line answers end with an empty line).
pub async fn serve_control(
    handle: SimHandle,
    addr: &str,
) -> Result<tokio::task::JoinHandle<()>, SimError> {
    let listener = tokio::net::TcpListener::bind(addr).await?;
    tracing::info!(addr, "simulator control socket listening");
    Ok(tokio::spawn(async move {
        loop {
            let Ok((sock, peer)) = listener.accept().await else {
                continue;
            };
            let h = handle.clone();
            tokio::spawn(async move {
                let (r, mut w) = sock.into_split();
                let mut lines = tokio::io::BufReader::new(r);
                let mut line = String::new();
                loop {
                    line.clear();
                    match tokio::io::AsyncBufReadExt::read_line(&mut lines, &mut line).await {
                        Ok(0) | Err(_) => break,
                        Ok(_) => {
                            let answer = h.command(&line);
                            if w.write_all(format!("{answer}\n").as_bytes()).await.is_err() {
                                break;
                            }
                        }
                    }
                }
                tracing::debug!(%peer, "control connection closed");
            });
        }
    }))
}

/// Waits until `deadline` with sub-millisecond precision: a timer sleep for the bulk, then
/// yielding until the instant is reached (tokio timers have 1 ms granularity).
pub async fn precise_sleep_until(deadline: Instant) {
    let now = Instant::now();
    if deadline <= now {
        return;
    }
    if deadline - now > Duration::from_micros(1500) {
        tokio::time::sleep_until((deadline - Duration::from_micros(1500)).into()).await;
    }
    while Instant::now() < deadline {
        tokio::task::yield_now().await;
    }
}

async fn run(
    shared: Arc<Shared>,
    cfg: SimConfig,
    first: Pty,
    mut ctl: mpsc::UnboundedReceiver<Ctl>,
) {
    let mut pty = Some(first);
    loop {
        match pty.take() {
            Some(p) => match serve(&shared, &cfg, p, &mut ctl).await {
                Ctl::Shutdown => break,
                _ => {
                    let _ = std::fs::remove_file(&cfg.link);
                    tracing::info!("simulated bus unplugged");
                }
            },
            None => match ctl.recv().await {
                Some(Ctl::Replug) => match Pty::open(&cfg.link) {
                    Ok(p) => pty = Some(p),
                    Err(e) => tracing::error!(error = %e, "cannot recreate the pty"),
                },
                Some(Ctl::Unplug) | Some(Ctl::Noise(_)) => {}
                Some(Ctl::Shutdown) | None => break,
            },
        }
    }
    let _ = std::fs::remove_file(&cfg.link);
}

/// Serves one pty until unplugged or shut down. Returns the control message that ended it.
async fn serve(
    shared: &Shared,
    cfg: &SimConfig,
    mut pty: Pty,
    ctl: &mut mpsc::UnboundedReceiver<Ctl>,
) -> Ctl {
    let mut buf: Vec<u8> = Vec::with_capacity(512);
    let mut tmp = [0u8; 512];
    let silence = rtu::t35(cfg.baud).max(Duration::from_millis(5));
    let mut last_rx = Instant::now();
    let mut tick = tokio::time::interval(Duration::from_millis(100));
    // when the wire is next free (pacing model)
    let mut bus_free_at = Instant::now();
    loop {
        let silence_wait = if buf.is_empty() {
            Duration::from_secs(3600)
        } else {
            silence.saturating_sub(last_rx.elapsed())
        };
        tokio::select! {
            c = ctl.recv() => match c {
                Some(Ctl::Replug) => {}
                Some(Ctl::Noise(bytes)) => {
                    if let Err(e) = AsyncWriteExt::write_all(&mut pty.master, &bytes).await {
                        tracing::warn!(error = %e, "pty write failed");
                        return Ctl::Unplug;
                    }
                }
                Some(c) => return c,
                None => return Ctl::Shutdown,
            },
            _ = tick.tick() => {
                clear_exclusive(&pty.slave);
                let now = shared.epoch.elapsed().as_millis() as u64;
                let mut st = lock(&shared.state);
                for u in st.units.iter_mut() { u.kp.advance(now); }
                flush_events(&mut st);
            }
            _ = tokio::time::sleep(silence_wait) => {
                // a silence ends a frame: whatever could not be parsed is discarded, except a
                // CRC-valid frame of an unknown function, which gets exception 0x01
                if !buf.is_empty() {
                    let frame = std::mem::take(&mut buf);
                    if rtu::crc_ok(&frame) && frame.len() >= 4 {
                        if let Err(e) = answer(shared, cfg, &mut pty, &frame, last_rx, &mut bus_free_at).await {
                            tracing::warn!(error = %e, "pty write failed");
                            return Ctl::Unplug;
                        }
                    } else {
                        lock(&shared.state).stats.garbage_bytes += frame.len() as u64;
                    }
                }
            }
            r = AsyncReadExt::read(&mut pty.master, &mut tmp) => match r {
                Ok(0) => { tokio::time::sleep(Duration::from_millis(5)).await; }
                Ok(n) => {
                    let first_byte_at = if buf.is_empty() { Instant::now() } else { last_rx };
                    last_rx = Instant::now();
                    buf.extend_from_slice(&tmp[..n]);
                    lock(&shared.state).stats.bytes_rx += n as u64;
                    // parse as many complete frames as there are
                    loop {
                        match rtu::request_len(&buf) {
                            None => break,
                            Some(Err(())) => {
                                // unknown function: wait for the silence unless the buffer
                                // cannot be a frame of its own
                                if buf.len() > 256 { lock(&shared.state).stats.garbage_bytes += 1; buf.remove(0); continue; }
                                break;
                            }
                            Some(Ok(len)) => {
                                if buf.len() < len { break; }
                                if rtu::crc_ok(&buf[..len]) {
                                    let frame: Vec<u8> = buf.drain(..len).collect();
                                    if let Err(e) = answer(shared, cfg, &mut pty, &frame, first_byte_at, &mut bus_free_at).await {
                                        tracing::warn!(error = %e, "pty write failed");
                                        return Ctl::Unplug;
                                    }
                                } else {
                                    lock(&shared.state).stats.garbage_bytes += 1;
                                    buf.remove(0);
                                }
                            }
                        }
                    }
                }
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
                Err(e) => {
                    // EIO while no slave is open: wait for a master to open it
                    tracing::trace!(error = %e, "pty read");
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
            }
        }
    }
}

/// Clears TIOCEXCL on the pty. A master that opened the slave in exclusive mode (the default of
/// the serial crate) leaves the flag set after it closes, because the simulator keeps its own
/// slave descriptor open; without this a non-root master could not reopen the port (EBUSY).
fn clear_exclusive(slave: &tokio_serial::SerialStream) {
    use std::os::fd::AsRawFd;
    // SAFETY: TIOCNXCL takes no argument and only clears a flag of the tty behind a descriptor
    // this process owns for as long as `slave` lives.
    let r = unsafe { libc::ioctl(slave.as_raw_fd(), libc::TIOCNXCL) };
    if r != 0 {
        tracing::trace!(error = %std::io::Error::last_os_error(), "TIOCNXCL");
    }
}

/// The keypad's state and session token now.
fn state_token(kp: &mut Fk3, now: u64) -> (KeypadState, u32) {
    let state = kp.state(now);
    let reg = |kp: &mut Fk3, a| u32::from(kp.input_reg(a, now).unwrap_or(0));
    let token = (reg(kp, input::SESSION_TOKEN_HI) << 16) | reg(kp, input::SESSION_TOKEN_LO);
    (state, token)
}

fn next_rand(st: &mut SimState) -> u64 {
    st.rng ^= st.rng << 13;
    st.rng ^= st.rng >> 7;
    st.rng ^= st.rng << 17;
    st.rng
}

/// Handles one CRC-valid request frame and writes the answer (if any).
async fn answer(
    shared: &Shared,
    cfg: &SimConfig,
    pty: &mut Pty,
    frame: &[u8],
    rx_start: Instant,
    bus_free_at: &mut Instant,
) -> std::io::Result<()> {
    let addr = frame[0];
    let port_baud = pty.slave.baud_rate().ok();
    let now = shared.epoch.elapsed().as_millis() as u64;
    let (out, reboot_after, idx, unit_baud) = {
        let mut st = lock(&shared.state);
        st.stats.frames += 1;
        let pos = st.units.iter().position(|u| u.kp.unit_id() == addr);
        if st.requests.is_some() {
            let s = &mut *st;
            let state = pos
                .and_then(|i| s.units.get_mut(i))
                .map(|u| u.kp.state(now));
            let req = SimRequest::decode(frame, state);
            if s.requests.as_ref().is_some_and(|tx| tx.send(req).is_err()) {
                s.requests = None;
            }
        }
        let Some(idx) = pos else {
            return Ok(());
        };
        let unit_baud = baud_from_code(st.units[idx].kp.baud_code()).unwrap_or(19200);
        st.units[idx].requests += 1;
        if cfg.check_baud && port_baud.is_some_and(|b| b != unit_baud) {
            st.stats.baud_mismatch += 1;
            return Ok(());
        }
        let fault = st.units[idx].fault;
        if fault == Fault::Silent {
            return Ok(());
        }
        let before = state_token(&mut st.units[idx].kp, now);
        let reply = st.units[idx].kp.handle_pdu(&frame[1..frame.len() - 2], now);
        let after = state_token(&mut st.units[idx].kp, now);
        if before != after {
            // the moment the keypad has the whole request: now, or on the paced wire, when
            // its last byte arrives (as computed below for the answer)
            let took = if cfg.pace {
                let t35 = rtu::char_time(unit_baud) * 7 / 2;
                rx_start.max(*bus_free_at + t35) + rtu::wire_time(frame.len(), unit_baud)
            } else {
                Instant::now()
            };
            let ahead = took.saturating_duration_since(Instant::now()).as_micros() as i64;
            st.transitions.push(SimTransition {
                unit: addr,
                from: before.0,
                from_token: before.1,
                to: after.0,
                to_token: after.1,
                time_us: chrono::Utc::now().timestamp_micros() + ahead,
            });
        }
        flush_events(&mut st);
        let mut out = rtu::frame(addr, &reply.pdu);
        match fault {
            Fault::BadCrc => {
                let n = out.len();
                out[n - 1] ^= 0x5A;
            }
            Fault::Garbage => {
                let r = next_rand(&mut st);
                out = r.to_le_bytes()[..7].to_vec();
            }
            _ => {}
        }
        (out, reply.reboot_after, idx, unit_baud)
    };
    if cfg.pace {
        // the request occupied the wire after the previous frame plus t3.5, then t3.5 of
        // silence, then the response
        let t35 = rtu::char_time(unit_baud) * 7 / 2;
        let req_start = rx_start.max(*bus_free_at + t35);
        let req_end = req_start + rtu::wire_time(frame.len(), unit_baud);
        let resp_end = req_end + t35 + rtu::wire_time(out.len(), unit_baud);
        *bus_free_at = resp_end;
        precise_sleep_until(resp_end).await;
    }
    AsyncWriteExt::write_all(&mut pty.master, &out).await?;
    AsyncWriteExt::flush(&mut pty.master).await?;
    let mut st = lock(&shared.state);
    st.stats.answered += 1;
    st.stats.bytes_tx += out.len() as u64;
    if reboot_after {
        let now = shared.epoch.elapsed().as_millis() as u64;
        if let Some(u) = st.units.get_mut(idx) {
            u.kp.reboot(now);
        }
        flush_events(&mut st);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{open_port, Master};

    #[tokio::test]
    async fn transitions_and_press_seen() {
        let dir = tempfile::tempdir().expect("tempdir");
        let link = dir.path().join("kp");
        let mut cfg = SimConfig::new(vec![2], &link);
        cfg.pace = true;
        let sim = Simulator::start(cfg).await.expect("simulator");
        let h = sim.handle();
        let mut m = Master::new(
            open_port(&link, 19200).expect("open pty"),
            19200,
            Duration::from_millis(200),
        );
        assert!(h
            .command("press-seen 2 green")
            .starts_with("OK ignored IDLE 0 "));
        let before = chrono::Utc::now().timestamp_micros();
        m.arm(2, 0x0001_0002, 30, 0).await.expect("arm");
        m.disarm(2).await.expect("disarm");
        m.arm(2, 77, 30, 0).await.expect("arm");
        let p = h.press_seen(2, Key::Face(Face::Yellow)).expect("press");
        assert_eq!(
            (p.counted, p.state, p.token),
            (true, KeypadState::Armed, 77)
        );
        m.ack(2, 1).await.expect("ack");
        let t = h.transitions(0);
        let steps: Vec<_> = t.iter().map(|t| (t.from, t.to, t.to_token)).collect();
        use KeypadState::*;
        assert_eq!(
            steps,
            vec![
                (Idle, Armed, 0x0001_0002),
                (Armed, Idle, 0),
                (Idle, Armed, 77),
                (Latched, Idle, 0)
            ]
        );
        assert!(t.windows(2).all(|w| w[0].time_us <= w[1].time_us));
        assert!(t[0].time_us >= before);
        assert!(p.time_us >= t[2].time_us);
        assert_eq!(h.transitions(3).len(), 1);
        let answer = h.command("transitions 2");
        let lines: Vec<&str> = answer.lines().collect();
        assert_eq!(lines[0], "OK 2");
        let v: serde_json::Value = serde_json::from_str(lines[1]).expect("json");
        assert_eq!(
            (v["unit"].as_u64(), v["to"].as_str()),
            (Some(2), Some("Armed"))
        );
        assert_eq!(h.command("transitions 9"), "OK 0");
        sim.shutdown().await;
    }
}
