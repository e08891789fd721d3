//! The URLs the API hands out (`formURL`, `viewFlowURL` on tasks and server events), built from configuration
//! only: `workflow.public_url` (the gateway as clients reach it), `workflow.view_flow_url` and the `form_url`
//! templates of workflow definitions. Never from a request's `Host` or `X-Forwarded-*` headers, which a client
//! chooses. Without a template the URL is empty.

use super::definitions::{Activity, Definition, Definitions};
use authgate_core::config::{ConfigIssue, WorkflowConfig};
use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};

/// What a URL template can refer to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Placeholder {
    /// `{base}`: `workflow.public_url`.
    Base,
    /// `{serialNumber}`: the task's serial number.
    SerialNumber,
    /// `{instanceId}`: the instance id.
    InstanceId,
    /// `{workflowId}`: the workflow id.
    WorkflowId,
    /// `{workflowName}`: the workflow's system name.
    WorkflowName,
    /// `{activityName}`: the task's activity.
    ActivityName,
}

impl Placeholder {
    const ALL: [Placeholder; 6] = [
        Self::Base,
        Self::SerialNumber,
        Self::InstanceId,
        Self::WorkflowId,
        Self::WorkflowName,
        Self::ActivityName,
    ];

    fn name(self) -> &'static str {
        match self {
            Self::Base => "base",
            Self::SerialNumber => "serialNumber",
            Self::InstanceId => "instanceId",
            Self::WorkflowId => "workflowId",
            Self::WorkflowName => "workflowName",
            Self::ActivityName => "activityName",
        }
    }
}

/// Placeholders of a task form URL.
pub const FORM_PLACEHOLDERS: &[Placeholder] = &Placeholder::ALL;
/// Placeholders of a view-flow URL (no task).
pub const VIEW_FLOW_PLACEHOLDERS: &[Placeholder] = &[
    Placeholder::Base,
    Placeholder::InstanceId,
    Placeholder::WorkflowId,
    Placeholder::WorkflowName,
];

#[derive(Debug, Clone, PartialEq, Eq)]
enum Part {
    Text(String),
    Value(Placeholder),
}

/// A checked URL template such as `{base}/Runtime/Form/Claim/?SerialNo={serialNumber}`: it starts with
/// `{base}`, `https://` or `http://`; placeholders other than `{base}` are percent-encoded when filled in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UrlTemplate {
    parts: Vec<Part>,
}

/// Characters left as they are in a filled-in value (RFC 3986 unreserved).
const VALUE: &AsciiSet = &NON_ALPHANUMERIC.remove(b'-').remove(b'.').remove(b'_').remove(b'~');

impl UrlTemplate {
    /// Checks `text`, allowing only `allowed` placeholders.
    pub fn parse(text: &str, allowed: &[Placeholder]) -> Result<Self, String> {
        if !(text.starts_with("{base}") || text.starts_with("https://") || text.starts_with("http://")) {
            return Err(format!("'{text}' must start with {{base}}, https:// or http://"));
        }
        if text.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(format!("'{text}' must not contain spaces or control characters"));
        }
        let mut parts = Vec::new();
        let mut rest = text;
        while let Some(open) = rest.find(['{', '}']) {
            if rest[open..].starts_with('}') {
                return Err(format!("'{text}' has a '}}' without '{{'"));
            }
            let close = rest[open..]
                .find('}')
                .map(|c| open + c)
                .ok_or_else(|| format!("'{text}' has a '{{' without '}}'"))?;
            if open > 0 {
                parts.push(Part::Text(rest[..open].to_string()));
            }
            let name = &rest[open + 1..close];
            let placeholder = allowed.iter().find(|p| p.name() == name).ok_or_else(|| {
                let names: Vec<String> = allowed.iter().map(|p| format!("{{{}}}", p.name())).collect();
                format!("'{text}' uses {{{name}}}; the placeholders are {}", names.join(", "))
            })?;
            parts.push(Part::Value(*placeholder));
            rest = &rest[close + 1..];
        }
        if !rest.is_empty() {
            parts.push(Part::Text(rest.to_string()));
        }
        Ok(Self { parts })
    }

    /// Whether it uses `{base}`.
    pub fn uses_base(&self) -> bool {
        self.parts.contains(&Part::Value(Placeholder::Base))
    }

    fn render(&self, base: &str, value: impl Fn(Placeholder) -> String) -> String {
        let mut out = String::new();
        for part in &self.parts {
            match part {
                Part::Text(t) => out.push_str(t),
                Part::Value(Placeholder::Base) => out.push_str(base),
                Part::Value(p) => out.extend(utf8_percent_encode(&value(*p), VALUE)),
            }
        }
        out
    }
}

/// The link settings in force.
#[derive(Debug, Clone, Default)]
pub struct Links {
    public_url: Option<String>,
    view_flow: Option<UrlTemplate>,
}

/// What a form URL is built for.
pub struct FormTarget<'a> {
    /// The workflow.
    pub definition: &'a Definition,
    /// The task's activity.
    pub activity: &'a Activity,
    /// The task's serial number.
    pub serial_number: &'a str,
    /// The instance.
    pub instance_id: i64,
}

impl Links {
    /// Checks `workflow.public_url` and `workflow.view_flow_url`.
    pub fn from_config(cfg: &WorkflowConfig) -> Result<Self, Vec<ConfigIssue>> {
        let mut issues = Vec::new();
        let public_url = cfg.public_url.as_deref().and_then(|raw| match url::Url::parse(raw) {
            Ok(u) if matches!(u.scheme(), "https" | "http") && u.query().is_none() && u.fragment().is_none() => {
                Some(raw.trim_end_matches('/').to_string())
            }
            _ => {
                issues.push(ConfigIssue::new(
                    "workflow.public_url",
                    format!("'{raw}' is not an absolute http(s) URL without query or fragment"),
                ));
                None
            }
        });
        let view_flow =
            cfg.view_flow_url
                .as_deref()
                .and_then(|t| match UrlTemplate::parse(t, VIEW_FLOW_PLACEHOLDERS) {
                    Ok(t) => Some(t),
                    Err(e) => {
                        issues.push(ConfigIssue::new("workflow.view_flow_url", e));
                        None
                    }
                });
        if view_flow.as_ref().is_some_and(UrlTemplate::uses_base) && cfg.public_url.is_none() {
            issues.push(ConfigIssue::new(
                "workflow.view_flow_url",
                "uses {base}: set workflow.public_url",
            ));
        }
        if issues.is_empty() {
            Ok(Self { public_url, view_flow })
        } else {
            Err(issues)
        }
    }

    /// The definitions' form URL templates that use `{base}` while `workflow.public_url` is not set.
    pub fn check(&self, definitions: &Definitions) -> Vec<ConfigIssue> {
        if self.public_url.is_some() {
            return Vec::new();
        }
        let mut issues = Vec::new();
        for d in definitions.all() {
            let activity_uses = d
                .activities
                .iter()
                .filter(|a| a.form_url.as_ref().is_some_and(UrlTemplate::uses_base))
                .map(|a| format!(" (activity '{}')", a.name));
            let workflow_uses = d
                .form_url
                .as_ref()
                .is_some_and(UrlTemplate::uses_base)
                .then(String::new);
            for place in workflow_uses.into_iter().chain(activity_uses) {
                issues.push(ConfigIssue::new(
                    "workflow.public_url",
                    format!(
                        "workflow '{}'{place} has a form_url with {{base}}: set workflow.public_url",
                        d.name
                    ),
                ));
            }
        }
        issues
    }

    /// `formURL` of a task: the activity's template, else the workflow's; empty without one.
    pub fn form_url(&self, target: &FormTarget<'_>) -> String {
        let Some(template) = target
            .activity
            .form_url
            .as_ref()
            .or(target.definition.form_url.as_ref())
        else {
            return String::new();
        };
        template.render(self.public_url.as_deref().unwrap_or_default(), |p| match p {
            Placeholder::SerialNumber => target.serial_number.to_string(),
            Placeholder::InstanceId => target.instance_id.to_string(),
            Placeholder::WorkflowId => target.definition.id.to_string(),
            Placeholder::WorkflowName => target.definition.system_name.clone(),
            Placeholder::ActivityName => target.activity.name.clone(),
            Placeholder::Base => String::new(),
        })
    }

    /// `viewFlowURL` of an instance; empty without `workflow.view_flow_url`.
    pub fn view_flow_url(&self, instance_id: i64, workflow_id: i64, system_name: &str) -> String {
        let Some(template) = &self.view_flow else {
            return String::new();
        };
        template.render(self.public_url.as_deref().unwrap_or_default(), |p| match p {
            Placeholder::InstanceId => instance_id.to_string(),
            Placeholder::WorkflowId => workflow_id.to_string(),
            Placeholder::WorkflowName => system_name.to_string(),
            _ => String::new(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(public: Option<&str>, view: Option<&str>) -> WorkflowConfig {
        WorkflowConfig {
            public_url: public.map(str::to_string),
            view_flow_url: view.map(str::to_string),
            ..WorkflowConfig::default()
        }
    }

    #[test]
    fn templates_are_checked() {
        assert!(UrlTemplate::parse("{base}/f?sn={serialNumber}", FORM_PLACEHOLDERS).is_ok());
        for (bad, expected) in [
            ("/relative", "must start with"),
            ("{base}/x?{serialNumber", "without '}'"),
            ("{base}/x}", "without '{'"),
            ("{base}/{colour}", "uses {colour}"),
            ("https://x/a b", "spaces"),
        ] {
            let err = UrlTemplate::parse(bad, FORM_PLACEHOLDERS).unwrap_err();
            assert!(err.contains(expected), "{bad}: {err}");
        }
        let err = UrlTemplate::parse("{base}/{serialNumber}", VIEW_FLOW_PLACEHOLDERS).unwrap_err();
        assert!(err.contains("{serialNumber}"), "{err}");
    }

    #[test]
    fn config_is_checked() {
        let links = Links::from_config(&config(
            Some("https://k2.example.com/"),
            Some("{base}/ViewFlow/ViewFlow.aspx?ProcessID={instanceId}"),
        ))
        .unwrap();
        assert_eq!(
            links.view_flow_url(42, 1, "ExpenseClaim"),
            "https://k2.example.com/ViewFlow/ViewFlow.aspx?ProcessID=42"
        );
        assert_eq!(Links::default().view_flow_url(42, 1, "X"), "");
        for (public, view, expected) in [
            (Some("k2.example.com"), None, "workflow.public_url"),
            (Some("https://k2.example.com/?a=1"), None, "workflow.public_url"),
            (Some("ftp://k2.example.com"), None, "workflow.public_url"),
            (None, Some("{base}/v?id={instanceId}"), "set workflow.public_url"),
        ] {
            let issues = Links::from_config(&config(public, view)).unwrap_err();
            let text = issues.iter().map(ToString::to_string).collect::<Vec<_>>().join("\n");
            assert!(text.contains(expected), "{public:?} {view:?}: {text}");
        }
    }

    #[test]
    fn values_are_percent_encoded_and_the_base_is_not() {
        let t = UrlTemplate::parse("{base}/Form/{activityName}/?SerialNo={serialNumber}", FORM_PLACEHOLDERS).unwrap();
        let url = t.render("https://k2.example.com/sub", |p| match p {
            Placeholder::ActivityName => "Manager Approval/&?".into(),
            _ => "1_2".into(),
        });
        assert_eq!(
            url,
            "https://k2.example.com/sub/Form/Manager%20Approval%2F%26%3F/?SerialNo=1_2"
        );
    }
}
