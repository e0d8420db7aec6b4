"""Project-wide pytest set-up.

Under ``SYNDICATOR_REQUIRE_SERVICES=1`` (set by ``.ci/run``) a test marked ``service``
that skips, because a system service or the shared corpus is missing, fails instead: in
CI those are installed, so a skip there would hide a broken set-up.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

pytest_plugins = ["syndicator.testing"]


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    outcome = yield
    report = outcome.get_result()
    if (
        report.skipped
        and os.environ.get("SYNDICATOR_REQUIRE_SERVICES") == "1"
        and item.get_closest_marker("service") is not None
    ):
        report.outcome = "failed"
        report.longrepr = f"skipped, but SYNDICATOR_REQUIRE_SERVICES=1 requires it: {report.longrepr}"
