//! Runs a [`Plan`] against a server: pacing, delivery with retries, citizens at the keypads,
//! the JSON-lines log and the [`Summary`].

use std::collections::{BTreeMap, HashMap};
use std::io::Write as _;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use faccia_proto::v1::event_ack::Status as AckStatus;
use faccia_proto::v1::queue_events_client::QueueEventsClient;
use faccia_proto::v1::vote_session::KeypadState;
use faccia_proto::v1::{EventAck, EventType, TicketEvent, VoteSession};
use faccia_serial::sim::Key;
use faccia_serial::Face;
use serde::Serialize;
use serde_json::json;
use tokio::sync::mpsc;
use tonic::metadata::{Ascii, MetadataValue};
use tonic::service::interceptor::InterceptedService;
use tonic::transport::{Channel, Endpoint};
use tonic::Code;

use crate::keypad::{face_key, key_word, Keypads, Panel};
use crate::model::{
    default_counters, default_services, today_at, Action, CitizenChoice, FaceMix, Plan,
    PlannedCitizen, PlannedEvent, PlannedReconcile, SimPlan,
};
use crate::SimError;

/// `faccia sim queue ...`: realistic queue traffic against a running server.
#[derive(clap::Args, Debug, Clone)]
pub struct QueueSimArgs {
    /// gRPC address of the faccia server.
    #[arg(long, default_value = "http://127.0.0.1:50051")]
    pub server: String,
    /// Bearer token with the `queue` role (the demo's is `demo-queue-token`).
    #[arg(long, env = "FACCIA_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
    /// The queue-system instance the events come from.
    #[arg(long, default_value = "faccia-sim")]
    pub source_id: String,
    /// The site (office) the events are for; empty: the server's only site.
    #[arg(long, default_value = "")]
    pub site: String,
    /// Same seed, same traffic (same events in the same order).
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Simulated seconds per real second: 1 = real time, 60 = a simulated minute per second,
    /// 3600 = an hour per second; 0 = as fast as the server answers.
    #[arg(long, default_value_t = 60.0)]
    pub speed: f64,
    /// Issue this many tickets, then let the queue drain (every ticket ends).
    #[arg(long)]
    pub tickets: Option<u32>,
    /// Arrivals stop after this simulated time (e.g. 90m, 2h, 1h30m, 45s); the queue then
    /// drains. Without --tickets and --duration: until 17:00 (at least an hour).
    #[arg(long, value_parser = parse_duration)]
    pub duration: Option<Duration>,
    /// Counter ids.
    #[arg(long, value_delimiter = ',', default_values_t = default_counters())]
    pub counters: Vec<String>,
    /// Service codes.
    #[arg(long, value_delimiter = ',', default_values_t = default_services())]
    pub services: Vec<String>,
    /// Simulated start: RFC 3339 (2026-11-23T08:30:00+01:00) or HH:MM today Europe/Rome.
    /// Default: today 08:30 Europe/Rome.
    #[arg(long, value_parser = parse_start)]
    pub start: Option<DateTime<Utc>>,
    /// Send events on the `Stream` RPC instead of `Publish`.
    #[arg(long)]
    pub stream: bool,
    /// Control socket of the keypad simulator (`faccia keypad simulate --control ADDR`).
    #[arg(long, value_name = "CONTROL_ADDR")]
    pub keypads: Option<String>,
    /// Counter to keypad unit, e.g. S01=1,S02=2 (default: the i-th counter is unit i).
    #[arg(long, value_delimiter = ',', value_parser = parse_map_entry)]
    pub keypad_map: Vec<(String, u8)>,
    /// JSON-lines log of every event with its ack, every reconcile, citizen and press.
    #[arg(long, value_name = "FILE")]
    pub log: Option<PathBuf>,
    /// Share of green, yellow, red among votes.
    #[arg(long, default_value = "80,13,7")]
    pub faces: FaceMix,
    /// Share of served citizens who vote.
    #[arg(long, default_value_t = 0.75)]
    pub vote_rate: f64,
    /// Arrivals per hour at the morning peak (default: about 90% of the counters' capacity).
    #[arg(long)]
    pub peak_per_hour: Option<f64>,
    /// Give up an event after retrying it this long (real time).
    #[arg(long, default_value = "2m", value_parser = parse_duration)]
    pub retry_for: Duration,
    /// How long (real time) a citizen waits for a PENDING keypad to light up.
    #[arg(long, default_value = "5s", value_parser = parse_duration)]
    pub keypad_wait: Duration,
    /// How long (real time) a citizen who voted waits for the server to take the vote before
    /// the clerk may call the next ticket (a red face without a reason latches only when the
    /// reason window ends). 0 = do not wait.
    #[arg(long, default_value = "20s", value_parser = parse_duration)]
    pub confirm_wait: Duration,
}

fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    if s.is_empty() {
        return Err("empty duration".into());
    }
    let mut total = 0f64;
    let mut num = String::new();
    for ch in s.chars() {
        if ch.is_ascii_digit() || ch == '.' {
            num.push(ch);
            continue;
        }
        let n: f64 = num.parse().map_err(|_| format!("bad duration {s:?}"))?;
        num.clear();
        total += n * match ch {
            'h' => 3600.0,
            'm' => 60.0,
            's' => 1.0,
            _ => return Err(format!("bad duration {s:?}: use h, m, s (e.g. 1h30m)")),
        };
    }
    if !num.is_empty() {
        // bare number: seconds
        total += num
            .parse::<f64>()
            .map_err(|_| format!("bad duration {s:?}"))?;
    }
    if !total.is_finite() || total < 0.0 {
        return Err(format!("bad duration {s:?}"));
    }
    Ok(Duration::from_secs_f64(total))
}

fn parse_start(s: &str) -> Result<DateTime<Utc>, String> {
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Ok(t.with_timezone(&Utc));
    }
    let (h, m) = s
        .split_once(':')
        .ok_or_else(|| format!("bad start {s:?}: RFC 3339 or HH:MM"))?;
    let h: u32 = h.parse().map_err(|_| format!("bad hour in {s:?}"))?;
    let m: u32 = m.parse().map_err(|_| format!("bad minute in {s:?}"))?;
    if h > 23 || m > 59 {
        return Err(format!("bad start {s:?}"));
    }
    Ok(today_at(Utc::now(), h, m))
}

fn parse_map_entry(s: &str) -> Result<(String, u8), String> {
    let (c, u) = s
        .split_once('=')
        .ok_or_else(|| format!("bad keypad map entry {s:?}: COUNTER=UNIT"))?;
    let u: u8 = u
        .trim()
        .parse()
        .map_err(|_| format!("bad unit in {s:?} (1..=247)"))?;
    if !(1..=247).contains(&u) {
        return Err(format!("bad unit in {s:?} (1..=247)"));
    }
    Ok((c.trim().to_string(), u))
}

/// Runs the simulator from the command line; logs the summary and returns it.
pub async fn run(args: QueueSimArgs) -> anyhow::Result<Summary> {
    if !(0.0..=1.0).contains(&args.vote_rate) {
        anyhow::bail!("--vote-rate must be between 0 and 1");
    }
    let mut plan = SimPlan::new(args.seed)
        .source_id(args.source_id.clone())
        .counters(args.counters.clone())
        .services(&args.services)
        .tickets(args.tickets)
        .duration(args.duration)
        .peak_arrivals_per_hour(args.peak_per_hour)
        .faces(args.faces);
    if let Some(s) = args.start {
        plan = plan.start(s);
    }
    plan.rates.vote = args.vote_rate;
    let mut sim = QueueSim::new(plan)
        .server(args.server)
        .site(args.site)
        .token(args.token)
        .stream(args.stream)
        .speed(args.speed)
        .log(args.log);
    sim.retry.give_up_after = args.retry_for;
    sim.keypad_wait = args.keypad_wait;
    sim.confirm_wait = args.confirm_wait;
    if let Some(addr) = args.keypads {
        sim = sim.keypads(Keypads::Control(addr));
    }
    if !args.keypad_map.is_empty() {
        sim = sim.keypad_map(args.keypad_map);
    }
    let summary = sim.run().await?;
    tracing::info!(
        issued = summary.tickets_issued,
        served = summary.served,
        events = summary.events_sent,
        sessions = summary.sessions_by_counter.values().sum::<u64>(),
        votes = summary.votes_by_counter.values().sum::<u64>(),
        errors = summary.errors,
        "queue simulation finished"
    );
    Ok(summary)
}

/// Retries of one event on `UNAVAILABLE` and transport errors: exponential backoff, the same
/// `event_id` every time.
#[derive(Debug, Clone, Copy)]
pub struct RetryPolicy {
    pub initial: Duration,
    pub max: Duration,
    /// Give up (count an error, go on) after this long.
    pub give_up_after: Duration,
    /// Deadline of one call.
    pub call_timeout: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            initial: Duration::from_millis(100),
            max: Duration::from_secs(5),
            give_up_after: Duration::from_secs(120),
            call_timeout: Duration::from_secs(10),
        }
    }
}

/// What happened in a run.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Summary {
    pub tickets_issued: u64,
    pub served: u64,
    pub no_show: u64,
    pub cancelled: u64,
    pub transferred: u64,
    pub recalled: u64,
    pub requeued: u64,
    /// Events acknowledged by the server.
    pub events_sent: u64,
    /// Events given up on (non-retryable status, or retried too long).
    pub events_failed: u64,
    /// Acks by status name (ACCEPTED, DUPLICATE, STALE_IGNORED, ...).
    pub acks: BTreeMap<String, u64>,
    /// Calls retried (same event id).
    pub retries: u64,
    pub reconciles: u64,
    pub repaired: u64,
    /// Vote sessions in SERVED acks, by counter.
    pub sessions_by_counter: BTreeMap<String, u64>,
    /// Citizens whose face press the keypad counted, by counter.
    pub votes_by_counter: BTreeMap<String, u64>,
    /// Citizens by outcome: voted, voted_unconfirmed, ignored, left, no_ack, no_session,
    /// no_keypad, keypad_dark, keypad_error.
    pub citizens: BTreeMap<String, u64>,
    /// Counted votes the keypad still held when the citizen gave up waiting for the server
    /// to take them.
    pub votes_unconfirmed: u64,
    pub presses: u64,
    pub presses_counted: u64,
    pub presses_ignored: u64,
    pub errors: u64,
    pub sim_start: Option<DateTime<Utc>>,
    pub sim_end: Option<DateTime<Utc>>,
    pub real_seconds: f64,
}

/// The simulator, in process: a [`SimPlan`] plus where to send and press.
#[derive(Debug, Clone)]
pub struct QueueSim {
    pub plan: SimPlan,
    pub server: String,
    /// The site the events are for (empty: the server's only site).
    pub site_id: String,
    pub token: Option<String>,
    pub stream: bool,
    /// Simulated seconds per real second; 0 or infinite = no pacing.
    pub speed: f64,
    pub keypads: Keypads,
    /// Counter id to keypad unit.
    pub keypad_units: BTreeMap<String, u8>,
    pub log: Option<PathBuf>,
    pub retry: RetryPolicy,
    /// How long (real time) a citizen waits for a PENDING keypad to light up before leaving.
    pub keypad_wait: Duration,
    /// How long (real time) a citizen who voted waits for the keypad to take the vote (the
    /// server acknowledges it) before leaving the desk; covers a red face's reason window.
    pub confirm_wait: Duration,
}

impl QueueSim {
    pub fn new(plan: SimPlan) -> Self {
        let keypad_units = plan
            .counters
            .iter()
            .enumerate()
            .filter_map(|(i, c)| u8::try_from(i + 1).ok().map(|u| (c.clone(), u)))
            .collect();
        QueueSim {
            plan,
            server: "http://127.0.0.1:50051".into(),
            site_id: String::new(),
            token: None,
            stream: false,
            speed: 60.0,
            keypads: Keypads::None,
            keypad_units,
            log: None,
            retry: RetryPolicy::default(),
            keypad_wait: Duration::from_secs(5),
            confirm_wait: Duration::from_secs(20),
        }
    }
    pub fn server(mut self, url: impl Into<String>) -> Self {
        self.server = url.into();
        self
    }
    pub fn site(mut self, site_id: impl Into<String>) -> Self {
        self.site_id = site_id.into();
        self
    }
    pub fn token(mut self, t: Option<String>) -> Self {
        self.token = t;
        self
    }
    pub fn stream(mut self, on: bool) -> Self {
        self.stream = on;
        self
    }
    pub fn speed(mut self, s: f64) -> Self {
        self.speed = s;
        self
    }
    pub fn keypads(mut self, k: Keypads) -> Self {
        self.keypads = k;
        self
    }
    pub fn keypad_map(mut self, m: impl IntoIterator<Item = (String, u8)>) -> Self {
        self.keypad_units = m.into_iter().collect();
        self
    }
    pub fn log(mut self, p: Option<PathBuf>) -> Self {
        self.log = p;
        self
    }
    pub fn retry(mut self, r: RetryPolicy) -> Self {
        self.retry = r;
        self
    }
    pub fn keypad_wait(mut self, d: Duration) -> Self {
        self.keypad_wait = d;
        self
    }
    pub fn confirm_wait(mut self, d: Duration) -> Self {
        self.confirm_wait = d;
        self
    }

    /// Plans the traffic and runs it. Errors only for bad settings, an unwritable log or
    /// credentials the server refuses; everything else is counted in the [`Summary`].
    pub async fn run(&self) -> Result<Summary, SimError> {
        if self.speed.is_nan() || self.speed < 0.0 {
            return Err(SimError::Config(format!("bad speed {}", self.speed)));
        }
        let plan = self.plan.plan()?;
        let client = connect(&self.server, self.token.as_deref())?;
        let log = match &self.log {
            Some(path) => Some(Log::open(path)?),
            None => None,
        };
        let mut r = Runner {
            sim: self,
            site_id: self.site_id.clone(),
            source_id: self.plan.source_id.clone(),
            sender: Sender {
                client,
                stream: None,
                use_stream: self.stream,
                retry: self.retry,
            },
            panel: Panel::new(self.keypads.clone()),
            log,
            summary: Summary {
                sim_start: Some(plan.start),
                ..Summary::default()
            },
            served: HashMap::new(),
            real_start: Instant::now(),
            plan_start: plan.start,
        };
        tracing::info!(
            server = %self.server,
            tickets = plan.tickets,
            actions = plan.actions.len(),
            start = %plan.start,
            speed = self.speed,
            "queue simulation starting"
        );
        let out = r.run_plan(&plan).await;
        r.summary.real_seconds = r.real_start.elapsed().as_secs_f64();
        r.summary.sim_end = Some(plan.end);
        let summary = r.summary.clone();
        if let Some(l) = r.log.as_mut() {
            l.write(json!({"kind": "summary", "summary": summary}));
        }
        out.map(|()| summary)
    }
}

#[derive(Clone)]
struct Auth(Option<MetadataValue<Ascii>>);

impl tonic::service::Interceptor for Auth {
    fn call(&mut self, mut req: tonic::Request<()>) -> Result<tonic::Request<()>, tonic::Status> {
        if let Some(v) = &self.0 {
            req.metadata_mut().insert("authorization", v.clone());
        }
        Ok(req)
    }
}

type Client = QueueEventsClient<InterceptedService<Channel, Auth>>;

fn connect(url: &str, token: Option<&str>) -> Result<Client, SimError> {
    let ep = Endpoint::from_shared(url.to_string())
        .map_err(|e| SimError::Endpoint(url.to_string(), e.to_string()))?
        .connect_timeout(Duration::from_secs(5));
    let auth = match token.filter(|t| !t.is_empty()) {
        Some(t) => Some(
            format!("Bearer {t}")
                .parse::<MetadataValue<Ascii>>()
                .map_err(|_| SimError::Config("the token has characters not allowed".into()))?,
        ),
        None => None,
    };
    Ok(QueueEventsClient::with_interceptor(
        ep.connect_lazy(),
        Auth(auth),
    ))
}

fn retryable(code: Code) -> bool {
    matches!(
        code,
        Code::Unavailable
            | Code::Unknown
            | Code::Cancelled
            | Code::DeadlineExceeded
            | Code::Aborted
            | Code::ResourceExhausted
            | Code::Internal
    )
}

struct StreamConn {
    tx: mpsc::Sender<TicketEvent>,
    rx: tonic::Streaming<EventAck>,
}

struct Sender {
    client: Client,
    stream: Option<StreamConn>,
    use_stream: bool,
    retry: RetryPolicy,
}

impl Sender {
    async fn send_once(&mut self, ev: &TicketEvent) -> Result<EventAck, tonic::Status> {
        if !self.use_stream {
            let mut req = tonic::Request::new(ev.clone());
            req.set_timeout(self.retry.call_timeout);
            return self.client.publish(req).await.map(|r| r.into_inner());
        }
        if self.stream.is_none() {
            let (tx, rx) = mpsc::channel::<TicketEvent>(16);
            let resp = self
                .client
                .stream(tokio_stream::wrappers::ReceiverStream::new(rx))
                .await?;
            self.stream = Some(StreamConn {
                tx,
                rx: resp.into_inner(),
            });
        }
        let Some(conn) = self.stream.as_mut() else {
            return Err(tonic::Status::unavailable("no stream"));
        };
        let res = async {
            conn.tx
                .send(ev.clone())
                .await
                .map_err(|_| tonic::Status::unavailable("the stream closed"))?;
            match tokio::time::timeout(self.retry.call_timeout, conn.rx.message()).await {
                Ok(Ok(Some(ack))) => Ok(ack),
                Ok(Ok(None)) => Err(tonic::Status::unavailable("the stream ended")),
                Ok(Err(st)) => Err(st),
                Err(_) => Err(tonic::Status::deadline_exceeded("no ack in time")),
            }
        }
        .await;
        if res.is_err() {
            // the stream is unusable after an error: a fresh one for the retry
            self.stream = None;
        }
        res
    }

    /// Delivers one event, retrying with the same event id. Returns the ack or the last
    /// status, and how many attempts it took.
    async fn deliver(&mut self, ev: &TicketEvent) -> (Result<EventAck, tonic::Status>, u32) {
        let started = Instant::now();
        let mut backoff = self.retry.initial;
        let mut attempts = 0;
        loop {
            attempts += 1;
            match self.send_once(ev).await {
                Ok(ack) => return (Ok(ack), attempts),
                Err(st) if retryable(st.code()) && started.elapsed() < self.retry.give_up_after => {
                    tracing::warn!(
                        event_id = %ev.event_id,
                        code = ?st.code(),
                        message = st.message(),
                        attempt = attempts,
                        "event not acknowledged, retrying with the same event id"
                    );
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(self.retry.max);
                }
                Err(st) => return (Err(st), attempts),
            }
        }
    }

    async fn reconcile(
        &mut self,
        snap: faccia_proto::v1::CounterSnapshot,
    ) -> (Result<u32, tonic::Status>, u32) {
        let started = Instant::now();
        let mut backoff = self.retry.initial;
        let mut attempts = 0;
        loop {
            attempts += 1;
            let mut req = tonic::Request::new(snap.clone());
            req.set_timeout(self.retry.call_timeout);
            match self.client.reconcile(req).await {
                Ok(r) => return (Ok(r.into_inner().repaired), attempts),
                // a snapshot is soon stale: retry only briefly
                Err(st)
                    if retryable(st.code())
                        && started.elapsed()
                            < self.retry.give_up_after.min(Duration::from_secs(10)) =>
                {
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(self.retry.max);
                }
                Err(st) => return (Err(st), attempts),
            }
        }
    }
}

struct Log {
    path: PathBuf,
    file: std::io::BufWriter<std::fs::File>,
    failed: bool,
}

impl Log {
    fn open(path: &std::path::Path) -> Result<Log, SimError> {
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .map_err(|source| SimError::Log {
                path: path.to_path_buf(),
                source,
            })?;
        Ok(Log {
            path: path.to_path_buf(),
            file: std::io::BufWriter::new(file),
            failed: false,
        })
    }

    fn write(&mut self, v: serde_json::Value) {
        let r = writeln!(self.file, "{v}").and_then(|()| self.file.flush());
        if let Err(e) = r {
            if !self.failed {
                tracing::error!(path = %self.path.display(), error = %e, "cannot write the simulator log");
                self.failed = true;
            }
        }
    }
}

fn ack_status_name(status: i32) -> String {
    AckStatus::try_from(status)
        .map(|s| s.as_str_name().to_string())
        .unwrap_or_else(|_| format!("STATUS_{status}"))
}

fn keypad_state_name(k: i32) -> String {
    KeypadState::try_from(k)
        .map(|s| s.as_str_name().to_string())
        .unwrap_or_else(|_| format!("KEYPAD_{k}"))
}

fn ts_to_utc(t: &prost_types::Timestamp) -> Option<DateTime<Utc>> {
    DateTime::from_timestamp(t.seconds, u32::try_from(t.nanos).ok()?)
}

fn session_json(s: &VoteSession) -> serde_json::Value {
    json!({
        "session_id": s.session_id,
        "counter_id": s.counter_id,
        "expires_at": s.expires_at.as_ref().and_then(ts_to_utc),
        "keypad": keypad_state_name(s.keypad),
    })
}

struct Runner<'a> {
    sim: &'a QueueSim,
    site_id: String,
    source_id: String,
    sender: Sender,
    panel: Panel,
    log: Option<Log>,
    summary: Summary,
    /// SERVED event id -> the vote session of its ack (None: acked without a session).
    served: HashMap<String, Option<VoteSession>>,
    real_start: Instant,
    plan_start: DateTime<Utc>,
}

fn bump(m: &mut BTreeMap<String, u64>, k: &str) {
    *m.entry(k.to_string()).or_default() += 1;
}

impl Runner<'_> {
    fn paced(&self) -> bool {
        self.sim.speed > 0.0 && self.sim.speed.is_finite()
    }

    /// Real time for a span of simulated time.
    fn real(&self, sim_s: f64) -> Duration {
        if self.paced() {
            Duration::from_secs_f64((sim_s / self.sim.speed).max(0.0))
        } else {
            Duration::ZERO
        }
    }

    async fn wait_until(&self, at: DateTime<Utc>) {
        if !self.paced() {
            return;
        }
        let sim_s = (at - self.plan_start).num_milliseconds() as f64 / 1000.0;
        let target = self.real_start + self.real(sim_s);
        tokio::time::sleep_until(target.into()).await;
    }

    fn log(&mut self, v: serde_json::Value) {
        if let Some(l) = self.log.as_mut() {
            l.write(v);
        }
    }

    fn real_now(&self) -> f64 {
        self.real_start.elapsed().as_secs_f64()
    }

    async fn run_plan(&mut self, plan: &Plan) -> Result<(), SimError> {
        for (seq, action) in plan.actions.iter().enumerate() {
            self.wait_until(action.at()).await;
            match action {
                Action::Event(e) => self.event(seq, e).await?,
                Action::Reconcile(r) => self.reconcile(r).await?,
                Action::Citizen(c) => self.citizen(c).await,
            }
        }
        Ok(())
    }

    async fn event(&mut self, seq: usize, e: &PlannedEvent) -> Result<(), SimError> {
        let ev = e.to_proto(&self.site_id, &self.source_id);
        let (res, attempts) = self.sender.deliver(&ev).await;
        self.summary.retries += u64::from(attempts.saturating_sub(1));
        match e.kind {
            EventType::Issued => self.summary.tickets_issued += 1,
            EventType::Served => self.summary.served += 1,
            EventType::NoShow => self.summary.no_show += 1,
            EventType::Cancelled => self.summary.cancelled += 1,
            EventType::Transferred => self.summary.transferred += 1,
            EventType::Recalled => self.summary.recalled += 1,
            EventType::Requeued => self.summary.requeued += 1,
            _ => {}
        }
        let real = self.real_now();
        match res {
            Ok(ack) => {
                self.summary.events_sent += 1;
                let status = ack_status_name(ack.status);
                bump(&mut self.summary.acks, &status);
                if ack.event_id != e.event_id {
                    self.summary.errors += 1;
                    tracing::error!(sent = %e.event_id, acked = %ack.event_id, "ack for another event");
                }
                if e.kind == EventType::Served {
                    let ok = ack.status == AckStatus::Accepted as i32
                        || ack.status == AckStatus::Duplicate as i32;
                    let session = ack.vote_session.clone().filter(|_| ok);
                    if let Some(s) = &session {
                        let counter = if s.counter_id.is_empty() {
                            &e.counter_id
                        } else {
                            &s.counter_id
                        };
                        bump(&mut self.summary.sessions_by_counter, counter);
                    }
                    self.served.insert(e.event_id.clone(), session);
                }
                tracing::debug!(event_id = %e.event_id, kind = e.kind.as_str_name(), status, "event acknowledged");
                self.log(json!({
                    "kind": "event", "seq": seq, "real_s": real, "attempts": attempts,
                    "event": e,
                    "ack": {
                        "status": status, "event_id": ack.event_id, "detail": ack.detail,
                        "vote_session": ack.vote_session.as_ref().map(session_json),
                    },
                }));
                Ok(())
            }
            Err(st) => {
                self.log(json!({
                    "kind": "event", "seq": seq, "real_s": real, "attempts": attempts,
                    "event": e,
                    "error": {"code": format!("{:?}", st.code()), "message": st.message()},
                }));
                if matches!(st.code(), Code::Unauthenticated | Code::PermissionDenied) {
                    return Err(SimError::Rejected {
                        code: st.code(),
                        message: st.message().to_string(),
                    });
                }
                self.summary.events_failed += 1;
                self.summary.errors += 1;
                tracing::error!(event_id = %e.event_id, code = ?st.code(), message = st.message(), attempts, "event not delivered");
                Ok(())
            }
        }
    }

    async fn reconcile(&mut self, r: &PlannedReconcile) -> Result<(), SimError> {
        let (res, attempts) = self
            .sender
            .reconcile(r.to_proto(&self.site_id, &self.source_id))
            .await;
        self.summary.retries += u64::from(attempts.saturating_sub(1));
        let real = self.real_now();
        match res {
            Ok(repaired) => {
                self.summary.reconciles += 1;
                self.summary.repaired += u64::from(repaired);
                if repaired > 0 {
                    tracing::info!(repaired, "reconcile repaired counters");
                }
                self.log(json!({"kind": "reconcile", "real_s": real, "snapshot": r, "repaired": repaired}));
                Ok(())
            }
            Err(st) => {
                self.log(json!({
                    "kind": "reconcile", "real_s": real, "snapshot": r,
                    "error": {"code": format!("{:?}", st.code()), "message": st.message()},
                }));
                if matches!(st.code(), Code::Unauthenticated | Code::PermissionDenied) {
                    return Err(SimError::Rejected {
                        code: st.code(),
                        message: st.message().to_string(),
                    });
                }
                self.summary.errors += 1;
                tracing::warn!(code = ?st.code(), message = st.message(), "reconcile failed");
                Ok(())
            }
        }
    }

    fn citizen_done(&mut self, c: &PlannedCitizen, outcome: &str, session: Option<&VoteSession>) {
        bump(&mut self.summary.citizens, outcome);
        let real = self.real_now();
        self.log(json!({
            "kind": "citizen", "real_s": real, "citizen": c, "outcome": outcome,
            "session_id": session.map(|s| s.session_id.clone()),
        }));
    }

    async fn citizen(&mut self, c: &PlannedCitizen) {
        let session = match self.served.get(&c.served_event_id) {
            None => return self.citizen_done(c, "no_ack", None),
            Some(None) => return self.citizen_done(c, "no_session", None),
            Some(Some(s)) => s.clone(),
        };
        let CitizenChoice::Vote {
            face,
            reason,
            double_press,
            second_delay_s,
        } = c.choice.clone()
        else {
            return self.citizen_done(c, "left", Some(&session));
        };
        let lit = session.keypad == KeypadState::Armed as i32
            || session.keypad == KeypadState::Pending as i32;
        let unit = self.sim.keypad_units.get(&c.counter_id).copied();
        let (true, Some(unit), true) = (lit, unit, self.panel.enabled()) else {
            return self.citizen_done(c, "no_keypad", Some(&session));
        };
        // the citizen looks at the keypad: wait (real time) until it lights up, within the
        // session's window
        let mut wait = self.sim.keypad_wait;
        if let Some(exp) = session.expires_at.as_ref().and_then(ts_to_utc) {
            let left = (exp - Utc::now()).to_std().unwrap_or(Duration::ZERO);
            wait = wait.min(left.saturating_sub(Duration::from_millis(200)));
        }
        let deadline = Instant::now() + wait;
        loop {
            match self.panel.state(unit).await {
                Ok(s) if s == "ARMED" => break,
                Ok(_) if Instant::now() < deadline => {
                    tokio::time::sleep(Duration::from_millis(25)).await;
                }
                Ok(_) => return self.citizen_done(c, "keypad_dark", Some(&session)),
                Err(e) => {
                    tracing::warn!(unit, error = %e, "keypad simulator unreachable");
                    self.summary.errors += 1;
                    return self.citizen_done(c, "keypad_error", Some(&session));
                }
            }
        }
        let counted = self.press(c, &session, unit, face_key(face)).await;
        if counted == Some(true) {
            bump(&mut self.summary.votes_by_counter, &c.counter_id);
        }
        if double_press {
            tokio::time::sleep(self.real(second_delay_s)).await;
            self.press(c, &session, unit, face_key(face)).await;
        }
        if let (Face::Red, Some(k)) = (face, reason) {
            tokio::time::sleep(self.real(second_delay_s)).await;
            self.press(c, &session, unit, Key::Reason(k)).await;
        }
        let outcome = match counted {
            Some(true) => {
                // the citizen sees the keypad take the vote (the server reads and acknowledges
                // it, the keypad goes dark) before the clerk calls the next one; this keeps a
                // fast run from ending the session with the vote still on the keypad
                if self.await_confirmation(unit).await {
                    "voted"
                } else {
                    self.summary.votes_unconfirmed += 1;
                    "voted_unconfirmed"
                }
            }
            Some(false) => "ignored",
            None => "keypad_error",
        };
        self.citizen_done(c, outcome, Some(&session));
    }

    /// Waits (real time, at most `confirm_wait`) until the unit has neither a latched vote nor
    /// a pending reason choice.
    async fn await_confirmation(&mut self, unit: u8) -> bool {
        let deadline = Instant::now() + self.sim.confirm_wait;
        loop {
            match self.panel.state(unit).await {
                Ok(s) if s == "IDLE" || s == "ARMED" => return true,
                Ok(_) if Instant::now() < deadline => {
                    tokio::time::sleep(Duration::from_millis(25)).await;
                }
                Ok(_) => return false,
                Err(e) => {
                    tracing::warn!(unit, error = %e, "keypad simulator unreachable");
                    return false;
                }
            }
        }
    }

    async fn press(
        &mut self,
        c: &PlannedCitizen,
        session: &VoteSession,
        unit: u8,
        key: Key,
    ) -> Option<bool> {
        let res = self.panel.press(unit, key).await;
        let real = self.real_now();
        let (counted, error) = match &res {
            Ok(counted) => (Some(*counted), None),
            Err(e) => (None, Some(e.to_string())),
        };
        match counted {
            Some(true) => {
                self.summary.presses += 1;
                self.summary.presses_counted += 1;
            }
            Some(false) => {
                self.summary.presses += 1;
                self.summary.presses_ignored += 1;
            }
            None => {
                self.summary.errors += 1;
                tracing::warn!(unit, error = ?error, "press failed");
            }
        }
        tracing::debug!(unit, key = %key_word(key), ?counted, ticket = %c.ticket_id, "press");
        self.log(json!({
            "kind": "press", "real_s": real, "sim_at": c.at,
            "ticket_id": c.ticket_id, "counter_id": c.counter_id, "unit": unit,
            "session_id": session.session_id, "key": key_word(key),
            "counted": counted, "error": error,
        }));
        counted
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        args: QueueSimArgs,
    }

    #[test]
    fn defaults_match_the_sample_office() {
        let a = Cli::try_parse_from(["x"]).expect("parse").args;
        assert_eq!(a.server, "http://127.0.0.1:50051");
        assert_eq!(
            a.counters,
            (1..=8).map(|i| format!("S{i:02}")).collect::<Vec<_>>()
        );
        assert_eq!(a.services, ["A", "C", "S", "U"]);
        assert_eq!(a.speed, 60.0);
        assert!(!a.stream && a.keypads.is_none() && a.tickets.is_none());
        assert_eq!(a.faces, FaceMix::default());
        let sim = QueueSim::new(SimPlan::new(1).counters(a.counters));
        assert_eq!(sim.keypad_units.get("S01"), Some(&1));
        assert_eq!(sim.keypad_units.get("S08"), Some(&8));
    }

    #[test]
    fn options_parse() {
        let a = Cli::try_parse_from([
            "x",
            "--duration",
            "1h30m",
            "--counters",
            "A1,A2",
            "--keypad-map",
            "A1=3,A2=4",
            "--start",
            "2026-11-23T09:00:00+01:00",
            "--stream",
            "--keypads",
            "127.0.0.1:7070",
            "--faces",
            "70,20,10",
            "--tickets",
            "12",
        ])
        .expect("parse")
        .args;
        assert_eq!(a.duration, Some(Duration::from_secs(5400)));
        assert_eq!(a.keypad_map, [("A1".to_string(), 3), ("A2".to_string(), 4)]);
        assert_eq!(
            a.start.map(|t| t.to_rfc3339()),
            Some("2026-11-23T08:00:00+00:00".into())
        );
        assert!(a.stream);
        assert_eq!(a.tickets, Some(12));
        assert_eq!(parse_duration("45s"), Ok(Duration::from_secs(45)));
        assert_eq!(parse_duration("90"), Ok(Duration::from_secs(90)));
        assert!(parse_duration("3d").is_err());
        assert!(parse_map_entry("S01=0").is_err());
        assert!(parse_start("25:00").is_err());
        assert!(parse_start("09:15").is_ok());
        assert!(Cli::try_parse_from(["x", "--faces", "1,2"]).is_err());
    }
}
