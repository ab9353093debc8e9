//! The phone channel: the PBX hands the caller to faccia after the call (Asterisk's FastAGI),
//! faccia asks the three faces on the keypad of the phone (DTMF 1 green, 2 yellow, 3 red) and,
//! after red, a reason 1-4. This module is the pure part: the lines of the AGI protocol and the
//! survey's state machine. The server carries out its actions over TCP and in the store.
//!
//! What the survey decides, whatever the caller does:
//! - at most one judgement is stored per run, and only once the caller gave a face;
//! - invalid digits and silences are bounded by [`SurveyRules::attempts`];
//! - a hang-up before the face stores nothing; a hang-up after red, while the reason is asked,
//!   stores red without reason (the caller judged; the reason is optional, as on a keypad whose
//!   reason window runs out);
//! - a call that already voted is only told so.

use crate::session::{Face, Judgement};

// ---------------------------------------------------------------------------------------------
// The protocol's lines.

/// The AGI environment keys faccia keeps. Every other key (the caller id above all:
/// `agi_callerid`, `agi_calleridname`, `agi_dnid`, `agi_rdnis`...) is dropped as it is read.
pub const KEPT_ENV_KEYS: [&str; 5] = [
    "agi_network_script",
    "agi_request",
    "agi_uniqueid",
    "agi_linkedid",
    "agi_language",
];

/// One line of the environment the PBX sends first: `agi_name: value`. None for a line of
/// another shape.
pub fn parse_env_line(line: &str) -> Option<(&str, &str)> {
    let (key, value) = line.split_once(':')?;
    let key = key.trim();
    if !key.starts_with("agi_") || key.contains(char::is_whitespace) {
        return None;
    }
    Some((key, value.trim()))
}

/// The environment as faccia keeps it: the script, the call's ids and the arguments
/// (`agi_arg_1`, ...), nothing else.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AgiEnv {
    /// The script path of `agi://host/<script>`, without a query, e.g. `vote`.
    pub script: String,
    pub uniqueid: Option<String>,
    pub linkedid: Option<String>,
    /// `agi_arg_1`, `agi_arg_2`, ... in order.
    pub args: Vec<String>,
}

impl AgiEnv {
    /// Takes one environment line; lines of other keys are dropped unread.
    pub fn take(&mut self, key: &str, value: &str) {
        let value = value.trim();
        match key {
            "agi_network_script" => {
                let path = value.split('?').next().unwrap_or("");
                self.script = path.trim_matches('/').to_string();
            }
            // Older PBXs send no agi_network_script: the script is the URL's path.
            "agi_request" if self.script.is_empty() => {
                if let Some(rest) = value
                    .strip_prefix("agi://")
                    .or(value.strip_prefix("hagi://"))
                {
                    let path = rest.split_once('/').map(|(_, p)| p).unwrap_or("");
                    let path = path.split('?').next().unwrap_or("");
                    self.script = path.trim_matches('/').to_string();
                }
            }
            "agi_uniqueid" if !value.is_empty() => self.uniqueid = Some(value.to_string()),
            "agi_linkedid" if !value.is_empty() => self.linkedid = Some(value.to_string()),
            _ => {
                if let Some(n) = key.strip_prefix("agi_arg_") {
                    if let Ok(n) = n.parse::<usize>() {
                        if (1..=16).contains(&n) {
                            if self.args.len() < n {
                                self.args.resize(n, String::new());
                            }
                            self.args[n - 1] = value.to_string();
                        }
                    }
                }
            }
        }
    }
}

/// A call id faccia accepts (Asterisk's are `1700000000.42`): 1 to 64 letters, digits, '.',
/// '-' or '_'.
pub fn valid_call_id(id: &str) -> bool {
    (1..=64).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_'))
}

/// A prompt name the PBX can play: a sound file name without extension, e.g. `faccia/domanda`
/// (1 to 128 characters, no space, quote or control character).
pub fn valid_prompt(name: &str) -> bool {
    (1..=128).contains(&name.len())
        && name
            .chars()
            .all(|c| !c.is_whitespace() && !c.is_control() && c != '"' && c != '\\')
}

/// A reply of the PBX to one command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reply {
    /// `200 result=<result> [(<data>)] [key=value ...]`.
    Success {
        result: String,
        /// The parenthesised part, e.g. `timeout` or a variable's value.
        data: Option<String>,
    },
    /// `511`: the channel is dead (the caller hung up).
    DeadChannel,
    /// `510` (unknown command) or `520` (wrong usage): faccia sent what the PBX does not take.
    Refused { code: u16, text: String },
}

/// A line that is no AGI reply.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not an AGI reply: {0:?}")]
pub struct BadReply(pub String);

/// Whether a reply line is a `520-` continuation (the usage text), to be read past up to the
/// closing `520 ` line.
pub fn is_continuation(line: &str) -> bool {
    line.len() >= 4 && line.as_bytes()[3] == b'-' && line[..3].bytes().all(|b| b.is_ascii_digit())
}

/// Parses the (final) line of a reply.
pub fn parse_reply(line: &str) -> Result<Reply, BadReply> {
    let line = line.trim_end_matches(['\r', '\n']);
    let bad = || BadReply(line.chars().take(80).collect());
    let (code, rest) = match line.split_once(' ') {
        Some((c, r)) => (c, r),
        None => (line, ""),
    };
    let code: u16 = code.parse().map_err(|_| bad())?;
    match code {
        200 => {
            let rest = rest.trim_start();
            let value = rest.strip_prefix("result=").ok_or_else(bad)?;
            // The result runs to the first space; `(data)` may follow, then key=value pairs.
            let (result, tail) = match value.find(' ') {
                Some(i) => (&value[..i], value[i + 1..].trim_start()),
                None => (value, ""),
            };
            let data = tail.strip_prefix('(').and_then(|t| {
                // The data may itself hold parentheses: up to the last ')'.
                t.rfind(')').map(|end| t[..end].to_string())
            });
            Ok(Reply::Success {
                result: result.to_string(),
                data,
            })
        }
        511 => Ok(Reply::DeadChannel),
        510 | 520 => Ok(Reply::Refused {
            code,
            text: rest.to_string(),
        }),
        _ => Err(bad()),
    }
}

/// What a `GET DATA` reply says the caller did.
pub fn digit_of(reply: &Reply) -> Input {
    match reply {
        Reply::Success { result, .. } if result.starts_with('-') => Input::HungUp,
        Reply::Success { result, .. } => match result.chars().next() {
            // Nothing: the timeout ran out, or '#' ended the input.
            None => Input::NoDigit,
            Some(c) => Input::Digit(c),
        },
        Reply::DeadChannel => Input::HungUp,
        Reply::Refused { .. } => Input::Failed,
    }
}

// ---------------------------------------------------------------------------------------------
// The survey.

/// How the survey asks (from configuration).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SurveyRules {
    /// How many times a question is asked when the answer is invalid or does not come (>= 1).
    pub attempts: u8,
    /// Ask a reason after red.
    pub ask_reason: bool,
}

/// The prompts faccia plays (their sound files come from configuration).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Prompt {
    /// Played once before the first question, if configured.
    Welcome,
    /// "Press 1 if satisfied, 2 ..., 3 ...".
    Question,
    /// After red: "press 1 waiting time, 2 staff, 3 having to come back, 4 outcome".
    Reason,
    Thanks,
    /// A key that is not one of the choices.
    Invalid,
    /// The call's vote was given already.
    AlreadyVoted,
}

/// What the server is to do next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Play the prompt and read one key (`GET DATA`): answer with `Digit`, `NoDigit` or `HungUp`.
    Ask(Prompt),
    /// Play the prompt (`STREAM FILE`): answer with `Played` or `HungUp`.
    Play(Prompt),
    /// Store the judgement as the call's vote: answer with `Stored`, `AlreadyVoted` or `Failed`.
    Store(Judgement),
    /// The survey is over (hang up, unless the caller did).
    Finish(End),
}

/// What happened after an action.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Input {
    Digit(char),
    /// No key before the timeout, or '#'.
    NoDigit,
    Played,
    HungUp,
    Stored,
    AlreadyVoted,
    /// The action could not be carried out (the store failed, the PBX refused a command).
    Failed,
}

/// How a survey ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum End {
    /// The vote was stored (`hung_up`: the caller left before the end, e.g. during the reason).
    Voted { judgement: Judgement, hung_up: bool },
    /// The call had voted already: nothing stored.
    AlreadyVoted,
    /// The caller hung up before giving a face: nothing stored.
    HungUp,
    /// No valid face after every attempt: nothing stored.
    NoAnswer,
    /// Something failed (the store, the PBX): nothing stored.
    Failed,
}

impl End {
    /// A short name for logs and metrics.
    pub fn name(self) -> &'static str {
        match self {
            End::Voted { .. } => "voted",
            End::AlreadyVoted => "already_voted",
            End::HungUp => "hung_up",
            End::NoAnswer => "no_answer",
            End::Failed => "failed",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Welcoming,
    AskingFace { attempt: u8 },
    InvalidFace { attempt: u8 },
    AskingReason { attempt: u8 },
    InvalidReason { attempt: u8 },
    Storing { judgement: Judgement, hung_up: bool },
    Thanking { judgement: Judgement },
    TellingAlreadyVoted,
    Done(End),
}

/// One run of the survey on one call.
#[derive(Debug, Clone)]
pub struct Survey {
    rules: SurveyRules,
    state: State,
}

/// The face of a key of the question.
pub fn face_of_key(key: char) -> Option<Face> {
    match key {
        '1' => Some(Face::Green),
        '2' => Some(Face::Yellow),
        '3' => Some(Face::Red),
        _ => None,
    }
}

/// The reason of a key of the reason question (1-4).
pub fn reason_of_key(key: char) -> Option<u8> {
    match key {
        '1'..='4' => Some(key as u8 - b'0'),
        _ => None,
    }
}

impl Survey {
    /// Starts the survey of a call: `already_voted` when the call's session has its vote;
    /// `welcome` when a welcome prompt is configured. Returns the survey and its first action.
    pub fn start(rules: SurveyRules, already_voted: bool, welcome: bool) -> (Survey, Action) {
        let rules = SurveyRules {
            attempts: rules.attempts.max(1),
            ..rules
        };
        let (state, action) = if already_voted {
            (
                State::TellingAlreadyVoted,
                Action::Play(Prompt::AlreadyVoted),
            )
        } else if welcome {
            (State::Welcoming, Action::Play(Prompt::Welcome))
        } else {
            (
                State::AskingFace { attempt: 1 },
                Action::Ask(Prompt::Question),
            )
        };
        (Survey { rules, state }, action)
    }

    /// The end, once the survey is over.
    pub fn end(&self) -> Option<End> {
        match self.state {
            State::Done(e) => Some(e),
            _ => None,
        }
    }

    fn finish(&mut self, end: End) -> Action {
        self.state = State::Done(end);
        Action::Finish(end)
    }

    fn store(&mut self, judgement: Judgement, hung_up: bool) -> Action {
        self.state = State::Storing { judgement, hung_up };
        Action::Store(judgement)
    }

    fn ask_face(&mut self, attempt: u8) -> Action {
        self.state = State::AskingFace { attempt };
        Action::Ask(Prompt::Question)
    }

    fn ask_reason(&mut self, attempt: u8) -> Action {
        self.state = State::AskingReason { attempt };
        Action::Ask(Prompt::Reason)
    }

    /// Feeds what came of the last action; returns the next one. After `Finish` the survey
    /// stays finished whatever it is fed.
    pub fn step(&mut self, input: Input) -> Action {
        let red = |reason| Judgement {
            face: Face::Red,
            reason,
        };
        match self.state {
            State::Done(end) => Action::Finish(end),
            State::Welcoming => match input {
                Input::HungUp => self.finish(End::HungUp),
                _ => self.ask_face(1),
            },
            State::AskingFace { attempt } => match input {
                Input::HungUp => self.finish(End::HungUp),
                Input::Failed => self.finish(End::Failed),
                Input::Digit(k) => match face_of_key(k) {
                    Some(Face::Red) if self.rules.ask_reason => self.ask_reason(1),
                    Some(face) => self.store(Judgement { face, reason: None }, false),
                    None if attempt < self.rules.attempts => {
                        self.state = State::InvalidFace { attempt };
                        Action::Play(Prompt::Invalid)
                    }
                    None => self.finish(End::NoAnswer),
                },
                // Silence (or anything else): ask again, a bounded number of times.
                _ if attempt < self.rules.attempts => self.ask_face(attempt + 1),
                _ => self.finish(End::NoAnswer),
            },
            State::InvalidFace { attempt } => match input {
                Input::HungUp => self.finish(End::HungUp),
                _ => self.ask_face(attempt + 1),
            },
            State::AskingReason { attempt } => match input {
                // The face was given: it is kept without a reason.
                Input::HungUp => self.store(red(None), true),
                Input::Digit(k) => match reason_of_key(k) {
                    Some(r) => self.store(red(Some(r)), false),
                    None if attempt < self.rules.attempts => {
                        self.state = State::InvalidReason { attempt };
                        Action::Play(Prompt::Invalid)
                    }
                    None => self.store(red(None), false),
                },
                // No reason (timeout or '#'): red without reason.
                _ => self.store(red(None), false),
            },
            State::InvalidReason { attempt } => match input {
                Input::HungUp => self.store(red(None), true),
                _ => self.ask_reason(attempt + 1),
            },
            State::Storing { judgement, hung_up } => match input {
                Input::Stored if hung_up => self.finish(End::Voted {
                    judgement,
                    hung_up: true,
                }),
                Input::Stored => {
                    self.state = State::Thanking { judgement };
                    Action::Play(Prompt::Thanks)
                }
                Input::AlreadyVoted if hung_up => self.finish(End::AlreadyVoted),
                Input::AlreadyVoted => {
                    self.state = State::TellingAlreadyVoted;
                    Action::Play(Prompt::AlreadyVoted)
                }
                _ => self.finish(End::Failed),
            },
            State::Thanking { judgement } => self.finish(End::Voted {
                judgement,
                hung_up: input == Input::HungUp,
            }),
            State::TellingAlreadyVoted => self.finish(End::AlreadyVoted),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const RULES: SurveyRules = SurveyRules {
        attempts: 3,
        ask_reason: true,
    };

    /// Runs the survey on `inputs` (a store always answers `Stored`); returns the actions.
    fn run(rules: SurveyRules, already: bool, inputs: &[Input]) -> (Vec<Action>, Option<End>) {
        let (mut s, first) = Survey::start(rules, already, false);
        let mut actions = vec![first];
        let mut inputs = inputs.iter().copied();
        loop {
            let last = *actions.last().unwrap();
            let input = match last {
                Action::Finish(_) => break,
                Action::Store(_) => Input::Stored,
                _ => match inputs.next() {
                    Some(i) => i,
                    None => break,
                },
            };
            actions.push(s.step(input));
        }
        (actions, s.end())
    }

    fn green() -> Judgement {
        Judgement {
            face: Face::Green,
            reason: None,
        }
    }

    fn red(reason: Option<u8>) -> Judgement {
        Judgement {
            face: Face::Red,
            reason,
        }
    }

    #[test]
    fn env_keeps_only_what_it_needs() {
        let mut env = AgiEnv::default();
        for line in [
            "agi_network: yes",
            "agi_network_script: vote?x=1",
            "agi_request: agi://faccia/vote?x=1",
            "agi_callerid: 3331234567",
            "agi_calleridname: Mario Rossi",
            "agi_uniqueid: 1700000000.42",
            "agi_arg_2: b",
            "agi_arg_1: A",
            "not a line",
        ] {
            if let Some((k, v)) = parse_env_line(line) {
                env.take(k, v);
            }
        }
        assert_eq!(env.script, "vote");
        assert_eq!(env.uniqueid.as_deref(), Some("1700000000.42"));
        assert_eq!(env.linkedid, None);
        assert_eq!(env.args, vec!["A".to_string(), "b".to_string()]);
        assert!(!format!("{env:?}").contains("333"));
        let mut old = AgiEnv::default();
        old.take("agi_request", "agi://pbx.example:4573/vote-tributi?a=1");
        assert_eq!(old.script, "vote-tributi");
    }

    #[test]
    fn replies() {
        assert_eq!(
            parse_reply("200 result=51 endpos=1234\n"),
            Ok(Reply::Success {
                result: "51".into(),
                data: None
            })
        );
        assert_eq!(
            parse_reply("200 result= (timeout)"),
            Ok(Reply::Success {
                result: "".into(),
                data: Some("timeout".into())
            })
        );
        assert_eq!(
            parse_reply("200 result=1 (1700000000.1 (x))"),
            Ok(Reply::Success {
                result: "1".into(),
                data: Some("1700000000.1 (x)".into())
            })
        );
        assert_eq!(
            parse_reply("511 Command Not Permitted on a dead channel or intercepted by a dead-channel-handler"),
            Ok(Reply::DeadChannel)
        );
        assert!(matches!(
            parse_reply("510 Invalid or unknown command"),
            Ok(Reply::Refused { code: 510, .. })
        ));
        assert!(parse_reply("HANGUP").is_err());
        assert!(parse_reply("200 nothing").is_err());
        assert!(is_continuation("520-Invalid command syntax."));
        assert!(!is_continuation("520 End of proper usage."));
        let d = |s: &str| digit_of(&parse_reply(s).unwrap());
        assert_eq!(d("200 result=3"), Input::Digit('3'));
        assert_eq!(d("200 result="), Input::NoDigit);
        assert_eq!(d("200 result= (timeout)"), Input::NoDigit);
        assert_eq!(d("200 result=-1"), Input::HungUp);
        assert_eq!(d("511 dead"), Input::HungUp);
    }

    #[test]
    fn ids_and_prompts() {
        assert!(valid_call_id("1700000000.42"));
        assert!(!valid_call_id(""));
        assert!(!valid_call_id("a b"));
        assert!(!valid_call_id(&"1".repeat(65)));
        assert!(valid_prompt("faccia/domanda"));
        assert!(!valid_prompt("two words"));
        assert!(!valid_prompt("quote\""));
    }

    #[test]
    fn a_green_vote() {
        let (actions, end) = run(RULES, false, &[Input::Digit('1'), Input::Played]);
        assert_eq!(
            actions,
            vec![
                Action::Ask(Prompt::Question),
                Action::Store(green()),
                Action::Play(Prompt::Thanks),
                Action::Finish(End::Voted {
                    judgement: green(),
                    hung_up: false
                }),
            ]
        );
        assert_eq!(end.map(End::name), Some("voted"));
    }

    #[test]
    fn red_with_reason_then_none_on_timeout_or_hangup() {
        let (a, _) = run(RULES, false, &[Input::Digit('3'), Input::Digit('2')]);
        assert_eq!(a[1], Action::Ask(Prompt::Reason));
        assert_eq!(a[2], Action::Store(red(Some(2))));
        let (a, _) = run(RULES, false, &[Input::Digit('3'), Input::NoDigit]);
        assert_eq!(a[2], Action::Store(red(None)));
        let (a, end) = run(RULES, false, &[Input::Digit('3'), Input::HungUp]);
        assert_eq!(a[2], Action::Store(red(None)));
        assert_eq!(
            end,
            Some(End::Voted {
                judgement: red(None),
                hung_up: true
            })
        );
        // Without the reason question, red is stored at once.
        let rules = SurveyRules {
            ask_reason: false,
            ..RULES
        };
        let (a, _) = run(rules, false, &[Input::Digit('3')]);
        assert_eq!(a[1], Action::Store(red(None)));
    }

    #[test]
    fn invalid_keys_are_bounded() {
        let (a, _) = run(
            RULES,
            false,
            &[Input::Digit('7'), Input::Played, Input::Digit('2')],
        );
        assert_eq!(
            &a[..4],
            &[
                Action::Ask(Prompt::Question),
                Action::Play(Prompt::Invalid),
                Action::Ask(Prompt::Question),
                Action::Store(Judgement {
                    face: Face::Yellow,
                    reason: None
                }),
            ]
        );
        let bad = [
            Input::Digit('9'),
            Input::Played,
            Input::NoDigit,
            Input::Digit('*'),
        ];
        let (a, end) = run(RULES, false, &bad);
        assert_eq!(end, Some(End::NoAnswer));
        assert!(!a.iter().any(|x| matches!(x, Action::Store(_))));
        // An invalid reason is asked again, then red is kept without one.
        let (a, _) = run(
            RULES,
            false,
            &[
                Input::Digit('3'),
                Input::Digit('9'),
                Input::Played,
                Input::Digit('0'),
                Input::Played,
                Input::Digit('5'),
            ],
        );
        assert_eq!(a[6], Action::Store(red(None)));
        assert_eq!(a.last(), Some(&Action::Play(Prompt::Thanks)));
    }

    #[test]
    fn hang_up_before_the_face_stores_nothing() {
        let (a, end) = run(RULES, false, &[Input::HungUp]);
        assert_eq!(end, Some(End::HungUp));
        assert!(!a.iter().any(|x| matches!(x, Action::Store(_))));
        let (s, first) = Survey::start(RULES, false, true);
        assert_eq!(first, Action::Play(Prompt::Welcome));
        let mut s = s;
        assert_eq!(s.step(Input::HungUp), Action::Finish(End::HungUp));
    }

    #[test]
    fn a_call_that_voted_is_only_told() {
        let (a, end) = run(RULES, true, &[Input::Played]);
        assert_eq!(
            a,
            vec![
                Action::Play(Prompt::AlreadyVoted),
                Action::Finish(End::AlreadyVoted)
            ]
        );
        assert_eq!(end, Some(End::AlreadyVoted));
        // Two runs of one call racing: the store says the vote was given.
        let (mut s, _) = Survey::start(RULES, false, false);
        assert_eq!(s.step(Input::Digit('1')), Action::Store(green()));
        assert_eq!(
            s.step(Input::AlreadyVoted),
            Action::Play(Prompt::AlreadyVoted)
        );
        assert_eq!(s.step(Input::Played), Action::Finish(End::AlreadyVoted));
    }

    fn any_input() -> impl Strategy<Value = Input> {
        prop_oneof![
            proptest::char::range('0', '9').prop_map(Input::Digit),
            Just(Input::Digit('*')),
            Just(Input::Digit('#')),
            Just(Input::NoDigit),
            Just(Input::Played),
            Just(Input::HungUp),
            Just(Input::Failed),
            Just(Input::Stored),
            Just(Input::AlreadyVoted),
        ]
    }

    proptest! {
        /// Whatever the caller and the PBX do: the survey ends within a bound, asks for at most
        /// one store, stores only after a face key, and never after a hang-up before the face.
        #[test]
        fn survey_is_bounded_and_stores_once(
            attempts in 1u8..5,
            ask_reason in any::<bool>(),
            welcome in any::<bool>(),
            inputs in proptest::collection::vec(any_input(), 0..40),
        ) {
            let rules = SurveyRules { attempts, ask_reason };
            let (mut s, mut action) = Survey::start(rules, false, welcome);
            let bound = 4 * usize::from(attempts) + 6;
            let (mut stores, mut steps, mut face_given, mut hung_before_face) = (0, 0, false, false);
            for input in inputs {
                if let Action::Finish(_) = action { break; }
                if let Action::Store(j) = action {
                    stores += 1;
                    prop_assert!(face_given);
                    prop_assert!(!hung_before_face);
                    prop_assert!(j.reason.is_none() || j.face == Face::Red);
                }
                if let (Action::Ask(Prompt::Question), Input::Digit(k)) = (action, input) {
                    face_given |= face_of_key(k).is_some();
                }
                if let (Action::Ask(Prompt::Question) | Action::Play(Prompt::Welcome), Input::HungUp) = (action, input) {
                    hung_before_face |= !face_given;
                }
                action = s.step(input);
                steps += 1;
                prop_assert!(steps <= bound, "{steps} steps");
            }
            prop_assert!(stores <= 1);
            if let Some(End::Voted { .. }) = s.end() {
                prop_assert_eq!(stores, 1);
            }
        }
    }
}
