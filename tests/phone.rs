//! The phone survey end to end: a real `faccia serve` process with `[phone]` enabled, a real
//! SQLite file, and a scripted PBX that speaks FastAGI over TCP as Asterisk does: it connects,
//! sends the `agi_*` environment (with a caller id), then reads each command faccia sends and
//! answers it with `200 result=...`; a hang-up is the `HANGUP` line, a `-1` result, `511` or
//! the connection closing.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::Child;
use std::time::{Duration, Instant};

use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use faccia_server::storage::schema::{event_log, vote_sessions, votes};

/// The caller id every scripted call carries: it must never reach the database or the log.
const CALLER_NUMBER: &str = "3471234567";
const CALLER_NAME: &str = "Gianna Bianchi";

struct Office {
    dir: tempfile::TempDir,
    db: PathBuf,
    log: PathBuf,
    agi_port: u16,
    metrics_port: u16,
    server: Option<Child>,
}

impl Office {
    /// `faccia serve` with the test office, a phone line `tel-urp` (service A) on script
    /// `vote`, faccia's code logging at trace level.
    fn start() -> Office {
        let dir = tempfile::tempdir().expect("temporary directory");
        let db = dir.path().join("faccia.db");
        let log = dir.path().join("server.log");
        let grpc_port = common::free_port();
        let agi_port = common::free_port();
        let metrics_port = common::free_port();
        let mut text = common::config_text(
            &format!("sqlite://{}", db.display()),
            &format!("127.0.0.1:{grpc_port}"),
            60,
        );
        text.push_str(&format!(
            r#"
[metrics]
listen = "127.0.0.1:{metrics_port}"

[phone]
enabled = true
listen = "127.0.0.1:{agi_port}"
pbx = "centralino"
digit_timeout_s = 4
attempts = 3

[[phone.lines]]
script = "vote"
line = "tel-urp"
service = "A"
"#
        ));
        let config = dir.path().join("faccia.toml");
        std::fs::write(&config, text).expect("config");
        let server = common::spawn_serve(
            &config,
            &log,
            "faccia_server=trace,faccia_storage=trace,faccia=trace,info",
        );
        let office = Office {
            dir,
            db,
            log,
            agi_port,
            metrics_port,
            server: Some(server),
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        while TcpStream::connect(("127.0.0.1", grpc_port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "faccia serve did not come up: {}",
                office.log_text()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        office
    }

    fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// A call handed over by the PBX: the environment Asterisk sends, with a caller id.
    fn call(&self, script: &str, uniqueid: &str, args: &[&str]) -> Pbx {
        self.call_env(script, uniqueid, args, None)
    }

    /// [`Office::call`], with `agi_linkedid` in the environment when given.
    fn call_env(&self, script: &str, uniqueid: &str, args: &[&str], linkedid: Option<&str>) -> Pbx {
        let deadline = Instant::now() + Duration::from_secs(10);
        let stream = loop {
            match TcpStream::connect(("127.0.0.1", self.agi_port)) {
                Ok(s) => break s,
                Err(e) => {
                    assert!(Instant::now() < deadline, "no FastAGI listener: {e}");
                    std::thread::sleep(Duration::from_millis(50));
                }
            }
        };
        stream
            .set_read_timeout(Some(Duration::from_secs(15)))
            .expect("timeout");
        let mut env = format!(
            "agi_network: yes\n\
             agi_network_script: {script}\n\
             agi_request: agi://127.0.0.1:{port}/{script}\n\
             agi_channel: PJSIP/trunk-0000002a\n\
             agi_language: it\n\
             agi_type: PJSIP\n\
             agi_uniqueid: {uniqueid}\n\
             agi_version: 20.5.0\n\
             agi_callerid: +39{CALLER_NUMBER}\n\
             agi_calleridname: {CALLER_NAME}\n\
             agi_callingpres: 0\n\
             agi_callingani2: 0\n\
             agi_callington: 0\n\
             agi_callingtns: 0\n\
             agi_dnid: 0591234567\n\
             agi_rdnis: unknown\n\
             agi_context: urp-sondaggio\n\
             agi_extension: s\n\
             agi_priority: 3\n\
             agi_enhanced: 0.0\n\
             agi_accountcode: \n\
             agi_threadid: 140245139412672\n",
            port = self.agi_port
        );
        if let Some(l) = linkedid {
            env.push_str(&format!("agi_linkedid: {l}\n"));
        }
        for (i, a) in args.iter().enumerate() {
            env.push_str(&format!("agi_arg_{}: {a}\n", i + 1));
        }
        env.push('\n');
        let mut w = stream.try_clone().expect("clone");
        w.write_all(env.as_bytes()).expect("send environment");
        Pbx {
            r: BufReader::new(stream),
            w,
        }
    }

    /// The sessions and votes of phone calls: (ticket_id = call id, state, counter, service)
    /// and (ticket_id, face, reason, channel).
    #[allow(clippy::type_complexity)]
    fn stored(
        &self,
    ) -> (
        Vec<(String, String, String, String, String)>,
        Vec<(String, i32, Option<i32>, String)>,
    ) {
        let mut c =
            diesel::SqliteConnection::establish(&self.db.display().to_string()).expect("db");
        c.batch_execute("PRAGMA busy_timeout = 5000")
            .expect("pragma");
        let sessions = vote_sessions::table
            .filter(vote_sessions::channel.eq("PHONE"))
            .select((
                vote_sessions::ticket_id,
                vote_sessions::state,
                vote_sessions::counter_id,
                vote_sessions::service_code,
                vote_sessions::source_id,
            ))
            .order(vote_sessions::ticket_id)
            .load(&mut c)
            .expect("sessions");
        let votes = votes::table
            .select((votes::ticket_id, votes::face, votes::reason, votes::channel))
            .order(votes::ticket_id)
            .load(&mut c)
            .expect("votes");
        (sessions, votes)
    }

    fn metrics(&self) -> String {
        let mut s = TcpStream::connect(("127.0.0.1", self.metrics_port)).expect("metrics");
        s.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
            .expect("get");
        let mut body = String::new();
        let _ = s.read_to_string(&mut body);
        body
    }

    /// Stops the server, then: no byte of the caller id in any file of the database (the WAL
    /// included) nor in the server's log, though faccia logged at trace level.
    fn stop_and_check_privacy(mut self) {
        if let Some(s) = self.server.take() {
            common::terminate(s);
        }
        let log = self.log_text();
        assert!(
            log.contains("phone survey ended"),
            "the log says nothing of the surveys: {log}"
        );
        for needle in [CALLER_NUMBER, CALLER_NAME, "Bianchi", "0591234567"] {
            assert!(
                !log.contains(needle),
                "the server's log holds {needle:?}:\n{log}"
            );
        }
        let mut files = 0;
        for entry in std::fs::read_dir(self.dir.path()).expect("dir") {
            let path = entry.expect("entry").path();
            let name = path.file_name().unwrap().to_string_lossy().to_string();
            if !name.starts_with("faccia.db") {
                continue;
            }
            files += 1;
            let bytes = std::fs::read(&path).expect("read db file");
            for needle in [CALLER_NUMBER, CALLER_NAME, "Bianchi"] {
                assert!(
                    !contains(&bytes, needle.as_bytes()),
                    "{} holds {needle:?}",
                    path.display()
                );
            }
        }
        assert!(
            files >= 1,
            "no database file in {}",
            self.dir.path().display()
        );
    }
}

impl Drop for Office {
    fn drop(&mut self) {
        if let Some(mut s) = self.server.take() {
            let _ = s.kill();
            let _ = s.wait();
        }
    }
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

/// The PBX's end of one FastAGI connection.
struct Pbx {
    r: BufReader<TcpStream>,
    w: TcpStream,
}

impl Pbx {
    /// The next command faccia sends; it must start with `prefix`.
    fn expect(&mut self, prefix: &str) -> String {
        let mut line = String::new();
        let n = self.r.read_line(&mut line).expect("read a command");
        assert!(n > 0, "faccia closed the connection; expected {prefix:?}");
        let line = line.trim_end().to_string();
        assert!(
            line.starts_with(prefix),
            "expected {prefix:?}, got {line:?}"
        );
        line
    }

    fn reply(&mut self, line: &str) {
        self.w
            .write_all(format!("{line}\n").as_bytes())
            .expect("reply");
    }

    /// Answers the command `prefix` with `reply`.
    fn answer(&mut self, prefix: &str, reply: &str) {
        self.expect(prefix);
        self.reply(reply);
    }

    /// faccia sends nothing more and closes the connection (a reset counts: faccia may close
    /// before it read the PBX's last line).
    fn expect_closed(&mut self) {
        let mut rest = String::new();
        match self.r.read_line(&mut rest) {
            Ok(n) => assert_eq!(n, 0, "faccia sent {rest:?} after the end"),
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => {}
            Err(e) => panic!("reading to the end: {e}"),
        }
    }

    /// The linkedid question, answered with `linkedid`.
    fn linkedid(&mut self, linkedid: &str) {
        self.answer(
            "GET VARIABLE CHANNEL(linkedid)",
            &format!("200 result=1 ({linkedid})"),
        );
    }

    /// The end: faccia hangs up, the PBX answers, faccia closes.
    fn hung_up_by_faccia(&mut self) {
        self.answer("HANGUP", "200 result=1");
        self.expect_closed();
    }
}

const QUESTION: &str = "GET DATA faccia/domanda 4000 1";
const REASON: &str = "GET DATA faccia/motivo 4000 1";
const THANKS: &str = "STREAM FILE faccia/grazie \"\"";
const INVALID: &str = "STREAM FILE faccia/tasto-non-valido \"\"";
const ALREADY: &str = "STREAM FILE faccia/gia-votato \"\"";

fn s(x: &str) -> String {
    x.to_string()
}

#[test]
fn a_vote_and_a_red_with_its_reason() {
    let office = Office::start();
    // Green: one key, thanks, faccia hangs up.
    let mut pbx = office.call("vote", "1795424400.11", &[]);
    pbx.linkedid("1795424400.10");
    pbx.answer(QUESTION, "200 result=1");
    pbx.answer(THANKS, "200 result=0 endpos=23040");
    pbx.hung_up_by_faccia();
    // Red, then reason 4 (negative outcome); service B from the dialplan's argument; the PBX
    // finds the channel dead when faccia thanks (511): faccia sends nothing more.
    let mut pbx = office.call("vote", "1795424500.21", &["B"]);
    pbx.linkedid("1795424500.20");
    pbx.answer(QUESTION, "200 result=3");
    pbx.answer(REASON, "200 result=4");
    pbx.answer(
        THANKS,
        "511 Command Not Permitted on a dead channel or intercepted by a dead-channel-handler",
    );
    pbx.expect_closed();

    let (sessions, votes) = office.stored();
    assert_eq!(
        sessions,
        vec![
            (
                s("1795424400.10"),
                s("VOTED"),
                s("tel-urp"),
                s("A"),
                s("pbx:centralino")
            ),
            (
                s("1795424500.20"),
                s("VOTED"),
                s("tel-urp"),
                s("B"),
                s("pbx:centralino")
            ),
        ]
    );
    assert_eq!(
        votes,
        vec![
            (s("1795424400.10"), 1, None, s("PHONE")),
            (s("1795424500.20"), 3, Some(4), s("PHONE")),
        ]
    );
    let m = office.metrics();
    assert!(
        m.contains("faccia_phone_calls_total{outcome=\"voted\"} 2"),
        "{m}"
    );
    office.stop_and_check_privacy();
}

#[test]
fn hang_up_mid_survey() {
    let office = Office::start();
    // Before the face: the PBX says HANGUP, then -1 for the question. Nothing is stored.
    let mut pbx = office.call("vote", "1795424600.31", &[]);
    pbx.linkedid("1795424600.30");
    pbx.expect(QUESTION);
    pbx.reply("HANGUP\n200 result=-1");
    pbx.expect_closed();
    // After red, while the reason is asked: red is kept without a reason.
    let mut pbx = office.call("vote", "1795424700.41", &[]);
    pbx.linkedid("1795424700.40");
    pbx.answer(QUESTION, "200 result=3");
    pbx.answer(REASON, "200 result=-1");
    pbx.expect_closed();
    // The connection simply closes during the question (the PBX went away).
    let mut pbx = office.call("vote", "1795424800.51", &[]);
    pbx.linkedid("1795424800.50");
    pbx.expect(QUESTION);
    drop(pbx);

    let deadline = Instant::now() + Duration::from_secs(10);
    while !office
        .metrics()
        .contains("faccia_phone_calls_total{outcome=\"hung_up\"} 2")
    {
        assert!(Instant::now() < deadline, "{}", office.metrics());
        std::thread::sleep(Duration::from_millis(50));
    }
    let (sessions, votes) = office.stored();
    let states: Vec<(String, String)> = sessions.into_iter().map(|x| (x.0, x.1)).collect();
    // The calls without a face keep an open session (it expires after phone.vote_window_s):
    // answered calls count, votes do not.
    assert_eq!(
        states,
        vec![
            (s("1795424600.30"), s("OPEN")),
            (s("1795424700.40"), s("VOTED")),
            (s("1795424800.50"), s("OPEN")),
        ]
    );
    assert_eq!(votes, vec![(s("1795424700.40"), 3, None, s("PHONE"))]);
    office.stop_and_check_privacy();
}

#[test]
fn the_same_call_twice() {
    let office = Office::start();
    let mut pbx = office.call("vote", "1795424900.61", &[]);
    pbx.linkedid("1795424900.60");
    pbx.answer(QUESTION, "200 result=2");
    pbx.answer(THANKS, "200 result=0 endpos=1000");
    pbx.hung_up_by_faccia();
    // The dialplan runs the survey again for the same call (another channel of it): faccia only
    // says the vote was given, asks nothing, stores nothing.
    let mut pbx = office.call("vote", "1795424900.65", &[]);
    pbx.linkedid("1795424900.60");
    pbx.answer(ALREADY, "200 result=0 endpos=1000");
    pbx.hung_up_by_faccia();
    // With the call id in the environment (agi_linkedid), faccia asks no variable.
    let mut pbx = office.call_env("vote", "1795424900.66", &[], Some("1795424900.60"));
    pbx.answer(ALREADY, "200 result=0 endpos=1000");
    pbx.hung_up_by_faccia();

    let (sessions, votes) = office.stored();
    assert_eq!(sessions.len(), 1, "{sessions:?}");
    assert_eq!(votes, vec![(s("1795424900.60"), 2, None, s("PHONE"))]);
    let m = office.metrics();
    assert!(
        m.contains("faccia_phone_calls_total{outcome=\"already_voted\"} 2"),
        "{m}"
    );
    // One vote recorded in the event log for the call, one session opened.
    let mut c = diesel::SqliteConnection::establish(&office.db.display().to_string()).expect("db");
    let recorded: i64 = event_log::table
        .filter(event_log::kind.eq(4))
        .filter(event_log::ticket_id.eq("1795424900.60"))
        .count()
        .get_result(&mut c)
        .expect("log");
    assert_eq!(recorded, 1);
    office.stop_and_check_privacy();
}

#[test]
fn silence_and_an_invalid_key_then_a_valid_one() {
    let office = Office::start();
    // Silence, then 7 (not a face), then 2: asked three times, told once the key was invalid.
    let mut pbx = office.call("vote", "1795425000.71", &[]);
    pbx.linkedid("1795425000.70");
    pbx.answer(QUESTION, "200 result= (timeout)");
    pbx.answer(QUESTION, "200 result=7");
    pbx.answer(INVALID, "200 result=0 endpos=800");
    pbx.answer(QUESTION, "200 result=2");
    pbx.answer(THANKS, "200 result=0 endpos=800");
    pbx.hung_up_by_faccia();
    // Three wrong answers: no vote, faccia hangs up (attempts = 3).
    let mut pbx = office.call("vote", "1795425100.81", &[]);
    pbx.linkedid("1795425100.80");
    pbx.answer(QUESTION, "200 result=9");
    pbx.answer(INVALID, "200 result=0 endpos=800");
    pbx.answer(QUESTION, "200 result=");
    pbx.answer(QUESTION, "200 result=*");
    pbx.hung_up_by_faccia();
    // A script no line has: no survey, nothing stored.
    let mut pbx = office.call("nope", "1795425200.91", &[]);
    pbx.expect_closed();

    let (sessions, votes) = office.stored();
    let states: Vec<(String, String)> = sessions.into_iter().map(|x| (x.0, x.1)).collect();
    assert_eq!(
        states,
        vec![
            (s("1795425000.70"), s("VOTED")),
            (s("1795425100.80"), s("OPEN"))
        ]
    );
    assert_eq!(votes, vec![(s("1795425000.70"), 2, None, s("PHONE"))]);
    let m = office.metrics();
    assert!(
        m.contains("faccia_phone_calls_total{outcome=\"no_answer\"} 1"),
        "{m}"
    );
    assert!(
        m.contains("faccia_phone_calls_total{outcome=\"unknown_script\"} 1"),
        "{m}"
    );
    office.stop_and_check_privacy();
}
