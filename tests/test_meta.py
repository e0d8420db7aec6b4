"""Meta-tests, as datasette keeps them: every hook documented (the README's table and a section
of docs/plugins.md) and tested, the guide covering the Channel contract and its errors, every
first-party channel documented in the README with each of its options."""

from __future__ import annotations

import inspect
import re
from pathlib import Path

import pytest

from syndicator import hookspecs
from syndicator.channel import Channel
from syndicator.errors import AuthError, PermanentError, TransientError, UnknownOutcome
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


# -- the plugin guide ------------------------------------------------------------------------------

GUIDE = (ROOT / "docs" / "plugins.md").read_text(encoding="utf-8")


def _guide_section(heading: str) -> str:
    found = re.search(rf"^{re.escape(heading)}\n(.*?)(?=^#{{1,3}} )", GUIDE, re.MULTILINE | re.DOTALL)
    return found.group(1) if found else ""


@pytest.mark.parametrize("name", HOOKS)
def test_every_hook_has_a_section_in_the_plugin_guide(name: str) -> None:
    params = ", ".join(inspect.signature(getattr(hookspecs, name)).parameters)
    heading = f"### {name}({params})"
    section = _guide_section(heading)
    assert section, f"docs/plugins.md needs a section headed '{heading}'"
    for part in ("**When:**", "**Arguments:**", "**Returns:**", "```python"):
        assert part in section, f"docs/plugins.md, {heading}: add {part}"


CHANNEL_METHODS = sorted(
    name
    for name, value in vars(Channel).items()
    if not name.startswith("_") and (callable(value) or isinstance(value, classmethod))
)


def test_the_guide_covers_the_channel_contract() -> None:
    assert {"render", "publish", "find_existing", "update", "delete", "check", "finish", "validate"} <= set(
        CHANNEL_METHODS
    )
    contract = _guide_section("### The Channel contract")
    missing = [m for m in CHANNEL_METHODS if f"`{m}(" not in contract]
    assert not missing, f"docs/plugins.md, The Channel contract: document {missing}"
    for attribute in ("type", "description", "options", "limits", "capabilities", "idempotency"):
        assert f"| `{attribute}` |" in contract, f"docs/plugins.md: the class attribute {attribute}"


def test_the_guide_says_what_the_core_does_with_each_error() -> None:
    errors = _guide_section("### Errors and what the core does with each")
    for cls in (TransientError, PermanentError, AuthError, UnknownOutcome):
        assert f"`{cls.__name__}(" in errors, f"docs/plugins.md: what the core does with {cls.__name__}"
    for state in ("sent", "failed", "dead", "unknown", "pending"):
        assert f"`{state}`" in errors
