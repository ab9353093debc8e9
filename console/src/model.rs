//! The state of the console, with no I/O: what the server said, what the user looks at, and how
//! keys and server messages change it. The runtime feeds it [`Msg`]s and keys and carries out
//! the [`Command`]s it returns; the views only read it.

pub mod reports;
pub mod sites;

use std::cell::Cell;
use std::collections::VecDeque;
use std::path::PathBuf;

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use crossterm::event::{KeyCode, KeyEvent, KeyEventKind, KeyModifiers};
use faccia_domain::Lang;
use faccia_proto::v1::{
    Counter, Keypad, KeypadAction, KeypadCommandResult, LogEvent, MonthlyReport, Period,
    Satisfaction, Service, Snapshot,
};

use crate::config::Settings;
use crate::format;
use crate::i18n::{self, tr};
use crate::keymap::{Action, Keymap};
use crate::theme::Theme;

pub use reports::{ReportDoc, ReportsState, SaveError, YearMonth};
pub use sites::{
    DiscoveredSite, Office, ServerConn, ServerState, SiteFigures, SiteKey, SiteState, Worst,
};

/// The views: the six views of one office, and the offices side by side (only when the console
/// watches several).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum View {
    Overview,
    Queues,
    Satisfaction,
    Keypads,
    Events,
    Reports,
    /// Tutte le sedi / All offices: one row per office.
    Sites,
}

impl View {
    /// The six views of one office, in tab order.
    pub const ALL: [View; 6] = [
        View::Overview,
        View::Queues,
        View::Satisfaction,
        View::Keypads,
        View::Events,
        View::Reports,
    ];

    pub fn index(self) -> usize {
        match self {
            View::Overview => 0,
            View::Queues => 1,
            View::Satisfaction => 2,
            View::Keypads => 3,
            View::Events => 4,
            View::Reports => 5,
            View::Sites => 6,
        }
    }

    /// How many views there are, [`View::Sites`] included (the size of per-view arrays).
    pub const COUNT: usize = 7;
}

/// What a counter is doing. Read from the wire number of `faccia.v1.CounterActivity`, so that
/// the console does not depend on the generated names of that enum.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Activity {
    Unknown,
    Closed,
    Idle,
    Calling,
    Serving,
}

impl Activity {
    pub fn of(c: &Counter) -> Activity {
        match c.activity {
            1 => Activity::Closed,
            2 => Activity::Idle,
            3 => Activity::Calling,
            4 => Activity::Serving,
            _ => Activity::Unknown,
        }
    }
}

/// How a call failed, as the user must be told.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ApiErrorKind {
    Unauthenticated,
    PermissionDenied,
    Unavailable,
    /// The server refused the request as malformed; its message says why.
    InvalidArgument,
    /// The server answered about another site than the one asked for (the id it named): the
    /// answer is not shown.
    WrongSite(String),
    /// The server shows this token no site at all.
    NoSites,
    Other(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    pub kind: ApiErrorKind,
    pub message: String,
}

impl ApiError {
    /// The sentence for the user, in their language, with the server's message when useful.
    pub fn describe(&self, lang: Lang) -> String {
        let t = tr(lang);
        match &self.kind {
            ApiErrorKind::Unauthenticated => t.err_unauthenticated.to_string(),
            ApiErrorKind::PermissionDenied => t.err_permission.to_string(),
            ApiErrorKind::Unavailable => t.err_unavailable.to_string(),
            ApiErrorKind::InvalidArgument => {
                if self.message.is_empty() {
                    t.err_invalid.to_string()
                } else {
                    format!("{}: {}", t.err_invalid, format::cut(&self.message, 120))
                }
            }
            ApiErrorKind::WrongSite(id) => {
                format!("{} ({})", t.err_wrong_site, format::cut(id, 60))
            }
            ApiErrorKind::NoSites => t.err_no_sites.to_string(),
            ApiErrorKind::Other(code) => {
                if self.message.is_empty() {
                    format!("{} ({code})", t.err_other)
                } else {
                    format!(
                        "{} ({code}): {}",
                        t.err_other,
                        format::cut(&self.message, 120)
                    )
                }
            }
        }
    }
}

/// The state of the link with the server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConnState {
    Connecting,
    Connected,
    /// Lost and retrying; `attempt` counts the failed tries since the loss.
    Lost {
        attempt: u32,
        error: ApiError,
    },
    /// Live again after a loss, resumed after event `from_seq`.
    Resumed {
        from_seq: u64,
    },
}

/// What the gRPC tasks tell the model. A message about one office comes wrapped in
/// [`Msg::Of`] with its key; an unwrapped one is about the office shown (tests, tools).
#[derive(Debug, Clone)]
pub enum Msg {
    /// Server number `server` (in the order of `Settings::servers`) named these sites; those
    /// already reached through another server are left out by the sender.
    Sites {
        server: usize,
        sites: Vec<DiscoveredSite>,
    },
    /// Server number `server` could not be asked for its sites (`attempt` failures in a row).
    ServerDown {
        server: usize,
        attempt: u32,
        error: ApiError,
    },
    /// A message about the office `site`.
    Of {
        site: SiteKey,
        msg: Box<Msg>,
    },
    Snapshot(Box<Snapshot>),
    SnapshotFailed(ApiError),
    Satisfaction(Box<Satisfaction>),
    SatisfactionFailed(Period, ApiError),
    Events(Vec<LogEvent>),
    /// The event stream is open; `resumed_from` is set when it reopened after a loss.
    StreamUp {
        resumed_from: Option<u64>,
    },
    StreamDown {
        attempt: u32,
        error: ApiError,
    },
    /// A keypad command's typed result (worded by `i18n::keypad_result`), or why it failed.
    CommandDone(Result<KeypadCommandResult, ApiError>),
    /// The answer to `Reports.GetMonthly` for `month`.
    Monthly {
        month: YearMonth,
        result: Result<Box<MonthlyReport>, ApiError>,
    },
    /// A document was rendered and written (the path), or why not.
    ReportSaved {
        doc: ReportDoc,
        result: Result<String, SaveError>,
    },
}

impl Msg {
    /// `msg` about the office `site`.
    pub fn of(site: &str, msg: Msg) -> Msg {
        Msg::Of {
            site: site.to_string(),
            msg: Box::new(msg),
        }
    }

    /// The message itself, whichever office it is about.
    pub fn inner(&self) -> &Msg {
        match self {
            Msg::Of { msg, .. } => msg.inner(),
            other => other,
        }
    }
}

/// What the model asks the runtime to do. Every command is about the office shown when the
/// model returns it; the runtime carries it out at once, against that office.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    Quit,
    Refresh,
    FetchSatisfaction(Period),
    Keypad {
        counter_id: String,
        action: KeypadAction,
    },
    /// Ask `Reports.GetMonthly` for `month`, the summary in `lang`.
    FetchMonthly {
        month: YearMonth,
        lang: Lang,
    },
    /// Ask `Reports.Render` for `doc` and write it into `dir` (atomically).
    SaveReport {
        doc: ReportDoc,
        lang: Lang,
        dir: PathBuf,
    },
}

/// A line at the bottom that tells the outcome of something the user did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notice {
    pub text: String,
    pub error: bool,
}

/// What the keyboard is doing right now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mode {
    Normal,
    /// Typing a filter; `previous` is restored by Esc.
    Filter {
        previous: String,
    },
    /// Waiting for yes/no before a keypad command.
    Confirm {
        counter_id: String,
        action: KeypadAction,
    },
    Help,
    Alerts,
    /// Choosing an office; `selected` is the row highlighted (an index in `App::offices`).
    Picker {
        selected: usize,
    },
}

/// The event log kept in memory: the newest `capacity` entries, in seq order.
#[derive(Debug, Clone)]
pub struct EventLog {
    entries: VecDeque<LogEvent>,
    capacity: usize,
    last_seq: u64,
}

impl EventLog {
    pub fn new(capacity: usize) -> EventLog {
        let capacity = capacity.max(1);
        EventLog {
            entries: VecDeque::with_capacity(capacity.min(4096)),
            capacity,
            last_seq: 0,
        }
    }

    /// Appends an entry; entries at or below the last seq seen are duplicates and dropped.
    /// Returns whether it was kept.
    pub fn push(&mut self, e: LogEvent) -> bool {
        if e.seq <= self.last_seq && self.last_seq != 0 {
            return false;
        }
        self.last_seq = e.seq;
        if self.entries.len() >= self.capacity {
            self.entries.pop_front();
        }
        self.entries.push_back(e);
        true
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    pub fn capacity(&self) -> usize {
        self.capacity
    }

    pub fn last_seq(&self) -> u64 {
        self.last_seq
    }

    /// Newest first.
    pub fn newest_first(&self) -> impl Iterator<Item = &LogEvent> {
        self.entries.iter().rev()
    }
}

/// A parsed events filter: `sportello:3 servizio:A tipo:giudizio testo`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EventFilter {
    pub counter: Option<String>,
    pub service: Option<String>,
    pub kind: Option<String>,
    pub words: Vec<String>,
}

impl EventFilter {
    pub fn parse(text: &str) -> EventFilter {
        let mut f = EventFilter::default();
        for token in text.split_whitespace() {
            let lower = token.to_lowercase();
            match lower.split_once(':') {
                Some((k, v)) if !v.is_empty() => match k {
                    "sportello" | "counter" | "c" | "s" => f.counter = Some(v.to_string()),
                    "servizio" | "service" | "coda" | "queue" => f.service = Some(v.to_string()),
                    "tipo" | "kind" | "k" | "t" => f.kind = Some(v.to_string()),
                    _ => f.words.push(lower),
                },
                _ => f.words.push(lower),
            }
        }
        f
    }

    pub fn is_empty(&self) -> bool {
        self.counter.is_none()
            && self.service.is_none()
            && self.kind.is_none()
            && self.words.is_empty()
    }

    pub fn matches(&self, e: &LogEvent, lang: Lang) -> bool {
        if let Some(c) = &self.counter {
            if !e.counter_id.eq_ignore_ascii_case(c) {
                return false;
            }
        }
        if let Some(s) = &self.service {
            if !e.service_code.eq_ignore_ascii_case(s) {
                return false;
            }
        }
        if let Some(k) = &self.kind {
            // Either language's name of the kind, so a filter survives a language change.
            let it = i18n::log_kind(Lang::It, e.kind()).replace(' ', "-");
            let en = i18n::log_kind(Lang::En, e.kind()).replace(' ', "-");
            let k = k.replace(' ', "-");
            if !(it.starts_with(&k) || en.starts_with(&k)) {
                return false;
            }
        }
        if !self.words.is_empty() {
            let text = i18n::describe_event(lang, e).to_lowercase();
            if !self.words.iter().all(|w| text.contains(w.as_str())) {
                return false;
            }
        }
        true
    }
}

fn same_content(a: &Snapshot, b: &Snapshot) -> bool {
    a.last_seq == b.last_seq
        && a.site == b.site
        && a.today == b.today
        && a.counters == b.counters
        && a.services == b.services
        && a.keypads == b.keypads
        && a.alerts == b.alerts
        && a.operator_data_enabled == b.operator_data_enabled
}

/// The whole console state.
#[derive(Debug)]
pub struct App {
    pub lang: Lang,
    pub keymap: Keymap,
    pub theme: Theme,
    pub view: View,
    pub mode: Mode,
    /// The time the views show, set by the runtime (and fixed by tests).
    pub now: DateTime<Utc>,
    pub period: Period,
    pub notice: Option<Notice>,
    pub filters: [String; View::COUNT],
    pub selected: [usize; View::COUNT],
    pub alerts_scroll: usize,
    pub quit: bool,
    /// Rows of the list of the current view at the last render, for paging.
    pub page_rows: Cell<usize>,
    /// Where saved reports are written.
    pub reports_dir: PathBuf,
    /// The offices, in the order of the servers and of each server's list.
    pub offices: Vec<Office>,
    /// The office shown, an index in `offices` (meaningless while it is empty).
    pub current: usize,
    /// The servers, in the order of `Settings::servers`.
    pub servers: Vec<ServerState>,
    /// What is shown before any office is known: the link's state (and, in tests and tools that
    /// feed the model directly, the one office's data).
    lobby: SiteState,
    /// Whether the user chose the office shown; until then the first office is shown.
    chosen: bool,
    event_capacity: usize,
    /// Commands no key asked for (the office shown changed as servers named their sites).
    pending: Vec<Command>,
}

impl App {
    pub fn new(settings: &Settings, now: DateTime<Utc>) -> App {
        App {
            lang: settings.lang,
            keymap: settings.keymap.clone(),
            theme: settings.theme.clone(),
            view: View::Overview,
            mode: Mode::Normal,
            now,
            period: Period::Today,
            notice: None,
            filters: Default::default(),
            selected: [0; View::COUNT],
            alerts_scroll: 0,
            quit: false,
            page_rows: Cell::new(10),
            reports_dir: settings.reports_dir.clone(),
            offices: Vec::new(),
            current: 0,
            servers: settings
                .servers
                .iter()
                .map(|s| ServerState {
                    url: s.url.clone(),
                    conn: ServerConn::Discovering,
                })
                .collect(),
            lobby: SiteState::new(settings.event_capacity, now),
            chosen: false,
            event_capacity: settings.event_capacity,
            pending: Vec::new(),
        }
    }

    /// The office shown, once any is known.
    pub fn office(&self) -> Option<&Office> {
        self.offices.get(self.current)
    }

    /// Whether the console watches several offices (then it shows the all-sites view, the
    /// office picker and the office's name everywhere).
    pub fn several(&self) -> bool {
        self.offices.len() > 1
    }

    /// What the console holds about the office shown.
    pub fn site(&self) -> &SiteState {
        self.offices
            .get(self.current)
            .map_or(&self.lobby, |o| &o.state)
    }

    pub fn site_mut(&mut self) -> &mut SiteState {
        match self.offices.get_mut(self.current) {
            Some(o) => &mut o.state,
            None => &mut self.lobby,
        }
    }

    /// The commands that no key asked for, to be carried out after [`App::apply`].
    pub fn take_commands(&mut self) -> Vec<Command> {
        std::mem::take(&mut self.pending)
    }

    /// The name of the office shown: the server's name for it, else its snapshot's.
    pub fn office_name(&self) -> String {
        match self.office() {
            Some(o) => o.name().to_string(),
            None => self
                .lobby
                .snapshot
                .as_ref()
                .and_then(|s| s.site.as_ref())
                .map(|s| {
                    if s.name.is_empty() {
                        s.id.clone()
                    } else {
                        s.name.clone()
                    }
                })
                .unwrap_or_default(),
        }
    }

    /// The current month in the office's time zone, else in local time.
    pub fn current_month(&self) -> YearMonth {
        let zone = match self.office() {
            Some(o) => Some(o.zone()),
            None => self
                .lobby
                .snapshot
                .as_ref()
                .and_then(|s| s.site.as_ref())
                .and_then(|s| s.time_zone.parse::<Tz>().ok()),
        };
        let month = match zone {
            Some(z) => YearMonth::of(self.now, &z),
            None => YearMonth::of(self.now, &chrono::Local),
        };
        // A clock outside 1970..9999 shows the first month there is.
        month.unwrap_or(YearMonth::FIRST)
    }

    /// The month the Reports view shows (the current one before it is first opened).
    pub fn report_month(&self) -> YearMonth {
        self.site()
            .reports
            .month
            .unwrap_or_else(|| self.current_month())
    }

    /// Shows `month` in the Reports view and asks for it.
    fn fetch_month(&mut self, month: YearMonth) -> Vec<Command> {
        let pinned = month != self.current_month();
        let reports = &mut self.site_mut().reports;
        let other = reports.month != Some(month);
        reports.pinned = pinned;
        reports.show(month);
        if other {
            self.selected[View::Reports.index()] = 0;
        }
        vec![Command::FetchMonthly {
            month,
            lang: self.lang,
        }]
    }

    /// Asks the server for a document of the month shown and to save it.
    fn save(&mut self, action: Action) -> Vec<Command> {
        let month = self.report_month();
        let doc = match action {
            Action::SaveCsv => ReportDoc::MonthlyCsv(month),
            Action::SaveMinistry => ReportDoc::Ministry {
                from: month.january(),
                to: month,
            },
            Action::SaveAnnual => ReportDoc::AnnualHtml(month.year),
            _ => ReportDoc::MonthlyHtml(month),
        };
        self.site_mut().reports.saving = Some(doc);
        self.notice = Some(Notice {
            text: i18n::saving(self.lang, doc),
            error: false,
        });
        vec![Command::SaveReport {
            doc,
            lang: self.lang,
            dir: self.reports_dir.clone(),
        }]
    }

    /// The office's time zone (Europe/Rome until the server says otherwise).
    pub fn zone(&self) -> Tz {
        match self.office() {
            Some(o) => o.zone(),
            None => format::tz(
                self.lobby
                    .snapshot
                    .as_ref()
                    .and_then(|s| s.site.as_ref())
                    .map(|s| s.time_zone.as_str())
                    .unwrap_or(""),
            ),
        }
    }

    pub fn period_index(p: Period) -> usize {
        match p {
            Period::Week => 1,
            Period::Month => 2,
            Period::Today | Period::Unspecified => 0,
        }
    }

    pub fn current_satisfaction(&self) -> Option<&Satisfaction> {
        self.site().satisfaction[App::period_index(self.period)].as_ref()
    }

    pub fn filter(&self) -> &str {
        &self.filters[self.view.index()]
    }

    /// Applies a message from the server side. Returns whether anything visible changed.
    pub fn apply(&mut self, msg: Msg) -> bool {
        match msg {
            Msg::Sites { server, sites } => self.add_sites(server, sites),
            Msg::ServerDown {
                server,
                attempt,
                error,
            } => {
                if let Some(s) = self.servers.get_mut(server) {
                    s.conn = ServerConn::Down {
                        attempt,
                        error: error.clone(),
                    };
                }
                if self.offices.is_empty() {
                    self.lobby.conn = ConnState::Lost { attempt, error };
                    self.lobby.conn_since = self.now;
                }
                true
            }
            Msg::Of { site, msg } => match self.offices.iter().position(|o| o.key == site) {
                Some(i) => self.apply_to(Some(i), *msg),
                None => {
                    tracing::debug!(site = %site, "a message about an office the console does not know");
                    false
                }
            },
            other => {
                let shown = (!self.offices.is_empty()).then_some(self.current);
                self.apply_to(shown, other)
            }
        }
    }

    /// Takes the sites a server named: each office is added once, in the order of the servers.
    fn add_sites(&mut self, server: usize, sites: Vec<DiscoveredSite>) -> bool {
        let before = self.office().map(|o| o.key.clone());
        let mut added = 0;
        for d in sites {
            if self.offices.iter().any(|o| o.key == d.key) {
                continue;
            }
            let pos = self
                .offices
                .iter()
                .position(|o| o.server > server)
                .unwrap_or(self.offices.len());
            let mut state = SiteState::new(self.event_capacity, self.now);
            if self.offices.is_empty() {
                // The first office carries on the link's story (e.g. "lost, attempt 3"), not
                // the lobby's data: that may be about another office.
                state.conn = self.lobby.conn.clone();
                state.conn_since = self.lobby.conn_since;
            } else if pos <= self.current {
                self.current += 1;
            }
            self.offices.insert(
                pos,
                Office {
                    key: d.key,
                    site: d.site,
                    server,
                    request_id: d.request_id,
                    state,
                },
            );
            added += 1;
        }
        if !self.chosen {
            self.current = 0;
        }
        if let Some(s) = self.servers.get_mut(server) {
            s.conn = ServerConn::Up { sites: added };
        }
        if self.office().map(|o| o.key.clone()) != before {
            // Another office is shown: what its view needs is asked for again.
            self.selected = [0; View::COUNT];
            let cmds = self.view_commands(true);
            self.pending.extend(cmds);
        }
        true
    }

    /// Applies a message about the office at `index` (`None`: the lobby, before any office).
    fn apply_to(&mut self, index: Option<usize>, msg: Msg) -> bool {
        let shown = index.is_some_and(|i| i == self.current) || index.is_none();
        let lang = self.lang;
        let now = self.now;
        let events_filter = EventFilter::parse(&self.filters[View::Events.index()]);
        let (state, office) = match index.and_then(|i| self.offices.get_mut(i)) {
            Some(o) => {
                let Office {
                    state,
                    site,
                    request_id,
                    ..
                } = o;
                (state, Some((site.id.clone(), request_id.is_empty())))
            }
            None => (&mut self.lobby, None),
        };
        // Whether an answer names another site than the one asked for.
        let foreign = |answered_for: &str| match &office {
            Some((id, legacy)) => !legacy && !answered_for.is_empty() && answered_for != id,
            None => false,
        };
        let wrong = |id: &str| ApiError {
            kind: ApiErrorKind::WrongSite(id.to_string()),
            message: String::new(),
        };
        match msg {
            Msg::Snapshot(s) => {
                let answered = s.site.as_ref().map_or("", |x| x.id.as_str());
                if foreign(answered) {
                    tracing::warn!(site = answered, "a snapshot of another site was not shown");
                    let e = wrong(answered);
                    let changed = state.snapshot_error.as_ref() != Some(&e);
                    state.snapshot_error = Some(e);
                    return changed;
                }
                let had_error = state.snapshot_error.take().is_some();
                // `at` moves with every fetch; only a change of content needs a new frame.
                let same = state
                    .snapshot
                    .as_ref()
                    .is_some_and(|old| same_content(old, &s));
                state.snapshot = Some(*s);
                had_error || !same
            }
            Msg::SnapshotFailed(e) => {
                let changed = state.snapshot_error.as_ref() != Some(&e);
                state.snapshot_error = Some(e);
                changed
            }
            Msg::Satisfaction(s) => {
                let i = App::period_index(s.period());
                state.satisfaction_error = None;
                if state.satisfaction[i].as_ref() == Some(&*s) {
                    return false;
                }
                state.satisfaction[i] = Some(*s);
                true
            }
            Msg::SatisfactionFailed(_, e) => {
                state.satisfaction_error = Some(e);
                true
            }
            Msg::Events(list) => {
                let mut changed = false;
                let mut shown_added = 0usize;
                for e in list {
                    if foreign(&e.site_id) {
                        tracing::warn!(site = %e.site_id, seq = e.seq, "an entry of another site was dropped");
                        continue;
                    }
                    let visible = events_filter.matches(&e, lang);
                    if state.events.push(e) {
                        changed = true;
                        if visible {
                            shown_added += 1;
                        }
                    }
                }
                // Keep the selected row on the same event when not following the top.
                let sel = &mut self.selected[View::Events.index()];
                if shown && *sel > 0 {
                    *sel = sel.saturating_add(shown_added);
                }
                changed
            }
            Msg::StreamUp { resumed_from } => {
                state.conn = match resumed_from {
                    Some(seq) => ConnState::Resumed { from_seq: seq },
                    None => ConnState::Connected,
                };
                state.conn_since = now;
                true
            }
            Msg::StreamDown { attempt, error } => {
                state.conn = ConnState::Lost { attempt, error };
                state.conn_since = now;
                true
            }
            Msg::Monthly { month, result } => {
                let result = match result {
                    Ok(r) if foreign(&r.site_id) => Err(wrong(&r.site_id)),
                    other => other.map(|r| *r),
                };
                state.reports.answer(month, result)
            }
            Msg::ReportSaved { doc, result } => {
                if state.reports.saving == Some(doc) {
                    state.reports.saving = None;
                }
                self.notice = Some(match result {
                    Ok(path) => Notice {
                        text: i18n::saved(lang, doc, &path),
                        error: false,
                    },
                    Err(e) => Notice {
                        text: i18n::save_failed(lang, doc, &e),
                        error: true,
                    },
                });
                true
            }
            Msg::CommandDone(result) => {
                self.notice = Some(match result {
                    Ok(done) => Notice {
                        text: i18n::keypad_result(lang, done).to_string(),
                        error: false,
                    },
                    Err(e) => Notice {
                        text: e.describe(lang),
                        error: true,
                    },
                });
                true
            }
            // Not about one office: as if it came unwrapped.
            m @ (Msg::Sites { .. } | Msg::ServerDown { .. } | Msg::Of { .. }) => self.apply(m),
        }
    }

    /// How long "resumed from #N" stays on screen before it reads "connected" again.
    pub const RESUMED_NOTICE_SECS: i64 = 60;

    /// Moves the clock. Returns whether anything visible changed besides the clock.
    pub fn tick(&mut self, now: DateTime<Utc>) -> bool {
        self.now = now;
        let mut changed = false;
        let states =
            std::iter::once(&mut self.lobby).chain(self.offices.iter_mut().map(|o| &mut o.state));
        for s in states {
            if matches!(s.conn, ConnState::Resumed { .. })
                && (now - s.conn_since).num_seconds() >= App::RESUMED_NOTICE_SECS
            {
                s.conn = ConnState::Connected;
                changed = true;
            }
        }
        changed
    }

    /// Number of rows of the current view's list, after its filter.
    pub fn list_len(&self) -> usize {
        match self.view {
            View::Overview => self.visible_counters().len(),
            View::Queues => self.visible_services().len(),
            View::Satisfaction => self.current_satisfaction().map_or(0, |s| {
                s.by_counter.len() + s.by_service.len() + s.by_channel.len() + 3
            }),
            View::Keypads => self.visible_keypads().len(),
            View::Reports => self.site().reports.scroll_max.get().saturating_add(1),
            View::Events => {
                let f = EventFilter::parse(self.filter());
                let events = &self.site().events;
                if f.is_empty() {
                    events.len()
                } else {
                    events
                        .newest_first()
                        .filter(|e| f.matches(e, self.lang))
                        .count()
                }
            }
            View::Sites => self.visible_offices().len(),
        }
    }

    /// The selected row of the current view, clamped to its list.
    pub fn selected_row(&self, view: View, len: usize) -> usize {
        self.selected[view.index()].min(len.saturating_sub(1))
    }

    fn text_matches(filter: &str, fields: &[&str]) -> bool {
        let f = filter.trim().to_lowercase();
        f.is_empty()
            || f.split_whitespace()
                .all(|w| fields.iter().any(|x| x.to_lowercase().contains(w)))
    }

    pub fn visible_counters(&self) -> Vec<&Counter> {
        let filter = &self.filters[View::Overview.index()];
        self.site().snapshot.as_ref().map_or_else(Vec::new, |s| {
            s.counters
                .iter()
                .filter(|c| App::text_matches(filter, &[&c.id, &c.name, &c.service_code]))
                .collect()
        })
    }

    pub fn visible_services(&self) -> Vec<&Service> {
        let filter = &self.filters[View::Queues.index()];
        self.site().snapshot.as_ref().map_or_else(Vec::new, |s| {
            s.services
                .iter()
                .filter(|v| App::text_matches(filter, &[&v.code, &v.name]))
                .collect()
        })
    }

    pub fn visible_keypads(&self) -> Vec<&Keypad> {
        let filter = &self.filters[View::Keypads.index()];
        self.site().snapshot.as_ref().map_or_else(Vec::new, |s| {
            s.keypads
                .iter()
                .filter(|k| {
                    App::text_matches(filter, &[&k.counter_id, &k.bus, &k.firmware, &k.serial_no])
                })
                .collect()
        })
    }

    /// The offices the all-sites view lists (after its filter), with their index in `offices`.
    pub fn visible_offices(&self) -> Vec<(usize, &Office)> {
        let filter = &self.filters[View::Sites.index()];
        self.offices
            .iter()
            .enumerate()
            .filter(|(_, o)| App::text_matches(filter, &[o.name(), &o.site.id]))
            .collect()
    }

    /// The counter's display name from the snapshot, else its id.
    /// What a keypad is called: its counter's name, or a totem's name and the counters it
    /// serves ("Totem ingresso → Sportello 2, Sportello 3").
    pub fn keypad_name(&self, k: &faccia_proto::v1::Keypad) -> String {
        if k.totem_counters.is_empty() {
            return self.counter_name(&k.counter_id);
        }
        let name = if k.totem_name.is_empty() {
            k.counter_id.clone()
        } else {
            k.totem_name.clone()
        };
        let served: Vec<String> = k
            .totem_counters
            .iter()
            .map(|c| self.counter_name(c))
            .collect();
        format!("{name} → {}", served.join(", "))
    }

    pub fn counter_name(&self, id: &str) -> String {
        self.site()
            .snapshot
            .as_ref()
            .and_then(|s| s.counters.iter().find(|c| c.id == id))
            .map(|c| {
                if c.name.is_empty() {
                    c.id.clone()
                } else {
                    c.name.clone()
                }
            })
            .unwrap_or_else(|| id.to_string())
    }

    /// The views in tab order: the all-sites view first when there are several offices.
    pub fn tabs(&self) -> Vec<View> {
        let mut v = Vec::with_capacity(View::COUNT);
        if self.several() {
            v.push(View::Sites);
        }
        v.extend(View::ALL);
        v
    }

    /// Handles one key. Returns what the runtime must do.
    pub fn handle_key(&mut self, key: KeyEvent) -> Vec<Command> {
        if key.kind == KeyEventKind::Release {
            return Vec::new();
        }
        // Ctrl+C always quits, whatever the mode and the bindings.
        if key.code == KeyCode::Char('c') && key.modifiers.contains(KeyModifiers::CONTROL) {
            self.quit = true;
            return vec![Command::Quit];
        }
        match self.mode.clone() {
            Mode::Filter { previous } => {
                self.filter_key(key, previous);
                Vec::new()
            }
            Mode::Confirm { counter_id, action } => {
                match key.code {
                    KeyCode::Char(c) if tr(self.lang).yes_keys.contains(c) => {
                        self.mode = Mode::Normal;
                        self.notice = Some(Notice {
                            text: tr(self.lang).command_sending.to_string(),
                            error: false,
                        });
                        return vec![Command::Keypad { counter_id, action }];
                    }
                    KeyCode::Enter => {
                        self.mode = Mode::Normal;
                        self.notice = Some(Notice {
                            text: tr(self.lang).command_sending.to_string(),
                            error: false,
                        });
                        return vec![Command::Keypad { counter_id, action }];
                    }
                    KeyCode::Char('n' | 'N' | 'q') | KeyCode::Esc => self.mode = Mode::Normal,
                    _ => {}
                }
                Vec::new()
            }
            Mode::Picker { selected } => self.picker_key(key, selected),
            Mode::Help | Mode::Alerts => {
                match self.keymap.action(&key) {
                    Some(Action::Quit) => {
                        self.quit = true;
                        return vec![Command::Quit];
                    }
                    Some(Action::Down) if self.mode == Mode::Alerts => {
                        self.alerts_scroll = self.alerts_scroll.saturating_add(1)
                    }
                    Some(Action::Up) if self.mode == Mode::Alerts => {
                        self.alerts_scroll = self.alerts_scroll.saturating_sub(1)
                    }
                    Some(Action::Help | Action::Alerts | Action::ClearFilter) => {
                        self.mode = Mode::Normal
                    }
                    _ if key.code == KeyCode::Esc || key.code == KeyCode::Enter => {
                        self.mode = Mode::Normal
                    }
                    _ => {}
                }
                Vec::new()
            }
            Mode::Normal => match self.keymap.action(&key) {
                Some(a) => self.act(a),
                None => Vec::new(),
            },
        }
    }

    /// A key while the office picker is open: move, choose (Enter or the office's number), close.
    fn picker_key(&mut self, key: KeyEvent, selected: usize) -> Vec<Command> {
        let last = self.offices.len().saturating_sub(1);
        if let KeyCode::Char(c @ '1'..='9') = key.code {
            let i = usize::from(c as u8 - b'1');
            if i <= last && !self.offices.is_empty() {
                return self.switch_to(i);
            }
            return Vec::new();
        }
        let selected = selected.min(last);
        let page = self.page_rows.get().max(1);
        let next = match self.keymap.action(&key) {
            Some(Action::Quit) => {
                self.quit = true;
                return vec![Command::Quit];
            }
            Some(Action::OpenSite) => return self.switch_to(selected),
            _ if key.code == KeyCode::Enter => return self.switch_to(selected),
            Some(Action::Up) => selected.saturating_sub(1),
            Some(Action::Down) => selected.saturating_add(1).min(last),
            Some(Action::PageUp) => selected.saturating_sub(page),
            Some(Action::PageDown) => selected.saturating_add(page).min(last),
            Some(Action::Top) => 0,
            Some(Action::Bottom) => last,
            Some(Action::ChooseSite | Action::ClearFilter | Action::Help) => {
                self.mode = Mode::Normal;
                return Vec::new();
            }
            _ if key.code == KeyCode::Esc => {
                self.mode = Mode::Normal;
                return Vec::new();
            }
            _ => selected,
        };
        self.mode = Mode::Picker { selected: next };
        Vec::new()
    }

    /// Shows the office at `index` (from the all-sites view, in its overview) and asks for what
    /// its view needs. Nothing of the office shown before stays on screen: every view reads the
    /// new office's own data.
    pub fn switch_to(&mut self, index: usize) -> Vec<Command> {
        self.mode = Mode::Normal;
        if index >= self.offices.len() {
            return Vec::new();
        }
        // The month the Reports view shows stays the same, to compare offices.
        let month = self.site().reports.pinned.then(|| self.report_month());
        self.chosen = true;
        let changed = index != self.current;
        self.current = index;
        if self.view == View::Sites {
            self.view = View::Overview;
        }
        if changed {
            for (i, s) in self.selected.iter_mut().enumerate() {
                if i != View::Sites.index() {
                    *s = 0;
                }
            }
            self.alerts_scroll = 0;
        }
        let mut cmds = vec![Command::Refresh];
        if let (View::Reports, Some(m)) = (self.view, month) {
            cmds.extend(self.fetch_month(m));
        } else {
            cmds.extend(self.view_commands(true));
        }
        cmds
    }

    fn filter_key(&mut self, key: KeyEvent, previous: String) {
        let i = self.view.index();
        match key.code {
            KeyCode::Esc => {
                self.filters[i] = previous;
                self.mode = Mode::Normal;
            }
            KeyCode::Enter => self.mode = Mode::Normal,
            KeyCode::Backspace => {
                self.filters[i].pop();
            }
            KeyCode::Char(c)
                if !key.modifiers.contains(KeyModifiers::CONTROL)
                    && self.filters[i].chars().count() < 200 =>
            {
                self.filters[i].push(c);
            }
            _ => {}
        }
        self.selected[i] = 0;
    }

    /// What the current view needs asked for when it is opened (`again`: also when it already
    /// has it, because the office shown changed).
    fn view_commands(&mut self, again: bool) -> Vec<Command> {
        match self.view {
            View::Satisfaction if again || self.current_satisfaction().is_none() => {
                vec![Command::FetchSatisfaction(self.period)]
            }
            View::Reports => {
                // Reports change through the month: ask again on every visit. Unless the user
                // chose another month, a visit shows the current one (the console may run for
                // weeks).
                let month = if self.site().reports.pinned {
                    self.report_month()
                } else {
                    self.current_month()
                };
                self.fetch_month(month)
            }
            _ => Vec::new(),
        }
    }

    fn set_view(&mut self, view: View) -> Vec<Command> {
        self.view = view;
        self.view_commands(false)
    }

    fn move_selection(&mut self, delta: isize) {
        let len = self.list_len();
        let i = self.view.index();
        let cur = self.selected_row(self.view, len);
        let next = if delta < 0 {
            cur.saturating_sub(delta.unsigned_abs())
        } else {
            cur.saturating_add(delta as usize)
        };
        self.selected[i] = next.min(len.saturating_sub(1));
    }

    /// Carries out an action in normal mode.
    pub fn act(&mut self, action: Action) -> Vec<Command> {
        let page = self.page_rows.get().max(1) as isize;
        match action {
            Action::Quit => {
                self.quit = true;
                return vec![Command::Quit];
            }
            Action::NextView | Action::PrevView => {
                let tabs = self.tabs();
                let n = tabs.len();
                let at = tabs.iter().position(|v| *v == self.view).unwrap_or(0);
                let to = if action == Action::NextView {
                    (at + 1) % n
                } else {
                    (at + n - 1) % n
                };
                return self.set_view(tabs[to]);
            }
            Action::ViewOverview => return self.set_view(View::Overview),
            Action::ViewQueues => return self.set_view(View::Queues),
            Action::ViewSatisfaction => return self.set_view(View::Satisfaction),
            Action::ViewKeypads => return self.set_view(View::Keypads),
            Action::ViewEvents => return self.set_view(View::Events),
            Action::ViewReports => return self.set_view(View::Reports),
            Action::ViewSites if self.several() => {
                let mut cmds = self.set_view(View::Sites);
                cmds.push(Command::Refresh);
                return cmds;
            }
            Action::ChooseSite if self.several() => {
                self.mode = Mode::Picker {
                    selected: self.current,
                }
            }
            Action::OpenSite if self.view == View::Sites => {
                let offices = self.visible_offices();
                let row = self.selected_row(View::Sites, offices.len());
                if let Some((i, _)) = offices.get(row) {
                    let i = *i;
                    return self.switch_to(i);
                }
            }
            Action::ViewSites | Action::ChooseSite | Action::OpenSite => {}
            Action::Up => self.move_selection(-1),
            Action::Down => self.move_selection(1),
            Action::PageUp => self.move_selection(-page),
            Action::PageDown => self.move_selection(page),
            Action::Top => self.selected[self.view.index()] = 0,
            Action::Bottom => self.selected[self.view.index()] = self.list_len().saturating_sub(1),
            Action::Filter => {
                self.mode = Mode::Filter {
                    previous: self.filter().to_string(),
                }
            }
            Action::ClearFilter => {
                if self.notice.is_some() {
                    self.notice = None;
                } else {
                    self.filters[self.view.index()].clear();
                    self.selected[self.view.index()] = 0;
                }
            }
            Action::Help => self.mode = Mode::Help,
            Action::Alerts => {
                self.alerts_scroll = 0;
                self.mode = Mode::Alerts;
            }
            Action::PrevPeriod | Action::NextPeriod if self.view == View::Satisfaction => {
                let order = [Period::Today, Period::Week, Period::Month];
                let i = App::period_index(self.period);
                let j = if action == Action::NextPeriod {
                    (i + 1) % 3
                } else {
                    (i + 2) % 3
                };
                self.period = order[j];
                self.selected[View::Satisfaction.index()] = 0;
                return vec![Command::FetchSatisfaction(self.period)];
            }
            Action::PrevPeriod | Action::NextPeriod if self.view == View::Reports => {
                let m = self.report_month();
                let m = if action == Action::NextPeriod {
                    m.next()
                } else {
                    m.previous()
                };
                return self.fetch_month(m);
            }
            Action::PrevPeriod | Action::NextPeriod => {}
            Action::SaveHtml | Action::SaveCsv | Action::SaveMinistry | Action::SaveAnnual
                if self.view == View::Reports =>
            {
                return self.save(action);
            }
            Action::SaveHtml | Action::SaveCsv | Action::SaveMinistry | Action::SaveAnnual => {}
            Action::Identify | Action::SelfTest if self.view == View::Keypads => {
                let keypads = self.visible_keypads();
                let row = self.selected_row(View::Keypads, keypads.len());
                if let Some(k) = keypads.get(row) {
                    let counter_id = k.counter_id.clone();
                    self.mode = Mode::Confirm {
                        counter_id,
                        action: if action == Action::Identify {
                            KeypadAction::KeypadIdentify
                        } else {
                            KeypadAction::KeypadSelfTest
                        },
                    };
                }
            }
            Action::Identify | Action::SelfTest => {}
            Action::Refresh => {
                let mut cmds = vec![Command::Refresh];
                if self.view == View::Satisfaction {
                    cmds.push(Command::FetchSatisfaction(self.period));
                }
                if self.view == View::Reports {
                    cmds.extend(self.fetch_month(self.report_month()));
                }
                return cmds;
            }
        }
        Vec::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(seq: u64) -> LogEvent {
        LogEvent {
            seq,
            ..Default::default()
        }
    }

    #[test]
    fn event_log_is_bounded_and_drops_duplicates() {
        let mut log = EventLog::new(3);
        for s in 1..=5 {
            assert!(log.push(ev(s)));
        }
        assert!(!log.push(ev(5)));
        assert!(!log.push(ev(2)));
        assert_eq!(log.len(), 3);
        let seqs: Vec<u64> = log.newest_first().map(|e| e.seq).collect();
        assert_eq!(seqs, vec![5, 4, 3]);
        assert_eq!(log.last_seq(), 5);
    }

    #[test]
    fn snapshot_redraw_only_on_change() {
        let mut app = App::new(&Settings::default(), Utc::now());
        let mut s = Snapshot {
            last_seq: 5,
            ..Default::default()
        };
        assert!(app.apply(Msg::Snapshot(Box::new(s.clone()))));
        s.at = Some(prost_types::Timestamp {
            seconds: 99,
            nanos: 0,
        });
        assert!(!app.apply(Msg::Snapshot(Box::new(s.clone()))));
        s.last_seq = 6;
        assert!(app.apply(Msg::Snapshot(Box::new(s))));
    }

    #[test]
    fn resumed_notice_fades_after_a_minute() {
        let t0 = Utc::now();
        let mut app = App::new(&Settings::default(), t0);
        app.apply(Msg::StreamUp {
            resumed_from: Some(7),
        });
        assert!(!app.tick(t0 + chrono::Duration::seconds(30)));
        assert_eq!(app.site().conn, ConnState::Resumed { from_seq: 7 });
        assert!(app.tick(t0 + chrono::Duration::seconds(61)));
        assert_eq!(app.site().conn, ConnState::Connected);
    }

    #[test]
    fn event_filter_parses_both_languages() {
        let f = EventFilter::parse("sportello:3 tipo:giudizio");
        assert_eq!(f.counter.as_deref(), Some("3"));
        let mut e = ev(1);
        e.counter_id = "3".into();
        e.kind = faccia_proto::v1::LogKind::LogVoteRecorded as i32;
        assert!(f.matches(&e, Lang::It));
        assert!(EventFilter::parse("kind:vote").matches(&e, Lang::It));
        assert!(!EventFilter::parse("kind:ticket").matches(&e, Lang::En));
        e.counter_id = "4".into();
        assert!(!f.matches(&e, Lang::It));
    }
}
