//! The per-ticket state machine, ordered by `occurred_at`.
//!
//! A ticket's state is a pure fold over its accepted events sorted by `occurred_at` (ties keep
//! arrival order). A new event is accepted when, inserted at its place in that order, it changes
//! the state (it is *effective*) and every event accepted before stays effective. Otherwise it is
//! stale: either it changes nothing (a second SERVICE_STARTED, a CALLED after SERVED), or it would
//! rewrite history that has already had consequences (a late NO_SHOW timed before an accepted
//! SERVED that opened a vote session). Accepted events are never taken back.

use crate::event::{EventKind, Millis};

/// Where a ticket is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TicketState {
    Waiting,
    Called,
    InService,
    Served,
    NoShow,
    Cancelled,
    /// Closed by a DAY_RESET while still open.
    ClosedByReset,
}

impl TicketState {
    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            TicketState::Served
                | TicketState::NoShow
                | TicketState::Cancelled
                | TicketState::ClosedByReset
        )
    }

    pub fn as_str(self) -> &'static str {
        match self {
            TicketState::Waiting => "WAITING",
            TicketState::Called => "CALLED",
            TicketState::InService => "IN_SERVICE",
            TicketState::Served => "SERVED",
            TicketState::NoShow => "NO_SHOW",
            TicketState::Cancelled => "CANCELLED",
            TicketState::ClosedByReset => "CLOSED_BY_RESET",
        }
    }

    pub fn parse(s: &str) -> Option<TicketState> {
        [
            TicketState::Waiting,
            TicketState::Called,
            TicketState::InService,
            TicketState::Served,
            TicketState::NoShow,
            TicketState::Cancelled,
            TicketState::ClosedByReset,
        ]
        .into_iter()
        .find(|t| t.as_str() == s)
    }
}

/// A step of a ticket's history: an accepted queue event, or a DAY_RESET applied to it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Step {
    pub occurred_at: Millis,
    pub kind: EventKind,
    pub counter_id: String,
    pub service_code: String,
    pub transfer_to_service: String,
    pub display_number: String,
}

/// What the history of a ticket adds up to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TicketView {
    pub state: TicketState,
    pub service_code: String,
    pub display_number: String,
    /// The counter that called, is serving or served the ticket.
    pub counter_id: String,
    pub issued_at: Option<Millis>,
    pub first_called_at: Option<Millis>,
    pub last_called_at: Option<Millis>,
    pub service_started_at: Option<Millis>,
    pub served_at: Option<Millis>,
    /// When it reached a terminal state.
    pub ended_at: Option<Millis>,
    pub recalls: u32,
    pub transfers: u32,
    /// Closed by a DAY_RESET: left out of averages.
    pub reset: bool,
    /// `occurred_at` of the last effective step.
    pub last_at: Millis,
}

impl TicketView {
    /// Waiting time: first CALLED - ISSUED, when both are known.
    pub fn waiting_ms(&self) -> Option<Millis> {
        Some(self.first_called_at? - self.issued_at?).filter(|w| *w >= 0)
    }

    /// Service time: SERVED - (SERVICE_STARTED, else last CALLED); only for served tickets.
    pub fn service_ms(&self) -> Option<Millis> {
        let served = self.served_at?;
        let start = self.service_started_at.or(self.last_called_at)?;
        Some(served - start).filter(|s| *s >= 0)
    }
}

fn fill(text: &str, current: &str) -> String {
    if text.is_empty() {
        current.to_string()
    } else {
        text.to_string()
    }
}

/// Applies one step; `None` when the step changes nothing (it is not effective).
pub fn apply(view: Option<&TicketView>, step: &Step) -> Option<TicketView> {
    use EventKind as K;
    use TicketState as S;
    let t = step.occurred_at;
    let Some(v) = view else {
        // First known step. Queue systems lose events: anything but a reset starts a ticket.
        let mut v = TicketView {
            state: S::Waiting,
            service_code: step.service_code.clone(),
            display_number: step.display_number.clone(),
            counter_id: String::new(),
            issued_at: None,
            first_called_at: None,
            last_called_at: None,
            service_started_at: None,
            served_at: None,
            ended_at: None,
            recalls: 0,
            transfers: 0,
            reset: false,
            last_at: t,
        };
        return match step.kind {
            K::Issued => {
                v.issued_at = Some(t);
                Some(v)
            }
            K::DayReset | K::CounterOpened | K::CounterClosed => None,
            _ => {
                // Apply the step to an implicit waiting ticket whose issue we never heard of.
                apply(Some(&v), step)
            }
        };
    };
    let mut n = v.clone();
    n.last_at = t;
    n.service_code = fill(&step.service_code, &v.service_code);
    n.display_number = fill(&step.display_number, &v.display_number);
    match (step.kind, v.state) {
        (K::Issued, _) => return None,
        (K::Called, S::Waiting | S::Called) => {
            n.state = S::Called;
            n.counter_id = step.counter_id.clone();
            n.first_called_at = Some(v.first_called_at.unwrap_or(t));
            n.last_called_at = Some(t);
        }
        (K::Recalled, S::Called | S::Waiting) => {
            n.state = S::Called;
            n.counter_id = step.counter_id.clone();
            n.first_called_at = Some(v.first_called_at.unwrap_or(t));
            n.last_called_at = Some(t);
            if v.state == S::Called {
                n.recalls += 1;
            }
        }
        (K::ServiceStarted, S::Waiting | S::Called) => {
            n.state = S::InService;
            n.counter_id = step.counter_id.clone();
            n.service_started_at = Some(t);
        }
        (K::Served, S::Waiting | S::Called | S::InService) => {
            n.state = S::Served;
            n.counter_id = step.counter_id.clone();
            n.served_at = Some(t);
            n.ended_at = Some(t);
        }
        (K::NoShow, S::Waiting | S::Called) => {
            n.state = S::NoShow;
            n.ended_at = Some(t);
        }
        (K::Cancelled, S::Waiting | S::Called | S::InService) => {
            n.state = S::Cancelled;
            n.ended_at = Some(t);
        }
        (K::Transferred, S::Waiting | S::Called | S::InService) => {
            n.state = S::Waiting;
            n.service_code = step.transfer_to_service.clone();
            n.counter_id.clear();
            n.transfers += 1;
            // The citizen is served anew in the other service.
            n.service_started_at = None;
        }
        (K::Requeued, S::Called | S::InService | S::NoShow | S::Cancelled) => {
            n.state = S::Waiting;
            n.counter_id.clear();
            n.ended_at = None;
            n.service_started_at = None;
        }
        (K::DayReset, s) if !s.is_terminal() => {
            n.state = S::ClosedByReset;
            n.reset = true;
            n.ended_at = Some(t);
        }
        _ => return None,
    }
    Some(n)
}

/// Folds steps (already in order) and tells which of them were effective.
pub fn fold<'a>(steps: impl IntoIterator<Item = &'a Step>) -> (Option<TicketView>, Vec<bool>) {
    let mut view: Option<TicketView> = None;
    let mut effective = Vec::new();
    for s in steps {
        match apply(view.as_ref(), s) {
            Some(v) => {
                view = Some(v);
                effective.push(true);
            }
            None => effective.push(false),
        }
    }
    (view, effective)
}

/// The verdict on a new step against a ticket's accepted history.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Accepted: insert the step at `position` of the history; the ticket becomes `view`.
    Accept { position: usize, view: TicketView },
    /// Changes nothing, or would rewrite what is already decided.
    Stale { why: &'static str },
}

/// Decides on `step` given the ticket's accepted history (`history` in order).
pub fn decide(history: &[Step], step: &Step) -> Verdict {
    // After every step with occurred_at <= step's: equal times keep arrival order.
    let position = history.partition_point(|s| s.occurred_at <= step.occurred_at);
    let ordered = history[..position]
        .iter()
        .chain(std::iter::once(step))
        .chain(history[position..].iter());
    let (view, effective) = fold(ordered);
    if !effective[position] {
        let (before, _) = fold(history[..position].iter());
        let why = match before.map(|b| b.state) {
            Some(s) if s.is_terminal() => "the ticket had already ended",
            _ if step.kind == EventKind::Issued => "the ticket was already issued",
            _ => "the event changes nothing at that point of the ticket's history",
        };
        return Verdict::Stale { why };
    }
    if effective.iter().any(|e| !e) {
        return Verdict::Stale {
            why: "the event is older than steps already applied and would contradict them",
        };
    }
    match view {
        Some(view) => Verdict::Accept { position, view },
        None => Verdict::Stale {
            why: "the event changes nothing",
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn step(t: Millis, kind: EventKind) -> Step {
        Step {
            occurred_at: t,
            kind,
            counter_id: "c1".into(),
            service_code: "A".into(),
            transfer_to_service: "B".into(),
            display_number: "A001".into(),
        }
    }

    fn run(steps: &[Step]) -> (Vec<Step>, Vec<bool>) {
        let mut hist: Vec<Step> = Vec::new();
        let mut accepted = Vec::new();
        for s in steps {
            match decide(&hist, s) {
                Verdict::Accept { position, .. } => {
                    hist.insert(position, s.clone());
                    accepted.push(true);
                }
                Verdict::Stale { .. } => accepted.push(false),
            }
        }
        (hist, accepted)
    }

    #[test]
    fn normal_life() {
        use EventKind::*;
        let (h, acc) = run(&[
            step(0, Issued),
            step(60_000, Called),
            step(70_000, ServiceStarted),
            step(190_000, Served),
        ]);
        assert!(acc.iter().all(|a| *a));
        let v = fold(h.iter()).0.unwrap();
        assert_eq!(v.state, TicketState::Served);
        assert_eq!(v.waiting_ms(), Some(60_000));
        assert_eq!(v.service_ms(), Some(120_000));
    }

    #[test]
    fn out_of_order_issue_is_accepted_and_fills_waiting() {
        use EventKind::*;
        let (h, acc) = run(&[step(60_000, Called), step(0, Issued), step(100_000, Served)]);
        assert_eq!(acc, vec![true, true, true]);
        let v = fold(h.iter()).0.unwrap();
        assert_eq!(v.waiting_ms(), Some(60_000));
        assert_eq!(v.service_ms(), Some(40_000));
    }

    #[test]
    fn late_call_after_served_is_stale() {
        use EventKind::*;
        let (_, acc) = run(&[step(0, Issued), step(100, Served), step(200, Called)]);
        assert_eq!(acc, vec![true, true, false]);
    }

    #[test]
    fn served_without_call_is_accepted() {
        use EventKind::*;
        let (h, acc) = run(&[step(0, Issued), step(100, Served)]);
        assert_eq!(acc, vec![true, true]);
        assert_eq!(fold(h.iter()).0.unwrap().service_ms(), None);
    }

    #[test]
    fn late_no_show_cannot_undo_a_served() {
        use EventKind::*;
        let (h, acc) = run(&[
            step(0, Issued),
            step(50, Called),
            step(100, Served),
            step(70, NoShow),
        ]);
        assert_eq!(acc, vec![true, true, true, false]);
        assert_eq!(fold(h.iter()).0.unwrap().state, TicketState::Served);
    }

    #[test]
    fn requeue_only_after_no_show_or_cancel() {
        use EventKind::*;
        let (h, acc) = run(&[
            step(0, Issued),
            step(10, Called),
            step(20, NoShow),
            step(30, Requeued),
            step(40, Called),
            step(50, Served),
            step(60, Requeued),
        ]);
        assert_eq!(acc, vec![true, true, true, true, true, true, false]);
        let v = fold(h.iter()).0.unwrap();
        assert_eq!(v.state, TicketState::Served);
        assert_eq!(v.first_called_at, Some(10));
    }

    #[test]
    fn duplicates_in_state_are_stale() {
        use EventKind::*;
        let (_, acc) = run(&[
            step(0, Issued),
            step(1, Issued),
            step(10, ServiceStarted),
            step(11, ServiceStarted),
        ]);
        assert_eq!(acc, vec![true, false, true, false]);
    }

    #[test]
    fn reset_closes_open_ticket_and_ends_it() {
        use EventKind::*;
        let (h, acc) = run(&[step(0, Issued), step(5, DayReset), step(10, Called)]);
        assert_eq!(acc, vec![true, true, false]);
        let v = fold(h.iter()).0.unwrap();
        assert_eq!(v.state, TicketState::ClosedByReset);
        assert!(v.reset);
    }

    #[test]
    fn transfer_moves_service() {
        use EventKind::*;
        let (h, _) = run(&[step(0, Issued), step(10, Called), step(20, Transferred)]);
        let v = fold(h.iter()).0.unwrap();
        assert_eq!(v.state, TicketState::Waiting);
        assert_eq!(v.service_code, "B");
        assert_eq!(v.first_called_at, Some(10));
    }
}
