//! FK-3 register map (spec `keypad-modbus.md`) and decoded register blocks.

use serde::Serialize;

use crate::error::KeypadError;

/// Value of IDENT for every face keypad.
pub const IDENT_FACE: u16 = 0xFACE;

/// Input registers (function 0x04).
pub mod input {
    pub const IDENT: u16 = 0x0000;
    pub const FW_VERSION: u16 = 0x0001;
    pub const STATE: u16 = 0x0002;
    pub const SESSION_TOKEN_HI: u16 = 0x0003;
    pub const SESSION_TOKEN_LO: u16 = 0x0004;
    pub const VOTE_SEQ: u16 = 0x0005;
    pub const VOTE_FACE: u16 = 0x0006;
    pub const VOTE_REASON: u16 = 0x0007;
    pub const WINDOW_LEFT_S: u16 = 0x0008;
    pub const PRESSES_TOTAL: u16 = 0x0009;
    pub const PRESSES_IGNORED: u16 = 0x000A;
    pub const UPTIME_HI: u16 = 0x000B;
    pub const UPTIME_LO: u16 = 0x000C;
    pub const FAULTS: u16 = 0x000D;
    pub const BOOT_COUNT: u16 = 0x000E;
    pub const SERIAL_HI: u16 = 0x000F;
    pub const SERIAL_LO: u16 = 0x0010;
    /// Number of input registers (0x0000..=0x0010).
    pub const COUNT: u16 = 0x11;
}

/// Holding registers (functions 0x03, 0x06, 0x10).
pub mod holding {
    pub const ARM_TOKEN_HI: u16 = 0x0100;
    pub const ARM_TOKEN_LO: u16 = 0x0101;
    pub const ARM_WINDOW_S: u16 = 0x0102;
    pub const REASON_WINDOW_S: u16 = 0x0103;
    pub const ACK_SEQ: u16 = 0x0104;
    pub const COMMAND: u16 = 0x0105;
    pub const UNIT_ID: u16 = 0x0110;
    pub const BAUD_CODE: u16 = 0x0111;
    pub const BRIGHTNESS: u16 = 0x0112;
}

/// FAULTS bits.
pub mod faults {
    pub const GREEN_STUCK: u16 = 1 << 0;
    pub const YELLOW_STUCK: u16 = 1 << 1;
    pub const RED_STUCK: u16 = 1 << 2;
    pub const LED: u16 = 1 << 3;
    pub const REASON_STUCK: u16 = 1 << 4;
    pub const CONFIG_MEMORY: u16 = 1 << 5;
    pub const BROWN_OUT: u16 = 1 << 6;
}

/// Describes FAULTS bits in words (English identifiers).
pub fn fault_names(bits: u16) -> Vec<&'static str> {
    const NAMES: [&str; 7] = [
        "green-key-stuck",
        "yellow-key-stuck",
        "red-key-stuck",
        "led-fault",
        "reason-key-stuck",
        "config-memory-fault",
        "brown-out",
    ];
    NAMES
        .iter()
        .enumerate()
        .filter(|(i, _)| bits & (1 << i) != 0)
        .map(|(_, n)| *n)
        .collect()
}

/// Codes written to COMMAND (0x0105).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[repr(u16)]
pub enum Command {
    Arm = 1,
    Disarm = 2,
    Ack = 3,
    SelfTest = 4,
    Identify = 5,
    SaveConfig = 6,
    Reboot = 7,
}

/// Keypad state (STATE, 0x0002).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub enum KeypadState {
    Idle,
    Armed,
    Reason,
    Latched,
}

impl KeypadState {
    pub fn from_reg(v: u16) -> Option<Self> {
        Some(match v {
            0 => KeypadState::Idle,
            1 => KeypadState::Armed,
            2 => KeypadState::Reason,
            3 => KeypadState::Latched,
            _ => return None,
        })
    }
    pub fn to_reg(self) -> u16 {
        self as u16
    }
    /// Upper-case name as on the spec.
    pub fn name(self) -> &'static str {
        match self {
            KeypadState::Idle => "IDLE",
            KeypadState::Armed => "ARMED",
            KeypadState::Reason => "REASON",
            KeypadState::Latched => "LATCHED",
        }
    }
}

/// A face button.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Face {
    Green = 1,
    Yellow = 2,
    Red = 3,
}

impl Face {
    pub fn from_reg(v: u16) -> Option<Self> {
        Some(match v {
            1 => Face::Green,
            2 => Face::Yellow,
            3 => Face::Red,
            _ => return None,
        })
    }
    pub fn code(self) -> u8 {
        self as u8
    }
    pub fn name(self) -> &'static str {
        match self {
            Face::Green => "green",
            Face::Yellow => "yellow",
            Face::Red => "red",
        }
    }
}

impl std::str::FromStr for Face {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "green" | "verde" | "1" | "g" => Ok(Face::Green),
            "yellow" | "giallo" | "2" | "y" => Ok(Face::Yellow),
            "red" | "rosso" | "3" | "r" => Ok(Face::Red),
            o => Err(format!("unknown face {o:?} (green|yellow|red)")),
        }
    }
}

/// Baud rates by BAUD_CODE (0..=4).
pub const BAUD_RATES: [u32; 5] = [9600, 19200, 38400, 57600, 115200];

/// BAUD_CODE for a baud rate, if it is one the keypad supports.
pub fn baud_code(baud: u32) -> Option<u16> {
    BAUD_RATES.iter().position(|b| *b == baud).map(|i| i as u16)
}

/// Baud rate for a BAUD_CODE.
pub fn baud_from_code(code: u16) -> Option<u32> {
    BAUD_RATES.get(code as usize).copied()
}

/// The polled status block 0x0002..=0x0008.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct KeypadStatus {
    pub state: KeypadState,
    /// SESSION_TOKEN (0 when IDLE).
    pub token: u32,
    pub vote_seq: u16,
    /// VOTE_FACE (None when nothing is latched).
    pub face: Option<Face>,
    /// VOTE_REASON (0 = none, 1..=4).
    pub reason: u8,
    pub window_left_s: u16,
}

impl KeypadStatus {
    /// Decodes registers 0x0002..=0x0008 (7 values).
    pub fn decode(r: &[u16]) -> Result<Self, KeypadError> {
        if r.len() < 7 {
            return Err(KeypadError::Framing(format!(
                "status block has {} registers",
                r.len()
            )));
        }
        let state = KeypadState::from_reg(r[0]).ok_or(KeypadError::InvalidRegister {
            addr: input::STATE,
            value: r[0],
        })?;
        let face = match r[4] {
            0 => None,
            v => Some(Face::from_reg(v).ok_or(KeypadError::InvalidRegister {
                addr: input::VOTE_FACE,
                value: v,
            })?),
        };
        if r[5] > 4 {
            return Err(KeypadError::InvalidRegister {
                addr: input::VOTE_REASON,
                value: r[5],
            });
        }
        Ok(KeypadStatus {
            state,
            token: (u32::from(r[1]) << 16) | u32::from(r[2]),
            vote_seq: r[3],
            face,
            reason: r[5] as u8,
            window_left_s: r[6],
        })
    }
}

/// Counters block 0x0009..=0x000E.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct KeypadCounters {
    pub presses_total: u16,
    pub presses_ignored: u16,
    pub uptime_s: u32,
    pub faults: u16,
    pub boot_count: u16,
}

impl KeypadCounters {
    /// Decodes registers 0x0009..=0x000E (6 values).
    pub fn decode(r: &[u16]) -> Result<Self, KeypadError> {
        if r.len() < 6 {
            return Err(KeypadError::Framing(format!(
                "counter block has {} registers",
                r.len()
            )));
        }
        Ok(KeypadCounters {
            presses_total: r[0],
            presses_ignored: r[1],
            uptime_s: (u32::from(r[2]) << 16) | u32::from(r[3]),
            faults: r[4],
            boot_count: r[5],
        })
    }
}

/// The whole input block 0x0000..=0x0010, decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct KeypadInfo {
    pub ident: u16,
    /// FW_VERSION (major, minor).
    pub firmware: (u8, u8),
    pub status: KeypadStatus,
    pub counters: KeypadCounters,
    pub serial_no: u32,
}

impl KeypadInfo {
    /// Decodes the 17 registers 0x0000..=0x0010. Fails with `NotAFaceKeypad` when IDENT != 0xFACE.
    pub fn decode(r: &[u16]) -> Result<Self, KeypadError> {
        if r.len() < input::COUNT as usize {
            return Err(KeypadError::Framing(format!(
                "full block has {} registers",
                r.len()
            )));
        }
        if r[0] != IDENT_FACE {
            return Err(KeypadError::NotAFaceKeypad { ident: r[0] });
        }
        Ok(KeypadInfo {
            ident: r[0],
            firmware: ((r[1] >> 8) as u8, (r[1] & 0xFF) as u8),
            status: KeypadStatus::decode(&r[2..9])?,
            counters: KeypadCounters::decode(&r[9..15])?,
            serial_no: (u32::from(r[15]) << 16) | u32::from(r[16]),
        })
    }
}

/// Configuration holding registers 0x0110..=0x0112.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct KeypadConfig {
    pub unit_id: u8,
    pub baud_code: u16,
    pub brightness: u16,
}
