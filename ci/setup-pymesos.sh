#!/usr/bin/env bash
# Install pymesos 0.3.15 (an unmodified third-party Mesos framework library) into a Python virtual
# environment, for the compatibility tests in tests/compat/ (driven by tests/tests/compat_pymesos.rs).
#
#   ci/setup-pymesos.sh VENV_DIR          # e.g. target/pymesos-venv, where the Rust test looks
#
# Idempotent: returns at once when VENV_DIR/bin/python can already import pymesos.
# Environment: PYTHON (default python3) picks the interpreter the venv is made from.
#
# Why not a plain `pip install pymesos`: pymesos needs http-parser 0.9.0, whose sdist ships a
# Cython-generated parser.c that includes longintrepr.h, gone from CPython 3.11's public headers,
# so it fails to compile on Python >= 3.11. We download the sdist, regenerate parser.c from its
# parser.pyx with Cython 0.29.37 (which knows 3.11), and install that.
#
# Needs: python3 with venv + ensurepip, the Python headers and a C compiler. On Debian/Ubuntu
# run as root, the script installs what is missing (python3-venv python3-dev build-essential);
# elsewhere install them yourself.
set -euo pipefail

if [ $# -ne 1 ]; then
    echo "usage: $0 VENV_DIR" >&2
    exit 2
fi
venv=$1
PYTHON=${PYTHON:-python3}
HTTP_PARSER=0.9.0
PIN_PYMESOS=(pymesos==0.3.15 six==1.17.0 addict==2.4.0 kazoo==2.11.0)

check() { "$venv/bin/python" -c 'import pymesos, http_parser.parser' >/dev/null 2>&1; }

if [ -x "$venv/bin/python" ] && check; then
    echo "pymesos already installed in $venv"
    exit 0
fi

# System prerequisites (Debian/Ubuntu, as root only; otherwise just report what is missing).
missing=()
"$PYTHON" -c 'import venv, ensurepip' >/dev/null 2>&1 || missing+=(python3-venv)
inc=$("$PYTHON" -c 'import sysconfig; print(sysconfig.get_paths()["include"])')
[ -f "$inc/Python.h" ] || missing+=(python3-dev)
command -v cc >/dev/null 2>&1 || missing+=(build-essential)
if [ ${#missing[@]} -gt 0 ]; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
        echo "installing ${missing[*]} with apt-get"
        export DEBIAN_FRONTEND=noninteractive
        apt-get update -qq
        apt-get install -y -qq "${missing[@]}" >/dev/null
    else
        echo "missing system packages: ${missing[*]} (install them, e.g. apt-get install ${missing[*]})" >&2
        exit 1
    fi
fi

rm -rf "$venv"
"$PYTHON" -m venv "$venv"
pip=("$venv/bin/python" -m pip -q --disable-pip-version-check)
"${pip[@]}" install "cython==0.29.37" "setuptools<81" wheel

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
"${pip[@]}" download --no-deps --no-binary :all: "http-parser==$HTTP_PARSER" -d "$work"
tar -xzf "$work/http-parser-$HTTP_PARSER.tar.gz" -C "$work"
src=$work/http-parser-$HTTP_PARSER
rm -f "$src"/http_parser/*.so
# Regenerate parser.c; Cython's warnings about the old .pyx are harmless noise.
"$venv/bin/cython" -2 "$src/http_parser/parser.pyx" 2>&1 | grep -v '^warning' || true
"${pip[@]}" install --no-build-isolation "$src"
"${pip[@]}" install "${PIN_PYMESOS[@]}"

if ! check; then
    echo "pymesos installed but 'import pymesos, http_parser.parser' fails in $venv" >&2
    exit 1
fi
echo "pymesos $("$venv/bin/python" -c 'import pymesos; print(pymesos.__VERSION__)') ready in $venv"
