"""Dominant-share-first allocation of whole agents: plain Python, no bindings, unit-tested natively.

Each round, every active agent with free resources (as much as `min_allocatable` asks) is
offered whole to the framework-role pair with the lowest dominant share among those that may
take it: the framework is active, the role is not suppressed, and no decline filter covers the
agent. Revocable slots go only to frameworks with the revocable-resources capability. The host
checks every offer (known ids, within the agent's free resources, never twice), so this file
keeps exactly the books the host keeps: offers and `used` count as held until
`recover_resources` gives them back.
"""

import bisect

EPSILON = 1e-6


class Policy:
    def __init__(self):
        self.kinds = []  # (name, revocable) per slot
        self.min_allocatable = []
        self.excluded = set()
        self.roles = {}  # role id -> name
        self.frameworks = {}  # id -> {"roles", "revocable", "active", "suppressed", "used"}
        self.agents = {}  # id -> {"total", "allocated", "active"}
        self.total = []  # the cluster's total, per slot
        self.held = {}  # (agent, framework, role) -> amounts
        self.filters = {}  # (framework, role, agent) -> expiry (ms)
        self.paused = False

    def initialize(self, kinds, min_allocatable, excluded):
        self.kinds = list(kinds)
        self.total = self.zeros()
        self.min_allocatable = [list(m) for m in min_allocatable]
        self.excluded = set(excluded)

    def zeros(self):
        return [0.0] * len(self.kinds)

    def add_framework(self, fid, roles, revocable, active, suppressed, used):
        self.remove_framework(fid)
        self.frameworks[fid] = {"roles": list(roles), "revocable": revocable, "active": active,
                                "suppressed": set(suppressed), "used": self.zeros()}
        for agent, role, amounts in used:
            if agent in self.agents:
                self.hold(agent, fid, role, amounts)

    def remove_framework(self, fid):
        for key in [k for k in self.held if k[1] == fid]:
            self.release(key, self.held[key])
        self.frameworks.pop(fid, None)
        for key in [k for k in self.filters if k[0] == fid]:
            del self.filters[key]

    def update_framework(self, fid, roles, revocable, suppressed):
        f = self.frameworks.get(fid)
        if f is not None:
            f["roles"], f["revocable"], f["suppressed"] = list(roles), revocable, set(suppressed)

    def set_active(self, fid, active):
        f = self.frameworks.get(fid)
        if f is not None:
            f["active"] = active
            if not active:  # as in Mesos, a deactivated framework's filters go
                for key in [k for k in self.filters if k[0] == fid]:
                    del self.filters[key]

    def add_agent(self, aid, total, used):
        self.remove_agent(aid)
        self.agents[aid] = {"total": list(total), "allocated": self.zeros(), "active": True}
        self.add_total(total, 1)
        for fid, role, amounts in used:
            self.hold(aid, fid, role, amounts)

    def remove_agent(self, aid):
        agent = self.agents.get(aid)
        if agent is None:
            return
        for key in [k for k in self.held if k[0] == aid]:
            self.release(key, self.held[key])
        self.add_total(agent["total"], -1)
        del self.agents[aid]
        for key in [k for k in self.filters if k[2] == aid]:
            del self.filters[key]

    def set_agent_active(self, aid, active):
        if aid in self.agents:
            self.agents[aid]["active"] = active

    def update_agent(self, aid, total):
        agent = self.agents.get(aid)
        if agent is not None:
            self.add_total(agent["total"], -1)
            agent["total"] = list(total)
            self.add_total(total, 1)

    def add_total(self, amounts, sign):
        for i, v in enumerate(amounts):
            self.total[i] += sign * v

    def hold(self, aid, fid, role, amounts):
        held = self.held.setdefault((aid, fid, role), self.zeros())
        allocated = self.agents[aid]["allocated"]
        used = self.frameworks[fid]["used"] if fid in self.frameworks else None
        for i, v in enumerate(amounts):
            held[i] += v
            allocated[i] += v
            if used is not None:
                used[i] += v

    def release(self, key, amounts):
        """Takes `amounts` (at most what is held) off the books of `key`."""
        aid, fid, _ = key
        held = self.held[key]
        allocated = self.agents[aid]["allocated"]
        used = self.frameworks[fid]["used"] if fid in self.frameworks else None
        for i, v in enumerate(amounts):
            v = min(v, held[i])
            held[i] -= v
            allocated[i] -= v
            if used is not None:
                used[i] -= v
        if all(v <= EPSILON for v in held):
            del self.held[key]

    def recover(self, fid, aid, role, amounts, refuse_seconds, now_ms):
        if (aid, fid, role) in self.held:
            self.release((aid, fid, role), amounts)
        if refuse_seconds and refuse_seconds > 0 and fid in self.frameworks and aid in self.agents:
            self.filters[(fid, role, aid)] = now_ms + int(refuse_seconds * 1000)

    def suppress(self, fid, roles):
        f = self.frameworks.get(fid)
        if f is not None:
            f["suppressed"].update(roles or f["roles"])

    def revive(self, fid, roles):
        f = self.frameworks.get(fid)
        if f is None:
            return
        roles = set(roles or f["roles"])
        f["suppressed"] -= roles
        for key in [k for k in self.filters if k[0] == fid and k[1] in roles]:
            del self.filters[key]

    def allocatable(self, amounts):
        if not self.min_allocatable:
            return any(v > EPSILON for v in amounts)
        return any(all(amounts[i] + EPSILON >= m for i, m in enumerate(entry))
                   for entry in self.min_allocatable)

    def share(self, fid):
        """The framework's dominant share of the cluster's total."""
        used = self.frameworks[fid]["used"]
        return max([used[i] / t for i, t in enumerate(self.total)
                    if t > 0 and i not in self.excluded] or [0.0])

    def allocate(self, now_ms):
        """The round's offers as (framework, role, agent, amounts)."""
        if self.paused:
            return []
        self.filters = {k: t for k, t in self.filters.items() if t > now_ms}
        # (share, framework, role) of every pair that may get offers, lowest share first
        order = sorted((self.share(fid), fid, role)
                       for fid, f in self.frameworks.items() if f["active"]
                       for role in f["roles"] if role not in f["suppressed"])
        offers = []
        for aid in sorted(self.agents):
            agent = self.agents[aid]
            if not agent["active"]:
                continue
            free = [t - a if t - a > EPSILON else 0.0
                    for t, a in zip(agent["total"], agent["allocated"])]
            for n, (_, fid, role) in enumerate(order):
                if (fid, role, aid) in self.filters:
                    continue
                amounts = [0.0 if self.kinds[i][1] and not self.frameworks[fid]["revocable"]
                           else v for i, v in enumerate(free)]
                if not self.allocatable(amounts):
                    continue
                self.hold(aid, fid, role, amounts)
                offers.append((fid, role, aid, amounts))
                # the framework's share grew: its pairs move back in the order
                share = self.share(fid)
                moved = [p for p in order if p[1] == fid]
                order = [p for p in order if p[1] != fid]
                for p in moved:
                    bisect.insort(order, (share, p[1], p[2]))
                break
        return offers
