"""Typed option schemas for sources and channels, validated when the config loads.

A plugin declares ``options = (Option("url", str, required=True), ...)``; the config loader
checks every ``[channels.NAME]`` or ``[sources.NAME]`` table against it and reports every
problem at once. Secret options must come from the environment (``{ env = "NAME" }``).
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

_TYPE_NAMES = {
    str: "a string",
    int: "an integer",
    float: "a number",
    bool: "true or false",
    list: "a list",
    dict: "a table",
}


class Secret:
    """A value from the environment that never prints: ``repr`` and ``str`` are redacted."""

    __slots__ = ("_value", "env")

    def __init__(self, value: str, env: str) -> None:
        self._value = value
        self.env = env

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return f"<secret from ${self.env}>"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)


@dataclass(frozen=True)
class Option:
    """One option a plugin accepts in its config table."""

    name: str
    type: type | tuple[type, ...] = str
    required: bool = False
    default: Any = None
    secret: bool = False
    help: str = ""
    choices: tuple[Any, ...] = ()

    def expected(self) -> str:
        types = self.type if isinstance(self.type, tuple) else (self.type,)
        text = " or ".join(_TYPE_NAMES.get(t, t.__name__) for t in types)
        if self.choices:
            text += " (one of " + ", ".join(repr(c) for c in self.choices) + ")"
        return text


def _type_ok(value: Any, option: Option) -> bool:
    types = option.type if isinstance(option.type, tuple) else (option.type,)
    if isinstance(value, bool) and bool not in types:
        return False  # TOML true is not the integer 1
    if float in types and isinstance(value, int) and not isinstance(value, bool):
        return True
    return isinstance(value, types)


def resolve_options(
    values: Mapping[str, Any],
    schema: Iterable[Option],
    *,
    environ: Mapping[str, str] | None = None,
    ignore: Iterable[str] = (),
) -> tuple[dict[str, Any], list[tuple[str, str]]]:
    """Check ``values`` against ``schema``; return resolved options and (key, problem) pairs.

    Environment references become :class:`Secret` (for secret options) or plain strings.
    Keys in ``ignore`` belong to the core (``type``, ``sources``...) and are skipped.
    """
    env = os.environ if environ is None else environ
    by_name = {o.name: o for o in schema}
    skip = set(ignore)
    resolved: dict[str, Any] = {}
    problems: list[tuple[str, str]] = []
    for key, value in values.items():
        if key in skip:
            continue
        option = by_name.get(key)
        if option is None:
            known = ", ".join(sorted(by_name | dict.fromkeys(skip))) or "none"
            problems.append((key, f"unknown key (known keys: {known})"))
            continue
        if isinstance(value, dict) and set(value) == {"env"}:
            name = value["env"]
            if not isinstance(name, str) or not name:
                problems.append((key, "{ env = ... } needs the name of an environment variable"))
            elif name not in env:
                problems.append((key, f"environment variable {name} is not set"))
            elif option.secret:
                resolved[key] = Secret(env[name], name)
            else:
                converted, problem = _from_env(env[name], option)
                if problem:
                    problems.append((key, f"environment variable {name}: {problem}"))
                elif option.choices and converted not in option.choices:
                    problems.append((key, f"environment variable {name}: expected {option.expected()}"))
                else:
                    resolved[key] = converted
            continue
        if option.secret:
            problems.append((key, 'is a secret: give it as { env = "VARIABLE" }, never in the file'))
            continue
        if not _type_ok(value, option):
            problems.append((key, f"expected {option.expected()}, got {value!r}"))
            continue
        if option.choices and value not in option.choices:
            problems.append((key, f"expected {option.expected()}, got {value!r}"))
            continue
        resolved[key] = value
    for option in by_name.values():
        if option.name in resolved or option.name in values:
            continue
        if option.required:
            problems.append((option.name, f"is required ({option.expected()})"))
        else:
            resolved[option.name] = option.default
    return resolved, problems


def _from_env(text: str, option: Option) -> tuple[Any, str]:
    """An environment variable's text as the option's type, or a problem."""
    types = option.type if isinstance(option.type, tuple) else (option.type,)
    if str in types:
        return text, ""
    for kind in types:
        if kind is bool and text.strip().lower() in ("true", "1", "yes", "false", "0", "no"):
            return text.strip().lower() in ("true", "1", "yes"), ""
        if kind in (int, float):
            try:
                return kind(text.strip()), ""
            except ValueError:
                continue
    return None, f"expected {option.expected()}, got {text!r}"


def redact(value: Any) -> Any:
    """A copy of ``value`` safe to print: secrets shown only by the variable they came from."""
    if isinstance(value, Secret):
        return f"<secret from ${value.env}>"
    if isinstance(value, Mapping):
        return {k: redact(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [redact(v) for v in value]
    return value
