//! The FK-3 keypad as a pure state machine: registers, write validation, commands, voting
//! behaviour and window countdown. Time is injected (`now` = milliseconds on a monotonic clock
//! chosen by the caller), so every rule is unit-testable without sleeping.

use serde::Serialize;

use crate::regs::{faults, holding, input, Command, Face, KeypadState, IDENT_FACE};

/// A key on the panel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Key {
    Face(Face),
    /// Reason key 1..=4.
    Reason(u8),
}

impl std::str::FromStr for Key {
    type Err = String;
    /// `green`, `yellow`, `red` or `reason N`/`rN`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim().to_ascii_lowercase();
        let rest = s
            .strip_prefix("reason")
            .or_else(|| s.strip_prefix("motivo"))
            .or_else(|| {
                s.strip_prefix('r')
                    .filter(|r| r.chars().all(|c| c.is_ascii_digit()))
            });
        if let Some(n) = rest {
            let n: u8 = n
                .trim()
                .parse()
                .map_err(|_| format!("bad reason key {s:?}"))?;
            if (1..=4).contains(&n) {
                return Ok(Key::Reason(n));
            }
            return Err(format!("reason key must be 1..=4, got {n}"));
        }
        s.parse::<Face>().map(Key::Face)
    }
}

/// Something that happened on the keypad, for the simulator's vote log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub enum Fk3Event {
    Latched {
        token: u32,
        seq: u16,
        face: Face,
        reason: u8,
    },
    Acked {
        token: u32,
        seq: u16,
        face: Face,
        reason: u8,
    },
    Rebooted {
        boot_count: u16,
    },
}

/// Result of handling a request PDU: the response PDU (or `None` for no answer) and whether
/// the keypad must reboot after sending it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    pub pdu: Vec<u8>,
    pub reboot_after: bool,
}

/// Factory/boot values of the session holding registers (in range).
const DEFAULT_ARM_WINDOW_S: u16 = 60;
const DEFAULT_REASON_WINDOW_S: u16 = 20;

/// Simulated FK-3 keypad.
#[derive(Debug, Clone)]
pub struct Fk3 {
    // identity
    pub fw_version: u16,
    pub serial_no: u32,
    pub boot_count: u16,
    boot_at_ms: u64,
    // non-volatile config (what SAVE_CONFIG stored) and the active unit id / baud
    nv_unit_id: u8,
    nv_baud_code: u16,
    nv_brightness: u16,
    active_unit_id: u8,
    active_baud_code: u16,
    // holding registers
    arm_token: u32,
    arm_window_s: u16,
    reason_window_s: u16,
    ack_seq: u16,
    unit_id_reg: u16,
    baud_code_reg: u16,
    brightness: u16,
    // voting state
    state: KeypadState,
    token: u32,
    vote_seq: u16,
    vote_face: Option<Face>,
    vote_reason: u8,
    /// End of the ARMED window or of the REASON window (ms).
    deadline_ms: u64,
    /// REASON_WINDOW_S of the current session.
    session_reason_window_s: u16,
    presses_total: u16,
    presses_ignored: u16,
    faults: u16,
    /// Injected hardware faults: stuck keys (FAULTS bit layout) and LED fault.
    hw_faults: u16,
    self_test_until_ms: u64,
    identify_until_ms: u64,
    events: Vec<Fk3Event>,
}

impl Fk3 {
    /// A keypad fresh from the factory settings except for `unit_id`, booted at `now_ms`.
    pub fn new(unit_id: u8, serial_no: u32, now_ms: u64) -> Self {
        let mut k = Fk3 {
            fw_version: 0x0103,
            serial_no,
            boot_count: 0,
            boot_at_ms: now_ms,
            nv_unit_id: unit_id,
            nv_baud_code: 1,
            nv_brightness: 80,
            active_unit_id: unit_id,
            active_baud_code: 1,
            arm_token: 0,
            arm_window_s: DEFAULT_ARM_WINDOW_S,
            reason_window_s: DEFAULT_REASON_WINDOW_S,
            ack_seq: 0,
            unit_id_reg: u16::from(unit_id),
            baud_code_reg: 1,
            brightness: 80,
            state: KeypadState::Idle,
            token: 0,
            vote_seq: 0,
            vote_face: None,
            vote_reason: 0,
            deadline_ms: 0,
            session_reason_window_s: 0,
            presses_total: 0,
            presses_ignored: 0,
            faults: 0,
            hw_faults: 0,
            self_test_until_ms: 0,
            identify_until_ms: 0,
            events: Vec::new(),
        };
        k.boot(now_ms);
        k
    }

    /// Same as `new` with a non-default stored baud code (0..=4).
    pub fn with_baud_code(mut self, code: u16) -> Self {
        let code = code.min(4);
        self.nv_baud_code = code;
        self.active_baud_code = code;
        self.baud_code_reg = code;
        self
    }

    fn boot(&mut self, now_ms: u64) {
        self.boot_count = self.boot_count.wrapping_add(1);
        self.boot_at_ms = now_ms;
        self.active_unit_id = self.nv_unit_id;
        self.active_baud_code = self.nv_baud_code;
        self.unit_id_reg = u16::from(self.nv_unit_id);
        self.baud_code_reg = self.nv_baud_code;
        self.brightness = self.nv_brightness;
        self.arm_token = 0;
        self.arm_window_s = DEFAULT_ARM_WINDOW_S;
        self.reason_window_s = DEFAULT_REASON_WINDOW_S;
        self.ack_seq = 0;
        self.state = KeypadState::Idle;
        self.token = 0;
        self.vote_seq = 0;
        self.vote_face = None;
        self.vote_reason = 0;
        self.deadline_ms = 0;
        self.presses_total = 0;
        self.presses_ignored = 0;
        // brown-out is "since boot"; stuck keys / LED stay as long as the hardware fault does
        self.faults = self.hw_faults;
        self.self_test_until_ms = 0;
        self.identify_until_ms = 0;
    }

    /// Power cycle / REBOOT: all voting state is lost, BOOT_COUNT + 1.
    pub fn reboot(&mut self, now_ms: u64) {
        self.boot(now_ms);
        self.events.push(Fk3Event::Rebooted {
            boot_count: self.boot_count,
        });
    }

    /// Unit id the keypad answers to now.
    pub fn unit_id(&self) -> u8 {
        self.active_unit_id
    }

    /// BAUD_CODE the keypad runs at now.
    pub fn baud_code(&self) -> u16 {
        self.active_baud_code
    }

    pub fn state(&mut self, now_ms: u64) -> KeypadState {
        self.advance(now_ms);
        self.state
    }

    /// True while IDENTIFY blinks the LEDs.
    pub fn identifying(&self, now_ms: u64) -> bool {
        now_ms < self.identify_until_ms
    }

    /// True while SELF_TEST runs.
    pub fn self_testing(&self, now_ms: u64) -> bool {
        now_ms < self.self_test_until_ms
    }

    /// Events since the last call (latched/acked votes, reboots).
    pub fn take_events(&mut self) -> Vec<Fk3Event> {
        std::mem::take(&mut self.events)
    }

    /// Injects hardware faults (FAULTS bit layout: stuck keys, LED). Shown in FAULTS at once.
    pub fn set_hw_faults(&mut self, bits: u16) {
        self.hw_faults = bits;
        self.faults = (self.faults & faults::BROWN_OUT) | bits;
    }

    /// Sets FAULTS bit 6 (brown-out since boot).
    pub fn brown_out(&mut self) {
        self.faults |= faults::BROWN_OUT;
    }

    fn stuck_bit(key: Key) -> u16 {
        match key {
            Key::Face(Face::Green) => faults::GREEN_STUCK,
            Key::Face(Face::Yellow) => faults::YELLOW_STUCK,
            Key::Face(Face::Red) => faults::RED_STUCK,
            Key::Reason(_) => faults::REASON_STUCK,
        }
    }

    /// Runs the clock: window expiry.
    pub fn advance(&mut self, now_ms: u64) {
        match self.state {
            KeypadState::Armed if now_ms >= self.deadline_ms => {
                self.state = KeypadState::Idle;
                self.token = 0;
            }
            KeypadState::Reason if now_ms >= self.deadline_ms => {
                self.latch(Face::Red, 0);
            }
            _ => {}
        }
    }

    fn latch(&mut self, face: Face, reason: u8) {
        self.vote_seq = self.vote_seq.wrapping_add(1);
        self.vote_face = Some(face);
        self.vote_reason = reason;
        self.state = KeypadState::Latched;
        self.events.push(Fk3Event::Latched {
            token: self.token,
            seq: self.vote_seq,
            face,
            reason,
        });
    }

    /// A key press. Returns true when the press counted (was not ignored). A key with an
    /// injected "stuck" fault produces no presses at all.
    pub fn press(&mut self, key: Key, now_ms: u64) -> bool {
        self.advance(now_ms);
        if self.hw_faults & Self::stuck_bit(key) != 0 {
            return false;
        }
        self.presses_total = self.presses_total.wrapping_add(1);
        let counted = match (self.state, key) {
            (KeypadState::Armed, Key::Face(face)) => {
                if face == Face::Red && self.session_reason_window_s > 0 {
                    self.state = KeypadState::Reason;
                    self.deadline_ms = now_ms + u64::from(self.session_reason_window_s) * 1000;
                } else {
                    self.latch(face, 0);
                }
                true
            }
            (KeypadState::Reason, Key::Reason(r)) => {
                self.latch(Face::Red, r);
                true
            }
            _ => false,
        };
        if !counted {
            self.presses_ignored = self.presses_ignored.wrapping_add(1);
        }
        counted
    }

    /// WINDOW_LEFT_S: whole seconds left, rounded up; 0 outside ARMED/REASON.
    fn window_left_s(&self, now_ms: u64) -> u16 {
        match self.state {
            KeypadState::Armed | KeypadState::Reason => {
                let left = self.deadline_ms.saturating_sub(now_ms);
                left.div_ceil(1000).min(u64::from(u16::MAX)) as u16
            }
            _ => 0,
        }
    }

    /// Reads one input register; `None` for an address not in the map.
    pub fn input_reg(&mut self, addr: u16, now_ms: u64) -> Option<u16> {
        self.advance(now_ms);
        let uptime = ((now_ms.saturating_sub(self.boot_at_ms)) / 1000) as u32;
        Some(match addr {
            input::IDENT => IDENT_FACE,
            input::FW_VERSION => self.fw_version,
            input::STATE => self.state.to_reg(),
            input::SESSION_TOKEN_HI => (self.token >> 16) as u16,
            input::SESSION_TOKEN_LO => (self.token & 0xFFFF) as u16,
            input::VOTE_SEQ => self.vote_seq,
            input::VOTE_FACE => self.vote_face.map_or(0, |f| f as u16),
            input::VOTE_REASON => u16::from(self.vote_reason),
            input::WINDOW_LEFT_S => self.window_left_s(now_ms),
            input::PRESSES_TOTAL => self.presses_total,
            input::PRESSES_IGNORED => self.presses_ignored,
            input::UPTIME_HI => (uptime >> 16) as u16,
            input::UPTIME_LO => (uptime & 0xFFFF) as u16,
            input::FAULTS => self.faults,
            input::BOOT_COUNT => self.boot_count,
            input::SERIAL_HI => (self.serial_no >> 16) as u16,
            input::SERIAL_LO => (self.serial_no & 0xFFFF) as u16,
            _ => return None,
        })
    }

    /// Reads one holding register; `None` for an address not in the map.
    pub fn holding_reg(&self, addr: u16) -> Option<u16> {
        Some(match addr {
            holding::ARM_TOKEN_HI => (self.arm_token >> 16) as u16,
            holding::ARM_TOKEN_LO => (self.arm_token & 0xFFFF) as u16,
            holding::ARM_WINDOW_S => self.arm_window_s,
            holding::REASON_WINDOW_S => self.reason_window_s,
            holding::ACK_SEQ => self.ack_seq,
            holding::COMMAND => 0,
            holding::UNIT_ID => self.unit_id_reg,
            holding::BAUD_CODE => self.baud_code_reg,
            holding::BRIGHTNESS => self.brightness,
            _ => return None,
        })
    }

    /// Range check of a holding register value: `None` when the address does not exist,
    /// `Some(false)` when the value is out of range.
    fn holding_in_range(addr: u16, v: u16) -> Option<bool> {
        Some(match addr {
            holding::ARM_TOKEN_HI | holding::ARM_TOKEN_LO | holding::ACK_SEQ => true,
            holding::ARM_WINDOW_S => (5..=600).contains(&v),
            holding::REASON_WINDOW_S => v <= 60,
            holding::COMMAND => v <= 7,
            holding::UNIT_ID => (1..=247).contains(&v),
            holding::BAUD_CODE => v <= 4,
            holding::BRIGHTNESS => v <= 100,
            _ => return None,
        })
    }

    fn store(&mut self, addr: u16, v: u16) {
        match addr {
            holding::ARM_TOKEN_HI => {
                self.arm_token = (self.arm_token & 0xFFFF) | (u32::from(v) << 16)
            }
            holding::ARM_TOKEN_LO => self.arm_token = (self.arm_token & 0xFFFF_0000) | u32::from(v),
            holding::ARM_WINDOW_S => self.arm_window_s = v,
            holding::REASON_WINDOW_S => self.reason_window_s = v,
            holding::ACK_SEQ => self.ack_seq = v,
            holding::UNIT_ID => self.unit_id_reg = v,
            holding::BAUD_CODE => self.baud_code_reg = v,
            holding::BRIGHTNESS => self.brightness = v,
            _ => {}
        }
    }

    /// Writes registers as one whole write (0x06 is a write of one): all addresses and values
    /// are checked first; then the non-COMMAND registers are stored, then the command runs.
    /// Returns the Modbus exception code on failure (and then nothing has changed).
    pub fn write(&mut self, addr: u16, values: &[u16], now_ms: u64) -> Result<bool, u8> {
        self.advance(now_ms);
        let mut command = None;
        for (i, v) in values.iter().enumerate() {
            let a = addr.checked_add(i as u16).ok_or(0x02u8)?;
            match Self::holding_in_range(a, *v) {
                None => return Err(0x02),
                Some(false) => return Err(0x03),
                Some(true) => {}
            }
            if a == holding::COMMAND && *v != 0 {
                command = Some(*v);
            }
        }
        let snapshot = self.clone();
        for (i, v) in values.iter().enumerate() {
            self.store(addr + i as u16, *v);
        }
        let mut reboot = false;
        if let Some(code) = command {
            match self.execute(code, now_ms) {
                Ok(r) => reboot = r,
                Err(e) => {
                    // "nothing changes": restore registers too
                    let events = std::mem::take(&mut self.events);
                    *self = snapshot;
                    self.events = events;
                    return Err(e);
                }
            }
        }
        Ok(reboot)
    }

    /// Executes a COMMAND code. Ok(true) means "reboot after the response".
    fn execute(&mut self, code: u16, now_ms: u64) -> Result<bool, u8> {
        let cmd = match code {
            1 => Command::Arm,
            2 => Command::Disarm,
            3 => Command::Ack,
            4 => Command::SelfTest,
            5 => Command::Identify,
            6 => Command::SaveConfig,
            7 => Command::Reboot,
            _ => return Err(0x03),
        };
        match cmd {
            Command::Arm => {
                if self.arm_token == 0 {
                    return Err(0x03);
                }
                match self.state {
                    KeypadState::Reason | KeypadState::Latched => return Err(0x06),
                    KeypadState::Idle | KeypadState::Armed => {
                        self.state = KeypadState::Armed;
                        self.token = self.arm_token;
                        self.deadline_ms = now_ms + u64::from(self.arm_window_s) * 1000;
                        self.session_reason_window_s = self.reason_window_s;
                        self.vote_face = None;
                        self.vote_reason = 0;
                    }
                }
            }
            Command::Disarm => match self.state {
                KeypadState::Armed | KeypadState::Reason => {
                    self.state = KeypadState::Idle;
                    self.token = 0;
                }
                KeypadState::Idle => {}
                KeypadState::Latched => return Err(0x06),
            },
            Command::Ack => {
                if self.state != KeypadState::Latched || self.ack_seq != self.vote_seq {
                    return Err(0x03);
                }
                if let Some(face) = self.vote_face {
                    self.events.push(Fk3Event::Acked {
                        token: self.token,
                        seq: self.vote_seq,
                        face,
                        reason: self.vote_reason,
                    });
                }
                self.state = KeypadState::Idle;
                self.token = 0;
                self.vote_face = None;
                self.vote_reason = 0;
            }
            Command::SelfTest => {
                // 3 faces + 4 reason LEDs, 3 s each
                self.self_test_until_ms = now_ms + 7 * 3000;
                self.faults = (self.faults & faults::BROWN_OUT) | self.hw_faults;
            }
            Command::Identify => self.identify_until_ms = now_ms + 10_000,
            Command::SaveConfig => {
                self.nv_unit_id = self.unit_id_reg as u8;
                self.nv_baud_code = self.baud_code_reg;
                self.nv_brightness = self.brightness;
            }
            Command::Reboot => return Ok(true),
        }
        Ok(false)
    }

    /// Handles a request PDU addressed to this keypad and returns the response PDU.
    pub fn handle_pdu(&mut self, pdu: &[u8], now_ms: u64) -> Reply {
        let f = pdu.first().copied().unwrap_or(0);
        let exc = |code: u8| Reply {
            pdu: vec![f | 0x80, code],
            reboot_after: false,
        };
        let be = |i: usize| u16::from_be_bytes([pdu[i], pdu[i + 1]]);
        match f {
            0x03 | 0x04 => {
                if pdu.len() != 5 {
                    return exc(0x03);
                }
                let (addr, count) = (be(1), be(3));
                if count == 0 || count > 125 {
                    return exc(0x03);
                }
                let mut out = vec![f, (count * 2) as u8];
                for i in 0..count {
                    let a = match addr.checked_add(i) {
                        Some(a) => a,
                        None => return exc(0x02),
                    };
                    let v = if f == 0x04 {
                        self.input_reg(a, now_ms)
                    } else {
                        self.holding_reg(a)
                    };
                    match v {
                        Some(v) => out.extend_from_slice(&v.to_be_bytes()),
                        None => return exc(0x02),
                    }
                }
                Reply {
                    pdu: out,
                    reboot_after: false,
                }
            }
            0x06 => {
                if pdu.len() != 5 {
                    return exc(0x03);
                }
                match self.write(be(1), &[be(3)], now_ms) {
                    Ok(reboot_after) => Reply {
                        pdu: pdu.to_vec(),
                        reboot_after,
                    },
                    Err(c) => exc(c),
                }
            }
            0x10 => {
                if pdu.len() < 6 {
                    return exc(0x03);
                }
                let (addr, count, n) = (be(1), be(3), pdu[5] as usize);
                if count == 0 || count > 123 || n != count as usize * 2 || pdu.len() != 6 + n {
                    return exc(0x03);
                }
                let values: Vec<u16> = (0..count as usize).map(|i| be(6 + 2 * i)).collect();
                match self.write(addr, &values, now_ms) {
                    Ok(reboot_after) => Reply {
                        pdu: pdu[..5].to_vec(),
                        reboot_after,
                    },
                    Err(c) => exc(c),
                }
            }
            _ => exc(0x01),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::regs::holding::*;

    const S: u64 = 1000;

    fn arm(k: &mut Fk3, token: u32, w: u16, rw: u16, now: u64) -> Result<bool, u8> {
        k.write(
            ARM_TOKEN_HI,
            &[(token >> 16) as u16, token as u16, w, rw, 0, 1],
            now,
        )
    }
    fn ack(k: &mut Fk3, seq: u16, now: u64) -> Result<bool, u8> {
        k.write(ACK_SEQ, &[seq, 3], now)
    }
    fn reg(k: &mut Fk3, a: u16, now: u64) -> u16 {
        k.input_reg(a, now).expect("register exists")
    }
    fn token(k: &mut Fk3, now: u64) -> u32 {
        (u32::from(reg(k, input::SESSION_TOKEN_HI, now)) << 16)
            | u32::from(reg(k, input::SESSION_TOKEN_LO, now))
    }

    #[test]
    fn ident_and_boot() {
        let mut k = Fk3::new(3, 0x0012_3456, 0);
        assert_eq!(reg(&mut k, input::IDENT, 0), 0xFACE);
        assert_eq!(reg(&mut k, input::STATE, 0), 0);
        assert_eq!(reg(&mut k, input::BOOT_COUNT, 0), 1);
        assert_eq!(reg(&mut k, input::SERIAL_HI, 0), 0x12);
        assert_eq!(reg(&mut k, input::SERIAL_LO, 0), 0x3456);
        assert_eq!(reg(&mut k, input::UPTIME_LO, 5 * S + 999), 5);
        assert_eq!(k.input_reg(0x0011, 0), None);
    }

    #[test]
    fn arm_green_latches_and_ack() {
        let mut k = Fk3::new(1, 1, 0);
        arm(&mut k, 0x0001_0002, 30, 0, 0).expect("arm");
        assert_eq!(reg(&mut k, input::STATE, 0), 1);
        assert_eq!(token(&mut k, 0), 0x0001_0002);
        assert_eq!(reg(&mut k, input::WINDOW_LEFT_S, 0), 30);
        assert_eq!(reg(&mut k, input::WINDOW_LEFT_S, 10 * S + 1), 20);
        assert!(k.press(Key::Face(Face::Green), 11 * S));
        assert_eq!(reg(&mut k, input::STATE, 11 * S), 3);
        assert_eq!(reg(&mut k, input::VOTE_SEQ, 11 * S), 1);
        assert_eq!(reg(&mut k, input::VOTE_FACE, 11 * S), 1);
        assert_eq!(reg(&mut k, input::WINDOW_LEFT_S, 11 * S), 0);
        // latched never expires; presses ignored
        assert!(!k.press(Key::Face(Face::Red), 500 * S));
        assert_eq!(reg(&mut k, input::STATE, 900 * S), 3);
        assert_eq!(reg(&mut k, input::PRESSES_TOTAL, 900 * S), 2);
        assert_eq!(reg(&mut k, input::PRESSES_IGNORED, 900 * S), 1);
        // arm while latched: busy, nothing changes (token register too)
        assert_eq!(arm(&mut k, 77, 30, 0, 900 * S), Err(0x06));
        assert_eq!(k.holding_reg(ARM_TOKEN_LO), Some(2));
        assert_eq!(token(&mut k, 900 * S), 0x0001_0002);
        // disarm while latched: busy
        assert_eq!(k.write(COMMAND, &[2], 900 * S), Err(0x06));
        // wrong seq
        assert_eq!(ack(&mut k, 2, 900 * S), Err(0x03));
        assert_eq!(reg(&mut k, input::STATE, 900 * S), 3);
        ack(&mut k, 1, 900 * S).expect("ack");
        assert_eq!(reg(&mut k, input::STATE, 900 * S), 0);
        assert_eq!(reg(&mut k, input::VOTE_FACE, 900 * S), 0);
        assert_eq!(token(&mut k, 900 * S), 0);
        assert_eq!(reg(&mut k, input::VOTE_SEQ, 900 * S), 1);
        // ack in idle
        assert_eq!(ack(&mut k, 1, 900 * S), Err(0x03));
        let ev = k.take_events();
        assert_eq!(ev.len(), 2);
    }

    #[test]
    fn arm_window_runs_out() {
        let mut k = Fk3::new(1, 1, 0);
        arm(&mut k, 5, 5, 0, 0).expect("arm");
        assert_eq!(reg(&mut k, input::STATE, 4999), 1);
        assert_eq!(reg(&mut k, input::WINDOW_LEFT_S, 4001), 1);
        assert_eq!(reg(&mut k, input::STATE, 5000), 0);
        assert_eq!(token(&mut k, 5000), 0);
        assert!(!k.press(Key::Face(Face::Green), 5001));
        assert_eq!(reg(&mut k, input::VOTE_SEQ, 5001), 0);
    }

    #[test]
    fn rearm_replaces_session() {
        let mut k = Fk3::new(1, 1, 0);
        arm(&mut k, 5, 10, 0, 0).expect("arm");
        arm(&mut k, 6, 20, 0, 8 * S).expect("re-arm");
        assert_eq!(token(&mut k, 8 * S), 6);
        assert_eq!(reg(&mut k, input::STATE, 15 * S), 1);
        assert_eq!(reg(&mut k, input::WINDOW_LEFT_S, 15 * S), 13);
        assert!(k.press(Key::Face(Face::Yellow), 16 * S));
        assert_eq!(reg(&mut k, input::VOTE_FACE, 16 * S), 2);
        assert_eq!(token(&mut k, 16 * S), 6);
    }

    #[test]
    fn red_with_reason_key() {
        let mut k = Fk3::new(1, 1, 0);
        arm(&mut k, 9, 30, 10, 0).expect("arm");
        assert!(!k.press(Key::Reason(1), 0)); // reason key not lit in ARMED
        assert!(k.press(Key::Face(Face::Red), S));
        assert_eq!(reg(&mut k, input::STATE, S), 2);
        assert_eq!(reg(&mut k, input::WINDOW_LEFT_S, S), 10);
        assert_eq!(arm(&mut k, 10, 30, 0, S), Err(0x06)); // busy in REASON
        assert!(!k.press(Key::Face(Face::Green), 2 * S)); // second press
        assert!(k.press(Key::Reason(2), 3 * S));
        assert_eq!(reg(&mut k, input::STATE, 3 * S), 3);
        assert_eq!(reg(&mut k, input::VOTE_FACE, 3 * S), 3);
        assert_eq!(reg(&mut k, input::VOTE_REASON, 3 * S), 2);
        assert_eq!(reg(&mut k, input::PRESSES_IGNORED, 3 * S), 2);
        assert_eq!(reg(&mut k, input::PRESSES_TOTAL, 3 * S), 4);
    }

    #[test]
    fn red_reason_window_runs_out() {
        let mut k = Fk3::new(1, 1, 0);
        arm(&mut k, 9, 30, 4, 0).expect("arm");
        assert!(k.press(Key::Face(Face::Red), S));
        assert_eq!(reg(&mut k, input::STATE, 4 * S), 2);
        assert_eq!(reg(&mut k, input::STATE, 5 * S), 3);
        assert_eq!(reg(&mut k, input::VOTE_REASON, 5 * S), 0);
        assert_eq!(reg(&mut k, input::VOTE_FACE, 5 * S), 3);
    }

    #[test]
    fn red_without_reason_window() {
        let mut k = Fk3::new(1, 1, 0);
        arm(&mut k, 9, 30, 0, 0).expect("arm");
        assert!(k.press(Key::Face(Face::Red), S));
        assert_eq!(reg(&mut k, input::STATE, S), 3);
        assert_eq!(reg(&mut k, input::VOTE_REASON, S), 0);
    }

    #[test]
    fn disarm_rules() {
        let mut k = Fk3::new(1, 1, 0);
        k.write(COMMAND, &[2], 0).expect("disarm idle is no-op");
        arm(&mut k, 9, 30, 10, 0).expect("arm");
        k.press(Key::Face(Face::Red), S);
        k.write(COMMAND, &[2], S).expect("disarm in reason");
        assert_eq!(reg(&mut k, input::STATE, S), 0);
        assert_eq!(reg(&mut k, input::VOTE_SEQ, S), 0);
        assert!(k.take_events().is_empty());
    }

    #[test]
    fn whole_write_validation() {
        let mut k = Fk3::new(1, 1, 0);
        // ARM_WINDOW_S out of range: nothing stored, no state change
        assert_eq!(arm(&mut k, 9, 4, 0, 0), Err(0x03));
        assert_eq!(k.holding_reg(ARM_TOKEN_LO), Some(0));
        assert_eq!(arm(&mut k, 9, 601, 0, 0), Err(0x03));
        assert_eq!(arm(&mut k, 9, 30, 61, 0), Err(0x03));
        assert_eq!(arm(&mut k, 0, 30, 0, 0), Err(0x03)); // token 0
        assert_eq!(reg(&mut k, input::STATE, 0), 0);
        assert_eq!(k.write(COMMAND, &[8], 0), Err(0x03));
        assert_eq!(k.write(holding::UNIT_ID, &[0], 0), Err(0x03));
        assert_eq!(k.write(holding::UNIT_ID, &[248], 0), Err(0x03));
        assert_eq!(k.write(holding::BAUD_CODE, &[5], 0), Err(0x03));
        assert_eq!(k.write(holding::BRIGHTNESS, &[101], 0), Err(0x03));
        // a write spanning a hole is an address error, and stores nothing
        assert_eq!(k.write(ACK_SEQ, &[1, 0, 0], 0), Err(0x02));
        assert_eq!(k.holding_reg(ACK_SEQ), Some(0));
        // one bad value among good ones: nothing changes
        assert_eq!(k.write(holding::UNIT_ID, &[5, 9, 50], 0), Err(0x03));
        assert_eq!(k.holding_reg(holding::UNIT_ID), Some(1));
        k.write(holding::UNIT_ID, &[5, 4, 50], 0).expect("valid");
        assert_eq!(k.holding_reg(holding::BRIGHTNESS), Some(50));
        assert_eq!(k.holding_reg(COMMAND), Some(0));
    }

    #[test]
    fn pdu_level_errors() {
        let mut k = Fk3::new(1, 1, 0);
        assert_eq!(
            k.handle_pdu(&[0x05, 0, 0, 0xFF, 0], 0).pdu,
            vec![0x85, 0x01]
        );
        assert_eq!(
            k.handle_pdu(&[0x04, 0, 0x10, 0, 2], 0).pdu,
            vec![0x84, 0x02]
        );
        assert_eq!(k.handle_pdu(&[0x03, 0, 0, 0, 1], 0).pdu, vec![0x83, 0x02]);
        assert_eq!(k.handle_pdu(&[0x04, 1, 0, 0, 1], 0).pdu, vec![0x84, 0x02]);
        assert_eq!(
            k.handle_pdu(&[0x03, 1, 0x05, 0, 2], 0).pdu,
            vec![0x83, 0x02]
        );
        assert_eq!(k.handle_pdu(&[0x04, 0, 0, 0, 0], 0).pdu, vec![0x84, 0x03]);
        let r = k.handle_pdu(&[0x04, 0, 0, 0, 2], 0);
        assert_eq!(r.pdu, vec![0x04, 4, 0xFA, 0xCE, 0x01, 0x03]);
        let r = k.handle_pdu(&[0x06, 0x01, 0x12, 0, 10], 0);
        assert_eq!(r.pdu, vec![0x06, 0x01, 0x12, 0, 10]);
        assert_eq!(k.holding_reg(holding::BRIGHTNESS), Some(10));
    }

    #[test]
    fn save_reboot_and_boot_count() {
        let mut k = Fk3::new(1, 1, 0);
        arm(&mut k, 9, 30, 0, 0).expect("arm");
        k.write(holding::UNIT_ID, &[7, 4], 0).expect("write cfg");
        assert_eq!(k.unit_id(), 1);
        // reboot without save: old config comes back
        assert_eq!(k.write(COMMAND, &[7], 0), Ok(true));
        k.reboot(0);
        assert_eq!(k.unit_id(), 1);
        assert_eq!(k.holding_reg(holding::UNIT_ID), Some(1));
        assert_eq!(reg(&mut k, input::BOOT_COUNT, 0), 2);
        assert_eq!(reg(&mut k, input::STATE, 0), 0);
        k.write(holding::UNIT_ID, &[7, 4], 0).expect("write cfg");
        k.write(COMMAND, &[6], 0).expect("save");
        assert_eq!(k.unit_id(), 1);
        k.reboot(0);
        assert_eq!(k.unit_id(), 7);
        assert_eq!(k.baud_code(), 4);
        assert_eq!(reg(&mut k, input::BOOT_COUNT, 0), 3);
    }

    #[test]
    fn vote_seq_wraps_and_self_test_faults() {
        let mut k = Fk3::new(1, 1, 0);
        k.vote_seq = u16::MAX;
        arm(&mut k, 9, 30, 0, 0).expect("arm");
        k.press(Key::Face(Face::Green), 0);
        assert_eq!(reg(&mut k, input::VOTE_SEQ, 0), 0);
        ack(&mut k, 0, 0).expect("ack at wrapped seq");
        k.set_hw_faults(faults::YELLOW_STUCK);
        assert_eq!(reg(&mut k, input::FAULTS, 0), faults::YELLOW_STUCK);
        // a stuck key produces no presses
        arm(&mut k, 9, 30, 0, 0).expect("arm");
        assert!(!k.press(Key::Face(Face::Yellow), 0));
        assert_eq!(reg(&mut k, input::STATE, 0), 1);
        k.write(COMMAND, &[4], 0).expect("self test");
        assert!(k.self_testing(1000));
        assert_eq!(reg(&mut k, input::STATE, 0), 1);
        k.write(COMMAND, &[5], 0).expect("identify");
        assert!(k.identifying(9_999));
        assert!(!k.identifying(10_000));
        assert_eq!(reg(&mut k, input::STATE, 0), 1);
    }

    #[test]
    fn idle_presses_ignored() {
        let mut k = Fk3::new(1, 1, 0);
        k.press(Key::Face(Face::Green), 0);
        k.press(Key::Reason(3), 0);
        assert_eq!(reg(&mut k, input::PRESSES_TOTAL, 0), 2);
        assert_eq!(reg(&mut k, input::PRESSES_IGNORED, 0), 2);
        assert_eq!(reg(&mut k, input::VOTE_SEQ, 0), 0);
    }

    #[test]
    fn key_parse() {
        assert_eq!("green".parse::<Key>(), Ok(Key::Face(Face::Green)));
        assert_eq!("reason 2".parse::<Key>(), Ok(Key::Reason(2)));
        assert_eq!("r4".parse::<Key>(), Ok(Key::Reason(4)));
        assert!("reason 5".parse::<Key>().is_err());
    }
}
