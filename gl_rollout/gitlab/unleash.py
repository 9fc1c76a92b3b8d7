"""What an application's Unleash client fetches from GitLab's Unleash API for one environment.

`GET <api>/feature_flags/unleash/<project id>/client/features` with the project's instance ID
(`UNLEASH-INSTANCEID`) and the environment as the app name (`UNLEASH-APPNAME`): the flags with their
strategies for that environment. It is the view `demo --flag-backend project` ends with, evaluated by
`gl_rollout.core.unleash_eval`. The instance ID is not a personal token: it only reads flags.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from gl_rollout.errors import GitLabError


def fetch_unleash_features(
    url: str, instance_id: str, environment: str, *, timeout: float
) -> list[Mapping[str, Any]]:
    """The features GitLab serves an Unleash client in `environment` (one request)."""
    import requests

    headers = {"UNLEASH-INSTANCEID": instance_id, "UNLEASH-APPNAME": environment}
    try:
        response = requests.get(f"{url}/client/features", headers=headers, timeout=timeout)
    except requests.RequestException as exc:
        raise GitLabError(f"cannot read GitLab's Unleash API ({type(exc).__name__})", "try again") from None
    if response.status_code != 200:
        raise GitLabError(
            f"GitLab's Unleash API answered {response.status_code}",
            "check the instance ID (Deploy > Feature flags > Configure)",
            status=response.status_code,
        )
    try:
        features = response.json().get("features")
    except (ValueError, AttributeError):
        features = None
    if not isinstance(features, list):
        raise GitLabError("GitLab's Unleash API answer holds no feature list", "check the URL")
    return [item for item in features if isinstance(item, Mapping)]
