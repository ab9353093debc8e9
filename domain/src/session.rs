//! Vote sessions: the only door through which a vote enters.
//!
//! An accepted SERVED opens one session at the counter that served; a ticket has at most one
//! session ever and a counter at most one open session. A session ends VOTED, EXPIRED after its
//! window, SUPERSEDED by the next CALLED (or SERVED) at that counter, CANCELLED by DAY_RESET, or
//! KEYPAD_REBOOTED when the keypad lost it. Votes are never created, edited or deleted otherwise.

use sha2::{Digest, Sha256};
use thiserror::Error;

use crate::event::Millis;

/// How the citizen votes: at the counter (its keypad, or a totem serving it), through a
/// single-use web link, or at the end of an answered phone call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Channel {
    Counter,
    Web,
    Phone,
}

impl Channel {
    pub const ALL: [Channel; 3] = [Channel::Counter, Channel::Web, Channel::Phone];

    pub fn as_str(self) -> &'static str {
        match self {
            Channel::Counter => "COUNTER",
            Channel::Web => "WEB",
            Channel::Phone => "PHONE",
        }
    }

    pub fn parse(s: &str) -> Option<Channel> {
        Channel::ALL.into_iter().find(|c| c.as_str() == s)
    }
}

/// Whether a vote of `channel` (its stored code) with `counter_id` belongs to a counter in the
/// breakdowns by counter: a keypad's or a totem's vote, or one through a link handed out at the
/// counter. A call, or a link of an online service (no counter), is no counter's.
pub fn given_at_counter(channel: &str, counter_id: &str) -> bool {
    channel != Channel::Phone.as_str() && !counter_id.is_empty()
}

/// The three faces.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Face {
    Green = 1,
    Yellow = 2,
    Red = 3,
}

impl Face {
    pub fn from_code(code: i64) -> Option<Face> {
        match code {
            1 => Some(Face::Green),
            2 => Some(Face::Yellow),
            3 => Some(Face::Red),
            _ => None,
        }
    }

    pub fn code(self) -> i16 {
        self as i16
    }
}

/// Reason keys after red: 1 waiting time, 2 staff behaviour, 3 had to come back, 4 negative outcome.
pub const REASONS: u8 = 4;

/// A face and, after red, an optional reason key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Judgement {
    pub face: Face,
    pub reason: Option<u8>,
}

/// A judgement the keypad reported that the contract does not allow.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum BadJudgement {
    #[error("face code {0} is not 1 (green), 2 (yellow) or 3 (red)")]
    Face(i64),
    #[error("reason code {0} is not 0..=4")]
    Reason(i64),
    #[error("a reason ({0}) can only come with a red face")]
    ReasonWithoutRed(i64),
}

impl Judgement {
    /// From the keypad's VOTE_FACE and VOTE_REASON registers.
    pub fn from_codes(face: i64, reason: i64) -> Result<Judgement, BadJudgement> {
        let face = Face::from_code(face).ok_or(BadJudgement::Face(face))?;
        let reason = match reason {
            0 => None,
            1..=4 if face == Face::Red => Some(reason as u8),
            1..=4 => return Err(BadJudgement::ReasonWithoutRed(reason)),
            _ => return Err(BadJudgement::Reason(reason)),
        };
        Ok(Judgement { face, reason })
    }
}

/// Where a session is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SessionState {
    Open,
    Voted,
    Expired,
    Superseded,
    Cancelled,
    KeypadRebooted,
}

impl SessionState {
    pub const ALL: [SessionState; 6] = [
        SessionState::Open,
        SessionState::Voted,
        SessionState::Expired,
        SessionState::Superseded,
        SessionState::Cancelled,
        SessionState::KeypadRebooted,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            SessionState::Open => "OPEN",
            SessionState::Voted => "VOTED",
            SessionState::Expired => "EXPIRED",
            SessionState::Superseded => "SUPERSEDED",
            SessionState::Cancelled => "CANCELLED",
            SessionState::KeypadRebooted => "KEYPAD_REBOOTED",
        }
    }

    pub fn parse(s: &str) -> Option<SessionState> {
        SessionState::ALL.into_iter().find(|c| c.as_str() == s)
    }
}

/// What the counter's keypad is doing for an open session.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum KeypadArming {
    /// Lit and waiting for the citizen.
    Armed,
    /// Offline or busy: to be armed as soon as possible within the window.
    Pending,
    /// The counter has no keypad: the session simply expires.
    NoKeypad,
    /// The counter is served by a totem: the session waits, for the totem's window, for the
    /// citizen to scan the ticket there. Never superseded by the next citizen at the counter.
    Totem,
    /// A totem's keypad was armed for it (after a scan): a vote the totem latched with its
    /// token is its vote, even when the host learns of it after the window.
    TotemArmed,
}

impl KeypadArming {
    pub fn as_str(self) -> &'static str {
        match self {
            KeypadArming::Armed => "ARMED",
            KeypadArming::Pending => "PENDING",
            KeypadArming::NoKeypad => "NO_KEYPAD",
            KeypadArming::Totem => "TOTEM",
            KeypadArming::TotemArmed => "TOTEM_ARMED",
        }
    }

    /// A session whose vote is given at a totem.
    pub fn is_totem(self) -> bool {
        matches!(self, KeypadArming::Totem | KeypadArming::TotemArmed)
    }

    pub fn parse(s: &str) -> Option<KeypadArming> {
        [
            KeypadArming::Armed,
            KeypadArming::Pending,
            KeypadArming::NoKeypad,
            KeypadArming::Totem,
            KeypadArming::TotemArmed,
        ]
        .into_iter()
        .find(|c| c.as_str() == s)
    }
}

fn digest(source_id: &str, ticket_id: &str) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update((source_id.len() as u64).to_le_bytes());
    h.update(source_id.as_bytes());
    h.update(ticket_id.as_bytes());
    h.finalize().into()
}

/// The session id of a ticket: derived from (site, source, ticket), so that a ticket can only
/// ever have one, a replay of the same events gives the same ids, and two offices of one
/// database with the same source and ticket ids never share one. (Sessions stored before sites
/// keep the ids they were given from (source, ticket).)
pub fn session_id(site_id: &str, source_id: &str, ticket_id: &str) -> String {
    let mut h = Sha256::new();
    h.update((site_id.len() as u64).to_le_bytes());
    h.update(site_id.as_bytes());
    h.update(digest(source_id, ticket_id));
    let d: [u8; 32] = h.finalize().into();
    format!("vs-{}", hex::encode(&d[..10]))
}

/// The first keypad token to try for a ticket's session (never 0). Callers probe upwards
/// (`next_token`) while the token is held by a session the keypads may still report.
pub fn token_seed(source_id: &str, ticket_id: &str) -> u32 {
    let d = digest(source_id, ticket_id);
    let t = u32::from_be_bytes([d[10], d[11], d[12], d[13]]);
    if t == 0 {
        1
    } else {
        t
    }
}

/// The token after `t`, skipping 0 (ARM refuses it).
pub fn next_token(t: u32) -> u32 {
    match t.wrapping_add(1) {
        0 => 1,
        n => n,
    }
}

/// Does a CALLED (or SERVED) of `ticket` at time `at` end the counter's open session, opened
/// for `session_ticket` by a SERVED at `served_at`? Only news that is newer than the serve and
/// about another citizen does.
pub fn supersedes(served_at: Millis, session_ticket: &str, at: Millis, ticket: &str) -> bool {
    ticket != session_ticket && at >= served_at
}

/// What the store holds of the session a latched vote's token points to (the newest session
/// with that token).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VoteTarget {
    pub counter_id: String,
    pub state: SessionState,
    pub keypad: KeypadArming,
    pub opened_at: Millis,
}

/// Whether a vote latched on a keypad enters its session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admission {
    /// Store it: the session's one vote.
    Accept,
    /// The session already has its vote (stored before a restart, or the ACK was lost): only
    /// acknowledge.
    AlreadyVoted,
    /// Acknowledge and discard (it is counted and logged).
    Refuse(Refusal),
}

/// Why a latched vote does not enter a session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// No session the keypads may still report has that token.
    NoSession,
    /// The token is a session of another counter.
    OtherCounter,
    /// The session has ended and no keypad was ever recorded holding it.
    NeverArmed,
    /// A link or call session that has ended (its time ran out, or it was cancelled).
    Ended,
}

/// How long a keypad token stays matched to its session (tokens are unique within it).
pub const TOKEN_LIFETIME_MS: Millis = crate::event::DAY_MS;

/// The vote rule. An open session takes its one vote. A keypad latches a vote only for the token
/// it was armed with, only the session's own counter keypad is ever armed with it, and only
/// while the session is open; the keypad's window is authoritative. So a vote latched with the
/// token of a session its keypad held is that session's vote, whatever the host has meanwhile
/// concluded (EXPIRED because the bus was slow or the host restarted, SUPERSEDED or CANCELLED
/// because the next call reached the host before the keypad's state did, KEYPAD_REBOOTED on a
/// reboot misread): it is accepted once, and a second latch of the session is only acknowledged.
pub fn admit_vote(target: Option<&VoteTarget>, counter_id: &str, now: Millis) -> Admission {
    admit(target, |c| c == counter_id, KeypadArming::Armed, now)
}

/// The vote rule for a totem's keypad, which serves the sessions of `counters`: the same rule
/// as [`admit_vote`], where the keypad that held the session is the totem's (recorded
/// [`KeypadArming::TotemArmed`] when it was armed after a scan).
pub fn admit_totem_vote(
    target: Option<&VoteTarget>,
    counters: &[String],
    now: Millis,
) -> Admission {
    admit(
        target,
        |c| counters.iter().any(|x| x == c),
        KeypadArming::TotemArmed,
        now,
    )
}

fn admit(
    target: Option<&VoteTarget>,
    serves: impl Fn(&str) -> bool,
    held: KeypadArming,
    now: Millis,
) -> Admission {
    let Some(t) = target else {
        return Admission::Refuse(Refusal::NoSession);
    };
    if t.opened_at <= now - TOKEN_LIFETIME_MS {
        return Admission::Refuse(Refusal::NoSession);
    }
    if !serves(&t.counter_id) {
        return Admission::Refuse(Refusal::OtherCounter);
    }
    match t.state {
        SessionState::Voted => Admission::AlreadyVoted,
        SessionState::Open => Admission::Accept,
        SessionState::Expired
        | SessionState::Superseded
        | SessionState::Cancelled
        | SessionState::KeypadRebooted => {
            if t.keypad == held {
                Admission::Accept
            } else {
                Admission::Refuse(Refusal::NeverArmed)
            }
        }
    }
}

/// When the store ends an open session as EXPIRED by itself. Without a keypad at the end of
/// its window. With one, the counter's keypad machine ([`crate::keypad::CounterKeypad`]) ends
/// it; the store steps in only as a safety net, after the window, the grace period and a whole
/// reason window (the longest a keypad can keep a session once its window is over), so it
/// never ends a session the keypad may still hold lit.
pub fn store_expiry(
    keypad: KeypadArming,
    expires_at: Millis,
    grace_ms: Millis,
    reason_window_ms: Millis,
) -> Millis {
    match keypad {
        // Not scanned at the totem within its window: nothing can hold it.
        KeypadArming::NoKeypad | KeypadArming::Totem => expires_at,
        // The totem's faces never stay lit past the window (a reason window may run past it).
        KeypadArming::Armed | KeypadArming::Pending | KeypadArming::TotemArmed => {
            expires_at + grace_ms + reason_window_ms + crate::keypad::WINDOW_TOLERANCE_MS
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn judgements() {
        assert_eq!(
            Judgement::from_codes(3, 2),
            Ok(Judgement {
                face: Face::Red,
                reason: Some(2)
            })
        );
        assert_eq!(Judgement::from_codes(1, 0).map(|j| j.face), Ok(Face::Green));
        assert!(Judgement::from_codes(1, 2).is_err());
        assert!(Judgement::from_codes(0, 0).is_err());
        assert!(Judgement::from_codes(3, 5).is_err());
    }

    #[test]
    fn ids_are_stable_and_distinct() {
        assert_eq!(session_id("a", "s", "t1"), session_id("a", "s", "t1"));
        assert_ne!(session_id("a", "s", "t1"), session_id("a", "s", "t2"));
        assert_ne!(session_id("a", "s1", "t"), session_id("a", "s", "1t"));
        assert_ne!(session_id("a", "s", "t"), session_id("b", "s", "t"));
        assert_ne!(session_id("ab", "s", "t"), session_id("a", "bs", "t"));
        assert_ne!(token_seed("s", "t1"), 0);
        assert_eq!(next_token(u32::MAX), 1);
    }

    #[test]
    fn vote_admission() {
        let t = |state, keypad| VoteTarget {
            counter_id: "3".into(),
            state,
            keypad,
            opened_at: 1_000,
        };
        let open = t(SessionState::Open, KeypadArming::Armed);
        assert_eq!(admit_vote(Some(&open), "3", 2_000), Admission::Accept);
        assert_eq!(
            admit_vote(Some(&open), "4", 2_000),
            Admission::Refuse(Refusal::OtherCounter)
        );
        assert_eq!(
            admit_vote(None, "3", 2_000),
            Admission::Refuse(Refusal::NoSession)
        );
        assert_eq!(
            admit_vote(Some(&open), "3", 1_000 + TOKEN_LIFETIME_MS),
            Admission::Refuse(Refusal::NoSession)
        );
        let voted = t(SessionState::Voted, KeypadArming::Armed);
        assert_eq!(
            admit_vote(Some(&voted), "3", 2_000),
            Admission::AlreadyVoted
        );
        for late in [
            SessionState::Expired,
            SessionState::Superseded,
            SessionState::Cancelled,
            SessionState::KeypadRebooted,
        ] {
            let held = t(late, KeypadArming::Armed);
            assert_eq!(admit_vote(Some(&held), "3", 60_000), Admission::Accept);
            let never = t(late, KeypadArming::Pending);
            assert_eq!(
                admit_vote(Some(&never), "3", 60_000),
                Admission::Refuse(Refusal::NeverArmed)
            );
        }
        let none = t(SessionState::Open, KeypadArming::NoKeypad);
        assert_eq!(admit_vote(Some(&none), "3", 2_000), Admission::Accept);
    }

    #[test]
    fn totem_vote_admission() {
        let counters = vec!["S01".to_string(), "S02".to_string()];
        let t = |state, keypad, counter: &str| VoteTarget {
            counter_id: counter.into(),
            state,
            keypad,
            opened_at: 1_000,
        };
        let open = t(SessionState::Open, KeypadArming::TotemArmed, "S02");
        assert_eq!(
            admit_totem_vote(Some(&open), &counters, 2_000),
            Admission::Accept
        );
        assert_eq!(
            admit_totem_vote(
                Some(&t(SessionState::Open, KeypadArming::TotemArmed, "S03")),
                &counters,
                2_000
            ),
            Admission::Refuse(Refusal::OtherCounter)
        );
        assert_eq!(
            admit_totem_vote(
                Some(&t(SessionState::Voted, KeypadArming::TotemArmed, "S01")),
                &counters,
                2_000
            ),
            Admission::AlreadyVoted
        );
        // latched inside the totem's window, learnt after the session expired
        assert_eq!(
            admit_totem_vote(
                Some(&t(SessionState::Expired, KeypadArming::TotemArmed, "S01")),
                &counters,
                900_000
            ),
            Admission::Accept
        );
        assert_eq!(
            admit_totem_vote(
                Some(&t(SessionState::Expired, KeypadArming::Totem, "S01")),
                &counters,
                900_000
            ),
            Admission::Refuse(Refusal::NeverArmed)
        );
        // a counter keypad's "armed" is not the totem's, nor the other way round
        assert_eq!(
            admit_totem_vote(
                Some(&t(SessionState::Expired, KeypadArming::Armed, "S01")),
                &counters,
                900_000
            ),
            Admission::Refuse(Refusal::NeverArmed)
        );
        assert_eq!(
            admit_vote(
                Some(&t(SessionState::Expired, KeypadArming::TotemArmed, "S01")),
                "S01",
                900_000
            ),
            Admission::Refuse(Refusal::NeverArmed)
        );
        assert_eq!(
            admit_totem_vote(None, &counters, 2_000),
            Admission::Refuse(Refusal::NoSession)
        );
    }

    #[test]
    fn store_expiry_waits_for_keypads() {
        assert_eq!(store_expiry(KeypadArming::Totem, 100, 10, 15), 100);
        assert!(store_expiry(KeypadArming::TotemArmed, 100, 10, 15) > 125);
        assert_eq!(store_expiry(KeypadArming::NoKeypad, 100, 10, 15), 100);
        assert!(store_expiry(KeypadArming::Armed, 100, 10, 15) > 125);
    }

    #[test]
    fn supersede_rule() {
        assert!(supersedes(100, "a", 100, "b"));
        assert!(!supersedes(100, "a", 99, "b"));
        assert!(!supersedes(100, "a", 200, "a"));
    }
}
