"""Waiting with a deadline, and ending the whole job when a wait fails.

A data-parallel job where one rank is gone and the others wait forever is the worst outcome,
so every wait polls (sleeping between polls, so a waiting rank does not burn a core), checks a
deadline, and on failure prints one message naming the collective and aborts every rank.
"""
from __future__ import annotations

import sys
import time

# MPI advances a collective only while some rank polls it, and a large one takes several
# rounds between the ranks, so a collective in flight is polled every 20-100 us; a wait that
# lasts (a rank writing a checkpoint while the others wait at a barrier) backs off to 1 ms
# after 0.1 s and to 10 ms after 1 s, costing next to no CPU.
_FIRST_SLEEP = 2e-5
_SLEEP_CAPS = ((0.1, 1e-4), (1.0, 1e-3), (float("inf"), 1e-2))  # (waited up to s, cap)


def wait_until(done, *, what, timeout, check=None, on_timeout):
    """Poll ``done()`` until it returns True. ``check()`` runs between polls (it may end the
    job, e.g. when a peer has exited); after ``timeout`` seconds ``on_timeout(message)`` is
    called, which must not return."""
    if done():
        return
    start = time.monotonic()
    deadline = start + timeout
    delay = _FIRST_SLEEP
    while True:
        if check is not None:
            check()
        if done():
            return
        now = time.monotonic()
        if now > deadline:
            on_timeout(f"{what} timed out after {timeout:g} s: another rank never joined it "
                       f"(it is stuck, waiting in a different collective, or gone); "
                       f"set init_process_group(timeout=datetime.timedelta(...)) if it only "
                       f"needs longer")
        time.sleep(delay)
        cap = next(c for waited, c in _SLEEP_CAPS if now - start < waited)
        delay = min(delay * 1.5, cap)


def report(rank, message):
    """One line on stderr, flushed before an abort takes the process down."""
    try:
        sys.stdout.flush()
    except Exception:  # noqa: BLE001 - a closed stdout must not hide the message
        pass
    print(f"arrayneedle.distributed [rank {rank}]: {message}", file=sys.stderr, flush=True)
