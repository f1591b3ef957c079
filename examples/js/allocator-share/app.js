// `allocator-share` in JavaScript: the `allocator` world (meseta:allocator@0.2.0) over `policy.js`.
//
// Build: componentize-js app.js --wit wit --world-name allocator --disable http fetch-event -o allocator-share.wasm
// WIT to JavaScript: records are objects with camelCase fields, `u64` is a BigInt, `list<f64>`
// arrives as a Float64Array, `option<T>` is a value or undefined, flags are objects of booleans.
import { log } from 'meseta:modules/host@0.1.0';
import { Policy } from './policy.js';

const policy = new Policy();
const ms = (nowMs) => Number(nowMs);

export const allocatorApi = {
  init(parameters) {
    for (const { key } of parameters) log('info', `ignoring parameter ${key}`);
  },
  initialize(options) {
    policy.initialize(options.resourceKinds, options.minAllocatable, options.fairnessExcluded);
  },
  addRole(role, name) {},
  updateWeights(weights) {},
  updateQuota(role, guarantees, limits) {},
  addFramework(framework, info, used, active, suppressedRoles) {
    policy.addFramework(framework, info.roles, info.capabilities.revocableResources, active, suppressedRoles,
      used.map((u) => ({ agent: u.agent, role: u.role, amounts: u.resources })));
  },
  removeFramework(framework) { policy.removeFramework(framework); },
  activateFramework(framework) { policy.setActive(framework, true); },
  deactivateFramework(framework) { policy.setActive(framework, false); },
  updateFramework(framework, info, suppressedRoles) {
    policy.updateFramework(framework, info.roles, info.capabilities.revocableResources, suppressedRoles);
  },
  addAgent(agent, info, total, used) {
    policy.addAgent(agent, total, used.map((u) => ({ framework: u.framework, role: u.role, amounts: u.resources })));
  },
  removeAgent(agent) { policy.removeAgent(agent); },
  activateAgent(agent) { policy.setAgentActive(agent, true); },
  deactivateAgent(agent) { policy.setAgentActive(agent, false); },
  updateAgent(agent, total) { policy.updateAgent(agent, total); },
  recoverResources(framework, agent, role, resources, refuseSeconds, nowMs) {
    policy.recover(framework, agent, role, resources, refuseSeconds ?? 0, ms(nowMs));
  },
  suppress(framework, roles) { policy.suppress(framework, roles); },
  revive(framework, roles) { policy.revive(framework, roles); },
  pause() { policy.paused = true; },
  resume() { policy.paused = false; },
  allocate(nowMs) {
    const out = { frameworks: [], roles: [], agents: [], amounts: [] };
    for (const { framework, role, agent, amounts } of policy.allocate(ms(nowMs))) {
      out.frameworks.push(framework);
      out.roles.push(role);
      out.agents.push(agent);
      out.amounts.push(...amounts);
    }
    return out;
  },
};
