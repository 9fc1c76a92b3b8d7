"""ChatOps' record of a flag change as ChatOps writes it: the log issue's title and description, and the
comment on the rollout issue (today's wording, and the older one). Shared by the unit, use-case and
end-to-end tests; the values are ours, the shapes are ChatOps'.
"""

from __future__ import annotations

from collections.abc import Mapping

ENV_NAMES = {"production": "gprd", "staging": "gstg", "staging-ref": "gstg-ref", "pre": "pre", "dev": "dev"}
HOSTS = {
    "production": "gitlab.com",
    "staging": "staging.gitlab.com",
    "staging-ref": "staging-ref.gitlab.com",
    "pre": "pre.gitlab.com",
    "dev": "dev.gitlab.org",
}
COLUMNS = ("user", "project", "group", "feature_group", "namespace", "repository")


def log_title(flag: str, value: str, env: str, *, actors: bool = False) -> str:
    """Today's title: `Feature flag 'x' has been set to 'true' on gprd` (`'25%' of actors` with --actors)."""
    shown = f"'{value}%' of actors" if actors else f"'{value}'"
    return f"Feature flag '{flag}' has been set to {shown} on {ENV_NAMES[env]}"


def delete_title(flag: str, env: str) -> str:
    return f"Feature flag '{flag}' has been deleted on {ENV_NAMES[env]}"


def log_description(
    by: str, at: str, env: str, rollout_issue: str, scopes: Mapping[str, str] | None = None
) -> str:
    """Today's description: who and when, the host, the rollout issue, and the six scope columns."""
    row = [f"`{(scopes or {}).get(column, '')}`" if (scopes or {}).get(column) else "" for column in COLUMNS]
    return "\n".join(
        [
            f"Changed by [@{by}](https://gitlab.com/{by}) at `{at}` (UTC)",
            "",
            f"Host: https://{HOSTS[env]}",
            "",
            f"Rollout issue: {rollout_issue}",
            "",
            "| User | Project | Group | Feature group | Namespace | Repository |",
            "| ---- | ------- | ----- | ------------- | --------- | ---------- |",
            "| " + " | ".join(row) + " |",
        ]
    )


def old_log(flag: str, value: str, env: str, by: str, at: str, *, actors: bool = False) -> tuple[str, str]:
    """The older wording: double quotes, no environment in the title, labelled lines, Ruby's `nil`."""
    title = f'Feature flag "{flag}" has been set to "{value}"'
    description = "\n".join(
        [
            f"* Feature flag: `{flag}`",
            f"* New value: `{value}`",
            f"* Percentage of actors: `{'true' if actors else 'false'}`",
            f"* Changed by: `@{by}`",
            f"* Changed on (in UTC): `{at}`",
            f"* Host: https://{HOSTS[env]}",
            "",
            "| Project | Group | User |",
            "| ------- | ----- | ---- |",
            "| `nil` | `nil` | `nil` |",
        ]
    )
    return title, description


def rollout_comment(title: str, log_issue_url: str) -> str:
    """ChatOps' comment on the rollout issue: the log issue's title and a link to it."""
    return f"{title}. Feature flag state change log issue: {log_issue_url}"
