//! The SmartObject OData v4 API: SmartObjects defined in YAML, published by the exposure rules, queried with
//! `$filter` / `$orderby` / `$select` / `$top` / `$skip` / `$count`, changed with POST / PATCH / PUT / DELETE
//! where the SmartObject has the method. It answers at every configured base path (`odata.base_paths`, by
//! default `/api/odata/v4` and K2's `/api/odatav4/v4`), and its links name the base path the request came in on.
//!
//! - [`smartobject`]: definition files (`policies/smartobjects/*.yaml`) checked into runtime form.
//! - [`statistics`]: the read-only workflow statistics SmartObjects over the workflow tables.
//! - [`catalog`]: defined vs published SmartObjects (the exposure rules) and the rendered `$metadata`.
//! - [`metadata`]: CSDL XML and the service document.
//! - [`edm`]: EDM types, values and their SQLite storage form.
//! - [`filter`]: `$filter` / `$orderby` parsing into a typed AST, with positioned errors.
//! - [`sql`]: AST → SQL with bound parameters; [`eval`]: the reference evaluator the SQL is tested against.
//! - [`query`]: resource paths, keys and the system query options.
//! - [`json`]: entities out, request bodies in.
//! - [`rest`]: a REST service as a SmartObject's source (checked `rest:` section, rows mapped, query options
//!   applied); [`remote`]: the calls to it with the user's OAuth token.
//! - [`store`]: the [`store::SmartObjectStore`] trait and its SQLite implementation.
//! - [`handlers`]: HTTP; [`error`]: the OData JSON error format.

pub mod catalog;
pub mod edm;
pub mod error;
pub mod eval;
pub mod filter;
pub mod handlers;
pub mod json;
pub mod metadata;
pub mod query;
pub mod remote;
pub mod rest;
pub mod smartobject;
pub mod statistics;
pub mod store;

use catalog::Catalog;
use std::sync::Arc;
use store::SmartObjectStore;

/// What the OData API works with; swapped whole when the configuration reloads.
pub struct ODataApi {
    /// Defined and published SmartObjects.
    pub catalog: Arc<Catalog>,
    /// Their data.
    pub store: Arc<dyn SmartObjectStore>,
    /// Most entities in one response.
    pub page_size: u64,
    /// The service roots (`/api/odata/v4`, `/api/odatav4/v4`), matched case-insensitively.
    pub base_paths: Arc<[String]>,
    /// The gateway's external URL (`https://k2.example.com`), put before the base path in links; without it
    /// links are absolute paths. Never taken from the request (`Host`, `X-Forwarded-*`).
    pub public_url: Option<String>,
}

impl ODataApi {
    /// The base path `path` is under (as configured) and the rest of `path`; see [`split_base`].
    pub fn split_base<'p>(&self, path: &'p str) -> Option<(&str, &'p str)> {
        split_base(&self.base_paths, path)
    }
}

/// The base path of `bases` that `path` is under and the rest of `path`, or `None` when it is under none.
/// Matched case-insensitively on a segment boundary: `/API/OData/v4/Customer` is `/api/odata/v4` +
/// `/Customer`; `/api/odata/v40` is under none.
pub fn split_base<'b, 'p>(bases: &'b [String], path: &'p str) -> Option<(&'b str, &'p str)> {
    bases.iter().find_map(|base| {
        let head = path.get(..base.len())?;
        let rest = &path[base.len()..];
        (head.eq_ignore_ascii_case(base) && (rest.is_empty() || rest.starts_with('/'))).then_some((base.as_str(), rest))
    })
}

/// Checks the `odata:` settings that shape URLs: `base_paths` and `public_url`. Every problem is reported with
/// its field path.
pub fn check_config(cfg: &authgate_core::config::OdataConfig) -> Vec<authgate_core::config::ConfigIssue> {
    use authgate_core::config::ConfigIssue;
    let mut issues = Vec::new();
    if cfg.base_paths.is_empty() {
        issues.push(ConfigIssue::new(
            "odata.base_paths",
            "at least one base path is required",
        ));
    }
    let overlaps = |a: &str, b: &str| {
        let (short, long) = if a.len() <= b.len() { (a, b) } else { (b, a) };
        split_base(&[short.to_string()], long).is_some()
    };
    for (i, base) in cfg.base_paths.iter().enumerate() {
        let path = format!("odata.base_paths[{i}]");
        if let Err(reason) = check_base_path(base) {
            issues.push(ConfigIssue::new(path, format!("'{base}' {reason}")));
            continue;
        }
        if let Some(other) = cfg.base_paths[..i].iter().find(|other| overlaps(other, base)) {
            issues.push(ConfigIssue::new(
                path,
                format!("'{base}' overlaps '{other}': one would hide the other"),
            ));
        } else if let Some(other) = crate::BASE_PATHS.iter().find(|other| overlaps(other, base)) {
            issues.push(ConfigIssue::new(
                path,
                format!("'{base}' overlaps '{other}', the base path of another built-in API"),
            ));
        }
    }
    if let Some(url) = &cfg.public_url {
        let parsed = url::Url::parse(url).ok().filter(|u| {
            matches!(u.scheme(), "http" | "https")
                && u.host().is_some()
                && u.query().is_none()
                && u.fragment().is_none()
        });
        if parsed.is_none() || url.ends_with('/') {
            issues.push(ConfigIssue::new(
                "odata.public_url",
                format!("'{url}' must be an absolute http(s) URL without query, fragment or trailing slash"),
            ));
        } else if let Some(base) = cfg
            .base_paths
            .iter()
            .find(|base| url.len() >= base.len() && url[url.len() - base.len()..].eq_ignore_ascii_case(base))
        {
            issues.push(ConfigIssue::new(
                "odata.public_url",
                format!(
                    "'{url}' ends with the base path {base}: public_url is the gateway's external URL without it \
                     (links add the base path each request came in on), e.g. '{}'",
                    &url[..url.len() - base.len()]
                ),
            ));
        }
    }
    issues
}

/// A base path is `/` followed by non-empty segments of unreserved URL characters, without dot segments.
fn check_base_path(base: &str) -> Result<(), &'static str> {
    let Some(segments) = base.strip_prefix('/') else {
        return Err("must start with /");
    };
    for segment in segments.split('/') {
        if segment.is_empty() {
            return Err("must not end with / or contain an empty segment");
        }
        if segment == "." || segment == ".." {
            return Err("must not contain . or .. segments");
        }
        if !segment
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~'))
        {
            return Err("may contain only letters, digits, - _ . ~ and / between segments");
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base_paths_and_public_url_are_checked() {
        let check = |bases: &[&str], public_url: Option<&str>| {
            let cfg = authgate_core::config::OdataConfig {
                base_paths: bases.iter().map(|b| b.to_string()).collect(),
                public_url: public_url.map(str::to_string),
                ..Default::default()
            };
            check_config(&cfg)
                .into_iter()
                .map(|i| i.to_string())
                .collect::<Vec<_>>()
                .join("\n")
        };
        assert_eq!(check(&["/api/odata/v4", "/api/odatav4/v4"], None), "");
        assert_eq!(check(&["/api/odata/v4"], Some("https://k2.example.com/gw")), "");
        assert_eq!(check(&["/odata"], Some("http://127.0.0.1:8080")), "");
        for (bases, public_url, expected) in [
            (&[][..], None, "odata.base_paths: at least one"),
            (
                &["api/odata"][..],
                None,
                "odata.base_paths[0]: 'api/odata' must start with /",
            ),
            (&["/api/odata/"][..], None, "must not end with /"),
            (&["/"][..], None, "must not end with /"),
            (&["/api//odata"][..], None, "empty segment"),
            (&["/api/../odata"][..], None, ". or .. segments"),
            (&["/api/od ata"][..], None, "only letters"),
            (&["/api/odata%2fv4"][..], None, "only letters"),
            (
                &["/api/odata", "/API/OData/v4"][..],
                None,
                "odata.base_paths[1]: '/API/OData/v4' overlaps '/api/odata'",
            ),
            (&["/api/odata/v4", "/api/odata/v4"][..], None, "overlaps"),
            (
                &["/api"][..],
                None,
                "'/api' overlaps '/api/workflow/v1', the base path of another built-in API",
            ),
            (&["/api/whoami/odata"][..], None, "overlaps '/api/whoami'"),
            (
                &["/api/odata/v4"][..],
                Some("ftp://h"),
                "must be an absolute http(s) URL",
            ),
            (
                &["/api/odata/v4"][..],
                Some("https://h/"),
                "must be an absolute http(s) URL",
            ),
            (
                &["/api/odata/v4"][..],
                Some("/relative"),
                "must be an absolute http(s) URL",
            ),
            (
                &["/api/odata/v4"][..],
                Some("https://h?x=1"),
                "must be an absolute http(s) URL",
            ),
            (
                &["/api/odata/v4"][..],
                Some("https://k2.example.com/api/odata/v4"),
                "e.g. 'https://k2.example.com'",
            ),
        ] {
            let found = check(bases, public_url);
            assert!(found.contains(expected), "{bases:?} {public_url:?}: {found}");
        }
    }

    #[test]
    fn paths_are_split_at_a_configured_base_on_a_segment_boundary() {
        let bases = ["/api/odata/v4".to_string(), "/api/odatav4/v4".to_string()];
        assert_eq!(split_base(&bases, "/api/odata/v4"), Some(("/api/odata/v4", "")));
        assert_eq!(
            split_base(&bases, "/API/ODataV4/V4/Customer(5L)"),
            Some(("/api/odatav4/v4", "/Customer(5L)"))
        );
        assert_eq!(split_base(&bases, "/api/odata/v4/"), Some(("/api/odata/v4", "/")));
        for none in [
            "/api/odata/v40",
            "/api/odata",
            "/api/workflow/v1/tasks",
            "/",
            "/api/odatä/v4",
        ] {
            assert_eq!(split_base(&bases, none), None, "{none}");
        }
    }
}
