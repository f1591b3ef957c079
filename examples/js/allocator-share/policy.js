// Dominant-share-first allocation of whole agents: plain JavaScript, no bindings, unit-tested
// with `node --test`. The same policy as examples/python/allocator-share/policy.py.
//
// Each round, every active agent with free resources (as much as `minAllocatable` asks) is
// offered whole to the framework-role pair with the lowest dominant share among those that may
// take it: the framework is active, the role is not suppressed, and no decline filter covers the
// agent. Revocable slots go only to frameworks with the revocable-resources capability. The host
// checks every offer (known ids, within the agent's free resources, never twice), so this keeps
// exactly the books the host keeps: offers and `used` count as held until `recover` gives them
// back.

const EPSILON = 1e-6;
const key = (...parts) => parts.join(':');

export class Policy {
  constructor() {
    this.kinds = []; // {name, revocable} per slot
    this.minAllocatable = [];
    this.excluded = new Set();
    this.frameworks = new Map(); // id -> {roles, revocable, active, suppressed: Set}
    this.agents = new Map(); // id -> {total, active}
    this.held = new Map(); // "agent:framework:role" -> {agent, framework, role, amounts}
    this.filters = new Map(); // "framework:role:agent" -> {framework, agent, expires}
    this.paused = false;
  }

  initialize(kinds, minAllocatable, excluded) {
    this.kinds = kinds.map(({ name, revocable }) => ({ name, revocable }));
    this.minAllocatable = minAllocatable.map((m) => Array.from(m));
    this.excluded = new Set(excluded);
  }

  zeros() {
    return new Array(this.kinds.length).fill(0);
  }

  addFramework(id, roles, revocable, active, suppressed, used) {
    this.removeFramework(id);
    this.frameworks.set(id, { roles: Array.from(roles), revocable, active, suppressed: new Set(suppressed) });
    for (const { agent, role, amounts } of used) {
      if (this.agents.has(agent)) this.hold(agent, id, role, amounts);
    }
  }

  removeFramework(id) {
    this.frameworks.delete(id);
    for (const [k, h] of this.held) if (h.framework === id) this.held.delete(k);
    for (const [k, f] of this.filters) if (f.framework === id) this.filters.delete(k);
  }

  updateFramework(id, roles, revocable, suppressed) {
    const f = this.frameworks.get(id);
    if (f) Object.assign(f, { roles: Array.from(roles), revocable, suppressed: new Set(suppressed) });
  }

  setActive(id, active) {
    const f = this.frameworks.get(id);
    if (!f) return;
    f.active = active;
    // as in Mesos, a deactivated framework's filters go
    if (!active) for (const [k, x] of this.filters) if (x.framework === id) this.filters.delete(k);
  }

  addAgent(id, total, used) {
    this.removeAgent(id);
    this.agents.set(id, { total: Array.from(total), active: true });
    for (const { framework, role, amounts } of used) this.hold(id, framework, role, amounts);
  }

  removeAgent(id) {
    this.agents.delete(id);
    for (const [k, h] of this.held) if (h.agent === id) this.held.delete(k);
    for (const [k, f] of this.filters) if (f.agent === id) this.filters.delete(k);
  }

  setAgentActive(id, active) {
    const a = this.agents.get(id);
    if (a) a.active = active;
  }

  updateAgent(id, total) {
    const a = this.agents.get(id);
    if (a) a.total = Array.from(total);
  }

  hold(agent, framework, role, amounts) {
    const k = key(agent, framework, role);
    let h = this.held.get(k);
    if (!h) this.held.set(k, (h = { agent, framework, role, amounts: this.zeros() }));
    amounts.forEach((v, i) => { h.amounts[i] += v; });
  }

  recover(framework, agent, role, amounts, refuseSeconds, nowMs) {
    const k = key(agent, framework, role);
    const h = this.held.get(k);
    if (h) {
      amounts.forEach((v, i) => { h.amounts[i] = Math.max(0, h.amounts[i] - v); });
      if (h.amounts.every((v) => v <= EPSILON)) this.held.delete(k);
    }
    if (refuseSeconds > 0 && this.frameworks.has(framework) && this.agents.has(agent)) {
      this.filters.set(key(framework, role, agent), { framework, role, agent, expires: nowMs + refuseSeconds * 1000 });
    }
  }

  suppress(id, roles) {
    const f = this.frameworks.get(id);
    if (f) for (const r of roles.length ? roles : f.roles) f.suppressed.add(r);
  }

  revive(id, roles) {
    const f = this.frameworks.get(id);
    if (!f) return;
    const revived = new Set(roles.length ? roles : f.roles);
    for (const r of revived) f.suppressed.delete(r);
    for (const [k, x] of this.filters) if (x.framework === id && revived.has(x.role)) this.filters.delete(k);
  }

  free(id) {
    const free = Array.from(this.agents.get(id).total);
    for (const h of this.held.values()) {
      if (h.agent === id) h.amounts.forEach((v, i) => { free[i] -= v; });
    }
    return free.map((v) => (v > EPSILON ? v : 0));
  }

  allocatable(amounts) {
    if (this.minAllocatable.length === 0) return amounts.some((v) => v > EPSILON);
    return this.minAllocatable.some((entry) => entry.every((m, i) => amounts[i] + EPSILON >= m));
  }

  /** Each framework's dominant share of the cluster's total. */
  shares() {
    const total = this.zeros();
    for (const a of this.agents.values()) a.total.forEach((v, i) => { total[i] += v; });
    const used = new Map();
    for (const h of this.held.values()) {
      if (!used.has(h.framework)) used.set(h.framework, this.zeros());
      const acc = used.get(h.framework);
      h.amounts.forEach((v, i) => { acc[i] += v; });
    }
    const shares = new Map();
    for (const id of this.frameworks.keys()) {
      const acc = used.get(id) ?? this.zeros();
      let share = 0;
      total.forEach((t, i) => { if (t > 0 && !this.excluded.has(i)) share = Math.max(share, acc[i] / t); });
      shares.set(id, share);
    }
    return shares;
  }

  /** The round's offers as {framework, role, agent, amounts}. */
  allocate(nowMs) {
    if (this.paused) return [];
    for (const [k, f] of this.filters) if (f.expires <= nowMs) this.filters.delete(k);
    let shares = this.shares();
    const offers = [];
    for (const agent of [...this.agents.keys()].sort((a, b) => a - b)) {
      if (!this.agents.get(agent).active) continue;
      const free = this.free(agent);
      const candidates = [];
      for (const [framework, f] of this.frameworks) {
        if (!f.active) continue;
        for (const role of f.roles) {
          if (!f.suppressed.has(role) && !this.filters.has(key(framework, role, agent))) {
            candidates.push({ share: shares.get(framework), framework, role });
          }
        }
      }
      candidates.sort((a, b) => a.share - b.share || a.framework - b.framework || a.role - b.role);
      for (const { framework, role } of candidates) {
        const revocable = this.frameworks.get(framework).revocable;
        const amounts = free.map((v, i) => (this.kinds[i].revocable && !revocable ? 0 : v));
        if (!this.allocatable(amounts)) continue;
        this.hold(agent, framework, role, amounts);
        offers.push({ framework, role, agent, amounts });
        shares = this.shares();
        break;
      }
    }
    return offers;
  }
}
