//! Calendar conversions the API needs without a date library: Unix seconds to and from RFC 3339
//! (`2024-05-01T09:30:00Z`) and checking `YYYY-MM-DD` dates.

use crate::calendar::{civil_from_days, days_from_civil, is_valid_date};

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
    Some(days * 86_400 + h * 3600 + mi * 60 + s.min(59) - offset * 60)
}

#[cfg(test)]
mod tests {
    use super::*;

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

    #[test]
    fn dates_must_exist() {
        assert!(parse_date("2024-02-29").is_some());
        assert!(parse_date("2023-02-29").is_none());
        assert!(parse_date("2024-13-01").is_none());
        assert!(parse_date("24-01-01").is_none());
        assert!(parse_date("2024-1-01").is_none());
    }
}
