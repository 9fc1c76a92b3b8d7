"""The values `render` and `create` take, checked and normalised: flag name, group, Slack channel,
owners, URLs, the production ramp. Each refuses bad input with a UsageError saying what to give."""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterable, Sequence

from gl_rollout.core.chatops import FLAG_NAME_RE
from gl_rollout.errors import UsageError

GROUP_LABEL_PREFIX = "group::"

_GROUP_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9 _.&+()/-]*$")
_SLACK_RE = re.compile(r"^#[a-z0-9][a-z0-9._-]*$")
_OWNER_HANDLE_RE = re.compile(r"^@?[A-Za-z0-9_.][A-Za-z0-9_.-]*(?:/[A-Za-z0-9_.][A-Za-z0-9_.-]*)*$")
_URL_RE = re.compile(r"^https?://\S+$")


def validate_flag_name(name: str) -> tuple[str, list[str]]:
    """GitLab's flag-name rule; `-` becomes `_` and upper case is lowered, with a note saying so."""
    raw = name.strip()
    normalised = raw.lower().replace("-", "_")
    notes: list[str] = []
    if not FLAG_NAME_RE.match(normalised):
        raise UsageError(
            f"invalid feature flag name {name!r}",
            "use lowercase letters and digits in runs joined by single underscores, like my_feature_flag",
        )
    if normalised != raw:
        notes.append(f"note: flag name normalised to {normalised!r}")
    return normalised, notes


def normalise_group(group: str) -> tuple[str, str]:
    """`product analytics` or `group::product analytics` -> (name, scoped label `group::NAME`)."""
    name = " ".join(group.split())
    if name.lower().startswith(GROUP_LABEL_PREFIX):
        name = name[len(GROUP_LABEL_PREFIX) :].strip()
    if not name or not _GROUP_RE.match(name) or len(name) > 200:
        raise UsageError(
            f"invalid group {group!r}",
            "give the group's name as in its label, like 'product analytics' or 'group::product analytics'",
        )
    return name, GROUP_LABEL_PREFIX + name


def normalise_slack(channel: str) -> str:
    """`g_team` or `#G_Team` -> `#g_team`; Slack's channel-name characters only."""
    text = channel.strip().lower()
    if not text.startswith("#"):
        text = "#" + text
    if not _SLACK_RE.match(text) or len(text) > 81:
        raise UsageError(
            f"invalid Slack channel {channel!r}", "give a channel name like #g_product_analytics"
        )
    return text


def normalise_owner(owner: str) -> str:
    """A bare username or group path gets `@` so the owner is mentioned; other text stays as written."""
    text = " ".join(owner.split())
    if _OWNER_HANDLE_RE.match(text) and not text.startswith("@"):
        return "@" + text
    return text


def check_url(url: str, what: str) -> str:
    """A full http(s) URL without spaces, stripped; `what` names it in the error."""
    text = url.strip()
    if not _URL_RE.match(text):
        raise UsageError(f"invalid {what} {url!r}", "give a full https:// URL")
    return text


def parse_ramp(text: str | Sequence[int]) -> tuple[int, ...]:
    """`1,10,25,50,75,100` -> (1, 10, 25, 50, 75, 100): whole percentages 1-100, strictly rising."""
    if isinstance(text, str):
        pieces = [p.strip().rstrip("%") for p in text.split(",") if p.strip()]
        try:
            values = [int(p) for p in pieces]
        except ValueError:
            raise UsageError(
                f"invalid --ramp {text!r}",
                "give whole percentages separated by commas, like 1,10,25,50,75,100",
            ) from None
    else:
        values = list(text)
    if not values:
        raise UsageError("--ramp is empty", "give whole percentages separated by commas, like 1,10,50,100")
    if any(not 1 <= v <= 100 for v in values) or any(b <= a for a, b in itertools.pairwise(values)):
        raise UsageError(
            f"invalid --ramp {','.join(map(str, values))}",
            "percentages must be from 1 to 100 and rise strictly, like 1,10,25,50,75,100",
        )
    return tuple(values)


def split_items(values: Iterable[str]) -> tuple[str, ...]:
    """Repeated and comma-separated option values as one list, blanks and repeats dropped."""
    out: list[str] = []
    for value in values:
        for piece in value.split(","):
            item = piece.strip()
            if item and item not in out:
                out.append(item)
    return tuple(out)


def check_actor_values(option: str, values: Iterable[str] | str | None) -> None:
    """Every value of an actor option (`--user`, `--project-actor`, ...) must name someone.

    An empty or blank value, an empty item of a comma list (`a,,b`, `a,`) or a lone `@` is refused: it
    is what a shell variable that expanded to nothing looks like, and dropping it would widen the change
    (an `enable --user ''` would otherwise set the flag for everyone).
    """
    items = [values] if isinstance(values, str) else list(values or ())
    for value in items:
        for piece in value.split(","):
            if not piece.strip() or piece.strip() == "@":
                raise UsageError(
                    f"{option} {value!r} names nobody",
                    f"give a name to {option}, or drop it to mean everyone",
                )
