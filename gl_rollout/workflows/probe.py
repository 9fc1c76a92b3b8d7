"""The ramp runner's health probe: a command whose exit status says whether the rollout is healthy.

`command_probe(argv)` runs the command without a shell (no quoting or expansion surprises), with stdin
closed, a timeout, and an environment without gl-rollout's tokens; a non-zero exit, or no exit before
the timeout, is unhealthy. Its output (first lines, each cut short) goes into the rollback comment, so
the caller masks secrets in it. `check_probe_command` refuses, before any request, a command that
cannot run (exit 2).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from gl_rollout.errors import UsageError

PROBE_TIMEOUT = 60.0
FIRST_LINES = 5
LINE_WIDTH = 200
# Variables a probe never sees: the tokens gl-rollout uses (a probe queries metrics, not GitLab).
HIDDEN_VARIABLES = (
    "GITLAB_TOKEN",
    "GITLAB_PRIVATE_TOKEN",
    "GITLAB_OAUTH_TOKEN",
    "CI_JOB_TOKEN",
    "GITLAB_ADMIN_TOKEN",
)


@dataclass(frozen=True)
class ProbeResult:
    """Healthy or not, and the first lines of what the probe said (already masked)."""

    healthy: bool
    output: str


Probe = Callable[[], ProbeResult]


def check_probe_command(text: str) -> list[str]:
    """The probe's argv; UsageError (exit 2) when it is empty, cannot be split or names no runnable file."""
    import shlex

    try:
        argv = shlex.split(text)
    except ValueError as exc:
        raise UsageError(f"--probe {text!r} cannot be split into words: {exc}", "check its quotes") from None
    if not argv:
        raise UsageError("--probe is empty", "give a command, like --probe ./check-error-rate.sh")
    program = argv[0]
    found = shutil.which(program) if os.sep not in program else program
    if found is None or not os.path.isfile(found) or not os.access(found, os.X_OK):
        raise UsageError(
            f"the probe command {program!r} cannot run: no such executable",
            "give a path to an executable file, or a command on PATH",
        )
    return argv


def first_lines(text: str) -> str:
    lines = [line[:LINE_WIDTH] for line in text.strip().splitlines()[:FIRST_LINES]]
    return "\n".join(lines)


def command_probe(
    argv: Sequence[str],
    env: Mapping[str, str],
    mask: Callable[[str], str],
    timeout: float = PROBE_TIMEOUT,
) -> Probe:
    """A probe that runs `argv` (see the module docstring)."""
    import subprocess

    def run() -> ProbeResult:
        clean = {key: value for key, value in env.items() if key not in HIDDEN_VARIABLES}
        try:
            # no shell: argv is the user's own probe command, split by shlex
            done = subprocess.run(
                list(argv), env=clean, stdin=subprocess.DEVNULL, capture_output=True, text=True,
                timeout=timeout, check=False,
            )  # fmt: skip
        except subprocess.TimeoutExpired:
            return ProbeResult(False, f"the probe did not finish within {timeout:g} s")
        except OSError as exc:
            return ProbeResult(False, mask(f"the probe could not run: {exc.strerror or exc}"))
        said = first_lines(mask((done.stdout or "") + (done.stderr or "")))
        status = f"exit {done.returncode}"
        return ProbeResult(done.returncode == 0, f"{status}\n{said}" if said else status)

    return run
