//! The JSON form of the queue contract: field names as in `faccia.v1` (snake_case), enum values
//! by name (`"SERVED"`) or number, times in RFC 3339 with an offset (`2026-11-23T09:00:00+01:00`
//! or `...Z`). Unknown fields are refused (a misspelt field must not be silently dropped).

use faccia_proto::v1;
use serde_json::{Map, Value};

use super::error::ApiError;
use crate::grpc::convert;

/// The body as JSON, or 400 saying where it stops being JSON (never quoting the body).
pub fn parse(body: &[u8]) -> Result<Value, ApiError> {
    if body.is_empty() {
        return Err(ApiError::invalid("body", "is empty: send a JSON object"));
    }
    serde_json::from_slice(body).map_err(|e| {
        ApiError::invalid(
            "body",
            format!(
                "is not valid JSON (line {}, column {}: {})",
                e.line(),
                e.column(),
                match e.classify() {
                    serde_json::error::Category::Eof => "ends too early",
                    serde_json::error::Category::Syntax => "syntax error",
                    serde_json::error::Category::Data => "unexpected data",
                    serde_json::error::Category::Io => "unreadable",
                }
            ),
        )
    })
}

fn object<'a>(v: &'a Value, what: &str) -> Result<&'a Map<String, Value>, ApiError> {
    v.as_object().ok_or_else(|| {
        ApiError::invalid(
            if what.is_empty() { "body" } else { what },
            "must be a JSON object",
        )
    })
}

fn name(prefix: &str, field: &str) -> String {
    if prefix.is_empty() {
        field.to_string()
    } else {
        format!("{prefix}.{field}")
    }
}

fn refuse_unknown(
    o: &Map<String, Value>,
    known: &[&str],
    prefix: &str,
    what: &str,
) -> Result<(), ApiError> {
    if let Some(k) = o.keys().find(|k| !known.contains(&k.as_str())) {
        return Err(ApiError::invalid(
            name(prefix, k),
            format!("is not a field of {what} (fields: {})", known.join(", ")),
        ));
    }
    Ok(())
}

fn string(o: &Map<String, Value>, field: &str, prefix: &str) -> Result<String, ApiError> {
    match o.get(field) {
        None | Some(Value::Null) => Ok(String::new()),
        Some(Value::String(s)) => Ok(s.clone()),
        Some(_) => Err(ApiError::invalid(name(prefix, field), "must be a string")),
    }
}

/// An RFC 3339 time with an offset, as a protobuf timestamp; `None` when missing.
pub fn time(
    o: &Map<String, Value>,
    field: &str,
    prefix: &str,
) -> Result<Option<prost_types::Timestamp>, ApiError> {
    let text = match o.get(field) {
        None | Some(Value::Null) => return Ok(None),
        Some(Value::String(s)) => s,
        Some(_) => {
            return Err(ApiError::invalid(
                name(prefix, field),
                "must be an RFC 3339 time string such as 2026-11-23T09:00:00+01:00",
            ))
        }
    };
    let t = chrono::DateTime::parse_from_rfc3339(text).map_err(|_| {
        ApiError::invalid(
            name(prefix, field),
            format!(
                "{text:?} is not an RFC 3339 time with an offset, such as \
                 2026-11-23T09:00:00+01:00 or 2026-11-23T08:00:00Z"
            ),
        )
    })?;
    Ok(Some(convert::timestamp(t.timestamp_millis())))
}

fn enum_value(
    o: &Map<String, Value>,
    field: &str,
    prefix: &str,
    from_name: impl Fn(&str) -> Option<i32>,
) -> Result<i32, ApiError> {
    match o.get(field) {
        None | Some(Value::Null) => Ok(0),
        Some(Value::String(s)) => from_name(s).ok_or_else(|| {
            ApiError::invalid(name(prefix, field), format!("{s:?} is not a known value"))
        }),
        Some(Value::Number(n)) => n
            .as_i64()
            .and_then(|n| i32::try_from(n).ok())
            .ok_or_else(|| ApiError::invalid(name(prefix, field), "is not a whole number")),
        Some(_) => Err(ApiError::invalid(
            name(prefix, field),
            "must be a string such as \"SERVED\" (or its number)",
        )),
    }
}

const TICKET_EVENT_FIELDS: &[&str] = &[
    "source_id",
    "event_id",
    "occurred_at",
    "type",
    "ticket_id",
    "display_number",
    "service_code",
    "counter_id",
    "operator_ref",
    "transfer_to_service",
    "priority",
    "site_id",
];

/// One `TicketEvent` from JSON. `prefix` names it in errors (`events[2]`, or empty).
pub fn ticket_event(v: &Value, prefix: &str) -> Result<v1::TicketEvent, ApiError> {
    let o = object(v, prefix)?;
    refuse_unknown(o, TICKET_EVENT_FIELDS, prefix, "TicketEvent")?;
    let priority = match o.get("priority") {
        None | Some(Value::Null) => 0,
        Some(Value::Number(n)) => {
            n.as_i64()
                .and_then(|n| i32::try_from(n).ok())
                .ok_or_else(|| {
                    ApiError::invalid(name(prefix, "priority"), "is not a 32-bit whole number")
                })?
        }
        Some(_) => {
            return Err(ApiError::invalid(
                name(prefix, "priority"),
                "must be a number",
            ))
        }
    };
    let kind = enum_value(o, "type", prefix, |s| {
        v1::EventType::from_str_name(s).map(|t| t as i32)
    })?;
    Ok(v1::TicketEvent {
        source_id: string(o, "source_id", prefix)?,
        event_id: string(o, "event_id", prefix)?,
        occurred_at: time(o, "occurred_at", prefix)?,
        r#type: kind,
        ticket_id: string(o, "ticket_id", prefix)?,
        display_number: string(o, "display_number", prefix)?,
        service_code: string(o, "service_code", prefix)?,
        counter_id: string(o, "counter_id", prefix)?,
        operator_ref: string(o, "operator_ref", prefix)?,
        transfer_to_service: string(o, "transfer_to_service", prefix)?,
        priority,
        site_id: string(o, "site_id", prefix)?,
    })
}

/// `{"events": [...]}`.
pub fn batch(v: &Value) -> Result<Vec<v1::TicketEvent>, ApiError> {
    let o = object(v, "")?;
    refuse_unknown(o, &["events"], "", "a batch")?;
    let list = match o.get("events") {
        Some(Value::Array(a)) => a,
        None | Some(Value::Null) => {
            return Err(ApiError::invalid("events", "is required and was missing"))
        }
        Some(_) => {
            return Err(ApiError::invalid(
                "events",
                "must be an array of TicketEvent",
            ))
        }
    };
    if list.is_empty() {
        return Err(ApiError::invalid("events", "is empty"));
    }
    if list.len() > super::MAX_BATCH {
        return Err(ApiError::invalid(
            "events",
            format!(
                "has {} events; at most {} are taken in one batch",
                list.len(),
                super::MAX_BATCH
            ),
        ));
    }
    list.iter()
        .enumerate()
        .map(|(i, e)| ticket_event(e, &format!("events[{i}]")))
        .collect()
}

/// A `CounterSnapshot`.
pub fn snapshot(v: &Value) -> Result<v1::CounterSnapshot, ApiError> {
    let o = object(v, "")?;
    refuse_unknown(
        o,
        &["source_id", "at", "counters", "site_id"],
        "",
        "CounterSnapshot",
    )?;
    let counters = match o.get("counters") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(a)) => a
            .iter()
            .enumerate()
            .map(|(i, c)| {
                let p = format!("counters[{i}]");
                let co = object(c, &p)?;
                refuse_unknown(
                    co,
                    &["counter_id", "open", "ticket_id", "ticket_state"],
                    &p,
                    "CounterState",
                )?;
                let open = match co.get("open") {
                    None | Some(Value::Null) => false,
                    Some(Value::Bool(b)) => *b,
                    Some(_) => {
                        return Err(ApiError::invalid(name(&p, "open"), "must be true or false"))
                    }
                };
                Ok(v1::CounterState {
                    counter_id: string(co, "counter_id", &p)?,
                    open,
                    ticket_id: string(co, "ticket_id", &p)?,
                    ticket_state: enum_value(co, "ticket_state", &p, |s| {
                        v1::EventType::from_str_name(s).map(|t| t as i32)
                    })?,
                })
            })
            .collect::<Result<_, ApiError>>()?,
        Some(_) => return Err(ApiError::invalid("counters", "must be an array")),
    };
    Ok(v1::CounterSnapshot {
        source_id: string(o, "source_id", "")?,
        at: time(o, "at", "")?,
        counters,
        site_id: string(o, "site_id", "")?,
    })
}

fn rfc3339(ts: &Option<prost_types::Timestamp>) -> Value {
    ts.as_ref()
        .and_then(|t| convert::millis(t).ok())
        .and_then(chrono::DateTime::from_timestamp_millis)
        .map_or(Value::Null, |d| {
            Value::String(d.to_rfc3339_opts(chrono::SecondsFormat::Millis, true))
        })
}

/// An `EventAck` as JSON.
pub fn ack(a: &v1::EventAck) -> Value {
    let status =
        v1::event_ack::Status::try_from(a.status).map_or("STATUS_UNSPECIFIED", |s| s.as_str_name());
    let mut out = serde_json::json!({
        "status": status,
        "event_id": a.event_id,
        "detail": a.detail,
    });
    if let Some(s) = &a.vote_session {
        let keypad = v1::vote_session::KeypadState::try_from(s.keypad)
            .map_or("KEYPAD_STATE_UNSPECIFIED", |k| k.as_str_name());
        let channel = v1::vote_session::Channel::try_from(s.channel)
            .map_or("CHANNEL_UNSPECIFIED", |c| c.as_str_name());
        let mut vs = serde_json::json!({
            "session_id": s.session_id,
            "counter_id": s.counter_id,
            "expires_at": rfc3339(&s.expires_at),
            "keypad": keypad,
            "site_id": s.site_id,
            "channel": channel,
        });
        if !s.vote_link.is_empty() {
            vs["vote_link"] = Value::String(s.vote_link.clone());
        }
        out["vote_session"] = vs;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_parse_and_name_their_fields() {
        let v: Value = serde_json::json!({
            "source_id": "s", "event_id": "e1", "occurred_at": "2026-11-23T09:00:00+01:00",
            "type": "SERVED", "ticket_id": "t1", "counter_id": "S1", "priority": 2
        });
        let e = ticket_event(&v, "").unwrap();
        assert_eq!(e.r#type, v1::EventType::Served as i32);
        assert_eq!(
            e.occurred_at.unwrap().seconds,
            chrono::DateTime::parse_from_rfc3339("2026-11-23T08:00:00Z")
                .unwrap()
                .timestamp()
        );
        let mut bad = v.clone();
        bad["occurred_at"] = Value::String("2026-11-23T09:00:00".into());
        assert_eq!(
            ticket_event(&bad, "").unwrap_err().field.as_deref(),
            Some("occurred_at")
        );
        let mut bad = v.clone();
        bad["counter"] = Value::String("S1".into());
        assert_eq!(
            ticket_event(&bad, "").unwrap_err().field.as_deref(),
            Some("counter")
        );
        let mut bad = v.clone();
        bad["type"] = Value::String("FINISHED".into());
        assert_eq!(
            ticket_event(&bad, "events[1]")
                .unwrap_err()
                .field
                .as_deref(),
            Some("events[1].type")
        );
        let mut bad = v;
        bad["ticket_id"] = serde_json::json!(42);
        assert_eq!(
            ticket_event(&bad, "").unwrap_err().field.as_deref(),
            Some("ticket_id")
        );
        assert_eq!(
            parse(b"{\"a\":").unwrap_err().field.as_deref(),
            Some("body")
        );
    }
}
