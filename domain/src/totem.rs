//! The totem: an FK-3 keypad at the office's entrance that serves several counters, with a
//! serial barcode/QR scanner beside it. The citizen scans the ticket; the totem is armed for
//! that ticket's session when it was served at one of the totem's counters, within the totem's
//! window, and the session is still open.
//!
//! This module is the pure part: reading the scanner's lines ([`LineSplitter`], [`clean_line`]),
//! what a ticket's code holds ([`CodePattern`]) and the admission rule of a scan
//! ([`admit_scan`]). The server reads the tty, asks the store for the ticket's facts and
//! carries out the decision on the keypad.

use thiserror::Error;

use crate::event::Millis;
use crate::keypad::MIN_WINDOW_S;
use crate::session::{KeypadArming, SessionState};

/// The longest scan line kept (a QR code of a ticket is far shorter). Longer lines are malformed.
pub const MAX_LINE: usize = 256;
/// A partial line with no terminator after this long is thrown away as malformed (a scanner
/// configured without CR/LF, or noise on the wire).
pub const STALE_PARTIAL_MS: Millis = 1_000;

/// Why a scan does not arm the totem. Each is shown on the totem (the same refusal pattern for
/// all: see `docs/totem.md`), counted and written to the event log.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ScanRefusal {
    /// Not a ticket code: not printable ASCII, too long, or not in the configured pattern.
    Malformed,
    /// The code names another office (site).
    OtherOffice,
    /// No ticket of this office has that code.
    Unknown,
    /// The ticket exists but has not been served (yet).
    NotServed,
    /// Served at a counter this totem does not serve.
    OtherCounter,
    /// Served too long ago: the totem's window is over, or the session has ended.
    TooLate,
    /// The ticket's one vote has already been given.
    AlreadyVoted,
}

impl ScanRefusal {
    pub const ALL: [ScanRefusal; 7] = [
        ScanRefusal::Malformed,
        ScanRefusal::OtherOffice,
        ScanRefusal::Unknown,
        ScanRefusal::NotServed,
        ScanRefusal::OtherCounter,
        ScanRefusal::TooLate,
        ScanRefusal::AlreadyVoted,
    ];

    /// The name in metrics and in the event log.
    pub fn as_str(self) -> &'static str {
        match self {
            ScanRefusal::Malformed => "malformed",
            ScanRefusal::OtherOffice => "other_office",
            ScanRefusal::Unknown => "unknown",
            ScanRefusal::NotServed => "not_served",
            ScanRefusal::OtherCounter => "other_counter",
            ScanRefusal::TooLate => "too_late",
            ScanRefusal::AlreadyVoted => "already_voted",
        }
    }

    /// What it means, Italian first, English second (for the event log and the technician).
    pub fn explain(self) -> &'static str {
        match self {
            ScanRefusal::Malformed => "codice non leggibile / not a ticket code",
            ScanRefusal::OtherOffice => {
                "biglietto di un altro ufficio / a ticket of another office"
            }
            ScanRefusal::Unknown => "biglietto sconosciuto / unknown ticket",
            ScanRefusal::NotServed => "biglietto non ancora servito / ticket not served",
            ScanRefusal::OtherCounter => {
                "servito a uno sportello che questo totem non serve / served at a counter this totem does not serve"
            }
            ScanRefusal::TooLate => {
                "servito troppo tempo fa / served too long ago (the totem's window is over)"
            }
            ScanRefusal::AlreadyVoted => {
                "il giudizio per questo biglietto è già stato dato / this ticket has already voted"
            }
        }
    }
}

/// Splits the scanner's byte stream into lines: CR, LF and CRLF all end a line (empty lines,
/// such as the LF of a CRLF, are skipped). A line longer than [`MAX_LINE`] is reported once as
/// too long and the rest of it is dropped.
#[derive(Debug, Default, Clone)]
pub struct LineSplitter {
    buf: Vec<u8>,
    overflow: bool,
    last_byte_at: Option<Millis>,
}

/// One line from the scanner.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RawLine {
    /// The bytes of a line, without its terminator.
    Line(Vec<u8>),
    /// A line that was too long, or a partial line that went stale: malformed.
    Garbled,
}

impl LineSplitter {
    /// Feeds bytes received at `now`; returns the lines they complete, in order.
    pub fn push(&mut self, bytes: &[u8], now: Millis) -> Vec<RawLine> {
        let mut out = Vec::new();
        for &b in bytes {
            if b == b'\r' || b == b'\n' {
                if self.overflow {
                    out.push(RawLine::Garbled);
                } else if !self.buf.is_empty() {
                    out.push(RawLine::Line(std::mem::take(&mut self.buf)));
                }
                self.buf.clear();
                self.overflow = false;
            } else if self.overflow {
                // dropped until the terminator
            } else if self.buf.len() >= MAX_LINE {
                self.overflow = true;
                self.buf.clear();
            } else {
                self.buf.push(b);
            }
        }
        if !bytes.is_empty() {
            self.last_byte_at = Some(now);
        }
        out
    }

    /// A partial line with no byte for [`STALE_PARTIAL_MS`] is thrown away: `Garbled` once.
    pub fn flush_stale(&mut self, now: Millis) -> Option<RawLine> {
        let pending = !self.buf.is_empty() || self.overflow;
        if pending
            && self
                .last_byte_at
                .is_some_and(|t| now - t >= STALE_PARTIAL_MS)
        {
            self.buf.clear();
            self.overflow = false;
            return Some(RawLine::Garbled);
        }
        None
    }
}

/// Strips what the scanner adds around the code: the configured prefix and suffix (when
/// present) and an AIM symbology identifier (`]` + code letter + modifier, such as `]Q1` for
/// QR, `]C0` for Code 128, `]E0` for EAN-13), before or after the prefix. Only printable ASCII
/// is a code: anything else is malformed.
pub fn clean_line(line: &[u8], prefix: &str, suffix: &str) -> Result<String, ScanRefusal> {
    if line.is_empty() || line.len() > MAX_LINE || !line.iter().all(|b| (0x20..0x7F).contains(b)) {
        return Err(ScanRefusal::Malformed);
    }
    // Printable ASCII is UTF-8.
    let mut s = std::str::from_utf8(line).map_err(|_| ScanRefusal::Malformed)?;
    s = strip_aim(s);
    if !prefix.is_empty() {
        if let Some(rest) = s.strip_prefix(prefix) {
            s = strip_aim(rest);
        }
    }
    if !suffix.is_empty() {
        if let Some(rest) = s.strip_suffix(suffix) {
            s = rest;
        }
    }
    let s = s.trim();
    if s.is_empty() {
        return Err(ScanRefusal::Malformed);
    }
    Ok(s.to_string())
}

/// An AIM symbology identifier at the start: `]`, a code letter, a modifier character.
fn strip_aim(s: &str) -> &str {
    let b = s.as_bytes();
    if b.len() >= 3 && b[0] == b']' && b[1].is_ascii_alphabetic() && b[2].is_ascii_alphanumeric() {
        &s[3..]
    } else {
        s
    }
}

/// A placeholder of a [`CodePattern`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Field {
    Site,
    Source,
    Ticket,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Part {
    Text(String),
    Field(Field),
}

/// A pattern that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum PatternError {
    #[error("must contain {{ticket}}")]
    NoTicket,
    #[error("{{{0}}} appears twice")]
    Twice(String),
    #[error("unknown placeholder {{{0}}}: use {{site}}, {{source}} and {{ticket}}")]
    Unknown(String),
    #[error("an unclosed {{")]
    Unclosed,
    #[error("two placeholders must be separated by some text, e.g. {{site}}/{{ticket}}")]
    Adjacent,
}

/// What the ticket's code holds: literal text and the placeholders `{site}` (the office's site
/// id), `{source}` (the queue system's source id) and `{ticket}` (the ticket id of the queue
/// events), e.g. `{site}/{ticket}` (the default) or `FACCIA:{site}:{source}:{ticket}`. The queue
/// integrator prints the code on the ticket (as a QR code or a Code 128 barcode).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CodePattern {
    parts: Vec<Part>,
}

/// The fields a code held.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TicketCode {
    pub site: Option<String>,
    pub source: Option<String>,
    pub ticket: String,
}

impl CodePattern {
    pub const DEFAULT: &'static str = "{site}/{ticket}";

    pub fn parse(pattern: &str) -> Result<CodePattern, PatternError> {
        let mut parts = Vec::new();
        let mut rest = pattern;
        let mut seen = Vec::new();
        while !rest.is_empty() {
            match rest.find('{') {
                Some(0) => {
                    let end = rest.find('}').ok_or(PatternError::Unclosed)?;
                    let name = &rest[1..end];
                    let field = match name {
                        "site" => Field::Site,
                        "source" => Field::Source,
                        "ticket" => Field::Ticket,
                        other => return Err(PatternError::Unknown(other.to_string())),
                    };
                    if seen.contains(&field) {
                        return Err(PatternError::Twice(name.to_string()));
                    }
                    if matches!(parts.last(), Some(Part::Field(_))) {
                        return Err(PatternError::Adjacent);
                    }
                    seen.push(field);
                    parts.push(Part::Field(field));
                    rest = &rest[end + 1..];
                }
                Some(i) => {
                    parts.push(Part::Text(rest[..i].to_string()));
                    rest = &rest[i..];
                }
                None => {
                    parts.push(Part::Text(rest.to_string()));
                    rest = "";
                }
            }
        }
        if !seen.contains(&Field::Ticket) {
            return Err(PatternError::NoTicket);
        }
        Ok(CodePattern { parts })
    }

    /// Does the pattern say which office a code belongs to?
    pub fn has_site(&self) -> bool {
        self.parts.contains(&Part::Field(Field::Site))
    }

    /// The fields of `code`, or `None` when it is not in the pattern. A placeholder takes the
    /// shortest text up to the literal that follows it (the last one takes the rest); no field
    /// may be empty.
    pub fn matches(&self, code: &str) -> Option<TicketCode> {
        let mut rest = code;
        let mut out = TicketCode {
            site: None,
            source: None,
            ticket: String::new(),
        };
        let mut i = 0;
        while i < self.parts.len() {
            match &self.parts[i] {
                Part::Text(t) => rest = rest.strip_prefix(t.as_str())?,
                Part::Field(f) => {
                    let value = match self.parts.get(i + 1) {
                        Some(Part::Text(next)) if i + 2 == self.parts.len() => {
                            // the last literal ends the code
                            let v = rest.strip_suffix(next.as_str())?;
                            rest = next.as_str();
                            v
                        }
                        Some(Part::Text(next)) => {
                            let at = rest.find(next.as_str())?;
                            let v = &rest[..at];
                            rest = &rest[at..];
                            v
                        }
                        _ => std::mem::take(&mut rest),
                    };
                    if value.is_empty() {
                        return None;
                    }
                    match f {
                        Field::Site => out.site = Some(value.to_string()),
                        Field::Source => out.source = Some(value.to_string()),
                        Field::Ticket => out.ticket = value.to_string(),
                    }
                }
            }
            i += 1;
        }
        rest.is_empty().then_some(out)
    }
}

/// What the store knows of the newest counter session of a scanned ticket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScannedSession {
    pub session_id: String,
    pub counter_id: String,
    pub state: SessionState,
    pub keypad: KeypadArming,
    pub token: u32,
    /// End of the totem's window for it (SERVED plus the window), on the host's clock.
    pub expires_at: Millis,
}

/// What the store knows of a scanned ticket code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TicketFacts {
    /// No ticket of this office has that id.
    Unknown,
    /// The ticket exists and has no counter session: it has not been served.
    NotServed,
    /// Its newest counter session.
    Served(ScannedSession),
}

/// What a scan arms the totem for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TotemArming {
    pub session_id: String,
    pub token: u32,
    /// When the faces go dark at the latest: the totem's own arming window from the scan,
    /// never past the end of the session's window.
    pub until: Millis,
}

/// The admission rule of a scan at a totem serving `counters`, at `now`, the faces staying
/// lit for `arm_window_ms`: the ticket must have been served at one of them, its session must
/// still be open (not voted, not ended) and inside its window, with at least the keypad's
/// shortest window left.
pub fn admit_scan(
    facts: &TicketFacts,
    counters: &[String],
    now: Millis,
    arm_window_ms: Millis,
) -> Result<TotemArming, ScanRefusal> {
    let s = match facts {
        TicketFacts::Unknown => return Err(ScanRefusal::Unknown),
        TicketFacts::NotServed => return Err(ScanRefusal::NotServed),
        TicketFacts::Served(s) => s,
    };
    if !counters.contains(&s.counter_id) {
        return Err(ScanRefusal::OtherCounter);
    }
    match s.state {
        SessionState::Voted => return Err(ScanRefusal::AlreadyVoted),
        SessionState::Open => {}
        SessionState::Expired
        | SessionState::Superseded
        | SessionState::Cancelled
        | SessionState::KeypadRebooted => return Err(ScanRefusal::TooLate),
    }
    if !s.keypad.is_totem() {
        // Opened while the counter had a keypad of its own (before the totem was configured):
        // its vote belongs to that keypad.
        return Err(ScanRefusal::OtherCounter);
    }
    if s.expires_at - now < Millis::from(MIN_WINDOW_S) * 1000 {
        return Err(ScanRefusal::TooLate);
    }
    Ok(TotemArming {
        session_id: s.session_id.clone(),
        token: s.token,
        until: (now + arm_window_ms).min(s.expires_at),
    })
}

/// Checks the office a code names (when the pattern has `{site}`).
pub fn check_site(code: &TicketCode, site_id: &str) -> Result<(), ScanRefusal> {
    match &code.site {
        Some(s) if s != site_id => Err(ScanRefusal::OtherOffice),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_end_with_cr_lf_or_crlf() {
        let mut l = LineSplitter::default();
        let got = l.push(b"a1\rb2\nc3\r\nd4", 0);
        assert_eq!(
            got,
            vec![
                RawLine::Line(b"a1".to_vec()),
                RawLine::Line(b"b2".to_vec()),
                RawLine::Line(b"c3".to_vec())
            ]
        );
        assert_eq!(l.push(b"\r\n", 10), vec![RawLine::Line(b"d4".to_vec())]);
        // split across reads
        assert!(l.push(b"e", 20).is_empty());
        assert_eq!(l.push(b"5\n", 30), vec![RawLine::Line(b"e5".to_vec())]);
    }

    #[test]
    fn long_and_stale_lines_are_garbled() {
        let mut l = LineSplitter::default();
        let long = vec![b'x'; MAX_LINE + 10];
        assert!(l.push(&long, 0).is_empty());
        assert_eq!(l.push(b"\n", 1), vec![RawLine::Garbled]);
        assert_eq!(l.push(b"ok\n", 2), vec![RawLine::Line(b"ok".to_vec())]);
        assert!(l.push(b"half", 100).is_empty());
        assert_eq!(l.flush_stale(100 + STALE_PARTIAL_MS - 1), None);
        assert_eq!(
            l.flush_stale(100 + STALE_PARTIAL_MS),
            Some(RawLine::Garbled)
        );
        assert_eq!(l.flush_stale(100 + 5 * STALE_PARTIAL_MS), None);
        assert_eq!(
            l.push(b"next\r", 9_000),
            vec![RawLine::Line(b"next".to_vec())]
        );
    }

    #[test]
    fn prefix_suffix_and_aim_ids_are_stripped() {
        assert_eq!(
            clean_line(b"]Q1ufficio/T1", "", ""),
            Ok("ufficio/T1".into())
        );
        assert_eq!(clean_line(b"]C0abc", "", ""), Ok("abc".into()));
        assert_eq!(
            clean_line(b"]E04006381333931", "", ""),
            Ok("4006381333931".into())
        );
        assert_eq!(clean_line(b"STX]Q1abc#", "STX", "#"), Ok("abc".into()));
        assert_eq!(clean_line(b"]Q1STXabc#", "STX", "#"), Ok("abc".into()));
        // prefix and suffix are stripped when present, not required
        assert_eq!(clean_line(b"abc", "STX", "#"), Ok("abc".into()));
        assert_eq!(clean_line(b"  abc ", "", ""), Ok("abc".into()));
        assert_eq!(clean_line(b"", "", ""), Err(ScanRefusal::Malformed));
        assert_eq!(clean_line(b"]Q1", "", ""), Err(ScanRefusal::Malformed));
        assert_eq!(clean_line(b"STX#", "STX", "#"), Err(ScanRefusal::Malformed));
        assert_eq!(clean_line(b"ab\x07c", "", ""), Err(ScanRefusal::Malformed));
        assert_eq!(
            clean_line("caffè".as_bytes(), "", ""),
            Err(ScanRefusal::Malformed)
        );
        assert_eq!(
            clean_line(&[b'a'; MAX_LINE + 1], "", ""),
            Err(ScanRefusal::Malformed)
        );
    }

    #[test]
    fn patterns() {
        let p = CodePattern::parse(CodePattern::DEFAULT).unwrap();
        assert!(p.has_site());
        assert_eq!(
            p.matches("c_e001-urp/A-2026-0042"),
            Some(TicketCode {
                site: Some("c_e001-urp".into()),
                source: None,
                ticket: "A-2026-0042".into()
            })
        );
        // the ticket (last field) takes the rest, slashes included
        assert_eq!(p.matches("s/a/b").map(|c| c.ticket), Some("a/b".into()));
        assert_eq!(p.matches("no-slash"), None);
        assert_eq!(p.matches("/t"), None);
        assert_eq!(p.matches("s/"), None);

        let p = CodePattern::parse("FACCIA:{site}:{source}:{ticket}#").unwrap();
        assert_eq!(
            p.matches("FACCIA:ufficio:eliminacode-1:T7#"),
            Some(TicketCode {
                site: Some("ufficio".into()),
                source: Some("eliminacode-1".into()),
                ticket: "T7".into()
            })
        );
        assert_eq!(p.matches("FACCIA:ufficio:eliminacode-1:T7"), None);
        assert_eq!(p.matches("XFACCIA:ufficio:e:T7#"), None);

        let p = CodePattern::parse("{ticket}").unwrap();
        assert!(!p.has_site());
        assert_eq!(p.matches("T9").map(|c| c.ticket), Some("T9".into()));

        assert_eq!(CodePattern::parse("{site}"), Err(PatternError::NoTicket));
        assert_eq!(
            CodePattern::parse("{site}{ticket}"),
            Err(PatternError::Adjacent)
        );
        assert_eq!(
            CodePattern::parse("{ticket}/{ticket}"),
            Err(PatternError::Twice("ticket".into()))
        );
        assert_eq!(
            CodePattern::parse("{tiket}"),
            Err(PatternError::Unknown("tiket".into()))
        );
        assert_eq!(CodePattern::parse("{ticket"), Err(PatternError::Unclosed));
    }

    fn session(state: SessionState, keypad: KeypadArming, counter: &str) -> TicketFacts {
        TicketFacts::Served(ScannedSession {
            session_id: "vs-1".into(),
            counter_id: counter.into(),
            state,
            keypad,
            token: 77,
            expires_at: 600_000,
        })
    }

    #[test]
    fn scan_admission() {
        let counters = vec!["S01".to_string(), "S02".to_string()];
        let open = session(SessionState::Open, KeypadArming::Totem, "S02");
        assert_eq!(
            admit_scan(&open, &counters, 100_000, 30_000),
            Ok(TotemArming {
                session_id: "vs-1".into(),
                token: 77,
                until: 130_000
            })
        );
        // armed before (scanned again after the faces went dark): armed again
        let again = session(SessionState::Open, KeypadArming::TotemArmed, "S01");
        assert!(admit_scan(&again, &counters, 100_000, 30_000).is_ok());
        // never past the session's window
        assert_eq!(
            admit_scan(&open, &counters, 590_000, 30_000).map(|a| a.until),
            Ok(600_000)
        );
        assert_eq!(
            admit_scan(&open, &counters, 596_000, 30_000),
            Err(ScanRefusal::TooLate)
        );
        assert_eq!(
            admit_scan(&TicketFacts::Unknown, &counters, 0, 30_000),
            Err(ScanRefusal::Unknown)
        );
        assert_eq!(
            admit_scan(&TicketFacts::NotServed, &counters, 0, 30_000),
            Err(ScanRefusal::NotServed)
        );
        assert_eq!(
            admit_scan(
                &session(SessionState::Open, KeypadArming::Totem, "S03"),
                &counters,
                0,
                30_000
            ),
            Err(ScanRefusal::OtherCounter)
        );
        assert_eq!(
            admit_scan(
                &session(SessionState::Voted, KeypadArming::TotemArmed, "S01"),
                &counters,
                0,
                30_000
            ),
            Err(ScanRefusal::AlreadyVoted)
        );
        for ended in [
            SessionState::Expired,
            SessionState::Cancelled,
            SessionState::Superseded,
            SessionState::KeypadRebooted,
        ] {
            assert_eq!(
                admit_scan(
                    &session(ended, KeypadArming::Totem, "S01"),
                    &counters,
                    0,
                    30_000
                ),
                Err(ScanRefusal::TooLate)
            );
        }
        // a session of the counter's own keypad is not the totem's
        assert_eq!(
            admit_scan(
                &session(SessionState::Open, KeypadArming::Pending, "S01"),
                &counters,
                0,
                30_000
            ),
            Err(ScanRefusal::OtherCounter)
        );
    }

    #[test]
    fn sites() {
        let code = |site: Option<&str>| TicketCode {
            site: site.map(str::to_string),
            source: None,
            ticket: "t".into(),
        };
        assert_eq!(check_site(&code(Some("a")), "a"), Ok(()));
        assert_eq!(check_site(&code(None), "a"), Ok(()));
        assert_eq!(
            check_site(&code(Some("b")), "a"),
            Err(ScanRefusal::OtherOffice)
        );
    }
}
