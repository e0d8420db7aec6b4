"""The scripted loopback server in syndicator.testing."""

from __future__ import annotations

import threading
import time

import pytest
import requests

from syndicator.testing import Recorded, Reply, ScriptedServer

pytest_plugins = ["syndicator.testing"]


def test_unscripted_route_gets_default_404(scripted_server: ScriptedServer) -> None:
    r = requests.get(scripted_server.url + "/nope", timeout=5)
    assert r.status_code == 404
    assert "error" in r.json()


def test_configurable_default() -> None:
    with ScriptedServer(default=Reply(418, body=b"teapot")) as server:
        r = requests.get(server.url + "/x", timeout=5)
        assert (r.status_code, r.content) == (418, b"teapot")


def test_replies_in_order_then_last_repeats(scripted_server: ScriptedServer) -> None:
    scripted_server.script("POST", "/hook", Reply(503), Reply(201, json={"id": 1}))
    codes = [requests.post(scripted_server.url + "/hook", timeout=5).status_code for _ in range(4)]
    assert codes == [503, 201, 201, 201]
    # the route is method + path: GET on it is unscripted
    assert requests.get(scripted_server.url + "/hook", timeout=5).status_code == 404


def test_script_appends_to_queue(scripted_server: ScriptedServer) -> None:
    scripted_server.script("GET", "/a", Reply(200))
    scripted_server.script("get", "/a", Reply(202))
    assert [requests.get(scripted_server.url + "/a", timeout=5).status_code for _ in range(3)] == [
        200,
        202,
        202,
    ]


def test_script_needs_a_reply(scripted_server: ScriptedServer) -> None:
    with pytest.raises(ValueError):
        scripted_server.script("GET", "/a")


def test_query_string_ignored_for_routing_and_recorded(scripted_server: ScriptedServer) -> None:
    scripted_server.script("GET", "/q", Reply(200, body=b"ok"))
    r = requests.get(scripted_server.url + "/q", params={"a": "1", "b": "x y"}, timeout=5)
    assert r.content == b"ok"
    rec = scripted_server.requests[0]
    assert rec.path == "/q"
    assert rec.query == {"a": "1", "b": "x y"}


def test_json_reply_and_headers(scripted_server: ScriptedServer) -> None:
    scripted_server.script("GET", "/j", Reply(200, json={"k": "é"}, headers={"X-Thing": "1"}))
    r = requests.get(scripted_server.url + "/j", timeout=5)
    assert r.json() == {"k": "é"}
    assert r.headers["content-type"] == "application/json"
    assert r.headers["X-Thing"] == "1"


def test_recording_body_headers_json(scripted_server: ScriptedServer) -> None:
    scripted_server.script("POST", "/r", Reply(204))
    requests.post(scripted_server.url + "/r", json={"a": [1, 2]}, headers={"X-Key": "v"}, timeout=5)
    requests.post(scripted_server.url + "/r", data=b"", timeout=5)
    first, second = scripted_server.requests
    assert isinstance(first, Recorded)
    assert first.method == "POST"
    assert first.headers["x-key"] == "v"
    assert first.headers["X-KEY"] == "v"
    assert first.json == {"a": [1, 2]}
    assert second.body == b"" and second.json is None


def test_chunked_request_body(scripted_server: ScriptedServer) -> None:
    scripted_server.script("POST", "/c", Reply(200))
    requests.post(scripted_server.url + "/c", data=iter([b"ab", b"cd"]), timeout=5)
    assert scripted_server.requests[0].body == b"abcd"


def test_requests_is_a_snapshot(scripted_server: ScriptedServer) -> None:
    snapshot = scripted_server.requests
    requests.get(scripted_server.url + "/", timeout=5)
    assert snapshot == []
    assert len(scripted_server.requests) == 1


def test_handler_dynamic_reply(scripted_server: ScriptedServer) -> None:
    def echo(req: Recorded) -> Reply:
        return Reply(200, json={"got": req.json, "n": len(scripted_server.requests)})

    scripted_server.handler("POST", "/echo", echo)
    assert requests.post(scripted_server.url + "/echo", json=1, timeout=5).json() == {"got": 1, "n": 1}
    assert requests.post(scripted_server.url + "/echo", json=2, timeout=5).json() == {"got": 2, "n": 2}


def test_handler_that_raises_answers_500_and_is_kept(scripted_server: ScriptedServer) -> None:
    def broken(req: Recorded) -> Reply:
        raise RuntimeError("boom")

    scripted_server.handler("GET", "/b", broken)
    r = requests.get(scripted_server.url + "/b", timeout=5)
    assert r.status_code == 500
    assert isinstance(scripted_server.errors[0], RuntimeError)


def test_script_replaces_handler_and_back(scripted_server: ScriptedServer) -> None:
    scripted_server.handler("GET", "/s", lambda req: Reply(201))
    scripted_server.script("GET", "/s", Reply(202))
    assert requests.get(scripted_server.url + "/s", timeout=5).status_code == 202
    scripted_server.handler("GET", "/s", lambda req: Reply(203))
    assert requests.get(scripted_server.url + "/s", timeout=5).status_code == 203


def test_head_has_no_body(scripted_server: ScriptedServer) -> None:
    scripted_server.script("HEAD", "/h", Reply(405, body=b"not allowed"))
    r = requests.head(scripted_server.url + "/h", timeout=5)
    assert r.status_code == 405
    assert r.content == b""


def test_delay_provokes_client_timeout(scripted_server: ScriptedServer) -> None:
    scripted_server.script("POST", "/slow", Reply(200, delay=2.0))
    start = time.monotonic()
    with pytest.raises(requests.ReadTimeout):
        requests.post(scripted_server.url + "/slow", data=b"x", timeout=0.2)
    assert time.monotonic() - start < 1.5
    assert scripted_server.requests[0].body == b"x"  # recorded before the delay


def test_delayed_reply_arrives(scripted_server: ScriptedServer) -> None:
    scripted_server.script("GET", "/slow", Reply(200, body=b"late", delay=0.2))
    start = time.monotonic()
    assert requests.get(scripted_server.url + "/slow", timeout=5).content == b"late"
    assert time.monotonic() - start >= 0.2


def test_reset_drops_connection(scripted_server: ScriptedServer) -> None:
    scripted_server.script("POST", "/reset", Reply.reset(), Reply(200))
    with pytest.raises(requests.ConnectionError):
        requests.post(scripted_server.url + "/reset", data=b"x", timeout=5)
    assert len(scripted_server.requests) == 1
    # the server keeps serving new connections afterwards
    assert requests.post(scripted_server.url + "/reset", timeout=5).status_code == 200


def test_keep_alive_session_reuses_connection(scripted_server: ScriptedServer) -> None:
    scripted_server.script("GET", "/k", Reply(200, body=b"1"))
    with requests.Session() as s:
        assert [s.get(scripted_server.url + "/k", timeout=5).content for _ in range(3)] == [b"1"] * 3


def test_close_is_prompt_with_delayed_handler_in_flight() -> None:
    server = ScriptedServer()
    server.script("GET", "/slow", Reply(200, delay=30))
    errors: list[BaseException] = []

    def call() -> None:
        try:
            requests.get(server.url + "/slow", timeout=60)
        except BaseException as exc:
            errors.append(exc)

    t = threading.Thread(target=call)
    t.start()
    deadline = time.monotonic() + 5
    while not server.requests and time.monotonic() < deadline:
        time.sleep(0.01)
    start = time.monotonic()
    server.close()
    t.join(timeout=5)
    assert time.monotonic() - start < 2
    assert not t.is_alive()
    assert errors and isinstance(errors[0], requests.ConnectionError)
    server.close()  # idempotent
    with pytest.raises(requests.ConnectionError):
        requests.get(server.url + "/", timeout=2)


def test_url_is_loopback() -> None:
    with ScriptedServer() as server:
        assert server.url.startswith("http://127.0.0.1:")
        assert server.port > 0
        assert repr(server) == f"<ScriptedServer {server.url}>"


def test_concurrent_clients_are_all_recorded(scripted_server: ScriptedServer) -> None:
    scripted_server.script("POST", "/c", Reply(200, delay=0.05))
    threads = [
        threading.Thread(
            target=requests.post, args=(scripted_server.url + "/c",), kwargs={"data": str(i), "timeout": 5}
        )
        for i in range(10)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(int(r.body) for r in scripted_server.requests) == list(range(10))
