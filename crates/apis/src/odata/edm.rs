//! EDM types of SmartObject properties, their values, and how both are stored in SQLite.
//!
//! Storage is chosen so that SQLite's own comparison orders values as OData does, and equal values have equal
//! text: date-times are UTC `YYYY-MM-DDTHH:MM:SS.fffffffZ` (always seven fraction digits, so the text sorts
//! in time order), dates `YYYY-MM-DD`, times `HH:MM:SS.fffffff`, GUIDs lower-case text, booleans 0/1,
//! integers INTEGER and decimals REAL.

use authgate_core::calendar::{civil_from_days, days_from_civil, is_valid_date};
use std::fmt;

/// The EDM type of a property or literal.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EdmType {
    /// `Edm.String` (SmartObject Text and Memo).
    String,
    /// `Edm.Int64` (Number, AutoNumber).
    Int64,
    /// `Edm.Decimal` (Decimal).
    Decimal,
    /// `Edm.Boolean`.
    Boolean,
    /// `Edm.DateTimeOffset` (DateTime).
    DateTimeOffset,
    /// `Edm.Date`.
    Date,
    /// `Edm.TimeOfDay` (Time).
    TimeOfDay,
    /// `Edm.Guid` (GUID, AutoGuid).
    Guid,
}

impl EdmType {
    /// The CSDL name (`Edm.String`...).
    pub fn csdl(self) -> &'static str {
        match self {
            Self::String => "Edm.String",
            Self::Int64 => "Edm.Int64",
            Self::Decimal => "Edm.Decimal",
            Self::Boolean => "Edm.Boolean",
            Self::DateTimeOffset => "Edm.DateTimeOffset",
            Self::Date => "Edm.Date",
            Self::TimeOfDay => "Edm.TimeOfDay",
            Self::Guid => "Edm.Guid",
        }
    }

    /// Whether values of the two types can be compared with each other.
    pub fn comparable_with(self, other: EdmType) -> bool {
        self == other || (self.is_numeric() && other.is_numeric())
    }

    /// Int64 or Decimal.
    pub fn is_numeric(self) -> bool {
        matches!(self, Self::Int64 | Self::Decimal)
    }
}

impl fmt::Display for EdmType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.csdl())
    }
}

/// A typed value, as stored and as written in a query literal.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// `null`.
    Null,
    /// Text.
    String(String),
    /// Integer.
    Int(i64),
    /// Decimal.
    Decimal(f64),
    /// Boolean.
    Bool(bool),
    /// Normalised UTC date-time text.
    DateTimeOffset(String),
    /// `YYYY-MM-DD`.
    Date(String),
    /// `HH:MM:SS[.fff]`.
    TimeOfDay(String),
    /// Lower-case GUID.
    Guid(String),
}

impl Value {
    /// The type of a non-null value.
    pub fn edm_type(&self) -> Option<EdmType> {
        Some(match self {
            Self::Null => return None,
            Self::String(_) => EdmType::String,
            Self::Int(_) => EdmType::Int64,
            Self::Decimal(_) => EdmType::Decimal,
            Self::Bool(_) => EdmType::Boolean,
            Self::DateTimeOffset(_) => EdmType::DateTimeOffset,
            Self::Date(_) => EdmType::Date,
            Self::TimeOfDay(_) => EdmType::TimeOfDay,
            Self::Guid(_) => EdmType::Guid,
        })
    }
}

/// Parses `YYYY-MM-DDTHH:MM[:SS[.f+]](Z|±HH:MM)` into normalised UTC text `YYYY-MM-DDTHH:MM:SS.fffffffZ`
/// (digits beyond the seventh are dropped).
pub fn normalize_datetime(text: &str) -> Option<String> {
    let (date, rest) = text.split_once(['T', 't'])?;
    let (y, m, d) = parse_date(date)?;
    let days = days_from_civil(y, m, d);
    let (time, offset_minutes) = if let Some(t) = rest.strip_suffix(['Z', 'z']) {
        (t, 0)
    } else {
        let at = rest.rfind(['+', '-'])?;
        let (t, off) = rest.split_at(at);
        let sign = if off.starts_with('-') { -1 } else { 1 };
        let (h, m) = off[1..].split_once(':')?;
        let (h, m) = (two_digits(h)?, two_digits(m)?);
        if h > 23 || m > 59 {
            return None;
        }
        (t, sign * (h * 60 + m))
    };
    let (seconds, fraction) = parse_time(time)?;
    let total = days * 86_400 + seconds - offset_minutes * 60;
    let (days, secs) = (total.div_euclid(86_400), total.rem_euclid(86_400));
    let (y, mo, d) = civil_from_days(days);
    if !(0..=9999).contains(&y) {
        return None;
    }
    Some(format!(
        "{y:04}-{mo:02}-{d:02}T{:02}:{:02}:{:02}{fraction}Z",
        secs / 3600,
        secs % 3600 / 60,
        secs % 60
    ))
}

/// Parses `YYYY-MM-DD` (a real calendar date).
pub fn parse_date(text: &str) -> Option<(i64, i64, i64)> {
    let b = text.as_bytes();
    if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
        return None;
    }
    let y: i64 = text[..4].parse().ok()?;
    let (m, d) = (two_digits(&text[5..7])?, two_digits(&text[8..10])?);
    is_valid_date(y, m, d).then_some((y, m, d))
}

/// Parses `HH:MM[:SS[.f+]]` into seconds of the day and the fraction as `.fffffff` (seven digits).
pub fn parse_time(text: &str) -> Option<(i64, String)> {
    let (clock, fraction) = match text.split_once('.') {
        Some((c, f)) if !f.is_empty() && f.len() <= 12 && f.bytes().all(|b| b.is_ascii_digit()) => {
            (c, format!(".{:0<7}", &f[..f.len().min(7)]))
        }
        Some(_) => return None,
        None => (text, ".0000000".to_string()),
    };
    let mut parts = clock.split(':');
    let h = two_digits(parts.next()?)?;
    let m = two_digits(parts.next()?)?;
    let s = match parts.next() {
        Some(s) => two_digits(s)?,
        None if !text.contains('.') => 0,
        None => return None,
    };
    if parts.next().is_some() || h > 23 || m > 59 || s > 59 {
        return None;
    }
    Some((h * 3600 + m * 60 + s, fraction))
}

/// Normalises `HH:MM[:SS[.f+]]` to `HH:MM:SS.fffffff`.
pub fn normalize_time(text: &str) -> Option<String> {
    let (secs, fraction) = parse_time(text)?;
    Some(format!(
        "{:02}:{:02}:{:02}{fraction}",
        secs / 3600,
        secs % 3600 / 60,
        secs % 60
    ))
}

/// Lower-cases a GUID written `8-4-4-4-12` hex digits.
pub fn normalize_guid(text: &str) -> Option<String> {
    let groups: Vec<&str> = text.split('-').collect();
    let shape = [8, 4, 4, 4, 12];
    (groups.len() == 5
        && groups
            .iter()
            .zip(shape)
            .all(|(g, n)| g.len() == n && g.bytes().all(|b| b.is_ascii_hexdigit())))
    .then(|| text.to_ascii_lowercase())
}

fn two_digits(text: &str) -> Option<i64> {
    (text.len() == 2 && text.bytes().all(|b| b.is_ascii_digit()))
        .then(|| text.parse().ok())
        .flatten()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn datetimes_normalise_to_utc() {
        assert_eq!(
            normalize_datetime("2024-03-01T10:00:00Z").unwrap(),
            "2024-03-01T10:00:00.0000000Z"
        );
        assert_eq!(
            normalize_datetime("2024-03-01T01:30+02:00").unwrap(),
            "2024-02-29T23:30:00.0000000Z"
        );
        assert_eq!(
            normalize_datetime("2023-12-31T23:00:00.5-01:00").unwrap(),
            "2024-01-01T00:00:00.5000000Z"
        );
        // Text order is time order.
        assert!(normalize_datetime("2024-03-01T10:00:00.5Z") > normalize_datetime("2024-03-01T10:00:00Z"));
        for bad in [
            "2024-02-30T00:00:00Z",
            "2024-03-01T24:00:00Z",
            "2024-03-01T10:00:00",
            "2024-03-01",
        ] {
            assert_eq!(normalize_datetime(bad), None, "{bad}");
        }
    }

    #[test]
    fn dates_times_and_guids() {
        assert!(parse_date("2024-02-29").is_some());
        assert!(parse_date("2023-02-29").is_none());
        assert_eq!(normalize_time("09:05").unwrap(), "09:05:00.0000000");
        assert_eq!(normalize_time("23:59:59.25").unwrap(), "23:59:59.2500000");
        assert!(normalize_time("24:00").is_none());
        assert_eq!(
            normalize_guid("0A1B2C3D-0000-4000-8000-00000000000F").unwrap(),
            "0a1b2c3d-0000-4000-8000-00000000000f"
        );
        assert!(normalize_guid("0A1B2C3D-0000-4000-8000-00000000000").is_none());
    }
}
