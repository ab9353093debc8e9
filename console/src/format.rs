//! Numbers, durations and times as people read them, in the user's language. Every function
//! accepts odd input (NaN, negative, huge, missing) without panicking.

use chrono::{DateTime, Datelike, TimeZone, Utc};
use chrono_tz::Tz;
use faccia_domain::figures::{decimal_sep, format_decimal, format_points, format_share, Share};
use faccia_domain::Lang;
use faccia_proto::v1::FaceCounts;

pub use faccia_domain::figures::DASH;

/// Minutes with one decimal from seconds: 504.0 -> "8,4 min".
pub fn minutes(secs: Option<f64>, lang: Lang) -> String {
    match secs {
        Some(s) if s.is_finite() && s >= 0.0 => {
            format!("{} min", format_decimal(s / 60.0, 1, lang))
        }
        _ => DASH.to_string(),
    }
}

/// Whole minutes (rounded down) from whole seconds; under a minute in seconds: "34 min", "45 s".
pub fn whole_minutes(secs: u64) -> String {
    if secs < 60 {
        format!("{secs} s")
    } else if secs < 100 * 3600 {
        format!("{} min", secs / 60)
    } else {
        format!("{} h", secs / 3600)
    }
}

/// A length of time since something: "45 s", "12 min", "3 h 05", "2 g" / "2 d".
pub fn age(secs: i64, lang: Lang) -> String {
    let secs = secs.max(0);
    if secs < 60 {
        format!("{secs} s")
    } else if secs < 3600 {
        format!("{} min", secs / 60)
    } else if secs < 48 * 3600 {
        format!("{} h {:02}", secs / 3600, (secs % 3600) / 60)
    } else {
        let d = match lang {
            Lang::It => "g",
            Lang::En => "d",
        };
        format!("{} {d}", secs / 86400)
    }
}

/// A number in the language, with `decimals` digits, dropping ",0": 34.0 -> "34", 34.5 -> "34,5".
pub fn number(v: f64, decimals: usize, lang: Lang) -> String {
    if !v.is_finite() {
        return DASH.to_string();
    }
    let s = format_decimal(v, decimals, lang);
    let sep = match lang {
        Lang::It => ',',
        Lang::En => '.',
    };
    match s.split_once(sep) {
        Some((int, frac)) if frac.chars().all(|c| c == '0') => int.to_string(),
        _ => s,
    }
}

/// A percentage given as 0..=100 (e.g. within_standard_pct) with one decimal and the sign.
pub fn percent(v: Option<f64>, lang: Lang) -> String {
    match v {
        Some(v) if v.is_finite() => format!("{}%", format_decimal(v, 1, lang)),
        _ => DASH.to_string(),
    }
}

/// `part` of `whole` with the one rounding rule: "94,4%", or a dash for nothing.
pub fn share(part: u64, whole: u64, lang: Lang) -> String {
    format_share(Share::of(part, whole), lang)
}

/// A share the server computed, in tenths of a percent: 944 -> "94,4%" / "94.4%"; a dash when
/// absent (nothing to divide by). Never divides anything itself.
pub fn tenths(v: Option<u32>, lang: Lang) -> String {
    match v {
        Some(v) => format!("{}{}{}%", v / 10, decimal_sep(lang), v % 10),
        None => DASH.to_string(),
    }
}

/// A change in tenths of a percentage point, with its sign: 12 -> "+1,2", -4 -> "−0,4", 0 ->
/// "0,0"; a dash when absent (`faccia_domain::figures::format_points`).
pub fn points(v: Option<i32>, lang: Lang) -> String {
    format_points(v.map(i64::from), lang)
}

/// Votes of a face count.
pub fn votes(f: &FaceCounts) -> u64 {
    u64::from(f.green) + u64::from(f.yellow) + u64::from(f.red)
}

/// A protobuf timestamp as UTC, or `None` when absent or out of range.
pub fn ts(t: Option<&prost_types::Timestamp>) -> Option<DateTime<Utc>> {
    let t = t?;
    let nanos = u32::try_from(t.nanos).ok()?;
    DateTime::from_timestamp(t.seconds, nanos)
}

/// The office's time zone; Europe/Rome when unknown.
pub fn tz(name: &str) -> Tz {
    name.parse().unwrap_or(chrono_tz::Europe::Rome)
}

/// "10:58" when `at` is on the same local day as `now`, else "21/11 10:58".
pub fn local_time(at: DateTime<Utc>, now: DateTime<Utc>, zone: Tz) -> String {
    let a = zone.from_utc_datetime(&at.naive_utc());
    let n = zone.from_utc_datetime(&now.naive_utc());
    if a.date_naive() == n.date_naive() {
        a.format("%H:%M").to_string()
    } else if a.year() == n.year() {
        a.format("%d/%m %H:%M").to_string()
    } else {
        a.format("%d/%m/%Y %H:%M").to_string()
    }
}

/// "10:58:03", for the event log.
pub fn clock_secs(at: DateTime<Utc>, zone: Tz) -> String {
    zone.from_utc_datetime(&at.naive_utc())
        .format("%H:%M:%S")
        .to_string()
}

/// The header clock: "lun 23/11/2026 11:15" / "Mon 23/11/2026 11:15".
pub fn header_clock(now: DateTime<Utc>, zone: Tz, lang: Lang) -> String {
    let local = zone.from_utc_datetime(&now.naive_utc());
    let day = local.weekday().num_days_from_monday() as usize;
    let names = match lang {
        Lang::It => ["lun", "mar", "mer", "gio", "ven", "sab", "dom"],
        Lang::En => ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"],
    };
    format!("{} {}", names[day % 7], local.format("%d/%m/%Y %H:%M"))
}

/// A date for period bounds: "01/11/2026".
pub fn date(at: DateTime<Utc>, zone: Tz) -> String {
    zone.from_utc_datetime(&at.naive_utc())
        .format("%d/%m/%Y")
        .to_string()
}

/// Cuts a string to at most `max` characters, with an ellipsis when cut.
pub fn cut(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_string();
    }
    if max == 0 {
        return String::new();
    }
    let mut out: String = s.chars().take(max - 1).collect();
    out.push('…');
    out
}

/// Cuts a sentence to at most `max` characters at a word boundary, with an ellipsis when cut,
/// so that no figure is ever shown in part ("attesa di 2…" never happens).
pub fn fit(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_string();
    }
    if max == 0 {
        return String::new();
    }
    let head: String = s.chars().take(max - 1).collect();
    // The first word after the cut starts at the next char: keep the head only up to a space.
    let whole = s.chars().nth(max - 1).is_some_and(char::is_whitespace);
    let kept = if whole {
        head.trim_end().to_string()
    } else {
        match head.rfind(' ') {
            Some(i) => head[..i].trim_end_matches([' ', ',', ':', ';']).to_string(),
            None => head,
        }
    };
    format!("{kept} …")
}

/// A sparkline as text, one block character per value, scaled to the maximum.
pub fn spark(values: &[u32]) -> String {
    const BARS: [char; 8] = ['▁', '▂', '▃', '▄', '▅', '▆', '▇', '█'];
    let max = values.iter().copied().max().unwrap_or(0);
    values
        .iter()
        .map(|&v| {
            if max == 0 || v == 0 {
                ' '
            } else {
                let i = (u64::from(v) * 7).div_ceil(u64::from(max)) as usize;
                BARS[i.min(7)]
            }
        })
        .collect()
}

/// Down-samples `values` into `width` buckets, keeping each bucket's maximum.
pub fn resample_max(values: &[u32], width: usize) -> Vec<u32> {
    if width == 0 || values.is_empty() {
        return Vec::new();
    }
    if values.len() <= width {
        return values.to_vec();
    }
    (0..width)
        .map(|i| {
            let start = i * values.len() / width;
            let end = ((i + 1) * values.len() / width).max(start + 1);
            values[start..end.min(values.len())]
                .iter()
                .copied()
                .max()
                .unwrap_or(0)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn odd_numbers() {
        assert_eq!(minutes(Some(504.0), Lang::It), "8,4 min");
        assert_eq!(minutes(Some(f64::NAN), Lang::It), DASH);
        assert_eq!(minutes(Some(-3.0), Lang::En), DASH);
        assert_eq!(minutes(None, Lang::En), DASH);
        assert_eq!(number(34.0, 1, Lang::It), "34");
        assert_eq!(number(34.5, 1, Lang::It), "34,5");
        assert_eq!(number(f64::INFINITY, 1, Lang::It), DASH);
        assert_eq!(share(255, 270, Lang::It), "94,4%");
        assert_eq!(share(1, 0, Lang::It), DASH);
        assert_eq!(tenths(Some(944), Lang::It), "94,4%");
        assert_eq!(tenths(Some(1000), Lang::En), "100.0%");
        assert_eq!(tenths(Some(5), Lang::It), "0,5%");
        assert_eq!(tenths(None, Lang::It), DASH);
        assert_eq!(tenths(Some(u32::MAX), Lang::It), "429496729,5%");
        assert_eq!(points(Some(12), Lang::It), "+1,2");
        assert_eq!(points(Some(-4), Lang::En), "\u{2212}0.4");
        assert_eq!(points(Some(0), Lang::It), "0,0");
        assert_eq!(points(Some(i32::MIN), Lang::It), "\u{2212}214748364,8");
        assert_eq!(points(None, Lang::It), DASH);
        assert_eq!(whole_minutes(u64::MAX), format!("{} h", u64::MAX / 3600));
        assert_eq!(age(-5, Lang::It), "0 s");
        assert_eq!(age(3 * 86400, Lang::En), "3 d");
        assert_eq!(cut("Sportello anagrafe", 10), "Sportello…");
        assert_eq!(
            cut("abc", 0),
            "abc".chars().take(0).collect::<String>() + ""
        );
    }

    #[test]
    fn timestamps_out_of_range() {
        let t = prost_types::Timestamp {
            seconds: i64::MAX,
            nanos: 0,
        };
        assert_eq!(ts(Some(&t)), None);
        let t = prost_types::Timestamp {
            seconds: 0,
            nanos: -1,
        };
        assert_eq!(ts(Some(&t)), None);
    }

    #[test]
    fn local_times_use_the_office_zone() {
        let now = Utc.with_ymd_and_hms(2026, 11, 24, 8, 0, 0).unwrap();
        let zone = tz("Europe/Rome");
        assert_eq!(local_time(now, now, zone), "09:00");
        assert_eq!(tz("Mars/Olympus"), chrono_tz::Europe::Rome);
    }

    #[test]
    fn sparks() {
        assert_eq!(spark(&[0, 1, 2, 4]).chars().count(), 4);
        assert_eq!(spark(&[0, 0]), "  ");
        assert_eq!(spark(&[u32::MAX, 1]).chars().next(), Some('█'));
        assert_eq!(resample_max(&[1, 5, 2, 3], 2), vec![5, 3]);
        assert_eq!(resample_max(&[1, 2], 5), vec![1, 2]);
        assert!(resample_max(&[], 5).is_empty());
    }
}
