"""Logging for people (short lines on stderr) and for machines (one JSON object per line).

Secrets cannot reach a log line: options hold them as :class:`~syndicator.options.Secret`,
whose text is redacted, and urllib3 (which logs request paths, where some platforms put a
token) is kept at WARNING.
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime
from pathlib import Path

#: Fields a record may carry (``extra=``) that the JSON format writes out.
FIELDS = ("release", "channel", "state", "attempt", "duration", "source")


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        data: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        for name in FIELDS:
            if hasattr(record, name):
                data[name] = getattr(record, name)
        if record.exc_info:
            data["error"] = self.formatException(record.exc_info).splitlines()[-1]
        return json.dumps(data, ensure_ascii=False, default=str)


def setup_logging(verbosity: int, fmt: str = "text", log_file: Path | None = None) -> None:
    """Route syndicator's logging: stderr at the verbosity asked for, and a file if given."""
    level = {-1: logging.ERROR, 0: logging.WARNING, 1: logging.INFO}.get(verbosity, logging.DEBUG)
    root = logging.getLogger()
    for handler in [h for h in root.handlers if getattr(h, "_syndicator", False)]:
        root.removeHandler(handler)
        handler.close()
    formatter: logging.Formatter = (
        JsonFormatter() if fmt == "json" else logging.Formatter("%(levelname)s %(name)s: %(message)s")
    )
    handlers: list[logging.Handler] = [logging.StreamHandler(sys.stderr)]
    handlers[0].setLevel(level)
    if log_file is not None:
        log_file.parent.mkdir(parents=True, exist_ok=True)
        handlers.append(logging.FileHandler(log_file, encoding="utf-8"))
        handlers[-1].setLevel(min(level, logging.INFO))  # the file keeps every delivery
    for handler in handlers:
        handler.setFormatter(formatter)
        handler._syndicator = True  # type: ignore[attr-defined]
        root.addHandler(handler)
    root.setLevel(min(h.level for h in handlers))
    # These log request paths, tokens or whole responses at DEBUG (a Slack webhook's path is its
    # token; oauthlib names the X access token): never let them reach a log.
    for noisy in ("urllib3", "oauthlib", "requests_oauthlib", "tweepy"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
