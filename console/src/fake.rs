//! A fake `faccia.v1.Monitor` server for tests, benchmarks and demos: it serves a fixed snapshot
//! and satisfaction, keeps an in-memory event log that can be appended to, checks bearer tokens
//! like the real server (viewer reads, admin also sends keypad commands), and can be stopped and
//! started again on the same port.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use faccia_proto::v1::monitor_server::{Monitor, MonitorServer};
use faccia_proto::v1::{
    KeypadCommandReply, KeypadCommandRequest, LogEvent, Satisfaction, SatisfactionRequest,
    Snapshot, SnapshotRequest, WatchRequest,
};
use futures::Stream;
use tokio::net::TcpListener;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;
use tokio_stream::wrappers::{ReceiverStream, TcpListenerStream};
use tonic::{Request, Response, Status};

#[derive(Default)]
struct Inner {
    snapshot: Snapshot,
    satisfaction: HashMap<i32, Satisfaction>,
    log: Vec<LogEvent>,
    watchers: Vec<mpsc::Sender<Result<LogEvent, Status>>>,
    keypad_commands: Vec<KeypadCommandRequest>,
    /// Streams kept open but never sent to again (a server shutting down gracefully).
    stalled: Vec<mpsc::Sender<Result<LogEvent, Status>>>,
    fail_snapshots: u32,
}

/// The state behind the fake; clone it to keep a handle while the server runs.
#[derive(Clone, Default)]
pub struct FakeMonitor {
    inner: Arc<Mutex<Inner>>,
    pub viewer_token: Arc<str>,
    pub admin_token: Arc<str>,
    snapshot_calls: Arc<AtomicU64>,
}

impl FakeMonitor {
    /// A fake with the demo tokens `demo-viewer-token` and `demo-admin-token`.
    pub fn new(snapshot: Snapshot) -> FakeMonitor {
        let fake = FakeMonitor {
            viewer_token: Arc::from("demo-viewer-token"),
            admin_token: Arc::from("demo-admin-token"),
            ..Default::default()
        };
        fake.lock().snapshot = snapshot;
        fake
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A test that panicked while holding the lock must not hide its own failure.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn set_satisfaction(&self, s: Satisfaction) {
        self.lock().satisfaction.insert(s.period, s);
    }

    pub fn set_snapshot(&self, s: Snapshot) {
        self.lock().snapshot = s;
    }

    /// Appends an event with the next seq (its `seq` is overwritten) and sends it to watchers.
    /// Returns the seq given.
    pub fn append(&self, mut e: LogEvent) -> u64 {
        let mut inner = self.lock();
        let seq = inner.log.last().map_or(1, |l| l.seq + 1);
        e.seq = seq;
        inner.snapshot.last_seq = seq;
        inner.log.push(e.clone());
        // A watcher that is gone or too slow is dropped: its stream ends and the client
        // resumes after its last seq, so nothing is lost.
        inner.watchers.retain(|w| w.try_send(Ok(e.clone())).is_ok());
        seq
    }

    pub fn last_seq(&self) -> u64 {
        self.lock().log.last().map_or(0, |e| e.seq)
    }

    pub fn snapshot_calls(&self) -> u64 {
        self.snapshot_calls.load(Ordering::Relaxed)
    }

    pub fn keypad_commands(&self) -> Vec<KeypadCommandRequest> {
        self.lock().keypad_commands.clone()
    }

    /// Ends every open event stream with UNAVAILABLE, as a server going down would.
    pub fn drop_watchers(&self) {
        let watchers = std::mem::take(&mut self.lock().watchers);
        for w in watchers {
            let _ = w.try_send(Err(Status::unavailable("server shutting down")));
        }
    }

    /// Keeps the open event streams open but stops sending on them, as a server that is
    /// shutting down and waits for calls in flight does.
    pub fn stall_watchers(&self) {
        let mut inner = self.lock();
        let watchers = std::mem::take(&mut inner.watchers);
        inner.stalled.extend(watchers);
    }

    /// The next `n` GetSnapshot calls fail with CANCELLED.
    pub fn fail_snapshots(&self, n: u32) {
        self.lock().fail_snapshots = n;
    }

    fn role<T>(&self, req: &Request<T>) -> Result<bool, Status> {
        let header = req
            .metadata()
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        match header.strip_prefix("Bearer ") {
            Some(t) if t == &*self.admin_token => Ok(true),
            Some(t) if t == &*self.viewer_token => Ok(false),
            _ => Err(Status::unauthenticated("missing or unknown token")),
        }
    }
}

type EventStream = Pin<Box<dyn Stream<Item = Result<LogEvent, Status>> + Send>>;

#[tonic::async_trait]
impl Monitor for FakeMonitor {
    async fn get_snapshot(
        &self,
        req: Request<SnapshotRequest>,
    ) -> Result<Response<Snapshot>, Status> {
        self.role(&req)?;
        self.snapshot_calls.fetch_add(1, Ordering::Relaxed);
        let mut inner = self.lock();
        if inner.fail_snapshots > 0 {
            inner.fail_snapshots -= 1;
            return Err(Status::cancelled("operation was canceled"));
        }
        Ok(Response::new(inner.snapshot.clone()))
    }

    async fn get_satisfaction(
        &self,
        req: Request<SatisfactionRequest>,
    ) -> Result<Response<Satisfaction>, Status> {
        self.role(&req)?;
        let p = req.get_ref().period;
        let s = self.lock().satisfaction.get(&p).cloned();
        s.map(Response::new)
            .ok_or_else(|| Status::not_found("no satisfaction for that period"))
    }

    type WatchEventsStream = EventStream;

    async fn watch_events(
        &self,
        req: Request<WatchRequest>,
    ) -> Result<Response<Self::WatchEventsStream>, Status> {
        self.role(&req)?;
        let after = req.get_ref().after_seq;
        let mut inner = self.lock();
        let backlog: Vec<LogEvent> = inner
            .log
            .iter()
            .filter(|e| e.seq > after)
            .cloned()
            .collect();
        let (tx, rx) = mpsc::channel(backlog.len() + 4096);
        for e in backlog {
            // The channel was sized for the backlog.
            let _ = tx.try_send(Ok(e));
        }
        inner.watchers.push(tx);
        Ok(Response::new(Box::pin(ReceiverStream::new(rx))))
    }

    async fn keypad_command(
        &self,
        req: Request<KeypadCommandRequest>,
    ) -> Result<Response<KeypadCommandReply>, Status> {
        if !self.role(&req)? {
            return Err(Status::permission_denied("admin role required"));
        }
        let r = req.into_inner();
        let detail = format!("keypad of counter {} acknowledged", r.counter_id);
        self.lock().keypad_commands.push(r);
        Ok(Response::new(KeypadCommandReply { detail }))
    }
}

/// A running fake server; [`RunningServer::stop`] frees the port.
pub struct RunningServer {
    pub addr: SocketAddr,
    shutdown: Option<oneshot::Sender<()>>,
    task: JoinHandle<()>,
    fake: FakeMonitor,
}

impl RunningServer {
    /// Serves `fake` on `addr` (port 0 for any free port).
    pub async fn start(fake: FakeMonitor, addr: SocketAddr) -> std::io::Result<RunningServer> {
        let listener = TcpListener::bind(addr).await?;
        let addr = listener.local_addr()?;
        let (shutdown, rx) = oneshot::channel::<()>();
        let service = MonitorServer::new(fake.clone());
        let task = tokio::spawn(async move {
            let _ = tonic::transport::Server::builder()
                .add_service(service)
                .serve_with_incoming_shutdown(TcpListenerStream::new(listener), async {
                    let _ = rx.await;
                })
                .await;
        });
        Ok(RunningServer {
            addr,
            shutdown: Some(shutdown),
            task,
            fake,
        })
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Stops serving: open streams end with UNAVAILABLE, connections close, the port is freed.
    pub async fn stop(mut self) {
        self.fake.drop_watchers();
        if let Some(s) = self.shutdown.take() {
            let _ = s.send(());
        }
        let abort = self.task.abort_handle();
        if tokio::time::timeout(std::time::Duration::from_secs(3), &mut self.task)
            .await
            .is_err()
        {
            abort.abort();
        }
    }
}
