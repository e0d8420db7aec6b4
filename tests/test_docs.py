"""The operator's documents are tested like code: docs/scheduling.md, docs/completion.md and the
Indonesian quick start, docs/id/mulai-cepat.md.

- every ``syndicator ...`` command they show exists: its subcommands resolve, each option it
  uses is one the command takes, and ``--help`` works;
- the systemd units parse, have the keys they need (and ``systemd-analyze verify`` accepts
  them where it is installed); the cron lines have five valid time fields;
- the scheduled commands run, in-process, against a copy of the demo, and a ``-q`` run is
  silent; the main cron line also runs through ``/bin/sh`` with cron's bare environment;
- the quick start is followed from ``syndicator init`` to a published release and a monthly
  report with charts, using the release file it shows;
- the completion scripts are generated as the document says, and bash completes with them.
"""

from __future__ import annotations

import configparser
import os
import re
import shlex
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import click
import pytest
from click.testing import CliRunner, Result

from syndicator.cli import build_cli
from syndicator.plugins import get_plugin_manager

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
SCHEDULING = DOCS / "scheduling.md"
COMPLETION = DOCS / "completion.md"
QUICKSTART = DOCS / "id" / "mulai-cepat.md"
INSTALL, DATA, SECRETS = "/opt/syndicator", "/srv/siaran-pers", "/etc/syndicator"

_FENCE = re.compile(r"^```(\w*)\n(.*?)^```", re.MULTILINE | re.DOTALL)
_SPAN = re.compile(r"`(syndicator [^`]+)`")
_OPERATORS = {"&&", "||", "|", ";", ">", ">>", "<", "&", "2>", "2>&1"}
_PREFIXES = {"sudo", "exec", "env", "nohup", "time"}
_ASSIGNMENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*=")


@dataclass(frozen=True)
class Block:
    lang: str
    text: str


def blocks(path: Path, lang: str | None = None) -> list[Block]:
    found = [Block(m.group(1), m.group(2)) for m in _FENCE.finditer(path.read_text(encoding="utf-8"))]
    return [b for b in found if lang is None or b.lang == lang]


def shell_words(line: str) -> list[str]:
    lexer = shlex.shlex(line, posix=True, punctuation_chars=True)
    lexer.whitespace_split = True
    lexer.commenters = "#"
    return list(lexer)


def syndicator_argv(line: str) -> list[list[str]]:
    """The arguments of every syndicator invocation in one shell line (the program in a
    command's first place: not ``-g syndicator`` or ``/opt/syndicator``)."""
    words = shell_words(line)
    out = []
    first = True  # is this word in a command's first place?
    for i, word in enumerate(words):
        at_start, first = (
            first,
            word in _OPERATORS or (first and (_ASSIGNMENT.match(word) or word in _PREFIXES)),
        )
        if at_start and (word == "syndicator" or word.endswith("/bin/syndicator")):
            argv = []
            for w in words[i + 1 :]:
                if w in _OPERATORS:
                    break
                argv.append(w)
            out.append(argv)
    return out


def cron_lines(path: Path) -> list[tuple[list[str], str]]:
    """(the five time fields, the command) of every schedule line in the cron blocks."""
    out = []
    for block in blocks(path, "cron"):
        for line in block.text.splitlines():
            if not line.strip() or line.lstrip().startswith("#") or re.match(r"^[A-Z_]+=", line):
                continue
            fields = line.split(None, 5)
            assert len(fields) == 6, f"not a cron line: {line!r}"
            out.append((fields[:5], fields[5]))
    return out


@dataclass(frozen=True)
class Unit:
    name: str
    parser: configparser.ConfigParser
    text: str


def units(path: Path = SCHEDULING) -> dict[str, Unit]:
    """Every ```ini block whose first line names a file in /etc/systemd/system/."""
    out = {}
    for block in blocks(path, "ini"):
        first = block.text.splitlines()[0]
        m = re.fullmatch(r"# /etc/systemd/system/([\w.-]+\.(?:service|timer))", first)
        assert m, f"an ini block that names no unit file: {first!r}"
        parser = configparser.ConfigParser(interpolation=None, strict=False, delimiters=("=",))
        parser.optionxform = str  # type: ignore[assignment,method-assign]  # systemd keys are case-sensitive
        parser.read_string(block.text)
        out[m.group(1)] = Unit(m.group(1), parser, block.text)
    return out


def documented_commands(path: Path, *, inline: bool = True) -> list[tuple[Path, list[str]]]:
    """Every syndicator invocation shown in shell and cron blocks, ExecStart= lines and (with
    ``inline``) inline code."""
    lines: list[str] = []
    for block in blocks(path):
        if block.lang in ("sh", "cron"):
            lines += block.text.splitlines()
        elif block.lang == "ini":
            lines += [ln.split("=", 1)[1] for ln in block.text.splitlines() if ln.startswith("ExecStart=")]
    if inline:
        lines += _SPAN.findall(path.read_text(encoding="utf-8"))
    return [(path, argv) for line in lines for argv in syndicator_argv(line)]


# -- the command line ---------------------------------------------------------------------------


def cli() -> click.Group:
    group = build_cli(get_plugin_manager())
    if "report" not in group.commands:  # until syndicator/cli/__init__.py registers it
        from syndicator.cli import report

        report.register(group)
    return group


def resolve(group: click.Group, argv: list[str]) -> tuple[list[str], list[str]]:
    """Walk argv through the command tree: (the command path, problems found)."""
    command: click.Command = group
    path: list[str] = []
    problems: list[str] = []
    words = iter(argv)
    for word in words:
        if word.startswith("-") and word != "-":
            name = word.split("=", 1)[0]
            option = next(
                (
                    p
                    for p in command.params
                    if isinstance(p, click.Option) and name in (*p.opts, *p.secondary_opts)
                ),
                None,
            )
            if option is None and name in ("-h", "--help"):
                continue
            if option is None:
                problems.append(f"{' '.join(['syndicator', *path])}: no option {name}")
            elif not (option.is_flag or option.count) and "=" not in word:
                next(words, None)
        elif isinstance(command, click.Group):
            sub = command.commands.get(word)
            if sub is None:
                problems.append(f"{' '.join(['syndicator', *path])}: no command {word!r}")
                break
            command, path = sub, [*path, word]
    return path, problems


def test_every_documented_command_exists() -> None:
    group = cli()
    commands = [
        *documented_commands(SCHEDULING),
        *documented_commands(QUICKSTART),
        *documented_commands(COMPLETION, inline=False),  # its inline code shows <Tab> presses
    ]
    assert len(commands) > 40
    seen: set[tuple[str, ...]] = set()
    problems: list[str] = []
    for path, argv in commands:
        where, found = resolve(group, argv)
        problems += [f"{path.relative_to(ROOT)}: {' '.join(argv)}: {p}" for p in found]
        if not where and not {"--version", "-V", "--help", "-h"} & set(argv) and argv:
            problems.append(f"{path.relative_to(ROOT)}: {' '.join(argv)}: names no command")
        seen.add(tuple(where))
    assert problems == []
    for where in sorted(seen):
        result = CliRunner().invoke(group, [*where, "--help"])
        assert result.exit_code == 0, f"{where}: {result.output}"
        assert "Usage: " in result.output
    wanted = {"run", "approve", "status", "releases list", "releases show", "report", "init", "history"}
    assert wanted <= {" ".join(w) for w in seen}


def test_the_checker_catches_mistakes() -> None:
    group = cli()
    assert resolve(group, ["-q", "report", "--moth", "2026-11"])[1] == ["syndicator report: no option --moth"]
    assert resolve(group, ["releases", "lst"])[1] == ["syndicator releases: no command 'lst'"]
    assert resolve(group, ["-c", "x.toml", "releases", "list", "--state", "held"]) == (
        ["releases", "list"],
        [],
    )
    assert syndicator_argv("cd /opt/syndicator && .venv/bin/syndicator -q run > /dev/null") == [["-q", "run"]]
    assert syndicator_argv("sudo install -d -o root -g syndicator /etc/syndicator") == []
    assert syndicator_argv("X=1 syndicator status; sudo -u s syndicator run") == [["status"]]
    assert syndicator_argv("_C=bash_source syndicator > f && exec syndicator -q run") == [[], ["-q", "run"]]


# -- systemd -----------------------------------------------------------------------------------------

SERVICE_KEYS = {
    "Unit": {"Description", "Wants", "After", "Requires", "Documentation"},
    "Service": {
        "Type",
        "User",
        "Group",
        "WorkingDirectory",
        "EnvironmentFile",
        "Environment",
        "ExecStart",
        "SuccessExitStatus",
        "TimeoutStartSec",
        "TimeoutStopSec",
        "KillSignal",
        "KillMode",
        "Restart",
        "RestartSec",
        "RestartPreventExitStatus",
        "NoNewPrivileges",
        "PrivateTmp",
        "ProtectSystem",
        "ProtectHome",
        "ReadWritePaths",
    },
    "Timer": {
        "OnCalendar",
        "OnBootSec",
        "OnUnitActiveSec",
        "Persistent",
        "AccuracySec",
        "RandomizedDelaySec",
    },
    "Install": {"WantedBy"},
}


def test_the_systemd_units_parse_and_have_what_they_need() -> None:
    found = units()
    assert set(found) == {
        "syndicator.service",
        "syndicator.timer",
        "syndicator-report.service",
        "syndicator-report.timer",
        "syndicator-loop.service",
    }
    for name, unit in found.items():
        p = unit.parser
        for section in p.sections():
            assert section in SERVICE_KEYS, f"{name}: unknown section [{section}]"
            unknown = set(p[section]) - SERVICE_KEYS[section]
            assert not unknown, f"{name}: [{section}] unknown keys {unknown}"
        assert p.get("Unit", "Description")
        if name.endswith(".timer"):
            assert p.get("Timer", "OnCalendar")
            assert p.get("Install", "WantedBy") == "timers.target"
            assert name.replace(".timer", ".service") in found, f"{name} starts a service not shown"
            continue
        service = p["Service"]
        assert service["ExecStart"].startswith(f"{INSTALL}/.venv/bin/syndicator ")
        assert service["WorkingDirectory"] == DATA
        assert service["User"] == "syndicator"
        for key in ("NoNewPrivileges", "PrivateTmp"):
            assert service[key] == "yes"
    one_run = found["syndicator.service"].parser["Service"]
    assert (one_run["Type"], one_run["SuccessExitStatus"]) == ("oneshot", "75")
    assert one_run["EnvironmentFile"] == f"{SECRETS}/syndicator.env"
    loop = found["syndicator-loop.service"].parser
    assert (loop["Service"]["Type"], loop["Service"]["KillSignal"]) == ("simple", "SIGTERM")
    assert "run --every 5m" in loop["Service"]["ExecStart"]
    assert loop["Service"]["RestartPreventExitStatus"] == "2"
    assert loop["Install"]["WantedBy"] == "multi-user.target"


@pytest.mark.skipif(not shutil.which("systemd-analyze"), reason="systemd-analyze is not installed")
def test_systemd_analyze_verifies_the_units(tmp_path: Path) -> None:
    """systemd's own checker, with the paths pointed at a real install in a temporary folder."""
    (tmp_path / "units").mkdir()
    (tmp_path / "opt" / ".venv" / "bin").mkdir(parents=True)
    (tmp_path / "srv").mkdir()
    (tmp_path / "etc").mkdir()
    (tmp_path / "etc" / "syndicator.env").write_text("", encoding="utf-8")
    (tmp_path / "opt" / ".venv" / "bin" / "syndicator").symlink_to(console_script())
    names = []
    for name, unit in units().items():
        text = (
            unit.text.replace(INSTALL, str(tmp_path / "opt"))
            .replace(DATA, str(tmp_path / "srv"))
            .replace(SECRETS, str(tmp_path / "etc"))
        )
        (tmp_path / "units" / name).write_text(text, encoding="utf-8")
        names.append(name)
    result = subprocess.run(
        ["systemd-analyze", "verify", "--man=no", *names],
        cwd=tmp_path / "units",
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert (result.returncode, result.stderr) == (0, ""), result.stderr
    calendars = [u.parser.get("Timer", "OnCalendar") for u in units().values() if u.name.endswith(".timer")]
    check = subprocess.run(
        ["systemd-analyze", "calendar", *calendars], capture_output=True, text=True, timeout=30, check=False
    )
    assert check.returncode == 0, check.stderr


# -- cron ----------------------------------------------------------------------------------------------

_RANGES = ((0, 59), (0, 23), (1, 31), (1, 12), (0, 7))


def valid_cron_field(field: str, low: int, high: int) -> bool:
    for part in field.split(","):
        m = re.fullmatch(r"(\*|(\d+)(?:-(\d+))?)(?:/(\d+))?", part)
        if not m:
            return False
        numbers = [int(n) for n in (m.group(2), m.group(3)) if n is not None]
        if any(not low <= n <= high for n in numbers) or (m.group(4) is not None and int(m.group(4)) < 1):
            return False
    return True


@pytest.mark.parametrize("path", [SCHEDULING, QUICKSTART], ids=lambda p: p.name)
def test_cron_lines_have_valid_schedules(path: Path) -> None:
    lines = cron_lines(path)
    assert len(lines) == 2
    for fields, command in lines:
        assert all(valid_cron_field(f, lo, hi) for f, (lo, hi) in zip(fields, _RANGES, strict=True)), fields
        assert "%" not in command, "cron turns % into a newline"
        assert command.startswith(f"cd {DATA} && ")
        assert syndicator_argv(command), command
    assert not valid_cron_field("*/0", 0, 59) and not valid_cron_field("61", 0, 59)
    assert cron_lines(SCHEDULING) == cron_lines(QUICKSTART)  # the two documents agree


# -- running what the scheduling document schedules -----------------------------------------------


def console_script() -> str:
    found = shutil.which("syndicator", path=os.path.dirname(sys.executable))
    assert found, f"no syndicator console script next to {sys.executable}"
    return found


@pytest.fixture
def office(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """/srv/siaran-pers: a copy of the demo, its config as syndicator.toml; the cwd."""
    srv = tmp_path / "srv"
    shutil.copytree(ROOT / "config", srv, ignore=shutil.ignore_patterns("site", "state"))
    (srv / "demo.toml").rename(srv / "syndicator.toml")
    for name in list(os.environ):
        if name.startswith("SYNDICATOR_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(srv)
    yield srv


def invoke(argv: list[str], expect: int = 0) -> Result:
    result = CliRunner().invoke(cli(), argv)
    assert result.exit_code == expect, (
        f"syndicator {shlex.join(argv)}: exit {result.exit_code}\n{result.output}"
    )
    return result


def localise(argv: list[str], srv: Path) -> list[str]:
    return [a.replace(DATA, str(srv)) for a in argv]


def test_the_scheduled_commands_run_and_are_silent(office: Path) -> None:
    scheduled = [syndicator_argv(command)[0] for _, command in cron_lines(SCHEDULING)]
    scheduled += [
        argv
        for u in units().values()
        if u.name.endswith(".service")
        for argv in syndicator_argv(u.parser["Service"]["ExecStart"])
        if "--every" not in argv  # the loop runs until it is stopped: the run tests cover it
    ]
    assert len(scheduled) == 4
    for argv in scheduled:
        assert argv[0] == "-q", argv
        result = invoke(localise(argv, office))
        assert result.output == "", f"{argv}: a good run under -q prints nothing"
    assert (office / "site" / "index.html").is_file()
    reports = sorted((office / "laporan").glob("laporan-*.html"))
    assert len(reports) == 1 and re.fullmatch(r"laporan-\d{4}-\d{2}\.html", reports[0].name)


def test_the_cron_line_runs_in_crons_environment(office: Path, tmp_path: Path) -> None:
    """The run line, word for word but for its paths, through /bin/sh with cron's few variables."""
    (_, command), _report = cron_lines(SCHEDULING)
    secrets = tmp_path / "etc" / "syndicator.env"
    secrets.parent.mkdir()
    secrets.write_text("SYNDICATOR_WEBHOOK_SECRET=bukan-rahasia-sungguhan\n", encoding="utf-8")
    line = (
        command.replace(f"{INSTALL}/.venv/bin/syndicator", console_script())
        .replace(DATA, str(office))
        .replace(SECRETS, str(secrets.parent))
    )
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "SHELL": "/bin/sh", "LOGNAME": "syndicator"}
    for _ in range(2):  # the second run finds nothing new: silent too
        done = subprocess.run(
            ["/bin/sh", "-c", line],
            env=env,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert (done.returncode, done.stdout, done.stderr) == (0, "", "")
    assert (office / "site" / "index.html").is_file()


# -- the quick start, followed ----------------------------------------------------------------------


def test_following_the_quick_start(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every syndicator command of sections 4 to 9, in order, in a fresh /srv/siaran-pers, with
    the release file the guide shows: from nothing to a published release and a report."""
    text = QUICKSTART.read_text(encoding="utf-8")
    (release,) = blocks(QUICKSTART, "markdown")
    release_path = re.search(r"Contoh\s+`(releases/[^`]+\.md)`", text)
    assert release_path, "the guide names the file of its example release"
    srv = tmp_path / "srv"
    srv.mkdir()
    monkeypatch.chdir(srv)
    for name in list(os.environ):
        if name.startswith("SYNDICATOR_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("SYNDICATOR_WEBHOOK_SECRET", "bukan-rahasia-sungguhan")
    start = text.index("## 4. ")
    end = text.index("## 10. ")
    ran: list[str] = []
    for block in _FENCE.finditer(text[start:end]):
        if block.group(1) != "sh":
            continue
        for line in block.group(2).splitlines():
            for argv in syndicator_argv(line):
                if "--month" in argv:  # the data was received today: report this month
                    argv[argv.index("--month") + 1] = "this"
                result = invoke(argv)
                ran.append(" ".join(argv[:2]))
                if argv == ["init"]:
                    (srv / release_path.group(1)).write_text(release.text, encoding="utf-8")
                if argv[:1] == ["run"] and "--dry-run" not in argv:
                    assert "published: releases/2026-11-001 -> site" in result.output
    assert ran[:2] == ["init", "config check"] and "approve contoh-siaran-pers" in ran
    listing = invoke(["releases", "list", "--json"]).stdout
    assert listing.count('"state": "published"') == 2  # the example, and the one approved by command
    report = (srv / "laporan-2026-11.html").read_text(encoding="utf-8")
    assert "Pemprov Nusa Harapan Buka Layanan Pengaduan Daring 24 Jam" in report
    assert report.count("<svg") == 3
    assert (
        (srv / "report-2026-11.html")
        .read_text(encoding="utf-8")
        .startswith('<!DOCTYPE html>\n<html lang="en">')
    )
    assert (srv / "laporan-2026-11.csv").read_text(encoding="utf-8").startswith("month,release,")
    assert list((srv / "laporan").glob("laporan-*.html"))


def test_the_quick_starts_sample_output(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Section 7 shows what `run` prints for the example release beside the starter's sample."""
    text = QUICKSTART.read_text(encoding="utf-8")
    (release,) = blocks(QUICKSTART, "markdown")
    shown = next(b.text for b in blocks(QUICKSTART, "") if b.text.startswith("published:"))
    monkeypatch.chdir(tmp_path)
    invoke(["init"])
    name = re.search(r"Contoh\s+`(releases/[^`]+\.md)`", text)
    assert name
    (tmp_path / name.group(1)).write_text(release.text, encoding="utf-8")
    printed = invoke(["run"]).stdout

    def mask(s: str) -> str:
        return re.sub(r"-[0-9a-f]{6}\.html", "-XXXXXX.html", s)

    assert mask(printed) == mask(shown)


# -- shell completion ------------------------------------------------------------------------------------


def test_completion_scripts_are_generated_as_documented(tmp_path: Path) -> None:
    lines = [
        line
        for b in blocks(COMPLETION, "sh")
        for line in b.text.splitlines()
        if line.startswith("_SYNDICATOR_COMPLETE=") and "~/" in line
    ]
    assert [line.split("=", 1)[1].split()[0] for line in lines] == [
        "bash_source",
        "zsh_source",
        "fish_source",
    ]
    (tmp_path / ".config" / "fish" / "completions").mkdir(parents=True)
    env = {"PATH": f"{os.path.dirname(console_script())}:/usr/bin:/bin", "HOME": str(tmp_path)}
    for line in lines:
        done = subprocess.run(
            ["/bin/sh", "-c", line], env=env, capture_output=True, text=True, timeout=60, check=False
        )
        assert (done.returncode, done.stderr) == (0, "")
    bash = (tmp_path / ".syndicator-complete.bash").read_text(encoding="utf-8")
    assert "_SYNDICATOR_COMPLETE=bash_complete" in bash and "complete -o nosort -F" in bash
    assert "compdef _syndicator_completion syndicator" in (tmp_path / ".syndicator-complete.zsh").read_text(
        encoding="utf-8"
    )
    fish = (tmp_path / ".config" / "fish" / "completions" / "syndicator.fish").read_text(encoding="utf-8")
    assert "complete --no-files --command syndicator" in fish


@pytest.mark.skipif(not shutil.which("bash"), reason="no bash")
def test_bash_completes_commands_and_choices(tmp_path: Path) -> None:
    script = subprocess.run(
        [console_script()],
        env={**os.environ, "_SYNDICATOR_COMPLETE": "bash_source"},
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout
    (tmp_path / "complete.bash").write_text(script, encoding="utf-8")

    def complete(*words: str) -> list[str]:
        program = (
            f". {shlex.quote(str(tmp_path / 'complete.bash'))}\n"
            f"COMP_WORDS=({' '.join(shlex.quote(w) for w in words)}); COMP_CWORD={len(words) - 1}\n"
            "_syndicator_completion syndicator\n"
            'printf "%s\\n" "${COMPREPLY[@]}"\n'
        )
        env = {"PATH": f"{os.path.dirname(console_script())}:/usr/bin:/bin", "HOME": str(tmp_path)}
        done = subprocess.run(["bash", "-c", program], env=env, capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, done.stderr
        return done.stdout.split()

    assert complete("syndicator", "rel") == ["releases"]
    assert complete("syndicator", "releases", "list", "--state", "") == [
        "held",
        "due",
        "retrying",
        "attention",
        "published",
        "retracted",
        "unrouted",
    ]
