//! Runtime settings: values an administrator changes through the admin API, stored in the database (so every
//! replica shares them) as overrides of `gateway.yaml`. Pure: the model ([`Settings`], [`SettingKey`]), what
//! `gateway.yaml` says ([`Settings::from_config`]), the stored overrides ([`Overrides`]), validation of a
//! change ([`validate`]), the effective values with their source ([`effective`]), and the overlay the binary
//! applies to the configuration before it builds the gateway ([`Overrides::apply`]).

use authgate_apis::store::admin::{SettingRecord, SettingsSnapshot};
use authgate_core::config::{DisabledConfig, ExposeConfig, GatewayConfig, RouteConfig};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The most OData entities in one response an administrator may set.
pub const PAGE_SIZE_MAX: u32 = 10_000;
/// The longest switched-off message.
pub const MESSAGE_MAX: usize = 500;

/// A built-in API's switch and its switched-off answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApiSwitch {
    /// On or off.
    pub enabled: bool,
    /// The status of the switched-off answer: 404 or 503.
    pub status: u16,
    /// The message of the switched-off answer.
    pub message: String,
}

/// Which SmartObjects the OData API publishes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "mode", rename_all = "snake_case", deny_unknown_fields)]
pub enum Exposure {
    /// Every SmartObject with a List method.
    All,
    /// Only these.
    Only {
        /// System names.
        names: Vec<String>,
    },
    /// Every SmartObject with a List method except these.
    AllExcept {
        /// System names.
        names: Vec<String>,
    },
}

impl Exposure {
    fn from_config(cfg: &ExposeConfig) -> Self {
        match cfg {
            ExposeConfig::All => Self::All,
            ExposeConfig::Only(names) => Self::Only { names: names.clone() },
            ExposeConfig::AllExcept(names) => Self::AllExcept { names: names.clone() },
        }
    }

    fn to_config(&self) -> ExposeConfig {
        match self {
            Self::All => ExposeConfig::All,
            Self::Only { names } => ExposeConfig::Only(names.clone()),
            Self::AllExcept { names } => ExposeConfig::AllExcept(names.clone()),
        }
    }
}

/// The settings an administrator may change.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum SettingKey {
    /// The Workflow API's switch ([`ApiSwitch`]).
    Workflow,
    /// The OData API's switch ([`ApiSwitch`]).
    Odata,
    /// The OData exposure ([`Exposure`]).
    OdataExpose,
    /// The OData record limit (entities per response).
    OdataPageSize,
}

impl SettingKey {
    /// Every key, in display order.
    pub const ALL: [SettingKey; 4] = [Self::Workflow, Self::Odata, Self::OdataExpose, Self::OdataPageSize];

    /// Its name in the API, the store and `authgate check`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Workflow => "workflow",
            Self::Odata => "odata",
            Self::OdataExpose => "odata.expose",
            Self::OdataPageSize => "odata.page_size",
        }
    }

    /// The key called `name`.
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == name)
    }
}

/// A setting's value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SettingValue {
    /// An API switch; `None` when no route serves the API.
    Switch(Option<ApiSwitch>),
    /// The exposure.
    Expose(Exposure),
    /// The record limit.
    PageSize(u32),
}

impl SettingValue {
    /// As JSON.
    pub fn to_json(&self) -> serde_json::Value {
        match self {
            Self::Switch(s) => serde_json::to_value(s).unwrap_or(serde_json::Value::Null),
            Self::Expose(e) => serde_json::to_value(e).unwrap_or(serde_json::Value::Null),
            Self::PageSize(n) => serde_json::Value::from(*n),
        }
    }
}

/// Every setting's value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    /// The Workflow API's switch; `None` when no `builtin` route serves it.
    pub workflow: Option<ApiSwitch>,
    /// The OData API's switch; `None` when no `builtin` route serves it.
    pub odata: Option<ApiSwitch>,
    /// The OData exposure.
    pub odata_expose: Exposure,
    /// The OData record limit.
    pub odata_page_size: u32,
}

/// The built-in API a route serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum BuiltinApi {
    Workflow,
    Odata,
}

fn normalize(prefix: &str) -> String {
    prefix.trim().trim_end_matches('/').to_ascii_lowercase()
}

/// Which switch governs `route`: a `builtin` route under `/api/workflow` is the Workflow API's; one at or
/// under an OData base path is the OData API's.
fn api_of(route: &RouteConfig, odata_base_paths: &[String]) -> Option<BuiltinApi> {
    if !route.upstream.trim().eq_ignore_ascii_case("builtin") {
        return None;
    }
    let prefix = normalize(&route.prefix);
    let under = |base: &str| prefix == base || prefix.starts_with(&format!("{base}/"));
    if under("/api/workflow") {
        Some(BuiltinApi::Workflow)
    } else if odata_base_paths.iter().any(|b| under(&normalize(b))) {
        Some(BuiltinApi::Odata)
    } else {
        None
    }
}

impl Settings {
    /// What `cfg` says. An API's switch is its first route's.
    pub fn from_config(cfg: &GatewayConfig) -> Self {
        let switch = |api: BuiltinApi| {
            cfg.routes
                .iter()
                .find(|r| api_of(r, &cfg.odata.base_paths) == Some(api))
                .map(|r| ApiSwitch {
                    enabled: r.enabled,
                    status: r.disabled.status,
                    message: r.disabled.message.clone(),
                })
        };
        Self {
            workflow: switch(BuiltinApi::Workflow),
            odata: switch(BuiltinApi::Odata),
            odata_expose: Exposure::from_config(&cfg.odata.expose),
            odata_page_size: cfg.odata.page_size,
        }
    }

    /// The value of `key`.
    pub fn get(&self, key: SettingKey) -> SettingValue {
        match key {
            SettingKey::Workflow => SettingValue::Switch(self.workflow.clone()),
            SettingKey::Odata => SettingValue::Switch(self.odata.clone()),
            SettingKey::OdataExpose => SettingValue::Expose(self.odata_expose.clone()),
            SettingKey::OdataPageSize => SettingValue::PageSize(self.odata_page_size),
        }
    }
}

/// A stored override.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Override {
    /// The value.
    pub value: SettingValue,
    /// Who set it.
    pub changed_by: String,
    /// When (RFC 3339).
    pub changed_at: String,
}

/// The stored overrides, at a settings version.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Overrides {
    /// The settings version they were read at.
    pub version: i64,
    /// By key; a key reset to `gateway.yaml` (stored as `null`) is absent.
    pub entries: BTreeMap<SettingKey, Override>,
}

impl Overrides {
    /// Reads `snapshot`. A row the code does not know or cannot read is left out, with the reason in the
    /// second value (for the log): it must not stop the gateway.
    pub fn from_snapshot(snapshot: &SettingsSnapshot) -> (Self, Vec<String>) {
        let mut problems = Vec::new();
        let mut entries = BTreeMap::new();
        for record in &snapshot.entries {
            let Some(key) = SettingKey::parse(&record.key) else {
                problems.push(format!("unknown stored setting '{}'", record.key));
                continue;
            };
            if record.value.is_null() {
                continue;
            }
            let value = match key {
                SettingKey::Workflow | SettingKey::Odata => {
                    serde_json::from_value(record.value.clone()).map(|s| SettingValue::Switch(Some(s)))
                }
                SettingKey::OdataExpose => serde_json::from_value(record.value.clone()).map(SettingValue::Expose),
                SettingKey::OdataPageSize => serde_json::from_value(record.value.clone()).map(SettingValue::PageSize),
            };
            match value {
                Ok(value) => {
                    entries.insert(
                        key,
                        Override {
                            value,
                            changed_by: record.changed_by.clone(),
                            changed_at: record.changed_at.clone(),
                        },
                    );
                }
                Err(e) => problems.push(format!("stored setting '{}' is unreadable: {e}", record.key)),
            }
        }
        (
            Self {
                version: snapshot.version,
                entries,
            },
            problems,
        )
    }

    /// Whether nothing overrides `gateway.yaml`.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// `configured` with the overrides applied.
    pub fn over(&self, configured: &Settings) -> Settings {
        let mut out = configured.clone();
        for (key, o) in &self.entries {
            match (key, &o.value) {
                (SettingKey::Workflow, SettingValue::Switch(s)) if out.workflow.is_some() => out.workflow = s.clone(),
                (SettingKey::Odata, SettingValue::Switch(s)) if out.odata.is_some() => out.odata = s.clone(),
                (SettingKey::OdataExpose, SettingValue::Expose(e)) => out.odata_expose = e.clone(),
                (SettingKey::OdataPageSize, SettingValue::PageSize(n)) => out.odata_page_size = *n,
                _ => {}
            }
        }
        out
    }

    /// Applies the overrides to `cfg` (what the gateway is then built from): every route of a switched API
    /// takes the switch, the exposure and record limit replace `odata`'s.
    pub fn apply(&self, cfg: &mut GatewayConfig) {
        let settings = self.over(&Settings::from_config(cfg));
        let base_paths = cfg.odata.base_paths.clone();
        for route in &mut cfg.routes {
            let switch = match api_of(route, &base_paths) {
                Some(BuiltinApi::Workflow) => settings.workflow.as_ref(),
                Some(BuiltinApi::Odata) => settings.odata.as_ref(),
                None => None,
            };
            if let Some(switch) = switch {
                route.enabled = switch.enabled;
                route.disabled = DisabledConfig {
                    status: switch.status,
                    message: switch.message.clone(),
                };
            }
        }
        cfg.odata.expose = settings.odata_expose.to_config();
        cfg.odata.page_size = settings.odata_page_size;
    }
}

/// Where an effective value comes from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "source", rename_all = "snake_case")]
pub enum Source {
    /// `gateway.yaml` (or its default).
    GatewayYaml,
    /// The store: an administrator set it.
    Store {
        /// Who.
        changed_by: String,
        /// When (RFC 3339).
        changed_at: String,
    },
}

impl std::fmt::Display for Source {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::GatewayYaml => f.write_str("gateway.yaml"),
            Self::Store { changed_by, changed_at } => write!(f, "store (set by {changed_by} at {changed_at})"),
        }
    }
}

/// One setting's effective value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Effective {
    /// The key.
    pub key: SettingKey,
    /// The value in force.
    pub value: SettingValue,
    /// Where it comes from.
    pub source: Source,
}

/// Every setting's effective value and its source.
pub fn effective(configured: &Settings, overrides: &Overrides) -> Vec<Effective> {
    let settings = overrides.over(configured);
    SettingKey::ALL
        .into_iter()
        .map(|key| {
            let value = settings.get(key);
            let source = match overrides.entries.get(&key) {
                Some(o) if value != configured.get(key) || o.value == value => Source::Store {
                    changed_by: o.changed_by.clone(),
                    changed_at: o.changed_at.clone(),
                },
                _ => Source::GatewayYaml,
            };
            Effective { key, value, source }
        })
        .collect()
}

/// Why a change is refused: the field and the reason.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Invalid {
    /// The field (`odata.expose.names[2]`).
    pub field: String,
    /// The reason.
    pub message: String,
}

impl Invalid {
    fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            message: message.into(),
        }
    }
}

/// Checks a new value for `key`: `null` resets it to `gateway.yaml` (`Ok(None)`). Exposure names must be
/// defined SmartObjects (`defined`, compared case-insensitively); a switch needs a route serving its API.
pub fn validate(
    key: SettingKey,
    value: &serde_json::Value,
    configured: &Settings,
    defined: &[String],
) -> Result<Option<SettingValue>, Invalid> {
    let field = key.as_str();
    if value.is_null() {
        return Ok(None);
    }
    match key {
        SettingKey::Workflow | SettingKey::Odata => {
            let served = match key {
                SettingKey::Workflow => configured.workflow.is_some(),
                _ => configured.odata.is_some(),
            };
            if !served {
                return Err(Invalid::new(field, "no builtin route serves this API"));
            }
            let switch: ApiSwitch = serde_json::from_value(value.clone())
                .map_err(|e| Invalid::new(field, format!("expected {{enabled, status, message}}: {e}")))?;
            if !matches!(switch.status, 404 | 503) {
                return Err(Invalid::new(format!("{field}.status"), "must be 404 or 503"));
            }
            if switch.message.trim().is_empty() || switch.message.chars().count() > MESSAGE_MAX {
                return Err(Invalid::new(
                    format!("{field}.message"),
                    format!("must be 1 to {MESSAGE_MAX} characters"),
                ));
            }
            Ok(Some(SettingValue::Switch(Some(switch))))
        }
        SettingKey::OdataExpose => {
            let exposure: Exposure = serde_json::from_value(value.clone()).map_err(|e| {
                Invalid::new(
                    field,
                    format!("expected {{mode: all}}, {{mode: only, names: [...]}} or {{mode: all_except, names: [...]}}: {e}"),
                )
            })?;
            if let Exposure::Only { names } | Exposure::AllExcept { names } = &exposure {
                for (i, name) in names.iter().enumerate() {
                    if !defined.iter().any(|d| d.eq_ignore_ascii_case(name)) {
                        return Err(Invalid::new(
                            format!("{field}.names[{i}]"),
                            format!("no SmartObject is called '{name}'"),
                        ));
                    }
                }
            }
            Ok(Some(SettingValue::Expose(exposure)))
        }
        SettingKey::OdataPageSize => match value.as_u64() {
            Some(n @ 1..) if n <= u64::from(PAGE_SIZE_MAX) => Ok(Some(SettingValue::PageSize(n as u32))),
            _ => Err(Invalid::new(
                field,
                format!("must be a whole number from 1 to {PAGE_SIZE_MAX}"),
            )),
        },
    }
}

/// The stored record of a change (`null` for a reset).
pub fn record(key: SettingKey, value: Option<&SettingValue>, who: &str, at: &str) -> SettingRecord {
    SettingRecord {
        key: key.as_str().into(),
        value: value.map_or(serde_json::Value::Null, SettingValue::to_json),
        changed_by: who.into(),
        changed_at: at.into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn config(yaml: &str) -> GatewayConfig {
        serde_saphyr::from_str(yaml).expect("a configuration")
    }

    const YAML: &str = "listeners: [{address: '127.0.0.1:0'}]\n\
        odata: {expose: {only: [Customer]}}\n\
        routes:\n\
        - {name: workflow, prefix: /api/workflow/v1, upstream: builtin}\n\
        - {name: odata, prefix: /api/odata/v4/, upstream: builtin, disabled: {status: 503, message: later}}\n\
        - {name: odatav4, prefix: /API/odatav4/v4, upstream: builtin}\n\
        - {name: other, prefix: /api/workflow/v1/x, upstream: 'example.com:80'}\n";

    fn snapshot(entries: &[(&str, serde_json::Value)]) -> SettingsSnapshot {
        SettingsSnapshot {
            version: 3,
            entries: entries
                .iter()
                .map(|(k, v)| SettingRecord {
                    key: k.to_string(),
                    value: v.clone(),
                    changed_by: "K2:CONTOSO\\admin".into(),
                    changed_at: "2026-11-30T14:00:00Z".into(),
                })
                .collect(),
        }
    }

    #[test]
    fn gateway_yaml_gives_each_api_its_first_routes_switch() {
        let settings = Settings::from_config(&config(YAML));
        assert_eq!(settings.workflow.as_ref().map(|s| s.enabled), Some(true));
        assert_eq!(
            settings.odata.as_ref().map(|s| (s.status, s.message.as_str())),
            Some((503, "later"))
        );
        assert_eq!(
            settings.odata_expose,
            Exposure::Only {
                names: vec!["Customer".into()]
            }
        );
        assert_eq!(settings.odata_page_size, 1000);
        let none = Settings::from_config(&config(
            "listeners: []\nroutes: [{name: a, prefix: /a, upstream: builtin}]",
        ));
        assert_eq!((none.workflow, none.odata), (None, None));
    }

    #[test]
    fn overrides_switch_every_route_of_their_api_and_replace_the_odata_values() {
        let (overrides, problems) = Overrides::from_snapshot(&snapshot(&[
            (
                "workflow",
                json!({"enabled": false, "status": 503, "message": "maintenance"}),
            ),
            ("odata.expose", json!({"mode": "all_except", "names": ["Secret"]})),
            ("odata.page_size", json!(50)),
            ("odata", json!(null)),
            ("nonsense", json!(1)),
            ("odata.page_size.bad", json!(1)),
        ]));
        assert_eq!(problems.len(), 2, "{problems:?}");
        let mut cfg = config(YAML);
        overrides.apply(&mut cfg);
        assert!(!cfg.routes[0].enabled);
        assert_eq!(
            (cfg.routes[0].disabled.status, cfg.routes[0].disabled.message.as_str()),
            (503, "maintenance")
        );
        assert!(cfg.routes[1].enabled, "the odata switch was reset: gateway.yaml's");
        assert!(cfg.routes[3].enabled, "not a builtin route");
        assert_eq!(cfg.odata.expose, ExposeConfig::AllExcept(vec!["Secret".into()]));
        assert_eq!(cfg.odata.page_size, 50);
    }

    #[test]
    fn effective_values_name_their_source() {
        let configured = Settings::from_config(&config(YAML));
        let (overrides, _) = Overrides::from_snapshot(&snapshot(&[("odata.page_size", json!(50))]));
        let all = effective(&configured, &overrides);
        let keys: Vec<&str> = all.iter().map(|e| e.key.as_str()).collect();
        assert_eq!(keys, ["workflow", "odata", "odata.expose", "odata.page_size"]);
        assert_eq!(all[0].source, Source::GatewayYaml);
        assert_eq!(all[3].value, SettingValue::PageSize(50));
        assert_eq!(
            all[3].source.to_string(),
            "store (set by K2:CONTOSO\\admin at 2026-11-30T14:00:00Z)"
        );
    }

    #[test]
    fn changes_are_validated_field_by_field() {
        let configured = Settings::from_config(&config(YAML));
        let defined = ["Customer".to_string(), "Order".to_string()];
        let check = |key, value: serde_json::Value| validate(key, &value, &configured, &defined);
        assert_eq!(check(SettingKey::Workflow, json!(null)), Ok(None));
        assert!(check(
            SettingKey::Workflow,
            json!({"enabled": false, "status": 404, "message": "off"})
        )
        .is_ok());
        assert_eq!(
            check(
                SettingKey::Workflow,
                json!({"enabled": false, "status": 500, "message": "off"})
            )
            .unwrap_err()
            .field,
            "workflow.status"
        );
        assert_eq!(
            check(
                SettingKey::Odata,
                json!({"enabled": false, "status": 404, "message": " "})
            )
            .unwrap_err()
            .field,
            "odata.message"
        );
        assert!(check(SettingKey::Odata, json!({"enabled": false})).is_err());
        assert_eq!(
            check(
                SettingKey::OdataExpose,
                json!({"mode": "only", "names": ["order", "Nope"]})
            ),
            Err(Invalid::new("odata.expose.names[1]", "no SmartObject is called 'Nope'"))
        );
        assert!(check(SettingKey::OdataExpose, json!({"mode": "all"})).is_ok());
        assert!(check(SettingKey::OdataExpose, json!({"mode": "some"})).is_err());
        assert_eq!(
            check(SettingKey::OdataPageSize, json!(10)),
            Ok(Some(SettingValue::PageSize(10)))
        );
        for bad in [json!(0), json!(10_001), json!(-1), json!(2.5), json!("10")] {
            assert!(check(SettingKey::OdataPageSize, bad.clone()).is_err(), "{bad}");
        }
        let unserved = Settings::from_config(&config("listeners: []\nroutes: []"));
        assert!(validate(
            SettingKey::Workflow,
            &json!({"enabled": false, "status": 404, "message": "x"}),
            &unserved,
            &defined
        )
        .is_err());
    }
}
