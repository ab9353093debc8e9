//! Writes and reads of the web and phone channels: sessions opened for a service that ended
//! elsewhere than at a keypad (a link, an answered call), their one vote, the AGID form's raw
//! answer and the free text kept apart. The rules are `faccia_domain::remote`'s.

use diesel::prelude::*;
use faccia_domain::remote::admit_remote_vote;
use faccia_domain::session::{
    session_id, Admission, Channel, Judgement, KeypadArming, Refusal, SessionState,
};
use faccia_domain::Millis;

use crate::conn::AnyConnection;
use crate::models::*;
use crate::ops::{append_log, changes, session_info, store_vote};
use crate::schema::*;
use crate::{log_kind, outcome_code, Rules, SessionChange, SessionInfo, StoreError};

/// A session to open for the web or phone channel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemoteSession {
    pub channel: Channel,
    /// Who vouches for the service: the queue source of a served ticket, `web:<system>` for an
    /// online service, `pbx:<name>` for a call.
    pub source_id: String,
    /// The ticket, the online service's reference or the PBX's call id: one session each, ever.
    pub ticket_id: String,
    /// Where the service was given (a counter; for calls, the configured phone line).
    pub counter_id: String,
    pub service_code: String,
    /// When the service ended.
    pub served_at: Millis,
    /// When the session stops taking a vote.
    pub expires_at: Millis,
    /// WEB: the SHA-256 of the link token (`faccia_domain::remote::token_hash`).
    pub link_hash: Option<String>,
}

/// What became of a web or phone vote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RemoteVote {
    /// Stored now.
    Stored(SessionInfo),
    /// The session had its vote already (a second use of the link, the same call twice).
    AlreadyVoted,
    /// No such session, or it has ended.
    Refused(Refusal),
}

/// What a web vote may carry besides the face.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WebExtras {
    /// The AGID form: stars 1..=5 and the follow-up option.
    pub stars: Option<(u8, Option<u8>)>,
    /// Cleaned free text (`faccia_domain::remote::clean_free_text`) and how long to keep it
    /// (ms from when it is stored).
    pub free_text: Option<(String, Millis)>,
}

/// Opens the session, or returns the one the ticket (call) already has: `(info, opened now)`.
pub fn open(
    c: &mut AnyConnection,
    rules: &Rules,
    now: Millis,
    r: &RemoteSession,
) -> Result<(SessionInfo, bool), StoreError> {
    let site = rules.site_id.as_str();
    let id = session_id(site, &r.source_id, &r.ticket_id);
    if let Some(existing) = vote_sessions::table
        .find(&id)
        .select(SessionRow::as_select())
        .get_result(c)
        .optional()?
    {
        return Ok((session_info(&existing)?, false));
    }
    let row = SessionRow {
        site_id: site.to_string(),
        session_id: id,
        source_id: r.source_id.clone(),
        ticket_id: r.ticket_id.clone(),
        counter_id: r.counter_id.clone(),
        service_code: r.service_code.clone(),
        channel: r.channel.as_str().to_string(),
        // Keypads never hold these sessions: token 0 is one no keypad can be armed with.
        token: 0,
        served_at: r.served_at,
        opened_at: now,
        expires_at: r.expires_at,
        state: SessionState::Open.as_str().to_string(),
        keypad: KeypadArming::NoKeypad.as_str().to_string(),
        ended_at: None,
    };
    diesel::insert_into(vote_sessions::table)
        .values(&row)
        .execute(c)?;
    if let Some(hash) = &r.link_hash {
        diesel::insert_into(vote_links::table)
            .values(&LinkRow {
                token_hash: hash.clone(),
                site_id: site.to_string(),
                session_id: row.session_id.clone(),
                issued_at: now,
                expires_at: r.expires_at,
                used_at: None,
            })
            .execute(c)?;
    }
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
            session_id: row.session_id.clone(),
            outcome: outcome_code(SessionState::Open),
            detail: format!("channel {}", r.channel.as_str()),
            fact_text: r.channel.as_str().to_string(),
            ..NewLog::default()
        },
    )?;
    Ok((session_info(&row)?, true))
}

/// The session a link token's hash opens, if any (whatever its state).
pub fn session_of_link(
    c: &mut AnyConnection,
    token_hash: &str,
) -> Result<Option<(LinkRow, SessionRow)>, StoreError> {
    let Some(link) = vote_links::table
        .find(token_hash)
        .select(LinkRow::as_select())
        .get_result(c)
        .optional()?
    else {
        return Ok(None);
    };
    let session = vote_sessions::table
        .find(&link.session_id)
        .select(SessionRow::as_select())
        .get_result(c)
        .optional()?;
    Ok(session.map(|s| (link, s)))
}

/// The vote of session `session_id` of this store's site, admitted by
/// `faccia_domain::remote::admit_remote_vote`; a WEB vote may carry the form's raw answer and
/// free text.
pub fn vote(
    c: &mut AnyConnection,
    rules: &Rules,
    now: Millis,
    session_id: &str,
    judgement: Judgement,
    extras: &WebExtras,
) -> Result<RemoteVote, StoreError> {
    let site = rules.site_id.as_str();
    let Some(s) = vote_sessions::table
        .find(session_id)
        .filter(vote_sessions::site_id.eq(site))
        .filter(vote_sessions::channel.ne(Channel::Counter.as_str()))
        .select(SessionRow::as_select())
        .get_result(c)
        .optional()?
    else {
        return Ok(RemoteVote::Refused(Refusal::NoSession));
    };
    let state = SessionState::parse(&s.state)
        .ok_or_else(|| StoreError::Corrupt(format!("session state {:?}", s.state)))?;
    match admit_remote_vote(state, s.expires_at, now) {
        Admission::Accept => {}
        Admission::AlreadyVoted => return Ok(RemoteVote::AlreadyVoted),
        Admission::Refuse(why) => {
            append_log(
                c,
                site,
                NewLog {
                    at: now,
                    kind: log_kind::ORPHAN_VOTE,
                    source_id: s.source_id.clone(),
                    counter_id: s.counter_id.clone(),
                    service_code: s.service_code.clone(),
                    session_id: s.session_id.clone(),
                    detail: format!(
                        "a {} vote came after its session ended ({}): refused",
                        s.channel, s.state
                    ),
                    reason: log_reason::REMOTE_ENDED,
                    fact_text: s.channel.clone(),
                    ..NewLog::default()
                },
            )?;
            return Ok(RemoteVote::Refused(why));
        }
    }
    store_vote(c, rules, now, &s, judgement, now)?;
    diesel::update(vote_links::table.filter(vote_links::session_id.eq(&s.session_id)))
        .set(vote_links::used_at.eq(Some(now)))
        .execute(c)?;
    if let Some((stars, follow_up)) = extras.stars {
        diesel::insert_into(vote_answers::table)
            .values(&AnswerRow {
                session_id: s.session_id.clone(),
                site_id: site.to_string(),
                stars: i32::from(stars),
                follow_up: follow_up.map(i32::from),
                answered_at: now,
            })
            .execute(c)?;
    }
    if let Some((body, keep_for)) = &extras.free_text {
        diesel::insert_into(vote_comments::table)
            .values(&CommentRow {
                session_id: s.session_id.clone(),
                site_id: site.to_string(),
                body: body.clone(),
                written_at: now,
                keep_until: now.saturating_add(*keep_for),
            })
            .execute(c)?;
    }
    changes::push(SessionChange::Ended {
        session_id: s.session_id.clone(),
        counter_id: s.counter_id.clone(),
        state: SessionState::Voted,
    });
    let mut info = session_info(&s)?;
    info.state = SessionState::Voted;
    Ok(RemoteVote::Stored(info))
}

/// Deletes the free text whose retention period is over (all sites). Returns how many.
pub fn purge_comments(c: &mut AnyConnection, now: Millis) -> Result<usize, StoreError> {
    Ok(
        diesel::delete(vote_comments::table.filter(vote_comments::keep_until.le(now)))
            .execute(c)?,
    )
}
