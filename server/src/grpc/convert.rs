//! Between the wire (faccia.v1) and the domain.

use faccia_domain::session::{Channel, KeypadArming, SessionState};
use faccia_domain::{Millis, RawEvent};
use faccia_proto::v1;
use prost_types::Timestamp;
use tonic::Status;

use crate::storage::models::{log_reason, LogRow};
use crate::storage::{log_kind, Ack, AckStatus, SessionInfo, StoreError};

/// A protobuf timestamp in milliseconds, or why not.
pub fn millis(ts: &Timestamp) -> Result<Millis, String> {
    if !(0..1_000_000_000).contains(&ts.nanos) {
        return Err(format!("nanos {} is out of range 0..=999999999", ts.nanos));
    }
    ts.seconds
        .checked_mul(1000)
        .and_then(|ms| ms.checked_add(i64::from(ts.nanos / 1_000_000)))
        .ok_or_else(|| format!("seconds {} is out of range", ts.seconds))
}

pub fn timestamp(ms: Millis) -> Timestamp {
    Timestamp {
        seconds: ms.div_euclid(1000),
        nanos: (ms.rem_euclid(1000) * 1_000_000) as i32,
    }
}

pub fn raw_event(e: v1::TicketEvent) -> RawEvent {
    RawEvent {
        occurred_at: e.occurred_at.as_ref().map(millis),
        source_id: e.source_id,
        event_id: e.event_id,
        kind: e.r#type,
        ticket_id: e.ticket_id,
        display_number: e.display_number,
        service_code: e.service_code,
        counter_id: e.counter_id,
        operator_ref: e.operator_ref,
        transfer_to_service: e.transfer_to_service,
        priority: e.priority,
    }
}

pub fn keypad_state(k: KeypadArming) -> v1::vote_session::KeypadState {
    match k {
        // A totem's session waits for the citizen's scan (PENDING), then the totem holds it.
        KeypadArming::Armed | KeypadArming::TotemArmed => v1::vote_session::KeypadState::Armed,
        KeypadArming::Pending | KeypadArming::Totem => v1::vote_session::KeypadState::Pending,
        KeypadArming::NoKeypad => v1::vote_session::KeypadState::NoKeypad,
    }
}

pub fn session(s: &SessionInfo) -> v1::VoteSession {
    v1::VoteSession {
        session_id: s.session_id.clone(),
        counter_id: s.counter_id.clone(),
        expires_at: Some(timestamp(s.expires_at)),
        keypad: keypad_state(s.keypad) as i32,
        site_id: String::new(),
        channel: channel(s.channel) as i32,
        vote_link: String::new(),
    }
}

pub fn channel(c: Channel) -> v1::vote_session::Channel {
    match c {
        Channel::Counter => v1::vote_session::Channel::Counter,
        Channel::Web => v1::vote_session::Channel::Web,
        Channel::Phone => v1::vote_session::Channel::Phone,
    }
}

pub fn ack(a: &Ack) -> v1::EventAck {
    let status = match a.status {
        AckStatus::Accepted => v1::event_ack::Status::Accepted,
        AckStatus::Duplicate => v1::event_ack::Status::Duplicate,
        AckStatus::Stale => v1::event_ack::Status::StaleIgnored,
    };
    v1::EventAck {
        status: status as i32,
        event_id: a.event_id.clone(),
        vote_session: a.session.as_ref().map(session),
        detail: a.detail.clone(),
    }
}

pub fn outcome(s: SessionState) -> v1::SessionOutcome {
    match s {
        SessionState::Open => v1::SessionOutcome::SessionOpen,
        SessionState::Voted => v1::SessionOutcome::SessionVoted,
        SessionState::Expired => v1::SessionOutcome::SessionExpired,
        SessionState::Superseded => v1::SessionOutcome::SessionSuperseded,
        SessionState::Cancelled => v1::SessionOutcome::SessionCancelled,
        SessionState::KeypadRebooted => v1::SessionOutcome::SessionKeypadRebooted,
    }
}

/// The typed facts of an event-log entry, or `None` for an entry with none (written before the
/// server stored them, or an entry whose kind and outcome say it all).
pub fn log_facts(r: &LogRow) -> Option<v1::LogFacts> {
    let count = |n: i64| u32::try_from(n.max(0)).unwrap_or(u32::MAX);
    let mut f = v1::LogFacts {
        reason: r.reason,
        keypad: r.keypad_state,
        ..Default::default()
    };
    match (r.kind, r.reason) {
        (log_kind::DAY_RESET, _) => {
            f.tickets_closed = count(r.figure_a);
            f.sessions_cancelled = count(r.figure_b);
        }
        (log_kind::RECONCILE, _) => {
            f.was_open = r.figure_a != 0;
            f.now_open = r.figure_b != 0;
            f.was_ticket = r.fact_text.clone();
        }
        (log_kind::ORPHAN_VOTE, _) => f.token = count(r.figure_a),
        (_, log_reason::KEYPAD_REBOOTED) => f.boot_count = count(r.figure_a),
        (_, log_reason::KEYPAD_ONLINE) if !r.fact_text.is_empty() => {
            f.serial_no = r.fact_text.clone();
            f.firmware = format!("{}.{}", r.figure_a, r.figure_b);
        }
        _ => {}
    }
    (f != v1::LogFacts::default()).then_some(f)
}

/// The result of a keypad command that succeeded, for the console to word.
pub fn keypad_result(action: v1::KeypadAction) -> v1::KeypadCommandResult {
    match action {
        v1::KeypadAction::KeypadSelfTest => v1::KeypadCommandResult::KeypadSelfTestStarted,
        v1::KeypadAction::KeypadIdentify => v1::KeypadCommandResult::KeypadBlinking,
        v1::KeypadAction::Unspecified => v1::KeypadCommandResult::Unspecified,
    }
}

/// Storage errors as gRPC statuses the sender can act on.
pub fn status(e: StoreError) -> Status {
    match e {
        StoreError::Conflict(m) => Status::failed_precondition(m),
        StoreError::Unavailable(m) => Status::unavailable(format!(
            "storage is unavailable ({m}); retry with the same event_id"
        )),
        StoreError::Db(e) => {
            tracing::error!(error = %e, "database error");
            Status::unavailable(format!(
                "storage error ({e}); nothing was stored: retry with the same event_id"
            ))
        }
        e @ StoreError::NotRun => Status::aborted(format!(
            "{e}; nothing of it was stored: send it again with the same event_id"
        )),
        StoreError::Legacy(m) | StoreError::Copy(m) => Status::failed_precondition(m),
        StoreError::Migration(m) | StoreError::Corrupt(m) => {
            tracing::error!(error = %m, "storage is inconsistent");
            Status::internal(m)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_round_trip() {
        for ms in [0, 1, 999, 1_700_000_000_123, -1] {
            assert_eq!(millis(&timestamp(ms)), Ok(ms));
        }
        assert!(millis(&Timestamp {
            seconds: 0,
            nanos: -1
        })
        .is_err());
        assert!(millis(&Timestamp {
            seconds: i64::MAX,
            nanos: 0
        })
        .is_err());
    }
}
