# Sourced by run.sh and test.sh: make .venv with whatever this machine has, and
# install_once SPEC to pip-install it only when needed.
# Debian's python3 lacks ensurepip unless python3-venv is installed; fall back to virtualenv.
PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  if ! "$PY" -m venv .venv 2>/dev/null; then
    rm -rf .venv
    "$PY" -m pip install --quiet --user virtualenv 2>/dev/null \
      || "$PY" -m pip install --quiet --user --break-system-packages virtualenv
    "$PY" -m virtualenv --quiet .venv
  fi
  .venv/bin/python -m pip install --quiet --upgrade pip >/dev/null 2>&1 || true
fi

# install_once SPEC: `pip install -e SPEC` unless this SPEC was installed from this very
# pyproject.toml before (an editable install follows code changes by itself; only new
# dependencies need pip). Setuptools' chatter is shown only when the install fails.
# `rm .venv/install-stamp` forces a reinstall.
install_once() {
  want="$1 $(sha256sum pyproject.toml | cut -d' ' -f1)"
  if [ -x .venv/bin/plane-sync ] && grep -qxF "$want" .venv/install-stamp 2>/dev/null; then
    return 0
  fi
  if ! .venv/bin/python -m pip install --quiet -e "$1" >.venv/install.log 2>&1; then
    cat .venv/install.log >&2
    return 1
  fi
  echo "$want" >>.venv/install-stamp
}
