//! The technician's tool, mounted by the main binary as `faccia keypad ...`.
//!
//! Every subcommand writes to a generic writer ([`run_to`]) so it can be tested; [`run`] uses
//! stdout. Output is Italian by default, English with `--lang en`.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{anyhow, bail, Context as _};
use faccia_domain::Lang;
use tokio::sync::mpsc;

use crate::error::{KeypadError, OpenErrorKind};
use crate::master::{open_port, FrameRecord, Master};
use crate::ports;
use crate::regs::{
    baud_code, baud_from_code, fault_names, KeypadCounters, KeypadInfo, KeypadState, KeypadStatus,
    BAUD_RATES,
};
use crate::sim::{self, SimConfig, Simulator};

/// `faccia keypad ...`: diagnose and configure FK-3 face keypads.
#[derive(clap::Args, Debug, Clone)]
pub struct KeypadArgs {
    /// Output language: it (default) or en.
    #[arg(long, global = true, default_value = "it", env = "FACCIA_LANG")]
    pub lang: Lang,
    #[command(subcommand)]
    pub cmd: KeypadCmd,
}

/// Subcommands of `faccia keypad`.
#[derive(clap::Subcommand, Debug, Clone)]
pub enum KeypadCmd {
    /// List serial ports with USB vendor/product id, serial number and product name.
    List,
    /// Find the keypads on a port.
    Scan(ScanArgs),
    /// Show every register of one keypad, decoded.
    Show(UnitArgs),
    /// Live view of state, window, presses and faults; optional frame log.
    Watch(WatchArgs),
    /// Guided test: self-test, identify blink, arm, press GREEN, read the vote, acknowledge.
    Test(TestArgs),
    /// Change a keypad's unit id safely (write, save, reboot, find it again).
    SetId(SetIdArgs),
    /// Change a keypad's baud rate safely (write, save, reboot, find it again).
    SetBaud(SetBaudArgs),
    /// Run simulated keypads on a pseudo-terminal.
    Simulate(SimulateArgs),
}

/// Port settings shared by the subcommands.
#[derive(clap::Args, Debug, Clone)]
pub struct PortArgs {
    /// Serial port, e.g. /dev/ttyUSB0.
    #[arg(long)]
    pub port: PathBuf,
    /// Baud rate: 9600, 19200 (factory default), 38400, 57600 or 115200.
    #[arg(long, default_value_t = 19200, value_parser = parse_baud)]
    pub baud: u32,
    /// Answer timeout in milliseconds.
    #[arg(long, default_value_t = 200)]
    pub timeout_ms: u64,
}

#[derive(clap::Args, Debug, Clone)]
pub struct ScanArgs {
    #[arg(long)]
    pub port: PathBuf,
    /// Baud rate to scan at: 9600, 19200 (default), 38400, 57600 or 115200.
    #[arg(long, conflicts_with = "all_bauds", value_parser = parse_baud)]
    pub baud: Option<u32>,
    /// Try every baud rate the keypad supports.
    #[arg(long)]
    pub all_bauds: bool,
    /// Unit ids, e.g. 1-247 or 1,3,5-8.
    #[arg(long, default_value = "1-247")]
    pub ids: String,
    /// Answer timeout per id in milliseconds.
    #[arg(long, default_value_t = 80)]
    pub timeout_ms: u64,
}

#[derive(clap::Args, Debug, Clone)]
pub struct UnitArgs {
    #[command(flatten)]
    pub port: PortArgs,
    /// Unit id (factory default 1).
    #[arg(long, default_value_t = 1)]
    pub unit: u8,
}

#[derive(clap::Args, Debug, Clone)]
pub struct WatchArgs {
    #[command(flatten)]
    pub port: PortArgs,
    /// One unit id.
    #[arg(long, conflicts_with = "units")]
    pub unit: Option<u8>,
    /// Several unit ids, e.g. 1-8.
    #[arg(long)]
    pub units: Option<String>,
    /// Also print every frame (hex and decoded, CRC good/bad).
    #[arg(long)]
    pub frames: bool,
    /// Append everything printed to this file too.
    #[arg(long)]
    pub log: Option<PathBuf>,
    /// Poll period in milliseconds.
    #[arg(long, default_value_t = 100)]
    pub interval_ms: u64,
    /// Stop after this many seconds (default: until Ctrl-C).
    #[arg(long)]
    pub seconds: Option<f64>,
}

#[derive(clap::Args, Debug, Clone)]
pub struct TestArgs {
    #[command(flatten)]
    pub unit: UnitArgs,
    /// Seconds to wait for the GREEN press.
    #[arg(long, default_value_t = 60)]
    pub window_s: u16,
}

#[derive(clap::Args, Debug, Clone)]
pub struct SetIdArgs {
    #[command(flatten)]
    pub unit: UnitArgs,
    /// New unit id (1..=247).
    #[arg(long)]
    pub new_id: u8,
}

#[derive(clap::Args, Debug, Clone)]
pub struct SetBaudArgs {
    #[command(flatten)]
    pub unit: UnitArgs,
    /// New baud rate: 9600, 19200, 38400, 57600 or 115200.
    #[arg(long, value_parser = parse_baud)]
    pub new_baud: u32,
}

#[derive(clap::Args, Debug, Clone)]
pub struct SimulateArgs {
    /// Unit ids to simulate, e.g. 1-8.
    #[arg(long, default_value = "1")]
    pub units: String,
    /// Path of the symlink to the pseudo-terminal (open it as the serial port).
    #[arg(long, default_value = "/tmp/faccia-kp0")]
    pub link: PathBuf,
    /// Baud rate: 9600, 19200 (default), 38400, 57600 or 115200.
    #[arg(long, default_value_t = 19200, value_parser = parse_baud)]
    pub baud: u32,
    /// Time the answers as on a real wire at this baud rate.
    #[arg(long)]
    pub pace: bool,
    /// Control socket address, e.g. 127.0.0.1:7070 (line commands as on stdin).
    #[arg(long)]
    pub control: Option<String>,
    /// JSON-lines file of latched and acknowledged votes.
    #[arg(long)]
    pub vote_log: Option<PathBuf>,
    /// Stop after this many seconds (default: until Ctrl-C).
    #[arg(long)]
    pub seconds: Option<f64>,
    /// Do not read commands from standard input (control socket only).
    #[arg(long = "no-stdin", action = clap::ArgAction::SetFalse)]
    pub stdin: bool,
}

/// Runs a subcommand, printing to stdout.
pub async fn run(args: KeypadArgs) -> anyhow::Result<()> {
    let mut out = std::io::stdout();
    run_to(args, &mut out).await
}

/// Runs a subcommand, printing to `out`.
pub async fn run_to(args: KeypadArgs, out: &mut (dyn Write + Send)) -> anyhow::Result<()> {
    let l = args.lang;
    match args.cmd {
        KeypadCmd::List => list(l, out),
        KeypadCmd::Scan(a) => {
            let bauds = if a.all_bauds {
                BAUD_RATES.to_vec()
            } else {
                vec![a.baud.unwrap_or(19200)]
            };
            let ids = parse_ids(&a.ids).map_err(|e| anyhow!(e))?;
            let hits = scan_to(
                l,
                &a.port,
                &bauds,
                &ids,
                Duration::from_millis(a.timeout_ms),
                out,
            )
            .await?;
            if hits.iter().all(|h| h.info.is_none()) {
                writeln!(out, "{}", hint_no_answer(l))?;
            }
            Ok(())
        }
        KeypadCmd::Show(a) => show(l, &a, out).await,
        KeypadCmd::Watch(a) => watch(l, &a, out).await,
        KeypadCmd::Test(a) => guided_test(l, &a, out).await,
        KeypadCmd::SetId(a) => set_id(l, &a, out).await,
        KeypadCmd::SetBaud(a) => set_baud(l, &a, out).await,
        KeypadCmd::Simulate(a) => simulate(l, &a, out).await,
    }
}

fn tr(l: Lang, it: &'static str, en: &'static str) -> &'static str {
    match l {
        Lang::It => it,
        Lang::En => en,
    }
}

fn hint_no_answer(l: Lang) -> &'static str {
    tr(
        l,
        "Nessuna pulsantiera ha risposto. Controllare: velocità (provare --all-bauds), fili A/B \
         (provare a invertirli), terminazione 120 Ω ai due capi del bus, alimentazione, unit id.",
        "No keypad answered. Check: baud rate (try --all-bauds), A/B wires (try swapping them), \
         120 Ω termination at both ends of the bus, power, unit id.",
    )
}

/// Turns a driver error into a sentence a technician can act on.
pub fn explain(l: Lang, e: &KeypadError, port: &Path, unit: u8, baud: u32) -> String {
    let p = port.display();
    match (e, l) {
        (KeypadError::Open { kind: OpenErrorKind::NotFound, .. }, Lang::It) => {
            format!("porta {p} non trovata: controllare il cavo USB e vedere `faccia keypad list`")
        }
        (KeypadError::Open { kind: OpenErrorKind::NotFound, .. }, Lang::En) => {
            format!("port {p} not found: check the USB cable and see `faccia keypad list`")
        }
        (KeypadError::Open { kind: OpenErrorKind::PermissionDenied, .. }, Lang::It) => format!(
            "permesso negato su {p}: aggiungere l'utente al gruppo dialout \
             (sudo usermod -aG dialout $USER) e rientrare nella sessione"
        ),
        (KeypadError::Open { kind: OpenErrorKind::PermissionDenied, .. }, Lang::En) => format!(
            "permission denied on {p}: add the user to the dialout group \
             (sudo usermod -aG dialout $USER) and log in again"
        ),
        (KeypadError::Open { kind: OpenErrorKind::Busy, .. }, Lang::It) => format!(
            "porta {p} occupata: un altro processo (faccia serve?) la tiene aperta; fermarlo \
             (sudo systemctl stop faccia) e riprovare"
        ),
        (KeypadError::Open { kind: OpenErrorKind::Busy, .. }, Lang::En) => format!(
            "port {p} busy: another process (faccia serve?) holds it; stop it \
             (sudo systemctl stop faccia) and retry"
        ),
        (KeypadError::Timeout, Lang::It) => format!(
            "nessuna risposta dall'unità {unit} a {baud} baud: controllare velocità (scan --all-bauds), \
             fili A/B invertiti, terminazione 120 Ω, unit id (scan)"
        ),
        (KeypadError::Timeout, Lang::En) => format!(
            "no answer from unit {unit} at {baud} baud: check baud rate (scan --all-bauds), \
             swapped A/B wires, 120 Ω termination, unit id (scan)"
        ),
        (KeypadError::NotAFaceKeypad { ident }, Lang::It) => format!(
            "il dispositivo all'indirizzo {unit} non è una pulsantiera FK-3 (IDENT 0x{ident:04X}, atteso 0xFACE): \
             controllare l'unit id, sul bus c'è un altro apparecchio"
        ),
        (KeypadError::NotAFaceKeypad { ident }, Lang::En) => format!(
            "the device at address {unit} is not an FK-3 face keypad (IDENT 0x{ident:04X}, expected 0xFACE): \
             check the unit id, another device is on the bus"
        ),
        (KeypadError::Crc | KeypadError::Framing(_), Lang::It) => format!(
            "risposta disturbata dall'unità {unit} ({e}): controllare terminazione, schermo/massa, \
             velocità uguale su tutto il bus"
        ),
        (KeypadError::Crc | KeypadError::Framing(_), Lang::En) => format!(
            "garbled answer from unit {unit} ({e}): check termination, shield/ground, \
             same baud rate on the whole bus"
        ),
        (KeypadError::Busy, Lang::It) => {
            format!("l'unità {unit} è occupata (un voto attende conferma o si sta scegliendo il motivo)")
        }
        (KeypadError::Busy, Lang::En) => {
            format!("unit {unit} is busy (a vote waits for ACK or a reason is being chosen)")
        }
        (e, Lang::It) => format!("unità {unit}: {e}"),
        (e, Lang::En) => format!("unit {unit}: {e}"),
    }
}

/// A baud rate the FK-3 supports; anything else is refused when the arguments are parsed.
pub fn parse_baud(s: &str) -> Result<u32, String> {
    let allowed = || {
        BAUD_RATES
            .iter()
            .map(u32::to_string)
            .collect::<Vec<_>>()
            .join(", ")
    };
    match s.trim().parse::<u32>() {
        Ok(b) if BAUD_RATES.contains(&b) => Ok(b),
        _ => Err(format!(
            "{s:?} is not a baud rate of the FK-3 keypad: use one of {}",
            allowed()
        )),
    }
}

/// Parses "1-8", "1,3,5-7" into unit ids (1..=247).
pub fn parse_ids(s: &str) -> Result<Vec<u8>, String> {
    let mut v = Vec::new();
    for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let (a, b) = match part.split_once('-') {
            Some((a, b)) => (a.trim(), b.trim()),
            None => (part, part),
        };
        let a: u8 = a.parse().map_err(|_| format!("bad unit id {a:?}"))?;
        let b: u8 = b.parse().map_err(|_| format!("bad unit id {b:?}"))?;
        if a == 0 || b > 247 || a > b {
            return Err(format!("unit ids must be within 1..=247: {part:?}"));
        }
        v.extend(a..=b);
    }
    v.sort();
    v.dedup();
    if v.is_empty() {
        return Err("no unit ids".into());
    }
    Ok(v)
}

fn open_master(
    l: Lang,
    port: &Path,
    baud: u32,
    timeout: Duration,
) -> anyhow::Result<Master<tokio_serial::SerialStream>> {
    let p = open_port(port, baud).map_err(|e| anyhow!(explain(l, &e, port, 0, baud)))?;
    Ok(Master::new(p, baud, timeout))
}

fn list(l: Lang, out: &mut (dyn Write + Send)) -> anyhow::Result<()> {
    let ports = ports::list();
    if ports.is_empty() {
        writeln!(
            out,
            "{}",
            tr(
                l,
                "Nessuna porta seriale trovata.",
                "No serial ports found."
            )
        )?;
        return Ok(());
    }
    writeln!(
        out,
        "{}",
        tr(
            l,
            "PORTA            TIPO  VID:PID    SERIALE          PRODOTTO",
            "PORT             TYPE  VID:PID    SERIAL           PRODUCT"
        )
    )?;
    for p in ports {
        let vp = match (p.vid, p.pid) {
            (Some(v), Some(d)) => format!("{v:04x}:{d:04x}"),
            _ => "-".into(),
        };
        let product = [p.manufacturer.clone(), p.product.clone()]
            .into_iter()
            .flatten()
            .collect::<Vec<_>>()
            .join(" ");
        writeln!(
            out,
            "{:<16} {:<5} {:<10} {:<16} {}",
            p.path,
            p.kind,
            vp,
            p.serial_number.as_deref().unwrap_or("-"),
            if product.is_empty() {
                "-".into()
            } else {
                product
            }
        )?;
        if let Some(b) = &p.by_id {
            writeln!(out, "                 {b}")?;
        }
    }
    Ok(())
}

/// A unit found by a scan.
#[derive(Debug, Clone)]
pub struct ScanHit {
    pub baud: u32,
    pub unit: u8,
    /// Decoded block when it is an FK-3; `None` when something else answered.
    pub info: Option<KeypadInfo>,
    /// What answered instead, when not an FK-3.
    pub note: Option<String>,
}

/// Scans `ids` at each of `bauds`, printing what it finds.
pub async fn scan_to(
    l: Lang,
    port: &Path,
    bauds: &[u32],
    ids: &[u8],
    timeout: Duration,
    out: &mut (dyn Write + Send),
) -> anyhow::Result<Vec<ScanHit>> {
    let mut hits = Vec::new();
    let (Some(first), Some(last)) = (ids.first(), ids.last()) else {
        bail!("no unit ids to scan");
    };
    for &baud in bauds {
        writeln!(
            out,
            "{} {} @ {baud} baud, id {}..{}",
            tr(l, "Scansione", "Scanning"),
            port.display(),
            first,
            last
        )?;
        let mut m = open_master(l, port, baud, timeout)?;
        for &unit in ids {
            match m.identify(unit).await {
                Ok(info) => {
                    writeln!(out, "  {}", describe_info(l, unit, baud, &info))?;
                    hits.push(ScanHit {
                        baud,
                        unit,
                        info: Some(info),
                        note: None,
                    });
                }
                Err(KeypadError::Timeout) => {}
                Err(e @ KeypadError::NotAFaceKeypad { .. }) => {
                    let msg = explain(l, &e, port, unit, baud);
                    writeln!(out, "  {msg}")?;
                    hits.push(ScanHit {
                        baud,
                        unit,
                        info: None,
                        note: Some(msg),
                    });
                }
                Err(e) if e.is_port_failure() => {
                    return Err(anyhow!(explain(l, &e, port, unit, baud)))
                }
                Err(e) => {
                    let msg = explain(l, &e, port, unit, baud);
                    writeln!(out, "  {msg}")?;
                    hits.push(ScanHit {
                        baud,
                        unit,
                        info: None,
                        note: Some(msg),
                    });
                }
            }
        }
    }
    let n = hits.iter().filter(|h| h.info.is_some()).count();
    writeln!(
        out,
        "{}: {n}",
        tr(l, "Pulsantiere trovate", "Keypads found")
    )?;
    Ok(hits)
}

fn state_name(l: Lang, s: KeypadState) -> &'static str {
    match s {
        KeypadState::Idle => tr(l, "RIPOSO", "IDLE"),
        KeypadState::Armed => tr(l, "ATTIVA", "ARMED"),
        KeypadState::Reason => tr(l, "MOTIVO", "REASON"),
        KeypadState::Latched => tr(l, "VOTO IN ATTESA DI CONFERMA", "VOTE WAITING FOR ACK"),
    }
}

fn face_name(l: Lang, f: Option<crate::regs::Face>) -> &'static str {
    use crate::regs::Face;
    match f {
        None => "-",
        Some(Face::Green) => tr(l, "verde", "green"),
        Some(Face::Yellow) => tr(l, "giallo", "yellow"),
        Some(Face::Red) => tr(l, "rosso", "red"),
    }
}

fn describe_info(l: Lang, unit: u8, baud: u32, i: &KeypadInfo) -> String {
    format!(
        "{} {unit} @ {baud}: FK-3 fw {}.{} {} {} {} {} {} {}",
        tr(l, "unità", "unit"),
        i.firmware.0,
        i.firmware.1,
        tr(l, "seriale", "serial"),
        i.serial_no,
        tr(l, "stato", "state"),
        state_name(l, i.status.state),
        tr(l, "avvii", "boots"),
        i.counters.boot_count
    )
}

fn describe_status(l: Lang, s: &KeypadStatus, c: Option<&KeypadCounters>) -> String {
    let mut v = format!("{} {}", tr(l, "stato", "state"), state_name(l, s.state));
    if s.token != 0 {
        v += &format!(" token {}", s.token);
    }
    if s.window_left_s > 0 {
        v += &format!(" {} {}s", tr(l, "finestra", "window"), s.window_left_s);
    }
    v += &format!(" seq {}", s.vote_seq);
    if s.face.is_some() {
        v += &format!(" {} {}", tr(l, "voto", "vote"), face_name(l, s.face));
        if s.reason > 0 {
            v += &format!(" {} {}", tr(l, "motivo", "reason"), s.reason);
        }
    }
    if let Some(c) = c {
        v += &format!(
            " {} {} {} {}",
            tr(l, "pressioni", "presses"),
            c.presses_total,
            tr(l, "ignorate", "ignored"),
            c.presses_ignored
        );
        if c.faults != 0 {
            v += &format!(
                " {} 0x{:04X} [{}]",
                tr(l, "GUASTI", "FAULTS"),
                c.faults,
                fault_names(c.faults).join(", ")
            );
        }
    }
    v
}

async fn show(l: Lang, a: &UnitArgs, out: &mut (dyn Write + Send)) -> anyhow::Result<()> {
    let p = &a.port;
    let mut m = open_master(l, &p.port, p.baud, Duration::from_millis(p.timeout_ms))?;
    let info = m
        .identify(a.unit)
        .await
        .map_err(|e| anyhow!(explain(l, &e, &p.port, a.unit, p.baud)))?;
    let cfg = m
        .config(a.unit)
        .await
        .map_err(|e| anyhow!(explain(l, &e, &p.port, a.unit, p.baud)))?;
    let s = &info.status;
    let c = &info.counters;
    let rows: Vec<(&str, &str, String)> = vec![
        ("0x0000", "IDENT", format!("0x{:04X}", info.ident)),
        (
            "0x0001",
            "FW_VERSION",
            format!("{}.{}", info.firmware.0, info.firmware.1),
        ),
        (
            "0x0002",
            "STATE",
            format!("{} ({})", s.state.to_reg(), state_name(l, s.state)),
        ),
        ("0x0003/4", "SESSION_TOKEN", s.token.to_string()),
        ("0x0005", "VOTE_SEQ", s.vote_seq.to_string()),
        (
            "0x0006",
            "VOTE_FACE",
            format!(
                "{} ({})",
                s.face.map_or(0, |f| f.code()),
                face_name(l, s.face)
            ),
        ),
        ("0x0007", "VOTE_REASON", s.reason.to_string()),
        ("0x0008", "WINDOW_LEFT_S", s.window_left_s.to_string()),
        ("0x0009", "PRESSES_TOTAL", c.presses_total.to_string()),
        ("0x000A", "PRESSES_IGNORED", c.presses_ignored.to_string()),
        ("0x000B/C", "UPTIME_S", c.uptime_s.to_string()),
        (
            "0x000D",
            "FAULTS",
            format!("0x{:04X} {}", c.faults, fault_names(c.faults).join(", ")),
        ),
        ("0x000E", "BOOT_COUNT", c.boot_count.to_string()),
        ("0x000F/10", "SERIAL_NO", info.serial_no.to_string()),
        ("0x0110", "UNIT_ID", cfg.unit_id.to_string()),
        (
            "0x0111",
            "BAUD_CODE",
            format!(
                "{} ({} baud)",
                cfg.baud_code,
                baud_from_code(cfg.baud_code).map_or("?".into(), |b| b.to_string())
            ),
        ),
        ("0x0112", "BRIGHTNESS", format!("{}%", cfg.brightness)),
    ];
    writeln!(
        out,
        "{} {} @ {} ({})",
        tr(l, "Pulsantiera", "Keypad"),
        a.unit,
        p.baud,
        p.port.display()
    )?;
    for (addr, name, v) in rows {
        writeln!(out, "  {addr:<10} {name:<16} {v}")?;
    }
    Ok(())
}

/// Output of `watch`: to the writer and optionally a log file.
struct Sink<'a> {
    out: &'a mut (dyn Write + Send),
    log: Option<std::fs::File>,
}

impl Sink<'_> {
    fn line(&mut self, s: &str) -> anyhow::Result<()> {
        writeln!(self.out, "{s}")?;
        self.out.flush()?;
        if let Some(f) = self.log.as_mut() {
            writeln!(f, "{s}")?;
        }
        Ok(())
    }
}

async fn watch(l: Lang, a: &WatchArgs, out: &mut (dyn Write + Send)) -> anyhow::Result<()> {
    let units = match (&a.unit, &a.units) {
        (Some(u), _) => vec![*u],
        (None, Some(s)) => parse_ids(s).map_err(|e| anyhow!(e))?,
        (None, None) => vec![1],
    };
    let p = &a.port;
    let mut m = open_master(l, &p.port, p.baud, Duration::from_millis(p.timeout_ms))?;
    let (ftx, mut frx) = mpsc::unbounded_channel::<FrameRecord>();
    if a.frames {
        m.set_frame_log(Some(ftx));
    }
    let log = match &a.log {
        Some(f) => Some(
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(f)
                .with_context(|| format!("{}", f.display()))?,
        ),
        None => None,
    };
    let mut sink = Sink { out, log };
    sink.line(&format!(
        "{} {} @ {} baud, {} {:?} ({})",
        tr(l, "Osservo", "Watching"),
        p.port.display(),
        p.baud,
        tr(l, "unità", "units"),
        units,
        tr(l, "Ctrl-C per uscire", "Ctrl-C to stop")
    ))?;
    let stop_at = a
        .seconds
        .map(|s| tokio::time::Instant::now() + Duration::from_secs_f64(s));
    let mut last: Vec<Option<String>> = vec![None; units.len()];
    let mut tick = tokio::time::interval(Duration::from_millis(a.interval_ms.max(10)));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let ctrl_c = tokio::signal::ctrl_c();
    tokio::pin!(ctrl_c);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = &mut ctrl_c => break,
        }
        if stop_at.is_some_and(|t| tokio::time::Instant::now() >= t) {
            break;
        }
        for (i, &unit) in units.iter().enumerate() {
            let r = m.status_and_counters(unit).await;
            while let Ok(f) = frx.try_recv() {
                sink.line(&format!("    {f}"))?;
            }
            let text = match r {
                Ok((s, c)) => describe_status(l, &s, Some(&c)),
                Err(e) if e.is_port_failure() => {
                    return Err(anyhow!(explain(l, &e, &p.port, unit, p.baud)))
                }
                Err(e) => explain(l, &e, &p.port, unit, p.baud),
            };
            if last[i].as_deref() != Some(text.as_str()) {
                let now = chrono::Local::now().format("%H:%M:%S%.3f");
                sink.line(&format!("{now} {} {unit}: {text}", tr(l, "unità", "unit")))?;
                last[i] = Some(text);
            }
        }
    }
    let st = m.stats();
    sink.line(&format!(
        "{}: {} {}, {} timeout, {} CRC, {} framing",
        tr(l, "Statistiche", "Statistics"),
        st.requests,
        tr(l, "richieste", "requests"),
        st.timeouts,
        st.crc_errors,
        st.framing_errors
    ))?;
    Ok(())
}

async fn guided_test(l: Lang, a: &TestArgs, out: &mut (dyn Write + Send)) -> anyhow::Result<()> {
    let (p, unit) = (&a.unit.port, a.unit.unit);
    let ex = |e: KeypadError| anyhow!(explain(l, &e, &p.port, unit, p.baud));
    let mut m = open_master(l, &p.port, p.baud, Duration::from_millis(p.timeout_ms))?;
    writeln!(
        out,
        "1. {}",
        tr(l, "Lettura identità...", "Reading identity...")
    )?;
    let info = m.identify(unit).await.map_err(ex)?;
    writeln!(out, "   {}", describe_info(l, unit, p.baud, &info))?;
    if matches!(
        info.status.state,
        KeypadState::Reason | KeypadState::Latched
    ) {
        bail!(
            "{}",
            tr(
                l,
                "la pulsantiera ha una sessione in corso o un voto non confermato: fermare il server e riprovare",
                "the keypad has a session or an un-ACKed vote: stop the server and retry"
            )
        );
    }
    writeln!(
        out,
        "2. {}",
        tr(
            l,
            "Autotest (i LED si accendono uno alla volta)...",
            "Self-test (LEDs light one at a time)..."
        )
    )?;
    m.self_test(unit).await.map_err(ex)?;
    let (_, c) = m.status_and_counters(unit).await.map_err(ex)?;
    if c.faults == 0 {
        writeln!(out, "   {}", tr(l, "nessun guasto", "no faults"))?;
    } else {
        writeln!(
            out,
            "   {} 0x{:04X}: {}",
            tr(l, "GUASTI", "FAULTS"),
            c.faults,
            fault_names(c.faults).join(", ")
        )?;
    }
    writeln!(
        out,
        "3. {}",
        tr(
            l,
            "Lampeggio di identificazione (10 s)...",
            "Identify blink (10 s)..."
        )
    )?;
    m.identify_blink(unit).await.map_err(ex)?;
    let token = (chrono::Utc::now().timestamp_micros() as u32) | 1;
    m.arm(unit, token, a.window_s.clamp(5, 600), 0)
        .await
        .map_err(ex)?;
    writeln!(
        out,
        "4. {}",
        tr(
            l,
            ">>> Premere ora il tasto VERDE <<<",
            ">>> Press GREEN now <<<"
        )
    )?;
    out.flush()?;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(u64::from(a.window_s) + 2);
    let s = loop {
        let s = m.status(unit).await.map_err(ex)?;
        match s.state {
            KeypadState::Latched => break s,
            KeypadState::Idle => bail!(
                "{}",
                tr(
                    l,
                    "nessun tasto premuto entro la finestra",
                    "no key pressed within the window"
                )
            ),
            _ => {}
        }
        if tokio::time::Instant::now() > deadline {
            bail!(
                "{}",
                tr(
                    l,
                    "nessun tasto premuto entro la finestra",
                    "no key pressed within the window"
                )
            );
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    writeln!(
        out,
        "5. {} {} (seq {}, token {})",
        tr(l, "Voto letto:", "Vote read:"),
        face_name(l, s.face),
        s.vote_seq,
        s.token
    )?;
    m.ack(unit, s.vote_seq).await.map_err(ex)?;
    let after = m.status(unit).await.map_err(ex)?;
    if after.state != KeypadState::Idle {
        bail!(
            "{}",
            tr(
                l,
                "dopo la conferma la pulsantiera non è tornata a riposo",
                "after ACK the keypad did not return to IDLE"
            )
        );
    }
    writeln!(
        out,
        "6. {}",
        tr(
            l,
            "Conferma inviata, pulsantiera a riposo.",
            "Acknowledged, keypad idle."
        )
    )?;
    if s.face == Some(crate::regs::Face::Green) {
        writeln!(out, "{}", tr(l, "PROVA SUPERATA", "TEST PASSED"))?;
        Ok(())
    } else {
        bail!(
            "{} {}",
            tr(
                l,
                "PROVA NON SUPERATA: atteso verde, letto",
                "TEST FAILED: expected green, read"
            ),
            face_name(l, s.face)
        )
    }
}

/// Polls `unit` until it answers or `max` passes.
async fn find_again(
    m: &mut Master<tokio_serial::SerialStream>,
    unit: u8,
    max: Duration,
) -> Result<KeypadInfo, KeypadError> {
    let deadline = tokio::time::Instant::now() + max;
    loop {
        match m.identify(unit).await {
            Ok(i) => return Ok(i),
            Err(e) if tokio::time::Instant::now() >= deadline || e.is_port_failure() => {
                return Err(e)
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(200)).await,
        }
    }
}

async fn set_id(l: Lang, a: &SetIdArgs, out: &mut (dyn Write + Send)) -> anyhow::Result<()> {
    let (p, unit, new) = (&a.unit.port, a.unit.unit, a.new_id);
    if !(1..=247).contains(&new) {
        bail!(
            "{}",
            tr(
                l,
                "il nuovo id deve essere tra 1 e 247",
                "the new id must be within 1..=247"
            )
        );
    }
    let ex = |e: KeypadError, u: u8| anyhow!(explain(l, &e, &p.port, u, p.baud));
    let mut m = open_master(l, &p.port, p.baud, Duration::from_millis(p.timeout_ms))?;
    let info = m.identify(unit).await.map_err(|e| ex(e, unit))?;
    writeln!(out, "{}", describe_info(l, unit, p.baud, &info))?;
    if new == unit {
        writeln!(
            out,
            "{}",
            tr(
                l,
                "L'id è già quello richiesto.",
                "The id is already the requested one."
            )
        )?;
        return Ok(());
    }
    match m.probe(new).await {
        Err(KeypadError::Timeout) => {}
        _ => bail!(
            "{} {new}",
            tr(
                l,
                "un altro dispositivo risponde già all'id",
                "another device already answers at id"
            )
        ),
    }
    if matches!(
        info.status.state,
        KeypadState::Reason | KeypadState::Latched
    ) {
        bail!(
            "{}",
            tr(
                l,
                "un voto è in corso: riprovare a pulsantiera a riposo",
                "a vote is in progress: retry when idle"
            )
        );
    }
    writeln!(
        out,
        "{} {unit} -> {new}: {}",
        tr(l, "Cambio id", "Changing id"),
        tr(l, "scrivo, salvo, riavvio...", "write, save, reboot...")
    )?;
    m.set_unit_id(unit, new).await.map_err(|e| ex(e, unit))?;
    m.save_config(unit).await.map_err(|e| ex(e, unit))?;
    m.reboot(unit).await.map_err(|e| ex(e, unit))?;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let again = find_again(&mut m, new, Duration::from_secs(5))
        .await
        .map_err(|e| ex(e, new))?;
    if again.serial_no != info.serial_no {
        bail!(
            "{} {new}",
            tr(
                l,
                "risponde un altro numero di serie all'id",
                "a different serial number answers at id"
            )
        );
    }
    writeln!(
        out,
        "{} {}",
        tr(l, "OK:", "OK:"),
        describe_info(l, new, p.baud, &again)
    )?;
    Ok(())
}

async fn set_baud(l: Lang, a: &SetBaudArgs, out: &mut (dyn Write + Send)) -> anyhow::Result<()> {
    let (p, unit) = (&a.unit.port, a.unit.unit);
    let code = baud_code(a.new_baud).ok_or_else(|| {
        anyhow!(
            "{} {}",
            tr(
                l,
                "velocità non supportata (9600, 19200, 38400, 57600, 115200):",
                "unsupported baud rate (9600, 19200, 38400, 57600, 115200):"
            ),
            a.new_baud
        )
    })?;
    let ex = |e: KeypadError, b: u32| anyhow!(explain(l, &e, &p.port, unit, b));
    let mut m = open_master(l, &p.port, p.baud, Duration::from_millis(p.timeout_ms))?;
    let info = m.identify(unit).await.map_err(|e| ex(e, p.baud))?;
    writeln!(out, "{}", describe_info(l, unit, p.baud, &info))?;
    if matches!(
        info.status.state,
        KeypadState::Reason | KeypadState::Latched
    ) {
        bail!(
            "{}",
            tr(
                l,
                "un voto è in corso: riprovare a pulsantiera a riposo",
                "a vote is in progress: retry when idle"
            )
        );
    }
    writeln!(
        out,
        "{} {} -> {}: {}",
        tr(l, "Cambio velocità", "Changing baud"),
        p.baud,
        a.new_baud,
        tr(l, "scrivo, salvo, riavvio...", "write, save, reboot...")
    )?;
    m.set_baud_code(unit, code)
        .await
        .map_err(|e| ex(e, p.baud))?;
    m.save_config(unit).await.map_err(|e| ex(e, p.baud))?;
    m.reboot(unit).await.map_err(|e| ex(e, p.baud))?;
    drop(m);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let mut m = open_master(l, &p.port, a.new_baud, Duration::from_millis(p.timeout_ms))?;
    let again = find_again(&mut m, unit, Duration::from_secs(5))
        .await
        .map_err(|e| ex(e, a.new_baud))?;
    if again.serial_no != info.serial_no {
        bail!(
            "{}",
            tr(
                l,
                "risponde un altro numero di serie",
                "a different serial number answers"
            )
        );
    }
    writeln!(
        out,
        "{} {}",
        tr(l, "OK:", "OK:"),
        describe_info(l, unit, a.new_baud, &again)
    )?;
    writeln!(
        out,
        "{}",
        tr(l, "Ricordarsi di impostare la stessa velocità nel server e su tutte le pulsantiere del bus.", "Remember to set the same baud rate in the server and on every keypad of the bus.")
    )?;
    Ok(())
}

async fn simulate(l: Lang, a: &SimulateArgs, out: &mut (dyn Write + Send)) -> anyhow::Result<()> {
    let units = parse_ids(&a.units).map_err(|e| anyhow!(e))?;
    let mut cfg = SimConfig::new(units.clone(), &a.link);
    cfg.baud = a.baud;
    cfg.pace = a.pace;
    cfg.vote_log = a.vote_log.clone();
    let simulator = Simulator::start(cfg).await?;
    let h = simulator.handle();
    let control = match &a.control {
        Some(addr) => Some(sim::serve_control(h.clone(), addr).await?),
        None => None,
    };
    writeln!(
        out,
        "{} {:?} {} {} @ {} baud{}. {}",
        tr(l, "Pulsantiere simulate", "Simulated keypads"),
        units,
        tr(l, "su", "on"),
        a.link.display(),
        a.baud,
        a.control
            .as_deref()
            .map(|c| format!(", control {c}"))
            .unwrap_or_default(),
        tr(
            l,
            "Comandi: help, press 1 green, press 1 reason 2, fault 1 silent, status",
            "Commands: help, press 1 green, press 1 reason 2, fault 1 silent, status"
        )
    )?;
    out.flush()?;
    let stop = async {
        match a.seconds {
            Some(s) => tokio::time::sleep(Duration::from_secs_f64(s)).await,
            None => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    };
    tokio::pin!(stop);
    // stdin is read on a plain thread: a blocking read cannot be cancelled, and a tokio
    // stdin would keep the runtime from shutting down until Enter is pressed
    let (ltx, mut lrx) = mpsc::unbounded_channel::<String>();
    if a.stdin {
        std::thread::spawn(move || {
            let stdin = std::io::stdin();
            let mut line = String::new();
            loop {
                line.clear();
                match std::io::BufRead::read_line(&mut stdin.lock(), &mut line) {
                    Ok(0) | Err(_) => break,
                    Ok(_) => {
                        if ltx.send(line.clone()).is_err() {
                            break;
                        }
                    }
                }
            }
        });
    } else {
        drop(ltx);
    }
    let mut stdin_open = true;
    loop {
        tokio::select! {
            _ = &mut stop => break,
            l = lrx.recv(), if stdin_open => match l {
                None => stdin_open = false,
                Some(line) => {
                    let answer = h.command(&line);
                    if !answer.is_empty() {
                        writeln!(out, "{answer}")?;
                        out.flush()?;
                    }
                }
            },
        }
    }
    if let Some(c) = control {
        c.abort();
    }
    simulator.shutdown().await;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids() {
        assert_eq!(parse_ids("1-3,7"), Ok(vec![1, 2, 3, 7]));
        assert_eq!(parse_ids("5"), Ok(vec![5]));
        assert!(parse_ids("0-3").is_err());
        assert!(parse_ids("1-248").is_err());
        assert!(parse_ids("x").is_err());
    }

    #[test]
    fn clap_definition_is_valid() {
        use clap::{CommandFactory, Parser};
        #[derive(Parser)]
        struct Cli {
            #[command(flatten)]
            k: KeypadArgs,
        }
        Cli::command().debug_assert();
        let c = Cli::try_parse_from([
            "x",
            "scan",
            "--port",
            "/dev/null",
            "--all-bauds",
            "--lang",
            "en",
        ])
        .expect("parse");
        assert_eq!(c.k.lang, Lang::En);
        assert!(matches!(
            c.k.cmd,
            KeypadCmd::Scan(ScanArgs {
                all_bauds: true,
                ..
            })
        ));
    }

    #[test]
    fn explanations_are_actionable() {
        let p = Path::new("/dev/ttyUSB0");
        let e = KeypadError::Open {
            path: p.into(),
            kind: OpenErrorKind::PermissionDenied,
        };
        assert!(explain(Lang::It, &e, p, 1, 19200).contains("dialout"));
        assert!(explain(Lang::En, &KeypadError::Timeout, p, 3, 9600).contains("A/B"));
        assert!(explain(
            Lang::It,
            &KeypadError::NotAFaceKeypad { ident: 0x1234 },
            p,
            3,
            9600
        )
        .contains("0x1234"));
    }
}
