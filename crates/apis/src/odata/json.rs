//! OData JSON: entities out (property order kept, `$select` applied, values in their EDM JSON form) and
//! request bodies in (each property checked against its type, length and whether the service assigns it).

use super::edm::{normalize_datetime, normalize_guid, normalize_time, parse_date, Value};
use super::error::ODataError;
use super::smartobject::{PropertyKind, SmartObject, SmartProperty};
use serde::ser::{SerializeMap, Serializer};
use serde::Serialize;
use serde_json::Value as Json;

/// Drops trailing zeros of a stored `.fffffff` fraction (and the dot when nothing is left).
fn trim_fraction(text: &str) -> &str {
    match text.rfind('.') {
        Some(dot) => {
            let trimmed = text.trim_end_matches('0');
            if trimmed.len() == dot + 1 {
                &text[..dot]
            } else {
                trimmed
            }
        }
        None => text,
    }
}

/// A value in its OData JSON form.
struct JsonValue<'a>(&'a Value);

impl Serialize for JsonValue<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self.0 {
            Value::Null => s.serialize_unit(),
            Value::String(t) | Value::Date(t) | Value::Guid(t) => s.serialize_str(t),
            Value::Int(i) => s.serialize_i64(*i),
            Value::Decimal(d) => s.serialize_f64(*d),
            Value::Bool(b) => s.serialize_bool(*b),
            Value::DateTimeOffset(t) => {
                // Stored `...SS.fffffffZ`: trim the fraction, keep the zone.
                let body = t.strip_suffix('Z').unwrap_or(t);
                s.collect_str(&format_args!("{}Z", trim_fraction(body)))
            }
            Value::TimeOfDay(t) => s.serialize_str(trim_fraction(t)),
        }
    }
}

/// `value` as OData JSON (what a REST SmartObject's service is sent).
pub(crate) fn json_of(value: &Value) -> Json {
    serde_json::to_value(JsonValue(value)).unwrap_or(Json::Null)
}

/// One entity: annotations first, then the selected properties in definition order.
pub struct Entity<'a> {
    /// Its SmartObject.
    pub so: &'a SmartObject,
    /// Its values.
    pub row: &'a [Value],
    /// `$select` (property indexes); `None` is every property.
    pub select: Option<&'a [usize]>,
    /// `@odata.context`, on a single-entity response.
    pub context: Option<&'a str>,
}

impl Serialize for Entity<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(None)?;
        if let Some(context) = self.context {
            map.serialize_entry("@odata.context", context)?;
        }
        for (i, (p, v)) in self.so.properties.iter().zip(self.row).enumerate() {
            if self.select.is_none_or(|sel| sel.contains(&i)) {
                map.serialize_entry(&p.published_name, &JsonValue(v))?;
            }
        }
        map.end()
    }
}

/// A collection response.
#[derive(Serialize)]
pub struct Collection<'a> {
    /// `@odata.context`.
    #[serde(rename = "@odata.context")]
    pub context: &'a str,
    /// `@odata.count` when `$count=true`.
    #[serde(rename = "@odata.count", skip_serializing_if = "Option::is_none")]
    pub count: Option<u64>,
    /// The entities.
    pub value: Vec<Entity<'a>>,
    /// The next page.
    #[serde(rename = "@odata.nextLink", skip_serializing_if = "Option::is_none")]
    pub next_link: Option<String>,
}

/// How a request body is used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyMode {
    /// POST: a new entity; required properties must be present.
    Create,
    /// PATCH: only the properties present change.
    Merge,
    /// PUT: every property not present becomes null.
    Replace,
}

/// Converts one JSON value to `p`'s type.
pub(crate) fn value_of(p: &SmartProperty, json: &Json) -> Result<Value, String> {
    let ty = p.edm().csdl();
    let text = || json.as_str().ok_or_else(|| format!("expects a JSON string ({ty})"));
    let value = match (p.kind, json) {
        (_, Json::Null) => Value::Null,
        (PropertyKind::Text | PropertyKind::Memo, _) => {
            let t = text()?;
            if let Some(max) = p.max_length {
                if t.chars().count() > max as usize {
                    return Err(format!("is longer than its maximum of {max} characters"));
                }
            }
            Value::String(t.to_string())
        }
        (PropertyKind::Number | PropertyKind::AutoNumber, _) => Value::Int(
            json.as_i64()
                .ok_or_else(|| format!("expects an integer ({ty}), not {json}"))?,
        ),
        (PropertyKind::Decimal, Json::Number(n)) => Value::Decimal(n.as_f64().ok_or("is not a finite number")?),
        (PropertyKind::Decimal, Json::String(t)) => match t.parse::<f64>() {
            Ok(d) if d.is_finite() => Value::Decimal(d),
            _ => return Err(format!("'{t}' is not a decimal number")),
        },
        (PropertyKind::Decimal, _) => return Err(format!("expects a number ({ty}), not {json}")),
        (PropertyKind::Boolean, _) => Value::Bool(
            json.as_bool()
                .ok_or_else(|| format!("expects true or false, not {json}"))?,
        ),
        (PropertyKind::DateTime, _) => Value::DateTimeOffset(
            normalize_datetime(text()?).ok_or("is not a date-time with a zone, like 2024-01-31T12:00:00Z")?,
        ),
        (PropertyKind::Date, _) => {
            let t = text()?;
            parse_date(t).ok_or("is not a date, like 2024-01-31")?;
            Value::Date(t.to_string())
        }
        (PropertyKind::Time, _) => {
            Value::TimeOfDay(normalize_time(text()?).ok_or("is not a time of day, like 13:45:00")?)
        }
        (PropertyKind::Guid | PropertyKind::AutoGuid, _) => {
            Value::Guid(normalize_guid(text()?).ok_or("is not a GUID, like 0a1b2c3d-0000-4000-8000-000000000001")?)
        }
    };
    Ok(value)
}

/// Checks a request body against `so` and returns the values to store, by property index. `current_key`
/// is the key in the URL (updates): the body may repeat it but not change it.
pub fn parse_body(
    so: &SmartObject,
    body: &[u8],
    mode: BodyMode,
    current_key: Option<&Value>,
) -> Result<Vec<(usize, Value)>, ODataError> {
    let object: serde_json::Map<String, Json> = serde_json::from_slice(body)
        .map_err(|e| ODataError::bad_request("body", format!("the body must be a JSON object: {e}")))?;
    let mut values: Vec<(usize, Value)> = Vec::new();
    for (name, json) in &object {
        // Instance and property annotations (`@odata.type`, `Name@odata.type`) carry no data.
        if name.contains('@') {
            continue;
        }
        let Some((i, p)) = so.property(name) else {
            return Err(ODataError::bad_request(
                name.clone(),
                format!("'{}' has no property '{name}'", so.published_name),
            ));
        };
        let value = value_of(p, json).map_err(|m| ODataError::bad_request(name.clone(), format!("'{name}' {m}")))?;
        let is_key = i == so.key;
        match (mode, current_key) {
            (_, Some(key)) if is_key => {
                if &value != key {
                    return Err(ODataError::bad_request(
                        name.clone(),
                        format!("'{name}' is the key; it cannot be changed"),
                    ));
                }
                continue;
            }
            _ if p.kind.is_generated() && value != Value::Null => {
                return Err(ODataError::bad_request(
                    name.clone(),
                    format!("'{name}' is assigned by the service ({:?}); leave it out", p.kind),
                ));
            }
            _ if p.kind.is_generated() => continue,
            _ if p.required && value == Value::Null => {
                return Err(ODataError::bad_request(
                    name.clone(),
                    format!("'{name}' is required and cannot be null"),
                ));
            }
            _ => values.push((i, value)),
        }
    }
    if mode != BodyMode::Merge {
        for (i, p) in so.properties.iter().enumerate() {
            if p.kind.is_generated() || values.iter().any(|(j, _)| *j == i) || (current_key.is_some() && i == so.key) {
                continue;
            }
            if p.required {
                return Err(ODataError::bad_request(
                    p.published_name.clone(),
                    format!("'{}' is required", p.published_name),
                ));
            }
            if mode == BodyMode::Replace {
                values.push((i, Value::Null));
            }
        }
    }
    Ok(values)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::odata::smartobject::SmartObjectFile;
    use std::path::Path;

    fn so() -> SmartObject {
        let text = r#"
system_name: Order
key: Id
methods: [List, Create, Update]
properties:
  - {name: Id, type: AutoNumber}
  - {name: Title, type: Text, max_length: 5, required: true}
  - {name: Amount, type: Decimal}
  - {name: At, type: DateTime}
  - {name: Day, type: Date}
  - {name: Time, type: Time}
  - {name: Ref, type: GUID}
  - {name: Paid, type: Boolean}
"#;
        let file: SmartObjectFile = authgate_core::config::parse_yaml(Path::new("x.yaml"), text, |_| None).unwrap();
        SmartObject::from_file(file).unwrap()
    }

    #[test]
    fn entities_serialise_in_order_with_edm_json_forms() {
        let so = so();
        let row = vec![
            Value::Int(7),
            Value::String("a\"b".into()),
            Value::Decimal(2.5),
            Value::DateTimeOffset("2024-03-01T10:00:00.5000000Z".into()),
            Value::Date("2024-03-01".into()),
            Value::TimeOfDay("09:30:00.0000000".into()),
            Value::Null,
            Value::Bool(false),
        ];
        let all = Entity {
            so: &so,
            row: &row,
            select: None,
            context: Some("ctx"),
        };
        assert_eq!(
            serde_json::to_string(&all).unwrap(),
            r#"{"@odata.context":"ctx","Id":7,"Title":"a\"b","Amount":2.5,"At":"2024-03-01T10:00:00.5Z","Day":"2024-03-01","Time":"09:30:00","Ref":null,"Paid":false}"#
        );
        let some = Entity {
            so: &so,
            row: &row,
            select: Some(&[7, 0]),
            context: None,
        };
        assert_eq!(serde_json::to_string(&some).unwrap(), r#"{"Id":7,"Paid":false}"#);
    }

    #[test]
    fn bodies_are_checked_property_by_property() {
        let so = so();
        let ok = parse_body(
            &so,
            br##"{"@odata.type":"#SmartObjects.Order","Title":"abc","Amount":"1.5","At":"2024-03-01T11:00:00+01:00","Ref":"0A1B2C3D-0000-4000-8000-000000000001","Id":null}"##,
            BodyMode::Create,
            None,
        )
        .unwrap();
        assert!(ok.contains(&(1, Value::String("abc".into()))));
        assert!(ok.contains(&(2, Value::Decimal(1.5))));
        assert!(ok.contains(&(3, Value::DateTimeOffset("2024-03-01T10:00:00.0000000Z".into()))));
        assert!(ok.contains(&(6, Value::Guid("0a1b2c3d-0000-4000-8000-000000000001".into()))));
        let cases: [(&[u8], BodyMode, &str); 8] = [
            (b"[1]", BodyMode::Create, "must be a JSON object"),
            (br#"{"Nope":1}"#, BodyMode::Create, "has no property 'Nope'"),
            (br#"{"Title":"toolong"}"#, BodyMode::Create, "maximum of 5"),
            (br#"{"Title":"a","Id":3}"#, BodyMode::Create, "assigned by the service"),
            (br#"{"Amount":1}"#, BodyMode::Create, "'Title' is required"),
            (br#"{"Title":null}"#, BodyMode::Merge, "cannot be null"),
            (
                br#"{"Title":"a","At":"2024-03-01"}"#,
                BodyMode::Create,
                "'At' is not a date-time",
            ),
            (
                br#"{"Title":"a","Paid":"yes"}"#,
                BodyMode::Create,
                "'Paid' expects true or false",
            ),
        ];
        for (body, mode, expected) in cases {
            let err = parse_body(&so, body, mode, None).unwrap_err();
            assert!(
                err.message.contains(expected),
                "{}: {}",
                String::from_utf8_lossy(body),
                err.message
            );
        }
        let key = Value::Int(7);
        let err = parse_body(&so, br#"{"Id":8}"#, BodyMode::Merge, Some(&key)).unwrap_err();
        assert!(err.message.contains("cannot be changed"));
        assert_eq!(
            parse_body(&so, br#"{"Id":7}"#, BodyMode::Merge, Some(&key)).unwrap(),
            vec![]
        );
        let put = parse_body(&so, br#"{"Title":"x"}"#, BodyMode::Replace, Some(&key)).unwrap();
        assert_eq!(put.len(), 7, "{put:?}");
        assert!(put.contains(&(2, Value::Null)));
    }
}
