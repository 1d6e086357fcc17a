#!/usr/bin/env bash
# `python3 -m venv` needs ensurepip: a clean Debian has python3 without it, so python3-venv comes from apt
# (as in scripts/setup-python.sh). Used by the scripts that make their own venv from PyPI.
set -euo pipefail
python3 -c 'import ensurepip, venv' 2>/dev/null && exit 0
SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
DEBIAN_FRONTEND=noninteractive $SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq python3-venv >/dev/null
