#!/usr/bin/env python3
"""A checkpointing pymesos framework across a SIGKILL of its agent and of its master.

    pymesos_failover.py MASTER_URL --go-file PATH [--timeout SECONDS]

Subscribes with `checkpoint: true` and a failover timeout, launches two command tasks that
sleep, and once both are RUNNING prints `READY` and waits for PATH to exist: meanwhile the test
(tests/tests/compat_pymesos.rs) SIGKILLs the agent and restarts it, then SIGKILLs the master
and restarts it, on the same work dirs. Checks: pymesos re-subscribes under the same framework
id; both tasks end TASK_FINISHED, each exactly once; nothing ends otherwise.

Prints `PASS: ...`/`FAIL: ...` per check and `N passed, M failed` last; exits 0 only if all passed.
"""
from __future__ import print_function

import argparse
import os
import sys
import time
import traceback

from harness import EPSILON, Fatal, Harness, Timeout, run, scalar, scalar_resource

TASKS = ["ckpt-1", "ckpt-2"]
SECONDS = 12  # each task's sleep: longer than the two restarts take
TERMINAL = {"TASK_FINISHED", "TASK_FAILED", "TASK_KILLED", "TASK_ERROR", "TASK_LOST",
            "TASK_DROPPED", "TASK_GONE", "TASK_GONE_BY_OPERATOR"}


def main(argv):
    parser = argparse.ArgumentParser()
    parser.add_argument("master")
    parser.add_argument("--go-file", required=True)
    parser.add_argument("--timeout", type=float, default=90)
    parser.add_argument("--new-task", action="store_true",
                        help="after the restarts, also run a new task from a fresh offer")
    parser.add_argument("--no-restart", action="store_true",
                        help="the master is not restarted meanwhile (the test swaps its "
                             "allocator instead): no re-subscription is expected")
    args = parser.parse_args(argv)
    h = Harness(args.master, "pymesos-failover", args.timeout,
                info={"checkpoint": True, "failover_timeout": 3600.0})
    try:
        framework_id = h.start()
        h.check("SUBSCRIBED", bool(framework_id), framework_id)

        h.phase = "launch"

        def fitting(event):
            if event[0] != "offers":
                return None
            for offer in event[1]:
                if scalar(offer, "cpus") + EPSILON >= 0.2 and scalar(offer, "mem") + EPSILON >= 64:
                    return offer
            return None
        offer = h.wait("an offer for two tasks", fitting, 30)
        tasks = [{
            "name": t, "task_id": {"value": t}, "agent_id": offer["agent_id"],
            "resources": [scalar_resource("cpus", 0.1), scalar_resource("mem", 32)],
            "command": {"value": "sleep %d" % SECONDS},
        } for t in TASKS]
        h.driver.launchTasks([offer["id"]], tasks)
        finished = {t: 0 for t in TASKS}
        others = []
        running = set()
        reregistered = []

        def note(event):
            if event[0] == "reregistered":
                reregistered.append(event[1])
            if event[0] != "update":
                return None
            status = event[1]
            task, state = status["task_id"]["value"], status["state"]
            if state == "TASK_RUNNING":
                running.add(task)
            elif state == "TASK_FINISHED":
                finished[task] = finished.get(task, 0) + 1
            elif state in TERMINAL:
                others.append("%s %s %s" % (task, state, status.get("message", "")))
            return None

        def all_running(event):
            note(event)
            return running.issuperset(TASKS)
        h.wait("both tasks RUNNING", all_running, 30)
        h.check("both tasks RUNNING", True)

        print("READY")
        sys.stdout.flush()
        h.phase = "restarts"
        deadline = time.time() + 60
        while not os.path.exists(args.go_file):
            if time.time() > deadline:
                raise Timeout("the test never created %s" % args.go_file)
            h.drain(0.2, note)

        h.phase = "after the restarts"

        def all_finished(event):
            note(event)
            return all(finished[t] >= 1 for t in TASKS)
        h.wait("both tasks FINISHED", all_finished, SECONDS + 30)
        # resent updates would arrive now: give them time to
        h.drain(3, note)
        if not args.no_restart:
            h.check("pymesos re-subscribed after the master restart", bool(reregistered))
        h.check("each task FINISHED exactly once", all(n == 1 for n in finished.values()),
                repr(finished))
        h.check("no task ended otherwise", not others, "; ".join(others))
        h.check("the same framework id", h.driver.framework_id == framework_id,
                h.driver.framework_id)
        if args.new_task:
            h.phase = "a new task after the restarts"
            offer = h.wait("a fresh offer", fitting, 30)
            h.driver.launchTasks([offer["id"]], [{
                "name": "after", "task_id": {"value": "after"}, "agent_id": offer["agent_id"],
                "resources": [scalar_resource("cpus", 0.1), scalar_resource("mem", 32)],
                "command": {"value": "true"},
            }])

            def after_finished(event):
                if event[0] == "update" and event[1]["task_id"]["value"] == "after":
                    state = event[1]["state"]
                    if state in TERMINAL:
                        return state
                return None
            state = h.wait("the new task's end", after_finished, 30)
            h.check("a new task runs after the restarts", state == "TASK_FINISHED", state)
    except (Timeout, Fatal) as e:
        h.check("flow (%s)" % h.phase, False, str(e))
    except Exception:  # noqa: BLE001
        h.check("flow (%s)" % h.phase, False, traceback.format_exc())
    finally:
        h.stop()
    return h.finish()


if __name__ == "__main__":
    sys.exit(run(main))
