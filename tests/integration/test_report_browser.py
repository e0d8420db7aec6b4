"""The monthly HTML report in a real browser: Debian's headless Chromium, run as a command.

The demo (a copy of config/) is published by the real command line in-process, `report`
writes this month's HTML file, and Chromium opens it from file://: it must render the DOM
(--dump-dom), take a screenshot (--screenshot) and print it to an A4 PDF (--print-to-pdf).
Every host name resolves to nothing, so a report that tried to fetch anything would show it
missing. The files are kept in ``tests/artifacts/report/`` (or ``$SYNDICATOR_ARTIFACTS/report``)
for a person to look at.

Skips with a message when Chromium is missing (``.ci/services/chromium-install.sh`` installs
it); under SYNDICATOR_REQUIRE_SERVICES=1 a skip fails.
"""

from __future__ import annotations

import os
import re
import shutil
import struct
import subprocess
import zlib
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from syndicator.cli import build_cli
from syndicator.plugins import get_plugin_manager

pytestmark = pytest.mark.service

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = Path(os.environ.get("SYNDICATOR_CHROMIUM", "/usr/bin/chromium"))
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--host-resolver-rules=MAP * ~NOTFOUND",  # nothing outside this machine, whatever the page asks
]


def cli() -> click.Group:
    group = build_cli(get_plugin_manager())
    if "report" not in group.commands:  # until syndicator/cli/__init__.py registers it
        from syndicator.cli import report

        report.register(group)
    return group


@pytest.fixture(scope="module")
def chromium() -> Path:
    if not CHROMIUM.exists():
        pytest.skip(
            f"no Chromium at {CHROMIUM}: run .ci/services/chromium-install.sh (apt-get install chromium)"
        )
    return CHROMIUM


@pytest.fixture(scope="module")
def artifacts() -> Path:
    base = Path(os.environ.get("SYNDICATOR_ARTIFACTS") or ROOT / "tests" / "artifacts")
    folder = base / "report"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@pytest.fixture(scope="module")
def report_file(tmp_path_factory: pytest.TempPathFactory, artifacts: Path) -> Path:
    """This month's report of the demo, published by the real command line."""
    folder = tmp_path_factory.mktemp("demo") / "config"
    shutil.copytree(ROOT / "config", folder, ignore=shutil.ignore_patterns("site", "state"))
    config = str(folder / "demo.toml")
    run = CliRunner().invoke(cli(), ["--config", config, "run"])
    assert run.exit_code == 0, run.output
    target = folder / "laporan.html"
    made = CliRunner().invoke(cli(), ["--config", config, "report", "--month", "this", "-o", str(target)])
    assert made.exit_code == 0, made.output
    shutil.copyfile(target, artifacts / "report.html")
    return target


def chrome(binary: Path, profile: Path, *args: str) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        [str(binary), *FLAGS, f"--user-data-dir={profile}", *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, f"chromium exited {result.returncode}:\n{result.stderr[-2000:]}"
    return result


def png_pixels(data: bytes) -> tuple[int, int, bytes]:
    """Width, height and the decompressed scanlines of a PNG (no image library needed)."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    pos, width, height, idat = 8, 0, 0, b""
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        kind, body = data[pos + 4 : pos + 8], data[pos + 8 : pos + 8 + length]
        if kind == b"IHDR":
            width, height = struct.unpack(">II", body[:8])
        elif kind == b"IDAT":
            idat += body
        pos += 12 + length
    return width, height, zlib.decompress(idat)


def test_chromium_renders_the_report(chromium: Path, report_file: Path, tmp_path: Path) -> None:
    dom = chrome(chromium, tmp_path / "profile", "--dump-dom", report_file.as_uri()).stdout
    assert "Laporan Bulanan Publikasi Siaran Pers" in dom
    assert dom.count("<svg") == 3 and "Gambar 3." in dom


def test_chromium_takes_a_screenshot(
    chromium: Path, report_file: Path, tmp_path: Path, artifacts: Path
) -> None:
    shot = tmp_path / "report.png"
    chrome(
        chromium,
        tmp_path / "profile",
        "--hide-scrollbars",
        "--window-size=1024,1600",
        f"--screenshot={shot}",
        report_file.as_uri(),
    )
    data = shot.read_bytes()
    width, height, pixels = png_pixels(data)
    assert (width, height) == (1024, 1600)
    assert len(data) > 20_000
    assert len(set(pixels)) > 32, "the screenshot is (nearly) blank"
    shutil.copyfile(shot, artifacts / "report.png")


def test_chromium_prints_it_on_a4(chromium: Path, report_file: Path, tmp_path: Path, artifacts: Path) -> None:
    pdf = tmp_path / "report.pdf"
    chrome(
        chromium,
        tmp_path / "profile",
        "--no-pdf-header-footer",
        f"--print-to-pdf={pdf}",
        report_file.as_uri(),
    )
    data = pdf.read_bytes()
    assert data.startswith(b"%PDF-") and len(data) > 20_000
    boxes = re.findall(rb"/MediaBox\s*\[\s*0 0 ([\d.]+) ([\d.]+)\s*\]", data)
    assert len(boxes) >= 2, "a month's report fills more than one page"
    for w, h in boxes:  # A4: 210 x 297 mm = 595.3 x 841.9 pt
        assert abs(float(w) - 595.3) < 2 and abs(float(h) - 841.9) < 2, (w, h)
    shutil.copyfile(pdf, artifacts / "report.pdf")
