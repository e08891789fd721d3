//! Dates and times as clients send them: RFC 3339 (`2024-05-01T09:30:00Z`) and `YYYY-MM-DD` (the original
//! calendar code), and, for .NET clients of K2 (parsed with jiff): `\/Date(1795987914337+0000)\/` as
//! `DataContractJsonSerializer` and older Json.NET write a `DateTime` (milliseconds since 1970 UTC, with the
//! sender's offset for information), and ISO 8601 without an offset (`2024-05-01T09:30:00.1234567`, Json.NET's
//! form of an unspecified-kind `DateTime`), taken as UTC.

use authgate_core::calendar::{civil_from_days, days_from_civil, is_valid_date};
use jiff::tz::Offset;
use jiff::Timestamp;

/// Formats Unix seconds as RFC 3339 in UTC: `2024-05-01T09:30:00Z`.
pub fn format_rfc3339(seconds: i64) -> String {
    let days = seconds.div_euclid(86_400);
    let secs = seconds.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        secs / 3600,
        secs % 3600 / 60,
        secs % 60
    )
}

fn number(s: &str) -> Option<i64> {
    (!s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()))
        .then(|| s.parse().ok())
        .flatten()
}

/// Parses `YYYY-MM-DD` into days since 1970-01-01, checking the day exists.
pub fn parse_date(text: &str) -> Option<i64> {
    let mut parts = text.splitn(3, '-');
    let (y, m, d) = (parts.next()?, parts.next()?, parts.next()?);
    if y.len() != 4 || m.len() != 2 || d.len() != 2 {
        return None;
    }
    let (y, m, d) = (number(y)?, number(m)?, number(d)?);
    if !is_valid_date(y, m, d) {
        return None;
    }
    Some(days_from_civil(y, m, d))
}

/// Parses RFC 3339 (`YYYY-MM-DDTHH:MM:SS[.fraction](Z|±HH:MM)`) into Unix seconds.
pub fn parse_rfc3339(text: &str) -> Option<i64> {
    if text.len() < 20 || !text.is_char_boundary(10) || !text.is_char_boundary(19) {
        return None;
    }
    let days = parse_date(&text[..10])?;
    if !matches!(text.as_bytes()[10], b'T' | b't' | b' ') {
        return None;
    }
    let time = &text[11..19];
    let mut hms = time.split(':');
    let (h, mi, s) = (hms.next()?, hms.next()?, hms.next()?);
    if h.len() != 2 || mi.len() != 2 || s.len() != 2 {
        return None;
    }
    let (h, mi, s) = (number(h)?, number(mi)?, number(s)?);
    if h > 23 || mi > 59 || s > 60 {
        return None;
    }
    let mut rest = &text[19..];
    if let Some(fraction) = rest.strip_prefix('.') {
        let digits = fraction.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return None;
        }
        rest = &fraction[digits..];
    }
    let offset = match rest {
        "Z" | "z" => 0,
        _ if rest.len() == 6 && matches!(rest.as_bytes()[0], b'+' | b'-') && rest.as_bytes()[3] == b':' => {
            let (oh, om) = (number(&rest[1..3])?, number(&rest[4..6])?);
            if oh > 23 || om > 59 {
                return None;
            }
            let minutes = oh * 60 + om;
            if rest.starts_with('-') {
                -minutes
            } else {
                minutes
            }
        }
        _ => return None,
    };
    let seconds = days * 86_400 + h * 3600 + mi * 60 + s.min(59) - offset * 60;
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
        [sign @ (b'+' | b'-'), h1, h2, m1, m2] if [h1, h2, m1, m2].iter().all(|b| b.is_ascii_digit()) => {
            let hours = i32::from((h1 - b'0') * 10 + (h2 - b'0'));
            let minutes = i32::from((m1 - b'0') * 10 + (m2 - b'0'));
            if hours > 23 || minutes > 59 {
                return None;
            }
            let seconds = (hours * 60 + minutes) * 60;
            Offset::from_seconds(if *sign == b'-' { -seconds } else { seconds }).ok()?
        }
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

    #[test]
    fn dates_must_exist() {
        assert!(parse_date("2024-02-29").is_some());
        assert!(parse_date("2023-02-29").is_none());
        assert!(parse_date("2024-13-01").is_none());
        assert!(parse_date("24-01-01").is_none());
        assert!(parse_date("2024-1-01").is_none());
    }
}
