#!/usr/bin/env bash
# Set up a virtualenv (the command is .venv/bin/plane-sync afterwards) and run plane-sync.
# With a config (-c FILE, $PLANE_SYNC_CONFIG or the default places) it runs the daemon;
# without one it runs the demo on the embedded emulator.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/venv.sh
install_once .   # skipped when pyproject.toml has not changed since the last install
config=${PLANE_SYNC_CONFIG:-${XDG_CONFIG_HOME:-$HOME/.config}/plane-sync/config.yaml}
if [ "$#" -gt 0 ]; then
  exec .venv/bin/plane-sync "$@"
elif [ -f "$config" ] || [ -f /etc/plane-sync/config.yaml ]; then
  exec .venv/bin/plane-sync run
else
  echo "No config found at $config: starting the demo on the embedded Plane emulator." >&2
  exec .venv/bin/plane-sync demo
fi
