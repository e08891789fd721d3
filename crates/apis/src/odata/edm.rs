//! EDM types of SmartObject properties, their values, and how both are stored in SQLite.
//!
//! Storage is chosen so that SQLite's own comparison orders values as OData does, and equal values have equal
//! text: date-times are UTC `YYYY-MM-DDTHH:MM:SS.fffffffZ` (always seven fraction digits, so the text sorts
//! in time order), dates `YYYY-MM-DD`, times `HH:MM:SS.fffffff`, GUIDs lower-case text, booleans 0/1,
//! integers INTEGER and decimals REAL.

use crate::datetime;
use jiff::civil::{Date, Time};
use jiff::tz::Offset;
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
/// (digits beyond the seventh are dropped). jiff checks the day and time exist and applies the offset; an
/// instant that the offset carries outside years 0000-9999 is refused.
pub fn normalize_datetime(text: &str) -> Option<String> {
    let (date, rest) = text.split_once(['T', 't'])?;
    let date = parse_date(date)?;
    let (time, offset) = match rest.strip_suffix(['Z', 'z']) {
        Some(time) => (time, Offset::UTC),
        None => {
            let (time, offset) = rest.split_at(rest.rfind(['+', '-'])?);
            (time, datetime::offset(offset)?)
        }
    };
    let (time, fraction) = parse_time(time)?;
    let utc = datetime::to_utc(date.to_datetime(time), offset)?;
    (0..=9999)
        .contains(&utc.year())
        .then(|| format!("{}{fraction}Z", utc.strftime("%Y-%m-%dT%H:%M:%S")))
}

/// Parses `YYYY-MM-DD` (a real calendar date, years 0000-9999, digits only).
pub fn parse_date(text: &str) -> Option<Date> {
    datetime::date(text)
}

/// Parses `HH:MM[:SS[.f+]]` (at most 12 fraction digits, no leap second) into the time of day (whole seconds)
/// and the fraction as `.fffffff` (seven digits).
pub fn parse_time(text: &str) -> Option<(Time, String)> {
    let (clock, fraction) = match text.split_once('.') {
        Some((c, f)) if !f.is_empty() && f.len() <= 12 && f.bytes().all(|b| b.is_ascii_digit()) => {
            (c, format!(".{:0<7}", &f[..f.len().min(7)]))
        }
        Some(_) => return None,
        None => (text, ".0000000".to_string()),
    };
    let mut parts = clock.split(':');
    let h = datetime::digits(parts.next()?, 2)?;
    let m = datetime::digits(parts.next()?, 2)?;
    let s = match parts.next() {
        Some(s) => datetime::digits(s, 2)?,
        None if !text.contains('.') => 0,
        None => return None,
    };
    if parts.next().is_some() {
        return None;
    }
    Some((Time::new(h, m, s, 0).ok()?, fraction))
}

/// Normalises `HH:MM[:SS[.f+]]` to `HH:MM:SS.fffffff`.
pub fn normalize_time(text: &str) -> Option<String> {
    let (time, fraction) = parse_time(text)?;
    Some(format!("{}{fraction}", time.strftime("%H:%M:%S")))
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

    /// Where jiff's parser differs from what the OData API accepted, the old behaviour stays: it decides what
    /// `$filter` literals and request bodies may say, and the stored text must keep sorting in time order.
    #[test]
    fn datetimes_keep_their_profile_where_jiff_differs() {
        let at = Some("2024-05-01T09:30:00.0000000Z".to_string());
        // Accepted: lower-case t and z, no seconds, -00:00, up to twelve fraction digits (seven kept).
        assert_eq!(normalize_datetime("2024-05-01t09:30:00z"), at);
        assert_eq!(normalize_datetime("2024-05-01T09:30Z"), at);
        assert_eq!(normalize_datetime("2024-05-01T11:30+02:00"), at);
        assert_eq!(normalize_datetime("2024-05-01T09:30:00-00:00"), at);
        assert_eq!(
            normalize_datetime("2024-05-01T09:30:00.123456789012Z").as_deref(),
            Some("2024-05-01T09:30:00.1234567Z")
        );
        // Years 0000 and 9999, but not past them in UTC.
        assert_eq!(
            normalize_datetime("0000-01-01T00:00:00Z").as_deref(),
            Some("0000-01-01T00:00:00.0000000Z")
        );
        assert_eq!(
            normalize_datetime("9999-12-31T23:59:59.9999999Z").as_deref(),
            Some("9999-12-31T23:59:59.9999999Z")
        );
        // Refused, though jiff's parser takes some of them.
        for bad in [
            "0000-01-01T01:00:00+02:00",
            "9999-12-31T23:00:00-02:00",
            "2024-05-01T09:30:60Z",
            "2024-05-01T09:30:00.1234567890123Z",
            "2024-05-01T09:30:00,5Z",
            "2024-05-01T09:30.5Z",
            "2024-05-01T09:30:00.Z",
            "2024-05-01 09:30:00Z",
            "2024-05-01T09:30:00+0200",
            "2024-05-01T09:30:00+02",
            "2024-05-01T09:30:00+24:00",
            "2024-05-01T09:30:00Z[UTC]",
            "20240501T093000Z",
            "+002024-05-01T09:30:00Z",
            "+202-05-01T09:30:00Z",
            "2024-05-01T9:30:00Z",
        ] {
            assert_eq!(normalize_datetime(bad), None, "{bad}");
        }
    }

    #[test]
    fn times_keep_their_profile() {
        assert_eq!(normalize_time("00:00").unwrap(), "00:00:00.0000000");
        assert_eq!(normalize_time("23:59:59.123456789012").unwrap(), "23:59:59.1234567");
        for bad in [
            "23:59:60",
            "23:60",
            "9:05",
            "09:05.5",
            "09:05:00.",
            "09:05:00,5",
            "09:05:00.1234567890123",
            "09:05:00:00",
            "0905",
        ] {
            assert!(normalize_time(bad).is_none(), "{bad}");
        }
    }
}
