"""Which stage a rollout is in, and its one scoped label `rollout::<stage>`. Pure.

The stage follows from the checklist (the furthest milestone step that is done), whether the issue
is closed, and whether the flag is on for part of production (`gl_rollout.core.evidence.production_partial`).
"""

from __future__ import annotations

from collections.abc import Iterable

from gl_rollout.core.checklist import Checklist

# The one scoped label per rollout, in the order a rollout moves through them.
STAGES: tuple[str, ...] = (
    "planned",
    "staging",
    "beta",
    "production-partial",
    "production",
    "cleanup",
    "done",
)
STAGE_LABEL_PREFIX = "rollout::"
# Set by `rollback` and taken off only by `resume`: while it is there the stage label is held (scoped labels
# allow one `rollout::` label, so a stage label would push it off).
ROLLED_BACK_LABEL = STAGE_LABEL_PREFIX + "rolled-back"


def rollout_stage(checklist: Checklist, *, closed: bool = False, partial: bool = False) -> str:
    """The stage a checklist shows (one of `STAGES`): the furthest milestone step that is done.

    done: the issue is closed, `cleanup` is done, or every step is done or skipped; cleanup:
    `remove-flag` done; production: `enable-production` done; production-partial: on for a
    percentage of production (`partial`); beta: `enable-beta` done; staging: `enable-staging` or
    `test-staging` done; planned: none of these.
    """

    def done(step_id: str) -> bool:
        step = checklist.find(step_id)
        return step is not None and step.state == "done"

    if closed or done("cleanup") or (checklist.total > 0 and checklist.done == checklist.total):
        return "done"
    if done("remove-flag"):
        return "cleanup"
    if done("enable-production"):
        return "production"
    if partial:
        return "production-partial"
    if done("enable-beta"):
        return "beta"
    if done("enable-staging") or done("test-staging"):
        return "staging"
    return "planned"


def stage_from_labels(labels: Iterable[str]) -> str | None:
    """The stage a `rollout::` label names, when exactly one known stage label is present."""
    stages = [label[len(STAGE_LABEL_PREFIX) :] for label in labels if label.startswith(STAGE_LABEL_PREFIX)]
    known = [stage for stage in stages if stage in STAGES]
    return known[0] if len(known) == 1 else None


def label_changes(labels: Iterable[str], stage: str) -> tuple[list[str], list[str]]:
    """`(add_labels, remove_labels)` that make `rollout::<stage>` the only rollout label; empty when right,
    and empty while the rollout is rolled back (`ROLLED_BACK_LABEL`, until `resume` takes it off)."""
    wanted = STAGE_LABEL_PREFIX + stage
    current = list(labels)
    if ROLLED_BACK_LABEL in current:
        return [], []
    remove = [label for label in current if label.startswith(STAGE_LABEL_PREFIX) and label != wanted]
    add = [] if wanted in current else [wanted]
    return add, remove
