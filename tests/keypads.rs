//! Keypads wired to vote sessions, end to end: the real server over loopback, a bus of simulated
//! FK-3 keypads on a pseudo-terminal, the real serial driver between them.

mod common;

use std::time::Duration;

use common::{ev, status, Backend, TestClock, TestDb, TestServer, T0};
use faccia_proto::v1::{
    self, event_ack::Status as Ack, vote_session::KeypadState as Kp, EventType as E,
};
use faccia_serial::sim::{Fault, Key, SimConfig, Simulator};
use faccia_serial::{Face, KeypadState};

const MIN: i64 = 60_000;

async fn snapshot(s: &TestServer) -> v1::Snapshot {
    s.monitor(common::VIEWER_TOKEN)
        .await
        .get_snapshot(v1::SnapshotRequest {
            ..Default::default()
        })
        .await
        .expect("snapshot")
        .into_inner()
}

/// Waits until `check` holds, up to `secs`.
async fn eventually<F, Fut>(secs: u64, what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + Duration::from_secs(secs);
    while tokio::time::Instant::now() < deadline {
        if check().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("timed out waiting for: {what}");
}

fn votes_at(snap: &v1::Snapshot, counter: &str) -> (u32, u32, u32, Vec<u32>) {
    let c = snap
        .counters
        .iter()
        .find(|c| c.id == counter)
        .expect("counter");
    let f = c.votes_today.clone().unwrap_or_default();
    (f.green, f.yellow, f.red, f.reasons)
}

/// A server with counters C1..C4 on a bus of four simulated keypads, all online.
async fn office() -> (TestDb, Simulator, TestServer) {
    let db = TestDb::new(Backend::Sqlite);
    let link = db.path().join("kp0");
    let sim = Simulator::start(SimConfig::new(vec![1, 2, 3, 4], &link))
        .await
        .expect("simulator");
    let text = common::config_text_keypads(&db.url, "127.0.0.1:0", 60, &link);
    let s = TestServer::start_text(&db, TestClock::new(T0 + 30 * MIN), &text).await;
    eventually(10, "all four keypads online", || async {
        let snap = snapshot(&s).await;
        snap.keypads.len() == 4
            && snap
                .keypads
                .iter()
                .all(|k| k.link == v1::KeypadLink::KeypadOnline as i32)
    })
    .await;
    (db, sim, s)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn served_ticket_lights_its_keypad_and_stores_one_vote() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into()),
        )
        .with_test_writer()
        .try_init();
    let (_db, sim, s) = office().await;
    let keys = sim.handle();
    let mut q = s.queue().await;

    // C1: SERVED arms the keypad with the session's token; green is stored once.
    let a = q
        .publish(ev("a1", T0, E::Served, "a", "C1"))
        .await
        .unwrap()
        .into_inner();
    let vs = a.vote_session.expect("session");
    assert_eq!(vs.keypad, Kp::Armed as i32, "keypad armed before the ack");
    eventually(3, "keypad 1 armed", || async {
        keys.status()
            .iter()
            .any(|u| u.unit == 1 && u.state == KeypadState::Armed)
    })
    .await;
    assert!(keys.press(1, Key::Face(Face::Green)).expect("press"));
    assert!(
        !keys.press(1, Key::Face(Face::Red)).expect("press"),
        "a second press does not count"
    );
    eventually(5, "green stored at C1", || async {
        votes_at(&snapshot(&s).await, "C1").0 == 1
    })
    .await;
    eventually(5, "vote acknowledged on the keypad", || async {
        keys.votes()
            .iter()
            .any(|v| v.unit == 1 && v.event == "acked")
    })
    .await;
    assert_eq!(votes_at(&snapshot(&s).await, "C1"), (1, 0, 0, vec![0; 5]));

    // C2: red with a reason.
    let a = q
        .publish(ev("b1", T0 + MIN, E::Served, "b", "C2"))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(a.vote_session.map(|v| v.keypad), Some(Kp::Armed as i32));
    eventually(3, "keypad 2 armed", || async {
        keys.status()
            .iter()
            .any(|u| u.unit == 2 && u.state == KeypadState::Armed)
    })
    .await;
    keys.press(2, Key::Face(Face::Red)).expect("red");
    keys.press(2, Key::Reason(2)).expect("reason");
    eventually(5, "red with reason 2 stored", || async {
        votes_at(&snapshot(&s).await, "C2") == (0, 0, 1, vec![0, 0, 1, 0, 0])
    })
    .await;

    // C3: the next CALLED supersedes the session and the keypad goes dark; a late press is ignored.
    q.publish(ev("c1", T0 + 2 * MIN, E::Served, "c", "C3"))
        .await
        .unwrap();
    eventually(3, "keypad 3 armed", || async {
        keys.status()
            .iter()
            .any(|u| u.unit == 3 && u.state == KeypadState::Armed)
    })
    .await;
    q.publish(ev("d1", T0 + 3 * MIN, E::Called, "d", "C3"))
        .await
        .unwrap();
    eventually(3, "keypad 3 disarmed", || async {
        keys.status()
            .iter()
            .any(|u| u.unit == 3 && u.state == KeypadState::Idle)
    })
    .await;
    assert!(!keys.press(3, Key::Face(Face::Green)).expect("press"));

    // C4: a reboot during the session ends it with that cause.
    q.publish(ev("e1", T0 + 4 * MIN, E::Served, "e", "C4"))
        .await
        .unwrap();
    eventually(3, "keypad 4 armed", || async {
        keys.status()
            .iter()
            .any(|u| u.unit == 4 && u.state == KeypadState::Armed)
    })
    .await;
    keys.reboot(4).expect("reboot");
    eventually(5, "session at C4 ended by the reboot", || async {
        !snapshot(&s)
            .await
            .counters
            .iter()
            .any(|c| c.id == "C4" && c.session_open)
    })
    .await;

    // C1 again, with its keypad not answering: PENDING, then armed when it answers again.
    keys.set_fault(1, Fault::Silent).expect("fault");
    eventually(5, "keypad 1 offline", || async {
        snapshot(&s)
            .await
            .keypads
            .iter()
            .any(|k| k.counter_id == "C1" && k.link == v1::KeypadLink::KeypadOffline as i32)
    })
    .await;
    let a = q
        .publish(ev("f1", T0 + 5 * MIN, E::Served, "f", "C1"))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(status(&a), Ack::Accepted);
    assert_eq!(a.vote_session.map(|v| v.keypad), Some(Kp::Pending as i32));
    keys.set_fault(1, Fault::Ok).expect("fault");
    eventually(8, "keypad 1 armed again by itself", || async {
        keys.status()
            .iter()
            .any(|u| u.unit == 1 && u.state == KeypadState::Armed)
    })
    .await;
    keys.press(1, Key::Face(Face::Yellow)).expect("yellow");
    eventually(5, "yellow stored at C1", || async {
        votes_at(&snapshot(&s).await, "C1").1 == 1
    })
    .await;

    // Every vote stored was latched and acknowledged on a keypad, and nothing else.
    let snap = snapshot(&s).await;
    let total = snap.today.and_then(|t| t.votes).expect("votes");
    assert_eq!((total.green, total.yellow, total.red), (1, 1, 1));
    let acked = keys.votes().iter().filter(|v| v.event == "acked").count();
    assert_eq!(acked, 3);
    s.stop().await;
    sim.shutdown().await;
}

/// Presses that do not count (a dark keypad pressed again and again) raise the burst alert for
/// that counter's keypad, and only for it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_of_ignored_presses_raises_an_alert() {
    let (_db, sim, s) = office().await;
    let keys = sim.handle();
    let burst = |snap: &v1::Snapshot| {
        snap.alerts
            .iter()
            .filter(|a| a.kind == v1::AlertKind::AlertIgnoredPresses as i32)
            .map(|a| (a.subject.clone(), a.value))
            .collect::<Vec<_>>()
    };
    // a few ignored presses are not a burst
    for _ in 0..3 {
        keys.press(2, Key::Face(Face::Green)).expect("press");
    }
    tokio::time::sleep(Duration::from_secs(7)).await;
    let snap = snapshot(&s).await;
    assert!(burst(&snap).is_empty(), "{:?}", snap.alerts);
    assert!(snap
        .keypads
        .iter()
        .any(|k| k.counter_id == "C2" && k.ignored_presses_recent == 3));
    for _ in 0..9 {
        keys.press(2, Key::Face(Face::Red)).expect("press");
    }
    eventually(12, "the ignored-presses alert for C2", || async {
        burst(&snapshot(&s).await) == vec![("C2".to_string(), 12.0)]
    })
    .await;
    s.stop().await;
    sim.shutdown().await;
}
