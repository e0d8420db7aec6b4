"""syndicator: publish approved press releases everywhere, exactly once."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"
__all__ = ["__version__", "hookimpl"]

if TYPE_CHECKING:
    from .hookspecs import hookimpl


def __getattr__(name: str) -> Any:
    # ``hookimpl`` comes from pluggy; importing it lazily keeps ``--version`` from loading it.
    if name == "hookimpl":
        from .hookspecs import hookimpl

        return hookimpl
    raise AttributeError(f"module 'syndicator' has no attribute {name!r}")
