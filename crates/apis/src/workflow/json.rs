//! Request bodies read the way K2's server reads them, and query strings, with rejections as [`ApiError`] JSON
//! (axum's own are plain text).
//!
//! K2 parses request bodies with Json.NET, and real K2 clients rely on what Json.NET accepts beyond strict
//! JSON: a documented sample posts `{dataFields:{"Flag":false}}`. Bodies here are parsed with
//! [`jsonc_parser`] set to the subset of Json.NET's default leniency that clients are seen to send:
//!
//! | accepted | example |
//! |---|---|
//! | unquoted property names | `{dataFields: {Amount: 5}}` |
//! | single-quoted strings | `{'folio': 'Trip'}` |
//! | comments | `/* … */`, `// …` |
//! | trailing commas | `{"a": 1,}`, `[1, 2,]` |
//! | hexadecimal integers | `0x1F` |
//! | a UTF-8 byte order mark | written by .NET `StreamWriter` |
//! | property names in any case | `{"Folio": "x", "DataFields": {}}` (Json.NET binds members case-insensitively) |
//!
//! Still refused, as Json.NET refuses them or as no value could hold them: missing commas, `+1`, `.5`,
//! `NaN`/`Infinity`, JSON5-only escapes, several root values. Data field names inside `dataFields` are
//! matched exactly (they are the workflow's names). Responses are always strict JSON.

use crate::ApiError;
use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Query, Request};
use axum::http::request::Parts;
use jsonc_parser::ParseOptions;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

/// The top-level member names of a request body type, as its JSON spells them; a body may spell them in
/// any case, as Json.NET allows.
pub trait Members {
    /// The names.
    const NAMES: &'static [&'static str];
}

/// A required JSON body.
#[derive(Debug)]
pub struct JsonBody<T>(pub T);

/// A JSON body that may be empty or `null` (then `T::default()`).
#[derive(Debug)]
pub struct OptionalJsonBody<T>(pub T);

fn options() -> ParseOptions {
    ParseOptions {
        allow_comments: true,
        allow_loose_object_property_names: true,
        allow_trailing_commas: true,
        allow_missing_commas: false,
        allow_single_quoted_strings: true,
        allow_hexadecimal_numbers: true,
        allow_unary_plus_numbers: false,
        allow_bare_decimal_point_numbers: false,
        allow_non_finite_numbers: false,
        allow_extended_string_escapes: false,
    }
}

/// The body as text without a byte order mark; `None` when it holds nothing but whitespace.
fn text(bytes: &[u8]) -> Result<Option<&str>, ApiError> {
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    let text =
        std::str::from_utf8(bytes).map_err(|e| ApiError::bad_request(format!("invalid JSON body: not UTF-8 ({e})")))?;
    Ok((!text.trim().is_empty()).then_some(text))
}

/// Parses a body leniently into a JSON value; `None` for an empty body.
pub fn parse_value(bytes: &[u8]) -> Result<Option<Value>, ApiError> {
    let Some(text) = text(bytes)? else {
        return Ok(None);
    };
    jsonc_parser::parse_to_serde_value::<Value>(text, &options())
        .map(Some)
        .map_err(|e| ApiError::bad_request(format!("invalid JSON body: {e}")))
}

/// Renames the members of `object` that match one of `names` case-insensitively to that spelling.
fn canonical_members(object: Map<String, Value>, names: &[&str]) -> Result<Map<String, Value>, ApiError> {
    let mut out = Map::new();
    for (key, value) in object {
        let name = names
            .iter()
            .find(|n| n.eq_ignore_ascii_case(&key))
            .map_or(key.clone(), |n| (*n).to_string());
        if out.contains_key(&name) {
            return Err(ApiError::bad_request(format!(
                "invalid JSON body: member `{name}` is given twice (member names are case-insensitive)"
            )));
        }
        out.insert(name, value);
    }
    Ok(out)
}

/// Deserializes an already parsed body into `T`, after matching its member names case-insensitively.
pub fn from_value<T: DeserializeOwned + Members>(value: Value) -> Result<T, ApiError> {
    let value = match value {
        Value::Object(object) => Value::Object(canonical_members(object, T::NAMES)?),
        other => other,
    };
    serde_json::from_value(value).map_err(|e| ApiError::bad_request(format!("invalid JSON body: {e}")))
}

/// Parses a required body into `T`.
pub fn parse<T: DeserializeOwned + Members>(bytes: &[u8]) -> Result<T, ApiError> {
    match parse_value(bytes)? {
        Some(value) => from_value(value),
        None => Err(ApiError::bad_request("a JSON body is required")),
    }
}

/// Parses an optional body into `T`: empty or `null` is `T::default()`.
pub fn parse_optional<T: DeserializeOwned + Members + Default>(bytes: &[u8]) -> Result<T, ApiError> {
    match parse_value(bytes)? {
        None | Some(Value::Null) => Ok(T::default()),
        Some(value) => from_value(value),
    }
}

/// Reads the body (within the router's body size limit).
pub async fn body<S: Send + Sync>(req: Request, state: &S) -> Result<Bytes, ApiError> {
    Bytes::from_request(req, state).await.map_err(|e| {
        ApiError::new(
            e.status(),
            "bad_request",
            format!("cannot read the body: {}", e.body_text()),
        )
    })
}

impl<T: DeserializeOwned + Members, S: Send + Sync> FromRequest<S> for JsonBody<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        parse(&body(req, state).await?).map(JsonBody)
    }
}

impl<T: DeserializeOwned + Members + Default, S: Send + Sync> FromRequest<S> for OptionalJsonBody<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        parse_optional(&body(req, state).await?).map(OptionalJsonBody)
    }
}

/// A query string parsed into `T`; a bad one is a 400 naming the parameter.
#[derive(Debug)]
pub struct QueryParams<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequestParts<S> for QueryParams<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        Query::<T>::from_request_parts(parts, state)
            .await
            .map(|Query(q)| QueryParams(q))
            .map_err(|e| ApiError::bad_request(e.body_text()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;
    use serde_json::json;

    #[derive(Debug, Default, Deserialize, PartialEq)]
    #[serde(rename_all = "camelCase", deny_unknown_fields)]
    struct Body {
        #[serde(default)]
        folio: Option<String>,
        #[serde(default)]
        data_fields: Option<Map<String, Value>>,
    }

    impl Members for Body {
        const NAMES: &'static [&'static str] = &["folio", "dataFields"];
    }

    fn error(result: Result<Body, ApiError>) -> String {
        result.unwrap_err().description
    }

    #[test]
    fn what_json_net_accepts_is_accepted() {
        let expected = Body {
            folio: Some("Trip".into()),
            data_fields: Some(json!({"Flag": false, "Amount": 31}).as_object().unwrap().clone()),
        };
        for body in [
            r#"{"folio": "Trip", "dataFields": {"Flag": false, "Amount": 31}}"#,
            r#"{folio: "Trip", dataFields:{"Flag":false, Amount: 31}}"#,
            r#"{'folio': 'Trip', 'dataFields': {'Flag': false, 'Amount': 0x1F}}"#,
            "\u{feff}{\"folio\": \"Trip\", /* why */ \"dataFields\": {\"Flag\": false, \"Amount\": 31,},} // end",
            r#"{"Folio": "Trip", "DataFields": {"Flag": false, "Amount": 31}}"#,
        ] {
            assert_eq!(parse::<Body>(body.as_bytes()).unwrap(), expected, "{body}");
        }
        let quoted = parse::<Body>(br#"{folio: 'it\'s "here"'}"#).unwrap();
        assert_eq!(quoted.folio.as_deref(), Some("it's \"here\""));
    }

    #[test]
    fn data_field_names_keep_their_case() {
        let body = parse::<Body>(br#"{"DATAFIELDS": {"amount": 1}}"#).unwrap();
        assert!(body.data_fields.unwrap().contains_key("amount"));
    }

    #[test]
    fn what_json_net_refuses_is_refused_with_the_place() {
        for (body, expected) in [
            (r#"{"folio": "a" "dataFields": {}}"#, "line 1 column"),
            (r#"{"dataFields": {"Amount": +1}}"#, "invalid JSON body"),
            (r#"{"dataFields": {"Amount": NaN}}"#, "invalid JSON body"),
            (r#"{"folio": "a"} {"folio": "b"}"#, "invalid JSON body"),
            ("{not json", "invalid JSON body"),
        ] {
            let e = error(parse::<Body>(body.as_bytes()));
            assert!(e.contains(expected), "{body}: {e}");
        }
        let e = error(parse::<Body>(b"\xff\xfe{}"));
        assert!(e.contains("not UTF-8"), "{e}");
    }

    #[test]
    fn typed_errors_stay_as_clear_as_serde_makes_them() {
        let e = error(parse::<Body>(br#"{colour: "red"}"#));
        assert!(e.contains("unknown field `colour`"), "{e}");
        assert!(e.contains("expected `folio` or `dataFields`"), "{e}");
        let e = error(parse::<Body>(br#"{folio: 5}"#));
        assert!(e.contains("invalid type: integer `5`, expected a string"), "{e}");
        let e = error(parse::<Body>(br#"{"folio": "a", "FOLIO": "b"}"#));
        assert!(e.contains("`folio` is given twice"), "{e}");
    }

    #[test]
    fn empty_and_null_bodies() {
        assert_eq!(error(parse::<Body>(b"  \n")), "a JSON body is required");
        assert_eq!(parse_optional::<Body>(b"").unwrap(), Body::default());
        assert_eq!(parse_optional::<Body>(b"null").unwrap(), Body::default());
        assert!(parse::<Body>(b"null").is_err());
    }
}
