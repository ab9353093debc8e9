//! Ticket events as the queue system sends them, and their validation.

use sha2::{Digest, Sha256};
use thiserror::Error;

/// Milliseconds since the Unix epoch (UTC).
pub type Millis = i64;

/// One day in milliseconds.
pub const DAY_MS: Millis = 24 * 60 * 60 * 1000;

/// What happened to a ticket (or a counter, or the whole day), numbered as in `faccia.v1.EventType`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum EventKind {
    Issued = 1,
    Called = 2,
    Recalled = 3,
    ServiceStarted = 4,
    Served = 5,
    NoShow = 6,
    Cancelled = 7,
    Transferred = 8,
    Requeued = 9,
    DayReset = 10,
    CounterOpened = 11,
    CounterClosed = 12,
}

impl EventKind {
    pub const ALL: [EventKind; 12] = [
        EventKind::Issued,
        EventKind::Called,
        EventKind::Recalled,
        EventKind::ServiceStarted,
        EventKind::Served,
        EventKind::NoShow,
        EventKind::Cancelled,
        EventKind::Transferred,
        EventKind::Requeued,
        EventKind::DayReset,
        EventKind::CounterOpened,
        EventKind::CounterClosed,
    ];

    pub fn from_code(code: i32) -> Option<EventKind> {
        EventKind::ALL.into_iter().find(|k| k.code() == code)
    }

    pub fn code(self) -> i32 {
        self as i32
    }

    /// The contract's name (`SERVED`, ...).
    pub fn name(self) -> &'static str {
        match self {
            EventKind::Issued => "ISSUED",
            EventKind::Called => "CALLED",
            EventKind::Recalled => "RECALLED",
            EventKind::ServiceStarted => "SERVICE_STARTED",
            EventKind::Served => "SERVED",
            EventKind::NoShow => "NO_SHOW",
            EventKind::Cancelled => "CANCELLED",
            EventKind::Transferred => "TRANSFERRED",
            EventKind::Requeued => "REQUEUED",
            EventKind::DayReset => "DAY_RESET",
            EventKind::CounterOpened => "COUNTER_OPENED",
            EventKind::CounterClosed => "COUNTER_CLOSED",
        }
    }

    /// Events about one ticket (everything but DAY_RESET and COUNTER_OPENED/CLOSED).
    pub fn is_ticket_event(self) -> bool {
        !matches!(
            self,
            EventKind::DayReset | EventKind::CounterOpened | EventKind::CounterClosed
        )
    }

    /// Types for which `counter_id` is required.
    pub fn needs_counter(self) -> bool {
        matches!(
            self,
            EventKind::Called
                | EventKind::Recalled
                | EventKind::ServiceStarted
                | EventKind::Served
                | EventKind::CounterOpened
                | EventKind::CounterClosed
        )
    }
}

/// A ticket event that passed validation: required fields present and well formed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TicketEvent {
    pub source_id: String,
    pub event_id: String,
    pub occurred_at: Millis,
    pub kind: EventKind,
    /// Empty for DAY_RESET and counter events.
    pub ticket_id: String,
    pub display_number: String,
    pub service_code: String,
    pub counter_id: String,
    pub operator_ref: String,
    pub transfer_to_service: String,
    pub priority: i32,
}

/// The event as received, before validation (what the gRPC layer hands over).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RawEvent {
    pub source_id: String,
    pub event_id: String,
    /// `None` when the field is missing; `Err` text when the timestamp is out of range.
    pub occurred_at: Option<Result<Millis, String>>,
    pub kind: i32,
    pub ticket_id: String,
    pub display_number: String,
    pub service_code: String,
    pub counter_id: String,
    pub operator_ref: String,
    pub transfer_to_service: String,
    pub priority: i32,
}

/// Why an event was refused: names the field, says what is wrong.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("{field}: {problem}")]
pub struct InvalidField {
    pub field: &'static str,
    pub problem: String,
}

impl InvalidField {
    pub fn new(field: &'static str, problem: impl Into<String>) -> Self {
        InvalidField {
            field,
            problem: problem.into(),
        }
    }
}

/// Longest accepted identifier (source, event, ticket, counter, service...).
pub const MAX_ID_LEN: usize = 128;
/// How far in the future `occurred_at` may be (clock skew allowance).
pub const MAX_FUTURE_MS: Millis = DAY_MS;

fn check_id(field: &'static str, value: &str, required: bool) -> Result<(), InvalidField> {
    if value.is_empty() {
        return if required {
            Err(InvalidField::new(field, "is required and was empty"))
        } else {
            Ok(())
        };
    }
    if value.len() > MAX_ID_LEN {
        return Err(InvalidField::new(
            field,
            format!(
                "is {} bytes long; at most {MAX_ID_LEN} are allowed",
                value.len()
            ),
        ));
    }
    if value.trim() != value {
        return Err(InvalidField::new(
            field,
            "has leading or trailing spaces; send the identifier exactly",
        ));
    }
    if value.chars().any(char::is_control) {
        return Err(InvalidField::new(field, "contains control characters"));
    }
    Ok(())
}

impl RawEvent {
    /// Checks every rule of the contract about required and well-formed fields.
    /// `now` is the server's clock, for the "not more than 24 h in the future" rule.
    pub fn validate(self, now: Millis) -> Result<TicketEvent, InvalidField> {
        check_id("source_id", &self.source_id, true)?;
        check_id("event_id", &self.event_id, true)?;
        let occurred_at = match self.occurred_at {
            None => {
                return Err(InvalidField::new(
                    "occurred_at",
                    "is required and was missing",
                ))
            }
            Some(Err(why)) => return Err(InvalidField::new("occurred_at", why)),
            Some(Ok(t)) => t,
        };
        if occurred_at > now + MAX_FUTURE_MS {
            return Err(InvalidField::new(
                "occurred_at",
                "is more than 24 h in the future: check the queue system's clock",
            ));
        }
        if occurred_at < 0 {
            return Err(InvalidField::new("occurred_at", "is before 1970"));
        }
        let kind = match EventKind::from_code(self.kind) {
            Some(k) => k,
            None if self.kind == 0 => {
                return Err(InvalidField::new(
                    "type",
                    "is required (EVENT_TYPE_UNSPECIFIED)",
                ))
            }
            None => {
                return Err(InvalidField::new(
                    "type",
                    format!("{} is not a known EventType", self.kind),
                ))
            }
        };
        check_id("ticket_id", &self.ticket_id, kind.is_ticket_event())?;
        check_id("display_number", &self.display_number, false)?;
        check_id("service_code", &self.service_code, false)?;
        check_id("counter_id", &self.counter_id, kind.needs_counter())?;
        check_id("operator_ref", &self.operator_ref, false)?;
        check_id(
            "transfer_to_service",
            &self.transfer_to_service,
            kind == EventKind::Transferred,
        )?;
        Ok(TicketEvent {
            source_id: self.source_id,
            event_id: self.event_id,
            occurred_at,
            kind,
            ticket_id: self.ticket_id,
            display_number: self.display_number,
            service_code: self.service_code,
            counter_id: self.counter_id,
            operator_ref: self.operator_ref,
            transfer_to_service: self.transfer_to_service,
            priority: self.priority,
        })
    }
}

impl TicketEvent {
    /// A digest of the whole content: the same (source_id, event_id) with another fingerprint
    /// is a conflicting retry.
    pub fn fingerprint(&self) -> String {
        let mut h = Sha256::new();
        for part in [
            self.source_id.as_str(),
            self.event_id.as_str(),
            &self.occurred_at.to_string(),
            &self.kind.code().to_string(),
            &self.ticket_id,
            &self.display_number,
            &self.service_code,
            &self.counter_id,
            &self.operator_ref,
            &self.transfer_to_service,
            &self.priority.to_string(),
        ] {
            h.update((part.len() as u64).to_le_bytes());
            h.update(part.as_bytes());
        }
        hex::encode(&h.finalize()[..16])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(kind: EventKind) -> RawEvent {
        RawEvent {
            source_id: "src".into(),
            event_id: "e1".into(),
            occurred_at: Some(Ok(1_000)),
            kind: kind.code(),
            ticket_id: "t1".into(),
            counter_id: "c1".into(),
            transfer_to_service: "B".into(),
            ..RawEvent::default()
        }
    }

    #[test]
    fn required_fields_are_named() {
        let mut r = raw(EventKind::Served);
        r.counter_id.clear();
        assert_eq!(r.validate(0).unwrap_err().field, "counter_id");
        let mut r = raw(EventKind::Issued);
        r.ticket_id.clear();
        assert_eq!(r.validate(0).unwrap_err().field, "ticket_id");
        let mut r = raw(EventKind::Issued);
        r.kind = 0;
        assert_eq!(r.validate(0).unwrap_err().field, "type");
        let mut r = raw(EventKind::Issued);
        r.kind = 99;
        assert_eq!(r.validate(0).unwrap_err().field, "type");
        let mut r = raw(EventKind::Issued);
        r.occurred_at = None;
        assert_eq!(r.validate(0).unwrap_err().field, "occurred_at");
        let mut r = raw(EventKind::Transferred);
        r.transfer_to_service.clear();
        assert_eq!(r.validate(0).unwrap_err().field, "transfer_to_service");
        let mut r = raw(EventKind::DayReset);
        r.ticket_id.clear();
        r.counter_id.clear();
        assert!(r.validate(0).is_ok());
    }

    #[test]
    fn future_limit_is_24_hours() {
        let mut r = raw(EventKind::Issued);
        r.occurred_at = Some(Ok(DAY_MS + 1));
        assert_eq!(r.clone().validate(0).unwrap_err().field, "occurred_at");
        r.occurred_at = Some(Ok(DAY_MS));
        assert!(r.validate(0).is_ok());
    }

    #[test]
    fn fingerprint_sees_every_field() {
        let a = raw(EventKind::Served).validate(0).unwrap();
        let mut b = a.clone();
        b.counter_id = "c2".into();
        assert_ne!(a.fingerprint(), b.fingerprint());
        assert_eq!(a.fingerprint(), a.clone().fingerprint());
    }
}
