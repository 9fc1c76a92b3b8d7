"""JSON shapes of GitLab's REST entities (Issue, Note, UserBasic, Project, Label, Feature).

Field names and nesting follow `doc/api/issues.md`, `doc/api/notes.md` and `doc/api/features.md`;
fields the sandbox does not model carry GitLab's neutral values (0, null, false) so clients that
read them do not break.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from gl_rollout.sandbox.store import Row, Store, decode_list
from gl_rollout.sandbox.tasks import task_completion_status, task_status


def iso_time(ms: int | None) -> str | None:
    """GitLab's API time format: UTC, milliseconds, trailing Z (`2016-01-04T15:31:51.081Z`)."""
    if ms is None:
        return None
    moment = dt.datetime.fromtimestamp(ms / 1000, tz=dt.UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{ms % 1000:03d}Z"


def parse_time(text: str) -> int | None:
    """Milliseconds from a time parameter, in any form Grape's `DateTime` coercion reads
    (`gl_rollout.sandbox.grape_time`); None when it reads none."""
    from gl_rollout.sandbox.grape_time import parse_grape_time

    moment = parse_grape_time(text)
    return None if moment is None else int(moment.timestamp() * 1000)


def user_basic(user: Row, base_url: str) -> dict[str, Any]:
    return {
        "id": user["id"],
        "username": user["username"],
        "public_email": None,
        "name": user["name"],
        "state": user["state"],
        "locked": False,
        "avatar_url": f"{base_url}/uploads/-/system/user/avatar/{user['id']}/avatar.png",
        "web_url": f"{base_url}/{user['username']}",
    }


def user_full(user: Row, base_url: str, created_at: int | None) -> dict[str, Any]:
    data = user_basic(user, base_url)
    data.update(
        {
            "created_at": iso_time(created_at),
            "bio": "",
            "location": "",
            "public_email": None,
            "skype": "",
            "linkedin": "",
            "twitter": "",
            "website_url": "",
            "organization": "",
            "job_title": "",
            "bot": False,
            "email": f"{user['username']}@example.com",
            "is_admin": bool(user["is_admin"]),
            "can_create_group": True,
            "can_create_project": True,
            "two_factor_enabled": False,
            "external": False,
            "private_profile": False,
        }
    )
    return data


def namespace_entity(ns: Row, base_url: str) -> dict[str, Any]:
    return {
        "id": ns["id"],
        "name": ns["name"],
        "path": ns["path"],
        "kind": ns["kind"],
        "full_path": ns["full_path"],
        "parent_id": ns["parent_id"],
        "avatar_url": None,
        "web_url": f"{base_url}/groups/{ns['full_path']}",
    }


def project_entity(store: Store, project: Row, base_url: str) -> dict[str, Any]:
    ns = store.namespace(project["namespace_id"])
    assert ns is not None
    api = f"{base_url}/api/v4/projects/{project['id']}"
    name_chain = []
    for ns_id in reversed(store.ancestors(project)):
        row = store.namespace(ns_id)
        if row is not None:
            name_chain.append(row["name"])
    return {
        "id": project["id"],
        "description": None,
        "name": project["name"],
        "name_with_namespace": " / ".join([*name_chain, project["name"]]),
        "path": project["path"],
        "path_with_namespace": project["full_path"],
        "created_at": iso_time(project["created_at"]),
        "default_branch": "main",
        "tag_list": [],
        "topics": [],
        "ssh_url_to_repo": f"git@sandbox.invalid:{project['full_path']}.git",
        "http_url_to_repo": f"{base_url}/{project['full_path']}.git",
        "web_url": f"{base_url}/{project['full_path']}",
        "readme_url": None,
        "forks_count": 0,
        "avatar_url": None,
        "star_count": 0,
        "last_activity_at": iso_time(project["created_at"]),
        "namespace": namespace_entity(ns, base_url),
        "visibility": "private",
        "issues_enabled": True,
        "open_issues_count": _open_issues(store, project["id"]),
        "archived": False,
        "_links": {
            "self": api,
            "issues": f"{api}/issues",
            "merge_requests": f"{api}/merge_requests",
            "repo_branches": f"{api}/repository/branches",
            "labels": f"{api}/labels",
            "events": f"{api}/events",
            "members": f"{api}/members",
        },
    }


def _open_issues(store: Store, project_id: int) -> int:
    """How many of the project's issues are open: it moves as issues are opened and closed."""
    row = store.one(
        "SELECT COUNT(*) AS n FROM issues WHERE project_id = ? AND state = 'opened'", (project_id,)
    )
    return int(row["n"]) if row else 0


def group_entity(group: Row, base_url: str) -> dict[str, Any]:
    data = namespace_entity(group, base_url)
    data.update({"description": "", "visibility": "private", "full_name": group["full_path"]})
    return data


def label_entity(label: Row, open_issues: int = 0) -> dict[str, Any]:
    return {
        "id": label["id"],
        "name": label["name"],
        "description": label["description"],
        "description_html": "",
        "text_color": "#FFFFFF",
        "color": label["color"],
        "subscribed": False,
        "priority": None,
        "is_project_label": True,
        "open_issues_count": open_issues,
        "closed_issues_count": 0,
        "open_merge_requests_count": 0,
    }


def milestone_entity(
    milestone: Row, project_id: int, base_url: str = "", project_path: str = ""
) -> dict[str, Any]:
    return {
        "id": milestone["id"],
        "iid": milestone["iid"],
        "project_id": project_id,
        "title": milestone["title"],
        "description": "",
        "state": milestone["state"],
        "created_at": iso_time(milestone["created_at"]),
        "updated_at": iso_time(milestone["created_at"]),
        "due_date": None,
        "start_date": None,
        "expired": False,
        "web_url": f"{base_url}/{project_path}/-/milestones/{milestone['iid']}" if project_path else "",
    }


def issue_entity(
    store: Store, issue: Row, base_url: str, *, single: bool = False, from_project: bool = True
) -> dict[str, Any]:
    """The Issue entity as `GET /projects/:id/issues/:iid` returns it (lists omit `subscribed`).

    `references.relative` is `#IID` when read from its project, the full reference otherwise.
    """
    project = store.project(issue["project_id"])
    assert project is not None
    author = store.user(issue["author_id"])
    assert author is not None
    assignees = [
        user_basic(u, base_url) for u in (store.user(i) for i in decode_list(issue["assignee_ids"])) if u
    ]
    closed_by = store.user(issue["closed_by_id"]) if issue["closed_by_id"] else None
    milestone = store.milestone(issue["milestone_id"]) if issue["milestone_id"] else None
    api = f"{base_url}/api/v4/projects/{project['id']}"
    description = issue["description"]
    status = task_completion_status(description)
    entity: dict[str, Any] = {
        "id": issue["id"],
        "iid": issue["iid"],
        "project_id": issue["project_id"],
        "title": issue["title"],
        "description": description,
        "state": issue["state"],
        "created_at": iso_time(issue["created_at"]),
        "updated_at": iso_time(issue["updated_at"]),
        "closed_at": iso_time(issue["closed_at"]),
        "closed_by": user_basic(closed_by, base_url) if closed_by else None,
        "labels": sorted(decode_list(issue["labels"])),
        "milestone": milestone_entity(milestone, project["id"], base_url, project["full_path"])
        if milestone
        else None,
        "assignees": assignees,
        "author": user_basic(author, base_url),
        "type": str(issue["issue_type"]).upper(),  # the work item type: ISSUE, INCIDENT, TEST_CASE, TASK
        "assignee": assignees[0] if assignees else None,
        "user_notes_count": store.user_notes_count(issue["id"]),
        "merge_requests_count": 0,
        "upvotes": 0,
        "downvotes": 0,
        "start_date": None,
        "due_date": issue["due_date"],
        "confidential": bool(issue["confidential"]),
        "discussion_locked": None if issue["discussion_locked"] is None else bool(issue["discussion_locked"]),
        "issue_type": issue["issue_type"],
        "web_url": f"{base_url}/{project['full_path']}/-/issues/{issue['iid']}",
        "time_stats": {
            "time_estimate": 0,
            "total_time_spent": 0,
            "human_time_estimate": None,
            "human_total_time_spent": None,
        },
        "task_completion_status": status,
        "has_tasks": status["count"] > 0,
        "task_status": task_status(description),
        "_links": {
            "self": f"{api}/issues/{issue['iid']}",
            "notes": f"{api}/issues/{issue['iid']}/notes",
            "award_emoji": f"{api}/issues/{issue['iid']}/award_emoji",
            "project": api,
            "closed_as_duplicate_of": None,
        },
        "references": {
            "short": f"#{issue['iid']}",
            "relative": f"#{issue['iid']}" if from_project else f"{project['full_path']}#{issue['iid']}",
            "full": f"{project['full_path']}#{issue['iid']}",
        },
        "severity": "UNKNOWN",
        "moved_to_id": None,
        "imported": False,
        "imported_from": "none",
        "service_desk_reply_to": None,
    }
    if single:
        entity["subscribed"] = False
    return entity


def note_entity(store: Store, note: Row, issue: Row, base_url: str) -> dict[str, Any]:
    author = store.user(note["author_id"])
    assert author is not None
    return {
        "id": note["id"],
        "type": None,
        "body": note["body"],
        "attachment": None,
        "author": user_basic(author, base_url),
        "created_at": iso_time(note["created_at"]),
        "updated_at": iso_time(note["updated_at"]),
        "system": bool(note["system"]),
        "noteable_id": issue["id"],
        "noteable_type": "Issue",
        "project_id": issue["project_id"],
        "resolvable": False,
        "confidential": bool(note["internal"]),
        "internal": bool(note["internal"]),
        "imported": False,
        "imported_from": "none",
        "noteable_iid": issue["iid"],
        "commands_changes": {},
    }
