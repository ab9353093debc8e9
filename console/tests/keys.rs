//! Keys injected into the app: views, movement, filters, periods, keypad commands, quitting.

mod common;

use common::app;
use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use faccia_console::config::{ConfigFile, Settings};
use faccia_console::model::{ApiError, ApiErrorKind, App, Command, Mode, Msg, View};
use faccia_console::{ConsoleArgs, Lang};
use faccia_proto::v1::{KeypadAction, Period};

fn press(app: &mut App, code: KeyCode) -> Vec<Command> {
    app.handle_key(KeyEvent::new(code, KeyModifiers::NONE))
}

fn chars(app: &mut App, s: &str) {
    for c in s.chars() {
        press(app, KeyCode::Char(c));
    }
}

#[test]
fn tab_and_digits_switch_views() {
    let mut a = app(Lang::It);
    assert_eq!(a.view, View::Overview);
    press(&mut a, KeyCode::Tab);
    assert_eq!(a.view, View::Queues);
    a.handle_key(KeyEvent::new(KeyCode::BackTab, KeyModifiers::SHIFT));
    a.handle_key(KeyEvent::new(KeyCode::BackTab, KeyModifiers::SHIFT));
    assert_eq!(a.view, View::Events);
    press(&mut a, KeyCode::Char('4'));
    assert_eq!(a.view, View::Keypads);
    press(&mut a, KeyCode::Char('1'));
    assert_eq!(a.view, View::Overview);
}

#[test]
fn satisfaction_asks_for_its_data_and_switches_period() {
    let settings = Settings::default();
    let mut a = App::new(&settings, common::now());
    assert_eq!(
        press(&mut a, KeyCode::Char('3')),
        vec![Command::FetchSatisfaction(Period::Today)]
    );
    assert_eq!(
        press(&mut a, KeyCode::Right),
        vec![Command::FetchSatisfaction(Period::Week)]
    );
    assert_eq!(a.period, Period::Week);
    press(&mut a, KeyCode::Char('h'));
    press(&mut a, KeyCode::Char('h'));
    assert_eq!(a.period, Period::Month);
    // Left/right do nothing elsewhere.
    press(&mut a, KeyCode::Char('1'));
    assert!(press(&mut a, KeyCode::Right).is_empty());
    assert_eq!(a.period, Period::Month);
}

#[test]
fn arrows_and_jk_move_within_bounds() {
    let mut a = app(Lang::It);
    press(&mut a, KeyCode::Up);
    assert_eq!(a.selected[0], 0);
    press(&mut a, KeyCode::Char('j'));
    press(&mut a, KeyCode::Down);
    assert_eq!(a.selected[0], 2);
    press(&mut a, KeyCode::Char('k'));
    assert_eq!(a.selected[0], 1);
    a.handle_key(KeyEvent::new(KeyCode::Char('G'), KeyModifiers::SHIFT));
    assert_eq!(a.selected[0], 5); // six counters
    press(&mut a, KeyCode::Down);
    assert_eq!(a.selected[0], 5);
    press(&mut a, KeyCode::Char('g'));
    assert_eq!(a.selected[0], 0);
}

#[test]
fn slash_filters_events_esc_restores_enter_keeps() {
    let mut a = app(Lang::It);
    press(&mut a, KeyCode::Char('5'));
    let all = a.list_len();
    assert_eq!(all, 12);
    press(&mut a, KeyCode::Char('/'));
    assert!(matches!(a.mode, Mode::Filter { .. }));
    chars(&mut a, "sportello:2");
    assert_eq!(a.list_len(), 4);
    // q is text while typing, not quit.
    assert!(!a.quit);
    press(&mut a, KeyCode::Esc);
    assert_eq!(a.mode, Mode::Normal);
    assert_eq!(a.list_len(), all);
    press(&mut a, KeyCode::Char('/'));
    chars(&mut a, "tipo:giudizio");
    press(&mut a, KeyCode::Enter);
    assert_eq!(a.filter(), "tipo:giudizio");
    assert_eq!(a.list_len(), 2); // recorded + orphan
    press(&mut a, KeyCode::Char('/'));
    press(&mut a, KeyCode::Backspace);
    press(&mut a, KeyCode::Enter);
    assert_eq!(a.filter(), "tipo:giudizi");
    // Esc in normal mode clears the filter.
    press(&mut a, KeyCode::Esc);
    assert_eq!(a.list_len(), all);
    // Filters of other views are text matches.
    press(&mut a, KeyCode::Char('1'));
    press(&mut a, KeyCode::Char('/'));
    chars(&mut a, "anagrafe");
    assert_eq!(a.list_len(), 1);
}

#[test]
fn keypad_commands_need_confirmation() {
    let mut a = app(Lang::It);
    press(&mut a, KeyCode::Char('4'));
    press(&mut a, KeyCode::Down);
    assert!(press(&mut a, KeyCode::Char('t')).is_empty());
    assert_eq!(
        a.mode,
        Mode::Confirm {
            counter_id: "2".into(),
            action: KeypadAction::KeypadSelfTest
        }
    );
    assert!(press(&mut a, KeyCode::Char('n')).is_empty());
    assert_eq!(a.mode, Mode::Normal);
    press(&mut a, KeyCode::Char('i'));
    assert!(press(&mut a, KeyCode::Char('x')).is_empty());
    assert_eq!(
        press(&mut a, KeyCode::Char('s')),
        vec![Command::Keypad {
            counter_id: "2".into(),
            action: KeypadAction::KeypadIdentify
        }]
    );
    // A viewer is told clearly that the admin role is needed.
    a.apply(Msg::CommandDone(Err(ApiError {
        kind: ApiErrorKind::PermissionDenied,
        message: String::new(),
    })));
    let notice = a.notice.clone().expect("notice");
    assert!(notice.error && notice.text.contains("PERMISSION_DENIED"));
    // Not on other views.
    press(&mut a, KeyCode::Char('1'));
    press(&mut a, KeyCode::Char('t'));
    assert_eq!(a.mode, Mode::Normal);
    // English confirms with y.
    let mut e = app(Lang::En);
    press(&mut e, KeyCode::Char('4'));
    press(&mut e, KeyCode::Char('i'));
    assert_eq!(
        press(&mut e, KeyCode::Char('y')),
        vec![Command::Keypad {
            counter_id: "1".into(),
            action: KeypadAction::KeypadIdentify
        }]
    );
}

#[test]
fn help_and_quit() {
    let mut a = app(Lang::En);
    press(&mut a, KeyCode::Char('?'));
    assert_eq!(a.mode, Mode::Help);
    press(&mut a, KeyCode::Char('3'));
    assert_eq!(a.view, View::Overview, "keys do not leak through the help");
    press(&mut a, KeyCode::Esc);
    assert_eq!(a.mode, Mode::Normal);
    assert_eq!(press(&mut a, KeyCode::Char('q')), vec![Command::Quit]);
    assert!(a.quit);
    let mut b = app(Lang::En);
    press(&mut b, KeyCode::Char('/'));
    assert_eq!(
        b.handle_key(KeyEvent::new(KeyCode::Char('c'), KeyModifiers::CONTROL)),
        vec![Command::Quit]
    );
}

#[test]
fn bindings_from_the_config_file() {
    let file = ConfigFile::parse("[bindings]\nquit = \"x\"\nnext-view = [\"n\", \"tab\"]\n")
        .expect("config");
    let settings = Settings::merge(&ConsoleArgs::default(), file).expect("settings");
    let mut a = App::new(&settings, common::now());
    assert!(press(&mut a, KeyCode::Char('q')).is_empty());
    press(&mut a, KeyCode::Char('n'));
    assert_eq!(a.view, View::Queues);
    assert_eq!(press(&mut a, KeyCode::Char('x')), vec![Command::Quit]);
}

#[test]
fn refresh_key_pokes_the_refresher() {
    let mut a = app(Lang::It);
    assert_eq!(press(&mut a, KeyCode::Char('r')), vec![Command::Refresh]);
    press(&mut a, KeyCode::Char('3'));
    assert_eq!(
        press(&mut a, KeyCode::Char('r')),
        vec![Command::Refresh, Command::FetchSatisfaction(Period::Today)]
    );
}
