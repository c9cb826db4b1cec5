"""Signal handlers of the daemon: they only set flags and start a timer, nothing else.

No logging here: a handler may interrupt the main thread inside the log writer's
(non-reentrant) lock. The loop logs what it sees once it sees it.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable
from types import FrameType


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
