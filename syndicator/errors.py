"""Typed errors. Only the CLI turns them into messages and exit codes."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


class SyndicatorError(Exception):
    """Base class of every error syndicator raises on purpose."""


@dataclass(frozen=True)
class ConfigProblem:
    """One mistake in a configuration file: where it is and what was expected."""

    file: str
    table: str
    key: str
    message: str

    def __str__(self) -> str:
        where = f"[{self.table}]" if self.table else "(top level)"
        key = f" {self.key}:" if self.key else ":"
        return f"{self.file}: {where}{key} {self.message}"


class ConfigError(SyndicatorError):
    """The configuration is wrong. Carries every problem found, not just the first."""

    def __init__(self, problems: list[ConfigProblem] | str) -> None:
        if isinstance(problems, str):
            problems = [ConfigProblem("", "", "", problems)]
        self.problems = problems
        super().__init__("\n".join(str(p) for p in problems))


class PluginError(SyndicatorError):
    """A plugin broke the plugin API (for example two plugins claim one type name)."""


class SourceError(SyndicatorError):
    """A source (feed, directory, file) could not be read; names it and says why."""

    def __init__(self, source: str, message: str, *, item: str | None = None) -> None:
        self.source = source
        self.item = item
        self.reason = message
        where = f"{source}: {item}" if item else source
        super().__init__(f"{where}: {message}")

    def __reduce__(self) -> tuple[Any, ...]:  # it crosses from a parser process
        return (_source_error, (self.source, self.reason, self.item))


def _source_error(source: str, message: str, item: str | None) -> SourceError:
    return SourceError(source, message, item=item)


class ReleaseNotFound(SyndicatorError):
    """No release in the ledger matches what the operator typed."""


class StateError(SyndicatorError):
    """The state file or its folder cannot be used (read-only, full, corrupt, newer schema)."""


class LockedError(SyndicatorError):
    """Another run holds the lock on this state file."""


class ChannelError(SyndicatorError):
    """Base for errors a channel raises from publish, update, delete or check."""


class TransientError(ChannelError):
    """Worth retrying later: timeouts, 5xx, rate limits. ``retry_after`` is in seconds."""

    def __init__(self, message: str, *, retry_after: float | None = None) -> None:
        self.retry_after = retry_after
        super().__init__(message)


class PermanentError(ChannelError):
    """Retrying cannot help: the platform refused this post."""


class AuthError(PermanentError):
    """Credentials are missing, wrong, expired or lack the permission needed."""


class UnknownOutcome(ChannelError):
    """The call may or may not have reached the platform (timeout after sending).

    The core never retries such a delivery blindly: it reconciles it by idempotency key or
    lookup, or leaves it for the operator.
    """
