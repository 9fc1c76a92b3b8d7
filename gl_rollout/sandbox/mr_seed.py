"""The merge request the sandbox is seeded with, and the diff text GitLab's `/diffs` holds.

Apart from `merge_requests.py` (the routes) so that the store can seed it without an import loop.
"""

from __future__ import annotations

import difflib
import sqlite3


def file_diff(old: str, new: str) -> str:
    """A file's change as GitLab's diff field holds it: unified hunks, no `---`/`+++` header, and
    `\\ No newline at end of file` after a last line without one."""
    lines = difflib.unified_diff(old.splitlines(keepends=True), new.splitlines(keepends=True), n=3)
    out: list[str] = []
    for line in lines:
        if line.startswith(("---", "+++")):
            continue
        if line.endswith("\n"):
            out.append(line)
        else:
            out.append(line + "\n\\ No newline at end of file\n")
    if not old and out and out[0].startswith("@@"):
        out[0] = f"@@ -0,0 +1{_count(new)} @@\n"  # GitLab writes a new file's hunk as -0,0
    return "".join(out)


def _count(text: str) -> str:
    lines = len(text.splitlines())
    return "" if lines == 1 else f",{lines}"


SEEDED_DEFINITION = "config/feature_flags/beta/search_v2.yml"


def seed_demo(db: sqlite3.Connection, project_id: int, author_id: int, now: int) -> None:
    """The seeded project's merge request !1, so `create --from-mr` can be tried on a new sandbox: it adds
    the definition of `search_v2` and edits the code that reads it."""
    definition = (
        "---\nname: search_v2\ndescription: Search results ranked by the new index\n"
        "introduced_by_url: https://gitlab.example.com/acme/platform/rollouts/-/merge_requests/1\n"
        "milestone: '18.7'\ntype: beta\ngroup: group::global search\ndefault_enabled: false\n"
    )
    old_code, new_code = (
        "def rank(results):\n    return results\n",
        (
            "def rank(results):\n    if Feature.enabled('search_v2'):\n        return by_index(results)\n"
            "    return results\n"
        ),
    )
    sha = "5eed" * 10
    cursor = db.execute(
        "INSERT INTO merge_requests (project_id, iid, title, source_branch, target_branch, sha, author_id, "
        "created_at, updated_at) VALUES (?, 1, 'Rank search results by the new index', 'search-v2', 'main', "
        "?, ?, ?, ?)",
        (project_id, sha, author_id, now, now),
    )
    rows = [
        (0, SEEDED_DEFINITION, "0", 1, file_diff("", definition)),
        (1, "app/search/rank.py", "100644", 0, file_diff(old_code, new_code)),
    ]
    db.executemany(
        "INSERT INTO mr_files (mr_id, position, old_path, new_path, a_mode, b_mode, new_file, renamed_file, "
        "deleted_file, diff) VALUES (?, ?, ?, ?, ?, '100644', ?, 0, 0, ?)",
        [(cursor.lastrowid, pos, path, path, mode, new, diff) for pos, path, mode, new, diff in rows],
    )
    db.executemany(
        "INSERT INTO repo_files (project_id, ref, path, content) VALUES (?, ?, ?, ?)",
        [
            (project_id, ref, path, text)
            for ref in ("search-v2", sha)
            for path, text in ((SEEDED_DEFINITION, definition), ("app/search/rank.py", new_code))
        ],
    )
