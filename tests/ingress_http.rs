//! The HTTP/JSON ingress of a real `faccia serve` on a real SQLite file: the same events and
//! rules as gRPC, statuses mapped to HTTP, errors naming the field.

mod common;
mod ingress_support;

use common::{QUEUE_TOKEN, VIEWER_TOKEN};
use ingress_support::{post_json, request, IngressServer};

fn event(id: &str, kind: &str, ticket: &str, counter: &str, at: &str) -> String {
    serde_json::json!({
        "source_id": "eliminacode", "event_id": id, "occurred_at": at, "type": kind,
        "ticket_id": ticket, "display_number": "A001", "service_code": "A", "counter_id": counter
    })
    .to_string()
}

#[test]
fn events_statuses_and_errors_over_http() {
    let server = IngressServer::start("", "info");
    let a = server.addr.as_str();

    let r = request(a, "GET", "/healthz", &[], b"");
    assert_eq!(r.status, 200, "{}", r.text);

    // Accepted, then the same event again: a duplicate, 200.
    let issued = event("e1", "ISSUED", "t1", "", "2026-11-30T09:00:00+01:00");
    let r = post_json(a, "/v1/events", Some(QUEUE_TOKEN), &issued);
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json()["status"], "ACCEPTED");
    let r = post_json(a, "/v1/events", Some(QUEUE_TOKEN), &issued);
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json()["status"], "DUPLICATE", "{}", r.text);
    // The same id with other content: 409.
    let other = event("e1", "ISSUED", "t1", "", "2026-11-30T09:01:00+01:00");
    let r = post_json(a, "/v1/events", Some(QUEUE_TOKEN), &other);
    assert_eq!(r.status, 409, "{}", r.text);
    assert_eq!(r.json()["error"]["code"], "FAILED_PRECONDITION");

    // A SERVED opens the counter's session (no keypad at C1 here).
    let served = event("e2", "SERVED", "t1", "C1", "2026-11-30T09:20:00+01:00");
    let r = post_json(a, "/v1/events", Some(QUEUE_TOKEN), &served);
    assert_eq!(r.status, 200, "{}", r.text);
    let j = r.json();
    assert_eq!(j["status"], "ACCEPTED");
    assert_eq!(j["vote_session"]["counter_id"], "C1");
    assert_eq!(j["vote_session"]["keypad"], "NO_KEYPAD");
    assert_eq!(j["vote_session"]["channel"], "COUNTER");
    assert_eq!(j["vote_session"]["site_id"], "test-office");
    let r = post_json(a, "/v1/events", Some(QUEUE_TOKEN), &served);
    assert_eq!(r.json()["status"], "DUPLICATE");
    assert_eq!(
        r.json()["vote_session"]["session_id"],
        j["vote_session"]["session_id"],
        "the duplicate answers the original session"
    );

    // Malformed JSON: 400 naming the body.
    let r = post_json(a, "/v1/events", Some(QUEUE_TOKEN), "{\"source_id\": \"x\",");
    assert_eq!(r.status, 400, "{}", r.text);
    assert_eq!(r.json()["error"]["field"], "body");
    assert_eq!(r.json()["error"]["code"], "INVALID_ARGUMENT");

    // Missing fields, each named.
    for (missing, field) in [
        ("counter_id", "counter_id"),
        ("occurred_at", "occurred_at"),
        ("type", "type"),
        ("event_id", "event_id"),
        ("source_id", "source_id"),
        ("ticket_id", "ticket_id"),
    ] {
        let mut v: serde_json::Value = serde_json::from_str(&event(
            "e9",
            "SERVED",
            "t9",
            "C2",
            "2026-11-30T10:00:00+01:00",
        ))
        .unwrap();
        v.as_object_mut().unwrap().remove(missing);
        let r = post_json(a, "/v1/events", Some(QUEUE_TOKEN), &v.to_string());
        assert_eq!(r.status, 400, "{missing}: {}", r.text);
        let e = &r.json()["error"];
        assert_eq!(e["field"], field, "{}", r.text);
        assert!(
            e["message"].as_str().unwrap().starts_with(field),
            "{}",
            r.text
        );
    }
    // A time without offset, an unknown field, a wrong type.
    let r = post_json(
        a,
        "/v1/events",
        Some(QUEUE_TOKEN),
        &event("e9", "SERVED", "t9", "C2", "2026-11-30T10:00:00"),
    );
    assert_eq!(
        (r.status, r.json()["error"]["field"].clone()),
        (400, "occurred_at".into())
    );
    let r = post_json(
        a,
        "/v1/events",
        Some(QUEUE_TOKEN),
        &event("e9", "FINISHED", "t9", "C2", "2026-11-30T10:00:00Z"),
    );
    assert_eq!(
        (r.status, r.json()["error"]["field"].clone()),
        (400, "type".into())
    );
    let r = post_json(a, "/v1/events", Some(QUEUE_TOKEN), r#"{"counter": "C1"}"#);
    assert_eq!(
        (r.status, r.json()["error"]["field"].clone()),
        (400, "counter".into())
    );

    // Tokens: none, unknown (401), the wrong role (403); a site not served (404).
    let r = post_json(a, "/v1/events", None, &issued);
    assert_eq!(r.status, 401, "{}", r.text);
    assert_eq!(r.json()["error"]["code"], "UNAUTHENTICATED");
    assert!(r.json()["error"]["message"]
        .as_str()
        .unwrap()
        .contains("authorization"));
    let r = post_json(a, "/v1/events", Some("not-a-token-at-all"), &issued);
    assert_eq!(r.status, 401, "{}", r.text);
    let r = post_json(a, "/v1/events", Some(VIEWER_TOKEN), &issued);
    assert_eq!(r.status, 403, "{}", r.text);
    assert_eq!(r.json()["error"]["code"], "PERMISSION_DENIED");
    let mut v: serde_json::Value = serde_json::from_str(&issued).unwrap();
    v["site_id"] = "elsewhere".into();
    let r = post_json(a, "/v1/events", Some(QUEUE_TOKEN), &v.to_string());
    assert_eq!(r.status, 404, "{}", r.text);

    // Not JSON at all: 415.
    let r = request(
        a,
        "POST",
        "/v1/events",
        &[
            ("Content-Type", "text/plain"),
            ("Authorization", &format!("Bearer {QUEUE_TOKEN}")),
        ],
        issued.as_bytes(),
    );
    assert_eq!(r.status, 415, "{}", r.text);

    // A batch with a bad event stores nothing, and names the event and field.
    let good = event("b1", "ISSUED", "t2", "", "2026-11-30T09:30:00+01:00");
    let bad = event("b2", "CALLED", "t2", "", "2026-11-30T09:31:00+01:00");
    let body = format!(r#"{{"events": [{good}, {bad}]}}"#);
    let r = post_json(a, "/v1/events:batch", Some(QUEUE_TOKEN), &body);
    assert_eq!(r.status, 400, "{}", r.text);
    assert_eq!(
        r.json()["error"]["field"],
        "events[1].counter_id",
        "{}",
        r.text
    );
    let fixed = event("b2", "CALLED", "t2", "C2", "2026-11-30T09:31:00+01:00");
    let body = format!(r#"{{"events": [{good}, {fixed}]}}"#);
    let r = post_json(a, "/v1/events:batch", Some(QUEUE_TOKEN), &body);
    assert_eq!(r.status, 200, "{}", r.text);
    let acks = r.json()["acks"].as_array().unwrap().clone();
    assert_eq!(acks.len(), 2);
    assert_eq!(
        acks[0]["status"], "ACCEPTED",
        "nothing of the refused batch was stored"
    );
    assert_eq!(acks[1]["status"], "ACCEPTED");

    // Reconcile: C2 holds nothing now (it held t2, CALLED): one counter repaired.
    let snap = r#"{"source_id": "eliminacode", "at": "2026-11-30T09:40:00+01:00",
                   "counters": [{"counter_id": "C2", "open": true}]}"#;
    let r = post_json(a, "/v1/reconcile", Some(QUEUE_TOKEN), snap);
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json()["repaired"], 1, "{}", r.text);
    let r = post_json(
        a,
        "/v1/reconcile",
        Some(QUEUE_TOKEN),
        r#"{"source_id": "eliminacode", "counters": []}"#,
    );
    assert_eq!(
        (r.status, r.json()["error"]["field"].clone()),
        (400, "at".into())
    );

    let r = request(a, "GET", "/nope", &[], b"");
    assert_eq!(r.status, 404);
}
