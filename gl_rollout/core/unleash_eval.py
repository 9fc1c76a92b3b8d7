"""How an Unleash client decides a flag for one user, for the strategies GitLab serves. Pure.

GitLab's Unleash API (`/api/v4/feature_flags/unleash/:project_id/client/features`) answers with each
flag's `enabled` and the strategies of the client's environment; an application's Unleash SDK then
decides per request. `demo --flag-backend project` shows that view without an SDK (`UnleashClient` is a
test dependency only), and `tests/e2e/test_project_flags.py` checks this evaluator against the real SDK
user by user, for each strategy and stickiness it reads, on what the sandbox's Unleash API serves.

The rules, from Unleash's strategy documentation:
- `default`: on for everyone;
- `flexibleRollout` (`rollout`, `stickiness`, `groupId`): on when the user's bucket, 1..100, is at most
  the rollout; the bucket is MurmurHash3 (x86, 32 bit, seed 0) of `groupId:id`, modulo 100, plus 1, where
  the id is the user id (`userId`), the session id (`sessionId`), the first of those present
  (`default`, else random) or a random number (`random`);
- `gradualRolloutUserId` (`percentage`, `groupId`): the same bucket on the user id; no user id, off;
- `userWithId` (`userIds`, comma-separated; GitLab serves `gitlabUserList` as this): on for those ids;
- any other strategy: off. A flag is on when it is enabled and one of its strategies says on.
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from typing import Any

_MASK = 0xFFFFFFFF


def _rotate_left(value: int, bits: int) -> int:
    return ((value << bits) | (value >> (32 - bits))) & _MASK


def murmur3_32(data: bytes, seed: int = 0) -> int:
    """MurmurHash3's x86 32-bit hash of `data`, as an unsigned number."""
    c1, c2 = 0xCC9E2D51, 0x1B873593
    hashed = seed & _MASK
    whole = len(data) - len(data) % 4
    for start in range(0, whole, 4):
        block = int.from_bytes(data[start : start + 4], "little")
        block = _rotate_left((block * c1) & _MASK, 15)
        hashed ^= (block * c2) & _MASK
        hashed = (_rotate_left(hashed, 13) * 5 + 0xE6546B64) & _MASK
    tail = data[whole:]
    if tail:
        block = 0
        for index, byte in enumerate(tail):
            block |= byte << (8 * index)
        block = _rotate_left((block * c1) & _MASK, 15)
        hashed ^= (block * c2) & _MASK
    hashed ^= len(data)
    hashed ^= hashed >> 16
    hashed = (hashed * 0x85EBCA6B) & _MASK
    hashed ^= hashed >> 13
    hashed = (hashed * 0xC2B2AE35) & _MASK
    return hashed ^ (hashed >> 16)


def bucket(identifier: str, group_id: str) -> int:
    """The user's place, 1..100, for a percentage strategy of `group_id`."""
    return murmur3_32(f"{group_id}:{identifier}".encode()) % 100 + 1


def _share(value: Any) -> int:
    try:
        return int(str(value).strip())
    except ValueError:
        return 0


def strategy_on(strategy: Mapping[str, Any], context: Mapping[str, str], chance: random.Random) -> bool:
    """Whether one served strategy is on for `context` (`userId`, `sessionId`)."""
    name = strategy.get("name")
    params: Mapping[str, Any] = strategy.get("parameters") or {}
    user = context.get("userId") or ""
    session = context.get("sessionId") or ""
    if name == "default":
        return True
    if name == "userWithId":
        ids = [part.strip() for part in str(params.get("userIds") or "").split(",")]
        return bool(user) and user in ids
    if name == "gradualRolloutUserId":
        share = _share(params.get("percentage"))
        return bool(user) and share > 0 and bucket(user, str(params.get("groupId") or "")) <= share
    if name == "flexibleRollout":
        share = _share(params.get("rollout"))
        stickiness = str(params.get("stickiness") or "default")
        identifier = {"userId": user, "sessionId": session}.get(stickiness)
        if stickiness == "default":
            identifier = user or session or str(chance.randint(1, 100_000))
        elif stickiness == "random":
            identifier = str(chance.randint(1, 100_000))
        if not identifier:
            return False
        return share > 0 and bucket(identifier, str(params.get("groupId") or "")) <= share
    return False


def is_enabled(
    feature: Mapping[str, Any], context: Mapping[str, str], chance: random.Random | None = None
) -> bool:
    """Whether a flag as GitLab's Unleash API serves it is on for `context`."""
    if not feature.get("enabled"):
        return False
    picker = chance or random.Random(0)  # noqa: S311  # a bucket, not a secret
    strategies: Sequence[Mapping[str, Any]] = feature.get("strategies") or ()
    return any(strategy_on(strategy, context, picker) for strategy in strategies)


def share_on(features: Sequence[Mapping[str, Any]], flag: str, user_ids: Sequence[str]) -> int:
    """How many of `user_ids` see `flag` on, among the features served to one environment."""
    feature = next((item for item in features if item.get("name") == flag), None)
    if feature is None:
        return 0
    return sum(is_enabled(feature, {"userId": user}) for user in user_ids)
