//! One counter's keypad and its vote sessions: the one owner of the rules for when the keypad
//! is armed or disarmed and when a session ends for a keypad-side cause.
//!
//! [`CounterKeypad`] is a state machine fed with everything that happens at one counter, in the
//! order it happened: the store's session facts (opened, ended), the bus's observations of the
//! keypad (state and token, window left, latched votes, reboots, unreachable), the results of
//! the commands it asked for, and the passing of time. Each input returns the [`Effect`]s to
//! carry out (arm, disarm, mark armed, end a session, store a vote, acknowledge it). The caller
//! executes them one after the other and feeds each command's result back before anything else.
//!
//! The rules it keeps:
//! - the keypad is armed only for the counter's open session, and only while at least
//!   [`MIN_WINDOW_S`] of its window is left;
//! - the keypad is disarmed only when the counter has **no** open session and the keypad is
//!   ARMED for a session that has ended (a keypad in REASON or LATCHED is never disarmed: the
//!   citizen has already pressed inside the session);
//! - a session ends EXPIRED only when the keypad reports it IDLE after its own window ran out,
//!   or when the keypad cannot be reached (or never took the session) and the window plus the
//!   grace period has passed;
//! - a session ends KEYPAD_REBOOTED when the keypad rebooted while holding it;
//! - every latched vote is offered to the store (which admits it with
//!   [`crate::session::admit_vote`]) and acknowledged only after the store has answered.
//!
//! Nothing here does I/O; `server/src/keypad_link.rs` runs one machine per counter.

use std::collections::VecDeque;

use crate::event::Millis;
use crate::session::SessionState;

/// The shortest window worth arming, in seconds (the keypad's own minimum).
pub const MIN_WINDOW_S: u16 = 5;
/// The longest window the keypad takes, in seconds.
pub const MAX_WINDOW_S: u16 = 600;
/// How many ticks (the caller's heartbeat, a few hundred ms each) to wait before trying again a
/// command that failed or found the keypad busy. Counted in ticks, not on the host clock, so
/// that retries go on whatever that clock does (a test's fixed clock, a step back).
pub const RETRY_TICKS: u64 = 2;
/// The keypad counts its window in whole seconds and is polled every few hundred ms: an IDLE
/// seen this close to the end of the window is the window running out.
pub const WINDOW_TOLERANCE_MS: Millis = 1_500;
/// How many ended sessions the machine remembers (a late "opened" of one of them is ignored).
const ENDED_KEPT: usize = 32;

/// Timing rules from configuration.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeypadRules {
    /// How long the keypad waits for a reason after red.
    pub reason_window_ms: Millis,
    /// How long after its window a session whose keypad cannot be reached stays open.
    pub grace_ms: Millis,
}

/// An open session at the counter, as the store holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpenSession {
    pub session_id: String,
    pub token: u32,
    /// End of the session's window on the host's clock.
    pub expires_at: Millis,
    /// The store already records the keypad as ARMED for it.
    pub armed: bool,
}

/// The keypad's voting state (register STATE).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PadState {
    Idle,
    Armed,
    Reason,
    Latched,
}

/// How a command to the keypad went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CommandResult {
    /// The keypad took it.
    Done,
    /// The keypad answered "device busy" (a red waiting for its reason, or a latched vote).
    Busy,
    /// No answer, a broken port, or another error: try again later.
    Failed,
}

/// Why the machine ends a session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EndCause {
    /// The keypad reported itself IDLE with no vote after its window ran out.
    WindowRanOut,
    /// The keypad could not be reached, or never took the session, and the window plus grace
    /// has passed.
    NotReached,
    /// The keypad rebooted while it held the session: a vote, if any, is lost.
    Rebooted,
}

impl EndCause {
    pub fn state(self) -> SessionState {
        match self {
            EndCause::WindowRanOut | EndCause::NotReached => SessionState::Expired,
            EndCause::Rebooted => SessionState::KeypadRebooted,
        }
    }
}

/// What happens at the counter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Input {
    /// The store's open sessions at this counter when the machine starts. Until this arrives
    /// the machine never arms or disarms (it would not know which sessions are open).
    Loaded(Vec<OpenSession>),
    /// A session was stored open at this counter.
    Opened(OpenSession),
    /// A session at this counter ended in the store (superseded, cancelled, voted, ...).
    Ended {
        session_id: String,
        state: SessionState,
    },
    /// A poll saw the keypad's state, token and window left.
    Observed {
        state: PadState,
        token: u32,
        window_left_s: u16,
    },
    /// The keypad does not answer.
    Unreachable,
    /// The keypad rebooted; `lost_token` is the session it held before, when known.
    Rebooted { lost_token: Option<u32> },
    /// The keypad holds a latched vote waiting for its ACK (repeated while un-ACKed).
    Latched { token: u32, seq: u16 },
    /// The store answered for a latched vote. `voted` is the session it was stored into now.
    VoteSettled {
        token: u32,
        seq: u16,
        voted: Option<String>,
    },
    /// The store could not answer (unavailable): the vote stays latched and is offered again.
    VoteFailed { token: u32, seq: u16 },
    /// The result of an [`Effect::Arm`].
    ArmDone { token: u32, result: CommandResult },
    /// The result of an [`Effect::Disarm`].
    DisarmDone { result: CommandResult },
    /// The result of an [`Effect::Ack`].
    AckDone { result: CommandResult },
    /// Time passed.
    Tick,
}

/// What to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Effect {
    /// Arm the keypad for the open session (answer with [`Input::ArmDone`]).
    Arm {
        session_id: String,
        token: u32,
        window_s: u16,
    },
    /// Disarm the keypad, ARMED for `token` whose session has ended (answer with
    /// [`Input::DisarmDone`]).
    Disarm { token: u32 },
    /// Record in the store that the keypad holds the session.
    MarkArmed { session_id: String },
    /// End the session in the store (answer with [`Input::Ended`] once stored).
    End { session_id: String, cause: EndCause },
    /// Offer a latched vote to the store (answer with [`Input::VoteSettled`] or
    /// [`Input::VoteFailed`]).
    StoreVote { token: u32, seq: u16 },
    /// Acknowledge the latched vote `seq`, only if the keypad still holds that vote of `token`
    /// (after a reboot VOTE_SEQ starts again, so a sequence number alone could clear another
    /// session's vote). Answer with [`Input::AckDone`].
    Ack { token: u32, seq: u16 },
}

/// What the machine believes the keypad shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Pad {
    /// Not observed yet.
    Unknown,
    Unreachable,
    Seen {
        state: PadState,
        token: u32,
    },
}

/// A command waiting for its result.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum InFlight {
    Arm(u32),
    Disarm,
    Ack,
}

#[derive(Debug, Clone)]
struct Open {
    session: OpenSession,
    /// The keypad holds this session (armed by us, or seen holding it).
    held: bool,
    /// The store records the keypad as ARMED.
    stored_armed: bool,
    /// When the keypad's own window ends at the latest, on the host's clock: never before the
    /// session's own end (no ARM window goes past it), later when a reason window runs past it.
    keypad_ends_by: Millis,
    /// Tick of the last ARM that did not take.
    last_try: Option<u64>,
}

impl Open {
    /// What we learn of the keypad's window only ever moves its end later: the session is not
    /// over on the keypad before the latest end we have seen (ARM window, then a reason window).
    fn extend_window(&mut self, ends_by: Millis) {
        self.keypad_ends_by = self.keypad_ends_by.max(ends_by);
    }
}

/// One counter's keypad and its sessions. See the module documentation.
#[derive(Debug, Clone)]
pub struct CounterKeypad {
    rules: KeypadRules,
    loaded: bool,
    open: Option<Open>,
    /// Sessions known to have ended, newest last: (session id, token).
    ended: VecDeque<(String, u32)>,
    pad: Pad,
    in_flight: Option<InFlight>,
    /// A latched vote being stored or acknowledged: (token, seq, the store has answered).
    vote: Option<(u32, u16, bool)>,
    /// Tick of the last DISARM that did not take.
    last_disarm_try: Option<u64>,
    /// Ticks seen.
    ticks: u64,
}

impl CounterKeypad {
    pub fn new(rules: KeypadRules) -> Self {
        CounterKeypad {
            rules,
            loaded: false,
            open: None,
            ended: VecDeque::new(),
            pad: Pad::Unknown,
            in_flight: None,
            vote: None,
            last_disarm_try: None,
            ticks: 0,
        }
    }

    /// The open session as the machine sees it: (session id, token, keypad holds it).
    pub fn open_session(&self) -> Option<(&str, u32, bool)> {
        self.open
            .as_ref()
            .map(|o| (o.session.session_id.as_str(), o.session.token, o.held))
    }

    /// Is a command waiting for its result?
    pub fn busy(&self) -> bool {
        self.in_flight.is_some()
    }

    /// Feeds one input at host time `now`; returns what to do, in order.
    pub fn step(&mut self, now: Millis, input: Input) -> Vec<Effect> {
        let mut out = Vec::new();
        match input {
            Input::Loaded(sessions) => {
                self.loaded = true;
                for s in sessions {
                    self.opened(s);
                }
            }
            Input::Opened(s) => self.opened(s),
            Input::Ended { session_id, .. } => self.ended(&session_id),
            Input::Observed {
                state,
                token,
                window_left_s,
            } => self.observed(now, state, token, window_left_s, &mut out),
            Input::Unreachable => self.pad = Pad::Unreachable,
            Input::Rebooted { lost_token } => {
                if let Some(o) = &self.open {
                    let lost_ours = match lost_token {
                        Some(t) => t == o.session.token,
                        None => o.held,
                    };
                    if lost_ours {
                        let id = o.session.session_id.clone();
                        self.end(id, EndCause::Rebooted, &mut out);
                    }
                }
                self.pad = Pad::Seen {
                    state: PadState::Idle,
                    token: 0,
                };
                self.vote = None;
            }
            Input::Latched { token, seq } => {
                self.pad = Pad::Seen {
                    state: PadState::Latched,
                    token,
                };
                self.holds(now, token, None, &mut out);
                if self.vote.is_none() {
                    self.vote = Some((token, seq, false));
                    out.push(Effect::StoreVote { token, seq });
                }
            }
            Input::VoteSettled { token, seq, voted } => {
                if let Some(id) = voted {
                    self.ended(&id);
                }
                if self.vote == Some((token, seq, false)) {
                    self.vote = Some((token, seq, true)); // acknowledged by `decide`
                }
            }
            Input::VoteFailed { token, seq } => {
                if self.vote.is_some_and(|(t, s, _)| (t, s) == (token, seq)) {
                    self.vote = None;
                }
            }
            Input::ArmDone { token, result } => {
                if self.in_flight == Some(InFlight::Arm(token)) {
                    self.in_flight = None;
                }
                match result {
                    CommandResult::Done => {
                        self.pad = Pad::Seen {
                            state: PadState::Armed,
                            token,
                        };
                        if let Some(o) = self.open.as_mut().filter(|o| o.session.token == token) {
                            o.extend_window(now + window_for(o.session.expires_at, now));
                        }
                        self.holds(now, token, None, &mut out);
                    }
                    CommandResult::Busy | CommandResult::Failed => {
                        if let Some(o) = self.open.as_mut() {
                            o.last_try = Some(self.ticks);
                        }
                    }
                }
            }
            Input::DisarmDone { result } => {
                if self.in_flight == Some(InFlight::Disarm) {
                    self.in_flight = None;
                }
                match result {
                    CommandResult::Done => {
                        self.pad = Pad::Seen {
                            state: PadState::Idle,
                            token: 0,
                        }
                    }
                    CommandResult::Busy | CommandResult::Failed => {
                        self.last_disarm_try = Some(self.ticks)
                    }
                }
            }
            Input::AckDone { result } => {
                if self.in_flight == Some(InFlight::Ack) {
                    self.in_flight = None;
                }
                if result == CommandResult::Done {
                    self.pad = Pad::Seen {
                        state: PadState::Idle,
                        token: 0,
                    };
                }
                // Done or not, the next Latched (the bus repeats it) starts over: the store
                // recognises a vote it already holds.
                self.vote = None;
            }
            Input::Tick => self.ticks += 1,
        }
        self.decide(now, &mut out);
        out
    }

    fn opened(&mut self, s: OpenSession) {
        if self.ended.iter().any(|(id, _)| *id == s.session_id) {
            return; // it has already ended: a late word about it
        }
        match &mut self.open {
            Some(o) if o.session.session_id == s.session_id => {
                o.stored_armed |= s.armed;
            }
            _ => {
                // One open session per counter: a newer one means the old one has ended.
                if let Some(old) = self.open.take() {
                    self.remember_ended(old.session.session_id, old.session.token);
                }
                // The keypad may already hold it (seen before the store told us, after a restart).
                let held = matches!(
                    self.pad,
                    Pad::Seen { state, token } if state != PadState::Idle && token == s.token
                );
                self.open = Some(Open {
                    held,
                    stored_armed: s.armed,
                    keypad_ends_by: s.expires_at,
                    last_try: None,
                    session: s,
                });
            }
        }
    }

    fn ended(&mut self, session_id: &str) {
        if self.open.as_ref().map(|o| o.session.session_id.as_str()) == Some(session_id) {
            if let Some(o) = self.open.take() {
                self.remember_ended(o.session.session_id, o.session.token);
            }
        } else if !self.ended.iter().any(|(id, _)| id == session_id) {
            self.remember_ended(session_id.to_string(), 0);
        }
    }

    fn remember_ended(&mut self, id: String, token: u32) {
        self.ended.push_back((id, token));
        while self.ended.len() > ENDED_KEPT {
            self.ended.pop_front();
        }
    }

    fn end(&mut self, session_id: String, cause: EndCause, out: &mut Vec<Effect>) {
        self.ended(&session_id);
        out.push(Effect::End { session_id, cause });
    }

    /// The keypad holds `token`: if it is the open session's, it is armed.
    fn holds(
        &mut self,
        now: Millis,
        token: u32,
        window_left_s: Option<u16>,
        out: &mut Vec<Effect>,
    ) {
        let Some(o) = self.open.as_mut().filter(|o| o.session.token == token) else {
            return;
        };
        o.held = true;
        if let Some(w) = window_left_s {
            o.extend_window(now + (Millis::from(w) + 1) * 1000);
        }
        if !o.stored_armed {
            o.stored_armed = true;
            out.push(Effect::MarkArmed {
                session_id: o.session.session_id.clone(),
            });
        }
    }

    fn observed(
        &mut self,
        now: Millis,
        state: PadState,
        token: u32,
        window_left_s: u16,
        out: &mut Vec<Effect>,
    ) {
        self.pad = Pad::Seen { state, token };
        let reason_ms = self.rules.reason_window_ms;
        match state {
            PadState::Armed => self.holds(now, token, Some(window_left_s), out),
            PadState::Reason => {
                self.holds(now, token, None, out);
                if let Some(o) = self.open.as_mut().filter(|o| o.session.token == token) {
                    // the keypad latches within the reason window, never goes idle on its own
                    o.extend_window(now + reason_ms + WINDOW_TOLERANCE_MS);
                }
            }
            PadState::Latched => self.holds(now, token, None, out),
            PadState::Idle => {
                let Some(o) = self.open.as_mut() else { return };
                if !o.held {
                    return; // not armed yet: arming will follow
                }
                if now + WINDOW_TOLERANCE_MS >= o.keypad_ends_by {
                    // The keypad's own window ran out with no vote: its word is final.
                    let id = o.session.session_id.clone();
                    self.end(id, EndCause::WindowRanOut, out);
                } else {
                    // Idle before its window ended and no reboot reported: the keypad lost the
                    // session (or this poll predates our ARM). Arm it again; never expire it.
                    o.held = false;
                    o.last_try = None;
                }
            }
        }
        if state != PadState::Idle {
            if let Some(o) = self.open.as_mut().filter(|o| o.session.token != token) {
                // The keypad shows another session: it does not hold ours (what we know of our
                // window's end stays: it is never moved earlier).
                o.held = false;
            }
        }
    }

    /// What the facts now ask for: arm, disarm, or end a session whose time is over.
    fn decide(&mut self, now: Millis, out: &mut Vec<Effect>) {
        if self.in_flight.is_some() {
            return;
        }
        if let Some((token, seq, true)) = self.vote {
            // stored (or refused) by the store: now, and only now, the ACK
            self.in_flight = Some(InFlight::Ack);
            out.push(Effect::Ack { token, seq });
            return;
        }
        if !self.loaded {
            return;
        }
        let grace = self.rules.grace_ms;
        let ticks = self.ticks;
        let Some(o) = self.open.as_mut() else {
            // No open session: a keypad still lit for an ended one goes dark.
            if let Pad::Seen {
                state: PadState::Armed,
                token,
            } = self.pad
            {
                if token != 0
                    && self
                        .last_disarm_try
                        .is_none_or(|t| self.ticks >= t + RETRY_TICKS)
                {
                    self.in_flight = Some(InFlight::Disarm);
                    out.push(Effect::Disarm { token });
                }
            }
            return;
        };
        let reachable = !matches!(self.pad, Pad::Unreachable);
        if o.held {
            if !reachable && now >= o.keypad_ends_by + grace {
                let id = o.session.session_id.clone();
                self.end(id, EndCause::NotReached, out);
            }
            return;
        }
        // Not on the keypad (yet).
        let left = o.session.expires_at - now;
        let busy_with_another = matches!(
            self.pad,
            Pad::Seen { state: PadState::Reason | PadState::Latched, token } if token != o.session.token
        );
        if left >= Millis::from(MIN_WINDOW_S) * 1000 {
            if !busy_with_another && o.last_try.is_none_or(|t| ticks >= t + RETRY_TICKS) {
                let window_s = (left / 1000).min(Millis::from(MAX_WINDOW_S)) as u16;
                self.in_flight = Some(InFlight::Arm(o.session.token));
                out.push(Effect::Arm {
                    session_id: o.session.session_id.clone(),
                    token: o.session.token,
                    window_s,
                });
            }
        } else if now >= o.keypad_ends_by + grace && !matches!(self.pad, Pad::Unknown) {
            // Seen not holding it, or unreachable, past the window and grace. (Not before the
            // keypad has been heard of since a restart: it may hold the session in REASON.)
            let id = o.session.session_id.clone();
            self.end(id, EndCause::NotReached, out);
        }
    }
}

/// The window an ARM at `now` gives a session ending at `expires_at`, in ms (whole seconds).
fn window_for(expires_at: Millis, now: Millis) -> Millis {
    ((expires_at - now) / 1000).clamp(0, Millis::from(MAX_WINDOW_S)) * 1000
}

#[cfg(test)]
mod tests {
    use super::*;

    const RULES: KeypadRules = KeypadRules {
        reason_window_ms: 15_000,
        grace_ms: 10_000,
    };

    fn session(id: &str, token: u32, expires_at: Millis) -> OpenSession {
        OpenSession {
            session_id: id.into(),
            token,
            expires_at,
            armed: false,
        }
    }

    fn loaded() -> CounterKeypad {
        let mut k = CounterKeypad::new(RULES);
        assert!(k.step(0, Input::Loaded(vec![])).is_empty());
        k
    }

    /// Session "a" (token 7, window to 60 s) open and armed at 10 ms.
    fn armed_a7() -> CounterKeypad {
        let mut k = loaded();
        k.step(0, Input::Opened(session("a", 7, 60_000)));
        k.step(
            10,
            Input::ArmDone {
                token: 7,
                result: CommandResult::Done,
            },
        );
        k
    }

    fn seen(state: PadState, token: u32, w: u16) -> Input {
        Input::Observed {
            state,
            token,
            window_left_s: w,
        }
    }

    #[test]
    fn arms_the_open_session_and_marks_it_once() {
        let mut k = loaded();
        let fx = k.step(0, Input::Opened(session("a", 7, 60_000)));
        assert_eq!(
            fx,
            vec![Effect::Arm {
                session_id: "a".into(),
                token: 7,
                window_s: 60
            }]
        );
        let fx = k.step(
            30,
            Input::ArmDone {
                token: 7,
                result: CommandResult::Done,
            },
        );
        assert_eq!(
            fx,
            vec![Effect::MarkArmed {
                session_id: "a".into()
            }]
        );
        assert!(k.step(200, seen(PadState::Armed, 7, 59)).is_empty());
    }

    #[test]
    fn never_disarms_while_a_session_is_open_even_on_a_stale_poll() {
        let mut k = armed_a7();
        // a poll made before the ARM, still showing the previous session's token
        let fx = k.step(20, seen(PadState::Armed, 3, 40));
        assert!(!fx.iter().any(|e| matches!(e, Effect::Disarm { .. })));
        // it arms ours again instead (ARM replaces whatever the keypad holds)
        assert!(fx.iter().any(|e| matches!(e, Effect::Arm { token: 7, .. })));
    }

    #[test]
    fn disarms_an_ended_sessions_keypad_only_when_nothing_is_open() {
        let mut k = armed_a7();
        let fx = k.step(
            5_000,
            Input::Ended {
                session_id: "a".into(),
                state: SessionState::Superseded,
            },
        );
        assert_eq!(fx, vec![Effect::Disarm { token: 7 }]);
        // a late "opened" of the ended session changes nothing
        k.step(
            5_010,
            Input::DisarmDone {
                result: CommandResult::Done,
            },
        );
        assert!(k
            .step(5_020, Input::Opened(session("a", 7, 60_000)))
            .is_empty());
    }

    #[test]
    fn reason_is_never_disarmed() {
        let mut k = armed_a7();
        k.step(1_000, seen(PadState::Reason, 7, 0));
        let fx = k.step(
            1_100,
            Input::Ended {
                session_id: "a".into(),
                state: SessionState::Superseded,
            },
        );
        assert!(fx.is_empty());
    }

    #[test]
    fn idle_before_the_window_ends_rearms_and_after_it_expires() {
        let mut k = armed_a7();
        let fx = k.step(5_000, seen(PadState::Idle, 0, 0));
        assert!(!fx.iter().any(|e| matches!(e, Effect::End { .. })));
        assert!(fx.iter().any(|e| matches!(e, Effect::Arm { token: 7, .. })));
        k.step(
            5_010,
            Input::ArmDone {
                token: 7,
                result: CommandResult::Done,
            },
        );
        k.step(5_100, seen(PadState::Armed, 7, 54));
        let fx = k.step(59_500, seen(PadState::Idle, 0, 0));
        assert_eq!(
            fx,
            vec![Effect::End {
                session_id: "a".into(),
                cause: EndCause::WindowRanOut
            }]
        );
    }

    #[test]
    fn unreachable_keypad_expires_after_window_and_grace() {
        let mut k = armed_a7();
        k.step(1_000, Input::Unreachable);
        assert!(k.step(69_000, Input::Tick).is_empty());
        assert_eq!(
            k.step(70_010, Input::Tick),
            vec![Effect::End {
                session_id: "a".into(),
                cause: EndCause::NotReached
            }]
        );
    }

    #[test]
    fn votes_are_stored_then_acknowledged() {
        let mut k = armed_a7();
        let fx = k.step(2_000, Input::Latched { token: 7, seq: 1 });
        assert_eq!(fx, vec![Effect::StoreVote { token: 7, seq: 1 }]);
        // the repeat while the store works is not offered twice
        assert!(k
            .step(2_050, Input::Latched { token: 7, seq: 1 })
            .is_empty());
        let fx = k.step(
            2_100,
            Input::VoteSettled {
                token: 7,
                seq: 1,
                voted: Some("a".into()),
            },
        );
        assert_eq!(fx, vec![Effect::Ack { token: 7, seq: 1 }]);
        assert!(k
            .step(
                2_150,
                Input::AckDone {
                    result: CommandResult::Done
                }
            )
            .is_empty());
        assert_eq!(k.open_session(), None);
    }

    #[test]
    fn reboot_ends_the_session_it_held() {
        let mut k = armed_a7();
        let fx = k.step(
            3_000,
            Input::Rebooted {
                lost_token: Some(7),
            },
        );
        assert_eq!(
            fx,
            vec![Effect::End {
                session_id: "a".into(),
                cause: EndCause::Rebooted
            }]
        );
    }

    #[test]
    fn nothing_is_armed_or_disarmed_before_the_sessions_are_loaded() {
        let mut k = CounterKeypad::new(RULES);
        assert!(k.step(0, seen(PadState::Armed, 9, 30)).is_empty());
        let fx = k.step(
            10,
            Input::Loaded(vec![OpenSession {
                armed: true,
                ..session("a", 9, 40_000)
            }]),
        );
        assert!(fx.is_empty(), "{fx:?}");
        assert_eq!(k.open_session(), Some(("a", 9, true)));
    }
}
