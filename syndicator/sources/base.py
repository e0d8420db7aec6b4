"""The source contract: collect releases that are new or changed since the last tick."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Protocol, TypeVar, cast
from zoneinfo import ZoneInfo

from ..options import Option

if TYPE_CHECKING:
    import requests

    from ..errors import SourceError
    from ..http import Pool
    from ..models import Release

T = TypeVar("T")


class StateStore(Protocol):
    """A small per-source key/value store in the ledger (validators, file index)."""

    def get_all(self) -> dict[str, Any]: ...

    def put_many(self, items: Mapping[str, Any]) -> None: ...

    def delete_many(self, keys: list[str]) -> None: ...


@dataclass
class SourceContext:
    name: str
    options: Mapping[str, Any]
    base_dir: Path
    logger: logging.Logger
    state: StateStore
    timezone: ZoneInfo
    defaults: Mapping[str, Any] = field(default_factory=dict)  # agency, language, tags
    _session_factory: Any = field(default=None, repr=False)
    _session: Any = field(default=None, repr=False)
    _offload: Callable[..., Any] | None = field(default=None, repr=False)
    _pool_factory: Callable[[], Any] | None = field(default=None, repr=False)

    @property
    def pool(self) -> Pool:
        """A keep-alive :class:`~syndicator.http.Pool` (urllib3) that the run's sources share:
        lighter than :attr:`http`, and it reuses connections to a host many feeds live on."""
        if self._pool_factory is None:
            from ..http import Pool, made_once

            self._pool_factory = made_once(Pool)
        return cast("Pool", self._pool_factory())

    @property
    def http(self) -> requests.Session:
        """A ``requests.Session`` with a timeout and User-Agent set (made on first use)."""
        if self._session is None:
            from ..http import make_session

            self._session = (self._session_factory or make_session)()
        return cast("requests.Session", self._session)

    def offload(self, fn: Callable[..., T], *args: Any) -> T:
        """``fn(*args)``, in one of the engine's parser processes when it has them.

        For CPU-bound work such as parsing a feed, so several sources parse on several
        cores. ``fn`` must be a module-level function, and its arguments and result must
        pickle. Without parser processes (one core, ``parse_workers = 0``, or a run that
        expects fewer than two parses: see ``Collecting._start_parsers``) it runs here.
        """
        if self._offload is None:
            return fn(*args)
        return cast("T", self._offload(fn, *args))

    def path(self, value: str) -> Path:
        p = Path(value).expanduser()
        return p if p.is_absolute() else self.base_dir / p

    def localize(self, value: datetime) -> datetime:
        """A zone-less time is taken to be in the configured timezone."""
        return value if value.tzinfo else value.replace(tzinfo=self.timezone)


class Source:
    """Base class of every source.

    ``collect`` yields each new or changed release, or a :class:`SourceError` for one bad
    item (a broken file) so the others go on; it raises ``SourceError`` when the whole
    source fails (feed unreachable). Unchanged input should cost as little as possible:
    the ledger already has it.
    """

    type: ClassVar[str] = ""
    description: ClassVar[str] = ""
    options: ClassVar[tuple[Option, ...]] = ()
    #: True when ``collect`` hands work to ``ctx.offload``: only then does the engine start
    #: parser processes for it.
    offloads: ClassVar[bool] = False
    #: Modules ``collect`` imports, imported once before the sources' threads start (threads
    #: importing one module side by side wait on each other, and can see it half-initialised).
    imports: ClassVar[tuple[str, ...]] = ()
    #: True when every release ``collect`` yields has as ``body_text`` exactly
    #: ``syndicator.content.html_to_text(body_html)``, as the built-in sources make it.
    #: Otherwise the engine makes it so: channels publish ``body_text``, and the approval
    #: (the content hash) covers ``body_html``, not ``body_text``.
    text_from_html: ClassVar[bool] = False

    @classmethod
    def fetches_from(cls, options: Mapping[str, Any]) -> str | None:
        """The host name ``collect`` fetches from, or None when it reads no network. The
        engine keeps at most a few requests on one host at a time, however many sources live
        there, and fetches from other hosts beside them."""
        return None

    def collect(self, ctx: SourceContext) -> Iterator[Release | SourceError]:
        raise NotImplementedError
