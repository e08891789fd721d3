//! Resource types and resources, as the operator writes them (`policies/oauth/types/*.yaml`,
//! `policies/oauth/resources/*.yaml`, one per file) and as validated ([`ResourceType`], [`Resource`],
//! [`Catalog`]).
//!
//! A **type** names the parameters a provider's OAuth 2.0 dialect uses, the [`Stage`]s each is sent in, whether
//! its value is URL-encoded, and default values per stage (`grant_type: authorization_code` at the token
//! stage). A **resource** is one configured service of a type: its endpoints and its values per stage (the
//! client id, the client secret through `${ENV}`, the scope...), which override the type's defaults.
//!
//! `state` and `code` are never configured: the gateway adds `state` itself (a server-side record tying the
//! callback to the user and the resource) and reads `code` from the callback. The PKCE parameters are the
//! gateway's too (`pkce` on the type).

use authgate_core::config::{ConfigError, ConfigIssue, Secret};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::fmt;
use std::path::Path;

/// A stage of the authorization-code flow (and refresh) that parameters are sent or received in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Stage {
    /// The authorization request: query parameters of the redirect to the authorization endpoint.
    Authorization,
    /// The authorization response: parameters the provider sends back to the callback (besides `code` and
    /// `state`), read by the gateway.
    AuthorizationResponse,
    /// The token request: the form posted to the token endpoint to exchange the code.
    Token,
    /// The refresh request: the form posted to the refresh endpoint with the refresh token.
    Refresh,
}

impl Stage {
    /// Every stage, in flow order.
    pub const ALL: [Stage; 4] = [
        Stage::Authorization,
        Stage::AuthorizationResponse,
        Stage::Token,
        Stage::Refresh,
    ];

    /// Its name in the files.
    pub fn as_str(self) -> &'static str {
        match self {
            Stage::Authorization => "authorization",
            Stage::AuthorizationResponse => "authorization_response",
            Stage::Token => "token",
            Stage::Refresh => "refresh",
        }
    }
}

impl fmt::Display for Stage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How a type obtains tokens.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GrantKind {
    /// The browser authorization-code flow, then refresh tokens (the default).
    #[default]
    AuthorizationCode,
    /// Azure AD on-behalf-of: the caller's inbound bearer token exchanged at the token endpoint
    /// (`grant_type=urn:ietf:params:oauth:grant-type:jwt-bearer`, `requested_token_use=on_behalf_of`). No
    /// browser, no authorization endpoint.
    OnBehalfOf,
    /// RFC 8693 token exchange (`grant_type=urn:ietf:params:oauth:grant-type:token-exchange`). No browser, no
    /// authorization endpoint.
    TokenExchange,
}

/// Per-stage values, as written: `{authorization: ..., token: ..., refresh: ...}`.
pub type StageValues = BTreeMap<Stage, Secret>;

/// One resource type file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ResourceTypeFile {
    /// Its name, unique case-insensitively (usually the service's: `Microsoft Online`, `Salesforce`).
    pub name: String,
    /// What it is for. Default: none.
    #[serde(default)]
    pub description: Option<String>,
    /// How tokens are obtained. Default `authorization_code`.
    #[serde(default)]
    pub kind: GrantKind,
    /// Whether the gateway adds PKCE (S256) to the authorization and token requests. Default `true`; turn it
    /// off only for a provider that refuses the extra parameters.
    #[serde(default = "yes")]
    pub pkce: bool,
    /// Days a refresh token lives at the provider, if it says (for the Tokens view). Default: unknown.
    #[serde(default)]
    pub refresh_token_expiration_days: Option<u32>,
    /// Days before that expiry a connection is shown as expiring. Default: none.
    #[serde(default)]
    pub expiration_warning_days: Option<u32>,
    /// The parameters, in the order they are sent.
    pub parameters: Vec<ParameterFile>,
}

fn yes() -> bool {
    true
}

/// One parameter of a type.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ParameterFile {
    /// Its name exactly as the provider spells it (`client_id`, `resource`, `scope`).
    pub name: String,
    /// What it means. Default: none.
    #[serde(default)]
    pub description: Option<String>,
    /// The stages it is sent (or, for `authorization_response`, received) in. At least one.
    pub stages: Vec<Stage>,
    /// Whether its value is URL-encoded when sent. Default `true`; `false` sends the value as written (for a
    /// value the operator has already encoded).
    #[serde(default = "yes")]
    pub url_encode: bool,
    /// Default values per stage, used when a resource gives none. Default: none.
    #[serde(default)]
    pub defaults: StageValues,
}

/// One resource file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ResourceFile {
    /// Its name, unique case-insensitively; what routes and SmartObjects refer to.
    pub name: String,
    /// What it is. Default: none.
    #[serde(default)]
    pub description: Option<String>,
    /// The name of its resource type.
    #[serde(rename = "type")]
    pub kind: String,
    /// The provider's authorization endpoint (https; http only on a loopback address). Required for an
    /// `authorization_code` type, refused for the others.
    #[serde(default)]
    pub authorization_endpoint: Option<String>,
    /// The provider's token endpoint. Required.
    pub token_endpoint: String,
    /// Where refresh requests go. Default: the token endpoint.
    #[serde(default)]
    pub refresh_endpoint: Option<String>,
    /// Values per parameter and stage: `{client_id: {authorization: abc, token: abc, refresh: abc}}`. A
    /// value overrides the type's default for that stage. Secrets through `${ENV}`.
    #[serde(default)]
    pub parameters: BTreeMap<String, StageValues>,
}

/// A validated parameter of a type.
#[derive(Debug, Clone)]
pub struct ParameterDef {
    /// As the provider spells it.
    pub name: String,
    /// What it means.
    pub description: Option<String>,
    /// The stages it is used in.
    pub stages: Vec<Stage>,
    /// Whether its value is URL-encoded when sent.
    pub url_encode: bool,
    /// Default values per stage.
    pub defaults: StageValues,
}

impl ParameterDef {
    /// Whether it is used in `stage`.
    pub fn in_stage(&self, stage: Stage) -> bool {
        self.stages.contains(&stage)
    }
}

/// A validated resource type.
#[derive(Debug, Clone)]
pub struct ResourceType {
    /// Its name.
    pub name: String,
    /// What it is for.
    pub description: Option<String>,
    /// How tokens are obtained.
    pub kind: GrantKind,
    /// Whether PKCE S256 is added.
    pub pkce: bool,
    /// Days a refresh token lives at the provider.
    pub refresh_token_expiration_days: Option<u32>,
    /// Days before that expiry a connection shows as expiring.
    pub expiration_warning_days: Option<u32>,
    /// Its parameters, in order.
    pub parameters: Vec<ParameterDef>,
}

/// A validated resource.
#[derive(Debug, Clone)]
pub struct Resource {
    /// Its name.
    pub name: String,
    /// What it is.
    pub description: Option<String>,
    /// Its type's name (as the type spells it).
    pub type_name: String,
    /// The authorization endpoint (`authorization_code` types only).
    pub authorization_endpoint: Option<url::Url>,
    /// The token endpoint.
    pub token_endpoint: url::Url,
    /// The refresh endpoint (the token endpoint unless configured).
    pub refresh_endpoint: url::Url,
    /// Values per parameter name and stage.
    pub values: BTreeMap<String, StageValues>,
}

/// Parameter names the gateway owns, and why.
const RESERVED: &[(&str, &str)] = &[
    (
        "state",
        "the gateway adds `state` itself: a single-use server-side record that ties the callback to the \
         authenticated user and this resource; a configured one would break that binding",
    ),
    (
        "code",
        "`code` is what the provider returns to the gateway's callback; the gateway sends it in the token \
         request itself",
    ),
    (
        "code_verifier",
        "PKCE is the gateway's: it makes a new verifier for every authorization (`pkce` on the type)",
    ),
    (
        "code_challenge",
        "PKCE is the gateway's: it makes a new verifier for every authorization (`pkce` on the type)",
    ),
    (
        "code_challenge_method",
        "PKCE is the gateway's: it always uses S256 (`pkce` on the type)",
    ),
    (
        "assertion",
        "on-behalf-of sends the caller's inbound bearer token as `assertion` itself",
    ),
    (
        "subject_token",
        "token exchange sends the caller's inbound bearer token as `subject_token` itself",
    ),
    (
        "refresh_token",
        "the gateway sends the user's stored refresh token in the refresh request itself",
    ),
];

fn reserved(name: &str) -> Option<&'static str> {
    RESERVED
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, why)| *why)
}

/// Parameter names: what may appear unescaped in a query or form (RFC 3986 unreserved characters).
fn valid_parameter_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 128
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.' | b'~'))
}

fn valid_name(name: &str) -> bool {
    let trimmed = name.trim();
    !trimmed.is_empty() && trimmed == name && name.len() <= 128 && !name.chars().any(char::is_control)
}

impl ResourceType {
    /// Validates a type file; every problem is reported with its field path.
    pub fn from_file(file: ResourceTypeFile) -> Result<Self, Vec<ConfigIssue>> {
        let mut issues = Vec::new();
        if !valid_name(&file.name) {
            issues.push(ConfigIssue::new(
                "name",
                "a name is required: 1 to 128 characters, no leading or trailing spaces, no control characters",
            ));
        }
        if file.parameters.is_empty() && file.kind == GrantKind::AuthorizationCode {
            issues.push(ConfigIssue::new(
                "parameters",
                "an authorization_code type needs its parameters (client_id, response_type...)",
            ));
        }
        let mut parameters: Vec<ParameterDef> = Vec::new();
        for (i, p) in file.parameters.into_iter().enumerate() {
            let at = format!("parameters[{i}]");
            if let Some(why) = reserved(&p.name) {
                issues.push(ConfigIssue::new(
                    format!("{at}.name"),
                    format!("`{}` must not be configured: {why}", p.name),
                ));
                continue;
            }
            if !valid_parameter_name(&p.name) {
                issues.push(ConfigIssue::new(
                    format!("{at}.name"),
                    format!(
                        "'{}' is not a parameter name: 1 to 128 of A-Z a-z 0-9 _ - . ~",
                        p.name.escape_debug()
                    ),
                ));
                continue;
            }
            if parameters.iter().any(|q| q.name == p.name) {
                issues.push(ConfigIssue::new(
                    format!("{at}.name"),
                    format!("parameter `{}` is already defined", p.name),
                ));
            }
            if p.stages.is_empty() {
                issues.push(ConfigIssue::new(
                    format!("{at}.stages"),
                    "list the stages it is used in: authorization, authorization_response, token, refresh",
                ));
            }
            for stage in p.defaults.keys() {
                if !p.stages.contains(stage) {
                    issues.push(ConfigIssue::new(
                        format!("{at}.defaults.{stage}"),
                        format!(
                            "a default for the {stage} stage, which `{}` is not used in (stages)",
                            p.name
                        ),
                    ));
                }
            }
            if p.defaults.contains_key(&Stage::AuthorizationResponse) {
                issues.push(ConfigIssue::new(
                    format!("{at}.defaults.authorization_response"),
                    "authorization_response parameters are received, not sent: they have no value",
                ));
            }
            let mut stages = p.stages;
            stages.sort();
            stages.dedup();
            parameters.push(ParameterDef {
                name: p.name,
                description: p.description,
                stages,
                url_encode: p.url_encode,
                defaults: p.defaults,
            });
        }
        if let (Some(life), Some(warn)) = (file.refresh_token_expiration_days, file.expiration_warning_days) {
            if warn >= life {
                issues.push(ConfigIssue::new(
                    "expiration_warning_days",
                    format!("{warn} days is not less than refresh_token_expiration_days ({life})"),
                ));
            }
        }
        if !issues.is_empty() {
            return Err(issues);
        }
        Ok(Self {
            name: file.name,
            description: file.description,
            kind: file.kind,
            pkce: file.pkce && file.kind == GrantKind::AuthorizationCode,
            refresh_token_expiration_days: file.refresh_token_expiration_days,
            expiration_warning_days: file.expiration_warning_days,
            parameters,
        })
    }

    /// Its parameter `name`.
    pub fn parameter(&self, name: &str) -> Option<&ParameterDef> {
        self.parameters.iter().find(|p| p.name == name)
    }
}

/// An absolute https URL, or http on a loopback address (a service beside the gateway, tests). `carried` says
/// what would travel in clear over plain http, for the error. Shared by the resource endpoints and the base
/// URLs of REST-backed SmartObjects, which add their own rules.
pub(crate) fn https_or_loopback(text: &str, carried: &str) -> Result<url::Url, String> {
    let url = url::Url::parse(text).map_err(|e| format!("'{text}' is not an absolute URL: {e}"))?;
    let loopback = match url.host() {
        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        Some(url::Host::Ipv4(a)) => a.is_loopback(),
        Some(url::Host::Ipv6(a)) => a.is_loopback(),
        None => false,
    };
    match url.scheme() {
        "https" if url.host().is_some() => Ok(url),
        "http" if loopback => Ok(url),
        "http" => Err(format!("'{text}' is plain http: {carried} travel to it; use https")),
        _ => Err(format!("'{text}' is not an https URL")),
    }
}

/// An endpoint: an absolute https URL, or http on a loopback address (a provider beside the gateway, tests).
fn endpoint(text: &str) -> Result<url::Url, String> {
    let url = https_or_loopback(text, "tokens and secrets")?;
    if url.fragment().is_some() || !url.username().is_empty() || url.password().is_some() {
        return Err(format!("'{text}' may not carry credentials or a #fragment"));
    }
    Ok(url)
}

impl Resource {
    /// Validates a resource file against the known `types`; every problem is reported with its field path.
    pub fn from_file(file: ResourceFile, types: &[ResourceType]) -> Result<Self, Vec<ConfigIssue>> {
        let mut issues = Vec::new();
        if !valid_name(&file.name) {
            issues.push(ConfigIssue::new(
                "name",
                "a name is required: 1 to 128 characters, no leading or trailing spaces, no control characters",
            ));
        }
        let ty = types.iter().find(|t| t.name.eq_ignore_ascii_case(&file.kind));
        if ty.is_none() {
            let known: Vec<&str> = types.iter().map(|t| t.name.as_str()).collect();
            issues.push(ConfigIssue::new(
                "type",
                format!(
                    "no resource type is named '{}' (known: {})",
                    file.kind,
                    known.join(", ")
                ),
            ));
        }
        let mut url_at = |field: &str, text: &str| match endpoint(text) {
            Ok(url) => Some(url),
            Err(message) => {
                issues.push(ConfigIssue::new(field, message));
                None
            }
        };
        let token_endpoint = url_at("token_endpoint", &file.token_endpoint);
        let refresh_endpoint = match &file.refresh_endpoint {
            Some(text) => url_at("refresh_endpoint", text),
            None => token_endpoint.clone(),
        };
        let authorization_endpoint = file
            .authorization_endpoint
            .as_deref()
            .map(|text| url_at("authorization_endpoint", text));
        if let Some(ty) = ty {
            match (ty.kind, &authorization_endpoint) {
                (GrantKind::AuthorizationCode, None) => issues.push(ConfigIssue::new(
                    "authorization_endpoint",
                    format!("required: type '{}' uses the authorization-code flow", ty.name),
                )),
                (GrantKind::OnBehalfOf | GrantKind::TokenExchange, Some(_)) => issues.push(ConfigIssue::new(
                    "authorization_endpoint",
                    format!(
                        "type '{}' exchanges the caller's token without a browser: remove it",
                        ty.name
                    ),
                )),
                _ => {}
            }
            for (name, values) in &file.parameters {
                let at = format!("parameters.{name}");
                if let Some(why) = reserved(name) {
                    issues.push(ConfigIssue::new(at, format!("`{name}` must not be configured: {why}")));
                    continue;
                }
                let Some(def) = ty.parameter(name) else {
                    issues.push(ConfigIssue::new(
                        at,
                        format!(
                            "type '{}' has no parameter `{name}` (add it to the type first)",
                            ty.name
                        ),
                    ));
                    continue;
                };
                for stage in values.keys() {
                    if *stage == Stage::AuthorizationResponse {
                        issues.push(ConfigIssue::new(
                            format!("{at}.{stage}"),
                            "authorization_response parameters are received, not sent: they have no value",
                        ));
                    } else if !def.in_stage(*stage) {
                        issues.push(ConfigIssue::new(
                            format!("{at}.{stage}"),
                            format!(
                                "type '{}' does not send `{name}` in the {stage} stage (its stages: {})",
                                ty.name,
                                def.stages.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(", ")
                            ),
                        ));
                    }
                }
            }
        }
        let (Some(ty), Some(token_endpoint), Some(refresh_endpoint)) = (ty, token_endpoint, refresh_endpoint) else {
            return Err(issues);
        };
        if !issues.is_empty() {
            return Err(issues);
        }
        Ok(Self {
            name: file.name,
            description: file.description,
            type_name: ty.name.clone(),
            authorization_endpoint: authorization_endpoint.flatten(),
            token_endpoint,
            refresh_endpoint,
            values: file.parameters,
        })
    }
}

/// Every type and resource, validated together.
#[derive(Debug, Clone, Default)]
pub struct Catalog {
    /// The types, by file name order.
    pub types: Vec<ResourceType>,
    /// The resources, by file name order.
    pub resources: Vec<Resource>,
}

impl Catalog {
    /// Builds the catalog from parsed files (each with the name it is reported under); a problem is reported
    /// as [`ConfigError::Invalid`] naming the file and the field.
    pub fn build(
        types: Vec<(std::path::PathBuf, ResourceTypeFile)>,
        resources: Vec<(std::path::PathBuf, ResourceFile)>,
    ) -> Result<Self, ConfigError> {
        let invalid = |file: &Path, issues| ConfigError::Invalid {
            file: file.to_path_buf(),
            issues,
        };
        let mut catalog = Catalog::default();
        for (path, file) in types {
            let ty = ResourceType::from_file(file).map_err(|issues| invalid(&path, issues))?;
            if catalog.types.iter().any(|t| t.name.eq_ignore_ascii_case(&ty.name)) {
                return Err(invalid(
                    &path,
                    vec![ConfigIssue::new(
                        "name",
                        format!(
                            "another file already defines resource type '{}' (names are case-insensitive)",
                            ty.name
                        ),
                    )],
                ));
            }
            catalog.types.push(ty);
        }
        for (path, file) in resources {
            let resource = Resource::from_file(file, &catalog.types).map_err(|issues| invalid(&path, issues))?;
            if catalog.resource(&resource.name).is_some() {
                return Err(invalid(
                    &path,
                    vec![ConfigIssue::new(
                        "name",
                        format!(
                            "another file already defines resource '{}' (names are case-insensitive)",
                            resource.name
                        ),
                    )],
                ));
            }
            catalog.resources.push(resource);
        }
        Ok(catalog)
    }

    /// Loads every type file in `types_dir` and resource file in `resources_dir` (sorted by name; a missing
    /// directory means none).
    pub fn load(types_dir: &Path, resources_dir: &Path) -> Result<Self, ConfigError> {
        let types = authgate_core::config::load_yaml_dir::<ResourceTypeFile>(types_dir, "OAuth resource types")?;
        let resources = authgate_core::config::load_yaml_dir::<ResourceFile>(resources_dir, "OAuth resources")?;
        Self::build(types, resources)
    }

    /// The resource named `name` (case-insensitively).
    pub fn resource(&self, name: &str) -> Option<&Resource> {
        self.resources.iter().find(|r| r.name.eq_ignore_ascii_case(name))
    }

    /// The name connections to the resource `name` are stored under: the resource's name as configured
    /// (the lookup is case-insensitive), or `name` as written when no resource has it any more (so a
    /// connection to a resource since removed can still be found and revoked).
    pub fn stored_name(&self, name: String) -> String {
        self.resource(&name).map_or(name, |r| r.name.clone())
    }

    /// The type named `name` (case-insensitively).
    pub fn resource_type(&self, name: &str) -> Option<&ResourceType> {
        self.types.iter().find(|t| t.name.eq_ignore_ascii_case(name))
    }

    /// The type of `resource` (always present in a built catalog).
    pub fn type_of(&self, resource: &Resource) -> Option<&ResourceType> {
        self.resource_type(&resource.type_name)
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use std::path::PathBuf;

    pub(crate) fn parse<T: serde::de::DeserializeOwned>(text: &str) -> T {
        authgate_core::config::parse_yaml(Path::new("x.yaml"), text, |name| {
            (name == "SALESFORCE_CLIENT_SECRET").then(|| "s3cret & more".to_string())
        })
        .unwrap_or_else(|e| panic!("{e}"))
    }

    fn shipped(dir: &str) -> Vec<(PathBuf, String)> {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../policies/oauth")
            .join(dir);
        authgate_core::config::yaml_files(&root)
            .unwrap()
            .into_iter()
            .map(|p| {
                let text = std::fs::read_to_string(&p).unwrap();
                (p, text)
            })
            .collect()
    }

    /// The shipped types and example resource: every file parses and validates (with the example's `${ENV}`
    /// references supplied).
    pub(crate) fn shipped_catalog() -> Catalog {
        let types = shipped("types")
            .into_iter()
            .map(|(p, text)| (p, parse::<ResourceTypeFile>(&text)))
            .collect();
        let resources = shipped("resources")
            .into_iter()
            .map(|(p, text)| (p, parse::<ResourceFile>(&text)))
            .collect();
        Catalog::build(types, resources).unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn a_connection_is_stored_under_the_configured_name_or_as_written_when_unconfigured() {
        let catalog = shipped_catalog();
        let configured = catalog.resources.first().map(|r| r.name.clone()).unwrap();
        assert_eq!(catalog.stored_name(configured.to_uppercase()), configured);
        assert_eq!(catalog.stored_name("Gone Resource".into()), "Gone Resource");
    }

    #[test]
    fn the_shipped_types_and_example_resource_validate() {
        let catalog = shipped_catalog();
        let names: Vec<&str> = catalog.types.iter().map(|t| t.name.as_str()).collect();
        for expected in ["Microsoft Online", "Microsoft Online v2", "OAuth 2.0", "Salesforce"] {
            assert!(names.contains(&expected), "{expected} missing from {names:?}");
        }
        assert!(catalog.types.iter().any(|t| t.kind == GrantKind::OnBehalfOf));
        assert!(catalog.types.iter().any(|t| t.kind == GrantKind::TokenExchange));
        let sf = catalog.resource("salesforce example").expect("the example resource");
        assert_eq!(
            sf.refresh_endpoint, sf.token_endpoint,
            "refresh defaults to the token endpoint"
        );
        assert_eq!(catalog.type_of(sf).unwrap().name, "Salesforce");
    }

    fn type_issues(text: &str) -> Vec<ConfigIssue> {
        ResourceType::from_file(parse(text)).unwrap_err()
    }

    #[test]
    fn state_and_code_are_refused_with_the_reason() {
        let issues = type_issues(
            "name: T\nparameters:\n  - {name: client_id, stages: [authorization]}\n  - {name: state, stages: [authorization]}\n  - {name: Code, stages: [token]}\n",
        );
        assert_eq!(issues.len(), 2, "{issues:?}");
        assert_eq!(issues[0].path, "parameters[1].name");
        assert!(
            issues[0]
                .message
                .contains("ties the callback to the authenticated user"),
            "{}",
            issues[0]
        );
        assert_eq!(issues[1].path, "parameters[2].name");
        let ty = ResourceType::from_file(parse(
            "name: T\nparameters:\n  - {name: client_id, stages: [authorization, token]}\n",
        ))
        .unwrap();
        let issues = Resource::from_file(
            parse(
                "name: R\ntype: t\nauthorization_endpoint: https://idp.example/authorize\ntoken_endpoint: https://idp.example/token\nparameters:\n  state: {authorization: x}\n",
            ),
            &[ty],
        )
        .unwrap_err();
        assert_eq!(issues.len(), 1, "{issues:?}");
        assert_eq!(issues[0].path, "parameters.state");
        assert!(
            issues[0].message.contains("the gateway adds `state` itself"),
            "{}",
            issues[0]
        );
    }

    #[test]
    fn type_mistakes_are_reported_with_their_paths() {
        let issues = type_issues(
            "name: ' T'\nrefresh_token_expiration_days: 10\nexpiration_warning_days: 10\nparameters:\n  - {name: 'a b', stages: [token]}\n  - {name: scope, stages: []}\n  - {name: grant_type, stages: [token], defaults: {refresh: refresh_token}}\n  - {name: scope, stages: [token]}\n",
        );
        let paths: Vec<&str> = issues.iter().map(|i| i.path.as_str()).collect();
        assert_eq!(
            paths,
            [
                "name",
                "parameters[0].name",
                "parameters[1].stages",
                "parameters[2].defaults.refresh",
                "parameters[3].name",
                "expiration_warning_days"
            ],
            "{issues:?}"
        );
    }

    #[test]
    fn resource_mistakes_are_reported_with_their_paths() {
        let ty = ResourceType::from_file(parse(
            "name: T\nparameters:\n  - {name: client_id, stages: [authorization, token]}\n  - {name: extra, stages: [authorization_response]}\n",
        ))
        .unwrap();
        let issues = Resource::from_file(
            parse(
                "name: R\ntype: T\nauthorization_endpoint: http://idp.example/authorize\ntoken_endpoint: 'not a url'\nparameters:\n  client_id: {refresh: x}\n  nope: {token: y}\n  extra: {authorization_response: z}\n",
            ),
            std::slice::from_ref(&ty),
        )
        .unwrap_err();
        let paths: Vec<&str> = issues.iter().map(|i| i.path.as_str()).collect();
        assert_eq!(
            paths,
            [
                "token_endpoint",
                "authorization_endpoint",
                "parameters.client_id.refresh",
                "parameters.extra.authorization_response",
                "parameters.nope"
            ],
            "{issues:?}"
        );
        assert!(issues[1].message.contains("plain http"), "{}", issues[1]);
        let issues = Resource::from_file(
            parse("name: R\ntype: Other\ntoken_endpoint: https://idp.example/token\n"),
            &[ty],
        )
        .unwrap_err();
        assert_eq!(issues[0].path, "type");
        assert!(issues[0].message.contains("known: T"), "{}", issues[0]);
    }

    #[test]
    fn loopback_http_endpoints_are_accepted() {
        assert!(endpoint("http://127.0.0.1:8080/token").is_ok());
        assert!(endpoint("http://[::1]/token").is_ok());
        assert!(endpoint("http://localhost/token").is_ok());
        assert!(endpoint("https://user:pw@idp.example/token").is_err());
        assert!(endpoint("ftp://idp.example/token").is_err());
    }

    #[test]
    fn duplicate_names_are_refused() {
        let ty = || {
            (
                PathBuf::from("t.yaml"),
                parse::<ResourceTypeFile>("name: T\nparameters:\n  - {name: client_id, stages: [authorization]}\n"),
            )
        };
        let err = Catalog::build(vec![ty(), ty()], vec![]).unwrap_err().to_string();
        assert!(err.contains("already defines resource type 'T'"), "{err}");
    }

    #[test]
    fn secrets_never_show_in_debug_output() {
        let catalog = shipped_catalog();
        let shown = format!("{catalog:?}");
        assert!(!shown.contains("s3cret"), "{shown}");
    }
}
