//! The request URL: the resource path (service document, `$metadata`, an entity set, its `$count`, one
//! entity by key) and the system query options, parsed into types the handlers act on. Every refusal names
//! the option or segment at fault.

use super::edm::Value;
use super::error::ODataError;
use super::filter::{parse_filter, parse_literal, parse_orderby, Filter, OrderKey};
use super::smartobject::SmartObject;
use percent_encoding::{percent_decode_str, utf8_percent_encode, AsciiSet, CONTROLS};

/// What the path names, relative to the service root.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Resource {
    /// `/` : the service document.
    ServiceDocument,
    /// `/$metadata`.
    Metadata,
    /// `/{set}`.
    Collection(String),
    /// `/{set}/$count`.
    Count(String),
    /// `/{set}({key})`: the set and the key text between the parentheses.
    Entity(String, String),
}

/// Percent-decodes URL text; `+` is a space in query strings.
fn decode(text: &str, plus_is_space: bool) -> Result<String, ODataError> {
    let text = if plus_is_space {
        text.replace('+', " ")
    } else {
        text.to_string()
    };
    percent_decode_str(&text)
        .decode_utf8()
        .map(|t| t.into_owned())
        .map_err(|_| ODataError::bad_request("url", "the URL is not valid percent-encoded UTF-8"))
}

/// Parses the path after the service root (`""`, `/`, `/$metadata`, `/Customer(5)`...).
pub fn parse_path(rest: &str) -> Result<Resource, ODataError> {
    let path = decode(rest, false)?;
    let path = path.trim_start_matches('/');
    let path = path.strip_suffix('/').unwrap_or(path);
    if path.is_empty() {
        return Ok(Resource::ServiceDocument);
    }
    if path == "$metadata" {
        return Ok(Resource::Metadata);
    }
    let not_found = || ODataError::not_found(format!("no resource at '{path}'"));
    if let Some(set) = path.strip_suffix("/$count") {
        return if is_identifier(set) {
            Ok(Resource::Count(set.to_string()))
        } else {
            Err(not_found())
        };
    }
    if let Some(open) = path.find('(') {
        let (set, key) = (&path[..open], &path[open + 1..]);
        return match key.strip_suffix(')') {
            Some(key) if is_identifier(set) => Ok(Resource::Entity(set.to_string(), key.to_string())),
            _ => Err(not_found()),
        };
    }
    if is_identifier(path) {
        Ok(Resource::Collection(path.to_string()))
    } else {
        Err(not_found())
    }
}

fn is_identifier(text: &str) -> bool {
    !text.is_empty() && text.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

/// Parses the key between the parentheses (`5`, `'a''b'`, `Id=5`) as a value of the key's type.
pub fn parse_key(so: &SmartObject, text: &str) -> Result<Value, ODataError> {
    let key = so.key_property();
    let literal = match text.split_once('=') {
        Some((name, value)) if !name.contains('\'') => {
            if name.trim() != key.published_name {
                return Err(ODataError::bad_request(
                    "key",
                    format!(
                        "'{}' is keyed by '{}', not '{}'",
                        so.published_name,
                        key.published_name,
                        name.trim()
                    ),
                ));
            }
            value
        }
        _ => text,
    };
    let value = parse_literal(literal.trim())
        .map_err(|e| ODataError::bad_request("key", format!("invalid key '{text}': {e}")))?;
    let fits = value.edm_type() == Some(key.edm());
    if !fits {
        return Err(ODataError::bad_request(
            "key",
            format!("the key '{}' is {}; '{literal}' is not", key.published_name, key.edm()),
        ));
    }
    Ok(value)
}

/// Characters escaped in a key written into a URL path.
const PATH: &AsciiSet = &CONTROLS
    .add(b' ')
    .add(b'"')
    .add(b'#')
    .add(b'%')
    .add(b'/')
    .add(b'?')
    .add(b'<')
    .add(b'>')
    .add(b'`')
    .add(b'{')
    .add(b'}');

/// The key as written in a URL: `5`, `'a''b'` (percent-encoded where needed).
pub fn key_segment(value: &Value) -> String {
    let literal = match value {
        Value::Int(i) => i.to_string(),
        Value::String(s) => format!("'{}'", s.replace('\'', "''")),
        Value::DateTimeOffset(t) | Value::Date(t) | Value::TimeOfDay(t) | Value::Guid(t) => t.clone(),
        Value::Decimal(d) => d.to_string(),
        Value::Bool(b) => b.to_string(),
        Value::Null => "null".into(),
    };
    utf8_percent_encode(&literal, PATH).to_string()
}

/// Where the options are used; each allows a different set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    /// An entity set query.
    Collection,
    /// `/$count`.
    Count,
    /// One entity.
    Entity,
    /// The service document or `$metadata`.
    Service,
}

/// The system query options of a request.
#[derive(Debug, Clone, Default)]
pub struct QueryOptions {
    /// `$filter`.
    pub filter: Option<Filter>,
    /// `$orderby`.
    pub order: Vec<OrderKey>,
    /// `$select`, as property indexes; `None` is every property.
    pub select: Option<Vec<usize>>,
    /// `$top`.
    pub top: Option<u64>,
    /// `$skip`.
    pub skip: u64,
    /// `$count=true`.
    pub count: bool,
    /// The raw `name=value` pairs other than `$top` / `$skip`, kept for `@odata.nextLink`.
    pub carried: Vec<String>,
}

const UNSUPPORTED: [&str; 9] = [
    "$expand",
    "$search",
    "$apply",
    "$compute",
    "$levels",
    "$index",
    "$skiptoken",
    "$deltatoken",
    "$schemaversion",
];

fn non_negative(name: &str, value: &str) -> Result<u64, ODataError> {
    value
        .parse::<u64>()
        .map_err(|_| ODataError::bad_request(name, format!("{name} must be a non-negative integer, not '{value}'")))
}

/// Parses the query string against `so` (`None` for the service document and `$metadata`).
pub fn parse_options(
    query: Option<&str>,
    so: Option<&SmartObject>,
    target: Target,
) -> Result<QueryOptions, ODataError> {
    let mut options = QueryOptions::default();
    let mut seen: Vec<String> = Vec::new();
    for pair in query.unwrap_or("").split('&').filter(|p| !p.is_empty()) {
        let (raw_name, raw_value) = pair.split_once('=').unwrap_or((pair, ""));
        let name = decode(raw_name, true)?;
        if !name.starts_with('$') {
            // A custom query option: no meaning here, but kept on the next page's link.
            options.carried.push(pair.to_string());
            continue;
        }
        if seen.contains(&name) {
            return Err(ODataError::bad_request(
                &name,
                format!("{name} is given more than once"),
            ));
        }
        seen.push(name.clone());
        let value = decode(raw_value, true)?;
        let allowed: &[&str] = match target {
            Target::Collection => &["$filter", "$orderby", "$select", "$top", "$skip", "$count", "$format"],
            // The count ignores paging, ordering and selection, but clients send the query they count.
            Target::Count => &["$filter", "$orderby", "$select", "$top", "$skip", "$count", "$format"],
            Target::Entity => &["$select", "$format"],
            Target::Service => &["$format"],
        };
        if !allowed.contains(&name.as_str()) {
            let message = if UNSUPPORTED.contains(&name.as_str()) {
                format!(
                    "{name} is not supported by this service (SmartObjects have no navigation properties or search)"
                )
            } else if ["$filter", "$orderby", "$select", "$top", "$skip", "$count"].contains(&name.as_str()) {
                format!("{name} cannot be used on this resource")
            } else {
                format!("unknown system query option '{name}'")
            };
            return Err(ODataError::bad_request(&name, message));
        }
        if !matches!(name.as_str(), "$top" | "$skip") {
            options.carried.push(pair.to_string());
        }
        let props = || so.map(|s| s.query_properties.as_slice()).unwrap_or(&[]);
        let query_error = |e: super::filter::QueryError| ODataError::bad_request(&name, format!("{name}: {e}"));
        match name.as_str() {
            "$filter" => options.filter = Some(parse_filter(&value, props()).map_err(query_error)?),
            "$orderby" => options.order = parse_orderby(&value, props()).map_err(query_error)?,
            "$top" => options.top = Some(non_negative(&name, &value)?),
            "$skip" => options.skip = non_negative(&name, &value)?,
            "$count" => {
                options.count = match value.as_str() {
                    "true" => true,
                    "false" => false,
                    other => {
                        return Err(ODataError::bad_request(
                            &name,
                            format!("$count must be true or false, not '{other}'"),
                        ))
                    }
                }
            }
            "$select" => options.select = parse_select(&value, so)?,
            "$format" => {
                let media = value.split(';').next().unwrap_or("").trim();
                if !(media.eq_ignore_ascii_case("json") || media.eq_ignore_ascii_case("application/json")) {
                    return Err(ODataError::bad_request(
                        &name,
                        format!("$format '{value}' is not supported; this service answers in JSON"),
                    ));
                }
            }
            _ => {}
        }
    }
    Ok(options)
}

fn parse_select(value: &str, so: Option<&SmartObject>) -> Result<Option<Vec<usize>>, ODataError> {
    let Some(so) = so else { return Ok(None) };
    let mut indexes = Vec::new();
    for item in value.split(',').map(str::trim) {
        if item == "*" {
            return Ok(None);
        }
        if item.is_empty() {
            return Err(ODataError::bad_request("$select", "$select has an empty item"));
        }
        let Some((i, _)) = so.property(item) else {
            return Err(ODataError::bad_request(
                "$select",
                format!("$select: '{}' has no property '{item}'", so.published_name),
            ));
        };
        if !indexes.contains(&i) {
            indexes.push(i);
        }
    }
    Ok(Some(indexes))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::odata::smartobject::SmartObjectFile;
    use std::path::Path;

    fn so(key_type: &str) -> SmartObject {
        let text = format!(
            "system_name: Item\nkey: Id\nmethods: [List]\nproperties:\n  - {{name: Id, type: {key_type}}}\n  - {{name: Name, type: Text}}\n"
        );
        let file: SmartObjectFile = authgate_core::config::parse_yaml(Path::new("x.yaml"), &text, |_| None).unwrap();
        SmartObject::from_file(file).unwrap()
    }

    #[test]
    fn paths_name_resources() {
        assert_eq!(parse_path("").unwrap(), Resource::ServiceDocument);
        assert_eq!(parse_path("/").unwrap(), Resource::ServiceDocument);
        assert_eq!(parse_path("/$metadata").unwrap(), Resource::Metadata);
        assert_eq!(parse_path("/Item").unwrap(), Resource::Collection("Item".into()));
        assert_eq!(parse_path("/Item/$count").unwrap(), Resource::Count("Item".into()));
        assert_eq!(
            parse_path("/Item(%27a%20b%27)").unwrap(),
            Resource::Entity("Item".into(), "'a b'".into())
        );
        for bad in ["/Item(1", "/Item/Name", "/It-em", "/Item(1)/Name"] {
            assert_eq!(parse_path(bad).unwrap_err().status, 404, "{bad}");
        }
    }

    #[test]
    fn keys_are_typed_literals() {
        assert_eq!(parse_key(&so("Number"), "5").unwrap(), Value::Int(5));
        assert_eq!(parse_key(&so("Number"), "Id=5").unwrap(), Value::Int(5));
        // The SAP Cloud SDK writes Edm.Int64 keys with the v2 suffix.
        assert_eq!(parse_key(&so("AutoNumber"), "1107L").unwrap(), Value::Int(1107));
        assert_eq!(parse_key(&so("Number"), "Id=1107l").unwrap(), Value::Int(1107));
        assert_eq!(
            parse_path("/Item(1107L)").unwrap(),
            Resource::Entity("Item".into(), "1107L".into())
        );
        assert_eq!(parse_key(&so("Text"), "'5L'").unwrap(), Value::String("5L".into()));
        assert_eq!(parse_key(&so("Text"), "'it''s'").unwrap(), Value::String("it's".into()));
        assert!(parse_key(&so("Number"), "'5'")
            .unwrap_err()
            .message
            .contains("is Edm.Int64"));
        assert!(parse_key(&so("Number"), "Name=5")
            .unwrap_err()
            .message
            .contains("keyed by 'Id'"));
        assert!(parse_key(&so("Number"), "5 6").is_err());
        assert_eq!(key_segment(&Value::String("a'b c".into())), "'a''b%20c'");
    }

    #[test]
    fn options_parse_and_refuse_with_names() {
        let so = so("Number");
        let o = parse_options(
            Some("$filter=Name%20eq%20'x'&$orderby=Name+desc&$select=Name,Id&$top=5&$skip=10&$count=true&custom=1"),
            Some(&so),
            Target::Collection,
        )
        .unwrap();
        assert!(o.filter.is_some());
        assert!(o.order[0].descending);
        assert_eq!(o.select, Some(vec![1, 0]));
        assert_eq!((o.top, o.skip, o.count), (Some(5), 10, true));
        assert_eq!(o.carried.len(), 5);
        let cases = [
            (
                "$top=-1",
                Target::Collection,
                "$top must be a non-negative integer, not '-1'",
            ),
            (
                "$skip=abc",
                Target::Collection,
                "$skip must be a non-negative integer, not 'abc'",
            ),
            ("$filter=Nope eq 1", Target::Collection, "unknown property 'Nope'"),
            ("$filter=Name eq 1", Target::Collection, "$filter:"),
            ("$filter=Name eq", Target::Collection, "position"),
            ("$select=Nope", Target::Collection, "no property 'Nope'"),
            ("$count=yes", Target::Collection, "true or false"),
            ("$expand=X", Target::Collection, "not supported"),
            ("$bogus=1", Target::Collection, "unknown system query option '$bogus'"),
            ("$top=1&$top=2", Target::Collection, "more than once"),
            ("$top=1", Target::Entity, "cannot be used on this resource"),
            ("$format=xml", Target::Collection, "not supported"),
        ];
        for (query, target, expected) in cases {
            let err = parse_options(Some(query), Some(&so), target).unwrap_err();
            assert_eq!(err.status, 400);
            assert!(err.message.contains(expected), "{query}: {}", err.message);
        }
    }
}
