"""Signals are acted on by a relay thread, never inside a handler running in the main thread.

Each case runs in a fresh interpreter (handlers belong to the process's main thread). The signal
arrives while the main thread holds a lock that acting on it needs, as it does when Ctrl-C lands
inside ``Condition.wait`` or ``Event.wait`` of the daemon's loop: a handler doing the work there
deadlocks (or loses its wake-up); the relay thread waits for the lock and then acts.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]

PRELUDE = """
import os, signal, threading, time
from plane_sync.service.signals import install_handlers

lock = threading.Lock()  # what the main thread holds when the signal comes
stopped = threading.Event()
reloaded = threading.Event()
names = []

def stop(name):
    with lock:
        names.append(name)
        stopped.set()

def reload():
    with lock:
        reloaded.set()

install_handlers(stopping=stopped.is_set, stop=stop, reload=reload, deadline={deadline},
                 past_deadline=lambda: os._exit(7))
"""


def run_case(body: str, *, deadline: float = 30.0) -> subprocess.CompletedProcess[str]:
    code = PRELUDE.format(deadline=deadline) + textwrap.dedent(body)
    return subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True,
                          text=True, timeout=30, check=False)


def test_a_stop_signal_arriving_while_the_main_thread_holds_a_lock_is_acted_on() -> None:
    done = run_case("""
        with lock:
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(0.3)  # a handler doing the work would run here, and block for ever
        assert stopped.wait(20), "stop was never called"
        assert names == ["SIGTERM"], names
        os.kill(os.getpid(), signal.SIGINT)  # a second one changes nothing
        time.sleep(0.3)
        assert names == ["SIGTERM"], names
        print("ok")
    """)
    assert done.returncode == 0 and done.stdout == "ok\n", done.stderr


def test_sighup_reloads_and_the_stop_deadline_still_ends_the_process() -> None:
    done = run_case("""
        with lock:
            os.kill(os.getpid(), signal.SIGHUP)
            time.sleep(0.3)
        assert reloaded.wait(20), "reload was never called"
        os.kill(os.getpid(), signal.SIGINT)
        assert stopped.wait(20)
        time.sleep(30)  # the deadline (1 s) ends the process first
    """, deadline=1.0)
    assert done.returncode == 7, done.stderr
