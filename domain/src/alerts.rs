//! When the console raises an alert. One place for each rule.

use crate::event::Millis;
use crate::figures::Share;

/// Red share over the recent window that raises an alert, in tenths of a percent (50%).
pub const RED_SHARE_TENTHS: u64 = 500;
/// Minimum votes in the window before the red share means anything.
pub const RED_MIN_VOTES: u64 = 4;
/// The window for the red-share rule.
pub const RED_WINDOW_MS: Millis = 15 * 60 * 1000;
/// Ignored presses within [`IGNORED_WINDOW_MS`] that count as a burst.
pub const IGNORED_BURST: u64 = 10;
pub const IGNORED_WINDOW_MS: Millis = 5 * 60 * 1000;

/// Red share rule: at least 50% red over the last 15 minutes with at least 4 votes.
pub fn red_share_alert(red: u64, votes: u64) -> Option<Share> {
    if votes < RED_MIN_VOTES {
        return None;
    }
    Share::of(red, votes).filter(|s| s.tenths() >= RED_SHARE_TENTHS)
}

/// Waiting-time rule: someone is waiting longer than the declared standard.
pub fn wait_alert(longest_wait_ms: Millis, standard_min: Option<u32>) -> bool {
    standard_min.is_some_and(|m| longest_wait_ms > i64::from(m) * 60_000)
}

/// Ignored-press rule: an unusual burst of presses that did not count at one keypad.
pub fn ignored_burst_alert(ignored_in_window: u64) -> bool {
    ignored_in_window >= IGNORED_BURST
}

/// Ignored presses of one keypad over the last [`IGNORED_WINDOW_MS`], for the burst rule.
#[derive(Debug, Clone, Default)]
pub struct IgnoredPresses {
    recent: std::collections::VecDeque<(Millis, u64)>,
}

impl IgnoredPresses {
    /// `delta` more presses that did not count, seen at `now`.
    pub fn add(&mut self, now: Millis, delta: u64) {
        if delta > 0 {
            self.recent.push_back((now, delta));
        }
        self.forget(now);
    }

    /// How many within the window ending at `now`.
    pub fn in_window(&mut self, now: Millis) -> u64 {
        self.forget(now);
        self.recent.iter().map(|(_, d)| d).sum()
    }

    fn forget(&mut self, now: Millis) {
        while self
            .recent
            .front()
            .is_some_and(|(t, _)| *t <= now - IGNORED_WINDOW_MS)
        {
            self.recent.pop_front();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ignored_presses_window() {
        let mut w = IgnoredPresses::default();
        w.add(0, 4);
        w.add(60_000, 6);
        assert_eq!(w.in_window(60_000), 10);
        assert!(ignored_burst_alert(w.in_window(60_000)));
        assert_eq!(w.in_window(IGNORED_WINDOW_MS + 1), 6);
        assert!(!ignored_burst_alert(w.in_window(IGNORED_WINDOW_MS + 1)));
        assert_eq!(w.in_window(60_000 + IGNORED_WINDOW_MS), 0);
    }

    #[test]
    fn red_share() {
        assert!(red_share_alert(2, 4).is_some());
        assert!(red_share_alert(3, 3).is_none());
        assert!(red_share_alert(1, 4).is_none());
    }

    #[test]
    fn waits() {
        assert!(wait_alert(20 * 60_000 + 1, Some(20)));
        assert!(!wait_alert(20 * 60_000, Some(20)));
        assert!(!wait_alert(i64::MAX, None));
    }
}
