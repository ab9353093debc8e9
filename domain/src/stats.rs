//! Figures over tickets and votes: averages, percentiles, service levels, local days.

use chrono::{DateTime, Datelike, Days, NaiveDate, TimeZone, Utc};
use chrono_tz::Tz;

use crate::event::Millis;

/// Arithmetic mean, `None` for no values.
pub fn mean(values: &[i64]) -> Option<f64> {
    if values.is_empty() {
        None
    } else {
        Some(values.iter().map(|v| *v as f64).sum::<f64>() / values.len() as f64)
    }
}

/// Nearest-rank percentile (`p` in 0..=100): the smallest value with at least p% of the values
/// at or below it. Reorders `values`.
pub fn percentile(values: &mut [i64], p: f64) -> Option<i64> {
    if values.is_empty() {
        return None;
    }
    let n = values.len();
    let rank = ((p / 100.0) * n as f64).ceil() as usize;
    // The value of that rank, found without sorting the rest (linear, not n log n).
    let (_, v, _) = values.select_nth_unstable(rank.clamp(1, n) - 1);
    Some(*v)
}

/// The local calendar date of an instant in the site's time zone.
pub fn local_date(tz: Tz, at: Millis) -> NaiveDate {
    match DateTime::<Utc>::from_timestamp_millis(at) {
        Some(t) => t.with_timezone(&tz).date_naive(),
        None => NaiveDate::MIN,
    }
}

/// First instant of a local date (handles DST: the earliest valid local midnight).
pub fn start_of_date(tz: Tz, date: NaiveDate) -> Millis {
    let Some(midnight) = date.and_hms_opt(0, 0, 0) else {
        return 0;
    };
    match tz.from_local_datetime(&midnight).earliest() {
        Some(t) => t.timestamp_millis(),
        // A midnight that does not exist (DST jump at 00:00): try an hour later.
        None => tz
            .from_local_datetime(&(midnight + chrono::Duration::hours(1)))
            .earliest()
            .map(|t| t.timestamp_millis())
            .unwrap_or(0),
    }
}

/// [start, end) of the local day containing `at`.
pub fn day_bounds(tz: Tz, at: Millis) -> (Millis, Millis) {
    let d = local_date(tz, at);
    let next = d.checked_add_days(Days::new(1)).unwrap_or(d);
    (start_of_date(tz, d), start_of_date(tz, next))
}

/// [start, end) of the ISO week (Monday first) containing `at`.
pub fn week_bounds(tz: Tz, at: Millis) -> (Millis, Millis) {
    let d = local_date(tz, at);
    let monday = d - chrono::Duration::days(i64::from(d.weekday().num_days_from_monday()));
    let next = monday + chrono::Duration::days(7);
    (start_of_date(tz, monday), start_of_date(tz, next))
}

/// [start, end) of a calendar month.
pub fn month_bounds(tz: Tz, year: i32, month: u32) -> Option<(Millis, Millis)> {
    let first = NaiveDate::from_ymd_opt(year, month, 1)?;
    let next = if month == 12 {
        NaiveDate::from_ymd_opt(year + 1, 1, 1)?
    } else {
        NaiveDate::from_ymd_opt(year, month + 1, 1)?
    };
    Some((start_of_date(tz, first), start_of_date(tz, next)))
}

/// [start, end) of the month containing `at`.
pub fn month_bounds_at(tz: Tz, at: Millis) -> (Millis, Millis) {
    let d = local_date(tz, at);
    month_bounds(tz, d.year(), d.month()).unwrap_or((at, at))
}

/// Does a ticket that started at `from` and ended at `to` span a local midnight? Such tickets
/// are flagged and left out of averages.
pub fn spans_midnight(tz: Tz, from: Millis, to: Millis) -> bool {
    local_date(tz, from) != local_date(tz, to)
}

/// Waiting and service figures of one group of tickets (a service, a counter, the office).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct WaitFigures {
    /// Tickets with a known waiting time, not flagged.
    pub counted: u64,
    pub avg_ms: Option<f64>,
    pub p90_ms: Option<i64>,
    /// Of `counted`, how many waited no longer than the declared standard.
    pub within_standard: u64,
}

/// Averages and the service level over waiting times (flagged tickets already left out).
pub fn wait_figures(waits: &mut [i64], standard_ms: Option<i64>) -> WaitFigures {
    let within = standard_ms
        .map(|s| waits.iter().filter(|w| **w <= s).count() as u64)
        .unwrap_or(0);
    WaitFigures {
        counted: waits.len() as u64,
        avg_ms: mean(waits),
        p90_ms: percentile(waits, 90.0),
        within_standard: within,
    }
}

/// Number of quarter-hour slots in a day.
pub const SLOTS_PER_DAY: usize = 96;
const SLOT_MS: Millis = 15 * 60 * 1000;

/// How many tickets were waiting at the start of each quarter hour of the day starting at
/// `day_start`, up to `now`. Each interval is [issued, called-or-ended) — `None` end = still waiting.
///
/// One pass over the intervals (each adds one at its first slot and takes one away after its
/// last), not one per slot: a busy day is a hundred thousand tickets.
pub fn waiting_by_slot(
    day_start: Millis,
    now: Millis,
    intervals: &[(Millis, Option<Millis>)],
) -> Vec<u32> {
    // The first slot starting at or after `at` (may be before 0 or past the day).
    let slot_from = |at: Millis| -> i64 { -(-(at - day_start)).div_euclid(SLOT_MS) };
    let days_slots = SLOTS_PER_DAY as i64;
    let mut delta = vec![0i64; SLOTS_PER_DAY + 1];
    for (from, to) in intervals {
        // Slots `at` with from <= at < to.
        let first = slot_from(*from).clamp(0, days_slots);
        let end = to.map_or(days_slots, |t| slot_from(t).clamp(0, days_slots));
        if first < end {
            delta[first as usize] += 1;
            delta[end as usize] -= 1;
        }
    }
    let mut out = vec![0u32; SLOTS_PER_DAY];
    let mut running = 0i64;
    for (i, slot) in out.iter_mut().enumerate() {
        running += delta[i];
        if day_start + i as Millis * SLOT_MS > now {
            break;
        }
        *slot = u32::try_from(running).unwrap_or(u32::MAX);
    }
    out
}

/// Seconds from milliseconds, for display.
pub fn secs(ms: f64) -> f64 {
    ms / 1000.0
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::DAY_MS;

    proptest::proptest! {
        /// The one-pass count is the count of each slot's waiting tickets.
        #[test]
        fn waiting_by_slot_counts_each_slot(
            day_start in -2_000_000i64..2_000_000,
            now_after in 0i64..(DAY_MS + 2 * SLOT_MS),
            raw in proptest::collection::vec(
                (-3 * SLOT_MS..DAY_MS + 3 * SLOT_MS, proptest::option::of(0i64..DAY_MS)),
                0..40,
            ),
        ) {
            let intervals: Vec<(Millis, Option<Millis>)> = raw
                .iter()
                .map(|(from, len)| (day_start + from, len.map(|l| day_start + from + l)))
                .collect();
            let now = day_start + now_after;
            let mut want = vec![0u32; SLOTS_PER_DAY];
            for (i, slot) in want.iter_mut().enumerate() {
                let at = day_start + i as Millis * SLOT_MS;
                if at > now {
                    break;
                }
                *slot = intervals
                    .iter()
                    .filter(|(from, to)| *from <= at && to.is_none_or(|t| t > at))
                    .count() as u32;
            }
            proptest::prop_assert_eq!(waiting_by_slot(day_start, now, &intervals), want);
        }
    }

    #[test]
    fn percentile_nearest_rank() {
        let mut v: Vec<i64> = (1..=10).collect();
        assert_eq!(percentile(&mut v, 90.0), Some(9));
        assert_eq!(percentile(&mut v, 100.0), Some(10));
        assert_eq!(percentile(&mut [5], 90.0), Some(5));
        assert_eq!(percentile(&mut [], 90.0), None);
        assert_eq!(mean(&[1, 2]), Some(1.5));
    }

    #[test]
    fn rome_days_and_midnight() {
        let tz: Tz = "Europe/Rome".parse().unwrap();
        // 2026-07-01 23:30 Rome = 21:30 UTC
        let late = 1_782_941_400_000; // 2026-07-01T21:30:00Z
        let (start, end) = day_bounds(tz, late);
        assert_eq!(end - start, 24 * 3600 * 1000);
        assert!(spans_midnight(tz, late, late + 60 * 60 * 1000));
        assert!(!spans_midnight(tz, late - 60 * 60 * 1000, late));
        let (m0, m1) = month_bounds(tz, 2026, 3).unwrap();
        // March has the switch to summer time: 31 days minus one hour.
        assert_eq!(m1 - m0, 31 * 24 * 3600 * 1000 - 3600 * 1000);
    }

    #[test]
    fn service_level() {
        let mut w = vec![60_000, 600_000, 1_200_000, 1_260_000];
        let f = wait_figures(&mut w, Some(1_200_000));
        assert_eq!(f.within_standard, 3);
        assert_eq!(f.counted, 4);
    }

    #[test]
    fn slots() {
        let s = waiting_by_slot(0, SLOT_MS * 2, &[(0, Some(SLOT_MS + 1)), (SLOT_MS, None)]);
        assert_eq!(&s[..4], &[1, 2, 1, 0]);
    }
}
