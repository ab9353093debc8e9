//! The terminal loop: crossterm's `EventStream` for keys and resizes, the gRPC tasks of
//! [`crate::client`] feeding a channel, and a redraw only when something changed (at most one
//! frame per [`FRAME`]). At rest the loop sleeps until the next minute, for the clock.

use std::io::{self, Stdout};
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{Timelike, Utc};
use crossterm::event::{Event, EventStream};
use crossterm::execute;
use crossterm::terminal::{
    disable_raw_mode, enable_raw_mode, EnterAlternateScreen, LeaveAlternateScreen,
};
use futures::StreamExt;
use ratatui::backend::CrosstermBackend;
use ratatui::Terminal;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

use crate::client::{self, Backoff, Clients, Focus, ServerTask, Timing};
use crate::config::Settings;
use crate::model::{App, Command, Msg, View};
use crate::{save, views};

/// Shortest time between two frames.
pub const FRAME: Duration = Duration::from_millis(40);
/// Shortest time between two snapshot fetches triggered by events, for the office shown.
pub const DEBOUNCE: Duration = Duration::from_millis(500);
/// The same for an office not on screen (its figures wait for the all-sites view).
pub const BACKGROUND_DEBOUNCE: Duration = Duration::from_secs(3);

fn restore_terminal() {
    let _ = disable_raw_mode();
    let _ = execute!(io::stdout(), LeaveAlternateScreen, crossterm::cursor::Show);
}

/// Puts the terminal in raw mode on the alternate screen and takes it back on drop; a panic hook
/// takes it back too, before the panic message is printed.
struct TerminalGuard {
    terminal: Terminal<CrosstermBackend<Stdout>>,
}

impl TerminalGuard {
    fn enter() -> anyhow::Result<TerminalGuard> {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            restore_terminal();
            previous(info);
        }));
        enable_raw_mode()?;
        let mut stdout = io::stdout();
        if let Err(e) = execute!(stdout, EnterAlternateScreen, crossterm::cursor::Hide) {
            restore_terminal();
            return Err(e.into());
        }
        match Terminal::new(CrosstermBackend::new(stdout)) {
            Ok(terminal) => Ok(TerminalGuard { terminal }),
            Err(e) => {
                restore_terminal();
                Err(e.into())
            }
        }
    }
}

impl Drop for TerminalGuard {
    fn drop(&mut self) {
        restore_terminal();
    }
}

/// The background tasks of one console: one per server (its sites' discovery, then a watcher
/// and a refresher per office), feeding one channel.
pub struct Tasks {
    pub rx: mpsc::Receiver<Msg>,
    pub tx: mpsc::Sender<Msg>,
    servers: Vec<Clients>,
    focus: Arc<watch::Sender<Focus>>,
    handles: Vec<JoinHandle<()>>,
}

/// A handle that asks every office's refresher to fetch its snapshot now.
#[derive(Clone)]
pub struct Poker(Arc<watch::Sender<Focus>>);

impl Poker {
    pub fn poke(&self) {
        self.0.send_modify(|f| {
            f.refresh = f.refresh.wrapping_add(1);
            f.refresh_site = None;
        });
    }
}

impl Tasks {
    /// Starts following every server of `servers`, in order.
    pub fn start(servers: Vec<Clients>, refresh_every: Duration, backoff: Backoff) -> Tasks {
        let (tx, rx) = mpsc::channel(256);
        let (focus, focus_rx) = watch::channel(Focus::default());
        let claimed = client::Claimed::default();
        let timing = Timing {
            every: refresh_every,
            min_gap: DEBOUNCE,
            background_gap: BACKGROUND_DEBOUNCE,
        };
        let handles = servers
            .iter()
            .enumerate()
            .map(|(i, clients)| {
                tokio::spawn(client::serve_server(
                    i,
                    clients.clone(),
                    ServerTask {
                        tx: tx.clone(),
                        claimed: claimed.clone(),
                        focus: focus_rx.clone(),
                        timing,
                        backoff,
                    },
                ))
            })
            .collect();
        Tasks {
            rx,
            tx,
            servers,
            focus: Arc::new(focus),
            handles,
        }
    }

    /// Asks every office for its snapshot now.
    pub fn poke(&self) {
        self.poker().poke();
    }

    pub fn poker(&self) -> Poker {
        Poker(self.focus.clone())
    }

    /// Carries out a command of the model, about the office `app` shows (the one it was
    /// returned for: commands are carried out as soon as they are returned). A command before
    /// any office is known is dropped: the model asks again once the first one is.
    /// Returns false for `Quit`.
    pub fn execute(&self, app: &App, cmd: Command) -> bool {
        if cmd == Command::Quit {
            return false;
        }
        if cmd == Command::Refresh {
            let site = (app.view != View::Sites)
                .then(|| app.office().map(|o| o.key.clone()))
                .flatten();
            self.focus.send_modify(|f| {
                f.refresh = f.refresh.wrapping_add(1);
                f.refresh_site = site;
            });
            return true;
        }
        let Some(office) = app.office() else {
            tracing::debug!(?cmd, "no office known yet");
            return true;
        };
        let Some(clients) = self.servers.get(office.server) else {
            tracing::warn!(server = office.server, "no such server");
            return true;
        };
        let key = office.key.clone();
        let site_id = office.request_id.clone();
        let tx = self.tx.clone();
        let send = move |msg: Msg| async move {
            let _ = tx.send(Msg::of(&key, msg)).await;
        };
        match cmd {
            Command::Quit | Command::Refresh => {}
            Command::FetchSatisfaction(p) => {
                let api = clients.monitor.clone();
                tokio::spawn(async move {
                    send(client::fetch_satisfaction(api, &site_id, p).await).await;
                });
            }
            Command::Keypad { counter_id, action } => {
                let api = clients.monitor.clone();
                tokio::spawn(async move {
                    send(client::keypad_command(api, &site_id, counter_id, action).await).await;
                });
            }
            Command::FetchMonthly { month, lang } => {
                let api = clients.reports.clone();
                tokio::spawn(async move {
                    send(client::fetch_monthly(api, &site_id, month, lang).await).await;
                });
            }
            Command::SaveReport { doc, lang, dir } => {
                let api = clients.reports.clone();
                // Several offices share the directory: each document's name holds its site.
                let to = save::SaveTo {
                    dir,
                    site: app.several().then(|| office.site.id.clone()),
                };
                tokio::spawn(async move {
                    send(save::render_and_save(api, &site_id, doc, lang, to).await).await;
                });
            }
        }
        true
    }

    /// Tells the refreshers which office is shown and which satisfaction period to keep fresh
    /// (only while it is shown).
    pub fn follow(&self, app: &App) {
        let site = app.office().map(|o| o.key.clone());
        let period = (app.view == View::Satisfaction).then_some(app.period);
        let all = app.view == View::Sites;
        self.focus.send_if_modified(|f| {
            let changed = f.site != site || f.period != period || f.all != all;
            f.site = site;
            f.period = period;
            f.all = all;
            changed
        });
    }
}

impl Drop for Tasks {
    fn drop(&mut self) {
        for h in &self.handles {
            h.abort();
        }
    }
}

/// Completes when one of `handles` stops, which only a bug (a panic) can cause: the console
/// then exits rather than show frozen data.
async fn failed(handles: &mut [JoinHandle<()>]) -> anyhow::Error {
    if handles.is_empty() {
        return std::future::pending().await;
    }
    let (result, _, _) = futures::future::select_all(handles.iter_mut()).await;
    match result {
        Err(e) if e.is_panic() => anyhow::anyhow!("a background task panicked"),
        Err(e) => anyhow::anyhow!("a background task stopped: {e}"),
        Ok(()) => anyhow::anyhow!("a background task stopped"),
    }
}

/// Until the header clock shows the next minute: by the wall clock, or every second with the
/// console's own clock (the demo's day runs faster than the wall clock).
fn until_next_minute(settings: &Settings) -> Duration {
    if settings.clock.is_some() {
        return Duration::from_secs(1);
    }
    let now = Utc::now();
    let into = u64::from(now.second()) * 1000 + u64::from(now.timestamp_subsec_millis() % 1000);
    Duration::from_millis(60_000u64.saturating_sub(into).max(1) + 20)
}

/// Runs the console in the terminal until the user quits.
pub async fn run(settings: Settings) -> anyhow::Result<()> {
    let clients = settings
        .servers
        .iter()
        .map(|s| client::connect_all(&s.url, s.token.as_deref()))
        .collect::<anyhow::Result<Vec<Clients>>>()?;
    tracing::info!(
        servers = ?settings.servers.iter().map(|s| s.url.as_str()).collect::<Vec<_>>(),
        "console starting"
    );
    let mut guard = TerminalGuard::enter()?;
    let result = event_loop(&mut guard.terminal, &settings, &clients).await;
    drop(guard);
    result
}

async fn event_loop(
    terminal: &mut Terminal<CrosstermBackend<Stdout>>,
    settings: &Settings,
    clients: &[Clients],
) -> anyhow::Result<()> {
    let mut tasks = Tasks::start(clients.to_vec(), settings.refresh, Backoff::default());
    let mut app = App::new(settings, settings.now());
    let mut input = EventStream::new();
    #[cfg(unix)]
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    let mut dirty = true;
    let mut last_draw = Instant::now() - FRAME;
    loop {
        if dirty && last_draw.elapsed() >= FRAME {
            app.tick(settings.now());
            terminal.draw(|f| views::render(f, &app))?;
            last_draw = Instant::now();
            dirty = false;
        }
        let frame_wait = FRAME.saturating_sub(last_draw.elapsed());
        #[cfg(unix)]
        let terminated = term.recv();
        #[cfg(not(unix))]
        let terminated = std::future::pending::<Option<()>>();
        tokio::select! {
            ev = input.next() => match ev {
                Some(Ok(Event::Key(key))) => {
                    for cmd in app.handle_key(key) {
                        if !tasks.execute(&app, cmd) {
                            return Ok(());
                        }
                    }
                    tasks.follow(&app);
                    dirty = true;
                }
                Some(Ok(Event::Resize(_, _))) => {
                    terminal.autoresize()?;
                    dirty = true;
                }
                Some(Ok(_)) => {}
                Some(Err(e)) => return Err(e.into()),
                None => return Ok(()),
            },
            Some(msg) = tasks.rx.recv() => {
                app.tick(settings.now());
                dirty |= app.apply(msg);
                // Take whatever else is waiting before drawing.
                let mut n = 0;
                while n < 1024 {
                    match tasks.rx.try_recv() {
                        Ok(m) => dirty |= app.apply(m),
                        Err(_) => break,
                    }
                    n += 1;
                }
                // The office shown may have changed as servers named their sites.
                for cmd in app.take_commands() {
                    tasks.execute(&app, cmd);
                }
                tasks.follow(&app);
            }
            _ = tokio::time::sleep(until_next_minute(settings)) => dirty = true,
            _ = tokio::time::sleep(frame_wait), if dirty => {}
            _ = terminated => return Ok(()),
            err = failed(&mut tasks.handles) => return Err(err),
        }
        if app.quit {
            return Ok(());
        }
    }
}
