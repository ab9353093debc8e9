//! A month with every channel, stored through the real `Store` on SQLite and PostgreSQL:
//! tickets served at counters (votes on their keypads), links handed out at a counter for a
//! served ticket, links of online services (no ticket), answered calls. The monthly report, the
//! Ministry export and the rendered text give each channel its users and votes, and the office's
//! totals count every user once.

mod common;

use common::*;
use faccia_domain::session::{Channel, Face, Judgement};
use faccia_domain::{EventKind, Lang, TicketEvent};
use faccia_reports::model::{self, Via};
use faccia_reports::render::{self, Format};
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;

use faccia_storage::{AckStatus, Clock, RemoteSession, RemoteVote, Store, VoteOutcome, WebExtras};

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime")
}

fn served(n: usize, counter: &str, service: &str, at: i64) -> TicketEvent {
    TicketEvent {
        source_id: "queue-test".into(),
        event_id: format!("served-{n}"),
        occurred_at: at,
        kind: EventKind::Served,
        ticket_id: format!("T{n}"),
        display_number: format!("{service}{n:03}"),
        service_code: service.into(),
        counter_id: counter.into(),
        operator_ref: String::new(),
        transfer_to_service: String::new(),
        priority: 0,
    }
}

fn judgement(face: Face) -> Judgement {
    Judgement { face, reason: None }
}

async fn remote_vote(store: &Store, session_id: String, face: Face) {
    let out = store
        .record_remote_vote(session_id, judgement(face), WebExtras::default())
        .await
        .expect("remote vote");
    assert!(matches!(out, RemoteVote::Stored(_)), "{out:?}");
}

/// July 2026 in Rome: 10 tickets served at counter 1 (6 votes on its keypad), 4 tickets served
/// at counter 2 given a link (3 web votes), 2 online services given a link (1 web vote), 5
/// answered calls (2 phone votes).
fn a_month_of_every_channel(b: Backend) {
    let db = TestDb::new(b);
    let c = ctx();
    // The store's clock is July's: votes are stored at the moment they are given.
    let base = local(c.time_zone, 2026, 7, 14, 9, 0);
    let clock_at = Arc::new(AtomicI64::new(base));
    let tick = clock_at.clone();
    let clock: Clock = Arc::new(move || tick.fetch_add(1_000, Ordering::SeqCst));
    let store = Store::open(&db.url, 5_000, rules_for(&c), clock).expect("store");
    let rt = runtime();
    let later = base + 86_400_000;
    rt.block_on(async {
        for n in 0..10 {
            let ack = store
                .publish(served(n, "1", "A", base + n as i64 * MINUTE))
                .await
                .expect("publish");
            assert_eq!(ack.status, AckStatus::Accepted, "{}", ack.detail);
            let session = ack.session.expect("session");
            if n < 6 {
                let face = if n < 4 { Face::Green } else { Face::Red };
                let out = store
                    .record_vote(session.token, judgement(face), base + n as i64 * MINUTE)
                    .await
                    .expect("keypad vote");
                assert!(matches!(out, VoteOutcome::Stored(_)), "{out:?}");
            }
        }
        for n in 10..14 {
            let at = base + n as i64 * MINUTE;
            // The link handed out for that ticket (the session the web channel opens at SERVED
            // at a counter that gives links), then the SERVED itself: one session per ticket.
            let (info, new) = store
                .open_remote(RemoteSession {
                    channel: Channel::Web,
                    source_id: "queue-test".into(),
                    ticket_id: format!("T{n}"),
                    counter_id: "2".into(),
                    service_code: "C".into(),
                    served_at: at,
                    expires_at: later,
                    link_hash: Some(format!("{n:064}")),
                })
                .await
                .expect("link");
            assert!(new);
            let ack = store
                .publish(served(n, "2", "C", at))
                .await
                .expect("publish");
            assert_eq!(
                ack.session.map(|s| s.session_id),
                Some(info.session_id.clone())
            );
            if n < 13 {
                remote_vote(&store, info.session_id, Face::Green).await;
            }
        }
        for n in 0..2 {
            let (info, _) = store
                .open_remote(RemoteSession {
                    channel: Channel::Web,
                    source_id: "web:portale".into(),
                    ticket_id: format!("pratica-{n}"),
                    counter_id: String::new(),
                    service_code: "X".into(),
                    served_at: base + 3_600_000,
                    expires_at: later,
                    link_hash: Some(format!("{:064}", 100 + n)),
                })
                .await
                .expect("online link");
            if n == 0 {
                remote_vote(&store, info.session_id, Face::Yellow).await;
            }
        }
        for n in 0..5 {
            let (info, _) = store
                .open_remote(RemoteSession {
                    channel: Channel::Phone,
                    source_id: "pbx:urp".into(),
                    ticket_id: format!("1752480000.{n}"),
                    counter_id: "TEL".into(),
                    service_code: "X".into(),
                    served_at: base + 7_200_000 + n as i64 * MINUTE,
                    expires_at: later,
                    link_hash: None,
                })
                .await
                .expect("call");
            if n < 2 {
                remote_vote(&store, info.session_id, Face::Green).await;
            }
        }
    });
    drop(store);
    assert!(clock_at.load(Ordering::SeqCst) < base + 3 * 3_600_000);

    let mut conn = db.conn();
    let july = month(2026, 7);
    for via in [Via::Rollups, Via::Raw] {
        let r = model::monthly_via(&mut conn, &c, july, via).expect("monthly");
        let m = &r.current;
        // Every user once: 14 tickets, 2 online services, 5 calls.
        assert_eq!(m.served, 21, "{via:?}");
        assert_eq!(m.faces.votes, 12, "{via:?}");
        let ch = |code: &str| {
            m.by_channel
                .iter()
                .find(|g| g.code == code)
                .unwrap_or_else(|| panic!("channel {code}"))
                .clone()
        };
        let (counter, web, phone) = (ch("COUNTER"), ch("WEB"), ch("PHONE"));
        let at = |id: &str| m.by_counter.iter().find(|g| g.code == id).cloned();
        assert_eq!(
            at("1").map(|g| (g.served, g.faces.votes)),
            Some((Some(10), 6))
        );
        // The tickets of counter 2 were given links: its users and their web votes.
        assert_eq!(
            at("2").map(|g| (g.served, g.faces.votes)),
            Some((Some(4), 3))
        );
        assert_eq!(m.by_counter.len(), 3, "{:?}", m.by_counter);
        assert_eq!((counter.served, counter.faces.votes), (Some(10), 6));
        assert_eq!((web.served, web.faces.votes), (Some(6), 4));
        assert_eq!((phone.served, phone.faces.votes), (Some(5), 2));
        assert_eq!(counter.participation().map(|s| s.tenths()), Some(600));
        assert_eq!(phone.participation().map(|s| s.tenths()), Some(400));
        let svc = |code: &str| m.by_service.iter().find(|g| g.code == code).cloned();
        assert_eq!(
            svc("X").map(|g| (g.served, g.faces.votes)),
            Some((Some(7), 3))
        );
        assert_eq!(
            svc("C").map(|g| (g.served, g.faces.votes)),
            Some((Some(4), 3))
        );
        let totals = model::month_totals_via(&mut conn, &c, july, via).expect("totals");
        assert_eq!((totals.served, totals.faces.votes), (21, 12));

        let rows = model::ministry_export_via(&mut conn, &c, july, july, via).expect("export");
        let cell = |channel: &str, service: &str| {
            rows.iter()
                .find(|r| r.channel == channel && r.service == service)
                .map(|r| (r.served, r.faces.votes))
        };
        assert_eq!(cell("COUNTER", "A"), Some((Some(10), 6)));
        assert_eq!(cell("COUNTER", "C"), Some((Some(0), 0)));
        assert_eq!(cell("WEB", "C"), Some((Some(4), 3)));
        assert_eq!(cell("WEB", "X"), Some((Some(2), 1)));
        assert_eq!(cell("PHONE", "X"), Some((Some(5), 2)));
        assert_eq!(rows.iter().filter_map(|r| r.served).sum::<u64>(), 21);
    }

    let r = faccia_reports::monthly(&mut conn, &c, july).expect("monthly");
    let it = render::monthly(&r, Format::Text, Lang::It).expect("text");
    for word in ["Sportello", "Web", "Telefono"] {
        assert!(it.contains(word), "{word} missing:\n{it}");
    }
    let csv = render::monthly(&r, Format::Csv, Lang::It).expect("csv");
    assert!(
        csv.lines()
            .any(|l| l.starts_with("2026-07;channel;PHONE;;5;2;40,0;")),
        "{csv}"
    );
    assert!(
        csv.lines()
            .any(|l| l.starts_with("2026-07;channel;WEB;;6;4;66,7;")),
        "{csv}"
    );
    // Calls and online services are no counter's: the counters are the configured three.
    let counters: Vec<&str> = csv
        .lines()
        .filter(|l| l.starts_with("2026-07;counter;"))
        .collect();
    assert_eq!(counters.len(), 3, "{csv}");
}

both!(a_month_of_every_channel);
