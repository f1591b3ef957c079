#!/usr/bin/env python3
"""Maintenance as a pymesos 0.3.15 framework and an operator see it.

    pymesos_maintenance.py MASTER_URL [--timeout SECONDS]

Run by tests/tests/maintenance.rs against a `meseta master` with one `meseta agent`. Checks, in
order: a task runs on the agent; POST /master/maintenance/schedule with the agent's machine
(its hostname and IP, from the offer) answers 200 and GET returns it; the framework gets an
INVERSE_OFFERS event for the agent with the window's start, and the agent's offers carry the
`unavailability`; DECLINE_INVERSE_OFFERS shows as DECLINE in /master/maintenance/status;
/master/machine/down answers 200, the task goes TASK_LOST with REASON_AGENT_REMOVED and the agent
leaves /master/slaves; the status lists the machine as down; bringing it down twice, or posting a
schedule without it, answers 400. The machine is left DOWN: the Rust test brings it up.

Prints `PASS: ...`/`FAIL: ...` per check and `N passed, M failed` last.
"""
from __future__ import print_function

import argparse
import time
import traceback

from harness import EPSILON, Fatal, Harness, Timeout, http_get_json, http_post, run, scalar, scalar_resource

HOUR_NS = 3600 * 10**9


def offers(event):
    return event[1] if event[0] == "offers" else None


def flow(h):
    driver = h.driver
    h.phase = "SUBSCRIBE"
    h.start()
    h.phase = "LAUNCH"
    offer = None
    while offer is None:
        for o in h.wait("an offer", offers, 20):
            if offer is None and scalar(o, "cpus") + EPSILON >= 0.1 and scalar(o, "mem") + EPSILON >= 32:
                offer = o
            else:
                h.decline([o], 1.0)
    task = {"task_id": {"value": "long"}, "agent_id": offer["agent_id"], "name": "long",
            "resources": [scalar_resource("cpus", 0.1), scalar_resource("mem", 32)],
            "command": {"value": "sleep 600"}}
    driver.launchTasks([offer["id"]], [task], {"refuse_seconds": 1})
    running = h.wait("TASK_RUNNING of the task", lambda e: e[1] if e[0] == "update"
                     and e[1]["state"] == "TASK_RUNNING" else None, 30)
    h.check("a task runs on the agent", running["state"] == "TASK_RUNNING")

    h.phase = "schedule"
    agent_id = offer["agent_id"]["value"]
    machine = {"hostname": offer["hostname"], "ip": offer["url"]["address"]["ip"]}
    start = int(time.time() * 1e9) + HOUR_NS
    schedule = {"windows": [{"machine_ids": [machine],
                             "unavailability": {"start": {"nanoseconds": start},
                                                "duration": {"nanoseconds": HOUR_NS}}}]}
    code, body = http_post(h.address, "/master/maintenance/schedule", schedule)
    h.check("POST /master/maintenance/schedule answers 200", code == 200, "%d %s" % (code, body))
    got = http_get_json(h.address, "/master/maintenance/schedule")
    h.check("GET /master/maintenance/schedule returns it",
            got.get("windows", [{}])[0].get("machine_ids") == [machine], got)

    h.phase = "INVERSE_OFFERS"
    inverse = h.wait("INVERSE_OFFERS for the agent", lambda e: e[1] if e[0] == "inverse_offers"
                     else None, 20)
    mine = [i for i in inverse if i.get("agent_id", {}).get("value") == agent_id]
    h.check("INVERSE_OFFERS for the agent, with the window's start",
            bool(mine) and mine[0]["unavailability"]["start"]["nanoseconds"] == start, inverse)
    with_window = h.wait("an offer of the agent with its unavailability", lambda e: [
        o for o in e[1] if o["agent_id"]["value"] == agent_id and "unavailability" in o]
        if e[0] == "offers" else None, 20)
    h.check("offers of the agent carry the unavailability",
            with_window[0]["unavailability"]["start"]["nanoseconds"] == start)
    h.decline(with_window, 3600.0)
    h.spare_refuse_seconds = 3600.0
    driver.declineInverseOffer([mine[0]["id"]], {"refuse_seconds": 3600})

    def declined():
        status = http_get_json(h.address, "/master/maintenance/status")
        draining = status.get("draining_machines", [])
        statuses = draining[0].get("statuses", []) if draining else []
        return statuses and statuses[0].get("status") == "DECLINE", status
    deadline = time.time() + 10
    ok, status = declined()
    while not ok and time.time() < deadline:
        h.drain(0.2)
        ok, status = declined()
    h.check("DECLINE_INVERSE_OFFERS shows in /master/maintenance/status", ok, status)

    h.phase = "machine/down"
    code, body = http_post(h.address, "/master/machine/down", [machine])
    h.check("POST /master/machine/down answers 200", code == 200, "%d %s" % (code, body))
    lost = h.wait("the task's update after machine/down", lambda e: e[1] if e[0] == "update"
                  and e[1]["task_id"]["value"] == "long" and e[1]["state"] != "TASK_RUNNING"
                  else None, 20)
    h.check("the task goes TASK_LOST with REASON_AGENT_REMOVED",
            lost["state"] == "TASK_LOST" and lost.get("reason") == "REASON_AGENT_REMOVED",
            "%s %s" % (lost["state"], lost.get("reason")))
    slaves = http_get_json(h.address, "/master/slaves")["slaves"]
    h.check("the agent left /master/slaves", not any(s["id"] == agent_id for s in slaves),
            [s["id"] for s in slaves])
    status = http_get_json(h.address, "/master/maintenance/status")
    h.check("/master/maintenance/status lists the machine as down",
            status.get("down_machines") == [machine] and not status.get("draining_machines"),
            status)
    code, body = http_post(h.address, "/master/machine/down", [machine])
    h.check("bringing it down again answers 400", code == 400 and "DRAINING" in body,
            "%d %s" % (code, body))
    code, body = http_post(h.address, "/master/maintenance/schedule", {})
    h.check("a schedule without the DOWN machine answers 400", code == 400 and "DOWN" in body,
            "%d %s" % (code, body))
    code, body = http_post(h.address, "/master/maintenance/schedule", "{not json")
    h.check("a schedule that is not JSON answers 400 naming the problem",
            code == 400 and "schedule" in body, "%d %s" % (code, body))


def main(argv):
    parser = argparse.ArgumentParser()
    parser.add_argument("master")
    parser.add_argument("--timeout", type=float, default=90)
    args = parser.parse_args(argv)
    h = Harness(args.master, "meseta-maintenance", args.timeout, acknowledge=True)
    try:
        flow(h)
    except (Timeout, Fatal) as e:
        h.check("%s" % h.phase, False, str(e))
    except Exception:  # noqa: BLE001 - anything else is a failed check with its traceback
        h.check("%s" % h.phase, False, traceback.format_exc())
    finally:
        h.stop()
    return h.finish()


if __name__ == "__main__":
    raise SystemExit(run(main))
