"""`hook-labels` in Python: the `master-hooks` world (meseta:hooks@0.2.0) over `policy.py`.

Every launched task gets the manifest's parameters as labels, answered as `set` (only these
labels cross the boundary; the host merges them by key) the first time and `repeat` after.
Build: componentize-py -d wit -w master-hooks componentize app -o hook-labels.wasm
"""
from componentize_py_types import Err
from wit_world import exports
from wit_world.imports import types, views

import policy

configured = []
sent = False


class MasterHooksApi(exports.MasterHooksApi):
    def init(self, parameters):
        global configured
        try:
            configured = policy.labels([(p.key, p.value) for p in parameters])
        except ValueError as e:
            # the `err` of `result<_, string>`: the daemon refuses to start, saying why
            raise Err(str(e))

    def launch_task_label_decorator(self, task, framework, agent):
        global sent
        if not configured:
            return None
        if sent:
            return views.LabelEdit_Repeat()
        sent = True
        return views.LabelEdit_Set([types.Label(key=k, value=v) for k, v in configured])

    def launch_task_resource_decorator(self, task, agent_resources):
        return None

    def agent_lost(self, agent):
        pass
