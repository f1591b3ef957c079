"""`hook-env` in Python: the `agent-hooks` world (meseta:hooks@0.2.0) over `policy.py`.

Every task's environment gets the manifest's parameters as variables, and
`MESETA_FRAMEWORK_ID`, read through the executor's handle. The other hook points keep.
Build: componentize-py -d wit -w agent-hooks componentize app -o hook-env.wasm
"""
from componentize_py_types import Err
from wit_world import exports
from wit_world.imports import types, views

import policy

configured = []


class AgentHooksApi(exports.AgentHooksApi):
    def init(self, parameters):
        global configured
        try:
            configured = policy.variables([(p.key, p.value) for p in parameters])
        except ValueError as e:
            raise Err(str(e))

    def run_task_label_decorator(self, task, executor, framework, agent):
        return None

    def executor_environment_decorator(self, executor):
        framework_id = views.executor_framework_id(executor)
        env = policy.environment(configured, framework_id)
        return views.EnvEdit_Set([types.EnvVar(name=n, value=v) for n, v in env])

    def task_status_decorator(self, framework_id, status):
        return None

    def resources_decorator(self, agent):
        return None

    def attributes_decorator(self, agent):
        return None

    def remove_executor(self, framework, executor):
        pass

    def post_fetch(self, container_id, directory):
        pass
