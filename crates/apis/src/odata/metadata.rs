//! The service's self-description: `$metadata` as CSDL XML (OData 4.0), rendered once per configuration, and
//! the service document listing the entity sets.

use super::smartobject::{Method, PropertyKind, SmartObject, SmartProperty};
use quick_xml::events::{BytesDecl, Event};
use quick_xml::Writer;
use serde_json::{json, Value as Json};
use std::borrow::Cow;
use std::io;
use std::sync::Arc;

/// Namespace of the entity types.
pub const NAMESPACE: &str = "SmartObjects";
/// Name of the entity container.
pub const CONTAINER: &str = "Container";

/// The vocabularies the annotations use: where each is published, its namespace and alias.
const VOCABULARIES: [(&str, &str, &str); 2] = [
    (
        "https://oasis-tcs.github.io/odata-vocabularies/vocabularies/Org.OData.Core.V1.xml",
        "Org.OData.Core.V1",
        "Core",
    ),
    (
        "https://oasis-tcs.github.io/odata-vocabularies/vocabularies/Org.OData.Capabilities.V1.xml",
        "Org.OData.Capabilities.V1",
        "Capabilities",
    ),
];

/// The CSDL XML document for `published`. Display names and descriptions are `Core.Description` annotations,
/// generated properties are `Core.Computed` (clients leave them out of inserts), and the methods a SmartObject
/// lacks appear as Capabilities restrictions, so a client can tell before it tries. Terms are written with
/// their full namespace, which every client resolves. quick-xml escapes attribute values (`&<>"'` and the
/// whitespace characters an XML parser would otherwise normalise); no indentation, explicit end tags on
/// `Property`.
pub fn csdl(published: &[Arc<SmartObject>]) -> String {
    let mut writer = Writer::new(Vec::with_capacity(4096));
    // Into memory: the only failure an io::Write can report cannot happen.
    write_csdl(&mut writer, published).expect("writing XML into a Vec cannot fail");
    // Every piece written is a &str and every escape is ASCII, so the bytes are UTF-8.
    String::from_utf8_lossy(&writer.into_inner()).into_owned()
}

fn write_csdl(w: &mut Writer<Vec<u8>>, published: &[Arc<SmartObject>]) -> io::Result<()> {
    w.write_event(Event::Decl(BytesDecl::new("1.0", Some("utf-8"), None)))?;
    w.create_element("edmx:Edmx")
        .with_attributes([
            ("Version", "4.0"),
            ("xmlns:edmx", "http://docs.oasis-open.org/odata/ns/edmx"),
        ])
        .write_inner_content(|w| {
            for (uri, namespace, alias) in VOCABULARIES {
                w.create_element("edmx:Reference")
                    .with_attribute(("Uri", uri))
                    .write_inner_content(|w| {
                        w.create_element("edmx:Include")
                            .with_attributes([("Namespace", namespace), ("Alias", alias)])
                            .write_empty()
                            .map(drop)
                    })?;
            }
            w.create_element("edmx:DataServices")
                .write_inner_content(|w| {
                    w.create_element("Schema")
                        .with_attributes([
                            ("Namespace", NAMESPACE),
                            ("xmlns", "http://docs.oasis-open.org/odata/ns/edm"),
                        ])
                        .write_inner_content(|w| {
                            for so in published {
                                entity_type(w, so)?;
                            }
                            w.create_element("EntityContainer")
                                .with_attribute(("Name", CONTAINER))
                                .write_inner_content(|w| published.iter().try_for_each(|so| entity_set(w, so)))
                                .map(drop)
                        })
                        .map(drop)
                })
                .map(drop)
        })?;
    Ok(())
}

fn entity_type(w: &mut Writer<Vec<u8>>, so: &SmartObject) -> io::Result<()> {
    w.create_element("EntityType")
        .with_attribute(("Name", so.published_name.as_str()))
        .write_inner_content(|w| {
            w.create_element("Key").write_inner_content(|w| {
                w.create_element("PropertyRef")
                    .with_attribute(("Name", so.key_property().published_name.as_str()))
                    .write_empty()
                    .map(drop)
            })?;
            for p in &so.properties {
                property(w, so, p)?;
            }
            let description = so.description.as_deref().unwrap_or(&so.display_name);
            description_annotation(w, description)
        })?;
    Ok(())
}

fn property(w: &mut Writer<Vec<u8>>, so: &SmartObject, p: &SmartProperty) -> io::Result<()> {
    let mut element = w
        .create_element("Property")
        .with_attributes([("Name", p.published_name.as_str()), ("Type", p.edm().csdl())]);
    if p.required {
        element = element.with_attribute(("Nullable", "false"));
    }
    if let Some(n) = p.max_length {
        element = element.with_attribute(("MaxLength", n.to_string().as_str()));
    }
    if p.kind == PropertyKind::Decimal {
        element = element.with_attribute(("Scale", "variable"));
    }
    if p.kind == PropertyKind::DateTime || p.kind == PropertyKind::Time {
        element = element.with_attribute(("Precision", "7"));
    }
    element.write_inner_content(|w| {
        // Not on the key: a generated key is left out or sent as null by clients anyway, and python-odata
        // (0.8) cannot insert into a set whose key is Computed.
        if p.kind.is_generated() && p.system_name != so.key_property().system_name {
            w.create_element("Annotation")
                .with_attributes([("Term", "Org.OData.Core.V1.Computed"), ("Bool", "true")])
                .write_empty()?;
        }
        if p.display_name != p.system_name {
            description_annotation(w, &p.display_name)?;
        }
        Ok(())
    })?;
    Ok(())
}

/// `<Annotation Term="Org.OData.Core.V1.Description" String="..."/>`.
fn description_annotation(w: &mut Writer<Vec<u8>>, text: &str) -> io::Result<()> {
    w.create_element("Annotation")
        .with_attributes([
            ("Term", "Org.OData.Core.V1.Description"),
            ("String", xml_chars(text).as_ref()),
        ])
        .write_empty()?;
    Ok(())
}

/// `text` without the control characters XML 1.0 cannot carry at all, not even as character references
/// (tab, line feed and carriage return stay; quick-xml writes them as references).
fn xml_chars(text: &str) -> Cow<'_, str> {
    let forbidden = |c: char| c < ' ' && !matches!(c, '\t' | '\n' | '\r');
    if text.contains(forbidden) {
        Cow::Owned(text.chars().filter(|&c| !forbidden(c)).collect())
    } else {
        Cow::Borrowed(text)
    }
}

fn entity_set(w: &mut Writer<Vec<u8>>, so: &SmartObject) -> io::Result<()> {
    let entity_type = format!("{NAMESPACE}.{}", so.published_name);
    w.create_element("EntitySet")
        .with_attributes([
            ("Name", so.published_name.as_str()),
            ("EntityType", entity_type.as_str()),
        ])
        .write_inner_content(|w| {
            for (method, term, property) in [
                (Method::Create, "InsertRestrictions", "Insertable"),
                (Method::Update, "UpdateRestrictions", "Updatable"),
                (Method::Delete, "DeleteRestrictions", "Deletable"),
            ] {
                if !so.methods.has(method) {
                    let term = format!("Org.OData.Capabilities.V1.{term}");
                    w.create_element("Annotation")
                        .with_attribute(("Term", term.as_str()))
                        .write_inner_content(|w| {
                            w.create_element("Record").write_inner_content(|w| {
                                w.create_element("PropertyValue")
                                    .with_attributes([("Property", property), ("Bool", "false")])
                                    .write_empty()
                                    .map(drop)
                            })?;
                            Ok(())
                        })?;
                }
            }
            Ok(())
        })?;
    Ok(())
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

    /// The whole document, byte for byte as the hand-written CSDL of earlier versions wrote it (the expected
    /// text is that code's output): declaration, attribute order, `<Property ...></Property>` with explicit
    /// end tags, no indentation, and attribute escaping of `&<>"'`, tab, line feed and carriage return, with
    /// the control characters XML cannot carry left out.
    /// A whole `$metadata` document around `schema` (the entity types and container).
    fn document(schema: &str) -> String {
        const PROLOGUE: &str = concat!(
            r#"<?xml version="1.0" encoding="utf-8"?>"#,
            r#"<edmx:Edmx Version="4.0" xmlns:edmx="http://docs.oasis-open.org/odata/ns/edmx">"#,
            r#"<edmx:Reference Uri="https://oasis-tcs.github.io/odata-vocabularies/vocabularies/Org.OData.Core.V1.xml">"#,
            r#"<edmx:Include Namespace="Org.OData.Core.V1" Alias="Core"/>"#,
            r#"</edmx:Reference>"#,
            r#"<edmx:Reference Uri="https://oasis-tcs.github.io/odata-vocabularies/vocabularies/Org.OData.Capabilities.V1.xml">"#,
            r#"<edmx:Include Namespace="Org.OData.Capabilities.V1" Alias="Capabilities"/>"#,
            r#"</edmx:Reference>"#,
            r#"<edmx:DataServices>"#,
            r#"<Schema Namespace="SmartObjects" xmlns="http://docs.oasis-open.org/odata/ns/edm">"#,
        );
        const EPILOGUE: &str = r#"</Schema></edmx:DataServices></edmx:Edmx>"#;
        format!("{PROLOGUE}{schema}{EPILOGUE}")
    }

    #[test]
    fn csdl_is_exactly_this_document() {
        let text = "system_name: 1Order\n\
            description: \"Orders & \\\"returns\\\" <x> 'q'\\n\\r\\t\\u0001\\u001f end \\u00e9\\u007f\"\n\
            key: Id\nmethods: [List, Read]\nproperties:\n\
            \x20 - {name: Id, type: AutoNumber}\n\
            \x20 - {name: Title, type: Text, max_length: 40, required: true, \
            display_name: \"Title <short> & 'x' \\\"y\\\"\\n\\tz\\u0002\"}\n\
            \x20 - {name: Amount, type: Decimal}\n\
            \x20 - {name: At, type: DateTime}\n\
            \x20 - {name: T, type: Time}\n\
            \x20 - {name: D, type: Date}\n\
            \x20 - {name: Ref, type: AutoGuid}\n\
            \x20 - {name: G, type: GUID}\n\
            \x20 - {name: B, type: Boolean}\n\
            \x20 - {name: M, type: Memo}\n";
        let file: SmartObjectFile = authgate_core::config::parse_yaml(Path::new("x.yaml"), text, |_| None).unwrap();
        let so = Arc::new(SmartObject::from_file(file).unwrap());
        let expected = document(concat!(
            r#"<EntityType Name="OData_1Order">"#,
            r#"<Key>"#,
            r#"<PropertyRef Name="Id"/>"#,
            r#"</Key>"#,
            r#"<Property Name="Id" Type="Edm.Int64" Nullable="false">"#,
            r#"</Property>"#,
            r#"<Property Name="Title" Type="Edm.String" Nullable="false" MaxLength="40">"#,
            r#"<Annotation Term="Org.OData.Core.V1.Description" String="Title &lt;short&gt; &amp; &apos;x&apos; &quot;y&quot;&#10;&#9;z"/>"#,
            r#"</Property>"#,
            r#"<Property Name="Amount" Type="Edm.Decimal" Scale="variable">"#,
            r#"</Property>"#,
            r#"<Property Name="At" Type="Edm.DateTimeOffset" Precision="7">"#,
            r#"</Property>"#,
            r#"<Property Name="T" Type="Edm.TimeOfDay" Precision="7">"#,
            r#"</Property>"#,
            r#"<Property Name="D" Type="Edm.Date">"#,
            r#"</Property>"#,
            r#"<Property Name="Ref" Type="Edm.Guid">"#,
            r#"<Annotation Term="Org.OData.Core.V1.Computed" Bool="true"/>"#,
            r#"</Property>"#,
            r#"<Property Name="G" Type="Edm.Guid">"#,
            r#"</Property>"#,
            r#"<Property Name="B" Type="Edm.Boolean">"#,
            r#"</Property>"#,
            r#"<Property Name="M" Type="Edm.String">"#,
            r#"</Property>"#,
            r#"<Annotation Term="Org.OData.Core.V1.Description" String="Orders &amp; &quot;returns&quot; &lt;x&gt; &apos;q&apos;&#10;&#13;&#9; end "#,
            "\u{e9}\u{7f}\"/>",
            r#"</EntityType>"#,
            r#"<EntityContainer Name="Container">"#,
            r#"<EntitySet Name="OData_1Order" EntityType="SmartObjects.OData_1Order">"#,
            r#"<Annotation Term="Org.OData.Capabilities.V1.InsertRestrictions">"#,
            r#"<Record>"#,
            r#"<PropertyValue Property="Insertable" Bool="false"/>"#,
            r#"</Record>"#,
            r#"</Annotation>"#,
            r#"<Annotation Term="Org.OData.Capabilities.V1.UpdateRestrictions">"#,
            r#"<Record>"#,
            r#"<PropertyValue Property="Updatable" Bool="false"/>"#,
            r#"</Record>"#,
            r#"</Annotation>"#,
            r#"<Annotation Term="Org.OData.Capabilities.V1.DeleteRestrictions">"#,
            r#"<Record>"#,
            r#"<PropertyValue Property="Deletable" Bool="false"/>"#,
            r#"</Record>"#,
            r#"</Annotation>"#,
            r#"</EntitySet>"#,
            r#"</EntityContainer>"#,
        ));
        assert_eq!(csdl(&[so]), expected);
    }

    #[test]
    fn csdl_of_no_smartobjects_is_an_empty_schema_and_container() {
        let expected = document(concat!(
            r#"<EntityContainer Name="Container">"#,
            r#"</EntityContainer>"#,
        ));
        assert_eq!(csdl(&[]), expected);
    }
}
