//! FK-3 face keypad driver ("Mettiamoci la faccia" counters).
//!
//! * [`master`]: Modbus RTU master with a typed FK-3 API ([`master::Master`]).
//! * [`bus`]: one task per serial port serving every keypad on it ([`bus::Bus::spawn`]):
//!   round-robin polling, commands, events ([`bus::BusEvent`]) and health ([`bus::KeypadHealth`]).
//! * [`sim`]: FK-3 simulator on a pseudo-terminal, with fault injection.
//! * [`tool`]: the technician's command line (`faccia keypad ...`).
//! * [`regs`], [`rtu`]: register map and RTU framing.

pub mod bus;
pub mod error;
pub mod master;
pub mod ports;
pub mod regs;
pub mod rtu;
pub mod sim;
pub mod tool;

pub use bus::{Bus, BusConfig, BusEvent, BusHandle, BusTiming, KeypadHealth};
pub use error::{KeypadError, OpenErrorKind};
pub use master::{open_port, FrameRecord, LinkStats, Master};
pub use regs::{Face, KeypadConfig, KeypadCounters, KeypadInfo, KeypadState, KeypadStatus};
