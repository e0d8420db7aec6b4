"""Meta-tests, as datasette keeps them: every hook documented and tested, every first-party
channel documented in the README with each of its options."""

from __future__ import annotations

import inspect
import re
from pathlib import Path

import pytest

from syndicator import hookspecs
from syndicator.plugins import channel_types, get_plugin_manager

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")
HOOKS = sorted(
    name for name, fn in inspect.getmembers(hookspecs, inspect.isfunction) if hasattr(fn, "syndicator_spec")
)
TEST_SOURCES = "\n".join(
    p.read_text(encoding="utf-8")
    for folder in (ROOT / "tests", ROOT / "plugins" / "tests")
    for p in folder.glob("test_*.py")
    if p.name != "test_meta.py"
)


def test_the_hooks_are_the_ones_the_design_names() -> None:
    assert (
        sorted(
            [
                "approve_release",
                "delivery_recorded",
                "register_channels",
                "register_commands",
                "register_sources",
                "release_collected",
            ]
        )
        == HOOKS
    )


@pytest.mark.parametrize("name", HOOKS)
def test_every_hook_says_when_it_is_called_and_what_it_returns(name: str) -> None:
    doc = inspect.getdoc(getattr(hookspecs, name)) or ""
    assert "Called" in doc, f"{name}: say when it is called"
    assert ":returns:" in doc, f"{name}: say what it returns"
    for param in inspect.signature(getattr(hookspecs, name)).parameters:
        assert f":param {param}:" in doc, f"{name}: document parameter {param}"


@pytest.mark.parametrize("name", HOOKS)
def test_every_hook_is_in_the_readme(name: str) -> None:
    assert f"`{name}(" in README, f"add {name} to the README's hook table"


@pytest.mark.parametrize("name", HOOKS)
def test_every_hook_has_a_test_that_implements_or_calls_it(name: str) -> None:
    assert re.search(rf"\b{name}\b", TEST_SOURCES), f"no test mentions the {name} hook"


FIRST_PARTY = {
    name: reg.cls
    for name, reg in channel_types(get_plugin_manager()).items()
    if reg.cls.__module__.startswith("syndicator_channels.")
}


def test_first_party_channels_are_loaded_through_entry_points() -> None:
    assert {"website", "webhook"} <= set(FIRST_PARTY)


@pytest.mark.parametrize("name", sorted(FIRST_PARTY))
def test_every_first_party_channel_and_option_is_in_the_readme(name: str) -> None:
    heading = re.search(rf"^### `{re.escape(name)}`.*?(?=^### |^## )", README, re.MULTILINE | re.DOTALL)
    assert heading, f"the README has no '### `{name}`' section"
    for option in FIRST_PARTY[name].options:
        assert f"`{option.name}`" in heading.group(0), f"{name}: option {option.name} is not in the README"
