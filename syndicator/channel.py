"""The channel contract: what a channel plugin declares and the methods the core calls.

A channel does I/O only in ``publish``, ``find_existing``, ``update``, ``delete``, ``check``
and ``finish``; ``render`` is pure, so ``preview`` and ``run --dry-run`` can call it safely.
The core owns the loop over channels and the ledger; a channel never writes state itself.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Literal, cast

from .options import Option

if TYPE_CHECKING:
    import requests

    from .http import Pool

from .models import Post, Receipt, Release

Idempotency = Literal["key", "lookup", "none"]


@dataclass(frozen=True)
class Limits:
    """What a platform accepts. ``counting`` names the rule used by ``render.count``."""

    max_length: int | None = None
    counting: str = "graphemes"  # "graphemes" | "weighted" | "utf16" | "chars" | "bytes"
    url_length: int | None = None  # a URL counts as this many, whatever its length
    max_media: int = 0
    max_media_bytes: int | None = None


@dataclass(frozen=True)
class Capabilities:
    threads: bool = False
    media: bool = False
    edit: bool = False
    delete: bool = False


@dataclass
class ChannelContext:
    """Everything a channel gets for one call: never global state.

    ``options`` are resolved (secrets are :class:`~syndicator.options.Secret`; call
    ``reveal()`` only where the value goes on the wire). ``idempotency_key`` is stable for
    this release on this channel, across retries and runs.
    """

    name: str
    options: Mapping[str, Any]
    base_dir: Path
    logger: logging.Logger
    idempotency_key: str = ""
    timezone: str = "UTC"
    dry_run: bool = False
    attempt: int = 1
    _session_factory: Any = field(default=None, repr=False)
    _session: Any = field(default=None, repr=False)
    _pool_factory: Any = field(default=None, repr=False)

    @property
    def pool(self) -> Pool:
        """The channel's shared :class:`~syndicator.http.Pool`: a lighter client than
        :attr:`http` for a channel whose calls are simple and many (the webhook)."""
        if self._pool_factory is None:
            from .http import Pool, made_once

            self._pool_factory = made_once(Pool)
        return cast("Pool", self._pool_factory())

    @property
    def http(self) -> requests.Session:
        """A shared ``requests.Session`` with timeouts and User-Agent set (made on first use)."""
        if self._session is None:
            from .http import make_session

            factory = self._session_factory or make_session
            self._session = factory()
        return cast("requests.Session", self._session)

    def path(self, value: str) -> Path:
        """A path from config, relative to the config file's folder."""
        p = Path(value).expanduser()
        return p if p.is_absolute() else self.base_dir / p


class Channel:
    """Base class of every channel. Subclass it and override what your platform supports.

    Class attributes to set: ``type`` (the name in config), ``options`` (a tuple of
    :class:`~syndicator.options.Option`), ``limits``, ``capabilities``, ``idempotency``.
    """

    type: ClassVar[str] = ""
    description: ClassVar[str] = ""
    options: ClassVar[tuple[Option, ...]] = ()
    limits: ClassVar[Limits] = Limits()
    capabilities: ClassVar[Capabilities] = Capabilities()
    #: "key": publish is idempotent given ``ctx.idempotency_key``; "lookup": ``find_existing``
    #: can tell whether a post exists; "none": neither, so an unknown outcome needs an operator.
    idempotency: ClassVar[Idempotency] = "none"
    #: A platform's own cap on calls per 24 hours (a free X account: 17), used unless the
    #: channel's config sets ``daily_quota``.
    default_daily_quota: ClassVar[int | None] = None
    #: Modules the channel's calls import, imported once before the delivery threads start
    #: (threads importing one module side by side can see it half-initialised). A channel
    #: that only uses ``ctx.pool`` names ``("urllib3",)`` and spares a run requests' import.
    imports: ClassVar[tuple[str, ...]] = ("requests", "urllib3")

    @classmethod
    def validate(cls, options: Mapping[str, Any]) -> list[tuple[str, str]]:
        """Check option values beyond their declared types, when the config is loaded.

        Return ``(key, reason)`` pairs; each becomes a config error naming the file, the
        ``[channels.NAME]`` table and the key, reported with every other problem.
        """
        return []

    def render(self, release: Release, ctx: ChannelContext) -> Post:
        """Turn a release into what will be sent. Pure: no network, no files written."""
        raise NotImplementedError

    def render_correction(self, release: Release, original: Receipt, ctx: ChannelContext) -> Post:
        """A correction post for a channel that cannot edit. Pure, like ``render``.

        The default renders the corrected release with a "Ralat"/"Correction" lead and a
        link to the original post where it has one; override it to do better.
        """
        post = self.render(release, ctx)
        lead = notice_word("correction", release.language)
        ref = f"\n\n{notice_word('original', release.language)}: {original.url}" if original.url else ""
        return _prefixed(post, f"{lead}: ", ref)

    def render_retraction(
        self, release: Release, original: Receipt, reason: str, ctx: ChannelContext
    ) -> Post:
        """A retraction notice for a channel that cannot delete (``retraction_notice = true``)."""
        lead = notice_word("retraction", release.language)
        ref = f"\n{original.url}" if original.url else ""
        text = f"{lead}: {release.title}\n{reason}{ref}".strip()
        return Post(
            channel=ctx.name,
            release_key=release.key,
            text=text,
            title=release.title,
            extra={"retraction_of": original.to_dict()},
        )

    def publish(self, post: Post, ctx: ChannelContext) -> Receipt:
        """Send ``post``. Return a receipt, or raise Transient/Permanent/Auth/UnknownOutcome."""
        raise NotImplementedError

    def find_existing(self, release: Release, ctx: ChannelContext) -> Receipt | None:
        """Look the release up on the platform (to settle an unknown outcome)."""
        return None

    def update(self, receipt: Receipt, post: Post, ctx: ChannelContext) -> Receipt:
        """Edit an earlier post in place (only if ``capabilities.edit``)."""
        raise NotImplementedError

    def delete(self, receipt: Receipt, ctx: ChannelContext) -> None:
        """Remove an earlier post (only if ``capabilities.delete``)."""
        raise NotImplementedError

    def check(self, ctx: ChannelContext) -> str:
        """Verify credentials and reachability without posting; return a one-line status."""
        return "no check available"

    def finish(self, ctx: ChannelContext) -> None:
        """Called once after a run's deliveries to this channel (rebuild indexes, close)."""


_WORDS = {
    "id": {"correction": "Ralat", "retraction": "Pencabutan siaran pers", "original": "Tautan asli"},
    "en": {"correction": "Correction", "retraction": "Retracted", "original": "Original"},
}


def notice_word(word: str, language: str) -> str:
    """ "Ralat" / "Correction" and friends, in the release's language (English otherwise)."""
    return _WORDS["id" if language.lower().startswith("id") else "en"][word]


def _prefixed(post: Post, lead: str, tail: str) -> Post:

    parts = tuple(post.parts)
    if parts:
        parts = (
            (lead + parts[0], *parts[1:-1], parts[-1] + tail) if len(parts) > 1 else (lead + parts[0] + tail,)
        )
    return replace(post, text=lead + post.text + tail, parts=parts, extra={**post.extra, "correction": True})
