#![allow(dead_code)]
use std::path::PathBuf;
use std::time::Duration;

use faccia_serial::sim::{SimConfig, Simulator};
use faccia_serial::{open_port, Master};

pub struct Env {
    pub dir: tempfile::TempDir,
    pub sim: Simulator,
    pub link: PathBuf,
}

pub async fn sim(units: Vec<u8>, baud: u32, pace: bool) -> Env {
    let dir = tempfile::tempdir().expect("tempdir");
    let link = dir.path().join("kp0");
    let mut cfg = SimConfig::new(units, &link);
    cfg.baud = baud;
    cfg.pace = pace;
    cfg.vote_log = Some(dir.path().join("votes.jsonl"));
    let sim = Simulator::start(cfg).await.expect("simulator starts");
    Env { dir, sim, link }
}

pub fn master(env: &Env, baud: u32) -> Master<tokio_serial::SerialStream> {
    let port = open_port(&env.link, baud).expect("open pty");
    Master::new(port, baud, Duration::from_millis(100))
}
