//! Queue simulator: drives a running faccia server through the real gRPC API (`QueueEvents`)
//! with realistic ticket traffic, and simulated citizens who vote on simulated FK-3 keypads.
//!
//! * [`model`]: the pure traffic model, [`SimPlan`] (seed, counters, services, start, limits,
//!   rates) to [`Plan`] (every event, reconcile and citizen, in simulated-time order).
//! * [`QueueSim`]: runs a plan against a server, paced by `speed`, retrying on `UNAVAILABLE`
//!   with the same `event_id`, pressing keys where a vote session opened; returns a
//!   [`Summary`] and optionally writes a JSON-lines log.
//! * [`QueueSimArgs`] + [`run`]: the command line (`faccia sim queue ...`).

pub mod keypad;
pub mod model;
pub mod rng;
mod runner;

pub use keypad::{KeypadError, Keypads};
pub use model::{
    Action, CitizenChoice, FaceMix, Plan, PlannedCitizen, PlannedEvent, PlannedReconcile, Rates,
    ServiceProfile, SimPlan,
};
pub use runner::{run, QueueSim, QueueSimArgs, RetryPolicy, Summary};

/// Errors of the simulator.
#[derive(Debug, thiserror::Error)]
pub enum SimError {
    #[error("bad simulation settings: {0}")]
    Config(String),
    #[error("bad server address {0:?}: {1}")]
    Endpoint(String, String),
    #[error("the server refused the credentials ({code:?}): {message}")]
    Rejected { code: tonic::Code, message: String },
    #[error("cannot write the log {path}: {source}")]
    Log {
        path: std::path::PathBuf,
        source: std::io::Error,
    },
}
