"""pymesos with credentials against a master that authenticates frameworks and applies ACLs.

`pymesos_auth.py MASTER --principal P --secret S --role R [--refused] [--timeout T]`

Without --refused: the framework subscribes as P in role R (pymesos sends HTTP Basic on every
call), runs one command task to TASK_FINISHED and tears itself down. With --refused: the
master must refuse the subscription with an ERROR event saying it is not authorized (Mesos'
answer to a framework its ACLs do not allow).

Output: `PASS: ...` / `FAIL: ...` lines, then `N passed, M failed`.
"""
from __future__ import print_function

import argparse
import logging
import queue
import time
import traceback

from harness import Fatal, Harness, Timeout, run, scalar_resource


def refused(h):
    h.phase = "SUBSCRIBE (refused)"
    h.driver.start()
    until = time.time() + 30
    while time.time() < until:
        try:
            event = h.events.get(timeout=max(0.1, until - time.time()))
        except queue.Empty:
            continue
        if event[0] == "registered":
            h.framework_id = event[1]["value"]
            h.check("the master refuses the subscription", False,
                    "SUBSCRIBED as %s" % h.framework_id)
            return
        if event[0] == "error":
            h.check("the master refuses the subscription with an ERROR event",
                    "not authorized" in event[1].lower(), event[1])
            return
    h.check("the master refuses the subscription", False, "neither SUBSCRIBED nor ERROR in 30 s")


def runs_a_task(h):
    h.phase = "SUBSCRIBE"
    framework_id = h.start()
    h.check("SUBSCRIBE with credentials -> SUBSCRIBED", bool(framework_id), framework_id)
    h.phase = "offers"
    offers = h.wait("an offer", lambda e: e[1] if e[0] == "offers" else None, 30)
    offer = offers[0]
    task = {
        "task_id": {"value": "authorized-task"},
        "agent_id": offer["agent_id"],
        "name": "authorized-task",
        "resources": [scalar_resource("cpus", 0.1), scalar_resource("mem", 32.0)],
        "command": {"value": "echo authorized"},
    }
    h.phase = "LAUNCH"
    h.driver.launchTasks([offer["id"]], [task], {"refuse_seconds": 1.0})
    for other in offers[1:]:
        h.driver.declineOffer([other["id"]], {"refuse_seconds": 1.0})
    match = h.updates_of("authorized-task")
    terminal = {"TASK_FINISHED", "TASK_FAILED", "TASK_KILLED", "TASK_ERROR", "TASK_LOST",
                "TASK_DROPPED"}

    def finished(event):
        status = match(event)
        return status if status and status["state"] in terminal else None
    status = h.wait("the task's end", finished, 60)
    h.check("the task runs to TASK_FINISHED", status["state"] == "TASK_FINISHED",
            "%s %s" % (status["state"], status.get("message", "")))


def main(argv):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("master")
    parser.add_argument("--principal", required=True)
    parser.add_argument("--secret", required=True)
    parser.add_argument("--role", default="*")
    parser.add_argument("--refused", action="store_true")
    parser.add_argument("--timeout", type=float, default=90.0)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING,
                        format="%(asctime)s %(name)s %(levelname)s %(message)s")
    h = Harness(args.master, "meseta-compat-pymesos-auth", args.timeout,
                info={"role": args.role}, principal=args.principal, secret=args.secret)
    try:
        if args.refused:
            refused(h)
        else:
            runs_a_task(h)
    except (Timeout, Fatal) as e:
        h.check("flow (%s)" % h.phase, False, str(e))
    except Exception as e:  # noqa: BLE001 - a pymesos call that raised is a failed check
        traceback.print_exc()
        h.check("flow (%s)" % h.phase, False, "%s: %s" % (type(e).__name__, e))
    if h.framework_id and not args.refused:
        teardown = h.stop()
        h.check("driver.stop() sends TEARDOWN with the credentials, answered 2xx",
                teardown == "accepted", teardown or "TEARDOWN was not sent")
    else:
        h.driver.stop()
    return h.finish()


if __name__ == "__main__":
    raise SystemExit(run(main))
