//! Notification topics over the streaming connection (PROTOCOL.md §4): which topics are
//! subscribed and how, the bulk REST body, and pubsub event parsing.

use std::collections::BTreeSet;

use crate::wire::xml::Element;
use crate::xmpp::ns;

/// Combined topic ids are split in halves while at least this long.
pub const MAX_COMBINED_ID: usize = 200;
/// Most entries in one bulk subscription body.
pub const MAX_BULK_ENTRIES: usize = 1000;
/// Largest JSON payload read from one pubsub event.
pub const MAX_EVENT_JSON: usize = 128 * 1024;

/// How a topic is subscribed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SubscriptionPath {
    /// XMPP pubsub subscribe, right away.
    Immediate,
    /// Part of the REST bulk set (`PUT …/subscriptions`), debounced 100 ms.
    Bulk,
}

/// The topic set of one SDK.
#[derive(Debug, Clone, Default)]
pub struct TopicSet {
    immediate: BTreeSet<String>,
    bulk: BTreeSet<String>,
}

impl TopicSet {
    /// Adds a topic; returns `false` if it was already there.
    pub fn add(&mut self, topic: &str, path: SubscriptionPath) -> bool {
        match path {
            SubscriptionPath::Immediate => self.immediate.insert(topic.to_string()),
            SubscriptionPath::Bulk => self.bulk.insert(topic.to_string()),
        }
    }

    /// Topics subscribed over XMPP.
    pub fn immediate(&self) -> impl Iterator<Item = &str> {
        self.immediate.iter().map(String::as_str)
    }

    /// Whether any topic is subscribed.
    pub fn is_empty(&self) -> bool {
        self.immediate.is_empty() && self.bulk.is_empty()
    }

    /// Whether `topic` is subscribed by either path.
    pub fn contains(&self, topic: &str) -> bool {
        self.immediate.contains(topic) || self.bulk.contains(topic)
    }

    /// The bulk REST body: every topic (bulk and immediate), same-prefix topics combined as
    /// `prefix?a&b`, split in halves while the id is at least 200 characters, at most 1000
    /// entries.
    pub fn bulk_body(&self) -> serde_json::Value {
        let all: BTreeSet<&str> = self
            .bulk
            .iter()
            .chain(self.immediate.iter())
            .map(String::as_str)
            .collect();
        let mut groups: Vec<(&str, Vec<&str>)> = Vec::new();
        for topic in all {
            let (prefix, suffix) = topic.rsplit_once('.').unwrap_or(("", topic));
            match groups.iter_mut().find(|(p, _)| *p == prefix) {
                Some((_, list)) => list.push(suffix),
                None => groups.push((prefix, vec![suffix])),
            }
        }
        let mut ids = Vec::new();
        for (prefix, suffixes) in groups {
            combine(prefix, &suffixes, &mut ids);
        }
        ids.truncate(MAX_BULK_ENTRIES);
        serde_json::Value::Array(
            ids.into_iter()
                .map(|id| serde_json::json!({ "id": id }))
                .collect(),
        )
    }
}

fn combine(prefix: &str, suffixes: &[&str], out: &mut Vec<String>) {
    if prefix.is_empty() {
        out.extend(suffixes.iter().map(|s| s.to_string()));
        return;
    }
    if let [only] = suffixes {
        out.push(format!("{prefix}.{only}"));
        return;
    }
    let id = format!("{prefix}?{}", suffixes.join("&"));
    if id.len() >= MAX_COMBINED_ID && suffixes.len() > 1 {
        let (a, b) = suffixes.split_at(suffixes.len() / 2);
        combine(prefix, a, out);
        combine(prefix, b, out);
    } else {
        out.push(id);
    }
}

/// One pubsub notification.
#[derive(Debug, Clone, PartialEq)]
pub struct PubsubEvent {
    /// The node (topic) name.
    pub node: String,
    /// The whole JSON document of the first item, if it had one.
    pub json: Option<serde_json::Value>,
}

/// Reads a pubsub event `<message>`; `None` if the message is not one.
pub fn parse_event(message: &Element) -> Option<PubsubEvent> {
    let items = message
        .child("event", ns::PUBSUB_EVENT)?
        .child("items", ns::PUBSUB_EVENT)?;
    let node = items.attr("node")?.to_string();
    let json = items
        .elements()
        .find(|e| e.name == "item")
        .and_then(|item| item.child("json", ns::JSON))
        .map(|j| j.text())
        .filter(|t| t.len() <= MAX_EVENT_JSON)
        .and_then(|t| serde_json::from_str(&t).ok());
    Some(PubsubEvent { node, json })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::xml::{parse, XmlLimits};

    #[test]
    fn bulk_body_combines_prefixes() {
        let mut t = TopicSet::default();
        t.add("v2.users.u1.conversations", SubscriptionPath::Immediate);
        t.add("v2.users.u1.station", SubscriptionPath::Bulk);
        t.add("v2.conversations.c9.media", SubscriptionPath::Bulk);
        assert_eq!(
            t.bulk_body(),
            serde_json::json!([{"id": "v2.conversations.c9.media"}, {"id": "v2.users.u1?conversations&station"}])
        );
    }

    #[test]
    fn long_combined_ids_split() {
        let mut t = TopicSet::default();
        for i in 0..40 {
            t.add(&format!("v2.users.u1.topic{i:03}"), SubscriptionPath::Bulk);
        }
        let body = t.bulk_body();
        let ids: Vec<&str> = body
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v["id"].as_str().unwrap())
            .collect();
        assert!(ids.len() > 1);
        assert!(ids.iter().all(|id| id.len() < MAX_COMBINED_ID));
        let count: usize = ids
            .iter()
            .map(|id| id.split('?').nth(1).unwrap().split('&').count())
            .sum();
        assert_eq!(count, 40);
    }

    #[test]
    fn parses_protocol_event() {
        let m = parse(r#"<message xmlns="jabber:client" from="notifications.mypurecloud.com" to="a@b/c"><event xmlns="http://jabber.org/protocol/pubsub#event"><items node="v2.users.u1.conversations"><item id="i1"><json xmlns="urn:xmpp:json:0">{"topicName":"v2.users.u1.conversations","eventBody":{"id":"c1"},"metadata":{"action":"x"}}</json></item></items></event></message>"#, &XmlLimits::default()).unwrap();
        let e = parse_event(&m).unwrap();
        assert_eq!(e.node, "v2.users.u1.conversations");
        assert_eq!(e.json.unwrap()["eventBody"]["id"], "c1");
    }
}
