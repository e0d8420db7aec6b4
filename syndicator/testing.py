"""Test kit for plugin authors: a scripted HTTP server on 127.0.0.1, pytest fixtures, release
builders (hard ones included) and :class:`ChannelContract`, the tests every channel must pass.

Opt in from a test module or ``conftest.py`` with ``pytest_plugins = ["syndicator.testing"]``.
The fixtures:

``scripted_server``
    a started :class:`ScriptedServer`, closed after the test.
``plugin_manager``
    a fresh plugin manager with the built-in plugins and every installed entry point.
``register_plugin``
    ``register_plugin(module_or_object)`` registers a plugin in ``plugin_manager`` for this
    test only.
``release_factory``
    ``release_factory(title=...)`` builds a complete :class:`~syndicator.models.Release`
    (a new id each call); ``release_factory.hard()`` returns :func:`hard_releases`.
``cli_runner``
    ``cli_runner("run", "--dry-run")`` runs the ``syndicator`` command line in-process on
    ``plugin_manager`` and returns click's result (``exit_code``, ``stdout``, ``stderr``).

:class:`ScriptedServer` can also be used without pytest, as a context manager::

    with ScriptedServer() as server:
        server.script("POST", "/hook", Reply(503, headers={"Retry-After": "5"}), Reply(201, json={"id": 7}))
        ...  # point the channel at server.url + "/hook"
        assert server.requests[0].headers["Idempotency-Key"] == "k-123"

Each route (method and path, query string ignored) answers from its queue of replies in order;
once the queue is drained, the LAST reply repeats for every later call. Unscripted routes get
``server.default`` (404 with a JSON error). A :meth:`ScriptedServer.handler` route computes its
reply from the request instead. Nothing here touches the network beyond the loopback interface.

A channel's tests subclass :class:`ChannelContract` (see its docstring) to inherit the checks
that every channel must pass: render is pure and fits the declared limits for every hard
release, publish maps each failure to the right error class, a dry run never publishes, and
``check`` posts nothing.

PYTEST_DONT_REWRITE: this module has no asserts, and test modules often import it before
pytest loads it as a plugin; the marker keeps pytest from warning about that.
"""

from __future__ import annotations

import html
import itertools
import json as _json
import logging
import socket
import struct
import threading
from collections import deque
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, ClassVar
from urllib.parse import parse_qsl, urlsplit

from requests.structures import CaseInsensitiveDict

from .channel import Channel, ChannelContext, Limits
from .errors import AuthError, ChannelError, PermanentError, TransientError
from .models import DeliveryState, Media, Post, Receipt, Release
from .options import Option, Secret, resolve_options
from .sources.base import Source, SourceContext

if TYPE_CHECKING:
    import pluggy
    from click.testing import Result

__all__ = [
    "ChannelContract",
    "CliInvoker",
    "PluginRegistrar",
    "Recorded",
    "ReleaseFactory",
    "Reply",
    "ScriptedServer",
    "hard_releases",
    "make_release",
]


@dataclass(frozen=True)
class Reply:
    """One scripted answer.

    ``json`` (when not None) is serialised as the body with ``Content-Type: application/json``;
    otherwise ``body`` is sent as is. ``delay`` seconds pass before answering (to provoke a
    client timeout). ``abort`` closes the connection with a TCP reset instead of answering;
    build it with :meth:`Reply.reset`.
    """

    status: int = 200
    json: Any = None
    body: bytes = b""
    headers: Mapping[str, str] = field(default_factory=dict)
    delay: float = 0.0
    abort: bool = False

    @classmethod
    def reset(cls, delay: float = 0.0) -> Reply:
        """A reply that drops the connection (RST) after reading the request, sending nothing."""
        return cls(abort=True, delay=delay)

    def payload(self) -> tuple[bytes, dict[str, str]]:
        """The body bytes and headers to send (Content-Type filled in for ``json``)."""
        headers = dict(self.headers)
        if self.json is not None:
            headers.setdefault("Content-Type", "application/json")
            return _json.dumps(self.json).encode("utf-8"), headers
        return self.body, headers


@dataclass(frozen=True)
class Recorded:
    """One request the server received, recorded before it was answered.

    ``path`` has no query string; ``query`` maps each query key to its last value;
    ``headers`` is case-insensitive.
    """

    method: str
    path: str
    query: dict[str, str]
    headers: CaseInsensitiveDict[str]
    body: bytes

    @property
    def json(self) -> Any:
        """The body parsed as JSON (None for an empty body; ValueError if not JSON)."""
        return _json.loads(self.body) if self.body else None

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", "replace")


Handler = Callable[[Recorded], Reply]


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    owner: ScriptedServer

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Clients that time out and hang up are expected here: stay quiet."""


class _RequestHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        """No access log on stderr."""

    def _read_body(self) -> bytes:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            chunks: list[bytes] = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _serve(self) -> None:
        owner = self.server.owner
        parts = urlsplit(self.path)
        recorded = Recorded(
            method=self.command,
            path=parts.path,
            query=dict(parse_qsl(parts.query, keep_blank_values=True)),
            headers=CaseInsensitiveDict(dict(self.headers.items())),
            body=self._read_body(),
        )
        reply = owner._record_and_pick(recorded)
        if reply.delay and owner._closing.wait(reply.delay):
            reply = Reply.reset()  # shutting down: do not keep the close() waiting
        if reply.abort:
            self._abort()
            return
        body, headers = reply.payload()
        self.send_response(reply.status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)
        self.wfile.flush()

    def _abort(self) -> None:
        """Close with RST (SO_LINGER 0) so the client sees a reset, not a clean EOF."""
        self.close_connection = True
        try:
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.connection.close()
        except OSError:
            pass

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = _serve


class ScriptedServer:
    """A threaded HTTP/1.1 server on 127.0.0.1 (a free port) that answers from a script.

    Thread-safe: scripts may be added and ``requests`` read while clients are calling.
    ``close()`` returns promptly even while delayed replies are pending (they become resets).
    """

    def __init__(self, default: Reply | None = None) -> None:
        #: What unscripted routes answer.
        self.default = default or Reply(404, json={"error": "no scripted reply for this route"})
        self._lock = threading.Lock()
        self._queues: dict[tuple[str, str], deque[Reply]] = {}
        self._handlers: dict[tuple[str, str], Handler] = {}
        self._requests: list[Recorded] = []
        #: Exceptions raised by :meth:`handler` functions (each answered with a 500).
        self.errors: list[Exception] = []
        self._closing = threading.Event()
        self._server = _Server(("127.0.0.1", 0), _RequestHandler)
        self._server.owner = self
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name="scripted-server",
            daemon=True,
        )
        self._thread.start()

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        """The base URL, without a trailing slash: ``http://127.0.0.1:PORT``."""
        return f"http://127.0.0.1:{self.port}"

    def script(self, method: str, path: str, *responses: Reply) -> None:
        """Queue ``responses`` for ``method path`` (appended to any already queued).

        The last reply of a route repeats once its queue is drained. Replaces a handler.
        """
        if not responses:
            raise ValueError("script() needs at least one Reply")
        key = (method.upper(), path)
        with self._lock:
            self._handlers.pop(key, None)
            self._queues.setdefault(key, deque()).extend(responses)

    def handler(self, method: str, path: str, fn: Handler) -> None:
        """Answer ``method path`` with ``fn(recorded_request)``; replaces any scripted queue.

        A ``path`` ending in ``*`` matches every path that starts with the rest (for paths that
        end in an id the test cannot know, such as a Matrix transaction id).
        """
        key = (method.upper(), path)
        with self._lock:
            self._queues.pop(key, None)
            self._handlers[key] = fn

    @property
    def requests(self) -> list[Recorded]:
        """A snapshot (copy) of every request received so far, in arrival order."""
        with self._lock:
            return list(self._requests)

    def clear(self) -> None:
        """Forget scripts, handlers and recorded requests."""
        with self._lock:
            self._queues.clear()
            self._handlers.clear()
            self._requests.clear()

    def _record_and_pick(self, recorded: Recorded) -> Reply:
        key = (recorded.method, recorded.path)
        with self._lock:
            self._requests.append(recorded)
            fn = self._handlers.get(key)
            queue = self._queues.get(key)
            if fn is None and queue is None:
                fn = next(
                    (
                        f
                        for (m, p), f in self._handlers.items()
                        if p.endswith("*") and m == recorded.method and recorded.path.startswith(p[:-1])
                    ),
                    None,
                )
            if fn is None:
                if not queue:
                    return self.default
                return queue.popleft() if len(queue) > 1 else queue[0]
        try:
            return fn(recorded)  # outside the lock: handlers may read server.requests
        except Exception as exc:  # a broken test handler: answer 500, keep it for the test
            with self._lock:
                self.errors.append(exc)
            return Reply(500, json={"error": f"handler raised {exc!r}"})

    def close(self) -> None:
        """Stop serving and release the port. Safe to call twice."""
        if self._closing.is_set():
            return
        self._closing.set()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> ScriptedServer:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<ScriptedServer {self.url}>"


# -- releases ----------------------------------------------------------------------------------

#: The source name of every release the kit builds (a release key is ``kit/<id>``).
KIT_SOURCE = "kit"
_WIB = timezone(timedelta(hours=7), "WIB")
_PUBLISHED = datetime(2026, 3, 2, 9, 0, tzinfo=_WIB)
_SITE = "https://ppid.example.go.id"


def _html(paragraphs: Sequence[str]) -> str:
    return "".join(f"<p>{html.escape(p, quote=False)}</p>" for p in paragraphs)


def _with_body(fields: dict[str, Any], paragraphs: Sequence[str]) -> dict[str, Any]:
    fields.setdefault("body_text", "\n\n".join(paragraphs))
    fields.setdefault("body_html", _html(paragraphs))
    return fields


def make_release(**changes: Any) -> Release:
    """A complete, ordinary release (every field filled, nothing hard); ``changes`` override fields.

    ``body`` (a list of paragraphs) sets ``body_text`` and ``body_html`` together.
    """
    body = changes.pop("body", None)
    release_id = changes.get("id", "2026-03-001")
    fields: dict[str, Any] = {
        "source": KIT_SOURCE,
        "id": release_id,
        "title": "Pemprov Resmikan Jembatan Gantung Desa Sukamaju",
        "summary": "Jembatan sepanjang 120 meter menghubungkan dua dusun yang selama ini terpisah sungai.",
        "url": f"{_SITE}/siaran-pers/{release_id}",
        "published": _PUBLISHED,
        "agency": "Dinas Pekerjaan Umum",
        "author": "Humas Dinas PU",
        "tags": ("infrastruktur", "desa"),
        "language": "id",
        "images": (
            Media(
                f"{_SITE}/img/jembatan-sukamaju.jpg",
                alt="Warga menyeberangi jembatan gantung baru di atas Sungai Cibeureum",
                mime_type="image/jpeg",
                size=204_800,
            ),
        ),
        "status": "approved",
    }
    fields.update(changes)
    paragraphs = body or [
        "SUKAMAJU – Gubernur meresmikan jembatan gantung sepanjang 120 meter di Desa Sukamaju pada "
        "Senin pagi. Jembatan ini dibangun dalam delapan bulan dengan anggaran daerah.",
        "Sebelumnya warga Dusun Kaler harus memutar sejauh 14 kilometer untuk mencapai sekolah dan "
        "puskesmas. Kini perjalanan itu cukup ditempuh dengan berjalan kaki selama sepuluh menit.",
    ]
    return Release(**_with_body(fields, paragraphs))


class ReleaseFactory:
    """Builds releases for tests: each call a new id (``kit-0001``, ``kit-0002``...)."""

    def __init__(self) -> None:
        self._ids = itertools.count(1)

    def __call__(self, **changes: Any) -> Release:
        changes.setdefault("id", f"kit-{next(self._ids):04d}")
        return make_release(**changes)

    @staticmethod
    def hard() -> dict[str, Release]:
        """The releases that break channels; see :func:`hard_releases`."""
        return hard_releases()


# Emoji written as escapes: ZWJ sequences are invisible in an editor.
_ZWJ = "\u200d"
_FAMILY = _ZWJ.join(["\U0001f468", "\U0001f469", "\U0001f467", "\U0001f466"])  # man woman girl boy
_RAINBOW_FLAG = "\U0001f3f3\ufe0f" + _ZWJ + "\U0001f308"
_WOMAN_FARMER = "\U0001f469\U0001f3fd" + _ZWJ + "\U0001f33e"  # medium skin tone
_HEALTH_WORKER = "\U0001f9d1\U0001f3ff" + _ZWJ + "\u2695\ufe0f"
_FLAG_ID = "\U0001f1ee\U0001f1e9"  # Indonesia
_KEYCAP_1 = "1\ufe0f\u20e3"
_EMOJI = [
    _FAMILY,
    _RAINBOW_FLAG,
    _WOMAN_FARMER,
    _HEALTH_WORKER,
    _FLAG_ID,
    _KEYCAP_1,
    "\U0001f389",
    "\u2764\ufe0f",
]

_CJK_SUMMARY = (
    "本届文化节汇集来自三十四个省份的一百二十个表演团体，展示传统音乐、舞蹈和手工艺。"
    "活动期间免费入场，欢迎市民和游客参加。"
    "文化祭は七日間にわたり開催され、伝統音楽や舞踊、工芸品の展示が行われます。"
    "한국어 안내: 축제는 모든 방문객에게 무료로 진행됩니다。"
)
_ARABIC = [
    "أعلنت حكومة المقاطعة عن افتتاح مهرجان الثقافة السنوي بمشاركة أكثر من 120 فرقة فنية من 34 مقاطعة.",
    "يستمر المهرجان سبعة أيام في ساحة المدينة، ويشمل عروضاً موسيقية وورش عمل للحرف التقليدية.",
    "الدخول مجاني لجميع الزوار، والبرنامج الكامل منشور على الموقع الرسمي "
    f"{_SITE}/ar/festival-2026 باللغتين العربية والإندونيسية.",
]
_LONG_URL = (
    f"{_SITE}/siaran-pers/2026/03/02/"
    "pemerintah-provinsi-meluncurkan-program-desa-tangguh-bencana-di-seratus-dua-puluh-desa-"
    "rawan-banjir-dan-longsor-dengan-pelatihan-relawan-sistem-peringatan-dini-dan-lumbung-pangan"
    "?utm_source=whatsapp&utm_medium=social&utm_campaign=siaran-pers-maret-2026"
    "&utm_content=tautan-panjang-untuk-pengujian&ref=" + "a1b2c3d4e5f6" * 30 + "&lang=id#bagian-3"
)
_ID_SENTENCES = [
    "Pemerintah provinsi meluncurkan Program Desa Tangguh Bencana di seratus dua puluh desa yang "
    "rawan banjir dan tanah longsor.",
    "Setiap desa menerima pelatihan relawan, peralatan evakuasi dasar, dan sistem peringatan dini "
    "berbasis pengeras suara masjid.",
    "Kepala Badan Penanggulangan Bencana Daerah menyampaikan bahwa kesiapsiagaan warga adalah kunci "
    "untuk mengurangi korban jiwa.",
    "Warga diajak mengenali jalur evakuasi, titik kumpul, dan nomor darurat yang berlaku di "
    "wilayah masing-masing.",
    "Program ini juga membangun lumbung pangan desa agar kebutuhan dasar tetap tersedia selama "
    "masa tanggap darurat.",
    "Sekolah-sekolah di sekitar daerah aliran sungai akan mengadakan simulasi evakuasi setiap "
    "enam bulan sekali.",
    "Data curah hujan dari stasiun pemantau dikirimkan setiap jam kepada perangkat desa melalui "
    "pesan singkat.",
    "Pemerintah kabupaten menyiapkan anggaran pendamping untuk perawatan peralatan dan honor "
    "koordinator relawan.",
    "Perguruan tinggi setempat dilibatkan untuk menyusun peta risiko yang diperbarui setiap tahun.",
    "Masyarakat dapat menyampaikan laporan kerusakan tanggul atau saluran air melalui kanal "
    "pengaduan resmi pemerintah daerah.",
    "Kepala desa diminta menyusun rencana kontinjensi bersama tokoh agama, tokoh adat, dan "
    "kelompok perempuan.",
    "Pada akhir tahun, setiap desa akan dinilai berdasarkan kelengkapan dokumen, latihan rutin, "
    "dan keterlibatan warganya.",
]


def _long_indonesian(words: int = 3200) -> list[str]:
    """Paragraphs of plain Indonesian prose, at least ``words`` words long."""
    paragraphs: list[str] = []
    sentences = itertools.cycle(_ID_SENTENCES)
    total = 0
    part = 0
    while total < words:
        part += 1
        lead = f"Pada tahap ke-{part}, kegiatan dilaksanakan di {part * 3} desa sasaran."
        paragraph = " ".join([lead, *(next(sentences) for _ in range(5))])
        paragraphs.append(paragraph)
        total += len(paragraph.split())
    return paragraphs


def hard_releases() -> dict[str, Release]:
    """Releases that break naive channels, by name; render must stay within limits for each.

    ``emoji-zwj``: emoji ZWJ sequences, skin tones, flags and keycaps (one grapheme, many code
    points); ``cjk``: Chinese, Japanese and Korean without spaces to cut at; ``rtl-arabic``:
    right-to-left Arabic with numbers and a URL inside; ``long-url``: a link of about 750
    characters; ``long-indonesian``: a body of more than 3,000 words; ``many-images``: 24
    images, each with alt text; ``no-summary``: no summary; ``bare``: a title and nothing else.

    They are for ``render``: their media are URLs on a host that does not exist, so a channel
    that downloads media before posting must not publish them.
    """
    emoji_line = " ".join(_EMOJI)
    arabic_title = "افتتاح مهرجان الثقافة الإندونيسية في جاكرتا 2026"
    long_body = _long_indonesian()
    images = tuple(
        Media(
            f"{_SITE}/img/banjir-2026/foto-{n:02d}.jpg",
            alt=f"Foto {n}: relawan desa memasang rambu jalur evakuasi di tepi sungai, dilihat dari arah barat",
            mime_type="image/jpeg",
            size=150_000 + n * 1_000,
        )
        for n in range(1, 25)
    )
    return {
        "emoji-zwj": make_release(
            id="hard-emoji-zwj",
            title=f"{_FLAG_ID} Festival Keluarga {_FAMILY} dan Petani {_WOMAN_FARMER} Dibuka Hari Ini \U0001f389",
            summary=" ".join([emoji_line] * 40),
            body=[
                f"Festival keluarga {_FAMILY} dibuka dengan pawai petani {_WOMAN_FARMER} dan tenaga "
                f"kesehatan {_HEALTH_WORKER}. Semua warga dipersilakan hadir {_RAINBOW_FLAG} {_KEYCAP_1}.",
                " ".join([emoji_line] * 20),
            ],
            tags=("festival", f"keluarga{_FAMILY}"),
        ),
        "cjk": make_release(
            id="hard-cjk",
            title="雅加达国际文化节将于三月开幕：一百二十个表演团体参加",
            summary=_CJK_SUMMARY * 3,
            body=[_CJK_SUMMARY * 6, "詳細はhttps://ppid.example.go.id/zh/festival-2026をご覧ください。"],
            language="zh",
            agency="文化旅游局",
            tags=("文化节", "旅游"),
        ),
        "rtl-arabic": make_release(
            id="hard-rtl-arabic",
            title=arabic_title,
            summary=" ".join(_ARABIC[:2]),
            body=_ARABIC * 5,
            language="ar",
            agency="دائرة الثقافة والسياحة",
            tags=("ثقافة", "مهرجان"),
        ),
        "long-url": make_release(
            id="hard-long-url",
            title="Program Desa Tangguh Bencana Diluncurkan di 120 Desa",
            url=_LONG_URL,
            body=[f"Rincian lengkap: {_LONG_URL}", f"Peta risiko: {_LONG_URL}&peta=1"],
        ),
        "long-indonesian": make_release(
            id="hard-long-indonesian",
            title="Pemprov Luncurkan Program Desa Tangguh Bencana: Pelatihan, Peringatan Dini, dan "
            "Lumbung Pangan untuk 120 Desa Rawan Banjir dan Longsor di Seluruh Provinsi",
            summary=" ".join(_ID_SENTENCES[:6]),
            body=long_body,
            tags=("bencana", "desa tangguh", "banjir", "longsor", "relawan", "peringatan dini"),
        ),
        "many-images": make_release(
            id="hard-many-images",
            title="Dokumentasi Pemasangan Rambu Evakuasi di 24 Titik",
            images=images,
            attachments=(
                Media(f"{_SITE}/data/rambu-2026.csv", kind="file", title="Daftar titik rambu (CSV)"),
            ),
        ),
        "no-summary": make_release(id="hard-no-summary", title="Jadwal Pelayanan Libur Nasional", summary=""),
        "bare": Release(source=KIT_SOURCE, id="hard-bare", title="Pengumuman"),
    }


# -- plugin manager and command line -----------------------------------------------------------


class PluginRegistrar:
    """Registers plugins in one plugin manager and takes them out again (the ``register_plugin``
    fixture). A plugin that is already registered (an installed entry point) is left as it is."""

    def __init__(self, pm: pluggy.PluginManager) -> None:
        self.pm = pm
        self._added: list[object] = []

    def __call__(self, plugin: Any, name: str | None = None) -> Any:
        """Register ``plugin`` (a module, class or object with ``@hookimpl`` functions); return it."""
        if not self.pm.is_registered(plugin):
            self.pm.register(plugin, name=name)
            self._added.append(plugin)
        return plugin

    def undo(self) -> None:
        """Unregister every plugin this registrar added, newest first."""
        while self._added:
            plugin = self._added.pop()
            if self.pm.is_registered(plugin):
                self.pm.unregister(plugin)


class CliInvoker:
    """Runs the ``syndicator`` command line in-process (the ``cli_runner`` fixture).

    Each call builds a fresh command group with ``build_cli(pm)``, as the console script does
    for every process, and returns click's ``Result`` with ``exit_code``, ``stdout`` and
    ``stderr`` apart. ``SYNDICATOR_CONFIG`` from the outside is ignored unless ``env`` sets it.
    """

    def __init__(self, pm: pluggy.PluginManager) -> None:
        self.pm = pm

    def __call__(
        self,
        *args: str | Path,
        env: Mapping[str, str | None] | None = None,
        input: str | None = None,
        pm: pluggy.PluginManager | None = None,
    ) -> Result:
        import inspect

        from click.testing import CliRunner

        from .cli import build_cli

        options: dict[str, Any] = {}
        if "mix_stderr" in inspect.signature(CliRunner.__init__).parameters:  # click 8.1
            options["mix_stderr"] = False
        merged: dict[str, str | None] = {"SYNDICATOR_CONFIG": None, **(env or {})}
        # The CLI installs one root log handler bound to the stderr of the call that made it;
        # put the handlers back so that the next call gets its own.
        root = logging.getLogger()
        level, handlers = root.level, list(root.handlers)
        try:
            return CliRunner(**options).invoke(
                build_cli(pm if pm is not None else self.pm),
                [str(a) for a in args],
                env=merged,
                input=input,
            )
        finally:
            root.handlers[:] = handlers
            root.setLevel(level)


# -- the channel contract ----------------------------------------------------------------------

_WRITES = frozenset({"POST", "PUT", "PATCH", "DELETE"})
_CHANNEL_IO = ("publish", "find_existing", "update", "delete", "check", "finish")


def _measure() -> tuple[Callable[[str, Limits], int], Callable[[str, Limits], bool], str]:
    """``count`` and ``fits`` from the core's text toolkit; ``len()`` on a core without one."""
    try:
        from .render import count, fits
    except ImportError:  # pragma: no cover - an older core

        def by_len(text: str, limits: Limits) -> int:
            return len(text)

        def fits_len(text: str, limits: Limits) -> bool:
            return limits.max_length is None or len(text) <= limits.max_length

        return by_len, fits_len, "len()"
    return count, fits, "syndicator.render.count"


def _splits_a_cluster(text: str) -> bool:
    """True when ``text`` starts or ends inside a grapheme cluster (a cut in the wrong place)."""
    import unicodedata

    if not text:
        return False
    first = text[0]
    starts_inside = (
        first == _ZWJ
        or unicodedata.category(first) in ("Mn", "Me", "Mc")
        or 0x1F3FB <= ord(first) <= 0x1F3FF
        or 0xE0020 <= ord(first) <= 0xE007F
    )
    return starts_inside or text[-1] == _ZWJ


class _FixedSource(Source):
    """A source that yields the releases in its options (the contract's engine runs)."""

    type = "kit-fixed"
    description = "releases given by the test kit"

    def collect(self, ctx: SourceContext) -> Iterator[Release]:
        yield from ctx.options["releases"]


def _spy_class(base: type[Channel], calls: list[str]) -> type[Channel]:
    """A subclass of ``base`` whose I/O methods record the call and refuse to do anything."""

    def forbid(name: str) -> Callable[..., Any]:
        def method(self: Channel, *args: Any, **kwargs: Any) -> Any:
            calls.append(name)
            raise AssertionError(f"a dry run called {base.__name__}.{name}")

        return method

    spy: type[Channel] = type(f"DryRun{base.__name__}", (base,), {n: forbid(n) for n in _CHANNEL_IO})
    return spy


@dataclass
class _Attempt:
    """What one render-and-publish against a scripted server did."""

    ctx: ChannelContext
    post: Post
    receipt: Any
    error: Exception | None
    received: list[str]
    wire: str
    logs: list[str]


class _ListHandler(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())


class ChannelContract:
    """The tests every channel must pass, run against the channel's own scripted server.

    Subclass it in your plugin's tests (the class name must start with ``Test``), say which
    channel, how to configure it and how your platform answers::

        class TestNoticeboard(ChannelContract):
            channel_class = NoticeboardChannel

            def options(self, url):  # the [channels.NAME] table, pointed at the scripted server
                return {"url": url + "/posts", "token": {"env": "BOARD_TOKEN"}}

            def environ(self, url):  # the environment that secrets are read from
                return {"BOARD_TOKEN": "t0ken"}

            def script_success(self, server):
                server.script("POST", "/posts", Reply(201, json={"id": "42"}))

            def script_transient(self, server):
                server.script("POST", "/posts", Reply(503, headers={"Retry-After": "30"}))

            def script_permanent(self, server):
                server.script("POST", "/posts", Reply(422, json={"error": "too long"}))

            def script_auth_failure(self, server):  # optional: skipped if not given
                server.script("POST", "/posts", Reply(401))

    Inherited tests: the declarations are consistent; the options resolve and validate;
    ``render`` is pure (no socket is even opened, no file written, the same post twice) and
    keeps within ``limits`` for every one of :func:`hard_releases`; ``publish`` returns a
    receipt, raises ``TransientError``, ``PermanentError`` and ``AuthError`` for the matching
    scripts, keeps secrets out of its messages, and sends ``ctx.idempotency_key`` when it
    declares ``idempotency = "key"``; a real engine run records each outcome as the core
    should; a dry run through the real engine calls no I/O method and sends nothing; and
    ``check`` writes nothing (no POST, PUT, PATCH or DELETE).

    Add your own tests to the subclass; :meth:`context` gives them a ready ChannelContext.
    A channel that does not speak HTTP overrides :meth:`start_server`,
    :meth:`requests_received`, :meth:`writes_received` and :meth:`wire_text`.
    """

    #: The channel under test.
    channel_class: ClassVar[type[Channel]]
    #: The ``[channels.NAME]`` name the channel is configured under (``ctx.name``).
    channel_name: ClassVar[str] = "contract"
    #: Seconds for each HTTP call made through ``ctx.http``.
    timeout: ClassVar[float] = 5.0
    #: ``(method, path)`` pairs that ``check`` may call although they write, for APIs whose
    #: read-only calls are POSTs (for example ``("POST", "/api/auth.test")``).
    check_may_call: ClassVar[frozenset[tuple[str, str]]] = frozenset()

    # -- what a subclass gives ------------------------------------------------------------

    def options(self, url: str) -> Mapping[str, Any]:
        """The channel's config table as written in TOML, pointed at ``url`` (the server's).

        Secrets are given as ``{"env": "NAME"}`` with the value in :meth:`environ`.
        """
        raise NotImplementedError(f"{type(self).__name__}: define options(self, url)")

    def environ(self, url: str) -> Mapping[str, str]:
        """The environment variables that ``{"env": ...}`` options read."""
        return {}

    def script_success(self, server: Any) -> None:
        """Script the server to accept a post."""
        raise NotImplementedError

    def script_transient(self, server: Any) -> None:
        """Script a failure worth retrying (503, 429 with Retry-After...)."""
        raise NotImplementedError

    def script_permanent(self, server: Any) -> None:
        """Script a refusal that no retry can fix (400, 422...)."""
        raise NotImplementedError

    def script_auth_failure(self, server: Any) -> None:
        """Script refused credentials (401, 403...). Optional: the tests skip without it."""
        raise NotImplementedError

    def script_check(self, server: Any) -> None:
        """Script a healthy platform for ``check`` (by default, the success script: so a
        check that posts would succeed, and be caught)."""
        self.script_success(server)

    def sample_release(self) -> Release:
        """The ordinary release that publish tests send: no media, so that publishing needs
        nothing but the scripted API. Override it to test uploads (with local files)."""
        return make_release(images=(), attachments=())

    def limits_for(self, ctx: ChannelContext) -> Limits:
        """The limits render must keep to; override it when they depend on the options."""
        return self._cls().limits

    def start_server(self) -> Any:
        """The fake platform: a context manager with a ``url``. Default: a ScriptedServer."""
        return ScriptedServer()

    def requests_received(self, server: Any) -> list[str]:
        """Every request the server received, one line each."""
        return [f"{r.method} {r.path}" for r in server.requests]

    def writes_received(self, server: Any) -> list[str]:
        """The requests that would change something on the platform."""
        return [
            f"{r.method} {r.path}"
            for r in server.requests
            if r.method in _WRITES and (r.method, r.path) not in self.check_may_call
        ]

    def wire_text(self, server: Any) -> str:
        """Everything that went over the wire (headers and bodies), to search for the key."""
        lines: list[str] = []
        for r in server.requests:
            lines.extend(f"{k}: {v}" for k, v in r.headers.items())
            lines.append(f"{r.method} {r.path}?" + "&".join(f"{k}={v}" for k, v in r.query.items()))
            lines.append(r.text)
        return "\n".join(lines)

    # -- helpers for subclasses -----------------------------------------------------------

    def resolved_options(self, url: str) -> dict[str, Any]:
        """:meth:`options` checked against the channel's schema, as the config loader does."""
        cls = self._cls()
        resolved, problems = resolve_options(self.options(url), cls.options, environ=self.environ(url))
        if problems:
            listed = "; ".join(f"{key}: {why}" for key, why in problems)
            raise AssertionError(f"{type(self).__name__}.options() does not fit {cls.__name__}: {listed}")
        return resolved

    def context(self, server: Any, base_dir: Path, **overrides: Any) -> ChannelContext:
        """A ChannelContext as the engine makes it, with the options pointed at ``server``."""
        from .http import make_session

        timeout = self.timeout
        fields: dict[str, Any] = {
            "name": self.channel_name,
            "options": self.resolved_options(server.url),
            "base_dir": base_dir,
            "logger": logging.getLogger(f"syndicator.channel.{self.channel_name}"),
            "idempotency_key": "syn-contract-0000000000000000000000000000000000000",
            "_session_factory": lambda: make_session(timeout=timeout),
        }
        fields.update(overrides)
        return ChannelContext(**fields)

    def idempotency_key_for(self, release: Release) -> str:
        """The key the core would give ``release`` on this channel."""
        from .retry import idempotency_key

        return idempotency_key(release.key, self.channel_name, release.content_hash)

    def run_engine(
        self,
        server: Any,
        folder: Path,
        releases: Sequence[Release],
        *,
        dry_run: bool = False,
        channel_class: type[Channel] | None = None,
    ) -> tuple[Any, dict[str, DeliveryState]]:
        """One real engine run (real ledger in ``folder``, built-in approval) delivering
        ``releases`` from a trusted source to this channel; returns the run report and each
        release's delivery state in the ledger afterwards (by release key)."""
        from zoneinfo import ZoneInfo

        from .config import ChannelConfig, Config, SourceConfig
        from .engine import Engine
        from .ledger import Ledger
        from .plugins import get_plugin_manager

        cls = channel_class or self._cls()
        source = SourceConfig(
            name=KIT_SOURCE,
            type=_FixedSource.type,
            approval="trusted",
            options={"releases": tuple(r.with_changes(source=KIT_SOURCE) for r in releases)},
            cls=_FixedSource,
        )
        channel = ChannelConfig(
            name=self.channel_name,
            type=cls.type,
            options=self.resolved_options(server.url),
            backfill=True,
            timeout=self.timeout,
            concurrency=2,
            cls=cls,
        )
        config = Config(
            path=folder / "syndicator.toml",
            state_path=folder / "state" / "syndicator.db",
            timezone=ZoneInfo("UTC"),
            sources={KIT_SOURCE: source},
            channels={self.channel_name: channel},
        )
        pm = get_plugin_manager(load_entry_points=False, disabled=())
        with Ledger.open(config.state_path) as ledger:
            report = Engine(config, pm, ledger).run(dry_run=dry_run)
            states = {d.release_key: d.state for d in ledger.deliveries(channel=self.channel_name)}
        return report, states

    # -- the tests ------------------------------------------------------------------------

    def test_declarations_are_consistent(self) -> None:
        cls = self._cls()
        count, _, _ = _measure()
        problems: list[str] = []
        if not isinstance(cls.type, str) or not cls.type:
            problems.append("type: set the name used in [channels.NAME] type = ...")
        if not cls.description:
            problems.append("description: one line for `syndicator channels list`")
        if cls.idempotency not in ("key", "lookup", "none"):
            problems.append(f'idempotency: "key", "lookup" or "none", not {cls.idempotency!r}')
        try:
            count("", cls.limits)
        except ValueError as exc:
            problems.append(f"limits: {exc}")
        names = [o.name for o in cls.options if isinstance(o, Option)]
        if len(names) != len(cls.options):
            problems.append("options: every entry must be a syndicator.options.Option")
        if len(set(names)) != len(names):
            problems.append(f"options: a name is declared twice ({', '.join(names)})")
        needs = [
            ("render", True, "every channel renders"),
            ("publish", True, "every channel publishes"),
            ("find_existing", cls.idempotency == "lookup", 'idempotency = "lookup" needs it'),
            ("update", cls.capabilities.edit, "capabilities.edit needs it"),
            ("delete", cls.capabilities.delete, "capabilities.delete needs it"),
        ]
        for method, needed, why in needs:
            if needed and getattr(cls, method) is getattr(Channel, method):
                problems.append(f"{method}: not implemented; {why}")
        assert not problems, f"{cls.__name__}:\n  " + "\n  ".join(problems)

    def test_options_resolve_and_validate(self) -> None:
        cls = self._cls()
        with self.start_server() as server:
            resolved = self.resolved_options(server.url)
        problems = cls.validate(resolved)
        assert problems == [], f"{cls.__name__}.validate() refused options({server.url!r}): {problems}"

    def test_render_is_pure(self, tmp_path: Path) -> None:
        import pytest

        cls = self._cls()
        base = tmp_path / "base"
        base.mkdir()
        touched: list[str] = []

        def refuse_connect(sock: socket.socket, address: Any, *args: Any) -> Any:
            touched.append(f"socket connect to {address!r}")
            raise AssertionError(f"render opened a connection to {address!r}")

        def refuse_session() -> Any:
            touched.append("ctx.http")
            raise AssertionError("render used ctx.http")

        releases = {"sample": self.sample_release(), **hard_releases()}
        first: dict[str, Post] = {}
        second: dict[str, Post] = {}
        failed: list[str] = []
        with self.start_server() as server:
            ctx = self.context(server, base, _session_factory=refuse_session)
            with pytest.MonkeyPatch.context() as patch:
                patch.setattr(socket.socket, "connect", refuse_connect)
                patch.setattr(socket.socket, "connect_ex", refuse_connect)
                for name, release in releases.items():
                    try:
                        first[name] = cls().render(release, ctx)
                        second[name] = cls().render(release, ctx)
                    except Exception as exc:
                        failed.append(f"{name}: {type(exc).__name__}: {exc}")
            received = self.requests_received(server)
        assert touched == [], f"{cls.__name__}.render did I/O: {touched}"
        assert received == [], f"{cls.__name__}.render reached the server: {received}"
        written = sorted(str(p.relative_to(base)) for p in base.rglob("*"))
        assert written == [], f"{cls.__name__}.render wrote files: {written}"
        assert failed == [], f"{cls.__name__}.render failed: {failed}"
        unstable = [name for name in first if first[name] != second[name]]
        assert unstable == [], f"{cls.__name__}.render gave two different posts for: {unstable}"

    def test_render_keeps_within_limits(self, tmp_path: Path) -> None:
        cls = self._cls()
        count, fits, rule = _measure()
        problems: list[str] = []
        with self.start_server() as server:
            ctx = self.context(server, tmp_path)
            limits = self.limits_for(ctx)
            for name, release in {"sample": self.sample_release(), **hard_releases()}.items():
                try:
                    post = cls().render(release, ctx)
                except Exception as exc:
                    problems.append(f"{name}: render raised {type(exc).__name__}: {exc}")
                    continue
                problems.extend(
                    f"{name}: {p}" for p in self._limit_problems(post, release, ctx, limits, count, fits)
                )
        assert not problems, f"{cls.__name__} ({limits}, counted with {rule}):\n  " + "\n  ".join(problems)

    def test_publish_returns_a_receipt(self, tmp_path: Path) -> None:
        attempt = self._publish_once("script_success", tmp_path)
        name = self._cls().__name__
        assert attempt.error is None, f"{name}.publish raised {attempt.error!r} against script_success"
        assert isinstance(attempt.receipt, Receipt), f"{name}.publish returned {attempt.receipt!r}"
        assert attempt.received, f"{name}.publish returned a receipt but sent nothing to the server"

    def test_idempotency_key_goes_on_the_wire(self, tmp_path: Path) -> None:
        import pytest

        cls = self._cls()
        if cls.idempotency != "key":
            pytest.skip(f'{cls.__name__} declares idempotency = "{cls.idempotency}"')
        attempt = self._publish_once("script_success", tmp_path)
        assert attempt.ctx.idempotency_key in attempt.wire, (
            f'{cls.__name__} declares idempotency = "key" but ctx.idempotency_key was not sent: '
            "a retry after a timeout could post twice"
        )

    def test_publish_raises_transient_error(self, tmp_path: Path) -> None:
        self._expect_error(self._publish_once("script_transient", tmp_path), TransientError)

    def test_publish_raises_permanent_error(self, tmp_path: Path) -> None:
        self._expect_error(self._publish_once("script_permanent", tmp_path), PermanentError)

    def test_publish_raises_auth_error(self, tmp_path: Path) -> None:
        self._expect_error(self._publish_once("script_auth_failure", tmp_path), AuthError)

    def test_engine_records_each_outcome(self, tmp_path: Path) -> None:
        expected = [
            ("script_success", DeliveryState.SENT),
            ("script_transient", DeliveryState.FAILED),
            ("script_permanent", DeliveryState.DEAD),
        ]
        if self._overridden("script_auth_failure"):
            expected.append(("script_auth_failure", DeliveryState.DEAD))
        release = self.sample_release()
        key = f"{KIT_SOURCE}/{release.id}"
        problems: list[str] = []
        for script, state in expected:
            with self.start_server() as server:
                self._script(script)(server)
                report, states = self.run_engine(server, tmp_path / script, [release])
            if states.get(key) != state:
                details = "; ".join(f"{o.state}: {o.detail}" for o in report.outcomes)
                problems.append(f"{script}: the ledger says {states.get(key)}, expected {state} ({details})")
        assert not problems, f"{self._cls().__name__} through the engine:\n  " + "\n  ".join(problems)

    def test_dry_run_never_publishes(self, tmp_path: Path) -> None:
        cls = self._cls()
        calls: list[str] = []
        releases = [self.sample_release(), *hard_releases().values()]
        with self.start_server() as server:
            self._script("script_success")(server)  # a publish that slipped through would succeed
            report, states = self.run_engine(
                server, tmp_path, releases, dry_run=True, channel_class=_spy_class(cls, calls)
            )
            received = self.requests_received(server)
        assert calls == [], f"a dry run called {cls.__name__}.{', '.join(calls)}"
        assert received == [], f"a dry run reached the server: {received}"
        assert states == {}, f"a dry run kept deliveries in the ledger: {states}"
        not_rendered = [
            f"{o.release_key}: {o.state} {o.detail}" for o in report.outcomes if o.state != "would-publish"
        ]
        assert not not_rendered and len(report.outcomes) == len(releases), (
            f"a dry run should render every release: {not_rendered or report.outcomes}"
        )

    def test_check_writes_nothing(self, tmp_path: Path) -> None:
        cls = self._cls()
        with self.start_server() as server:
            self.script_check(server)
            result = cls().check(self.context(server, tmp_path, dry_run=True))
            writes = self.writes_received(server)
        assert writes == [], (
            f"{cls.__name__}.check wrote {writes}: it must only read (GET, HEAD, OPTIONS); "
            "list read-only POST endpoints in check_may_call"
        )
        assert isinstance(result, str) and result.strip(), (
            f"check should return a status line, not {result!r}"
        )

    # -- internals ------------------------------------------------------------------------

    def _cls(self) -> type[Channel]:
        cls = getattr(self, "channel_class", None)
        if not (isinstance(cls, type) and issubclass(cls, Channel)):
            raise AssertionError(f"{type(self).__name__}: set channel_class to your Channel subclass")
        return cls

    def _overridden(self, name: str) -> bool:
        return getattr(type(self), name) is not getattr(ChannelContract, name)

    def _script(self, name: str) -> Callable[[Any], None]:
        if not self._overridden(name):
            if name == "script_auth_failure":
                import pytest

                pytest.skip(f"{type(self).__name__} scripts no auth failure (define script_auth_failure)")
            raise AssertionError(f"{type(self).__name__}: define {name}(self, server)")
        method: Callable[[Any], None] = getattr(self, name)
        return method

    def _publish_once(self, script: str, tmp_path: Path) -> _Attempt:
        cls = self._cls()
        release = self.sample_release()
        logs = _ListHandler()
        with self.start_server() as server:
            self._script(script)(server)
            ctx = self.context(server, tmp_path, idempotency_key=self.idempotency_key_for(release))
            channel = cls()
            post = channel.render(release, ctx)
            level = ctx.logger.level
            ctx.logger.addHandler(logs)
            ctx.logger.setLevel(logging.DEBUG)
            receipt: Any = None
            error: Exception | None = None
            try:
                receipt = channel.publish(post, ctx)
            except Exception as exc:
                error = exc
            finally:
                ctx.logger.removeHandler(logs)
                ctx.logger.setLevel(level)
            return _Attempt(
                ctx, post, receipt, error, self.requests_received(server), self.wire_text(server), logs.lines
            )

    def _expect_error(self, attempt: _Attempt, expected: type[ChannelError]) -> None:
        from .retry import classify

        cls = self._cls()
        error = attempt.error
        assert error is not None, (
            f"{cls.__name__}.publish returned {attempt.receipt!r}; expected {expected.__name__}"
        )
        wrong = not isinstance(error, expected) or (
            expected is PermanentError and isinstance(error, AuthError)
        )
        assert not wrong, (
            f"{cls.__name__}.publish raised {type(error).__name__}({error}); expected {expected.__name__}"
        )
        assert str(error).strip(), f"{cls.__name__}: give {expected.__name__} a message for the operator"
        state, _, message = classify(error, cls.idempotency)
        wanted = DeliveryState.FAILED if expected is TransientError else DeliveryState.DEAD
        assert state is wanted, f"the core records {type(error).__name__} as {state}, expected {wanted}"
        secrets = [v.reveal() for v in attempt.ctx.options.values() if isinstance(v, Secret) and v.reveal()]
        for secret in secrets:
            for where, text in (
                ("message", f"{error} {error!r} {message}"),
                ("log", "\n".join(attempt.logs)),
            ):
                assert secret not in text, f"{cls.__name__}: a secret is in the error's {where}"

    def _limit_problems(
        self,
        post: Any,
        release: Release,
        ctx: ChannelContext,
        limits: Limits,
        count: Callable[[str, Limits], int],
        fits: Callable[[str, Limits], bool],
    ) -> list[str]:
        cls = self._cls()
        if not isinstance(post, Post):
            return [f"render returned {type(post).__name__}, not a Post"]
        problems: list[str] = []
        if post.channel != ctx.name or post.release_key != release.key:
            problems.append(
                f"Post(channel={post.channel!r}, release_key={post.release_key!r}); "
                f"expected {ctx.name!r} and {release.key!r}"
            )
        if len(post.parts) > 1 and not cls.capabilities.threads:
            problems.append(f"a thread of {len(post.parts)} parts, but capabilities.threads is False")
        pieces = post.parts or (post.text,)
        for i, piece in enumerate(pieces, 1):
            label = f"part {i}" if post.parts else "text"
            if not fits(piece, limits):
                problems.append(f"{label} counts {count(piece, limits)}, over max_length {limits.max_length}")
            if _splits_a_cluster(piece):
                problems.append(f"{label} was cut inside a character (emoji sequence or combining mark)")
        if len(post.media) > limits.max_media:
            problems.append(f"{len(post.media)} media, over max_media {limits.max_media}")
        alts = {m.location: m.alt for m in (*release.images, *release.attachments)}
        for m in post.media:
            if limits.max_media_bytes is not None and m.size is not None and m.size > limits.max_media_bytes:
                problems.append(
                    f"{m.location}: {m.size} bytes, over max_media_bytes {limits.max_media_bytes}"
                )
            if alts.get(m.location) and not m.alt:
                problems.append(f"{m.location}: the alt text was dropped")
        return problems


try:
    import pytest
except ImportError:  # pragma: no cover - the fixtures need pytest, the server does not
    pass
else:

    @pytest.fixture
    def scripted_server() -> Iterator[ScriptedServer]:
        """A started :class:`ScriptedServer`, closed after the test."""
        with ScriptedServer() as server:
            yield server

    @pytest.fixture
    def plugin_manager() -> pluggy.PluginManager:
        """A fresh plugin manager: built-in plugins and every installed entry point
        (``SYNDICATOR_DISABLE_PLUGINS`` is ignored, so tests do not depend on it)."""
        from .plugins import get_plugin_manager

        return get_plugin_manager(disabled=())

    @pytest.fixture
    def register_plugin(plugin_manager: pluggy.PluginManager) -> Iterator[PluginRegistrar]:
        """``register_plugin(plugin)``: registered in ``plugin_manager`` for this test only."""
        registrar = PluginRegistrar(plugin_manager)
        yield registrar
        registrar.undo()

    @pytest.fixture
    def release_factory() -> ReleaseFactory:
        """``release_factory(**fields)``: a complete release, a new id each call;
        ``release_factory.hard()``: the releases that break channels."""
        return ReleaseFactory()

    @pytest.fixture
    def cli_runner(plugin_manager: pluggy.PluginManager) -> CliInvoker:
        """``cli_runner("--config", path, "run")``: the command line on ``plugin_manager``."""
        return CliInvoker(plugin_manager)
