//! The NovoSGA adapter: `POST /v1/novosga/<unit>` takes NovoSGA's webhooks as NovoSGA sends
//! them (`x-webhook-event` header, the attendance (`atendimento`) as JSON) and turns each into
//! `TicketEvent`s of the contract, published like any other.
//!
//! What NovoSGA leaves out, and what the adapter does about it:
//! - no event id: `novosga:<unit>:<TYPE>:<attendance id>:<ms>`, derived from the contract's
//!   type, the attendance id and the event's own time, so that a webhook posted twice (or
//!   `ticket.first_reply` and `ticket.called` of the same call) is one event;
//! - times without offset (`2026-11-23T09:00:00`): read in the site's time zone (the first of
//!   the two in the autumn's repeated hour; a time in the spring gap is refused);
//! - no counter: the attendant's login (`usuario`) -> counter, from `[[ingress.novosga]]
//!   counters`; an event that needs a counter from an unmapped login is refused (422);
//! - `ticket.redirected` is `[old, new]`: the old attendance ends (CANCELLED: NovoSGA marks it
//!   `erro_triagem`, not served) and the citizen goes on as the new one (ISSUED in the new
//!   service, with the original arrival time), whose end opens the vote;
//! - `ticket.reactive` and `ticket.transferred` carry no time of their own: they take the
//!   server's clock at receipt, and a repeat of the same one is answered DUPLICATE;
//! - personal data (`cliente`: name, document, e-mail, phone, address..., and the free-text
//!   `observacao`) is never read: the body is parsed, the few fields used are copied out, and the
//!   rest is dropped at once. Neither the body nor any of it is logged.
//!
//! NovoSGA does not retry a failed webhook: see docs/ingress.md for what that means.

use std::sync::Arc;

use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use chrono::{LocalResult, NaiveDateTime, TimeZone};
use chrono_tz::Tz;
use faccia_domain::{EventKind, Millis};
use faccia_proto::v1;
use serde_json::Value;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use tonic::Code;

use super::error::ApiError;
use super::json;
use crate::config::{IngressConfig, NovosgaUnit};
use crate::grpc::convert;
use crate::grpc::queue::QueueService;
use crate::grpc::Shared;

/// The header NovoSGA names its event in.
pub const EVENT_HEADER: &str = "x-webhook-event";

/// The webhook events NovoSGA sends (`App\Types\WebhookEvent`).
pub const EVENTS: &[&str] = &[
    "ticket.created",
    "ticket.first_reply",
    "ticket.called",
    "ticket.start",
    "ticket.finished",
    "ticket.no_show",
    "ticket.canceled",
    "ticket.reactive",
    "ticket.redirected",
    "ticket.transferred",
];

/// What the adapter reads of one attendance. Nothing personal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attendance {
    pub id: String,
    pub display: String,
    pub service_id: String,
    pub priority: i32,
    /// The attendant's login (`usuario`), when set.
    pub login: Option<String>,
    pub arrived: Option<String>,
    pub called: Option<String>,
    pub started: Option<String>,
    pub ended: Option<String>,
}

fn field<'a>(o: &'a serde_json::Map<String, Value>, k: &str) -> Option<&'a Value> {
    o.get(k).filter(|v| !v.is_null())
}

fn id_text(v: &Value) -> Option<String> {
    match v {
        Value::Number(n) => Some(n.to_string()),
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        _ => None,
    }
}

/// Copies the fields used out of one attendance object (`prefix` names it in errors).
pub fn attendance(v: &Value, prefix: &str) -> Result<Attendance, ApiError> {
    let at = |f: &str| {
        if prefix.is_empty() {
            f.to_string()
        } else {
            format!("{prefix}.{f}")
        }
    };
    let o = v.as_object().ok_or_else(|| {
        ApiError::invalid(
            if prefix.is_empty() { "body" } else { prefix },
            "must be a NovoSGA attendance object",
        )
    })?;
    let id = field(o, "id")
        .and_then(id_text)
        .ok_or_else(|| ApiError::invalid(at("id"), "is required: the attendance id"))?;
    let senha = field(o, "senha").and_then(Value::as_object);
    let display = senha
        .and_then(|s| field(s, "format"))
        .and_then(Value::as_str)
        .map(str::to_string)
        .or_else(|| {
            let sigla = senha
                .and_then(|s| field(s, "sigla"))
                .and_then(Value::as_str)?;
            let n = senha
                .and_then(|s| field(s, "numero"))
                .and_then(Value::as_i64)?;
            Some(format!("{sigla}{n:03}"))
        })
        .unwrap_or_default();
    let service_id = field(o, "servico")
        .and_then(Value::as_object)
        .and_then(|s| field(s, "id"))
        .and_then(id_text)
        .ok_or_else(|| ApiError::invalid(at("servico.id"), "is required: the service id"))?;
    let priority = field(o, "prioridade")
        .and_then(Value::as_object)
        .and_then(|p| field(p, "peso"))
        .and_then(Value::as_i64)
        .and_then(|p| i32::try_from(p).ok())
        .unwrap_or(0);
    let text = |k: &str| -> Result<Option<String>, ApiError> {
        match field(o, k) {
            None => Ok(None),
            Some(Value::String(s)) if s.is_empty() => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(_) => Err(ApiError::invalid(at(k), "must be a string")),
        }
    };
    Ok(Attendance {
        id,
        display,
        service_id,
        priority,
        login: text("usuario")?,
        arrived: text("dataChegada")?,
        called: text("dataChamada")?,
        started: text("dataInicio")?,
        ended: text("dataFim")?,
    })
}

/// A time without offset (NovoSGA's `Y-m-d\TH:i:s`; also with a space, or without seconds)
/// in the site's zone; an RFC 3339 time with an offset is taken as it is.
pub fn local_time(text: &str, tz: Tz) -> Result<Millis, String> {
    if let Ok(t) = chrono::DateTime::parse_from_rfc3339(text) {
        return Ok(t.timestamp_millis());
    }
    let naive = [
        "%Y-%m-%dT%H:%M:%S",
        "%Y-%m-%d %H:%M:%S",
        "%Y-%m-%dT%H:%M",
        "%Y-%m-%d %H:%M",
    ]
    .iter()
    .find_map(|f| NaiveDateTime::parse_from_str(text, f).ok())
    .ok_or_else(|| format!("{text:?} is not a time such as 2026-11-23T09:00:00"))?;
    match tz.from_local_datetime(&naive) {
        LocalResult::Single(t) => Ok(t.timestamp_millis()),
        // The autumn's repeated hour: the first (summer time) reading.
        LocalResult::Ambiguous(first, _) => Ok(first.timestamp_millis()),
        LocalResult::None => Err(format!(
            "{text:?} does not exist in time zone {tz} (the clocks skip that hour)"
        )),
    }
}

/// The contract's events of one webhook, before publication.
#[derive(Debug, Clone, PartialEq)]
pub struct Mapped {
    pub event: v1::TicketEvent,
    /// Its time came from the server's clock at receipt: a conflicting repeat is a duplicate.
    pub timed_at_receipt: bool,
}

struct Ctx<'a> {
    unit: &'a NovosgaUnit,
    tz: Tz,
    now: Millis,
}

impl Ctx<'_> {
    fn time(&self, a: &Attendance, which: &'static str, prefix: &str) -> Result<Millis, ApiError> {
        let (value, name) = match which {
            "arrived" => (&a.arrived, "dataChegada"),
            "called" => (&a.called, "dataChamada"),
            "started" => (&a.started, "dataInicio"),
            _ => (&a.ended, "dataFim"),
        };
        let f = if prefix.is_empty() {
            name.to_string()
        } else {
            format!("{prefix}.{name}")
        };
        let text = value
            .as_deref()
            .ok_or_else(|| ApiError::invalid(&f, "is required for this event and was missing"))?;
        local_time(text, self.tz).map_err(|p| ApiError::invalid(&f, p))
    }

    fn counter(&self, a: &Attendance, required: bool, prefix: &str) -> Result<String, ApiError> {
        let f = if prefix.is_empty() {
            "usuario".to_string()
        } else {
            format!("{prefix}.usuario")
        };
        match a
            .login
            .as_deref()
            .and_then(|l| self.unit.counters.get(l).map(|c| (l, c)))
        {
            Some((_, c)) => Ok(c.clone()),
            None if !required => Ok(String::new()),
            None => Err(match &a.login {
                None => ApiError::invalid(f, "is required for this event: the attendant's login"),
                Some(login) => ApiError {
                    status: StatusCode::UNPROCESSABLE_ENTITY,
                    code: "FAILED_PRECONDITION",
                    message: format!(
                        "{f}: the attendant {login:?} has no counter in [[ingress.novosga]] \
                         counters of unit {:?}: add `{login:?} = \"<counter id>\"`",
                        self.unit.unit
                    ),
                    field: Some(f),
                    done: None,
                },
            }),
        }
    }

    fn service(&self, a: &Attendance) -> String {
        self.unit
            .services
            .get(&a.service_id)
            .cloned()
            .unwrap_or_else(|| a.service_id.clone())
    }

    fn event(
        &self,
        a: &Attendance,
        kind: EventKind,
        at: Millis,
        counter: String,
        key_extra: &str,
    ) -> v1::TicketEvent {
        let event_id = format!(
            "novosga:{}:{}:{}:{}{key_extra}",
            self.unit.unit,
            kind.name(),
            a.id,
            at
        );
        let transfer = if kind == EventKind::Transferred {
            self.service(a)
        } else {
            String::new()
        };
        v1::TicketEvent {
            source_id: self.unit.source_id.clone(),
            event_id,
            occurred_at: Some(convert::timestamp(at)),
            r#type: kind.code(),
            ticket_id: a.id.clone(),
            display_number: a.display.clone(),
            service_code: if kind == EventKind::Transferred {
                String::new()
            } else {
                self.service(a)
            },
            counter_id: counter,
            // Stored only where `privacy.operator_data` allows it.
            operator_ref: a.login.clone().unwrap_or_default(),
            transfer_to_service: transfer,
            priority: a.priority,
            site_id: self.unit.site_id.clone(),
        }
    }

    fn one(&self, a: &Attendance, kind: EventKind, prefix: &str) -> Result<Mapped, ApiError> {
        let (at, counter, receipt) = match kind {
            EventKind::Issued => (self.time(a, "arrived", prefix)?, String::new(), false),
            EventKind::Called => (
                self.time(a, "called", prefix)?,
                self.counter(a, true, prefix)?,
                false,
            ),
            EventKind::ServiceStarted => (
                self.time(a, "started", prefix)?,
                self.counter(a, true, prefix)?,
                false,
            ),
            EventKind::Served => (
                self.time(a, "ended", prefix)?,
                self.counter(a, true, prefix)?,
                false,
            ),
            EventKind::NoShow | EventKind::Cancelled => (
                self.time(a, "ended", prefix)?,
                self.counter(a, false, prefix)?,
                false,
            ),
            _ => (self.now, String::new(), true),
        };
        let mut event = self.event(a, kind, at, counter, "");
        if receipt {
            // No time of its own: identified by what it did (a transfer by its new service,
            // a reactivation by the call it undoes), timed at receipt.
            let what = match kind {
                EventKind::Transferred => format!("to:{}", self.service(a)),
                _ => format!(
                    "after:{}",
                    a.called.as_deref().or(a.arrived.as_deref()).unwrap_or("")
                ),
            };
            let digest = hex::encode(&Sha256::digest(what.as_bytes())[..6]);
            event.event_id = format!(
                "novosga:{}:{}:{}:{digest}",
                self.unit.unit,
                kind.name(),
                a.id
            );
        }
        Ok(Mapped {
            event,
            timed_at_receipt: receipt,
        })
    }
}

/// The contract's events of one NovoSGA webhook; `Ok(None)` for an event name faccia does not
/// use.
pub fn map(
    unit: &NovosgaUnit,
    tz: Tz,
    now: Millis,
    event_name: &str,
    body: &Value,
) -> Result<Option<Vec<Mapped>>, ApiError> {
    let ctx = Ctx { unit, tz, now };
    let single = |kind: EventKind| -> Result<Option<Vec<Mapped>>, ApiError> {
        let a = attendance(body, "")?;
        Ok(Some(vec![ctx.one(&a, kind, "")?]))
    };
    match event_name {
        "ticket.created" => single(EventKind::Issued),
        // The first call (`first_reply`) and the call shown on the panel (`called`) carry the
        // same call time: one CALLED. A recall keeps the first call's time in NovoSGA's
        // payload, so it is the same event again (recalls are not counted).
        "ticket.first_reply" | "ticket.called" => single(EventKind::Called),
        "ticket.start" => single(EventKind::ServiceStarted),
        "ticket.finished" => single(EventKind::Served),
        "ticket.no_show" => single(EventKind::NoShow),
        "ticket.canceled" | "ticket.cancelled" => single(EventKind::Cancelled),
        "ticket.reactive" => single(EventKind::Requeued),
        "ticket.transferred" => single(EventKind::Transferred),
        "ticket.redirected" => {
            let list = body.as_array().filter(|l| l.len() == 2).ok_or_else(|| {
                ApiError::invalid(
                    "body",
                    "ticket.redirected must be an array of two attendances [old, new]",
                )
            })?;
            let old = attendance(&list[0], "[0]")?;
            let new = attendance(&list[1], "[1]")?;
            Ok(Some(vec![
                ctx.one(&old, EventKind::Cancelled, "[0]")?,
                ctx.one(&new, EventKind::Issued, "[1]")?,
            ]))
        }
        _ => Ok(None),
    }
}

/// `sha256=<hex>` or `<hex>` of HMAC-SHA256(secret, body), compared in constant time.
pub fn signature_ok(secret: &[u8], body: &[u8], presented: &str) -> bool {
    let hex_part = presented
        .trim()
        .strip_prefix("sha256=")
        .unwrap_or(presented.trim());
    let Ok(given) = hex::decode(hex_part) else {
        return false;
    };
    let expected = faccia_domain::mac::hmac_sha256(secret, body);
    given.len() == expected.len() && bool::from(given.as_slice().ct_eq(&expected))
}

/// One webhook: token, unit, signature, event name, body; then each mapped event published
/// in order.
pub async fn handle(
    shared: &Arc<Shared>,
    ingress: &IngressConfig,
    unit_id: &str,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<Response, ApiError> {
    let caller = shared
        .auth
        .check(headers, &[crate::config::Role::Queue])
        .map_err(ApiError::from_status)?;
    let Some(unit) = ingress.novosga.iter().find(|u| u.unit == unit_id) else {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "NOT_FOUND",
            format!(
                "NovoSGA unit {unit_id:?} is not configured ([[ingress.novosga]] units: {})",
                ingress
                    .novosga
                    .iter()
                    .map(|u| u.unit.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        ));
    };
    let office = shared
        .office(&unit.site_id, Some(&caller))
        .map_err(ApiError::from_status)?;
    if let Some((header, secret)) = &unit.signature {
        let presented = headers.get(header.as_str()).and_then(|v| v.to_str().ok());
        match presented {
            None => {
                return Err(ApiError {
                    field: Some(header.clone()),
                    ..ApiError::unauthenticated(format!(
                        "{header}: the webhook signature is required for unit {unit_id:?}"
                    ))
                })
            }
            Some(p) if !signature_ok(secret, body, p) => {
                tracing::warn!(
                    unit = unit_id,
                    "NovoSGA webhook with a wrong signature refused"
                );
                return Err(ApiError {
                    field: Some(header.clone()),
                    ..ApiError::unauthenticated(format!(
                        "{header}: the signature does not match the body (HMAC-SHA256 with the \
                         unit's secret)"
                    ))
                });
            }
            Some(_) => {}
        }
    }
    let event_name = headers
        .get(EVENT_HEADER)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .ok_or_else(|| {
            ApiError::invalid(
                EVENT_HEADER,
                format!(
                    "is required: the NovoSGA event name ({})",
                    EVENTS.join(", ")
                ),
            )
        })?
        .to_string();
    let value = json::parse(body)?;
    let now = office.store.now();
    let mapped = map(unit, office.site.time_zone, now, &event_name, &value);
    // The personal data goes with the body, here, whatever the outcome.
    drop(value);
    let Some(mapped) = mapped? else {
        tracing::info!(
            unit = unit_id,
            event = %event_name.chars().take(40).collect::<String>(),
            "NovoSGA event not used by faccia"
        );
        return Ok(ok(
            &event_name,
            Vec::new(),
            Some("event not used by faccia"),
        ));
    };
    let queue = QueueService {
        shared: shared.clone(),
    };
    let mut acks = Vec::with_capacity(mapped.len());
    for (i, m) in mapped.into_iter().enumerate() {
        let id = m.event.event_id.clone();
        let answer = queue.handle(Some(&caller), m.event).await;
        let ack = match answer {
            Ok(ack) => json::ack(&ack),
            Err(s) if m.timed_at_receipt && s.code() == Code::FailedPrecondition => {
                serde_json::json!({
                    "status": "DUPLICATE",
                    "event_id": id,
                    "detail": "already received (timed at receipt: the repeat is the same event)",
                })
            }
            Err(s) => {
                let e = ApiError::from_status(s);
                return Err(if acks.is_empty() {
                    e
                } else {
                    e.at_index("events", i).with_done(acks)
                });
            }
        };
        acks.push(ack);
    }
    tracing::debug!(unit = unit_id, event = %event_name, events = acks.len(), "NovoSGA webhook taken");
    Ok(ok(&event_name, acks, None))
}

fn ok(event: &str, acks: Vec<Value>, note: Option<&str>) -> Response {
    let mut body = serde_json::json!({ "event": event, "acks": acks });
    if let Some(n) = note {
        body["detail"] = Value::String(n.to_string());
    }
    (
        StatusCode::OK,
        [(axum::http::header::CONTENT_TYPE, "application/json")],
        body.to_string(),
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unit() -> NovosgaUnit {
        NovosgaUnit {
            unit: "1".into(),
            site_id: "sede".into(),
            source_id: "novosga-1".into(),
            counters: [("mario".to_string(), "S1".to_string())].into(),
            services: [("3".to_string(), "A".to_string())].into(),
            signature: None,
        }
    }

    fn payload() -> Value {
        serde_json::json!({
            "id": 42, "senha": {"sigla": "A", "numero": 7, "format": "A007"},
            "servico": {"id": 3, "nome": "Anagrafe"},
            "dataChegada": "2026-11-23T09:00:00", "dataChamada": "2026-11-23T09:10:00",
            "dataInicio": "2026-11-23T09:11:00", "dataFim": "2026-11-23T09:20:00",
            "prioridade": {"id": 1, "nome": "Normal", "peso": 0},
            "status": "encerrado", "usuario": "mario", "triagem": "anna",
            "cliente": {"nome": "Maria Bianchi", "documento": "BNCMRA80A41H501X"}
        })
    }

    #[test]
    fn times_are_local_to_the_site() {
        let tz: Tz = "Europe/Rome".parse().unwrap();
        let ms = local_time("2026-11-23T09:00:00", tz).unwrap();
        assert_eq!(
            ms,
            chrono::DateTime::parse_from_rfc3339("2026-11-23T08:00:00Z")
                .unwrap()
                .timestamp_millis()
        );
        // Summer time: +02:00.
        let ms = local_time("2026-07-01T09:00:00", tz).unwrap();
        assert_eq!(
            ms,
            chrono::DateTime::parse_from_rfc3339("2026-07-01T07:00:00Z")
                .unwrap()
                .timestamp_millis()
        );
        assert!(
            local_time("2026-03-29T02:30:00", tz).is_err(),
            "the spring gap"
        );
        assert!(
            local_time("2026-10-25T02:30:00", tz).is_ok(),
            "the autumn hour"
        );
        assert!(local_time("yesterday", tz).is_err());
    }

    #[test]
    fn finished_is_served_at_the_attendants_counter() {
        let tz: Tz = "Europe/Rome".parse().unwrap();
        let m = map(&unit(), tz, 0, "ticket.finished", &payload())
            .unwrap()
            .unwrap();
        assert_eq!(m.len(), 1);
        let e = &m[0].event;
        assert_eq!(e.r#type, EventKind::Served.code());
        assert_eq!(e.counter_id, "S1");
        assert_eq!(e.service_code, "A");
        assert_eq!(e.ticket_id, "42");
        assert_eq!(e.display_number, "A007");
        let debug = format!("{m:?}");
        assert!(
            !debug.contains("Maria") && !debug.contains("BNCMRA"),
            "{debug}"
        );
        // first_reply and called are the same CALLED.
        let a = map(&unit(), tz, 0, "ticket.first_reply", &payload())
            .unwrap()
            .unwrap();
        let b = map(&unit(), tz, 0, "ticket.called", &payload())
            .unwrap()
            .unwrap();
        assert_eq!(a, b);
    }

    #[test]
    fn an_unmapped_login_is_named() {
        let tz: Tz = "Europe/Rome".parse().unwrap();
        let mut p = payload();
        p["usuario"] = Value::String("nobody".into());
        let e = map(&unit(), tz, 0, "ticket.finished", &p).unwrap_err();
        assert_eq!(e.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(e.field.as_deref(), Some("usuario"));
        // Creation needs no counter.
        assert!(map(&unit(), tz, 0, "ticket.created", &p).is_ok());
    }

    #[test]
    fn receipt_timed_events_keep_their_id() {
        let tz: Tz = "Europe/Rome".parse().unwrap();
        let a = map(&unit(), tz, 1_000, "ticket.transferred", &payload())
            .unwrap()
            .unwrap();
        let b = map(&unit(), tz, 9_000, "ticket.transferred", &payload())
            .unwrap()
            .unwrap();
        assert_eq!(a[0].event.event_id, b[0].event.event_id);
        assert!(a[0].timed_at_receipt);
        assert_eq!(a[0].event.transfer_to_service, "A");
    }

    #[test]
    fn signatures() {
        let sig = hex::encode(faccia_domain::mac::hmac_sha256(
            b"secret-secret-secret",
            b"{}",
        ));
        assert!(signature_ok(b"secret-secret-secret", b"{}", &sig));
        assert!(signature_ok(
            b"secret-secret-secret",
            b"{}",
            &format!("sha256={sig}")
        ));
        assert!(!signature_ok(b"secret-secret-secret", b"{ }", &sig));
        assert!(!signature_ok(b"secret-secret-secret", b"{}", "zz"));
    }
}
