//! When a committed batch is on disk, and what happens then: its session changes are published,
//! the sequence watch moves and its callers are answered, in commit order, never before.
//!
//! PostgreSQL's COMMIT returns once the commit is on disk: a batch settles at once. SQLite's
//! writer commits without waiting for the disk (`synchronous = NORMAL` in WAL mode: the commit
//! is in the write-ahead log, in the operating system's cache) and hands the batch to the
//! syncer thread, which makes the log durable with one fdatasync for every batch committed since
//! the last and then settles them. The writer meanwhile runs the next batch: the disk's flush
//! and the next transaction overlap, and one flush serves however many batches committed while
//! the previous one ran. The guarantee is the one `synchronous = FULL` gives (no caller hears
//! of a commit that a power cut could still undo); what changes is who waits for the disk.
//!
//! Why an fdatasync of the log file is enough: a commit in WAL mode is the frames it appended to
//! the `-wal` file, ending with a commit frame; after a crash SQLite replays the log's frames
//! up to the last valid commit. fdatasync makes every write to the file durable, whichever
//! descriptor wrote it (with the size the file needs), and so every commit appended before it
//! was called. SQLite syncs the log itself before a checkpoint copies it into the database, and
//! the database after it (`synchronous = NORMAL` keeps that). When the log is gone (every connection closed and
//! checkpointed), the database file is synced instead.

use std::io;
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::sync::Arc;

use tokio::sync::watch;

use crate::{Job, SessionChange, StoreError};

/// A batch the writer is done with: to settle once its commit is durable.
pub(crate) struct Done {
    pub jobs: Vec<Job>,
    /// The session changes of the jobs that ran, with the index of the job they came from.
    pub changes: Vec<(usize, SessionChange)>,
    /// The log's last sequence number after the commit (`None`: it did not commit, or the
    /// read failed).
    pub seq: Option<i64>,
    /// Whether the batch committed (else every job already holds its error).
    pub committed: bool,
}

/// Publishes the changes, moves the watch and answers: the batch's commit is durable (or
/// `disk` says why it may not be).
fn settle(done: Done, disk: Option<&io::Error>, seq_tx: &watch::Sender<i64>) {
    let Done {
        mut jobs,
        changes,
        seq,
        committed,
    } = done;
    if committed {
        // Committed and visible to every reader even when the disk failed to confirm it: the
        // keypads follow what the database holds.
        for (i, ch) in &changes {
            if let Ok(mut subs) = jobs[*i].subscribers().lock() {
                subs.retain(|tx| tx.send(ch.clone()).is_ok());
            }
        }
        if let Some(s) = seq {
            seq_tx.send_if_modified(|cur| {
                let moved = *cur != s;
                *cur = s;
                moved
            });
        }
        if let Some(e) = disk {
            for job in jobs.iter_mut() {
                job.fail(StoreError::Unavailable(format!(
                    "the write committed but the disk did not confirm it ({e}); send it again: \
                     it is answered DUPLICATE if it was kept"
                )));
            }
        }
    }
    for job in jobs {
        job.answer();
    }
}

/// How the writer's commits become durable: on commit (PostgreSQL), or by the syncer thread
/// (SQLite).
pub(crate) struct Durability {
    seq_tx: Arc<watch::Sender<i64>>,
    syncer: Option<mpsc::Sender<Done>>,
}

/// What makes the log durable: the real fsync, or a test's stand-in.
pub(crate) type SyncFn = Box<dyn FnMut() -> io::Result<()> + Send>;

impl Durability {
    /// Starts the syncer thread when `sync` is given (SQLite); else batches settle on commit.
    pub(crate) fn start(
        sync: Option<SyncFn>,
        seq_tx: Arc<watch::Sender<i64>>,
    ) -> Result<Durability, StoreError> {
        let Some(mut sync) = sync else {
            return Ok(Durability {
                seq_tx,
                syncer: None,
            });
        };
        let (tx, rx) = mpsc::channel::<Done>();
        let watch = seq_tx.clone();
        std::thread::Builder::new()
            .name("faccia-db-sync".into())
            .spawn(move || {
                while let Ok(first) = rx.recv() {
                    let mut ready = vec![first];
                    ready.extend(rx.try_iter());
                    let disk = if ready.iter().any(|d| d.committed) {
                        sync().err()
                    } else {
                        None
                    };
                    if let Some(e) = &disk {
                        tracing::error!(error = %e, "cannot make the database's log durable");
                    }
                    for done in ready {
                        settle(done, disk.as_ref(), &watch);
                    }
                }
            })
            .map_err(|e| StoreError::Unavailable(format!("cannot start the syncer: {e}")))?;
        Ok(Durability {
            seq_tx,
            syncer: Some(tx),
        })
    }

    /// Whether the writer's connection may commit without waiting for the disk.
    pub(crate) fn commits_lazily(&self) -> bool {
        self.syncer.is_some()
    }

    /// Hands over a batch the writer is done with.
    pub(crate) fn done(&self, done: Done) {
        let Some(syncer) = &self.syncer else {
            return settle(done, None, &self.seq_tx);
        };
        if let Err(mpsc::SendError(done)) = syncer.send(done) {
            // The syncer is gone (only a bug stops it): answer here, claiming nothing.
            let e = io::Error::other("the syncer thread stopped");
            settle(done, Some(&e), &self.seq_tx);
        }
    }
}

/// The real sync of SQLite's database at `db`: fsync of its write-ahead log, or of the
/// database file when there is no log.
pub(crate) fn wal_sync(db: &Path) -> SyncFn {
    let db: PathBuf = db.to_path_buf();
    let mut wal = db.clone().into_os_string();
    wal.push("-wal");
    let wal = PathBuf::from(wal);
    Box::new(move || match std::fs::File::open(&wal) {
        Ok(f) => f.sync_data(),
        Err(e) if e.kind() == io::ErrorKind::NotFound => std::fs::File::open(&db)?.sync_all(),
        Err(e) => Err(e),
    })
}

#[cfg(test)]
mod tests {
    //! The syncer's contract, on a real SQLite file with the fsync held back: a caller is
    //! answered only after a sync that came after its commit, and the writer commits the next
    //! batches meanwhile.
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;

    use faccia_domain::{EventKind, Millis, TicketEvent};

    use super::*;
    use crate::{connect, AckStatus, DatabaseUrl, Rules, Store};

    /// 2026-03-02 08:00 in Rome.
    const T0: Millis = 1_772_434_800_000;

    fn rules() -> Rules {
        crate::test_rules("d")
    }

    fn issued(n: i64) -> TicketEvent {
        TicketEvent {
            source_id: "q".into(),
            event_id: format!("e{n}"),
            occurred_at: T0 + n * 1_000,
            kind: EventKind::Issued,
            ticket_id: format!("t{n}"),
            display_number: format!("A{n:03}"),
            service_code: "A".into(),
            counter_id: String::new(),
            operator_ref: String::new(),
            transfer_to_service: String::new(),
            priority: 0,
        }
    }

    /// How many events are stored, read on a connection of its own.
    fn stored(url: &DatabaseUrl) -> i64 {
        use diesel::prelude::*;
        let mut c = connect(url, 1_000).expect("connect");
        let crate::AnyConnection::Sqlite(c) = &mut c else {
            panic!("SQLite")
        };
        crate::schema::received_events::table
            .count()
            .get_result(c)
            .expect("count")
    }

    async fn until(what: &str, mut ok: impl FnMut() -> bool) {
        for _ in 0..500 {
            if ok() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("timed out waiting until {what}");
    }

    #[tokio::test]
    async fn callers_hear_of_a_commit_only_after_the_log_is_synced() {
        let dir = tempfile::tempdir().expect("tempdir");
        let url = DatabaseUrl::Sqlite(dir.path().join("d.db"));
        // The stand-in sync counts its calls and waits for a go each time.
        let (go_tx, go_rx) = mpsc::channel::<()>();
        let calls = Arc::new(AtomicUsize::new(0));
        let real = wal_sync(&dir.path().join("d.db"));
        let sync: SyncFn = {
            let calls = calls.clone();
            let mut real = real;
            Box::new(move || {
                calls.fetch_add(1, Ordering::SeqCst);
                go_rx.recv().map_err(io::Error::other)?;
                real()
            })
        };
        let clock: crate::Clock = Arc::new(|| T0);
        let mut stores =
            Store::open_sites_syncing(&url, 2_000, vec![rules()], clock, Some(sync)).expect("open");
        let store = stores.remove(0);

        let first = tokio::spawn({
            let store = store.clone();
            async move { store.publish(issued(1)).await }
        });
        until("the first event is committed", || stored(&url) == 1).await;
        until("its sync started", || calls.load(Ordering::SeqCst) == 1).await;
        // While that sync is held, the writer goes on: the second event commits too.
        let second = tokio::spawn({
            let store = store.clone();
            async move { store.publish(issued(2)).await }
        });
        until("the second event is committed", || stored(&url) == 2).await;
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert!(
            !first.is_finished() && !second.is_finished(),
            "a caller was answered before its commit was synced"
        );

        go_tx.send(()).expect("go");
        let ack = first.await.expect("join").expect("first");
        assert_eq!(ack.status, AckStatus::Accepted);
        // The first sync came before the second commit: the second waits for one of its own.
        until("the second sync started", || {
            calls.load(Ordering::SeqCst) == 2
        })
        .await;
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert!(
            !second.is_finished(),
            "a caller was answered by a sync that began before its commit"
        );
        go_tx.send(()).expect("go");
        let ack = second.await.expect("join").expect("second");
        assert_eq!(ack.status, AckStatus::Accepted);
        assert!(*store.watch_seq().borrow() > 0, "the seq watch moved");
    }

    #[tokio::test]
    async fn a_failed_sync_is_an_error_to_the_caller_and_a_retry_is_a_duplicate() {
        let dir = tempfile::tempdir().expect("tempdir");
        let url = DatabaseUrl::Sqlite(dir.path().join("d.db"));
        let fail = Arc::new(std::sync::atomic::AtomicBool::new(true));
        let sync: SyncFn = {
            let fail = fail.clone();
            let mut real = wal_sync(&dir.path().join("d.db"));
            Box::new(move || {
                if fail.swap(false, Ordering::SeqCst) {
                    return Err(io::Error::other("disk on fire"));
                }
                real()
            })
        };
        let clock: crate::Clock = Arc::new(|| T0);
        let store = Store::open_sites_syncing(&url, 2_000, vec![rules()], clock, Some(sync))
            .expect("open")
            .remove(0);
        let err = store.publish(issued(1)).await.expect_err("not confirmed");
        assert!(
            err.to_string().contains("disk did not confirm")
                && err.to_string().contains("disk on fire"),
            "{err}"
        );
        let ack = store.publish(issued(1)).await.expect("retry");
        assert_eq!(ack.status, AckStatus::Duplicate);
    }
}
