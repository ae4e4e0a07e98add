"""The output file: a regular file or nothing before, a complete file after, no temporary file left.

Written as `.<name>.<pid>.partial<suffix>` beside the target and renamed onto it only over a regular
file (checked again right before the rename); removed on every other exit, SIGTERM and SIGHUP
included; earlier killed runs' partial files (their pid not alive) are removed. Stdlib and core only.
"""

import os
import re
import signal
import stat
import threading
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from ltx_trt.core.errors import UserError
from ltx_trt.core.manifest import remove_dead_writers

HINT = "pass --output with the name of a regular file (replaced) or a new one, in a writable folder"
NOT_REGULAR = ((stat.S_ISDIR, "a folder"), (stat.S_ISFIFO, "a FIFO"), (stat.S_ISCHR, "a character device"),
               (stat.S_ISBLK, "a block device"), (stat.S_ISSOCK, "a socket"), (stat.S_ISLNK, "a symlink"))
# Turned into SystemExit(128 + signal) while a partial file exists, so `finally` blocks remove it;
# 143 for SIGTERM is what a shell reports for a killed process. Only signals left at their default.
EXIT_SIGNALS = (signal.SIGTERM, signal.SIGHUP)


def refuse_special(path: Path, follow_symlinks: bool = True) -> None:
    """UserError unless `path` is a regular file or does not exist."""
    try:
        mode = os.stat(path, follow_symlinks=follow_symlinks).st_mode
    except FileNotFoundError:
        return
    except OSError as err:
        raise UserError(f"cannot write {path}: {err.strerror}", HINT) from err
    for test, kind in NOT_REGULAR:
        if test(mode):
            raise UserError(f"output path {path} is {kind}, not a regular file", HINT)
    if not stat.S_ISREG(mode):
        raise UserError(f"output path {path} is not a regular file", HINT)


def partial_name(target: Path, pid: int) -> Path:
    return target.with_name(f".{target.name}.{pid}.partial{target.suffix}")


def remove_stale(target: Path) -> list[Path]:
    """Remove `target`'s partial files whose writer is gone (or is this process: it writes one at a time)."""
    pattern = re.compile(rf"\.{re.escape(target.name)}\.(?P<pid>\d+)\.partial{re.escape(target.suffix)}")
    return remove_dead_writers(target.parent, pattern, own_alive=False)


@contextmanager
def partial_file(path: Path) -> Iterator[Path]:
    """A new partial file beside `path` (symlinks resolved), renamed onto it if the block completes."""
    target = Path(os.path.realpath(path))
    refuse_special(target)
    remove_stale(target)
    with _signals_exit():
        tmp = partial_name(target, os.getpid())
        try:
            os.close(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o666))  # umask applies
        except OSError as err:
            raise UserError(f"cannot write {path}: {err.strerror}", HINT) from err
        try:
            yield tmp
            refuse_special(target, follow_symlinks=False)  # again: something may have taken its place
            os.replace(tmp, target)
        finally:
            tmp.unlink(missing_ok=True)


@contextmanager
def _signals_exit() -> Iterator[None]:
    """SIGTERM and SIGHUP raise SystemExit in the block (main thread, default handlers only)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {s: signal.getsignal(s) for s in EXIT_SIGNALS if signal.getsignal(s) == signal.SIG_DFL}
    for signum in previous:
        signal.signal(signum, _exit_on_signal)
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def _exit_on_signal(signum, frame) -> None:
    raise SystemExit(128 + signum)
