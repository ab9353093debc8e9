//! Test databases (SQLite in a temporary directory, PostgreSQL as a fresh database per test)
//! and fixture rows inserted directly with diesel.
#![allow(dead_code)]

use std::sync::atomic::{AtomicU32, Ordering};

use chrono_tz::Tz;
use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use faccia_reports::{ReportContext, YearMonth};
use faccia_storage::models::{SessionRow, TicketRow, VoteRow};
use faccia_storage::schema::{tickets, vote_sessions, votes};
use faccia_storage::DatabaseUrl;
use faccia_storage::{self as storage, AnyConnection, Rules, Store};

pub const DEFAULT_PG: &str = "postgres://postgres@127.0.0.1:5432/test";
pub const MINUTE: i64 = 60_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// A database with faccia's schema, dropped at the end of the test.
pub struct TestDb {
    pub url: DatabaseUrl,
    _dir: Option<tempfile::TempDir>,
    pg_admin: Option<(String, String)>,
}

pub fn tz() -> Tz {
    chrono_tz::Europe::Rome
}

fn pg_admin_url() -> String {
    std::env::var("FACCIA_TEST_PG").unwrap_or_else(|_| DEFAULT_PG.to_string())
}

/// The admin URL with another database name.
fn pg_url_for(admin: &str, db: &str) -> String {
    let (base, query) = match admin.split_once('?') {
        Some((b, q)) => (b, format!("?{q}")),
        None => (admin, String::new()),
    };
    let scheme_end = base.find("://").map(|i| i + 3).unwrap_or(0);
    let host_part = match base[scheme_end..].find('/') {
        Some(i) => &base[..scheme_end + i],
        None => base,
    };
    format!("{host_part}/{db}{query}")
}

/// The store's rules for a report context's site (windows as the defaults of the server).
pub fn rules_for(c: &ReportContext) -> Rules {
    Rules {
        site_id: c.site_id.clone(),
        site_name: c.site_name.clone(),
        vote_window_ms: 60_000,
        grace_ms: 10_000,
        reason_window_ms: 15_000,
        time_zone: c.time_zone,
        operator_data: false,
        keypad_counters: Vec::new(),
    }
}

impl TestDb {
    /// A database with faccia's schema, and `sites` registered as the server registers them
    /// when it opens the database for them.
    pub fn with_sites(backend: Backend, sites: &[ReportContext]) -> TestDb {
        static N: AtomicU32 = AtomicU32::new(0);
        let db = match backend {
            Backend::Sqlite => {
                let dir = tempfile::tempdir().expect("temporary directory");
                let url = DatabaseUrl::Sqlite(dir.path().join("faccia.db"));
                TestDb {
                    url,
                    _dir: Some(dir),
                    pg_admin: None,
                }
            }
            Backend::Postgres => {
                let admin = pg_admin_url();
                let mut c = diesel::PgConnection::establish(&admin).unwrap_or_else(|e| {
                    panic!(
                        "PostgreSQL is required for this test ({admin}, set FACCIA_TEST_PG): {e}"
                    )
                });
                let nanos = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map(|d| d.subsec_nanos())
                    .unwrap_or(0);
                let name = format!(
                    "faccia_rep_{}_{}_{}",
                    std::process::id(),
                    N.fetch_add(1, Ordering::SeqCst),
                    nanos
                );
                c.batch_execute(&format!("CREATE DATABASE {name}"))
                    .expect("CREATE DATABASE");
                let url = DatabaseUrl::Postgres(pg_url_for(&admin, &name));
                TestDb {
                    url,
                    _dir: None,
                    pg_admin: Some((admin, name)),
                }
            }
        };
        // The server's store applies the migrations and registers the sites.
        if !sites.is_empty() {
            let rules = sites.iter().map(rules_for).collect();
            let stores = Store::open_sites(&db.url, 5_000, rules, storage::system_clock())
                .expect("migrations");
            drop(stores);
        }
        db
    }

    /// A database with faccia's schema and the test office registered.
    pub fn new(backend: Backend) -> TestDb {
        TestDb::with_sites(backend, &[ctx()])
    }

    /// A database that is only created (no schema: PostgreSQL an empty database, SQLite no
    /// file yet).
    pub fn empty(backend: Backend) -> TestDb {
        TestDb::with_sites(backend, &[])
    }

    pub fn conn(&self) -> AnyConnection {
        storage::connect(&self.url, 5_000).expect("connect")
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        if let Some((admin, name)) = &self.pg_admin {
            if let Ok(mut c) = diesel::PgConnection::establish(admin) {
                let _ = c.batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"));
            }
        }
    }
}

/// The office of the tests: services A (20 min), C (30 min) and X (no standard); counters 1-3.
pub fn ctx() -> ReportContext {
    ReportContext {
        site_id: "comune-test-urp".into(),
        site_name: "Comune di Prova – URP".into(),
        time_zone: tz(),
        services: vec![
            ("A".into(), "Anagrafe – certificati".into(), Some(20)),
            ("C".into(), "Carta d'identità elettronica".into(), Some(30)),
            ("X".into(), "Informazioni".into(), None),
        ],
        counters: vec![
            ("1".into(), "Sportello 1".into()),
            ("2".into(), "Sportello 2".into()),
            ("3".into(), "Sportello 3".into()),
        ],
        target_tenths: 900,
    }
}

pub fn month(y: i32, m: u32) -> YearMonth {
    YearMonth::new(y, m).expect("month")
}

/// The first instant of a local month.
pub fn month_start(y: i32, m: u32) -> i64 {
    month(y, m).bounds(tz()).expect("bounds").0
}

/// Rows to insert, all of one site (ticket ids restart at 1 for every site).
pub struct Fixture {
    pub site: String,
    pub tz: Tz,
    pub tickets: Vec<TicketRow>,
    pub sessions: Vec<SessionRow>,
    pub votes: Vec<VoteRow>,
    next: u64,
}

impl Default for Fixture {
    /// The test office's rows.
    fn default() -> Fixture {
        Fixture::for_site(&ctx())
    }
}

pub struct T<'a> {
    pub service: &'a str,
    pub counter: &'a str,
    pub served_at: i64,
    pub waiting_ms: Option<i64>,
    pub spans_midnight: bool,
    pub reset: bool,
}

impl Fixture {
    /// Rows of the site of `c`, whose rollups are built for its time zone.
    pub fn for_site(c: &ReportContext) -> Fixture {
        Fixture {
            site: c.site_id.clone(),
            tz: c.time_zone,
            tickets: Vec::new(),
            sessions: Vec::new(),
            votes: Vec::new(),
            next: 0,
        }
    }

    /// A served ticket; returns its ticket id.
    pub fn served(&mut self, t: T<'_>) -> String {
        self.next += 1;
        let id = format!("TKT-{:07}", self.next);
        let issued = t.served_at - t.waiting_ms.unwrap_or(0) - 5 * MINUTE;
        self.tickets.push(TicketRow {
            site_id: self.site.clone(),
            source_id: "queue-test".into(),
            ticket_id: id.clone(),
            display_number: format!("{}{:03}", t.service, self.next % 1000),
            service_code: t.service.into(),
            state: "SERVED".into(),
            counter_id: t.counter.into(),
            first_at: issued,
            issued_at: Some(issued),
            first_called_at: t.waiting_ms.map(|w| issued + w),
            last_called_at: t.waiting_ms.map(|w| issued + w),
            service_started_at: None,
            served_at: Some(t.served_at),
            ended_at: Some(t.served_at),
            recalls: 0,
            transfers: 0,
            reset: t.reset,
            spans_midnight: t.spans_midnight,
            waiting_ms: t.waiting_ms,
            service_ms: Some(5 * MINUTE),
            last_at: t.served_at,
            operator_ref: Some("OPERATORE-SEGRETO".into()),
        });
        id
    }

    /// A ticket that was not served (never counted).
    pub fn no_show(&mut self, service: &str, at: i64) {
        self.next += 1;
        self.tickets.push(TicketRow {
            site_id: self.site.clone(),
            source_id: "queue-test".into(),
            ticket_id: format!("TKT-{:07}", self.next),
            display_number: "N001".into(),
            service_code: service.into(),
            state: "NO_SHOW".into(),
            counter_id: "1".into(),
            first_at: at,
            issued_at: Some(at),
            first_called_at: Some(at + MINUTE),
            last_called_at: Some(at + MINUTE),
            service_started_at: None,
            served_at: None,
            ended_at: Some(at + 2 * MINUTE),
            recalls: 0,
            transfers: 0,
            reset: false,
            spans_midnight: false,
            waiting_ms: Some(MINUTE),
            service_ms: None,
            last_at: at + 2 * MINUTE,
            operator_ref: None,
        });
    }

    /// A vote on the ticket `ticket` (index into `tickets` by id).
    pub fn vote(&mut self, ticket: &str, channel: &str, face: i32, reason: Option<i32>, at: i64) {
        let (service, counter) = self
            .tickets
            .iter()
            .find(|t| t.ticket_id == ticket)
            .map(|t| (t.service_code.clone(), t.counter_id.clone()))
            .expect("ticket of the vote");
        // Session ids are unique in the whole database.
        let session_id = format!("SES-{}-{ticket}", self.site);
        self.sessions.push(SessionRow {
            site_id: self.site.clone(),
            session_id: session_id.clone(),
            source_id: "queue-test".into(),
            ticket_id: ticket.into(),
            counter_id: counter.clone(),
            service_code: service.clone(),
            channel: channel.into(),
            token: self.sessions.len() as i64 + 1,
            served_at: at - 10_000,
            opened_at: at - 10_000,
            expires_at: at + 50_000,
            state: "VOTED".into(),
            keypad: "NONE".into(),
            ended_at: Some(at),
        });
        self.votes.push(VoteRow {
            site_id: self.site.clone(),
            session_id,
            source_id: "queue-test".into(),
            ticket_id: ticket.into(),
            counter_id: counter,
            service_code: service,
            channel: channel.into(),
            face,
            reason,
            waiting_ms: None,
            service_ms: None,
            voted_at: at,
        });
    }

    pub fn insert(&self, conn: &mut AnyConnection) {
        const CHUNK: usize = 200;
        match conn {
            AnyConnection::Sqlite(c) => c
                .transaction::<_, diesel::result::Error, _>(|c| {
                    for ch in self.tickets.chunks(CHUNK) {
                        diesel::insert_into(tickets::table).values(ch).execute(c)?;
                    }
                    for ch in self.sessions.chunks(CHUNK) {
                        diesel::insert_into(vote_sessions::table)
                            .values(ch)
                            .execute(c)?;
                    }
                    for ch in self.votes.chunks(CHUNK) {
                        diesel::insert_into(votes::table).values(ch).execute(c)?;
                    }
                    Ok(())
                })
                .expect("insert fixture (SQLite)"),
            AnyConnection::Postgresql(c) => c
                .transaction::<_, diesel::result::Error, _>(|c| {
                    for ch in self.tickets.chunks(CHUNK) {
                        diesel::insert_into(tickets::table).values(ch).execute(c)?;
                    }
                    for ch in self.sessions.chunks(CHUNK) {
                        diesel::insert_into(vote_sessions::table)
                            .values(ch)
                            .execute(c)?;
                    }
                    for ch in self.votes.chunks(CHUNK) {
                        diesel::insert_into(votes::table).values(ch).execute(c)?;
                    }
                    Ok(())
                })
                .expect("insert fixture (PostgreSQL)"),
        }
        // Raw rows written around the store: build the site's report rollups from them.
        storage::rollup::rebuild(conn, &self.site, self.tz).expect("rebuild the rollups");
    }
}

/// July 2026 as Sassuolo published it: 352 served, 270 votes, 255 green, 11 yellow, 4 red;
/// June with 100 served and 50 votes (40 green, 6 yellow, 4 red) for the change.
/// Waiting times are deterministic; returns them per service (the counted ones) for checks.
pub fn sassuolo(fx: &mut Fixture) -> std::collections::BTreeMap<String, Vec<i64>> {
    let mut counted: std::collections::BTreeMap<String, Vec<i64>> = Default::default();
    let july = month_start(2026, 7);
    let services = ["A", "C", "X"];
    let counters = ["1", "2", "3"];
    let mut ids = Vec::new();
    for i in 0..352i64 {
        let service = services[(i % 3) as usize];
        let counter = counters[((i / 3) % 3) as usize];
        // 9:00 local on day 1 + i % 28, a few minutes apart.
        let served_at = july + (i % 28) * 86_400_000 + 7 * 3_600_000 + (i / 28) * 10 * MINUTE;
        // Whole seconds, and for some tickets a few milliseconds more: the 90th percentile is
        // published at one-second resolution (rounded up).
        let wait = (i * 7919 % 45 + 1) * MINUTE + (i % 60) * 1000 + (i % 4) * 137;
        let flagged = i % 50 == 7; // 7 tickets span midnight or a reset
        let id = fx.served(T {
            service,
            counter,
            served_at,
            waiting_ms: Some(if flagged { 600 * MINUTE } else { wait }),
            spans_midnight: flagged && i % 100 == 7,
            reset: flagged && i % 100 != 7,
        });
        if !flagged {
            counted.entry(service.to_string()).or_default().push(wait);
        }
        ids.push((id, served_at));
    }
    // No-shows never count.
    for d in 0..5 {
        fx.no_show("A", july + d * 86_400_000 + 8 * 3_600_000);
    }
    // 270 votes: 255 green, 11 yellow, 4 red (reasons 1, 1, 3 and none).
    for (k, (id, served_at)) in ids.iter().take(270).enumerate() {
        let (face, reason) = match k {
            0..=254 => (1, None),
            255..=265 => (2, None),
            266 | 267 => (3, Some(1)),
            268 => (3, Some(3)),
            _ => (3, None),
        };
        let channel = if k % 45 == 44 { "WEB" } else { "COUNTER" };
        fx.vote(id, channel, face, reason, served_at + 20_000);
    }
    // June: 100 served, 50 votes.
    let june = month_start(2026, 6);
    for i in 0..100i64 {
        let served_at = june + (i % 25) * 86_400_000 + 8 * 3_600_000 + (i / 25) * 15 * MINUTE;
        let id = fx.served(T {
            service: "A",
            counter: "1",
            served_at,
            waiting_ms: Some(10 * MINUTE),
            spans_midnight: false,
            reset: false,
        });
        if i < 50 {
            let face = if i < 40 {
                1
            } else if i < 46 {
                2
            } else {
                3
            };
            fx.vote(&id, "COUNTER", face, None, served_at + 30_000);
        }
    }
    counted
}

/// The figures of `months` (and the Ministry export over them) are the same from the rollups
/// as from the raw tables, and reports choose the rollups.
pub fn rollups_agree_with_raw(conn: &mut AnyConnection, months: &[YearMonth]) {
    rollups_agree_with_raw_for(conn, &ctx(), months)
}

/// The same for the site of `c`.
pub fn rollups_agree_with_raw_for(
    conn: &mut AnyConnection,
    c: &ReportContext,
    months: &[YearMonth],
) {
    use faccia_reports::model::{self, Via};
    let c = c.clone();
    assert_eq!(
        Via::choose(conn, &c).expect("choose"),
        Via::Rollups,
        "reports of {} read the rollups",
        c.site_id
    );
    for m in months {
        let rolled = model::month_figures_via(conn, &c, *m, Via::Rollups).expect("rollups");
        let raw = model::month_figures_via(conn, &c, *m, Via::Raw).expect("raw");
        assert_eq!(rolled, raw, "month figures of {m}");
        assert_eq!(
            model::month_totals_via(conn, &c, *m, Via::Rollups).expect("rollups"),
            model::month_totals_via(conn, &c, *m, Via::Raw).expect("raw"),
            "month totals of {m}"
        );
    }
    if let (Some(first), Some(last)) = (months.iter().min(), months.iter().max()) {
        assert_eq!(
            model::ministry_export_via(conn, &c, *first, *last, Via::Rollups).expect("rollups"),
            model::ministry_export_via(conn, &c, *first, *last, Via::Raw).expect("raw"),
            "Ministry export {first}..{last}"
        );
    }
}

/// Runs the test function `$name(backend)` on SQLite and on PostgreSQL.
#[macro_export]
macro_rules! both {
    ($name:ident) => {
        mod $name {
            #[test]
            fn sqlite() {
                super::$name(super::Backend::Sqlite)
            }
            #[test]
            fn postgres() {
                super::$name(super::Backend::Postgres)
            }
        }
    };
}

/// An instant given as a local date and time in `tz`.
pub fn local(tz: Tz, y: i32, m: u32, d: u32, h: u32, min: u32) -> i64 {
    use chrono::TimeZone;
    tz.with_ymd_and_hms(y, m, d, h, min, 0)
        .single()
        .expect("an unambiguous local time")
        .timestamp_millis()
}

/// An instant in UTC.
pub fn utc(y: i32, m: u32, d: u32, h: u32, min: u32) -> i64 {
    local(chrono_tz::UTC, y, m, d, h, min)
}

/// Two offices of one body on one database, with the same counter ids "1".."8" and an
/// overlapping service code: the registry office in Rome…
pub fn rome_office() -> ReportContext {
    ReportContext {
        site_id: "ente-anagrafe".into(),
        site_name: "Anagrafe centrale".into(),
        time_zone: chrono_tz::Europe::Rome,
        services: vec![
            ("A".into(), "Anagrafe – certificati".into(), Some(20)),
            ("C".into(), "Carta d'identità elettronica".into(), Some(30)),
        ],
        counters: (1..=8)
            .map(|i| (i.to_string(), format!("Sportello {i}")))
            .collect(),
        target_tenths: 900,
    }
}

/// …and the consulate in New York (six hours behind Rome).
pub fn new_york_office() -> ReportContext {
    ReportContext {
        site_id: "consolato-new-york".into(),
        site_name: "Consolato generale di New York".into(),
        time_zone: chrono_tz::America::New_York,
        services: vec![
            ("A".into(), "Passaporti".into(), Some(45)),
            ("V".into(), "Visti".into(), None),
        ],
        counters: (1..=8)
            .map(|i| (i.to_string(), format!("Banco {i}")))
            .collect(),
        target_tenths: 900,
    }
}
