#!/usr/bin/env python3
"""A custom executor written with pymesos' MesosExecutorDriver (v1 executor HTTP API).

pymesos_executor.py launches it through ExecutorInfo.command with the venv's interpreter. The
agent starts it with MESOS_AGENT_ENDPOINT, MESOS_FRAMEWORK_ID, MESOS_EXECUTOR_ID, ... set; the
driver SUBSCRIBEs to the agent, which then sends LAUNCH for the task. For each task the executor
sends TASK_RUNNING, pauses, and sends TASK_FINISHED with MESSAGE and DATA below (pymesos adds the
uuid, timestamp and source; the agent fills in agent_id and executor_id). It exits once the agent
has relayed both acknowledgements (or sends SHUTDOWN), or after 60 s.

With MESETA_TEST_GO_FILE set (the agent recovery tests), each task runs until that file exists
instead of pausing, so the agent can be restarted while the executor works.
"""
from __future__ import print_function

import logging
import os
import sys
import threading
import time

from pymesos import Executor, MesosExecutorDriver, encode_data

MESSAGE = "finished by the pymesos executor"
DATA = b"pymesos-executor-data"


class Driver(MesosExecutorDriver):
    """Counts ACKNOWLEDGED events (pymesos only uses them to forget updates)."""

    def __init__(self, executor):
        MesosExecutorDriver.__init__(self, executor)
        self.acknowledged = 0
        self.all_acknowledged = threading.Event()
        self.expected_acks = 0

    def on_acknowledged(self, event):
        MesosExecutorDriver.on_acknowledged(self, event)
        self.acknowledged += 1
        if self.expected_acks and self.acknowledged >= self.expected_acks:
            self.all_acknowledged.set()


class OneShot(Executor):
    def __init__(self):
        self.done = threading.Event()

    def registered(self, driver, executor_info, framework_info, agent_info):
        logging.info("registered: executor %s of framework %s on %s",
                     executor_info["executor_id"]["value"], framework_info["id"]["value"],
                     agent_info.get("hostname"))

    def launchTask(self, driver, task):
        driver.expected_acks += 2

        def work():
            try:
                driver.sendStatusUpdate({"task_id": task["task_id"], "state": "TASK_RUNNING",
                                         "message": "running in the pymesos executor"})
                go = os.environ.get("MESETA_TEST_GO_FILE")
                if go:
                    while not os.path.exists(go):
                        time.sleep(0.05)
                else:
                    time.sleep(0.5)
                driver.sendStatusUpdate({"task_id": task["task_id"], "state": "TASK_FINISHED",
                                         "message": MESSAGE, "data": encode_data(DATA)})
            except Exception:  # noqa: BLE001 - logged to the sandbox's stderr
                logging.exception("sending a status update failed")
                self.done.set()

        threading.Thread(target=work, daemon=True).start()

    def killTask(self, driver, task_id):
        driver.sendStatusUpdate({"task_id": task_id, "state": "TASK_KILLED"})

    def shutdown(self, driver):
        logging.info("shutdown requested")
        self.done.set()


def main():
    logging.basicConfig(level=logging.INFO, stream=sys.stderr,
                        format="%(asctime)s executor %(levelname)s %(message)s")
    executor = OneShot()
    driver = Driver(executor)
    driver.start()
    deadline = time.time() + 60
    while time.time() < deadline and not executor.done.is_set():
        if driver.all_acknowledged.wait(0.2):
            logging.info("all %d updates acknowledged", driver.acknowledged)
            break
    driver.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
