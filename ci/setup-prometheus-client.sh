#!/usr/bin/env bash
# Install prometheus-client (the official Python client, whose text parser the tests use to check
# GET /metrics) into a Python virtual environment; driven by tests/tests/prometheus.rs.
#
#   ci/setup-prometheus-client.sh VENV_DIR    # e.g. target/prometheus-venv, where the test looks
#
# Idempotent: returns at once when VENV_DIR/bin/python can already import prometheus_client.
# Environment: PYTHON (default python3) picks the interpreter the venv is made from.
set -euo pipefail

if [ $# -ne 1 ]; then
    echo "usage: $0 VENV_DIR" >&2
    exit 2
fi
venv=$1
PYTHON=${PYTHON:-python3}
PIN=prometheus-client==0.26.0

check() { "$venv/bin/python" -c 'import prometheus_client.parser' >/dev/null 2>&1; }

if [ -x "$venv/bin/python" ] && check; then
    echo "prometheus-client already installed in $venv"
    exit 0
fi

if ! "$PYTHON" -c 'import venv, ensurepip' >/dev/null 2>&1; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
        echo "installing python3-venv with apt-get"
        export DEBIAN_FRONTEND=noninteractive
        apt-get update -qq
        apt-get install -y -qq python3-venv >/dev/null
    else
        echo "missing system package: python3-venv (e.g. apt-get install python3-venv)" >&2
        exit 1
    fi
fi

rm -rf "$venv"
"$PYTHON" -m venv "$venv"
"$venv/bin/python" -m pip -q --disable-pip-version-check install "$PIN"

if ! check; then
    echo "$PIN installed but 'import prometheus_client.parser' fails in $venv" >&2
    exit 1
fi
echo "$PIN ready in $venv"
