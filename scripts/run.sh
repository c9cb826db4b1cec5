#!/usr/bin/env bash
# Set up a virtualenv and run plane-sync. With a config (-c FILE, $PLANE_SYNC_CONFIG or the
# default places) it runs the daemon; without one it runs the demo on the embedded emulator.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/venv.sh
# Setuptools' build chatter is kept out of the way; shown only when the install fails.
if ! .venv/bin/python -m pip install --quiet -e . >.venv/install.log 2>&1; then
  cat .venv/install.log >&2
  exit 1
fi
config=${PLANE_SYNC_CONFIG:-${XDG_CONFIG_HOME:-$HOME/.config}/plane-sync/config.yaml}
if [ "$#" -gt 0 ]; then
  exec .venv/bin/plane-sync "$@"
elif [ -f "$config" ] || [ -f /etc/plane-sync/config.yaml ]; then
  exec .venv/bin/plane-sync run
else
  echo "No config found at $config: starting the demo on the embedded Plane emulator." >&2
  exec .venv/bin/plane-sync demo
fi
