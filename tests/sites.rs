//! Several offices on one central PostgreSQL (issue #13), with real processes: two `faccia
//! serve` (one per office, different time zones, the same counter ids "1".."8", each with its
//! own simulated keypad bus on a pty), queue traffic on both from two `faccia sim queue` with
//! the same seed, source and ticket ids, and clients watching both.
//!
//! Checks: each office's tickets, sessions and votes are its own and complete (nothing of one
//! is taken for a duplicate of the other); each server's snapshot counts exactly its office's
//! day in the office's own time zone; scoped tokens are refused across sites; each site's event
//! log read through WatchEvents, interrupted and resumed, is every entry of that site exactly
//! once, in order, and nothing of the other.

mod common;

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use chrono_tz::Tz;
use common::{Backend, Bearer, KeypadSimProcess, TestDb};
use diesel::prelude::*;
use faccia_console as console;
use faccia_proto::v1;
use faccia_server::config::DatabaseUrl;
use faccia_server::storage::{self, schema, AnyConnection};
use tokio_stream::StreamExt;
use tonic::Code;

const ROME: &str = "c_h501-anagrafe";
const NEW_YORK: &str = "c_h501-tributi";
const TICKETS: u32 = 40;

/// One token list for both offices (a central database shares it): queue and viewer tokens of
/// each office, a viewer of every office, and an admin.
const TOKENS: &str = r#"
[[auth.tokens]]
name = "eliminacode-anagrafe"
role = "queue"
token = "queue-rome-token"
sites = ["c_h501-anagrafe"]
[[auth.tokens]]
name = "eliminacode-tributi"
role = "queue"
token = "queue-ny-token"
sites = ["c_h501-tributi"]
[[auth.tokens]]
name = "urp-anagrafe"
role = "viewer"
token = "viewer-rome-token"
sites = ["c_h501-anagrafe"]
[[auth.tokens]]
name = "urp-ente"
role = "viewer"
token = "viewer-all-token"
"#;

fn office_config(db: &str, port: u16, site: &str, tz: &str, link: &Path) -> String {
    let mut text = format!(
        "[server]\nlisten = \"127.0.0.1:{port}\"\n[database]\nurl = \"{db}\"\n\
         [[sites]]\nid = \"{site}\"\nname = \"Ufficio {site}\"\ntime_zone = \"{tz}\"\n\
         [[sites.services]]\ncode = \"A\"\nname = \"Anagrafe\"\nstandard_wait_min = 20\n"
    );
    for unit in 1..=8 {
        text.push_str(&format!(
            "[[sites.counters]]\nid = \"{unit}\"\nname = \"Sportello {unit}\"\n\
             keypad = {{ port = \"{}\", unit = {unit} }}\n",
            link.display()
        ));
    }
    text.push_str("[sessions]\nvote_window_s = 60\nreason_window_s = 3\ngrace_s = 5\n");
    text.push_str(TOKENS);
    text
}

fn sim_queue(port: u16, token: &str, site: &str, control: &str, log: &Path) -> Child {
    Command::new(common::faccia_bin())
        .args([
            "sim",
            "queue",
            "--server",
            &format!("http://127.0.0.1:{port}"),
        ])
        .args([
            "--token",
            token,
            "--site",
            site,
            "--source-id",
            "eliminacode",
        ])
        .args([
            "--seed",
            "7",
            "--tickets",
            &TICKETS.to_string(),
            "--speed",
            "0",
        ])
        .args(["--counters", "1,2,3,4,5,6,7,8", "--keypads", control])
        .args([
            "--vote-rate",
            "0.9",
            "--confirm-wait",
            "5s",
            "--retry-for",
            "30s",
        ])
        .arg("--log")
        .arg(log)
        .env("RUST_LOG", "warn")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("faccia sim queue")
}

fn pg(url: &str) -> AnyConnection {
    storage::connect(&DatabaseUrl::parse(url).expect("url"), 2_000).expect("PostgreSQL")
}

/// Tickets, sessions and votes of `site` in the database, and whether every vote's session is
/// of the same site.
fn counts(c: &mut AnyConnection, site: &str) -> (i64, i64, i64, i64) {
    let tickets: i64 = schema::tickets::table
        .filter(schema::tickets::site_id.eq(site))
        .count()
        .get_result(c)
        .expect("tickets");
    let sessions: i64 = schema::vote_sessions::table
        .filter(schema::vote_sessions::site_id.eq(site))
        .count()
        .get_result(c)
        .expect("sessions");
    let votes: i64 = schema::votes::table
        .filter(schema::votes::site_id.eq(site))
        .count()
        .get_result(c)
        .expect("votes");
    let mixed: i64 = schema::votes::table
        .inner_join(schema::vote_sessions::table)
        .filter(schema::votes::site_id.eq(site))
        .filter(schema::vote_sessions::site_id.ne(site))
        .count()
        .get_result(c)
        .expect("mixed votes");
    (tickets, sessions, votes, mixed)
}

/// Served tickets of `site` on the local day of `now` in `tz`.
fn served_today(c: &mut AnyConnection, site: &str, tz: Tz, now: i64) -> i64 {
    let (from, to) = faccia_domain::stats::day_bounds(tz, now);
    schema::tickets::table
        .filter(schema::tickets::site_id.eq(site))
        .filter(schema::tickets::state.eq("SERVED"))
        .filter(schema::tickets::served_at.ge(from))
        .filter(schema::tickets::served_at.lt(to))
        .count()
        .get_result(c)
        .expect("served today")
}

type Monitor = v1::monitor_client::MonitorClient<
    tonic::service::interceptor::InterceptedService<tonic::transport::Channel, Bearer>,
>;

async fn monitor(port: u16, token: &str) -> Monitor {
    let ch = common::connect(&format!("http://127.0.0.1:{port}")).await;
    v1::monitor_client::MonitorClient::with_interceptor(ch, Bearer(token.into()))
}

/// Reads `site`'s log from `after`: `first` entries, then drops the stream.
async fn read_log(m: &mut Monitor, site: &str, after: u64, first: usize) -> Vec<v1::LogEvent> {
    let mut stream = m
        .watch_events(v1::WatchRequest {
            after_seq: after,
            site_id: site.into(),
        })
        .await
        .expect("WatchEvents")
        .into_inner();
    let mut got = Vec::new();
    while got.len() < first {
        match tokio::time::timeout(Duration::from_secs(10), stream.next()).await {
            Ok(Some(Ok(e))) => got.push(e),
            other => panic!(
                "the log of {site} ended early after {}: {other:?}",
                got.len()
            ),
        }
    }
    got
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_offices_share_one_postgresql_and_never_mix() {
    let db = TestDb::new(Backend::Postgres);
    let dir = db.path();
    let bus_rome = KeypadSimProcess::spawn(dir, "rome", 8, false);
    let bus_ny = KeypadSimProcess::spawn(dir, "ny", 8, false);
    let (port_rome, port_ny) = (common::free_port(), common::free_port());
    let cfg_rome = dir.join("rome.toml");
    let cfg_ny = dir.join("ny.toml");
    std::fs::write(
        &cfg_rome,
        office_config(&db.url, port_rome, ROME, "Europe/Rome", &bus_rome.link),
    )
    .expect("config");
    std::fs::write(
        &cfg_ny,
        office_config(&db.url, port_ny, NEW_YORK, "America/New_York", &bus_ny.link),
    )
    .expect("config");
    let serve_rome = common::spawn_serve(&cfg_rome, &dir.join("rome.log"), "info");
    // The second office starts once the first has migrated the database.
    let _ = monitor(port_rome, "viewer-all-token").await;
    let serve_ny = common::spawn_serve(&cfg_ny, &dir.join("ny.log"), "info");
    let mut all_rome = monitor(port_rome, "viewer-all-token").await;
    let mut all_ny = monitor(port_ny, "viewer-all-token").await;

    // Scoped tokens: a token of one office is refused at the other, for publishing and seeing.
    let ch = common::connect(&format!("http://127.0.0.1:{port_rome}")).await;
    let mut q = v1::queue_events_client::QueueEventsClient::with_interceptor(
        ch.clone(),
        Bearer("queue-ny-token".into()),
    );
    let mut ev = common::ev("x-1", common::T0, v1::EventType::Issued, "x-1", "");
    ev.site_id = ROME.into();
    let e = q
        .publish(ev.clone())
        .await
        .expect_err("another office's token");
    assert_eq!(e.code(), Code::PermissionDenied, "{e:?}");
    ev.site_id = String::new();
    let e = q
        .publish(ev)
        .await
        .expect_err("another office's token, no site");
    assert_eq!(e.code(), Code::PermissionDenied, "{e:?}");
    let mut viewer_rome_at_ny = monitor(port_ny, "viewer-rome-token").await;
    let e = viewer_rome_at_ny
        .get_snapshot(v1::SnapshotRequest::default())
        .await
        .expect_err("a viewer of Rome at New York");
    assert_eq!(e.code(), Code::PermissionDenied, "{e:?}");
    let e = all_rome
        .get_snapshot(v1::SnapshotRequest {
            site_id: NEW_YORK.into(),
        })
        .await
        .expect_err("a site another process serves");
    assert_eq!(e.code(), Code::NotFound, "{e:?}");
    let listed = all_ny
        .list_sites(v1::ListSitesRequest {})
        .await
        .expect("ListSites")
        .into_inner();
    assert_eq!(
        listed
            .sites
            .iter()
            .map(|s| s.id.as_str())
            .collect::<Vec<_>>(),
        [NEW_YORK]
    );
    assert_eq!(listed.sites[0].time_zone, "America/New_York");

    // The same traffic (same seed, source and ticket ids) at both offices at once.
    let mut sim_rome = sim_queue(
        port_rome,
        "queue-rome-token",
        ROME,
        &bus_rome.control,
        &dir.join("rome-sim.jsonl"),
    );
    let mut sim_ny = sim_queue(
        port_ny,
        "queue-ny-token",
        NEW_YORK,
        &bus_ny.control,
        &dir.join("ny-sim.jsonl"),
    );
    let deadline = std::time::Instant::now() + Duration::from_secs(240);
    for (name, sim) in [("Rome", &mut sim_rome), ("New York", &mut sim_ny)] {
        loop {
            if let Some(status) = sim.try_wait().expect("sim") {
                assert!(status.success(), "the {name} simulator failed: {status}");
                break;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "the {name} simulator did not finish"
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
    // Votes latched on the keypads reach the store within a poll or two.
    tokio::time::sleep(Duration::from_secs(3)).await;

    let mut c = pg(&db.url);
    let rome = counts(&mut c, ROME);
    let ny = counts(&mut c, NEW_YORK);
    for (name, (tickets, sessions, votes, mixed)) in [("Rome", rome), ("New York", ny)] {
        assert_eq!(
            tickets,
            i64::from(TICKETS),
            "{name}: every ticket is its own"
        );
        assert!(
            sessions > 0 && votes > 0,
            "{name}: {sessions} sessions, {votes} votes"
        );
        assert!(votes <= sessions, "{name}: one vote per session at most");
        assert_eq!(mixed, 0, "{name}: a vote in another office's session");
    }
    let legacy: i64 = schema::event_log::table
        .filter(schema::event_log::site_id.eq(""))
        .count()
        .get_result(&mut c)
        .expect("log");
    assert_eq!(legacy, 0, "every log entry belongs to a site");

    // Each server's snapshot: its own office's day, in its own time zone.
    for (m, site, tz) in [
        (&mut all_rome, ROME, chrono_tz::Europe::Rome),
        (&mut all_ny, NEW_YORK, chrono_tz::America::New_York),
    ] {
        let snap = m
            .get_snapshot(v1::SnapshotRequest::default())
            .await
            .expect("snapshot")
            .into_inner();
        let at = snap.at.as_ref().expect("at");
        let now = at.seconds * 1000 + i64::from(at.nanos / 1_000_000);
        let s = snap.site.as_ref().expect("site");
        assert_eq!((s.id.as_str(), s.time_zone.as_str()), (site, tz.name()));
        let served = snap.today.as_ref().expect("today").served;
        assert_eq!(
            i64::from(served),
            served_today(&mut c, site, tz, now),
            "{site}: served today in {tz}"
        );
        assert_eq!(snap.counters.len(), 8, "{site}: its own 8 counters");
    }

    // Each site's log through WatchEvents, interrupted and resumed: every entry of the site
    // exactly once, in order, none of the other site.
    for (m, site) in [(&mut all_rome, ROME), (&mut all_ny, NEW_YORK)] {
        let stored: Vec<i64> = schema::event_log::table
            .filter(schema::event_log::site_id.eq(site))
            .order(schema::event_log::seq.asc())
            .select(schema::event_log::seq)
            .load(&mut c)
            .expect("log");
        assert!(stored.len() > 100, "{site}: {} entries", stored.len());
        let half = stored.len() / 2;
        let mut got = read_log(m, site, 0, half).await;
        let resume = got.last().map(|e| e.seq).expect("first half");
        got.extend(read_log(m, site, resume, stored.len() - half).await);
        assert!(
            got.iter().all(|e| e.site_id == site),
            "{site}: another site's entry"
        );
        let seqs: Vec<i64> = got.iter().map(|e| e.seq as i64).collect();
        assert_eq!(
            seqs, stored,
            "{site}: the log resumed without gap or repeat"
        );
    }

    // A console watching both servers: each office's figures are its own, side by side, in its
    // own time zone, and it shows every office the token may see.
    let mut served_by_site = std::collections::BTreeMap::new();
    for (m, site) in [(&mut all_rome, ROME), (&mut all_ny, NEW_YORK)] {
        let snap = m
            .get_snapshot(v1::SnapshotRequest::default())
            .await
            .expect("snapshot")
            .into_inner();
        served_by_site.insert(site, snap.today.as_ref().expect("today").served);
    }
    let urls = [port_rome, port_ny].map(|p| format!("http://127.0.0.1:{p}"));
    let clients = urls
        .iter()
        .map(|u| console::client::connect_all(u, Some("viewer-all-token")).expect("client"))
        .collect();
    let settings = console::config::Settings {
        servers: urls
            .iter()
            .map(|u| console::config::ServerSettings::new(u, Some("viewer-all-token")))
            .collect(),
        ..console::config::Settings::default()
    };
    let mut tasks = console::runtime::Tasks::start(
        clients,
        Duration::from_secs(60),
        console::client::Backoff::default(),
    );
    let mut app = console::model::App::new(&settings, chrono::Utc::now());
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while !(app.offices.len() == 2 && app.offices.iter().all(|o| o.state.snapshot.is_some())) {
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        match tokio::time::timeout(left, tasks.rx.recv()).await {
            Ok(Some(m)) => {
                app.apply(m);
            }
            other => panic!("the console did not get both offices: {other:?}"),
        }
    }
    for o in &app.offices {
        let snap = o.state.snapshot.as_ref().expect("snapshot");
        let site = snap.site.as_ref().expect("site");
        assert_eq!(site.id, o.key, "an office shows another's snapshot");
        assert_eq!(
            snap.today.as_ref().map(|t| t.served),
            served_by_site.get(o.key.as_str()).copied(),
            "{}: the console's figures are the server's",
            o.key
        );
    }
    assert_ne!(
        served_by_site[ROME], 0,
        "both offices served: a mix-up would show"
    );
    app.act(console::keymap::Action::ViewSites);
    let mut terminal =
        ratatui::Terminal::new(ratatui::backend::TestBackend::new(160, 48)).expect("backend");
    terminal
        .draw(|f| console::views::render(f, &app))
        .expect("draw");
    let buf = terminal.backend().buffer();
    let screen: Vec<String> = (0..buf.area.height)
        .map(|y| (0..buf.area.width).map(|x| buf[(x, y)].symbol()).collect())
        .collect();
    for (name, site, tz) in [
        ("anagrafe", ROME, chrono_tz::Europe::Rome),
        ("tributi", NEW_YORK, chrono_tz::America::New_York),
    ] {
        let row = screen
            .iter()
            .find(|l| l.contains(name) && !l.contains('•') && !l.contains("Avvisi"))
            .unwrap_or_else(|| panic!("no row for {name}:\n{}", screen.join("\n")));
        let cells: Vec<&str> = row.split_whitespace().collect();
        assert!(
            cells.contains(&served_by_site[site].to_string().as_str()),
            "{name}: {row}"
        );
        let local = chrono::Utc::now().with_timezone(&tz);
        let hm = |t: chrono::DateTime<Tz>| t.format("%H:%M").to_string();
        let before = local - chrono::Duration::minutes(1);
        assert!(
            row.contains(&hm(local)) || row.contains(&hm(before)),
            "{name} at its own local time: {row}"
        );
    }
    drop(tasks);

    common::terminate(serve_rome);
    common::terminate(serve_ny);
    drop((bus_rome, bus_ny));
}
