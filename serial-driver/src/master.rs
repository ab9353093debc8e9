//! Modbus RTU master with a typed FK-3 API.
//!
//! [`Master`] works over any byte stream (`AsyncRead + AsyncWrite`), normally a
//! [`tokio_serial::SerialStream`] opened with [`open_port`]. It frames requests itself, finds the
//! response by length and CRC (skipping and counting garbage in front of it), and keeps link
//! counters ([`LinkStats`]) and an optional frame log ([`FrameRecord`]).

use std::path::Path;
use std::time::{Duration, Instant};

use futures::FutureExt;
use serde::Serialize;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::mpsc;

use crate::error::{KeypadError, OpenErrorKind};
use crate::regs::{
    holding, input, Command, KeypadConfig, KeypadCounters, KeypadInfo, KeypadStatus,
};
use crate::rtu;

/// Link counters, cumulative since the master was created.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct LinkStats {
    pub requests: u64,
    pub responses: u64,
    pub timeouts: u64,
    pub crc_errors: u64,
    pub framing_errors: u64,
    pub exceptions: u64,
    /// Bytes read that were not part of a valid response.
    pub garbage_bytes: u64,
    /// Bytes written and read (valid frames), for wire-time accounting.
    pub bytes_tx: u64,
    pub bytes_rx: u64,
}

/// Direction of a logged frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Dir {
    Tx,
    Rx,
}

/// One frame (or a run of unparsed bytes) seen by the master, for the technician's log.
#[derive(Debug, Clone, Serialize)]
pub struct FrameRecord {
    pub at: chrono::DateTime<chrono::Utc>,
    pub dir: Dir,
    pub bytes: Vec<u8>,
    pub crc_ok: bool,
    /// Human-readable decoding (see [`rtu::describe`]).
    pub decoded: String,
}

impl std::fmt::Display for FrameRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} {} {} | {}",
            self.at.format("%H:%M:%S%.3f"),
            match self.dir {
                Dir::Tx => "TX",
                Dir::Rx => "RX",
            },
            rtu::hex(&self.bytes),
            self.decoded
        )
    }
}

/// Opens a serial port 8N1 at `baud` with a classified error on failure.
pub fn open_port(path: &Path, baud: u32) -> Result<tokio_serial::SerialStream, KeypadError> {
    let p = path.to_string_lossy().into_owned();
    tokio_serial::SerialStream::open(
        &tokio_serial::new(p, baud)
            .data_bits(tokio_serial::DataBits::Eight)
            .parity(tokio_serial::Parity::None)
            .stop_bits(tokio_serial::StopBits::One)
            .flow_control(tokio_serial::FlowControl::None),
    )
    .map_err(|e| KeypadError::Open {
        path: path.to_path_buf(),
        kind: classify_open_error(&e),
    })
}

fn classify_open_error(e: &tokio_serial::Error) -> OpenErrorKind {
    use tokio_serial::ErrorKind;
    match e.kind {
        // The serial crate reports EBUSY from open(2) (another opener set TIOCEXCL) and a failed
        // exclusive flock as `NoDevice`: the port is there, held by another process.
        ErrorKind::NoDevice => OpenErrorKind::Busy,
        ErrorKind::Io(std::io::ErrorKind::NotFound) => OpenErrorKind::NotFound,
        ErrorKind::Io(std::io::ErrorKind::PermissionDenied) => OpenErrorKind::PermissionDenied,
        _ => {
            let d = e.description.to_ascii_lowercase();
            if d.contains("busy") || d.contains("resource temporarily") || d.contains("lock") {
                OpenErrorKind::Busy
            } else if d.contains("permission") || d.contains("access") {
                OpenErrorKind::PermissionDenied
            } else if d.contains("no such") || d.contains("not found") {
                OpenErrorKind::NotFound
            } else {
                OpenErrorKind::Other(e.description.clone())
            }
        }
    }
}

/// Modbus RTU master over a byte stream.
pub struct Master<T> {
    io: T,
    baud: u32,
    timeout: Duration,
    gap: Duration,
    last_activity: Option<Instant>,
    stats: LinkStats,
    frame_log: Option<mpsc::UnboundedSender<FrameRecord>>,
    buf: Vec<u8>,
}

impl<T: AsyncRead + AsyncWrite + Unpin + Send> Master<T> {
    /// A master at `baud` (used for the inter-frame silence) with a per-request `timeout`.
    pub fn new(io: T, baud: u32, timeout: Duration) -> Self {
        Master {
            io,
            baud,
            timeout,
            gap: rtu::t35(baud),
            last_activity: None,
            stats: LinkStats::default(),
            frame_log: None,
            buf: Vec::with_capacity(256),
        }
    }

    /// Sets the minimum silence kept between the end of one exchange and the next request
    /// (default: Modbus t3.5 for the baud rate). Zero on a simulator that models the wire.
    pub fn set_inter_frame_gap(&mut self, gap: Duration) {
        self.gap = gap;
    }

    pub fn set_timeout(&mut self, timeout: Duration) {
        self.timeout = timeout;
    }

    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// Sends every frame (TX, RX, garbage) to `tx`.
    pub fn set_frame_log(&mut self, tx: Option<mpsc::UnboundedSender<FrameRecord>>) {
        self.frame_log = tx;
    }

    /// Baud rate given at creation.
    pub fn baud(&self) -> u32 {
        self.baud
    }

    pub fn stats(&self) -> LinkStats {
        self.stats
    }

    /// Gives the stream back.
    pub fn into_inner(self) -> T {
        self.io
    }

    fn log(&self, dir: Dir, bytes: &[u8], request: bool) {
        if let Some(tx) = &self.frame_log {
            let crc_ok = rtu::crc_ok(bytes);
            let decoded = if bytes.len() >= 4 && (crc_ok || request) {
                rtu::describe(bytes, request)
            } else {
                format!(
                    "{} unparsed byte(s); CRC {}",
                    bytes.len(),
                    if crc_ok { "ok" } else { "BAD" }
                )
            };
            let _ = tx.send(FrameRecord {
                at: chrono::Utc::now(),
                dir,
                bytes: bytes.to_vec(),
                crc_ok,
                decoded,
            });
        }
    }

    /// Reads and discards whatever is waiting on the line (counted as garbage).
    fn drain_pending(&mut self) -> Result<(), KeypadError> {
        let mut tmp = [0u8; 256];
        let mut junk = Vec::new();
        loop {
            match self.io.read(&mut tmp).now_or_never() {
                Some(Ok(0)) => {
                    return Err(KeypadError::Io(std::io::Error::new(
                        std::io::ErrorKind::UnexpectedEof,
                        "serial port closed",
                    )))
                }
                Some(Ok(n)) => junk.extend_from_slice(&tmp[..n]),
                Some(Err(e)) if e.kind() == std::io::ErrorKind::WouldBlock => break,
                Some(Err(e)) => return Err(KeypadError::Io(e)),
                None => break,
            }
        }
        if !junk.is_empty() {
            self.stats.garbage_bytes += junk.len() as u64;
            self.stats.framing_errors += 1;
            tracing::debug!(bytes = junk.len(), "discarded unsolicited bytes");
            self.log(Dir::Rx, &junk, false);
        }
        Ok(())
    }

    /// One request/response exchange. Returns the response PDU (without unit and CRC);
    /// a Modbus exception becomes a typed error.
    pub async fn transact(&mut self, unit: u8, pdu: &[u8]) -> Result<Vec<u8>, KeypadError> {
        if unit == 0 || unit > 247 {
            return Err(KeypadError::InvalidArgument(format!(
                "unit id {unit} not in 1..=247"
            )));
        }
        let function = pdu[0];
        if let Some(last) = self.last_activity {
            let since = last.elapsed();
            if since < self.gap {
                tokio::time::sleep(self.gap - since).await;
            }
        }
        self.drain_pending()?;
        let req = rtu::frame(unit, pdu);
        self.stats.requests += 1;
        self.log(Dir::Tx, &req, true);
        let res = self.exchange(unit, function, &req).await;
        self.last_activity = Some(Instant::now());
        match &res {
            Err(KeypadError::Timeout) => self.stats.timeouts += 1,
            Err(KeypadError::Crc) => self.stats.crc_errors += 1,
            Err(KeypadError::Framing(_)) => self.stats.framing_errors += 1,
            Err(e) if e.is_exception() => {
                self.stats.responses += 1;
                self.stats.exceptions += 1
            }
            Ok(_) => self.stats.responses += 1,
            _ => {}
        }
        res
    }

    async fn exchange(
        &mut self,
        unit: u8,
        function: u8,
        req: &[u8],
    ) -> Result<Vec<u8>, KeypadError> {
        self.io.write_all(req).await?;
        self.io.flush().await?;
        self.stats.bytes_tx += req.len() as u64;
        let deadline = tokio::time::Instant::now() + self.timeout;
        self.buf.clear();
        let mut tmp = [0u8; 256];
        loop {
            // scan the buffer for a complete valid response; a candidate that is still
            // incomplete does not stop the scan (it may be a truncated frame or garbage that
            // happens to start with our unit id, with the real answer behind it)
            let mut bad_crc_candidate = false;
            for off in 0..self.buf.len() {
                let b = &self.buf[off..];
                if b[0] != unit {
                    continue;
                }
                if b.len() >= 2 && b[1] != function && b[1] != function | 0x80 {
                    continue;
                }
                let Some(len) = rtu::response_len(b, function) else {
                    continue;
                };
                if b.len() < len {
                    continue;
                }
                let frame = &b[..len];
                if !rtu::crc_ok(frame) {
                    bad_crc_candidate = true;
                    continue;
                }
                // found it
                if off > 0 {
                    let junk = self.buf[..off].to_vec();
                    self.stats.garbage_bytes += off as u64;
                    self.stats.framing_errors += 1;
                    self.log(Dir::Rx, &junk, false);
                }
                let frame = frame.to_vec();
                self.stats.bytes_rx += frame.len() as u64;
                self.log(Dir::Rx, &frame, false);
                let extra = self.buf.len() - off - len;
                if extra > 0 {
                    self.stats.garbage_bytes += extra as u64;
                }
                if frame[1] & 0x80 != 0 {
                    return Err(KeypadError::from_exception(frame[2]));
                }
                return Ok(frame[1..frame.len() - 2].to_vec());
            }
            let read = tokio::time::timeout_at(deadline, self.io.read(&mut tmp)).await;
            match read {
                Err(_) => {
                    if self.buf.is_empty() {
                        return Err(KeypadError::Timeout);
                    }
                    let junk = std::mem::take(&mut self.buf);
                    self.stats.garbage_bytes += junk.len() as u64;
                    self.log(Dir::Rx, &junk, false);
                    if bad_crc_candidate {
                        return Err(KeypadError::Crc);
                    }
                    return Err(KeypadError::Framing(format!(
                        "{} byte(s) without a valid response",
                        junk.len()
                    )));
                }
                Ok(Ok(0)) => {
                    return Err(KeypadError::Io(std::io::Error::new(
                        std::io::ErrorKind::UnexpectedEof,
                        "serial port closed",
                    )))
                }
                Ok(Ok(n)) => self.buf.extend_from_slice(&tmp[..n]),
                Ok(Err(e)) => return Err(KeypadError::Io(e)),
            }
        }
    }

    async fn read_regs(
        &mut self,
        function: u8,
        unit: u8,
        addr: u16,
        count: u16,
    ) -> Result<Vec<u16>, KeypadError> {
        let pdu = self
            .transact(unit, &rtu::read_pdu(function, addr, count))
            .await?;
        if pdu.len() != 2 + 2 * count as usize || pdu[1] as usize != 2 * count as usize {
            self.stats.framing_errors += 1;
            return Err(KeypadError::Framing(format!(
                "expected {count} registers, got {} bytes",
                pdu.len().saturating_sub(2)
            )));
        }
        Ok(pdu[2..]
            .chunks(2)
            .map(|c| u16::from_be_bytes([c[0], c[1]]))
            .collect())
    }

    /// Function 0x04.
    pub async fn read_input(
        &mut self,
        unit: u8,
        addr: u16,
        count: u16,
    ) -> Result<Vec<u16>, KeypadError> {
        self.read_regs(0x04, unit, addr, count).await
    }

    /// Function 0x03.
    pub async fn read_holding(
        &mut self,
        unit: u8,
        addr: u16,
        count: u16,
    ) -> Result<Vec<u16>, KeypadError> {
        self.read_regs(0x03, unit, addr, count).await
    }

    /// Function 0x06; checks the echo.
    pub async fn write_single(
        &mut self,
        unit: u8,
        addr: u16,
        value: u16,
    ) -> Result<(), KeypadError> {
        let pdu = rtu::write_single_pdu(addr, value);
        let resp = self.transact(unit, &pdu).await?;
        if resp != pdu {
            self.stats.framing_errors += 1;
            return Err(KeypadError::Framing(
                "write echo differs from the request".into(),
            ));
        }
        Ok(())
    }

    /// Function 0x10; checks address and quantity of the answer.
    pub async fn write_multiple(
        &mut self,
        unit: u8,
        addr: u16,
        values: &[u16],
    ) -> Result<(), KeypadError> {
        let pdu = rtu::write_multiple_pdu(addr, values);
        let resp = self.transact(unit, &pdu).await?;
        if resp.len() != 5 || resp[..5] != pdu[..5] {
            self.stats.framing_errors += 1;
            return Err(KeypadError::Framing(
                "write answer differs from the request".into(),
            ));
        }
        Ok(())
    }

    // ---- typed FK-3 API ----

    /// Reads and decodes the whole input block 0x0000..=0x0010.
    /// `NotAFaceKeypad` when IDENT != 0xFACE.
    pub async fn identify(&mut self, unit: u8) -> Result<KeypadInfo, KeypadError> {
        let r = self.read_input(unit, input::IDENT, input::COUNT).await?;
        KeypadInfo::decode(&r)
    }

    /// Reads IDENT only (2 registers: IDENT, FW_VERSION), for scans.
    pub async fn probe(&mut self, unit: u8) -> Result<u16, KeypadError> {
        let r = self.read_input(unit, input::IDENT, 2).await?;
        Ok(r[0])
    }

    /// Polls the status block 0x0002..=0x0008.
    pub async fn status(&mut self, unit: u8) -> Result<KeypadStatus, KeypadError> {
        let r = self.read_input(unit, input::STATE, 7).await?;
        KeypadStatus::decode(&r)
    }

    /// Reads the counters block 0x0009..=0x000E (presses, uptime, faults, BOOT_COUNT).
    pub async fn counters(&mut self, unit: u8) -> Result<KeypadCounters, KeypadError> {
        let r = self.read_input(unit, input::PRESSES_TOTAL, 6).await?;
        KeypadCounters::decode(&r)
    }

    /// Reads status and counters in one request (0x0002..=0x000E).
    pub async fn status_and_counters(
        &mut self,
        unit: u8,
    ) -> Result<(KeypadStatus, KeypadCounters), KeypadError> {
        let r = self.read_input(unit, input::STATE, 13).await?;
        Ok((
            KeypadStatus::decode(&r[..7])?,
            KeypadCounters::decode(&r[7..])?,
        ))
    }

    /// ARM: one 0x10 write of 0x0100..=0x0105 with COMMAND = ARM.
    /// `Busy` in REASON/LATCHED; `BadValue` for token 0 or windows out of range.
    pub async fn arm(
        &mut self,
        unit: u8,
        token: u32,
        window_s: u16,
        reason_window_s: u16,
    ) -> Result<(), KeypadError> {
        if token == 0 || !(5..=600).contains(&window_s) || reason_window_s > 60 {
            return Err(KeypadError::InvalidArgument(format!(
                "arm token {token} window {window_s}s reason window {reason_window_s}s (token != 0, window 5..=600, reason 0..=60)"
            )));
        }
        let v = [
            (token >> 16) as u16,
            (token & 0xFFFF) as u16,
            window_s,
            reason_window_s,
            0,
            Command::Arm as u16,
        ];
        self.write_multiple(unit, holding::ARM_TOKEN_HI, &v).await
    }

    /// Writes COMMAND alone.
    pub async fn command(&mut self, unit: u8, cmd: Command) -> Result<(), KeypadError> {
        self.write_single(unit, holding::COMMAND, cmd as u16).await
    }

    /// DISARM (`Busy` while LATCHED).
    pub async fn disarm(&mut self, unit: u8) -> Result<(), KeypadError> {
        self.command(unit, Command::Disarm).await
    }

    /// ACK: one 0x10 write of 0x0104..=0x0105 (ACK_SEQ, COMMAND = ACK).
    /// `BadValue` when nothing is latched or the sequence is not the current one.
    pub async fn ack(&mut self, unit: u8, vote_seq: u16) -> Result<(), KeypadError> {
        self.write_multiple(unit, holding::ACK_SEQ, &[vote_seq, Command::Ack as u16])
            .await
    }

    pub async fn self_test(&mut self, unit: u8) -> Result<(), KeypadError> {
        self.command(unit, Command::SelfTest).await
    }

    /// IDENTIFY: blinks all LEDs for 10 s.
    pub async fn identify_blink(&mut self, unit: u8) -> Result<(), KeypadError> {
        self.command(unit, Command::Identify).await
    }

    pub async fn save_config(&mut self, unit: u8) -> Result<(), KeypadError> {
        self.command(unit, Command::SaveConfig).await
    }

    /// REBOOT: the keypad answers, then restarts.
    pub async fn reboot(&mut self, unit: u8) -> Result<(), KeypadError> {
        self.command(unit, Command::Reboot).await
    }

    /// Reads UNIT_ID, BAUD_CODE, BRIGHTNESS (0x0110..=0x0112).
    pub async fn config(&mut self, unit: u8) -> Result<KeypadConfig, KeypadError> {
        let r = self.read_holding(unit, holding::UNIT_ID, 3).await?;
        Ok(KeypadConfig {
            unit_id: r[0] as u8,
            baud_code: r[1],
            brightness: r[2],
        })
    }

    /// Writes UNIT_ID (takes effect after SAVE_CONFIG and REBOOT).
    pub async fn set_unit_id(&mut self, unit: u8, new_id: u8) -> Result<(), KeypadError> {
        self.write_single(unit, holding::UNIT_ID, u16::from(new_id))
            .await
    }

    /// Writes BAUD_CODE 0..=4 (takes effect after SAVE_CONFIG and REBOOT).
    pub async fn set_baud_code(&mut self, unit: u8, code: u16) -> Result<(), KeypadError> {
        self.write_single(unit, holding::BAUD_CODE, code).await
    }

    /// Writes BRIGHTNESS 0..=100 (immediate).
    pub async fn set_brightness(&mut self, unit: u8, percent: u16) -> Result<(), KeypadError> {
        self.write_single(unit, holding::BRIGHTNESS, percent).await
    }
}
