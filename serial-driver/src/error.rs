//! Typed errors of the driver.

use std::path::PathBuf;

/// Everything that can go wrong talking to one FK-3 keypad.
#[derive(Debug, thiserror::Error)]
pub enum KeypadError {
    /// Modbus exception 0x01: the keypad does not support the function.
    #[error("illegal function (Modbus exception 0x01)")]
    IllegalFunction,
    /// Modbus exception 0x02: address not in the register map.
    #[error("illegal data address (Modbus exception 0x02)")]
    IllegalAddress,
    /// Modbus exception 0x03: value out of range, or a command refused in the current state
    /// (ARM with token 0, ACK with the wrong sequence or nothing latched). Nothing changed.
    #[error("illegal data value (Modbus exception 0x03)")]
    BadValue,
    /// Modbus exception 0x04.
    #[error("slave device failure (Modbus exception 0x04)")]
    DeviceFailure,
    /// Modbus exception 0x06: ARM while REASON/LATCHED, DISARM while LATCHED.
    #[error("device busy (Modbus exception 0x06)")]
    Busy,
    /// Any other Modbus exception code.
    #[error("Modbus exception 0x{0:02X}")]
    Exception(u8),
    /// No (complete) answer within the request timeout.
    #[error("no answer within the timeout")]
    Timeout,
    /// A frame of the expected shape arrived with a bad CRC.
    #[error("CRC error in the response")]
    Crc,
    /// Bytes arrived that do not form the expected response.
    #[error("framing error: {0}")]
    Framing(String),
    /// The serial port failed (unplugged, closed ...).
    #[error("serial I/O error: {0}")]
    Io(#[from] std::io::Error),
    /// The port could not be opened.
    #[error("cannot open {path}: {kind}")]
    Open { path: PathBuf, kind: OpenErrorKind },
    /// IDENT (input register 0x0000) is not 0xFACE.
    #[error("not a face keypad: IDENT is 0x{ident:04X}, expected 0xFACE")]
    NotAFaceKeypad { ident: u16 },
    /// A value read back is not one the spec allows (e.g. STATE = 9).
    #[error("invalid value {value} in register 0x{addr:04X}")]
    InvalidRegister { addr: u16, value: u16 },
    /// The unit id is not configured on this bus.
    #[error("unit {0} is not configured on this bus")]
    UnknownUnit(u8),
    /// The port of the bus is currently closed (being reopened).
    #[error("the serial port is not open (reopening)")]
    PortClosed,
    /// The bus task has stopped.
    #[error("the bus task has stopped")]
    BusStopped,
    /// Invalid argument given by the caller (checked before touching the wire).
    #[error("invalid argument: {0}")]
    InvalidArgument(String),
}

/// Why a port could not be opened, classified so a technician can act on it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OpenErrorKind {
    /// No such device.
    NotFound,
    /// Permission denied: the user must be in the `dialout` group.
    PermissionDenied,
    /// Another program holds the port.
    Busy,
    /// Anything else, with the OS description.
    Other(String),
}

impl std::fmt::Display for OpenErrorKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            OpenErrorKind::NotFound => write!(f, "no such device"),
            OpenErrorKind::PermissionDenied => {
                write!(f, "permission denied (join the `dialout` group)")
            }
            OpenErrorKind::Busy => write!(f, "port busy (used by another program)"),
            OpenErrorKind::Other(s) => write!(f, "{s}"),
        }
    }
}

impl KeypadError {
    /// Maps a Modbus exception code to a typed error.
    pub fn from_exception(code: u8) -> Self {
        match code {
            0x01 => KeypadError::IllegalFunction,
            0x02 => KeypadError::IllegalAddress,
            0x03 => KeypadError::BadValue,
            0x04 => KeypadError::DeviceFailure,
            0x06 => KeypadError::Busy,
            c => KeypadError::Exception(c),
        }
    }

    /// True when the keypad answered (a Modbus exception): the link works.
    pub fn is_exception(&self) -> bool {
        matches!(
            self,
            KeypadError::IllegalFunction
                | KeypadError::IllegalAddress
                | KeypadError::BadValue
                | KeypadError::DeviceFailure
                | KeypadError::Busy
                | KeypadError::Exception(_)
        )
    }

    /// True when the port itself failed and must be reopened.
    pub fn is_port_failure(&self) -> bool {
        matches!(self, KeypadError::Io(_))
    }
}
