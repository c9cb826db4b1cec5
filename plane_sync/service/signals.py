"""Signals of the daemon, acted on by a relay thread of their own, never inside a handler.

Python runs a signal handler in the main thread between any two bytecodes, wherever that
thread is: also inside ``Condition.wait`` after the loop checked its wake-up flag and before it
registered as a waiter (a notify from the handler is lost, and the loop sleeps its whole
timeout: up to a minute, while Ctrl-C's grace runs out), or holding an ``Event``'s lock (a
``set()`` from the handler deadlocks). And the kernel hands a process's signal to any thread
that does not block it, so a main thread asleep on a lock may not see it for a minute.

So the handlers do nothing in Python. The interpreter's own C-level handler writes the signal's
number to a pipe (:func:`signal.set_wakeup_fd`), whichever thread the kernel picked, and the
relay thread reads it and acts like any other thread would: stop, reload, and start the timer
of the stop deadline.
"""

from __future__ import annotations

import os
import signal
import threading
from collections.abc import Callable
from types import FrameType

RELAYED = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)


def install_handlers(*, stopping: Callable[[], bool], stop: Callable[[str], None],
                     reload: Callable[[], None], deadline: float,
                     past_deadline: Callable[[], None]) -> None:
    """SIGTERM/SIGINT: ``stop(signal name)``, then ``past_deadline()`` once ``deadline``
    seconds have passed (the running upload's grace; the journal cleans up what is cut off).
    A second SIGTERM/SIGINT changes nothing. SIGHUP: ``reload()``. Call from the main
    thread, once per process."""

    def act(signum: int) -> None:
        if signum == signal.SIGHUP:
            reload()
            return
        if stopping():
            return  # a second Ctrl-C: the deadline timer already runs
        stop(signal.Signals(signum).name)
        timer = threading.Timer(deadline, past_deadline)
        timer.daemon = True
        timer.start()

    read_fd, write_fd = os.pipe()
    os.set_blocking(write_fd, False)  # the C handler must never block
    signal.set_wakeup_fd(write_fd, warn_on_full_buffer=False)
    for signum in RELAYED:
        signal.signal(signum, _noted)
    threading.Thread(target=_relay, args=(read_fd, act), name="signals", daemon=True).start()


def _noted(signum: int, frame: FrameType | None) -> None:
    """The Python-level handler: nothing (it only replaces the default action, so that the
    C-level handler writes the number to the wakeup pipe instead of ending the process)."""


def _relay(read_fd: int, act: Callable[[int], None]) -> None:
    while True:
        try:
            received = os.read(read_fd, 64)
        except OSError:
            return
        if not received:
            return
        for signum in received:
            if signum in RELAYED:
                act(signum)
