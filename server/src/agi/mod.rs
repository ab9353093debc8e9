//! The phone survey: a FastAGI listener (Asterisk's AGI protocol over plain TCP). The PBX's
//! dialplan hands the caller over at the end of the call (`Queue(urp,c)` then
//! `AGI(agi://faccia/vote)`); faccia opens the call's PHONE session (one per call id, ever),
//! runs `faccia_domain::phone::Survey` with the configured prompts and stores its one vote.
//!
//! The caller id is never kept: the environment is read into `faccia_domain::phone::AgiEnv`,
//! which drops every key but the script, the call ids and the arguments as it is read, and
//! nothing of the environment is logged.

mod conn;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use faccia_domain::phone::{self, Action, End, Input, Prompt, Survey, SurveyRules};
use faccia_domain::session::{Channel, SessionState};
use thiserror::Error;
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinSet;
use tracing::Instrument;

pub use conn::{AgiConn, AgiError};

use crate::config::{CallIdKey, PhoneConfig, PhoneLine};
use crate::grpc::{Office, Shared};
use crate::storage::{RemoteSession, RemoteVote, StoreError, WebExtras};

/// How long surveys in flight may go on once the server is stopping.
const STOP_GRACE: Duration = Duration::from_secs(10);

#[derive(Debug, Error)]
pub enum PhoneError {
    #[error("cannot listen for FastAGI on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
}

/// Why a call got no survey.
#[derive(Debug, Error)]
pub enum CallError {
    #[error("AGI: {0}")]
    Agi(#[from] AgiError),
    #[error("no [[phone.lines]] has script {0:?}")]
    UnknownScript(String),
    #[error("the PBX gave no usable call id")]
    NoCallId,
    #[error("the store: {0}")]
    Store(#[from] StoreError),
    #[error("site {0:?} of the line is not served here")]
    NoOffice(String),
    /// The call came back after its time to vote ran out (or its session was cancelled).
    #[error("the call's session has ended ({0})")]
    SessionEnded(&'static str),
}

impl CallError {
    /// A short name for logs and metrics.
    pub fn name(&self) -> &'static str {
        match self {
            CallError::Agi(AgiError::HungUp) => "hung_up",
            CallError::Agi(_) => "agi_error",
            CallError::UnknownScript(_) => "unknown_script",
            CallError::NoCallId => "no_call_id",
            CallError::Store(_) => "store_error",
            CallError::NoOffice(_) => "no_office",
            CallError::SessionEnded(_) => "session_ended",
        }
    }
}

/// Binds the FastAGI address.
pub async fn bind(addr: SocketAddr) -> Result<TcpListener, PhoneError> {
    TcpListener::bind(addr)
        .await
        .map_err(|source| PhoneError::Bind { addr, source })
}

/// Takes calls on `listener` until the server stops (`Shared::stopping`), then lets the
/// surveys in flight finish for a few seconds.
pub async fn serve(shared: Arc<Shared>, phone: PhoneConfig, listener: TcpListener) {
    let phone = Arc::new(phone);
    let mut stopping = shared.stopping.subscribe();
    if let Ok(addr) = listener.local_addr() {
        tracing::info!(%addr, lines = phone.lines.len(), "phone survey (FastAGI) listening");
    }
    let mut calls = JoinSet::new();
    loop {
        if *stopping.borrow_and_update() {
            break;
        }
        tokio::select! {
            r = stopping.changed() => if r.is_err() { break },
            accepted = listener.accept() => match accepted {
                Ok((stream, _peer)) => {
                    calls.spawn(call(shared.clone(), phone.clone(), stream));
                }
                Err(e) => {
                    tracing::warn!(error = %e, "phone: accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            },
            Some(_) = calls.join_next(), if !calls.is_empty() => {}
        }
    }
    drop(listener);
    if !calls.is_empty() {
        tracing::info!(calls = calls.len(), "phone: finishing surveys in flight");
        let drain = async { while calls.join_next().await.is_some() {} };
        if tokio::time::timeout(STOP_GRACE, drain).await.is_err() {
            calls.abort_all();
        }
    }
}

/// One call: the environment, the session, the survey.
async fn call(shared: Arc<Shared>, phone: Arc<PhoneConfig>, stream: TcpStream) {
    let mut agi = AgiConn::new(
        stream,
        Duration::from_secs(u64::from(phone.reply_timeout_s)),
    );
    let outcome = survey(&shared, &phone, &mut agi).await;
    let name = match &outcome {
        Ok(end) => end.name(),
        Err(e) => {
            match e {
                CallError::Agi(AgiError::HungUp) => {
                    tracing::info!("phone: the caller hung up before the survey began")
                }
                CallError::SessionEnded(_) => tracing::info!(error = %e, "phone: no survey"),
                CallError::Store(_) => tracing::error!(error = %e, "phone: no survey"),
                _ => tracing::warn!(error = %e, "phone: no survey"),
            }
            e.name()
        }
    };
    shared.metrics.phone_call(name);
    match outcome {
        // The survey ran: faccia ends the call.
        Ok(_) => agi.finish().await,
        // No survey: the dialplan goes on after AGI().
        Err(_) => agi.close().await,
    }
}

fn prompt(phone: &PhoneConfig, p: Prompt) -> &str {
    let pr = &phone.prompts;
    match p {
        Prompt::Welcome => pr.welcome.as_deref().unwrap_or(&pr.question),
        Prompt::Question => &pr.question,
        Prompt::Reason => &pr.reason,
        Prompt::Thanks => &pr.thanks,
        Prompt::Invalid => &pr.invalid,
        Prompt::AlreadyVoted => &pr.already_voted,
    }
}

/// The call's id by the configured key: `linkedid` from the environment, else asked of the
/// channel, else the channel's uniqueid.
async fn call_id(
    phone: &PhoneConfig,
    env: &phone::AgiEnv,
    agi: &mut AgiConn,
) -> Result<String, CallError> {
    let id = match phone.call_id {
        CallIdKey::Uniqueid => env.uniqueid.clone(),
        CallIdKey::Linkedid => match &env.linkedid {
            Some(l) => Some(l.clone()),
            None => agi
                .get_variable("CHANNEL(linkedid)")
                .await?
                .or_else(|| env.uniqueid.clone()),
        },
    };
    id.filter(|i| phone::valid_call_id(i))
        .ok_or(CallError::NoCallId)
}

/// The service of the call: the first AGI argument when it is a service of the line's site,
/// else the line's own.
fn service_of(office: &Office, line: &PhoneLine, args: &[String]) -> String {
    match args.first().map(|a| a.trim()).filter(|a| !a.is_empty()) {
        Some(code) if office.site.service(code).is_some() => code.to_string(),
        Some(code) => {
            tracing::warn!(
                script = %line.script,
                service = code,
                "phone: the AGI argument is not a service of the site; the line's service is used"
            );
            line.service.clone()
        }
        None => line.service.clone(),
    }
}

async fn survey(shared: &Shared, phone: &PhoneConfig, agi: &mut AgiConn) -> Result<End, CallError> {
    let env = agi.read_env().await?;
    let line = phone
        .line(&env.script)
        .ok_or_else(|| CallError::UnknownScript(env.script.clone()))?;
    let office = shared
        .offices
        .iter()
        .find(|o| o.site.id() == line.site_id)
        .ok_or_else(|| CallError::NoOffice(line.site_id.clone()))?;
    let service = service_of(office, line, &env.args);
    let call_id = call_id(phone, &env, agi).await?;
    drop(env);
    let store = &office.store;
    let now = store.now();
    let (info, _opened) = store
        .open_remote(RemoteSession {
            channel: Channel::Phone,
            source_id: phone.source_id.clone(),
            ticket_id: call_id,
            counter_id: line.line.clone(),
            service_code: service,
            served_at: now,
            expires_at: now + i64::from(phone.vote_window_s) * 1000,
            link_hash: None,
        })
        .await?;
    let span = tracing::info_span!(
        "phone",
        site = %line.site_id,
        line = %line.line,
        session = %info.session_id
    );
    let already = match info.state {
        SessionState::Open => false,
        SessionState::Voted => true,
        other => return Err(CallError::SessionEnded(other.as_str())),
    };
    run(phone, agi, store, info.session_id, already)
        .instrument(span)
        .await
}

/// Carries out the survey's actions until it ends.
async fn run(
    phone: &PhoneConfig,
    agi: &mut AgiConn,
    store: &crate::storage::Store,
    session: String,
    already: bool,
) -> Result<End, CallError> {
    tracing::debug!(already, "phone survey starts");
    let rules = SurveyRules {
        attempts: phone.attempts,
        ask_reason: phone.ask_reason,
    };
    let digit_timeout_ms = phone.digit_timeout_s * 1000;
    let (mut survey, mut action) = Survey::start(rules, already, phone.prompts.welcome.is_some());
    let end = loop {
        let input = match action {
            Action::Finish(end) => break end,
            Action::Ask(p) => match agi.get_data(prompt(phone, p), digit_timeout_ms).await {
                Ok(i) => i,
                Err(AgiError::HungUp) => Input::HungUp,
                Err(e) => {
                    tracing::warn!(error = %e, "phone: a question failed");
                    if agi.hung_up() {
                        Input::HungUp
                    } else {
                        Input::Failed
                    }
                }
            },
            Action::Play(p) => match agi.stream_file(prompt(phone, p)).await {
                Ok(()) => Input::Played,
                Err(AgiError::HungUp) => Input::HungUp,
                Err(e) => {
                    tracing::warn!(error = %e, "phone: a prompt failed");
                    Input::Played
                }
            },
            Action::Store(j) => {
                match store
                    .record_remote_vote(session.clone(), j, WebExtras::default())
                    .await
                {
                    Ok(RemoteVote::Stored(_)) => Input::Stored,
                    Ok(RemoteVote::AlreadyVoted) => Input::AlreadyVoted,
                    Ok(RemoteVote::Refused(why)) => {
                        tracing::info!(?why, "phone: the vote was refused");
                        Input::Failed
                    }
                    Err(e) => {
                        tracing::error!(error = %e, "phone: cannot store the vote");
                        Input::Failed
                    }
                }
            }
        };
        action = survey.step(input);
    };
    tracing::info!(outcome = end.name(), "phone survey ended");
    Ok(end)
}
