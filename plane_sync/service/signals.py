"""Signal handlers of the daemon: they only set flags and start a timer, nothing else.

No logging here: a handler may interrupt the main thread inside the log writer's
(non-reentrant) lock. The loop logs what it sees once it sees it.

Python runs handlers in the main thread, but the kernel hands a process's signal to any
thread that does not block it. Delivered to a helper thread (a watcher, the control socket),
it only sets a flag, and a main thread asleep on a lock sees it when the sleep ends, up to a
minute later; right after SIGCONT, when the main thread is the last to wake, that is what
happens. So every helper thread is started under :func:`signals_to_main_thread`: it inherits
a mask that blocks them, and the kernel has only the main thread to choose.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Callable, Iterator
from types import FrameType

HANDLED = {signal.SIGTERM, signal.SIGINT, signal.SIGHUP}


@contextlib.contextmanager
def signals_to_main_thread() -> Iterator[None]:
    """Threads started inside this block never receive SIGTERM, SIGINT or SIGHUP (see the
    module docstring); the calling thread gets its own mask back afterwards (a signal that
    arrived meanwhile is delivered then)."""
    old = signal.pthread_sigmask(signal.SIG_BLOCK, HANDLED)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, old)


def install_handlers(*, stopping: Callable[[], bool], stop: Callable[[str], None],
                     reload: Callable[[], None], deadline: float,
                     past_deadline: Callable[[], None]) -> None:
    """SIGTERM/SIGINT: ``stop(signal name)``, then ``past_deadline()`` once ``deadline``
    seconds have passed (the running upload's grace; the journal cleans up what is cut off).
    A second SIGTERM/SIGINT changes nothing. SIGHUP: ``reload()``."""

    def on_term(signum: int, frame: FrameType | None) -> None:
        if stopping():
            return  # a second Ctrl-C: the deadline timer already runs
        stop(signal.Signals(signum).name)
        timer = threading.Timer(deadline, past_deadline)
        timer.daemon = True
        timer.start()

    def on_hup(signum: int, frame: FrameType | None) -> None:
        reload()

    signal.signal(signal.SIGTERM, on_term)
    signal.signal(signal.SIGINT, on_term)
    signal.signal(signal.SIGHUP, on_hup)
