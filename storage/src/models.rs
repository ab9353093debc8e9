//! Rows as diesel reads and writes them.
//!
//! The rows the writer inserts for every event insert `None` as NULL
//! (`treat_none_as_default_value = false`; those columns have no other default): the statement's
//! SQL text is then the same for every row, so it is prepared once and kept (see
//! `conn::Cached`), where leaving the column out (SQLite) or writing `DEFAULT` (PostgreSQL) would
//! make a new text, prepared again, for each pattern of missing values.

use diesel::prelude::*;

use super::schema::*;

#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable, Insertable, serde::Deserialize)]
#[diesel(table_name = received_events, treat_none_as_default_value = false)]
pub struct ReceivedRow {
    pub site_id: String,
    pub source_id: String,
    pub event_id: String,
    pub fingerprint: String,
    pub kind: i32,
    pub ticket_id: String,
    pub occurred_at: i64,
    pub status: i32,
    pub session_id: Option<String>,
    pub detail: String,
    pub received_at: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable, serde::Deserialize)]
#[diesel(table_name = ticket_steps)]
pub struct StepRow {
    pub site_id: String,
    pub id: i64,
    pub source_id: String,
    pub ticket_id: String,
    pub event_id: String,
    pub occurred_at: i64,
    pub kind: i32,
    pub counter_id: String,
    pub service_code: String,
    pub transfer_to_service: String,
    pub display_number: String,
    pub operator_ref: Option<String>,
}

#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = ticket_steps, treat_none_as_default_value = false)]
pub struct NewStep {
    pub site_id: String,
    pub source_id: String,
    pub ticket_id: String,
    pub event_id: String,
    pub occurred_at: i64,
    pub kind: i32,
    pub counter_id: String,
    pub service_code: String,
    pub transfer_to_service: String,
    pub display_number: String,
    pub operator_ref: Option<String>,
}

#[derive(
    Debug, Clone, PartialEq, Eq, Queryable, Selectable, Insertable, AsChangeset, serde::Deserialize,
)]
#[diesel(table_name = tickets, treat_none_as_null = true, treat_none_as_default_value = false)]
pub struct TicketRow {
    pub site_id: String,
    pub source_id: String,
    pub ticket_id: String,
    pub display_number: String,
    pub service_code: String,
    pub state: String,
    pub counter_id: String,
    pub first_at: i64,
    pub issued_at: Option<i64>,
    pub first_called_at: Option<i64>,
    pub last_called_at: Option<i64>,
    pub service_started_at: Option<i64>,
    pub served_at: Option<i64>,
    pub ended_at: Option<i64>,
    pub recalls: i32,
    pub transfers: i32,
    pub reset: bool,
    pub spans_midnight: bool,
    pub waiting_ms: Option<i64>,
    pub service_ms: Option<i64>,
    pub last_at: i64,
    pub operator_ref: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable, Insertable, AsChangeset)]
#[diesel(table_name = counters, treat_none_as_null = true)]
pub struct CounterRow {
    pub site_id: String,
    pub counter_id: String,
    pub open: bool,
    pub source_id: String,
    pub ticket_id: String,
    pub ticket_state: String,
    pub changed_at: i64,
    pub last_call_at: Option<i64>,
    pub last_call_ticket: String,
    pub operator_ref: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable, Insertable)]
#[diesel(table_name = vote_sessions, treat_none_as_default_value = false)]
pub struct SessionRow {
    pub site_id: String,
    pub session_id: String,
    pub source_id: String,
    pub ticket_id: String,
    pub counter_id: String,
    pub service_code: String,
    pub channel: String,
    pub token: i64,
    pub served_at: i64,
    pub opened_at: i64,
    pub expires_at: i64,
    pub state: String,
    pub keypad: String,
    pub ended_at: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable, Insertable)]
#[diesel(table_name = votes)]
pub struct VoteRow {
    pub site_id: String,
    pub session_id: String,
    pub source_id: String,
    pub ticket_id: String,
    pub counter_id: String,
    pub service_code: String,
    pub channel: String,
    pub face: i32,
    pub reason: Option<i32>,
    pub waiting_ms: Option<i64>,
    pub service_ms: Option<i64>,
    pub voted_at: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable)]
#[diesel(table_name = event_log)]
pub struct LogRow {
    pub site_id: String,
    pub seq: i64,
    pub at: i64,
    pub kind: i32,
    pub source_id: String,
    pub counter_id: String,
    pub service_code: String,
    pub ticket_id: String,
    pub display_number: String,
    pub ticket_event: i32,
    pub session_id: String,
    pub outcome: i32,
    pub detail: String,
    /// The typed facts (`faccia.v1.LogFacts`): a [`log_reason`], a keypad state (the numbers
    /// of `VoteSession.KeypadState`), two figures and a text whose meaning the reason gives.
    pub reason: i32,
    pub keypad_state: i32,
    pub figure_a: i64,
    pub figure_b: i64,
    pub fact_text: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Insertable)]
#[diesel(table_name = event_log, treat_none_as_default_value = false)]
pub struct NewLog {
    pub site_id: String,
    pub at: i64,
    pub kind: i32,
    pub source_id: String,
    pub counter_id: String,
    pub service_code: String,
    pub ticket_id: String,
    pub display_number: String,
    pub ticket_event: i32,
    pub session_id: String,
    pub outcome: i32,
    pub detail: String,
    /// The typed facts (`faccia.v1.LogFacts`): a [`log_reason`], a keypad state (the numbers
    /// of `VoteSession.KeypadState`), two figures and a text whose meaning the reason gives.
    pub reason: i32,
    pub keypad_state: i32,
    pub figure_a: i64,
    pub figure_b: i64,
    pub fact_text: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable, Insertable)]
#[diesel(table_name = vote_links)]
pub struct LinkRow {
    pub token_hash: String,
    pub site_id: String,
    pub session_id: String,
    pub issued_at: i64,
    pub expires_at: i64,
    pub used_at: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable, Insertable)]
#[diesel(table_name = vote_answers)]
pub struct AnswerRow {
    pub session_id: String,
    pub site_id: String,
    pub stars: i32,
    pub follow_up: Option<i32>,
    pub answered_at: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable, Insertable)]
#[diesel(table_name = vote_comments)]
pub struct CommentRow {
    pub session_id: String,
    pub site_id: String,
    pub body: String,
    pub written_at: i64,
    pub keep_until: i64,
}

/// Why an event-log entry happened (the numbers of `faccia.v1.LogReason`), and what its figures
/// and text mean.
pub mod log_reason {
    pub const NEXT_CALLED: i32 = 1;
    pub const NEXT_SERVED: i32 = 2;
    pub const OTHER_CALLED_FIRST: i32 = 3;
    pub const LATER_SESSION_OPEN: i32 = 4;
    pub const DAY_RESET: i32 = 5;
    pub const WINDOW_RAN_OUT: i32 = 6;
    /// Orphan votes: `figure_a` is the token.
    pub const NO_SESSION: i32 = 7;
    pub const OTHER_COUNTER: i32 = 8;
    pub const NEVER_ARMED: i32 = 9;
    /// `fact_text` is the serial number, `figure_a` the firmware major, `figure_b` the minor.
    pub const KEYPAD_ONLINE: i32 = 10;
    pub const KEYPAD_OFFLINE: i32 = 11;
    /// `figure_a` is the boot count.
    pub const KEYPAD_REBOOTED: i32 = 12;
    /// `keypad_state` says what the keypad does for the session.
    pub const KEYPAD_ARMING: i32 = 13;
    /// A web or phone vote refused: its session has ended (`fact_text` is the channel).
    pub const REMOTE_ENDED: i32 = 14;
}

/// Keypad states in the event log (the numbers of `faccia.v1.VoteSession.KeypadState`).
pub fn keypad_code(k: faccia_domain::session::KeypadArming) -> i32 {
    use faccia_domain::session::KeypadArming;
    match k {
        // A totem's states as the proto knows them: waiting for a keypad, held by one.
        KeypadArming::Armed | KeypadArming::TotemArmed => 1,
        KeypadArming::Pending | KeypadArming::Totem => 2,
        KeypadArming::NoKeypad => 3,
    }
}
