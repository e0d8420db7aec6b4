"""Feed scenario, standalone: N generated RSS feeds -> one webhook channel per feed, on loopback.

    .venv/bin/python benchmarks/bench_feeds.py [--feeds 50] [--items 20] [--reps 3]
        [--feed-latency-ms 50] [--sink-latency-ms 20] [--seed 42]

The feeds look like Indonesian provincial press releases (RSS 2.0, an HTML body in
content:encoded, WIB dates), generated deterministically from --seed. One loopback server
serves them at /feeds/feed-NNN.xml (ETag, Last-Modified, 304 on a match, --feed-latency-ms per
request) and takes the deliveries at POST /sink/<name> (--sink-latency-ms per POST). Each
repetition, in a fresh folder: a cold tick (every item delivered once), an idle tick (nothing
delivered, every feed answered 304), one new item in one feed and a tick (one delivery).
Every tick is a whole `syndicator -q run` process in a clean environment, as cron runs it.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import random
import re
import resource
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from email.utils import format_datetime, parsedate_to_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from xml.sax.saxutils import escape

BIN = Path(sys.executable).with_name("syndicator")
WIB = timezone(timedelta(hours=7))
EPOCH = datetime(2026, 11, 2, 8, 0, tzinfo=WIB)
KEY = re.compile(rb"feed-\d{3}/\d{5}")  # the delivery key, inside each item's link
WORDS = (  # the fixed vocabulary the titles and bodies are drawn from
    "pemerintah provinsi daerah dinas kabupaten kota masyarakat warga pembangunan program kegiatan "
    "layanan publik kesehatan pendidikan infrastruktur jalan jembatan irigasi pertanian petani "
    "nelayan pariwisata ekonomi usaha mikro kecil menengah anggaran tahun bantuan sosial gubernur "
    "wakil sekretaris kepala bidang rapat koordinasi pelaksanaan peningkatan kualitas sumber daya "
    "manusia air bersih sanitasi rumah sakit puskesmas sekolah guru siswa beasiswa desa kelurahan "
    "kecamatan wilayah bencana banjir longsor penanganan pencegahan stunting gizi anak ibu keluarga "
    "lingkungan hidup hutan sungai pantai lahan investasi perdagangan pasar harga pangan beras "
    "distribusi transportasi pelabuhan bandara listrik energi digital pelayanan perizinan terpadu "
    "dan yang untuk dengan dalam pada dari oleh serta akan telah secara agar bagi kepada"
)
VOCAB = WORDS.split()
CATEGORIES = ("Pemerintahan", "Kesehatan", "Pendidikan", "Infrastruktur", "Pertanian", "Ekonomi")
PROVINCES = ("Nusa Harapan", "Tanah Seberang", "Bukit Barisan", "Teluk Permai", "Sungai Emas")


def words(rng: random.Random, low: int, high: int) -> str:
    return " ".join(rng.choice(VOCAB) for _ in range(rng.randint(low, high)))


def item_xml(seed: int, feed: int, item: int) -> str:
    """One item; seeded per (feed, item), so a feed that grows keeps its old items unchanged."""
    rng = random.Random(f"{seed}:{feed}:{item}")
    sentences: list[str] = []
    left = rng.randint(300, 800)  # words in the body
    while left > 0:
        n = min(rng.randint(8, 20), left)
        sentences.append(words(rng, n, n).capitalize() + ".")
        left -= n
    paragraphs = [" ".join(sentences[i : i + 4]) for i in range(0, len(sentences), 4)]
    body = "".join(f"<p>{p}</p>\n" for p in paragraphs)
    title = words(rng, 5, 10).title()
    excerpt = " ".join(paragraphs[0].split()[:40]) + " ..."
    cats = "".join(f"<category>{c}</category>" for c in rng.sample(CATEGORIES, rng.randint(1, 3)))
    key = f"feed-{feed:03d}/{item:05d}"
    date = format_datetime(EPOCH + timedelta(hours=3 * item, minutes=rng.randint(0, 59)))
    return (
        f"<item><title>{escape(title)}</title>"
        f"<link>https://humas.provinsi.example/siaran-pers/{key}</link>"
        f'<guid isPermaLink="false">siaran-{seed}-{key}</guid>'
        f"<pubDate>{date}</pubDate>{cats}"
        f"<description>{escape(excerpt)}</description>"
        f"<content:encoded><![CDATA[{body}]]></content:encoded></item>\n"
    )


@dataclass(frozen=True)
class Feed:
    body: bytes
    etag: str
    last_modified: datetime


def make_feed(seed: int, feed: int, items: int) -> Feed:
    province = PROVINCES[feed % len(PROVINCES)]
    head = (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<rss version="2.0" xmlns:content="http://purl.org/rss/1.0/modules/content/"><channel>\n'
        f"<title>Siaran Pers Biro Humas Provinsi {province} ({feed:03d})</title>\n"
        f"<link>https://humas.provinsi.example/feed-{feed:03d}</link>\n"
        f"<description>Siaran pers Pemerintah Provinsi {province}</description><language>id</language>\n"
    )
    body = (
        head + "".join(item_xml(seed, feed, i) for i in reversed(range(items))) + "</channel></rss>\n"
    ).encode()
    modified = (EPOCH + timedelta(hours=3 * items)).astimezone(UTC)  # moves forward with a new item
    return Feed(body, f'"{hashlib.sha1(body).hexdigest()[:16]}"', modified)


class Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, feed_latency: float, sink_latency: float) -> None:
        self.feed_latency, self.sink_latency = feed_latency, sink_latency
        self.feeds: dict[str, Feed] = {}
        self.lock = threading.Lock()
        self.counts = {"200": 0, "304": 0, "posts": 0}
        self.keys: list[bytes] = []
        super().__init__(("127.0.0.1", 0), Handler)

    def count(self, what: str, keys: list[bytes] | None = None) -> int:
        with self.lock:
            self.counts[what] += 1
            self.keys += keys or []
            return self.counts[what]

    def take(self) -> tuple[dict[str, int], list[bytes]]:
        """The counters since the last call, and the delivery keys seen in the POSTs."""
        with self.lock:
            counts, keys = self.counts, self.keys
            self.counts, self.keys = dict.fromkeys(counts, 0), []
        return counts, keys


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # see bench_engine.py: no 40 ms delayed-ACK stall per response
    server: Server

    def reply(self, status: int, headers: dict[str, str], body: bytes = b"") -> None:
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        time.sleep(self.server.feed_latency)
        name = self.path.removeprefix("/feeds/").removesuffix(".xml")
        feed = self.server.feeds.get(name) if self.path.startswith("/feeds/") else None
        if feed is None:
            self.reply(404, {})
            return
        validators = {"ETag": feed.etag, "Last-Modified": format_datetime(feed.last_modified, usegmt=True)}
        if self.not_modified(feed):
            self.server.count("304")
            self.reply(304, validators)
        else:
            self.server.count("200")
            self.reply(200, {"Content-Type": "application/rss+xml; charset=utf-8", **validators}, feed.body)

    def not_modified(self, feed: Feed) -> bool:
        if (tags := self.headers.get("If-None-Match")) is not None:  # it takes precedence
            return feed.etag in (t.strip() for t in tags.split(","))
        if since := self.headers.get("If-Modified-Since"):
            try:
                return feed.last_modified <= parsedate_to_datetime(since)
            except (TypeError, ValueError):
                return False
        return False

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        if not self.path.startswith("/sink/"):
            self.reply(404, {})
            return
        time.sleep(self.server.sink_latency)
        n = self.server.count("posts", KEY.findall(body)[:1])
        self.reply(200, {"Content-Type": "application/json"}, json.dumps({"id": n}).encode())

    def log_message(self, *args: object) -> None:
        pass


def config(root: Path, base: str, names: list[str]) -> Path:
    lines = ["[syndicator]", 'state = "state.db"', 'timezone = "Asia/Jakarta"', ""]
    for name in names:
        lines += [f'[sources."{name}"]', 'type = "rss"', f'url = "{base}/feeds/{name}.xml"']
        lines += ['approval = "trusted"', "", f'[channels."{name}"]', 'type = "webhook"']
        lines += [f'url = "{base}/sink/{name}"', f'sources = ["{name}"]', "concurrency = 8", ""]
    path = root / "syndicator.toml"
    path.write_text("\n".join(lines), encoding="utf-8")
    return path


def tick(cfg: Path, home: Path) -> tuple[float, float]:
    """Wall and CPU (user+sys) seconds of one whole `syndicator -q run` process."""
    env = {"PATH": "/usr/bin:/bin", "HOME": str(home), "LANG": "C.UTF-8"}
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    subprocess.run([str(BIN), "-q", "--config", str(cfg), "run"], check=True, env=env, cwd=home, timeout=600)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)


def repetition(
    server: Server, base: dict[str, Feed], grown: tuple[str, Feed], items: int
) -> tuple[dict[str, tuple[float, float]], int]:
    """One repetition in a fresh folder: {scenario: (wall s, CPU s)}, and the state bytes after cold."""
    feeds = len(base)
    server.feeds = dict(base)
    server.take()
    out: dict[str, tuple[float, float]] = {}
    with tempfile.TemporaryDirectory(prefix="bench-feeds-") as tmp:
        root = Path(tmp)
        cfg = config(root, f"http://127.0.0.1:{server.server_port}", sorted(base))
        out["cold"] = tick(cfg, root)
        counts, keys = server.take()
        assert counts["posts"] == feeds * items, f"cold: {counts['posts']} POSTs for {feeds * items} items"
        assert len(set(keys)) == len(keys) == feeds * items, "cold: every item delivered exactly once"
        state = sum(p.stat().st_size for p in (root / "state.db", root / "state.db-wal") if p.exists())
        out["idle"] = tick(cfg, root)
        counts, _ = server.take()
        assert counts["posts"] == 0, f"idle: {counts['posts']} POSTs"
        assert counts["304"] == feeds and counts["200"] == 0, f"idle: feeds answered {counts}"
        server.feeds[grown[0]] = grown[1]
        out["one new item"] = tick(cfg, root)
        counts, keys = server.take()
        new = f"{grown[0]}/{items:05d}".encode()
        assert counts["posts"] == 1 and keys == [new], f"one new item: {counts['posts']} POSTs, {keys}"
    return out, state


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--feeds", type=int, default=50)
    parser.add_argument("--items", type=int, default=20)
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--feed-latency-ms", type=float, default=50.0)
    parser.add_argument("--sink-latency-ms", type=float, default=20.0)
    parser.add_argument("--seed", type=int, default=42)
    a = parser.parse_args()
    base = {f"feed-{n:03d}": make_feed(a.seed, n, a.items) for n in range(a.feeds)}
    grown = ("feed-000", make_feed(a.seed, 0, a.items + 1))
    server = Server(a.feed_latency_ms / 1000, a.sink_latency_ms / 1000)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        runs = [repetition(server, base, grown, a.items) for _ in range(a.reps)]
    finally:
        server.shutdown()
    print(
        f"{a.feeds} feeds x {a.items} items, {a.feed_latency_ms:g} ms per feed request, "
        f"{a.sink_latency_ms:g} ms per POST, whole-process ticks, {a.reps} reps\n"
    )
    print("| scenario | wall s median [min-max] | CPU s median |")
    print("|---|---|---|")
    for scenario in ("cold", "idle", "one new item"):
        wall, cpu = [r[scenario][0] for r, _ in runs], [r[scenario][1] for r, _ in runs]
        print(
            f"| {scenario} | {statistics.median(wall):.2f} [{min(wall):.2f}-{max(wall):.2f}] "
            f"| {statistics.median(cpu):.2f} |"
        )
    state = statistics.median(s for _, s in runs)
    print(f"\nstate after the cold tick: {state / 1e6:.2f} MB (state.db and its WAL, median)")


if __name__ == "__main__":
    main()
