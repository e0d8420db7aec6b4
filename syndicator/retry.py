"""How a failed call is retried: the key that makes a retry safe, the wait before it, and
what an exception from a channel means for the delivery (retry, give up, or ``unknown``)."""

from __future__ import annotations

import hashlib
import random

from .channel import Channel
from .errors import AuthError, PermanentError, TransientError, UnknownOutcome
from .models import Action, DeliveryState

MAX_BACKOFF = 6 * 3600.0  # a retry waits at most six hours, however many attempts


def idempotency_key(release_key: str, channel: str, content_hash: str, action: str = "publish") -> str:
    """Stable for one action on one release version on one channel, across retries and runs."""
    seed = f"{release_key}\x00{channel}\x00{content_hash}"
    if action != "publish":  # the first publication keeps the key it always had
        seed += f"\x00{action}"
    digest = hashlib.sha256(seed.encode()).hexdigest()
    return "syn-" + digest[:40]


def backoff_delay(attempt: int, base: float, retry_after: float | None, rng: random.Random) -> float:
    """Exponential backoff with full jitter on the upper half, capped; Retry-After wins if longer."""
    ceiling = min(MAX_BACKOFF, base * 2.0 ** min(max(0, attempt - 1), 40))
    delay = ceiling / 2 + rng.random() * ceiling / 2
    return float(max(delay, retry_after or 0.0))


def effective_idempotency(channel: Channel, action: Action) -> str:
    """Editing a post or deleting it is safe to repeat whatever the platform offers."""
    if action is Action.UPDATE or (action is Action.RETRACT and channel.capabilities.delete):
        return "key"
    return channel.idempotency


def classify(exc: BaseException, idempotency: str) -> tuple[DeliveryState, float | None, str]:
    """Map an exception from ``publish`` to the next state, a Retry-After, and a message.

    Timeouts and unexpected errors may have reached the platform; only a channel whose
    publish is idempotent by key may retry them. The others become ``unknown``.
    """
    import requests  # already loaded by any HTTP channel; kept out of start-up

    message = str(exc) or type(exc).__name__
    if isinstance(exc, AuthError):
        return DeliveryState.DEAD, None, f"credentials refused: {message}"
    if isinstance(exc, PermanentError):
        return DeliveryState.DEAD, None, message
    if isinstance(exc, TransientError):
        return DeliveryState.FAILED, exc.retry_after, message
    may_have_landed = isinstance(exc, UnknownOutcome) or not _surely_unsent(exc)
    if may_have_landed and idempotency != "key":
        what = "timed out" if isinstance(exc, requests.ReadTimeout) else f"{type(exc).__name__}: {message}"
        return DeliveryState.UNKNOWN, None, f"outcome unknown ({what}); not retried blindly"
    return DeliveryState.FAILED, None, f"{type(exc).__name__}: {message}"


def _surely_unsent(exc: BaseException) -> bool:
    """True only for errors raised before a byte of the request left: no connection was made.

    A reset or an aborted connection after sending is not one of them: the platform may
    have read the request, so for a channel without idempotency it is an unknown outcome.
    """
    import requests
    from urllib3.exceptions import NewConnectionError

    if isinstance(
        exc, requests.ConnectTimeout | requests.exceptions.SSLError | requests.exceptions.ProxyError
    ):
        return True
    if isinstance(exc, requests.ConnectionError) and exc.args:
        return isinstance(getattr(exc.args[0], "reason", None), NewConnectionError)
    return False
