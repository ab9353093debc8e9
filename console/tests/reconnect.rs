//! The client against a real tonic Monitor server on loopback (the fake of `faccia_console::fake`):
//! stopped and restarted on the same port, the console reconnects by itself and resumes after
//! the last seq it saw, with no gap and no duplicate. Also auth errors and keypad commands.

mod common;

use std::net::SocketAddr;
use std::time::Duration;

use faccia_console::client::{self, Backoff, Signals};
use faccia_console::config::Settings;
use faccia_console::fake::{FakeMonitor, RunningServer};
use faccia_console::model::{ApiErrorKind, App, ConnState, Msg};
use faccia_console::runtime::Tasks;
use faccia_proto::v1::{KeypadAction, KeypadCommandResult, LogEvent, LogKind, Period};
use tokio::sync::mpsc;
use tokio::time::timeout;

fn event(i: u64) -> LogEvent {
    LogEvent {
        kind: LogKind::LogTicketEvent as i32,
        counter_id: (i % 5 + 1).to_string(),
        display_number: format!("A{:03}", i % 1000),
        ..Default::default()
    }
}

fn fast() -> Backoff {
    Backoff {
        initial: Duration::from_millis(50),
        max: Duration::from_millis(400),
    }
}

/// Feeds messages to the app until `done` holds; returns the messages seen.
async fn pump(
    app: &mut App,
    rx: &mut mpsc::Receiver<Msg>,
    mut done: impl FnMut(&App) -> bool,
) -> Vec<Msg> {
    let mut seen = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while !done(app) {
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        match timeout(left, rx.recv()).await {
            Ok(Some(m)) => {
                seen.push(m.clone());
                app.apply(m);
            }
            Ok(None) => panic!("channel closed"),
            Err(_) => panic!(
                "timed out; conn {:?}, last seq {}",
                app.site().conn,
                app.site().events.last_seq()
            ),
        }
    }
    seen
}

/// The message itself, out of its office's envelope.
fn inner(m: &Msg) -> &Msg {
    match m {
        Msg::Of { msg, .. } => inner(msg),
        m => m,
    }
}

fn seqs(msgs: &[Msg]) -> Vec<u64> {
    msgs.iter()
        .map(inner)
        .flat_map(|m| match m {
            Msg::Events(list) => list.iter().map(|e| e.seq).collect(),
            _ => Vec::new(),
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reconnects_and_resumes_without_gap_or_duplicate() {
    let fake = FakeMonitor::new(common::snapshot());
    // Ten entries before the console starts: the snapshot covers them.
    for i in 0..10 {
        fake.append(event(i));
    }
    let mut snap = common::snapshot();
    snap.last_seq = 10;
    fake.set_snapshot(snap);
    let server = RunningServer::start(
        fake.clone(),
        "127.0.0.1:0".parse::<SocketAddr>().expect("addr"),
    )
    .await
    .expect("bind");
    let addr = server.addr;
    let api = client::connect_all(&server.url(), Some("demo-viewer-token")).expect("client");
    let mut tasks = Tasks::start(vec![api], Duration::from_secs(60), fast());
    let mut app = App::new(&Settings::default(), common::now());
    let mut all = Vec::new();

    all.extend(
        pump(&mut app, &mut tasks.rx, |a| {
            a.site().conn == ConnState::Connected && a.site().snapshot.is_some()
        })
        .await,
    );
    for i in 10..60 {
        fake.append(event(i));
    }
    all.extend(
        pump(&mut app, &mut tasks.rx, |a| {
            a.site().events.last_seq() == 60
        })
        .await,
    );

    // The server goes away; events keep happening meanwhile (the log outlives the process).
    server.stop().await;
    all.extend(
        pump(&mut app, &mut tasks.rx, |a| {
            matches!(a.site().conn, ConnState::Lost { .. })
        })
        .await,
    );
    if let ConnState::Lost { error, .. } = &app.site().conn {
        assert_eq!(error.kind, ApiErrorKind::Unavailable);
    }
    for i in 60..90 {
        fake.append(event(i));
    }
    // Let it fail a few reconnection attempts.
    tokio::time::sleep(Duration::from_millis(600)).await;
    let server = RunningServer::start(fake.clone(), addr)
        .await
        .expect("rebind same port");
    all.extend(
        pump(&mut app, &mut tasks.rx, |a| {
            a.site().events.last_seq() == 90
        })
        .await,
    );
    assert_eq!(app.site().conn, ConnState::Resumed { from_seq: 60 });
    for i in 90..100 {
        fake.append(event(i));
    }
    all.extend(
        pump(&mut app, &mut tasks.rx, |a| {
            a.site().events.last_seq() == 100
        })
        .await,
    );

    // Every entry after the snapshot exactly once, in order.
    assert_eq!(seqs(&all), (11..=100).collect::<Vec<u64>>());
    assert!(all.iter().map(inner).any(|m| matches!(
        m,
        Msg::StreamUp {
            resumed_from: Some(60)
        }
    )));
    let downs = all
        .iter()
        .map(inner)
        .filter(|m| matches!(m, Msg::StreamDown { .. }))
        .count();
    assert!(downs >= 2, "failed attempts are reported ({downs})");
    assert_eq!(app.site().events.len(), 90);
    // The screen says so.
    let screen = common::draw(&app, 160, 48);
    assert!(screen.contains("Riconnesso, ripreso da #60"), "{screen}");
    // Snapshots are re-fetched on events (and after the reconnection), but debounced, not
    // once per event. Under load the refresher may not have run yet: wait for it.
    let probe = fake.clone();
    all.extend(
        pump(&mut app, &mut tasks.rx, move |_| {
            probe.snapshot_calls() >= 2
        })
        .await,
    );
    assert_eq!(seqs(&all), (11..=100).collect::<Vec<u64>>());
    let calls = fake.snapshot_calls();
    assert!((2..=30).contains(&calls), "snapshot calls: {calls}");
    drop(tasks);
    server.stop().await;
}

#[tokio::test]
async fn wrong_token_is_unauthenticated_and_viewer_cannot_command() {
    let fake = FakeMonitor::new(common::snapshot());
    fake.set_satisfaction(common::satisfaction(Period::Week));
    let server = RunningServer::start(
        fake.clone(),
        "127.0.0.1:0".parse::<SocketAddr>().expect("addr"),
    )
    .await
    .expect("bind");

    let bad = client::connect_all(&server.url(), Some("nope")).expect("client");
    let (tx, mut rx) = mpsc::channel(16);
    let watcher = tokio::spawn(client::watch_events(
        client::SiteLink::only(&bad, tx),
        Signals::default(),
        None,
        fast(),
        false,
    ));
    match timeout(Duration::from_secs(10), rx.recv()).await {
        Ok(Some(Msg::StreamDown { error, .. })) => {
            assert_eq!(error.kind, ApiErrorKind::Unauthenticated)
        }
        other => panic!("expected UNAUTHENTICATED, got {other:?}"),
    }
    watcher.abort();

    let viewer = client::connect(&server.url(), Some("demo-viewer-token")).expect("client");
    match client::keypad_command(viewer.clone(), "", "3".into(), KeypadAction::KeypadIdentify).await
    {
        Msg::CommandDone(Err(e)) => assert_eq!(e.kind, ApiErrorKind::PermissionDenied),
        other => panic!("expected PERMISSION_DENIED, got {other:?}"),
    }
    match client::fetch_satisfaction(viewer, "", Period::Week).await {
        Msg::Satisfaction(s) => assert_eq!(s.served, common::satisfaction(Period::Week).served),
        other => panic!("expected satisfaction, got {other:?}"),
    }

    let admin = client::connect(&server.url(), Some("demo-admin-token")).expect("client");
    match client::keypad_command(admin, "", "3".into(), KeypadAction::KeypadSelfTest).await {
        Msg::CommandDone(Ok(done)) => assert_eq!(done, KeypadCommandResult::KeypadSelfTestStarted),
        other => panic!("expected success, got {other:?}"),
    }
    let sent = fake.keypad_commands();
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].action, KeypadAction::KeypadSelfTest as i32);
    server.stop().await;
}

#[tokio::test]
async fn server_down_from_the_start_is_unavailable_then_connects() {
    // Find a free port, then leave it closed for a while.
    let probe = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = probe.local_addr().expect("addr");
    drop(probe);
    let api =
        client::connect_all(&format!("http://{addr}"), Some("demo-viewer-token")).expect("client");
    let mut tasks = Tasks::start(vec![api], Duration::from_secs(60), fast());
    let mut app = App::new(&Settings::default(), common::now());
    pump(&mut app, &mut tasks.rx, |a| {
        matches!(a.site().conn, ConnState::Lost { .. })
    })
    .await;
    if let ConnState::Lost { error, .. } = &app.site().conn {
        assert_eq!(error.kind, ApiErrorKind::Unavailable);
    }
    let fake = FakeMonitor::new(common::snapshot());
    let server = RunningServer::start(fake, addr).await.expect("bind");
    pump(&mut app, &mut tasks.rx, |a| {
        a.site().snapshot.is_some() && matches!(a.site().conn, ConnState::Resumed { .. })
    })
    .await;
    drop(tasks);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn snapshot_refetch_is_debounced_and_satisfaction_followed() {
    let mut snap = common::snapshot();
    snap.last_seq = 0;
    let fake = FakeMonitor::new(snap);
    fake.set_satisfaction(common::satisfaction(Period::Month));
    let server = RunningServer::start(
        fake.clone(),
        "127.0.0.1:0".parse::<SocketAddr>().expect("addr"),
    )
    .await
    .expect("bind");
    let api = client::connect_all(&server.url(), Some("demo-viewer-token")).expect("client");
    let mut tasks = Tasks::start(vec![api], Duration::from_secs(60), fast());
    let mut app = App::new(&Settings::default(), common::now());
    pump(&mut app, &mut tasks.rx, |a| {
        a.site().conn == ConnState::Connected
    })
    .await;
    let before = fake.snapshot_calls();
    // 600 events over about 1.2 s, in bursts of 50 every 100 ms.
    let start = tokio::time::Instant::now();
    for _ in 0..12 {
        for i in 0..50 {
            fake.append(event(i));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let target = fake.last_seq();
    pump(&mut app, &mut tasks.rx, |a| {
        a.site().events.last_seq() == target
    })
    .await;
    // Let the last debounced fetch happen.
    tokio::time::sleep(Duration::from_millis(700)).await;
    let elapsed = start.elapsed().as_secs_f64();
    let calls = fake.snapshot_calls() - before;
    let bound = (elapsed / 0.5).ceil() as u64 + 2;
    assert!(calls >= 1, "events trigger a re-fetch");
    assert!(
        calls <= bound,
        "{calls} fetches in {elapsed:.1} s (at most {bound})"
    );

    // While the satisfaction view is open, its period is re-fetched with the snapshot.
    app.view = faccia_console::model::View::Satisfaction;
    app.period = Period::Month;
    tasks.follow(&app);
    tasks.poke();
    pump(&mut app, &mut tasks.rx, |a| {
        a.site().satisfaction[2].is_some()
    })
    .await;
    assert_eq!(app.current_satisfaction().map(|s| s.served), Some(120 * 21));
    drop(tasks);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_stream_is_reopened_when_calls_find_the_connection_gone() {
    let mut snap = common::snapshot();
    snap.last_seq = 0;
    let fake = FakeMonitor::new(snap);
    let server = RunningServer::start(
        fake.clone(),
        "127.0.0.1:0".parse::<SocketAddr>().expect("addr"),
    )
    .await
    .expect("bind");
    let api = client::connect_all(&server.url(), Some("demo-viewer-token")).expect("client");
    let mut tasks = Tasks::start(vec![api], Duration::from_secs(60), fast());
    let mut app = App::new(&Settings::default(), common::now());
    let mut all = Vec::new();
    all.extend(
        pump(&mut app, &mut tasks.rx, |a| {
            a.site().conn == ConnState::Connected
        })
        .await,
    );
    for i in 0..5 {
        fake.append(event(i));
    }
    all.extend(pump(&mut app, &mut tasks.rx, |a| a.site().events.last_seq() == 5).await);
    // The stream stays open but goes silent; the next snapshot call is cancelled.
    fake.stall_watchers();
    fake.fail_snapshots(1);
    for i in 5..10 {
        fake.append(event(i));
    }
    tasks.poke();
    all.extend(
        pump(&mut app, &mut tasks.rx, |a| {
            a.site().events.last_seq() == 10
        })
        .await,
    );
    assert_eq!(seqs(&all), (1..=10).collect::<Vec<u64>>());
    assert!(all.iter().map(inner).any(|m| matches!(
        m,
        Msg::StreamUp {
            resumed_from: Some(5)
        }
    )));
    drop(tasks);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silent_stream_behind_the_snapshot_is_reopened() {
    let mut snap = common::snapshot();
    snap.last_seq = 0;
    let fake = FakeMonitor::new(snap);
    let server = RunningServer::start(
        fake.clone(),
        "127.0.0.1:0".parse::<SocketAddr>().expect("addr"),
    )
    .await
    .expect("bind");
    let api = client::connect_all(&server.url(), Some("demo-viewer-token")).expect("client");
    let mut tasks = Tasks::start(vec![api], Duration::from_secs(60), fast());
    let mut app = App::new(&Settings::default(), common::now());
    let mut all = Vec::new();
    all.extend(
        pump(&mut app, &mut tasks.rx, |a| {
            a.site().conn == ConnState::Connected
        })
        .await,
    );
    fake.append(event(0));
    all.extend(pump(&mut app, &mut tasks.rx, |a| a.site().events.last_seq() == 1).await);
    // Silent stream, calls fine: only the snapshot's seq shows the log went on.
    fake.stall_watchers();
    for i in 1..4 {
        fake.append(event(i));
    }
    tasks.poke();
    tokio::time::sleep(client::STALL_GRACE + Duration::from_millis(300)).await;
    assert_eq!(
        app.site().events.last_seq(),
        1,
        "nothing came on the silent stream"
    );
    // Refresh the snapshot now and then, as the console's periodic refresh would: the stall is
    // judged between snapshots, whatever the machine's load.
    let poke = tasks.poker();
    let poker = tokio::spawn(async move {
        loop {
            poke.poke();
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    });
    all.extend(pump(&mut app, &mut tasks.rx, |a| a.site().events.last_seq() == 4).await);
    poker.abort();
    assert_eq!(seqs(&all), (1..=4).collect::<Vec<u64>>());
    drop(tasks);
    server.stop().await;
}
