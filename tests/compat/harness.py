"""Shared plumbing of the pymesos compatibility checks (pymesos_flow.py, pymesos_executor.py).

pymesos calls a Scheduler's callbacks on its own IO thread. Here the callbacks only queue what
arrives (acknowledging status updates on the way, as a pymesos framework with
implicit_acknowledgements=False must); the check script's main thread drives the flow with
`Harness.wait`, answering offers it does not want as they pass by.

Output: one `PASS: <check>` / `FAIL: <check>: <detail>` line per check, then `N passed, M failed`.
"""
from __future__ import print_function

import getpass
import http.client
import json
import os
import queue
import socket
import sys
import threading
import time

from pymesos import MesosSchedulerDriver, Scheduler

EPSILON = 1e-6


class Timeout(Exception):
    pass


class Fatal(Exception):
    pass


def master_address(url):
    """`http://host:port/` -> `host:port`, which is what pymesos takes; a `zk://` URL is kept
    as it is (pymesos then finds the leading master in ZooKeeper itself, with kazoo)."""
    if url.startswith("zk://"):
        return url
    address = url.split("://", 1)[-1].strip("/")
    return address if ":" in address else address + ":5050"


def framework_info(name, multi_role, capabilities=()):
    info = {"user": getpass.getuser(), "name": name, "hostname": socket.gethostname()}
    caps = [{"type": c} for c in capabilities]
    if multi_role:
        info["roles"] = ["*"]
        caps.append({"type": "MULTI_ROLE"})
    else:
        info["role"] = "*"
    if caps:
        info["capabilities"] = caps
    return info


def scalar(offer, name):
    """Total of the offer's scalar resource `name`."""
    return sum(r.get("scalar", {}).get("value", 0.0)
               for r in offer.get("resources", []) if r.get("name") == name)


def scalar_resource(name, value):
    """A task resource the way most pymesos frameworks write it: no role, no allocation info."""
    return {"name": name, "type": "SCALAR", "scalar": {"value": value}}


def http_post(address, path, body, timeout=10):
    """POSTs `body` (JSON-encoded unless a str): the status code and the answer's body."""
    host, port = address.rsplit(":", 1)
    conn = http.client.HTTPConnection(host, int(port), timeout=timeout)
    try:
        data = body if isinstance(body, str) else json.dumps(body)
        conn.request("POST", path, body=data, headers={"Content-Type": "application/json"})
        response = conn.getresponse()
        return response.status, response.read().decode("utf-8", "replace")
    finally:
        conn.close()


def http_get_json(address, path, timeout=10):
    host, port = address.rsplit(":", 1)
    conn = http.client.HTTPConnection(host, int(port), timeout=timeout)
    try:
        conn.request("GET", path, headers={"Accept": "application/json"})
        response = conn.getresponse()
        body = response.read()
        if response.status != 200:
            raise Fatal("GET %s answered %d: %r" % (path, response.status, body[:200]))
        return json.loads(body.decode("utf-8"))
    finally:
        conn.close()


class Recorder(Scheduler):
    """Queues events for the main thread; acknowledges updates explicitly if asked to."""

    def __init__(self, harness, acknowledge):
        self.harness = harness
        self.acknowledge = acknowledge

    def registered(self, driver, framework_id, master_info):
        self.harness.events.put(("registered", framework_id))

    def reregistered(self, driver, master_info):
        self.harness.events.put(("reregistered", master_info))

    def resourceOffers(self, driver, offers):
        self.harness.events.put(("offers", offers))

    def offerRescinded(self, driver, offer_id):
        self.harness.events.put(("rescinded", offer_id))

    def inverseOffers(self, driver, inverse_offers):
        self.harness.events.put(("inverse_offers", inverse_offers))

    def inverseOfferRescinded(self, driver, inverse_offer_id):
        self.harness.events.put(("inverse_rescinded", inverse_offer_id))

    def statusUpdate(self, driver, status):
        if self.acknowledge and "uuid" in status:
            try:
                driver.acknowledgeStatusUpdate(status)
                self.harness.acks_sent += 1
            except Exception as e:  # noqa: BLE001 - any failure is a check failure
                self.harness.ack_errors.append("%s %s: %r" % (
                    status.get("task_id", {}).get("value"), status.get("state"), e))
        self.harness.events.put(("update", status))

    def error(self, driver, message):
        self.harness.events.put(("error", message))


class Driver(MesosSchedulerDriver):
    """pymesos' driver, noting whether the TEARDOWN that stop() sends was accepted (pymesos
    itself only logs a failure)."""

    teardown = None  # None: not sent yet; "accepted" or the error

    def _teardown(self):
        try:
            MesosSchedulerDriver._teardown(self)
            self.teardown = "accepted"
        except Exception as e:
            self.teardown = repr(e)
            raise


class Harness(object):
    def __init__(self, master_url, name, timeout, multi_role=False, acknowledge=True,
                 capabilities=(), info=None, principal=None, secret=None):
        self.deadline = time.time() + timeout
        self.timeout = timeout
        self.address = master_address(master_url)
        self.events = queue.Queue()
        self.passed = 0
        self.failed = 0
        self.acks_sent = 0
        self.ack_errors = []
        # Offers nobody waits for are declined for this long.
        self.spare_refuse_seconds = 1.0
        self.framework_id = None
        self.phase = "start"  # what the script is doing, for failure messages
        self.scheduler = Recorder(self, acknowledge)
        framework = framework_info(name, multi_role, capabilities)
        framework.update(info or {})
        self.driver = Driver(self.scheduler, framework,
                             self.address,
                             implicit_acknowledgements=not acknowledge, timeout=timeout,
                             principal=principal, secret=secret)
        self._watchdog()

    # -- reporting -----------------------------------------------------------------------

    def check(self, name, ok, detail=""):
        if ok:
            self.passed += 1
            print("PASS: %s%s" % (name, " (%s)" % detail if detail else ""))
        else:
            self.failed += 1
            print("FAIL: %s: %s" % (name, detail or "failed"))
        sys.stdout.flush()
        return ok

    def finish(self):
        print("%d passed, %d failed" % (self.passed, self.failed))
        sys.stdout.flush()
        return 0 if self.failed == 0 else 1

    def _watchdog(self):
        """Last resort if a pymesos call hangs past the global timeout."""
        def bite():
            time.sleep(max(0.0, self.deadline - time.time()) + 15)
            print("FAIL: global timeout: still running %ds after the %ds budget" % (15, self.timeout))
            print("%d passed, %d failed" % (self.passed, self.failed + 1))
            sys.stdout.flush()
            os._exit(1)
        threading.Thread(target=bite, daemon=True).start()

    # -- the event loop ----------------------------------------------------------------------

    def wait(self, what, match, timeout):
        """Consumes events until `match(event)` returns something truthy, which is returned.

        Offers not matched are declined (`spare_refuse_seconds`); an ERROR event is fatal.
        Raises Timeout naming `what` after `timeout` seconds or at the global deadline."""
        until = min(time.time() + timeout, self.deadline)
        while True:
            remaining = until - time.time()
            if remaining <= 0:
                raise Timeout("timed out waiting for %s" % what)
            try:
                event = self.events.get(timeout=remaining)
            except queue.Empty:
                continue
            if event[0] == "error":
                raise Fatal("master sent ERROR: %s" % event[1])
            result = match(event)
            if result:
                return result
            if event[0] == "offers":
                self.decline(event[1], self.spare_refuse_seconds)

    def drain(self, seconds, on_event=None):
        """Handles events for `seconds` (offers declined as in `wait`)."""
        until = time.time() + seconds

        def match(event):
            if on_event:
                on_event(event)
            return False
        try:
            self.wait("nothing", match, max(0.0, until - time.time()))
        except Timeout:
            pass

    def decline(self, offers, refuse_seconds):
        for offer in offers:
            self.driver.declineOffer([offer["id"]], {"refuse_seconds": refuse_seconds})

    def start(self):
        """Starts the driver and waits for SUBSCRIBED."""
        self.driver.start()
        event = self.wait("SUBSCRIBED", lambda e: e if e[0] == "registered" else None, 20)
        self.framework_id = event[1]["value"]
        return self.framework_id

    def updates_of(self, task_id):
        """A matcher for updates of one task."""
        def match(event):
            if event[0] == "update" and event[1]["task_id"]["value"] == task_id:
                return event[1]
            return None
        return match

    def stop(self):
        """driver.stop(): pymesos sends TEARDOWN as its IO thread exits."""
        self.driver.stop()
        thread = threading.Thread(target=self.driver.join, daemon=True)
        thread.start()
        thread.join(max(1.0, min(15.0, self.deadline + 10 - time.time())))
        return self.driver.teardown

    def framework_listed(self):
        """Whether /master/state still lists our framework among the active ones."""
        state = http_get_json(self.address, "/master/state")
        return any(f.get("id") == self.framework_id for f in state.get("frameworks", []))


def run(main):
    """Runs `main(argv)` and turns anything unexpected into a FAIL line; returns the exit code."""
    try:
        return main(sys.argv[1:])
    except KeyboardInterrupt:
        print("FAIL: interrupted (the pymesos driver thread aborts this way too)")
        print("0 passed, 1 failed")
        return 1
