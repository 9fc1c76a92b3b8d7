"""Safe file writes: atomic replace, never through a symlink that leaves the target's folder."""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

from gl_rollout.errors import UsageError


def check_target(path: Path) -> Path:
    """Refuse a target that is a symlink pointing outside its own folder."""
    if path.is_symlink():
        real = path.resolve()
        if real.parent != path.parent.resolve():
            raise UsageError(
                f"{path} is a symlink to {real}, outside its folder",
                "write to the real file or choose another path",
            )
    if path.exists() and path.is_dir():
        raise UsageError(f"{path} is a directory", "give a file path")
    folder = path.parent if str(path.parent) else Path(".")
    if not folder.is_dir():
        raise UsageError(f"folder {folder} does not exist", "create it first or choose another path")
    return path


def _current_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_atomic(path: Path, text: str, *, newline: str = "") -> None:
    """Write `text` to `path` via a temporary file in the same folder and an atomic rename.

    `newline=""` writes the text byte for byte (CRLF stays CRLF).
    """
    path = check_target(Path(path))
    folder = path.parent if str(path.parent) else Path(".")
    if not folder.exists():
        raise UsageError(f"folder {folder} does not exist", "create it first or choose another path")
    mode = None
    if path.exists():
        mode = path.stat().st_mode & 0o7777
    import tempfile  # imported here: read-only commands never write a file

    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=folder)
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
