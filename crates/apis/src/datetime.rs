//! The strict shapes in which the built-in APIs accept dates, times and offsets (digits in fixed places, no
//! signs, no spaces), read into jiff's calendar types, which check that the day exists and do the arithmetic.
//!
//! jiff's own parsers accept more than the APIs have always documented and stored: the basic format
//! (`20240501T093000Z`), signed six-digit years, offsets without a colon, with seconds or up to 25 hours, comma
//! fractions, time-zone annotations (`[Europe/Berlin]`). So the shape is checked here and jiff is given the
//! numbers; each API then reads the time of day its own way (`workflow::dates`, `odata::edm`).
//!
//! Offsets are applied on civil date-times, not through `jiff::Timestamp`: a `Timestamp` ends at
//! 9999-12-30T22:00:00Z (so that any offset can still show it), a day before the last one RFC 3339 writes.

use jiff::civil::{Date, DateTime};
use jiff::tz::Offset;
use jiff::SignedDuration;
use std::str::FromStr;

/// 1970-01-01T00:00:00 (UTC), from which Unix seconds count.
const EPOCH: DateTime = DateTime::constant(1970, 1, 1, 0, 0, 0, 0);

/// The UTC date-time of `local`, a date-time at `offset`; `None` past the years jiff knows (±9999).
pub fn to_utc(local: DateTime, offset: Offset) -> Option<DateTime> {
    local
        .checked_sub(SignedDuration::from_secs(i64::from(offset.seconds())))
        .ok()
}

/// Unix seconds of a UTC date-time (the fraction dropped, rounding down).
pub fn unix_seconds(utc: DateTime) -> i64 {
    let since = utc.duration_since(EPOCH);
    since.as_secs() - i64::from(since.subsec_nanos() < 0)
}

/// The UTC date-time `seconds` after 1970; `None` past the years jiff knows (±9999).
pub fn from_unix_seconds(seconds: i64) -> Option<DateTime> {
    EPOCH.checked_add(SignedDuration::from_secs(seconds)).ok()
}

/// Exactly `len` ASCII digits, as a number.
pub fn digits<T: FromStr>(text: &str, len: usize) -> Option<T> {
    (text.len() == len && text.bytes().all(|b| b.is_ascii_digit()))
        .then(|| text.parse().ok())
        .flatten()
}

/// `YYYY-MM-DD`: a day that exists, in years 0000-9999.
pub fn date(text: &str) -> Option<Date> {
    let b = text.as_bytes();
    if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
        return None;
    }
    Date::new(digits(&text[..4], 4)?, digits(&text[5..7], 2)?, digits(&text[8..], 2)?).ok()
}

/// `Z`, `z` or `±HH:MM` with hours up to 23 (`-00:00` is UTC).
pub fn offset(text: &str) -> Option<Offset> {
    if matches!(text, "Z" | "z") {
        return Some(Offset::UTC);
    }
    let b = text.as_bytes();
    if b.len() != 6 || !matches!(b[0], b'+' | b'-') || b[3] != b':' {
        return None;
    }
    signed_offset(b[0] == b'-', digits(&text[1..3], 2)?, digits(&text[4..], 2)?)
}

/// The offset of `hours` (up to 23) and `minutes` (up to 59), west of UTC when `negative`.
pub fn signed_offset(negative: bool, hours: i32, minutes: i32) -> Option<Offset> {
    if !(0..=23).contains(&hours) || !(0..=59).contains(&minutes) {
        return None;
    }
    let seconds = (hours * 60 + minutes) * 60;
    Offset::from_seconds(if negative { -seconds } else { seconds }).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_are_four_two_two_digits_of_a_day_that_exists() {
        assert_eq!(date("2024-02-29"), Some(Date::constant(2024, 2, 29)));
        assert_eq!(date("0000-01-01"), Some(Date::constant(0, 1, 1)));
        assert_eq!(date("9999-12-31"), Some(Date::constant(9999, 12, 31)));
        for bad in [
            "2023-02-29",
            "1900-02-29",
            "2024-04-31",
            "2024-13-01",
            "2024-00-10",
            "2024-01-00",
            "24-01-01",
            "2024-1-01",
            // Accepted by jiff's parser, not here: basic format, signed and six-digit years.
            "20240501",
            "+002024-05-01",
            "-000001-01-01",
            // Signs slipped through the old parser (`"+202".parse()` is 202): stored as sent, they broke the
            // text order of dates.
            "+202-05-01",
            "-202-05-01",
            " 202-05-01",
            "2024-05-01T00:00:00Z",
            "２０２４-05-01",
        ] {
            assert_eq!(date(bad), None, "{bad}");
        }
    }

    #[test]
    fn unix_seconds_cover_years_0000_to_9999() {
        let last = DateTime::constant(9999, 12, 31, 23, 59, 59, 999_999_999);
        assert_eq!(unix_seconds(last), 253_402_300_799);
        assert_eq!(
            from_unix_seconds(253_402_300_799),
            Some(last.with().subsec_nanosecond(0).build().unwrap())
        );
        let first = DateTime::constant(0, 1, 1, 0, 0, 0, 0);
        assert_eq!(unix_seconds(first), -62_167_219_200);
        assert_eq!(from_unix_seconds(-62_167_219_200), Some(first));
        assert_eq!(
            unix_seconds(DateTime::constant(1969, 12, 31, 23, 59, 59, 500_000_000)),
            -1
        );
        assert_eq!(from_unix_seconds(i64::MAX), None);
        let offset = offset("+02:00").unwrap();
        assert_eq!(to_utc(first, offset), Some(DateTime::constant(-1, 12, 31, 22, 0, 0, 0)));
    }

    #[test]
    fn offsets_are_z_or_signed_hours_and_minutes() {
        assert_eq!(offset("Z"), Some(Offset::UTC));
        assert_eq!(offset("z"), Some(Offset::UTC));
        assert_eq!(offset("-00:00"), Some(Offset::UTC));
        assert_eq!(offset("+05:30").map(Offset::seconds), Some(19_800));
        assert_eq!(offset("-23:59").map(Offset::seconds), Some(-86_340));
        // jiff accepts these; the APIs never did.
        for bad in [
            "+0530",
            "+05",
            "+05:30:00",
            "+24:00",
            "+25:00",
            "+05:60",
            "05:30",
            "UTC",
            "",
        ] {
            assert_eq!(offset(bad), None, "{bad}");
        }
    }
}
