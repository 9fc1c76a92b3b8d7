"""The `--require` gate of `status`: exit 6 unless every named step is done (pipelines use it)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from gl_rollout.core.checklist import Checklist, select_steps
from gl_rollout.errors import RequiredStepError


@dataclass(frozen=True)
class Gate:
    """The steps `--require` named, and those of them not done."""

    required: tuple[str, ...]
    missing: tuple[str, ...]


def required_steps(
    checklist: Checklist, require: Sequence[str], where: str, *, file: bool = False
) -> tuple[Gate | None, RequiredStepError | None]:
    """The `--require` gate (None without `require`) and the exit-6 error when a named step is not done.

    `where` is the issue reference, or with `file` the path `status --file` read (`-` for stdin): the
    hint shows the `check` command that ticks the steps there. A required step that is skipped (`[~]`,
    inapplicable) counts as satisfied: there is nothing to wait for. An unknown step is a StepError
    (exit 5), so a typo never passes a pipeline gate.
    """
    if not require:
        return None, None
    required = select_steps(checklist, list(require))
    missing = [step for step in required if step.state == "todo"]
    gate = Gate(tuple(step.id for step in required), tuple(step.id for step in missing))
    if not missing:
        return gate, None
    import shlex  # only a gate that fails quotes a command

    ids = [step.id for step in missing]
    plural = len(missing) > 1
    if file:
        in_place = " --in-place" if where != "-" else ""
        command = f"gl-rollout check --file {shlex.quote(where)} {' '.join(ids)}{in_place}"
    else:
        command = f"gl-rollout check {shlex.quote(where)} {' '.join(ids)}"
    return gate, RequiredStepError(
        f"required step{'s' if plural else ''} not done in {where}: {', '.join(ids)}",
        f"tick {'them' if plural else 'it'} with `{command}` once done",
    )
