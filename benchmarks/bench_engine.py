"""Engine-scale benchmarks: a big release folder, and delivery fan-out against a slow channel.

    .venv/bin/python benchmarks/bench_engine.py [--sizes 2500,5000,10000] [--fanout 1000] [--reps 3]

Every figure is a whole `syndicator -q run` process (start-up included, as cron pays it),
median of --reps; after the folder's ticks, `status` and `releases list` over the archive, as
an operator runs them. The channel is a webhook to a loopback sink that answers after
--latency-ms (default 20 ms), like the shared harness's.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

BIN = Path(sys.executable).with_name("syndicator")
BODY = (
    "Pemerintah Provinsi Nusa Harapan melalui dinas terkait menyampaikan informasi kepada masyarakat "
    "mengenai program pembangunan daerah, layanan publik, dan kegiatan pemerintahan. "
) * 12


class Sink(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, latency: float) -> None:
        self.latency = latency
        self.posts = 0
        self.times: list[float] = []  # when each POST arrived
        self.lock = threading.Lock()
        super().__init__(("127.0.0.1", 0), SinkHandler)


class SinkHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Headers and body go out in two writes; with Nagle on, the second waits for the client's
    # delayed ACK (40 ms) on a kept-alive connection, and the benchmark measures that stall.
    disable_nagle_algorithm = True
    server: Sink

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        time.sleep(self.server.latency)
        with self.server.lock:
            self.server.posts += 1
            self.server.times.append(time.perf_counter())
            n = self.server.posts
        body = json.dumps({"id": n}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


def write_release(folder: Path, n: int) -> None:
    path = folder / f"{n // 1000:03d}" / f"siaran-{n:05d}.md"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(
        f"---\nid: r{n:05d}\ntitle: Siaran pers nomor {n}\ndate: 2026-11-01T09:00:00+08:00\n"
        f"tags: [umum]\n---\n\n{BODY}\n",
        encoding="utf-8",
    )


def config(root: Path, url: str, concurrency: int) -> Path:
    path = root / "syndicator.toml"
    path.write_text(
        '[syndicator]\nstate = "state.db"\ntimezone = "Asia/Makassar"\n\n'
        '[sources.arsip]\ntype = "directory"\npath = "releases"\napproval = "trusted"\n\n'
        f'[channels.hook]\ntype = "webhook"\nurl = "{url}"\nconcurrency = {concurrency}\n',
        encoding="utf-8",
    )
    return path


def tick(cfg: Path, *command: str) -> float:
    """One ``syndicator`` process (``run`` unless another command is given), in seconds."""
    start = time.perf_counter()
    subprocess.run(
        [str(BIN), "-q", "--config", str(cfg), *(command or ("run",))], check=True, stdout=subprocess.DEVNULL
    )
    return time.perf_counter() - start


def folder_scenario(size: int, sink: Sink) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        for n in range(size):
            write_release(root / "releases", n)
        cfg = config(root, f"http://127.0.0.1:{sink.server_port}/hook", 8)
        cold = tick(cfg)
        idle = tick(cfg)
        write_release(root / "releases", size)
        one_new = tick(cfg)
        state = (root / "state.db").stat().st_size
        status, listing = tick(cfg, "status"), tick(cfg, "releases", "list")  # what operators run
    return {
        "cold": cold,
        "idle": idle,
        "one_new": one_new,
        "state_mb": state / 1e6,
        "status": status,
        "list": listing,
    }


def fanout_scenario(count: int, sink: Sink, concurrency: int) -> tuple[float, float]:
    """Deliveries per second of a tick that only delivers (the releases were collected before):
    over the whole tick, and over the delivery phase (first POST to last, as the sink saw it)."""
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        for n in range(count):
            write_release(root / "releases", n)
        cfg = config(root, f"http://127.0.0.1:{sink.server_port}/hook", concurrency)
        text = cfg.read_text(encoding="utf-8")
        cfg.write_text(
            text.replace(
                '[channels.hook]\ntype = "webhook"', '[channels.hook]\ntype = "webhook"\nenabled = false'
            )
        )
        tick(cfg)  # collect only
        cfg.write_text(text.replace("[channels.hook]", "[channels.hook]\nbackfill = true"))
        before = sink.posts
        sink.times.clear()
        seconds = tick(cfg)
        assert sink.posts - before == count, "every release delivered once"
        window = sink.times[-1] - sink.times[0]
    return count / seconds, (count - 1) / window


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", default="2500,5000,10000")
    parser.add_argument("--fanout", type=int, default=1000)
    parser.add_argument("--latency-ms", type=float, default=20.0)
    parser.add_argument("--reps", type=int, default=3)
    a = parser.parse_args()
    fast, slow = Sink(0.0), Sink(a.latency_ms / 1000)
    for server in (fast, slow):
        threading.Thread(target=server.serve_forever, daemon=True).start()
    print(
        "| releases in the folder | cold tick s | per 1,000 s | idle tick s | one new file s | state MB "
        "| `status` s | `releases list` s |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for size in (int(s) for s in a.sizes.split(",")):
        runs = [folder_scenario(size, fast) for _ in range(a.reps)]
        med = {k: statistics.median(r[k] for r in runs) for k in runs[0]}
        print(
            f"| {size:,} | {med['cold']:.2f} | {med['cold'] / size * 1000:.2f} | {med['idle']:.2f} "
            f"| {med['one_new']:.2f} | {med['state_mb']:.1f} | {med['status']:.2f} | {med['list']:.2f} |"
        )
    rates = [fanout_scenario(a.fanout, slow, 8) for _ in range(a.reps)]
    print(
        f"\nfan-out: {a.fanout} deliveries, {a.latency_ms:g} ms per POST, concurrency 8 "
        f"(ceiling {8000 / a.latency_ms:.0f}/s), medians of {a.reps}: "
        f"{statistics.median(r[1] for r in rates):.0f} deliveries/s while delivering, "
        f"{statistics.median(r[0] for r in rates):.0f}/s over the whole tick (start-up and collection included)"
    )
    shutil.rmtree(Path(tempfile.gettempdir()) / "syndicator-bench", ignore_errors=True)


if __name__ == "__main__":
    main()
