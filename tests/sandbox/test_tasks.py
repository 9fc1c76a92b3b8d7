"""Task counting: the sandbox reports `task_completion_status` with GitLab's own counting rule.

Our fixtures in tests/data/sandbox_tasks/ exercise each part of the rule (app/models/concerns/taskable.rb:
list markers `-+*`, `N.` and `N)`, `[ ]`/`[x]`/`[X]`, blockquotes, code fences and HTML comments skipped,
`<details>` counted, `[~]` ignored) and its quirks. GitLab's own rollout templates, when present beside
the clone, must give the counts GitLab gives them (README of the reference folder).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from gl_rollout.sandbox import Sandbox
from gl_rollout.sandbox.tasks import flipped_items, task_completion_status, task_status
from tests.conftest import PlainHTTP

DATA = Path(__file__).resolve().parents[1] / "data" / "sandbox_tasks"
TEMPLATES = Path(__file__).resolve().parents[2].parent / "shared" / "reference" / "gitlab-templates"

OUR_FIXTURES = [
    ("basic.md", 6, 3),
    ("nested_and_quotes.md", 6, 2),
    ("hidden.md", 3, 1),  # fence and comments skipped; <details> and ~~~ fences counted
    ("quirks.md", 3, 0),  # a `text-->` comment swallows lines; a label may sit on the next line
]
GITLAB_TEMPLATES = [
    ("2020-flat.md", 10),
    ("2020-mid.md", 11),  # 15 render as checkboxes; the `unneeded-->` comment hides 4 from the count
    ("2023.md", 50),
    ("2024-checklist.md", 36),
    ("newest-no-checkboxes.md", 0),
]


@pytest.mark.parametrize(("name", "count", "completed"), OUR_FIXTURES)
def test_our_fixtures_count_as_gitlab_counts(api: PlainHTTP, name: str, count: int, completed: int) -> None:
    text = (DATA / name).read_text(encoding="utf-8")
    issue = api("POST", "/projects/42/issues", json={"title": name, "description": text}).body
    assert issue["task_completion_status"] == {"count": count, "completed_count": completed}
    assert issue["has_tasks"] is (count > 0)


@pytest.mark.parametrize(("name", "count"), GITLAB_TEMPLATES)
def test_gitlab_rollout_templates(sandbox: Sandbox, name: str, count: int) -> None:
    path = TEMPLATES / name
    if not path.exists():
        pytest.skip(f"{path} is not present (../shared beside the clone)")
    text = path.read_text(encoding="utf-8")
    assert task_completion_status(text) == {"count": count, "completed_count": 0}
    issue = sandbox.create_issue(title=name, description=text)
    assert issue["task_completion_status"] == {"count": count, "completed_count": 0}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", ""),
        ("no boxes", "0 of 0 checklist items completed"),
        ("- [x] one", "1 of 1 checklist item completed"),
        ("- [x] one\n- [ ] two", "1 of 2 checklist items completed"),
    ],
)
def test_task_status_wording(text: str, expected: str) -> None:
    assert task_status(text) == expected


def test_flipped_items_need_the_same_position_and_label() -> None:
    before = "- [ ] enable\n- [ ] announce"
    assert [i.label for i in flipped_items(before, "- [x] enable\n- [ ] announce")] == ["enable"]
    assert flipped_items(before, "- [x] enable now\n- [ ] announce") == []
    assert [i.complete for i in flipped_items("- [x] a", "- [ ] a")] == [False]
