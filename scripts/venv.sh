# Sourced by run.sh and test.sh: make .venv with whatever this machine has.
# Debian's python3 lacks ensurepip unless python3-venv is installed; fall back to virtualenv.
PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  if ! "$PY" -m venv .venv 2>/dev/null; then
    rm -rf .venv
    "$PY" -m pip install --quiet --user virtualenv 2>/dev/null \
      || "$PY" -m pip install --quiet --user --break-system-packages virtualenv
    "$PY" -m virtualenv --quiet .venv
  fi
fi
.venv/bin/python -m pip install --quiet --upgrade pip >/dev/null 2>&1 || true
