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
    this.frameworks = new Map(); // id -> {roles, revocable, active, suppressed: Set, used}
    this.agents = new Map(); // id -> {total, allocated, active}
    this.total = []; // the cluster's total, per slot
    this.held = new Map(); // "agent:framework:role" -> {agent, framework, role, amounts}
    this.filters = new Map(); // "framework:role:agent" -> {framework, role, agent, expires}
    this.paused = false;
  }

  initialize(kinds, minAllocatable, excluded) {
    this.kinds = kinds.map(({ name, revocable }) => ({ name, revocable }));
    this.total = this.zeros();
    this.minAllocatable = minAllocatable.map((m) => Array.from(m));
    this.excluded = new Set(excluded);
  }

  zeros() {
    return new Array(this.kinds.length).fill(0);
  }

  addFramework(id, roles, revocable, active, suppressed, used) {
    this.removeFramework(id);
    this.frameworks.set(id, {
      roles: Array.from(roles), revocable, active, suppressed: new Set(suppressed), used: this.zeros(),
    });
    for (const { agent, role, amounts } of used) {
      if (this.agents.has(agent)) this.hold(agent, id, role, amounts);
    }
  }

  removeFramework(id) {
    for (const [k, h] of this.held) if (h.framework === id) this.release(k, h.amounts);
    this.frameworks.delete(id);
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
    this.agents.set(id, { total: Array.from(total), allocated: this.zeros(), active: true });
    this.addTotal(total, 1);
    for (const { framework, role, amounts } of used) this.hold(id, framework, role, amounts);
  }

  removeAgent(id) {
    const agent = this.agents.get(id);
    if (!agent) return;
    for (const [k, h] of this.held) if (h.agent === id) this.release(k, h.amounts);
    this.addTotal(agent.total, -1);
    this.agents.delete(id);
    for (const [k, f] of this.filters) if (f.agent === id) this.filters.delete(k);
  }

  setAgentActive(id, active) {
    const a = this.agents.get(id);
    if (a) a.active = active;
  }

  updateAgent(id, total) {
    const a = this.agents.get(id);
    if (!a) return;
    this.addTotal(a.total, -1);
    a.total = Array.from(total);
    this.addTotal(a.total, 1);
  }

  addTotal(amounts, sign) {
    amounts.forEach((v, i) => { this.total[i] += sign * v; });
  }

  hold(agent, framework, role, amounts) {
    const k = key(agent, framework, role);
    let h = this.held.get(k);
    if (!h) this.held.set(k, (h = { agent, framework, role, amounts: this.zeros() }));
    const allocated = this.agents.get(agent).allocated;
    const used = this.frameworks.get(framework)?.used;
    amounts.forEach((v, i) => {
      h.amounts[i] += v;
      allocated[i] += v;
      if (used) used[i] += v;
    });
  }

  /** Takes `amounts` (at most what is held) off the books of held entry `k`. */
  release(k, amounts) {
    const h = this.held.get(k);
    const allocated = this.agents.get(h.agent).allocated;
    const used = this.frameworks.get(h.framework)?.used;
    Array.from(amounts).forEach((v, i) => {
      const taken = Math.min(v, h.amounts[i]);
      h.amounts[i] -= taken;
      allocated[i] -= taken;
      if (used) used[i] -= taken;
    });
    if (h.amounts.every((v) => v <= EPSILON)) this.held.delete(k);
  }

  recover(framework, agent, role, amounts, refuseSeconds, nowMs) {
    const k = key(agent, framework, role);
    if (this.held.has(k)) this.release(k, amounts);
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

  allocatable(amounts) {
    if (this.minAllocatable.length === 0) return amounts.some((v) => v > EPSILON);
    return this.minAllocatable.some((entry) => entry.every((m, i) => amounts[i] + EPSILON >= m));
  }

  /** The framework's dominant share of the cluster's total. */
  share(id) {
    const used = this.frameworks.get(id).used;
    let share = 0;
    this.total.forEach((t, i) => { if (t > 0 && !this.excluded.has(i)) share = Math.max(share, used[i] / t); });
    return share;
  }

  /** The round's offers as {framework, role, agent, amounts}. */
  allocate(nowMs) {
    if (this.paused) return [];
    for (const [k, f] of this.filters) if (f.expires <= nowMs) this.filters.delete(k);
    const byShare = (a, b) => a.share - b.share || a.framework - b.framework || a.role - b.role;
    // every pair that may get offers, lowest share first
    let order = [];
    for (const [framework, f] of this.frameworks) {
      if (!f.active) continue;
      for (const role of f.roles) {
        if (!f.suppressed.has(role)) order.push({ share: this.share(framework), framework, role });
      }
    }
    order.sort(byShare);
    const offers = [];
    for (const agent of [...this.agents.keys()].sort((a, b) => a - b)) {
      const a = this.agents.get(agent);
      if (!a.active) continue;
      const free = a.total.map((t, i) => (t - a.allocated[i] > EPSILON ? t - a.allocated[i] : 0));
      for (const { framework, role } of order) {
        if (this.filters.has(key(framework, role, agent))) continue;
        const revocable = this.frameworks.get(framework).revocable;
        const amounts = free.map((v, i) => (this.kinds[i].revocable && !revocable ? 0 : v));
        if (!this.allocatable(amounts)) continue;
        this.hold(agent, framework, role, amounts);
        offers.push({ framework, role, agent, amounts });
        // the framework's share grew: its pairs move back in the order (no full sort: an
        // interpreter pays for every comparison)
        const share = this.share(framework);
        const moved = order.filter((p) => p.framework === framework);
        order = order.filter((p) => p.framework !== framework);
        for (const p of moved) {
          p.share = share;
          const at = order.findIndex((q) => byShare(p, q) < 0);
          order.splice(at < 0 ? order.length : at, 0, p);
        }
        break;
      }
    }
    return offers;
  }
}
