//! Durable storage with diesel on SQLite (embedded, default) or PostgreSQL.
//!
//! One writer thread owns the write connection. It takes every job waiting into one transaction
//! (group commit: one fsync for the batch), runs them in order, each in its own savepoint (all the
//! writes of one event commit together, or none: a failing job rolls back alone), and answers the
//! callers only after the commit. Reads
//! run on a small pool of connections on tokio's blocking threads. Neither ever blocks the async
//! runtime's worker threads.

mod batch;
mod conn;
pub mod copy;
mod durable;
pub mod models;
mod ops;
mod pg_rows;
pub mod read;
pub mod remote;
pub mod rollup;
pub mod schema;
pub mod sites;
mod statistics;
pub mod totem;
mod url;
pub mod weblink;

use diesel::Connection;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc as std_mpsc;
use std::sync::{Arc, Mutex};

use faccia_domain::session::{Judgement, KeypadArming, SessionState};
use faccia_domain::{Millis, TicketEvent};
use thiserror::Error;
use tokio::sync::{oneshot, watch};

pub use conn::{connect, migrate, redact, AnyConnection};
pub use ops::{Ack, AckStatus, CounterClaim, SessionInfo, VoteFrom, VoteOutcome};
pub use remote::{RemoteSession, RemoteVote, WebExtras};
pub use totem::{ScanNote, TotemCounters};
pub use url::DatabaseUrl;
pub use weblink::{LinkKey, WebLinks};

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
    /// Not run: an earlier write it depends on (an earlier event of the same stream) failed.
    #[error("not stored: an earlier event of the same stream failed")]
    NotRun,
    /// Stored data that breaks the schema's own rules.
    #[error("stored data is inconsistent: {0}")]
    Corrupt(String),
    /// The database holds an office's history from before sites, and this opening cannot say
    /// whose it is.
    #[error("{0}")]
    Legacy(String),
    /// `faccia db copy` refused to go on: it would mix two offices' data, or the copy does not
    /// match its source.
    #[error("{0}")]
    Copy(String),
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

/// The rules the store applies for one site, from configuration.
#[derive(Debug, Clone)]
pub struct Rules {
    /// The site (office) every row this store writes or reads belongs to.
    pub site_id: String,
    /// Its name (kept in the `sites` table for reports of the whole body).
    pub site_name: String,
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

/// A committed change of a vote session of the store's site, for the keypad layer: it learns of
/// every session that opens or ends, in commit order, whichever request caused it.
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

/// What the jobs of one site carry: its rules and who hears of its session changes.
struct SiteCtx {
    rules: Rules,
    subscribers: Subscribers,
    /// Its counters served by a totem ([`Store::with_totems`]).
    totems: TotemCounters,
}

/// Where the store gets the time (a fixed or stepped clock in tests).
pub type Clock = Arc<dyn Fn() -> Millis + Send + Sync>;

/// The wall clock in milliseconds.
pub fn system_clock() -> Clock {
    Arc::new(|| chrono::Utc::now().timestamp_millis())
}

/// What became of a job in one pass of its batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ran {
    Ok,
    /// Its closure failed: what it wrote must be rolled back.
    Failed,
    /// Not run (its gate was closed): it wrote nothing.
    Skipped,
}

/// One write the writer thread runs inside a batch transaction, then answers.
trait WriteJob: Send {
    /// Runs in the batch's transaction (in its own savepoint when `savepoint`) with its site's
    /// rules; keeps its result for `answer`. `last_try`: this result is final (a failure
    /// closes the job's gate).
    fn run(&mut self, c: &mut AnyConnection, now: Millis, savepoint: bool, last_try: bool) -> Ran;
    /// Who hears of the session changes of this job's site.
    fn subscribers(&self) -> &Subscribers;
    /// The ticket event the job stores, if it is one (its rows are then held for the batch:
    /// see [`batch`]).
    fn event(&self) -> Option<&batch::EventKey>;
    /// Fails the job (no connection, or a batch that did not commit).
    fn fail(&mut self, error: StoreError);
    /// Whether the job's result is an error that means the connection is broken.
    fn connection_problem(&self) -> bool;
    /// Sends the result to the caller (after the batch committed, or failed).
    fn answer(self: Box<Self>);
}

type Job = Box<dyn WriteJob>;

/// A caller's closure, its result and where to send it. The closure may run twice: once in the
/// batch without savepoints and, when a job of the batch failed, again in its own savepoint.
struct Pending<T, F> {
    f: F,
    result: Option<Result<T, StoreError>>,
    tx: Option<oneshot::Sender<Result<T, StoreError>>>,
    /// Set when a job of the same gate failed: later jobs of that gate are not run.
    gate: Option<Arc<AtomicBool>>,
    site: Arc<SiteCtx>,
    /// The ticket event `f` stores, if it is one: `f` then reads and writes the batch's rows
    /// through [`batch`]; any other job runs [`batch::outside`].
    event: Option<batch::EventKey>,
}

impl<T, F> WriteJob for Pending<T, F>
where
    T: Send + 'static,
    F: FnMut(&mut AnyConnection, &Rules, Millis) -> Result<T, StoreError> + Send + 'static,
{
    fn run(&mut self, c: &mut AnyConnection, now: Millis, savepoint: bool, last_try: bool) -> Ran {
        let rules = &self.site.rules;
        if self.gate.as_ref().is_some_and(|g| g.load(Ordering::SeqCst)) {
            self.result = Some(Err(StoreError::NotRun));
            return Ran::Skipped;
        }
        let f = &mut self.f;
        let r = if savepoint {
            // A nested transaction is a savepoint: a failing job rolls back alone.
            c.transaction(|c| f(c, rules, now))
        } else if self.event.is_some() {
            f(c, rules, now)
        } else {
            batch::outside(c, |c| f(c, rules, now))
        };
        let ran = if r.is_ok() { Ran::Ok } else { Ran::Failed };
        if ran == Ran::Failed && last_try {
            if let Some(g) = &self.gate {
                g.store(true, Ordering::SeqCst);
            }
        }
        self.result = Some(r);
        ran
    }

    fn subscribers(&self) -> &Subscribers {
        &self.site.subscribers
    }

    fn event(&self) -> Option<&batch::EventKey> {
        self.event.as_ref()
    }

    fn fail(&mut self, error: StoreError) {
        if let Some(g) = &self.gate {
            g.store(true, Ordering::SeqCst);
        }
        self.result = Some(Err(error));
    }

    fn connection_problem(&self) -> bool {
        matches!(&self.result, Some(Err(e)) if e.is_connection_problem())
    }

    fn answer(mut self: Box<Self>) {
        let result = self
            .result
            .take()
            .unwrap_or_else(|| Err(StoreError::Unavailable("the write was not run".into())));
        if let Some(tx) = self.tx.take() {
            let _ = tx.send(result);
        }
    }
}

/// Why a pass over a batch stopped.
enum PassError {
    /// A job failed in a pass without savepoints: roll back, run again with them.
    JobFailed,
    /// The rows held for the batch could not be written: roll back, run again with savepoints
    /// (each job then writes its own, and the one at fault fails alone).
    Held(StoreError),
    Store(StoreError),
}

impl From<diesel::result::Error> for PassError {
    fn from(e: diesel::result::Error) -> Self {
        PassError::Store(StoreError::Db(e))
    }
}

impl From<StoreError> for PassError {
    fn from(e: StoreError) -> Self {
        PassError::Store(e)
    }
}

/// The most jobs one transaction takes: enough to amortise the fsync, few enough that one batch
/// does not hold the first caller for long.
const MAX_BATCH: usize = 512;

/// The writer thread: owns the write connection; runs every waiting job in one transaction.
struct Writer {
    conn: Option<AnyConnection>,
    url: DatabaseUrl,
    busy_timeout_ms: u32,
    clock: Clock,
    /// Settles each batch once its commit is durable.
    durable: durable::Durability,
    /// Keeps PostgreSQL's planner statistics in step with the tables' growth.
    analyser: statistics::Analyser,
}

impl Writer {
    fn run(mut self, rx: std_mpsc::Receiver<Job>) {
        let mut batch: Vec<Job> = Vec::new();
        while let Ok(first) = rx.recv() {
            batch.push(first);
            while batch.len() < MAX_BATCH {
                match rx.try_recv() {
                    Ok(j) => batch.push(j),
                    Err(_) => break,
                }
            }
            self.run_batch(&mut batch);
        }
    }

    fn unavailable(&self) -> StoreError {
        StoreError::Unavailable(format!(
            "cannot connect to the database ({})",
            match &self.url {
                DatabaseUrl::Sqlite(p) => p.display().to_string(),
                DatabaseUrl::Postgres(u) => conn::redact(u),
            }
        ))
    }

    /// Runs `batch` in one transaction, in order, each job as if in its own savepoint; after the
    /// commit publishes the session changes of the jobs that succeeded, in job order, moves the
    /// sequence watch, and only then answers every caller.
    ///
    /// The first pass runs the jobs without savepoints (they cost a statement each, two round
    /// trips on PostgreSQL). If one fails, that pass is rolled back and the batch runs again, each
    /// job in its own savepoint, so the failing one fails alone and the others are decided
    /// exactly as they would have been. A batch of one needs no second pass.
    fn run_batch(&mut self, batch: &mut Vec<Job>) {
        if self.conn.is_none() {
            self.conn = connect(&self.url, self.busy_timeout_ms)
                .and_then(|c| writer_connection(&self.durable, c))
                .ok();
        }
        let Some(c) = self.conn.as_mut() else {
            let e = self.unavailable();
            for mut job in batch.drain(..) {
                job.fail(StoreError::Unavailable(e.to_string()));
                job.answer();
            }
            return;
        };
        let nows: Vec<Millis> = batch.iter().map(|_| (self.clock)()).collect();
        let single = batch.len() == 1;
        // The session changes of the jobs that ran, with the job they came from.
        let mut changes: Vec<(usize, SessionChange)> = Vec::new();
        let mut pass = |c: &mut AnyConnection, savepoints: bool| {
            changes.clear();
            ops::changes::take(); // nothing left over from a failed pass
            let r = conn::write_transaction(c, |c| {
                let pg = matches!(c, AnyConnection::Postgresql(_));
                if !savepoints && (!single || pg) {
                    // The first pass holds the rows of its ticket events and writes them at
                    // the end, together (see `batch`). One event alone gains by it on
                    // PostgreSQL (its three reads and four writes in two round trips), not on
                    // SQLite.
                    let events: Vec<&batch::EventKey> =
                        batch.iter().filter_map(|j| j.event()).collect();
                    batch::start(c, &events)?;
                }
                for (i, (job, now)) in batch.iter_mut().zip(&nows).enumerate() {
                    let ran = job.run(c, *now, savepoints, savepoints || single);
                    let mine = ops::changes::take();
                    match ran {
                        Ran::Ok => changes.extend(mine.into_iter().map(|ch| (i, ch))),
                        Ran::Skipped => {}
                        Ran::Failed if savepoints => {}
                        Ran::Failed => return Err(PassError::JobFailed),
                    }
                }
                batch::flush(c).map_err(PassError::Held)
            });
            batch::discard();
            r
        };
        // `Some(flushed)`: committed, with the log's last sequence number if its held rows
        // said it (PostgreSQL: their statement returns it, a round trip fewer).
        let committed = match pass(c, false) {
            Err(PassError::JobFailed) if single => Ok(None), // its own error is its answer
            Err(PassError::JobFailed) => pass(c, true).map(Some),
            Err(PassError::Held(e)) if !e.is_connection_problem() => {
                tracing::debug!(error = %e, "the batch's rows were refused; again, job by job");
                pass(c, true).map(Some)
            }
            other => other.map(Some),
        };
        let committed = committed.map_err(|e| match e {
            PassError::Store(e) | PassError::Held(e) => e,
            PassError::JobFailed => StoreError::Unavailable("a write failed twice".into()),
        });
        let mut broken = false;
        let mut seq = None;
        match &committed {
            Ok(None) => {}
            Ok(Some(flushed)) => {
                self.analyser.committed(batch.len());
                // The held rows were written last, under the writers' lock: their last sequence
                // number is the log's.
                match flushed.map_or_else(|| read::last_seq(c), Ok) {
                    Ok(s) => seq = Some(s),
                    Err(e) => {
                        broken = e.is_connection_problem();
                        tracing::warn!(error = %e, "cannot read the last sequence");
                    }
                }
            }
            Err(e) => {
                broken = e.is_connection_problem();
                tracing::warn!(error = %e, jobs = batch.len(), "a write batch did not commit");
                let text = e.to_string();
                for job in batch.iter_mut() {
                    job.fail(StoreError::Unavailable(format!(
                        "the transaction did not commit: {text}"
                    )));
                }
            }
        }
        broken |= batch.iter().any(|j| j.connection_problem());
        if broken {
            tracing::warn!("database connection dropped; will reconnect");
            self.conn = None;
        }
        self.durable.done(durable::Done {
            jobs: std::mem::take(batch),
            changes,
            seq,
            committed: matches!(committed, Ok(Some(_))),
        });
    }
}

/// The writer's connection, set to commit without waiting for the disk when the syncer waits
/// for it instead (see [`durable`]).
fn writer_connection(
    durable: &durable::Durability,
    mut c: AnyConnection,
) -> Result<AnyConnection, StoreError> {
    if let (true, AnyConnection::Sqlite(s)) = (durable.commits_lazily(), &mut c) {
        use diesel::connection::SimpleConnection;
        s.batch_execute("PRAGMA synchronous = NORMAL")?;
    }
    Ok(c)
}

/// Handle to the database. Cheap to clone.
#[derive(Clone)]
pub struct Store {
    jobs: std_mpsc::Sender<Job>,
    readers: Arc<Mutex<Vec<AnyConnection>>>,
    url: Arc<DatabaseUrl>,
    busy_timeout_ms: u32,
    seq: watch::Receiver<i64>,
    site: Arc<SiteCtx>,
    clock: Clock,
    /// The web channel of this site, when some of its counters hand out vote links.
    web: Option<Arc<WebLinks>>,
}

impl Store {
    /// Opens the database for one site, applies migrations and starts the writer thread.
    pub fn open(
        url: &DatabaseUrl,
        busy_timeout_ms: u32,
        rules: Rules,
        clock: Clock,
    ) -> Result<Store, StoreError> {
        let mut stores = Store::open_sites(url, busy_timeout_ms, vec![rules], clock)?;
        stores
            .pop()
            .ok_or_else(|| StoreError::Unavailable("no site to open".into()))
    }

    /// Opens the database for the sites of one process: applies migrations, registers each
    /// site, lets the only site adopt the rows of a database from before sites, brings each
    /// site's report rollups up to date, and starts one writer thread that every returned
    /// store (one per site, in order) shares: their writes share batches and fsyncs.
    pub fn open_sites(
        url: &DatabaseUrl,
        busy_timeout_ms: u32,
        sites: Vec<Rules>,
        clock: Clock,
    ) -> Result<Vec<Store>, StoreError> {
        Store::open_sites_syncing(url, busy_timeout_ms, sites, clock, None)
    }

    /// [`Store::open_sites`]; on SQLite `sync` (when given) stands in for the fsync of the
    /// write-ahead log (see [`durable`]).
    fn open_sites_syncing(
        url: &DatabaseUrl,
        busy_timeout_ms: u32,
        sites: Vec<Rules>,
        clock: Clock,
        sync: Option<durable::SyncFn>,
    ) -> Result<Vec<Store>, StoreError> {
        let mut first = connect(url, busy_timeout_ms)?;
        conn::migrate(&mut first)?;
        sites::prepare(&mut first, &sites, clock())?;
        for rules in &sites {
            rollup::ensure(&mut first, &rules.site_id, rules.time_zone)?;
        }
        let last = read::last_seq(&mut first)?;
        let (seq_tx, seq) = watch::channel(last);
        let (jobs, rx) = std_mpsc::channel::<Job>();
        let sync = match url {
            DatabaseUrl::Sqlite(path) => Some(sync.unwrap_or_else(|| durable::wal_sync(path))),
            DatabaseUrl::Postgres(_) => None,
        };
        let durable = durable::Durability::start(sync, Arc::new(seq_tx))?;
        let writer = Writer {
            conn: Some(writer_connection(&durable, first)?),
            url: url.clone(),
            busy_timeout_ms,
            clock: clock.clone(),
            durable,
            analyser: statistics::Analyser::start(url, busy_timeout_ms),
        };
        std::thread::Builder::new()
            .name("faccia-db-writer".into())
            .spawn(move || writer.run(rx))
            .map_err(|e| StoreError::Unavailable(format!("cannot start the writer: {e}")))?;
        let readers = Arc::new(Mutex::new(Vec::new()));
        let url = Arc::new(url.clone());
        Ok(sites
            .into_iter()
            .map(|rules| Store {
                jobs: jobs.clone(),
                readers: readers.clone(),
                url: url.clone(),
                busy_timeout_ms,
                seq: seq.clone(),
                site: Arc::new(SiteCtx {
                    rules,
                    subscribers: Arc::new(Mutex::new(Vec::new())),
                    totems: TotemCounters::default(),
                }),
                clock: clock.clone(),
                web: None,
            })
            .collect())
    }

    /// This store with the web channel on: a SERVED at one of `web.counters` opens a WEB
    /// session with a link instead of a counter session. Set it before the store is used.
    pub fn with_web_links(mut self, web: WebLinks) -> Store {
        self.web = Some(Arc::new(web));
        self
    }

    /// The web channel's rules, if it is on for this site.
    pub fn web_links(&self) -> Option<&WebLinks> {
        self.web.as_deref()
    }

    /// Every session change of this store's site from now on, in commit order, each sent after
    /// its commit and before the request that caused it is answered.
    pub fn session_changes(&self) -> tokio::sync::mpsc::UnboundedReceiver<SessionChange> {
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
        if let Ok(mut subs) = self.site.subscribers.lock() {
            subs.push(tx);
        }
        rx
    }

    pub fn rules(&self) -> &Rules {
        &self.site.rules
    }

    /// This store with the site's counters served by totems (call before cloning it: the
    /// clones made before keep none).
    pub fn with_totems(mut self, totems: TotemCounters) -> Store {
        self.site = Arc::new(SiteCtx {
            rules: self.site.rules.clone(),
            subscribers: self.site.subscribers.clone(),
            totems,
        });
        self
    }

    /// The site's counters served by totems.
    pub fn totems(&self) -> &TotemCounters {
        &self.site.totems
    }

    /// The site this store reads and writes.
    pub fn site_id(&self) -> &str {
        &self.site.rules.site_id
    }

    pub fn now(&self) -> Millis {
        (self.clock)()
    }

    /// The last committed event-log sequence number (of any site of the database), updated
    /// after every commit of this process.
    pub fn watch_seq(&self) -> watch::Receiver<i64> {
        self.seq.clone()
    }

    /// Queues `f` for the writer thread now; the receiver is answered after its batch
    /// commits. Jobs run in the order they are submitted. `f` may run more than once (a
    /// rolled-back first pass); only the last run counts.
    fn submit<T, F>(
        &self,
        gate: Option<Arc<AtomicBool>>,
        f: F,
    ) -> oneshot::Receiver<Result<T, StoreError>>
    where
        T: Send + 'static,
        F: FnMut(&mut AnyConnection, &Rules, Millis) -> Result<T, StoreError> + Send + 'static,
    {
        self.submit_job(gate, None, f)
    }

    /// The key of a job that stores the ticket event `event` (only through
    /// `ops::publish_with`, which reads and writes its rows through `batch`).
    fn event_key(&self, event: &TicketEvent) -> batch::EventKey {
        batch::EventKey {
            site: self.site.rules.site_id.clone(),
            source: event.source_id.clone(),
            ticket: event.ticket_id.clone(),
            event_id: event.event_id.clone(),
        }
    }

    fn submit_job<T, F>(
        &self,
        gate: Option<Arc<AtomicBool>>,
        event: Option<batch::EventKey>,
        f: F,
    ) -> oneshot::Receiver<Result<T, StoreError>>
    where
        T: Send + 'static,
        F: FnMut(&mut AnyConnection, &Rules, Millis) -> Result<T, StoreError> + Send + 'static,
    {
        let (tx, rx) = oneshot::channel();
        let job = Box::new(Pending {
            f,
            result: None,
            tx: Some(tx),
            gate,
            site: self.site.clone(),
            event,
        });
        // A failed send drops the job and its sender: the receiver then reports the writer gone.
        let _ = self.jobs.send(job);
        rx
    }

    async fn answer<T>(rx: oneshot::Receiver<Result<T, StoreError>>) -> Result<T, StoreError> {
        rx.await
            .map_err(|_| StoreError::Unavailable("the writer thread has stopped".into()))?
    }

    /// Runs `f` in a write transaction on the writer thread (in its own savepoint of a batch
    /// shared with the other waiting writes); answers after the commit.
    async fn write<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnMut(&mut AnyConnection, &Rules, Millis) -> Result<T, StoreError> + Send + 'static,
    {
        Self::answer(self.submit(None, f)).await
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

    /// [`Store::read`] of a function of this store's site, e.g. `store.read_site(read::votes)`.
    pub async fn read_site<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&mut AnyConnection, &str) -> Result<T, StoreError> + Send + 'static,
    {
        let site = self.site_id().to_string();
        self.read(move |c| f(c, &site)).await
    }

    /// Stores one ticket event and applies it; answers after the commit.
    pub async fn publish(&self, event: TicketEvent) -> Result<Ack, StoreError> {
        let web = self.web.clone();
        let site = self.site.clone();
        let key = self.event_key(&event);
        let rx = self.submit_job(None, Some(key), move |c, rules, now| {
            ops::publish(c, rules, web.as_deref(), &site.totems, now, &event)
        });
        Self::answer(rx).await
    }

    /// Stores one event of a day's log imported after the fact (`faccia import csv`): the same
    /// rules as [`Store::publish`], except that a SERVED opens no vote session (the citizen has
    /// long left the counter: no keypad is armed, no link issued).
    pub async fn publish_imported(&self, event: TicketEvent) -> Result<Ack, StoreError> {
        let site = self.site.clone();
        let key = self.event_key(&event);
        let rx = self.submit_job(None, Some(key), move |c, rules, now| {
            ops::publish_with(
                c,
                rules,
                None,
                &site.totems,
                now,
                &event,
                ops::Sessions::Never,
            )
        });
        Self::answer(rx).await
    }

    /// Queues one ticket event for the writer at once, in call order, and returns the future of
    /// its answer (after its commit): a stream reads ahead while earlier events commit. Events
    /// sharing `gate` stop at the first that fails: the later ones are answered
    /// [`StoreError::NotRun`] and nothing of them is stored.
    pub fn publish_queued(
        &self,
        gate: &Arc<AtomicBool>,
        event: TicketEvent,
    ) -> impl std::future::Future<Output = Result<Ack, StoreError>> + Send + 'static {
        let web = self.web.clone();
        let site = self.site.clone();
        let key = self.event_key(&event);
        let rx = self.submit_job(Some(gate.clone()), Some(key), move |c, rules, now| {
            ops::publish(c, rules, web.as_deref(), &site.totems, now, &event)
        });
        Self::answer(rx)
    }

    /// Repairs counters from the queue system's own view of them.
    pub async fn reconcile(
        &self,
        source_id: String,
        at: Millis,
        counters: Vec<CounterClaim>,
    ) -> Result<u32, StoreError> {
        self.write(move |c, rules, now| {
            ops::reconcile(c, &rules.site_id, now, &source_id, at, &counters)
        })
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
            ops::record_vote(c, rules, now, VoteFrom::Session, token, judgement, voted_at)
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
            ops::record_vote(
                c,
                rules,
                now,
                VoteFrom::Counter(&counter_id),
                token,
                judgement,
                voted_at,
            )
        })
        .await
    }

    /// The seam where the keypad of totem `totem_id`, serving `counters`, reports a latched
    /// vote with `token` (admitted by `session::admit_totem_vote`).
    pub async fn record_totem_vote(
        &self,
        totem_id: String,
        counters: Vec<String>,
        token: u32,
        judgement: Judgement,
        voted_at: Millis,
    ) -> Result<VoteOutcome, StoreError> {
        self.write(move |c, rules, now| {
            ops::record_vote(
                c,
                rules,
                now,
                VoteFrom::Totem(&totem_id, &counters),
                token,
                judgement,
                voted_at,
            )
        })
        .await
    }

    /// What the store knows of a scanned ticket of this site (its newest counter session).
    pub async fn ticket_facts(
        &self,
        source: Option<String>,
        ticket: String,
    ) -> Result<faccia_domain::totem::TicketFacts, StoreError> {
        self.read_site(move |c, site| totem::ticket_facts(c, site, source.as_deref(), &ticket))
            .await
    }

    /// Writes a refused totem scan to the event log.
    pub async fn log_scan(&self, note: ScanNote) -> Result<(), StoreError> {
        self.write(move |c, rules, now| totem::log_scan(c, &rules.site_id, now, &note))
            .await
    }

    /// The seam where the keypad layer says what the counter's keypad is doing for a session.
    pub async fn set_arming(
        &self,
        session_id: String,
        arming: KeypadArming,
    ) -> Result<Option<SessionInfo>, StoreError> {
        self.write(move |c, rules, now| {
            ops::set_arming(c, &rules.site_id, now, &session_id, arming)
        })
        .await
    }

    /// Ends an open session for a keypad-side cause (the keypad rebooted, or reported it idle).
    pub async fn end_session(
        &self,
        session_id: String,
        state: SessionState,
        detail: String,
    ) -> Result<bool, StoreError> {
        self.write(move |c, rules, now| {
            ops::end_session_by_id(c, &rules.site_id, now, &session_id, state, &detail)
        })
        .await
    }

    /// Opens a web or phone session (or returns the one that ticket or call already has, with
    /// `false`).
    pub async fn open_remote(
        &self,
        session: RemoteSession,
    ) -> Result<(SessionInfo, bool), StoreError> {
        self.write(move |c, rules, now| remote::open(c, rules, now, &session))
            .await
    }

    /// The one vote of a web or phone session (see `faccia_domain::remote`).
    pub async fn record_remote_vote(
        &self,
        session_id: String,
        judgement: Judgement,
        extras: WebExtras,
    ) -> Result<RemoteVote, StoreError> {
        self.write(move |c, rules, now| {
            remote::vote(c, rules, now, &session_id, judgement, &extras)
        })
        .await
    }

    /// Deletes free text past its retention period (every site of the database).
    pub async fn purge_comments(&self) -> Result<usize, StoreError> {
        self.write(|c, _, now| remote::purge_comments(c, now)).await
    }

    /// Appends a keypad-health entry (online, offline, reboot...) to the event log.
    pub async fn log_keypad(&self, counter_id: String, note: KeypadNote) -> Result<(), StoreError> {
        self.write(move |c, rules, now| ops::log_keypad(c, &rules.site_id, now, &counter_id, &note))
            .await
    }
}

/// The storage crate's own tests: a scratch PostgreSQL database (FACCIA_TEST_PG, default the
/// machine's `test` database), dropped afterwards.
#[cfg(test)]
pub(crate) async fn on_scratch_postgres<F, Fut>(prefix: &str, run: F)
where
    F: FnOnce(DatabaseUrl) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    use diesel::connection::SimpleConnection;
    let base = std::env::var("FACCIA_TEST_PG")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into());
    let name = format!("{prefix}_{}", std::process::id());
    let admin = |sql: &str| {
        let mut c = connect(&DatabaseUrl::Postgres(base.clone()), 1000)
            .expect("PostgreSQL is required for this test");
        if let AnyConnection::Postgresql(pg) = &mut c {
            pg.batch_execute(sql).expect("admin statement");
        }
    };
    admin(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"));
    admin(&format!("CREATE DATABASE {name}"));
    let url = match base.rfind('/') {
        Some(i) => format!("{}/{name}", &base[..i]),
        None => panic!("bad FACCIA_TEST_PG {base}"),
    };
    run(DatabaseUrl::Postgres(url)).await;
    admin(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"));
}

/// The rules of a test site `id`: a minute to vote, 10 s of grace and for a reason, Rome, no
/// operator figures, no keypads.
#[cfg(test)]
pub(crate) fn test_rules(id: &str) -> Rules {
    Rules {
        site_id: id.into(),
        site_name: id.to_uppercase(),
        vote_window_ms: 60_000,
        grace_ms: 10_000,
        reason_window_ms: 10_000,
        time_zone: chrono_tz::Europe::Rome,
        operator_data: false,
        keypad_counters: Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    //! The writer's batch contract: one transaction for every waiting job, each job in its own
    //! savepoint; only the session changes of jobs that committed are published, in job order,
    //! after the commit and before any caller of the batch is answered.
    use super::*;

    fn rules() -> Rules {
        test_rules("test")
    }

    fn ended(n: u32) -> SessionChange {
        SessionChange::Ended {
            session_id: format!("s{n}"),
            counter_id: "C1".into(),
            state: SessionState::Expired,
        }
    }

    /// A job that logs `n` to the event log, reports a session change, then fails if `fail`.
    fn job(
        n: u32,
        fail: bool,
    ) -> impl FnMut(&mut AnyConnection, &Rules, Millis) -> Result<u32, StoreError> + Send + 'static
    {
        move |c, _rules, now| {
            let boot_count = u16::try_from(n).unwrap_or(u16::MAX);
            ops::log_keypad(c, "test", now, "C1", &KeypadNote::Rebooted { boot_count })?;
            ops::changes::push(ended(n));
            if fail {
                return Err(StoreError::Conflict(format!("job {n} fails")));
            }
            Ok(n)
        }
    }

    fn logged(store: &Store) -> Vec<String> {
        let mut c = connect(&store.url, 1000).expect("connect");
        read::log_after(&mut c, Some("test"), 0, 100)
            .expect("log")
            .into_iter()
            .map(|r| r.detail)
            .collect()
    }

    async fn check(url: DatabaseUrl) {
        let store = Store::open(&url, 2_000, rules(), system_clock()).expect("open");
        let mut changes = store.session_changes();
        let seq = store.watch_seq();
        // Hold the writer in a first job so the next ones queue up and form one batch.
        let hold = |store: &Store| {
            let (release_tx, release_rx) = std_mpsc::channel::<()>();
            let (started_tx, started_rx) = oneshot::channel::<()>();
            let mut started_tx = Some(started_tx);
            let blocker = store.submit(None, move |_c, _r, _now| {
                if let Some(tx) = started_tx.take() {
                    let _ = tx.send(());
                    let _ = release_rx.recv();
                }
                Ok(0u32)
            });
            (blocker, started_rx, release_tx)
        };
        // A batch where every job succeeds (one pass, no savepoints).
        let (blocker, started_rx, release_tx) = hold(&store);
        started_rx.await.expect("the writer runs the first job");
        let x = store.submit(None, job(7, false));
        let y = store.submit(None, job(8, false));
        release_tx.send(()).expect("release");
        assert_eq!(Store::answer(blocker).await.expect("blocker"), 0);
        assert_eq!(Store::answer(x).await.expect("job 7"), 7);
        assert_eq!(changes.try_recv().ok(), Some(ended(7)));
        assert_eq!(changes.try_recv().ok(), Some(ended(8)));
        assert_eq!(Store::answer(y).await.expect("job 8"), 8);
        // A batch where some fail: each fails alone.
        let (blocker, started_rx, release_tx) = hold(&store);
        started_rx.await.expect("the writer runs the first job");
        let gate = Arc::new(AtomicBool::new(false));
        let a = store.submit(None, job(1, false));
        let b = store.submit(None, job(2, true)); // fails alone
        let c = store.submit(None, job(3, false));
        let d = store.submit(Some(gate.clone()), job(4, true)); // fails: closes the gate
        let e = store.submit(Some(gate.clone()), job(5, false)); // not run
        let f = store.submit(None, job(6, false)); // another caller: still runs
        release_tx.send(()).expect("release");
        assert_eq!(Store::answer(blocker).await.expect("blocker"), 0);
        assert_eq!(Store::answer(a).await.expect("job 1"), 1);
        // Job 1 is answered: the whole batch has committed and published its changes already.
        let mut got = Vec::new();
        while let Ok(ch) = changes.try_recv() {
            got.push(ch);
        }
        assert_eq!(got, vec![ended(1), ended(3), ended(6)]);
        assert!(matches!(
            Store::answer(b).await,
            Err(StoreError::Conflict(_))
        ));
        assert_eq!(Store::answer(c).await.expect("job 3"), 3);
        assert!(matches!(
            Store::answer(d).await,
            Err(StoreError::Conflict(_))
        ));
        assert!(matches!(Store::answer(e).await, Err(StoreError::NotRun)));
        assert_eq!(Store::answer(f).await.expect("job 6"), 6);
        assert_eq!(
            logged(&store),
            [7, 8, 1, 3, 6]
                .map(|n| format!("keypad rebooted (boot count {n})"))
                .to_vec()
        );
        let last = *seq.borrow();
        let mut c = connect(&store.url, 1000).expect("connect");
        assert_eq!(
            last,
            read::last_seq(&mut c).expect("seq"),
            "the seq watch moved"
        );
    }

    #[tokio::test]
    async fn batch_commits_savepoints_and_publishes_in_order_on_sqlite() {
        let dir = tempfile::tempdir().expect("dir");
        check(DatabaseUrl::Sqlite(dir.path().join("t.db"))).await;
    }

    #[tokio::test]
    async fn batch_commits_savepoints_and_publishes_in_order_on_postgres() {
        on_scratch_postgres("faccia_batch", check).await;
    }
}
