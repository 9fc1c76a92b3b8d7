"""Evidence, verdicts, stage and timeline: table-driven over the Markdown fixtures in tests/data/evidence/."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from gl_rollout.core.checklist import parse_checklist
from gl_rollout.core.evidence import (
    build_timeline,
    collect_evidence,
    flag_of_issue,
    judge_steps,
    last_moved,
    production_partial,
    timeline_lines,
    unreadable_times,
)
from gl_rollout.core.gates import FeatureReading, gates_fingerprint
from gl_rollout.core.markers import NoteMarker
from gl_rollout.core.model import Feature, Gate, Issue, Note
from gl_rollout.core.stage import label_changes, rollout_stage, stage_from_labels

DATA = Path(__file__).resolve().parents[1] / "data" / "evidence"
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
        # The reading is taken now, on this machine's clock; a note GitLab stamped later (same second,
        # or a server clock ahead of ours) is still older than the gates as they are now.
        "a-reading-outranks-a-note-stamped-after-it",
        ROLLOUT,
        [marker_note(31, "disable", "enable-production", value=False)],
        reading("production", Gate("boolean", True)),
        {"enable-production": "proven"},
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


def raw_system_note(n: int, body: str, by: str = "dev") -> Note:
    return Note(id=n, body=body, author=by, created_at=f"2026-03-{n:02d}T10:00:00Z", system=True)


PRODUCTION_ITEM = "Enable on GitLab.com: `/chatops run feature set new_search_box true`"
# GitLab 17+ quotes the item's Markdown escaped and keeps only the text of its HTML comments.
PRODUCTION_ESCAPED = (
    r"Enable on GitLab\.com: \`/chatops run feature set new\_search\_box true\` step:enable\-production"
)

# (case id, description, system note body, step, verdict): every wording GitLab has used is evidence.
WORDING_CASES = [
    (
        "source-with-marker",
        ROLLOUT,
        f"marked the checklist item **{PRODUCTION_ITEM} <!-- step:enable-production -->** as completed",
        "enable-production",
        "proven",
    ),
    (
        "escaped-17-with-step-text",
        ROLLOUT,
        f"marked the checklist item **{PRODUCTION_ESCAPED}** as completed",
        "enable-production",
        "proven",
    ),
    (
        "escaped-17-untick-contradicts",
        ROLLOUT,
        r"marked the checklist item **Test the feature on staging  step:test\-staging** as incomplete",
        "test-staging",
        "contradicted",
    ),
    (
        "task-before-15",
        ROLLOUT,
        "marked the task **Make sure the documentation is up to date <!-- step:docs-updated -->** "
        "as completed",
        "docs-updated",
        "proven",
    ),
    (
        "capitals-and-a-period",
        ROLLOUT,
        "Marked the Checklist Item **Make sure the documentation is up to date <!-- step:docs-updated -->** "
        "as Completed.",
        "docs-updated",
        "proven",
    ),
    (
        "escaped-text-without-marker",
        NO_MARKERS,
        r"marked the checklist item **Enable on GitLab\.com by running chatops command in \`\#production\`** "
        "as completed",
        "enable-production",
        "proven",
    ),
    (
        "text-matched-regardless-of-case",
        NO_MARKERS,
        "marked the checklist item **enable ON staging** as completed",
        "enable-staging",
        "proven",
    ),
]


@pytest.mark.parametrize(
    ("description", "body", "step", "verdict"),
    [c[1:] for c in WORDING_CASES],
    ids=[c[0] for c in WORDING_CASES],
)
def test_checklist_notes_in_every_wording_are_evidence(
    description: str, body: str, step: str, verdict: str
) -> None:
    assert verdicts(description, [raw_system_note(2, body)])[step] == verdict
    (event,) = [
        e for e in build_timeline(issue(description), [raw_system_note(2, body)]) if e.kind != "created"
    ]
    assert event.step == step
    # People read the item's text as the description shows it: unescaped, without the step ID.
    assert "\\" not in event.text
    assert "step:" not in event.text


def test_notes_that_are_not_checklist_changes_prove_nothing() -> None:
    notes = [
        raw_system_note(2, "changed the description"),
        raw_system_note(3, "marked this issue as related to #4"),
        Note(id=4, body="marked the checklist item **Test on staging** as completed", author="x",
             created_at="2026-03-04T10:00:00Z"),  # a comment quoting the wording is not GitLab's note
    ]  # fmt: skip
    assert verdicts(NO_MARKERS, notes)["test-staging"] == "unverified"


def test_an_unreadable_timestamp_keeps_its_place_by_note_id() -> None:
    # GitLab lists notes by time; IDs grow with time. A note whose time cannot be read must not
    # count as 1970: here the untick (id 5) came after the tick (id 3), so the step is contradicted.
    tick = system_note(3, "Test on staging")
    untick = Note(
        id=5,
        body="marked the checklist item **Test on staging** as incomplete",
        author="bob",
        created_at="last Tuesday",
        system=True,
    )
    assert verdicts(NO_MARKERS, [untick, tick])["test-staging"] == "contradicted"
    events = build_timeline(issue(NO_MARKERS), [untick, tick])
    assert [e.kind for e in events] == ["created", "checked", "unchecked"]
    lines = timeline_lines(events)
    assert lines[2].startswith("last Tuesday  bob  unchecked [test-staging]")
    assert "1970" not in "\n".join(lines)
    assert last_moved(events) == "2026-03-03T10:00:00Z"  # the newest time that can be read
    assert unreadable_times(issue(NO_MARKERS), [untick, tick]) == ["last Tuesday"]


@pytest.mark.parametrize(
    "created_at",
    [
        "2026-03-04T11:00:00+01:00",
        "2026-03-04T11:00:00+0100",
        "2026-03-04 10:00:00 UTC",
        "2026-03-04T10:00:00.000000000Z",
    ],
)
def test_timestamps_in_other_servers_forms_are_read(created_at: str) -> None:
    note = Note(id=4, body=marker_note(4, "enable", "enable-production", value=True).body, author="alice",
                created_at=created_at)  # fmt: skip
    # Before the later untick (id 5, 10:30 UTC): the marker still outranks it, and the time reads as UTC.
    untick = Note(id=5, body=f"marked the checklist item **{PRODUCTION_ITEM}** as incomplete", author="bob",
                  created_at="2026-03-04T10:30:00Z", system=True)  # fmt: skip
    events = build_timeline(issue(), [untick, note])
    assert [e.kind for e in events] == ["created", "enable", "unchecked"]
    assert timeline_lines(events)[1].startswith("2026-03-04 10:00 UTC  alice  enable")


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
    # rolled back: the label stays until `resume` takes it off, whatever the checklist shows
    assert label_changes(["feature flag", "rollout::rolled-back"], "production") == ([], [])
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


def test_a_lower_share_is_the_last_word_on_the_steps_of_the_larger_one() -> None:
    """A rollback's enable comment records the steps it set back to todo: an older comment that ticked them
    no longer proves them (sync would tick them back after every rollback)."""
    description = (
        "- [x] Roll out to 10% <!-- step:ramp-10 -->\n"
        "- [ ] Roll out to 50% <!-- step:ramp-50 -->\n"
        "- [ ] Enable on production <!-- step:enable-production -->\n"
    )
    notes = [
        marker_note(1, "enable", "ramp-10", steps={"ramp-10": "done"}),
        marker_note(2, "enable", "ramp-50", steps={"ramp-50": "done"}),
        marker_note(3, "enable", "enable-production", steps={"enable-production": "done"}),
        marker_note(
            4, "enable", "ramp-10", steps={"ramp-10": "done", "ramp-50": "todo", "enable-production": "todo"}
        ),
    ]
    assert verdicts(description, notes) == {
        "ramp-10": "verified",
        "ramp-50": "todo",
        "enable-production": "todo",
    }
    # without the rollback's comment the older comments prove both steps
    assert verdicts(description, notes[:3]) == {
        "ramp-10": "verified",
        "ramp-50": "proven",
        "enable-production": "proven",
    }
