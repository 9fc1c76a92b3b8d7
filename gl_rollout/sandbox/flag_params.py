"""Parameters of the feature-flag routes as Grape declares and coerces them (`lib/api/feature_flags.rb`).

Undeclared keys are dropped; a value of the wrong type is `<name> is invalid`, a missing required one
`<name> is missing`, with nested names as Grape spells them (`strategies[0][scopes][1][environment_scope]`);
all of them together answer one 400 `{"error": "..."}`.
"""

from __future__ import annotations

import json
import re
from typing import Any

from gl_rollout.sandbox.http import FALSE_WORDS, TRUE_WORDS
from gl_rollout.sandbox.service import param_error


def grape_string(value: Any, name: str, errors: list[str]) -> str | None:
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, (bool, list, dict)):
        errors.append(f"{name} is invalid")
        return None
    return str(value)


def grape_integer(value: Any, name: str, errors: list[str]) -> int | None:
    if value is None or (isinstance(value, int) and not isinstance(value, bool)):
        return value
    if isinstance(value, str) and re.fullmatch(r"\s*[-+]?[0-9]+\s*", value):
        return int(value)
    errors.append(f"{name} is invalid")
    return None


def grape_boolean(value: Any, name: str, errors: list[str]) -> bool | None:
    if value is None or isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in TRUE_WORDS:
        return True
    if text in FALSE_WORDS:
        return False
    errors.append(f"{name} is invalid")
    return None


def grape_json(value: Any, name: str, errors: list[str]) -> Any:
    """Grape's `type: JSON`: a hash or an array of hashes, or a string holding one."""
    if value is None:
        return None
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            errors.append(f"{name} is invalid")
            return None
    if isinstance(value, dict) or (isinstance(value, list) and all(isinstance(v, dict) for v in value)):
        return value
    errors.append(f"{name} is invalid")
    return None


def _hashes(value: Any, name: str, errors: list[str]) -> list[dict[str, Any]]:
    if not isinstance(value, list) or not all(isinstance(item, dict) for item in value):
        errors.append(f"{name} is invalid")
        return []
    return value


def strategy_params(value: Any, *, creating: bool, errors: list[str]) -> list[dict[str, Any]]:
    """The `strategies` array after Grape's coercion: only declared keys, typed; `errors` collects 400s."""
    declared: list[dict[str, Any]] = []
    for index, item in enumerate(_hashes(value, "strategies", errors)):
        prefix = f"strategies[{index}]"
        out: dict[str, Any] = {}
        if "name" in item:
            out["name"] = grape_string(item["name"], f"{prefix}[name]", errors)
        elif creating:
            errors.append(f"{prefix}[name] is missing")
        if "parameters" in item:
            out["parameters"] = grape_json(item["parameters"], f"{prefix}[parameters]", errors)
        if "user_list_id" in item:
            out["user_list_id"] = grape_integer(item["user_list_id"], f"{prefix}[user_list_id]", errors)
        if not creating:
            for key, coerce in (("id", grape_integer), ("_destroy", grape_boolean)):
                if key in item:
                    out[key] = coerce(item[key], f"{prefix}[{key}]", errors)
        if "scopes" in item:
            scopes = []
            for position, scope in enumerate(_hashes(item["scopes"], f"{prefix}[scopes]", errors)):
                scope_prefix = f"{prefix}[scopes][{position}]"
                kept: dict[str, Any] = {}
                if "environment_scope" in scope:
                    kept["environment_scope"] = grape_string(
                        scope["environment_scope"], f"{scope_prefix}[environment_scope]", errors
                    )
                elif creating:
                    errors.append(f"{scope_prefix}[environment_scope] is missing")
                if not creating:
                    for key, coerce in (("id", grape_integer), ("_destroy", grape_boolean)):
                        if key in scope:
                            kept[key] = coerce(scope[key], f"{scope_prefix}[{key}]", errors)
                scopes.append(kept)
            out["scopes"] = scopes
        declared.append(out)
    return declared


def raise_param_errors(errors: list[str]) -> None:
    if errors:
        raise param_error(", ".join(errors))
