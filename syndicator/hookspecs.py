"""Every hook syndicator calls, in one place.

Plugins implement them with ``@syndicator.hookimpl``. Registration hooks take a registry
callback (as tox and llm do); observers return nothing; ``approve_release`` is the only
decision hook and so the only ``firstresult`` one.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import pluggy

if TYPE_CHECKING:
    import click

    from .approval import Decision
    from .channel import Channel
    from .config import SourceConfig
    from .models import Delivery, Release
    from .sources.base import Source

PROJECT = "syndicator"
hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


@hookspec
def register_channels(register: Callable[[type[Channel]], None]) -> None:
    """Register channel classes.

    Called each time the engine builds the table of channel types (loading a config,
    ``syndicator channels list``). Call ``register(ChannelClass)`` for each class; the class's
    ``type`` attribute is the name used in ``[channels.NAME] type = "..."``. Two plugins that
    register the same type name are an error naming both.
    ``register.lazy("type", "package.module:Class")`` names a class without importing it;
    its module loads only when a config uses the type.

    :param register: a :class:`syndicator.plugins.Registrar`: called with a subclass of
        :class:`syndicator.channel.Channel`, or ``.lazy(type_name, "module:Class")``.
    :returns: nothing.
    """


@hookspec
def register_sources(register: Callable[[type[Source]], None]) -> None:
    """Register source classes.

    Called each time the engine builds the table of source types. Call
    ``register(SourceClass)`` for each subclass of :class:`syndicator.sources.base.Source`;
    its ``type`` attribute is the name used in ``[sources.NAME] type = "..."``, or
    ``register.lazy("type", "module:Class")`` to import it only when a config uses it.

    :param register: a :class:`syndicator.plugins.Registrar` (as for channels).
    :returns: nothing.
    """


@hookspec
def register_commands(cli: click.Group) -> None:
    """Add commands to the ``syndicator`` command line.

    Called once by ``build_cli(pm)`` while the click group is being built, before any
    command runs. Use ``@cli.command()`` to add commands.

    :param cli: the top-level click group.
    :returns: nothing.
    """


@hookspec(firstresult=True)
def approve_release(release: Release, source: SourceConfig) -> Decision | None:
    """Decide whether a collected release is approved for publication.

    Called for every release each time it is collected, before it is stored and gated.
    The first plugin to return something other than ``None`` decides; the built-in policy
    (``approval = "front-matter" | "trusted" | "category:NAME" | "manual"``) runs last.
    An approval is still pinned to the release's content hash: content edited after the
    approval is held until approved again, whatever this hook returned before.

    :param release: the normalised release, as the source produced it.
    :param source: the configuration of the source it came from (``name``, ``type``,
        ``approval`` policy and options).
    :returns: an :class:`~syndicator.models.Approval` to approve, a
        :class:`~syndicator.approval.Hold` (with a reason) to hold, or ``None`` for no opinion.
    """


@hookspec
def release_collected(release: Release, is_new: bool) -> None:
    """Observe a release that is new, or whose content changed, as it is stored.

    Called once per new or changed release per run, after it is written to the ledger, in
    the run's own thread; deliveries of releases stored earlier in the run may already be
    under way (``syndicator.headstart``). Exceptions are logged and do not stop the run.

    :param release: the release as stored.
    :param is_new: True the first time this release is seen, False when it changed.
    :returns: nothing.
    """


@hookspec
def delivery_recorded(delivery: Delivery, event: str) -> None:
    """Observe every delivery state change, after it is committed to the ledger.

    Use it for alerts, metrics or an audit export. Called from dispatcher threads, so
    implementations must be thread-safe, and in the process that made the call, which in a
    big run may be a helper process (``syndicator.fanout``), so gather into a file or a
    service rather than memory. Exceptions are logged and do not stop the run.

    :param delivery: the delivery after the change (state, attempts, receipt, error).
    :param event: a short word for what happened (``planned``, ``in_flight``, ``sent``,
        ``failed``, ``dead``, ``unknown``, ``reconciled``...).
    :returns: nothing.
    """
