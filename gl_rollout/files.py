"""Safe file writes: atomic replace, never through a symlink that leaves the target's folder."""

from __future__ import annotations

import contextlib
import os
import tempfile
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
    return path


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
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=folder)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline=newline) as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        if mode is not None:
            os.chmod(tmp, mode)
        target = path.resolve() if path.is_symlink() else path
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def read_text_input(path: str) -> str:
    """Read a UTF-8 text file (or `-` for stdin), keeping line endings; bad input is a UsageError."""
    import sys

    if path == "-":
        data = sys.stdin.buffer.read()
        name = "standard input"
    else:
        p = Path(path)
        if not p.exists():
            raise UsageError(f"{path}: no such file", "check the path")
        if p.is_dir():
            raise UsageError(f"{path} is a directory", "give a Markdown file")
        try:
            data = p.read_bytes()
        except OSError as exc:
            raise UsageError(f"{path}: cannot read ({exc.strerror})", "check the permissions") from None
        name = path
    if b"\x00" in data:
        raise UsageError(f"{name} is a binary file, not Markdown", "give the issue description as text")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise UsageError(
            f"{name} is not UTF-8 (byte {exc.start})", "convert it to UTF-8, as GitLab stores it"
        ) from None
    return text
