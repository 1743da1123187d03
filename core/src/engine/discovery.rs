//! XEP-0215 discovery rounds on the live socket (PROTOCOL.md §5.4): the blocking one inside each
//! connection attempt, the post-connect refresh (3 tries) and the 6-hourly refresh.

use std::time::Instant;

use super::connection::DISCOVERY_TIMEOUT;
use super::Engine;
use crate::options::{IceServer, LogLevel};
use crate::xmpp::extdisco::{self, IceConfig};
use crate::xmpp::stanza::{self, Iq, IqType};

/// One TURN + STUN discovery round.
#[derive(Debug)]
pub(crate) struct Discovery {
    pub(crate) turn_id: String,
    pub(crate) stun_id: String,
    pub(crate) turn: Option<Vec<IceServer>>,
    pub(crate) stun: Option<Vec<IceServer>>,
    pub(crate) deadline: Instant,
}

pub(crate) enum DiscoveryStep {
    NotMine,
    Pending,
    Done(IceConfig),
    Failed(String),
}

impl Discovery {
    pub(crate) fn on_reply(&mut self, iq: &Iq<'_>) -> DiscoveryStep {
        let slot = if iq.id == self.turn_id {
            &mut self.turn
        } else if iq.id == self.stun_id {
            &mut self.stun
        } else {
            return DiscoveryStep::NotMine;
        };
        if iq.kind == IqType::Error {
            return DiscoveryStep::Failed(format!(
                "service discovery refused: {}",
                iq.error_condition().unwrap_or("undefined-condition")
            ));
        }
        *slot = Some(extdisco::parse_services(iq.element));
        match (&self.turn, &self.stun) {
            (Some(t), Some(s)) => DiscoveryStep::Done(extdisco::combine(t.clone(), s.clone())),
            _ => DiscoveryStep::Pending,
        }
    }
}

impl Engine {
    pub(crate) fn start_discovery(&mut self, now: Instant) -> Option<Discovery> {
        let domain = self.socket.as_ref()?.stream.domain().to_string();
        let turn_id = self.uuid();
        let stun_id = self.uuid();
        self.send_element(&stanza::extdisco(&turn_id, &domain, "turn"));
        self.send_element(&stanza::extdisco(&stun_id, &domain, "stun"));
        Some(Discovery {
            turn_id,
            stun_id,
            turn: None,
            stun: None,
            deadline: now + DISCOVERY_TIMEOUT,
        })
    }

    pub(crate) fn start_refresh(&mut self, now: Instant) {
        if self.refresh_tries_left == 0 {
            return;
        }
        self.refresh_tries_left -= 1;
        self.refresh = self.start_discovery(now);
    }

    pub(crate) fn refresh_failed(&mut self, now: Instant, reason: String) {
        self.trace(
            LogLevel::Warn,
            format!("ICE server refresh failed: {reason}"),
        );
        self.start_refresh(now);
    }
}

/// Most ICE server host names remembered.
const MAX_RESOLVED_HOSTS: usize = 32;

impl Engine {
    /// Asks the driver to resolve the discovered servers' host names (the core does no DNS).
    pub(crate) fn resolve_ice_hosts(&mut self) {
        let Some(ice) = self.ice.as_ref() else { return };
        let hosts: Vec<String> = ice
            .servers
            .iter()
            .filter_map(|s| extdisco::url_host_name(&s.url))
            .map(str::to_string)
            .collect();
        for host in hosts {
            if self.resolved_hosts.contains_key(&host)
                || self.resolved_hosts.len() >= MAX_RESOLVED_HOSTS
            {
                continue;
            }
            self.resolved_hosts.insert(host.clone(), None);
            self.transmit(super::Transmit::ResolveHost { host });
        }
    }

    pub(crate) fn on_host_resolved(&mut self, host: String, addrs: Vec<std::net::IpAddr>) {
        if let Some(slot) = self.resolved_hosts.get_mut(&host) {
            tracing::debug!(host = %host, count = addrs.len(), "ICE server resolved");
            *slot = Some(addrs.into_iter().take(4).collect());
        }
    }

    /// The ICE servers with resolved host names replaced by their first address (IPv4 first).
    pub(crate) fn ice_servers_for_media(&self) -> Vec<IceServer> {
        let mut out = Vec::new();
        for s in self.ice.iter().flat_map(|i| i.servers.iter()) {
            match extdisco::url_host_name(&s.url).and_then(|h| self.resolved_hosts.get(h)?.as_ref())
            {
                Some(addrs) => {
                    let Some(ip) = addrs.iter().find(|a| a.is_ipv4()).or(addrs.first()) else {
                        continue;
                    };
                    let Some(url) = extdisco::with_host_ip(&s.url, *ip) else {
                        continue;
                    };
                    let mut s = s.clone();
                    s.url = url;
                    out.push(s);
                }
                None => out.push(s.clone()),
            }
        }
        out
    }
}
