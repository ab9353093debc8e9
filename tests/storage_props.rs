//! Property test of the rules with real storage: random interleavings of events, duplicates,
//! reorderings, votes, expiries and restarts (the database closed and reopened) keep the
//! invariants, a replay of the same operations gives the same stored state, and the report
//! rollups the writer maintains equal a rebuild from the raw rows.

mod common;

use std::collections::{BTreeMap, BTreeSet};

use common::{Backend, TestClock, TestDb, T0};
use faccia_domain::session::{Face, Judgement, SessionState};
use faccia_domain::{EventKind, TicketEvent};
use faccia_server::config::DatabaseUrl;
use faccia_server::storage::{read, rollup, AckStatus, Rules, Store, VoteOutcome};
use proptest::prelude::*;

#[derive(Debug, Clone)]
enum Op {
    /// Send a new event.
    Send {
        kind: EventKind,
        ticket: u8,
        counter: u8,
        minute: u8,
    },
    /// Send again the n-th event sent so far (a retry).
    Resend(usize),
    /// Close the database and open it again.
    Restart,
    /// A keypad reports a vote for the n-th session's token (or an unknown token).
    Vote {
        session: usize,
        face: u8,
        reason: u8,
    },
    /// Time passes: windows run out.
    Advance,
}

fn op() -> impl Strategy<Value = Op> {
    let kinds = prop::sample::select(vec![
        EventKind::Issued,
        EventKind::Called,
        EventKind::Called,
        EventKind::Recalled,
        EventKind::ServiceStarted,
        EventKind::Served,
        EventKind::Served,
        EventKind::NoShow,
        EventKind::Cancelled,
        EventKind::Transferred,
        EventKind::Requeued,
        EventKind::DayReset,
        EventKind::CounterOpened,
        EventKind::CounterClosed,
    ]);
    prop_oneof![
        8 => (kinds, 0u8..4, 0u8..2, 0u8..20).prop_map(|(kind, ticket, counter, minute)| Op::Send { kind, ticket, counter, minute }),
        2 => (0usize..40).prop_map(Op::Resend),
        1 => Just(Op::Restart),
        2 => (0usize..6, 1u8..4, 0u8..5).prop_map(|(session, face, reason)| Op::Vote { session, face, reason }),
        1 => Just(Op::Advance),
    ]
}

fn event(n: usize, kind: EventKind, ticket: u8, counter: u8, minute: u8) -> TicketEvent {
    let ticket_event = kind.is_ticket_event();
    TicketEvent {
        source_id: "src".into(),
        event_id: format!("e{n}"),
        occurred_at: T0 + i64::from(minute) * 60_000,
        kind,
        ticket_id: if ticket_event {
            format!("t{ticket}")
        } else {
            String::new()
        },
        display_number: format!("A{ticket}"),
        service_code: "A".into(),
        counter_id: if kind.needs_counter() {
            format!("C{counter}")
        } else {
            String::new()
        },
        operator_ref: String::new(),
        transfer_to_service: if kind == EventKind::Transferred {
            "B".into()
        } else {
            String::new()
        },
        priority: 0,
    }
}

fn rules() -> Rules {
    Rules {
        site_id: "prop-site".into(),
        site_name: "Prop".into(),
        vote_window_ms: 60_000,
        grace_ms: 10_000,
        reason_window_ms: 10_000,
        time_zone: chrono_tz::Europe::Rome,
        operator_data: false,
        keypad_counters: Vec::new(),
    }
}

/// Runs the operations; `restarts` false ignores Restart ops. Returns the final dump.
async fn run(ops: &[Op], url: &DatabaseUrl, restarts: bool) -> read::Dump {
    let clock = TestClock::new(T0 + 30 * 60_000);
    let open = || Store::open(url, 2_000, rules(), clock.clock()).expect("open store");
    let mut store = open();
    let cache = std::sync::Arc::new(std::sync::Mutex::new(read::TicketCache::default()));
    let mut sent: Vec<(TicketEvent, AckStatus, Option<String>)> = Vec::new();
    for op in ops {
        match op {
            Op::Send {
                kind,
                ticket,
                counter,
                minute,
            } => {
                let e = event(sent.len(), *kind, *ticket, *counter, *minute);
                let ack = store.publish(e.clone()).await.expect("publish");
                assert_ne!(
                    ack.status,
                    AckStatus::Duplicate,
                    "a new event_id is never a duplicate"
                );
                if ack.session.is_some() {
                    assert_eq!(e.kind, EventKind::Served, "only SERVED opens sessions");
                    assert_eq!(ack.status, AckStatus::Accepted);
                }
                sent.push((e, ack.status, ack.session.map(|s| s.session_id)));
            }
            Op::Resend(i) if !sent.is_empty() => {
                let (e, _, session) = sent[i % sent.len()].clone();
                let ack = store.publish(e).await.expect("publish again");
                assert_eq!(ack.status, AckStatus::Duplicate);
                assert_eq!(
                    ack.session.map(|s| s.session_id),
                    session,
                    "a retry gets the original session"
                );
            }
            Op::Resend(_) => {}
            Op::Restart => {
                if restarts {
                    drop(store);
                    store = open();
                }
            }
            Op::Vote {
                session,
                face,
                reason,
            } => {
                let sessions = store.read_site(read::sessions).await.expect("sessions");
                let token = sessions
                    .get(*session)
                    .map(|s| s.token as u32)
                    .unwrap_or(424_242);
                let reason = if *face == 3 && *reason > 0 {
                    Some(*reason)
                } else {
                    None
                };
                let face = Face::from_code(i64::from(*face)).expect("face");
                // session::admit_vote: an open session, or one its keypad was recorded holding
                let was_open = sessions.iter().any(|s| {
                    s.token == i64::from(token)
                        && (s.state == "OPEN" || (s.keypad == "ARMED" && s.state != "VOTED"))
                });
                let out = store
                    .record_vote(token, Judgement { face, reason }, clock.now())
                    .await
                    .expect("vote");
                match out {
                    VoteOutcome::Stored(_) => {
                        assert!(
                            was_open,
                            "a vote enters only through an open or keypad-held session"
                        )
                    }
                    VoteOutcome::AlreadyStored(_) | VoteOutcome::Orphan => assert!(!was_open),
                }
            }
            Op::Advance => {
                clock.advance(61_000);
                store.expire_due().await.expect("expire");
            }
        }
        check_invariants(&store).await;
        check_ticket_cache(&store, &cache).await;
    }
    check_rollups(&store).await;
    store.read_site(read::dump).await.expect("dump")
}

/// The monitor's ticket cache, kept up to date from the event log op after op (and across
/// restarts), always equals a full load of today's tickets.
async fn check_ticket_cache(
    store: &Store,
    cache: &std::sync::Arc<std::sync::Mutex<read::TicketCache>>,
) {
    let since = T0 + 10 * 60_000;
    let cache = cache.clone();
    let (kept, full) = store
        .read_site(move |c, site| {
            let mut cache = cache.lock().expect("cache");
            read::office_data_cached(c, site, since, &mut cache)?;
            let kept: Vec<_> = cache.tickets().cloned().collect();
            let mut full = read::office_data(c, site, since)?.tickets;
            full.sort_by(|a, b| (&a.source_id, &a.ticket_id).cmp(&(&b.source_id, &b.ticket_id)));
            Ok((kept, full))
        })
        .await
        .expect("snapshot data");
    assert_eq!(kept, full, "the monitor's ticket cache equals a full load");
}

/// The report rollups the writer kept event by event are exactly a rebuild from the raw rows
/// (every row of report_votes, report_tickets and report_waits).
async fn check_rollups(store: &Store) {
    let tz = store.rules().time_zone;
    let (kept, rebuilt) = store
        .read_site(move |c, site| {
            let kept = rollup::load_all(c, site)?;
            rollup::rebuild(c, site, tz)?;
            Ok((kept, rollup::load_all(c, site)?))
        })
        .await
        .expect("rollups");
    assert_eq!(kept, rebuilt, "incremental rollups == rebuild");
}

async fn check_invariants(store: &Store) {
    let dump = store.read_site(read::dump).await.expect("dump");
    let sessions = store.read_site(read::sessions).await.expect("sessions");
    let votes = store.read_site(read::votes).await.expect("votes");
    // At most one session per ticket.
    let tickets: BTreeSet<_> = sessions
        .iter()
        .map(|s| (&s.source_id, &s.ticket_id))
        .collect();
    assert_eq!(tickets.len(), sessions.len(), "one session per ticket");
    // At most one open session per counter.
    let mut open: BTreeMap<&str, usize> = BTreeMap::new();
    for s in sessions
        .iter()
        .filter(|s| s.state == SessionState::Open.as_str())
    {
        *open.entry(&s.counter_id).or_default() += 1;
    }
    assert!(
        open.values().all(|n| *n <= 1),
        "one open session per counter: {open:?}"
    );
    // Sessions belong to served tickets; votes to voted sessions, one each.
    for s in &sessions {
        let t = dump
            .tickets
            .iter()
            .find(|t| t.source_id == s.source_id && t.ticket_id == s.ticket_id)
            .expect("session's ticket");
        assert_eq!(t.state, "SERVED", "a session only for a served ticket");
    }
    let voted: BTreeSet<_> = votes.iter().map(|v| &v.session_id).collect();
    assert_eq!(voted.len(), votes.len());
    for v in &votes {
        let s = sessions
            .iter()
            .find(|s| s.session_id == v.session_id)
            .expect("vote's session");
        assert_eq!(s.state, SessionState::Voted.as_str());
        assert_eq!(
            s.counter_id, v.counter_id,
            "the vote is at the counter that served"
        );
    }
    for s in sessions
        .iter()
        .filter(|s| s.state == SessionState::Voted.as_str())
    {
        assert!(voted.contains(&s.session_id));
    }
}

fn check(backend: Backend, ops: Vec<Op>) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        let a = TestDb::new(backend);
        let b = TestDb::new(backend);
        let with_restarts = run(&ops, &DatabaseUrl::parse(&a.url).expect("url"), true).await;
        let without = run(&ops, &DatabaseUrl::parse(&b.url).expect("url"), false).await;
        assert_eq!(
            with_restarts, without,
            "restarts change nothing; a replay is identical"
        );
    });
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 40, max_shrink_iters: 200, ..ProptestConfig::default() })]

    #[test]
    fn invariants_hold_on_sqlite(ops in prop::collection::vec(op(), 1..35)) {
        check(Backend::Sqlite, ops);
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 12, max_shrink_iters: 50, ..ProptestConfig::default() })]

    #[test]
    fn invariants_hold_on_postgres(ops in prop::collection::vec(op(), 1..30)) {
        check(Backend::Postgres, ops);
    }
}
