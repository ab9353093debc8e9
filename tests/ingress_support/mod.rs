//! Shared by the ingress tests: a real `faccia serve` with `[ingress]` on loopback, and a
//! minimal HTTP/1.1 client over a plain TCP socket (no client library: the bytes on the wire
//! are what an integrator's webhook sends).
#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use crate::common;

pub struct Resp {
    pub status: u16,
    pub head: String,
    pub text: String,
}

impl Resp {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.text)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {} {}", self.status, self.text))
    }

    pub fn header(&self, name: &str) -> Option<String> {
        self.head.lines().find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case(name).then(|| v.trim().to_string())
        })
    }
}

/// One request on a new connection (`Connection: close`).
pub fn request(
    addr: &str,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Resp {
    let mut s = TcpStream::connect(addr).expect("connect to the ingress");
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let mut req = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    s.write_all(req.as_bytes()).unwrap();
    s.write_all(body).unwrap();
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).expect("read the answer");
    let raw = String::from_utf8(raw).expect("UTF-8 answer");
    let (head, text) = raw.split_once("\r\n\r\n").expect("HTTP answer");
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .expect("status code");
    Resp {
        status,
        head: head.to_string(),
        text: text.to_string(),
    }
}

pub fn post_json(addr: &str, path: &str, token: Option<&str>, body: &str) -> Resp {
    let auth = token.map(|t| format!("Bearer {t}"));
    let mut h = vec![("Content-Type", "application/json")];
    if let Some(a) = &auth {
        h.push(("Authorization", a));
    }
    request(addr, "POST", path, &h, body.as_bytes())
}

/// A running `faccia serve` whose ingress listens on `addr`.
pub struct IngressServer {
    pub child: Option<std::process::Child>,
    pub addr: String,
    pub db: common::TestDb,
    pub log: PathBuf,
    pub config: PathBuf,
}

impl IngressServer {
    /// The test office (common::config_text) with `[ingress]` and `extra` appended.
    pub fn start(extra: &str, rust_log: &str) -> IngressServer {
        let db = common::TestDb::new(common::Backend::Sqlite);
        let grpc = format!("127.0.0.1:{}", common::free_port());
        let addr = format!("127.0.0.1:{}", common::free_port());
        let mut text = common::config_text(&db.url, &grpc, 60);
        text.push_str(&format!(
            "[ingress]\nenabled = true\nlisten = \"{addr}\"\n{extra}\n"
        ));
        let config = db.path().join("faccia.toml");
        std::fs::write(&config, text).unwrap();
        let log = db.path().join("serve.log");
        let child = common::spawn_serve(&config, &log, rust_log);
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if TcpStream::connect(&addr).is_ok() {
                let r = request(&addr, "GET", "/healthz", &[], b"");
                if r.status == 200 {
                    break;
                }
            }
            assert!(
                Instant::now() < deadline,
                "the ingress did not start: {}",
                std::fs::read_to_string(&log).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        IngressServer {
            child: Some(child),
            addr,
            db,
            log,
            config,
        }
    }

    pub fn conn(&self) -> faccia_server::storage::AnyConnection {
        let url = faccia_server::config::DatabaseUrl::parse(&self.db.url).unwrap();
        faccia_server::storage::connect(&url, 5000).expect("open the database")
    }

    pub fn stop(&mut self) {
        if let Some(c) = self.child.take() {
            common::terminate(c);
        }
    }
}

impl Drop for IngressServer {
    fn drop(&mut self) {
        self.stop();
    }
}
