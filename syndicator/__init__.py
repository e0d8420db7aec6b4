"""syndicator: publish approved press releases everywhere, exactly once."""

from .hookspecs import hookimpl

__version__ = "0.1.0"
__all__ = ["__version__", "hookimpl"]
