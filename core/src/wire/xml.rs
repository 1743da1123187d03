//! A small namespace-aware XML element tree for XMPP stanzas, parsed with quick-xml.
//!
//! RFC 7395 puts exactly one complete XML element in every WebSocket text frame, so the parser
//! takes one frame and returns one [`Element`]. It owns the limits that keep peer input bounded
//! ([`XmlLimits`]) and refuses DTDs, processing instructions and unknown entities. It does not know
//! what any element means; the `xmpp` module does.
//!
//! The serializer writes the namespace as a default `xmlns` whenever it differs from the parent's,
//! so every element it writes is a self-contained RFC 7395 frame.

use std::fmt::Write as _;

use quick_xml::events::{BytesStart, Event};
use quick_xml::name::ResolveResult;
use quick_xml::NsReader;

/// Largest frame the parser accepts, in bytes.
pub const MAX_FRAME_BYTES: usize = 256 * 1024;
/// Deepest nesting the parser accepts.
pub const MAX_DEPTH: usize = 32;
/// Most elements one frame may contain.
pub const MAX_ELEMENTS: usize = 4096;
/// Most attributes one element may carry.
pub const MAX_ATTRIBUTES: usize = 64;

/// Bounds applied while parsing peer XML.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct XmlLimits {
    /// Largest input, in bytes.
    pub max_bytes: usize,
    /// Deepest nesting.
    pub max_depth: usize,
    /// Most elements in the frame.
    pub max_elements: usize,
    /// Most attributes per element.
    pub max_attributes: usize,
}

impl Default for XmlLimits {
    fn default() -> Self {
        XmlLimits {
            max_bytes: MAX_FRAME_BYTES,
            max_depth: MAX_DEPTH,
            max_elements: MAX_ELEMENTS,
            max_attributes: MAX_ATTRIBUTES,
        }
    }
}

/// Why a frame is not acceptable XML.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum XmlError {
    /// The frame is larger than [`XmlLimits::max_bytes`].
    #[error("XML frame too large")]
    TooLarge,
    /// Nesting deeper than [`XmlLimits::max_depth`].
    #[error("XML nested too deeply")]
    TooDeep,
    /// More elements than [`XmlLimits::max_elements`].
    #[error("too many XML elements")]
    TooManyElements,
    /// More attributes than [`XmlLimits::max_attributes`] on one element.
    #[error("too many XML attributes")]
    TooManyAttributes,
    /// The frame holds no element.
    #[error("no XML element in frame")]
    Empty,
    /// Something other than whitespace after the root element, or a second root.
    #[error("trailing content after the XML element")]
    TrailingContent,
    /// The frame ends before the root element is closed.
    #[error("XML element not closed")]
    Unclosed,
    /// DTDs and processing instructions are not allowed in XMPP.
    #[error("restricted XML (DTD or processing instruction)")]
    Restricted,
    /// A prefix without a namespace declaration.
    #[error("unbound XML namespace prefix")]
    UnboundPrefix,
    /// The XML is not well-formed; the text says where the parser gave up.
    #[error("malformed XML: {0}")]
    Malformed(String),
}

/// A child of an [`Element`]: another element or character data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Node {
    /// A child element.
    Element(Element),
    /// Character data (entities already resolved).
    Text(String),
}

/// One XML element with its resolved namespace, attributes and children.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Element {
    /// Local name (no prefix).
    pub name: String,
    /// Namespace URI, empty when none applies.
    pub ns: String,
    /// Attributes in document order, namespace declarations left out. `xml:` attributes keep
    /// their prefix (`xml:lang`); attributes in other declared namespaces are dropped.
    pub attrs: Vec<(String, String)>,
    /// Child nodes in document order.
    pub children: Vec<Node>,
}

impl Element {
    /// A new element without attributes or children.
    pub fn new(name: impl Into<String>, ns: impl Into<String>) -> Self {
        Element {
            name: name.into(),
            ns: ns.into(),
            attrs: Vec::new(),
            children: Vec::new(),
        }
    }

    /// Whether this element has the given local name and namespace.
    pub fn is(&self, name: &str, ns: &str) -> bool {
        self.name == name && self.ns == ns
    }

    /// The value of attribute `name`.
    pub fn attr(&self, name: &str) -> Option<&str> {
        self.attrs
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// Sets attribute `name` (replacing an earlier value).
    pub fn set_attr(&mut self, name: impl Into<String>, value: impl Into<String>) {
        let name = name.into();
        let value = value.into();
        match self.attrs.iter_mut().find(|(k, _)| *k == name) {
            Some(slot) => slot.1 = value,
            None => self.attrs.push((name, value)),
        }
    }

    /// Builder form of [`Element::set_attr`].
    pub fn with_attr(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.set_attr(name, value);
        self
    }

    /// Builder form of [`Element::set_attr`] that does nothing for `None`.
    pub fn with_opt_attr(self, name: impl Into<String>, value: Option<impl Into<String>>) -> Self {
        match value {
            Some(v) => self.with_attr(name, v),
            None => self,
        }
    }

    /// Appends a child element.
    pub fn push_child(&mut self, child: Element) {
        self.children.push(Node::Element(child));
    }

    /// Builder form of [`Element::push_child`].
    pub fn with_child(mut self, child: Element) -> Self {
        self.push_child(child);
        self
    }

    /// Appends character data.
    pub fn with_text(mut self, text: impl Into<String>) -> Self {
        self.children.push(Node::Text(text.into()));
        self
    }

    /// Child elements in document order.
    pub fn elements(&self) -> impl Iterator<Item = &Element> {
        self.children.iter().filter_map(|n| match n {
            Node::Element(e) => Some(e),
            Node::Text(_) => None,
        })
    }

    /// The first child element with this name and namespace.
    pub fn child(&self, name: &str, ns: &str) -> Option<&Element> {
        self.elements().find(|e| e.is(name, ns))
    }

    /// The first child element with this name, in any namespace.
    pub fn child_named(&self, name: &str) -> Option<&Element> {
        self.elements().find(|e| e.name == name)
    }

    /// The direct character data of this element, concatenated.
    pub fn text(&self) -> String {
        let mut out = String::new();
        for n in &self.children {
            if let Node::Text(t) = n {
                out.push_str(t);
            }
        }
        out
    }

    /// Serializes this element as a self-contained XML fragment.
    pub fn to_xml(&self) -> String {
        let mut out = String::with_capacity(128);
        self.write_into(&mut out, "");
        out
    }

    fn write_into(&self, out: &mut String, parent_ns: &str) {
        out.push('<');
        out.push_str(&self.name);
        if self.ns != parent_ns {
            let _ = write!(out, " xmlns=\"{}\"", escape(&self.ns));
        }
        for (k, v) in &self.attrs {
            let _ = write!(out, " {}=\"{}\"", k, escape(v));
        }
        if self.children.is_empty() {
            out.push_str("/>");
            return;
        }
        out.push('>');
        for n in &self.children {
            match n {
                Node::Element(e) => e.write_into(out, &self.ns),
                Node::Text(t) => out.push_str(&escape(t)),
            }
        }
        out.push_str("</");
        out.push_str(&self.name);
        out.push('>');
    }
}

/// Escapes text for use in XML character data or a double-quoted attribute.
///
/// Besides `& < > " '`, carriage return, line feed and tab are written as character references
/// so that a parser's end-of-line and attribute-value normalization cannot change them.
pub fn escape(text: &str) -> std::borrow::Cow<'_, str> {
    let escaped = quick_xml::escape::escape(text);
    if !escaped.contains(['\r', '\n', '\t']) {
        return escaped;
    }
    let mut out = String::with_capacity(escaped.len() + 8);
    for c in escaped.chars() {
        match c {
            '\r' => out.push_str("&#13;"),
            '\n' => out.push_str("&#10;"),
            '\t' => out.push_str("&#9;"),
            c => out.push(c),
        }
    }
    std::borrow::Cow::Owned(out)
}

/// Parses one complete XML element (one RFC 7395 frame) within `limits`.
pub fn parse(input: &str, limits: &XmlLimits) -> Result<Element, XmlError> {
    if input.len() > limits.max_bytes {
        return Err(XmlError::TooLarge);
    }
    let mut reader = NsReader::from_str(input);
    reader.config_mut().check_end_names = true;
    let mut stack: Vec<Element> = Vec::new();
    let mut root: Option<Element> = None;
    let mut count = 0usize;
    loop {
        let (resolved, event) = reader
            .read_resolved_event()
            .map_err(|e| XmlError::Malformed(short(&e.to_string())))?;
        let ns = match resolved {
            ResolveResult::Bound(ns) => {
                // The resolver hands out the declaration's raw value; unescape it like any
                // other attribute value.
                let raw = String::from_utf8_lossy(ns.as_ref()).into_owned();
                Some(
                    quick_xml::escape::unescape(&raw)
                        .map_err(|e| XmlError::Malformed(short(&e.to_string())))?
                        .into_owned(),
                )
            }
            ResolveResult::Unbound => Some(String::new()),
            ResolveResult::Unknown(_) => None,
        };
        match event {
            Event::Start(start) | Event::Empty(start) if root.is_some() => {
                let _ = start;
                return Err(XmlError::TrailingContent);
            }
            Event::Start(start) => {
                count += 1;
                if count > limits.max_elements {
                    return Err(XmlError::TooManyElements);
                }
                if stack.len() >= limits.max_depth {
                    return Err(XmlError::TooDeep);
                }
                let el = element_from(&reader, &start, ns, limits)?;
                stack.push(el);
            }
            Event::Empty(start) => {
                count += 1;
                if count > limits.max_elements {
                    return Err(XmlError::TooManyElements);
                }
                if stack.len() >= limits.max_depth {
                    return Err(XmlError::TooDeep);
                }
                let el = element_from(&reader, &start, ns, limits)?;
                match stack.last_mut() {
                    Some(parent) => parent.push_child(el),
                    None => root = Some(el),
                }
            }
            Event::End(_) => {
                let done = stack.pop().ok_or(XmlError::TrailingContent)?;
                match stack.last_mut() {
                    Some(parent) => parent.push_child(done),
                    None => root = Some(done),
                }
            }
            Event::Text(t) => {
                // XMPP is XML 1.0 (RFC 6120 §11.1): only CR LF and CR are line ends. quick-xml's
                // `xml_content` applies the XML 1.1 rules, which also turn U+0085 and U+2028
                // into LF, so text holding them (as written by `escape`) changed on a re-parse.
                let text = t
                    .xml10_content()
                    .map_err(|e| XmlError::Malformed(short(&e.to_string())))?;
                push_text(&mut stack, &root, &text)?;
            }
            Event::CData(c) => {
                let text = c
                    .decode()
                    .map_err(|e| XmlError::Malformed(short(&e.to_string())))?;
                push_text(&mut stack, &root, &text)?;
            }
            Event::GeneralRef(r) => {
                let resolved = match r.resolve_char_ref() {
                    Ok(Some(c)) => c.to_string(),
                    Ok(None) => {
                        let name = r
                            .decode()
                            .map_err(|e| XmlError::Malformed(short(&e.to_string())))?;
                        predefined_entity(&name)
                            .ok_or_else(|| XmlError::Malformed("unknown entity".into()))?
                            .to_string()
                    }
                    Err(e) => return Err(XmlError::Malformed(short(&e.to_string()))),
                };
                push_text(&mut stack, &root, &resolved)?;
            }
            Event::Comment(_) => {}
            Event::Decl(_) => {
                if root.is_some() || !stack.is_empty() {
                    return Err(XmlError::TrailingContent);
                }
            }
            Event::PI(_) | Event::DocType(_) => return Err(XmlError::Restricted),
            Event::Eof => {
                if !stack.is_empty() {
                    return Err(XmlError::Unclosed);
                }
                return root.ok_or(XmlError::Empty);
            }
        }
    }
}

fn push_text(stack: &mut [Element], root: &Option<Element>, text: &str) -> Result<(), XmlError> {
    match stack.last_mut() {
        Some(parent) => {
            match parent.children.last_mut() {
                Some(Node::Text(prev)) => prev.push_str(text),
                _ => parent.children.push(Node::Text(text.to_string())),
            }
            Ok(())
        }
        None if text.trim().is_empty() => Ok(()),
        None if root.is_some() => Err(XmlError::TrailingContent),
        None => Err(XmlError::Malformed("text outside an element".into())),
    }
}

fn element_from(
    reader: &NsReader<&[u8]>,
    start: &BytesStart<'_>,
    ns: Option<String>,
    limits: &XmlLimits,
) -> Result<Element, XmlError> {
    let ns = ns.ok_or(XmlError::UnboundPrefix)?;
    let local = start.local_name();
    let name = std::str::from_utf8(local.as_ref())
        .map_err(|_| XmlError::Malformed("element name not UTF-8".into()))?
        .to_string();
    if !is_xml_name(&name) || name.contains(':') {
        return Err(XmlError::Malformed("bad element name".into()));
    }
    let mut el = Element::new(name, ns);
    for attr in start.attributes() {
        let attr = attr.map_err(|e| XmlError::Malformed(short(&e.to_string())))?;
        let key = attr.key;
        if key.as_namespace_binding().is_some() {
            continue;
        }
        if el.attrs.len() >= limits.max_attributes {
            return Err(XmlError::TooManyAttributes);
        }
        match reader.resolve_attribute(key) {
            (ResolveResult::Unknown(_), _) => return Err(XmlError::UnboundPrefix),
            // Attributes in a declared namespace other than `xml:` carry nothing XMPP needs here
            // and could not be written back without their declaration: leave them out.
            (ResolveResult::Bound(_), _) if !key.as_ref().starts_with(b"xml:") => continue,
            _ => {}
        }
        let key = std::str::from_utf8(key.as_ref())
            .map_err(|_| XmlError::Malformed("attribute name not UTF-8".into()))?
            .to_string();
        if !is_xml_name(&key) {
            return Err(XmlError::Malformed("bad attribute name".into()));
        }
        let value = attr
            .unescape_value()
            .map_err(|e| XmlError::Malformed(short(&e.to_string())))?
            .into_owned();
        if el.attr(&key).is_some() {
            return Err(XmlError::Malformed("duplicate attribute".into()));
        }
        el.attrs.push((key, value));
    }
    Ok(el)
}

/// Whether `s` matches the XML 1.0 `Name` production (quick-xml does not check names, and an
/// empty or odd name would not be written back as the same element).
fn is_xml_name(s: &str) -> bool {
    fn start_char(c: char) -> bool {
        matches!(c,
            ':' | 'A'..='Z' | '_' | 'a'..='z' | '\u{C0}'..='\u{D6}' | '\u{D8}'..='\u{F6}'
            | '\u{F8}'..='\u{2FF}' | '\u{370}'..='\u{37D}' | '\u{37F}'..='\u{1FFF}'
            | '\u{200C}'..='\u{200D}' | '\u{2070}'..='\u{218F}' | '\u{2C00}'..='\u{2FEF}'
            | '\u{3001}'..='\u{D7FF}' | '\u{F900}'..='\u{FDCF}' | '\u{FDF0}'..='\u{FFFD}'
            | '\u{10000}'..='\u{EFFFF}')
    }
    fn name_char(c: char) -> bool {
        start_char(c)
            || matches!(c, '-' | '.' | '0'..='9' | '\u{B7}' | '\u{300}'..='\u{36F}' | '\u{203F}'..='\u{2040}')
    }
    let mut chars = s.chars();
    chars.next().is_some_and(start_char) && chars.all(name_char)
}

fn predefined_entity(name: &str) -> Option<&'static str> {
    Some(match name {
        "lt" => "<",
        "gt" => ">",
        "amp" => "&",
        "apos" => "'",
        "quot" => "\"",
        _ => return None,
    })
}

/// Keeps parser messages short so a hostile frame cannot blow up an error string.
fn short(s: &str) -> String {
    s.chars().take(120).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> Result<Element, XmlError> {
        parse(s, &XmlLimits::default())
    }

    #[test]
    fn parses_namespaces_prefixes_and_text() {
        let el = p(r#"<stream:features xmlns:stream="http://etherx.jabber.org/streams"><mechanisms xmlns="urn:ietf:params:xml:ns:xmpp-sasl"><mechanism>PLAIN</mechanism><mechanism>ANONYMOUS</mechanism></mechanisms></stream:features>"#).unwrap();
        assert!(el.is("features", "http://etherx.jabber.org/streams"));
        let mechs = el
            .child("mechanisms", "urn:ietf:params:xml:ns:xmpp-sasl")
            .unwrap();
        let names: Vec<String> = mechs.elements().map(|m| m.text()).collect();
        assert_eq!(names, ["PLAIN", "ANONYMOUS"]);
        assert_eq!(
            mechs.elements().next().unwrap().ns,
            "urn:ietf:params:xml:ns:xmpp-sasl"
        );
    }

    #[test]
    fn resolves_entities_and_attributes() {
        let el = p(r#"<message xmlns="jabber:client" to="a&amp;b" xml:lang="en"><body>1 &lt; 2 &#x263A; &#65;</body></message>"#).unwrap();
        assert_eq!(el.attr("to"), Some("a&b"));
        assert_eq!(el.attr("xml:lang"), Some("en"));
        assert_eq!(
            el.child("body", "jabber:client").unwrap().text(),
            "1 < 2 ☺ A"
        );
    }

    #[test]
    fn serializes_and_round_trips() {
        let el = Element::new("iq", "jabber:client")
            .with_attr("type", "set")
            .with_attr("id", "a\"<&>")
            .with_child(
                Element::new("bind", "urn:ietf:params:xml:ns:xmpp-bind").with_child(
                    Element::new("resource", "urn:ietf:params:xml:ns:xmpp-bind").with_text("r<1>"),
                ),
            );
        let xml = el.to_xml();
        assert!(
            xml.starts_with(r#"<iq xmlns="jabber:client" type="set""#),
            "{xml}"
        );
        assert_eq!(p(&xml).unwrap(), el);
    }

    #[test]
    fn rejects_bad_frames() {
        assert_eq!(p(""), Err(XmlError::Empty));
        assert_eq!(p("   "), Err(XmlError::Empty));
        assert_eq!(p("<a/><b/>"), Err(XmlError::TrailingContent));
        assert_eq!(p("<a/>junk"), Err(XmlError::TrailingContent));
        assert!(p("<a><b></a>").is_err());
        assert_eq!(p("<a><b/>"), Err(XmlError::Unclosed));
        assert_eq!(p("<x:a/>"), Err(XmlError::UnboundPrefix));
        assert_eq!(p(r#"<a x:y="1"/>"#), Err(XmlError::UnboundPrefix));
        assert_eq!(
            p("<!DOCTYPE a [<!ENTITY e \"x\">]><a>&e;</a>"),
            Err(XmlError::Restricted)
        );
        assert_eq!(p("<?pi x?><a/>"), Err(XmlError::Restricted));
        assert!(p("<a>&unknown;</a>").is_err());
        assert!(p(r#"<a b="1" b="2"/>"#).is_err());
    }

    /// Fuzz finding (fuzz/regressions/xml/empty_element_name): quick-xml reads `<\n/>` as an
    /// element with an empty name, which serializes to `</>` and does not parse again.
    #[test]
    fn rejects_names_that_are_not_xml_names() {
        for bad in [
            "<\n\n\n/>",
            "< xmlns=\"urn:x\"/>",
            "<a>< b=\"1\"/></a>",
            "<1a/>",
            "<-a/>",
            "<a\u{1}/>",
        ] {
            assert!(
                matches!(p(bad), Err(XmlError::Malformed(_))),
                "{bad:?} gave {:?}",
                p(bad)
            );
        }
        let ok = p("<\u{e9}l\u{e9}ment_1.a-b xml:lang=\"en\" a\u{b7}1=\"x\" _b=\"y\"/>").unwrap();
        assert_eq!(ok.name, "\u{e9}l\u{e9}ment_1.a-b");
        assert_eq!(p(&ok.to_xml()), Ok(ok));
    }

    /// Fuzz finding (fuzz/regressions/xml/nel_in_text_became_lf): text holding U+0085 (NEL)
    /// or U+2028 was read with XML 1.1 line-end rules, so after serializing it came back as LF.
    #[test]
    fn xml_1_0_line_ends_only() {
        let el = p("<a>1&#x85;2\u{85}3&#x2028;4\u{2028}5\r\n6\r7</a>").unwrap();
        assert_eq!(el.text(), "1\u{85}2\u{85}3\u{2028}4\u{2028}5\n6\n7");
        assert_eq!(p(&el.to_xml()), Ok(el));
    }

    #[test]
    fn enforces_limits() {
        let deep = "<a>".repeat(40) + &"</a>".repeat(40);
        assert_eq!(p(&deep), Err(XmlError::TooDeep));
        let many = format!("<a>{}</a>", "<b/>".repeat(5000));
        assert_eq!(p(&many), Err(XmlError::TooManyElements));
        let attrs: String = (0..70).map(|i| format!(" a{i}=\"1\"")).collect();
        assert_eq!(p(&format!("<a{attrs}/>")), Err(XmlError::TooManyAttributes));
        let big = format!("<a>{}</a>", "x".repeat(MAX_FRAME_BYTES));
        assert_eq!(p(&big), Err(XmlError::TooLarge));
    }

    #[test]
    fn every_truncation_of_a_stanza_is_rejected() {
        let full = r#"<iq xmlns="jabber:client" type="result" id="d1"><services xmlns="urn:xmpp:extdisco:1"><service type="turn" host="turn1.example.net" port="3478"/></services></iq>"#;
        assert!(p(full).is_ok());
        for cut in 0..full.len() {
            assert!(p(&full[..cut]).is_err(), "prefix {cut} accepted");
        }
    }

    proptest::proptest! {
        #[test]
        fn never_panics(s in "\\PC{0,200}") {
            let _ = p(&s);
        }

        #[test]
        fn never_panics_on_xmlish(s in "[<>/=\"a-c: &;#x0-9]{0,120}") {
            let _ = p(&s);
        }
    }
}
