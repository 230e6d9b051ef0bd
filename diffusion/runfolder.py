"""The output folder of a training run: which checkpoint to resume, what may be replaced, a lock
against a second ``train.py`` on the same folder, the JSONL loss log, and checkpoint writes.

The policy, decided before anything is written:

- a fresh run (and ``--overwrite`` of an existing one) writes into a temporary sibling folder
  ``.NAME.new-XXXXXXXX``; when its first checkpoint is on disk the folder takes the name
  ``--out`` (an old run there is moved aside and then removed). A run that fails before its
  first checkpoint leaves ``--out`` exactly as it was;
- ``--resume auto`` continues ``--out/checkpoint.npz``; a folder with files but no checkpoint is
  refused rather than mixed with a new run;
- ``--resume PATH --out B`` where B holds another run is refused without ``--overwrite``;
- the lock is ``fcntl.flock`` on ``.train.lock`` in the run folder, held for the whole run, so
  a second ``train.py`` on the same folder refuses at once (the kernel drops the lock when the
  process dies, so a killed run never leaves the folder locked).
"""
from __future__ import annotations

import fcntl
import os
import shutil
import stat
import tempfile

import arrayneedle as an
from arrayneedle.serialization import current_umask

from .runfiles import _NOFOLLOW, open_own_file, read_log, trim_log
from .validate import UsageError

__all__ = ["LOCK", "RunError", "RunFolder", "check_checkpoint_file", "read_log", "restore_rng",
           "trim_log"]

LOCK = ".train.lock"
CHECKPOINT = "checkpoint.npz"
LOG = "log.jsonl"


class RunError(RuntimeError):
    """A run stopped by a fault (disk full, divergence): one line, exit code 1; the last
    checkpoint is kept."""


# ---------------------------------------------------------------------------------------------
# random numbers across devices
# ---------------------------------------------------------------------------------------------
def restore_rng(device, state, seed, step, log=print, source="the checkpoint"):
    """Continue the checkpoint's random stream on ``device``. A host (NumPy) state restores
    exactly on the CPU. CuPy's generator state stays on the GPU, so on CUDA, and on the CPU for
    a state saved on CUDA, the stream restarts from a seed derived from the run's seed and the
    step (deterministic, but not the stream a straight run would have drawn)."""
    derived = seed * 1_000_003 + int(step)
    if device.kind == "cuda":
        device.seed(derived)
        if isinstance(state, dict) and "bit_generator" in state:
            log(f"the checkpoint's random state is from the CPU: continuing on {device} from "
                f"seed {seed} and step {step} (deterministic; CUDA resumes always reseed)")
        return "reseeded"
    from_cuda = isinstance(state, dict) and state.get("device") == "cuda" and \
        isinstance(state.get("seed"), int)
    try:
        device.set_rng_state(state)
        return "restored"
    except ValueError as e:
        if not from_cuda:  # not a state another device wrote: say what it is
            raise UsageError(f"{source} holds a malformed random-generator state "
                             f"({str(e).splitlines()[0][:200]})") from None
        device.seed(derived)
        log(f"the checkpoint's random state is from another device kind than {device}: "
            f"continuing from seed {seed} and step {step} (deterministic; exact resume needs "
            f"the device kind that saved it)")
        return "reseeded"
    except (TypeError, KeyError, AttributeError) as e:
        raise UsageError(f"{source} holds a malformed random-generator state ({e})") from None


# ---------------------------------------------------------------------------------------------
# the folder
# ---------------------------------------------------------------------------------------------
def _is_run_file(name):
    return name != LOCK and not name.startswith(".tmp-")


def _has_files(folder):
    return os.path.isdir(folder) and any(_is_run_file(n) for n in os.listdir(folder))


def _try_lock(path, create):
    """An fd holding an exclusive flock on ``path``, None if it does not exist (and not
    ``create``); UsageError if another process holds it, or if ``path`` is not a lock file
    train.py made (a symlink, FIFO or device: never truncated through)."""
    flags = os.O_RDWR | (os.O_CREAT if create else 0)
    try:
        fd = open_own_file(path, flags, "lock file")
    except FileNotFoundError:
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        holder = _holder(path)
        who = f" (pid {holder})" if holder.isdigit() else ""
        raise UsageError(f"{os.path.dirname(path) or '.'} is in use by another train.py"
                         f"{who}; wait for it to finish or choose another --out") from None
    os.ftruncate(fd, 0)
    os.pwrite(fd, str(os.getpid()).encode(), 0)
    return fd


class _ParentLock:
    """A short flock on the folder that holds ``out``: making a ``.new-`` folder and renaming
    one to ``out`` happen one process at a time, so two runs started together into one new
    ``--out`` cannot both decide it is free."""

    def __init__(self, out):
        self.folder = os.path.dirname(os.path.abspath(out))

    def __enter__(self):
        self.fd = os.open(self.folder, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
        fcntl.flock(self.fd, fcntl.LOCK_EX)
        return self

    def __exit__(self, *exc):
        os.close(self.fd)
        return False


def _identity(folder):
    """What is at ``folder`` now: None when absent or without run files, else its inode."""
    if not _has_files(folder):
        return None
    st = os.stat(folder)
    return st.st_dev, st.st_ino


class RunFolder:
    """Where a run writes. ``plan`` decides and refuses (writing nothing); ``begin`` takes the
    lock and makes the folder; ``path`` is where files go now; ``saved_checkpoint`` publishes a
    new run once its first checkpoint exists; use as a context manager around the run."""

    def __init__(self, out, resume_path, replace):
        self.out = out
        self.resume_path = resume_path
        self.replace = replace          # write a new run beside ``out``, swap at first checkpoint
        self.path = out
        self.committed = not replace
        self._held = {}                 # lock file path -> fd holding its flock
        self._seen = None               # the run at ``out`` when planned (None: none)

    def _lock(self, folder, create):
        """Hold the lock of ``folder`` (once per process: a second flock of the same file
        from this process would conflict with the first)."""
        path = os.path.join(os.path.abspath(folder), LOCK)
        if path not in self._held:
            fd = _try_lock(path, create)
            if fd is not None:
                self._held[path] = fd
        return path in self._held

    @classmethod
    def plan(cls, out, resume=None, overwrite=False, lock=True):
        """Decide where the run goes and refuse what would lose files, writing nothing.
        ``lock=False`` for the ranks other than 0 of a data-parallel run: they read the same
        folder (and must reach the same decision) but never write or lock it."""
        ck = os.path.join(out, CHECKPOINT)
        self = cls(out, None, False)
        try:
            if lock:
                self._lock(out, create=False)  # refuse a busy folder before anything else
            if not os.path.lexists(out):
                halfway = _siblings(out, "old")
                if halfway:
                    raise UsageError(f"{out} is missing but {os.path.join(halfway[0], 'run')} "
                                     f"holds the run a killed --overwrite was replacing (its "
                                     f"new run is in a .new- folder beside it if it got that "
                                     f"far): rename the one to keep to {out}")
            if resume == "auto":
                if os.path.exists(ck):
                    self.resume_path = check_checkpoint_file(ck, "--resume auto")
                elif _has_files(out) and not overwrite:
                    raise UsageError(f"--resume auto: {out} has files but no {CHECKPOINT}; "
                                     f"pass --overwrite to replace them or choose another --out")
            elif resume:
                self.resume_path = check_checkpoint_file(resume, f"--resume {resume}")
                same = os.path.exists(ck) and os.path.samefile(ck, resume)
                if _has_files(out) and not same and not overwrite:
                    raise UsageError(f"--out {out} holds another run; resuming {resume} there "
                                     f"would mix the two: pass --overwrite to replace it or "
                                     f"choose another --out")
            elif _has_files(out) and not overwrite:
                raise UsageError(f"output folder {out} already exists and is not empty; pass "
                                 f"--resume auto to continue that run or --overwrite to "
                                 f"replace it")
        except BaseException:
            self.close()
            raise
        resuming_here = self.resume_path is not None and os.path.exists(ck) and \
            os.path.samefile(ck, self.resume_path)
        if not resuming_here:
            self.replace, self.committed = True, False
        elif lock:
            try:  # its log is appended to: refuse a planted symlink/FIFO/device before writing
                os.close(open_own_file(os.path.join(out, LOG), os.O_RDONLY, "loss log"))
            except FileNotFoundError:
                pass
            except BaseException:
                self.close()
                raise
        self._seen = _identity(out)
        return self

    def _check_unchanged(self, doing):
        """Refuse when another run was published at ``out`` since ``plan`` (its swap holds the
        parent's lock, so this answer stays true until ours is released)."""
        now = _identity(self.out)
        if now is not None and now != self._seen:
            raise UsageError(f"another train.py created a run in {self.out} while this one was "
                             f"{doing}; it is left as it is: choose another --out, or "
                             f"--resume auto to continue that run")

    def begin(self):
        """Take the lock and make the folder the run writes into (nothing before this)."""
        if self.replace:
            parent = os.path.dirname(os.path.abspath(self.out))
            os.makedirs(parent, exist_ok=True)
            name = os.path.basename(os.path.abspath(self.out))
            if os.path.isdir(self.out):  # keep others off the old run until it is replaced
                self._lock(self.out, create=True)
            with _ParentLock(self.out):
                self._check_unchanged("starting")
                live = _remove_stale_siblings(self.out)
                if live and self._seen is None:  # both would create it: the first wins
                    raise UsageError(f"{self.out} is being created by another train.py "
                                     f"{live[0]}; wait for it to finish or choose another --out")
                self.path = tempfile.mkdtemp(prefix=f".{name}.new-", dir=parent)
                # mkdtemp makes it 0o700; the published run gets what os.makedirs gives
                os.chmod(self.path, 0o777 & ~current_umask())
                self._lock(self.path, create=True)
        else:
            os.makedirs(self.out, exist_ok=True)
        self._lock(self.path, create=True)
        return self

    def file(self, name):
        return os.path.join(self.path, name)

    def open_log(self):
        """The loss log opened for appending (text), only if it is the folder's own regular
        file (see ``open_own_file``)."""
        flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT
        return os.fdopen(open_own_file(self.file(LOG), flags, "loss log"), "a")

    def save_checkpoint(self, state):
        """Write the checkpoint atomically; the first one publishes a new run at ``out``. A
        failed write (disk full) keeps the previous checkpoint and raises RunError."""
        path = self.file(CHECKPOINT)
        try:
            an.save(state, path)
        except OSError as e:
            kept = (f"the previous checkpoint {os.path.join(self.out, CHECKPOINT)} is kept"
                    if self.committed and os.path.exists(path) else
                    f"no checkpoint of this run exists yet; {self.out} is unchanged")
            raise RunError(f"cannot write checkpoint at step {state.get('step')}: "
                           f"{e.strerror or e}; {kept}") from None
        if not self.committed:
            self._publish()
        return os.path.join(self.out, CHECKPOINT)

    def _publish(self):
        with _ParentLock(self.out):
            self._check_unchanged("training")
            self._swap_in()

    def _swap_in(self):
        out = os.path.abspath(self.out)
        old = None
        self._lock(out, create=False)  # a live run there since plan(): UsageError, untouched
        if os.path.lexists(out):
            if os.path.isdir(out) and not os.listdir(out):
                os.rmdir(out)
            else:
                old = tempfile.mkdtemp(prefix=f".{os.path.basename(out)}.old-",
                                       dir=os.path.dirname(out))
                os.replace(out, os.path.join(old, "run"))
        os.replace(self.path, out)
        self.path, self.committed = self.out, True
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)

    def no_checkpoint_note(self):
        """What a failure message says about the checkpoint that survives."""
        if self.committed and os.path.exists(self.file(CHECKPOINT)):
            return f"the last checkpoint in {self.out} is kept"
        return (f"no checkpoint exists yet ({os.path.abspath(self.out)} is unchanged), so "
                f"there is nothing to resume")

    def close(self, failed=False):
        if failed and not self.committed and self.path != self.out:
            shutil.rmtree(self.path, ignore_errors=True)
            self.path = self.out
        for fd in self._held.values():
            os.close(fd)  # closing the last descriptor releases the flock
        self._held = {}

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        self.close(failed=exc_type is not None)
        return False


def _siblings(out, kind):
    """The hidden ``.NAME.new-*`` / ``.NAME.old-*`` folders beside ``out``."""
    out = os.path.abspath(out)
    parent, name = os.path.dirname(out), os.path.basename(out)
    prefix = f".{name}.{kind}-"
    try:
        names = os.listdir(parent)
    except OSError:
        return []
    return sorted(os.path.join(parent, n) for n in names
                  if n.startswith(prefix) and len(n) == len(prefix) + 8)


def _holder(lock):
    """The pid written in a held lock file ('' if it cannot be read without following a link
    or opening a FIFO)."""
    try:
        fd = os.open(lock, os.O_RDONLY | _NOFOLLOW)
    except OSError:
        return ""
    try:
        if stat.S_ISREG(os.fstat(fd).st_mode):
            return os.pread(fd, 32, 0).decode(errors="replace").strip()
        return ""
    finally:
        os.close(fd)


def _remove_stale_siblings(out):
    """Remove the folders that killed runs left beside ``out``: an unpublished ``.new-`` folder
    whose lock nobody holds (its process is gone), and an ``.old-`` folder once ``out`` exists
    again (the swap it was part of had finished its second rename). Returns the live ones, as
    "(pid N) in FOLDER"."""
    live = []
    for folder in _siblings(out, "new"):
        lock = os.path.join(folder, LOCK)
        try:
            fd = _try_lock(lock, create=False)
        except UsageError:  # a live run, still before its first checkpoint
            pid = _holder(lock)
            live.append((f"(pid {pid}) " if pid.isdigit() else "") + f"in {folder}")
            continue
        if fd is not None:
            os.close(fd)
        shutil.rmtree(folder, ignore_errors=True)
    if os.path.isdir(out):
        for folder in _siblings(out, "old"):
            shutil.rmtree(folder, ignore_errors=True)
    return live


def check_checkpoint_file(path, flag, weights_ok=False):
    """``path`` is a regular file that can hold a training checkpoint (or, with
    ``weights_ok``, a ``.safetensors`` weights file); returns it as a str."""
    if str(path).endswith(".safetensors") and not weights_ok:
        raise UsageError(f"{flag} holds model weights only; resuming needs a full "
                         f"training checkpoint ({CHECKPOINT} written by train.py, with the "
                         f"optimizer, EMA, data-loader and random state)")
    try:
        st = os.stat(path)
    except FileNotFoundError:
        raise UsageError(f"{flag}: no such checkpoint file") from None
    except OSError as e:
        raise UsageError(f"{flag}: cannot read it ({e.strerror})") from None
    if stat.S_ISDIR(st.st_mode):
        hint = " or use --resume auto" if flag.startswith("--resume") else ""
        raise UsageError(f"{flag} is a folder; give the checkpoint file (e.g. "
                         f"{os.path.join(str(path), CHECKPOINT)}){hint}")
    if not stat.S_ISREG(st.st_mode):
        raise UsageError(f"{flag} is not a regular file (a FIFO or device); give a checkpoint "
                         f"file")
    return str(path)
