"""What the use cases need from GitLab: a small Protocol over the values of `gl_rollout.core.model`.

`gl_rollout.gitlab.client` implements `GitLabAPI` with python-gitlab; nothing else imports python-gitlab.
Every method is one HTTP request unless its docstring says otherwise, so request budgets can be
reasoned about from the use case alone. Failures raise `gl_rollout.errors.GitLabError` (exit 3),
never python-gitlab or requests exceptions.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any, Protocol

from gl_rollout.core.freezes import FreezePeriod
from gl_rollout.core.merge_requests import FileDiff, MergeRequest
from gl_rollout.core.model import Feature, Issue, IssueQuery, Note, User
from gl_rollout.core.project_flag import ProjectFlag, UserListRef
from gl_rollout.core.times import Timestamp


class GitLabAPI(Protocol):
    """The only face of GitLab the use cases see. One method, one request, unless noted."""

    url: str

    def current_user(self) -> User: ...

    def get_issue(self, project: str, iid: int) -> Issue: ...

    def list_issues(self, query: IssueQuery) -> Iterator[Issue]:
        """All matching issues, page after page (one request per page of `per_page`)."""
        ...

    def create_issue(self, project: str, fields: Mapping[str, Any]) -> Issue:
        """POST once, never retried blindly: an ambiguous failure raises `GitLabError` with
        `details["ambiguous"] = True` so the caller can look for what landed before retrying."""
        ...

    def update_issue(self, project: str, iid: int, fields: Mapping[str, Any]) -> Issue:
        """PUT exactly `fields` (e.g. only `description`, or `add_labels`/`remove_labels`)."""
        ...

    def list_notes(
        self, project: str, iid: int, *, sort: str = "asc", per_page: int = 100, max_pages: int | None = None
    ) -> list[Note]:
        """Notes of an issue, system notes included; one request per page."""
        ...

    def create_note(self, project: str, iid: int, body: str, *, internal: bool = False) -> Note | None:
        """POST once (ambiguous failures as for `create_issue`). None when GitLab answered 202
        (the body was only quick actions and no note was stored)."""
        ...

    def delete_note(self, project: str, iid: int, note_id: int) -> None:
        """`DELETE .../issues/:iid/notes/:note_id` (204; only the note's author or an admin may). A note
        that is already gone (404) is no error: the delete is idempotent."""
        ...

    def find_user_ids(self, usernames: list[str]) -> dict[str, int]: ...

    def find_milestone_id(self, project: str, title: str) -> int | None: ...

    def list_features(self) -> list[Feature]: ...

    def set_feature(self, name: str, params: Mapping[str, Any]) -> Feature:
        """POST /features/:name with `value` and the other parameters as given."""
        ...

    def delete_feature(self, name: str) -> None: ...

    def list_freeze_periods(self, project: str) -> list[FreezePeriod]:
        """The project's deploy freezes (`GET /projects/:id/freeze_periods`, Reporter role; one request
        per page of 100)."""
        ...

    def server_time(self) -> Timestamp | None:
        """GitLab's clock: the `Date` header of the last answer read, None before any. No request."""
        ...

    # --- project feature flags (`/projects/:id/feature_flags`; the Developer role, no admin) ------------

    def get_project_flag(self, project: str, name: str) -> ProjectFlag | None:
        """The flag, or None when the project has no flag of that name (a missing project raises)."""
        ...

    def create_project_flag(self, project: str, fields: Mapping[str, Any]) -> ProjectFlag:
        """POST once, never retried blindly (as `create_issue`): an ambiguous failure raises `GitLabError`
        with `details["ambiguous"] = True`, and the caller reads the flag before trying again."""
        ...

    def update_project_flag(self, project: str, name: str, fields: Mapping[str, Any]) -> ProjectFlag:
        """PUT exactly `fields` (`active`, `strategies` as nested attributes by id). Not retried blindly
        either: a strategy without an id would be added twice."""
        ...

    def find_user_list(self, project: str, name: str) -> UserListRef | None:
        """The project's feature flag user list of exactly that name (one search request per 100)."""
        ...

    def list_environment_names(self, project: str) -> list[str]:
        """The names of the project's environments (one request per 100)."""
        ...

    # --- merge requests (`create --from-mr`) -----------------------------------------------------------

    def get_merge_request(self, project: str, iid: int) -> MergeRequest: ...

    def list_merge_request_diffs(self, project: str, iid: int) -> list[FileDiff]:
        """`GET .../merge_requests/:iid/diffs`, one request per page of 100."""
        ...

    def get_raw_file(self, project: str, path: str, ref: str) -> str:
        """`GET .../repository/files/:file_path/raw?ref=` as text."""
        ...

    def list_merge_request_closing_issues(self, project: str, iid: int) -> list[Issue]:
        """`GET .../merge_requests/:iid/closes_issues` (one request per page of 100)."""
        ...

    def list_issue_links(self, project: str, iid: int) -> list[Issue]:
        """The issues linked to the issue (`GET .../issues/:iid/links`, one request)."""
        ...

    def create_issue_link(self, project: str, iid: int, target_project: str, target_iid: int) -> None:
        """`POST .../issues/:iid/links` (`relates_to`); a link that exists already (409) is no error."""
        ...

    def list_merge_request_notes(self, project: str, iid: int) -> list[Note]:
        """Notes of the MR, newest first, the first page of 100 (one request)."""
        ...

    def create_merge_request_note(self, project: str, iid: int, body: str) -> Note:
        """POST once, never retried blindly (as `create_note`)."""
        ...

    def request_count(self) -> int:
        """Requests sent so far by this client (for budgets and --debug)."""
        ...
