"""The `--require` gate of `status`: exit 6 unless every named step is done (pipelines use it)."""

from __future__ import annotations

import shlex
from collections.abc import Sequence
from typing import Any

from gl_rollout.core.checklist import Checklist, select_steps
from gl_rollout.errors import RequiredStepError
from gl_rollout.result import Result


def required_steps(
    checklist: Checklist, require: Sequence[str], where: str, *, file: bool = False
) -> tuple[dict[str, Any], RequiredStepError | None]:
    """The `--require` gate: `{required, missing}` and the exit-6 error when a named step is not done.

    `where` is the issue reference, or with `file` the path `status --file` read (`-` for stdin): the
    hint shows the `check` command that ticks the steps there. A required step that is skipped (`[~]`,
    inapplicable) counts as satisfied: there is nothing to wait for. An unknown step is a StepError
    (exit 5), so a typo never passes a pipeline gate.
    """
    required = select_steps(checklist, list(require))
    missing = [step for step in required if step.state == "todo"]
    data: dict[str, Any] = {
        "required": [step.id for step in required],
        "missing": [step.id for step in missing],
    }
    if not missing:
        return data, None
    ids = [step.id for step in missing]
    plural = len(missing) > 1
    if file:
        in_place = " --in-place" if where != "-" else ""
        command = f"gl-rollout check --file {shlex.quote(where)} {' '.join(ids)}{in_place}"
    else:
        command = f"gl-rollout check {shlex.quote(where)} {' '.join(ids)}"
    return data, RequiredStepError(
        f"required step{'s' if plural else ''} not done in {where}: {', '.join(ids)}",
        f"tick {'them' if plural else 'it'} with `{command}` once done",
    )


def gated(
    result: Result, checklist: Checklist, require: Sequence[str], where: str, *, file: bool = False
) -> Result:
    """`result` with the `--require` gate applied (exit 6, data kept, when a step is not done)."""
    if not require:
        return result
    extra, error = required_steps(checklist, require, where, file=file)
    result.data.update(extra)
    if error is None:
        return result
    result.ok = False
    result.error = error
    result.exit_code = error.exit_code
    return result
