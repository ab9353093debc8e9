//! The traffic model: a pure discrete-event simulation of an office's queue, from a [`SimPlan`]
//! (seed, counters, services, start, limits, rates) to a [`Plan`]: every ticket event, every
//! reconcile snapshot and every citizen's decision, in simulated-time order. Nothing here talks
//! to the network or reads a clock, so a seed always gives the same plan.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};
use std::time::Duration;

use chrono::{DateTime, TimeZone, Timelike, Utc};
use faccia_proto::v1::EventType;
use faccia_serial::Face;
use serde::Serialize;

use crate::rng::Rng;
use crate::SimError;

/// What one service (queue) looks like: its share of arrivals and its service times.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ServiceProfile {
    pub code: String,
    /// Relative share of arrivals.
    pub weight: f64,
    /// Mean service time (SERVICE_STARTED to SERVED), seconds.
    pub mean_service_s: f64,
    /// Coefficient of variation of the (log-normal) service time.
    pub cv: f64,
}

impl ServiceProfile {
    /// Defaults for the sample office's services (`etc/faccia.toml`): A = certificates (short),
    /// C = electronic identity card (long), S = civil status, U = information desk; any other
    /// code gets a middle profile.
    pub fn for_code(code: &str) -> Self {
        let (weight, mean) = match code {
            "A" => (40.0, 240.0),
            "C" => (20.0, 600.0),
            "S" => (15.0, 420.0),
            "U" => (25.0, 300.0),
            _ => (20.0, 360.0),
        };
        ServiceProfile {
            code: code.to_string(),
            weight,
            mean_service_s: mean,
            cv: 0.5,
        }
    }
}

/// Probabilities of the things that happen to tickets and citizens.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Rates {
    /// A waiting citizen may give up (CANCELLED) if not called within their patience.
    pub cancel: f64,
    /// The citizen never shows up after the call (RECALLED twice, then NO_SHOW).
    pub no_show: f64,
    /// The citizen shows up only after a RECALLED.
    pub recall: f64,
    /// The ticket is sent to another service once (TRANSFERRED) instead of being served.
    pub transfer: f64,
    /// A no-show citizen comes back a few minutes later and the ticket is put back in the
    /// queue (REQUEUED), once.
    pub requeue: f64,
    /// A served citizen votes.
    pub vote: f64,
    /// A voting citizen presses the face key twice.
    pub double_press: f64,
    /// After red, the citizen presses a reason key.
    pub reason_after_red: f64,
}

impl Default for Rates {
    fn default() -> Self {
        Rates {
            cancel: 0.05,
            no_show: 0.05,
            recall: 0.08,
            transfer: 0.05,
            requeue: 0.3,
            vote: 0.75,
            double_press: 0.10,
            reason_after_red: 0.6,
        }
    }
}

/// Share of each face among votes.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct FaceMix {
    pub green: f64,
    pub yellow: f64,
    pub red: f64,
}

impl Default for FaceMix {
    fn default() -> Self {
        FaceMix {
            green: 0.80,
            yellow: 0.13,
            red: 0.07,
        }
    }
}

impl std::str::FromStr for FaceMix {
    type Err = String;
    /// `80,13,7` (green, yellow, red; any scale, normalised to shares).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let v: Vec<f64> = s
            .split(',')
            .map(|w| w.trim().parse::<f64>())
            .collect::<Result<_, _>>()
            .map_err(|e| format!("face mix {s:?}: {e}"))?;
        match v.as_slice() {
            [g, y, r] if *g >= 0.0 && *y >= 0.0 && *r >= 0.0 && g + y + r > 0.0 => {
                let sum = g + y + r;
                Ok(FaceMix {
                    green: g / sum,
                    yellow: y / sum,
                    red: r / sum,
                })
            }
            _ => Err(format!(
                "face mix {s:?}: expected three non-negative numbers green,yellow,red"
            )),
        }
    }
}

/// Everything the traffic depends on. Same plan, same traffic.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SimPlan {
    pub seed: u64,
    /// The queue-system instance the events come from.
    pub source_id: String,
    pub counters: Vec<String>,
    pub services: Vec<ServiceProfile>,
    /// Simulated start (counters open then).
    pub start: DateTime<Utc>,
    /// Issue this many tickets, then let the queue drain.
    pub tickets: Option<u32>,
    /// Arrivals stop this long (simulated) after the start; the queue then drains.
    pub duration: Option<Duration>,
    /// Arrivals per hour at the morning peak; `None` = about 90% of the counters' capacity.
    pub peak_arrivals_per_hour: Option<f64>,
    pub rates: Rates,
    pub faces: FaceMix,
    /// Reconcile every this many simulated seconds (uniform between the two).
    pub reconcile_every_s: (f64, f64),
    /// Citizens already at the door when the office opens: they take a ticket in the first
    /// five minutes, on top of the arrivals by time of day.
    pub opening_crowd: u32,
    /// A citizen who waited longer than this (simulated seconds, first call) votes with
    /// [`SimPlan::impatient_faces`] instead of [`SimPlan::faces`]; `None` = waiting never
    /// changes the vote.
    pub impatient_after_s: Option<f64>,
    pub impatient_faces: FaceMix,
}

/// The sample office of `etc/faccia.toml`: counters S01..S08.
pub fn default_counters() -> Vec<String> {
    (1..=8).map(|i| format!("S{i:02}")).collect()
}

/// The sample office of `etc/faccia.toml`: services A, C, S, U.
pub fn default_services() -> Vec<String> {
    ["A", "C", "S", "U"].iter().map(|s| s.to_string()).collect()
}

/// Today (by the Europe/Rome calendar) at `hh:mm` Europe/Rome.
pub fn today_at(now: DateTime<Utc>, hour: u32, minute: u32) -> DateTime<Utc> {
    let local = now.with_timezone(&chrono_tz::Europe::Rome).date_naive();
    local
        .and_hms_opt(hour, minute, 0)
        .and_then(|naive| {
            chrono_tz::Europe::Rome
                .from_local_datetime(&naive)
                .earliest()
        })
        .map(|t| t.with_timezone(&Utc))
        .unwrap_or(now)
}

impl SimPlan {
    /// The sample office, today at 08:30 Europe/Rome, 100 tickets.
    pub fn new(seed: u64) -> Self {
        SimPlan {
            seed,
            source_id: "faccia-sim".into(),
            counters: default_counters(),
            services: default_services()
                .iter()
                .map(|c| ServiceProfile::for_code(c))
                .collect(),
            start: today_at(Utc::now(), 8, 30),
            tickets: Some(100),
            duration: None,
            peak_arrivals_per_hour: None,
            rates: Rates::default(),
            faces: FaceMix::default(),
            reconcile_every_s: (10.0, 30.0),
            opening_crowd: 0,
            impatient_after_s: None,
            impatient_faces: FaceMix {
                green: 30.0,
                yellow: 20.0,
                red: 50.0,
            },
        }
    }

    /// Citizens waiting at the door at the start (see [`SimPlan::opening_crowd`]).
    pub fn opening_crowd(mut self, n: u32) -> Self {
        self.opening_crowd = n;
        self
    }

    /// A busy morning, as the demo shows it: 40 citizens at the door at opening, arrivals at
    /// the peak a little above what the counters can serve (so the queue builds by mid-morning
    /// and eases at lunch), and citizens who waited over 15 minutes voting mostly red.
    pub fn busy_morning(mut self) -> Self {
        let capacity = self.peak_rate() / 0.9;
        self.peak_arrivals_per_hour = Some(1.2 * capacity);
        self.opening_crowd(40).impatience(
            Some(15.0 * 60.0),
            FaceMix {
                green: 20.0,
                yellow: 20.0,
                red: 60.0,
            },
        )
    }

    /// After waiting longer than `after_s`, citizens vote with `faces`.
    pub fn impatience(mut self, after_s: Option<f64>, faces: FaceMix) -> Self {
        self.impatient_after_s = after_s;
        self.impatient_faces = faces;
        self
    }

    pub fn seed(mut self, seed: u64) -> Self {
        self.seed = seed;
        self
    }
    pub fn source_id(mut self, id: impl Into<String>) -> Self {
        self.source_id = id.into();
        self
    }
    pub fn counters<S: Into<String>>(mut self, c: impl IntoIterator<Item = S>) -> Self {
        self.counters = c.into_iter().map(Into::into).collect();
        self
    }
    /// Services by code, with the default profile of each code.
    pub fn services<S: AsRef<str>>(mut self, s: impl IntoIterator<Item = S>) -> Self {
        self.services = s
            .into_iter()
            .map(|c| ServiceProfile::for_code(c.as_ref()))
            .collect();
        self
    }
    pub fn service_profiles(mut self, s: Vec<ServiceProfile>) -> Self {
        self.services = s;
        self
    }
    pub fn start(mut self, t: DateTime<Utc>) -> Self {
        self.start = t;
        self
    }
    pub fn tickets(mut self, n: Option<u32>) -> Self {
        self.tickets = n;
        self
    }
    pub fn duration(mut self, d: Option<Duration>) -> Self {
        self.duration = d;
        self
    }
    pub fn peak_arrivals_per_hour(mut self, r: Option<f64>) -> Self {
        self.peak_arrivals_per_hour = r;
        self
    }
    pub fn rates(mut self, r: Rates) -> Self {
        self.rates = r;
        self
    }
    pub fn faces(mut self, f: FaceMix) -> Self {
        self.faces = f;
        self
    }

    fn validate(&self) -> Result<(), SimError> {
        let bad = |m: String| Err(SimError::Config(m));
        if self.counters.is_empty() {
            return bad("no counters".into());
        }
        if self.services.is_empty() {
            return bad("no services".into());
        }
        let mut seen = std::collections::HashSet::new();
        for c in &self.counters {
            if c.trim().is_empty() || !seen.insert(c) {
                return bad(format!("counter id {c:?} is empty or repeated"));
            }
        }
        for s in &self.services {
            if s.code.trim().is_empty()
                || !s.mean_service_s.is_finite()
                || s.mean_service_s <= 0.0
                || s.weight.is_nan()
                || s.weight < 0.0
            {
                return bad(format!("service {:?} has a bad profile", s.code));
            }
        }
        if self.services.iter().all(|s| s.weight <= 0.0) {
            return bad("every service has weight 0".into());
        }
        let (lo, hi) = self.reconcile_every_s;
        if lo.is_nan() || hi.is_nan() || lo <= 0.0 || hi < lo {
            return bad(format!("bad reconcile interval {lo}..{hi} s"));
        }
        if self
            .peak_arrivals_per_hour
            .is_some_and(|r| !r.is_finite() || r <= 0.0)
        {
            return bad("peak arrivals per hour must be positive".into());
        }
        Ok(())
    }

    /// Peak arrival rate per hour.
    pub fn peak_rate(&self) -> f64 {
        if let Some(r) = self.peak_arrivals_per_hour {
            return r;
        }
        let total_w: f64 = self.services.iter().map(|s| s.weight.max(0.0)).sum();
        let mean_s: f64 = self
            .services
            .iter()
            .map(|s| s.weight.max(0.0) * s.mean_service_s)
            .sum::<f64>()
            / total_w.max(f64::MIN_POSITIVE);
        // call, walk to the desk, leave: about a minute per ticket on top of the service
        let per_counter = 3600.0 / (mean_s + 60.0);
        0.9 * per_counter * self.counters.len() as f64
    }

    /// Builds the whole plan (pure).
    pub fn plan(&self) -> Result<Plan, SimError> {
        self.validate()?;
        Ok(Des::new(self).run())
    }
}

/// Arrival-rate factor (0..=1) by local time of day: low before opening, a morning peak
/// 09:30-11:30, a lunch dip 13:00-14:00, a smaller afternoon peak; never 0 so that a run at any
/// hour has traffic.
pub fn rate_factor(t: DateTime<Utc>) -> f64 {
    let local = t.with_timezone(&chrono_tz::Europe::Rome);
    let h = f64::from(local.hour()) + f64::from(local.minute()) / 60.0;
    const CURVE: [(f64, f64); 11] = [
        (0.0, 0.1),
        (7.5, 0.1),
        (8.5, 0.6),
        (9.5, 1.0),
        (11.5, 1.0),
        (12.5, 0.6),
        (13.0, 0.35),
        (14.0, 0.35),
        (15.0, 0.7),
        (17.0, 0.4),
        (19.0, 0.1),
    ];
    let mut prev = CURVE[0];
    for p in CURVE.iter().skip(1) {
        if h < p.0 {
            let f = (h - prev.0) / (p.0 - prev.0);
            return prev.1 + f * (p.1 - prev.1);
        }
        prev = *p;
    }
    prev.1
}

/// One ticket event to send, with everything but the source id.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PlannedEvent {
    pub event_id: String,
    pub occurred_at: DateTime<Utc>,
    #[serde(serialize_with = "ser_event_type")]
    pub kind: EventType,
    pub ticket_id: String,
    pub display_number: String,
    pub service_code: String,
    pub counter_id: String,
    pub transfer_to_service: String,
}

pub(crate) fn ser_event_type<S: serde::Serializer>(t: &EventType, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(t.as_str_name())
}

fn ts(t: DateTime<Utc>) -> prost_types::Timestamp {
    prost_types::Timestamp {
        seconds: t.timestamp(),
        nanos: t.timestamp_subsec_nanos() as i32,
    }
}

impl PlannedEvent {
    pub fn to_proto(&self, site_id: &str, source_id: &str) -> faccia_proto::v1::TicketEvent {
        faccia_proto::v1::TicketEvent {
            site_id: site_id.to_string(),
            source_id: source_id.to_string(),
            event_id: self.event_id.clone(),
            occurred_at: Some(ts(self.occurred_at)),
            r#type: self.kind as i32,
            ticket_id: self.ticket_id.clone(),
            display_number: self.display_number.clone(),
            service_code: self.service_code.clone(),
            counter_id: self.counter_id.clone(),
            operator_ref: String::new(),
            transfer_to_service: self.transfer_to_service.clone(),
            priority: 0,
        }
    }
}

/// What one counter holds at a reconcile.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PlannedCounter {
    pub counter_id: String,
    pub open: bool,
    pub ticket_id: String,
    /// CALLED, SERVICE_STARTED or SERVED; `None` with no ticket.
    #[serde(serialize_with = "ser_opt_event_type")]
    pub ticket_state: Option<EventType>,
}

fn ser_opt_event_type<S: serde::Serializer>(
    t: &Option<EventType>,
    s: S,
) -> Result<S::Ok, S::Error> {
    match t {
        Some(t) => s.serialize_str(t.as_str_name()),
        None => s.serialize_none(),
    }
}

/// A `Reconcile` call.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PlannedReconcile {
    pub at: DateTime<Utc>,
    pub counters: Vec<PlannedCounter>,
}

impl PlannedReconcile {
    pub fn to_proto(&self, site_id: &str, source_id: &str) -> faccia_proto::v1::CounterSnapshot {
        faccia_proto::v1::CounterSnapshot {
            site_id: site_id.to_string(),
            source_id: source_id.to_string(),
            at: Some(ts(self.at)),
            counters: self
                .counters
                .iter()
                .map(|c| faccia_proto::v1::CounterState {
                    counter_id: c.counter_id.clone(),
                    open: c.open,
                    ticket_id: c.ticket_id.clone(),
                    ticket_state: c.ticket_state.map_or(0, |t| t as i32),
                })
                .collect(),
        }
    }
}

/// What a served citizen does at the keypad.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "choice", rename_all = "snake_case")]
pub enum CitizenChoice {
    Vote {
        face: Face,
        /// Reason key pressed after red.
        reason: Option<u8>,
        /// Presses the face key a second time (the keypad must ignore it).
        double_press: bool,
        /// Simulated seconds between the face and the second press / the reason key.
        second_delay_s: f64,
    },
    Leave,
}

/// A served citizen at the keypad, `at` = served + human delay.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PlannedCitizen {
    pub at: DateTime<Utc>,
    pub ticket_id: String,
    pub display_number: String,
    pub counter_id: String,
    /// The SERVED event whose ack tells whether a vote session opened.
    pub served_event_id: String,
    pub served_at: DateTime<Utc>,
    pub choice: CitizenChoice,
}

/// One step of the plan.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Action {
    Event(PlannedEvent),
    Reconcile(PlannedReconcile),
    Citizen(PlannedCitizen),
}

impl Action {
    pub fn at(&self) -> DateTime<Utc> {
        match self {
            Action::Event(e) => e.occurred_at,
            Action::Reconcile(r) => r.at,
            Action::Citizen(c) => c.at,
        }
    }
}

/// The whole simulated day, in time order.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Plan {
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
    pub tickets: u32,
    pub actions: Vec<Action>,
}

impl Plan {
    pub fn events(&self) -> impl Iterator<Item = &PlannedEvent> {
        self.actions.iter().filter_map(|a| match a {
            Action::Event(e) => Some(e),
            _ => None,
        })
    }
    pub fn citizens(&self) -> impl Iterator<Item = &PlannedCitizen> {
        self.actions.iter().filter_map(|a| match a {
            Action::Citizen(c) => Some(c),
            _ => None,
        })
    }
}

// ---------------------------------------------------------------------------------------------
// discrete-event simulation

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Ev {
    Arrival,
    /// One of the opening crowd takes a ticket (no next arrival follows from it).
    CrowdArrival,
    Abandon(usize),
    Step(usize),
    CounterFree(usize),
    Reconcile,
    Citizen(usize),
    Requeue(usize),
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum VisitStep {
    Recalled,
    NoShow,
    Started,
    Served,
    Transferred(usize),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum TState {
    Waiting,
    /// NO_SHOW, coming back (REQUEUED).
    Away,
    AtCounter(usize),
    Done,
}

struct Ticket {
    id: String,
    display: String,
    service: usize,
    step: u32,
    state: TState,
    transferred: bool,
    requeued: bool,
    rng: Rng,
    /// Remaining steps of the current visit: (delay before it in s, step).
    visit: VecDeque<(f64, VisitStep)>,
    /// Simulated ms of the ticket's issue and of its first call.
    issued_ms: i64,
    first_called_ms: Option<i64>,
}

struct Counter {
    id: String,
    busy: bool,
    ticket: Option<usize>,
    state: Option<EventType>,
    open: bool,
}

const MAX_SPAN_MS: i64 = 7 * 24 * 3600 * 1000;

struct Des<'a> {
    p: &'a SimPlan,
    rng: Rng,
    tag: String,
    heap: BinaryHeap<Reverse<(i64, u64, Ev)>>,
    seq: u64,
    tickets: Vec<Ticket>,
    counters: Vec<Counter>,
    waiting: VecDeque<usize>,
    per_service_no: Vec<u32>,
    arrivals_open: bool,
    arrivals_until: Option<i64>,
    peak_per_ms: f64,
    actions: Vec<Action>,
    citizens: Vec<Option<PlannedCitizen>>,
    finished: bool,
    now: i64,
}

impl<'a> Des<'a> {
    fn new(p: &'a SimPlan) -> Self {
        let tag = format!("sim{}-{}", p.seed, p.start.format("%Y%m%dT%H%M"));
        let arrivals_until = match (p.tickets, p.duration) {
            (_, Some(d)) => Some(d.as_millis().min(MAX_SPAN_MS as u128) as i64),
            (Some(_), None) => None,
            (None, None) => {
                // until 17:00 local, at least an hour
                let close = today_at(p.start, 17, 0);
                Some((close - p.start).num_milliseconds().max(3600 * 1000))
            }
        };
        Des {
            p,
            rng: Rng::new(p.seed),
            tag,
            heap: BinaryHeap::new(),
            seq: 0,
            tickets: Vec::new(),
            counters: p
                .counters
                .iter()
                .map(|c| Counter {
                    id: c.clone(),
                    busy: true,
                    ticket: None,
                    state: None,
                    open: false,
                })
                .collect(),
            waiting: VecDeque::new(),
            per_service_no: vec![0; p.services.len()],
            arrivals_open: p.tickets != Some(0),
            arrivals_until,
            peak_per_ms: p.peak_rate() / 3_600_000.0,
            actions: Vec::new(),
            citizens: Vec::new(),
            finished: false,
            now: 0,
        }
    }

    fn at(&self, ms: i64) -> DateTime<Utc> {
        self.p.start + chrono::Duration::milliseconds(ms)
    }

    fn schedule(&mut self, ms: i64, ev: Ev) {
        self.seq += 1;
        self.heap.push(Reverse((ms, self.seq, ev)));
    }

    fn secs(s: f64) -> i64 {
        (s * 1000.0).round() as i64
    }

    fn emit_event(&mut self, kind: EventType, ticket: Option<usize>, counter: Option<usize>) {
        let counter_id = counter
            .map(|c| self.counters[c].id.clone())
            .unwrap_or_default();
        let ev = match ticket {
            Some(t) => {
                let tk = &mut self.tickets[t];
                tk.step += 1;
                let service = &self.p.services[tk.service].code;
                PlannedEvent {
                    event_id: format!("{}-{:02}", tk.id, tk.step),
                    occurred_at: self.p.start + chrono::Duration::milliseconds(self.now),
                    kind,
                    ticket_id: tk.id.clone(),
                    display_number: tk.display.clone(),
                    service_code: service.clone(),
                    counter_id,
                    transfer_to_service: String::new(),
                }
            }
            None => PlannedEvent {
                event_id: format!(
                    "{}-{}-{}",
                    self.tag,
                    counter_id,
                    if kind == EventType::CounterOpened {
                        "open"
                    } else {
                        "close"
                    }
                ),
                occurred_at: self.at(self.now),
                kind,
                ticket_id: String::new(),
                display_number: String::new(),
                service_code: String::new(),
                counter_id,
                transfer_to_service: String::new(),
            },
        };
        self.actions.push(Action::Event(ev));
    }

    fn run(mut self) -> Plan {
        for i in 0..self.counters.len() {
            self.schedule(Self::secs(i as f64), Ev::CounterFree(i));
        }
        if self.arrivals_open {
            self.schedule_arrival(0);
            for _ in 0..self.p.opening_crowd {
                let at = self.rng.uniform(0.0, 300.0);
                self.schedule(Self::secs(at), Ev::CrowdArrival);
            }
        }
        let first = self
            .rng
            .uniform(self.p.reconcile_every_s.0, self.p.reconcile_every_s.1);
        self.schedule(Self::secs(first), Ev::Reconcile);
        while let Some(Reverse((ms, _, ev))) = self.heap.pop() {
            if self.finished {
                break;
            }
            self.now = ms;
            if ms > MAX_SPAN_MS {
                tracing::warn!("simulation stopped after 7 simulated days");
                break;
            }
            match ev {
                Ev::Arrival => self.arrival(),
                Ev::CrowdArrival => {
                    if self.arrivals_open {
                        self.issue();
                    }
                }
                Ev::Abandon(t) => self.abandon(t),
                Ev::Requeue(t) => self.requeue(t),
                Ev::Step(t) => self.step(t),
                Ev::CounterFree(c) => self.counter_free(c),
                Ev::Citizen(i) => {
                    if let Some(c) = self.citizens.get_mut(i).and_then(Option::take) {
                        self.actions.push(Action::Citizen(c));
                    }
                }
                Ev::Reconcile => {
                    self.reconcile();
                    let d = self
                        .rng
                        .uniform(self.p.reconcile_every_s.0, self.p.reconcile_every_s.1);
                    self.schedule(ms + Self::secs(d), Ev::Reconcile);
                }
            }
            self.check_end();
        }
        let end = self.actions.last().map(Action::at).unwrap_or(self.p.start);
        Plan {
            start: self.p.start,
            end,
            tickets: self.tickets.len() as u32,
            actions: self.actions,
        }
    }

    fn schedule_arrival(&mut self, from: i64) {
        // non-homogeneous Poisson process by thinning
        let mut t = from as f64;
        loop {
            t += self.rng.exp(1.0 / self.peak_per_ms);
            let ms = t as i64;
            if ms > MAX_SPAN_MS || self.arrivals_until.is_some_and(|u| ms >= u) {
                self.arrivals_open = false;
                return;
            }
            if self.rng.chance(rate_factor(self.at(ms))) {
                self.schedule(ms, Ev::Arrival);
                return;
            }
        }
    }

    fn arrival(&mut self) {
        if !self.arrivals_open {
            return;
        }
        self.issue();
        if self
            .p
            .tickets
            .is_some_and(|max| self.tickets.len() as u32 >= max)
        {
            self.arrivals_open = false;
        } else {
            self.schedule_arrival(self.now);
        }
        self.dispatch();
    }

    /// A citizen takes a ticket.
    fn issue(&mut self) {
        let weights: Vec<f64> = self.p.services.iter().map(|s| s.weight).collect();
        let service = self.rng.weighted(&weights);
        let n = self.tickets.len() + 1;
        self.per_service_no[service] += 1;
        let code = &self.p.services[service].code;
        let display = format!("{}{:03}", code, self.per_service_no[service] % 1000);
        let id = format!("{}-{:04}", self.tag, n);
        let rng = Rng::fork(self.p.seed, n as u64);
        self.tickets.push(Ticket {
            id,
            display,
            service,
            step: 0,
            state: TState::Waiting,
            transferred: false,
            requeued: false,
            rng,
            visit: VecDeque::new(),
            issued_ms: self.now,
            first_called_ms: None,
        });
        let t = n - 1;
        self.emit_event(EventType::Issued, Some(t), None);
        self.waiting.push_back(t);
        let tk = &mut self.tickets[t];
        if tk.rng.chance(self.p.rates.cancel) {
            let patience = 30.0 + tk.rng.exp(240.0);
            self.schedule(self.now + Self::secs(patience), Ev::Abandon(t));
        }
        if self
            .p
            .tickets
            .is_some_and(|max| self.tickets.len() as u32 >= max)
        {
            self.arrivals_open = false;
        }
        self.dispatch();
    }

    fn abandon(&mut self, t: usize) {
        if self.tickets[t].state != TState::Waiting {
            return;
        }
        self.waiting.retain(|w| *w != t);
        self.tickets[t].state = TState::Done;
        self.emit_event(EventType::Cancelled, Some(t), None);
    }

    fn requeue(&mut self, t: usize) {
        if self.tickets[t].state != TState::Away {
            return;
        }
        self.tickets[t].state = TState::Waiting;
        self.emit_event(EventType::Requeued, Some(t), None);
        self.waiting.push_back(t);
        self.dispatch();
    }

    fn dispatch(&mut self) {
        loop {
            let free: Vec<usize> = (0..self.counters.len())
                .filter(|c| self.counters[*c].open && !self.counters[*c].busy)
                .collect();
            if free.is_empty() || self.waiting.is_empty() {
                return;
            }
            let c = free[self.rng.below(free.len())];
            let Some(t) = self.waiting.pop_front() else {
                return;
            };
            self.call(t, c);
        }
    }

    fn call(&mut self, t: usize, c: usize) {
        self.counters[c].busy = true;
        self.counters[c].ticket = Some(t);
        self.counters[c].state = Some(EventType::Called);
        self.tickets[t].state = TState::AtCounter(c);
        let now = self.now;
        self.tickets[t].first_called_ms.get_or_insert(now);
        self.emit_event(EventType::Called, Some(t), Some(c));
        let rates = &self.p.rates;
        let n_services = self.p.services.len();
        let profile = &self.p.services[self.tickets[t].service];
        let tk = &mut self.tickets[t];
        let r = &mut tk.rng;
        let mut visit = VecDeque::new();
        if r.chance(rates.no_show) {
            visit.push_back((r.uniform(30.0, 60.0), VisitStep::Recalled));
            visit.push_back((r.uniform(30.0, 60.0), VisitStep::Recalled));
            visit.push_back((r.uniform(30.0, 60.0), VisitStep::NoShow));
        } else {
            let walk = if r.chance(rates.recall) {
                visit.push_back((r.uniform(30.0, 60.0), VisitStep::Recalled));
                r.uniform(5.0, 30.0)
            } else {
                r.uniform(10.0, 45.0)
            };
            visit.push_back((walk, VisitStep::Started));
            let service_s = r
                .lognormal(profile.mean_service_s, profile.cv)
                .clamp(20.0, profile.mean_service_s * 5.0);
            if !tk.transferred && n_services > 1 && r.chance(rates.transfer) {
                let mut to = r.below(n_services - 1);
                if to >= tk.service {
                    to += 1;
                }
                // the clerk finds out early that it is the wrong queue
                visit.push_back((service_s * 0.3, VisitStep::Transferred(to)));
            } else {
                visit.push_back((service_s, VisitStep::Served));
            }
        }
        tk.visit = visit;
        self.schedule_next_step(t);
    }

    fn schedule_next_step(&mut self, t: usize) {
        if let Some((d, _)) = self.tickets[t].visit.front() {
            let ms = self.now + Self::secs(*d);
            self.schedule(ms, Ev::Step(t));
        }
    }

    fn step(&mut self, t: usize) {
        let TState::AtCounter(c) = self.tickets[t].state else {
            return;
        };
        let Some((_, step)) = self.tickets[t].visit.pop_front() else {
            return;
        };
        match step {
            VisitStep::Recalled => {
                self.emit_event(EventType::Recalled, Some(t), Some(c));
                self.schedule_next_step(t);
            }
            VisitStep::Started => {
                self.counters[c].state = Some(EventType::ServiceStarted);
                self.emit_event(EventType::ServiceStarted, Some(t), Some(c));
                self.schedule_next_step(t);
            }
            VisitStep::NoShow => {
                self.emit_event(EventType::NoShow, Some(t), Some(c));
                let rate = self.p.rates.requeue;
                let tk = &mut self.tickets[t];
                if !tk.requeued && tk.rng.chance(rate) {
                    tk.requeued = true;
                    tk.state = TState::Away;
                    let back = tk.rng.uniform(120.0, 600.0);
                    self.schedule(self.now + Self::secs(back), Ev::Requeue(t));
                } else {
                    tk.state = TState::Done;
                }
                self.release(c, 2.0, 8.0);
            }
            VisitStep::Transferred(to) => {
                let to_code = self.p.services[to].code.clone();
                let idx = self.actions.len();
                self.emit_event(EventType::Transferred, Some(t), Some(c));
                if let Some(Action::Event(e)) = self.actions.get_mut(idx) {
                    e.transfer_to_service = to_code;
                }
                let tk = &mut self.tickets[t];
                tk.service = to;
                tk.transferred = true;
                tk.state = TState::Waiting;
                self.waiting.push_back(t);
                self.release(c, 3.0, 10.0);
            }
            VisitStep::Served => self.served(t, c),
        }
    }

    fn release(&mut self, c: usize, lo: f64, hi: f64) {
        self.counters[c].ticket = None;
        self.counters[c].state = None;
        let d = self.rng.uniform(lo, hi);
        self.schedule(self.now + Self::secs(d), Ev::CounterFree(c));
    }

    fn served(&mut self, t: usize, c: usize) {
        let idx = self.actions.len();
        self.emit_event(EventType::Served, Some(t), Some(c));
        let served_event_id = match self.actions.get(idx) {
            Some(Action::Event(e)) => e.event_id.clone(),
            _ => String::new(),
        };
        self.counters[c].state = Some(EventType::Served);
        self.tickets[t].state = TState::Done;
        let rates = &self.p.rates;
        let tk = &mut self.tickets[t];
        let waited_s = (tk.first_called_ms.unwrap_or(self.now) - tk.issued_ms) as f64 / 1000.0;
        let faces = match self.p.impatient_after_s {
            Some(limit) if waited_s > limit => self.p.impatient_faces,
            _ => self.p.faces,
        };
        let r = &mut tk.rng;
        let (delay, choice, busy_after) = if r.chance(rates.vote) {
            let face = match r.weighted(&[faces.green, faces.yellow, faces.red]) {
                0 => Face::Green,
                1 => Face::Yellow,
                _ => Face::Red,
            };
            // waiting time is the prevailing reason nationally
            let reason = (face == Face::Red && r.chance(rates.reason_after_red))
                .then(|| r.weighted(&[0.45, 0.2, 0.2, 0.15]) as u8 + 1);
            let double_press = r.chance(rates.double_press);
            let second_delay_s = r.uniform(0.5, 3.0);
            let delay = r.uniform(1.0, 8.0);
            let extra = if reason.is_some() || double_press {
                second_delay_s * 2.0
            } else {
                0.0
            };
            (
                delay,
                CitizenChoice::Vote {
                    face,
                    reason,
                    double_press,
                    second_delay_s,
                },
                delay + extra,
            )
        } else {
            let d = r.uniform(1.0, 3.0);
            (d, CitizenChoice::Leave, d)
        };
        let at = self.p.start + chrono::Duration::milliseconds(self.now + Self::secs(delay));
        let served_at = self.p.start + chrono::Duration::milliseconds(self.now);
        let citizen = PlannedCitizen {
            at,
            ticket_id: tk.id.clone(),
            display_number: tk.display.clone(),
            counter_id: self.counters[c].id.clone(),
            served_event_id,
            served_at,
            choice,
        };
        // the citizen's action joins the others in time order when its time comes
        self.citizens.push(Some(citizen));
        let i = self.citizens.len() - 1;
        self.schedule(self.now + Self::secs(delay), Ev::Citizen(i));
        // the clerk calls the next one only after the citizen has left the desk
        let gap = self.rng.uniform(5.0, 15.0);
        let free_at = self.now + Self::secs(busy_after + gap);
        self.counters[c].ticket = Some(t);
        self.schedule(free_at, Ev::CounterFree(c));
    }

    fn counter_free(&mut self, c: usize) {
        let ctr = &mut self.counters[c];
        if !ctr.open {
            ctr.open = true;
            self.emit_event(EventType::CounterOpened, None, Some(c));
        }
        // a served ticket stays on the counter's display (state SERVED) until the next call
        self.counters[c].busy = false;
        self.dispatch();
    }

    fn reconcile(&mut self) {
        let counters = self
            .counters
            .iter()
            .map(|c| PlannedCounter {
                counter_id: c.id.clone(),
                open: c.open,
                ticket_id: c
                    .ticket
                    .and_then(|t| self.tickets.get(t))
                    .map(|t| t.id.clone())
                    .unwrap_or_default(),
                ticket_state: c.ticket.and(c.state),
            })
            .collect();
        self.actions.push(Action::Reconcile(PlannedReconcile {
            at: self.at(self.now),
            counters,
        }));
    }

    fn check_end(&mut self) {
        if self.finished || self.arrivals_open {
            return;
        }
        if self.tickets.iter().any(|t| t.state != TState::Done)
            || self.counters.iter().any(|c| c.busy || !c.open)
        {
            return;
        }
        let base = self.now;
        for i in 0..self.counters.len() {
            self.now = base + Self::secs(1.0 + i as f64);
            self.counters[i].open = false;
            self.counters[i].ticket = None;
            self.counters[i].state = None;
            self.emit_event(EventType::CounterClosed, None, Some(i));
        }
        self.now += 1000;
        self.reconcile();
        self.finished = true;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::{HashMap, HashSet};

    fn start() -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2026-11-23T08:30:00+01:00")
            .map(|t| t.with_timezone(&Utc))
            .unwrap_or_default()
    }

    fn plan(seed: u64, tickets: u32) -> Plan {
        SimPlan::new(seed)
            .start(start())
            .tickets(Some(tickets))
            .plan()
            .expect("valid plan")
    }

    #[derive(Debug, Clone, Copy, PartialEq)]
    enum St {
        Waiting,
        NoShow,
        Called,
        Started,
        Done,
    }

    /// Checks every rule of the lifecycle; returns (served, terminal) counts.
    fn check_plan(p: &Plan) -> (usize, usize) {
        let mut last_at = p.start;
        let mut tickets: HashMap<&str, (St, String, String, DateTime<Utc>)> = HashMap::new();
        // counter -> (open, holder ticket, citizen still due for holder)
        let mut counters: HashMap<&str, (bool, Option<String>, bool)> = HashMap::new();
        let mut served: HashSet<String> = HashSet::new();
        // what the server's counter table holds, by the contract's rules
        let mut held: HashMap<String, (bool, String, Option<EventType>)> = HashMap::new();
        let mut citizens: HashSet<String> = HashSet::new();
        for a in &p.actions {
            assert!(a.at() >= last_at, "actions out of time order");
            last_at = a.at();
            if let Action::Event(e) = a {
                let h = held.entry(e.counter_id.clone()).or_default();
                match e.kind {
                    EventType::CounterOpened => h.0 = true,
                    EventType::CounterClosed => *h = (false, String::new(), None),
                    EventType::Called | EventType::Recalled => {
                        *h = (true, e.ticket_id.clone(), Some(EventType::Called))
                    }
                    EventType::ServiceStarted | EventType::Served => {
                        *h = (true, e.ticket_id.clone(), Some(e.kind))
                    }
                    EventType::NoShow | EventType::Transferred if h.1 == e.ticket_id => {
                        h.1.clear();
                        h.2 = None;
                    }
                    _ => {}
                }
            }
            match a {
                Action::Event(e) => {
                    let kind = e.kind;
                    if matches!(kind, EventType::CounterOpened | EventType::CounterClosed) {
                        let c = counters
                            .entry(e.counter_id.as_str())
                            .or_insert((false, None, false));
                        if kind == EventType::CounterOpened {
                            assert!(!c.0, "opened twice");
                            c.0 = true;
                        } else {
                            assert!(c.0 && c.1.is_none(), "closed while not open or busy");
                            c.0 = false;
                        }
                        continue;
                    }
                    if kind == EventType::Issued {
                        assert!(!tickets.contains_key(e.ticket_id.as_str()), "issued twice");
                        tickets.insert(
                            &e.ticket_id,
                            (
                                St::Waiting,
                                e.service_code.clone(),
                                String::new(),
                                e.occurred_at,
                            ),
                        );
                        continue;
                    }
                    let t = tickets
                        .get_mut(e.ticket_id.as_str())
                        .expect("event for a ticket never issued");
                    assert!(e.occurred_at >= t.3);
                    t.3 = e.occurred_at;
                    assert_eq!(e.service_code, t.1, "service code of {}", e.event_id);
                    let at_counter = || {
                        assert_eq!(e.counter_id, t.2, "counter of {}", e.event_id);
                    };
                    match (t.0, kind) {
                        (St::Waiting, EventType::Called) => {
                            let c = counters
                                .get_mut(e.counter_id.as_str())
                                .expect("called at a counter never opened");
                            assert!(c.0, "called at a closed counter");
                            assert!(c.1.is_none(), "called while the counter was busy");
                            assert!(!c.2, "called before the last citizen voted");
                            c.1 = Some(e.ticket_id.clone());
                            t.0 = St::Called;
                            t.2 = e.counter_id.clone();
                        }
                        (St::Waiting, EventType::Cancelled) => t.0 = St::Done,
                        (St::Called, EventType::Recalled) => at_counter(),
                        (St::Called, EventType::ServiceStarted) => {
                            at_counter();
                            t.0 = St::Started;
                        }
                        (St::NoShow, EventType::Requeued) => t.0 = St::Waiting,
                        (St::Called, EventType::NoShow) => {
                            at_counter();
                            t.0 = St::NoShow;
                            counters.entry(e.counter_id.as_str()).or_default().1 = None;
                        }
                        (St::Started, EventType::Served) => {
                            at_counter();
                            t.0 = St::Done;
                            served.insert(e.ticket_id.clone());
                            let c = counters.entry(e.counter_id.as_str()).or_default();
                            c.1 = None;
                            c.2 = true;
                        }
                        (St::Started, EventType::Transferred) => {
                            at_counter();
                            assert!(!e.transfer_to_service.is_empty());
                            assert_ne!(e.transfer_to_service, t.1);
                            t.1 = e.transfer_to_service.clone();
                            t.0 = St::Waiting;
                            counters.entry(e.counter_id.as_str()).or_default().1 = None;
                        }
                        (s, k) => panic!("illegal {k:?} in state {s:?} ({})", e.event_id),
                    }
                }
                Action::Citizen(c) => {
                    assert!(served.contains(&c.ticket_id), "citizen without a SERVED");
                    assert!(
                        citizens.insert(c.ticket_id.clone()),
                        "two citizens per ticket"
                    );
                    assert!(c.at > c.served_at);
                    let ctr = counters.entry(c.counter_id.as_str()).or_default();
                    assert!(ctr.2, "citizen at a counter that did not serve them");
                    ctr.2 = false;
                }
                Action::Reconcile(r) => {
                    for c in &r.counters {
                        assert_eq!(c.ticket_id.is_empty(), c.ticket_state.is_none());
                        let h = held.get(&c.counter_id).cloned().unwrap_or_default();
                        assert_eq!(
                            (c.open, c.ticket_id.clone(), c.ticket_state),
                            h,
                            "snapshot of {} at {} disagrees with the events",
                            c.counter_id,
                            r.at
                        );
                    }
                }
            }
        }
        assert!(
            tickets
                .values()
                .all(|t| matches!(t.0, St::Done | St::NoShow)),
            "a ticket never ended"
        );
        assert!(counters.values().all(|c| !c.0), "a counter never closed");
        assert_eq!(
            served.len(),
            citizens.len(),
            "a served ticket without a citizen"
        );
        (served.len(), tickets.len())
    }

    /// The longest wait (s) of any ticket called, and the share of red among votes.
    fn waits_and_red(p: &Plan) -> (f64, f64) {
        let mut issued = std::collections::HashMap::new();
        let mut longest = 0.0f64;
        for e in p.events() {
            match e.kind {
                EventType::Issued => {
                    issued.insert(e.ticket_id.clone(), e.occurred_at);
                }
                EventType::Called => {
                    if let Some(at) = issued.remove(&e.ticket_id) {
                        longest = longest.max((e.occurred_at - at).num_seconds() as f64);
                    }
                }
                _ => {}
            }
        }
        let (mut red, mut votes) = (0.0f64, 0.0f64);
        for c in p.citizens() {
            if let CitizenChoice::Vote { face, .. } = &c.choice {
                votes += 1.0;
                if *face == Face::Red {
                    red += 1.0;
                }
            }
        }
        (longest, red / votes.max(1.0))
    }

    #[test]
    fn an_opening_crowd_builds_a_queue_and_long_waits_bring_red_votes() {
        let calm = SimPlan::new(5)
            .start(start())
            .tickets(None)
            .duration(Some(Duration::from_secs(2 * 3600)))
            .plan()
            .expect("plan");
        let morning = SimPlan::new(5)
            .start(start())
            .tickets(None)
            .duration(Some(Duration::from_secs(2 * 3600)))
            .busy_morning()
            .plan()
            .expect("plan");
        let (calm_wait, calm_red) = waits_and_red(&calm);
        let (wait, red) = waits_and_red(&morning);
        assert!(
            morning.tickets >= calm.tickets + 25,
            "{} {}",
            morning.tickets,
            calm.tickets
        );
        assert!(wait > 20.0 * 60.0, "longest wait {wait} s");
        assert!(calm_wait < 15.0 * 60.0, "calm longest wait {calm_wait} s");
        assert!(wait > calm_wait, "{wait} > {calm_wait}");
        assert!(red > calm_red, "red share {red} > {calm_red}");
    }

    #[test]
    fn same_seed_same_plan_other_seed_other_plan() {
        let a = plan(7, 60);
        let b = plan(7, 60);
        assert_eq!(a, b);
        let c = plan(8, 60);
        assert_ne!(
            a.events().map(|e| &e.event_id).collect::<Vec<_>>(),
            c.events().map(|e| &e.event_id).collect::<Vec<_>>()
        );
    }

    #[test]
    fn every_ticket_follows_a_legal_lifecycle() {
        for seed in 0..20 {
            let p = plan(seed, 150);
            let (served, tickets) = check_plan(&p);
            assert_eq!(tickets, 150);
            assert_eq!(p.tickets, 150);
            assert!(served > 100, "seed {seed}: only {served} served");
        }
    }

    #[test]
    fn event_ids_are_unique_and_derived_from_seed_ticket_step() {
        let p = plan(3, 400);
        let mut ids = HashSet::new();
        for e in p.events() {
            assert!(ids.insert(e.event_id.clone()), "duplicate {}", e.event_id);
            assert!(
                e.event_id.starts_with("sim3-20261123T0730-"),
                "{}",
                e.event_id
            );
            if !e.ticket_id.is_empty() {
                assert!(e.event_id.starts_with(&e.ticket_id));
            }
        }
        // other start: other ids (a rerun another day does not collide)
        let q = SimPlan::new(3)
            .start(start() + chrono::Duration::days(1))
            .tickets(Some(400))
            .plan()
            .expect("plan");
        assert!(q.events().all(|e| !ids.contains(&e.event_id)));
    }

    #[test]
    fn the_whole_mix_happens() {
        let p = plan(11, 1500);
        let count = |k: EventType| p.events().filter(|e| e.kind == k).count();
        assert_eq!(count(EventType::Issued), 1500);
        assert_eq!(count(EventType::CounterOpened), 8);
        assert_eq!(count(EventType::CounterClosed), 8);
        for k in [
            EventType::Recalled,
            EventType::NoShow,
            EventType::Requeued,
            EventType::Cancelled,
            EventType::Transferred,
            EventType::ServiceStarted,
        ] {
            assert!(count(k) > 5, "{k:?}: {}", count(k));
        }
        let ended =
            count(EventType::Served) + count(EventType::NoShow) + count(EventType::Cancelled)
                - count(EventType::Requeued);
        assert_eq!(ended, 1500);
        assert!(
            p.actions
                .iter()
                .filter(|a| matches!(a, Action::Reconcile(_)))
                .count()
                > 100
        );
        // reconcile every 10-30 simulated seconds
        let times: Vec<_> = p
            .actions
            .iter()
            .filter_map(|a| match a {
                Action::Reconcile(r) => Some(r.at),
                _ => None,
            })
            .collect();
        for w in times.windows(2).take(times.len().saturating_sub(2)) {
            let d = (w[1] - w[0]).num_milliseconds();
            assert!((10_000..=30_000).contains(&d), "reconcile gap {d} ms");
        }
    }

    #[test]
    fn about_three_quarters_vote_and_faces_follow_the_mix() {
        let p = plan(5, 4000);
        let (mut votes, mut all, mut green, mut red, mut reasons, mut doubles) = (0, 0, 0, 0, 0, 0);
        for c in p.citizens() {
            all += 1;
            if let CitizenChoice::Vote {
                face,
                reason,
                double_press,
                ..
            } = &c.choice
            {
                votes += 1;
                let delay = (c.at - c.served_at).num_milliseconds();
                assert!((1000..=8000).contains(&delay), "human delay {delay} ms");
                match face {
                    Face::Green => green += 1,
                    Face::Red => red += 1,
                    Face::Yellow => {}
                }
                if reason.is_some() {
                    assert_eq!(*face, Face::Red);
                    reasons += 1;
                }
                if *double_press {
                    doubles += 1;
                }
            }
        }
        assert!(all > 3000);
        let rate = votes as f64 / all as f64;
        assert!((rate - 0.75).abs() < 0.03, "vote rate {rate}");
        let g = green as f64 / votes as f64;
        assert!((g - 0.80).abs() < 0.03, "green share {g}");
        let r = red as f64 / votes as f64;
        assert!((r - 0.07).abs() < 0.02, "red share {r}");
        assert!(reasons > 0 && reasons < red);
        assert!(doubles > 0);
    }

    #[test]
    fn arrivals_follow_the_time_of_day() {
        let at = |h: u32, m: u32| today_at(start(), h, m);
        assert!(rate_factor(at(10, 0)) > 0.95);
        assert!(rate_factor(at(13, 30)) < 0.5);
        assert!(rate_factor(at(8, 0)) < rate_factor(at(9, 0)));
        assert!(rate_factor(at(3, 0)) > 0.0);
        // a whole day: more tickets issued 10-11 than 13-14
        let p = SimPlan::new(9)
            .start(start())
            .tickets(None)
            .duration(None)
            .plan()
            .expect("plan");
        let issued_in = |h: u32| {
            p.events()
                .filter(|e| e.kind == EventType::Issued)
                .filter(|e| e.occurred_at >= at(h, 0) && e.occurred_at < at(h + 1, 0))
                .count()
        };
        assert!(
            issued_in(10) > issued_in(13),
            "{} vs {}",
            issued_in(10),
            issued_in(13)
        );
        assert!(p
            .events()
            .filter(|e| e.kind == EventType::Issued)
            .all(|e| e.occurred_at < at(17, 0)));
        check_plan(&p);
    }

    #[test]
    fn duration_stops_arrivals_and_bad_settings_are_errors() {
        let p = SimPlan::new(2)
            .start(start())
            .tickets(None)
            .duration(Some(Duration::from_secs(1800)))
            .plan()
            .expect("plan");
        let limit = start() + chrono::Duration::seconds(1800);
        assert!(p
            .events()
            .filter(|e| e.kind == EventType::Issued)
            .all(|e| e.occurred_at < limit));
        check_plan(&p);
        assert!(SimPlan::new(1)
            .counters(Vec::<String>::new())
            .plan()
            .is_err());
        assert!(SimPlan::new(1)
            .services(Vec::<String>::new())
            .plan()
            .is_err());
        assert!(SimPlan::new(1).counters(["S01", "S01"]).plan().is_err());
        assert!("80,13".parse::<FaceMix>().is_err());
        assert!("80,13,7".parse::<FaceMix>().is_ok());
        // zero tickets: counters open and close, nothing else
        let z = plan(1, 0);
        assert_eq!(z.events().count(), 16);
    }
}
