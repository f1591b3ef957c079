//! Offers: the allocator's decisions made concrete, declines, rescinds and offer timeouts.

use std::collections::BTreeMap;
use std::net::SocketAddr;

use meseta_api::common::{AgentID, FrameworkID, Offer, OfferID, Url};
use meseta_api::scheduler::{Event, Offers, Rescind};
use meseta_types::allocation as alloc;

use super::{AllocatorCall, Core, OfferEntry};
use crate::resources::ResourceSet;

impl Core {
    /// Removes an offer and gives its resources back to the allocator (with a decline filter
    /// of `refuse` seconds when given). `rescind` also tells the framework.
    pub(super) fn remove_offer(&mut self, offer_id: &str, refuse: Option<f64>, rescind: bool) {
        let Some(o) = self.offers.remove(offer_id) else {
            return;
        };
        if let Some(f) = self.frameworks.get_mut(&o.framework_id) {
            f.offers.remove(offer_id);
        }
        if rescind {
            self.metrics.offers_rescinded += 1;
            self.send(
                &o.framework_id,
                Event::Rescind(Rescind {
                    offer_id: OfferID::new(offer_id),
                }),
            );
        }
        self.give_back(&o.framework_id, &o.agent_id, &o.role, &o.resources, refuse);
        self.trigger_allocation();
    }

    /// Returns resources held by a framework on an agent to the allocator.
    pub(super) fn give_back(
        &mut self,
        framework_id: &str,
        agent_id: &str,
        role: &str,
        resources: &ResourceSet,
        refuse: Option<f64>,
    ) {
        let q = self.quantities(resources);
        let role_h = self.role_handle(role);
        let Some(agent) = self.agents.get_mut(agent_id) else {
            return;
        };
        agent.allocated.subtract(resources);
        let agent_h = agent.handle;
        if let Some(f) = self.frameworks.get(framework_id) {
            let fh = f.handle;
            let now = self.now_ms();
            self.allocator(AllocatorCall::Recover {
                framework: fh,
                agent: agent_h,
                role: role_h,
                resources: q,
                refuse_seconds: refuse,
                now_ms: now,
            });
        }
    }

    /// The decisions of one allocation round: turned into concrete offers and sent. The round
    /// ran outside the state lock, so a decision may be stale by now (its framework removed or
    /// inactive, its agent gone, the role no longer the framework's, the resources taken):
    /// such amounts go back to the allocator, as in Mesos.
    pub(super) fn allocated(&mut self, decided: Vec<alloc::Offer>) {
        let now = self.now_ms();
        let mut by_framework: BTreeMap<String, Vec<Offer>> = BTreeMap::new();
        for d in decided {
            let role = self
                .roles
                .iter()
                .find(|(_, h)| **h == d.role)
                .map(|(r, _)| r.clone());
            let fid = self.framework_handles.get(&d.framework).cloned();
            let usable = match (&fid, &role) {
                (Some(fid), Some(role)) => self
                    .frameworks
                    .get(fid)
                    .is_some_and(|f| f.active && f.roles.contains(role)),
                _ => false,
            };
            let aid = self.agent_handles.get(&d.agent).cloned();
            let (true, Some(fid), Some(aid), Some(role)) = (usable, fid, aid, role) else {
                self.metrics.stale_decisions += 1;
                self.allocator(AllocatorCall::Recover {
                    framework: d.framework,
                    agent: d.agent,
                    role: d.role,
                    resources: d.resources,
                    refuse_seconds: None,
                    now_ms: now,
                });
                continue;
            };
            let Some(agent) = self.agents.get_mut(&aid) else {
                continue;
            };
            let mut free = agent.total.clone();
            free.subtract(&agent.allocated);
            let resources = self.slots.materialize(&d.resources, &free);
            if resources.is_empty() {
                // Nothing concrete to offer: the allocator gets its amounts back.
                self.metrics.stale_decisions += 1;
                self.metrics.stale_taken += 1;
                self.allocator(AllocatorCall::Recover {
                    framework: d.framework,
                    agent: d.agent,
                    role: d.role,
                    resources: d.resources,
                    refuse_seconds: None,
                    now_ms: now,
                });
                continue;
            }
            agent.allocated.add(&resources);
            let offer_id = format!("{}-O{}", self.master_id, self.next_offer);
            self.next_offer += 1;
            let wire_resources: Vec<_> =
                meseta_api::convert::resources_to_wire(&resources.to_resources())
                    .into_iter()
                    .map(|r| r.allocated_to(&role))
                    .collect();
            let ip = agent
                .endpoint
                .parse::<SocketAddr>()
                .map(|a| a.ip().to_string())
                .unwrap_or_else(|_| agent.info.hostname.clone());
            let unavailability = self.unavailability_of(&aid);
            let Some(agent) = self.agents.get(&aid) else {
                continue;
            };
            let offer = Offer {
                id: OfferID::new(&offer_id),
                framework_id: FrameworkID::new(&fid),
                agent_id: AgentID::new(&aid),
                hostname: agent.info.hostname.clone(),
                url: Some(Url {
                    scheme: "http".into(),
                    address: meseta_api::common::Address {
                        hostname: Some(agent.info.hostname.clone()),
                        ip: Some(ip),
                        port: agent.info.port.unwrap_or(5051),
                    },
                    path: Some("/slave(1)".into()),
                    ..Url::default()
                }),
                resources: wire_resources,
                attributes: agent.info.attributes.clone(),
                executor_ids: Vec::new(),
                allocation_info: Some(meseta_api::common::AllocationInfo {
                    role: Some(role.clone()),
                }),
                unavailability,
            };
            self.offers.insert(
                offer_id.clone(),
                OfferEntry {
                    id: offer_id.clone(),
                    framework_id: fid.clone(),
                    agent_id: aid,
                    role,
                    resources,
                    created: self.clock.instant,
                },
            );
            if let Some(f) = self.frameworks.get_mut(&fid) {
                f.offers.insert(offer_id);
            }
            by_framework.entry(fid).or_default().push(offer);
        }
        for (fid, offers) in by_framework {
            self.send(&fid, Event::Offers(Offers { offers }));
        }
    }

    /// Rescinds offers outstanding for longer than `--offer_timeout`.
    pub(super) fn expire_offers(&mut self) {
        let Some(timeout) = self.settings.offer_timeout else {
            return;
        };
        let now = self.clock.instant;
        let expired: Vec<String> = self
            .offers
            .values()
            .filter(|o| now.saturating_duration_since(o.created) >= timeout)
            .map(|o| o.id.clone())
            .collect();
        for id in expired {
            self.remove_offer(&id, None, true);
        }
    }

    pub(super) fn decline(&mut self, framework_id: &str, offer_ids: &[OfferID], refuse: f64) {
        for id in offer_ids {
            if self
                .offers
                .get(&id.value)
                .is_some_and(|o| o.framework_id == framework_id)
            {
                self.metrics.offers_declined += 1;
                self.remove_offer(&id.value, Some(refuse), false);
            }
        }
    }
}
