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

#[cfg(test)]
mod tests {
    use super::*;

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
