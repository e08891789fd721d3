//! The service's self-description: `$metadata` as CSDL XML (OData 4.0), rendered once per configuration, and
//! the service document listing the entity sets.

use super::smartobject::{Method, PropertyKind, SmartObject};
use serde_json::{json, Value as Json};
use std::fmt::Write;
use std::sync::Arc;

/// Namespace of the entity types.
pub const NAMESPACE: &str = "SmartObjects";
/// Name of the entity container.
pub const CONTAINER: &str = "Container";

/// Escapes text for an XML attribute value.
fn attr(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\n' => out.push_str("&#10;"),
            '\r' => out.push_str("&#13;"),
            '\t' => out.push_str("&#9;"),
            c if (c as u32) < 0x20 => {}
            c => out.push(c),
        }
    }
    out
}

/// The CSDL XML document for `published`. Display names and descriptions are `Core.Description` annotations,
/// generated properties are `Core.Computed` (clients leave them out of inserts), and the methods a SmartObject
/// lacks appear as Capabilities restrictions, so a client can tell before it tries. Terms are written with
/// their full namespace, which every client resolves.
pub fn csdl(published: &[Arc<SmartObject>]) -> String {
    let mut x = String::with_capacity(4096);
    x.push_str(r#"<?xml version="1.0" encoding="utf-8"?>"#);
    x.push_str(r#"<edmx:Edmx Version="4.0" xmlns:edmx="http://docs.oasis-open.org/odata/ns/edmx">"#);
    x.push_str(
        r#"<edmx:Reference Uri="https://oasis-tcs.github.io/odata-vocabularies/vocabularies/Org.OData.Core.V1.xml">"#,
    );
    x.push_str(r#"<edmx:Include Namespace="Org.OData.Core.V1" Alias="Core"/></edmx:Reference>"#);
    x.push_str(r#"<edmx:Reference Uri="https://oasis-tcs.github.io/odata-vocabularies/vocabularies/Org.OData.Capabilities.V1.xml">"#);
    x.push_str(r#"<edmx:Include Namespace="Org.OData.Capabilities.V1" Alias="Capabilities"/></edmx:Reference>"#);
    x.push_str("<edmx:DataServices>");
    let _ = write!(
        x,
        r#"<Schema Namespace="{NAMESPACE}" xmlns="http://docs.oasis-open.org/odata/ns/edm">"#
    );
    for so in published {
        let _ = write!(x, r#"<EntityType Name="{}">"#, so.published_name);
        let _ = write!(
            x,
            r#"<Key><PropertyRef Name="{}"/></Key>"#,
            so.key_property().published_name
        );
        for p in &so.properties {
            let _ = write!(x, r#"<Property Name="{}" Type="{}""#, p.published_name, p.edm().csdl());
            if p.required {
                x.push_str(r#" Nullable="false""#);
            }
            if let Some(n) = p.max_length {
                let _ = write!(x, r#" MaxLength="{n}""#);
            }
            if p.kind == PropertyKind::Decimal {
                x.push_str(r#" Scale="variable""#);
            }
            if p.kind == PropertyKind::DateTime || p.kind == PropertyKind::Time {
                x.push_str(r#" Precision="7""#);
            }
            x.push('>');
            // Not on the key: a generated key is left out or sent as null by clients anyway, and python-odata
            // (0.8) cannot insert into a set whose key is Computed.
            if p.kind.is_generated() && p.system_name != so.key_property().system_name {
                x.push_str(r#"<Annotation Term="Org.OData.Core.V1.Computed" Bool="true"/>"#);
            }
            if p.display_name != p.system_name {
                let _ = write!(
                    x,
                    r#"<Annotation Term="Org.OData.Core.V1.Description" String="{}"/>"#,
                    attr(&p.display_name)
                );
            }
            x.push_str("</Property>");
        }
        let description = so.description.as_deref().unwrap_or(&so.display_name);
        let _ = write!(
            x,
            r#"<Annotation Term="Org.OData.Core.V1.Description" String="{}"/>"#,
            attr(description)
        );
        x.push_str("</EntityType>");
    }
    let _ = write!(x, r#"<EntityContainer Name="{CONTAINER}">"#);
    for so in published {
        let _ = write!(
            x,
            r#"<EntitySet Name="{0}" EntityType="{NAMESPACE}.{0}">"#,
            so.published_name
        );
        for (method, term, property) in [
            (Method::Create, "InsertRestrictions", "Insertable"),
            (Method::Update, "UpdateRestrictions", "Updatable"),
            (Method::Delete, "DeleteRestrictions", "Deletable"),
        ] {
            if !so.methods.has(method) {
                let _ = write!(
                    x,
                    r#"<Annotation Term="Org.OData.Capabilities.V1.{term}"><Record><PropertyValue Property="{property}" Bool="false"/></Record></Annotation>"#
                );
            }
        }
        x.push_str("</EntitySet>");
    }
    x.push_str("</EntityContainer></Schema></edmx:DataServices></edmx:Edmx>");
    x
}

/// The service document: the entity sets, relative to the service root.
pub fn service_document(context: &str, published: &[Arc<SmartObject>]) -> Json {
    json!({
        "@odata.context": context,
        "value": published.iter().map(|so| json!({
            "name": so.published_name,
            "kind": "EntitySet",
            "url": so.published_name,
            "title": so.display_name,
        })).collect::<Vec<_>>(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::odata::smartobject::SmartObjectFile;
    use std::path::Path;

    #[test]
    fn csdl_describes_keys_types_and_restrictions() {
        let text = r#"
system_name: 1Order
description: Orders & "returns"
key: Id
methods: [List, Read, Create]
properties:
  - {name: Id, type: AutoNumber}
  - {name: Title, type: Text, max_length: 40, required: true, display_name: "Title <short>"}
  - {name: Amount, type: Decimal}
  - {name: At, type: DateTime}
  - {name: Ref, type: AutoGuid}
"#;
        let file: SmartObjectFile = authgate_core::config::parse_yaml(Path::new("x.yaml"), text, |_| None).unwrap();
        let so = Arc::new(SmartObject::from_file(file).unwrap());
        let xml = csdl(&[so]);
        for expected in [
            r#"<EntityType Name="OData_1Order"><Key><PropertyRef Name="Id"/></Key>"#,
            r#"<Property Name="Id" Type="Edm.Int64" Nullable="false"></Property>"#,
            r#"<Property Name="Ref" Type="Edm.Guid"><Annotation Term="Org.OData.Core.V1.Computed" Bool="true"/></Property>"#,
            r#"<Property Name="Title" Type="Edm.String" Nullable="false" MaxLength="40"><Annotation Term="Org.OData.Core.V1.Description" String="Title &lt;short&gt;"/>"#,
            r#"<Property Name="Amount" Type="Edm.Decimal" Scale="variable">"#,
            r#"<Property Name="At" Type="Edm.DateTimeOffset" Precision="7">"#,
            r#"String="Orders &amp; &quot;returns&quot;""#,
            r#"<EntitySet Name="OData_1Order" EntityType="SmartObjects.OData_1Order">"#,
            r#"Org.OData.Capabilities.V1.UpdateRestrictions"#,
        ] {
            assert!(xml.contains(expected), "missing {expected} in {xml}");
        }
        assert!(!xml.contains("InsertRestrictions"));
    }
}
