//! What one write transaction does. Every function here runs inside the writer's transaction;
//! the rules themselves come from `faccia_domain`.

use diesel::prelude::*;
use faccia_domain::session::{
    admit_totem_vote, admit_vote, next_token, session_id, store_expiry, supersedes, token_seed,
    Admission, Channel, Judgement, KeypadArming, Refusal, SessionState, VoteTarget,
    TOKEN_LIFETIME_MS,
};
use faccia_domain::stats::spans_midnight;
use faccia_domain::ticket::{decide, Step, TicketState, TicketView, Verdict};
use faccia_domain::{EventKind, Millis, TicketEvent, DAY_MS};

use super::batch;
use super::conn::{cached, execute_cached, on_backend, AnyConnection};
use super::models::*;
use super::schema::*;
use super::totem::TotemCounters;
use super::{log_kind, outcome_code, rollup, KeypadNote, Rules, SessionChange, StoreError};
use crate::remote::{self, RemoteSession};
use crate::weblink::WebLinks;

/// The session changes of the running write job, handed to the store's subscribers only once
/// the job's transaction has committed (and dropped when it rolls back). One writer thread runs
/// one job at a time, so a thread-local holds exactly that job's changes.
pub(crate) mod changes {
    use std::cell::RefCell;

    use crate::SessionChange;

    thread_local! {
        static PENDING: RefCell<Vec<SessionChange>> = const { RefCell::new(Vec::new()) };
    }

    pub(crate) fn push(change: SessionChange) {
        PENDING.with(|p| p.borrow_mut().push(change));
    }

    pub(crate) fn take() -> Vec<SessionChange> {
        PENDING.with(|p| std::mem::take(&mut *p.borrow_mut()))
    }
}

/// How a received event was answered (numbers of `EventAck.Status`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AckStatus {
    Accepted = 1,
    Duplicate = 2,
    Stale = 3,
}

impl AckStatus {
    fn from_code(c: i32) -> AckStatus {
        match c {
            1 => AckStatus::Accepted,
            2 => AckStatus::Duplicate,
            _ => AckStatus::Stale,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            AckStatus::Accepted => "ACCEPTED",
            AckStatus::Duplicate => "DUPLICATE",
            AckStatus::Stale => "STALE_IGNORED",
        }
    }
}

/// A vote session as the queue system and the keypad layer see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionInfo {
    pub session_id: String,
    pub counter_id: String,
    pub ticket_id: String,
    pub expires_at: Millis,
    pub keypad: KeypadArming,
    pub state: SessionState,
    pub token: u32,
    /// COUNTER (a keypad or none), WEB (a link) or PHONE.
    pub channel: Channel,
}

/// The answer to one event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ack {
    pub status: AckStatus,
    pub event_id: String,
    pub session: Option<SessionInfo>,
    pub detail: String,
}

/// What the queue system says one counter holds now (Reconcile).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CounterClaim {
    pub counter_id: String,
    pub open: bool,
    pub ticket_id: String,
    /// CALLED, IN_SERVICE or SERVED; empty with no ticket.
    pub ticket_state: String,
}

/// What became of a vote a keypad reported.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VoteOutcome {
    /// Stored now, through its open session.
    Stored(SessionInfo),
    /// Stored before (a restart between storing and acknowledging): only acknowledge.
    AlreadyStored(String),
    /// No session has that token: acknowledge, discard, count.
    Orphan,
}

pub(crate) fn session_info(row: &SessionRow) -> Result<SessionInfo, StoreError> {
    Ok(SessionInfo {
        session_id: row.session_id.clone(),
        counter_id: row.counter_id.clone(),
        ticket_id: row.ticket_id.clone(),
        expires_at: row.expires_at,
        keypad: KeypadArming::parse(&row.keypad)
            .ok_or_else(|| StoreError::Corrupt(format!("keypad state {:?}", row.keypad)))?,
        state: SessionState::parse(&row.state)
            .ok_or_else(|| StoreError::Corrupt(format!("session state {:?}", row.state)))?,
        token: u32::try_from(row.token)
            .map_err(|_| StoreError::Corrupt(format!("token {}", row.token)))?,
        channel: Channel::parse(&row.channel)
            .ok_or_else(|| StoreError::Corrupt(format!("channel {:?}", row.channel)))?,
    })
}

pub(crate) fn append_log(
    c: &mut AnyConnection,
    site: &str,
    mut entry: NewLog,
) -> Result<(), StoreError> {
    entry.site_id = site.to_string();
    batch::append_log(c, entry)
}

fn step_of(row: &StepRow) -> Result<Step, StoreError> {
    Ok(Step {
        occurred_at: row.occurred_at,
        kind: EventKind::from_code(row.kind)
            .ok_or_else(|| StoreError::Corrupt(format!("step kind {}", row.kind)))?,
        counter_id: row.counter_id.clone(),
        service_code: row.service_code.clone(),
        transfer_to_service: row.transfer_to_service.clone(),
        display_number: row.display_number.clone(),
    })
}

fn history(
    c: &mut AnyConnection,
    site: &str,
    source: &str,
    ticket: &str,
) -> Result<Vec<StepRow>, StoreError> {
    batch::history(c, site, source, ticket)
}

fn ticket_row(
    source: &str,
    ticket: &str,
    first_at: Millis,
    v: &TicketView,
    rules: &Rules,
    operator_ref: Option<String>,
) -> TicketRow {
    let start = v.issued_at.unwrap_or(first_at);
    let spans = v
        .ended_at
        .is_some_and(|end| spans_midnight(rules.time_zone, start, end));
    TicketRow {
        site_id: rules.site_id.clone(),
        source_id: source.to_string(),
        ticket_id: ticket.to_string(),
        display_number: v.display_number.clone(),
        service_code: v.service_code.clone(),
        state: v.state.as_str().to_string(),
        counter_id: v.counter_id.clone(),
        first_at,
        issued_at: v.issued_at,
        first_called_at: v.first_called_at,
        last_called_at: v.last_called_at,
        service_started_at: v.service_started_at,
        served_at: v.served_at,
        ended_at: v.ended_at,
        recalls: i32::try_from(v.recalls).unwrap_or(i32::MAX),
        transfers: i32::try_from(v.transfers).unwrap_or(i32::MAX),
        reset: v.reset,
        spans_midnight: spans,
        waiting_ms: v.waiting_ms(),
        service_ms: v.service_ms(),
        last_at: v.last_at,
        operator_ref,
    }
}

fn load_ticket(
    c: &mut AnyConnection,
    site: &str,
    source: &str,
    ticket: &str,
) -> Result<Option<TicketRow>, StoreError> {
    batch::ticket(c, site, source, ticket)
}

/// The one place ticket rows are written. `old` is the row as stored (`None`: a new ticket);
/// the report rollups move from its contribution to the new row's in the same transaction.
fn save_ticket(
    c: &mut AnyConnection,
    rules: &Rules,
    old: Option<&TicketRow>,
    row: &TicketRow,
) -> Result<(), StoreError> {
    if old == Some(row) {
        return Ok(()); // nothing changed (its rollup contribution neither)
    }
    batch::save_ticket(c, old.is_some(), row)?;
    rollup::apply_ticket_change(c, &rules.site_id, rules.time_zone, old, row)
}

fn load_counter(
    c: &mut AnyConnection,
    site: &str,
    id: &str,
) -> Result<Option<CounterRow>, StoreError> {
    Ok(on_backend!(c, |c| counters::table
        .find((site, id))
        .select(CounterRow::as_select())
        .get_result(c)
        .optional())?)
}

/// Writes the counter's row, new or not, in one statement.
fn save_counter(c: &mut AnyConnection, row: &CounterRow) -> Result<(), StoreError> {
    on_backend!(c, |c| execute_cached!(
        c,
        diesel::insert_into(counters::table)
            .values((
                counters::site_id.eq(&row.site_id),
                counters::counter_id.eq(&row.counter_id),
                counters::open.eq(row.open),
                counters::source_id.eq(&row.source_id),
                counters::ticket_id.eq(&row.ticket_id),
                counters::ticket_state.eq(&row.ticket_state),
                counters::changed_at.eq(row.changed_at),
                counters::last_call_at.eq(row.last_call_at),
                counters::last_call_ticket.eq(&row.last_call_ticket),
                counters::operator_ref.eq(&row.operator_ref),
            ))
            .on_conflict((counters::site_id, counters::counter_id))
            .do_update()
            .set(row)
    ))?;
    Ok(())
}

fn new_counter(site: &str, id: &str, source: &str) -> CounterRow {
    CounterRow {
        site_id: site.to_string(),
        counter_id: id.to_string(),
        open: false,
        source_id: source.to_string(),
        ticket_id: String::new(),
        ticket_state: String::new(),
        changed_at: i64::MIN,
        last_call_at: None,
        last_call_ticket: String::new(),
        operator_ref: None,
    }
}

/// Whether an accepted SERVED opens its vote session: always for live events; never for a
/// day's log imported afterwards (its citizens have left: no keypad is lit, no link issued).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sessions {
    Open,
    Never,
}

/// Stores and applies one event. `totems`: the site's counters served by a totem.
pub fn publish(
    c: &mut AnyConnection,
    rules: &Rules,
    web: Option<&WebLinks>,
    totems: &TotemCounters,
    now: Millis,
    ev: &TicketEvent,
) -> Result<Ack, StoreError> {
    publish_with(c, rules, web, totems, now, ev, Sessions::Open)
}

/// [`publish`], saying whether a SERVED opens a vote session.
pub fn publish_with(
    c: &mut AnyConnection,
    rules: &Rules,
    web: Option<&WebLinks>,
    totems: &TotemCounters,
    now: Millis,
    ev: &TicketEvent,
    sessions: Sessions,
) -> Result<Ack, StoreError> {
    let site = rules.site_id.as_str();
    let fingerprint = ev.fingerprint();
    let previous = batch::received(c, site, &ev.source_id, &ev.event_id)?;
    if let Some(prev) = previous {
        if prev.fingerprint != fingerprint {
            return Err(StoreError::Conflict(format!(
                "event_id {:?} of source {:?} was already received with different content \
                 (type {}, ticket {:?}); a new event needs a new event_id",
                ev.event_id,
                ev.source_id,
                EventKind::from_code(prev.kind).map_or("?", EventKind::name),
                prev.ticket_id
            )));
        }
        let session = match &prev.session_id {
            Some(id) => vote_sessions::table
                .find(id)
                .select(SessionRow::as_select())
                .get_result(c)
                .optional()?
                .map(|r| session_info(&r))
                .transpose()?,
            None => None,
        };
        return Ok(Ack {
            status: AckStatus::Duplicate,
            event_id: ev.event_id.clone(),
            session,
            detail: format!(
                "already received: it was answered {} ({})",
                AckStatus::from_code(prev.status).name(),
                prev.detail
            ),
        });
    }
    let (status, session, detail) = match ev.kind {
        // They read and write every ticket of the day, or a counter's: not through the batch.
        EventKind::DayReset => batch::outside(c, |c| day_reset(c, rules, now, ev))?,
        EventKind::CounterOpened | EventKind::CounterClosed => {
            batch::outside(c, |c| counter_event(c, rules, now, ev))?
        }
        _ => ticket_event(c, rules, web, totems, now, ev, sessions)?,
    };
    let received = ReceivedRow {
        site_id: site.to_string(),
        source_id: ev.source_id.clone(),
        event_id: ev.event_id.clone(),
        fingerprint,
        kind: ev.kind.code(),
        ticket_id: ev.ticket_id.clone(),
        occurred_at: ev.occurred_at,
        status: status as i32,
        session_id: session.as_ref().map(|s| s.session_id.clone()),
        detail: detail.clone(),
        received_at: now,
    };
    batch::insert_received(c, received)?;
    Ok(Ack {
        status,
        event_id: ev.event_id.clone(),
        session,
        detail,
    })
}

type Outcome = (AckStatus, Option<SessionInfo>, String);

fn ticket_event(
    c: &mut AnyConnection,
    rules: &Rules,
    web: Option<&WebLinks>,
    totems: &TotemCounters,
    now: Millis,
    ev: &TicketEvent,
    sessions: Sessions,
) -> Result<Outcome, StoreError> {
    let site = rules.site_id.as_str();
    let rows = history(c, site, &ev.source_id, &ev.ticket_id)?;
    let hist = rows.iter().map(step_of).collect::<Result<Vec<_>, _>>()?;
    let step = Step {
        occurred_at: ev.occurred_at,
        kind: ev.kind,
        counter_id: ev.counter_id.clone(),
        service_code: ev.service_code.clone(),
        transfer_to_service: ev.transfer_to_service.clone(),
        display_number: ev.display_number.clone(),
    };
    let view = match decide(&hist, &step) {
        Verdict::Stale { why } => return Ok((AckStatus::Stale, None, why.to_string())),
        Verdict::Accept { view, .. } => view,
    };
    let operator_ref =
        Some(ev.operator_ref.clone()).filter(|o| rules.operator_data && !o.is_empty());
    let new_step = NewStep {
        site_id: site.to_string(),
        source_id: ev.source_id.clone(),
        ticket_id: ev.ticket_id.clone(),
        event_id: ev.event_id.clone(),
        occurred_at: ev.occurred_at,
        kind: ev.kind.code(),
        counter_id: ev.counter_id.clone(),
        service_code: ev.service_code.clone(),
        transfer_to_service: ev.transfer_to_service.clone(),
        display_number: ev.display_number.clone(),
        operator_ref: operator_ref.clone(),
    };
    batch::insert_step(c, new_step)?;
    let first_at = rows
        .first()
        .map_or(ev.occurred_at, |r| r.occurred_at.min(ev.occurred_at));
    // Loaded even for a ticket's first event: a row written around the store (a restore, an
    // import) must be replaced, not collide (reports/tests/rollups.rs).
    let previous = load_ticket(c, site, &ev.source_id, &ev.ticket_id)?;
    let previous_operator = previous.as_ref().and_then(|t| t.operator_ref.clone());
    let row = ticket_row(
        &ev.source_id,
        &ev.ticket_id,
        first_at,
        &view,
        rules,
        operator_ref.clone().or(previous_operator),
    );
    save_ticket(c, rules, previous.as_ref(), &row)?;
    append_log(
        c,
        site,
        NewLog {
            at: now,
            kind: log_kind::TICKET_EVENT,
            source_id: ev.source_id.clone(),
            counter_id: ev.counter_id.clone(),
            service_code: view.service_code.clone(),
            ticket_id: ev.ticket_id.clone(),
            display_number: view.display_number.clone(),
            ticket_event: ev.kind.code(),
            detail: format!("{} -> {}", ev.kind.name(), view.state.as_str()),
            ..NewLog::default()
        },
    )?;
    let counter = counter_effects(c, site, now, ev, &hist, &view, operator_ref)?;
    let session = if ev.kind == EventKind::Served && sessions == Sessions::Open {
        Some(open_session(
            c, rules, web, totems, now, ev, &view, counter,
        )?)
    } else {
        None
    };
    let detail = match &session {
        Some(s) if s.channel == Channel::Web => {
            format!("web vote link issued at {}", s.counter_id)
        }
        Some(s) if s.state == SessionState::Open => {
            format!("vote session opened at {}", s.counter_id)
        }
        Some(s) => format!(
            "vote session opened and at once {}: counter {} had moved on",
            s.state.as_str(),
            s.counter_id
        ),
        None if ev.kind == EventKind::Served => {
            format!(
                "ticket is {} (imported: no vote session)",
                view.state.as_str()
            )
        }
        None => format!("ticket is {}", view.state.as_str()),
    };
    Ok((AckStatus::Accepted, session, detail))
}

/// The events that put their ticket at their counter.
fn at_counter(kind: EventKind) -> bool {
    matches!(
        kind,
        EventKind::Called | EventKind::Recalled | EventKind::ServiceStarted | EventKind::Served
    )
}

/// Keeps the counter's picture (open, which ticket, doing what) in step with ticket events.
/// Returns the event's counter row as stored now, for the events that name their counter
/// (CALLED, RECALLED, SERVICE_STARTED, SERVED). `hist`: the ticket's steps before this one.
fn counter_effects(
    c: &mut AnyConnection,
    site: &str,
    now: Millis,
    ev: &TicketEvent,
    hist: &[Step],
    view: &TicketView,
    operator_ref: Option<String>,
) -> Result<Option<CounterRow>, StoreError> {
    let t = ev.occurred_at;
    match ev.kind {
        kind if at_counter(kind) => {
            if matches!(ev.kind, EventKind::Called | EventKind::Recalled) {
                supersede_at_counter(c, site, now, &ev.counter_id, &ev.ticket_id, t)?;
            }
            let stored = load_counter(c, site, &ev.counter_id)?;
            let mut row = stored
                .clone()
                .unwrap_or_else(|| new_counter(site, &ev.counter_id, &ev.source_id));
            if matches!(ev.kind, EventKind::Called | EventKind::Recalled)
                && row.last_call_at.is_none_or(|l| t >= l)
            {
                row.last_call_at = Some(t);
                row.last_call_ticket = ev.ticket_id.clone();
            }
            if t >= row.changed_at {
                row.open = true;
                row.source_id = ev.source_id.clone();
                row.ticket_id = ev.ticket_id.clone();
                row.ticket_state = match ev.kind {
                    EventKind::ServiceStarted => TicketState::InService,
                    EventKind::Served => TicketState::Served,
                    _ => TicketState::Called,
                }
                .as_str()
                .to_string();
                row.changed_at = t;
                if operator_ref.is_some() {
                    row.operator_ref = operator_ref;
                }
            }
            if stored.as_ref() != Some(&row) {
                save_counter(c, &row)?;
            }
            Ok(Some(row))
        }
        _ if !hist.iter().any(|s| at_counter(s.kind)) => {
            // Only a ticket's own counter events put it at a counter (the branch above): a
            // ticket that had none is at no counter, and there is nothing to look up.
            Ok(None)
        }
        _ => {
            // The ticket left the counter that held it.
            let holders: Vec<CounterRow> = on_backend!(c, |c| counters::table
                .filter(counters::site_id.eq(site))
                .filter(counters::source_id.eq(&ev.source_id))
                .filter(counters::ticket_id.eq(&ev.ticket_id))
                .select(CounterRow::as_select())
                .load(c))?;
            for mut row in holders {
                if t >= row.changed_at && view.state != TicketState::Served {
                    row.ticket_id.clear();
                    row.ticket_state.clear();
                    row.changed_at = t;
                    save_counter(c, &row)?;
                }
            }
            Ok(None)
        }
    }
}

/// `'OPEN'` as a literal in the SQL text, not a bound parameter: SQLite does not prepare the
/// statement again each time such a parameter is bound (it re-prepares statements whose bound
/// parameters might decide whether a partial index applies).
fn open_state() -> diesel::expression::SqlLiteral<diesel::sql_types::Text> {
    const OPEN: &str = "'OPEN'";
    debug_assert_eq!(OPEN, format!("'{}'", SessionState::Open.as_str()));
    diesel::dsl::sql::<diesel::sql_types::Text>(OPEN)
}

/// The condition of the partial index `vote_sessions_one_open_per_counter` (the session that
/// holds its counter: open, of the counter channel, not a totem's), word for word as the
/// migration writes it, in the SQL text: with bound parameters instead, SQLite cannot use that
/// index and prepares the statement again on every run.
const HOLDS_COUNTER: &str = "vote_sessions.state = 'OPEN' AND vote_sessions.channel = 'COUNTER' \
     AND vote_sessions.keypad NOT IN ('TOTEM', 'TOTEM_ARMED')";

fn holds_counter() -> diesel::expression::SqlLiteral<diesel::sql_types::Bool> {
    debug_assert_eq!(
        HOLDS_COUNTER,
        format!(
            "vote_sessions.state = '{}' AND vote_sessions.channel = '{}' \
             AND vote_sessions.keypad NOT IN ('{}', '{}')",
            SessionState::Open.as_str(),
            Channel::Counter.as_str(),
            KeypadArming::Totem.as_str(),
            KeypadArming::TotemArmed.as_str()
        )
    );
    diesel::dsl::sql::<diesel::sql_types::Bool>(HOLDS_COUNTER)
}

/// The open session that holds `counter` (a totem's sessions do not hold their counter).
fn open_session_at(
    c: &mut AnyConnection,
    site: &str,
    counter: &str,
) -> Result<Option<SessionRow>, StoreError> {
    Ok(on_backend!(c, |c| cached!(vote_sessions::table
        .filter(vote_sessions::site_id.eq(site))
        .filter(vote_sessions::counter_id.eq(counter))
        .filter(holds_counter())
        .select(SessionRow::as_select()))
    .get_result(c)
    .optional())?)
}

/// A newer CALLED of another ticket at the counter: the next citizen is at the desk.
fn supersede_at_counter(
    c: &mut AnyConnection,
    site: &str,
    now: Millis,
    counter: &str,
    ticket: &str,
    at: Millis,
) -> Result<(), StoreError> {
    if let Some(open) = open_session_at(c, site, counter)? {
        if supersedes(open.served_at, &open.ticket_id, at, ticket) {
            end_session(
                c,
                site,
                now,
                &open,
                SessionState::Superseded,
                (
                    log_reason::NEXT_CALLED,
                    "the next ticket was called at the counter",
                ),
            )?;
        }
    }
    Ok(())
}

fn end_session(
    c: &mut AnyConnection,
    site: &str,
    now: Millis,
    row: &SessionRow,
    state: SessionState,
    (reason, detail): (i32, &str),
) -> Result<(), StoreError> {
    on_backend!(c, |c| execute_cached!(
        c,
        diesel::update(vote_sessions::table.find(&row.session_id)).set((
            vote_sessions::state.eq(state.as_str()),
            vote_sessions::ended_at.eq(Some(now)),
        ))
    ))?;
    changes::push(SessionChange::Ended {
        session_id: row.session_id.clone(),
        counter_id: row.counter_id.clone(),
        state,
    });
    log_session_end(c, site, now, row, state, (reason, detail))
}

/// The event-log entry of a session's end.
fn log_session_end(
    c: &mut AnyConnection,
    site: &str,
    now: Millis,
    row: &SessionRow,
    state: SessionState,
    (reason, detail): (i32, &str),
) -> Result<(), StoreError> {
    append_log(
        c,
        site,
        NewLog {
            at: now,
            kind: log_kind::SESSION_ENDED,
            source_id: row.source_id.clone(),
            counter_id: row.counter_id.clone(),
            service_code: row.service_code.clone(),
            ticket_id: row.ticket_id.clone(),
            session_id: row.session_id.clone(),
            outcome: outcome_code(state),
            detail: detail.to_string(),
            reason,
            ..NewLog::default()
        },
    )
}

/// Tokens in use by sessions a keypad may still report (open, or opened in the last day).
fn free_token(
    c: &mut AnyConnection,
    site: &str,
    now: Millis,
    seed: u32,
) -> Result<u32, StoreError> {
    let mut token = seed;
    for _ in 0..10_000 {
        let taken: i64 = on_backend!(c, |c| cached!(vote_sessions::table
            .filter(vote_sessions::site_id.eq(site))
            .filter(vote_sessions::token.eq(i64::from(token)))
            .filter(
                vote_sessions::state
                    .eq(open_state())
                    .or(vote_sessions::opened_at.gt(now - DAY_MS)),
            )
            .count())
        .get_result(c))?;
        if taken == 0 {
            return Ok(token);
        }
        token = next_token(token);
    }
    Err(StoreError::Corrupt("no free keypad token".into()))
}

#[allow(clippy::too_many_arguments)]
fn open_session(
    c: &mut AnyConnection,
    rules: &Rules,
    web: Option<&WebLinks>,
    totems: &TotemCounters,
    now: Millis,
    ev: &TicketEvent,
    view: &TicketView,
    counter_row: Option<CounterRow>,
) -> Result<SessionInfo, StoreError> {
    let site = rules.site_id.as_str();
    let id = session_id(site, &ev.source_id, &ev.ticket_id);
    if let Some(existing) = on_backend!(c, |c| vote_sessions::table
        .find(&id)
        .select(SessionRow::as_select())
        .get_result(c)
        .optional())?
    {
        // A ticket has at most one session ever.
        return session_info(&existing);
    }
    let served_at = ev.occurred_at;
    if let Some(web) = web.filter(|w| w.issues_at(&ev.counter_id)) {
        // The citizen takes the link away: the next call at the counter does not end it, and
        // no keypad is involved. The database keeps only the token's hash.
        let token = web.token(&id);
        let (info, _) = remote::open(
            c,
            rules,
            now,
            &RemoteSession {
                channel: Channel::Web,
                source_id: ev.source_id.clone(),
                ticket_id: ev.ticket_id.clone(),
                counter_id: ev.counter_id.clone(),
                service_code: view.service_code.clone(),
                served_at,
                expires_at: served_at.saturating_add(web.lifetime_ms),
                link_hash: Some(faccia_domain::remote::token_hash(&token)),
            },
        )?;
        return Ok(info);
    }
    let mut state = SessionState::Open;
    let mut why = (0, "");
    // A counter served by a totem: the citizen walks to the totem while the next one is
    // served, so its sessions neither end the counter's open session nor are ended by the next.
    let totem_window = totems.window(&ev.counter_id);
    // The counter's row as the SERVED just left it (counter_effects).
    let counter_row = match totem_window {
        Some(_) => None,
        None => counter_row,
    };
    if let Some(counter) = counter_row {
        if counter.last_call_at.is_some_and(|l| l > served_at)
            && counter.last_call_ticket != ev.ticket_id
        {
            state = SessionState::Superseded;
            why = (
                log_reason::OTHER_CALLED_FIRST,
                "another ticket had already been called at the counter",
            );
        }
    }
    let open_here = match totem_window {
        Some(_) => None,
        None => open_session_at(c, site, &ev.counter_id)?,
    };
    if let Some(open) = open_here {
        if supersedes(open.served_at, &open.ticket_id, served_at, &ev.ticket_id) {
            end_session(
                c,
                site,
                now,
                &open,
                SessionState::Superseded,
                (
                    log_reason::NEXT_SERVED,
                    "the next ticket was served at the counter",
                ),
            )?;
        } else {
            state = SessionState::Superseded;
            why = (
                log_reason::LATER_SESSION_OPEN,
                "a later ticket's session is open at the counter",
            );
        }
    }
    let token = free_token(c, site, now, token_seed(&ev.source_id, &ev.ticket_id))?;
    let keypad = if totem_window.is_some() {
        KeypadArming::Totem
    } else if rules.keypad_counters.contains(&ev.counter_id) {
        KeypadArming::Pending
    } else {
        KeypadArming::NoKeypad
    };
    let row = SessionRow {
        site_id: site.to_string(),
        session_id: id,
        source_id: ev.source_id.clone(),
        ticket_id: ev.ticket_id.clone(),
        counter_id: ev.counter_id.clone(),
        service_code: view.service_code.clone(),
        channel: Channel::Counter.as_str().to_string(),
        token: i64::from(token),
        served_at,
        opened_at: now,
        expires_at: now + totem_window.unwrap_or(rules.vote_window_ms),
        // Stored with its final state at once: a session that is born superseded never
        // counts as open (one open session per counter is a unique index).
        state: state.as_str().to_string(),
        keypad: keypad.as_str().to_string(),
        ended_at: (state != SessionState::Open).then_some(now),
    };
    on_backend!(c, |c| execute_cached!(
        c,
        diesel::insert_into(vote_sessions::table).values(&row)
    ))?;
    append_log(
        c,
        site,
        NewLog {
            at: now,
            kind: log_kind::SESSION_OPENED,
            source_id: row.source_id.clone(),
            counter_id: row.counter_id.clone(),
            service_code: row.service_code.clone(),
            ticket_id: row.ticket_id.clone(),
            display_number: view.display_number.clone(),
            session_id: row.session_id.clone(),
            outcome: outcome_code(SessionState::Open),
            detail: format!("keypad {}", keypad.as_str()),
            keypad_state: keypad_code(keypad),
            ..NewLog::default()
        },
    )?;
    if state != SessionState::Open {
        log_session_end(c, site, now, &row, state, why)?;
    }
    let mut info = session_info(&row)?;
    info.state = state;
    if state == SessionState::Open {
        changes::push(SessionChange::Opened(info.clone()));
    }
    Ok(info)
}

fn day_reset(
    c: &mut AnyConnection,
    rules: &Rules,
    now: Millis,
    ev: &TicketEvent,
) -> Result<Outcome, StoreError> {
    let open_states = [
        TicketState::Waiting.as_str(),
        TicketState::Called.as_str(),
        TicketState::InService.as_str(),
    ];
    let site = rules.site_id.as_str();
    let open: Vec<TicketRow> = tickets::table
        .filter(tickets::site_id.eq(site))
        .filter(tickets::source_id.eq(&ev.source_id))
        .filter(tickets::state.eq_any(open_states))
        .select(TicketRow::as_select())
        .load(c)?;
    let mut closed: i64 = 0;
    for t in &open {
        let rows = history(c, site, &t.source_id, &t.ticket_id)?;
        let hist = rows.iter().map(step_of).collect::<Result<Vec<_>, _>>()?;
        let step = Step {
            occurred_at: ev.occurred_at,
            kind: EventKind::DayReset,
            counter_id: String::new(),
            service_code: String::new(),
            transfer_to_service: String::new(),
            display_number: String::new(),
        };
        if let Verdict::Accept { view, .. } = decide(&hist, &step) {
            diesel::insert_into(ticket_steps::table)
                .values(&NewStep {
                    site_id: site.to_string(),
                    source_id: t.source_id.clone(),
                    ticket_id: t.ticket_id.clone(),
                    event_id: ev.event_id.clone(),
                    occurred_at: ev.occurred_at,
                    kind: EventKind::DayReset.code(),
                    counter_id: String::new(),
                    service_code: String::new(),
                    transfer_to_service: String::new(),
                    display_number: String::new(),
                    operator_ref: None,
                })
                .execute(c)?;
            let row = ticket_row(
                &t.source_id,
                &t.ticket_id,
                t.first_at,
                &view,
                rules,
                t.operator_ref.clone(),
            );
            save_ticket(c, rules, Some(t), &row)?;
            closed += 1;
        }
    }
    let sessions: Vec<SessionRow> = vote_sessions::table
        .filter(vote_sessions::site_id.eq(site))
        .filter(vote_sessions::source_id.eq(&ev.source_id))
        .filter(vote_sessions::state.eq(SessionState::Open.as_str()))
        // A web link outlives the office's day (it is good for its own lifetime).
        .filter(vote_sessions::channel.eq(Channel::Counter.as_str()))
        .select(SessionRow::as_select())
        .load(c)?;
    for s in &sessions {
        end_session(
            c,
            site,
            now,
            s,
            SessionState::Cancelled,
            (log_reason::DAY_RESET, "DAY_RESET"),
        )?;
    }
    let held: Vec<CounterRow> = counters::table
        .filter(counters::site_id.eq(site))
        .filter(counters::source_id.eq(&ev.source_id))
        .filter(counters::ticket_id.ne(""))
        .filter(counters::changed_at.le(ev.occurred_at))
        .select(CounterRow::as_select())
        .load(c)?;
    for mut row in held.iter().cloned() {
        row.ticket_id.clear();
        row.ticket_state.clear();
        row.changed_at = ev.occurred_at;
        save_counter(c, &row)?;
    }
    let detail = format!(
        "day reset: {closed} open tickets closed, {} sessions cancelled",
        sessions.len()
    );
    if closed == 0 && sessions.is_empty() && held.is_empty() {
        return Ok((AckStatus::Stale, None, "day reset: nothing was open".into()));
    }
    append_log(
        c,
        site,
        NewLog {
            at: now,
            kind: log_kind::DAY_RESET,
            source_id: ev.source_id.clone(),
            ticket_event: EventKind::DayReset.code(),
            detail: detail.clone(),
            figure_a: closed,
            figure_b: sessions.len() as i64,
            ..NewLog::default()
        },
    )?;
    Ok((AckStatus::Accepted, None, detail))
}

fn counter_event(
    c: &mut AnyConnection,
    rules: &Rules,
    now: Millis,
    ev: &TicketEvent,
) -> Result<Outcome, StoreError> {
    let site = rules.site_id.as_str();
    let open = ev.kind == EventKind::CounterOpened;
    let mut row = load_counter(c, site, &ev.counter_id)?
        .unwrap_or_else(|| new_counter(site, &ev.counter_id, &ev.source_id));
    if row.changed_at > ev.occurred_at {
        return Ok((
            AckStatus::Stale,
            None,
            "the counter has newer events than this one".into(),
        ));
    }
    if row.open == open && row.changed_at != i64::MIN {
        return Ok((
            AckStatus::Stale,
            None,
            format!(
                "the counter was already {}",
                if open { "open" } else { "closed" }
            ),
        ));
    }
    row.open = open;
    row.source_id = ev.source_id.clone();
    row.changed_at = ev.occurred_at;
    if !open {
        row.ticket_id.clear();
        row.ticket_state.clear();
    }
    if rules.operator_data && !ev.operator_ref.is_empty() {
        row.operator_ref = Some(ev.operator_ref.clone());
    } else if !open {
        row.operator_ref = None;
    }
    save_counter(c, &row)?;
    let detail = format!("counter {}", if open { "opened" } else { "closed" });
    append_log(
        c,
        site,
        NewLog {
            at: now,
            kind: log_kind::COUNTER,
            source_id: ev.source_id.clone(),
            counter_id: ev.counter_id.clone(),
            ticket_event: ev.kind.code(),
            detail: detail.clone(),
            ..NewLog::default()
        },
    )?;
    Ok((AckStatus::Accepted, None, detail))
}

/// Repairs counters that lost events. Sessions only ever open from SERVED events.
pub fn reconcile(
    c: &mut AnyConnection,
    site: &str,
    now: Millis,
    source: &str,
    at: Millis,
    claims: &[CounterClaim],
) -> Result<u32, StoreError> {
    let mut repaired = 0;
    for claim in claims {
        let mut row = load_counter(c, site, &claim.counter_id)?
            .unwrap_or_else(|| new_counter(site, &claim.counter_id, source));
        if row.changed_at > at {
            continue; // we know something newer than the snapshot
        }
        let state = if claim.ticket_id.is_empty() {
            ""
        } else {
            claim.ticket_state.as_str()
        };
        let same = row.open == claim.open
            && row.ticket_id == claim.ticket_id
            && (claim.ticket_id.is_empty() || row.ticket_state == state);
        if same {
            continue;
        }
        let (was_open, was_ticket) = (row.open, row.ticket_id.clone());
        let before = format!(
            "{} {} {}",
            if row.open { "open" } else { "closed" },
            row.ticket_id,
            row.ticket_state
        );
        row.open = claim.open;
        row.source_id = source.to_string();
        row.ticket_id = claim.ticket_id.clone();
        row.ticket_state = state.to_string();
        row.changed_at = at;
        save_counter(c, &row)?;
        repaired += 1;
        append_log(
            c,
            site,
            NewLog {
                at: now,
                kind: log_kind::RECONCILE,
                source_id: source.to_string(),
                counter_id: claim.counter_id.clone(),
                ticket_id: claim.ticket_id.clone(),
                detail: format!(
                    "repaired from the queue system's snapshot: was {}, now {} {} {}",
                    before.trim(),
                    if claim.open { "open" } else { "closed" },
                    claim.ticket_id,
                    state
                )
                .trim()
                .to_string(),
                figure_a: i64::from(was_open),
                figure_b: i64::from(claim.open),
                fact_text: was_ticket,
                ..NewLog::default()
            },
        )?;
    }
    Ok(repaired)
}

/// Ends sessions whose window has passed, by `session::store_expiry`: at once without a keypad;
/// with one, the counter's keypad machine ends them and this is only a late safety net.
pub fn expire_due(c: &mut AnyConnection, rules: &Rules, now: Millis) -> Result<usize, StoreError> {
    let site = rules.site_id.as_str();
    let due: Vec<SessionRow> = vote_sessions::table
        .filter(vote_sessions::site_id.eq(site))
        .filter(vote_sessions::state.eq(SessionState::Open.as_str()))
        .filter(vote_sessions::expires_at.le(now))
        .select(SessionRow::as_select())
        .load(c)?;
    let mut n = 0;
    for s in due {
        let keypad = KeypadArming::parse(&s.keypad)
            .ok_or_else(|| StoreError::Corrupt(format!("keypad state {:?}", s.keypad)))?;
        if store_expiry(keypad, s.expires_at, rules.grace_ms, rules.reason_window_ms) <= now {
            end_session(
                c,
                site,
                now,
                &s,
                SessionState::Expired,
                (log_reason::WINDOW_RAN_OUT, "the vote window ran out"),
            )?;
            n += 1;
        }
    }
    Ok(n)
}

/// Which keypad latched a vote.
#[derive(Debug, Clone, Copy)]
pub enum VoteFrom<'a> {
    /// The session's own counter (the keypad seam in tests).
    Session,
    /// The keypad of this counter.
    Counter(&'a str),
    /// The keypad of a totem (its id) serving these counters.
    Totem(&'a str, &'a [String]),
}

/// A vote latched on a keypad with `token`, admitted by `session::admit_vote` (a counter's
/// keypad) or `session::admit_totem_vote` (a totem's).
pub fn record_vote(
    c: &mut AnyConnection,
    rules: &Rules,
    now: Millis,
    from: VoteFrom<'_>,
    token: u32,
    judgement: Judgement,
    voted_at: Millis,
) -> Result<VoteOutcome, StoreError> {
    let site = rules.site_id.as_str();
    let newest = vote_sessions::table
        .filter(vote_sessions::site_id.eq(site))
        .filter(vote_sessions::token.eq(i64::from(token)))
        .filter(vote_sessions::channel.eq(Channel::Counter.as_str()))
        .filter(vote_sessions::opened_at.gt(now - TOKEN_LIFETIME_MS))
        .order(vote_sessions::opened_at.desc())
        .select(SessionRow::as_select())
        .get_result(c)
        .optional()?;
    let target = newest
        .as_ref()
        .map(|s| {
            Ok::<_, StoreError>(VoteTarget {
                counter_id: s.counter_id.clone(),
                state: SessionState::parse(&s.state)
                    .ok_or_else(|| StoreError::Corrupt(format!("session state {:?}", s.state)))?,
                keypad: KeypadArming::parse(&s.keypad)
                    .ok_or_else(|| StoreError::Corrupt(format!("keypad state {:?}", s.keypad)))?,
                opened_at: s.opened_at,
            })
        })
        .transpose()?;
    let (counter, admission) = match from {
        VoteFrom::Session => {
            let counter = target
                .as_ref()
                .map(|t| t.counter_id.clone())
                .unwrap_or_default();
            let a = admit_vote(target.as_ref(), &counter, now);
            (counter, a)
        }
        VoteFrom::Counter(counter) => (
            counter.to_string(),
            admit_vote(target.as_ref(), counter, now),
        ),
        VoteFrom::Totem(totem, counters) => (
            totem.to_string(),
            admit_totem_vote(target.as_ref(), counters, now),
        ),
    };
    let s = match (admission, newest) {
        (Admission::Accept, Some(s)) => s,
        (Admission::AlreadyVoted, Some(s)) => return Ok(VoteOutcome::AlreadyStored(s.session_id)),
        (admission, _) => {
            let (reason, why) = match admission {
                Admission::Refuse(Refusal::OtherCounter) => {
                    (log_reason::OTHER_COUNTER, "is a session of another counter")
                }
                Admission::Refuse(Refusal::NeverArmed) => (
                    log_reason::NEVER_ARMED,
                    "is a session that has ended and was never armed",
                ),
                _ => (log_reason::NO_SESSION, "matches no session"),
            };
            append_log(
                c,
                site,
                NewLog {
                    at: now,
                    kind: log_kind::ORPHAN_VOTE,
                    counter_id: counter,
                    detail: format!(
                        "a keypad reported a vote with token {token} that {why}: acknowledged and discarded"
                    ),
                    reason,
                    figure_a: i64::from(token),
                    ..NewLog::default()
                },
            )?;
            return Ok(VoteOutcome::Orphan);
        }
    };
    store_vote(c, rules, now, &s, judgement, voted_at)?;
    changes::push(SessionChange::Ended {
        session_id: s.session_id.clone(),
        counter_id: s.counter_id.clone(),
        state: SessionState::Voted,
    });
    let mut info = session_info(&s)?;
    info.state = SessionState::Voted;
    Ok(VoteOutcome::Stored(info))
}

/// Stores the one vote of session `s` (admitted by the caller): the vote row, its rollup, the
/// session VOTED and the log entry. The caller publishes the session change.
pub(crate) fn store_vote(
    c: &mut AnyConnection,
    rules: &Rules,
    now: Millis,
    s: &SessionRow,
    judgement: Judgement,
    voted_at: Millis,
) -> Result<(), StoreError> {
    let site = rules.site_id.as_str();
    let ticket: Option<(Option<i64>, Option<i64>, bool, bool)> = tickets::table
        .find((site, &s.source_id, &s.ticket_id))
        .select((
            tickets::waiting_ms,
            tickets::service_ms,
            tickets::spans_midnight,
            tickets::reset,
        ))
        .get_result(c)
        .optional()?;
    let (waiting_ms, service_ms) = match ticket {
        Some((w, sv, false, false)) => (w, sv),
        _ => (None, None),
    };
    let vote = VoteRow {
        site_id: site.to_string(),
        session_id: s.session_id.clone(),
        source_id: s.source_id.clone(),
        ticket_id: s.ticket_id.clone(),
        counter_id: s.counter_id.clone(),
        service_code: s.service_code.clone(),
        channel: s.channel.clone(),
        face: i32::from(judgement.face.code()),
        reason: judgement.reason.map(i32::from),
        waiting_ms,
        service_ms,
        voted_at,
    };
    diesel::insert_into(votes::table).values(&vote).execute(c)?;
    // Votes are immutable and inserted only here: the rollup counts each once.
    rollup::add_vote(c, site, rules.time_zone, &vote)?;
    diesel::update(vote_sessions::table.find(&s.session_id))
        .set((
            vote_sessions::state.eq(SessionState::Voted.as_str()),
            vote_sessions::ended_at.eq(Some(now)),
        ))
        .execute(c)?;
    append_log(
        c,
        site,
        NewLog {
            at: now,
            kind: log_kind::VOTE_RECORDED,
            source_id: s.source_id.clone(),
            counter_id: s.counter_id.clone(),
            service_code: s.service_code.clone(),
            ticket_id: s.ticket_id.clone(),
            session_id: s.session_id.clone(),
            outcome: outcome_code(SessionState::Voted),
            detail: "vote recorded".into(),
            ..NewLog::default()
        },
    )?;
    Ok(())
}

pub fn set_arming(
    c: &mut AnyConnection,
    site: &str,
    now: Millis,
    session: &str,
    arming: KeypadArming,
) -> Result<Option<SessionInfo>, StoreError> {
    let n = diesel::update(
        vote_sessions::table
            .find(session)
            .filter(vote_sessions::site_id.eq(site))
            .filter(vote_sessions::state.eq(SessionState::Open.as_str())),
    )
    .set(vote_sessions::keypad.eq(arming.as_str()))
    .execute(c)?;
    let row = vote_sessions::table
        .find(session)
        .filter(vote_sessions::site_id.eq(site))
        .select(SessionRow::as_select())
        .get_result(c)
        .optional()?;
    if n > 0 {
        if let Some(r) = &row {
            append_log(
                c,
                site,
                NewLog {
                    at: now,
                    kind: log_kind::KEYPAD,
                    counter_id: r.counter_id.clone(),
                    session_id: r.session_id.clone(),
                    outcome: outcome_code(SessionState::Open),
                    detail: format!("keypad {}", arming.as_str()),
                    reason: log_reason::KEYPAD_ARMING,
                    keypad_state: keypad_code(arming),
                    ..NewLog::default()
                },
            )?;
        }
    }
    row.map(|r| session_info(&r)).transpose()
}

pub fn end_session_by_id(
    c: &mut AnyConnection,
    site: &str,
    now: Millis,
    session: &str,
    state: SessionState,
    detail: &str,
) -> Result<bool, StoreError> {
    let row = vote_sessions::table
        .find(session)
        .filter(vote_sessions::site_id.eq(site))
        .filter(vote_sessions::state.eq(SessionState::Open.as_str()))
        .select(SessionRow::as_select())
        .get_result(c)
        .optional()?;
    match row {
        Some(r) => {
            end_session(c, site, now, &r, state, (0, detail))?;
            Ok(true)
        }
        None => Ok(false),
    }
}

pub fn log_keypad(
    c: &mut AnyConnection,
    site: &str,
    now: Millis,
    counter: &str,
    note: &KeypadNote,
) -> Result<(), StoreError> {
    let mut entry = NewLog {
        at: now,
        kind: log_kind::KEYPAD,
        counter_id: counter.to_string(),
        ..NewLog::default()
    };
    // The typed facts are what clients word; `detail` stays for older clients.
    match *note {
        KeypadNote::Online {
            serial_no,
            firmware,
        } => {
            entry.reason = log_reason::KEYPAD_ONLINE;
            entry.fact_text = serial_no.to_string();
            entry.figure_a = i64::from(firmware.0);
            entry.figure_b = i64::from(firmware.1);
            entry.detail = format!(
                "keypad online (serial {serial_no}, firmware {}.{})",
                firmware.0, firmware.1
            );
        }
        KeypadNote::Offline => {
            entry.reason = log_reason::KEYPAD_OFFLINE;
            entry.detail = "keypad offline".into();
        }
        KeypadNote::Rebooted { boot_count } => {
            entry.reason = log_reason::KEYPAD_REBOOTED;
            entry.figure_a = i64::from(boot_count);
            entry.detail = format!("keypad rebooted (boot count {boot_count})");
        }
    }
    append_log(c, site, entry)
}
