//! Keys injected into the app: views, movement, filters, periods, keypad commands, reports
//! (months, stale answers, errors, saving), quitting.

mod common;

use common::app;
use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use faccia_console::config::{ConfigFile, Settings};
use faccia_console::model::{
    ApiError, ApiErrorKind, App, Command, Mode, Msg, ReportDoc, SaveError, View, YearMonth,
};
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
    assert_eq!(
        a.view,
        View::Reports,
        "Shift+Tab wraps round to the sixth view"
    );
    a.handle_key(KeyEvent::new(KeyCode::BackTab, KeyModifiers::SHIFT));
    assert_eq!(a.view, View::Events);
    press(&mut a, KeyCode::Char('6'));
    assert_eq!(a.view, View::Reports);
    press(&mut a, KeyCode::Tab);
    assert_eq!(a.view, View::Overview);
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

fn month(y: i32, m: u32) -> YearMonth {
    YearMonth::new(y, m).expect("month")
}

fn fetch(y: i32, m: u32) -> Command {
    Command::FetchMonthly {
        month: month(y, m),
        lang: Lang::It,
    }
}

#[test]
fn reports_fetch_on_entry_and_move_by_month() {
    let mut a = App::new(&Settings::default(), common::now());
    assert_eq!(press(&mut a, KeyCode::Char('6')), vec![fetch(2026, 11)]);
    assert_eq!(a.view, View::Reports);
    assert!(a.site().reports.loading);
    assert!(common::draw(&a, 80, 24).contains("Caricamento…"));
    assert_eq!(press(&mut a, KeyCode::Left), vec![fetch(2026, 10)]);
    assert_eq!(press(&mut a, KeyCode::Char('l')), vec![fetch(2026, 11)]);
    assert_eq!(press(&mut a, KeyCode::Right), vec![fetch(2026, 12)]);
    assert_eq!(press(&mut a, KeyCode::Right), vec![fetch(2027, 1)]);
    assert_eq!(
        press(&mut a, KeyCode::Char('r')),
        vec![Command::Refresh, fetch(2027, 1)]
    );
    // Leaving and coming back keeps the month chosen, and asks again.
    press(&mut a, KeyCode::Char('1'));
    assert_eq!(press(&mut a, KeyCode::Tab), Vec::<Command>::new());
    assert_eq!(
        a.handle_key(KeyEvent::new(KeyCode::BackTab, KeyModifiers::SHIFT)),
        Vec::<Command>::new()
    );
    assert_eq!(
        a.handle_key(KeyEvent::new(KeyCode::BackTab, KeyModifiers::SHIFT)),
        vec![fetch(2027, 1)]
    );
    assert_eq!(a.view, View::Reports);
    // Left/right still change the period in Gradimento.
    press(&mut a, KeyCode::Char('3'));
    assert_eq!(
        press(&mut a, KeyCode::Right),
        vec![Command::FetchSatisfaction(Period::Week)]
    );
}

#[test]
fn reports_start_at_the_month_of_the_office_time_zone() {
    // 23:30 UTC on 30 November: still November in London, already December in Rome.
    let late = chrono::TimeZone::with_ymd_and_hms(&chrono::Utc, 2026, 11, 30, 23, 30, 0)
        .single()
        .expect("time");
    let mut a = app(Lang::It);
    a.now = late;
    assert_eq!(press(&mut a, KeyCode::Char('6')), vec![fetch(2026, 12)]);
    let mut snap = common::snapshot();
    if let Some(site) = snap.site.as_mut() {
        site.time_zone = "Europe/London".into();
    }
    let mut b = app(Lang::It);
    b.apply(Msg::Snapshot(Box::new(snap)));
    b.now = late;
    assert_eq!(press(&mut b, KeyCode::Char('6')), vec![fetch(2026, 11)]);
}

#[test]
fn a_stale_report_is_ignored() {
    let mut a = app(Lang::It);
    press(&mut a, KeyCode::Char('6'));
    press(&mut a, KeyCode::Left);
    assert_eq!(a.report_month(), month(2026, 10));
    // November's answer arrives after the user moved to October: it is dropped.
    let late = Msg::Monthly {
        month: month(2026, 11),
        result: Ok(Box::new(common::monthly_report(Lang::It))),
    };
    assert!(!a.apply(late));
    assert!(a.site().reports.report.is_none());
    assert!(a.site().reports.loading);
    let s = common::draw(&a, 80, 24);
    assert!(
        s.contains("ottobre 2026") && s.contains("Caricamento…"),
        "{s}"
    );
    assert!(!s.contains("2520"), "{s}");
    // So is a late error for November.
    assert!(!a.apply(Msg::Monthly {
        month: month(2026, 11),
        result: Err(ApiError {
            kind: ApiErrorKind::Unavailable,
            message: String::new(),
        }),
    }));
    assert!(a.site().reports.error.is_none());
    let mut oct = common::monthly_report(Lang::It);
    oct.month = "2026-10".into();
    oct.served = 2400;
    assert!(a.apply(Msg::Monthly {
        month: month(2026, 10),
        result: Ok(Box::new(oct)),
    }));
    assert!(!a.site().reports.loading);
    let s = common::draw(&a, 80, 24);
    assert!(s.contains("Serviti 2400"), "{s}");
    assert!(!s.contains("Caricamento"), "{s}");
}

#[test]
fn report_errors_are_shown_in_the_view() {
    let cases = [
        (
            ApiErrorKind::InvalidArgument,
            "month must be YYYY-MM, not \"2026-13\"",
            "Richiesta rifiutata dal server (INVALID_ARGUMENT): month must be YYYY-MM",
        ),
        (
            ApiErrorKind::Unauthenticated,
            "",
            "Accesso negato: token mancante o non valido (UNAUTHENTICATED)",
        ),
        (
            ApiErrorKind::PermissionDenied,
            "",
            "Permesso negato: servono i ruoli viewer o admin (PERMISSION_DENIED)",
        ),
        (
            ApiErrorKind::Unavailable,
            "",
            "Server non raggiungibile (UNAVAILABLE)",
        ),
    ];
    for (kind, message, shown) in cases {
        let mut a = App::new(&Settings::default(), common::now());
        press(&mut a, KeyCode::Char('6'));
        assert!(a.apply(Msg::Monthly {
            month: month(2026, 11),
            result: Err(ApiError {
                kind,
                message: message.into(),
            }),
        }));
        let s = common::draw(&a, 160, 48);
        assert!(s.contains(shown), "{s}");
        assert!(!s.contains("Caricamento"), "{s}");
    }
    // A failed reload keeps the month's figures on screen, under the error.
    let mut a = app(Lang::En);
    press(&mut a, KeyCode::Char('6'));
    a.apply(Msg::Monthly {
        month: month(2026, 11),
        result: Err(ApiError {
            kind: ApiErrorKind::Unavailable,
            message: String::new(),
        }),
    });
    let s = common::draw(&a, 80, 24);
    assert!(s.contains("Server unreachable (UNAVAILABLE)"), "{s}");
    assert!(s.contains("Served 2520"), "{s}");
}

#[test]
fn save_keys_ask_for_the_documents_of_the_month_shown() {
    let file = ConfigFile::parse("reports-dir = \"/srv/www/urp\"").expect("config");
    let settings = Settings::merge(&ConsoleArgs::default(), file).expect("settings");
    let mut a = App::new(&settings, common::now());
    // Not outside the Reports view.
    assert!(press(&mut a, KeyCode::Char('s')).is_empty());
    press(&mut a, KeyCode::Char('6'));
    press(&mut a, KeyCode::Left);
    let dir = std::path::PathBuf::from("/srv/www/urp");
    let oct = month(2026, 10);
    assert_eq!(
        press(&mut a, KeyCode::Char('s')),
        vec![Command::SaveReport {
            doc: ReportDoc::MonthlyHtml(oct),
            lang: Lang::It,
            dir: dir.clone()
        }]
    );
    let notice = a.notice.clone().expect("notice");
    assert!(
        notice.text.contains("Salvataggio in corso") && !notice.error,
        "{notice:?}"
    );
    assert_eq!(
        press(&mut a, KeyCode::Char('c')),
        vec![Command::SaveReport {
            doc: ReportDoc::MonthlyCsv(oct),
            lang: Lang::It,
            dir: dir.clone()
        }]
    );
    assert_eq!(
        press(&mut a, KeyCode::Char('m')),
        vec![Command::SaveReport {
            doc: ReportDoc::Ministry {
                from: month(2026, 1),
                to: oct
            },
            lang: Lang::It,
            dir: dir.clone()
        }]
    );
    // The annual review of the shown month's year.
    assert_eq!(
        press(&mut a, KeyCode::Char('y')),
        vec![Command::SaveReport {
            doc: ReportDoc::AnnualHtml(2026),
            lang: Lang::It,
            dir
        }]
    );
    a.apply(Msg::ReportSaved {
        doc: ReportDoc::MonthlyHtml(oct),
        result: Ok("/srv/www/urp/faccia-2026-10.html".into()),
    });
    let s = common::draw(&a, 80, 24);
    assert!(
        s.contains("Salvato in /srv/www/urp/faccia-2026-10.html"),
        "{s}"
    );
    a.apply(Msg::ReportSaved {
        doc: ReportDoc::MonthlyCsv(oct),
        result: Err(SaveError::Io {
            path: "/srv/www/urp/faccia-2026-10.csv".into(),
            message: "Permission denied (os error 13)".into(),
        }),
    });
    let notice = a.notice.clone().expect("notice");
    assert!(notice.error, "{notice:?}");
    assert!(
        notice.text.contains("Salvataggio non riuscito")
            && notice
                .text
                .contains("/srv/www/urp/faccia-2026-10.csv: Permission denied"),
        "{notice:?}"
    );
}

#[test]
fn report_keys_come_from_the_config_file() {
    let file = ConfigFile::parse(
        "[bindings]\nview-reports = \"f6\"\nprevious-period = \"[\"\nnext-period = \"]\"\nsave-html = \"w\"\n",
    )
    .expect("config");
    let settings = Settings::merge(&ConsoleArgs::default(), file).expect("settings");
    let mut a = App::new(&settings, common::now());
    assert!(press(&mut a, KeyCode::Char('6')).is_empty());
    assert_eq!(press(&mut a, KeyCode::F(6)), vec![fetch(2026, 11)]);
    assert_eq!(press(&mut a, KeyCode::Char('[')), vec![fetch(2026, 10)]);
    assert!(press(&mut a, KeyCode::Left).is_empty());
    assert!(press(&mut a, KeyCode::Char('s')).is_empty());
    assert!(matches!(
        press(&mut a, KeyCode::Char('w')).as_slice(),
        [Command::SaveReport { .. }]
    ));
}
