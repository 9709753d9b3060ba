"""Imported first by the forkserver of :mod:`netplan.processes`: the server stays quiet when a run is interrupted.

The server ignores SIGINT once it runs, but not while it imports its preload
modules (PyVRP takes a second or more), and a worker it forks while the run
that asked for it is ending finds the run's pipes gone: either printed a
traceback under the run's clean "interrupted" message. The run's own process
handles Ctrl-C and ends the workers; a task's errors still reach it through the
pool, so only these infrastructure errors of a vanished run are kept quiet.
"""

import signal
import sys
from types import TracebackType

signal.signal(signal.SIGINT, signal.SIG_IGN)

_VANISHED_RUN = (KeyboardInterrupt, FileNotFoundError, ConnectionError, EOFError)
_default_hook = sys.excepthook


def _quiet_when_the_run_is_gone(
    kind: type[BaseException], value: BaseException, traceback: TracebackType | None
) -> None:
    if issubclass(kind, _VANISHED_RUN):
        return
    _default_hook(kind, value, traceback)


sys.excepthook = _quiet_when_the_run_is_gone
