//! The rows of the four tables every ticket event writes (`received_events`, `ticket_steps`,
//! `tickets`, `event_log`), held for the writer's batch and written together: on PostgreSQL
//! one statement for all of them ([`crate::pg_rows`]) instead of several per event, each a
//! round trip; on SQLite row by row through statements kept prepared.
//!
//! While a batch of ticket events runs, what they read of those tables comes from here: the
//! rows the batch loaded at its start for all its events in one query per table, and what its
//! earlier events wrote. A job that is not a ticket event, and the parts of one that read those
//! tables by other means (a day reset, a counter event), run [`outside`]: the held rows are
//! written first and nothing is held or read from here while they run, and what was read is
//! forgotten after them (they may have changed it).
//!
//! Only the writer's first pass over a batch holds rows. Should a job or a held write fail, the
//! pass is rolled back and run again with each job in its own savepoint and every statement
//! sent at once, so that the failing job fails alone (see `Writer::run_batch`).
//!
//! The writer thread runs one batch at a time; a thread-local holds its state.

use std::cell::RefCell;
use std::collections::{HashMap, HashSet};

use diesel::prelude::*;
use diesel::upsert::excluded;

use crate::conn::{execute_cached, on_backend, AnyConnection, Cached};
use crate::models::{NewLog, NewStep, ReceivedRow, StepRow, TicketRow};
use crate::schema::{event_log, received_events, ticket_steps, tickets};
use crate::StoreError;

/// What a ticket event names: its site, source, ticket and event id.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct EventKey {
    pub site: String,
    pub source: String,
    pub ticket: String,
    pub event_id: String,
}

/// (site, source, ticket) or (site, source, event id).
type Key = (String, String, String);

/// A ticket's row as the batch has made it (`None`: it has none), and whether it is still to
/// be written.
struct Ticket {
    current: Option<TicketRow>,
    dirty: bool,
}

#[derive(Default)]
struct Batch {
    /// Known received events (`None`: known not to be there).
    received: HashMap<Key, Option<ReceivedRow>>,
    /// Known histories, in order (a ticket without steps: empty).
    steps: HashMap<Key, Vec<StepRow>>,
    tickets: HashMap<Key, Ticket>,
    new_received: Vec<ReceivedRow>,
    new_steps: Vec<NewStep>,
    new_logs: Vec<NewLog>,
    /// The tickets to write, in the order they were first changed.
    dirty: Vec<Key>,
    /// Running [`outside`]: every statement goes to the database at once.
    paused: bool,
}

thread_local! {
    static BATCH: RefCell<Option<Batch>> = const { RefCell::new(None) };
}

/// The sizes the lists of ids of the batch's reads come in: each table's read of each size is
/// one SQL text, prepared once and kept (a statement of any other number of ids would be
/// prepared again for every batch: measured, a third of the writer's time). A list of ids is
/// padded to the next size (an id twice in `IN (...)` changes nothing).
const SIZES: [usize; 7] = [64, 32, 16, 8, 4, 2, 1];

/// The largest size.
const MOST: usize = SIZES[0];

/// The cache key of statement `K` with `N` rows (see `conn::Cached`).
struct Rows<K, const N: usize>(std::marker::PhantomData<K>);

/// Runs `$run` with `$Key` the cache key of statement `$tag` with `$len` rows; `$len` must be
/// one of [`SIZES`].
macro_rules! sized {
    ($len:expr, $tag:ty, |$Key:ident| $run:expr) => {
        match $len {
            64 => {
                type $Key = Rows<$tag, 64>;
                $run
            }
            32 => {
                type $Key = Rows<$tag, 32>;
                $run
            }
            16 => {
                type $Key = Rows<$tag, 16>;
                $run
            }
            8 => {
                type $Key = Rows<$tag, 8>;
                $run
            }
            4 => {
                type $Key = Rows<$tag, 4>;
                $run
            }
            2 => {
                type $Key = Rows<$tag, 2>;
                $run
            }
            _ => {
                type $Key = Rows<$tag, 1>;
                $run
            }
        }
    };
}

/// `ids` in lists of a size of [`SIZES`], the last padded with its last id.
fn padded_chunks<'a>(ids: &[&'a str]) -> Vec<Vec<&'a str>> {
    ids.chunks(MOST)
        .map(|chunk| {
            let size = SIZES
                .into_iter()
                .rev()
                .find(|s| *s >= chunk.len())
                .unwrap_or(MOST);
            let mut v = chunk.to_vec();
            if let Some(last) = chunk.last() {
                v.resize(size, last);
            }
            v
        })
        .collect()
}

/// The statements of this module, as cache keys.
struct ReadReceived;
struct ReadSteps;
struct ReadTickets;

fn with<T>(f: impl FnOnce(&mut Batch) -> T) -> Option<T> {
    BATCH.with(|b| b.borrow_mut().as_mut().filter(|b| !b.paused).map(f))
}

/// Starts holding rows for a batch whose ticket events are `events`, and loads what they will
/// read: their event ids, their tickets' histories and rows, for each site and source (the
/// leading columns of each table's index) one query per table on SQLite, one for the three on
/// PostgreSQL ([`crate::pg_rows::read`]).
pub(crate) fn start(c: &mut AnyConnection, events: &[&EventKey]) -> Result<(), StoreError> {
    let mut b = Batch::default();
    let mut by_source: HashMap<(&str, &str), Vec<&EventKey>> = HashMap::new();
    for k in events {
        by_source
            .entry((k.site.as_str(), k.source.as_str()))
            .or_default()
            .push(k);
    }
    for ((site, source), keys) in by_source {
        let event_ids: Vec<&str> = unique(keys.iter().map(|k| k.event_id.as_str()));
        let ticket_ids: Vec<&str> = unique(keys.iter().map(|k| k.ticket.as_str()));
        for k in &keys {
            b.received.insert(
                (site.to_string(), k.source.clone(), k.event_id.clone()),
                None,
            );
            let t = (site.to_string(), k.source.clone(), k.ticket.clone());
            b.steps.insert(t.clone(), Vec::new());
            b.tickets.insert(
                t,
                Ticket {
                    current: None,
                    dirty: false,
                },
            );
        }
        let (received, steps, rows) = match c {
            AnyConnection::Postgresql(c) => {
                crate::pg_rows::read(c, site, source, &event_ids, &ticket_ids)?
            }
            AnyConnection::Sqlite(c) => read_each(c, site, source, &event_ids, &ticket_ids)?,
        };
        for r in received {
            let k = (r.site_id.clone(), r.source_id.clone(), r.event_id.clone());
            if let Some(slot) = b.received.get_mut(&k) {
                *slot = Some(r);
            }
        }
        for r in steps {
            let k = (r.site_id.clone(), r.source_id.clone(), r.ticket_id.clone());
            if let Some(h) = b.steps.get_mut(&k) {
                h.push(r);
            }
        }
        for r in rows {
            let k = (r.site_id.clone(), r.source_id.clone(), r.ticket_id.clone());
            if let Some(t) = b.tickets.get_mut(&k) {
                t.current = Some(r);
            }
        }
    }
    BATCH.with(|slot| *slot.borrow_mut() = Some(b));
    Ok(())
}

/// What a batch reads of one site and source: the received events, the steps (in each ticket's
/// order), the ticket rows.
pub(crate) type Loaded = (Vec<ReceivedRow>, Vec<StepRow>, Vec<TicketRow>);

/// What the batch reads of one site and source, on SQLite: one query per table (and list of
/// up to [`MOST`] ids), each kept prepared. The steps come in each ticket's order.
fn read_each(
    c: &mut diesel::SqliteConnection,
    site: &str,
    source: &str,
    event_ids: &[&str],
    ticket_ids: &[&str],
) -> Result<Loaded, StoreError> {
    let (mut received, mut steps, mut rows) = (Vec::new(), Vec::new(), Vec::new());
    for ids in padded_chunks(event_ids) {
        received.extend(sized!(ids.len(), ReadReceived, |K| Cached::<_, K>::new(
            received_events::table
                .filter(received_events::site_id.eq(site))
                .filter(received_events::source_id.eq(source))
                .filter(received_events::event_id.eq_any(&ids))
                .select(ReceivedRow::as_select())
        )
        .load(c))?);
    }
    for ids in padded_chunks(ticket_ids) {
        steps.extend(sized!(ids.len(), ReadSteps, |K| Cached::<_, K>::new(
            ticket_steps::table
                .filter(ticket_steps::site_id.eq(site))
                .filter(ticket_steps::source_id.eq(source))
                .filter(ticket_steps::ticket_id.eq_any(&ids))
                .order((ticket_steps::occurred_at.asc(), ticket_steps::id.asc()))
                .select(StepRow::as_select()),
        )
        .load(c))?);
        rows.extend(sized!(ids.len(), ReadTickets, |K| Cached::<_, K>::new(
            tickets::table
                .filter(tickets::site_id.eq(site))
                .filter(tickets::source_id.eq(source))
                .filter(tickets::ticket_id.eq_any(&ids))
                .select(TicketRow::as_select()),
        )
        .load(c))?);
    }
    Ok((received, steps, rows))
}

fn unique<'a>(items: impl Iterator<Item = &'a str>) -> Vec<&'a str> {
    let mut seen = HashSet::new();
    items.filter(|i| seen.insert(*i)).collect()
}

/// Forgets the batch and whatever it held (after its commit, or a rollback).
pub(crate) fn discard() {
    BATCH.with(|slot| *slot.borrow_mut() = None);
}

/// A ticket row written over the stored one: every column but the key, from the new row.
macro_rules! ticket_upsert {
    () => {{
        use tickets::dsl as t;
        (
            t::display_number.eq(excluded(t::display_number)),
            t::service_code.eq(excluded(t::service_code)),
            t::state.eq(excluded(t::state)),
            t::counter_id.eq(excluded(t::counter_id)),
            t::first_at.eq(excluded(t::first_at)),
            t::issued_at.eq(excluded(t::issued_at)),
            t::first_called_at.eq(excluded(t::first_called_at)),
            t::last_called_at.eq(excluded(t::last_called_at)),
            t::service_started_at.eq(excluded(t::service_started_at)),
            t::served_at.eq(excluded(t::served_at)),
            t::ended_at.eq(excluded(t::ended_at)),
            t::recalls.eq(excluded(t::recalls)),
            t::transfers.eq(excluded(t::transfers)),
            t::reset.eq(excluded(t::reset)),
            t::spans_midnight.eq(excluded(t::spans_midnight)),
            t::waiting_ms.eq(excluded(t::waiting_ms)),
            t::service_ms.eq(excluded(t::service_ms)),
            t::last_at.eq(excluded(t::last_at)),
            t::operator_ref.eq(excluded(t::operator_ref)),
        )
    }};
}

/// Writes what the batch holds. Nothing to do when no batch runs. On PostgreSQL, returns the
/// sequence number of the last log row it wrote.
pub(crate) fn flush(c: &mut AnyConnection) -> Result<Option<i64>, StoreError> {
    let pending = BATCH.with(|slot| {
        slot.borrow_mut().as_mut().map(|b| {
            let tickets: Vec<TicketRow> = std::mem::take(&mut b.dirty)
                .into_iter()
                .filter_map(|k| {
                    let t = b.tickets.get_mut(&k)?;
                    t.dirty = false;
                    t.current.clone()
                })
                .collect();
            (
                std::mem::take(&mut b.new_steps),
                tickets,
                std::mem::take(&mut b.new_logs),
                std::mem::take(&mut b.new_received),
            )
        })
    });
    let Some((mut steps, mut tickets, mut logs, mut received)) = pending else {
        return Ok(None);
    };
    match c {
        // No round trip to save: each row through its statement, prepared once (a multi-row
        // insert on SQLite cannot be kept prepared, and costs more to prepare than it saves).
        AnyConnection::Sqlite(c) => {
            for row in &steps {
                execute_cached!(c, diesel::insert_into(ticket_steps::table).values(row))?;
            }
            for row in &tickets {
                use tickets::dsl as t;
                execute_cached!(
                    c,
                    diesel::insert_into(tickets::table)
                        .values(row)
                        .on_conflict((t::site_id, t::source_id, t::ticket_id))
                        .do_update()
                        .set(ticket_upsert!())
                )?;
            }
            for row in &logs {
                execute_cached!(c, diesel::insert_into(event_log::table).values(row))?;
            }
            for row in &received {
                execute_cached!(c, diesel::insert_into(received_events::table).values(row))?;
            }
        }
        // One round trip for every row of the four tables.
        AnyConnection::Postgresql(c) => {
            return Ok(crate::pg_rows::write(
                c,
                &mut steps,
                &mut tickets,
                &mut logs,
                &mut received,
            )?);
        }
    }
    Ok(None)
}

/// Runs `f` with every statement sent at once: for a job, or a part of one, that reads the
/// batch's tables by other means than this module, or writes them. The held rows are written
/// before it, and what the batch read is forgotten after it.
pub(crate) fn outside<T>(
    c: &mut AnyConnection,
    f: impl FnOnce(&mut AnyConnection) -> Result<T, StoreError>,
) -> Result<T, StoreError> {
    if with(|_| ()).is_none() {
        return f(c);
    }
    flush(c)?;
    set_paused(true);
    let r = f(c);
    set_paused(false);
    with(|b| {
        b.received.clear();
        b.steps.clear();
        b.tickets.clear();
    });
    r
}

fn set_paused(paused: bool) {
    BATCH.with(|slot| {
        if let Some(b) = slot.borrow_mut().as_mut() {
            b.paused = paused;
        }
    });
}

/// The event `(site, source, event_id)` as received before, if it was.
pub(crate) fn received(
    c: &mut AnyConnection,
    site: &str,
    source: &str,
    event_id: &str,
) -> Result<Option<ReceivedRow>, StoreError> {
    let key = (site.to_string(), source.to_string(), event_id.to_string());
    if let Some(Some(known)) = with(|b| b.received.get(&key).cloned()) {
        return Ok(known);
    }
    let row = on_backend!(c, |c| received_events::table
        .find((site, source, event_id))
        .select(ReceivedRow::as_select())
        .get_result(c)
        .optional())?;
    with(|b| b.received.insert(key, row.clone()));
    Ok(row)
}

/// Stores a received event's answer.
pub(crate) fn insert_received(c: &mut AnyConnection, row: ReceivedRow) -> Result<(), StoreError> {
    let held = with(|b| {
        let key = (
            row.site_id.clone(),
            row.source_id.clone(),
            row.event_id.clone(),
        );
        b.received.insert(key, Some(row.clone()));
        b.new_received.push(row.clone());
    });
    if held.is_none() {
        on_backend!(c, |c| execute_cached!(
            c,
            diesel::insert_into(received_events::table).values(&row)
        ))?;
    }
    Ok(())
}

/// A ticket's steps in order (occurred_at, then arrival).
pub(crate) fn history(
    c: &mut AnyConnection,
    site: &str,
    source: &str,
    ticket: &str,
) -> Result<Vec<StepRow>, StoreError> {
    let key = (site.to_string(), source.to_string(), ticket.to_string());
    if let Some(Some(known)) = with(|b| b.steps.get(&key).cloned()) {
        return Ok(known);
    }
    let rows: Vec<StepRow> = on_backend!(c, |c| ticket_steps::table
        .filter(ticket_steps::site_id.eq(site))
        .filter(ticket_steps::source_id.eq(source))
        .filter(ticket_steps::ticket_id.eq(ticket))
        .order((ticket_steps::occurred_at.asc(), ticket_steps::id.asc()))
        .select(StepRow::as_select())
        .load(c))?;
    with(|b| b.steps.insert(key, rows.clone()));
    Ok(rows)
}

/// Adds a step to its ticket's history.
pub(crate) fn insert_step(c: &mut AnyConnection, step: NewStep) -> Result<(), StoreError> {
    let held = with(|b| {
        let key = (
            step.site_id.clone(),
            step.source_id.clone(),
            step.ticket_id.clone(),
        );
        if let Some(h) = b.steps.get_mut(&key) {
            // After every step that did not occur later: where its id would sort it.
            let at = h.partition_point(|s| s.occurred_at <= step.occurred_at);
            h.insert(at, step_row(&step));
        }
        b.new_steps.push(step.clone());
    });
    if held.is_none() {
        on_backend!(c, |c| execute_cached!(
            c,
            diesel::insert_into(ticket_steps::table).values(&step)
        ))?;
    }
    Ok(())
}

/// A held step as its history shows it (its id is the database's to give).
fn step_row(s: &NewStep) -> StepRow {
    StepRow {
        site_id: s.site_id.clone(),
        id: 0,
        source_id: s.source_id.clone(),
        ticket_id: s.ticket_id.clone(),
        event_id: s.event_id.clone(),
        occurred_at: s.occurred_at,
        kind: s.kind,
        counter_id: s.counter_id.clone(),
        service_code: s.service_code.clone(),
        transfer_to_service: s.transfer_to_service.clone(),
        display_number: s.display_number.clone(),
        operator_ref: s.operator_ref.clone(),
    }
}

/// A ticket's row, if it has one.
pub(crate) fn ticket(
    c: &mut AnyConnection,
    site: &str,
    source: &str,
    ticket: &str,
) -> Result<Option<TicketRow>, StoreError> {
    let key = (site.to_string(), source.to_string(), ticket.to_string());
    if let Some(Some(known)) = with(|b| b.tickets.get(&key).map(|t| t.current.clone())) {
        return Ok(known);
    }
    let row = on_backend!(c, |c| tickets::table
        .find((site, source, ticket))
        .select(TicketRow::as_select())
        .get_result(c)
        .optional())?;
    with(|b| {
        b.tickets.insert(
            key,
            Ticket {
                current: row.clone(),
                dirty: false,
            },
        )
    });
    Ok(row)
}

/// Writes a ticket's row; `stored`: it has one already (as [`ticket`] said).
pub(crate) fn save_ticket(
    c: &mut AnyConnection,
    stored: bool,
    row: &TicketRow,
) -> Result<(), StoreError> {
    let held = with(|b| {
        let key = (
            row.site_id.clone(),
            row.source_id.clone(),
            row.ticket_id.clone(),
        );
        let t = b.tickets.entry(key.clone()).or_insert(Ticket {
            current: None,
            dirty: false,
        });
        t.current = Some(row.clone());
        if !t.dirty {
            t.dirty = true;
            b.dirty.push(key);
        }
    });
    if held.is_some() {
        return Ok(());
    }
    if stored {
        on_backend!(c, |c| execute_cached!(
            c,
            diesel::update(tickets::table.find((&row.site_id, &row.source_id, &row.ticket_id)))
                .set(row)
        ))?;
    } else {
        on_backend!(c, |c| execute_cached!(
            c,
            diesel::insert_into(tickets::table).values(row)
        ))?;
    }
    Ok(())
}

/// Appends an entry to the event log (entries keep the order they were appended in).
pub(crate) fn append_log(c: &mut AnyConnection, entry: NewLog) -> Result<(), StoreError> {
    let mut entry = Some(entry);
    with(|b| {
        if let Some(e) = entry.take() {
            b.new_logs.push(e);
        }
    });
    if let Some(entry) = entry {
        // Every field of `NewLog` is a column (no `Option` left out): one SQL text.
        on_backend!(c, |c| execute_cached!(
            c,
            diesel::insert_into(event_log::table).values(&entry)
        ))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    //! A batch decides every event exactly as the events one by one would: the same answers,
    //! the same rows, the same log in the same order. Random days of events (out of order,
    //! repeated, conflicting, several at once for one ticket, a day reset, counters opening and
    //! closing) with other jobs between them, stored once event by event and once in batches.
    use std::sync::atomic::AtomicBool;
    use std::sync::Arc;

    use diesel::prelude::*;
    use faccia_domain::{EventKind, Millis, TicketEvent};

    use crate::schema::*;
    use crate::{connect, AnyConnection, DatabaseUrl, Rules, Store, StoreError};

    /// 2026-03-02 08:00 in Rome.
    const T0: Millis = 1_772_434_800_000;

    fn rules() -> Rules {
        Rules {
            site_id: "b".into(),
            site_name: "Batch".into(),
            vote_window_ms: 120_000,
            grace_ms: 10_000,
            reason_window_ms: 10_000,
            time_zone: chrono_tz::Europe::Rome,
            operator_data: false,
            keypad_counters: vec!["C1".into()],
        }
    }

    struct Rng(u64);

    impl Rng {
        fn below(&mut self, n: u64) -> u64 {
            self.0 = self
                .0
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            (self.0 >> 33) % n
        }
    }

    /// What a test day holds: an event, or a job that is not one.
    #[derive(Clone)]
    enum Step {
        Event(Box<TicketEvent>),
        Expire,
    }

    /// The `i`th event of the day when it is not a ticket's: a day reset, a counter event.
    fn office_event(i: usize, kind: EventKind, counter_id: String) -> TicketEvent {
        TicketEvent {
            source_id: "q".into(),
            event_id: format!("e{i}"),
            occurred_at: T0 + i as Millis * 1_000,
            kind,
            ticket_id: String::new(),
            display_number: String::new(),
            service_code: String::new(),
            counter_id,
            operator_ref: String::new(),
            transfer_to_service: String::new(),
            priority: 0,
        }
    }

    fn day(seed: u64, n: usize) -> Vec<Step> {
        let mut rng = Rng(seed);
        // The kinds of a ticket's own events.
        let kinds: Vec<EventKind> = EventKind::ALL
            .into_iter()
            .filter(|k| {
                !matches!(
                    k,
                    EventKind::DayReset | EventKind::CounterOpened | EventKind::CounterClosed
                )
            })
            .collect();
        let mut sent: Vec<TicketEvent> = Vec::new();
        let mut out = Vec::new();
        for i in 0..n {
            let roll = rng.below(100);
            let step = if roll < 8 && !sent.is_empty() {
                // The same event again, and now and then the same id with other content.
                let mut again = sent[rng.below(sent.len() as u64) as usize].clone();
                if rng.below(3) == 0 {
                    again.occurred_at += 1;
                }
                Step::Event(Box::new(again))
            } else if roll < 10 {
                Step::Expire
            } else if roll < 11 {
                Step::Event(Box::new(office_event(
                    i,
                    EventKind::DayReset,
                    String::new(),
                )))
            } else if roll < 14 {
                let kind = if rng.below(2) == 0 {
                    EventKind::CounterOpened
                } else {
                    EventKind::CounterClosed
                };
                let counter = format!("C{}", rng.below(3) + 1);
                Step::Event(Box::new(office_event(i, kind, counter)))
            } else {
                let kind = kinds[rng.below(kinds.len() as u64) as usize];
                let ticket = rng.below(12);
                // Mostly in order, sometimes late by up to a minute.
                let late = if rng.below(5) == 0 {
                    rng.below(60_000) as Millis
                } else {
                    0
                };
                let ev = TicketEvent {
                    source_id: if ticket % 5 == 4 { "r" } else { "q" }.into(),
                    event_id: format!("e{i}"),
                    occurred_at: T0 + i as Millis * 1_000 - late,
                    kind,
                    ticket_id: format!("t{ticket}"),
                    display_number: format!("A{ticket:03}"),
                    service_code: if ticket.is_multiple_of(2) { "A" } else { "B" }.into(),
                    counter_id: if kind == EventKind::Issued {
                        String::new()
                    } else {
                        format!("C{}", ticket % 3 + 1)
                    },
                    operator_ref: String::new(),
                    transfer_to_service: if kind == EventKind::Transferred {
                        "B".into()
                    } else {
                        String::new()
                    },
                    priority: 0,
                };
                sent.push(ev.clone());
                Step::Event(Box::new(ev))
            };
            out.push(step);
        }
        out
    }

    /// Every answer, as text.
    type Answers = Vec<String>;

    fn answer(r: &Result<crate::Ack, StoreError>) -> String {
        match r {
            Ok(a) => format!("{a:?}"),
            Err(e) => format!("error: {e}"),
        }
    }

    /// Stores `steps` one at a time (a batch of one each).
    async fn one_by_one(store: &Store, steps: &[Step]) -> Answers {
        let mut out = Vec::new();
        for s in steps {
            out.push(match s {
                Step::Event(ev) => answer(&store.publish((**ev).clone()).await),
                Step::Expire => {
                    format!("{:?}", store.expire_due().await.map_err(|e| e.to_string()))
                }
            });
        }
        out
    }

    /// Stores `steps` in batches of up to `size`: the writer is held while each batch queues.
    /// After each, the store's sequence watch is at the last row of its log (at `url`).
    async fn in_batches(store: &Store, url: &DatabaseUrl, steps: &[Step], size: usize) -> Answers {
        let mut out = Vec::new();
        for chunk in steps.chunks(size) {
            let (release_tx, release_rx) = std::sync::mpsc::channel::<()>();
            let (started_tx, started_rx) = tokio::sync::oneshot::channel::<()>();
            let mut started_tx = Some(started_tx);
            let blocker = store.submit(None, move |_c, _r, _now| {
                if let Some(tx) = started_tx.take() {
                    let _ = tx.send(());
                    let _ = release_rx.recv();
                }
                Ok(())
            });
            started_rx.await.expect("the writer runs the blocker");
            let mut pending = Vec::new();
            for s in chunk {
                pending.push(match s {
                    Step::Event(ev) => {
                        // Each event its own caller: a failed one stops no other.
                        let gate = Arc::new(AtomicBool::new(false));
                        let f = store.publish_queued(&gate, (**ev).clone());
                        Box::pin(async move { answer(&f.await) })
                            as std::pin::Pin<Box<dyn std::future::Future<Output = String>>>
                    }
                    Step::Expire => {
                        let rx = store.submit(None, crate::ops::expire_due);
                        Box::pin(async move {
                            format!("{:?}", Store::answer(rx).await.map_err(|e| e.to_string()))
                        })
                    }
                });
            }
            release_tx.send(()).expect("release");
            Store::answer(blocker).await.expect("blocker");
            for p in pending {
                out.push(p.await);
            }
            assert_eq!(
                Some(*store.watch_seq().borrow()),
                last_seq(url),
                "the seq watch after a batch"
            );
        }
        out
    }

    /// The log's last sequence number.
    fn last_seq(url: &DatabaseUrl) -> Option<i64> {
        let mut c = connect(url, 1000).expect("connect");
        let c: &mut AnyConnection = &mut c;
        event_log::table
            .select(diesel::dsl::max(event_log::seq))
            .first(c)
            .expect("max seq")
    }

    /// The rows of every table the writer writes, without the ids the database gives.
    fn rows(url: &DatabaseUrl) -> Vec<String> {
        let mut c = connect(url, 1000).expect("connect");
        let mut out = Vec::new();
        let c: &mut AnyConnection = &mut c;
        let mut steps: Vec<crate::models::StepRow> = ticket_steps::table
            .order(ticket_steps::id)
            .select(crate::models::StepRow::as_select())
            .load(c)
            .expect("steps");
        for s in &mut steps {
            s.id = 0;
        }
        out.extend(steps.iter().map(|s| format!("{s:?}")));
        let tickets: Vec<crate::models::TicketRow> = tickets::table
            .order((tickets::source_id, tickets::ticket_id))
            .select(crate::models::TicketRow::as_select())
            .load(c)
            .expect("tickets");
        out.extend(sorted(tickets.iter().map(|t| format!("{t:?}"))));
        let received: Vec<crate::models::ReceivedRow> = received_events::table
            .order((received_events::source_id, received_events::event_id))
            .select(crate::models::ReceivedRow::as_select())
            .load(c)
            .expect("received");
        out.extend(sorted(received.iter().map(|r| format!("{r:?}"))));
        let log: Vec<crate::models::LogRow> = event_log::table
            .order(event_log::seq)
            .select(crate::models::LogRow::as_select())
            .load(c)
            .expect("log");
        out.extend(log.into_iter().map(|mut l| {
            l.seq = 0;
            format!("{l:?}")
        }));
        let sessions: Vec<crate::models::SessionRow> = vote_sessions::table
            .order(vote_sessions::session_id)
            .select(crate::models::SessionRow::as_select())
            .load(c)
            .expect("sessions");
        out.extend(sorted(sessions.iter().map(|s| format!("{s:?}"))));
        let counters: Vec<crate::models::CounterRow> = counters::table
            .order(counters::counter_id)
            .select(crate::models::CounterRow::as_select())
            .load(c)
            .expect("counters");
        out.extend(sorted(counters.iter().map(|r| format!("{r:?}"))));
        let rollups: Vec<(i32, String, String, i64, i64, i64, i64)> = report_tickets::table
            .order((
                report_tickets::month,
                report_tickets::counter_id,
                report_tickets::service_code,
            ))
            .select((
                report_tickets::month,
                report_tickets::counter_id,
                report_tickets::service_code,
                report_tickets::served,
                report_tickets::counted,
                report_tickets::total_ms,
                report_tickets::flagged,
            ))
            .load(c)
            .expect("rollups");
        out.extend(sorted(rollups.iter().map(|r| format!("{r:?}"))));
        out
    }

    /// Rows in one order on both backends (their collations differ).
    fn sorted(rows: impl Iterator<Item = String>) -> Vec<String> {
        let mut v: Vec<String> = rows.collect();
        v.sort();
        v
    }

    async fn check(a: DatabaseUrl, b: DatabaseUrl) {
        // A fixed clock: both stores see the same instants whatever the batches.
        let clock: crate::Clock = Arc::new(|| T0 + 3_600_000);
        let serial = Store::open(&a, 2_000, rules(), clock.clone()).expect("open a");
        let batched = Store::open(&b, 2_000, rules(), clock).expect("open b");
        for seed in [1, 2, 3] {
            let steps = day(seed, 300);
            let want = one_by_one(&serial, &steps).await;
            let got = in_batches(&batched, &b, &steps, 37).await;
            for (i, (w, g)) in want.iter().zip(&got).enumerate() {
                assert_eq!(w, g, "seed {seed}: answer {i} differs");
            }
            let (ra, rb) = (rows(&a), rows(&b));
            assert_eq!(ra.len(), rb.len(), "seed {seed}: row counts");
            for (x, y) in ra.iter().zip(&rb) {
                assert_eq!(x, y, "seed {seed}: a row differs");
            }
        }
    }

    #[tokio::test]
    async fn batches_decide_as_one_by_one_on_sqlite() {
        let dir = tempfile::tempdir().expect("dir");
        check(
            DatabaseUrl::Sqlite(dir.path().join("a.db")),
            DatabaseUrl::Sqlite(dir.path().join("b.db")),
        )
        .await;
    }

    #[tokio::test]
    async fn batches_decide_as_one_by_one_on_postgres() {
        let dir = tempfile::tempdir().expect("dir");
        let a = DatabaseUrl::Sqlite(dir.path().join("a.db"));
        crate::on_scratch_postgres("faccia_batch_rows", |b| check(a, b)).await;
    }
}
