"""What TLS costs a tick: conditional GETs to N feeds on N HTTPS hosts, side by side.

An office's feeds are on its agencies' own sites, over HTTPS: every host is a new TLS
connection in every tick. This measures the client's CPU and wall time for one GET to each
of N hosts (each answering 304, as in an idle tick), two ways, alternating, in one run:

- ``one context (Pool)``: ``syndicator.http.Pool``, which reads the CA bundle once per process;
- ``bundle per connection (urllib3)``: a urllib3 ``PoolManager`` given the bundle's path, which
  is what the pool did before and what urllib3 does with it: read the whole bundle again for
  every connection it opens.

And the same for the channels that call through ``requests`` (a session per host, as each
channel has its own):

- ``one context (make_session)``: ``syndicator.http.make_session``, whose pools share the
  process's context for the bundle;
- ``bundle per connection (requests)``: a plain ``requests.Session``, which is what
  ``make_session`` did before.

The servers run in a process of their own (127.0.0.1, one port per host, certificates from a
throwaway CA made with trustme), so the figures are the client's alone. The bundle is
certifi's with that CA added, as an office's would be.

    python benchmarks/bench_tls.py --hosts 30 --reps 5
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import ssl
import statistics
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


class _NotModified(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True

    def do_GET(self) -> None:
        self.send_response(304)
        self.send_header("ETag", '"v1"')
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


def _serve(cert_pem: bytes, key_pem: bytes, hosts: int, ports: Any, stop: Any) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        cert, key = Path(tmp, "cert.pem"), Path(tmp, "key.pem")
        cert.write_bytes(cert_pem)
        key.write_bytes(key_pem)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(cert, key)
        for _ in range(hosts):
            server = ThreadingHTTPServer(("127.0.0.1", 0), _NotModified)
            server.daemon_threads = True
            server.socket = context.wrap_socket(server.socket, server_side=True)
            threading.Thread(target=server.serve_forever, daemon=True).start()
            ports.put(server.server_address[1])
        stop.wait()


def _tick(get: Any, urls: list[str]) -> tuple[float, float]:
    wall, cpu = time.perf_counter(), time.process_time()
    for url in urls:
        assert get(url) == 304
    return time.perf_counter() - wall, time.process_time() - cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hosts", type=int, default=30)
    parser.add_argument("--reps", type=int, default=5)
    args = parser.parse_args()

    import certifi
    import requests
    import trustme
    import urllib3

    from syndicator.http import Pool, make_session

    ca = trustme.CA()
    issued = ca.issue_cert("127.0.0.1")
    bundle = Path(tempfile.mkdtemp()) / "bundle.pem"
    bundle.write_bytes(Path(certifi.where()).read_bytes() + ca.cert_pem.bytes())
    os.environ["REQUESTS_CA_BUNDLE"] = str(bundle)

    fork = multiprocessing.get_context("spawn")
    ports, stop = fork.Queue(), fork.Event()
    chain = b"".join(blob.bytes() for blob in issued.cert_chain_pems)
    server = fork.Process(
        target=_serve, args=(chain, issued.private_key_pem.bytes(), args.hosts, ports, stop)
    )
    server.start()
    urls = [f"https://127.0.0.1:{ports.get(timeout=30)}/feed.xml" for _ in range(args.hosts)]

    def one_context() -> tuple[float, float]:
        pool = Pool(timeout=10)

        def get(url: str) -> int:
            _, answer = pool.open(url, headers={"If-None-Match": '"v1"'})
            answer.drain_conn()
            answer.release_conn()
            return int(answer.status)

        return _tick(get, urls)

    def bundle_per_connection() -> tuple[float, float]:
        manager = urllib3.PoolManager(ca_certs=str(bundle), retries=False)

        def get(url: str) -> int:
            return int(manager.request("GET", url, headers={"If-None-Match": '"v1"'}).status)

        return _tick(get, urls)

    def sessions(make: Any) -> Any:
        def tick() -> tuple[float, float]:
            made: list[Any] = []

            def get(url: str) -> int:
                made.append(make())
                return int(made[-1].get(url, headers={"If-None-Match": '"v1"'}).status_code)

            try:
                return _tick(get, urls)
            finally:
                for session in made:
                    session.close()

        return tick

    ways = {
        "one context (Pool)": one_context,
        "bundle per connection (urllib3)": bundle_per_connection,
        "one context (make_session)": sessions(lambda: make_session(timeout=10)),
        "bundle per connection (requests)": sessions(requests.Session),
    }
    results: dict[str, list[tuple[float, float]]] = {name: [] for name in ways}
    try:
        for _ in range(args.reps):
            for name, way in ways.items():
                results[name].append(way())
    finally:
        stop.set()
        server.join(timeout=10)
    print(f"{args.hosts} HTTPS hosts, one GET (304) each, {args.reps} alternating repetitions; medians")
    print("| way | wall s | CPU s |")
    print("| --- | --- | --- |")
    for name, runs in results.items():
        wall = statistics.median(r[0] for r in runs)
        cpu = statistics.median(r[1] for r in runs)
        print(f"| {name} | {wall:.3f} | {cpu:.3f} |")
    for ours, theirs in (
        ("one context (Pool)", "bundle per connection (urllib3)"),
        ("one context (make_session)", "bundle per connection (requests)"),
    ):
        cpu = [statistics.median(r[1] for r in results[way]) for way in (theirs, ours)]
        print(f"CPU ratio, {ours} against {theirs}: {cpu[0] / cpu[1]:.1f}x less")


if __name__ == "__main__":
    main()
