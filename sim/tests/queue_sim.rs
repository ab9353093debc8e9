//! End to end over loopback: a fake `QueueEvents` server (tonic, real HTTP/2) that stores
//! events, acks them and arms an in-process FK-3 simulator on a pty for every SERVED, like the
//! real server; the queue simulator drives it and its citizens press keys.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use faccia_proto::v1::event_ack::Status as AckStatus;
use faccia_proto::v1::queue_events_server::{QueueEvents, QueueEventsServer};
use faccia_proto::v1::vote_session::KeypadState as SessionKeypad;
use faccia_proto::v1::{
    CounterSnapshot, EventAck, EventType, ReconcileReply, TicketEvent, VoteSession,
};
use faccia_serial::regs::{holding, input};
use faccia_serial::sim::{SimConfig, SimHandle, Simulator};
use faccia_serial::KeypadState;
use faccia_sim::{Keypads, QueueSim, RetryPolicy, SimError, SimPlan};
use tokio_stream::wrappers::{ReceiverStream, TcpListenerStream};
use tokio_stream::Stream;
use tonic::{Request, Response, Status};

const TOKEN: &str = "test-queue-token";

#[derive(Default)]
struct State {
    /// Every call received, in order (retries included).
    received: Vec<TicketEvent>,
    /// Stored events and their acks, by event id.
    stored: HashMap<String, (TicketEvent, EventAck)>,
    /// Order events were first stored.
    order: Vec<String>,
    /// Event ids answered UNAVAILABLE.
    failed: Vec<String>,
    /// Arm token -> (ticket, counter, when the SERVED was stored).
    tokens: HashMap<u32, (String, String, DateTime<Utc>)>,
    /// Sessions still to arm (keypad busy): unit -> token.
    pending: BTreeMap<u8, u32>,
    reconciles: Vec<CounterSnapshot>,
    calls: u64,
}

#[derive(Clone)]
struct Fake {
    st: Arc<Mutex<State>>,
    keypad: Option<SimHandle>,
    units: HashMap<String, u8>,
    /// Answer UNAVAILABLE without storing on every n-th call.
    fail_before_every: Option<u64>,
    /// Store, then answer UNAVAILABLE (the ack is lost) on every n-th call.
    fail_after_every: Option<u64>,
    /// Arm keypads over Modbus through a real bus instead (answers PENDING).
    bus: Option<faccia_serial::BusHandle>,
}

/// Arms `unit` with `token`: Ok(true) armed, Ok(false) busy (a citizen is still choosing a
/// reason). A latched vote is acknowledged first, as the server's bus does on its next poll.
fn arm(h: &SimHandle, unit: u8, token: u32) -> bool {
    h.with_keypad(unit, |k, now| {
        if k.state(now) == KeypadState::Latched {
            let seq = k.input_reg(input::VOTE_SEQ, now).unwrap_or(0);
            let _ = k.write(holding::ACK_SEQ, &[seq, 3], now);
        }
        k.write(
            holding::ARM_TOKEN_HI,
            &[(token >> 16) as u16, (token & 0xFFFF) as u16, 60, 1],
            now,
        )
        .expect("arm registers");
        k.write(holding::COMMAND, &[1], now).is_ok()
    })
    .unwrap_or(false)
}

impl Fake {
    fn new() -> Self {
        Fake {
            st: Arc::new(Mutex::new(State::default())),
            keypad: None,
            units: (1..=8u8).map(|u| (format!("S{u:02}"), u)).collect(),
            fail_before_every: None,
            fail_after_every: None,
            bus: None,
        }
    }

    fn check_auth<T>(req: &Request<T>) -> Result<(), Status> {
        match req
            .metadata()
            .get("authorization")
            .and_then(|v| v.to_str().ok())
        {
            Some(v) if v == format!("Bearer {TOKEN}") => Ok(()),
            _ => Err(Status::unauthenticated("bad token")),
        }
    }

    fn handle(&self, ev: TicketEvent) -> Result<EventAck, Status> {
        let mut st = self.st.lock().expect("state");
        st.calls += 1;
        let call = st.calls;
        st.received.push(ev.clone());
        if self
            .fail_before_every
            .is_some_and(|n| call.is_multiple_of(n))
        {
            st.failed.push(ev.event_id.clone());
            return Err(Status::unavailable("storage busy"));
        }
        if ev.source_id.is_empty() || ev.event_id.is_empty() || ev.occurred_at.is_none() {
            return Err(Status::invalid_argument("missing field"));
        }
        if let Some((orig, ack)) = st.stored.get(&ev.event_id) {
            if *orig != ev {
                return Err(Status::failed_precondition("same event id, other content"));
            }
            let mut ack = ack.clone();
            ack.status = AckStatus::Duplicate as i32;
            return Ok(ack);
        }
        let mut ack = EventAck {
            status: AckStatus::Accepted as i32,
            event_id: ev.event_id.clone(),
            vote_session: None,
            detail: String::new(),
        };
        if ev.r#type == EventType::Served as i32 {
            let token = 1000 + st.tokens.len() as u32;
            st.tokens.insert(
                token,
                (ev.ticket_id.clone(), ev.counter_id.clone(), Utc::now()),
            );
            let keypad = match (&self.keypad, self.units.get(&ev.counter_id)) {
                (_, Some(unit)) if self.bus.is_some() => {
                    st.pending.insert(*unit, token);
                    SessionKeypad::Pending
                }
                (Some(h), Some(unit)) => {
                    if arm(h, *unit, token) {
                        st.pending.remove(unit);
                        SessionKeypad::Armed
                    } else {
                        st.pending.insert(*unit, token);
                        SessionKeypad::Pending
                    }
                }
                _ => SessionKeypad::NoKeypad,
            };
            let exp = Utc::now() + chrono::Duration::seconds(60);
            ack.vote_session = Some(VoteSession {
                session_id: format!("sess-{}", ev.ticket_id),
                counter_id: ev.counter_id.clone(),
                expires_at: Some(prost_types::Timestamp {
                    seconds: exp.timestamp(),
                    nanos: 0,
                }),
                keypad: keypad as i32,
                ..Default::default()
            });
        }
        st.stored
            .insert(ev.event_id.clone(), (ev.clone(), ack.clone()));
        st.order.push(ev.event_id.clone());
        if self
            .fail_after_every
            .is_some_and(|n| call.is_multiple_of(n))
        {
            st.failed.push(ev.event_id.clone());
            return Err(Status::unavailable("stored, but the answer was lost"));
        }
        Ok(ack)
    }

    /// What the server's bus does in the background: take latched votes, arm pending
    /// sessions when it can.
    fn poll(&self) {
        if self.bus.is_some() {
            return;
        }
        let Some(h) = &self.keypad else { return };
        let mut st = self.st.lock().expect("state");
        for unit in 1..=8u8 {
            let _ = h.with_keypad(unit, |k, now| {
                if k.state(now) == KeypadState::Latched {
                    let seq = k.input_reg(input::VOTE_SEQ, now).unwrap_or(0);
                    let _ = k.write(holding::ACK_SEQ, &[seq, 3], now);
                }
            });
        }
        let pending: Vec<(u8, u32)> = st.pending.iter().map(|(u, t)| (*u, *t)).collect();
        for (unit, token) in pending {
            if arm(h, unit, token) {
                st.pending.remove(&unit);
            }
        }
    }
}

#[tonic::async_trait]
impl QueueEvents for Fake {
    async fn publish(&self, req: Request<TicketEvent>) -> Result<Response<EventAck>, Status> {
        Self::check_auth(&req)?;
        self.handle(req.into_inner()).map(Response::new)
    }

    type StreamStream = Pin<Box<dyn Stream<Item = Result<EventAck, Status>> + Send>>;

    async fn stream(
        &self,
        req: Request<tonic::Streaming<TicketEvent>>,
    ) -> Result<Response<Self::StreamStream>, Status> {
        Self::check_auth(&req)?;
        let mut inbound = req.into_inner();
        let this = self.clone();
        let (tx, rx) = tokio::sync::mpsc::channel(16);
        tokio::spawn(async move {
            while let Ok(Some(ev)) = inbound.message().await {
                let r = this.handle(ev);
                let failed = r.is_err();
                if tx.send(r).await.is_err() || failed {
                    break;
                }
            }
        });
        Ok(Response::new(Box::pin(ReceiverStream::new(rx))))
    }

    async fn reconcile(
        &self,
        req: Request<CounterSnapshot>,
    ) -> Result<Response<ReconcileReply>, Status> {
        Self::check_auth(&req)?;
        self.st
            .lock()
            .expect("state")
            .reconciles
            .push(req.into_inner());
        Ok(Response::new(ReconcileReply { repaired: 0 }))
    }

    async fn issue_vote_link(
        &self,
        _req: Request<faccia_proto::v1::VoteLinkRequest>,
    ) -> Result<Response<faccia_proto::v1::VoteLinkReply>, Status> {
        Err(Status::unimplemented("the simulator issues no web links"))
    }
}

async fn serve(fake: Fake) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let svc = QueueEventsServer::new(fake.clone());
    tokio::spawn(async move {
        let _ = tonic::transport::Server::builder()
            .add_service(svc)
            .serve_with_incoming(TcpListenerStream::new(listener))
            .await;
    });
    tokio::spawn(async move {
        loop {
            fake.poll();
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    });
    format!("http://{addr}")
}

fn start() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-11-23T08:30:00+01:00")
        .map(|t| t.with_timezone(&Utc))
        .expect("start")
}

fn fast_retry() -> RetryPolicy {
    RetryPolicy {
        initial: Duration::from_millis(5),
        max: Duration::from_millis(50),
        give_up_after: Duration::from_secs(30),
        call_timeout: Duration::from_secs(5),
    }
}

async fn keypad_sim(dir: &tempfile::TempDir) -> Simulator {
    Simulator::start(SimConfig::new((1..=8).collect(), dir.path().join("ttyFK")))
        .await
        .expect("simulator on a pty")
}

fn read_log(path: &std::path::Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(path)
        .expect("log")
        .lines()
        .map(|l| serde_json::from_str(l).expect("json line"))
        .collect()
}

/// Checks the keypad side against the server side: every latched vote belongs to a SERVED
/// ticket at that counter and came after it; about 3/4 of served citizens voted.
fn check_votes(
    fake: &Fake,
    kp: &SimHandle,
    summary: &faccia_sim::Summary,
    log: &[serde_json::Value],
) {
    let st = fake.st.lock().expect("state");
    let votes: Vec<_> = kp
        .votes()
        .into_iter()
        .filter(|v| v.event == "latched")
        .collect();
    let served = st.tokens.len();
    assert!(served > 20, "served {served}");
    let mut voted_tickets = HashSet::new();
    for v in &votes {
        let (ticket, counter, stored_at) = st.tokens.get(&v.token).expect("vote for a session");
        assert_eq!(
            fake.units.get(counter),
            Some(&v.unit),
            "vote at another counter"
        );
        assert!(v.time >= *stored_at, "vote before its SERVED was stored");
        assert!(
            voted_tickets.insert(ticket.clone()),
            "two votes for {ticket}"
        );
    }
    let rate = votes.len() as f64 / served as f64;
    assert!(
        (0.55..=0.92).contains(&rate),
        "vote rate {rate} ({} of {served})",
        votes.len()
    );
    // the simulator's own counts agree with the keypads'
    let counted: u64 = summary.votes_by_counter.values().sum();
    assert_eq!(counted as usize, votes.len());
    let sessions: u64 = summary.sessions_by_counter.values().sum();
    assert_eq!(sessions as usize, served);
    assert!(summary.presses_ignored > 0, "no double press was ignored");
    assert_eq!(summary.votes_unconfirmed, 0);
    assert_eq!(summary.citizens.get("voted").copied().unwrap_or(0), counted);
    // in the log every press comes after its ticket's acknowledged SERVED
    let mut served_logged = HashSet::new();
    let mut presses = 0;
    for l in log {
        match l["kind"].as_str() {
            Some("event") if l["event"]["kind"] == "SERVED" => {
                assert_eq!(l["ack"]["status"], "ACCEPTED");
                served_logged.insert(l["event"]["ticket_id"].as_str().unwrap_or("").to_string());
            }
            Some("press") => {
                presses += 1;
                let t = l["ticket_id"].as_str().unwrap_or("");
                assert!(served_logged.contains(t), "press for {t} before its SERVED");
            }
            _ => {}
        }
    }
    assert_eq!(presses as u64, summary.presses);
    assert!(
        votes.iter().any(|v| v.reason > 0),
        "no reason given after red"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn citizens_vote_in_process_after_served_only() {
    let dir = tempfile::tempdir().expect("tempdir");
    let kp = keypad_sim(&dir).await;
    let mut fake = Fake::new();
    fake.keypad = Some(kp.handle());
    let url = serve(fake.clone()).await;
    let log = dir.path().join("sim.jsonl");
    let mut plan = SimPlan::new(21).start(start()).tickets(Some(150));
    plan.faces = "50,20,30".parse().expect("faces");
    let summary = QueueSim::new(plan)
        .server(url)
        .token(Some(TOKEN.into()))
        .speed(0.0)
        .keypads(Keypads::InProcess(kp.handle()))
        .log(Some(log.clone()))
        .retry(fast_retry())
        .run()
        .await
        .expect("run");
    assert_eq!(summary.tickets_issued, 150);
    assert_eq!(summary.errors, 0, "{summary:?}");
    assert_eq!(summary.events_failed, 0);
    assert_eq!(
        summary.served + summary.no_show + summary.cancelled - summary.requeued,
        150,
        "every ticket ended"
    );
    assert!(summary.reconciles > 10);
    // a last red without a reason latches when its 1 s reason window ends
    tokio::time::sleep(Duration::from_millis(1300)).await;
    let lines = read_log(&log);
    check_votes(&fake, &kp.handle(), &summary, &lines);
    assert_eq!(
        lines.last().map(|l| l["kind"].clone()),
        Some("summary".into())
    );
    {
        let st = fake.st.lock().expect("state");
        assert!(st
            .reconciles
            .iter()
            .all(|r| r.source_id == "faccia-sim" && r.counters.len() == 8));
        // every event once, in the plan's order
        assert_eq!(st.stored.len() as u64, summary.events_sent);
    }
    kp.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn citizens_press_through_the_control_socket() {
    let dir = tempfile::tempdir().expect("tempdir");
    let kp = keypad_sim(&dir).await;
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port();
    let ctl = format!("127.0.0.1:{port}");
    let ctl_task = faccia_serial::sim::serve_control(kp.handle(), &ctl)
        .await
        .expect("control socket");
    let mut fake = Fake::new();
    fake.keypad = Some(kp.handle());
    let url = serve(fake.clone()).await;
    let log = dir.path().join("sim.jsonl");
    let mut plan = SimPlan::new(5).start(start()).tickets(Some(60));
    plan.faces = "50,20,30".parse().expect("faces");
    plan.rates.double_press = 0.3;
    let summary = QueueSim::new(plan)
        .server(url)
        .token(Some(TOKEN.into()))
        .stream(true)
        .speed(20_000.0)
        .keypads(Keypads::Control(ctl))
        .log(Some(log.clone()))
        .retry(fast_retry())
        .run()
        .await
        .expect("run");
    assert_eq!(summary.errors, 0, "{summary:?}");
    assert_eq!(summary.tickets_issued, 60);
    tokio::time::sleep(Duration::from_millis(1300)).await;
    check_votes(&fake, &kp.handle(), &summary, &read_log(&log));
    ctl_task.abort();
    kp.shutdown().await;
}

async fn unavailable_loses_nothing(stream: bool) {
    let mut fake = Fake::new();
    fake.fail_before_every = Some(3);
    fake.fail_after_every = Some(7);
    let url = serve(fake.clone()).await;
    let plan = SimPlan::new(13).start(start()).tickets(Some(40));
    let expected: Vec<String> = plan
        .plan()
        .expect("plan")
        .events()
        .map(|e| e.event_id.clone())
        .collect();
    let summary = QueueSim::new(plan)
        .server(url)
        .token(Some(TOKEN.into()))
        .stream(stream)
        .speed(0.0)
        .retry(fast_retry())
        .run()
        .await
        .expect("run");
    assert_eq!(summary.events_failed, 0, "{summary:?}");
    assert!(summary.retries > 10);
    assert!(
        summary.acks.get("DUPLICATE").copied().unwrap_or(0) > 0,
        "{summary:?}"
    );
    let st = fake.st.lock().expect("state");
    // nothing lost, nothing extra, stored in the plan's order
    assert_eq!(st.order, expected);
    // every failed call was retried with the same event id (and the same content)
    for id in &st.failed {
        assert!(st.stored.contains_key(id), "{id} never stored");
        let tries: Vec<_> = st.received.iter().filter(|e| &e.event_id == id).collect();
        assert!(tries.len() >= 2, "{id} not retried");
        assert!(
            tries.iter().all(|e| *e == tries[0]),
            "{id} retried with other content"
        );
    }
    // no new event ids appeared
    let known: HashSet<&String> = expected.iter().collect();
    assert!(st.received.iter().all(|e| known.contains(&e.event_id)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unavailable_is_retried_with_the_same_event_id_publish() {
    unavailable_loses_nothing(false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unavailable_is_retried_with_the_same_event_id_stream() {
    unavailable_loses_nothing(true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_token_stops_the_run() {
    let url = serve(Fake::new()).await;
    let r = QueueSim::new(SimPlan::new(1).start(start()).tickets(Some(5)))
        .server(url)
        .token(Some("wrong".into()))
        .speed(0.0)
        .retry(fast_retry())
        .run()
        .await;
    assert!(
        matches!(
            r,
            Err(SimError::Rejected {
                code: tonic::Code::Unauthenticated,
                ..
            })
        ),
        "{r:?}"
    );
}

/// Serves `fake` on `listener` until `stop` fires.
fn serve_until(
    fake: Fake,
    listener: tokio::net::TcpListener,
    stop: tokio::sync::oneshot::Receiver<()>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let _ = tonic::transport::Server::builder()
            .add_service(QueueEventsServer::new(fake))
            .serve_with_incoming_shutdown(TcpListenerStream::new(listener), async {
                let _ = stop.await;
            })
            .await;
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_restart_mid_run_loses_nothing() {
    let fake = Fake::new();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel();
    let first = serve_until(fake.clone(), listener, stop_rx);
    let plan = SimPlan::new(17).start(start()).tickets(Some(40));
    let expected: Vec<String> = plan
        .plan()
        .expect("plan")
        .events()
        .map(|e| e.event_id.clone())
        .collect();
    let sim = QueueSim::new(plan)
        .server(format!("http://{addr}"))
        .token(Some(TOKEN.into()))
        .speed(0.0)
        .retry(fast_retry());
    let run = tokio::spawn(async move { sim.run().await });
    // let a third of the events through, then stop the server for a while
    loop {
        if fake.st.lock().expect("state").order.len() >= expected.len() / 3 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    let _ = stop_tx.send(());
    let _ = first.await;
    let stored_before = fake.st.lock().expect("state").order.len();
    tokio::time::sleep(Duration::from_millis(500)).await;
    let listener = tokio::net::TcpListener::bind(addr).await.expect("rebind");
    let (_keep, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let _second = serve_until(fake.clone(), listener, stop_rx);
    let summary = run.await.expect("join").expect("run");
    assert_eq!(summary.events_failed, 0, "{summary:?}");
    assert!(summary.retries > 0, "{summary:?}");
    let st = fake.st.lock().expect("state");
    assert!(stored_before < expected.len(), "the restart came too late");
    assert_eq!(st.order, expected, "lost or reordered events");
}

#[derive(clap::Parser)]
struct Cli {
    #[command(flatten)]
    args: faccia_sim::QueueSimArgs,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_command_line_runs_paced_and_writes_the_log() {
    use clap::Parser;
    let fake = Fake::new();
    let url = serve(fake.clone()).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let log = dir.path().join("sim.jsonl");
    let log_arg = log.to_string_lossy().to_string();
    let plan = SimPlan::new(3)
        .start(start())
        .tickets(Some(6))
        .plan()
        .expect("plan");
    let span = (plan.end - plan.start).num_milliseconds() as f64 / 1000.0;
    // about 1.5 s of real time
    let speed = span / 1.5;
    let speed_arg = format!("{speed}");
    let cli = Cli::try_parse_from([
        "faccia-sim",
        "--server",
        url.as_str(),
        "--token",
        TOKEN,
        "--seed",
        "3",
        "--tickets",
        "6",
        "--start",
        "2026-11-23T08:30:00+01:00",
        "--speed",
        speed_arg.as_str(),
        "--log",
        log_arg.as_str(),
        "--source-id",
        "novosga-test",
    ])
    .expect("args");
    let summary = faccia_sim::run(cli.args).await.expect("run");
    assert_eq!(summary.tickets_issued, 6);
    assert_eq!(summary.errors, 0);
    assert!(
        (1.3..3.0).contains(&summary.real_seconds),
        "paced run took {} s for {span} simulated s at speed {speed}",
        summary.real_seconds
    );
    let lines = read_log(&log);
    let events: Vec<_> = lines.iter().filter(|l| l["kind"] == "event").collect();
    assert_eq!(events.len() as u64, summary.events_sent);
    assert!(events.iter().all(|l| l["ack"]["status"] == "ACCEPTED"));
    // no keypads given: served citizens are logged, nothing is pressed
    assert_eq!(summary.presses, 0);
    assert_eq!(
        lines.iter().filter(|l| l["kind"] == "citizen").count() as u64,
        summary.served
    );
    let st = fake.st.lock().expect("state");
    assert!(st.received.iter().all(|e| e.source_id == "novosga-test"));
    // same seed, same events, same order
    let planned: Vec<String> = plan.events().map(|e| e.event_id.clone()).collect();
    assert_eq!(st.order, planned);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keypads_armed_over_modbus_by_a_real_bus() {
    let dir = tempfile::tempdir().expect("tempdir");
    let kp = keypad_sim(&dir).await;
    let (bus, mut events) = faccia_serial::Bus::spawn(faccia_serial::BusConfig::new(
        dir.path().join("ttyFK"),
        19200,
        (1..=8).collect(),
    ));
    let mut fake = Fake::new();
    fake.bus = Some(bus.clone());
    // the server's side of the bus: take latched votes, arm pending sessions when possible
    let stored: Arc<Mutex<Vec<(u32, u8)>>> = Arc::default();
    let (b, got) = (bus.clone(), stored.clone());
    let reader = tokio::spawn(async move {
        while let Some(ev) = events.recv().await {
            if let faccia_serial::BusEvent::Latched {
                unit,
                token,
                vote_seq,
                ..
            } = ev
            {
                {
                    let mut g = got.lock().expect("votes");
                    if !g.contains(&(token, unit)) {
                        g.push((token, unit));
                    }
                }
                let _ = b.ack(unit, vote_seq).await;
            }
        }
    });
    let (b, st) = (bus.clone(), fake.st.clone());
    let armer = tokio::spawn(async move {
        loop {
            let pending: Vec<(u8, u32)> = st
                .lock()
                .expect("state")
                .pending
                .iter()
                .map(|(u, t)| (*u, *t))
                .collect();
            for (unit, token) in pending {
                if b.arm(unit, token, 60, 1).await.is_ok() {
                    let mut s = st.lock().expect("state");
                    if s.pending.get(&unit) == Some(&token) {
                        s.pending.remove(&unit);
                    }
                }
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    });
    let url = serve(fake.clone()).await;
    let mut plan = SimPlan::new(31).start(start()).tickets(Some(40));
    plan.faces = "50,20,30".parse().expect("faces");
    let summary = QueueSim::new(plan)
        .server(url)
        .token(Some(TOKEN.into()))
        .speed(0.0)
        .keypads(Keypads::InProcess(kp.handle()))
        .retry(fast_retry())
        .run()
        .await
        .expect("run");
    assert_eq!(summary.errors, 0, "{summary:?}");
    assert_eq!(summary.votes_unconfirmed, 0, "{summary:?}");
    assert_eq!(summary.citizens.get("keypad_dark"), None, "{summary:?}");
    let voted = summary.citizens.get("voted").copied().unwrap_or(0);
    assert!(voted as f64 > 0.55 * summary.served as f64, "{summary:?}");
    // every vote the citizens made reached the server's side, for the right session
    let got = stored.lock().expect("votes").clone();
    assert_eq!(got.len() as u64, voted);
    {
        let st = fake.st.lock().expect("state");
        for (token, unit) in got {
            let (_, counter, _) = st.tokens.get(&token).expect("vote for a session");
            assert_eq!(fake.units.get(counter), Some(&unit));
        }
    }
    armer.abort();
    bus.shutdown().await;
    reader.abort();
    kp.shutdown().await;
}
