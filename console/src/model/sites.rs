//! The offices (sites) the console watches, with no I/O: which server reaches each one, what
//! each server said about itself, and everything known about each office, kept apart so that
//! the figures of one office are never shown under another's name.

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use faccia_proto::v1::{KeypadLink, Satisfaction, Service, Site, Snapshot};

use super::{ApiError, ConnState, EventLog, ReportsState};
use crate::format;

/// What identifies an office inside the console: its site id, or, for an older server whose
/// snapshot names no site, the server's address.
pub type SiteKey = String;

/// A site as a server told the console about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DiscoveredSite {
    pub key: SiteKey,
    /// Id, name and time zone.
    pub site: Site,
    /// What requests about it carry as `site_id`: its id, or empty for an older server that
    /// knows no sites (it ignores the field and answers for its only office).
    pub request_id: String,
}

/// Everything the console holds about one office.
#[derive(Debug)]
pub struct SiteState {
    pub snapshot: Option<Snapshot>,
    pub snapshot_error: Option<ApiError>,
    /// Satisfaction by period: today, week, month.
    pub satisfaction: [Option<Satisfaction>; 3],
    pub satisfaction_error: Option<ApiError>,
    /// The office's own event log (its entries only: their seq numbers may have gaps).
    pub events: EventLog,
    /// The link with the office's server, as its event stream sees it.
    pub conn: ConnState,
    /// When `conn` last changed.
    pub conn_since: DateTime<Utc>,
    /// The Reports view of this office: month shown, its report, loading and saving.
    pub reports: ReportsState,
}

impl SiteState {
    pub fn new(event_capacity: usize, now: DateTime<Utc>) -> SiteState {
        SiteState {
            snapshot: None,
            snapshot_error: None,
            satisfaction: [None, None, None],
            satisfaction_error: None,
            events: EventLog::new(event_capacity),
            conn: ConnState::Connecting,
            conn_since: now,
            reports: ReportsState::default(),
        }
    }
}

/// One office as the console reaches it.
#[derive(Debug)]
pub struct Office {
    pub key: SiteKey,
    /// Id, name and time zone from the server's `ListSites` (or an older server's snapshot).
    pub site: Site,
    /// The index of the server it is reached through (`Settings::servers`).
    pub server: usize,
    /// What its requests carry as `site_id` (see [`DiscoveredSite::request_id`]).
    pub request_id: String,
    pub state: SiteState,
}

impl Office {
    /// The office's name for people: its name, else its id, else its key.
    pub fn name(&self) -> &str {
        let from_snapshot = self
            .state
            .snapshot
            .as_ref()
            .and_then(|s| s.site.as_ref())
            .map(|s| if s.name.is_empty() { &s.id } else { &s.name })
            .filter(|n| !n.is_empty());
        if !self.site.name.is_empty() {
            &self.site.name
        } else if let Some(n) = from_snapshot {
            n
        } else if !self.site.id.is_empty() {
            &self.site.id
        } else {
            &self.key
        }
    }

    /// The office's time zone: the one its server declared, else its snapshot's; Europe/Rome
    /// when neither names a valid one.
    pub fn zone(&self) -> Tz {
        let declared = self.site.time_zone.as_str();
        let name = if declared.parse::<Tz>().is_ok() {
            declared
        } else {
            self.state
                .snapshot
                .as_ref()
                .and_then(|s| s.site.as_ref())
                .map_or("", |s| s.time_zone.as_str())
        };
        format::tz(name)
    }

    /// Whether the server answered for another site than this one (a server must never, but
    /// the console checks rather than show one office's figures under another's name).
    pub fn foreign(&self, answered_for: &str) -> bool {
        !self.request_id.is_empty() && !answered_for.is_empty() && answered_for != self.site.id
    }
}

/// How the console's link with one server stands, before and after it named its sites.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ServerConn {
    /// Asking for its sites.
    Discovering,
    /// It could not be asked (yet): the failed attempts so far and why.
    Down { attempt: u32, error: ApiError },
    /// It named its sites (those the console did not already reach through another server).
    Up { sites: usize },
}

/// One server of the console's list.
#[derive(Debug, Clone)]
pub struct ServerState {
    pub url: String,
    pub conn: ServerConn,
}

/// The figures of one office for the all-sites view, from its snapshot.
#[derive(Debug, Clone, PartialEq)]
pub struct SiteFigures {
    pub served: u32,
    pub waiting: u32,
    pub avg_wait_s: Option<f64>,
    /// The service whose longest current wait is the largest part of its declared standard.
    /// `None` when no service declares one.
    pub worst: Option<Worst>,
    /// Services whose longest current wait is over their declared standard.
    pub over_standard: usize,
    pub votes: u64,
    pub green: u64,
    pub yellow: u64,
    pub red: u64,
    pub keypads_online: usize,
    pub keypads: usize,
    pub alerts: usize,
}

/// A service's longest current wait against its declared standard.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Worst {
    pub code: String,
    pub longest_s: u32,
    pub standard_min: u32,
    pub over: bool,
}

/// Whether a service's longest current wait is over its declared standard (as the overview
/// marks it).
pub fn over_standard(s: &Service) -> bool {
    s.standard_wait_min
        .is_some_and(|m| u64::from(s.longest_wait_s) > u64::from(m) * 60)
}

impl SiteFigures {
    pub fn of(snap: &Snapshot) -> SiteFigures {
        let today = snap.today.clone().unwrap_or_default();
        let v = today.votes.clone().unwrap_or_default();
        let worst = snap
            .services
            .iter()
            .filter_map(|s| {
                let m = s.standard_wait_min.filter(|m| *m > 0)?;
                Some(Worst {
                    code: s.code.clone(),
                    longest_s: s.longest_wait_s,
                    standard_min: m,
                    over: over_standard(s),
                })
            })
            // The largest longest/standard, compared without dividing: a/b > c/d iff ad > cb;
            // the first of equals.
            .fold(None, |best: Option<Worst>, w| match best {
                Some(b)
                    if u64::from(w.longest_s) * u64::from(b.standard_min)
                        <= u64::from(b.longest_s) * u64::from(w.standard_min) =>
                {
                    Some(b)
                }
                _ => Some(w),
            });
        SiteFigures {
            served: today.served,
            waiting: today.waiting_now,
            avg_wait_s: today.avg_wait_s,
            worst,
            over_standard: snap.services.iter().filter(|s| over_standard(s)).count(),
            votes: format::votes(&v),
            green: u64::from(v.green),
            yellow: u64::from(v.yellow),
            red: u64::from(v.red),
            keypads_online: snap
                .keypads
                .iter()
                .filter(|k| k.link() == KeypadLink::KeypadOnline)
                .count(),
            keypads: snap.keypads.len(),
            alerts: snap.alerts.len(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use faccia_proto::v1::{FaceCounts, Keypad, Totals};

    fn service(code: &str, longest: u32, standard: Option<u32>) -> Service {
        Service {
            code: code.into(),
            longest_wait_s: longest,
            standard_wait_min: standard,
            ..Default::default()
        }
    }

    #[test]
    fn figures_of_a_snapshot() {
        let snap = Snapshot {
            today: Some(Totals {
                served: 40,
                waiting_now: 3,
                avg_wait_s: Some(180.0),
                votes: Some(FaceCounts {
                    green: 20,
                    yellow: 5,
                    red: 5,
                    reasons: vec![],
                }),
                ..Default::default()
            }),
            services: vec![
                service("A", 600, Some(20)),
                service("B", 2040, Some(30)),
                service("C", 9000, None),
                service("D", 700, Some(10)),
            ],
            keypads: vec![
                Keypad {
                    link: KeypadLink::KeypadOnline as i32,
                    ..Default::default()
                },
                Keypad {
                    link: KeypadLink::KeypadOffline as i32,
                    ..Default::default()
                },
            ],
            ..Default::default()
        };
        let f = SiteFigures::of(&snap);
        assert_eq!((f.served, f.waiting, f.votes), (40, 3, 30));
        // 2040 s of 30 min is 113%, 700 s of 10 min 117%: the second is the worst.
        assert_eq!(
            f.worst,
            Some(Worst {
                code: "D".into(),
                longest_s: 700,
                standard_min: 10,
                over: true
            })
        );
        assert_eq!(f.over_standard, 2);
        assert_eq!((f.keypads_online, f.keypads), (1, 2));
        let empty = SiteFigures::of(&Snapshot::default());
        assert_eq!(empty.worst, None);
        assert_eq!(empty.keypads, 0);
    }

    #[test]
    fn names_and_zones() {
        let mut o = Office {
            key: "milano".into(),
            site: Site {
                id: "milano".into(),
                name: String::new(),
                time_zone: "Nowhere/Else".into(),
            },
            server: 0,
            request_id: "milano".into(),
            state: SiteState::new(10, Utc::now()),
        };
        assert_eq!(o.name(), "milano");
        assert_eq!(o.zone(), chrono_tz::Europe::Rome);
        o.state.snapshot = Some(Snapshot {
            site: Some(Site {
                id: "milano".into(),
                name: "Milano".into(),
                time_zone: "America/New_York".into(),
            }),
            ..Default::default()
        });
        assert_eq!(o.name(), "Milano");
        assert_eq!(o.zone(), chrono_tz::America::New_York);
        assert!(o.foreign("roma"));
        assert!(!o.foreign("milano") && !o.foreign(""));
        o.request_id.clear();
        assert!(
            !o.foreign("roma"),
            "an older server names no site: nothing to check"
        );
    }
}
