//! The report rollups kept by the store's writer, through the real `Store` on SQLite and on
//! PostgreSQL (PostgreSQL must be reachable: FACCIA_TEST_PG, default
//! postgres://postgres@127.0.0.1:5432/test): what the writer maintains event by event equals a
//! rebuild from the raw rows, reports read the same figures from both, and a changed time zone
//! rebuilds them.

mod common;

use chrono_tz::Tz;
use common::*;
use diesel::prelude::*;
use faccia_domain::session::{Face, Judgement};
use faccia_domain::{EventKind, TicketEvent};
use faccia_reports::model::{self, Via};
use faccia_reports::ReportContext;
use faccia_storage::models::TicketRow;
use faccia_storage::rollup::{self, Rollups};
use faccia_storage::schema::tickets;
use faccia_storage::{system_clock, AckStatus, Rules, Store, VoteOutcome};

fn rules(tz: Tz) -> Rules {
    rules_for(&ctx_in(tz))
}

/// The test office's site.
fn site() -> String {
    ctx().site_id
}

fn open(db: &TestDb, tz: Tz) -> Store {
    Store::open(&db.url, 5_000, rules(tz), system_clock()).expect("open the store")
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime")
}

/// The events of one office, sent one by one.
struct Office {
    store: Store,
    n: usize,
}

impl Office {
    async fn send(
        &mut self,
        kind: EventKind,
        ticket: &str,
        counter: &str,
        service: &str,
        at: i64,
    ) -> faccia_storage::Ack {
        self.n += 1;
        let ev = TicketEvent {
            source_id: "queue-test".into(),
            event_id: format!("e{}", self.n),
            occurred_at: at,
            kind,
            ticket_id: ticket.into(),
            display_number: format!("{service}{:03}", self.n),
            service_code: service.into(),
            counter_id: if kind.needs_counter() {
                counter.into()
            } else {
                String::new()
            },
            operator_ref: String::new(),
            transfer_to_service: String::new(),
            priority: 0,
        };
        self.store.publish(ev).await.expect("publish")
    }

    /// SERVED, then the vote through the session it opened.
    async fn served_and_voted(
        &mut self,
        ticket: &str,
        counter: &str,
        service: &str,
        at: i64,
        face: Face,
        reason: Option<u8>,
    ) {
        let ack = self
            .send(EventKind::Served, ticket, counter, service, at)
            .await;
        assert_eq!(ack.status, AckStatus::Accepted, "{}", ack.detail);
        let session = ack.session.expect("a session");
        assert_eq!(
            session.state,
            faccia_domain::session::SessionState::Open,
            "{ticket}: {}",
            ack.detail
        );
        let token = session.token;
        let out = self
            .store
            .record_vote(token, Judgement { face, reason }, at + 15_000)
            .await
            .expect("vote");
        assert!(matches!(out, VoteOutcome::Stored(_)), "{out:?}");
    }
}

/// Rome local time of July 2026 (UTC+2).
fn july(day: i64, h: i64, m: i64) -> i64 {
    month_start(2026, 7) + (day - 1) * 86_400_000 + h * 3_600_000 + m * MINUTE
}

/// Tickets served, late events, a reset, a ticket across midnight and one just after the end of
/// July in Rome (still July in UTC).
async fn scenario(o: &mut Office) {
    use EventKind::*;
    // t1: the plain case, a wait with milliseconds.
    o.send(Issued, "t1", "1", "A", july(10, 9, 0)).await;
    o.send(Called, "t1", "1", "A", july(10, 9, 12) + 400).await;
    o.served_and_voted("t1", "1", "A", july(10, 9, 20), Face::Green, None)
        .await;
    // t2: SERVED before its CALLED arrives: no wait, then the late CALLED fills it.
    o.send(Issued, "t2", "2", "C", july(10, 9, 5)).await;
    o.served_and_voted("t2", "2", "C", july(10, 9, 30), Face::Red, Some(2))
        .await;
    let ack = o.send(Called, "t2", "2", "C", july(10, 9, 10) + 250).await;
    assert_eq!(
        ack.status,
        AckStatus::Accepted,
        "late CALLED: {}",
        ack.detail
    );
    // t3: issued before midnight, served after: flagged.
    o.send(Issued, "t3", "1", "A", july(11, 23, 50)).await;
    o.send(Called, "t3", "1", "A", july(12, 0, 5)).await;
    o.served_and_voted("t3", "1", "A", july(12, 0, 10), Face::Yellow, None)
        .await;
    // t4: SERVED and CALLED before its ISSUED arrives (late ISSUED fills the wait).
    o.send(Called, "t4", "3", "X", july(13, 10, 4)).await;
    o.served_and_voted("t4", "3", "X", july(13, 10, 9), Face::Green, None)
        .await;
    o.send(Issued, "t4", "3", "X", july(13, 10, 0) - 1).await;
    // t5 open at the day reset; its SERVED (earlier than the reset) arrives afterwards.
    o.send(Issued, "t5", "2", "A", july(14, 16, 0)).await;
    o.send(Called, "t5", "2", "A", july(14, 16, 3)).await;
    o.send(DayReset, "", "", "", july(14, 20, 0)).await;
    let late = o.send(Served, "t5", "2", "A", july(14, 16, 9)).await;
    assert_eq!(late.status, AckStatus::Stale, "{}", late.detail);
    // t6: a ticket that is never served.
    o.send(Issued, "t6", "1", "A", july(15, 9, 0)).await;
    o.send(Called, "t6", "1", "A", july(15, 9, 2)).await;
    o.send(NoShow, "t6", "1", "A", july(15, 9, 7)).await;
    // t8..t19: a dozen more in July, some waits in seconds with milliseconds.
    for i in 0..12i64 {
        let t = format!("t{}", 8 + i);
        let c = ["1", "2", "3"][(i % 3) as usize];
        let s = ["A", "C", "X"][(i % 3) as usize];
        let at = july(16 + i, 9 + i % 4, 0);
        o.send(Issued, &t, c, s, at).await;
        o.send(Called, &t, c, s, at + (i * 97 + 13) * 1000 + i * 37)
            .await;
        let face = [Face::Green, Face::Yellow, Face::Red][(i % 3) as usize];
        let reason = (face == Face::Red && i % 2 == 0).then_some(1 + (i % 4) as u8);
        o.served_and_voted(&t, c, s, at + 30 * MINUTE, face, reason)
            .await;
    }
    // t7: served at 00:30 on 1 August in Rome (22:30 UTC on 31 July).
    let aug = month_start(2026, 8);
    o.send(Issued, "t7", "1", "C", aug + 10 * MINUTE).await;
    o.send(Called, "t7", "1", "C", aug + 20 * MINUTE).await;
    o.served_and_voted("t7", "1", "C", aug + 30 * MINUTE, Face::Green, None)
        .await;
}

/// The rollups the writer kept, and the rollups rebuilt from the raw rows for `tz`.
fn kept_and_rebuilt(db: &TestDb, tz: Tz) -> (Rollups, Rollups) {
    let mut c = db.conn();
    let kept = rollup::load_all(&mut c, &site()).expect("rollups");
    rollup::rebuild(&mut c, &site(), tz).expect("rebuild");
    (kept, rollup::load_all(&mut c, &site()).expect("rollups"))
}

fn ctx_in(tz: Tz) -> ReportContext {
    ReportContext {
        time_zone: tz,
        ..ctx()
    }
}

both!(writer_keeps_the_rollups_exact);
fn writer_keeps_the_rollups_exact(b: Backend) {
    let db = TestDb::new(b);
    let rt = runtime();
    rt.block_on(async {
        let mut o = Office {
            store: open(&db, tz()),
            n: 0,
        };
        scenario(&mut o).await;
    });
    let (kept, rebuilt) = kept_and_rebuilt(&db, tz());
    assert_eq!(kept, rebuilt, "the writer's rollups equal a rebuild");
    // Not trivially: July and August in Rome, served, counted, flagged, waits, votes.
    let july_rows: Vec<_> = kept.tickets.iter().filter(|t| t.month == 202607).collect();
    let served: i64 = july_rows.iter().map(|t| t.served).sum();
    let flagged: i64 = july_rows.iter().map(|t| t.flagged).sum();
    // t1-t4 and t8-t19 (t5's SERVED after the day reset is stale, t6 was a no-show, t7 is
    // August in Rome).
    assert_eq!(served, 16, "{kept:#?}");
    assert!(flagged >= 1, "t3 spans midnight");
    assert!(kept
        .tickets
        .iter()
        .any(|t| t.month == 202608 && t.served == 1));
    assert!(kept
        .waits
        .iter()
        .any(|w| w.month == 202607 && w.service_code == "C"));
    assert_eq!(kept.votes.iter().map(|v| v.n).sum::<i64>(), 17);
    assert!(kept.votes.iter().any(|v| v.face == 3 && v.reason == 2));
    assert!(kept.votes.iter().any(|v| v.face == 3 && v.reason == 0));

    let mut c = db.conn();
    let ctx = ctx();
    assert_eq!(Via::choose(&mut c, &ctx).expect("choose"), Via::Rollups);
    rollups_agree_with_raw(&mut c, &[month(2026, 7), month(2026, 8)]);
    // t2's late CALLED and t4's late ISSUED counted: every July ticket but t3 (across
    // midnight) has a waiting time.
    let f = model::month_figures_via(&mut c, &ctx, month(2026, 7), Via::Rollups).expect("july");
    let counted: u64 = f.waiting.iter().map(|w| w.counted).sum();
    let left_out: u64 = f.waiting.iter().map(|w| w.left_out).sum();
    assert_eq!(counted + left_out, f.served);
    assert_eq!((counted, left_out), (15, 1), "{:#?}", f.waiting);
}

both!(a_changed_time_zone_rebuilds_the_rollups);
fn a_changed_time_zone_rebuilds_the_rollups(b: Backend) {
    let db = TestDb::new(b);
    let rt = runtime();
    rt.block_on(async {
        let mut o = Office {
            store: open(&db, tz()),
            n: 0,
        };
        scenario(&mut o).await;
    });
    let rome = rollup::load_all(&mut db.conn(), &site()).expect("rollups");
    assert!(rome.tickets.iter().any(|t| t.month == 202608));

    // The site's time zone changes to UTC: the next start regroups the months.
    drop(open(&db, chrono_tz::UTC));
    let mut c = db.conn();
    let utc = rollup::load_all(&mut c, &site()).expect("rollups");
    assert_ne!(utc, rome);
    assert!(
        utc.tickets.iter().all(|t| t.month == 202607),
        "t7 was served on 31 July in UTC: {utc:#?}"
    );
    assert_eq!(
        utc.tickets.iter().map(|t| t.served).sum::<i64>(),
        rome.tickets.iter().map(|t| t.served).sum::<i64>()
    );
    // Reports for the old time zone read the raw tables (exact, slower) and say the same.
    let in_rome = ctx_in(tz());
    assert_eq!(Via::choose(&mut c, &in_rome).expect("choose"), Via::Raw);
    for m in [month(2026, 7), month(2026, 8)] {
        assert_eq!(
            model::month_figures(&mut c, &in_rome, m).expect("figures"),
            model::month_figures_via(&mut c, &in_rome, m, Via::Raw).expect("raw")
        );
    }
    let in_utc = ctx_in(chrono_tz::UTC);
    assert_eq!(Via::choose(&mut c, &in_utc).expect("choose"), Via::Rollups);
    for m in [month(2026, 7), month(2026, 8)] {
        assert_eq!(
            model::month_figures_via(&mut c, &in_utc, m, Via::Rollups).expect("rollups"),
            model::month_figures_via(&mut c, &in_utc, m, Via::Raw).expect("raw"),
            "{m} in UTC"
        );
    }
    assert_eq!(
        model::month_figures(&mut c, &in_utc, month(2026, 8))
            .expect("august")
            .served,
        0
    );
    // A start with the same time zone does not rebuild; back to Rome regroups them again.
    drop(open(&db, chrono_tz::UTC));
    assert_eq!(rollup::load_all(&mut c, &site()).expect("rollups"), utc);
    drop(open(&db, tz()));
    assert_eq!(rollup::load_all(&mut c, &site()).expect("rollups"), rome);
    assert_eq!(Via::choose(&mut c, &in_rome).expect("choose"), Via::Rollups);
}

both!(rows_written_around_the_store_are_caught);
fn rows_written_around_the_store_are_caught(b: Backend) {
    let db = TestDb::new(b);
    // A served ticket inserted directly, without a rebuild: the rollups do not count it.
    let mut fx = Fixture::default();
    let id = fx.served(T {
        service: "A",
        counter: "1",
        served_at: july(3, 10, 0),
        waiting_ms: Some(5 * MINUTE),
        spans_midnight: false,
        reset: false,
    });
    let mut c = db.conn();
    let row: TicketRow = fx.tickets[0].clone();
    diesel::insert_into(tickets::table)
        .values(&row)
        .execute(&mut c)
        .expect("insert");
    assert_eq!(Via::choose(&mut c, &ctx()).expect("choose"), Via::Rollups);
    // The store then rewrites it (its history has only this CALLED: no longer SERVED): the
    // writer finds nothing to take out and marks the rollups stale.
    let rt = runtime();
    rt.block_on(async {
        let mut o = Office {
            store: open(&db, tz()),
            n: 0,
        };
        let ack = o
            .send(EventKind::Called, &id, "1", "A", july(3, 9, 50))
            .await;
        assert_eq!(ack.status, AckStatus::Accepted, "{}", ack.detail);
    });
    assert_eq!(
        Via::choose(&mut c, &ctx()).expect("choose"),
        Via::Raw,
        "stale rollups are not read"
    );
    // The next start rebuilds them.
    drop(open(&db, tz()));
    assert_eq!(Via::choose(&mut c, &ctx()).expect("choose"), Via::Rollups);
    let (kept, rebuilt) = kept_and_rebuilt(&db, tz());
    assert_eq!(kept, rebuilt);
}
