//! Dates and times as clients send them, read and written with jiff: RFC 3339 (`2024-05-01T09:30:00Z`) and
//! `YYYY-MM-DD` (in the strict shapes of [`crate::datetime`]), and, for .NET clients of K2:
//! `\/Date(1795987914337+0000)\/` as `DataContractJsonSerializer` and older Json.NET write a `DateTime` (milliseconds since 1970 UTC, with the
//! sender's offset for information), and ISO 8601 without an offset (`2024-05-01T09:30:00.1234567`, Json.NET's
//! form of an unspecified-kind `DateTime`), taken as UTC.

use crate::datetime;
use jiff::civil::Time;
use jiff::tz::Offset;
use jiff::Timestamp;

/// Formats Unix seconds as RFC 3339 in UTC: `2024-05-01T09:30:00Z`. RFC 3339 writes years 0000-9999 only: an
/// instant outside them (no caller has one: they are now, or at most ten years ahead) is written as the first
/// or last second it can write.
pub fn format_rfc3339(seconds: i64) -> String {
    // Within years 0000-9999 after the clamp, which jiff's civil date-times cover.
    datetime::from_unix_seconds(seconds.clamp(FIRST_SECOND, LAST_SECOND))
        .map(|utc| utc.strftime("%Y-%m-%dT%H:%M:%SZ").to_string())
        .unwrap_or_default()
}

/// Parses `YYYY-MM-DD` into days since 1970-01-01, checking the day exists.
pub fn parse_date(text: &str) -> Option<i64> {
    let midnight = datetime::date(text)?.to_datetime(Time::midnight());
    Some(datetime::unix_seconds(midnight).div_euclid(86_400))
}

/// Parses RFC 3339 (`YYYY-MM-DDTHH:MM:SS[.fraction](Z|±HH:MM)`) into Unix seconds, the fraction dropped.
/// Also accepted, as RFC 3339 allows: `t` or a space for `T`, `z` for `Z`, `-00:00`, a leap second (`:60`,
/// taken as `:59`), a fraction of any length. Refused, though jiff's parser takes them: no seconds, a comma
/// before the fraction, offsets without a colon or beyond 23 hours. jiff checks the day and time exist and
/// applies the offset (on civil date-times: see [`crate::datetime`]).
pub fn parse_rfc3339(text: &str) -> Option<i64> {
    if text.len() < 20 || !text.is_char_boundary(10) || !text.is_char_boundary(19) {
        return None;
    }
    let date = datetime::date(&text[..10])?;
    if !matches!(text.as_bytes()[10], b'T' | b't' | b' ') {
        return None;
    }
    let clock = &text[11..19];
    if clock.as_bytes()[2] != b':' || clock.as_bytes()[5] != b':' {
        return None;
    }
    let (h, mi, s): (i8, i8, i8) = (
        datetime::digits(&clock[..2], 2)?,
        datetime::digits(&clock[3..5], 2)?,
        datetime::digits(&clock[6..], 2)?,
    );
    if s > 60 {
        return None;
    }
    let time = Time::new(h, mi, s.min(59), 0).ok()?;
    let mut rest = &text[19..];
    if let Some(fraction) = rest.strip_prefix('.') {
        let digits = fraction.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return None;
        }
        rest = &fraction[digits..];
    }
    let offset = datetime::offset(rest)?;
    let seconds = datetime::unix_seconds(datetime::to_utc(date.to_datetime(time), offset)?);
    // An offset can carry a time past year 0000 or 9999 in UTC, which RFC 3339 cannot write back.
    (FIRST_SECOND..=LAST_SECOND).contains(&seconds).then_some(seconds)
}

/// 0000-01-01T00:00:00Z and 9999-12-31T23:59:59Z in Unix seconds: the instants RFC 3339 can write.
const FIRST_SECOND: i64 = -62_167_219_200;
const LAST_SECOND: i64 = 253_402_300_799;

/// A .NET date: `/Date(ms)/`, `/Date(ms+hhmm)/` or `/Date(ms-hhmm)/` (the JSON text's `\/` is already `/`).
/// The milliseconds count from 1970-01-01 UTC whatever the offset; the offset is where the sender was.
pub fn parse_dotnet(text: &str) -> Option<(Timestamp, Offset)> {
    let inner = text.strip_prefix("/Date(")?.strip_suffix(")/")?;
    let split = inner
        .char_indices()
        .skip(1)
        .find(|(_, c)| matches!(c, '+' | '-'))
        .map_or(inner.len(), |(i, _)| i);
    let (millis, offset) = inner.split_at(split);
    let digits = millis.strip_prefix('-').unwrap_or(millis);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let timestamp = Timestamp::from_millisecond(millis.parse().ok()?).ok()?;
    let offset = match offset.as_bytes() {
        [] => Offset::UTC,
        [sign @ (b'+' | b'-'), _, _, _, _] => datetime::signed_offset(
            *sign == b'-',
            datetime::digits(offset.get(1..3)?, 2)?,
            datetime::digits(offset.get(3..)?, 2)?,
        )?,
        _ => return None,
    };
    Some((timestamp, offset))
}

/// ISO 8601 without an offset (`2024-05-01T09:30:00`, optional fraction), taken as UTC.
fn parse_unzoned(text: &str) -> Option<Timestamp> {
    if text.len() < 16 || text.as_bytes().get(10) != Some(&b'T') {
        return None;
    }
    let civil: jiff::civil::DateTime = text.parse().ok()?;
    Offset::UTC.to_timestamp(civil).ok()
}

/// A date-time in any accepted form: RFC 3339, a .NET date, or ISO 8601 without an offset (UTC).
pub fn parse_any_datetime(text: &str) -> Option<DateTime> {
    if parse_rfc3339(text).is_some() {
        return Some(DateTime::Rfc3339(text.to_string()));
    }
    parse_dotnet(text)
        .map(|(t, _)| t)
        .or_else(|| parse_unzoned(text))
        .filter(|t| (1..=9999).contains(&Offset::UTC.to_datetime(*t).year()))
        .map(DateTime::Converted)
}

/// A date-time a client sent, in the form it is stored and shown.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DateTime {
    /// Already RFC 3339: kept as sent.
    Rfc3339(String),
    /// Converted from another form: shown as RFC 3339 in UTC.
    Converted(Timestamp),
}

impl DateTime {
    /// Unix seconds (rounded down).
    pub fn unix_seconds(&self) -> i64 {
        match self {
            Self::Rfc3339(text) => parse_rfc3339(text).unwrap_or_default(),
            Self::Converted(t) => t.as_millisecond().div_euclid(1000),
        }
    }

    /// The RFC 3339 text.
    pub fn to_rfc3339(&self) -> String {
        match self {
            Self::Rfc3339(text) => text.clone(),
            Self::Converted(t) => t.to_string(),
        }
    }

    /// Whether it is .NET's `DateTime.MinValue` (`0001-01-01T00:00:00`), what a .NET client sends for a
    /// `DateTime` it did not set.
    pub fn is_dotnet_min_value(&self) -> bool {
        matches!(self, Self::Converted(t) if t.as_second() == -62_135_596_800)
    }
}

/// A date in any accepted form: `YYYY-MM-DD` as sent, or a .NET date, which becomes the calendar date where
/// the sender was (its offset). Returns `YYYY-MM-DD`.
pub fn parse_any_date(text: &str) -> Option<String> {
    if parse_date(text).is_some() {
        return Some(text.to_string());
    }
    let (timestamp, offset) = parse_dotnet(text)?;
    let date = offset.to_datetime(timestamp).date();
    (1..=9999)
        .contains(&date.year())
        .then(|| format!("{:04}-{:02}-{:02}", date.year(), date.month(), date.day()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dotnet_dates_are_milliseconds_since_1970_utc_with_an_informational_offset() {
        let (t, o) = parse_dotnet("/Date(1795987914337+0000)/").unwrap();
        assert_eq!((t.as_millisecond(), o), (1_795_987_914_337, Offset::UTC));
        let (t, o) = parse_dotnet("/Date(1714555800000-0500)/").unwrap();
        assert_eq!((t.as_second(), o.seconds()), (1_714_555_800, -5 * 3600));
        let (t, _) = parse_dotnet("/Date(-62135596800000)/").unwrap();
        assert_eq!(t.as_second(), -62_135_596_800);
        for bad in [
            "/Date()/",
            "/Date(12a)/",
            "/Date(1+00)/",
            "/Date(1+2500)/",
            "/Date(1+1\u{e9}2)/",
            "Date(1)",
            "/Date(99999999999999999)/",
            "/Date(1)",
        ] {
            assert!(parse_dotnet(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn datetimes_in_every_accepted_form() {
        let kept = parse_any_datetime("2024-05-01T11:30:00+02:00").unwrap();
        assert_eq!(kept.to_rfc3339(), "2024-05-01T11:30:00+02:00");
        assert_eq!(kept.unix_seconds(), 1_714_555_800);
        let dotnet = parse_any_datetime("/Date(1795987914337+0000)/").unwrap();
        assert_eq!(dotnet.to_rfc3339(), "2026-11-29T21:31:54.337Z");
        assert_eq!(dotnet.unix_seconds(), 1_795_987_914);
        let unzoned = parse_any_datetime("2024-05-01T09:30:00.1234567").unwrap();
        assert_eq!(unzoned.to_rfc3339(), "2024-05-01T09:30:00.1234567Z");
        assert!(parse_any_datetime("/Date(-62135596800000)/")
            .unwrap()
            .is_dotnet_min_value());
        for bad in [
            "2024-05-01",
            "tomorrow",
            "2024-02-30T00:00:00",
            "/Date(-99999999999999)/",
        ] {
            assert!(parse_any_datetime(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn dotnet_dates_give_the_calendar_date_where_the_sender_was() {
        assert_eq!(parse_any_date("2024-02-29").as_deref(), Some("2024-02-29"));
        // 2024-04-30T22:00:00Z is already 1 May in Berlin (+0200).
        assert_eq!(
            parse_any_date("/Date(1714514400000+0200)/").as_deref(),
            Some("2024-05-01")
        );
        assert_eq!(parse_any_date("/Date(1714514400000)/").as_deref(), Some("2024-04-30"));
        assert!(parse_any_date("2023-02-29").is_none());
    }

    #[test]
    fn rfc3339_round_trips_and_validates() {
        assert_eq!(format_rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(format_rfc3339(1_714_555_800), "2024-05-01T09:30:00Z");
        assert_eq!(parse_rfc3339("2024-05-01T09:30:00Z"), Some(1_714_555_800));
        assert_eq!(parse_rfc3339("2024-05-01T11:30:00.123+02:00"), Some(1_714_555_800));
        assert_eq!(parse_rfc3339("2024-02-30T00:00:00Z"), None);
        assert_eq!(parse_rfc3339("2024-05-01"), None);
        assert_eq!(parse_rfc3339("2024-05-01T25:00:00Z"), None);
        assert_eq!(parse_rfc3339("2024-05-01T09:30:00é"), None);
    }

    /// Found by the `dates` fuzz target: an offset carried the instant before year 0000, which was accepted
    /// and then written as `-001-12-31T23:30:23Z`, not RFC 3339.
    #[test]
    fn an_offset_cannot_carry_a_time_out_of_the_years_rfc3339_writes() {
        assert_eq!(parse_rfc3339("0000-01-01T01:30:23+02:00"), None);
        assert_eq!(parse_rfc3339("9999-12-31T23:00:00-02:00"), None);
        assert_eq!(parse_rfc3339("0000-01-01T00:00:00Z"), Some(FIRST_SECOND));
        assert_eq!(parse_rfc3339("9999-12-31T23:59:59Z"), Some(LAST_SECOND));
        assert_eq!(format_rfc3339(FIRST_SECOND), "0000-01-01T00:00:00Z");
        assert_eq!(format_rfc3339(LAST_SECOND), "9999-12-31T23:59:59Z");
    }

    /// Where jiff's RFC 3339 / Temporal parser differs from what this API accepted, the old behaviour stays
    /// (values stored as sent are read back with this parser, and clients have relied on both sides).
    #[test]
    fn rfc3339_keeps_its_profile_where_jiff_differs() {
        let at = Some(1_714_555_800);
        // Accepted (RFC 3339 allows them): lower-case t and z, a space separator, -00:00, long fractions.
        assert_eq!(parse_rfc3339("2024-05-01t09:30:00z"), at);
        assert_eq!(parse_rfc3339("2024-05-01 09:30:00Z"), at);
        assert_eq!(parse_rfc3339("2024-05-01T09:30:00-00:00"), at);
        assert_eq!(parse_rfc3339("2024-05-01T09:30:00.123456789012Z"), at);
        // A leap second is taken as :59, of any day.
        assert_eq!(
            parse_rfc3339("2016-12-31T23:59:60Z"),
            parse_rfc3339("2016-12-31T23:59:59Z")
        );
        assert_eq!(parse_rfc3339("2024-05-01T09:30:60Z"), Some(1_714_555_859));
        assert_eq!(parse_rfc3339("2024-05-01T09:30:61Z"), None);
        // Year 0000 exists.
        assert_eq!(parse_rfc3339("0000-02-29T00:00:00Z"), Some(FIRST_SECOND + 59 * 86_400));
        // Refused, though jiff's parser takes them.
        for bad in [
            "2024-05-01T09:30Z",
            "2024-05-01T09:30:00,5Z",
            "2024-05-01T09:30:00.Z",
            "2024-05-01T09:30:00+0200",
            "2024-05-01T09:30:00+02",
            "2024-05-01T09:30:00+02:00:00",
            "2024-05-01T09:30:00+24:00",
            "2024-05-01T09:30:00Z[UTC]",
            "2024-05-01T09:30:00",
            "20240501T093000Z",
            "+002024-05-01T09:30:00Z",
            "2024-05-01T9:30:00Z",
        ] {
            assert_eq!(parse_rfc3339(bad), None, "{bad}");
        }
    }

    #[test]
    fn days_count_from_1970() {
        assert_eq!(parse_date("1970-01-01"), Some(0));
        assert_eq!(parse_date("1969-12-31"), Some(-1));
        assert_eq!(parse_date("2024-02-29"), Some(19_782));
        assert_eq!(parse_date("0000-01-01"), Some(-719_528));
        assert_eq!(parse_date("9999-12-31"), Some(2_932_896));
        assert_eq!(parse_date("+202-01-01"), None);
    }

    /// No caller formats an instant outside years 0000-9999 (the old code wrote `-001-12-31...` for one);
    /// it is clamped to what RFC 3339 can write.
    #[test]
    fn format_rfc3339_stays_in_the_years_it_can_write() {
        assert_eq!(format_rfc3339(FIRST_SECOND - 1), "0000-01-01T00:00:00Z");
        assert_eq!(format_rfc3339(i64::MIN), "0000-01-01T00:00:00Z");
        assert_eq!(format_rfc3339(i64::MAX), "9999-12-31T23:59:59Z");
        assert_eq!(format_rfc3339(-1), "1969-12-31T23:59:59Z");
    }

    #[test]
    fn dates_must_exist() {
        assert!(parse_date("2024-02-29").is_some());
        assert!(parse_date("2023-02-29").is_none());
        assert!(parse_date("2024-13-01").is_none());
        assert!(parse_date("24-01-01").is_none());
        assert!(parse_date("2024-1-01").is_none());
    }
}
