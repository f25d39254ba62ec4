"""Child processes that die with their parent.

A parent starts a worker with ``child_env()`` (its pid in ``ANNANN_PARENT_PID``); the worker calls
``die_with_parent()`` first thing. On Linux the kernel then kills the worker (SIGKILL) as soon as
the parent dies, even when the parent itself was killed with SIGKILL and ran no clean-up; a worker
whose parent died before it could register exits at once. Elsewhere only that last check applies.
"""

import ctypes
import os
import signal
import sys

PARENT_ENV = "ANNANN_PARENT_PID"
PR_SET_PDEATHSIG = 1  # <linux/prctl.h>
ORPHAN_EXIT = 70  # exit status of a worker that found its parent gone


def child_env(env=None):
    """``env`` (default: this process's environment) naming this process as the parent."""
    return dict(os.environ if env is None else env, **{PARENT_ENV: str(os.getpid())})


def set_parent_death_signal(sig=signal.SIGKILL):
    """Ask the kernel to send ``sig`` to this process when its parent dies; False where the
    platform has no such request (not Linux) or it failed."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return libc.prctl(PR_SET_PDEATHSIG, int(sig), 0, 0, 0) == 0
    except (OSError, AttributeError):
        return False


def die_with_parent():
    """Tie this worker's life to the parent that started it with ``child_env()``.

    Registers the parent-death signal, then exits (status ORPHAN_EXIT) if the parent named in
    ``ANNANN_PARENT_PID`` is no longer this process's parent (it died before the registration).
    Without that variable only the signal is registered. Returns True if the signal is set.
    """
    armed = set_parent_death_signal()
    expected = os.environ.get(PARENT_ENV, "")
    if expected.isdigit() and os.getppid() != int(expected):
        print(f"parent process {expected} is gone; exiting", file=sys.stderr, flush=True)
        os._exit(ORPHAN_EXIT)
    return armed
