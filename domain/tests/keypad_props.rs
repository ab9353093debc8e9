//! The counter keypad rules (faccia_domain::keypad) over random interleavings of queue events,
//! keypad observations (armed, reason, latched, idle, rebooted, unreachable, stale), citizens'
//! presses, host restarts and clock steps, against a model FK-3 keypad written from the spec and a
//! model store that admits votes with `session::admit_vote`.
//!
//! Properties: the keypad is never disarmed while it holds the counter's open session; no session
//! ends EXPIRED before the keypad's window ran out while the keypad still holds it; at most one
//! vote per session; and every vote the keypad latched for a session is stored in the end.

use std::collections::{BTreeMap, VecDeque};

use faccia_domain::keypad::{
    CommandResult, CounterKeypad, Effect, EndCause, Input, KeypadRules, OpenSession, PadState,
    WINDOW_TOLERANCE_MS,
};
use faccia_domain::session::{admit_vote, Admission, KeypadArming, SessionState, VoteTarget};
use faccia_domain::Millis;
use proptest::prelude::*;

const RULES: KeypadRules = KeypadRules {
    reason_window_ms: 15_000,
    grace_ms: 10_000,
};
const WINDOW_MS: Millis = 60_000;
const COUNTER: &str = "1";

/// FK-3 as the spec writes it (one unit).
#[derive(Debug, Clone)]
struct Fk3 {
    state: PadState,
    token: u32,
    window_end: Millis,
    reason_end: Millis,
    seq: u16,
    /// token of the latched vote
    latched: Option<u32>,
    unplugged: bool,
}

impl Fk3 {
    fn new() -> Self {
        Fk3 {
            state: PadState::Idle,
            token: 0,
            window_end: 0,
            reason_end: 0,
            seq: 0,
            latched: None,
            unplugged: false,
        }
    }

    fn advance(&mut self, now: Millis) {
        match self.state {
            PadState::Armed if now >= self.window_end => {
                self.state = PadState::Idle;
                self.token = 0;
            }
            PadState::Reason if now >= self.reason_end => self.latch(),
            _ => {}
        }
    }

    fn latch(&mut self) {
        self.seq = self.seq.wrapping_add(1);
        self.state = PadState::Latched;
        self.latched = Some(self.token);
    }

    fn window_left_s(&self, now: Millis) -> u16 {
        if matches!(self.state, PadState::Armed) {
            ((self.window_end - now).max(0) / 1000) as u16
        } else {
            0
        }
    }
}

#[derive(Debug, Clone)]
struct StoredSession {
    token: u32,
    state: SessionState,
    keypad: KeypadArming,
    opened_at: Millis,
    expires_at: Millis,
    votes: u32,
}

/// What a poll saw, delivered later (a stale poll is the point, within the few ms the bus takes).
#[derive(Debug, Clone)]
enum Seen {
    Status {
        state: PadState,
        token: u32,
        window_left_s: u16,
        seq: u16,
    },
    Unreachable,
    Rebooted(Option<u32>),
}

#[derive(Debug, Clone)]
enum Step {
    Serve,
    Call,
    /// A citizen presses: 0 green, 1 yellow, 2 red
    Press(u8),
    ReasonKey,
    Poll,
    Deliver,
    Advance(u32),
    Reboot,
    Unplug,
    Replug,
    Restart,
    /// The router delivers the store's news late: Opened before the previous Ended.
    ServeReordered,
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        3 => Just(Step::Serve),
        1 => Just(Step::ServeReordered),
        2 => Just(Step::Call),
        4 => (0u8..3).prop_map(Step::Press),
        1 => Just(Step::ReasonKey),
        8 => Just(Step::Poll),
        8 => Just(Step::Deliver),
        6 => (1u32..20_000).prop_map(Step::Advance),
        1 => Just(Step::Reboot),
        1 => Just(Step::Unplug),
        2 => Just(Step::Replug),
        1 => Just(Step::Restart),
    ]
}

struct World {
    now: Millis,
    pad: Fk3,
    machine: CounterKeypad,
    sessions: BTreeMap<String, StoredSession>,
    open: Option<String>,
    next: u32,
    polls: VecDeque<Seen>,
    /// last ARM's window end per token (the keypad's own clock)
    armed_until: BTreeMap<u32, Millis>,
    /// tokens whose vote the keypad latched, and which a reboot did not destroy
    latched_tokens: Vec<u32>,
    /// tokens whose latched vote a reboot lost
    lost_by_reboot: Vec<u32>,
}

impl World {
    fn new() -> World {
        let mut w = World {
            now: 1_000_000,
            pad: Fk3::new(),
            machine: CounterKeypad::new(RULES),
            sessions: BTreeMap::new(),
            open: None,
            next: 1,
            polls: VecDeque::new(),
            armed_until: BTreeMap::new(),
            latched_tokens: Vec::new(),
            lost_by_reboot: Vec::new(),
        };
        w.feed(Input::Loaded(vec![]));
        w
    }

    fn open_facts(&self, id: &str) -> OpenSession {
        let s = &self.sessions[id];
        OpenSession {
            session_id: id.to_string(),
            token: s.token,
            expires_at: s.expires_at,
            armed: s.keypad == KeypadArming::Armed,
        }
    }

    /// The store ends the counter's open session (the next call).
    fn supersede(&mut self) -> Option<String> {
        let id = self.open.take()?;
        if let Some(s) = self.sessions.get_mut(&id) {
            s.state = SessionState::Superseded;
        }
        Some(id)
    }

    fn serve(&mut self, reordered: bool) {
        let ended = self.supersede();
        let id = format!("s{}", self.next);
        self.sessions.insert(
            id.clone(),
            StoredSession {
                token: self.next,
                state: SessionState::Open,
                keypad: KeypadArming::Pending,
                opened_at: self.now,
                expires_at: self.now + WINDOW_MS,
                votes: 0,
            },
        );
        self.next += 1;
        self.open = Some(id.clone());
        let opened = Input::Opened(self.open_facts(&id));
        let ended = ended.map(|e| Input::Ended {
            session_id: e,
            state: SessionState::Superseded,
        });
        if reordered {
            self.feed(opened);
            if let Some(e) = ended {
                self.feed(e);
            }
        } else {
            if let Some(e) = ended {
                self.feed(e);
            }
            self.feed(opened);
        }
    }

    fn feed(&mut self, input: Input) {
        let mut queue: VecDeque<Effect> = self.machine.step(self.now, input).into();
        while let Some(e) = queue.pop_front() {
            if let Some(reply) = self.execute(e) {
                queue.extend(self.machine.step(self.now, reply));
            }
        }
    }

    fn holds_open(&self) -> Option<u32> {
        let id = self.open.as_ref()?;
        let t = self.sessions[id].token;
        (self.pad.token == t && matches!(self.pad.state, PadState::Armed | PadState::Reason))
            .then_some(t)
    }

    fn execute(&mut self, e: Effect) -> Option<Input> {
        let now = self.now;
        match e {
            Effect::Arm {
                session_id,
                token,
                window_s,
            } => {
                assert_eq!(
                    self.open.as_deref(),
                    Some(session_id.as_str()),
                    "armed a session that is not the counter's open one"
                );
                let result = if self.pad.unplugged {
                    CommandResult::Failed
                } else if matches!(self.pad.state, PadState::Reason | PadState::Latched) {
                    CommandResult::Busy
                } else {
                    assert!((5..=600).contains(&window_s));
                    self.pad.state = PadState::Armed;
                    self.pad.token = token;
                    self.pad.window_end = now + Millis::from(window_s) * 1000;
                    self.armed_until.insert(token, self.pad.window_end);
                    CommandResult::Done
                };
                Some(Input::ArmDone { token, result })
            }
            Effect::Disarm { .. } => {
                assert_eq!(
                    self.holds_open(),
                    None,
                    "DISARM while the keypad holds the open session (pad {:?})",
                    self.pad
                );
                let result = if self.pad.unplugged {
                    CommandResult::Failed
                } else if self.pad.state == PadState::Latched {
                    CommandResult::Busy
                } else {
                    self.pad.state = PadState::Idle;
                    self.pad.token = 0;
                    CommandResult::Done
                };
                Some(Input::DisarmDone { result })
            }
            Effect::Ack { token, seq } => {
                let result = if self.pad.unplugged {
                    CommandResult::Failed
                } else if self.pad.state == PadState::Latched
                    && self.pad.seq == seq
                    && self.pad.latched == Some(token)
                {
                    let t = self.pad.latched.take().unwrap_or(0);
                    let voted = self.sessions.values().any(|s| s.token == t && s.votes == 1);
                    assert!(voted, "ACK of a vote that is not stored (token {t})");
                    self.pad.state = PadState::Idle;
                    self.pad.token = 0;
                    CommandResult::Done
                } else {
                    CommandResult::Failed
                };
                Some(Input::AckDone { result })
            }
            Effect::MarkArmed { session_id } => {
                if let Some(s) = self.sessions.get_mut(&session_id) {
                    if s.state == SessionState::Open {
                        s.keypad = KeypadArming::Armed;
                    }
                }
                None
            }
            Effect::End { session_id, cause } => {
                let s = self.sessions.get(&session_id).cloned();
                let s = s.expect("ended an unknown session");
                if s.state != SessionState::Open {
                    return None;
                }
                if cause.state() == SessionState::Expired {
                    assert!(
                        !(self.pad.token == s.token
                            && !self.pad.unplugged
                            && matches!(self.pad.state, PadState::Armed | PadState::Reason)),
                        "EXPIRED while the keypad holds the session lit"
                    );
                    let until = self
                        .armed_until
                        .get(&s.token)
                        .copied()
                        .unwrap_or(s.expires_at);
                    let limit = if cause == EndCause::NotReached {
                        until + RULES.grace_ms
                    } else {
                        until
                    };
                    assert!(
                        now + WINDOW_TOLERANCE_MS >= limit,
                        "EXPIRED at {now}, before the keypad's window (+grace) ended at {limit}"
                    );
                }
                if let Some(x) = self.sessions.get_mut(&session_id) {
                    x.state = cause.state();
                }
                if self.open.as_deref() == Some(session_id.as_str()) {
                    self.open = None;
                }
                Some(Input::Ended {
                    session_id,
                    state: cause.state(),
                })
            }
            Effect::StoreVote { token, seq } => {
                let target = self
                    .sessions
                    .iter()
                    .filter(|(_, s)| s.token == token)
                    .max_by_key(|(_, s)| s.opened_at)
                    .map(|(id, s)| {
                        (
                            id.clone(),
                            VoteTarget {
                                counter_id: COUNTER.into(),
                                state: s.state,
                                keypad: s.keypad,
                                opened_at: s.opened_at,
                            },
                        )
                    });
                let admission = admit_vote(target.as_ref().map(|(_, t)| t), COUNTER, now);
                let mut voted = None;
                if admission == Admission::Accept {
                    let id = target.map(|(id, _)| id).unwrap_or_default();
                    let s = self.sessions.get_mut(&id).expect("session");
                    s.votes += 1;
                    assert!(s.votes <= 1, "two votes for session {id}");
                    s.state = SessionState::Voted;
                    if self.open.as_deref() == Some(id.as_str()) {
                        self.open = None;
                    }
                    voted = Some(id);
                }
                Some(Input::VoteSettled { token, seq, voted })
            }
        }
    }

    fn apply(&mut self, s: &Step) {
        match s {
            Step::Serve => self.serve(false),
            Step::ServeReordered => self.serve(true),
            Step::Call => {
                if let Some(id) = self.supersede() {
                    self.feed(Input::Ended {
                        session_id: id,
                        state: SessionState::Superseded,
                    });
                }
            }
            Step::Press(face) => {
                if self.pad.state == PadState::Armed {
                    if *face == 2 {
                        self.pad.state = PadState::Reason;
                        self.pad.reason_end = self.now + RULES.reason_window_ms;
                    } else {
                        self.pad.latch();
                        self.latched_tokens.push(self.pad.token);
                    }
                }
            }
            Step::ReasonKey => {
                if self.pad.state == PadState::Reason {
                    self.pad.latch();
                    self.latched_tokens.push(self.pad.token);
                }
            }
            Step::Poll => {
                let seen = if self.pad.unplugged {
                    Seen::Unreachable
                } else {
                    Seen::Status {
                        state: self.pad.state,
                        token: self.pad.token,
                        window_left_s: self.pad.window_left_s(self.now),
                        seq: self.pad.seq,
                    }
                };
                self.polls.push_back(seen);
            }
            Step::Deliver => {
                if let Some(seen) = self.polls.pop_front() {
                    let input = match seen {
                        Seen::Unreachable => Input::Unreachable,
                        Seen::Rebooted(lost_token) => Input::Rebooted { lost_token },
                        Seen::Status {
                            state: PadState::Latched,
                            token,
                            seq,
                            ..
                        } => Input::Latched { token, seq },
                        Seen::Status {
                            state,
                            token,
                            window_left_s,
                            ..
                        } => Input::Observed {
                            state,
                            token,
                            window_left_s,
                        },
                    };
                    self.feed(input);
                }
            }
            Step::Advance(ms) => {
                // The bus hands over what it read within a few ms: a poll may be overtaken by
                // commands and queue events (stale), but not by much time.
                if *ms > 300 {
                    while !self.polls.is_empty() {
                        self.apply(&Step::Deliver);
                    }
                }
                let before = self.pad.state;
                self.now += Millis::from(*ms);
                self.pad.advance(self.now);
                if before == PadState::Reason && self.pad.state == PadState::Latched {
                    self.latched_tokens.push(self.pad.token);
                }
                self.feed(Input::Tick);
            }
            Step::Reboot => {
                let lost = (self.pad.state != PadState::Idle).then_some(self.pad.token);
                if self.pad.state == PadState::Latched {
                    if let Some(t) = self.pad.latched.take() {
                        self.lost_by_reboot.push(t);
                    }
                }
                let seq = 0;
                self.pad = Fk3 {
                    seq,
                    unplugged: self.pad.unplugged,
                    ..Fk3::new()
                };
                // the bus reports the reboot before the IDLE it caused
                self.polls.push_back(Seen::Rebooted(lost));
            }
            Step::Unplug => self.pad.unplugged = true,
            Step::Replug => self.pad.unplugged = false,
            Step::Restart => {
                self.machine = CounterKeypad::new(RULES);
                self.polls.clear();
                let open: Vec<OpenSession> = self
                    .open
                    .clone()
                    .map(|id| self.open_facts(&id))
                    .into_iter()
                    .collect();
                self.feed(Input::Loaded(open));
            }
        }
    }

    /// Everything settles: the keypad is reachable and polled until nothing is latched.
    fn drain(&mut self) {
        self.pad.unplugged = false;
        for _ in 0..200 {
            self.apply(&Step::Poll);
            while !self.polls.is_empty() {
                self.apply(&Step::Deliver);
            }
            self.apply(&Step::Advance(300));
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    #[test]
    fn keypad_rules_hold(steps in proptest::collection::vec(step(), 1..160)) {
        let mut w = World::new();
        for s in &steps {
            w.apply(s);
        }
        w.drain();
        for t in &w.latched_tokens {
            if w.lost_by_reboot.contains(t) {
                continue;
            }
            let stored = w.sessions.values().filter(|s| s.token == *t).map(|s| s.votes).sum::<u32>();
            prop_assert_eq!(stored, 1, "the vote latched for token {} was not stored", t);
        }
        for (id, s) in &w.sessions {
            prop_assert!(s.votes <= 1, "session {} has {} votes", id, s.votes);
        }
    }
}

/// The race the issue measured: armed right after SERVED, then a poll made before the ARM is
/// delivered; the keypad must not be disarmed and the citizen's press must be stored.
#[test]
fn a_stale_poll_after_arming_does_not_disarm() {
    let mut w = World::new();
    w.apply(&Step::Serve);
    w.apply(&Step::Poll); // sees the first session
    w.apply(&Step::Call);
    w.apply(&Step::Poll); // keypad idle now (disarmed)
    w.apply(&Step::Serve); // armed for the second
    w.apply(&Step::Deliver);
    w.apply(&Step::Deliver);
    assert_eq!(
        w.pad.state,
        PadState::Armed,
        "the keypad went dark: {:?}",
        w.pad
    );
    w.apply(&Step::Advance(700));
    w.apply(&Step::Press(0));
    w.drain();
    assert_eq!(w.sessions["s2"].votes, 1);
}
