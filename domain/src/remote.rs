//! The web and phone channels: a vote given through a single-use link or at the end of an
//! answered call. Each is one session (one service received, one vote), opened by the server
//! when the service ends, and the citizen who holds the link or the call is the only one who can
//! reach it. The rules here are pure: the server stores what they decide.

use sha2::{Digest, Sha256};

use crate::event::Millis;
use crate::session::{Admission, Face, Judgement, Refusal, SessionState};

/// How many bytes of key-derived randomness a link token carries (160 bits).
pub const TOKEN_BYTES: usize = 20;

/// The link token of a session: HMAC-SHA256 of the session id under the office's link key, its
/// first [`TOKEN_BYTES`] in lower-case base32 (32 characters, URL- and QR-friendly). Derived
/// rather than drawn so that a retried SERVED gets the same link back, while the database keeps
/// only its hash ([`token_hash`]): who reads the database cannot vote.
pub fn link_token(key: &[u8; 32], session_id: &str) -> String {
    let mac = crate::mac::hmac_sha256(key, session_id.as_bytes());
    base32(&mac[..TOKEN_BYTES])
}

/// What the database stores of a link token: its SHA-256, hex.
pub fn token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// Whether `s` has the shape of a link token (so that junk is refused before any lookup).
pub fn looks_like_token(s: &str) -> bool {
    s.len() == 32 && s.bytes().all(|b| matches!(b, b'a'..=b'z' | b'2'..=b'7'))
}

fn base32(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 32] = b"abcdefghijklmnopqrstuvwxyz234567";
    let mut out = String::with_capacity(bytes.len().div_ceil(5) * 8);
    let (mut acc, mut bits) = (0u32, 0u32);
    for &b in bytes {
        acc = (acc << 8) | u32::from(b);
        bits += 8;
        while bits >= 5 {
            bits -= 5;
            out.push(ALPHABET[((acc >> bits) & 31) as usize] as char);
        }
    }
    if bits > 0 {
        out.push(ALPHABET[((acc << (5 - bits)) & 31) as usize] as char);
    }
    out
}

/// Whether a vote through a link or a call enters its session: only while it is open and its
/// time has not run out; a second vote of the same session is only told it was given.
pub fn admit_remote_vote(state: SessionState, expires_at: Millis, now: Millis) -> Admission {
    match state {
        SessionState::Voted => Admission::AlreadyVoted,
        SessionState::Open if now < expires_at => Admission::Accept,
        _ => Admission::Refuse(Refusal::Ended),
    }
}

/// The AGID "valutazione del servizio" answer: 1-5 stars, then the follow-up question.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StarAnswer {
    pub stars: u8,
    /// The option (1..=5) of the follow-up question, if answered.
    pub follow_up: Option<u8>,
}

impl StarAnswer {
    pub fn new(stars: u8, follow_up: Option<u8>) -> Option<StarAnswer> {
        let ok = (1..=5).contains(&stars) && follow_up.is_none_or(|f| (1..=5).contains(&f));
        ok.then_some(StarAnswer { stars, follow_up })
    }

    /// 4-5 stars count green, 3 yellow, 1-2 red (no reason key: the follow-up is kept raw).
    pub fn judgement(self) -> Judgement {
        let face = match self.stars {
            4 | 5 => Face::Green,
            3 => Face::Yellow,
            _ => Face::Red,
        };
        Judgement { face, reason: None }
    }
}

/// The longest free text a citizen may leave with a web vote, in characters.
pub const FREE_TEXT_MAX: usize = 200;

/// The free text as it is kept: trimmed, control characters dropped, at most
/// [`FREE_TEXT_MAX`] characters; None when nothing is left.
pub fn clean_free_text(s: &str) -> Option<String> {
    let t: String = s
        .trim()
        .chars()
        .filter(|c| !c.is_control() || *c == '\n')
        .take(FREE_TEXT_MAX)
        .collect();
    let t = t.trim().to_string();
    (!t.is_empty()).then_some(t)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_long_stable_and_keyed() {
        let k1 = [7u8; 32];
        let k2 = [8u8; 32];
        let t = link_token(&k1, "vs-1");
        assert_eq!(t.len(), 32);
        assert!(looks_like_token(&t));
        assert_eq!(t, link_token(&k1, "vs-1"));
        assert_ne!(t, link_token(&k1, "vs-2"));
        assert_ne!(t, link_token(&k2, "vs-1"));
        assert_ne!(token_hash(&t), t);
        assert_eq!(token_hash(&t).len(), 64);
        assert!(!looks_like_token("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"));
        assert!(!looks_like_token("short"));
    }

    #[test]
    fn base32_of_known_bytes() {
        assert_eq!(base32(b"foobar"), "mzxw6ytboi");
    }

    #[test]
    fn remote_admission() {
        use SessionState::*;
        assert_eq!(admit_remote_vote(Open, 100, 99), Admission::Accept);
        assert_eq!(
            admit_remote_vote(Open, 100, 100),
            Admission::Refuse(Refusal::Ended)
        );
        assert_eq!(admit_remote_vote(Voted, 100, 50), Admission::AlreadyVoted);
        for s in [Expired, Superseded, Cancelled, KeypadRebooted] {
            assert_eq!(
                admit_remote_vote(s, 100, 50),
                Admission::Refuse(Refusal::Ended)
            );
        }
    }

    #[test]
    fn stars() {
        assert_eq!(StarAnswer::new(0, None), None);
        assert_eq!(StarAnswer::new(6, None), None);
        assert_eq!(StarAnswer::new(3, Some(6)), None);
        let f = |s| StarAnswer::new(s, None).map(|a| a.judgement().face);
        assert_eq!(f(5), Some(Face::Green));
        assert_eq!(f(4), Some(Face::Green));
        assert_eq!(f(3), Some(Face::Yellow));
        assert_eq!(f(2), Some(Face::Red));
        assert_eq!(f(1), Some(Face::Red));
    }

    #[test]
    fn free_text() {
        assert_eq!(clean_free_text("   "), None);
        assert_eq!(clean_free_text(" ok\u{7} "), Some("ok".into()));
        assert_eq!(
            clean_free_text(&"à".repeat(300)).map(|t| t.chars().count()),
            Some(200)
        );
    }
}
