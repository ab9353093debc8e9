//! Totems: which counters they serve (their sessions' window), what the store knows of a
//! scanned ticket, and the event-log entry of a scan.

use std::collections::HashMap;

use diesel::prelude::*;
use faccia_domain::session::{Channel, KeypadArming, SessionState};
use faccia_domain::totem::{ScannedSession, TicketFacts};
use faccia_domain::Millis;

use crate::models::{NewLog, SessionRow};
use crate::ops::append_log;
use crate::schema::{tickets, vote_sessions};
use crate::{log_kind, AnyConnection, StoreError};

/// The counters of a site that are served by a totem, each with its sessions' window (from
/// SERVED to the end of the time the citizen has to scan the ticket at the totem). Their
/// sessions open with keypad TOTEM, stay open that long and are never superseded by the next
/// citizen served at the counter.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TotemCounters {
    windows: HashMap<String, Millis>,
}

impl TotemCounters {
    /// From (counter, window in ms); a counter listed twice (two totems) takes the longest.
    pub fn new(counters: impl IntoIterator<Item = (String, Millis)>) -> TotemCounters {
        let mut windows: HashMap<String, Millis> = HashMap::new();
        for (c, w) in counters {
            let e = windows.entry(c).or_insert(w);
            *e = (*e).max(w);
        }
        TotemCounters { windows }
    }

    /// The window of a counter served by a totem.
    pub fn window(&self, counter: &str) -> Option<Millis> {
        self.windows.get(counter).copied()
    }

    pub fn is_empty(&self) -> bool {
        self.windows.is_empty()
    }
}

/// The newest counter session of the ticket `ticket` (of `source` when the code names it),
/// or whether the ticket exists at all.
pub fn ticket_facts(
    c: &mut AnyConnection,
    site: &str,
    source: Option<&str>,
    ticket: &str,
) -> Result<TicketFacts, StoreError> {
    let mut q = vote_sessions::table
        .filter(vote_sessions::site_id.eq(site))
        .filter(vote_sessions::ticket_id.eq(ticket))
        .filter(vote_sessions::channel.eq(Channel::Counter.as_str()))
        .into_boxed();
    if let Some(s) = source {
        q = q.filter(vote_sessions::source_id.eq(s.to_string()));
    }
    let row: Option<SessionRow> = q
        .order(vote_sessions::served_at.desc())
        .select(SessionRow::as_select())
        .first(c)
        .optional()?;
    if let Some(r) = row {
        return Ok(TicketFacts::Served(ScannedSession {
            state: SessionState::parse(&r.state)
                .ok_or_else(|| StoreError::Corrupt(format!("session state {:?}", r.state)))?,
            keypad: KeypadArming::parse(&r.keypad)
                .ok_or_else(|| StoreError::Corrupt(format!("keypad state {:?}", r.keypad)))?,
            token: u32::try_from(r.token)
                .map_err(|_| StoreError::Corrupt(format!("token {}", r.token)))?,
            session_id: r.session_id,
            counter_id: r.counter_id,
            expires_at: r.expires_at,
        }));
    }
    let mut q = tickets::table
        .filter(tickets::site_id.eq(site))
        .filter(tickets::ticket_id.eq(ticket))
        .into_boxed();
    if let Some(s) = source {
        q = q.filter(tickets::source_id.eq(s.to_string()));
    }
    let known: i64 = q.count().get_result(c)?;
    Ok(if known > 0 {
        TicketFacts::NotServed
    } else {
        TicketFacts::Unknown
    })
}

/// A refused scan, for the event log. Only what the store already holds is written: the
/// ticket and session when the code named a ticket of this office, never the scanned text
/// (a citizen may scan another card: a health card's code is personal data).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScanNote {
    pub totem_id: String,
    /// `ScanRefusal::as_str`.
    pub refusal: &'static str,
    /// What it means, in words.
    pub explain: &'static str,
    pub ticket_id: Option<String>,
    pub session_id: Option<String>,
    pub counter_id: Option<String>,
}

/// Appends a refused scan to the event log (kind KEYPAD: `fact_text` is `totem-refused`
/// and `detail` names the totem and the refusal).
pub fn log_scan(
    c: &mut AnyConnection,
    site: &str,
    now: Millis,
    note: &ScanNote,
) -> Result<(), StoreError> {
    append_log(
        c,
        site,
        NewLog {
            at: now,
            kind: log_kind::KEYPAD,
            counter_id: note.counter_id.clone().unwrap_or_default(),
            ticket_id: note.ticket_id.clone().unwrap_or_default(),
            session_id: note.session_id.clone().unwrap_or_default(),
            fact_text: format!("totem-refused:{}", note.refusal),
            detail: format!(
                "totem {}: scan refused ({}): {}",
                note.totem_id, note.refusal, note.explain
            ),
            ..NewLog::default()
        },
    )
}

#[cfg(test)]
mod tests {
    //! Totem sessions in the store, on SQLite and PostgreSQL (the migration's partial index).
    use std::sync::atomic::{AtomicI64, Ordering};
    use std::sync::Arc;

    use faccia_domain::session::{Face, Judgement};
    use faccia_domain::totem::{admit_scan, ScanRefusal};
    use faccia_domain::{EventKind, TicketEvent};

    use super::*;
    use crate::{read, DatabaseUrl, Rules, Store, VoteOutcome};

    const T0: Millis = 1_795_424_400_000;

    fn ev(id: &str, at: Millis, kind: EventKind, ticket: &str, counter: &str) -> TicketEvent {
        TicketEvent {
            source_id: "q".into(),
            event_id: id.into(),
            occurred_at: at,
            kind,
            ticket_id: ticket.into(),
            display_number: "A001".into(),
            service_code: "A".into(),
            counter_id: counter.into(),
            operator_ref: String::new(),
            transfer_to_service: String::new(),
            priority: 0,
        }
    }

    fn session(store_rows: &[SessionRow], ticket: &str) -> SessionRow {
        store_rows
            .iter()
            .find(|r| r.ticket_id == ticket)
            .cloned()
            .expect("session")
    }

    async fn check(url: DatabaseUrl) {
        let now = Arc::new(AtomicI64::new(T0));
        let n = now.clone();
        let rules = Rules {
            site_id: "test".into(),
            site_name: "Test".into(),
            vote_window_ms: 60_000,
            grace_ms: 10_000,
            reason_window_ms: 10_000,
            time_zone: chrono_tz::Europe::Rome,
            operator_data: false,
            keypad_counters: vec!["C1".into()],
        };
        let store = Store::open(
            &url,
            2_000,
            rules,
            Arc::new(move || n.load(Ordering::SeqCst)),
        )
        .expect("open")
        .with_totems(TotemCounters::new([
            ("C2".to_string(), 600_000),
            ("C2".to_string(), 300_000),
        ]));
        let mut at = T0 - 60_000;
        let mut publish = |kind, ticket: &'static str, counter: &'static str| {
            at += 1_000;
            let e = ev(&format!("{ticket}{at}"), at, kind, ticket, counter);
            let s = store.clone();
            async move { s.publish(e).await.expect("publish") }
        };
        // Two citizens served at C2 (a totem's counter): both sessions stay open.
        publish(EventKind::Served, "t1", "C2").await;
        publish(EventKind::Called, "t2", "C2").await;
        publish(EventKind::Served, "t2", "C2").await;
        // At C1 (its own keypad) the next citizen ends the session, as ever.
        publish(EventKind::Served, "k1", "C1").await;
        publish(EventKind::Served, "k2", "C1").await;
        publish(EventKind::Issued, "u1", "").await;
        let rows = store.read_site(read::sessions).await.expect("sessions");
        for t in ["t1", "t2"] {
            let s = session(&rows, t);
            assert_eq!(
                (s.state.as_str(), s.keypad.as_str()),
                ("OPEN", "TOTEM"),
                "{t}"
            );
            assert_eq!(s.expires_at - s.opened_at, 600_000, "the longest window");
        }
        assert_eq!(session(&rows, "k1").state, "SUPERSEDED");
        assert_eq!(session(&rows, "k2").state, "OPEN");

        let facts = |t: &'static str| {
            let s = store.clone();
            async move { s.ticket_facts(None, t.into()).await.expect("facts") }
        };
        assert_eq!(facts("nobody").await, TicketFacts::Unknown);
        assert_eq!(facts("u1").await, TicketFacts::NotServed);
        assert_eq!(
            store
                .ticket_facts(Some("other-source".into()), "t1".into())
                .await
                .expect("facts"),
            TicketFacts::Unknown
        );
        let TicketFacts::Served(f1) = facts("t1").await else {
            panic!("t1 served")
        };
        assert_eq!(
            (f1.counter_id.as_str(), f1.state),
            ("C2", SessionState::Open)
        );

        // The totem armed for t1; its vote enters t1's session.
        store
            .set_arming(f1.session_id.clone(), KeypadArming::TotemArmed)
            .await
            .expect("arming");
        let green = Judgement {
            face: Face::Green,
            reason: None,
        };
        let counters = vec!["C2".to_string(), "C3".to_string()];
        let got = store
            .record_totem_vote("T1".into(), counters.clone(), f1.token, green, T0)
            .await
            .expect("vote");
        assert!(matches!(got, VoteOutcome::Stored(ref s) if s.session_id == f1.session_id));
        let got = store
            .record_totem_vote("T1".into(), counters.clone(), f1.token, green, T0)
            .await
            .expect("vote");
        assert_eq!(got, VoteOutcome::AlreadyStored(f1.session_id.clone()));
        let TicketFacts::Served(t2) = facts("t2").await else {
            panic!("t2 served")
        };
        // A totem that does not serve C2 cannot vote for t2.
        let got = store
            .record_totem_vote("T9".into(), vec!["C3".into()], t2.token, green, T0)
            .await
            .expect("vote");
        assert_eq!(got, VoteOutcome::Orphan);
        assert_eq!(
            admit_scan(&facts("t1").await, &counters, T0, 30_000),
            Err(ScanRefusal::AlreadyVoted)
        );

        // Past the window: never scanned, t2 expires at its end.
        now.store(T0 + 600_001, Ordering::SeqCst);
        store.expire_due().await.expect("expire");
        assert_eq!(
            admit_scan(&facts("t2").await, &counters, T0 + 600_001, 30_000),
            Err(ScanRefusal::TooLate)
        );
        store
            .log_scan(ScanNote {
                totem_id: "T1".into(),
                refusal: ScanRefusal::TooLate.as_str(),
                explain: ScanRefusal::TooLate.explain(),
                ticket_id: Some("t2".into()),
                session_id: Some(t2.session_id.clone()),
                counter_id: Some("C2".into()),
            })
            .await
            .expect("log");
        let log = store
            .read(|c| read::log_after(c, None, 0, 1000))
            .await
            .expect("log");
        assert!(log
            .iter()
            .any(|r| r.fact_text == "totem-refused:too_late" && r.ticket_id == "t2"));
    }

    #[tokio::test]
    async fn totem_sessions_on_sqlite() {
        let dir = tempfile::tempdir().expect("dir");
        check(DatabaseUrl::Sqlite(dir.path().join("t.db"))).await;
    }

    #[tokio::test]
    async fn totem_sessions_on_postgres() {
        crate::on_scratch_postgres("faccia_totem", check).await;
    }
}
