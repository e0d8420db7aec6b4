"""A configured channel as a run uses it: its instance, its pacing, the contexts its calls
get (with HTTP sessions kept between calls), and the calls around its deliveries
(``finish``, the ``delivery_recorded`` observers)."""

from __future__ import annotations

import importlib
import logging
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import pluggy

from .channel import Channel, ChannelContext
from .config import ChannelConfig, Config
from .http import made_once
from .models import Delivery
from .pacing import Pacer, parse_rate

log = logging.getLogger(__name__)


@dataclass
class ChannelRuntime:
    """A configured channel, its instance, and how to build a context for one call."""

    config: ChannelConfig
    channel: Channel
    make_context: Callable[..., ChannelContext]
    auth_failed: str = ""  # once credentials are refused, stop calling this channel in this run
    lock: threading.Lock = field(default_factory=threading.Lock)
    pacer: Pacer | None = None
    recycle: Callable[[ChannelContext], None] = lambda ctx: None  # done with a context


def finish_channel(rt: ChannelRuntime) -> None:
    """Tell a channel that this run's deliveries to it are done (``Channel.finish``)."""
    try:
        rt.channel.finish(rt.make_context())
    except Exception as exc:  # a broken index must not hide the deliveries already recorded
        log.error("channel %s: finishing failed: %s", rt.config.name, exc, exc_info=True)


def make_runtime(cfg: ChannelConfig, config: Config) -> ChannelRuntime:
    """The runtime of channel ``cfg``: its instance, its pacing, and contexts that borrow
    HTTP sessions from the channel's own small stock."""
    from .http import make_session

    # requests.Session is not thread-safe: each call borrows one, and gives it back
    # afterwards with its open connections, so a channel keeps at most `concurrency`.
    idle: list[Any] = []
    lock = threading.Lock()

    def session() -> Any:
        with lock:
            if idle:
                return idle.pop()
        return make_session(timeout=cfg.timeout, user_agent=config.user_agent, pool_size=1)

    def recycle(ctx: ChannelContext) -> None:
        if ctx._session is not None:
            with lock:
                idle.append(ctx._session)
            ctx._session = None

    def new_pool() -> Any:
        from .http import Pool

        return Pool(timeout=cfg.timeout, user_agent=config.user_agent, maxsize=cfg.concurrency)

    pool = made_once(new_pool)
    logger = logging.getLogger(f"syndicator.channel.{cfg.name}")

    def make_context(**overrides: Any) -> ChannelContext:
        return ChannelContext(
            name=cfg.name,
            options=cfg.options,
            base_dir=config.base_dir,
            logger=logger,
            timezone=str(config.timezone),
            _session_factory=session,
            _pool_factory=pool,  # one per channel, shared by its calls
            **overrides,
        )

    pacer = Pacer(parse_rate(cfg.rate)) if cfg.rate else None
    return ChannelRuntime(cfg, cfg.cls(), make_context, pacer=pacer, recycle=recycle)


def import_channel_modules(runtimes: Iterable[ChannelRuntime]) -> None:
    """Import what the channels' calls need (``Channel.imports``) here, once: threads importing
    a module side by side can see it half-initialised, and helper processes forked after
    this share the imported modules instead of each importing them again."""
    for module in sorted({m for rt in runtimes for m in rt.channel.imports}):
        importlib.import_module(module)


def notify(pm: pluggy.PluginManager, delivery: Delivery, event: str) -> None:
    """Tell ``delivery_recorded`` observers; an observer must never change an outcome."""
    try:
        pm.hook.delivery_recorded(delivery=delivery, event=event)
    except Exception as exc:
        log.error("a delivery_recorded hook failed: %s", exc, exc_info=True)
