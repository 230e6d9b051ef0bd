"""Waiting with a deadline, and ending the whole job when a wait fails.

A data-parallel job where one rank is gone and the others wait forever is the worst outcome,
so every wait polls (sleeping between polls, so a waiting rank does not burn a core), checks a
deadline, and on failure prints one message naming the collective and aborts every rank.
"""
from __future__ import annotations

import sys
import time

# Polls start fast (a small collective finishes within tens of microseconds and MPI advances
# only while it is polled) and back off to at most 1 ms between polls.
_FIRST_SLEEP = 2e-5
_MAX_SLEEP = 1e-3


def wait_until(done, *, what, timeout, check=None, on_timeout):
    """Poll ``done()`` until it returns True. ``check()`` runs between polls (it may end the
    job, e.g. when a peer has exited); after ``timeout`` seconds ``on_timeout(message)`` is
    called, which must not return."""
    if done():
        return
    deadline = time.monotonic() + timeout
    delay = _FIRST_SLEEP
    while True:
        if check is not None:
            check()
        if done():
            return
        if time.monotonic() > deadline:
            on_timeout(f"{what} timed out after {timeout:g} s: another rank never joined it "
                       f"(it is stuck, waiting in a different collective, or gone); "
                       f"set init_process_group(timeout=datetime.timedelta(...)) if it only "
                       f"needs longer")
        time.sleep(delay)
        delay = min(delay * 1.5, _MAX_SLEEP)


def report(rank, message):
    """One line on stderr, flushed before an abort takes the process down."""
    try:
        sys.stdout.flush()
    except Exception:  # noqa: BLE001 - a closed stdout must not hide the message
        pass
    print(f"arrayneedle.distributed [rank {rank}]: {message}", file=sys.stderr, flush=True)
