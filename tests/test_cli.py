"""The command line end to end, as an operator uses it.

In-process through click's CliRunner (a fresh ``build_cli(get_plugin_manager())`` per call)
on a private copy of the demo configuration, plus a few real subprocesses for what only a
process shows: the console script, exit codes seen by cron, the run lock, environment
variables read at start-up.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import click
import pytest
from clikit import (
    CHANGED,
    EMBARGOED,
    HELD,
    NOT_APPROVED,
    PUBLISHED,
    Demo,
    clean_env,
    console_script,
    describe,
    invoke,
    run_process,
)

from syndicator import __version__, hookimpl
from syndicator.cli import App, pass_app
from syndicator.lock import lock_path
from syndicator.plugins import get_plugin_manager
from syndicator.testing import Reply, ScriptedServer

APPROVER = "Budi Santoso, Kepala Bidang IKP"


@pytest.fixture(autouse=True)
def _hermetic(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """No SYNDICATOR_* variables from the outside; no log handler or level leaking between tests
    (``setup_logging`` installs one root handler per process, bound to that call's stderr)."""
    for name in [k for k in os.environ if k.startswith("SYNDICATOR_")]:
        monkeypatch.delenv(name)
    root = logging.getLogger()
    level, handlers = root.level, list(root.handlers)
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


@pytest.fixture
def demo(tmp_path: Path) -> Demo:
    return Demo.copy(tmp_path)


@pytest.fixture
def ran(demo: Demo) -> Demo:
    """The demo after its first run."""
    demo.invoke("run")
    return demo


def line_with(text: str, needle: str) -> str:
    found = [line for line in text.splitlines() if needle in line]
    assert len(found) == 1, f"expected one line with {needle!r} in:\n{text}"
    return found[0]


# -- run ------------------------------------------------------------------------------------------


def test_first_run_publishes_the_seven_approved_releases_and_lists_each_held_one_with_why(demo: Demo) -> None:
    result = demo.invoke("run")

    for key in PUBLISHED:
        assert line_with(result.stdout, f"published: {key} -> site").endswith(".html")
    summary = result.stdout.strip().splitlines()[-1]
    assert "7 published" in summary and "3 held" in summary, summary
    assert line_with(result.stdout, f"held: {NOT_APPROVED}:").endswith("not approved (status: review)")
    assert f"held: {EMBARGOED}: embargoed until {demo.embargo}" in result.stdout
    assert "changed since approval" in line_with(result.stdout, f"held: {CHANGED}:")
    assert len(list((demo.site / "releases").glob("*.html"))) == 7


def test_second_run_publishes_nothing(ran: Demo) -> None:
    result = ran.invoke("run")

    assert "published:" not in result.stdout
    assert "0 published" in result.stdout.strip().splitlines()[-1]


def test_quiet_second_run_prints_nothing(ran: Demo) -> None:
    result = ran.invoke("-q", "run")

    assert result.stdout == ""


def test_dry_run_says_what_would_go_out_and_writes_no_site_and_no_events(demo: Demo) -> None:
    before = demo.event_count()

    result = demo.invoke("run", "--dry-run")

    for key in PUBLISHED:
        assert f"would publish: {key} -> site" in result.stdout
    assert "published:" not in result.stdout
    assert "7 would be published" in result.stdout.strip().splitlines()[-1]
    assert not demo.site.exists()
    assert demo.event_count() == before == 0


def test_dry_run_after_an_approval_neither_publishes_nor_records_it(ran: Demo) -> None:
    ran.invoke("approve", CHANGED, "--by", APPROVER)
    before = ran.event_count()
    pages = sorted(p.name for p in (ran.site / "releases").iterdir())

    result = ran.invoke("run", "--dry-run")

    assert f"would publish: {CHANGED} -> site" in result.stdout
    assert ran.event_count() == before
    assert sorted(p.name for p in (ran.site / "releases").iterdir()) == pages
    assert f"published: {CHANGED} -> site" in ran.invoke("run").stdout  # still due for real


def test_run_with_an_unknown_channel_is_an_error_naming_it(demo: Demo) -> None:
    result = demo.invoke("run", "--channel", "nope", expect=None)

    assert result.exit_code in (1, 2), describe(result)
    assert "no channel named 'nope'" in result.stderr
    assert not demo.site.exists()


def test_a_release_with_broken_yaml_is_a_source_error_and_the_others_still_go_out(demo: Demo) -> None:
    broken = demo.folder / "releases" / "2026" / "11" / "rusak.md"
    broken.write_text('---\ntitle: "Tanpa penutup\nstatus: [approved\n---\nIsi.\n', encoding="utf-8")

    result = demo.invoke("run", expect=1)

    error = line_with(result.stderr, "source error:")
    assert error.startswith("source error: ") and "2026/11/rusak.md" in error
    assert "7 published" in result.stdout and "1 source errors" in result.stdout


# -- approve --------------------------------------------------------------------------------------


def test_approving_a_release_changed_since_approval_publishes_it_and_records_the_approver(ran: Demo) -> None:
    result = ran.invoke("approve", "2026-11-006", "--by", APPROVER)
    assert f"approved {CHANGED}" in result.stdout and APPROVER in result.stdout

    assert f"published: {CHANGED} -> site" in ran.invoke("run").stdout

    events = ran.json("history", CHANGED, "--json")
    approvals = [e for e in events if e["event"] == "approved"]
    assert approvals[-1]["actor"] == APPROVER
    assert [e["event"] for e in events][-3:] == ["planned", "in_flight", "sent"]
    assert f"approved by {APPROVER}" in ran.invoke("history", CHANGED).stdout
    assert ran.json("releases", "show", CHANGED, "--json")["state"] == "published"


def test_approve_without_by_is_a_usage_error(ran: Demo) -> None:
    result = ran.invoke("approve", "2026-11-010", expect=2)

    assert "--by" in result.stderr
    assert ran.json("releases", "show", NOT_APPROVED, "--json")["state"] == "held"


def test_approve_with_a_blank_name_is_a_usage_error(ran: Demo) -> None:
    result = ran.invoke("approve", "2026-11-010", "--by", "   ", expect=2)

    assert "approver" in result.stderr


# -- releases, status, history ---------------------------------------------------------------------


def test_releases_list_shows_each_release_with_its_state(ran: Demo) -> None:
    out = ran.invoke("releases", "list").stdout

    assert out.splitlines()[0].split() == ["RELEASE", "DATE", "TITLE", "STATE"]
    for key in PUBLISHED:
        assert line_with(out, key + " ").rstrip().endswith("published")
    assert "held: not approved" in line_with(out, NOT_APPROVED)
    assert f"held: embargoed until {ran.embargo}" in line_with(out, EMBARGOED)
    assert "held: changed since approval" in line_with(out, CHANGED)


def test_releases_list_json_gives_state_and_reason_per_release(ran: Demo) -> None:
    data = ran.json("releases", "list", "--json")

    by_key = {r["key"]: r for r in data}
    assert set(by_key) == {*PUBLISHED, *HELD}
    for key in PUBLISHED:
        assert (by_key[key]["state"], by_key[key]["reason"]) == ("published", "")
        assert by_key[key]["deliveries"]["site"]["state"] == "sent"
    assert by_key[NOT_APPROVED]["state"] == "held"
    assert by_key[NOT_APPROVED]["reason"].startswith("not approved")
    assert by_key[EMBARGOED]["reason"].startswith(f"embargoed until {ran.embargo}")
    assert by_key[CHANGED]["reason"].startswith("changed since approval")


def test_releases_list_filters_by_state(ran: Demo) -> None:
    assert {r["key"] for r in ran.json("releases", "list", "--state", "held", "--json")} == set(HELD)

    out = ran.invoke("releases", "list", "--state", "held").stdout
    assert all(key in out for key in HELD)
    assert not any(key + " " in out for key in PUBLISHED)


def test_releases_show_prints_the_release_its_approval_and_deliveries(ran: Demo) -> None:
    out = ran.invoke("releases", "show", "2026-11-003").stdout

    assert line_with(out, "key:").split() == ["key:", "diskominfo/2026-11-003"]
    assert "Imunisasi Kejar Campak-Rubela" in line_with(out, "title:")
    assert line_with(out, "state:").split()[1] == "published"
    assert "Dr. Ratna Widyasari" in line_with(out, "approved by:")
    delivery = line_with(out, "site ")
    assert delivery.split()[:3] == ["site", "sent", "1"] and ".html" in delivery

    held = ran.invoke("releases", "show", "2026-11-006").stdout
    assert "held (changed since approval" in line_with(held, "state:")


def test_releases_show_says_the_text_of_a_published_release_was_let_go(ran: Demo) -> None:
    out = ran.invoke("releases", "show", "2026-11-003").stdout
    assert "let go once every channel had it" in line_with(out, "text:")
    assert ran.json("releases", "show", "2026-11-003", "--json")["text_kept"] is False

    held = ran.invoke("releases", "show", "2026-11-006")
    assert "text:" not in held.stdout
    assert ran.json("releases", "show", "2026-11-006", "--json")["text_kept"] is True


def test_releases_show_json(ran: Demo) -> None:
    data = ran.json("releases", "show", "2026-11-008", "--json")

    assert data["key"] == EMBARGOED
    assert data["state"] == "held" and data["reason"].startswith("embargoed until")
    assert (data["release"]["source"], data["release"]["id"]) == ("diskominfo", "2026-11-008")
    assert data["release"]["status"] == "approved"
    assert data["release"]["title"].startswith("Pendaftaran Beasiswa")


def test_releases_show_of_an_unknown_release_is_a_usage_error(ran: Demo) -> None:
    result = ran.invoke("releases", "show", "2099-nope", expect=2)

    assert "no release '2099-nope'" in result.stderr


def test_status_shows_counts_per_state_and_channel(ran: Demo) -> None:
    out = ran.invoke("status").stdout

    assert out.splitlines()[0] == "10 releases: 3 held, 7 published"
    assert line_with(out, "site (website)").strip() == "site (website): 7 sent"

    grid = ran.invoke("status", "--all").stdout
    assert line_with(grid, "RELEASE").split() == ["RELEASE", "STATE", "site"]
    assert line_with(grid, "diskominfo/2026-11-003").split() == [
        "diskominfo/2026-11-003",
        "published",
        "sent",
    ]
    assert line_with(grid, NOT_APPROVED).split()[:2] == [NOT_APPROVED, "held"]


def test_status_grid_does_not_call_a_held_release_due_on_its_channels(ran: Demo) -> None:
    grid = ran.invoke("status", "--all").stdout

    for key in HELD:
        row = line_with(grid, key + " ")
        _, state, site = row.split()
        assert (state, site) != ("held", "due"), row


def test_status_json(ran: Demo) -> None:
    data = ran.json("status", "--json")

    assert data["channels"] == {"site": {"sent": 7}}
    assert data["needs_operator"] == []
    states = {r["key"]: r["state"] for r in data["releases"]}
    assert states == {**dict.fromkeys(PUBLISHED, "published"), **dict.fromkeys(HELD, "held")}


def test_history_lists_the_audit_trail_oldest_first(ran: Demo) -> None:
    out = ran.invoke("history", "--limit", "1000").stdout.splitlines()

    assert "collected" in out[0].split()
    assert sum("sent" in line.split() for line in out) == 7
    assert any("sent diskominfo/2026-11-003 -> site" in line for line in out)


def test_history_says_of_each_call_its_attempt_and_the_post_it_made(ran: Demo) -> None:
    out = ran.invoke("history", "2026-11-003").stdout.splitlines()

    assert "in_flight" in out[-2].split() and out[-2].endswith(": publish, attempt 1")
    assert "sent" in out[-1].split() and out[-1].endswith(".html")


def test_history_of_one_release_as_json_is_its_events_in_order(ran: Demo) -> None:
    events = ran.json("history", "2026-11-003", "--json")

    assert [e["event"] for e in events] == ["collected", "approved", "planned", "in_flight", "sent"]
    assert {e["release"] for e in events} == {"diskominfo/2026-11-003"}
    assert [e["id"] for e in events] == sorted(e["id"] for e in events)
    assert events[-1]["channel"] == "site" and events[-1]["url"].endswith(".html")


# -- preview ----------------------------------------------------------------------------------------


def test_preview_before_any_run_prints_the_post_and_publishes_nothing(demo: Demo) -> None:
    out = demo.invoke("preview", "2026-11-003").stdout

    assert out.splitlines()[0].startswith("diskominfo/2026-11-003: Dinas Kesehatan Gelar Imunisasi")
    assert "── site (website) ──" in out
    assert "imunisasi kejar campak-rubela serentak" in out  # the summary, as rendered
    assert not demo.site.exists()
    assert demo.event_count() == 0
    assert "no releases yet" in demo.invoke("releases", "list").stdout


def test_preview_of_a_held_release_says_why_it_is_held(ran: Demo) -> None:
    out = ran.invoke("preview", "2026-11-010").stdout

    assert line_with(out, "state:") == "state: held (not approved (status: review))"
    assert "Rancangan APBD 2027" in out


def test_preview_of_a_published_release_whose_text_was_let_go_renders_nothing(ran: Demo) -> None:
    out = ran.invoke("preview", "2026-11-003").stdout

    assert line_with(out, "state:") == "state: published"
    assert "its text was let go" in out and "── site" not in out


def test_preview_with_an_unknown_channel_is_a_usage_error(ran: Demo) -> None:
    result = ran.invoke("preview", "2026-11-003", "--channel", "nope", expect=None)

    assert "no channel named 'nope'" in result.stderr
    assert result.exit_code == 2, describe(result)


# -- config ------------------------------------------------------------------------------------------


def test_config_check_prints_the_resolved_config_and_never_the_secret(demo: Demo) -> None:
    secret = "rahasia-9f3c1e7b"
    demo.env["SYNDICATOR_TEST_HOOK_SECRET"] = secret
    demo.add_channel(
        "hook",
        type="webhook",
        url="https://hooks.example.go.id/siaran",
        secret={"env": "SYNDICATOR_TEST_HOOK_SECRET"},
    )

    out = demo.invoke("config", "check").stdout

    assert out.splitlines()[0] == f"# {demo.config}: ok"
    assert "[channels.hook]" in out and 'url = "https://hooks.example.go.id/siaran"' in out
    assert 'secret = "<secret from $SYNDICATOR_TEST_HOOK_SECRET>"' in out
    assert f'state = "{demo.state}"' in out
    for args in (["config", "check"], ["config", "check", "--json"], ["channels", "list", "--json"]):
        result = demo.invoke(*args)
        assert secret not in result.stdout + result.stderr, args
    data = demo.json("config", "check", "--json")
    assert data["channels"]["hook"]["secret"] == "<secret from $SYNDICATOR_TEST_HOOK_SECRET>"


def test_config_with_several_mistakes_reports_each_with_file_table_and_key(tmp_path: Path) -> None:
    config = tmp_path / "syndicator.toml"
    config.write_text(
        """\
[syndicator]
timezone = "Asia/Jakarta"
colour = "biru"

[sources.news]
type = "directory"
path = "releases"

[channels.site]
type = "website"
output = "site"
per_page = "dua puluh"

[channels.social]
type = "myspace"

[channels.hook]
type = "webhook"
url = "https://hooks.example.go.id/siaran"
secret = { env = "SYNDICATOR_TEST_UNSET_SECRET" }
""",
        encoding="utf-8",
    )

    for args in (["config", "check"], ["run"]):
        result = invoke(["--config", str(config), *args], expect=2)
        problems = result.stderr.strip().splitlines()
        for table, key, says in (
            ("syndicator", "colour", "unknown key"),
            ("channels.site", "per_page", "expected an integer"),
            ("channels.social", "type", "unknown channel type 'myspace'"),
            ("channels.hook", "secret", "SYNDICATOR_TEST_UNSET_SECRET is not set"),
        ):
            line = line_with(result.stderr, f"[{table}] {key}:")
            assert line.startswith(f"error: {config}: [{table}] {key}: ") and says in line
        assert len(problems) == 4, problems
    assert not (tmp_path / "state").exists()


@pytest.mark.parametrize(
    ("table", "line"),
    [("channels.site", 'max_attempts = "lima"'), ("sources.diskominfo", "enabled = 1")],
)
def test_a_core_key_of_the_wrong_type_is_a_config_problem(demo: Demo, table: str, line: str) -> None:
    text = demo.config.read_text(encoding="utf-8")
    demo.config.write_text(text.replace(f"[{table}]\n", f"[{table}]\n{line}\n"), encoding="utf-8")
    key = line.split()[0]

    result = demo.invoke("config", "check", expect=None)

    assert result.exit_code == 2, describe(result)
    assert f"error: {demo.config}: [{table}] {key}: expected" in result.stderr


def test_a_missing_config_file_is_a_usage_error_pointing_at_init(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)

    result = invoke(["run"], expect=2)

    assert str(tmp_path / "syndicator.toml") in result.stderr and "syndicator init" in result.stderr


# -- init -----------------------------------------------------------------------------------------------


def test_init_writes_a_starter_that_runs_and_holds_the_sample(tmp_path: Path) -> None:
    folder = tmp_path / "humas"
    folder.mkdir()

    out = invoke(["init", str(folder)]).stdout

    config, sample = folder / "syndicator.toml", folder / "releases" / "contoh-siaran-pers.md"
    assert config.is_file() and sample.is_file()
    assert f"wrote {config}" in out and f"wrote {sample}" in out
    result = invoke(["--config", str(config), "run"])
    assert "0 published" in result.stdout
    assert "held: releases/contoh-siaran-pers: not approved" in result.stdout
    assert "1 held (1 not approved)" in result.stdout


def test_init_refuses_to_overwrite_unless_forced(tmp_path: Path) -> None:
    invoke(["init", str(tmp_path)])
    config = tmp_path / "syndicator.toml"
    config.write_text("# edited by the operator\n", encoding="utf-8")

    result = invoke(["init", str(tmp_path)], expect=2)

    assert "refusing to overwrite" in result.stderr and "--force" in result.stderr
    assert config.read_text(encoding="utf-8") == "# edited by the operator\n"
    invoke(["init", "--force", str(tmp_path)])
    assert "[sources.releases]" in config.read_text(encoding="utf-8")


# -- plugins, channels, version ------------------------------------------------------------------------


def test_plugins_lists_the_loaded_plugins_with_their_hooks(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # needs no configuration
    out = invoke(["plugins"]).stdout

    assert "register_channels" in line_with(out, "website ")
    assert "register_channels" in line_with(out, "webhook ")
    assert "register_sources" in line_with(out, "syndicator.sources.directory")

    data = {p["name"]: p for p in json.loads(invoke(["plugins", "--json"]).stdout)}
    assert data["website"]["hooks"] == ["register_channels"]
    assert data["syndicator.sources.directory"]["distribution"] == "syndicator"


def test_channels_list_shows_types_with_options_and_the_configured_channels(demo: Demo) -> None:
    out = demo.invoke("channels", "list").stdout

    assert line_with(out, "  website ").split()[0] == "website"
    assert "url (str, required)" in out and "secret (str, secret: env only)" in out
    assert "output (str, required)" in out
    assert line_with(out, "type=website").split() == ["site", "type=website"]

    data = demo.json("channels", "list", "--json")
    assert {"website", "webhook"} <= set(data["types"])
    assert data["types"]["webhook"]["options"]["secret"]["secret"] is True
    assert data["types"]["webhook"]["idempotency"] == "key"
    assert data["configured"]["site"]["type"] == "website"


def test_channels_list_works_without_a_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)

    result = invoke(["channels", "list", "--json"])

    assert json.loads(result.stdout)["configured"] == {}
    assert "no configured channels" in result.stderr


def test_version() -> None:
    assert invoke(["--version"]).stdout.strip() == f"syndicator, version {__version__}"


# -- a plugin command ------------------------------------------------------------------------------------


class HelloPlugin:
    @hookimpl
    def register_commands(self, cli: click.Group) -> None:
        @cli.command("halo")
        @click.argument("name")
        @pass_app
        def halo(app: App, name: str) -> None:
            """Greet, and count the configured channels."""
            click.echo(f"halo {name}: {len(app.config().channels)} channel(s)")


def test_a_register_commands_plugin_adds_a_working_command(demo: Demo) -> None:
    pm = get_plugin_manager()
    pm.register(HelloPlugin(), name="test-halo")

    assert demo.invoke("halo", "Ratna", pm=pm).stdout == "halo Ratna: 1 channel(s)\n"
    assert "halo" in demo.invoke("--help", pm=pm).stdout
    # its errors get the same treatment as the built-in commands'
    missing = invoke(["--config", str(demo.folder / "nope.toml"), "halo", "x"], pm=pm, expect=2)
    assert "file not found" in missing.stderr
    assert "register_commands" in line_with(demo.invoke("plugins", pm=pm).stdout, "test-halo")


# -- a webhook that fails ----------------------------------------------------------------------------------


def test_a_webhook_answering_503_fails_the_run_and_status_shows_it_retrying(demo: Demo) -> None:
    secret = "rahasia-echoed-4b1d"
    demo.env["SYNDICATOR_TEST_HOOK_SECRET"] = secret
    with ScriptedServer() as server:
        server.script(
            "POST",
            "/hook",
            Reply(503, body=f"maintenance ({secret})".encode(), headers={"Retry-After": "600"}),
        )
        demo.add_channel(
            "hook", type="webhook", url=server.url + "/hook", secret={"env": "SYNDICATOR_TEST_HOOK_SECRET"}
        )

        result = demo.invoke("run", expect=1)

        assert len(server.requests) == 7
    failed = line_with(result.stderr, "failed: diskominfo/2026-11-003 -> hook:")
    assert "HTTP 503" in failed
    assert sum(line.startswith("failed: ") for line in result.stderr.splitlines()) == 7
    assert "7 published" in result.stdout and "7 failed" in result.stdout
    assert secret not in result.stdout + result.stderr

    status = demo.invoke("status")
    assert line_with(status.stdout, "hook (webhook)").strip() == "hook (webhook): 7 retrying"
    assert line_with(status.stdout, "diskominfo/2026-11-003").split() == [
        "diskominfo/2026-11-003",
        "retrying",
        "sent",
        "retrying",
    ]
    data = demo.json("status", "--json")
    assert data["channels"]["hook"] == {"failed": 7}
    assert {r["key"] for r in data["releases"] if r["state"] == "retrying"} == set(PUBLISHED)


# -- real processes -------------------------------------------------------------------------------------------


def test_version_via_python_m_and_the_console_script() -> None:
    for argv in ([sys.executable, "-m", "syndicator", "--version"], [console_script(), "--version"]):
        proc = run_process(argv)
        assert (proc.returncode, proc.stdout.strip()) == (0, f"syndicator, version {__version__}"), proc


def test_console_script_runs_the_demo(demo: Demo) -> None:
    proc = run_process([console_script(), "--config", str(demo.config), "run"])

    assert proc.returncode == 0, proc.stderr
    assert "7 published" in proc.stdout and "3 held" in proc.stdout


# The console script's process, then what the collector's thresholds are once its command is done.
AFTER_HELP = """
import gc, sys
from syndicator.console import main
sys.argv = ["syndicator", "--help"]
try:
    main()
except SystemExit:
    pass
print(*gc.get_threshold(), file=sys.stderr)
"""


def test_the_console_script_collects_less_often_and_a_caller_in_process_is_left_alone() -> None:
    import gc

    from syndicator.console import YOUNG_THRESHOLD, main

    defaults = gc.get_threshold()
    proc = run_process([sys.executable, "-c", AFTER_HELP])
    assert proc.returncode == 0 and "Usage: syndicator" in proc.stdout, proc.stderr
    assert proc.stderr.split() == [str(YOUNG_THRESHOLD), *map(str, defaults[1:])]

    with pytest.raises(SystemExit) as exited:
        main(["--help"])  # as a test or a program that embeds syndicator calls it
    assert exited.value.code == 0
    assert gc.get_threshold() == defaults


def test_run_every_goes_back_to_the_usual_pace_of_collection(demo: Demo) -> None:
    """A service pays start-up once: ``run --every`` collects at Python's pace, so its idle
    ticks' little garbage does not wait for a pass 10 MB at a time."""
    import gc

    from syndicator.console import USUAL_YOUNG_THRESHOLD

    script = (
        "import gc, os, signal, sys, threading\n"
        "from syndicator.console import main\n"
        f"sys.argv = ['syndicator', '--config', {str(demo.config)!r}, 'run', '--every', '1h']\n"
        "threading.Timer(2, os.kill, (os.getpid(), signal.SIGTERM)).start()\n"
        "try:\n    main()\nexcept SystemExit:\n    pass\n"
        "print(*gc.get_threshold(), file=sys.stderr)\n"
    )
    proc = run_process([sys.executable, "-c", script])
    assert proc.returncode == 0 and "SIGTERM: stopping" in proc.stderr, proc.stderr
    assert proc.stderr.split()[-3:] == [str(USUAL_YOUNG_THRESHOLD), *map(str, gc.get_threshold()[1:])]


def test_run_exits_75_at_once_while_another_run_holds_the_lock(demo: Demo) -> None:
    path = lock_path(demo.state)
    path.parent.mkdir(parents=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        os.write(fd, f"{os.getpid()}\n".encode())
        started = time.monotonic()

        proc = run_process([console_script(), "--config", str(demo.config), "run"], timeout=20)

        elapsed = time.monotonic() - started
    finally:
        os.close(fd)
    assert proc.returncode == 75, proc
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "another syndicator run" in lines[0] and f"pid {os.getpid()}" in lines[0], (
        lines
    )
    assert proc.stdout == ""
    assert elapsed < 10
    assert not demo.site.exists()


def test_syndicator_config_env_is_used_when_no_config_option_is_given(demo: Demo, tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()

    proc = run_process(
        [sys.executable, "-m", "syndicator", "config", "check"],
        cwd=elsewhere,
        env=clean_env(SYNDICATOR_CONFIG=str(demo.config)),
    )

    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines()[0] == f"# {demo.config}: ok"


def test_disabling_the_website_plugin_makes_a_website_channel_a_config_error(demo: Demo) -> None:
    proc = run_process(
        [console_script(), "--config", str(demo.config), "run"],
        env=clean_env(SYNDICATOR_DISABLE_PLUGINS="website"),
    )

    assert proc.returncode == 2, proc
    assert "[channels.site] type: unknown channel type 'website'" in proc.stderr
    assert not demo.site.exists()
