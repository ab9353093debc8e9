//! `faccia import csv` on a real SQLite file: a day's log stored under the contract's rules,
//! no vote session opened, and the same file imported again changes nothing.

mod common;

use faccia_server::storage::{self, read};

const DAY: &str = "\
ticket_id;display_number;service_code;counter_id;issued_at;called_at;started_at;ended_at;outcome;cittadino
q-1;A001;A;C1;2026-11-30 09:00;2026-11-30 09:10;2026-11-30 09:11;2026-11-30 09:20;SERVED;Mario Rossi
q-2;A002;A;C2;2026-11-30 09:05:00;2026-11-30 09:12:00;;2026-11-30 09:15:00;no_show;
q-3;B001;B;;2026-11-30T08:07:00Z;;;2026-11-30T08:30:00Z;CANCELLED;
q-4;B002;B;C3;2026-11-30 09:30;2026-11-30 09:40;;;;\"Bianchi; Anna\"
q-5;A003;A;;2026-11-30 09:50;;;2026-11-30 10:00;SERVED;
q-6;A004;A;C1;2026-11-30 10:00;2026-11-30 09:55;;;;
";

#[test]
fn a_days_log_imports_once_and_opens_no_session() {
    let db = common::TestDb::new(common::Backend::Sqlite);
    let config = common::write_config(db.path(), &db.url, "127.0.0.1:1", 60);
    let file = db.path().join("day.csv");
    std::fs::write(&file, DAY).unwrap();
    let run = || {
        common::run_faccia(&[
            "import",
            "csv",
            "--config",
            config.to_str().unwrap(),
            "--file",
            file.to_str().unwrap(),
            "--source",
            "eliminacode-vecchio",
        ])
    };

    let first = run();
    let out = String::from_utf8_lossy(&first.stdout).to_string();
    let err = String::from_utf8_lossy(&first.stderr).to_string();
    // Two bad lines: a SERVED with no counter (line 6), a call before the issue (line 7).
    assert_eq!(first.status.code(), Some(1), "{out}\n{err}");
    assert!(
        out.contains("6 lines; events: 11 accepted, 0 duplicate, 0 stale; 2 lines rejected"),
        "{out}"
    );
    assert!(out.contains("line 6: SERVED event: counter_id"), "{out}");
    assert!(out.contains("line 7: CALLED is before ISSUED"), "{out}");
    assert!(err.contains("2 of 6 lines were rejected"), "{err}");
    assert!(!out.contains("Rossi") && !out.contains("Bianchi"), "{out}");

    let url = storage::DatabaseUrl::parse(&db.url).unwrap();
    let mut c = storage::connect(&url, 5000).unwrap();
    let before = read::dump(&mut c, "test-office").unwrap();
    let state = |id: &str| {
        before.tickets.iter().find(|t| t.ticket_id == id).map(|t| {
            (
                t.state.clone(),
                t.counter_id.clone(),
                t.waiting_ms,
                t.service_ms,
            )
        })
    };
    assert_eq!(
        state("q-1"),
        Some((
            "SERVED".into(),
            "C1".into(),
            Some(10 * 60_000),
            Some(9 * 60_000)
        ))
    );
    assert_eq!(state("q-2").map(|s| s.0), Some("NO_SHOW".into()));
    assert_eq!(state("q-3").map(|s| s.0), Some("CANCELLED".into()));
    assert_eq!(
        state("q-4").map(|s| (s.0, s.1)),
        Some(("CALLED".into(), "C3".into()))
    );
    assert_eq!(state("q-5"), None, "a refused line stores nothing");
    assert!(
        before.sessions.is_empty(),
        "an import opens no vote session: {:?}",
        before.sessions
    );
    assert_eq!(before.received.len(), 11);
    let issued = before
        .tickets
        .iter()
        .find(|t| t.ticket_id == "q-3")
        .unwrap()
        .issued_at;
    assert_eq!(
        issued,
        Some(
            chrono::DateTime::parse_from_rfc3339("2026-11-30T08:07:00Z")
                .unwrap()
                .timestamp_millis()
        )
    );
    drop(c);

    // The same file again: every event a duplicate, nothing changed.
    let second = run();
    let out = String::from_utf8_lossy(&second.stdout).to_string();
    assert!(
        out.contains("6 lines; events: 0 accepted, 11 duplicate, 0 stale; 2 lines rejected"),
        "{out}"
    );
    let mut c = storage::connect(&url, 5000).unwrap();
    assert_eq!(read::dump(&mut c, "test-office").unwrap(), before);
    let log_rows_before = read::last_seq(&mut c).unwrap();
    drop(c);

    // The two lines fixed, and a ticket's outcome changed: the fixed lines go in; the changed
    // line conflicts with what was imported and is reported, not overwritten.
    let fixed = DAY
        .replace("q-5;A003;A;;", "q-5;A003;A;C2;")
        .replace(
            "2026-11-30 10:00;2026-11-30 09:55",
            "2026-11-30 09:55;2026-11-30 10:00",
        )
        .replace("2026-11-30 09:15:00;no_show", "2026-11-30 09:16:00;no_show");
    std::fs::write(&file, fixed).unwrap();
    let third = run();
    let out = String::from_utf8_lossy(&third.stdout).to_string();
    assert!(
        out.contains("events: 4 accepted, 10 duplicate, 0 stale; 1 lines rejected"),
        "{out}"
    );
    assert!(
        out.contains("line 3: conflicts with an earlier import"),
        "{out}"
    );
    let mut c = storage::connect(&url, 5000).unwrap();
    assert!(read::last_seq(&mut c).unwrap() > log_rows_before);
    assert!(read::sessions(&mut c, "test-office").unwrap().is_empty());
}
