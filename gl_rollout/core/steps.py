"""The step catalogue: the public step IDs and how each is recognised from a task item's text.

Issues written by gl-rollout carry `<!-- step:ID -->` markers, so the catalogue only matters for
descriptions without them: the project's seed issue and the versions of GitLab's
`Feature Flag Roll Out.md` template (2020 flat and mid-2020 lists, 2023 and 2024 checklists).
The catalogue is data: an ordered tuple of (id, pattern) rules, and the first rule that matches wins.
"""

from __future__ import annotations

import functools
import re

#: The hidden marker that ends a task item gl-rollout wrote, naming its step: `<!-- step:enable-staging -->`.
STEP_MARKER = re.compile(r"<!--\s*step:([a-z0-9][a-z0-9._-]*)\s*-->")

#: The public step IDs, in the order the default `rollout` template lists them. A public contract.
STEP_IDS: tuple[str, ...] = (
    "enable-staging",
    "test-staging",
    "docs-updated",
    "enable-beta",
    "coordinate",
    "announce-eta",
    "enable-production",
    "cross-post",
    "announce-enabled",
    "remove-flag",
    "cleanup",
)


_RAMP_STEP = re.compile(r"ramp-(\d+)")


def ramp_share(step_id: str) -> int | None:
    """The production share a `ramp-N` step stands for (`ramp-25` is 25); None for any other step."""
    match = _RAMP_STEP.fullmatch(step_id)
    return int(match.group(1)) if match else None


def _rule(step_id: str, *patterns: str) -> tuple[str, str]:
    for pattern in patterns:
        if not pattern.startswith("^"):
            raise ValueError(f"catalogue rule for {step_id} must be anchored at the start: {pattern}")
    return step_id, "|".join(f"(?:{p})" for p in patterns)


#: Rules over normalised text (see `normalise_text`), case-insensitive. Order matters where texts overlap:
#: the cleanup rule runs before remove-flag ("After the flag removal is deployed, clean up ...").
#: Every rule is anchored at the start of the text (`_rule` checks), which keeps recognition cheap.
CATALOGUE: tuple[tuple[str, str], ...] = (
    # The default-enabling path of the 2024 template also cleans up; the main path keeps the ID.
    _rule(
        "cleanup",
        r"^(?:(?:after|once) (?![^,]*default-enabling)[^,]*,\s*)?clean ?up the feature flag\b",
    ),
    _rule(
        "remove-flag",
        r"^remove (?:the )?(?:\S+ )?feature flag\b",
        r"^create a merge request to remove\b.*\bfeature flag\b",
    ),
    _rule(
        "enable-staging",
        r"^enable (?:\S+ ){0,3}on staging\b",
        r"^enable the feature globally on non-production\b",
    ),
    _rule(
        "test-staging",
        r"^test (?:\S+ ){0,3}on staging\b",
        r"^verify that the feature works as expected\b",
    ),
    _rule(
        "docs-updated",
        r"^ensure (?:that )?(?:the )?documentation (?:has been updated|exists)\b",
        r"^update (?:the )?documentation\b",
    ),
    _rule(
        "enable-beta",
        r"^enable on gitlab\.com for (?:individual|specific|beta)\b",
        r"^depending on the type of actor\b",
    ),
    _rule("coordinate", r"^coordinate a time\b"),
    _rule("announce-eta", r"^(?:announce|leave a comment)\b.*\bestimated time\b"),
    _rule(
        "enable-production",
        r"^enable on gitlab\.com by running\b",
        r"^incrementally roll ?out\b",
    ),
    _rule(
        "cross-post",
        r"^cross[- ]?post\b",
        r"^notify (?:the )?#?support_gitlab-com\b",
    ),
    _rule(
        "announce-enabled",
        r"^(?:announce|leave a comment)\b.*\b(?:has|have) been (?:globally )?enabled\b",
    ),
    # Not public IDs: short names for steps of the 2023/2024 checklists that occur only once there.
    _rule("verify-actors", r"^verify that the feature works (?:for|on) the specific\b"),
    _rule("set-milestone", r"^set a milestone\b"),
    _rule("wait-one-day", r"^(?:after [^,]*, )?wait for at least one day\b"),
)

# Each part stops at the next bracket or parenthesis, which keeps the scan linear on any input.
_LINK = re.compile(r"!?\[([^\[\]]*)\](?:\([^()]*\)|\[[^\[\]]*\])")
_EMPHASIS = re.compile(r"[`*]+|(?<!\w)_+|_+(?!\w)")


def normalise_text(text: str) -> str:
    """Task text as a person reads it: link labels kept, code and emphasis marks dropped, spaces collapsed."""
    if "[" in text:
        text = _LINK.sub(r"\1", text)
    if "`" in text or "*" in text or "_" in text:
        text = _EMPHASIS.sub("", text)
    return " ".join(text.split())


def recognise(text: str) -> str | None:
    """The catalogue ID whose rule first matches a task item's text, or None."""
    return recognise_normalised(normalise_text(text))


@functools.cache
def _any_rule() -> re.Pattern[str]:
    """All rules as one ordered alternation, compiled on first use (descriptions with step markers never
    need it, and `status --file` should not pay for it). The rules are anchored, so the first alternative
    that matches at the start is the first rule that matches, found in one regex call."""
    return re.compile(
        "|".join(f"(?P<rule{i}>{pattern})" for i, (_, pattern) in enumerate(CATALOGUE)), re.IGNORECASE
    )


def recognise_normalised(plain: str) -> str | None:
    """`recognise` for text already passed through `normalise_text`."""
    match = _any_rule().match(plain)
    if match is None:
        return None
    return next(step_id for i, (step_id, _) in enumerate(CATALOGUE) if match.group(f"rule{i}") is not None)
