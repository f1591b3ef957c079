#!/usr/bin/env python3
"""Drive a Mesos-compatible master with pymesos 0.3.15 the way pymesos frameworks use it.

    pymesos_flow.py MASTER_URL [--timeout SECONDS] [--verbose]

MASTER_URL is http://host:port or host:port. Run it with the interpreter of the venv made by
ci/setup-pymesos.sh; tests/tests/compat_pymesos.rs runs it against `meseta local`.

The framework subscribes with the legacy single `role` and writes task resources without role or
allocation info (as most pymesos code does), and acknowledges status updates itself
(implicit_acknowledgements=False). Checks, in order:
  SUBSCRIBE -> SUBSCRIBED; the first offers are DECLINEd with refuse_seconds=1 and come back;
  3 command tasks (`echo hi $TASK_N; sleep 1`, 0.1 cpus, 32 MB, TASK_N set per task) are packed
  into offers; each goes TASK_RUNNING then TASK_FINISHED, every update acknowledged; SUPPRESS
  stops offers; REVIVE brings them back; `sleep 60` is launched and KILLed -> TASK_KILLED;
  explicit RECONCILE of it -> an update with reason REASON_RECONCILIATION and no uuid; implicit
  RECONCILE is accepted; driver.stop() sends TEARDOWN and the master drops the framework.

Prints `PASS: ...`/`FAIL: ...` per check and `N passed, M failed` last; exits 0 only if all passed.
"""
from __future__ import print_function

import argparse
import logging
import time
import traceback

from harness import EPSILON, Fatal, Harness, Timeout, run, scalar, scalar_resource

CPUS = 0.1
MEM = 32.0
N_TASKS = 3
TERMINAL = {"TASK_FINISHED", "TASK_FAILED", "TASK_KILLED", "TASK_ERROR", "TASK_LOST",
            "TASK_DROPPED", "TASK_GONE", "TASK_GONE_BY_OPERATOR"}


def describe(status):
    return " ".join(str(status[k]) for k in ("state", "reason", "message") if status.get(k))


def offers(event):
    return event[1] if event[0] == "offers" else None


def command_task(task_id, offer, command, env=None):
    task = {
        "task_id": {"value": task_id},
        "agent_id": offer["agent_id"],
        "name": task_id,
        "resources": [scalar_resource("cpus", CPUS), scalar_resource("mem", MEM)],
        "command": {"value": command},
    }
    if env:
        task["command"]["environment"] = {
            "variables": [{"name": k, "value": v} for k, v in sorted(env.items())]}
    return task


def pack(offer, pending):
    """Takes as many of `pending` (task numbers) as fit into the offer."""
    cpus, mem = scalar(offer, "cpus"), scalar(offer, "mem")
    tasks = []
    while pending and cpus + EPSILON >= CPUS and mem + EPSILON >= MEM:
        n = pending.pop(0)
        cpus -= CPUS
        mem -= MEM
        tasks.append(command_task("task-%d" % n, offer, "echo hi $TASK_N; sleep 1",
                                  {"TASK_N": str(n)}))
    return tasks


def flow(h):
    driver = h.driver
    h.phase = "SUBSCRIBE"
    framework_id = h.start()
    h.check("SUBSCRIBE -> SUBSCRIBED with a framework id", bool(framework_id), framework_id)

    # Decline the first offers for 1 s: the same agents must be offered again.
    h.phase = "DECLINE"
    first = h.wait("the first offers", offers, 20)
    agents = {o["agent_id"]["value"] for o in first}
    h.decline(first, 1.0)
    declined_at = time.time()
    h.check("first offers DECLINEd with refuse_seconds=1", True,
            "%d offer(s), %d agent(s)" % (len(first), len(agents)))
    again = h.wait(
        "the declined agents to be offered again",
        lambda e: e[1] if e[0] == "offers" and any(
            o["agent_id"]["value"] in agents for o in e[1]) else None,
        15)
    after = time.time() - declined_at
    h.check("declined resources offered again after the filter expired", after >= 0.8,
            "after %.1fs" % after)

    # Pack 3 tasks into offers; updates are acknowledged by the Recorder as they arrive.
    h.phase = "LAUNCH"
    pending = list(range(1, N_TASKS + 1))
    task_ids = ["task-%d" % n for n in pending]
    batch, used = again, 0
    while True:
        for offer in batch:
            tasks = pack(offer, pending)
            if tasks:
                driver.launchTasks([offer["id"]], tasks, {"refuse_seconds": 1})
                used += 1
            else:
                h.decline([offer], 1.0)
        if not pending:
            break
        batch = h.wait("offers for %d more task(s)" % len(pending), offers, 20)
    h.check("%d tasks LAUNCHed" % N_TASKS, True, "packed into %d offer(s)" % used)

    h.phase = "SUPPRESS"
    driver.suppressOffers()
    suppressed_at = time.time()
    h.check("SUPPRESS accepted", True)

    h.phase = "task updates"
    states = {t: [] for t in task_ids}
    late_offers = []

    def record(event):
        if event[0] == "update" and event[1]["task_id"]["value"] in states:
            states[event[1]["task_id"]["value"]].append(event[1]["state"])
        elif event[0] == "offers" and time.time() > suppressed_at + 1.0:
            late_offers.extend(event[1])

    def all_done(event):
        record(event)
        return all(s and s[-1] in TERMINAL for s in states.values())

    try:
        h.wait("TASK_FINISHED of %s" % ", ".join(task_ids), all_done, 40)
    finally:
        for task_id in task_ids:
            seen = states[task_id]
            ok = ("TASK_RUNNING" in seen and seen[-1] == "TASK_FINISHED"
                  and seen.index("TASK_RUNNING") < len(seen) - 1)
            h.check("%s: TASK_RUNNING then TASK_FINISHED" % task_id, ok,
                    " -> ".join(seen) or "no update")
    h.check("every update with a uuid ACKNOWLEDGEd (202)",
            not h.ack_errors and h.acks_sent >= 2 * N_TASKS,
            "; ".join(h.ack_errors) or "%d acknowledgements" % h.acks_sent)
    # Stay suppressed for at least 3 s, with the tasks' resources free, before judging.
    h.drain(max(0.0, suppressed_at + 3.0 - time.time()), record)
    h.check("no offers while suppressed", not late_offers,
            "%.1fs suppressed" % (time.time() - suppressed_at) if not late_offers
            else "%d offer(s) arrived" % len(late_offers))

    h.phase = "REVIVE"
    driver.reviveOffers()
    revived_at = time.time()
    h.check("REVIVE accepted", True)
    batch = h.wait("offers after REVIVE", offers, 15)
    h.check("offers come back after REVIVE", True, "after %.1fs" % (time.time() - revived_at))

    h.phase = "KILL"
    while True:
        fitting = [o for o in batch
                   if scalar(o, "cpus") + EPSILON >= CPUS and scalar(o, "mem") + EPSILON >= MEM]
        if fitting:
            break
        h.decline(batch, 1.0)
        batch = h.wait("an offer with room for the sleep task", offers, 15)
    target = fitting[0]
    h.spare_refuse_seconds = 30.0
    driver.launchTasks([target["id"]], [command_task("sleeper", target, "sleep 60")])
    h.decline([o for o in batch if o is not target], 30.0)

    def sleeper(event):
        if (event[0] == "update" and event[1]["task_id"]["value"] == "sleeper"
                and event[1]["state"] not in ("TASK_STAGING", "TASK_STARTING")):
            return event[1]
        return None

    status = h.wait("TASK_RUNNING of the sleep task", sleeper, 20)
    h.check("`sleep 60` task reaches TASK_RUNNING", status["state"] == "TASK_RUNNING",
            describe(status))
    driver.killTask({"value": "sleeper"})
    def sleeper_ended(event):
        status = sleeper(event)
        return status if status and status["state"] in TERMINAL else None

    status = h.wait("TASK_KILLED of the sleep task", sleeper_ended, 20)
    h.check("KILL -> TASK_KILLED", status["state"] == "TASK_KILLED",
            describe(status))

    h.phase = "RECONCILE"
    driver.reconcileTasks([{"task_id": {"value": "sleeper"}}])
    status = h.wait(
        "a reconciliation update of the sleep task",
        lambda e: e[1] if e[0] == "update" and e[1]["task_id"]["value"] == "sleeper"
        and e[1].get("reason") == "REASON_RECONCILIATION" else None,
        10)
    h.check("explicit RECONCILE -> update with reason REASON_RECONCILIATION, no uuid",
            "uuid" not in status,
            "state %s" % status["state"] if "uuid" not in status
            else "the reconciliation update carries a uuid")
    driver.reconcileTasks([])
    h.check("implicit RECONCILE accepted", True)
    h.drain(1.0)


def main(argv):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("master")
    parser.add_argument("--timeout", type=float, default=90.0)
    parser.add_argument("--verbose", action="store_true")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.WARNING,
                        format="%(asctime)s %(name)s %(levelname)s %(message)s")

    h = Harness(args.master, "meseta-compat-pymesos-flow", args.timeout,
                multi_role=False, acknowledge=True)
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
        listed = True
        for _ in range(6):
            try:
                listed = h.framework_listed()
            except Exception as e:  # noqa: BLE001
                listed = "GET /master/state failed: %s" % e
            if listed is False:
                break
            time.sleep(0.5)
        h.check("framework gone from /master/state frameworks after TEARDOWN", listed is False,
                "" if listed is False else listed if isinstance(listed, str) else "still listed")
    return h.finish()


if __name__ == "__main__":
    raise SystemExit(run(main))
