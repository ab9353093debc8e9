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
use faccia_proto::v1::Period;
use futures::StreamExt;
use ratatui::backend::CrosstermBackend;
use ratatui::Terminal;
use tokio::sync::{mpsc, watch, Notify};
use tokio::task::JoinHandle;

use crate::client::{self, Api, Backoff, Clients, Signals};
use crate::config::Settings;
use crate::model::{App, Command, Msg, View};
use crate::{save, views};

/// Shortest time between two frames.
pub const FRAME: Duration = Duration::from_millis(40);
/// Shortest time between two snapshot fetches triggered by events.
pub const DEBOUNCE: Duration = Duration::from_millis(500);

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

/// The background tasks of one console.
pub struct Tasks {
    pub rx: mpsc::Receiver<Msg>,
    pub tx: mpsc::Sender<Msg>,
    pub period: watch::Sender<Option<Period>>,
    pub poke: Arc<Notify>,
    handles: Vec<JoinHandle<()>>,
}

impl Tasks {
    /// Starts the watcher and the refresher against `api`.
    pub fn start(api: &Api, refresh_every: Duration, backoff: Backoff) -> Tasks {
        let (tx, rx) = mpsc::channel(256);
        let signals = Signals::default();
        let poke = signals.refresh.clone();
        let (period, period_rx) = watch::channel(None);
        let handles = vec![
            tokio::spawn(client::watch_events(
                api.clone(),
                tx.clone(),
                signals.clone(),
                None,
                backoff,
            )),
            tokio::spawn(client::refresh_snapshots(
                api.clone(),
                tx.clone(),
                signals,
                period_rx,
                refresh_every,
                DEBOUNCE,
            )),
        ];
        Tasks {
            rx,
            tx,
            period,
            poke,
            handles,
        }
    }

    /// Carries out a command of the model. Returns false for `Quit`.
    pub fn execute(&self, clients: &Clients, cmd: Command) -> bool {
        let api = &clients.monitor;
        match cmd {
            Command::Quit => return false,
            Command::Refresh => self.poke.notify_one(),
            Command::FetchSatisfaction(p) => {
                let (api, tx) = (api.clone(), self.tx.clone());
                tokio::spawn(async move {
                    let _ = tx.send(client::fetch_satisfaction(api, p).await).await;
                });
            }
            Command::Keypad { counter_id, action } => {
                let (api, tx) = (api.clone(), self.tx.clone());
                tokio::spawn(async move {
                    let _ = tx
                        .send(client::keypad_command(api, counter_id, action).await)
                        .await;
                });
            }
            Command::FetchMonthly { month, lang } => {
                let (api, tx) = (clients.reports.clone(), self.tx.clone());
                tokio::spawn(async move {
                    let _ = tx.send(client::fetch_monthly(api, month, lang).await).await;
                });
            }
            Command::SaveReport { doc, lang, dir } => {
                let (api, tx) = (clients.reports.clone(), self.tx.clone());
                tokio::spawn(async move {
                    let _ = tx
                        .send(save::render_and_save(api, doc, lang, dir).await)
                        .await;
                });
            }
        }
        true
    }

    /// Tells the refresher which satisfaction period to keep fresh (only while it is shown).
    pub fn follow(&self, app: &App) {
        let wanted = (app.view == View::Satisfaction).then_some(app.period);
        self.period.send_if_modified(|p| {
            let changed = *p != wanted;
            *p = wanted;
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
    let clients = client::connect_all(&settings.server, settings.token.as_deref())?;
    let mut guard = TerminalGuard::enter()?;
    let result = event_loop(&mut guard.terminal, &settings, &clients).await;
    drop(guard);
    result
}

async fn event_loop(
    terminal: &mut Terminal<CrosstermBackend<Stdout>>,
    settings: &Settings,
    clients: &Clients,
) -> anyhow::Result<()> {
    let mut tasks = Tasks::start(&clients.monitor, settings.refresh, Backoff::default());
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
                        if !tasks.execute(clients, cmd) {
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
