//! Item references: the SmartObject records an instance refers to, keyed by SmartObject system name, then by
//! record id, then by property. K2 clients post them in two forms, which may be combined in one object:
//!
//! - JSON: `{"Customer": {"1": {"CustomerCode": "AZ200", "Region": 12}}}`;
//! - XML: `{"xmlContent": "<itemReferences><itemReference name=\"Customer\">…<items><item id=\"1\"><properties>
//!   <property name=\"CustomerCode\">AZ200</property>…"}` (K2's own serialization; read with quick-xml).
//!
//! They are stored in the JSON form and shown in both: `itemReferences` (JSON) and `itemReferencesString` (the
//! XML document, built from the stored form; settings such as the SmartObject load method are not kept).

use quick_xml::events::{BytesEnd, BytesStart, BytesText, Event};
use quick_xml::{Reader, Writer, XmlVersion};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::collections::BTreeMap;

/// The properties of one referenced record.
pub type Properties = Map<String, Value>;

/// Item references: SmartObject → record id → properties.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ItemReferences(BTreeMap<String, BTreeMap<String, Properties>>);

/// The member of the request object that carries the XML form.
const XML_CONTENT: &str = "xmlContent";
/// Longest SmartObject, record id or property name accepted.
const MAX_NAME: usize = 256;

fn check_name(what: &str, name: &str) -> Result<(), String> {
    if name.trim().is_empty() || name.chars().count() > MAX_NAME || name.chars().any(char::is_control) {
        return Err(format!(
            "itemReferences: {what} '{name}' must be 1 to {MAX_NAME} characters without control characters"
        ));
    }
    Ok(())
}

impl ItemReferences {
    /// Reads the request form: an object of SmartObjects (JSON form), optionally with `xmlContent` (XML form);
    /// `null` is none.
    pub fn from_request(value: Value) -> Result<Self, String> {
        let object = match value {
            Value::Null => return Ok(Self::default()),
            Value::Object(object) => object,
            _ => {
                return Err(
                    "itemReferences must be an object: {\"SmartObject\": {\"id\": {\"Property\": value}}} \
                     or {\"xmlContent\": \"<itemReferences>…\"}"
                        .into(),
                )
            }
        };
        // The XML form first, so that the JSON form, more specific, updates what it also names.
        let (xml, json): (Vec<_>, Vec<_>) = object
            .into_iter()
            .partition(|(key, _)| key.eq_ignore_ascii_case(XML_CONTENT));
        let mut refs = Self::default();
        for (_, content) in xml {
            match content {
                Value::String(xml) => refs.merge(Self::from_xml(&xml)?),
                Value::Null => {}
                _ => return Err("itemReferences.xmlContent must be a string holding XML".into()),
            }
        }
        for (smartobject, items) in json {
            check_name("SmartObject", &smartobject)?;
            let Value::Object(items) = items else {
                return Err(format!(
                    "itemReferences.{smartobject} must be an object of records by id: {{\"1\": {{\"Property\": value}}}}"
                ));
            };
            for (id, properties) in items {
                check_name("record id", &id)?;
                let Value::Object(properties) = properties else {
                    return Err(format!(
                        "itemReferences.{smartobject}.{id} must be an object of property values"
                    ));
                };
                for (name, value) in &properties {
                    check_name("property", name)?;
                    if value.is_object() || value.is_array() {
                        return Err(format!(
                            "itemReferences.{smartobject}.{id}.{name} must be a string, number, boolean or null"
                        ));
                    }
                }
                refs.insert(&smartobject, &id, properties);
            }
        }
        Ok(refs)
    }

    fn insert(&mut self, smartobject: &str, id: &str, properties: Properties) {
        self.0
            .entry(smartobject.to_string())
            .or_default()
            .entry(id.to_string())
            .or_default()
            .extend(properties);
    }

    /// Adds `other`: new SmartObjects and records are added, and the properties of a record already referred
    /// to are updated.
    pub fn merge(&mut self, other: ItemReferences) {
        for (smartobject, items) in other.0 {
            for (id, properties) in items {
                self.insert(&smartobject, &id, properties);
            }
        }
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The JSON form.
    pub fn to_json(&self) -> Map<String, Value> {
        match serde_json::to_value(self) {
            Ok(Value::Object(map)) => map,
            _ => Map::new(),
        }
    }

    /// Reads K2's XML form. Only the references, records and properties are read; other elements (settings,
    /// definition, parameters) are ignored.
    pub fn from_xml(xml: &str) -> Result<Self, String> {
        let mut reader = Reader::from_str(xml);
        let malformed = |reader: &Reader<&[u8]>, e: &dyn std::fmt::Display| {
            format!(
                "itemReferences.xmlContent is not well-formed XML at byte {}: {e}",
                reader.error_position()
            )
        };
        let mut refs = Self::default();
        let mut path: Vec<String> = Vec::new();
        let mut reference: Option<String> = None;
        let mut item: Option<String> = None;
        let mut property: Option<(String, String)> = None;
        let mut seen_root = false;
        loop {
            let event = reader.read_event().map_err(|e| malformed(&reader, &e))?;
            match event {
                Event::Start(ref e) | Event::Empty(ref e) => {
                    let name = e.local_name().as_ref().to_string();
                    let parent = path.last().map(String::as_str);
                    match (parent, name.as_str()) {
                        (None, "itemReferences") if !seen_root => seen_root = true,
                        (None, other) => {
                            return Err(format!(
                                "itemReferences.xmlContent: the root element must be <itemReferences>, not <{other}>"
                            ))
                        }
                        (Some("itemReferences"), "itemReference") => {
                            let n = attribute(e, "name")?
                                .ok_or("itemReferences.xmlContent: an <itemReference> has no name")?;
                            check_name("SmartObject", &n)?;
                            reference = Some(n);
                        }
                        (Some("items"), "item") => {
                            let id = attribute(e, "id")?.ok_or("itemReferences.xmlContent: an <item> has no id")?;
                            check_name("record id", &id)?;
                            if let Some(r) = &reference {
                                refs.insert(r, &id, Properties::new());
                            }
                            item = Some(id);
                        }
                        (Some("properties"), "property") => {
                            let n =
                                attribute(e, "name")?.ok_or("itemReferences.xmlContent: a <property> has no name")?;
                            check_name("property", &n)?;
                            property = Some((n, String::new()));
                        }
                        _ => {}
                    }
                    if matches!(event, Event::Start(_)) {
                        path.push(name);
                    } else {
                        end_of(&name, &mut refs, &reference, &item, &mut property);
                    }
                }
                Event::End(ref e) => {
                    let name = e.local_name().as_ref().to_string();
                    end_of(&name, &mut refs, &reference, &item, &mut property);
                    match name.as_str() {
                        "itemReference" => reference = None,
                        "item" => item = None,
                        _ => {}
                    }
                    path.pop();
                }
                Event::Text(ref t) => {
                    if let Some((_, text)) = &mut property {
                        text.push_str(&t.xml_content(XmlVersion::Implicit1_0));
                    }
                }
                Event::CData(ref t) => {
                    if let Some((_, text)) = &mut property {
                        text.push_str(&t.xml_content(XmlVersion::Implicit1_0));
                    }
                }
                Event::GeneralRef(ref r) => {
                    let resolved = if r.is_char_ref() {
                        r.resolve_char_ref()
                            .map_err(|e| malformed(&reader, &e))?
                            .map(String::from)
                    } else {
                        let name = r.xml_content(XmlVersion::Implicit1_0);
                        quick_xml::escape::resolve_predefined_entity(&name).map(String::from)
                    };
                    let resolved = resolved.ok_or_else(|| {
                        format!(
                            "itemReferences.xmlContent: unknown entity '&{};' (only XML's predefined entities)",
                            r.xml_content(XmlVersion::Implicit1_0)
                        )
                    })?;
                    if let Some((_, text)) = &mut property {
                        text.push_str(&resolved);
                    }
                }
                Event::DocType(_) => {
                    return Err("itemReferences.xmlContent: a DOCTYPE is not accepted".into());
                }
                Event::Eof => break,
                Event::Decl(_) | Event::Comment(_) | Event::PI(_) => {}
            }
        }
        if !seen_root {
            return Err("itemReferences.xmlContent holds no <itemReferences> element".into());
        }
        if !path.is_empty() {
            return Err(format!(
                "itemReferences.xmlContent is not well-formed XML: <{}> is not closed",
                path.join("><")
            ));
        }
        Ok(refs)
    }

    /// K2's XML form of these references.
    pub fn to_xml(&self) -> String {
        let mut writer = Writer::new(Vec::new());
        let _ = self.write_xml(&mut writer);
        String::from_utf8(writer.into_inner()).unwrap_or_default()
    }

    fn write_xml(&self, w: &mut Writer<Vec<u8>>) -> std::io::Result<()> {
        w.write_event(Event::Start(BytesStart::new("itemReferences")))?;
        for (smartobject, items) in &self.0 {
            let mut reference = BytesStart::new("itemReference");
            reference.push_attribute(("name", smartobject.as_str()));
            reference.push_attribute(("type", "SmartObjectItem"));
            w.write_event(Event::Start(reference))?;
            let mut list = BytesStart::new("items");
            let last = items.keys().last().map_or("0", String::as_str);
            list.push_attribute(("lastId", last));
            w.write_event(Event::Start(list))?;
            for (id, properties) in items {
                let mut item = BytesStart::new("item");
                item.push_attribute(("id", id.as_str()));
                w.write_event(Event::Start(item))?;
                w.write_event(Event::Start(BytesStart::new("properties")))?;
                for (name, value) in properties {
                    let mut property = BytesStart::new("property");
                    property.push_attribute(("name", name.as_str()));
                    let text = match value {
                        Value::String(s) => s.clone(),
                        Value::Null => String::new(),
                        other => other.to_string(),
                    };
                    w.write_event(Event::Start(property))?;
                    w.write_event(Event::Text(BytesText::new(&text)))?;
                    w.write_event(Event::End(BytesEnd::new("property")))?;
                }
                w.write_event(Event::End(BytesEnd::new("properties")))?;
                w.write_event(Event::End(BytesEnd::new("item")))?;
            }
            w.write_event(Event::End(BytesEnd::new("items")))?;
            w.write_event(Event::End(BytesEnd::new("itemReference")))?;
        }
        w.write_event(Event::End(BytesEnd::new("itemReferences")))
    }
}

/// Closes a `<property>` (start-end or empty), storing its text.
fn end_of(
    name: &str,
    refs: &mut ItemReferences,
    reference: &Option<String>,
    item: &Option<String>,
    property: &mut Option<(String, String)>,
) {
    if name != "property" {
        return;
    }
    if let (Some(r), Some(i), Some((p, text))) = (reference, item, property.take()) {
        let mut one = Properties::new();
        one.insert(p, Value::String(text));
        refs.insert(r, i, one);
    }
}

fn attribute(e: &BytesStart<'_>, name: &str) -> Result<Option<String>, String> {
    for attr in e.attributes() {
        let attr = attr.map_err(|err| format!("itemReferences.xmlContent: bad attribute: {err}"))?;
        if attr.key.local_name().as_ref() == name {
            let value = attr
                .normalized_value(XmlVersion::Implicit1_0)
                .map_err(|err| format!("itemReferences.xmlContent: bad attribute '{name}': {err}"))?;
            return Ok(Some(value.into_owned()));
        }
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const K2_XML: &str = r#"<itemReferences> <itemReference name="Leave_Request_SmartObject" displayName="Leave Request SmartObject" type="SmartObjectItem" primary="true" startMode="smartForms"> <settings><method><objectName>Leave_Request_SmartObject</objectName><methodName>Load</methodName> <methodType>Read</methodType><objectTypes><type>Default</type></objectTypes> </method></settings><definition></definition><items lastId="1"><item id="1"> <properties><property name="ID">1</property><property name="Note">a &amp; b &#233;</property><property name="Empty"/></properties> <parameters /></item></items></itemReference></itemReferences>"#;

    #[test]
    fn the_json_form_is_read_and_checked() {
        let refs =
            ItemReferences::from_request(json!({"Customer": {"1": {"CustomerCode": "AZ200", "Region": 12}}})).unwrap();
        assert_eq!(
            Value::Object(refs.to_json()),
            json!({"Customer": {"1": {"CustomerCode": "AZ200", "Region": 12}}})
        );
        assert!(ItemReferences::from_request(Value::Null).unwrap().is_empty());
        for bad in [
            json!([1]),
            json!({"Customer": 5}),
            json!({"Customer": {"1": "x"}}),
            json!({"Customer": {"1": {"P": {"nested": 1}}}}),
            json!({"": {}}),
            json!({"xmlContent": 5}),
        ] {
            assert!(ItemReferences::from_request(bad.clone()).is_err(), "{bad}");
        }
    }

    #[test]
    fn the_xml_form_is_read_as_k2_writes_it() {
        let refs = ItemReferences::from_request(json!({ "xmlContent": K2_XML })).unwrap();
        assert_eq!(
            Value::Object(refs.to_json()),
            json!({"Leave_Request_SmartObject": {"1": {"ID": "1", "Note": "a & b é", "Empty": ""}}})
        );
    }

    #[test]
    fn both_forms_combine() {
        let refs = ItemReferences::from_request(json!({
            "XMLCONTENT": K2_XML,
            "Customer": {"7": {"Region": 12}},
            "Leave_Request_SmartObject": {"1": {"Note": "json wins"}}
        }))
        .unwrap();
        let json = refs.to_json();
        assert_eq!(json["Customer"]["7"]["Region"], 12);
        assert_eq!(json["Leave_Request_SmartObject"]["1"]["Note"], "json wins");
        assert_eq!(json["Leave_Request_SmartObject"]["1"]["ID"], "1");
    }

    #[test]
    fn malformed_xml_is_refused_with_the_reason() {
        for (xml, expected) in [
            (
                "<itemReferences><itemReference name=\"A\"></itemReferences>",
                "not well-formed",
            ),
            ("<itemReferences>", "not closed"),
            ("<other/>", "root element must be <itemReferences>"),
            ("", "no <itemReferences>"),
            ("<itemReferences><itemReference/></itemReferences>", "has no name"),
            ("<itemReferences>&bogus;</itemReferences>", "unknown entity"),
            (
                "<!DOCTYPE x [<!ENTITY e \"boom\">]><itemReferences/>",
                "DOCTYPE is not accepted",
            ),
            (
                "<itemReferences><itemReference x=1 name='A'/></itemReferences>",
                "bad attribute",
            ),
        ] {
            let err = ItemReferences::from_xml(xml).map(|r| r.to_json()).unwrap_err();
            assert!(err.contains(expected), "{xml}: {err}");
        }
    }

    #[test]
    fn the_xml_form_is_built_from_the_stored_form_and_reads_back() {
        let refs = ItemReferences::from_request(json!({"Customer": {"1": {"Code": "A<Z>&\"", "Region": 12}}})).unwrap();
        let xml = refs.to_xml();
        assert!(
            xml.starts_with("<itemReferences><itemReference name=\"Customer\" type=\"SmartObjectItem\">"),
            "{xml}"
        );
        let back = ItemReferences::from_xml(&xml).unwrap().to_json();
        assert_eq!(back["Customer"]["1"]["Code"], "A<Z>&\"");
        assert_eq!(back["Customer"]["1"]["Region"], "12");
        assert_eq!(ItemReferences::default().to_xml(), "<itemReferences></itemReferences>");
    }
}
