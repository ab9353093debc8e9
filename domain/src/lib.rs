//! faccia's rules as pure code, with no I/O: ticket states, vote sessions, statistics, alert
//! rules and the one rounding rule for percentages. Nothing here knows gRPC, a database or a
//! serial port; the server feeds it facts and stores what it decides.

pub mod alerts;
pub mod calendar;
pub mod event;
pub mod figures;
pub mod keypad;
pub mod mac;
pub mod phone;
pub mod remote;
pub mod session;
pub mod stats;
pub mod ticket;
pub mod totem;

pub use calendar::{MonthError, YearMonth};
pub use event::{EventKind, InvalidField, Millis, RawEvent, TicketEvent, DAY_MS};
pub use figures::{Lang, Share};
pub use session::{Channel, Face, Judgement, KeypadArming, SessionState};
pub use ticket::{Step, TicketState, TicketView, Verdict};
