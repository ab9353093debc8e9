//! NovoSGA's webhooks, as recorded in tests/fixtures/novosga, posted to a real `faccia serve`
//! (trace logs) on a real SQLite file: the stored tickets and sessions, and no personal field
//! anywhere in the database files (WAL included) or the server's log.

mod common;
mod ingress_support;

use std::collections::BTreeMap;

use common::{QUEUE_TOKEN, VIEWER_TOKEN};
use diesel::prelude::*;
use faccia_server::storage::models::TicketRow;
use faccia_server::storage::{read, schema};
use ingress_support::{request, IngressServer, Resp};

const UNITS: &str = r#"
[[ingress.novosga]]
unit = "1"
source_id = "novosga-sede"
counters = { "mario.rossi" = "C1", "anna.verdi" = "C2" }
services = { "3" = "A", "4" = "B" }

[[ingress.novosga]]
unit = "2"
counters = { "mario.rossi" = "C3" }
signature_header = "X-Signature"
secret = "a-long-shared-webhook-secret"
"#;

/// What NovoSGA's recorded cliente and observacao hold: none of it may be stored or logged.
const PERSONAL: &[&str] = &[
    "Maria Bianchi",
    "Bianchi",
    "BNCMRA80A41H501X",
    "maria.bianchi@example.it",
    "333 1234567",
    "Via Nazionale",
    "Documento scaduto",
    "1980-01-01",
    "Cliente abituale",
];

fn fixture(name: &str) -> Vec<u8> {
    let p = format!(
        "{}/tests/fixtures/novosga/{name}.json",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read(&p).unwrap_or_else(|e| panic!("{p}: {e}"))
}

fn post(addr: &str, unit: &str, name: &str, extra: &[(&str, &str)]) -> Resp {
    let event = name.split_once('-').map(|(_, e)| e).unwrap();
    let auth = format!("Bearer {QUEUE_TOKEN}");
    let mut h = vec![
        ("Content-Type", "application/json"),
        ("x-webhook-event", event),
        ("Authorization", auth.as_str()),
    ];
    h.extend_from_slice(extra);
    request(
        addr,
        "POST",
        &format!("/v1/novosga/{unit}"),
        &h,
        &fixture(name),
    )
}

fn statuses(r: &Resp) -> Vec<String> {
    assert_eq!(r.status, 200, "{}", r.text);
    r.json()["acks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["status"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn novosga_webhooks_become_tickets_and_sessions_without_personal_data() {
    let mut server = IngressServer::start(UNITS, "trace");
    let a = server.addr.clone();
    let a = a.as_str();
    let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();

    // Every event name NovoSGA sends, in the order a unit would send them; `called` after
    // `first_reply` is the same call; a finished posted twice is a duplicate; 107's start
    // arrives after its finished (out of order);
    // 103 is called (late, by its clock) after it was cancelled: stale.
    let sequence: &[(&str, &[&str])] = &[
        ("101-ticket.created", &["ACCEPTED"]),
        ("101-ticket.first_reply", &["ACCEPTED"]),
        ("101-ticket.called", &["DUPLICATE"]),
        ("101-ticket.start", &["ACCEPTED"]),
        ("101-ticket.finished", &["ACCEPTED"]),
        ("101-ticket.finished", &["DUPLICATE"]),
        ("102-ticket.created", &["ACCEPTED"]),
        ("102-ticket.called", &["ACCEPTED"]),
        ("102-ticket.no_show", &["ACCEPTED"]),
        ("102-ticket.reactive", &["ACCEPTED"]),
        ("102-ticket.reactive", &["DUPLICATE"]),
        ("103-ticket.created", &["ACCEPTED"]),
        ("103-ticket.canceled", &["ACCEPTED"]),
        ("103-ticket.called", &["STALE_IGNORED"]),
        ("104-ticket.created", &["ACCEPTED"]),
        ("104-ticket.transferred", &["ACCEPTED"]),
        ("105-ticket.created", &["ACCEPTED"]),
        ("105-ticket.first_reply", &["ACCEPTED"]),
        ("105-ticket.start", &["ACCEPTED"]),
        ("105-ticket.redirected", &["ACCEPTED", "ACCEPTED"]),
        ("107-ticket.created", &["ACCEPTED"]),
        ("107-ticket.first_reply", &["ACCEPTED"]),
        ("107-ticket.finished", &["ACCEPTED"]),
        // Earlier in time than the SERVED already stored: folded in by occurred_at.
        ("107-ticket.start", &["ACCEPTED"]),
    ];
    let mut sessions_in_answers = 0;
    for (name, want) in sequence {
        let r = post(a, "1", name, &[]);
        assert_eq!(statuses(&r), s(want), "{name}: {}", r.text);
        if name.ends_with("finished") && want == &["ACCEPTED"] {
            let vs = &r.json()["acks"][0]["vote_session"];
            assert_eq!(vs["channel"], "COUNTER", "{name}: {}", r.text);
            sessions_in_answers += 1;
        }
    }
    assert_eq!(sessions_in_answers, 2);

    // Refusals: no event header, an unknown unit, a wrong token, an unmapped attendant.
    let auth = format!("Bearer {QUEUE_TOKEN}");
    let r = request(
        a,
        "POST",
        "/v1/novosga/1",
        &[
            ("Content-Type", "application/json"),
            ("Authorization", &auth),
        ],
        &fixture("101-ticket.created"),
    );
    assert_eq!(
        (r.status, r.json()["error"]["field"].clone()),
        (400, "x-webhook-event".into())
    );
    let r = post(a, "9", "101-ticket.created", &[]);
    assert_eq!(r.status, 404, "{}", r.text);
    let viewer = format!("Bearer {VIEWER_TOKEN}");
    let r = request(
        a,
        "POST",
        "/v1/novosga/1",
        &[
            ("x-webhook-event", "ticket.created"),
            ("Authorization", &viewer),
        ],
        &fixture("101-ticket.created"),
    );
    assert_eq!(r.status, 403, "{}", r.text);
    let r = request(
        a,
        "POST",
        "/v1/novosga/1",
        &[("x-webhook-event", "ticket.created")],
        &fixture("101-ticket.created"),
    );
    assert_eq!(r.status, 401, "{}", r.text);
    // Unit 2 maps only mario.rossi: anna.verdi's call cannot be placed at a counter.
    let r = post(
        a,
        "2",
        "102-ticket.called",
        &[("X-Signature", &sign(&fixture("102-ticket.called")))],
    );
    assert_eq!(r.status, 422, "{}", r.text);
    assert_eq!(r.json()["error"]["field"], "usuario");
    let r = request(
        a,
        "POST",
        "/v1/novosga/1",
        &[
            ("x-webhook-event", "ticket.created"),
            ("Authorization", &auth),
        ],
        b"{\"id\": 1,",
    );
    assert_eq!(
        (r.status, r.json()["error"]["field"].clone()),
        (400, "body".into())
    );
    // An event faccia does not use is taken and ignored.
    let r = request(
        a,
        "POST",
        "/v1/novosga/1",
        &[
            ("x-webhook-event", "ticket.something_new"),
            ("Authorization", &auth),
        ],
        &fixture("101-ticket.created"),
    );
    assert_eq!(statuses(&r), Vec::<String>::new());

    // Signed unit: right, wrong and missing signatures.
    let body = fixture("101-ticket.created");
    let r = post(
        a,
        "2",
        "101-ticket.created",
        &[("X-Signature", &format!("sha256={}", sign(&body)))],
    );
    assert_eq!(statuses(&r), s(&["ACCEPTED"]));
    let r = post(
        a,
        "2",
        "101-ticket.created",
        &[("X-Signature", &sign(b"another body"))],
    );
    assert_eq!(
        (r.status, r.json()["error"]["field"].clone()),
        (401, "x-signature".into())
    );
    let r = post(a, "2", "101-ticket.created", &[]);
    assert_eq!(r.status, 401, "{}", r.text);

    // What is stored.
    let mut c = server.conn();
    let tickets: BTreeMap<String, TicketRow> = schema::tickets::table
        .filter(schema::tickets::source_id.eq("novosga-sede"))
        .select(TicketRow::as_select())
        .load(&mut c)
        .unwrap()
        .into_iter()
        .map(|t| (t.ticket_id.clone(), t))
        .collect();
    let state = |id: &str| {
        let t = &tickets[id];
        (
            t.state.as_str(),
            t.counter_id.as_str(),
            t.service_code.as_str(),
        )
    };
    assert_eq!(state("101"), ("SERVED", "C1", "A"));
    assert_eq!(state("102").0, "WAITING", "reactivated after the no-show");
    assert_eq!(state("103").0, "CANCELLED");
    assert_eq!(state("104"), ("WAITING", "", "B"));
    assert_eq!(
        state("105").0,
        "CANCELLED",
        "redirected: the old attendance ends"
    );
    assert_eq!(state("106"), ("WAITING", "", "B"));
    assert_eq!(state("107"), ("SERVED", "C2", "B"));
    let t101 = &tickets["101"];
    // 09:00 local (+01:00) is 08:00 UTC; waited 10 minutes; served for 9.
    assert_eq!(
        t101.issued_at,
        Some(
            chrono::DateTime::parse_from_rfc3339("2026-11-30T08:00:00Z")
                .unwrap()
                .timestamp_millis()
        )
    );
    assert_eq!(t101.waiting_ms, Some(10 * 60_000));
    assert_eq!(t101.service_ms, Some(9 * 60_000));
    assert_eq!(tickets["101"].display_number, "A001");
    assert_eq!(
        tickets["107"].service_ms,
        Some(9 * 60_000),
        "the late start counts from 09:41, not from the call"
    );
    assert_eq!(tickets["106"].display_number, "B005");
    let sessions = read::sessions(&mut c, "test-office").unwrap();
    let mut at: Vec<(String, String)> = sessions
        .iter()
        .map(|s| (s.ticket_id.clone(), s.counter_id.clone()))
        .collect();
    at.sort();
    assert_eq!(
        at,
        vec![("101".into(), "C1".into()), ("107".into(), "C2".into())],
        "one session per finished ticket, none for the others"
    );
    drop(c);

    server.stop();
    // No personal field in the database files (main file and WAL) or the log; nor the
    // attendants' logins (privacy.operator_data is off).
    let mut files = vec![server.log.clone()];
    for entry in std::fs::read_dir(server.db.path()).unwrap() {
        let p = entry.unwrap().path();
        if p.file_name()
            .unwrap()
            .to_string_lossy()
            .starts_with("faccia.db")
        {
            files.push(p);
        }
    }
    assert!(files.len() >= 2, "{files:?}");
    let log = std::fs::read_to_string(&server.log).unwrap();
    assert!(
        log.contains("TRACE") || log.contains("DEBUG"),
        "the server logged at trace level"
    );
    for f in &files {
        let bytes = std::fs::read(f).unwrap();
        let text = String::from_utf8_lossy(&bytes);
        for p in PERSONAL {
            assert!(!text.contains(p), "{p:?} found in {}", f.display());
        }
        if f != &server.log {
            assert!(!text.contains("mario.rossi"), "a login in {}", f.display());
        }
    }
}

fn sign(body: &[u8]) -> String {
    faccia_domain::mac::hmac_sha256(b"a-long-shared-webhook-secret", body)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}
