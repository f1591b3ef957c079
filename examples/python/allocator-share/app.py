"""`allocator-share`: the `allocator` world (meseta:allocator@0.2.0) in Python, over `policy.py`.

Build: componentize-py -d wit -w allocator componentize app -o allocator-share.wasm
"""
from wit_world import exports
from wit_world.exports import allocator_api as api
from wit_world.imports import host

from policy import Policy

policy = Policy()


def usage(used, first):
    return [(getattr(u, first), u.role, list(u.resources)) for u in used]


class AllocatorApi(exports.AllocatorApi):
    def init(self, parameters):
        for p in parameters:
            host.log(host.Level.INFO, f"ignoring parameter {p.key}")

    def initialize(self, options):
        policy.initialize([(k.name, k.revocable) for k in options.resource_kinds],
                          options.min_allocatable, options.fairness_excluded)

    def add_role(self, role, name):
        policy.roles[role] = name

    def update_weights(self, weights):
        pass

    def update_quota(self, role, guarantees, limits):
        pass

    def add_framework(self, framework, info, used, active, suppressed_roles):
        revocable = bool(info.capabilities & api.Capabilities.REVOCABLE_RESOURCES)
        policy.add_framework(framework, info.roles, revocable, active, suppressed_roles,
                             usage(used, "agent"))

    def remove_framework(self, framework):
        policy.remove_framework(framework)

    def activate_framework(self, framework):
        policy.set_active(framework, True)

    def deactivate_framework(self, framework):
        policy.set_active(framework, False)

    def update_framework(self, framework, info, suppressed_roles):
        revocable = bool(info.capabilities & api.Capabilities.REVOCABLE_RESOURCES)
        policy.update_framework(framework, info.roles, revocable, suppressed_roles)

    def add_agent(self, agent, info, total, used):
        policy.add_agent(agent, total, usage(used, "framework"))

    def remove_agent(self, agent):
        policy.remove_agent(agent)

    def activate_agent(self, agent):
        policy.set_agent_active(agent, True)

    def deactivate_agent(self, agent):
        policy.set_agent_active(agent, False)

    def update_agent(self, agent, total):
        policy.update_agent(agent, total)

    def recover_resources(self, framework, agent, role, resources, refuse_seconds, now_ms):
        policy.recover(framework, agent, role, resources, refuse_seconds, now_ms)

    def suppress(self, framework, roles):
        policy.suppress(framework, roles)

    def revive(self, framework, roles):
        policy.revive(framework, roles)

    def pause(self):
        policy.paused = True

    def resume(self):
        policy.paused = False

    def allocate(self, now_ms):
        out = api.Offers(frameworks=[], roles=[], agents=[], amounts=[])
        for framework, role, agent, amounts in policy.allocate(now_ms):
            out.frameworks.append(framework)
            out.roles.append(role)
            out.agents.append(agent)
            out.amounts.extend(amounts)
        return out
