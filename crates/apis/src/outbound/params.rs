//! Request building: which parameters a stage of a resource sends, with which values ([`parameters`], pure),
//! and their `application/x-www-form-urlencoded` rendering ([`render`]) for a query string or a form body.

use super::resource::{Resource, ResourceType, Stage};
use authgate_core::config::Secret;

/// One parameter to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Parameter {
    /// Its name (validated: unreserved URL characters only).
    pub name: String,
    /// Its value (redacted in `Debug`: client secrets travel here).
    pub value: Secret,
    /// Whether [`render`] percent-encodes the value; `false` sends it as written.
    pub url_encode: bool,
}

/// The parameters `resource` (of type `ty`) sends in `stage`, in the type's order: each parameter of the
/// type used in `stage`, with the resource's value for that stage, or else the type's default; a parameter
/// with neither is left out. For [`Stage::AuthorizationResponse`] (parameters received, not sent) nothing.
/// The gateway's own parameters (`state`, `code`, PKCE, `refresh_token`) are added by the flow, not here.
pub fn parameters(ty: &ResourceType, resource: &Resource, stage: Stage) -> Vec<Parameter> {
    if stage == Stage::AuthorizationResponse {
        return Vec::new();
    }
    ty.parameters
        .iter()
        .filter(|def| def.in_stage(stage))
        .filter_map(|def| {
            let value = resource
                .values
                .get(&def.name)
                .and_then(|values| values.get(&stage))
                .or_else(|| def.defaults.get(&stage))?;
            Some(Parameter {
                name: def.name.clone(),
                value: value.clone(),
                url_encode: def.url_encode,
            })
        })
        .collect()
}

/// The names of the parameters the provider sends back to the callback (the type's `authorization_response`
/// parameters), which the flow reads besides `code` and `state`.
pub fn response_parameters(ty: &ResourceType) -> Vec<&str> {
    ty.parameters
        .iter()
        .filter(|def| def.in_stage(Stage::AuthorizationResponse))
        .map(|def| def.name.as_str())
        .collect()
}

/// `name=value&...`: names as they are (they are unreserved characters), values percent-encoded as a form
/// does (space as `+`) when flagged, as written otherwise.
pub fn render(params: &[Parameter]) -> String {
    let mut out = String::new();
    for p in params {
        if !out.is_empty() {
            out.push('&');
        }
        out.push_str(&p.name);
        out.push('=');
        if p.url_encode {
            out.extend(url::form_urlencoded::byte_serialize(p.value.expose().as_bytes()));
        } else {
            out.push_str(p.value.expose());
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::outbound::resource::tests::{parse, shipped_catalog};
    use crate::outbound::resource::{Catalog, ResourceFile, ResourceTypeFile};
    use std::path::PathBuf;

    fn catalog() -> Catalog {
        let ty: ResourceTypeFile = parse(
            r#"
name: T
parameters:
  - {name: client_id, stages: [authorization, token, refresh]}
  - {name: response_type, stages: [authorization], defaults: {authorization: code}}
  - {name: grant_type, stages: [token, refresh], defaults: {token: authorization_code, refresh: refresh_token}}
  - {name: scope, stages: [authorization, refresh], defaults: {authorization: openid, refresh: openid}}
  - {name: raw, stages: [token], url_encode: false}
  - {name: unset, stages: [token]}
  - {name: session_state, stages: [authorization_response]}
"#,
        );
        let resource: ResourceFile = parse(
            r#"
name: R
type: T
authorization_endpoint: https://idp.example/authorize
token_endpoint: https://idp.example/token
parameters:
  client_id: {authorization: my app, token: my app, refresh: my app}
  scope: {authorization: 'openid offline_access'}
  raw: {token: 'a%20b&c=d'}
"#,
        );
        Catalog::build(
            vec![(PathBuf::from("t.yaml"), ty)],
            vec![(PathBuf::from("r.yaml"), resource)],
        )
        .unwrap()
    }

    fn rendered(catalog: &Catalog, resource: &str, stage: Stage) -> String {
        let r = catalog.resource(resource).unwrap();
        render(&parameters(catalog.type_of(r).unwrap(), r, stage))
    }

    #[test]
    fn each_stage_sends_its_parameters_with_resource_values_over_type_defaults() {
        let c = catalog();
        assert_eq!(
            rendered(&c, "R", Stage::Authorization),
            "client_id=my+app&response_type=code&scope=openid+offline_access"
        );
        assert_eq!(
            rendered(&c, "R", Stage::Token),
            "client_id=my+app&grant_type=authorization_code&raw=a%20b&c=d",
            "the unflagged value is sent as written; a parameter with no value is left out"
        );
        assert_eq!(
            rendered(&c, "R", Stage::Refresh),
            "client_id=my+app&grant_type=refresh_token&scope=openid",
            "the type's refresh default applies where the resource sets only the authorization value"
        );
        assert!(parameters(
            c.type_of(&c.resources[0]).unwrap(),
            &c.resources[0],
            Stage::AuthorizationResponse
        )
        .is_empty());
        assert_eq!(
            response_parameters(c.type_of(&c.resources[0]).unwrap()),
            ["session_state"]
        );
    }

    #[test]
    fn the_salesforce_example_sends_its_secret_only_where_configured() {
        let c = shipped_catalog();
        let auth = rendered(&c, "Salesforce example", Stage::Authorization);
        assert!(auth.contains("response_type=code"), "{auth}");
        assert!(!auth.contains("client_secret"), "{auth}");
        let token = rendered(&c, "Salesforce example", Stage::Token);
        assert!(token.contains("grant_type=authorization_code"), "{token}");
        assert!(token.contains("client_secret=s3cret+%26+more"), "{token}");
        let refresh = rendered(&c, "Salesforce example", Stage::Refresh);
        assert!(refresh.contains("grant_type=refresh_token"), "{refresh}");
    }

    #[test]
    fn microsoft_online_v1_sends_resource_and_v2_scope() {
        let c = shipped_catalog();
        let v1 = c.resource_type("Microsoft Online").unwrap();
        assert!(v1.parameter("resource").unwrap().in_stage(Stage::Authorization));
        assert!(v1.parameter("scope").is_none());
        let v2 = c.resource_type("Microsoft Online v2").unwrap();
        assert!(v2.parameter("scope").unwrap().in_stage(Stage::Authorization));
        assert!(v2.parameter("resource").is_none());
    }
}
