//! Totems: the scanner's tty and the judgement of a scan. The totem's keypad is run by
//! `keypad_link` like a counter's (one task, one [`faccia_domain::keypad::CounterKeypad`]
//! machine), fed with the sessions the scans admit; see `docs/totem.md`.
//!
//! The scanner task reads the tty (8N1 at the configured baud), splits the bytes into lines
//! (CR, LF or CRLF), strips the configured prefix and suffix and the AIM symbology identifier
//! ([`faccia_domain::totem::clean_line`]) and hands each line to the totem's keypad task. A
//! port that cannot be opened, or fails, is opened again every two seconds.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use faccia_domain::totem::{
    admit_scan, check_site, clean_line, CodePattern, LineSplitter, RawLine, ScanRefusal,
    TicketFacts, TotemArming,
};
use faccia_domain::Millis;
use tokio::io::AsyncReadExt;

use crate::config::TotemSettings;
use crate::storage::{ScanNote, Store};

/// How long the scanner task waits before opening a port that failed again.
const REOPEN: Duration = Duration::from_secs(2);
/// How often a partial line is checked for staleness.
const READ_SLICE: Duration = Duration::from_millis(250);

/// One line from the scanner: the code it holds (prefix, suffix and AIM id stripped), or why
/// it is not a code.
pub type ScanLine = Result<String, ScanRefusal>;

/// A totem as its keypad task needs it.
#[derive(Debug, Clone)]
pub struct TotemSeat {
    pub id: String,
    pub counters: Vec<String>,
    pub arm_window_ms: Millis,
    pub pattern: CodePattern,
    pub site_id: String,
}

impl TotemSeat {
    /// From checked configuration (the pattern was checked with it).
    pub fn new(site_id: &str, t: &TotemSettings) -> Option<TotemSeat> {
        Some(TotemSeat {
            id: t.id.clone(),
            counters: t.counters.clone(),
            arm_window_ms: Millis::from(t.arm_window_s) * 1000,
            pattern: CodePattern::parse(&t.code).ok()?,
            site_id: site_id.to_string(),
        })
    }
}

/// Scans by totem and outcome since the process started (for the metrics).
#[derive(Debug, Default, Clone)]
pub struct ScanCounts(Arc<Mutex<BTreeMap<(String, &'static str), u64>>>);

impl ScanCounts {
    pub fn add(&self, totem: &str, outcome: &'static str) {
        if let Ok(mut m) = self.0.lock() {
            *m.entry((totem.to_string(), outcome)).or_default() += 1;
        }
    }

    /// (totem, outcome, scans), sorted.
    pub fn list(&self) -> Vec<(String, &'static str, u64)> {
        self.0
            .lock()
            .map(|m| m.iter().map(|((t, o), n)| (t.clone(), *o, *n)).collect())
            .unwrap_or_default()
    }
}

/// The name of an accepted scan in the metrics.
pub const ARMED: &str = "armed";

/// What a scan comes to: arm the totem for a session, or a refusal with its event-log note.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Judged {
    Arm(TotemArming, bool),
    Refused(ScanNote),
}

/// Judges one scanner line at `now`: the code's pattern and office, the store's facts about
/// the ticket, and [`admit_scan`]. `Arm(arming, already_armed)`: `already_armed` when the store
/// records the totem as having held the session before. A store that cannot answer refuses
/// nothing: `None` (the citizen scans again).
pub async fn judge(store: &Store, seat: &TotemSeat, line: ScanLine, now: Millis) -> Option<Judged> {
    let refused = |refusal: ScanRefusal, facts: Option<&TicketFacts>, ticket: Option<&str>| {
        let (session_id, counter_id) = match facts {
            Some(TicketFacts::Served(s)) => {
                (Some(s.session_id.clone()), Some(s.counter_id.clone()))
            }
            _ => (None, None),
        };
        // The scanned text is written only when it names a ticket of this office.
        let known = matches!(facts, Some(TicketFacts::Served(_) | TicketFacts::NotServed));
        Judged::Refused(ScanNote {
            totem_id: seat.id.clone(),
            refusal: refusal.as_str(),
            explain: refusal.explain(),
            ticket_id: ticket.filter(|_| known).map(str::to_string),
            session_id,
            counter_id,
        })
    };
    let code = match line {
        Ok(c) => c,
        Err(r) => return Some(refused(r, None, None)),
    };
    let Some(fields) = seat.pattern.matches(&code) else {
        return Some(refused(ScanRefusal::Malformed, None, None));
    };
    if let Err(r) = check_site(&fields, &seat.site_id) {
        return Some(refused(r, None, None));
    }
    let facts = match store
        .ticket_facts(fields.source.clone(), fields.ticket.clone())
        .await
    {
        Ok(f) => f,
        Err(e) => {
            tracing::warn!(totem = %seat.id, error = %e, "cannot look the scanned ticket up; the scan is ignored");
            return None;
        }
    };
    match admit_scan(&facts, &seat.counters, now, seat.arm_window_ms) {
        Ok(arming) => {
            let held = matches!(&facts, TicketFacts::Served(s) if s.keypad == faccia_domain::KeypadArming::TotemArmed);
            Some(Judged::Arm(arming, held))
        }
        Err(r) => Some(refused(r, Some(&facts), Some(&fields.ticket))),
    }
}

/// Reads the scanner of a totem for ever, handing every line to `deliver` (which returns false
/// when the totem's task has stopped: then the reader stops too).
pub fn spawn_scanner(
    totem: String,
    port: PathBuf,
    baud: u32,
    prefix: String,
    suffix: String,
    clock: impl Fn() -> Millis + Send + 'static,
    deliver: impl Fn(ScanLine) -> bool + Send + 'static,
) {
    tokio::spawn(async move {
        let mut warned = false;
        loop {
            let mut stream = match faccia_serial::open_port(&port, baud) {
                Ok(s) => {
                    tracing::info!(totem, port = %port.display(), baud, "totem scanner open");
                    warned = false;
                    s
                }
                Err(e) => {
                    if !warned {
                        tracing::warn!(totem, port = %port.display(), error = %e, "cannot open the totem's scanner; trying again every 2 s");
                        warned = true;
                    }
                    tokio::time::sleep(REOPEN).await;
                    continue;
                }
            };
            let mut lines = LineSplitter::default();
            let mut buf = [0u8; 512];
            loop {
                let got = tokio::time::timeout(READ_SLICE, stream.read(&mut buf)).await;
                let now = clock();
                let raw = match got {
                    Ok(Ok(0)) | Ok(Err(_)) => {
                        tracing::warn!(totem, port = %port.display(), "the totem's scanner port closed or failed; opening it again");
                        break;
                    }
                    Ok(Ok(n)) => lines.push(&buf[..n], now),
                    Err(_) => lines.flush_stale(now).into_iter().collect(),
                };
                for r in raw {
                    let line = match r {
                        RawLine::Line(bytes) => clean_line(&bytes, &prefix, &suffix),
                        RawLine::Garbled => Err(ScanRefusal::Malformed),
                    };
                    if !deliver(line) {
                        return;
                    }
                }
            }
            drop(stream);
            tokio::time::sleep(REOPEN).await;
        }
    });
}
