"""Dominant-share-first allocation of whole agents: plain Python, no bindings, unit-tested natively.

Each round, every active agent with free resources (as much as `min_allocatable` asks) is
offered whole to the framework-role pair with the lowest dominant share among those that may
take it: the framework is active, the role is not suppressed, and no decline filter covers the
agent. Revocable slots go only to frameworks with the revocable-resources capability. The host
checks every offer (known ids, within the agent's free resources, never twice), so this file
keeps exactly the books the host keeps: offers and `used` count as held until
`recover_resources` gives them back.
"""

EPSILON = 1e-6


class Policy:
    def __init__(self):
        self.kinds = []  # (name, revocable) per slot
        self.min_allocatable = []
        self.excluded = set()
        self.roles = {}  # role id -> name
        self.frameworks = {}  # id -> {"roles", "revocable", "active", "suppressed"}
        self.agents = {}  # id -> {"total", "active"}
        self.held = {}  # (agent, framework, role) -> amounts
        self.filters = {}  # (framework, role, agent) -> expiry (ms)
        self.paused = False

    def initialize(self, kinds, min_allocatable, excluded):
        self.kinds = list(kinds)
        self.min_allocatable = [list(m) for m in min_allocatable]
        self.excluded = set(excluded)

    def zeros(self):
        return [0.0] * len(self.kinds)

    def add_framework(self, fid, roles, revocable, active, suppressed, used):
        self.remove_framework(fid)
        self.frameworks[fid] = {"roles": list(roles), "revocable": revocable,
                                "active": active, "suppressed": set(suppressed)}
        for agent, role, amounts in used:
            if agent in self.agents:
                self.hold(agent, fid, role, amounts)

    def remove_framework(self, fid):
        self.frameworks.pop(fid, None)
        for key in [k for k in self.held if k[1] == fid]:
            del self.held[key]
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
        self.agents[aid] = {"total": list(total), "active": True}
        for fid, role, amounts in used:
            self.hold(aid, fid, role, amounts)

    def remove_agent(self, aid):
        self.agents.pop(aid, None)
        for key in [k for k in self.held if k[0] == aid]:
            del self.held[key]
        for key in [k for k in self.filters if k[2] == aid]:
            del self.filters[key]

    def set_agent_active(self, aid, active):
        if aid in self.agents:
            self.agents[aid]["active"] = active

    def update_agent(self, aid, total):
        if aid in self.agents:
            self.agents[aid]["total"] = list(total)

    def hold(self, aid, fid, role, amounts):
        held = self.held.setdefault((aid, fid, role), self.zeros())
        for i, v in enumerate(amounts):
            held[i] += v

    def recover(self, fid, aid, role, amounts, refuse_seconds, now_ms):
        held = self.held.get((aid, fid, role))
        if held is not None:
            for i, v in enumerate(amounts):
                held[i] = max(0.0, held[i] - v)
            if all(v <= EPSILON for v in held):
                del self.held[(aid, fid, role)]
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

    def free(self, aid):
        free = list(self.agents[aid]["total"])
        for (a, _, _), held in self.held.items():
            if a == aid:
                for i, v in enumerate(held):
                    free[i] -= v
        return [v if v > EPSILON else 0.0 for v in free]

    def allocatable(self, amounts):
        if not self.min_allocatable:
            return any(v > EPSILON for v in amounts)
        return any(all(amounts[i] + EPSILON >= m for i, m in enumerate(entry))
                   for entry in self.min_allocatable)

    def shares(self):
        """Each framework's dominant share of the cluster's total."""
        total = self.zeros()
        for agent in self.agents.values():
            for i, v in enumerate(agent["total"]):
                total[i] += v
        used = {}
        for (_, fid, _), held in self.held.items():
            acc = used.setdefault(fid, self.zeros())
            for i, v in enumerate(held):
                acc[i] += v
        shares = {}
        for fid in self.frameworks:
            acc = used.get(fid, self.zeros())
            shares[fid] = max([acc[i] / total[i] for i in range(len(total))
                               if total[i] > 0 and i not in self.excluded] or [0.0])
        return shares

    def allocate(self, now_ms):
        """The round's offers as (framework, role, agent, amounts)."""
        if self.paused:
            return []
        self.filters = {k: t for k, t in self.filters.items() if t > now_ms}
        shares = self.shares()
        offers = []
        for aid in sorted(self.agents):
            if not self.agents[aid]["active"]:
                continue
            free = self.free(aid)
            candidates = sorted(
                (shares[fid], fid, role)
                for fid, f in self.frameworks.items() if f["active"]
                for role in f["roles"]
                if role not in f["suppressed"] and (fid, role, aid) not in self.filters)
            for _, fid, role in candidates:
                amounts = [0.0 if self.kinds[i][1] and not self.frameworks[fid]["revocable"]
                           else v for i, v in enumerate(free)]
                if not self.allocatable(amounts):
                    continue
                self.hold(aid, fid, role, amounts)
                offers.append((fid, role, aid, amounts))
                shares = self.shares()
                break
        return offers
