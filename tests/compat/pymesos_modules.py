#!/usr/bin/env python3
"""Isolation and oversubscription modules, seen by an unmodified pymesos 0.3.15 framework.

    pymesos_modules.py MASTER_URL --check isolation|revocable [--timeout SECONDS]

`--check isolation` expects `meseta local --isolation=isolator-cgroups,isolator-disk`: a memory
hog (32 MB, `head -c 300000000 /dev/zero | tail`) and a normal task (`sleep 2`) are launched
from one offer; the hog must end TASK_FAILED with REASON_CONTAINER_LIMITATION_MEMORY while the
normal task ends TASK_FINISHED.

`--check revocable` expects an agent with the `estimator-fixed` resource estimator and the
`qos-load` QoS controller at threshold 0: a framework with the REVOCABLE_RESOURCES capability
must receive offers holding revocable resources (`"revocable": {}`), launch a task on revocable
cpus and mem, see it TASK_RUNNING, then TASK_LOST with REASON_CONTAINER_PREEMPTED.

Prints `PASS: ...`/`FAIL: ...` per check and `N passed, M failed` last.
"""
from __future__ import print_function

import argparse
import logging
import traceback

from harness import Fatal, Harness, Timeout, run, scalar, scalar_resource

TERMINAL = {"TASK_FINISHED", "TASK_FAILED", "TASK_KILLED", "TASK_ERROR", "TASK_LOST",
            "TASK_DROPPED", "TASK_GONE", "TASK_GONE_BY_OPERATOR"}


def task(task_id, offer, command, resources):
    return {"task_id": {"value": task_id}, "agent_id": offer["agent_id"], "name": task_id,
            "resources": resources, "command": {"value": command}}


def revocable(name, value):
    r = scalar_resource(name, value)
    r["revocable"] = {}
    return r


def offer_with(h, what, ok, timeout=30):
    def match(event):
        if event[0] != "offers":
            return None
        good = [o for o in event[1] if ok(o)]
        h.decline([o for o in event[1] if not ok(o)], 1.0)
        if good:
            h.decline(good[1:], 1.0)
            return good[0]
        return None
    return h.wait(what, match, timeout)


def final(h, task_id, timeout=40):
    seen = []

    def match(event):
        if event[0] == "update" and event[1]["task_id"]["value"] == task_id:
            seen.append(event[1]["state"])
            if event[1]["state"] in TERMINAL:
                return event[1]
        return None
    status = h.wait("a terminal update of %s" % task_id, match, timeout)
    return status, seen


def isolation(h):
    h.phase = "SUBSCRIBE"
    h.check("SUBSCRIBED", bool(h.start()), h.framework_id)
    h.phase = "LAUNCH"
    offer = offer_with(h, "an offer for two tasks",
                       lambda o: scalar(o, "cpus") >= 0.2 and scalar(o, "mem") >= 64)
    res = [scalar_resource("cpus", 0.1), scalar_resource("mem", 32)]
    h.driver.launchTasks([offer["id"]], [
        task("hog", offer, "head -c 300000000 /dev/zero | tail; sleep 5", res),
        task("normal", offer, "sleep 2", res),
    ], {"refuse_seconds": 1})
    h.check("hog and normal task LAUNCHed from one offer", True)
    h.phase = "task updates"
    hog, _ = final(h, "hog")
    h.check("the hog ends TASK_FAILED", hog["state"] == "TASK_FAILED", hog["state"])
    h.check("with REASON_CONTAINER_LIMITATION_MEMORY",
            hog.get("reason") == "REASON_CONTAINER_LIMITATION_MEMORY",
            "%s: %s" % (hog.get("reason"), hog.get("message")))
    normal, seen = final(h, "normal")
    h.check("the normal task beside it ends TASK_FINISHED", normal["state"] == "TASK_FINISHED",
            " -> ".join(seen))


def has_revocable(offer):
    return any("revocable" in r for r in offer.get("resources", []))


def revocable_flow(h):
    h.phase = "SUBSCRIBE"
    h.check("SUBSCRIBED with REVOCABLE_RESOURCES", bool(h.start()), h.framework_id)
    h.phase = "revocable offer"
    offer = offer_with(h, "an offer with revocable resources",
                       lambda o: has_revocable(o) and any(
                           "revocable" in r and r["name"] == "mem" for r in o["resources"]))
    rev = [r for r in offer["resources"] if "revocable" in r]
    h.check("offer holds revocable resources marked \"revocable\": {}",
            all(r["revocable"] == {} for r in rev),
            ", ".join("%s:%s" % (r["name"], r["scalar"]["value"]) for r in rev))
    h.phase = "LAUNCH"
    h.driver.launchTasks([offer["id"]], [
        task("best-effort", offer, "while :; do :; done",
             [revocable("cpus", 1), revocable("mem", 32)])], {"refuse_seconds": 1})
    status, seen = final(h, "best-effort", 60)
    h.check("the revocable task ran", "TASK_RUNNING" in seen, " -> ".join(seen))
    h.check("QoS preempts it: TASK_LOST", status["state"] == "TASK_LOST", status["state"])
    h.check("with REASON_CONTAINER_PREEMPTED",
            status.get("reason") == "REASON_CONTAINER_PREEMPTED",
            "%s: %s" % (status.get("reason"), status.get("message")))


def main(argv):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("master")
    parser.add_argument("--check", choices=["isolation", "revocable"], required=True)
    parser.add_argument("--timeout", type=float, default=90.0)
    parser.add_argument("--verbose", action="store_true")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.WARNING)
    caps = ("REVOCABLE_RESOURCES",) if args.check == "revocable" else ()
    h = Harness(args.master, "meseta-compat-" + args.check, args.timeout, capabilities=caps)
    try:
        (isolation if args.check == "isolation" else revocable_flow)(h)
    except (Timeout, Fatal) as e:
        h.check("flow (%s)" % h.phase, False, str(e))
    except Exception as e:  # noqa: BLE001
        traceback.print_exc()
        h.check("flow (%s)" % h.phase, False, "%s: %s" % (type(e).__name__, e))
    if h.framework_id:
        h.stop()
    return h.finish()


if __name__ == "__main__":
    raise SystemExit(run(main))
