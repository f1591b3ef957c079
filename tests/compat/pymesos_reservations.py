#!/usr/bin/env python3
"""A stateful framework (the book's chapter on reservations and persistent volumes) as pymesos
0.3.15 runs it, with a second framework of another role watching.

    pymesos_reservations.py MASTER_URL [--timeout SECONDS]

Run by tests/tests/reservations.rs against a `meseta master` with one `meseta agent` started
with `--resources 'cpus:2;mem:1024;disk:1024;ports:[31000-31100];cpus(eng):1;mem(eng):256'`.

The framework `stateful` (role `eng`) checks, in order: its offers carry the agent's static
reservation for `eng` (STATIC, `role` `eng`); one ACCEPT with RESERVE (cpus, mem and disk for
`eng`) + CREATE (a volume `data-1` at `data`) + LAUNCH of a task that writes a file to the
volume, which finishes; the volume comes back in a later offer (its `disk.persistence.id`, its
reservation); a second task on the volume reads the file back and finishes; the master's
`/master/slaves` lists the reservation and the volume in `reserved_resources_full`; DESTROY +
UNRESERVE in one ACCEPT, after which offers hold no dynamic reservation and no volume, only the
static one. The framework `watcher` (role `ops`) runs beside it the whole time and must never be
offered a resource reserved for any role.

Prints `PASS: ...`/`FAIL: ...` per check and `N passed, M failed` last.
"""
from __future__ import print_function

import argparse
import threading
import time
import traceback

from harness import EPSILON, Fatal, Harness, Timeout, http_get_json, run, scalar

ROLE = "eng"
VOLUME_ID = "data-1"


def offers(event):
    return event[1] if event[0] == "offers" else None


def role_of(resource):
    """The role a resource is reserved for, `*` if unreserved (either format)."""
    reservations = resource.get("reservations") or []
    if reservations:
        return reservations[-1].get("role", "*")
    return resource.get("role", "*")


def reserved(name, value, kind="DYNAMIC"):
    return {"name": name, "type": "SCALAR", "scalar": {"value": value},
            "reservations": [{"type": kind, "role": ROLE}]}


def volume(size):
    v = reserved("disk", size)
    v["disk"] = {"persistence": {"id": VOLUME_ID},
                 "volume": {"container_path": "data", "mode": "RW"}}
    return v


def volume_in(offer):
    for r in offer.get("resources", []):
        if r.get("name") == "disk" and (r.get("disk") or {}).get("persistence", {}).get("id") == VOLUME_ID:
            return r
    return None


def reserved_amount(offer, name, kind):
    return sum(r.get("scalar", {}).get("value", 0.0) for r in offer.get("resources", [])
               if r.get("name") == name and role_of(r) == ROLE
               and (r.get("reservations") or [{}])[-1].get("type") == kind
               and not r.get("disk"))


def wait_offer(h, what, want, timeout=20):
    """The first offer `want` accepts; the others are declined as they pass."""
    found = []

    def match(event):
        if event[0] != "offers":
            return None
        for o in event[1]:
            if not found and want(o):
                found.append(o)
            else:
                h.decline([o], 0.5)
        return found[0] if found else None
    return h.wait(what, match, timeout)


def finished(h, task_id, timeout=30):
    def match(event):
        if event[0] == "update" and event[1]["task_id"]["value"] == task_id \
                and event[1]["state"] not in ("TASK_STAGING", "TASK_STARTING", "TASK_RUNNING"):
            return event[1]
        return None
    return h.wait("the end of task %s" % task_id, match, timeout)


def watch(watcher, seen, stop):
    """The `ops` framework: notes every reserved resource it is offered, declines everything."""
    def note(event):
        if event[0] == "offers":
            for o in event[1]:
                for r in o.get("resources", []):
                    if role_of(r) != "*":
                        seen.append("%s(%s)" % (r.get("name"), role_of(r)))
    while not stop.is_set():
        watcher.drain(0.5, note)


def flow(h, watcher):
    driver = h.driver
    h.phase = "SUBSCRIBE"
    h.start()
    watcher.start()
    seen = []
    stop = threading.Event()
    thread = threading.Thread(target=watch, args=(watcher, seen, stop), daemon=True)
    thread.start()
    try:
        stateful(h, driver)
    finally:
        stop.set()
        thread.join(5)
    h.check("the ops framework was never offered reserved resources", not seen,
            ", ".join(sorted(set(seen))))


def stateful(h, driver):
    h.phase = "static reservation"
    offer = wait_offer(h, "an offer with the static reservation",
                       lambda o: reserved_amount(o, "cpus", "STATIC") > EPSILON)
    h.check("the agent's static reservation cpus(eng):1 is offered to role eng",
            abs(reserved_amount(offer, "cpus", "STATIC") - 1.0) < EPSILON
            and all(r.get("allocation_info", {}).get("role") == ROLE
                    for r in offer["resources"]),
            [(r["name"], role_of(r)) for r in offer["resources"]])
    h.decline([offer], 0.1)

    h.phase = "RESERVE + CREATE + LAUNCH"
    agent_id = offer["agent_id"]
    writer = {"task_id": {"value": "writer"}, "agent_id": agent_id, "name": "writer",
              "resources": [reserved("cpus", 0.5), reserved("mem", 64), volume(64)],
              "command": {"value": "echo persisted > data/hello.txt"}}
    offer = wait_offer(h, "an offer with unreserved room",
                       lambda o: scalar(o, "cpus") >= 1.5 and scalar(o, "disk") >= 128)
    operations = [
        {"type": "RESERVE", "reserve": {"resources": [
            reserved("cpus", 0.5), reserved("mem", 64), reserved("disk", 64)]}},
        {"type": "CREATE", "create": {"volumes": [volume(64)]}},
        {"type": "LAUNCH", "launch": {"task_infos": [writer]}},
    ]
    driver.acceptOffers([offer["id"]], operations, {"refuse_seconds": 0.5})
    end = finished(h, "writer")
    h.check("a task writes a file to the new volume and finishes",
            end["state"] == "TASK_FINISHED", "%s %s" % (end["state"], end.get("message")))

    h.phase = "the volume comes back"
    offer = wait_offer(h, "an offer with the volume", lambda o: volume_in(o) is not None)
    v = volume_in(offer)
    h.check("the volume comes back in an offer, reserved for eng",
            role_of(v) == ROLE and abs(v["scalar"]["value"] - 64) < EPSILON
            and v["disk"]["volume"]["container_path"] == "data", v)
    h.check("so does the dynamic reservation",
            reserved_amount(offer, "cpus", "DYNAMIC") >= 0.5 - EPSILON,
            [(r["name"], role_of(r)) for r in offer["resources"]])
    reader = {"task_id": {"value": "reader"}, "agent_id": agent_id, "name": "reader",
              "resources": [reserved("cpus", 0.5), reserved("mem", 64), v],
              "command": {"value": "test \"$(cat data/hello.txt)\" = persisted"}}
    driver.acceptOffers([offer["id"]], [{"type": "LAUNCH", "launch": {"task_infos": [reader]}}],
                        {"refuse_seconds": 0.5})
    end = finished(h, "reader")
    h.check("a second task reads the file back from the volume",
            end["state"] == "TASK_FINISHED", "%s %s" % (end["state"], end.get("message")))

    h.phase = "/master/slaves"
    slaves = http_get_json(h.address, "/master/slaves")["slaves"]
    full = slaves[0].get("reserved_resources_full", {}).get(ROLE, [])
    ids = [(r.get("disk") or {}).get("persistence", {}).get("id") for r in full]
    h.check("/master/slaves lists the reservation and the volume",
            VOLUME_ID in ids and slaves[0]["reserved_resources"][ROLE]["cpus"] >= 1.5 - EPSILON,
            slaves[0].get("reserved_resources"))

    h.phase = "DESTROY + UNRESERVE"
    offer = wait_offer(h, "an offer with the volume again", lambda o: volume_in(o) is not None)
    operations = [
        {"type": "DESTROY", "destroy": {"volumes": [volume_in(offer)]}},
        {"type": "UNRESERVE", "unreserve": {"resources": [
            reserved("cpus", 0.5), reserved("mem", 64), reserved("disk", 64)]}},
    ]
    driver.acceptOffers([offer["id"]], operations, {"refuse_seconds": 0.1})

    def back_to_static(o):
        return volume_in(o) is None and reserved_amount(o, "cpus", "DYNAMIC") < EPSILON \
            and reserved_amount(o, "cpus", "STATIC") > EPSILON and scalar(o, "cpus") >= 3 - EPSILON
    offer = wait_offer(h, "an offer without the volume or the dynamic reservation", back_to_static)
    h.check("DESTROY + UNRESERVE give the resources back: only the static reservation is left",
            True, [(r["name"], role_of(r), r["scalar"]["value"]) for r in offer["resources"]
                   if "scalar" in r])
    h.decline([offer], 0.1)


def main(argv):
    parser = argparse.ArgumentParser()
    parser.add_argument("master")
    parser.add_argument("--timeout", type=float, default=90)
    args = parser.parse_args(argv)
    h = Harness(args.master, "stateful", args.timeout, acknowledge=True, info={"role": ROLE})
    watcher = Harness(args.master, "watcher", args.timeout, acknowledge=True,
                      info={"role": "ops"})
    try:
        flow(h, watcher)
    except (Timeout, Fatal) as e:
        h.check("%s" % h.phase, False, str(e))
    except Exception:  # noqa: BLE001 - anything else is a failed check with its traceback
        h.check("%s" % h.phase, False, traceback.format_exc())
    finally:
        watcher.stop()
        h.stop()
    return h.finish()


if __name__ == "__main__":
    raise SystemExit(run(main))
