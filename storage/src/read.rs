//! Queries for the monitor, the event log and tests. Nothing here writes.

use diesel::dsl::max;
use diesel::prelude::*;
use faccia_domain::session::{Channel, SessionState};
use faccia_domain::ticket::TicketState;
use faccia_domain::Millis;

use super::conn::AnyConnection;
use super::models::*;
use super::schema::*;
use super::{log_kind, StoreError};
use std::collections::{BTreeMap, BTreeSet};

/// The last sequence number of the event log (0 when empty).
pub fn last_seq(c: &mut AnyConnection) -> Result<i64, StoreError> {
    Ok(event_log::table
        .select(max(event_log::seq))
        .get_result::<Option<i64>>(c)?
        .unwrap_or(0))
}

/// Event-log entries with `seq > after`, in order, at most `limit`: of `site` only, or of
/// every site (`None`). Sequence numbers are shared by the sites of one database.
pub fn log_after(
    c: &mut AnyConnection,
    site: Option<&str>,
    after: i64,
    limit: i64,
) -> Result<Vec<LogRow>, StoreError> {
    let mut q = event_log::table
        .filter(event_log::seq.gt(after))
        .order(event_log::seq.asc())
        .limit(limit)
        .select(LogRow::as_select())
        .into_boxed();
    if let Some(site) = site {
        q = q.filter(event_log::site_id.eq(site.to_string()));
    }
    Ok(q.load(c)?)
}

/// What the monitor needs about today: tickets touched since `since` or still open,
/// counters, open sessions and votes since `since`.
#[derive(Debug, Clone, Default)]
pub struct OfficeData {
    pub tickets: Vec<TicketRow>,
    pub counters: Vec<CounterRow>,
    pub open_sessions: Vec<SessionRow>,
    pub votes: Vec<VoteRow>,
    pub last_seq: i64,
}

pub fn office_data(
    c: &mut AnyConnection,
    site: &str,
    since: Millis,
) -> Result<OfficeData, StoreError> {
    // One read transaction: a consistent picture, and last_seq matches it.
    c.transaction(|c| {
        let open_states = [
            TicketState::Waiting.as_str(),
            TicketState::Called.as_str(),
            TicketState::InService.as_str(),
        ];
        let tickets = tickets::table
            .filter(tickets::site_id.eq(site))
            .filter(
                tickets::last_at
                    .ge(since)
                    .or(tickets::state.eq_any(open_states)),
            )
            .select(TicketRow::as_select())
            .load(c)?;
        let last_seq = last_seq(c)?;
        Ok(OfficeData {
            tickets,
            last_seq,
            ..office_rest(c, site, since)?
        })
    })
}

/// Today's tickets kept between snapshots: loaded in full once, then only the tickets the event
/// log says changed since (each accepted ticket event logs its ticket; a DAY_RESET, which
/// touches many, reloads all).
#[derive(Debug, Default)]
pub struct TicketCache {
    since: Millis,
    /// The log sequence the tickets are up to date with (`None`: never loaded).
    cursor: Option<i64>,
    tickets: BTreeMap<(String, String), TicketRow>,
}

impl TicketCache {
    pub fn tickets(&self) -> impl Iterator<Item = &TicketRow> {
        self.tickets.values()
    }

    pub fn len(&self) -> usize {
        self.tickets.len()
    }

    pub fn is_empty(&self) -> bool {
        self.tickets.is_empty()
    }
}

/// More changed log entries than this since the last snapshot: reload every ticket instead.
const DELTA_LIMIT: i64 = 50_000;

fn is_open_state(state: &str) -> bool {
    state == TicketState::Waiting.as_str()
        || state == TicketState::Called.as_str()
        || state == TicketState::InService.as_str()
}

/// [`office_data`] with the tickets kept up to date in `cache` (the returned `tickets` is empty):
/// a snapshot costs the tickets that changed since the previous one, not every ticket of the day.
pub fn office_data_cached(
    c: &mut AnyConnection,
    site: &str,
    since: Millis,
    cache: &mut TicketCache,
) -> Result<OfficeData, StoreError> {
    c.transaction(|c| {
        let last = last_seq(c)?;
        let delta = match cache.cursor {
            Some(cursor) if since >= cache.since && last - cursor <= DELTA_LIMIT => {
                let entries: Vec<(i32, String, String)> = event_log::table
                    .filter(event_log::site_id.eq(site))
                    .filter(event_log::seq.gt(cursor))
                    .filter(event_log::seq.le(last))
                    .filter(
                        event_log::kind
                            .eq(log_kind::TICKET_EVENT)
                            .or(event_log::kind.eq(log_kind::DAY_RESET)),
                    )
                    .select((event_log::kind, event_log::source_id, event_log::ticket_id))
                    .load(c)?;
                if entries.iter().any(|(k, _, _)| *k == log_kind::DAY_RESET) {
                    None
                } else {
                    Some(
                        entries
                            .into_iter()
                            .filter(|(_, _, t)| !t.is_empty())
                            .map(|(_, s, t)| (s, t))
                            .collect::<BTreeSet<_>>(),
                    )
                }
            }
            _ => None,
        };
        match delta {
            None => {
                let open_states = [
                    TicketState::Waiting.as_str(),
                    TicketState::Called.as_str(),
                    TicketState::InService.as_str(),
                ];
                let rows: Vec<TicketRow> = tickets::table
                    .filter(tickets::site_id.eq(site))
                    .filter(
                        tickets::last_at
                            .ge(since)
                            .or(tickets::state.eq_any(open_states)),
                    )
                    .select(TicketRow::as_select())
                    .load(c)?;
                cache.tickets = rows
                    .into_iter()
                    .map(|r| ((r.source_id.clone(), r.ticket_id.clone()), r))
                    .collect();
            }
            Some(keys) => {
                // By source: the tickets' key is (site, source, ticket), and a lookup without
                // the source would read every ticket of the site.
                let mut by_source: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
                for (source, ticket) in &keys {
                    by_source.entry(source).or_default().push(ticket);
                }
                for (source, ids) in by_source {
                    for chunk in ids.chunks(500) {
                        let rows: Vec<TicketRow> = tickets::table
                            .filter(tickets::site_id.eq(site))
                            .filter(tickets::source_id.eq(source))
                            .filter(tickets::ticket_id.eq_any(chunk))
                            .select(TicketRow::as_select())
                            .load(c)?;
                        for r in rows {
                            let key = (r.source_id.clone(), r.ticket_id.clone());
                            cache.tickets.insert(key, r);
                        }
                    }
                }
                cache
                    .tickets
                    .retain(|_, t| t.last_at >= since || is_open_state(&t.state));
            }
        }
        cache.cursor = Some(last);
        cache.since = since;
        let mut data = office_rest(c, site, since)?;
        data.last_seq = last;
        Ok(data)
    })
}

/// Counters, open sessions and votes since `since` (no tickets).
fn office_rest(c: &mut AnyConnection, site: &str, since: Millis) -> Result<OfficeData, StoreError> {
    let counters = counters::table
        .filter(counters::site_id.eq(site))
        .select(CounterRow::as_select())
        .load(c)?;
    // The sessions of the counters (a link or a call is not a counter's open session).
    let open_sessions = vote_sessions::table
        .filter(vote_sessions::site_id.eq(site))
        .filter(vote_sessions::state.eq(SessionState::Open.as_str()))
        .filter(vote_sessions::channel.eq(Channel::Counter.as_str()))
        .select(SessionRow::as_select())
        .load(c)?;
    let votes = votes::table
        .filter(votes::site_id.eq(site))
        .filter(votes::voted_at.ge(since))
        .select(VoteRow::as_select())
        .load(c)?;
    Ok(OfficeData {
        tickets: Vec::new(),
        counters,
        open_sessions,
        votes,
        last_seq: 0,
    })
}

/// (counter_id, service_code, channel) of each user served: a ticket served at a counter
/// (COUNTER), a link issued (WEB), a call answered (PHONE). A ticket given a link counts once,
/// under WEB.
pub type ServedAt = (String, String, String);

/// Votes and served tickets in [from, to), for satisfaction over a period.
pub fn period_data(
    c: &mut AnyConnection,
    site: &str,
    from: Millis,
    to: Millis,
) -> Result<(Vec<VoteRow>, Vec<ServedAt>), StoreError> {
    let votes = votes::table
        .filter(votes::site_id.eq(site))
        .filter(votes::voted_at.ge(from).and(votes::voted_at.lt(to)))
        .select(VoteRow::as_select())
        .load(c)?;
    let tickets: Vec<(String, String)> = tickets::table
        .filter(tickets::site_id.eq(site))
        .filter(tickets::state.eq(TicketState::Served.as_str()))
        .filter(tickets::served_at.ge(from).and(tickets::served_at.lt(to)))
        .select((tickets::counter_id, tickets::service_code))
        .load(c)?;
    let remote: Vec<(String, String, String, bool)> = vote_sessions::table
        .filter(vote_sessions::site_id.eq(site))
        .filter(vote_sessions::channel.ne(Channel::Counter.as_str()))
        .filter(
            vote_sessions::served_at
                .ge(from)
                .and(vote_sessions::served_at.lt(to)),
        )
        .select((
            vote_sessions::counter_id,
            vote_sessions::service_code,
            vote_sessions::channel,
            diesel::dsl::exists(
                tickets::table
                    .filter(tickets::site_id.eq(vote_sessions::site_id))
                    .filter(tickets::source_id.eq(vote_sessions::source_id))
                    .filter(tickets::ticket_id.eq(vote_sessions::ticket_id)),
            ),
        ))
        .load(c)?;
    // Tickets whose session is a link: by (counter, service), to be counted under WEB.
    let mut moved: BTreeMap<(String, String), usize> = BTreeMap::new();
    for (counter, service, _, ticketed) in &remote {
        if *ticketed {
            *moved.entry((counter.clone(), service.clone())).or_default() += 1;
        }
    }
    let counter = Channel::Counter.as_str();
    let mut served: Vec<ServedAt> = Vec::with_capacity(tickets.len() + remote.len());
    for (c_id, service) in tickets {
        if let Some(n) = moved
            .get_mut(&(c_id.clone(), service.clone()))
            .filter(|n| **n > 0)
        {
            *n -= 1;
            continue;
        }
        served.push((c_id, service, counter.to_string()));
    }
    served.extend(remote.into_iter().map(|(c, s, ch, _)| (c, s, ch)));
    Ok((votes, served))
}

/// The whole stored state, without receive times: two runs fed the same events compare equal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dump {
    pub received: Vec<(String, String, i32, Option<String>)>,
    pub tickets: Vec<TicketRow>,
    pub sessions: Vec<(String, String, String, String, i64, i64, String)>,
    pub votes: Vec<(String, i32, Option<i32>)>,
    pub counters: Vec<CounterRow>,
}

/// The stored state of `site`.
pub fn dump(c: &mut AnyConnection, site: &str) -> Result<Dump, StoreError> {
    Ok(Dump {
        received: received_events::table
            .filter(received_events::site_id.eq(site))
            .order((received_events::source_id, received_events::event_id))
            .select((
                received_events::source_id,
                received_events::event_id,
                received_events::status,
                received_events::session_id,
            ))
            .load(c)?,
        tickets: tickets::table
            .filter(tickets::site_id.eq(site))
            .order((tickets::source_id, tickets::ticket_id))
            .select(TicketRow::as_select())
            .load(c)?,
        sessions: vote_sessions::table
            .filter(vote_sessions::site_id.eq(site))
            .order(vote_sessions::session_id)
            .select((
                vote_sessions::session_id,
                vote_sessions::ticket_id,
                vote_sessions::counter_id,
                vote_sessions::state,
                vote_sessions::token,
                vote_sessions::served_at,
                vote_sessions::keypad,
            ))
            .load(c)?,
        votes: votes::table
            .filter(votes::site_id.eq(site))
            .order(votes::session_id)
            .select((votes::session_id, votes::face, votes::reason))
            .load(c)?,
        counters: counters::table
            .filter(counters::site_id.eq(site))
            .order(counters::counter_id)
            .select(CounterRow::as_select())
            .load(c)?,
    })
}

/// Sessions, for invariant checks: (session_id, source, ticket, counter, state).
pub fn sessions(c: &mut AnyConnection, site: &str) -> Result<Vec<SessionRow>, StoreError> {
    Ok(vote_sessions::table
        .filter(vote_sessions::site_id.eq(site))
        .order(vote_sessions::session_id)
        .select(SessionRow::as_select())
        .load(c)?)
}

pub fn votes(c: &mut AnyConnection, site: &str) -> Result<Vec<VoteRow>, StoreError> {
    Ok(votes::table
        .filter(votes::site_id.eq(site))
        .order(votes::session_id)
        .select(VoteRow::as_select())
        .load(c)?)
}

/// Open counter sessions (the keypad layer arms, disarms and ends them; links and calls are
/// never a keypad's).
pub fn open_sessions(c: &mut AnyConnection, site: &str) -> Result<Vec<SessionRow>, StoreError> {
    Ok(vote_sessions::table
        .filter(vote_sessions::site_id.eq(site))
        .filter(vote_sessions::state.eq(SessionState::Open.as_str()))
        .filter(vote_sessions::channel.eq(Channel::Counter.as_str()))
        .select(SessionRow::as_select())
        .load(c)?)
}

/// Votes stored, by face code.
pub fn votes_by_face(c: &mut AnyConnection, site: &str) -> Result<Vec<(i32, i64)>, StoreError> {
    use diesel::dsl::count_star;
    Ok(votes::table
        .filter(votes::site_id.eq(site))
        .group_by(votes::face)
        .select((votes::face, count_star()))
        .order(votes::face)
        .load(c)?)
}
