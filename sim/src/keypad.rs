//! Where simulated citizens press keys: the FK-3 simulator's control socket (the text protocol
//! of `faccia keypad simulate --control ADDR`: `press U green|yellow|red|reason N`, answered
//! `OK counted`, `OK ignored` or `ERR ...`; `status`, one line per unit `unit U STATE ...`) or an
//! in-process [`SimHandle`].

use std::time::Duration;

use faccia_serial::sim::{Key, SimHandle};
use faccia_serial::Face;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::TcpStream;

/// Errors talking to the keypad simulator.
#[derive(Debug, thiserror::Error)]
pub enum KeypadError {
    #[error("keypad control socket {addr}: {source}")]
    Io {
        addr: String,
        source: std::io::Error,
    },
    #[error("keypad control socket {0}: no answer in time")]
    Timeout(String),
    #[error("keypad simulator answered {0:?}")]
    Refused(String),
    #[error("keypad simulator: {0}")]
    Sim(#[from] faccia_serial::sim::SimError),
}

/// Where the keypads are.
#[derive(Clone, Default)]
pub enum Keypads {
    /// Nobody presses anything (citizens are still planned and logged).
    #[default]
    None,
    /// The control socket of `faccia keypad simulate --control ADDR`.
    Control(String),
    /// A simulator in this process.
    InProcess(SimHandle),
}

impl std::fmt::Debug for Keypads {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Keypads::None => write!(f, "None"),
            Keypads::Control(a) => write!(f, "Control({a})"),
            Keypads::InProcess(h) => write!(f, "InProcess({})", h.link().display()),
        }
    }
}

/// A key as the control protocol spells it.
pub fn key_word(key: Key) -> String {
    match key {
        Key::Face(f) => f.name().to_string(),
        Key::Reason(n) => format!("reason {n}"),
    }
}

pub(crate) fn face_key(face: Face) -> Key {
    Key::Face(face)
}

const SYNC: &str = "faccia-sim-sync";
const IO_TIMEOUT: Duration = Duration::from_secs(5);

/// Connection to the keypads (reconnects to a control socket after an error).
pub(crate) struct Panel {
    target: Keypads,
    conn: Option<(BufReader<OwnedReadHalf>, OwnedWriteHalf)>,
}

impl Panel {
    pub(crate) fn new(target: Keypads) -> Self {
        Panel { target, conn: None }
    }

    pub(crate) fn enabled(&self) -> bool {
        !matches!(self.target, Keypads::None)
    }

    /// Sends `cmd`, then a sync line that the simulator answers with an error naming it, and
    /// returns the lines before that answer (robust to multi-line answers with or without a
    /// closing empty line).
    async fn control(&mut self, addr: &str, cmd: &str) -> Result<Vec<String>, KeypadError> {
        let io = |source| KeypadError::Io {
            addr: addr.to_string(),
            source,
        };
        if self.conn.is_none() {
            let s = tokio::time::timeout(IO_TIMEOUT, TcpStream::connect(addr))
                .await
                .map_err(|_| KeypadError::Timeout(addr.to_string()))?
                .map_err(io)?;
            s.set_nodelay(true).map_err(io)?;
            let (r, w) = s.into_split();
            self.conn = Some((BufReader::new(r), w));
        }
        let Some((r, w)) = self.conn.as_mut() else {
            return Err(KeypadError::Timeout(addr.to_string()));
        };
        let exchange = async {
            w.write_all(format!("{cmd}\n{SYNC}\n").as_bytes()).await?;
            let mut out = Vec::new();
            loop {
                let mut line = String::new();
                if r.read_line(&mut line).await? == 0 {
                    return Err(std::io::Error::new(
                        std::io::ErrorKind::UnexpectedEof,
                        "connection closed",
                    ));
                }
                let line = line.trim_end().to_string();
                if line.contains(SYNC) {
                    return Ok(out);
                }
                if !line.is_empty() {
                    out.push(line);
                }
            }
        };
        match tokio::time::timeout(IO_TIMEOUT, exchange).await {
            Ok(Ok(lines)) => Ok(lines),
            Ok(Err(e)) => {
                self.conn = None;
                Err(io(e))
            }
            Err(_) => {
                self.conn = None;
                Err(KeypadError::Timeout(addr.to_string()))
            }
        }
    }

    /// Presses a key; `Ok(true)` when the keypad counted it.
    pub(crate) async fn press(&mut self, unit: u8, key: Key) -> Result<bool, KeypadError> {
        match self.target.clone() {
            Keypads::None => Ok(false),
            Keypads::InProcess(h) => Ok(h.press(unit, key)?),
            Keypads::Control(addr) => {
                let cmd = format!("press {unit} {}", key_word(key));
                let lines = match self.control(&addr, &cmd).await {
                    Ok(l) => l,
                    // one reconnect: the simulator may have been restarted
                    Err(KeypadError::Io { .. }) => self.control(&addr, &cmd).await?,
                    Err(e) => return Err(e),
                };
                match lines.first().map(String::as_str) {
                    Some("OK counted") => Ok(true),
                    Some("OK ignored") => Ok(false),
                    other => Err(KeypadError::Refused(other.unwrap_or("").to_string())),
                }
            }
        }
    }

    /// The unit's state name (`IDLE`, `ARMED`, `REASON`, `LATCHED`).
    pub(crate) async fn state(&mut self, unit: u8) -> Result<String, KeypadError> {
        match self.target.clone() {
            Keypads::None => Ok("IDLE".into()),
            Keypads::InProcess(h) => h
                .status()
                .into_iter()
                .find(|s| s.unit == unit)
                .map(|s| s.state.name().to_string())
                .ok_or(KeypadError::Sim(faccia_serial::sim::SimError::NoSuchUnit(
                    unit,
                ))),
            Keypads::Control(addr) => {
                let lines = match self.control(&addr, "status").await {
                    Ok(l) => l,
                    Err(KeypadError::Io { .. }) => self.control(&addr, "status").await?,
                    Err(e) => return Err(e),
                };
                let prefix = format!("unit {unit} ");
                lines
                    .iter()
                    .find_map(|l| l.strip_prefix(&prefix))
                    .and_then(|rest| rest.split_whitespace().next())
                    .map(str::to_string)
                    .ok_or_else(|| KeypadError::Refused(format!("no unit {unit} in status")))
            }
        }
    }
}
