//! What each fuzz target runs: one function per target, calling one authgate library function and checking
//! its invariants. The targets in `fuzz_targets/` are one-line shims over these, so when the library moves
//! (crates `authgate-core`, `authgate-apis`) only the imports here change.
//!
//! Every function must not panic on any input; a panic (or an invariant assertion) is a finding.

use authgate_apis::odata::edm::Value;
use authgate_apis::odata::{filter, query, smartobject::SmartObject};
use authgate_apis::workflow::{dates, item_refs::ItemReferences, json};
use authgate_core::auth::{bearer, credentials, headers::HeaderSet, jwt};
use authgate_core::config::{self, env, schema::GatewayConfig};
use authgate_core::http::path;
use authgate::proxy::ratelimit::RouteLimits;
use authgate::proxy::routes::{normalize_prefix, PathPolicy, Route, RouteTable, Upstream, UpstreamPeer};
use authgate::proxy::target;
use pingora_http::RequestHeader;
use std::path::Path;
use std::sync::Arc;
use std::sync::OnceLock;

/// The bearer token size limit the gateway uses by default.
const MAX_TOKEN_BYTES: usize = 16 * 1024;

/// `auth/credentials.rs`: every `Authorization` value of a request.
pub fn authorization(values: &[&[u8]]) {
    let parsed = credentials::parse_authorization(values, MAX_TOKEN_BYTES);
    if values.len() != 1 {
        assert!(parsed.is_err(), "{} Authorization values accepted", values.len());
    }
}

/// `auth/jwt.rs` and the bearer header checks: a token as it follows `Bearer `.
pub fn jwt(token: &str) {
    let Ok(parsed) = jwt::parse(token) else { return };
    assert!(token.as_bytes().starts_with(parsed.signing_input));
    let _ = bearer::check_header(&parsed.header);
    let _ = bearer::check_type(&parsed.header, true);
    let _ = bearer::check_type(&parsed.header, false);
    let _ = bearer::algorithm(&parsed.header, jwt::AlgorithmSet::all());
    let _ = bearer::check_times(&parsed.claims, 60, 1_700_000_000);
    let _ = bearer::scopes(&parsed.claims);
}

/// `proxy/path.rs`: normalisation and the routing view, with their invariants.
pub fn path(raw: &str) {
    let Ok(normal) = path::normalize(raw) else { return };
    let once = normal.path.as_ref();
    assert!(once.starts_with('/'), "{raw:?} -> {once:?}");
    assert!(!once.contains("//"), "{raw:?} -> {once:?} has an empty segment");
    for segment in once.split('/') {
        assert!(
            segment != "." && segment != "..",
            "{raw:?} -> {once:?} has a dot segment"
        );
    }
    let twice = path::normalize(once).unwrap_or_else(|e| panic!("{raw:?} -> {once:?} refused the second time: {e}"));
    assert_eq!(twice.path, once, "not idempotent: {raw:?}");
    // Features describe the request: one whose `;` or `%2F` segment went away with a `..` is still reported
    // (a deliberate, tested choice in path.rs), so the second pass may report less, never more.
    assert!(
        (!twice.features.semicolon || normal.features.semicolon)
            && (!twice.features.encoded_slash || normal.features.encoded_slash),
        "{raw:?} -> {once:?}: the normal form has features the first pass did not report"
    );
    if let Ok(view) = path::routing_view(once, normal.features) {
        assert!(view.starts_with('/'), "{raw:?} -> {view:?}");
        assert!(!view.contains("//"), "{raw:?} -> {view:?}");
        for segment in view.split('/') {
            assert!(segment != "." && segment != "..", "{raw:?} -> routing view {view:?}");
        }
        // It never climbs (no dot segment, checked above), so it cannot leave a prefix: it only splits
        // escaped separators and drops parameters, never adds to the path.
        assert!(
            view.len() <= once.len(),
            "{raw:?}: routing view {view:?} is longer than {once:?}"
        );
        if !normal.features.any() {
            assert_eq!(view.as_ref(), once);
        }
    }
}

fn routes() -> &'static RouteTable {
    static TABLE: OnceLock<RouteTable> = OnceLock::new();
    TABLE.get_or_init(|| {
        let upstream = Upstream::Builtin("fuzz.sock".into());
        let peer = UpstreamPeer::new(&upstream, &Default::default()).expect("a unix socket peer");
        let route = |index: usize, prefix: &str, path: PathPolicy| Route {
            name: format!("r{index}"),
            prefix: normalize_prefix(prefix),
            upstream: upstream.clone(),
            peer: peer.clone(),
            disabled: None,
            auth: None,
            forward: authgate_core::config::ForwardCredentials::None,
            path,
            limits: RouteLimits::default(),
            index,
            assertion_audience: String::new(),
            outbound: None,
            metrics: Default::default(),
        };
        let open = PathPolicy {
            allow_encoded_slash: true,
            allow_semicolon: true,
        };
        RouteTable::new(vec![
            route(0, "/", PathPolicy::default()),
            route(1, "/public", PathPolicy::default()),
            route(2, "/api", PathPolicy::default()),
            route(3, "/api/odata/v4", PathPolicy::default()),
            route(4, "/internal", PathPolicy::default()),
            route(5, "/files", open),
        ])
    })
}

/// `proxy/target.rs`: a request target (origin or absolute form) resolved against a fixed route table. The
/// route chosen is the route of what the upstream receives, read literally and as the routing view, and
/// what the upstream receives is already normal.
pub fn target(raw: &[u8]) {
    let Ok(mut req) = RequestHeader::build("GET", raw, None) else {
        return;
    };
    if req.insert_header("host", "gateway").is_err() {
        return;
    }
    let Ok(found) = target::resolve(&req, routes()) else {
        return;
    };
    let sent = match &found.upstream {
        Some(upstream) => upstream.clone(),
        // pingora forwards the parsed target (a `#fragment` is dropped, as nginx then shows).
        None => req
            .uri
            .path_and_query()
            .map_or_else(|| "/".to_string(), |p| p.as_str().to_string()),
    };
    let sent_path = sent.split('?').next().unwrap_or_default();
    let normal = path::normalize(sent_path).unwrap_or_else(|e| panic!("{raw:?}: the upstream gets {sent:?}: {e}"));
    assert_eq!(
        normal.path, sent_path,
        "{raw:?}: the upstream gets a path that is not normal: {sent:?}"
    );
    let same = |path: &str| routes().find(path).is_some_and(|r| Arc::ptr_eq(r, &found.route));
    assert!(
        same(sent_path),
        "{raw:?}: routed to {} but {sent:?} selects another route",
        found.route.name
    );
    let view = path::routing_view(sent_path, normal.features).unwrap_or_else(|e| panic!("{raw:?}: {sent:?}: {e}"));
    assert!(
        same(&view),
        "{raw:?}: routed to {} but the routing view {view:?} selects another route",
        found.route.name
    );
}

fn header_set() -> &'static HeaderSet {
    static SET: OnceLock<HeaderSet> = OnceLock::new();
    SET.get_or_init(|| HeaderSet::from_config(&Default::default()).expect("default header names"))
}

/// `auth/headers.rs`: the identity header stripping predicate.
pub fn identity_header(name: &[u8]) {
    let Ok(name) = http::HeaderName::from_bytes(name) else {
        return;
    };
    let stripped = header_set().is_identity_header(&name);
    let dashed = name.as_str().replace('_', "-");
    if dashed.starts_with("x-authgate-") {
        assert!(stripped, "{name} is not stripped");
    }
    for identity in header_set().names() {
        if dashed == identity.as_str() {
            assert!(stripped, "{name} looks like {identity} and is not stripped");
        }
    }
}

/// The shipped SmartObjects (`policies/smartobjects`).
fn smartobjects() -> &'static [SmartObject] {
    static SO: OnceLock<Vec<SmartObject>> = OnceLock::new();
    SO.get_or_init(|| {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../policies/smartobjects");
        authgate_apis::odata::smartobject::load_dir(&dir).expect("the shipped SmartObjects load")
    })
}

/// `apis/odata/filter.rs`: `$filter` and `$orderby` against a shipped SmartObject.
pub fn odata_filter(which: u8, text: &str) {
    let so = &smartobjects()[usize::from(which) % smartobjects().len()];
    let _ = filter::parse_filter(text, so.query_properties.as_slice());
    let _ = filter::parse_orderby(text, so.query_properties.as_slice());
}

/// `apis/odata/query.rs`: resource paths, keys (with the round trip of a parsed literal) and query options.
pub fn odata_query(which: u8, text: &str) {
    let so = &smartobjects()[usize::from(which) % smartobjects().len()];
    let _ = query::parse_path(text);
    let _ = query::parse_key(so, text);
    for target in [
        query::Target::Collection,
        query::Target::Count,
        query::Target::Entity,
        query::Target::Service,
    ] {
        let _ = query::parse_options(Some(text), Some(so), target);
    }
    if let Ok(value) = filter::parse_literal(text) {
        let segment = query::key_segment(&value);
        let decoded = percent_decode(&segment);
        let again = filter::parse_literal(&decoded)
            .unwrap_or_else(|e| panic!("{text:?} -> {value:?} -> {segment:?} does not parse: {e:?}"));
        // A whole decimal is written without its fraction (`21.` -> `21`) and reads back as the same number;
        // parse_key gives it the key's type again.
        let same_number = match (&again, &value) {
            (Value::Int(i), Value::Decimal(d)) => (*i as f64) == *d,
            _ => false,
        };
        assert!(
            again == value || same_number,
            "{text:?} -> {segment:?} -> {again:?}, not {value:?}"
        );
    }
}

fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes.get(i + 1..i + 3).and_then(|h| std::str::from_utf8(h).ok());
        match (bytes[i], hex.and_then(|h| u8::from_str_radix(h, 16).ok())) {
            (b'%', Some(b)) => {
                out.push(b);
                i += 3;
            }
            (b, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// `config/`: YAML to configuration with `${ENV}` expansion (variables `A`=`x`, `B`=``, others unset).
pub fn config(text: &str) {
    let lookup = |name: &str| match name {
        "A" => Some("x".to_string()),
        "B" => Some(String::new()),
        _ => None,
    };
    let expanded = env::expand(text, lookup);
    if let Ok(expanded) = &expanded {
        if !text.contains("${") {
            assert_eq!(expanded, text);
        }
    }
    let _ = config::parse_yaml::<GatewayConfig>(Path::new("fuzz.yaml"), text, lookup);
}

/// `apis/workflow/json.rs`: the K2 lenient JSON body reader.
pub fn workflow_json(bytes: &[u8]) {
    let _ = json::parse_value(bytes);
}

/// `apis/workflow/dates.rs`: .NET and ISO dates.
pub fn dates(text: &str) {
    let _ = dates::parse_dotnet(text);
    let _ = dates::parse_date(text);
    if let Some(seconds) = dates::parse_rfc3339(text) {
        let formatted = dates::format_rfc3339(seconds);
        assert_eq!(
            dates::parse_rfc3339(&formatted),
            Some(seconds),
            "{text:?} -> {formatted:?}"
        );
    }
    if let Some(datetime) = dates::parse_any_datetime(text) {
        let _ = datetime.unix_seconds();
        let _ = datetime.to_rfc3339();
    }
    let _ = dates::parse_any_date(text);
}

/// `apis/workflow/item_refs.rs`: K2's item-reference XML, and the round trip of what it read.
pub fn item_refs(xml: &str) {
    let Ok(refs) = ItemReferences::from_xml(xml) else {
        return;
    };
    let written = refs.to_xml();
    let again = ItemReferences::from_xml(&written).unwrap_or_else(|e| panic!("{written:?} does not read back: {e}"));
    assert_eq!(again, refs, "{xml:?} -> {written:?}");
    let _ = ItemReferences::from_request(serde_json::Value::Object(refs.to_json()));
}
