//! The office at a glance: builds the monitor's snapshot and satisfaction figures from stored
//! rows, with the rules and arithmetic of `faccia_domain`.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use faccia_domain::alerts;
use faccia_domain::session::given_at_counter;
use faccia_domain::stats::{self, wait_figures};
use faccia_domain::ticket::TicketState;
use faccia_domain::Millis;
use faccia_proto::v1;

use crate::config::{Config, SiteConfig};
use crate::grpc::convert::timestamp;
use crate::storage::models::{TicketRow, VoteRow};
use crate::storage::read::OfficeData;

fn faces<'a>(votes: impl IntoIterator<Item = &'a VoteRow>) -> v1::FaceCounts {
    let mut f = v1::FaceCounts {
        reasons: vec![0; 5],
        ..Default::default()
    };
    for v in votes {
        match v.face {
            1 => f.green += 1,
            2 => f.yellow += 1,
            3 => {
                f.red += 1;
                let r = v.reason.unwrap_or(0).clamp(0, 4) as usize;
                f.reasons[r] += 1;
            }
            _ => {}
        }
    }
    f
}

fn counted(t: &TicketRow) -> bool {
    !t.spans_midnight && !t.reset
}

fn is_waiting(t: &TicketRow) -> bool {
    t.state == TicketState::Waiting.as_str()
}

/// Served within `[start, end)`: today, not a day a queue's clock put ahead of the office's.
fn served_within(t: &TicketRow, (start, end): (Millis, Millis)) -> bool {
    t.state == TicketState::Served.as_str() && t.served_at.is_some_and(|s| s >= start && s < end)
}

/// Builds the snapshot. `keypads` comes from the keypad gateway.
pub fn snapshot(
    config: &Config,
    site: &SiteConfig,
    data: &OfficeData,
    keypads: Vec<v1::Keypad>,
    now: Millis,
) -> v1::Snapshot {
    snapshot_of(
        config,
        site,
        data,
        data.tickets.iter().collect(),
        keypads,
        now,
    )
}

/// [`snapshot`] with today's tickets given apart from `data` (kept in a cache by the monitor).
pub fn snapshot_of(
    config: &Config,
    site: &SiteConfig,
    data: &OfficeData,
    today: Vec<&TicketRow>,
    keypads: Vec<v1::Keypad>,
    now: Millis,
) -> v1::Snapshot {
    let tz = site.time_zone;
    let today_bounds = stats::day_bounds(tz, now);
    let day_start = today_bounds.0;
    let votes_today: Vec<&VoteRow> = data
        .votes
        .iter()
        .filter(|v| v.voted_at >= day_start)
        .collect();
    let mut alerts_out = Vec::new();

    // Services: configured ones in configuration order, then any the queue system used.
    let mut service_codes: Vec<(String, bool)> = site
        .services()
        .iter()
        .map(|s| (s.code.clone(), true))
        .collect();
    let known: BTreeSet<String> = service_codes.iter().map(|(c, _)| c.clone()).collect();
    let seen: BTreeSet<String> = today
        .iter()
        .map(|t| t.service_code.clone())
        .filter(|c| !c.is_empty() && !known.contains(c))
        .collect();
    service_codes.extend(seen.into_iter().map(|c| (c, false)));

    // Today's tickets by service, and those served today by counter: one pass over the day
    // (a busy day is a hundred thousand tickets), not one per service and per counter.
    let mut by_service: BTreeMap<&str, Vec<&&TicketRow>> = BTreeMap::new();
    let mut served_by_counter: BTreeMap<&str, Vec<&&TicketRow>> = BTreeMap::new();
    for t in &today {
        by_service
            .entry(t.service_code.as_str())
            .or_default()
            .push(t);
        if served_within(t, today_bounds) {
            served_by_counter
                .entry(t.counter_id.as_str())
                .or_default()
                .push(t);
        }
    }
    let mut votes_by_counter: BTreeMap<&str, Vec<&VoteRow>> = BTreeMap::new();
    for v in &votes_today {
        votes_by_counter
            .entry(v.counter_id.as_str())
            .or_default()
            .push(v);
    }

    let mut services = Vec::new();
    let mut all_waits = Vec::new();
    for (code, configured) in &service_codes {
        let cfg = site.service(code);
        let standard = cfg.and_then(|s| s.standard_wait_min);
        let mine: Vec<&&TicketRow> = by_service.get(code.as_str()).cloned().unwrap_or_default();
        let waiting: Vec<&&&TicketRow> = mine.iter().filter(|t| is_waiting(t)).collect();
        let longest = waiting
            .iter()
            .map(|t| now - t.issued_at.unwrap_or(t.first_at))
            .max()
            .unwrap_or(0)
            .max(0);
        let mut waits: Vec<i64> = mine
            .iter()
            .filter(|t| counted(t) && t.first_called_at.is_some_and(|c| c >= day_start))
            .filter_map(|t| t.waiting_ms)
            .collect();
        all_waits.extend(waits.iter().copied());
        let figures = wait_figures(&mut waits, standard.map(|m| i64::from(m) * 60_000));
        let intervals: Vec<(Millis, Option<Millis>)> = mine
            .iter()
            .map(|t| {
                (
                    t.issued_at.unwrap_or(t.first_at),
                    t.first_called_at.or(t.ended_at),
                )
            })
            .collect();
        if alerts::wait_alert(longest, standard) {
            alerts_out.push(v1::Alert {
                kind: v1::AlertKind::AlertWaitOverStandard as i32,
                subject: code.clone(),
                since: Some(timestamp(now - longest)),
                value: longest as f64 / 60_000.0,
                threshold: f64::from(standard.unwrap_or(0)),
            });
        }
        if !configured && !mine.is_empty() {
            alerts_out.push(v1::Alert {
                kind: v1::AlertKind::AlertUnconfigured as i32,
                subject: format!("service:{code}"),
                ..Default::default()
            });
        }
        services.push(v1::Service {
            code: code.clone(),
            name: cfg.map(|s| s.name.clone()).unwrap_or_default(),
            configured: *configured,
            standard_wait_min: standard,
            waiting_now: waiting.len() as u32,
            longest_wait_s: (longest / 1000) as u32,
            avg_wait_s: figures.avg_ms.map(stats::secs),
            p90_wait_s: figures.p90_ms.map(|p| p as f64 / 1000.0),
            within_standard_pct: standard
                .and_then(|_| faccia_domain::Share::of(figures.within_standard, figures.counted))
                .map(|s| s.percent()),
            served_today: mine
                .iter()
                .filter(|t| served_within(t, today_bounds))
                .count() as u32,
            waiting_by_slot: stats::waiting_by_slot(day_start, now, &intervals),
            called_today: figures.counted as u32,
        });
    }

    // Counters: configured, then unconfigured ones the queue system used.
    let mut counter_ids: Vec<(String, bool)> = site
        .counters()
        .iter()
        .map(|c| (c.id.clone(), true))
        .collect();
    for row in &data.counters {
        if site.counter(&row.counter_id).is_none() {
            counter_ids.push((row.counter_id.clone(), false));
        }
    }
    let open_at: BTreeSet<&str> = data
        .open_sessions
        .iter()
        .map(|s| s.counter_id.as_str())
        .collect();
    let keypad_of: BTreeMap<&str, &v1::Keypad> =
        keypads.iter().map(|k| (k.counter_id.as_str(), k)).collect();
    // The ticket at each counter is open, or ended today: among today's tickets (only the
    // counters' tickets are looked up).
    let wanted: HashSet<(&str, &str)> = data
        .counters
        .iter()
        .filter(|c| !c.ticket_id.is_empty())
        .map(|c| (c.source_id.as_str(), c.ticket_id.as_str()))
        .collect();
    let display_of: HashMap<(&str, &str), &TicketRow> = today
        .iter()
        .map(|t| ((t.source_id.as_str(), t.ticket_id.as_str()), *t))
        .filter(|(k, _)| wanted.contains(k))
        .collect();
    let mut counters = Vec::new();
    for (id, configured) in &counter_ids {
        let row = data.counters.iter().find(|c| &c.counter_id == id);
        let activity = match row {
            None => v1::CounterActivity::ActivityClosed,
            Some(r) if !r.open => v1::CounterActivity::ActivityClosed,
            Some(r) if r.ticket_state == TicketState::Called.as_str() => {
                v1::CounterActivity::ActivityCalling
            }
            Some(r) if r.ticket_state == TicketState::InService.as_str() => {
                v1::CounterActivity::ActivityServing
            }
            Some(_) => v1::CounterActivity::ActivityIdle,
        };
        let ticket =
            row.and_then(|r| display_of.get(&(r.source_id.as_str(), r.ticket_id.as_str())));
        let served: Vec<&&TicketRow> = served_by_counter
            .get(id.as_str())
            .cloned()
            .unwrap_or_default();
        let service_times: Vec<i64> = served
            .iter()
            .filter(|t| counted(t))
            .filter_map(|t| t.service_ms)
            .collect();
        let mine_votes = votes_by_counter
            .get(id.as_str())
            .into_iter()
            .flatten()
            .copied();
        if !configured {
            alerts_out.push(v1::Alert {
                kind: v1::AlertKind::AlertUnconfigured as i32,
                subject: format!("counter:{id}"),
                ..Default::default()
            });
        }
        counters.push(v1::Counter {
            id: id.clone(),
            name: site.counter(id).map(|c| c.name.clone()).unwrap_or_default(),
            configured: *configured,
            activity: activity as i32,
            ticket_display: ticket
                .filter(|_| activity != v1::CounterActivity::ActivityClosed)
                .map(|t| {
                    if t.display_number.is_empty() {
                        t.ticket_id.clone()
                    } else {
                        t.display_number.clone()
                    }
                })
                .unwrap_or_default(),
            service_code: ticket.map(|t| t.service_code.clone()).unwrap_or_default(),
            served_today: served.len() as u32,
            avg_service_s: stats::mean(&service_times).map(stats::secs),
            votes_today: Some(faces(mine_votes)),
            keypad: keypad_of
                .get(id.as_str())
                .map(|k| k.link)
                .unwrap_or(v1::KeypadLink::KeypadNone as i32),
            session_open: open_at.contains(id.as_str()),
            operator_ref: if config.settings.privacy.operator_data {
                row.and_then(|r| r.operator_ref.clone()).unwrap_or_default()
            } else {
                String::new()
            },
        });
    }

    // Red share over the last 15 minutes, by counter and by service.
    let recent: Vec<&VoteRow> = data
        .votes
        .iter()
        .filter(|v| v.voted_at > now - alerts::RED_WINDOW_MS)
        .collect();
    for (prefix, key) in [("counter", 0), ("service", 1)] {
        let mut groups: BTreeMap<&str, (u64, u64)> = BTreeMap::new();
        for v in &recent {
            let k = if key == 0 {
                v.counter_id.as_str()
            } else {
                v.service_code.as_str()
            };
            let e = groups.entry(k).or_default();
            e.1 += 1;
            if v.face == 3 {
                e.0 += 1;
            }
        }
        for (k, (red, n)) in groups {
            if let Some(share) = alerts::red_share_alert(red, n) {
                alerts_out.push(v1::Alert {
                    kind: v1::AlertKind::AlertRedShare as i32,
                    subject: format!("{prefix}:{k}"),
                    since: Some(timestamp(now - alerts::RED_WINDOW_MS)),
                    value: share.percent(),
                    threshold: alerts::RED_SHARE_TENTHS as f64 / 10.0,
                });
            }
        }
    }
    for k in &keypads {
        if k.link == v1::KeypadLink::KeypadOffline as i32 {
            alerts_out.push(v1::Alert {
                kind: v1::AlertKind::AlertKeypadOffline as i32,
                subject: k.counter_id.clone(),
                since: k.since,
                ..Default::default()
            });
        }
        if alerts::ignored_burst_alert(k.ignored_presses_recent) {
            // Someone keeps pressing a dark or thanked keypad: a stuck key, a confused
            // citizen, or a keypad that should have been lit.
            alerts_out.push(v1::Alert {
                kind: v1::AlertKind::AlertIgnoredPresses as i32,
                subject: k.counter_id.clone(),
                since: Some(timestamp(now - alerts::IGNORED_WINDOW_MS)),
                value: k.ignored_presses_recent as f64,
                threshold: alerts::IGNORED_BURST as f64,
            });
        }
    }

    let served_today = today
        .iter()
        .filter(|t| served_within(t, today_bounds))
        .count() as u32;
    v1::Snapshot {
        site: Some(v1::Site {
            id: site.id().to_string(),
            name: site.name().to_string(),
            time_zone: site.settings.time_zone.clone(),
        }),
        at: Some(timestamp(now)),
        last_seq: data.last_seq.max(0) as u64,
        today: Some(v1::Totals {
            served: served_today,
            waiting_now: today.iter().filter(|t| is_waiting(t)).count() as u32,
            avg_wait_s: stats::mean(&all_waits).map(stats::secs),
            votes: Some(faces(votes_today.iter().copied())),
            sessions_open: data.open_sessions.len() as u32,
            no_show: today
                .iter()
                .filter(|t| {
                    t.state == TicketState::NoShow.as_str()
                        && t.ended_at.is_some_and(|e| e >= day_start)
                })
                .count() as u32,
        }),
        counters,
        services,
        keypads,
        alerts: alerts_out,
        operator_data_enabled: config.settings.privacy.operator_data,
    }
}

/// One breakdown: faces and users served by the key of each vote and each user served.
fn keyed_over(
    votes: &[VoteRow],
    served: &[(String, String, String)],
    key_of: &dyn Fn(&VoteRow) -> String,
    served_of: &dyn Fn(&(String, String, String)) -> String,
    name_of: &dyn Fn(&str) -> String,
) -> Vec<v1::KeyedFaces> {
    let mut keys: BTreeSet<String> = votes.iter().map(key_of).collect();
    keys.extend(served.iter().map(served_of));
    keys.into_iter()
        .map(|k| v1::KeyedFaces {
            name: name_of(&k),
            faces: Some(faces(votes.iter().filter(|v| key_of(v) == k))),
            served: served.iter().filter(|s| served_of(s) == k).count() as u32,
            key: k,
        })
        .collect()
}

/// Faces by counter, service and channel over [from, to): users served are tickets served at
/// counters, links issued and calls answered (`read::period_data`).
pub fn satisfaction(
    site: &SiteConfig,
    period: v1::Period,
    from: Millis,
    to: Millis,
    votes: &[VoteRow],
    served: &[(String, String, String)],
) -> v1::Satisfaction {
    // Calls and links of online services are no counter's.
    let at_counter: Vec<VoteRow> = votes
        .iter()
        .filter(|v| given_at_counter(&v.channel, &v.counter_id))
        .cloned()
        .collect();
    let served_at_counter: Vec<(String, String, String)> = served
        .iter()
        .filter(|s| given_at_counter(&s.2, &s.0))
        .cloned()
        .collect();
    let by_counter = keyed_over(
        &at_counter,
        &served_at_counter,
        &|v| v.counter_id.clone(),
        &|s| s.0.clone(),
        &|k| site.counter(k).map(|c| c.name.clone()).unwrap_or_default(),
    );
    let by_service = keyed_over(
        votes,
        served,
        &|v| v.service_code.clone(),
        &|s| s.1.clone(),
        &|k| site.service(k).map(|c| c.name.clone()).unwrap_or_default(),
    );
    let by_channel = keyed_over(
        votes,
        served,
        &|v| v.channel.clone(),
        &|s| s.2.clone(),
        &|k| k.to_string(),
    );
    v1::Satisfaction {
        period: period as i32,
        from: Some(timestamp(from)),
        to: Some(timestamp(to)),
        total: Some(faces(votes)),
        served: served.len() as u32,
        by_counter,
        by_service,
        by_channel,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A ticket in `state`, served at `served_at` (if ever).
    fn ticket(state: TicketState, served_at: Option<Millis>) -> TicketRow {
        TicketRow {
            site_id: "s".into(),
            source_id: "q".into(),
            ticket_id: "t1".into(),
            display_number: "A001".into(),
            service_code: "A".into(),
            state: state.as_str().into(),
            counter_id: "C01".into(),
            first_at: 0,
            issued_at: Some(0),
            first_called_at: None,
            last_called_at: None,
            service_started_at: None,
            served_at,
            ended_at: None,
            recalls: 0,
            transfers: 0,
            reset: false,
            spans_midnight: false,
            waiting_ms: None,
            service_ms: None,
            last_at: 0,
            operator_ref: None,
        }
    }

    #[test]
    fn served_within_today_counts_neither_yesterday_nor_a_clock_ahead() {
        let day = (1_000, 2_000);
        let served = |at| served_within(&ticket(TicketState::Served, Some(at)), day);
        assert!(served(1_000), "the day's first instant");
        assert!(served(1_999));
        assert!(!served(999), "yesterday");
        assert!(
            !served(2_000),
            "tomorrow, by a queue clock ahead of the office's"
        );
        assert!(
            !served_within(&ticket(TicketState::Served, None), day),
            "no time of service"
        );
        assert!(
            !served_within(&ticket(TicketState::ClosedByReset, Some(1_500)), day),
            "a ticket is served by its state, whatever times its row holds"
        );
    }
}
