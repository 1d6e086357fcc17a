#!/usr/bin/env bash
# `bash scripts/ensure-python-venv.sh DIR`: a fresh, empty venv at DIR (an old one is removed). `python3 -m venv` needs
# ensurepip: a clean Debian has python3 without it, so python3-venv comes from apt first (as in
# scripts/setup-python.sh). Used by the scripts that make their own venv from PyPI.
set -euo pipefail
DIR=${1:?usage: ensure-python-venv.sh DIR}
if ! python3 -c 'import ensurepip, venv' 2>/dev/null; then
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq python3-venv >/dev/null
fi
rm -rf "$DIR"
python3 -m venv "$DIR"
