//! The seam between vote sessions and the keypads on serial lines.
//!
//! The gRPC layer tells the gateway when a session has been stored; the gateway arms the
//! counter's keypad and reports votes back through [`crate::storage::Store::record_vote`].
//! Until keypads are configured, [`NoKeypads`] leaves every session to expire.

use futures::future::BoxFuture;
use tonic::Status;

use crate::storage::SessionInfo;
use faccia_proto::v1;

/// What the server needs from the keypad side.
pub trait KeypadGateway: Send + Sync {
    /// A session was stored (its keypad state is PENDING or NO_KEYPAD). Wait briefly for the
    /// counter's keypad to take it and update `session.keypad` to what happened; never fail the
    /// queue event.
    fn session_opened<'a>(&'a self, session: &'a mut SessionInfo) -> BoxFuture<'a, ()>;

    /// A technician's action on a counter's keypad (identify blink, self-test).
    fn command(
        &self,
        counter_id: String,
        action: v1::KeypadAction,
    ) -> BoxFuture<'_, Result<String, Status>>;

    /// Health of every configured keypad, for the monitor.
    fn health(&self) -> Vec<v1::Keypad>;

    /// Totem scans since start: (totem, outcome, scans), for the metrics.
    fn totem_scans(&self) -> Vec<(String, &'static str, u64)> {
        Vec::new()
    }
}

/// No keypads configured: sessions are NO_KEYPAD and simply expire.
pub struct NoKeypads;

impl KeypadGateway for NoKeypads {
    fn session_opened<'a>(&'a self, _session: &'a mut SessionInfo) -> BoxFuture<'a, ()> {
        Box::pin(async {})
    }

    fn command(
        &self,
        counter_id: String,
        _action: v1::KeypadAction,
    ) -> BoxFuture<'_, Result<String, Status>> {
        Box::pin(async move {
            Err(Status::failed_precondition(format!(
                "counter {counter_id:?} has no keypad configured"
            )))
        })
    }

    fn health(&self) -> Vec<v1::Keypad> {
        Vec::new()
    }
}
