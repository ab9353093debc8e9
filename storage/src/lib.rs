//! Durable storage with diesel on SQLite (embedded, default) or PostgreSQL.
//!
//! One writer thread owns the write connection and runs each job in one transaction: all the
//! writes of one event commit together, and the caller is answered only after the commit. Reads
//! run on a small pool of connections on tokio's blocking threads. Neither ever blocks the async
//! runtime's worker threads.

mod conn;
pub mod models;
mod ops;
pub mod read;
pub mod rollup;
pub mod schema;
mod url;

use diesel::Connection;
use std::sync::mpsc as std_mpsc;
use std::sync::{Arc, Mutex};

use faccia_domain::session::{Judgement, KeypadArming, SessionState};
use faccia_domain::{Millis, TicketEvent};
use thiserror::Error;
use tokio::sync::{oneshot, watch};

pub use conn::{connect, AnyConnection};
pub use ops::{Ack, AckStatus, CounterClaim, SessionInfo, VoteOutcome};
pub use url::DatabaseUrl;

/// Kinds of event-log entries (the numbers of `faccia.v1.LogKind`).
pub mod log_kind {
    pub const TICKET_EVENT: i32 = 1;
    pub const SESSION_OPENED: i32 = 2;
    pub const SESSION_ENDED: i32 = 3;
    pub const VOTE_RECORDED: i32 = 4;
    pub const COUNTER: i32 = 5;
    pub const DAY_RESET: i32 = 6;
    pub const RECONCILE: i32 = 7;
    pub const KEYPAD: i32 = 8;
    pub const ORPHAN_VOTE: i32 = 9;
}

/// Session outcomes in the event log (the numbers of `faccia.v1.SessionOutcome`).
pub fn outcome_code(state: SessionState) -> i32 {
    match state {
        SessionState::Open => 1,
        SessionState::Voted => 2,
        SessionState::Expired => 3,
        SessionState::Superseded => 4,
        SessionState::Cancelled => 5,
        SessionState::KeypadRebooted => 6,
    }
}

#[derive(Debug, Error)]
pub enum StoreError {
    /// The same (source_id, event_id) came with different content.
    #[error("{0}")]
    Conflict(String),
    /// The database cannot be reached or is busy: retry later with the same event_id.
    #[error("storage unavailable: {0}")]
    Unavailable(String),
    #[error("database migration failed: {0}")]
    Migration(String),
    #[error("database error: {0}")]
    Db(#[from] diesel::result::Error),
    /// Stored data that breaks the schema's own rules.
    #[error("stored data is inconsistent: {0}")]
    Corrupt(String),
}

impl StoreError {
    /// Errors after which the connection should be dropped and opened again.
    fn is_connection_problem(&self) -> bool {
        match self {
            StoreError::Unavailable(_) => true,
            StoreError::Db(diesel::result::Error::DatabaseError(kind, info)) => {
                matches!(kind, diesel::result::DatabaseErrorKind::ClosedConnection)
                    || info.message().contains("database is locked")
                    || info.message().contains("server closed the connection")
            }
            StoreError::Db(diesel::result::Error::BrokenTransactionManager) => true,
            _ => false,
        }
    }
}

/// The rules the store applies, from configuration.
#[derive(Debug, Clone)]
pub struct Rules {
    pub vote_window_ms: Millis,
    pub grace_ms: Millis,
    /// How long the keypad waits for a reason after red.
    pub reason_window_ms: Millis,
    pub time_zone: chrono_tz::Tz,
    /// Store `operator_ref` (privacy switch).
    pub operator_data: bool,
    /// Counters that have a keypad: their sessions start PENDING until the keypad is armed.
    pub keypad_counters: Vec<String>,
}

/// What the keypad layer writes to the event log about a keypad's health.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeypadNote {
    Online { serial_no: u32, firmware: (u8, u8) },
    Offline,
    Rebooted { boot_count: u16 },
}

/// A committed change of a vote session, for the keypad layer: it learns of every session that
/// opens or ends, in commit order, whichever request caused it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SessionChange {
    /// Stored open (only sessions born open: one born superseded never shows here).
    Opened(SessionInfo),
    Ended {
        session_id: String,
        counter_id: String,
        state: SessionState,
    },
}

type Subscribers = Arc<Mutex<Vec<tokio::sync::mpsc::UnboundedSender<SessionChange>>>>;

/// Where the store gets the time (a fixed or stepped clock in tests).
pub type Clock = Arc<dyn Fn() -> Millis + Send + Sync>;

/// The wall clock in milliseconds.
pub fn system_clock() -> Clock {
    Arc::new(|| chrono::Utc::now().timestamp_millis())
}

type Job = Box<dyn FnOnce(&mut Option<AnyConnection>) + Send>;

/// Handle to the database. Cheap to clone.
#[derive(Clone)]
pub struct Store {
    jobs: std_mpsc::Sender<Job>,
    readers: Arc<Mutex<Vec<AnyConnection>>>,
    url: Arc<DatabaseUrl>,
    busy_timeout_ms: u32,
    seq: watch::Receiver<i64>,
    seq_tx: Arc<watch::Sender<i64>>,
    rules: Arc<Rules>,
    clock: Clock,
    sessions: Subscribers,
}

impl Store {
    /// Opens the database, applies migrations and starts the writer thread.
    pub fn open(
        url: &DatabaseUrl,
        busy_timeout_ms: u32,
        rules: Rules,
        clock: Clock,
    ) -> Result<Store, StoreError> {
        let mut first = connect(url, busy_timeout_ms)?;
        conn::migrate(&mut first)?;
        rollup::ensure(&mut first, rules.time_zone)?;
        let last = read::last_seq(&mut first)?;
        let (seq_tx, seq) = watch::channel(last);
        let (jobs, rx) = std_mpsc::channel::<Job>();
        let writer_url = url.clone();
        std::thread::Builder::new()
            .name("faccia-db-writer".into())
            .spawn(move || {
                let mut conn = Some(first);
                while let Ok(job) = rx.recv() {
                    if conn.is_none() {
                        conn = connect(&writer_url, busy_timeout_ms).ok();
                    }
                    job(&mut conn);
                }
            })
            .map_err(|e| StoreError::Unavailable(format!("cannot start the writer: {e}")))?;
        Ok(Store {
            jobs,
            readers: Arc::new(Mutex::new(Vec::new())),
            url: Arc::new(url.clone()),
            busy_timeout_ms,
            seq,
            seq_tx: Arc::new(seq_tx),
            rules: Arc::new(rules),
            clock,
            sessions: Arc::new(Mutex::new(Vec::new())),
        })
    }

    /// Every session change from now on, in commit order, each sent after its commit and before
    /// the request that caused it is answered.
    pub fn session_changes(&self) -> tokio::sync::mpsc::UnboundedReceiver<SessionChange> {
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
        if let Ok(mut subs) = self.sessions.lock() {
            subs.push(tx);
        }
        rx
    }

    pub fn rules(&self) -> &Rules {
        &self.rules
    }

    pub fn now(&self) -> Millis {
        (self.clock)()
    }

    /// The last committed event-log sequence number, updated after every commit.
    pub fn watch_seq(&self) -> watch::Receiver<i64> {
        self.seq.clone()
    }

    /// Runs `f` in one write transaction on the writer thread; answers after the commit.
    async fn write<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&mut AnyConnection, &Rules, Millis) -> Result<T, StoreError> + Send + 'static,
    {
        let (tx, rx) = oneshot::channel();
        let rules = self.rules.clone();
        let clock = self.clock.clone();
        let seq_tx = self.seq_tx.clone();
        let url = self.url.clone();
        let subscribers = self.sessions.clone();
        let job: Job = Box::new(move |slot: &mut Option<AnyConnection>| {
            let result = match slot.as_mut() {
                None => Err(StoreError::Unavailable(format!(
                    "cannot connect to the database ({})",
                    match url.as_ref() {
                        DatabaseUrl::Sqlite(p) => p.display().to_string(),
                        DatabaseUrl::Postgres(u) => conn::redact(u),
                    }
                ))),
                Some(c) => {
                    let now = clock();
                    ops::changes::take(); // nothing left over from a failed job
                    let r = c.transaction(|c| {
                        conn::lock_writers(c)?;
                        f(c, &rules, now)
                    });
                    let changes = ops::changes::take();
                    if r.is_ok() && !changes.is_empty() {
                        if let Ok(mut subs) = subscribers.lock() {
                            subs.retain(|tx| changes.iter().all(|ch| tx.send(ch.clone()).is_ok()));
                        }
                    }
                    if r.is_ok() {
                        match read::last_seq(c) {
                            Ok(s) => {
                                seq_tx.send_if_modified(|cur| {
                                    let moved = *cur != s;
                                    *cur = s;
                                    moved
                                });
                            }
                            Err(e) => tracing::warn!(error = %e, "cannot read the last sequence"),
                        }
                    }
                    r
                }
            };
            if let Err(e) = &result {
                if e.is_connection_problem() {
                    tracing::warn!(error = %e, "database connection dropped; will reconnect");
                    *slot = None;
                }
            }
            let _ = tx.send(result);
        });
        self.jobs
            .send(job)
            .map_err(|_| StoreError::Unavailable("the writer thread has stopped".into()))?;
        rx.await
            .map_err(|_| StoreError::Unavailable("the writer thread has stopped".into()))?
    }

    /// Runs a read on a pooled connection on a blocking thread.
    pub async fn read<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&mut AnyConnection) -> Result<T, StoreError> + Send + 'static,
    {
        let pool = self.readers.clone();
        let url = self.url.clone();
        let busy = self.busy_timeout_ms;
        tokio::task::spawn_blocking(move || {
            let pooled = pool.lock().ok().and_then(|mut p| p.pop());
            let mut c = match pooled {
                Some(c) => c,
                None => connect(&url, busy)?,
            };
            let r = f(&mut c);
            let broken = matches!(&r, Err(e) if e.is_connection_problem());
            if !broken {
                if let Ok(mut p) = pool.lock() {
                    if p.len() < 8 {
                        p.push(c);
                    }
                }
            }
            r
        })
        .await
        .map_err(|e| StoreError::Unavailable(format!("read task failed: {e}")))?
    }

    /// Stores one ticket event and applies it; answers after the commit.
    pub async fn publish(&self, event: TicketEvent) -> Result<Ack, StoreError> {
        self.write(move |c, rules, now| ops::publish(c, rules, now, &event))
            .await
    }

    /// Repairs counters from the queue system's own view of them.
    pub async fn reconcile(
        &self,
        source_id: String,
        at: Millis,
        counters: Vec<CounterClaim>,
    ) -> Result<u32, StoreError> {
        self.write(move |c, _rules, now| ops::reconcile(c, now, &source_id, at, &counters))
            .await
    }

    /// Ends the sessions whose window (plus grace for keypads) has passed. Returns how many.
    pub async fn expire_due(&self) -> Result<usize, StoreError> {
        self.write(ops::expire_due).await
    }

    /// A latched vote with `token`, admitted to its session by `session::admit_vote`.
    pub async fn record_vote(
        &self,
        token: u32,
        judgement: Judgement,
        voted_at: Millis,
    ) -> Result<VoteOutcome, StoreError> {
        self.write(move |c, rules, now| {
            ops::record_vote(c, rules, now, None, token, judgement, voted_at)
        })
        .await
    }

    /// The seam where the keypad of `counter_id` reports a latched vote with `token`.
    pub async fn record_keypad_vote(
        &self,
        counter_id: String,
        token: u32,
        judgement: Judgement,
        voted_at: Millis,
    ) -> Result<VoteOutcome, StoreError> {
        self.write(move |c, rules, now| {
            ops::record_vote(c, rules, now, Some(&counter_id), token, judgement, voted_at)
        })
        .await
    }

    /// The seam where the keypad layer says what the counter's keypad is doing for a session.
    pub async fn set_arming(
        &self,
        session_id: String,
        arming: KeypadArming,
    ) -> Result<Option<SessionInfo>, StoreError> {
        self.write(move |c, _rules, now| ops::set_arming(c, now, &session_id, arming))
            .await
    }

    /// Ends an open session for a keypad-side cause (the keypad rebooted, or reported it idle).
    pub async fn end_session(
        &self,
        session_id: String,
        state: SessionState,
        detail: String,
    ) -> Result<bool, StoreError> {
        self.write(move |c, _rules, now| {
            ops::end_session_by_id(c, now, &session_id, state, &detail)
        })
        .await
    }

    /// Appends a keypad-health entry (online, offline, reboot...) to the event log.
    pub async fn log_keypad(&self, counter_id: String, note: KeypadNote) -> Result<(), StoreError> {
        self.write(move |c, _rules, now| ops::log_keypad(c, now, &counter_id, &note))
            .await
    }
}
