"""The files of a run folder that train.py opens by name: never through a symlink, never a FIFO
or device, and read in bounded memory (the JSONL loss log: read, trimmed back to a checkpoint's
step by streaming, appended to)."""
from __future__ import annotations

import json
import os
import stat

from arrayneedle.serialization import atomic_write

from .validate import UsageError

__all__ = ["MAX_LOG_LINE", "open_own_file", "read_log", "trim_log"]


_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0) | \
    getattr(os, "O_CLOEXEC", 0)
MAX_LOG_LINE = 1 << 16  # train.py writes ~100-byte records; a longer line is not its log


def open_own_file(path, flags, what):
    """An fd of ``path`` opened with ``flags`` that is surely the run folder's own file: a
    symbolic link is not followed (a planted ``.train.lock`` or ``log.jsonl`` link would make
    train.py truncate or append to the file it points to), and a FIFO, device or a regular file
    with other hard links is refused, before a byte is read or written. FileNotFoundError when
    it is absent (and ``flags`` has no O_CREAT); UsageError otherwise."""
    try:
        fd = os.open(path, flags | _NOFOLLOW, 0o666)
    except FileNotFoundError:
        raise
    except OSError as e:
        if os.path.islink(path):
            raise UsageError(f"{path} is a symbolic link; train.py never writes through one "
                             f"(its {what} is a file it makes): remove it") from None
        raise UsageError(f"cannot open {what} {path}: {e.strerror}") from None
    st = os.fstat(fd)
    if not stat.S_ISREG(st.st_mode) or st.st_nlink > 1:
        os.close(fd)
        kind = "has other hard links" if stat.S_ISREG(st.st_mode) else \
            "is not a regular file (a FIFO, device or socket)"
        raise UsageError(f"{path} {kind}; train.py's {what} is a regular file it makes: "
                         f"remove it")
    return fd


def _log_lines(f, path):
    """(record, line) of each JSON line of an open log, without a torn last line; at most
    MAX_LOG_LINE bytes are held at a time, whatever the file's size."""
    prev = None
    for i, raw in enumerate(iter(lambda: f.readline(MAX_LOG_LINE + 1), b""), 1):
        if len(raw) > MAX_LOG_LINE:
            raise UsageError(f"{path} line {i} is longer than {MAX_LOG_LINE} bytes, not a JSON "
                             f"log record of train.py; move the file aside to resume")
        if not raw.strip():
            continue
        if prev is not None:
            yield _log_record(*prev, path, last=False)
        prev = (i, raw)
    if prev is not None:
        rec = _log_record(*prev, path, last=True)
        if rec is not None:
            yield rec


def _log_record(i, raw, path, last):
    line = raw[:-1] if raw.endswith(b"\n") else raw
    try:
        rec = json.loads(line)
        if not isinstance(rec, dict):
            raise TypeError("not a JSON object")
    except (ValueError, TypeError) as e:
        if last:
            return None  # torn last line: dropped
        raise UsageError(f"{path} line {i} is not a JSON log record ({e}); move the file aside "
                         f"to resume") from None
    if last and not raw.endswith(b"\n"):
        return None  # complete JSON but no newline: its write may have been cut; drop it too
    return rec, line


def _open_log_for_reading(path):
    try:
        return os.fdopen(open_own_file(path, os.O_RDONLY, "loss log"), "rb")
    except FileNotFoundError:
        return None


def read_log(path):
    """The records of a JSONL log, without a torn last line (a write cut short by a full disk
    or a power loss). A malformed line before the last is an error naming it."""
    f = _open_log_for_reading(path)
    if f is None:
        raise FileNotFoundError(f"no such log: {path}")
    with f:
        return list(_log_lines(f, path))


def trim_log(path, step):
    """Keep the records up to ``step`` (dropping a torn last line), rewritten atomically: a kill
    at any moment leaves the old log or the trimmed one. Streams: memory stays bounded by one
    line whatever the log's size."""
    f = _open_log_for_reading(path)
    if f is None:
        return 0
    with f:
        def kept():
            f.seek(0)
            for rec, line in _log_lines(f, path):
                s = rec.get("step", 0)
                if isinstance(s, (int, float)) and s <= step:
                    yield line + b"\n"
        count = size = 0
        for line in kept():
            count, size = count + 1, size + len(line)
        if size == os.fstat(f.fileno()).st_size:
            return count  # the kept lines are the whole file: nothing to rewrite

        def write(tmp):
            with open(tmp, "wb") as out:
                out.writelines(kept())
        atomic_write(path, write)
    return count
