//! Fixed data for the console tests: one office on Monday 23 November 2026 at 11:15 in Rome.
#![allow(dead_code)]

use chrono::{DateTime, TimeZone, Utc};
use faccia_console::config::Settings;
use faccia_console::model::{App, ConnState, Msg, YearMonth};
use faccia_console::views;
use faccia_console::Lang;
use faccia_proto::v1::vote_session::KeypadState;
use faccia_proto::v1::*;
use faccia_proto::Timestamp;
use ratatui::backend::TestBackend;
use ratatui::Terminal;

/// 11:15 in Rome (UTC+1 in November).
pub fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 23, 10, 15, 0)
        .single()
        .expect("valid")
}

/// A timestamp at a local (Rome) time of the fixture's day.
pub fn local(h: u32, m: u32, s: u32) -> Option<Timestamp> {
    let t = Utc
        .with_ymd_and_hms(2026, 11, 23, h - 1, m, s)
        .single()
        .expect("valid");
    Some(Timestamp {
        seconds: t.timestamp(),
        nanos: 0,
    })
}

pub fn faces(g: u32, y: u32, r: u32, reasons: [u32; 5]) -> Option<FaceCounts> {
    Some(FaceCounts {
        green: g,
        yellow: y,
        red: r,
        reasons: reasons.to_vec(),
    })
}

#[allow(clippy::too_many_arguments)]
fn counter(
    id: &str,
    name: &str,
    activity: i32,
    ticket: &str,
    service: &str,
    served: u32,
    avg: Option<f64>,
    votes: (u32, u32, u32),
    keypad: KeypadLink,
) -> Counter {
    Counter {
        id: id.into(),
        name: name.into(),
        configured: true,
        activity,
        ticket_display: ticket.into(),
        service_code: service.into(),
        served_today: served,
        avg_service_s: avg,
        votes_today: faces(votes.0, votes.1, votes.2, [0; 5]),
        keypad: keypad as i32,
        session_open: false,
        operator_ref: String::new(),
    }
}

fn slots(peak: u32) -> Vec<u32> {
    // Closed until 8:30, a morning peak around 10, quieter after; zero after 11:15 (not yet).
    (0..96u32)
        .map(|i| {
            if !(34..=45).contains(&i) {
                0
            } else {
                let d = i.abs_diff(40);
                peak.saturating_sub(d * peak / 7)
            }
        })
        .collect()
}

pub fn snapshot() -> Snapshot {
    let mut unconfigured = counter(
        "9",
        "",
        3,
        "C007",
        "C",
        2,
        Some(240.0),
        (1, 0, 0),
        KeypadLink::KeypadNone,
    );
    unconfigured.configured = false;
    Snapshot {
        site: Some(Site {
            id: "sassuolo-urp".into(),
            name: "Comune di Sassuolo – URP".into(),
            time_zone: "Europe/Rome".into(),
        }),
        at: Some(Timestamp {
            seconds: now().timestamp(),
            nanos: 0,
        }),
        last_seq: 1234,
        today: Some(Totals {
            served: 120,
            waiting_now: 14,
            avg_wait_s: Some(504.0),
            votes: faces(72, 11, 7, [2, 3, 1, 1, 0]),
            sessions_open: 1,
            no_show: 3,
        }),
        counters: vec![
            counter(
                "1",
                "Sportello 1",
                4,
                "A042",
                "A",
                31,
                Some(372.0),
                (20, 3, 1),
                KeypadLink::KeypadOnline,
            ),
            counter(
                "2",
                "Sportello 2",
                3,
                "B017",
                "B",
                27,
                Some(410.5),
                (18, 2, 2),
                KeypadLink::KeypadOnline,
            ),
            counter(
                "3",
                "Sportello 3",
                2,
                "",
                "",
                24,
                Some(298.0),
                (15, 4, 0),
                KeypadLink::KeypadOnline,
            ),
            counter(
                "4",
                "Sportello 4 – Anagrafe e stato civile",
                4,
                "A039",
                "A",
                22,
                Some(455.0),
                (12, 1, 4),
                KeypadLink::KeypadOffline,
            ),
            counter(
                "5",
                "Sportello 5",
                1,
                "",
                "",
                14,
                None,
                (6, 1, 0),
                KeypadLink::KeypadUnknown,
            ),
            unconfigured,
        ],
        services: vec![
            Service {
                code: "A".into(),
                name: "Anagrafe".into(),
                configured: true,
                standard_wait_min: Some(20),
                waiting_now: 9,
                longest_wait_s: 2040,
                avg_wait_s: Some(690.0),
                p90_wait_s: Some(1500.0),
                within_standard_pct: Some(82.35),
                served_today: 61,
                waiting_by_slot: slots(14),
                called_today: 63,
            },
            Service {
                code: "B".into(),
                name: "Tributi".into(),
                configured: true,
                standard_wait_min: Some(30),
                waiting_now: 4,
                longest_wait_s: 610,
                avg_wait_s: Some(320.0),
                p90_wait_s: Some(700.0),
                within_standard_pct: Some(100.0),
                served_today: 41,
                waiting_by_slot: slots(6),
                called_today: 41,
            },
            Service {
                code: "C".into(),
                name: "".into(),
                configured: false,
                standard_wait_min: None,
                waiting_now: 1,
                longest_wait_s: 45,
                avg_wait_s: None,
                p90_wait_s: None,
                within_standard_pct: None,
                served_today: 18,
                waiting_by_slot: vec![],
                called_today: 18,
            },
        ],
        keypads: vec![
            Keypad {
                counter_id: "1".into(),
                bus: "/dev/ttyUSB0".into(),
                unit_id: 1,
                link: KeypadLink::KeypadOnline as i32,
                since: local(8, 2, 10),
                last_seen: local(11, 14, 59),
                rtt_median_ms: Some(12.0),
                rtt_p99_ms: Some(41.0),
                timeouts: 2,
                crc_errors: 0,
                exceptions: 0,
                reboots: 0,
                faults: 0,
                ignored_presses: 3,
                firmware: "1.4".into(),
                serial_no: "FK3-001234".into(),
                polls: 0,
                ignored_presses_recent: 0,
                ..Default::default()
            },
            Keypad {
                counter_id: "2".into(),
                bus: "/dev/ttyUSB0".into(),
                unit_id: 2,
                link: KeypadLink::KeypadOnline as i32,
                since: local(8, 2, 10),
                last_seen: local(11, 14, 59),
                rtt_median_ms: Some(13.5),
                rtt_p99_ms: Some(48.0),
                timeouts: 0,
                crc_errors: 1,
                exceptions: 0,
                reboots: 1,
                faults: 0b100_0100,
                ignored_presses: 27,
                firmware: "1.4".into(),
                serial_no: "FK3-001235".into(),
                polls: 0,
                ignored_presses_recent: 0,
                ..Default::default()
            },
            Keypad {
                counter_id: "4".into(),
                bus: "/dev/ttyUSB1".into(),
                unit_id: 4,
                link: KeypadLink::KeypadOffline as i32,
                since: local(10, 58, 0),
                last_seen: local(10, 57, 58),
                rtt_median_ms: None,
                rtt_p99_ms: None,
                timeouts: 412,
                crc_errors: 3,
                exceptions: 0,
                reboots: 2,
                faults: 0b1000,
                ignored_presses: 0,
                firmware: "1.3".into(),
                serial_no: "FK3-000987".into(),
                polls: 0,
                ignored_presses_recent: 0,
                ..Default::default()
            },
            Keypad {
                counter_id: "5".into(),
                bus: "/dev/ttyUSB1".into(),
                unit_id: 5,
                link: KeypadLink::KeypadUnknown as i32,
                since: None,
                last_seen: None,
                rtt_median_ms: None,
                rtt_p99_ms: None,
                timeouts: 0,
                crc_errors: 0,
                exceptions: 0,
                reboots: 0,
                faults: 0,
                ignored_presses: 0,
                firmware: String::new(),
                serial_no: String::new(),
                polls: 0,
                ignored_presses_recent: 0,
                ..Default::default()
            },
        ],
        alerts: vec![
            Alert {
                kind: AlertKind::AlertKeypadOffline as i32,
                subject: "4".into(),
                since: local(10, 58, 0),
                value: 17.0,
                threshold: 2.0,
            },
            Alert {
                kind: AlertKind::AlertWaitOverStandard as i32,
                subject: "A".into(),
                since: local(10, 40, 0),
                value: 34.0,
                threshold: 20.0,
            },
            Alert {
                kind: AlertKind::AlertRedShare as i32,
                subject: "4".into(),
                since: local(11, 5, 0),
                value: 57.1,
                threshold: 50.0,
            },
            Alert {
                kind: AlertKind::AlertIgnoredPresses as i32,
                subject: "2".into(),
                since: local(11, 0, 0),
                value: 27.0,
                threshold: 20.0,
            },
            Alert {
                kind: AlertKind::AlertUnconfigured as i32,
                subject: "9".into(),
                since: local(9, 12, 0),
                value: 0.0,
                threshold: 0.0,
            },
        ],
        operator_data_enabled: false,
    }
}

fn keyed(key: &str, name: &str, f: Option<FaceCounts>, served: u32) -> KeyedFaces {
    KeyedFaces {
        key: key.into(),
        name: name.into(),
        faces: f,
        served,
    }
}

pub fn satisfaction(period: Period) -> Satisfaction {
    let k = match period {
        Period::Week => 5,
        Period::Month => 21,
        _ => 1,
    };
    // As the server sends them: [start, end) of the day, the week and the month.
    // Local midnight of 23/11 (local(1, 0, 0) is 01:00), plus whole days.
    let day_after = |t: Option<Timestamp>, days: i64| {
        t.map(|t| Timestamp {
            seconds: t.seconds - 3_600 + days * 86_400,
            nanos: 0,
        })
    };
    let (from, to) = match period {
        Period::Week => (
            local(1, 0, 0).map(|t| Timestamp {
                seconds: t.seconds,
                nanos: 0,
            }),
            day_after(local(1, 0, 0), 7),
        ),
        Period::Month => (
            Some(Timestamp {
                seconds: Utc
                    .with_ymd_and_hms(2026, 10, 31, 23, 0, 0)
                    .single()
                    .expect("valid")
                    .timestamp(),
                nanos: 0,
            }),
            Some(Timestamp {
                seconds: Utc
                    .with_ymd_and_hms(2026, 11, 30, 23, 0, 0)
                    .single()
                    .expect("valid")
                    .timestamp(),
                nanos: 0,
            }),
        ),
        _ => (local(1, 0, 0), day_after(local(1, 0, 0), 1)),
    };
    Satisfaction {
        period: period as i32,
        from,
        to,
        total: faces(72 * k, 11 * k, 7 * k, [2 * k, 3 * k, k, k, 0]),
        served: 120 * k,
        by_counter: vec![
            keyed("1", "Sportello 1", faces(20 * k, 3 * k, k, [0; 5]), 31 * k),
            keyed(
                "2",
                "Sportello 2",
                faces(18 * k, 2 * k, 2 * k, [0; 5]),
                27 * k,
            ),
            keyed("3", "Sportello 3", faces(15 * k, 4 * k, 0, [0; 5]), 24 * k),
            keyed(
                "4",
                "Sportello 4 – Anagrafe e stato civile",
                faces(12 * k, k, 4 * k, [0; 5]),
                22 * k,
            ),
            keyed("5", "Sportello 5", faces(6 * k, k, 0, [0; 5]), 14 * k),
            keyed("9", "", faces(k, 0, 0, [0; 5]), 2 * k),
        ],
        by_service: vec![
            keyed("A", "Anagrafe", faces(40 * k, 5 * k, 5 * k, [0; 5]), 61 * k),
            keyed("B", "Tributi", faces(30 * k, 5 * k, 2 * k, [0; 5]), 41 * k),
            keyed("C", "", faces(2 * k, k, 0, [0; 5]), 18 * k),
        ],
        by_channel: vec![
            keyed(
                "counter",
                "Sportello",
                faces(72 * k, 11 * k, 7 * k, [0; 5]),
                120 * k,
            ),
            keyed("phone", "Telefono", faces(0, 0, 0, [0; 5]), 0),
            keyed("web", "Web", faces(0, 0, 0, [0; 5]), 0),
        ],
    }
}

pub fn events() -> Vec<LogEvent> {
    let ev = |seq: u64, at: Option<Timestamp>, kind: LogKind| LogEvent {
        seq,
        at,
        kind: kind as i32,
        source_id: "novosga-sede".into(),
        ..Default::default()
    };
    let mut out = Vec::new();
    let mut e = ev(1221, local(11, 10, 2), LogKind::LogTicketEvent);
    e.ticket_event = EventType::Issued as i32;
    e.display_number = "A051".into();
    e.service_code = "A".into();
    out.push(e);
    let mut e = ev(1222, local(11, 11, 40), LogKind::LogTicketEvent);
    e.ticket_event = EventType::Called as i32;
    e.display_number = "A042".into();
    e.service_code = "A".into();
    e.counter_id = "1".into();
    out.push(e);
    let mut e = ev(1223, local(11, 12, 5), LogKind::LogTicketEvent);
    e.ticket_event = EventType::Served as i32;
    e.display_number = "B016".into();
    e.service_code = "B".into();
    e.counter_id = "2".into();
    out.push(e);
    let mut e = ev(1224, local(11, 12, 5), LogKind::LogSessionOpened);
    e.counter_id = "2".into();
    e.display_number = "B016".into();
    e.session_id = "s-88".into();
    // The server's English note is never shown: the typed facts are.
    e.detail = "keypad ARMED".into();
    e.facts = Some(LogFacts {
        keypad: KeypadState::Armed as i32,
        ..Default::default()
    });
    out.push(e);
    let mut e = ev(1225, local(11, 12, 19), LogKind::LogVoteRecorded);
    e.counter_id = "2".into();
    e.session_id = "s-88".into();
    e.detail = "face=3".into(); // must never be shown
    out.push(e);
    let mut e = ev(1226, local(11, 12, 19), LogKind::LogSessionEnded);
    e.counter_id = "2".into();
    e.outcome = SessionOutcome::SessionVoted as i32;
    out.push(e);
    let mut e = ev(1227, local(11, 13, 0), LogKind::LogKeypad);
    e.counter_id = "4".into();
    e.detail = "keypad offline".into();
    e.facts = Some(LogFacts {
        reason: LogReason::ReasonKeypadOffline as i32,
        ..Default::default()
    });
    out.push(e);
    let mut e = ev(1228, local(11, 13, 30), LogKind::LogTicketEvent);
    e.ticket_event = EventType::CounterClosed as i32;
    e.counter_id = "5".into();
    out.push(e);
    let mut e = ev(1229, local(11, 14, 0), LogKind::LogReconcile);
    e.detail = "repaired from the queue system's snapshot: was open, now closed".into();
    e.counter_id = "6".into();
    e.facts = Some(LogFacts {
        was_open: true,
        now_open: false,
        ..Default::default()
    });
    out.push(e);
    let mut e = ev(1230, local(11, 14, 30), LogKind::LogOrphanVote);
    e.counter_id = "3".into();
    e.detail = "a keypad reported a vote with token 7 that matches no session".into();
    e.facts = Some(LogFacts {
        reason: LogReason::ReasonNoSession as i32,
        token: 7,
        ..Default::default()
    });
    out.push(e);
    let mut e = ev(1231, local(11, 14, 45), LogKind::LogTicketEvent);
    e.ticket_event = EventType::NoShow as i32;
    e.display_number = "A040".into();
    e.service_code = "A".into();
    e.counter_id = "4".into();
    out.push(e);
    let mut e = ev(1232, local(11, 14, 50), LogKind::LogSessionEnded);
    e.counter_id = "1".into();
    e.outcome = SessionOutcome::SessionExpired as i32;
    e.detail = "the vote window ran out".into();
    e.facts = Some(LogFacts {
        reason: LogReason::ReasonWindowRanOut as i32,
        ..Default::default()
    });
    out.push(e);
    out
}

#[allow(clippy::too_many_arguments)]
pub fn report_faces(
    green: u64,
    yellow: u64,
    red: u64,
    tenths: [Option<u32>; 3],
    reasons: [u64; 4],
    reason_tenths: &[u32],
    without: u64,
) -> Option<ReportFaces> {
    Some(ReportFaces {
        votes: green.saturating_add(yellow).saturating_add(red),
        green,
        yellow,
        red,
        reasons: reasons.to_vec(),
        red_without_reason: without,
        green_tenths: tenths[0],
        yellow_tenths: tenths[1],
        red_tenths: tenths[2],
        reason_tenths: reason_tenths.to_vec(),
        // Test data, rounded half up as the server does.
        red_without_reason_tenths: (red > 0).then(|| {
            let (w, r) = (u128::from(without), u128::from(red));
            u32::try_from((w * 2000 + r) / (2 * r)).unwrap_or(u32::MAX)
        }),
    })
}

fn group(
    code: &str,
    name: &str,
    served: Option<u64>,
    faces: (u64, u64, u64),
    tenths: [Option<u32>; 3],
    participation: Option<u32>,
) -> ReportGroup {
    ReportGroup {
        code: code.into(),
        name: name.into(),
        served,
        faces: report_faces(faces.0, faces.1, faces.2, tenths, [0; 4], &[], 0),
        participation_tenths: participation,
    }
}

/// November 2026 of the fixture's office, as the server's Reports.GetMonthly would send it.
/// Every share was computed by the domain rule (tenths, half up) from the counts.
pub fn monthly_report(lang: Lang) -> MonthlyReport {
    let summary = match lang {
        Lang::It => {
            "A novembre 2026 l'ufficio ha servito 2520 utenti; 1890 hanno espresso un giudizio \
             (partecipazione 75,0%): 80,0% verde, 12,2% giallo, 7,8% rosso."
        }
        Lang::En => {
            "In November 2026 the office served 2520 users; 1890 gave a judgement \
             (participation 75.0%): 80.0% green, 12.2% yellow, 7.8% red."
        }
    };
    MonthlyReport {
        month: "2026-11".into(),
        site_id: "sassuolo-urp".into(),
        site_name: "Comune di Sassuolo – URP".into(),
        time_zone: "Europe/Rome".into(),
        served: 2520,
        faces: report_faces(
            1512,
            231,
            147,
            [Some(800), Some(122), Some(78)],
            [62, 31, 24, 20],
            &[422, 211, 163, 136],
            10,
        ),
        participation_tenths: Some(750),
        by_counter: vec![
            group(
                "1",
                "Sportello 1",
                Some(651),
                (410, 52, 31),
                [Some(832), Some(105), Some(63)],
                Some(757),
            ),
            group(
                "2",
                "Sportello 2",
                Some(567),
                (352, 61, 28),
                [Some(798), Some(138), Some(63)],
                Some(778),
            ),
            group(
                "3",
                "Sportello 3",
                Some(504),
                (330, 40, 14),
                [Some(859), Some(104), Some(36)],
                Some(762),
            ),
            group(
                "4",
                "Sportello 4 – Anagrafe e stato civile",
                Some(462),
                (250, 50, 58),
                [Some(698), Some(140), Some(162)],
                Some(775),
            ),
            group(
                "5",
                "Sportello 5",
                Some(336),
                (170, 28, 16),
                [Some(794), Some(131), Some(75)],
                Some(637),
            ),
        ],
        by_service: vec![
            group(
                "A",
                "Anagrafe",
                Some(1290),
                (750, 130, 100),
                [Some(765), Some(133), Some(102)],
                Some(760),
            ),
            group(
                "B",
                "Tributi",
                Some(860),
                (620, 70, 30),
                [Some(861), Some(97), Some(42)],
                Some(837),
            ),
            group(
                "C",
                "",
                Some(370),
                (142, 31, 17),
                [Some(747), Some(163), Some(89)],
                Some(514),
            ),
        ],
        by_channel: vec![
            group(
                "COUNTER",
                "",
                Some(2520),
                (1512, 231, 147),
                [Some(800), Some(122), Some(78)],
                Some(750),
            ),
            group("PHONE", "", None, (0, 0, 0), [None, None, None], None),
            group("WEB", "", None, (0, 0, 0), [None, None, None], None),
        ],
        waiting: vec![
            ReportWaiting {
                service_code: "A".into(),
                name: "Anagrafe".into(),
                standard_min: Some(20),
                counted: 1290,
                left_out: 12,
                avg_ms: Some(690_000.0),
                p90_ms: Some(1_500_000),
                within: Some(1062),
                within_tenths: Some(823),
                met: Some(false),
            },
            ReportWaiting {
                service_code: "B".into(),
                name: "Tributi".into(),
                standard_min: Some(30),
                counted: 860,
                left_out: 3,
                avg_ms: Some(320_000.0),
                p90_ms: Some(700_000),
                within: Some(860),
                within_tenths: Some(1000),
                met: Some(true),
            },
            ReportWaiting {
                service_code: "C".into(),
                name: String::new(),
                standard_min: None,
                counted: 370,
                left_out: 0,
                avg_ms: Some(48_000.0),
                p90_ms: Some(95_000),
                within: None,
                within_tenths: None,
                met: None,
            },
        ],
        previous_month: "2026-10".into(),
        previous_served: 2400,
        previous_faces: report_faces(
            1423,
            212,
            135,
            [Some(804), Some(120), Some(76)],
            [60, 30, 25, 12],
            &[444, 222, 185, 89],
            8,
        ),
        previous_participation_tenths: Some(738),
        participation_change_tenths: Some(12),
        green_change_tenths: Some(-4),
        yellow_change_tenths: Some(2),
        red_change_tenths: Some(2),
        summary: summary.into(),
        target_tenths: 900,
        // The snapshot's clock is 23 November 2026: the month is still running.
        month_complete: false,
        generated_at: Some(prost_types::Timestamp {
            seconds: 1_795_443_300,
            nanos: 0,
        }),
    }
}

/// November 2026, the fixture's month.
pub fn november() -> YearMonth {
    YearMonth::new(2026, 11).expect("valid")
}

/// The app with everything loaded, as a connected console would have it.
pub fn app(lang: Lang) -> App {
    let settings = Settings {
        lang,
        ..Settings::default()
    };
    let mut app = App::new(&settings, now());
    app.apply(Msg::Snapshot(Box::new(snapshot())));
    for p in [Period::Today, Period::Week, Period::Month] {
        app.apply(Msg::Satisfaction(Box::new(satisfaction(p))));
    }
    app.apply(Msg::Events(events()));
    app.site_mut().reports.show(november());
    app.apply(Msg::Monthly {
        month: november(),
        result: Ok(Box::new(monthly_report(lang))),
    });
    app.apply(Msg::StreamUp { resumed_from: None });
    assert_eq!(app.site().conn, ConnState::Connected);
    app
}

/// The screen as text, one line per row.
pub fn draw(app: &App, w: u16, h: u16) -> String {
    let mut terminal = Terminal::new(TestBackend::new(w, h)).expect("test backend");
    terminal.draw(|f| views::render(f, app)).expect("draw");
    let buf = terminal.backend().buffer();
    let mut out = String::new();
    for y in 0..buf.area.height {
        let mut line = String::new();
        for x in 0..buf.area.width {
            line.push_str(buf[(x, y)].symbol());
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}
