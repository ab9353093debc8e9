//! Whole-app render tests on ratatui's TestBackend, from fixed data and a fixed clock.

mod common;

use common::{app, draw};
use faccia_console::keymap::Action;
use faccia_console::model::{ApiError, ApiErrorKind, App, Msg, View};
use faccia_console::Lang;
use faccia_proto::v1::*;

const SIZES: [(u16, u16); 2] = [(80, 24), (160, 48)];

fn view_name(v: View) -> &'static str {
    match v {
        View::Overview => "overview",
        View::Queues => "queues",
        View::Satisfaction => "satisfaction",
        View::Keypads => "keypads",
        View::Events => "events",
        View::Reports => "reports",
        View::Sites => "sites",
    }
}

#[test]
fn every_view_in_both_languages_and_sizes() {
    for lang in [Lang::It, Lang::En] {
        for view in View::ALL {
            for (w, h) in SIZES {
                let mut a = app(lang);
                a.view = view;
                let name = format!(
                    "{}_{}_{w}x{h}",
                    view_name(view),
                    match lang {
                        Lang::It => "it",
                        Lang::En => "en",
                    }
                );
                insta::assert_snapshot!(name, draw(&a, w, h));
            }
        }
    }
}

#[test]
fn satisfaction_week_and_month() {
    let mut a = app(Lang::It);
    a.view = View::Satisfaction;
    a.act(Action::NextPeriod);
    let week = draw(&a, 80, 24);
    assert!(week.contains("dal 23/11/2026"), "{week}");
    assert!(week.contains("Giudizi 450"), "{week}");
    a.act(Action::NextPeriod);
    insta::assert_snapshot!("satisfaction_month_it_80x24", draw(&a, 80, 24));
}

#[test]
fn overlays() {
    let mut a = app(Lang::It);
    a.act(Action::Help);
    insta::assert_snapshot!("help_it_80x24", draw(&a, 80, 24));
    let mut a = app(Lang::En);
    a.act(Action::Alerts);
    insta::assert_snapshot!("alerts_en_160x48", draw(&a, 160, 48));
    let mut a = app(Lang::It);
    a.view = View::Keypads;
    a.act(Action::Down);
    a.act(Action::Down);
    a.act(Action::SelfTest);
    insta::assert_snapshot!("confirm_selftest_it_80x24", draw(&a, 80, 24));
}

#[test]
fn words_alerts_and_connection_in_the_user_language() {
    let it = draw(&app(Lang::It), 160, 48);
    assert!(
        it.contains("Pulsantiera dello sportello 4 non raggiungibile dalle 10:58"),
        "{it}"
    );
    assert!(
        it.contains("Servizio A: attesa di 34 min, oltre lo standard di 20 min"),
        "{it}"
    );
    assert!(it.contains("● Connesso"), "{it}");
    assert!(it.contains("Partecipazione 75,0%"), "{it}");
    let en = draw(&app(Lang::En), 160, 48);
    assert!(
        en.contains("Keypad at counter 4 offline since 10:58"),
        "{en}"
    );
    assert!(en.contains("Participation 75.0%"), "{en}");

    let mut a = app(Lang::It);
    a.apply(Msg::StreamDown {
        attempt: 3,
        error: ApiError {
            kind: ApiErrorKind::Unavailable,
            message: String::new(),
        },
    });
    let s = draw(&a, 160, 48);
    assert!(
        s.contains("Connessione persa, riconnessione… (tentativo 3)"),
        "{s}"
    );
    assert!(s.contains("Server non raggiungibile (UNAVAILABLE)"), "{s}");
    a.apply(Msg::StreamUp {
        resumed_from: Some(1234),
    });
    let s = draw(&a, 160, 48);
    assert!(s.contains("Riconnesso, ripreso da #1234"), "{s}");

    let mut a = App::new(&faccia_console::config::Settings::default(), common::now());
    a.apply(Msg::StreamDown {
        attempt: 1,
        error: ApiError {
            kind: ApiErrorKind::Unauthenticated,
            message: "bad token".into(),
        },
    });
    let s = draw(&a, 80, 24);
    assert!(
        s.contains("Accesso negato: token mancante o non valido (UNAUTHENTICATED)"),
        "{s}"
    );
    insta::assert_snapshot!("unauthenticated_it_80x24", s);
}

#[test]
fn alert_subjects_may_name_their_kind() {
    let mut snap = common::snapshot();
    snap.alerts = vec![
        Alert {
            kind: AlertKind::AlertUnconfigured as i32,
            subject: "service:Z".into(),
            ..Default::default()
        },
        Alert {
            kind: AlertKind::AlertUnconfigured as i32,
            subject: "counter:7".into(),
            ..Default::default()
        },
    ];
    let mut a = app(Lang::It);
    a.apply(Msg::Snapshot(Box::new(snap)));
    a.act(Action::Alerts);
    let s = draw(&a, 160, 48);
    assert!(
        s.contains("Servizio Z usato dall'eliminacode ma non configurato"),
        "{s}"
    );
    assert!(
        s.contains("Sportello 7 usato dall'eliminacode ma non configurato"),
        "{s}"
    );
}

#[test]
fn privacy_no_face_of_a_single_vote_and_no_operator_unless_enabled() {
    let mut a = app(Lang::En);
    a.view = View::Events;
    let s = draw(&a, 160, 48);
    assert!(s.contains("vote recorded, counter 2"), "{s}");
    assert!(!s.contains("face=3"), "{s}");
    let mut snap = common::snapshot();
    snap.counters[0].operator_ref = "op-rossi".into();
    a.view = View::Overview;
    a.apply(Msg::Snapshot(Box::new(snap.clone())));
    assert!(!draw(&a, 160, 48).contains("op-rossi"));
    snap.operator_data_enabled = true;
    a.apply(Msg::Snapshot(Box::new(snap)));
    let s = draw(&a, 160, 48);
    assert!(s.contains("op-rossi") && s.contains("Operator"), "{s}");
}

fn odd_snapshot() -> Snapshot {
    let mut s = common::snapshot();
    let long = "Sportello con un nome lunghissimo che non entra in nessuna colonna ".repeat(5);
    s.site = Some(Site {
        id: String::new(),
        name: long.clone(),
        time_zone: "Not/AZone".into(),
    });
    if let Some(t) = s.today.as_mut() {
        t.served = u32::MAX;
        t.waiting_now = u32::MAX;
        t.avg_wait_s = Some(f64::INFINITY);
        t.votes = common::faces(u32::MAX, u32::MAX, u32::MAX, [u32::MAX; 5]);
    }
    for c in &mut s.counters {
        c.name = long.clone();
        c.served_today = u32::MAX;
        c.avg_service_s = Some(f64::NAN);
        c.activity = 99;
        c.keypad = -4;
    }
    for v in &mut s.services {
        v.longest_wait_s = u32::MAX;
        v.avg_wait_s = Some(1e300);
        v.within_standard_pct = Some(-5.0);
        v.waiting_by_slot = vec![u32::MAX; 500];
    }
    for k in &mut s.keypads {
        k.since = Some(faccia_proto::Timestamp {
            seconds: i64::MIN,
            nanos: -5,
        });
        k.last_seen = Some(faccia_proto::Timestamp {
            seconds: 253_402_300_000,
            nanos: 0,
        });
        k.timeouts = u64::MAX;
        k.crc_errors = u64::MAX;
        k.faults = u32::MAX;
        k.rtt_median_ms = Some(f64::NAN);
    }
    for a in &mut s.alerts {
        a.value = f64::NAN;
        a.kind = 77;
    }
    s
}

#[test]
fn never_panics_on_odd_data_or_tiny_terminals() {
    let sizes = [
        (0, 0),
        (1, 1),
        (10, 3),
        (39, 9),
        (40, 10),
        (41, 12),
        (60, 15),
        (80, 24),
        (300, 80),
    ];
    for lang in [Lang::It, Lang::En] {
        // Empty: nothing loaded yet.
        let mut empty = App::new(
            &faccia_console::config::Settings {
                lang,
                ..Default::default()
            },
            common::now(),
        );
        // Odd: huge numbers, long names, unknown enum values, bad timestamps.
        let mut odd = app(lang);
        odd.apply(Msg::Snapshot(Box::new(odd_snapshot())));
        let mut weird_sat = common::satisfaction(Period::Today);
        weird_sat.total = common::faces(u32::MAX, u32::MAX, 0, [u32::MAX; 5]);
        weird_sat.by_counter[0].name = "x".repeat(1000);
        weird_sat.from = None;
        odd.apply(Msg::Satisfaction(Box::new(weird_sat)));
        let mut weird_report = common::monthly_report(lang);
        weird_report.summary = "parola ".repeat(2000) + &"x".repeat(5000);
        weird_report.served = u64::MAX;
        weird_report.faces = common::report_faces(
            u64::MAX,
            u64::MAX,
            u64::MAX,
            [Some(u32::MAX), Some(u32::MAX), None],
            [u64::MAX; 4],
            &[u32::MAX],
            u64::MAX,
        );
        weird_report.green_change_tenths = Some(i32::MIN);
        weird_report.previous_month = "not a month".into();
        weird_report.by_counter[0].name = "y".repeat(1000);
        weird_report.by_channel[1].code = "CARRIER_PIGEON".into();
        for w in &mut weird_report.waiting {
            w.avg_ms = Some(f64::NAN);
            w.p90_ms = Some(i64::MIN);
            w.standard_min = Some(u32::MAX);
        }
        odd.apply(Msg::Monthly {
            month: common::november(),
            result: Ok(Box::new(weird_report)),
        });
        // Empty lists.
        let mut bare = app(lang);
        bare.apply(Msg::Snapshot(Box::default()));
        bare.apply(Msg::Satisfaction(Box::default()));
        bare.apply(Msg::Monthly {
            month: common::november(),
            result: Ok(Box::default()),
        });
        for a in [&mut empty, &mut odd, &mut bare] {
            for view in View::ALL {
                a.view = view;
                for (w, h) in sizes {
                    let s = draw(a, w, h);
                    if w >= 40 && h >= 10 {
                        assert!(s.lines().count() == usize::from(h));
                    }
                }
                a.act(Action::Bottom);
                a.act(Action::Help);
                let _ = draw(a, 50, 12);
                a.act(Action::ClearFilter);
                a.mode = faccia_console::model::Mode::Normal;
            }
        }
    }
    let s = draw(&app(Lang::It), 20, 5);
    assert!(s.starts_with("Finestra troppo pic"), "{s}");
}

#[test]
fn selection_scrolls_long_lists() {
    let mut snap = common::snapshot();
    let template = snap.counters[0].clone();
    snap.counters = (1..=200)
        .map(|i| Counter {
            id: i.to_string(),
            name: format!("Sportello {i}"),
            ..template.clone()
        })
        .collect();
    let mut a = app(Lang::It);
    a.apply(Msg::Snapshot(Box::new(snap)));
    a.act(Action::Bottom);
    let s = draw(&a, 80, 24);
    assert!(s.contains("Sportello 200"), "{s}");
    assert!(!s.contains("Sportello 1 "), "{s}");
    a.act(Action::Top);
    let s = draw(&a, 80, 24);
    assert!(s.contains("Sportello 1 "), "{s}");
    assert!(!s.contains("Sportello 30 "), "{s}");
    // A page is the rows the last frame showed.
    let rows = a.page_rows.get();
    a.act(Action::PageDown);
    assert_eq!(a.selected[0], rows);
    let s = draw(&a, 80, 24);
    assert!(s.contains(&format!("Sportello {} ", rows + 1)), "{s}");
}

#[test]
fn reports_scroll_to_the_waiting_times() {
    let mut a = app(Lang::It);
    a.view = View::Reports;
    let top = draw(&a, 80, 24);
    assert!(top.contains("Partecipazione 75,0%"), "{top}");
    assert!(top.contains("Verde 1512 (80,0%)"), "{top}");
    assert!(top.contains("Tempo di attesa"), "{top}");
    a.act(Action::Bottom);
    let bottom = draw(&a, 80, 24);
    assert!(bottom.contains("82,3%  ⚠ sotto l'obiettivo"), "{bottom}");
    assert!(bottom.contains("nessuno standard dichiarato"), "{bottom}");
    insta::assert_snapshot!("reports_bottom_it_80x24", bottom);
    let mut e = app(Lang::En);
    e.view = View::Reports;
    let wide = draw(&e, 160, 48);
    assert!(wide.contains("no declared standard"), "{wide}");
    assert!(wide.contains("below target"), "{wide}");
    assert!(wide.contains("+1.2"), "{wide}");
}

/// Two offices of one body in two time zones, reached through one server: Sassuolo (the
/// fixture's office) and a consulate in New York with its own figures.
fn two_offices(lang: Lang) -> App {
    use faccia_console::model::DiscoveredSite;
    let settings = faccia_console::config::Settings {
        lang,
        ..faccia_console::config::Settings::default()
    };
    let mut a = App::new(&settings, common::now());
    let rome = common::snapshot();
    let mut ny = common::snapshot();
    ny.site = Some(Site {
        id: "nyc-consolato".into(),
        name: "Consolato di New York".into(),
        time_zone: "America/New_York".into(),
    });
    if let Some(t) = ny.today.as_mut() {
        t.served = 33;
        t.waiting_now = 2;
        t.votes = common::faces(20, 3, 2, [1, 0, 1, 0, 0]);
    }
    ny.counters.truncate(2);
    let sites = [&rome, &ny]
        .iter()
        .map(|s| {
            let site = s.site.clone().expect("site");
            DiscoveredSite {
                key: site.id.clone(),
                request_id: site.id.clone(),
                site,
            }
        })
        .collect();
    a.apply(Msg::Sites { server: 0, sites });
    for snap in [rome, ny] {
        let id = snap.site.as_ref().expect("site").id.clone();
        a.apply(Msg::of(&id, Msg::Snapshot(Box::new(snap))));
        a.apply(Msg::of(&id, Msg::StreamUp { resumed_from: None }));
    }
    a
}

#[test]
fn all_offices_side_by_side_each_in_its_own_time_zone() {
    for (lang, (w, h)) in [
        (Lang::It, (160, 48)),
        (Lang::En, (80, 24)),
        (Lang::It, (80, 24)),
    ] {
        let mut a = two_offices(lang);
        assert!(a.several());
        a.act(Action::ViewSites);
        assert_eq!(a.view, View::Sites);
        let s = draw(&a, w, h);
        let l = if lang == Lang::It { "it" } else { "en" };
        insta::assert_snapshot!(format!("sites_{l}_{w}x{h}"), s.clone());
        let row = |name: &str| {
            s.lines()
                .find(|l| l.starts_with('●') && l.contains(name))
                .unwrap_or_else(|| panic!("no row for {name}:\n{s}"))
                .to_string()
        };
        // Each row is its office's own figures, its clock its own zone's (10:15 UTC).
        let (sassuolo, ny) = (row("Comune di"), row("Consolato"));
        assert!(
            sassuolo.contains("11:15") && sassuolo.contains("120"),
            "{sassuolo}"
        );
        assert!(ny.contains("05:15") && ny.contains("33"), "{ny}");
        assert!(!ny.contains("120"), "{ny}");
    }
}

#[test]
fn the_office_picker_opens_the_office_chosen() {
    let mut a = two_offices(Lang::It);
    let first = draw(&a, 80, 24);
    assert!(first.contains("Comune di Sa"), "{first}");
    a.act(Action::ChooseSite);
    insta::assert_snapshot!("picker_it_80x24", draw(&a, 80, 24));
    let key = |c| crossterm::event::KeyEvent::new(c, crossterm::event::KeyModifiers::NONE);
    a.handle_key(key(crossterm::event::KeyCode::Down));
    a.handle_key(key(crossterm::event::KeyCode::Enter));
    let s = draw(&a, 160, 48);
    assert!(s.contains("Consolato di New York"), "{s}");
    assert_eq!(
        a.site()
            .snapshot
            .as_ref()
            .map(|x| x.today.as_ref().map(|t| t.served)),
        Some(Some(33))
    );
    // From the all-offices view, Enter on a row opens that office.
    a.act(Action::ViewSites);
    a.act(Action::Up);
    a.act(Action::OpenSite);
    assert_eq!(a.view, View::Overview);
    assert!(draw(&a, 160, 48).contains("Sassuolo"));
}

#[test]
fn a_totem_is_named_with_the_counters_it_serves() {
    let mut snap = common::snapshot();
    snap.keypads.push(Keypad {
        counter_id: "T1".into(),
        totem_name: "Totem ingresso".into(),
        totem_counters: vec!["2".into(), "3".into()],
        bus: "/dev/ttyUSB1".into(),
        unit_id: 9,
        link: KeypadLink::KeypadOnline as i32,
        ..Default::default()
    });
    let mut a = app(Lang::It);
    a.apply(Msg::Snapshot(Box::new(snap)));
    a.view = View::Keypads;
    let s = draw(&a, 160, 48);
    assert!(s.contains("Totem ingresso → S"), "{s}");
    // Selected, its detail gives the whole name.
    for _ in 0..5 {
        a.act(Action::Down);
    }
    let s = draw(&a, 160, 48);
    assert!(
        s.contains("Totem ingresso → Sportello 2, Sportello 3"),
        "{s}"
    );
    // A counter's keypad keeps its counter's name.
    assert!(s.contains("Sportello 1"), "{s}");
}
