"""Evidence, verdicts, stage and timeline: table-driven over the Markdown fixtures in tests/data/evidence/."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from gl_rollout.api import Feature, Gate, Issue, Note
from gl_rollout.checklist import parse_checklist
from gl_rollout.evidence import (
    build_timeline,
    checklist_note,
    collect_evidence,
    flag_of_issue,
    judge_steps,
    last_moved,
    production_partial,
    timeline_lines,
)
from gl_rollout.feature_gates import FeatureReading, gates_fingerprint
from gl_rollout.markers import NoteMarker
from gl_rollout.stage import label_changes, rollout_stage, stage_from_labels

DATA = Path(__file__).parent / "data" / "evidence"
FLAG = "new_search_box"
ROLLOUT = (DATA / "rollout-issue.md").read_text(encoding="utf-8")
NO_MARKERS = (DATA / "no-markers.md").read_text(encoding="utf-8")


def marker_note(
    n: int, action: str, step: str | None = None, *, flag: str = FLAG, by: str = "dev", **values: Any
) -> Note:
    body = f"Some human text.\n\n{NoteMarker(action, flag, step, values).to_comment()}"
    return Note(id=n, body=body, author=by, created_at=f"2026-03-{n:02d}T10:00:00Z")


def system_note(n: int, item: str, completed: bool = True, by: str = "dev") -> Note:
    status = "completed" if completed else "incomplete"
    return Note(
        id=n,
        body=f"marked the checklist item **{item}** as {status}",
        author=by,
        created_at=f"2026-03-{n:02d}T10:00:00Z",
        system=True,
    )


def issue(description: str = ROLLOUT, title: str = f"[Feature flag] Rollout of `{FLAG}`", **kw: Any) -> Issue:
    fields: dict[str, Any] = {
        "id": 1,
        "iid": 7,
        "project_id": 1,
        "title": title,
        "description": description,
        "state": "opened",
        "labels": ("feature flag",),
        "web_url": "http://gitlab.test/g/p/-/issues/7",
        "reference": "g/p#7",
        "created_at": "2026-03-01T09:00:00Z",
        "updated_at": "2026-03-20T09:00:00Z",
        "author": "lead",
    }
    fields.update(kw)
    return Issue(**fields)


def reading(env: str, *gates: Gate, present: bool = True) -> FeatureReading:
    feature = Feature(FLAG, "on" if gates else "off", tuple(gates)) if present else None
    return FeatureReading(env, feature, "2026-03-30T00:00:00Z")  # type: ignore[arg-type]


def verdicts(description: str, notes: list[Note], features: FeatureReading | None = None) -> dict[str, str]:
    checklist = parse_checklist(description)
    found = collect_evidence(checklist, notes, flag=FLAG, reading=features)
    return {v.step.id: v.verdict for v in judge_steps(checklist, found)}


# (case id, description, notes, Features API reading, {step: expected verdict})
CASES: list[tuple[str, str, list[Note], FeatureReading | None, dict[str, str]]] = [
    (
        "nothing-proves-the-ticks",
        ROLLOUT,
        [],
        None,
        {"enable-staging": "unverified", "test-staging": "unverified", "enable-production": "todo"},
    ),
    (
        "enable-marker-proves-its-step",
        ROLLOUT,
        [marker_note(2, "enable", "enable-production", envs=["production"], value=True)],
        None,
        {"enable-production": "proven", "enable-staging": "unverified"},
    ),
    (
        "enable-staging-marker-verifies-the-tick",
        ROLLOUT,
        [marker_note(2, "enable", "enable-staging", envs=["staging"], value=True)],
        None,
        {"enable-staging": "verified"},
    ),
    (
        "disable-after-enable-undoes",
        ROLLOUT,
        [
            marker_note(2, "enable", "enable-staging", envs=["staging"], value=True),
            marker_note(3, "disable", "enable-staging", envs=["staging"], value=False),
            marker_note(4, "enable", "enable-production", value=True),
            marker_note(5, "disable", "enable-production", value=False),
        ],
        None,
        {"enable-staging": "contradicted", "enable-production": "todo"},
    ),
    (
        "announce-markers",
        ROLLOUT,
        [
            marker_note(2, "announce-eta", "announce-eta", eta="2026-04-01T12:00:00Z"),
            marker_note(3, "announce-enabled"),
        ],
        None,
        {"announce-eta": "proven", "announce-enabled": "proven"},
    ),
    (
        "another-flags-marker-is-ignored",
        ROLLOUT,
        [marker_note(2, "enable", "enable-production", flag="other_flag", value=True)],
        None,
        {"enable-production": "todo"},
    ),
    (
        "system-note-by-step-marker",
        ROLLOUT,
        [system_note(2, "Test the feature on staging <!-- step:test-staging -->")],
        None,
        {"test-staging": "verified", "enable-staging": "unverified"},
    ),
    (
        "system-note-by-text-when-no-markers",
        NO_MARKERS,
        [system_note(2, "Enable on staging"), system_note(3, "Test on staging")],
        None,
        {"enable-staging": "proven", "test-staging": "verified"},
    ),
    (
        "unchecked-system-note-contradicts",
        NO_MARKERS,
        [system_note(2, "Test on staging"), system_note(3, "Test on staging", completed=False)],
        None,
        {"test-staging": "contradicted"},
    ),
    (
        "an-action-outranks-a-later-untick",  # a tick lost to someone's stale description edit comes back
        ROLLOUT,
        [
            marker_note(2, "enable", "enable-production", value=True),
            system_note(
                3,
                "Enable on GitLab.com: `/chatops run feature set new_search_box true` "
                "<!-- step:enable-production -->",
                False,
            ),
        ],
        None,
        {"enable-production": "proven"},
    ),
    (
        "skipped-steps-are-never-touched",
        ROLLOUT,
        [marker_note(2, "enable", "enable-beta", targets={"project": ["g/p"]}, value=True)],
        None,
        {"enable-beta": "skipped"},
    ),
    (
        "production-fully-on-by-boolean",
        ROLLOUT,
        [],
        reading("production", Gate("boolean", True)),
        {"enable-production": "proven"},
    ),
    (
        "production-fully-on-by-100-percent-of-actors",
        ROLLOUT,
        [],
        reading("production", Gate("percentage_of_actors", 100)),
        {"enable-production": "proven"},
    ),
    (
        "production-at-25-percent-proves-nothing",
        ROLLOUT,
        [],
        reading("production", Gate("percentage_of_time", 25)),
        {"enable-production": "todo"},
    ),
    (
        "production-gates-off-override-an-old-enable",
        ROLLOUT,
        [marker_note(2, "enable", "enable-production", value=True)],
        reading("production"),
        {"enable-production": "todo"},
    ),
    (
        "flag-absent-from-the-instance-proves-nothing",
        ROLLOUT,
        [marker_note(2, "enable", "enable-production", value=True)],
        reading("production", present=False),
        {"enable-production": "proven"},
    ),
    (
        "staging-instance-on-verifies-enable-staging",
        ROLLOUT,
        [],
        reading("staging", Gate("boolean", True)),
        {"enable-staging": "verified", "enable-production": "todo"},
    ),
    (
        "staging-instance-off-contradicts-enable-staging",
        ROLLOUT,
        [],
        reading("staging"),
        {"enable-staging": "contradicted"},
    ),
]


@pytest.mark.parametrize(
    ("description", "notes", "features", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_verdicts(
    description: str, notes: list[Note], features: FeatureReading | None, expected: dict[str, str]
) -> None:
    got = verdicts(description, notes, features)
    assert {step: got[step] for step in expected} == expected


def test_evidence_records_who_and_when() -> None:
    checklist = parse_checklist(ROLLOUT)
    notes = [marker_note(4, "enable", "enable-production", by="alice", value=True)]
    (found,) = collect_evidence(checklist, notes, flag=FLAG)
    assert (found.step, found.done, found.source, found.by, found.at) == (
        "enable-production",
        True,
        "marker",
        "alice",
        "2026-03-04T10:00:00Z",
    )


def test_checklist_note_parses_both_wordings() -> None:
    assert checklist_note("marked the checklist item **Do it** as completed") == ("Do it", True)
    assert checklist_note("marked the task **Do it** as incomplete") == ("Do it", False)
    assert checklist_note("changed the description") is None


STAGE_CASES = [
    ((), False, False, "planned"),
    (("enable-staging",), False, False, "staging"),
    (("test-staging",), False, False, "staging"),
    (("enable-staging", "enable-beta"), False, False, "beta"),
    (("enable-staging",), True, False, "production-partial"),
    (("enable-staging", "enable-production"), True, False, "production"),
    (("enable-production", "remove-flag"), False, False, "cleanup"),
    (("cleanup",), False, False, "done"),
    ((), False, True, "done"),
]


@pytest.mark.parametrize(("ticked", "partial", "closed", "stage"), STAGE_CASES)
def test_stage(ticked: tuple[str, ...], partial: bool, closed: bool, stage: str) -> None:
    lines = [
        f"- [{'x' if step in ticked else ' '}] Step {step} <!-- step:{step} -->"
        for step in (
            "enable-staging",
            "test-staging",
            "enable-beta",
            "enable-production",
            "remove-flag",
            "cleanup",
        )
    ]
    assert rollout_stage(parse_checklist("\n".join(lines) + "\n"), closed=closed, partial=partial) == stage


def test_every_step_done_is_done() -> None:
    assert rollout_stage(parse_checklist("- [x] Enable on staging\n- [x] Test on staging\n")) == "done"


def test_production_partial_follows_the_latest_production_change() -> None:
    partial = [marker_note(2, "enable", None, envs=["production"], percentage=25, percentage_kind="actors")]
    assert production_partial(partial, flag=FLAG)
    staging_only = [marker_note(2, "enable", None, envs=["staging"], percentage=25)]
    assert not production_partial(staging_only, flag=FLAG)
    full = [*partial, marker_note(3, "enable", "enable-production", envs=["production"], value=True)]
    assert not production_partial(full, flag=FLAG)
    rolled_back = [*partial, marker_note(3, "disable", None, envs=["production"], value=False)]
    assert not production_partial(rolled_back, flag=FLAG)
    gates = reading("production", Gate("percentage_of_actors", 10))
    assert production_partial([], flag=FLAG, reading=gates)


def test_label_changes_touch_only_rollout_labels() -> None:
    labels = ["feature flag", "rollout::staging", "group::search"]
    assert label_changes(labels, "production") == (["rollout::production"], ["rollout::staging"])
    assert label_changes(["feature flag", "rollout::production"], "production") == ([], [])
    assert label_changes(["feature flag"], "planned") == (["rollout::planned"], [])
    assert stage_from_labels(labels) == "staging"
    assert stage_from_labels(["rollout::staging", "rollout::beta"]) is None


def test_timeline_tells_what_happened_when_and_by_whom() -> None:
    notes = [
        system_note(2, "Test the feature on staging <!-- step:test-staging -->", by="bob"),
        Note(id=9, body="Looks good to me", author="carol", created_at="2026-03-03T00:00:00Z"),
        marker_note(5, "announce-eta", "announce-eta", by="alice", eta="2026-03-10T12:00:00Z"),
        marker_note(6, "enable", "enable-production", by="alice", envs=["production"], value=True),
        Note(
            id=10,
            body="added ~rollout::production label",
            author="bot",
            created_at="2026-03-07T00:00:00Z",
            system=True,
        ),
    ]
    events = build_timeline(issue(), notes, reading=reading("production", Gate("boolean", True)))
    assert [(e.kind, e.step, e.by) for e in events] == [
        ("created", None, "lead"),
        ("checked", "test-staging", "bob"),
        ("announce-eta", "announce-eta", "alice"),
        ("enable", "enable-production", "alice"),
        ("features", None, ""),
    ]
    assert "2026-03-10T12:00:00Z" in events[2].text
    assert "on for everyone" in events[4].text
    assert last_moved(events) == "2026-03-06T10:00:00Z"
    assert timeline_lines(events)[3] == (
        "2026-03-06 10:00 UTC  alice  enable [enable-production]: enabled on production (true)"
    )


def test_flag_of_issue_from_title_else_marker() -> None:
    assert flag_of_issue(issue()) == FLAG
    untitled = issue(title="Rollout of the new search box")
    assert flag_of_issue(untitled) is None
    assert flag_of_issue(untitled, [marker_note(2, "announce-enabled")]) == FLAG


def test_gates_fingerprint_changes_with_the_gates() -> None:
    on = reading("production", Gate("boolean", True)).feature
    part = reading("production", Gate("percentage_of_time", 50)).feature
    assert gates_fingerprint(on) != gates_fingerprint(part)
    assert gates_fingerprint(on) == gates_fingerprint(Feature(FLAG, "on", (Gate("boolean", True),)))
    assert gates_fingerprint(None) == "absent"
