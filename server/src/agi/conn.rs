//! One FastAGI connection: the environment the PBX sends first, then one command at a time and
//! its reply. A hang-up shows as the PBX's `HANGUP` line, a `511` reply, a `-1` result or the
//! connection closing; after it no command is sent.

use std::time::Duration;

use faccia_domain::phone::{self, AgiEnv, BadReply, Input, Reply};
use thiserror::Error;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::TcpStream;

/// The longest line faccia reads from the PBX.
pub const MAX_LINE: u64 = 8192;
/// The most environment lines faccia reads before the empty line.
pub const MAX_ENV_LINES: usize = 200;
/// How long the PBX may take to send its environment.
pub const ENV_TIMEOUT: Duration = Duration::from_secs(10);
/// How long faccia waits for the answer to its final HANGUP.
const HANGUP_TIMEOUT: Duration = Duration::from_secs(5);

#[derive(Debug, Error)]
pub enum AgiError {
    #[error("the caller hung up")]
    HungUp,
    #[error("the PBX sent nothing for {0:?}")]
    Timeout(Duration),
    #[error("the PBX sent a line longer than {MAX_LINE} bytes")]
    LineTooLong,
    #[error("the PBX sent more than {MAX_ENV_LINES} environment lines")]
    EnvTooLong,
    #[error(transparent)]
    BadReply(#[from] BadReply),
    #[error("the PBX refused a command ({code} {text})")]
    Refused { code: u16, text: String },
    #[error("connection: {0}")]
    Io(#[from] std::io::Error),
}

pub struct AgiConn {
    reader: BufReader<OwnedReadHalf>,
    writer: OwnedWriteHalf,
    reply_timeout: Duration,
    hung_up: bool,
}

impl AgiConn {
    pub fn new(stream: TcpStream, reply_timeout: Duration) -> AgiConn {
        let _ = stream.set_nodelay(true);
        let (r, w) = stream.into_split();
        AgiConn {
            reader: BufReader::new(r),
            writer: w,
            reply_timeout,
            hung_up: false,
        }
    }

    /// Whether the caller hung up.
    pub fn hung_up(&self) -> bool {
        self.hung_up
    }

    /// One line without its end; None at end of stream.
    async fn line(&mut self) -> Result<Option<String>, AgiError> {
        let mut buf = Vec::new();
        let n = (&mut self.reader)
            .take(MAX_LINE)
            .read_until(b'\n', &mut buf)
            .await?;
        if n == 0 {
            return Ok(None);
        }
        if buf.last() != Some(&b'\n') && n as u64 == MAX_LINE {
            return Err(AgiError::LineTooLong);
        }
        let text = String::from_utf8_lossy(&buf);
        Ok(Some(text.trim_end_matches(['\r', '\n']).to_string()))
    }

    /// Reads the environment up to its empty line, keeping only what faccia needs
    /// (`phone::AgiEnv`): the caller id and every other key are dropped as they are read.
    pub async fn read_env(&mut self) -> Result<AgiEnv, AgiError> {
        let read = async {
            let mut env = AgiEnv::default();
            for _ in 0..MAX_ENV_LINES {
                let Some(line) = self.line().await? else {
                    return Err(AgiError::HungUp);
                };
                if line.is_empty() {
                    return Ok(env);
                }
                if let Some((key, value)) = phone::parse_env_line(&line) {
                    env.take(key, value);
                }
            }
            Err(AgiError::EnvTooLong)
        };
        tokio::time::timeout(ENV_TIMEOUT, read)
            .await
            .map_err(|_| AgiError::Timeout(ENV_TIMEOUT))?
    }

    /// Sends one command and reads its reply.
    pub async fn command(&mut self, command: &str) -> Result<Reply, AgiError> {
        let timeout = self.reply_timeout;
        self.command_within(command, timeout).await
    }

    async fn command_within(
        &mut self,
        command: &str,
        timeout: Duration,
    ) -> Result<Reply, AgiError> {
        if self.hung_up {
            return Err(AgiError::HungUp);
        }
        tracing::trace!(command, "AGI command");
        self.writer
            .write_all(format!("{command}\n").as_bytes())
            .await?;
        let read = async {
            loop {
                let Some(line) = self.line().await? else {
                    return Err(AgiError::HungUp);
                };
                let line = line.trim();
                if line.is_empty() || phone::is_continuation(line) {
                    continue;
                }
                if line == "HANGUP" {
                    return Err(AgiError::HungUp);
                }
                return match phone::parse_reply(line)? {
                    Reply::DeadChannel => Err(AgiError::HungUp),
                    Reply::Refused { code, text } => Err(AgiError::Refused { code, text }),
                    ok => Ok(ok),
                };
            }
        };
        let r = match tokio::time::timeout(timeout, read).await {
            Ok(r) => r,
            Err(_) => Err(AgiError::Timeout(timeout)),
        };
        if matches!(r, Err(AgiError::HungUp | AgiError::Io(_))) {
            self.hung_up = true;
        }
        r
    }

    /// Plays `prompt` and reads one key within `timeout_ms` (`GET DATA`).
    pub async fn get_data(&mut self, prompt: &str, timeout_ms: u32) -> Result<Input, AgiError> {
        let reply = self
            .command(&format!("GET DATA {prompt} {timeout_ms} 1"))
            .await?;
        let input = phone::digit_of(&reply);
        if input == Input::HungUp {
            self.hung_up = true;
        }
        Ok(input)
    }

    /// Plays `prompt` with no key to interrupt it (`STREAM FILE`). A file that cannot be played
    /// answers like a hang-up would (`result=-1`): the next command tells them apart.
    pub async fn stream_file(&mut self, prompt: &str) -> Result<(), AgiError> {
        self.command(&format!("STREAM FILE {prompt} \"\"")).await?;
        Ok(())
    }

    /// A channel variable or function (`GET VARIABLE`), None when it is not set.
    pub async fn get_variable(&mut self, name: &str) -> Result<Option<String>, AgiError> {
        match self.command(&format!("GET VARIABLE {name}")).await? {
            Reply::Success { result, data } if result == "1" => Ok(data.filter(|d| !d.is_empty())),
            _ => Ok(None),
        }
    }

    /// Closes the connection: the PBX goes on with the dialplan after `AGI()`.
    pub async fn close(mut self) {
        let _ = self.writer.shutdown().await;
    }

    /// Ends the call (`HANGUP`) unless the caller did, then closes the connection.
    pub async fn finish(mut self) {
        if !self.hung_up {
            let _ = self.command_within("HANGUP", HANGUP_TIMEOUT).await;
        }
        let _ = self.writer.shutdown().await;
    }
}
