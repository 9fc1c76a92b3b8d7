"""Files gl-rollout writes (issue 9, deliverable 6).

- `-o` and `--json-file` onto a device or FIFO write into it, never replace it with a regular file (think
  `--json-file /dev/null` run as root in a CI container); a FIFO without a reader is refused at once.
- A read-only target is refused (exit 2) and left as it was, by every command that writes a file.
- The `--json-file` folder is checked writable before anything is written to GitLab.
- A temporary file left by a write that was killed is removed by the next write to the same path.

The device case uses a twin of /dev/null made in the test's folder (root only), never the real one.
"""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from gl_rollout.sandbox import Sandbox
from tests.helpers import CliResult, run_cli
from tests.workflow_cli import FLAG, env_for, user_notes

IS_ROOT = hasattr(os, "geteuid") and os.geteuid() == 0


def one_line(result: CliResult, code: int = 2) -> str:
    assert result.code == code, result.output
    assert "Traceback" not in result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.output
    return lines[0]


@pytest.fixture
def seed(tmp_path: Path) -> Path:
    rendered = run_cli(["render", FLAG])
    path = tmp_path / "seed.md"
    path.write_text(rendered.stdout.split("\n", 2)[2], encoding="utf-8")
    return path


# --- devices and FIFOs: written in place ---------------------------------------------------------------


def read_fifo(path: Path, into: list[bytes]) -> tuple[int, threading.Thread]:
    """Start a reader on the FIFO; returns a writer fd that holds it open until the test closes it (so
    the reader's end-of-file comes only after gl-rollout's own write)."""

    def reader() -> None:
        with open(path, "rb") as handle:
            into.append(handle.read())

    thread = threading.Thread(target=reader, daemon=True)
    thread.start()
    for _ in range(2000):
        try:
            return os.open(path, os.O_WRONLY | os.O_NONBLOCK), thread
        except OSError:  # ENXIO until the reader has it open
            threading.Event().wait(0.005)
    raise AssertionError("the reader never opened the FIFO")


@pytest.mark.parametrize("option", ["-o", "--json-file"])
def test_a_fifo_is_written_in_place(tmp_path: Path, option: str) -> None:
    fifo = tmp_path / "out.fifo"
    os.mkfifo(fifo)
    got: list[bytes] = []
    holder, reader = read_fifo(fifo, got)
    try:
        done = run_cli(["render", FLAG, option, str(fifo)])
    finally:
        os.close(holder)
    reader.join(timeout=60)
    assert done.code == 0, done.output
    assert stat.S_ISFIFO(fifo.stat().st_mode), "the FIFO was replaced"
    text = b"".join(got).decode("utf-8")
    if option == "-o":
        assert "<!-- step:enable-staging -->" in text
    else:
        assert json.loads(text)["command"] == "render"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.fifo"]


def test_a_fifo_without_a_reader_is_refused_at_once(tmp_path: Path) -> None:
    fifo = tmp_path / "out.fifo"
    os.mkfifo(fifo)
    line = one_line(run_cli(["render", FLAG, "-o", str(fifo)]))
    assert "FIFO with no reader" in line
    assert stat.S_ISFIFO(fifo.stat().st_mode)


@pytest.mark.skipif(not IS_ROOT, reason="making a device node needs root")
@pytest.mark.parametrize("option", ["-o", "--json-file"])
def test_a_device_is_written_in_place_never_replaced(tmp_path: Path, option: str) -> None:
    null = tmp_path / "null"
    try:
        os.mknod(null, stat.S_IFCHR | 0o666, os.makedev(1, 3))
        with open(null, "w", encoding="utf-8") as probe:
            probe.write("x")
    except OSError as exc:  # a nodev mount
        pytest.skip(f"no device nodes here: {exc}")
    before = os.stat(null).st_rdev
    done = run_cli(["render", FLAG, option, str(null)])
    assert done.code == 0, done.output
    assert stat.S_ISCHR(os.stat(null).st_mode), "the device was replaced by a regular file"
    assert os.stat(null).st_rdev == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["null"]


def test_dev_stdout_is_written_in_place(tmp_path: Path) -> None:
    """`-o /dev/stdout` (a symlink out of /dev into /proc) writes to the output, as a shell user expects."""
    command = [sys.executable, "-m", "gl_rollout", "render", FLAG, "-o", "/dev/stdout"]
    done = subprocess.run(command, capture_output=True, text=True, timeout=60, check=False, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "<!-- step:enable-staging -->" in done.stdout


@pytest.mark.parametrize(
    "args",
    [
        ["check", "--file", "/dev/null", "1", "--in-place"],
        ["sync", "--project", "a/b", "--state", "/dev/null"],
    ],
    ids=["check-in-place", "sync-state"],
)
def test_files_that_are_read_back_must_be_regular(args: list[str]) -> None:
    done = run_cli(args, env={"GITLAB_TOKEN": "glpat-x", "GITLAB_URL": "http://127.0.0.1:9"})
    assert done.code == 2, done.output
    assert "/dev/null" in done.stderr
    assert stat.S_ISCHR(os.stat("/dev/null").st_mode)


# --- read-only targets are refused -------------------------------------------------------------------


@pytest.mark.parametrize(
    "args",
    [
        ["render", FLAG, "-o", "{target}"],
        ["render", FLAG, "--json-file", "{target}"],
        ["check", "--file", "{target}", "enable-staging", "--in-place"],
        ["status", "--file", "{seed}", "--json-file", "{target}"],
    ],
    ids=["render-o", "render-json-file", "check-in-place", "status-json-file"],
)
def test_a_read_only_target_is_refused_and_kept(tmp_path: Path, seed: Path, args: list[str]) -> None:
    target = tmp_path / "target.md"
    target.write_bytes(seed.read_bytes())
    target.chmod(0o444)
    before = (target.read_bytes(), target.stat().st_ino)
    done = run_cli([a.format(target=target, seed=seed) for a in args])
    line = one_line(done)
    assert f"{target} is read-only" in line
    assert (target.read_bytes(), target.stat().st_ino) == before
    assert stat.S_IMODE(target.stat().st_mode) == 0o444
    assert sorted(p.name for p in tmp_path.iterdir()) == ["seed.md", "target.md"]


def test_a_read_only_json_file_is_refused_before_anything_is_written_to_gitlab(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    target = tmp_path / "envelope.json"
    target.write_text("{}\n", encoding="utf-8")
    target.chmod(0o444)
    done = run_cli(
        ["create", FLAG, "--project", sandbox.project_path, "--json-file", str(target)], env=env_for(sandbox)
    )
    assert "read-only" in one_line(done)
    assert sandbox.count_issues(sandbox.project_path) == 0
    assert sandbox.request_log == []


# --- the --json-file folder is checked before any write ----------------------------------------------


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="/proc is Linux's")
def test_an_unwritable_json_file_folder_is_refused_before_any_request(sandbox: Sandbox) -> None:
    """/proc/self takes no new file, not even from root: the folder a CI job cannot write."""
    done = run_cli(
        ["create", FLAG, "--project", sandbox.project_path, "--json-file", "/proc/self/envelope.json"],
        env=env_for(sandbox),
    )
    assert "cannot write in folder /proc/self" in one_line(done)
    assert sandbox.request_log == []
    assert sandbox.count_issues(sandbox.project_path) == 0


@pytest.mark.skipif(IS_ROOT, reason="root writes into a 0555 folder")
def test_a_folder_without_write_permission_is_refused_before_any_request(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    folder = tmp_path / "locked"
    folder.mkdir()
    folder.chmod(0o555)
    try:
        done = run_cli(
            [
                "announce",
                f"{sandbox.project_path}#1",
                "--eta",
                "in 2h",
                "--json-file",
                str(folder / "e.json"),
            ],
            env=env_for(sandbox),
        )
        assert "cannot write in folder" in one_line(done)
        assert sandbox.request_log == []
    finally:
        folder.chmod(0o755)


def test_a_json_file_folder_that_is_a_file_is_refused_before_any_request(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x", encoding="utf-8")
    iid = sandbox.create_issue(title="t", description="- [ ] a")["iid"]
    done = run_cli(
        [
            "announce",
            f"{sandbox.project_path}#{iid}",
            "--eta",
            "in 2h",
            "--json-file",
            str(blocker / "e.json"),
        ],
        env=env_for(sandbox),
    )
    assert done.code == 2, done.output
    assert sandbox.request_log == []
    assert user_notes(sandbox, iid) == []


# --- leftovers of a killed write are cleaned up --------------------------------------------------------


def dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait(timeout=60)
    return child.pid


def test_the_temporary_file_of_a_killed_write_is_removed_by_the_next_write(tmp_path: Path) -> None:
    out = tmp_path / "rollout.md"
    stale = tmp_path / f".rollout.md.{dead_pid()}.k1ll3d.tmp"
    stale.write_text("half a descr", encoding="utf-8")
    live = tmp_path / f".rollout.md.{os.getppid()}.w0rk1n.tmp"  # a writer that is still running
    live.write_text("being written", encoding="utf-8")
    other = tmp_path / f".other.md.{dead_pid()}.abcdef.tmp"  # another file's: not this write's business
    other.write_text("x", encoding="utf-8")
    done = run_cli(["render", FLAG, "-o", str(out)])
    assert done.code == 0, done.output
    assert not stale.exists()
    assert live.exists()
    assert other.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([out.name, live.name, other.name])


def test_a_write_killed_mid_way_leaves_a_temporary_file_the_next_run_removes(tmp_path: Path) -> None:
    """A real kill: a child process writes through the same function and is killed before the rename."""
    out = tmp_path / "rollout.md"
    script = (
        "import os, sys\n"
        "from pathlib import Path\n"
        "import gl_rollout.files as files\n"
        "real = os.replace\n"
        "def stop(*args):\n"
        "    os.kill(os.getpid(), 9)\n"
        "os.replace = stop\n"
        f"files.write_atomic(Path({str(out)!r}), 'text')\n"
    )
    child = subprocess.run([sys.executable, "-c", script], timeout=60, check=False, cwd=Path.cwd())
    assert child.returncode == -9
    leftovers = [p.name for p in tmp_path.iterdir()]
    assert len(leftovers) == 1
    assert leftovers[0].startswith(".rollout.md.")
    done = run_cli(["render", FLAG, "-o", str(out)])
    assert done.code == 0, done.output
    assert [p.name for p in tmp_path.iterdir()] == ["rollout.md"]
