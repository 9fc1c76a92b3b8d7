"""Safe file writes: atomic replace, never through a symlink that leaves the target's folder, never over
a read-only file; a device or FIFO (`-o /dev/stdout`, `--json-file /dev/null`) is written in place and
never replaced by a regular file."""

from __future__ import annotations

import contextlib
import os
import stat
from pathlib import Path

from gl_rollout.errors import UsageError


def check_target(path: Path, *, streams: bool = False) -> Path:
    """Refuse, before anything is done, a target that cannot be written safely.

    Refused: a directory; a read-only file; a folder that does not exist or cannot be written; a regular
    file reached through a symlink out of its folder; a block device; and, unless `streams` (outputs such
    as `-o` and `--json-file`), a character device, FIFO or socket.
    """
    path = Path(path)
    kind = _kind(path)
    if kind == "directory":
        raise UsageError(f"{path} is a directory", "give a file path")
    if kind in {"character device", "fifo"} and streams:
        if not os.access(path, os.W_OK):
            raise UsageError(f"cannot write to {path}: permission denied", "choose another path")
        return path
    if kind not in {"regular", "missing"}:
        what = "a FIFO" if kind == "fifo" else f"a {kind}"
        raise UsageError(f"{path} is {what}, not a regular file", "give the path of a regular file")
    if path.is_symlink():
        real = path.resolve()
        if real.parent != path.parent.resolve():
            raise UsageError(
                f"{path} is a symlink to {real}, outside its folder",
                "write to the real file or choose another path",
            )
    folder = path.parent if str(path.parent) else Path(".")
    if not folder.is_dir():
        raise UsageError(f"folder {folder} does not exist", "create it first or choose another path")
    if kind == "regular" and (os.stat(path).st_mode & 0o222 == 0 or not os.access(path, os.W_OK)):
        raise UsageError(f"{path} is read-only", "make it writable first, or choose another path")
    _check_folder_writable(folder, path)
    return path


def _check_folder_writable(folder: Path, path: Path) -> None:
    """Make and remove a file in `folder`, as the write will: permissions, a read-only file system or a
    folder no one may write (`/proc`) all show here, before the command does anything else."""
    import tempfile

    reason = None if os.access(folder, os.W_OK | os.X_OK) else "permission denied"
    if reason is None:
        try:
            fd, probe = tempfile.mkstemp(
                prefix=f"{_temp_prefix(path)}{os.getpid()}.", suffix=_TEMP_SUFFIX, dir=folder
            )
        except OSError as exc:
            reason = (exc.strerror or type(exc).__name__).lower()
        else:
            os.close(fd)
            os.unlink(probe)
    if reason is not None:
        raise UsageError(f"cannot write in folder {folder}: {reason}", "choose another path")


def _kind(path: Path) -> str:
    """What `path` is once symlinks are followed: regular, missing, directory, fifo, ..."""
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        return "missing"
    except OSError:
        return "missing" if not path.is_symlink() else "regular"
    if stat.S_ISREG(mode):
        return "regular"
    if stat.S_ISDIR(mode):
        return "directory"
    if stat.S_ISFIFO(mode):
        return "fifo"
    if stat.S_ISCHR(mode):
        return "character device"
    if stat.S_ISBLK(mode):
        return "block device"
    if stat.S_ISSOCK(mode):
        return "socket"
    return "special file"


def _current_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_atomic(path: Path, text: str, *, newline: str = "", streams: bool = False) -> None:
    """Write `text` to `path` via a temporary file in the same folder and an atomic rename.

    `newline=""` writes the text byte for byte (CRLF stays CRLF). With `streams`, a character device or
    FIFO is written in place instead (see `check_target`). A temporary file left by an interrupted
    earlier write to the same path is removed first. OSError becomes a UsageError naming the path.
    """
    path = check_target(Path(path), streams=streams)
    try:
        if _kind(path) in {"character device", "fifo"}:
            _write_in_place(path, text, newline)
            return
        _replace(path, text, newline)
    except OSError as exc:
        raise UsageError(
            f"cannot write {path}: {exc.strerror or type(exc).__name__}", "choose another path"
        ) from None


def _write_in_place(path: Path, text: str, newline: str) -> None:
    """Write into a device or FIFO without creating, truncating or replacing anything."""
    import errno

    fifo = _kind(path) == "fifo"
    # A FIFO without a reader would block for ever: opened non-blocking, it says so at once.
    flags = os.O_WRONLY | getattr(os, "O_NOCTTY", 0) | (os.O_NONBLOCK if fifo else 0)
    try:
        fd = os.open(path, flags)
    except OSError as exc:
        if exc.errno == errno.ENXIO:
            raise UsageError(f"{path} is a FIFO with no reader", "start the reader first") from None
        raise
    if fifo:
        os.set_blocking(fd, True)
    with os.fdopen(fd, "w", encoding="utf-8", newline=newline) as handle:
        handle.write(text)


_TEMP_SUFFIX = ".tmp"


def _temp_prefix(path: Path) -> str:
    return f".{path.name}."


def _replace(path: Path, text: str, newline: str) -> None:
    folder = path.parent if str(path.parent) else Path(".")
    mode = path.stat().st_mode & 0o7777 if path.exists() else None
    import tempfile  # imported here: read-only commands never write a file

    remove_stale_temps(path)
    # The writer's process ID is in the name, so a later run can tell a leftover from a write in progress.
    prefix = f"{_temp_prefix(path)}{os.getpid()}."
    fd, tmp = tempfile.mkstemp(prefix=prefix, suffix=_TEMP_SUFFIX, dir=folder)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline=newline) as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        # mkstemp makes 0600 files; a new file gets what the umask allows, an existing one keeps its mode.
        os.chmod(tmp, mode if mode is not None else 0o666 & ~_current_umask())
        target = path.resolve() if path.is_symlink() else path
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def remove_stale_temps(path: Path) -> list[str]:
    """Remove the temporary files of earlier writes to `path` whose writer is gone (killed mid-write);
    returns their names. Files of a live writer, of another user, or not named as ours stay."""
    if os.name != "posix":
        return []
    folder = path.parent if str(path.parent) else Path(".")
    prefix = _temp_prefix(path)
    removed: list[str] = []
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return removed
    for entry in entries:
        name = entry.name
        if not (name.startswith(prefix) and name.endswith(_TEMP_SUFFIX)):
            continue
        pid = name[len(prefix) :].split(".", 1)[0]
        try:
            info = entry.stat(follow_symlinks=False)
        except OSError:
            continue
        if not (pid.isdigit() and stat.S_ISREG(info.st_mode) and info.st_uid == os.getuid()):
            continue
        if _alive(int(pid)):
            continue
        with contextlib.suppress(OSError):
            os.unlink(entry.path)
            removed.append(name)
    return removed


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)  # signal 0: is there such a process (POSIX only: see remove_stale_temps)
    except (ProcessLookupError, OverflowError):  # no such process, or a number no process can have
        return False
    except PermissionError:  # another user's process
        return True
    return True


def read_text_file(path: str | Path, *, kind: str = "Markdown", what: str = "the issue description") -> str:
    """Read a UTF-8 text file, keeping line endings; a missing, unreadable, binary or non-UTF-8 file is
    a UsageError. `kind` and `what` name the expected content in those errors ("YAML", "the flag definition").
    """
    name = str(path)
    p = Path(path)
    if not p.exists():
        raise UsageError(f"{name}: no such file", "check the path")
    if p.is_dir():
        raise UsageError(f"{name} is a directory", f"give a {kind} file")
    try:
        data = p.read_bytes()
    except OSError as exc:
        raise UsageError(f"{name}: cannot read ({exc.strerror})", "check the permissions") from None
    return _decode(data, name, kind=kind, what=what)


def read_text_input(path: str) -> str:
    """Read a UTF-8 Markdown file (or `-` for stdin), keeping line endings; bad input is a UsageError."""
    if path == "-":
        import sys

        return _decode(
            sys.stdin.buffer.read(), "standard input", kind="Markdown", what="the issue description"
        )
    return read_text_file(path)


def _decode(data: bytes, name: str, *, kind: str, what: str) -> str:
    if b"\x00" in data:
        raise UsageError(f"{name} is a binary file, not {kind}", f"give {what} as text")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise UsageError(
            f"{name} is not UTF-8 (byte {exc.start})", "convert it to UTF-8, as GitLab stores it"
        ) from None
