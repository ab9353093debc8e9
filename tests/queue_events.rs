//! The queue-events contract end to end: a real tonic client against the real server over
//! loopback, on SQLite and on PostgreSQL. One test per rule of `spec/queue-events.md`.

mod common;

use common::{ev, status, Backend, TestClock, TestDb, TestServer, T0};
use faccia_proto::v1::{self, event_ack::Status as Ack, EventType as E};
use tonic::Code;

const MIN: i64 = 60_000;

async fn setup(backend: Backend) -> (TestDb, TestServer) {
    let db = TestDb::new(backend);
    let server = TestServer::start(&db, TestClock::new(T0 + 30 * MIN)).await;
    (db, server)
}

async fn happy_path_opens_one_session(backend: Backend) {
    let (_db, s) = setup(backend).await;
    let mut q = s.queue().await;
    let a = q
        .publish(ev("e1", T0, E::Issued, "t1", ""))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(status(&a), Ack::Accepted);
    assert!(a.vote_session.is_none());
    let a = q
        .publish(ev("e2", T0 + 5 * MIN, E::Called, "t1", "C1"))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(status(&a), Ack::Accepted);
    assert!(a.vote_session.is_none());
    let a = q
        .publish(ev("e3", T0 + 9 * MIN, E::Served, "t1", "C1"))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(status(&a), Ack::Accepted);
    let vs = a.vote_session.expect("SERVED opens a session");
    assert_eq!(vs.counter_id, "C1");
    assert_eq!(vs.keypad, v1::vote_session::KeypadState::NoKeypad as i32);
    let expires = vs.expires_at.expect("expires_at");
    assert_eq!(expires.seconds * 1000, s.clock.now() + 60_000);
    // A retry of the same event: DUPLICATE with the original session.
    let d = q
        .publish(ev("e3", T0 + 9 * MIN, E::Served, "t1", "C1"))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(status(&d), Ack::Duplicate);
    assert_eq!(
        d.vote_session.as_ref().map(|v| &v.session_id),
        Some(&vs.session_id)
    );
    assert_eq!(d.event_id, "e3");
    // A second SERVED for the same ticket (another event id) opens nothing.
    let again = q
        .publish(ev("e4", T0 + 10 * MIN, E::Served, "t1", "C2"))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(status(&again), Ack::StaleIgnored);
    assert!(again.vote_session.is_none());
    // The snapshot shows the open session and the waiting/service times.
    let snap = s
        .monitor(common::VIEWER_TOKEN)
        .await
        .get_snapshot(v1::SnapshotRequest {
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    let today = snap.today.expect("totals");
    assert_eq!(today.served, 1);
    assert_eq!(today.sessions_open, 1);
    assert_eq!(today.avg_wait_s, Some(300.0));
    let c1 = snap.counters.iter().find(|c| c.id == "C1").expect("C1");
    assert!(c1.session_open);
    assert_eq!(c1.served_today, 1);
    assert_eq!(c1.avg_service_s, Some(240.0));
    let a_svc = snap
        .services
        .iter()
        .find(|x| x.code == "A")
        .expect("service A");
    assert_eq!(a_svc.within_standard_pct, Some(100.0));
    s.stop().await;
}
both_backends!(happy_path, happy_path_opens_one_session);

async fn conflicting_retry_is_failed_precondition(backend: Backend) {
    let (_db, s) = setup(backend).await;
    let mut q = s.queue().await;
    q.publish(ev("e1", T0, E::Issued, "t1", "")).await.unwrap();
    let err = q
        .publish(ev("e1", T0, E::Issued, "t2", ""))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::FailedPrecondition);
    assert!(err.message().contains("e1"), "{}", err.message());
    // Nothing was stored for t2.
    let a = q
        .publish(ev("e2", T0 + MIN, E::Served, "t2", "C1"))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(status(&a), Ack::Accepted);
    s.stop().await;
}
both_backends!(conflicting_retry, conflicting_retry_is_failed_precondition);

async fn out_of_order_and_stale(backend: Backend) {
    let (_db, s) = setup(backend).await;
    let mut q = s.queue().await;
    // SERVED arrives first, with no CALLED before it: accepted, the SERVED's counter serves.
    let a = q
        .publish(ev("s", T0 + 10 * MIN, E::Served, "t1", "C2"))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(status(&a), Ack::Accepted);
    assert_eq!(a.vote_session.expect("session").counter_id, "C2");
    // The CALLED and ISSUED that happened before arrive late: they fill in the times.
    let a = q
        .publish(ev("c", T0 + 4 * MIN, E::Called, "t1", "C2"))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(status(&a), Ack::Accepted);
    let a = q
        .publish(ev("i", T0, E::Issued, "t1", ""))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(status(&a), Ack::Accepted);
    // A CALLED after SERVED (by occurred_at) cannot move a terminal ticket.
    let a = q
        .publish(ev("c2", T0 + 11 * MIN, E::Called, "t1", "C3"))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(status(&a), Ack::StaleIgnored);
    assert!(!a.detail.is_empty());
    // A late NO_SHOW timed before the SERVED would rewrite history: stale.
    let a = q
        .publish(ev("n", T0 + 5 * MIN, E::NoShow, "t1", ""))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(status(&a), Ack::StaleIgnored);
    let snap = s
        .monitor(common::VIEWER_TOKEN)
        .await
        .get_snapshot(v1::SnapshotRequest {
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    let c2 = snap.counters.iter().find(|c| c.id == "C2").expect("C2");
    assert_eq!(c2.served_today, 1);
    assert_eq!(c2.avg_service_s, Some(360.0));
    assert_eq!(snap.today.and_then(|t| t.avg_wait_s), Some(240.0));
    s.stop().await;
}
both_backends!(out_of_order, out_of_order_and_stale);

async fn only_served_opens_sessions(backend: Backend) {
    let (_db, s) = setup(backend).await;
    let mut q = s.queue().await;
    let mut t = T0;
    let mut next = |kind: E, ticket: &str, counter: &str| {
        t += MIN;
        let mut e = ev(
            &format!("{ticket}-{}-{t}", kind as i32),
            t,
            kind,
            ticket,
            counter,
        );
        if kind == E::Transferred {
            e.transfer_to_service = "B".into();
        }
        e
    };
    for (kind, ticket, counter) in [
        (E::Issued, "r", ""),
        (E::Called, "r", "C1"),
        (E::Recalled, "r", "C1"),
        (E::NoShow, "r", ""),
        (E::Issued, "x", ""),
        (E::Cancelled, "x", ""),
        (E::Issued, "y", ""),
        (E::Called, "y", "C2"),
        (E::Transferred, "y", ""),
    ] {
        let a = q
            .publish(next(kind, ticket, counter))
            .await
            .unwrap()
            .into_inner();
        assert_eq!(status(&a), Ack::Accepted, "{kind:?} {ticket}");
        assert!(a.vote_session.is_none(), "{kind:?} must not open a session");
    }
    // A terminal ticket can only be requeued after NO_SHOW or CANCELLED.
    let a = q
        .publish(next(E::Called, "r", "C1"))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(status(&a), Ack::StaleIgnored);
    let a = q
        .publish(next(E::Requeued, "r", ""))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(status(&a), Ack::Accepted);
    let a = q
        .publish(next(E::Called, "r", "C1"))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(status(&a), Ack::Accepted);
    let a = q
        .publish(next(E::Served, "r", "C1"))
        .await
        .unwrap()
        .into_inner();
    assert!(a.vote_session.is_some());
    let a = q
        .publish(next(E::Requeued, "r", ""))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(status(&a), Ack::StaleIgnored, "SERVED is final");
    // The transferred ticket waits in its new service.
    let snap = s
        .monitor(common::VIEWER_TOKEN)
        .await
        .get_snapshot(v1::SnapshotRequest {
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    let b = snap.services.iter().find(|x| x.code == "B").expect("B");
    assert_eq!(b.waiting_now, 1);
    s.stop().await;
}
both_backends!(only_served, only_served_opens_sessions);

async fn next_call_supersedes_and_reset_cancels(backend: Backend) {
    let (_db, s) = setup(backend).await;
    let mut q = s.queue().await;
    let mut m = s.monitor(common::VIEWER_TOKEN).await;
    q.publish(ev("a1", T0, E::Called, "a", "C1")).await.unwrap();
    let a = q
        .publish(ev("a2", T0 + MIN, E::Served, "a", "C1"))
        .await
        .unwrap()
        .into_inner();
    let first = a.vote_session.expect("session").session_id;
    // The next citizen is called at C1: the open session ends SUPERSEDED.
    q.publish(ev("b1", T0 + 2 * MIN, E::Called, "b", "C1"))
        .await
        .unwrap();
    let snap = m
        .get_snapshot(v1::SnapshotRequest {
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert!(!snap.counters.iter().any(|c| c.session_open));
    // A SERVED older than the counter's last call opens a session that ends at once.
    q.publish(ev("z1", T0 + 3 * MIN, E::Called, "z", "C2"))
        .await
        .unwrap();
    let late = q
        .publish(ev("y1", T0 + 90_000, E::Served, "y", "C2"))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(status(&late), Ack::Accepted);
    assert!(late.vote_session.is_some());
    // Open sessions at C3 and C4, then DAY_RESET cancels them and closes open tickets.
    q.publish(ev("c1", T0 + 4 * MIN, E::Served, "c", "C3"))
        .await
        .unwrap();
    q.publish(ev("d1", T0 + 4 * MIN, E::Served, "d", "C4"))
        .await
        .unwrap();
    q.publish(ev("w1", T0 + 4 * MIN, E::Issued, "w", ""))
        .await
        .unwrap();
    let snap = m
        .get_snapshot(v1::SnapshotRequest {
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(snap.today.as_ref().map(|t| t.sessions_open), Some(2));
    assert_eq!(snap.today.as_ref().map(|t| t.waiting_now), Some(1));
    let mut reset = ev("reset", T0 + 5 * MIN, E::DayReset, "", "");
    reset.service_code.clear();
    let a = q.publish(reset.clone()).await.unwrap().into_inner();
    assert_eq!(status(&a), Ack::Accepted, "{}", a.detail);
    let snap = m
        .get_snapshot(v1::SnapshotRequest {
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(snap.today.as_ref().map(|t| t.sessions_open), Some(0));
    assert_eq!(snap.today.as_ref().map(|t| t.waiting_now), Some(0));
    // The log tells how each session ended.
    let mut watch = m
        .watch_events(v1::WatchRequest {
            after_seq: 0,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    let mut outcomes = Vec::new();
    while let Ok(Ok(Some(e))) =
        tokio::time::timeout(std::time::Duration::from_millis(500), watch.message()).await
    {
        if e.kind == v1::LogKind::LogSessionEnded as i32 {
            outcomes.push((e.session_id.clone(), e.outcome));
        }
    }
    assert!(
        outcomes.contains(&(first, v1::SessionOutcome::SessionSuperseded as i32)),
        "{outcomes:?}"
    );
    let cancelled = outcomes
        .iter()
        .filter(|(_, o)| *o == v1::SessionOutcome::SessionCancelled as i32)
        .count();
    assert_eq!(cancelled, 2, "{outcomes:?}");
    let superseded = outcomes
        .iter()
        .filter(|(_, o)| *o == v1::SessionOutcome::SessionSuperseded as i32)
        .count();
    assert_eq!(superseded, 2, "{outcomes:?}");
    s.stop().await;
}
both_backends!(supersede_and_reset, next_call_supersedes_and_reset_cancels);

async fn unknown_counters_and_services_are_accepted(backend: Backend) {
    let (_db, s) = setup(backend).await;
    let mut q = s.queue().await;
    let mut e = ev("u1", T0, E::Served, "t9", "C99");
    e.service_code = "ZZ".into();
    let a = q.publish(e).await.unwrap().into_inner();
    assert_eq!(status(&a), Ack::Accepted);
    assert!(a.vote_session.is_some());
    let snap = s
        .monitor(common::VIEWER_TOKEN)
        .await
        .get_snapshot(v1::SnapshotRequest {
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    let c = snap
        .counters
        .iter()
        .find(|c| c.id == "C99")
        .expect("unconfigured counter listed");
    assert!(!c.configured);
    assert!(snap
        .alerts
        .iter()
        .any(|a| a.kind == v1::AlertKind::AlertUnconfigured as i32 && a.subject == "counter:C99"));
    s.stop().await;
}
both_backends!(unknown_things, unknown_counters_and_services_are_accepted);

async fn malformed_input_names_the_field(backend: Backend) {
    let (_db, s) = setup(backend).await;
    let mut q = s.queue().await;
    let base = ev("m", T0, E::Served, "t1", "C1");
    type Mutation = Box<dyn Fn(&mut v1::TicketEvent)>;
    let cases: Vec<(&str, Mutation)> = vec![
        ("source_id", Box::new(|e| e.source_id.clear())),
        ("event_id", Box::new(|e| e.event_id.clear())),
        ("occurred_at", Box::new(|e| e.occurred_at = None)),
        (
            "occurred_at",
            Box::new(|e| e.occurred_at = Some(common::ts(T0 + 30 * MIN + 25 * 3600 * 1000))),
        ),
        (
            "occurred_at",
            Box::new(|e| {
                e.occurred_at = Some(prost_types::Timestamp {
                    seconds: 1,
                    nanos: -5,
                })
            }),
        ),
        ("type", Box::new(|e| e.r#type = 0)),
        ("type", Box::new(|e| e.r#type = 77)),
        ("ticket_id", Box::new(|e| e.ticket_id.clear())),
        ("counter_id", Box::new(|e| e.counter_id.clear())),
        (
            "transfer_to_service",
            Box::new(|e| e.r#type = E::Transferred as i32),
        ),
        ("event_id", Box::new(|e| e.event_id = "x".repeat(500))),
    ];
    for (field, mutate) in cases {
        let mut e = base.clone();
        mutate(&mut e);
        let err = q.publish(e).await.unwrap_err();
        assert_eq!(
            err.code(),
            Code::InvalidArgument,
            "{field}: {}",
            err.message()
        );
        assert!(
            err.message().starts_with(field),
            "{field}: {}",
            err.message()
        );
    }
    // Nothing of that was stored: the good event is still new.
    let a = q.publish(base).await.unwrap().into_inner();
    assert_eq!(status(&a), Ack::Accepted);
    s.stop().await;
}
both_backends!(malformed, malformed_input_names_the_field);

async fn credentials_and_roles(backend: Backend) {
    let (_db, s) = setup(backend).await;
    let ch = s.channel().await;
    let mut anon = v1::queue_events_client::QueueEventsClient::new(ch.clone());
    let err = anon
        .publish(ev("a", T0, E::Issued, "t", ""))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::Unauthenticated);
    let mut wrong = v1::queue_events_client::QueueEventsClient::with_interceptor(
        ch.clone(),
        common::Bearer("nope-nope".into()),
    );
    assert_eq!(
        wrong
            .publish(ev("a", T0, E::Issued, "t", ""))
            .await
            .unwrap_err()
            .code(),
        Code::Unauthenticated
    );
    let mut viewer = v1::queue_events_client::QueueEventsClient::with_interceptor(
        ch.clone(),
        common::Bearer(common::VIEWER_TOKEN.into()),
    );
    let err = viewer
        .publish(ev("a", T0, E::Issued, "t", ""))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::PermissionDenied);
    assert!(err.message().contains("queue"), "{}", err.message());
    let mut queue_on_monitor = s.monitor(common::QUEUE_TOKEN).await;
    assert_eq!(
        queue_on_monitor
            .get_snapshot(v1::SnapshotRequest {
                ..Default::default()
            })
            .await
            .unwrap_err()
            .code(),
        Code::PermissionDenied
    );
    let mut viewer_m = s.monitor(common::VIEWER_TOKEN).await;
    let err = viewer_m
        .keypad_command(v1::KeypadCommandRequest {
            counter_id: "C1".into(),
            action: v1::KeypadAction::KeypadIdentify as i32,
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::PermissionDenied);
    let mut admin_m = s.monitor(common::ADMIN_TOKEN).await;
    let err = admin_m
        .keypad_command(v1::KeypadCommandRequest {
            counter_id: "C1".into(),
            action: v1::KeypadAction::KeypadIdentify as i32,
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(
        err.code(),
        Code::FailedPrecondition,
        "no keypad configured: {}",
        err.message()
    );
    let mut admin_q = v1::queue_events_client::QueueEventsClient::with_interceptor(
        ch.clone(),
        common::Bearer(common::ADMIN_TOKEN.into()),
    );
    assert!(admin_q
        .publish(ev("a", T0, E::Issued, "t", ""))
        .await
        .is_ok());
    // Health checking needs no credentials.
    let mut health = tonic_health::pb::health_client::HealthClient::new(ch);
    let h = health
        .check(tonic_health::pb::HealthCheckRequest {
            service: "faccia.v1.QueueEvents".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        h.status,
        tonic_health::pb::health_check_response::ServingStatus::Serving as i32
    );
    s.stop().await;
}
both_backends!(auth, credentials_and_roles);

async fn stream_acks_in_order(backend: Backend) {
    let (_db, s) = setup(backend).await;
    let mut q = s.queue().await;
    let mut events = Vec::new();
    for i in 0..50 {
        let t = format!("t{i}");
        events.push(ev(&format!("{t}-i"), T0 + i, E::Issued, &t, ""));
        events.push(ev(&format!("{t}-s"), T0 + 1000 + i, E::Served, &t, "C1"));
    }
    events.push(events[0].clone()); // a retry inside the stream
    let ids: Vec<String> = events.iter().map(|e| e.event_id.clone()).collect();
    let mut acks = q
        .stream(futures::stream::iter(events))
        .await
        .unwrap()
        .into_inner();
    let mut got = Vec::new();
    while let Some(a) = acks.message().await.unwrap() {
        got.push(a);
    }
    assert_eq!(
        got.iter().map(|a| a.event_id.clone()).collect::<Vec<_>>(),
        ids
    );
    assert_eq!(status(got.last().unwrap()), Ack::Duplicate);
    assert_eq!(got.iter().filter(|a| a.vote_session.is_some()).count(), 50);
    // A malformed event ends the stream with a status naming the event and the field.
    let bad = vec![
        ev("ok1", T0, E::Issued, "u1", ""),
        ev("bad", T0, E::Served, "u2", ""),
    ];
    let mut acks = q
        .stream(futures::stream::iter(bad))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        acks.message().await.unwrap().map(|a| a.event_id),
        Some("ok1".to_string())
    );
    let err = acks.message().await.unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);
    assert!(
        err.message().contains("bad") && err.message().contains("counter_id"),
        "{}",
        err.message()
    );
    // A conflicting retry ends the stream at that event; the events sent behind it, already
    // read ahead and queued, are not stored (sent again, they are new, not duplicates).
    let mut conflicting = ev("t0-i", T0, E::Issued, "t0", "");
    conflicting.display_number = "Z999".into();
    let mut batch = vec![ev("v0", T0, E::Issued, "v0", ""), conflicting];
    let behind: Vec<_> = (1..200)
        .map(|i| ev(&format!("v{i}"), T0 + i, E::Issued, &format!("v{i}"), ""))
        .collect();
    batch.extend(behind.iter().cloned());
    let mut acks = q
        .stream(futures::stream::iter(batch))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        acks.message().await.unwrap().map(|a| a.event_id),
        Some("v0".to_string())
    );
    let err = acks.message().await.unwrap_err();
    assert_eq!(err.code(), Code::FailedPrecondition, "{}", err.message());
    assert!(err.message().contains("t0-i"), "{}", err.message());
    for e in behind {
        let a = q.publish(e).await.unwrap().into_inner();
        assert_eq!(status(&a), Ack::Accepted, "{}: {}", a.event_id, a.detail);
    }
    s.stop().await;
}
both_backends!(stream, stream_acks_in_order);

async fn reconcile_repairs_counters(backend: Backend) {
    let (_db, s) = setup(backend).await;
    let mut q = s.queue().await;
    q.publish(ev("c", T0, E::Called, "t1", "C1")).await.unwrap();
    let snap = v1::CounterSnapshot {
        source_id: "eliminacode-test".into(),
        at: Some(common::ts(T0 + MIN)),
        counters: vec![
            v1::CounterState {
                counter_id: "C1".into(),
                open: true,
                ticket_id: "t1".into(),
                ticket_state: E::Called as i32,
            },
            v1::CounterState {
                counter_id: "C2".into(),
                open: true,
                ticket_id: "t7".into(),
                ticket_state: E::ServiceStarted as i32,
            },
            v1::CounterState {
                counter_id: "C3".into(),
                open: false,
                ticket_id: String::new(),
                ticket_state: 0,
            },
        ],
        ..Default::default()
    };
    let r = q.reconcile(snap.clone()).await.unwrap().into_inner();
    assert_eq!(r.repaired, 1, "only C2 was out of step");
    let r = q.reconcile(snap).await.unwrap().into_inner();
    assert_eq!(r.repaired, 0);
    let m = s
        .monitor(common::VIEWER_TOKEN)
        .await
        .get_snapshot(v1::SnapshotRequest {
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    let c2 = m.counters.iter().find(|c| c.id == "C2").expect("C2");
    assert_eq!(c2.activity, v1::CounterActivity::ActivityServing as i32);
    let bad = v1::CounterSnapshot {
        source_id: "x".into(),
        at: None,
        counters: vec![],
        ..Default::default()
    };
    let err = q.reconcile(bad).await.unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);
    assert!(err.message().starts_with("at"));
    s.stop().await;
}
both_backends!(reconcile, reconcile_repairs_counters);

async fn concurrent_same_served(backend: Backend) {
    let (_db, s) = setup(backend).await;
    let mut handles = Vec::new();
    for _ in 0..32 {
        let mut q = s.queue().await;
        handles.push(tokio::spawn(async move {
            q.publish(ev("same", T0, E::Served, "t1", "C1"))
                .await
                .map(|r| r.into_inner())
        }));
    }
    let mut acks = Vec::new();
    for h in handles {
        acks.push(h.await.unwrap().unwrap());
    }
    assert_eq!(
        acks.iter().filter(|a| status(a) == Ack::Accepted).count(),
        1
    );
    assert_eq!(
        acks.iter().filter(|a| status(a) == Ack::Duplicate).count(),
        31
    );
    let ids: std::collections::BTreeSet<_> = acks
        .iter()
        .map(|a| a.vote_session.as_ref().unwrap().session_id.clone())
        .collect();
    assert_eq!(ids.len(), 1);
    let snap = s
        .monitor(common::VIEWER_TOKEN)
        .await
        .get_snapshot(v1::SnapshotRequest {
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(snap.today.map(|t| t.sessions_open), Some(1));
    s.stop().await;
}
both_backends!(concurrent_served, concurrent_same_served);

async fn sessions_expire_after_the_window(backend: Backend) {
    let db = TestDb::new(backend);
    let s = TestServer::start_with(&db, TestClock::new(T0 + 30 * MIN), 5).await;
    let mut q = s.queue().await;
    let a = q
        .publish(ev("s", T0, E::Served, "t1", "C1"))
        .await
        .unwrap()
        .into_inner();
    assert!(a.vote_session.is_some());
    let mut m = s.monitor(common::VIEWER_TOKEN).await;
    tokio::time::sleep(std::time::Duration::from_millis(700)).await;
    assert_eq!(
        m.get_snapshot(v1::SnapshotRequest {
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .today
        .map(|t| t.sessions_open),
        Some(1)
    );
    s.clock.advance(5_000);
    let mut open = 1;
    for _ in 0..40 {
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        open = m
            .get_snapshot(v1::SnapshotRequest {
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner()
            .today
            .map(|t| t.sessions_open)
            .unwrap_or(9);
        if open == 0 {
            break;
        }
    }
    assert_eq!(open, 0, "the session expired on the server's clock");
    s.stop().await;
}
both_backends!(expiry, sessions_expire_after_the_window);

async fn watch_resumes_exactly_once(backend: Backend) {
    let (_db, s) = setup(backend).await;
    let mut q = s.queue().await;
    for i in 0..30 {
        q.publish(ev(
            &format!("e{i}"),
            T0 + i,
            E::Issued,
            &format!("t{i}"),
            "",
        ))
        .await
        .unwrap();
    }
    let mut m = s.monitor(common::VIEWER_TOKEN).await;
    let last = m
        .get_snapshot(v1::SnapshotRequest {
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .last_seq;
    assert!(last >= 30);
    // From every starting point, the stream gives every later entry once, in order, then live.
    for after in [0, 1, 7, last - 1, last] {
        let mut w = m
            .watch_events(v1::WatchRequest {
                after_seq: after,
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner();
        let mut seqs = Vec::new();
        while seqs.len() < (last - after) as usize {
            let e = w.message().await.unwrap().expect("entry");
            seqs.push(e.seq);
        }
        assert_eq!(seqs, ((after + 1)..=last).collect::<Vec<_>>());
        // Live: a new event arrives on the same stream.
        let i = 100 + after as i64;
        q.publish(ev(
            &format!("live{i}"),
            T0 + i,
            E::Issued,
            &format!("l{i}"),
            "",
        ))
        .await
        .unwrap();
        // The stream goes on live: the entries added since (earlier rounds' live events, then
        // this one) follow, still contiguous.
        loop {
            let e = tokio::time::timeout(std::time::Duration::from_secs(5), w.message())
                .await
                .expect("live entry in time")
                .unwrap()
                .expect("entry");
            assert_eq!(e.seq, after + 1 + seqs.len() as u64, "no gap, no duplicate");
            seqs.push(e.seq);
            if e.ticket_id == format!("l{i}") {
                break;
            }
        }
    }
    s.stop().await;
}
both_backends!(watch, watch_resumes_exactly_once);

async fn reflection_lists_services(backend: Backend) {
    use tonic_reflection::pb::v1::{
        server_reflection_client::ServerReflectionClient,
        server_reflection_request::MessageRequest, server_reflection_response::MessageResponse,
        ServerReflectionRequest,
    };
    let (_db, s) = setup(backend).await;
    let mut r = ServerReflectionClient::new(s.channel().await);
    let req = ServerReflectionRequest {
        host: String::new(),
        message_request: Some(MessageRequest::ListServices(String::new())),
    };
    let mut resp = r
        .server_reflection_info(futures::stream::iter(vec![req]))
        .await
        .unwrap()
        .into_inner();
    let msg = resp.message().await.unwrap().expect("reply");
    let Some(MessageResponse::ListServicesResponse(list)) = msg.message_response else {
        panic!("unexpected reply")
    };
    let names: Vec<String> = list.service.into_iter().map(|s| s.name).collect();
    assert!(
        names.contains(&"faccia.v1.QueueEvents".to_string()),
        "{names:?}"
    );
    assert!(
        names.contains(&"faccia.v1.Monitor".to_string()),
        "{names:?}"
    );
    for both in [
        "grpc.reflection.v1.ServerReflection",
        "grpc.reflection.v1alpha.ServerReflection",
    ] {
        assert!(names.contains(&both.to_string()), "{names:?}");
    }
    s.stop().await;
}
both_backends!(reflection, reflection_lists_services);

/// The snapshot shows each counter's ticket, its service and what the counter is doing, as the
/// queue system last said; and each counter's served tickets and votes are its own.
async fn snapshot_shows_the_ticket_at_each_counter(backend: Backend) {
    let (_db, s) = setup(backend).await;
    let q = s.queue().await;
    let send = |e: v1::TicketEvent| {
        let mut q = q.clone();
        async move {
            let a = q.publish(e).await.expect("publish").into_inner();
            assert_eq!(status(&a), Ack::Accepted, "{}", a.detail);
        }
    };
    let mut called = ev("c1", T0 + MIN, E::Called, "t1", "C1");
    called.display_number = "A042".into();
    send(ev("i1", T0, E::Issued, "t1", "")).await;
    send(called).await;
    let mut issued = ev("i2", T0, E::Issued, "t2", "");
    issued.service_code = "B".into();
    send(issued).await;
    for (id, at, kind) in [("c2", 2, E::Called), ("s2", 6, E::Served)] {
        let mut e = ev(id, T0 + at * MIN, kind, "t2", "C2");
        e.service_code = "B".into();
        e.display_number = "B007".into();
        send(e).await;
    }
    let snap = s
        .monitor(common::VIEWER_TOKEN)
        .await
        .get_snapshot(v1::SnapshotRequest::default())
        .await
        .expect("snapshot")
        .into_inner();
    let counter = |id: &str| {
        snap.counters
            .iter()
            .find(|c| c.id == id)
            .unwrap_or_else(|| panic!("no counter {id}"))
    };
    let c1 = counter("C1");
    assert_eq!(
        (c1.ticket_display.as_str(), c1.service_code.as_str()),
        ("A042", "A")
    );
    assert_eq!(c1.activity, v1::CounterActivity::ActivityCalling as i32);
    assert_eq!(c1.served_today, 0);
    let c2 = counter("C2");
    assert_eq!(
        (c2.ticket_display.as_str(), c2.service_code.as_str()),
        ("B007", "B")
    );
    assert_eq!(c2.served_today, 1);
    let by_service = |code: &str| {
        snap.services
            .iter()
            .find(|x| x.code == code)
            .unwrap_or_else(|| panic!("no service {code}"))
            .clone()
    };
    assert_eq!(by_service("A").waiting_now, 0);
    assert_eq!(by_service("B").served_today, 1);
}
both_backends!(snapshot_tickets, snapshot_shows_the_ticket_at_each_counter);
