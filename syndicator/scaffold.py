"""``syndicator plugin new NAME``: write a ready channel plugin package.

The package is complete from the first minute: a channel that POSTs each release as JSON
with an idempotency key and maps every failure to the right error class, registered through
the ``syndicator`` entry-point group, with tests built on :mod:`syndicator.testing` that pass
as generated. The templates are plain strings (``string.Template``: ``$name`` is replaced,
``$$`` is a dollar sign). CI generates a package and runs its tests against the current core
(``.ci/scaffold-check.sh``), so the template cannot drift from the API it uses.
"""

from __future__ import annotations

import keyword
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from string import Template

from .errors import SyndicatorError

NAME_RE = re.compile(r"[a-z][a-z0-9]*(?:[-_][a-z0-9]+)*")
MAX_NAME = 32


class ScaffoldError(SyndicatorError):
    """The name is unusable, or the package folder already exists."""


@dataclass(frozen=True)
class PluginNames:
    """Every name a plugin package derives from the channel type name."""

    type: str  # the channel type in config: [channels.X] type = "noticeboard"
    module: str  # the import name: syndicator_noticeboard
    distribution: str  # the pip name and folder: syndicator-noticeboard
    class_name: str  # NoticeboardChannel
    env: str  # the token's environment variable: NOTICEBOARD_TOKEN
    label: str  # for prose: "Noticeboard"


def plugin_names(name: str, taken: Iterable[str] = ()) -> PluginNames:
    """Check ``name`` and derive the package's names from it; ScaffoldError says what is wrong."""
    if not NAME_RE.fullmatch(name):
        raise ScaffoldError(
            f"invalid plugin name {name!r}: use lowercase letters and digits, words joined by "
            "'-' or '_', starting with a letter (e.g. 'noticeboard', 'kabar-desa')"
        )
    if len(name) > MAX_NAME:
        raise ScaffoldError(f"plugin name {name!r} is longer than {MAX_NAME} characters")
    existing = set(taken)
    if name in existing:
        raise ScaffoldError(
            f"a channel type named {name!r} already exists (installed: {', '.join(sorted(existing))}); "
            "choose another name"
        )
    words = re.split(r"[-_]", name)
    module = "syndicator_" + "_".join(words)
    assert module.isidentifier() and not keyword.iskeyword(module)
    label = "".join(w.capitalize() for w in words)
    return PluginNames(
        type=name,
        module=module,
        distribution="syndicator-" + "-".join(words),
        class_name=label + "Channel",
        env="_".join(words).upper() + "_TOKEN",
        label=label,
    )


def render_files(names: PluginNames) -> dict[str, str]:
    """The package's files: relative path -> text."""
    values = {
        "type": names.type,
        "module": names.module,
        "distribution": names.distribution,
        "cls": names.class_name,
        "env": names.env,
        "label": names.label,
    }
    templates = {
        "pyproject.toml": PYPROJECT,
        "setup.cfg": SETUP_CFG,
        "README.md": README,
        f"{names.module}/__init__.py": MODULE,
        f"tests/test_{names.module.removeprefix('syndicator_')}.py": TESTS,
    }
    return {path: Template(text).substitute(values) for path, text in templates.items()}


def write_plugin(name: str, parent: Path, *, taken: Iterable[str] = ()) -> list[Path]:
    """Write the package ``syndicator-NAME/`` into ``parent``; return the files written.

    Refuses (ScaffoldError) an invalid name, a name in ``taken`` (the channel types already
    installed) and a package folder that exists already.
    """
    names = plugin_names(name, taken)
    root = parent / names.distribution
    if root.exists():
        raise ScaffoldError(f"{root} already exists; remove it or choose another --dir")
    written: list[Path] = []
    for relative, text in render_files(names).items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("w", encoding="utf-8", newline="\n") as fh:
            fh.write(text)
        written.append(path)
    return written


PYPROJECT = """\
[build-system]
requires = ["setuptools>=64"]
build-backend = "setuptools.build_meta"

[tool.pytest.ini_options]
testpaths = ["tests"]

[tool.ruff]
line-length = 100
target-version = "py311"

[tool.ruff.lint]
select = ["E", "F", "W", "I", "B", "UP"]
"""

SETUP_CFG = """\
[metadata]
name = $distribution
version = 0.1.0
description = A syndicator channel: POST each release as JSON to the $label API
long_description = file: README.md
long_description_content_type = text/markdown

[options]
packages = find:
python_requires = >=3.11
install_requires =
    syndicator
    requests

[options.packages.find]
include = $module, $module.*

[options.extras_require]
test =
    pytest

# syndicator finds the plugin through this entry point: the group is "syndicator", the
# name is the plugin's name (shown by `syndicator plugins`), the value is the module.
[options.entry_points]
syndicator =
    $type = $module
"""

README = """\
# $distribution

A [syndicator](https://github.com/syndicator/syndicator) channel plugin: every approved
press release is POSTed as JSON to the $label API, once.

## Install

```sh
pip install -e .
syndicator plugins          # lists $type
syndicator channels list    # shows the $type channel type and its options
```

## Configure

```toml
[channels.$type]
type = "$type"
url = "https://api.example.org/posts"
token = { env = "$env" }
```

| option | default | meaning |
| --- | --- | --- |
| `url` | (required) | the API endpoint that receives each post |
| `token` | | API token, sent as `Authorization: Bearer ...`; only from the environment |

Each POST carries an `Idempotency-Key` header that is the same for one release on one
channel across retries and runs, so a retry after a timeout cannot post twice.

## Develop

```sh
pip install -e '.[test]'
pytest
```

The tests subclass `syndicator.testing.ChannelContract`, which checks the rules every
channel must keep, against a scripted HTTP server on 127.0.0.1.
"""

MODULE = '''\
"""$distribution: a syndicator channel posting each release as JSON.

Configure it in syndicator.toml::

    [channels.$type]
    type = "$type"
    url = "https://api.example.org/posts"
    token = { env = "$env" }

Generated by ``syndicator plugin new $type``: make it speak your API.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import urlsplit

import requests
from syndicator import hookimpl
from syndicator.channel import Channel, ChannelContext, Limits
from syndicator.errors import AuthError, PermanentError, TransientError
from syndicator.http import parse_retry_after
from syndicator.models import Post, Receipt, Release
from syndicator.options import Option, Secret
from syndicator.render import fit_summary, truncate

__version__ = "0.1.0"


class $cls(Channel):
    """POSTs one JSON document per release; the API answers with the new post's id."""

    type = "$type"
    description = "POST each release as JSON to the $label API"
    # publish sends ctx.idempotency_key, so retrying after a timeout cannot post twice.
    idempotency = "key"
    # What the platform accepts: render keeps every post within it.
    limits = Limits(max_length=1000, counting="graphemes")
    options = (
        Option("url", str, required=True, help="the API endpoint that receives each post"),
        Option("token", str, secret=True, help="a Bearer token for the API"),
    )

    @classmethod
    def validate(cls, options: Mapping[str, Any]) -> list[tuple[str, str]]:
        """Checked when the config loads, so a bad value stops the run before it starts."""
        parts = urlsplit(options["url"])
        if parts.scheme not in ("http", "https") or not parts.hostname:
            return [("url", f"expected an http:// or https:// URL, got {options['url']!r}")]
        return []

    def render(self, release: Release, ctx: ChannelContext) -> Post:
        """Pure: no network, no files. Preview and dry runs call only this."""
        override = (release.overrides.get(ctx.name) or {}).get("text")
        if isinstance(override, str) and override.strip():
            text = truncate(override.strip(), self.limits)
        else:
            text = fit_summary(release.title, release.summary, release.url, self.limits)
        payload = {
            "text": text,
            "title": release.title,
            "link": release.url,
            "language": release.language,
            "release": release.key,
        }
        return Post(
            channel=ctx.name,
            release_key=release.key,
            text=text,
            title=release.title,
            link=release.url,
            extra={"payload": payload},
        )

    def publish(self, post: Post, ctx: ChannelContext) -> Receipt:
        """Send the post; return a receipt, or raise the error class the core acts on."""
        url = ctx.options["url"]
        where = urlsplit(url).hostname  # never the whole URL: it may carry a token
        try:
            resp = ctx.http.post(
                url,
                json=post.extra["payload"],
                headers={**_auth(ctx), "Idempotency-Key": ctx.idempotency_key},
                allow_redirects=False,
            )
        except requests.Timeout as exc:
            # It may have arrived; the idempotency key makes a retry safe.
            raise TransientError(f"{self.type} {where}: timed out") from exc
        except requests.ConnectionError as exc:
            raise TransientError(f"{self.type} {where}: connection failed") from exc
        code = resp.status_code
        if code in (401, 403):
            raise AuthError(f"{self.type} {where}: HTTP {code}: the token was refused")
        if code == 429 or code >= 500:
            retry_after = parse_retry_after(resp.headers.get("Retry-After"))
            raise TransientError(f"{self.type} {where}: HTTP {code}", retry_after=retry_after)
        if code >= 300:
            raise PermanentError(f"{self.type} {where}: HTTP {code}: {resp.text[:200]}")
        data = _json(resp)
        receipt = Receipt(remote_id=str(data.get("id", "")), url=str(data.get("url", "")))
        ctx.logger.info("%s: posted as %s", post.release_key, receipt.remote_id or "(no id)")
        return receipt

    def check(self, ctx: ChannelContext) -> str:
        """`syndicator channels check`: reach the API and test the token, posting nothing."""
        url = ctx.options["url"]
        where = urlsplit(url).hostname
        try:
            resp = ctx.http.get(url, headers=_auth(ctx), allow_redirects=False)
        except requests.RequestException as exc:
            raise TransientError(f"{self.type} {where}: unreachable") from exc
        if resp.status_code in (401, 403):
            raise AuthError(f"{self.type} {where}: HTTP {resp.status_code}: the token was refused")
        return f"reachable (HTTP {resp.status_code})"


def _auth(ctx: ChannelContext) -> dict[str, str]:
    token = ctx.options.get("token")
    if isinstance(token, Secret):  # reveal() only where the value goes on the wire
        return {"Authorization": f"Bearer {token.reveal()}"}
    return {}


def _json(resp: requests.Response) -> dict[str, Any]:
    try:
        data = resp.json()
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


@hookimpl
def register_channels(register: Callable[[type[Channel]], None]) -> None:
    register($cls)
'''

TESTS = '''\
"""Tests for $distribution, built on syndicator's test kit."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pluggy
import pytest
from syndicator.errors import TransientError
from syndicator.plugins import channel_types
from syndicator.testing import ChannelContract, PluginRegistrar, Reply, ScriptedServer

import $module as plugin
from $module import $cls

pytest_plugins = ["syndicator.testing"]

PATH = "/api/posts"
TOKEN = "test-token-123"
ENV = "$env"


class Test${label}Contract(ChannelContract):
    """The rules every channel keeps (inherited), then this channel's own tests."""

    channel_class = $cls
    channel_name = "$type"

    def options(self, url: str) -> dict[str, Any]:
        return {"url": url + PATH, "token": {"env": ENV}}

    def environ(self, url: str) -> dict[str, str]:
        return {ENV: TOKEN}

    def script_success(self, server: ScriptedServer) -> None:
        server.script("POST", PATH, Reply(201, json={"id": "42", "url": "https://example.org/42"}))

    def script_transient(self, server: ScriptedServer) -> None:
        server.script("POST", PATH, Reply(503, headers={"Retry-After": "30"}))

    def script_permanent(self, server: ScriptedServer) -> None:
        server.script("POST", PATH, Reply(422, json={"error": "text is too long"}))

    def script_auth_failure(self, server: ScriptedServer) -> None:
        server.script("POST", PATH, Reply(401, json={"error": "invalid token"}))

    def test_posts_json_with_token_and_key(
        self, scripted_server: ScriptedServer, tmp_path: Path
    ) -> None:
        self.script_success(scripted_server)
        ctx = self.context(scripted_server, tmp_path, idempotency_key="syn-abc")
        channel = $cls()
        receipt = channel.publish(channel.render(self.sample_release(), ctx), ctx)
        assert (receipt.remote_id, receipt.url) == ("42", "https://example.org/42")
        (request,) = scripted_server.requests
        assert request.headers["Authorization"] == f"Bearer {TOKEN}"
        assert request.headers["Idempotency-Key"] == "syn-abc"
        assert request.json["title"] == self.sample_release().title

    def test_retry_after_is_passed_on(
        self, scripted_server: ScriptedServer, tmp_path: Path
    ) -> None:
        self.script_transient(scripted_server)
        ctx = self.context(scripted_server, tmp_path)
        channel = $cls()
        with pytest.raises(TransientError) as raised:
            channel.publish(channel.render(self.sample_release(), ctx), ctx)
        assert raised.value.retry_after == 30.0


def test_registers_its_channel_type(
    plugin_manager: pluggy.PluginManager, register_plugin: PluginRegistrar
) -> None:
    register_plugin(plugin)  # already there when the package is installed
    channel = channel_types(plugin_manager)["$type"]
    assert channel.cls is $cls
'''
