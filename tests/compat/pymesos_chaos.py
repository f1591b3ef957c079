#!/usr/bin/env python3
"""A pymesos framework that launches tasks continuously while its leading master is killed
again and again.

    pymesos_chaos.py zk://HOST:PORT/PATH --go-file PATH --ran-log PATH [--timeout SECONDS]

Subscribes with `checkpoint: true` and a failover timeout, finds the leader in ZooKeeper (pymesos'
own kazoo detector) and, from every offer that fits, launches short command tasks (at most
`IN_FLIGHT` unfinished at once), each appending its id to the ran log and sleeping a little. It
prints `READY` once a task has run, and `LAUNCHED <id>` for every launch, so that the test
(tests/tests/compat_pymesos.rs) can kill the leader between launches, until PATH exists. Then
it stops launching and reconciles until every task it launched has ended.

Checks:
- every launched task is accounted for: it ended TASK_FINISHED, or was reported lost (TASK_LOST,
  TASK_DROPPED, TASK_GONE, TASK_UNREACHABLE, TASK_UNKNOWN) with a reason;
- every task the framework saw running ended TASK_FINISHED;
- no task id ran twice (the ran log), and every task that finished ran;
- pymesos kept its framework id through every failover.

Prints `PASS: ...`/`FAIL: ...` per check and `N passed, M failed` last; exits 0 only if all passed.
"""
from __future__ import print_function

import argparse
import collections
import os
import queue
import sys
import time
import traceback

from harness import EPSILON, Fatal, Harness, Timeout, run, scalar, scalar_resource

IN_FLIGHT = 4
CPUS, MEM = 0.1, 16
SLEEP = 0.5
LOST = {"TASK_LOST", "TASK_DROPPED", "TASK_GONE", "TASK_UNREACHABLE", "TASK_UNKNOWN"}
TERMINAL = LOST | {"TASK_FINISHED", "TASK_FAILED", "TASK_KILLED", "TASK_ERROR",
                   "TASK_GONE_BY_OPERATOR"}
RECONCILE_EVERY = 2.0


def say(line):
    print(line)
    sys.stdout.flush()


def call(what, method, *args):
    """A driver call that may fail while the leader is dying (pymesos raises then): the failure
    is said, and whatever the call was for is left to reconciliation."""
    try:
        method(*args)
    except Exception as e:  # noqa: BLE001
        say("%s failed: %r" % (what, e))


def main(argv):
    parser = argparse.ArgumentParser()
    parser.add_argument("master")
    parser.add_argument("--go-file", required=True)
    parser.add_argument("--ran-log", required=True)
    parser.add_argument("--timeout", type=float, default=300)
    args = parser.parse_args(argv)
    h = Harness(args.master, "pymesos-chaos", args.timeout,
                info={"checkpoint": True, "failover_timeout": 3600.0})
    launched = []                          # task ids, in launch order
    launched_at = {}                       # task id -> time.time() of its launch
    history = collections.defaultdict(list)  # task id -> [(state, reason, message)]
    reregistered = []
    try:
        framework_id = h.start()
        h.check("SUBSCRIBED", bool(framework_id), framework_id)

        def ended(task):
            return any(s in TERMINAL for s, _, _ in history[task])

        def unfinished():
            return [t for t in launched if not ended(t)]

        def launch(offers):
            for offer in offers:
                cpus, mem = scalar(offer, "cpus"), scalar(offer, "mem")
                tasks = []
                while (len(unfinished()) + len(tasks) < IN_FLIGHT
                       and cpus + EPSILON >= CPUS and mem + EPSILON >= MEM):
                    task = "chaos-%d" % (len(launched) + len(tasks) + 1)
                    tasks.append({
                        "name": task, "task_id": {"value": task},
                        "agent_id": offer["agent_id"],
                        "resources": [scalar_resource("cpus", CPUS), scalar_resource("mem", MEM)],
                        "command": {"value": "echo %s >> '%s' && sleep %s"
                                    % (task, args.ran_log, SLEEP)},
                    })
                    cpus, mem = cpus - CPUS, mem - MEM
                if tasks:
                    # Noted as launched before the call: the master may die during it.
                    for t in tasks:
                        launched.append(t["task_id"]["value"])
                        launched_at[t["task_id"]["value"]] = time.time()
                        say("LAUNCHED %s" % t["task_id"]["value"])
                    call("LAUNCH", h.driver.launchTasks, [offer["id"]], tasks)
                else:
                    call("DECLINE", h.driver.declineOffer, [offer["id"]],
                         {"refuse_seconds": 0.2})

        def handle(event, launching):
            kind = event[0]
            if kind == "error":
                raise Fatal("master sent ERROR: %s" % event[1])
            if kind == "reregistered":
                reregistered.append(event[1])
            elif kind == "offers":
                if launching:
                    launch(event[1])
                else:
                    for offer in event[1]:
                        call("DECLINE", h.driver.declineOffer, [offer["id"]],
                             {"refuse_seconds": 60})
            elif kind == "update":
                status = event[1]
                history[status["task_id"]["value"]].append(
                    (status["state"], status.get("reason"), status.get("message", "")))

        reconciled = [0.0]

        def reconcile(older_than):
            """Asks about the unfinished tasks launched more than `older_than` seconds ago: a
            launch the dying leader never passed on is unknown to the next one, which says so
            (TASK_LOST or TASK_DROPPED, with a reason) once the agent is back."""
            if time.time() - reconciled[0] < RECONCILE_EVERY:
                return
            reconciled[0] = time.time()
            tasks = [t for t in unfinished() if time.time() - launched_at[t] > older_than]
            if tasks:
                call("RECONCILE", h.driver.reconcileTasks,
                     [{"task_id": {"value": t}} for t in tasks])

        def pump(seconds, launching):
            until = min(time.time() + seconds, h.deadline)
            while time.time() < until:
                reconcile(2.0 if launching else 0.0)
                try:
                    event = h.events.get(timeout=max(0.0, min(0.1, until - time.time())))
                except queue.Empty:
                    continue
                handle(event, launching)

        h.phase = "launching"
        first_deadline = time.time() + 60
        while not any(s == "TASK_FINISHED" for t in launched for s, _, _ in history[t]):
            if time.time() > first_deadline:
                raise Timeout("no task finished within 60 s of SUBSCRIBED")
            pump(0.1, True)
        say("READY")

        h.phase = "launching while the leader is killed"
        while not os.path.exists(args.go_file):
            if time.time() > h.deadline:
                raise Timeout("the test never created %s" % args.go_file)
            pump(0.1, True)

        h.phase = "accounting for every launch"
        call("SUPPRESS", h.driver.suppressOffers)
        deadline = time.time() + 90
        while unfinished() and time.time() < deadline:
            pump(0.2, False)
        # late and resent updates would arrive now
        pump(2, False)

        def final(task):
            states = [s for s, _, _ in history[task] if s in TERMINAL]
            return states[-1] if states else None

        counts = collections.Counter(final(t) for t in launched)
        reasons = collections.Counter(
            "%s %s" % (final(t), next((r for s, r, _ in history[t] if s == final(t)), None))
            for t in launched if final(t) in LOST)
        say("launched %d tasks: %s; lost: %s" % (len(launched), dict(counts), dict(reasons)))
        missing = [t for t in launched if final(t) is None]
        h.check("every launched task ended", not missing,
                "%d never ended: %s" % (len(missing), ", ".join(missing[:20])))
        unexplained = ["%s %s" % (t, history[t]) for t in launched
                       if final(t) is not None and final(t) != "TASK_FINISHED"
                       and not (final(t) in LOST and any(
                           s == final(t) and r for s, r, _ in history[t]))]
        h.check("every task finished or was reported lost with a reason", not unexplained,
                "; ".join(unexplained[:20]))
        ran_then_lost = ["%s %s" % (t, history[t]) for t in launched
                         if any(s == "TASK_RUNNING" for s, _, _ in history[t])
                         and final(t) != "TASK_FINISHED"]
        h.check("every task seen running finished", not ran_then_lost,
                "; ".join(ran_then_lost[:20]))
        with open(args.ran_log) as f:
            ran = [line.strip() for line in f if line.strip()]
        twice = sorted(t for t, n in collections.Counter(ran).items() if n > 1)
        h.check("no task id ran twice", not twice, ", ".join(twice))
        unknown = sorted(set(ran) - set(launched))
        h.check("only launched tasks ran", not unknown, ", ".join(unknown))
        finished_not_ran = [t for t in launched if final(t) == "TASK_FINISHED" and t not in ran]
        h.check("every finished task ran", not finished_not_ran, ", ".join(finished_not_ran))
        h.check("the same framework id throughout", h.driver.framework_id == framework_id,
                h.driver.framework_id)
        h.check("pymesos re-subscribed after the failovers", bool(reregistered),
                "%d times" % len(reregistered))
    except (Timeout, Fatal) as e:
        h.check("flow (%s)" % h.phase, False, str(e))
    except Exception:  # noqa: BLE001
        h.check("flow (%s)" % h.phase, False, traceback.format_exc())
    finally:
        h.stop()
    return h.finish()


if __name__ == "__main__":
    sys.exit(run(main))
