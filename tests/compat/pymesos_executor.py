#!/usr/bin/env python3
"""Run one task under a custom executor written with pymesos (pymesos_executor_main.py).

    pymesos_executor.py MASTER_URL [--timeout SECONDS] [--verbose]

Run it with the interpreter of the venv made by ci/setup-pymesos.sh: the executor's command
runs pymesos_executor_main.py with that same interpreter (sys.executable), so the agent needs
no pymesos of its own. This framework subscribes with MULTI_ROLE, copies the offered resources'
role and allocation info into its task and executor resources, and leaves acknowledgements to
pymesos (implicit_acknowledgements=True, the default). Checks: SUBSCRIBED; the task with its
ExecutorInfo is launched; the executor's TASK_RUNNING and TASK_FINISHED (with its message and
data, and executor_id filled in by the agent) reach the scheduler; driver.stop() sends TEARDOWN.

Prints `PASS: ...`/`FAIL: ...` per check and `N passed, M failed` last; exits 0 only if all passed.
"""
from __future__ import print_function

import argparse
import logging
import os
import shlex
import sys
import traceback

from pymesos import decode_data

from harness import EPSILON, Fatal, Harness, Timeout, run

EXECUTOR_MAIN = os.path.join(os.path.dirname(os.path.abspath(__file__)),
                             "pymesos_executor_main.py")
EXECUTOR_ID = "pymesos-executor"
TASK_ID = "executor-task"
CPUS = 0.1  # each for the task and for the executor
MEM = 32.0
# What pymesos_executor_main.py sends with TASK_FINISHED.
MESSAGE = "finished by the pymesos executor"
DATA = b"pymesos-executor-data"
TERMINAL = {"TASK_FINISHED", "TASK_FAILED", "TASK_KILLED", "TASK_ERROR", "TASK_LOST",
            "TASK_DROPPED", "TASK_GONE", "TASK_GONE_BY_OPERATOR"}


def largest(offer, name):
    candidates = [r for r in offer.get("resources", []) if r.get("name") == name and "scalar" in r]
    return max(candidates, key=lambda r: r["scalar"]["value"]) if candidates else None


def fits(offer):
    cpus, mem = largest(offer, "cpus"), largest(offer, "mem")
    return (cpus is not None and mem is not None
            and cpus["scalar"]["value"] + EPSILON >= 2 * CPUS
            and mem["scalar"]["value"] + EPSILON >= 2 * MEM)


def like_offered(offer, name, amount):
    """The offered resource (role, allocation info, reservations) with our amount."""
    resource = dict(largest(offer, name))
    resource["scalar"] = {"value": amount}
    return resource


def flow(h):
    h.phase = "SUBSCRIBE"
    framework_id = h.start()
    h.check("SUBSCRIBE -> SUBSCRIBED with a framework id", bool(framework_id), framework_id)

    h.phase = "LAUNCH"
    batch = h.wait("offers", lambda e: e[1] if e[0] == "offers" else None, 20)
    while not any(fits(o) for o in batch):
        h.decline(batch, 1.0)
        batch = h.wait("an offer with %.1f cpus and %d MB" % (2 * CPUS, 2 * MEM),
                       lambda e: e[1] if e[0] == "offers" else None, 20)
    offer = next(o for o in batch if fits(o))
    resources = [like_offered(offer, "cpus", CPUS), like_offered(offer, "mem", MEM)]
    executor = {
        "type": "CUSTOM",
        "executor_id": {"value": EXECUTOR_ID},
        "framework_id": {"value": framework_id},
        "name": "pymesos compat executor",
        "command": {"value": "exec %s %s" % (shlex.quote(sys.executable),
                                             shlex.quote(EXECUTOR_MAIN))},
        "resources": resources,
    }
    task = {
        "task_id": {"value": TASK_ID},
        "agent_id": offer["agent_id"],
        "name": TASK_ID,
        "resources": resources,
        "executor": executor,
    }
    h.spare_refuse_seconds = 30.0
    h.driver.launchTasks([offer["id"]], [task])
    h.decline([o for o in batch if o is not offer], 30.0)
    h.check("task with a custom ExecutorInfo LAUNCHed", True, executor["command"]["value"])

    h.phase = "executor updates"
    seen = []

    def until_terminal(event):
        if event[0] == "update" and event[1]["task_id"]["value"] == TASK_ID:
            seen.append(event[1])
            return event[1]["state"] in TERMINAL
        return False

    try:
        h.wait("the executor's TASK_FINISHED", until_terminal, 45)
    finally:
        states = [s["state"] for s in seen]
        running = [s for s in seen if s["state"] == "TASK_RUNNING"]
        h.check("executor's TASK_RUNNING reaches the scheduler", bool(running),
                " -> ".join(states) or "no update")
        if running:
            h.check("TASK_RUNNING comes from the executor (source SOURCE_EXECUTOR)",
                    running[0].get("source") == "SOURCE_EXECUTOR",
                    "source %s" % running[0].get("source"))
    last = seen[-1]
    h.check("executor's TASK_FINISHED reaches the scheduler", last["state"] == "TASK_FINISHED",
            " ".join(str(last[k]) for k in ("state", "reason", "message") if last.get(k)))
    if last["state"] == "TASK_FINISHED":
        data = decode_data(last["data"]) if last.get("data") else None
        h.check("status message and data pass through",
                last.get("message") == MESSAGE and data == DATA,
                "message %r, data %r" % (last.get("message"), data))
        h.check("agent fills in executor_id and agent_id",
                last.get("executor_id") == {"value": EXECUTOR_ID}
                and last.get("agent_id") == offer["agent_id"],
                "executor_id %s, agent_id %s" % (last.get("executor_id"), last.get("agent_id")))


def main(argv):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("master")
    parser.add_argument("--timeout", type=float, default=90.0)
    parser.add_argument("--verbose", action="store_true")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.WARNING,
                        format="%(asctime)s %(name)s %(levelname)s %(message)s")

    h = Harness(args.master, "meseta-compat-pymesos-executor", args.timeout,
                multi_role=True, acknowledge=False)
    try:
        flow(h)
    except (Timeout, Fatal) as e:
        h.check("flow (%s)" % h.phase, False, str(e))
    except Exception as e:  # noqa: BLE001 - a pymesos call that raised is a failed check
        traceback.print_exc()
        h.check("flow (%s)" % h.phase, False, "%s: %s" % (type(e).__name__, e))

    if h.framework_id:
        teardown = h.stop()
        h.check("driver.stop() sends TEARDOWN, answered 2xx", teardown == "accepted",
                teardown or "TEARDOWN was not sent")
    return h.finish()


if __name__ == "__main__":
    raise SystemExit(run(main))
