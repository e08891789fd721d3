//! SmartObjects backed by a REST service (issue 17, 6b): the `rest:` section of a SmartObject file maps its
//! methods to HTTP requests on a base URL, called with the user's token for an OAuth resource, and JSON fields
//! to properties. The OData query options are applied by the gateway over what the service returned
//! ([`apply`], with the reference evaluator [`super::eval`]), up to [`DEFAULT_MAX_ROWS`] rows per List answer
//! (more is a clear error, never a silently cut result).
//!
//! ```yaml
//! rest:
//!   oauth_resource: Downstream API
//!   base_url: https://api.example.com/v1/
//!   max_rows: 10000                     # default 10,000
//!   list:   {method: GET, path: items, rows: value}   # rows: the field holding the array; omit for a top-level array
//!   read:   {method: GET, path: "items/{key}"}
//!   fields: {Id: id, Title: title}      # property -> JSON field; default: the property's name
//! ```

use super::edm::Value;
use super::eval;
use super::filter::OrderKey;
use super::json::value_of;
use super::query::QueryOptions;
use super::smartobject::{Method, SmartObject};
use authgate_core::config::ConfigIssue;
use serde::Deserialize;
use serde_json::Value as Json;
use std::cmp::Ordering;
use std::collections::BTreeMap;

/// The most rows a List answer may hold unless `max_rows` says otherwise.
pub const DEFAULT_MAX_ROWS: usize = 10_000;
/// The most `max_rows` may be.
pub const MAX_MAX_ROWS: usize = 1_000_000;

/// The `rest:` section, as written.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RestFile {
    /// The OAuth resource (`oauth.resources`) whose user token the requests carry. Required.
    pub oauth_resource: String,
    /// The service's base URL (https; http only on a loopback address); method paths are relative to it.
    pub base_url: String,
    /// The most rows a List answer may hold; past it the request fails with a clear error. Default 10,000.
    #[serde(default)]
    pub max_rows: Option<usize>,
    /// The List request. Required when the SmartObject has List.
    #[serde(default)]
    pub list: Option<RestCallFile>,
    /// The Read request (`{key}` in the path). Required when the SmartObject has Read.
    #[serde(default)]
    pub read: Option<RestCallFile>,
    /// The Create request. Required when the SmartObject has Create.
    #[serde(default)]
    pub create: Option<RestCallFile>,
    /// The Update request (`{key}` in the path). Required when the SmartObject has Update.
    #[serde(default)]
    pub update: Option<RestCallFile>,
    /// The Delete request (`{key}` in the path). Required when the SmartObject has Delete.
    #[serde(default)]
    pub delete: Option<RestCallFile>,
    /// JSON field per property system name. Default: a property's field is its system name.
    #[serde(default)]
    pub fields: BTreeMap<String, String>,
}

/// One method's request, as written.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RestCallFile {
    /// The HTTP method. Default: GET for List and Read, POST for Create, PATCH for Update, DELETE for Delete.
    #[serde(default)]
    pub method: Option<String>,
    /// The path relative to `base_url`; `{key}` is replaced by the percent-encoded key (required for Read,
    /// Update, Delete).
    pub path: String,
    /// List only: the field of the answer holding the rows (`value`); omitted, the answer is the array.
    #[serde(default)]
    pub rows: Option<String>,
}

/// A method's request, checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RestCall {
    /// The HTTP method.
    pub method: http::Method,
    /// The path template, relative to the base URL.
    pub path: String,
    /// List only: the field holding the rows.
    pub rows: Option<String>,
}

/// The REST source of a SmartObject, checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RestSource {
    /// The OAuth resource's name.
    pub oauth_resource: String,
    /// The base URL (ends with `/`).
    pub base_url: url::Url,
    /// The most rows of a List answer.
    pub max_rows: usize,
    /// The request of each method the SmartObject has, by [`Method`] order (List, Read, Create, Update,
    /// Delete).
    pub calls: [Option<RestCall>; 5],
    /// The JSON field of each property, by property index.
    pub fields: Vec<String>,
}

/// Why the service's answer cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RestError {
    /// More rows than `max_rows`.
    #[error("the service returned more than {max} rows (the SmartObject's max_rows); narrow the request at the service or raise max_rows")]
    TooManyRows { max: usize },
    /// Not the configured shape (no array where the rows should be, a row that is not an object).
    #[error("the service's answer is not in the configured shape: {0}")]
    Shape(String),
    /// A field whose value does not fit its property's type.
    #[error("the service's field '{field}' (property {property}) {problem}")]
    Field {
        field: String,
        property: String,
        problem: String,
    },
}

fn method_index(m: Method) -> usize {
    match m {
        Method::List => 0,
        Method::Read => 1,
        Method::Create => 2,
        Method::Update => 3,
        Method::Delete => 4,
    }
}

fn method_name(m: Method) -> &'static str {
    match m {
        Method::List => "list",
        Method::Read => "read",
        Method::Create => "create",
        Method::Update => "update",
        Method::Delete => "delete",
    }
}

fn default_method(m: Method) -> http::Method {
    match m {
        Method::List | Method::Read => http::Method::GET,
        Method::Create => http::Method::POST,
        Method::Update => http::Method::PATCH,
        Method::Delete => http::Method::DELETE,
    }
}

/// A base URL: https, or http on a loopback address; no credentials, query or fragment.
fn base_url(text: &str) -> Result<url::Url, String> {
    let mut url = crate::outbound::resource::https_or_loopback(text, "users' tokens")?;
    if !url.username().is_empty() || url.password().is_some() || url.query().is_some() || url.fragment().is_some() {
        return Err(format!("'{text}' may not carry credentials, a query or a #fragment"));
    }
    if !url.path().ends_with('/') {
        let path = format!("{}/", url.path());
        url.set_path(&path);
    }
    Ok(url)
}

impl RestSource {
    /// Checks `file` against the SmartObject `so` (its methods and properties). Paths are `rest.…`.
    pub fn from_file(file: &RestFile, so: &SmartObject) -> Result<Self, Vec<ConfigIssue>> {
        let mut issues = Vec::new();
        if file.oauth_resource.trim().is_empty() {
            issues.push(ConfigIssue::new(
                "rest.oauth_resource",
                "name the OAuth resource whose tokens the requests carry",
            ));
        }
        let base = base_url(&file.base_url)
            .map_err(|m| issues.push(ConfigIssue::new("rest.base_url", m)))
            .ok();
        let max_rows = file.max_rows.unwrap_or(DEFAULT_MAX_ROWS);
        if max_rows == 0 || max_rows > MAX_MAX_ROWS {
            issues.push(ConfigIssue::new(
                "rest.max_rows",
                format!("must be between 1 and {MAX_MAX_ROWS}"),
            ));
        }
        let mut calls: [Option<RestCall>; 5] = Default::default();
        for (m, call) in [
            (Method::List, &file.list),
            (Method::Read, &file.read),
            (Method::Create, &file.create),
            (Method::Update, &file.update),
            (Method::Delete, &file.delete),
        ] {
            let at = format!("rest.{}", method_name(m));
            let Some(call) = call else {
                if so.methods.has(m) {
                    issues.push(ConfigIssue::new(
                        at,
                        format!("the SmartObject has {m:?}: say which request serves it"),
                    ));
                }
                continue;
            };
            if !so.methods.has(m) {
                issues.push(ConfigIssue::new(
                    at,
                    format!("the SmartObject has no {m:?} method (methods)"),
                ));
                continue;
            }
            let method = match &call.method {
                None => Some(default_method(m)),
                Some(text) => match text.to_ascii_uppercase().as_str() {
                    "GET" | "POST" | "PUT" | "PATCH" | "DELETE" => {
                        http::Method::from_bytes(text.to_ascii_uppercase().as_bytes()).ok()
                    }
                    _ => None,
                },
            };
            if method.is_none() {
                issues.push(ConfigIssue::new(
                    format!("{at}.method"),
                    "one of GET, POST, PUT, PATCH, DELETE",
                ));
            }
            let keyed = matches!(m, Method::Read | Method::Update | Method::Delete);
            let has_key = call.path.contains("{key}");
            if keyed && !has_key {
                issues.push(ConfigIssue::new(
                    format!("{at}.path"),
                    "must contain {key}: the entity's key goes there",
                ));
            } else if !keyed && has_key {
                issues.push(ConfigIssue::new(
                    format!("{at}.path"),
                    format!("{m:?} has no key to put in {{key}}"),
                ));
            }
            if call.path.starts_with('/')
                || call.path.contains("://")
                || call.path.contains("..")
                || call.path.contains('#')
            {
                issues.push(ConfigIssue::new(
                    format!("{at}.path"),
                    "a path relative to base_url: no leading '/', scheme, '..' or '#'",
                ));
            }
            if call.rows.is_some() && m != Method::List {
                issues.push(ConfigIssue::new(format!("{at}.rows"), "only a List answer has rows"));
            }
            if call.rows.as_deref().is_some_and(str::is_empty) {
                issues.push(ConfigIssue::new(
                    format!("{at}.rows"),
                    "name the field, or leave it out for a top-level array",
                ));
            }
            calls[method_index(m)] = method.map(|method| RestCall {
                method,
                path: call.path.clone(),
                rows: call.rows.clone(),
            });
        }
        for name in file.fields.keys() {
            if !so.properties.iter().any(|p| &p.system_name == name) {
                issues.push(ConfigIssue::new(
                    format!("rest.fields.{name}"),
                    format!("'{}' has no property '{name}'", so.system_name),
                ));
            }
        }
        let fields: Vec<String> = so
            .properties
            .iter()
            .map(|p| {
                file.fields
                    .get(&p.system_name)
                    .cloned()
                    .unwrap_or_else(|| p.system_name.clone())
            })
            .collect();
        for (i, f) in fields.iter().enumerate() {
            if f.is_empty() {
                issues.push(ConfigIssue::new(
                    format!("rest.fields.{}", so.properties[i].system_name),
                    "name the JSON field",
                ));
            } else if fields[..i].contains(f) {
                issues.push(ConfigIssue::new(
                    format!("rest.fields.{}", so.properties[i].system_name),
                    format!("field '{f}' is already mapped to another property"),
                ));
            }
        }
        match base {
            Some(base_url) if issues.is_empty() => Ok(Self {
                oauth_resource: file.oauth_resource.clone(),
                base_url,
                max_rows,
                calls,
                fields,
            }),
            _ => Err(issues),
        }
    }

    /// The request of `method`, if the SmartObject has it.
    pub fn call(&self, method: Method) -> Option<&RestCall> {
        self.calls[method_index(method)].as_ref()
    }

    /// The URL of `call`, with `key` (its text form) percent-encoded into `{key}`.
    pub fn url(&self, call: &RestCall, key: Option<&str>) -> Result<url::Url, url::ParseError> {
        let path = match key {
            Some(key) => {
                let encoded: String =
                    percent_encoding::utf8_percent_encode(key, percent_encoding::NON_ALPHANUMERIC).collect();
                call.path.replace("{key}", &encoded)
            }
            None => call.path.clone(),
        };
        self.base_url.join(&path)
    }

    /// The rows of a List answer, each as values by property index, checked against the property types; more
    /// than `max_rows` is [`RestError::TooManyRows`].
    pub fn rows(&self, call: &RestCall, answer: &Json, so: &SmartObject) -> Result<Vec<Vec<Value>>, RestError> {
        let array = match &call.rows {
            Some(field) => answer.get(field),
            None => Some(answer),
        }
        .and_then(Json::as_array)
        .ok_or_else(|| {
            RestError::Shape(match &call.rows {
                Some(field) => format!("no array in field '{field}'"),
                None => "not a JSON array".to_string(),
            })
        })?;
        if array.len() > self.max_rows {
            return Err(RestError::TooManyRows { max: self.max_rows });
        }
        array.iter().map(|row| self.row(row, so)).collect()
    }

    /// One entity of the service as values by property index (a missing field is null).
    pub fn row(&self, object: &Json, so: &SmartObject) -> Result<Vec<Value>, RestError> {
        let object = object
            .as_object()
            .ok_or_else(|| RestError::Shape("a row is not a JSON object".into()))?;
        so.properties
            .iter()
            .zip(&self.fields)
            .map(|(p, field)| match object.get(field) {
                None | Some(Json::Null) => Ok(Value::Null),
                Some(json) => value_of(p, json).map_err(|problem| RestError::Field {
                    field: field.clone(),
                    property: p.system_name.clone(),
                    problem,
                }),
            })
            .collect()
    }
}

/// Checks the `oauth_resource` of every REST SmartObject in `defined` against the `oauth:` catalog (`None`
/// when no `oauth:` section is configured). Paths are `odata.smartobjects.{system name}.rest.oauth_resource`.
pub fn check_resources(
    defined: &[std::sync::Arc<SmartObject>],
    oauth: Option<&crate::outbound::resource::Catalog>,
) -> Vec<ConfigIssue> {
    let mut issues = Vec::new();
    for so in defined {
        let Some(rest) = so.source.rest() else { continue };
        let at = format!("odata.smartobjects.{}.rest.oauth_resource", so.system_name);
        match oauth {
            None => issues.push(ConfigIssue::new(
                at,
                format!(
                    "'{}' is a REST SmartObject, called with users' tokens for OAuth resource '{}', but no `oauth:` \
                     section is configured: configure outbound OAuth (oauth: types, resources, vault)",
                    so.system_name, rest.oauth_resource
                ),
            )),
            Some(catalog) if catalog.resource(&rest.oauth_resource).is_none() => {
                let known: Vec<&str> = catalog.resources.iter().map(|r| r.name.as_str()).collect();
                issues.push(ConfigIssue::new(
                    at,
                    format!(
                        "no OAuth resource named '{}' (known: {})",
                        rest.oauth_resource,
                        if known.is_empty() {
                            "none".to_string()
                        } else {
                            known.join(", ")
                        }
                    ),
                ));
            }
            Some(_) => {}
        }
    }
    issues
}

/// `$filter`, `$orderby`, `$skip` and `$top` over `rows` as the stores apply them (nulls first in ascending
/// order, the key as the last sort key so pages are stable); with the count of rows matching `$filter`.
pub fn apply(mut rows: Vec<Vec<Value>>, options: &QueryOptions, key: usize) -> (Vec<Vec<Value>>, u64) {
    if let Some(filter) = &options.filter {
        rows.retain(|row| eval::matches(filter, row));
    }
    let count = rows.len() as u64;
    let mut order: Vec<OrderKey> = options.order.clone();
    if !order.iter().any(|k| k.property == key) {
        order.push(OrderKey {
            property: key,
            descending: false,
        });
    }
    rows.sort_by(|a, b| {
        for k in &order {
            let o = compare(&a[k.property], &b[k.property]);
            let o = if k.descending { o.reverse() } else { o };
            if o != Ordering::Equal {
                return o;
            }
        }
        Ordering::Equal
    });
    let skip = usize::try_from(options.skip).unwrap_or(usize::MAX);
    let rows: Vec<Vec<Value>> = match options.top {
        Some(top) => rows
            .into_iter()
            .skip(skip)
            .take(usize::try_from(top).unwrap_or(usize::MAX))
            .collect(),
        None => rows.into_iter().skip(skip).collect(),
    };
    (rows, count)
}

/// Total order for sorting: null first, then by value (values of one property share a type).
fn compare(a: &Value, b: &Value) -> Ordering {
    match (a, b) {
        (Value::Null, Value::Null) => Ordering::Equal,
        (Value::Null, _) => Ordering::Less,
        (_, Value::Null) => Ordering::Greater,
        _ => eval::order(a, b).unwrap_or(Ordering::Equal),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::odata::filter::{parse_filter, parse_orderby};
    use crate::odata::smartobject::SmartObjectFile;

    fn so() -> SmartObject {
        let file: SmartObjectFile = serde_json::from_value(serde_json::json!({
            "system_name": "Invoice",
            "key": "Id",
            "methods": ["List", "Read"],
            "properties": [
                {"name": "Id", "type": "Number"},
                {"name": "Title", "type": "Text"},
                {"name": "Amount", "type": "Decimal"},
            ],
        }))
        .unwrap();
        SmartObject::from_file(file).unwrap()
    }

    fn rest(yaml: &str) -> Result<RestSource, Vec<ConfigIssue>> {
        let file: RestFile =
            authgate_core::config::parse_yaml(std::path::Path::new("so.yaml"), yaml, |_| None).unwrap();
        RestSource::from_file(&file, &so())
    }

    const GOOD: &str = "oauth_resource: Api\nbase_url: http://127.0.0.1:8080/v1\nmax_rows: 3\n\
                        list: {path: invoices, rows: value}\nread: {path: 'invoices/{key}'}\nfields: {Title: title, Amount: total}\n";

    #[test]
    fn a_rest_source_is_checked_against_the_smartobject() {
        let source = rest(GOOD).unwrap();
        assert_eq!(source.base_url.as_str(), "http://127.0.0.1:8080/v1/");
        assert_eq!(source.fields, ["Id", "title", "total"]);
        let read = source.call(Method::Read).unwrap();
        assert_eq!(read.method, http::Method::GET);
        assert_eq!(
            source.url(read, Some("a/b c")).unwrap().as_str(),
            "http://127.0.0.1:8080/v1/invoices/a%2Fb%20c"
        );
        assert_eq!(
            rest(&GOOD.replace("max_rows: 3\n", "")).unwrap().max_rows,
            DEFAULT_MAX_ROWS
        );
    }

    #[test]
    fn mistakes_are_reported_with_their_paths() {
        let issues = rest(
            "oauth_resource: ''\nbase_url: http://api.example.com/\nmax_rows: 0\n\
             list: {method: TRACE, path: '/x', rows: ''}\ncreate: {path: x}\nfields: {Nope: n, Title: Id}\n",
        )
        .unwrap_err();
        let paths: Vec<&str> = issues.iter().map(|i| i.path.as_str()).collect();
        assert_eq!(
            paths,
            [
                "rest.oauth_resource",
                "rest.base_url",
                "rest.max_rows",
                "rest.list.method",
                "rest.list.path",
                "rest.list.rows",
                "rest.read",
                "rest.create",
                "rest.fields.Nope",
                "rest.fields.Title"
            ],
            "{issues:#?}"
        );
        assert!(issues[1].message.contains("plain http"), "{}", issues[1]);
        let issues =
            rest("oauth_resource: Api\nbase_url: https://api.example.com/\nlist: {path: x}\nread: {path: x}\n")
                .unwrap_err();
        assert_eq!(issues[0].path, "rest.read.path");
        assert!(issues[0].message.contains("{key}"), "{}", issues[0]);
    }

    #[test]
    fn the_oauth_resource_must_be_configured() {
        let file: SmartObjectFile = serde_json::from_value(serde_json::json!({
            "system_name": "Invoice", "key": "Id", "methods": ["List", "Read"],
            "properties": [{"name": "Id", "type": "Number"}],
            "rest": {"oauth_resource": "graph API", "base_url": "http://127.0.0.1:1/",
                     "list": {"path": "x"}, "read": {"path": "x/{key}"}},
        }))
        .unwrap();
        let defined = vec![std::sync::Arc::new(SmartObject::from_file(file).unwrap())];
        let issues = check_resources(&defined, None);
        assert_eq!(issues.len(), 1);
        assert_eq!(issues[0].path, "odata.smartobjects.Invoice.rest.oauth_resource");
        assert!(issues[0].message.contains("no `oauth:` section"), "{}", issues[0]);
        let oauth = crate::outbound::service::tests::catalog("http://127.0.0.1:9/token");
        assert!(
            check_resources(&defined, Some(&oauth)).is_empty(),
            "case-insensitive: Graph api"
        );
        let other = crate::outbound::resource::Catalog::default();
        let issues = check_resources(&defined, Some(&other));
        assert!(
            issues[0]
                .message
                .contains("no OAuth resource named 'graph API' (known: none)"),
            "{}",
            issues[0]
        );
    }

    #[test]
    fn rows_are_mapped_and_type_checked_and_the_cap_is_an_error() {
        let source = rest(GOOD).unwrap();
        let so = so();
        let list = source.call(Method::List).unwrap();
        let rows = source
            .rows(
                list,
                &serde_json::json!({"value": [{"Id": 1, "title": "a", "total": 2.5, "extra": true}, {"Id": 2}]}),
                &so,
            )
            .unwrap();
        assert_eq!(rows[0], [Value::Int(1), Value::String("a".into()), Value::Decimal(2.5)]);
        assert_eq!(rows[1], [Value::Int(2), Value::Null, Value::Null]);
        let four = serde_json::json!({"value": [{"Id": 1}, {"Id": 2}, {"Id": 3}, {"Id": 4}]});
        assert_eq!(source.rows(list, &four, &so), Err(RestError::TooManyRows { max: 3 }));
        let bad = serde_json::json!({"value": [{"Id": "x"}]});
        assert!(matches!(source.rows(list, &bad, &so), Err(RestError::Field { .. })));
        assert!(matches!(
            source.rows(list, &serde_json::json!([]), &so),
            Err(RestError::Shape(_))
        ));
    }

    #[test]
    fn query_options_are_applied_over_the_rows() {
        let so = so();
        let rows: Vec<Vec<Value>> = [
            (1, "b", Some(5.0)),
            (2, "a", None),
            (3, "c", Some(1.0)),
            (4, "a", Some(9.0)),
        ]
        .into_iter()
        .map(|(id, t, amount)| {
            vec![
                Value::Int(id),
                Value::String(t.into()),
                amount.map_or(Value::Null, Value::Decimal),
            ]
        })
        .collect();
        let props = so.query_properties.as_slice();
        let options = QueryOptions {
            filter: Some(parse_filter("Title ne 'c'", props).unwrap()),
            order: parse_orderby("Title, Amount desc", props).unwrap(),
            select: None,
            top: Some(2),
            skip: 1,
            count: true,
            ..QueryOptions::default()
        };
        let (page, count) = apply(rows.clone(), &options, so.key);
        assert_eq!(count, 3);
        let ids: Vec<&Value> = page.iter().map(|r| &r[0]).collect();
        assert_eq!(
            ids,
            [&Value::Int(2), &Value::Int(1)],
            "a/9, a/null, b/5 → skip 1, top 2"
        );
        let all = QueryOptions::default();
        let (page, count) = apply(rows, &all, so.key);
        assert_eq!(count, 4);
        assert_eq!(
            page.iter().map(|r| r[0].clone()).collect::<Vec<_>>(),
            (1..=4).map(Value::Int).collect::<Vec<_>>()
        );
    }
}
