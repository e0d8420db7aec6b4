"""Property tests (hypothesis) for the text tools every channel relies on: whatever the text,
every part fits, no word is lost, order is kept, and no URL or grapheme is ever cut."""

from __future__ import annotations

import re

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from syndicator.channel import Limits
from syndicator.errors import PermanentError
from syndicator.render import URL_RE, fits, graphemes, split_thread, truncate

WORDS = st.sampled_from(
    [
        "Pemerintah",
        "Provinsi",
        "Nusa",
        "Harapan",
        "menyampaikan",
        "informasi",
        "banjir",
        "🌊",
        "👩‍👩‍👧",
        "🇮🇩",
        "東京",
        "새해",
        "مرحبا",
        "naïve",
        "e\u0301",
        "Rp2,45",
        "75,7%",
        "(BPBD)",
        "—",
        "a" * 30,
        "https://ppid.example.go.id/siaran-pers/2026/11/siaga-banjir-sungai-lawe-harapan?utm=x",
    ]
)
TEXTS = st.lists(WORDS, min_size=1, max_size=200).map(" ".join)
LIMITS = st.sampled_from(
    [
        Limits(max_length=280, counting="weighted", url_length=23),
        Limits(max_length=300, counting="graphemes"),
        Limits(max_length=500, counting="graphemes", url_length=23),
        Limits(max_length=4096, counting="utf16"),
        Limits(max_length=1024, counting="utf16"),
        Limits(max_length=2000, counting="chars"),
    ]
)
MARKER = re.compile(r"\s\d+/\d+$")
SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def words_of(text: str) -> list[str]:
    return text.split()


@SETTINGS
@given(text=TEXTS, limits=LIMITS)
def test_every_part_of_a_thread_fits_and_no_word_is_lost_or_reordered(text: str, limits: Limits) -> None:
    try:
        parts = split_thread(text, limits, numbering=True)
    except PermanentError:
        return  # a URL or a grapheme longer than the limit itself: refused, never cut
    assert all(fits(p, limits) for p in parts)
    rejoined = [w for p in parts for w in words_of(MARKER.sub("", p) if len(parts) > 1 else p)]
    assert rejoined == words_of(text)


@SETTINGS
@given(text=TEXTS, limits=LIMITS)
def test_urls_in_a_thread_arrive_whole(text: str, limits: Limits) -> None:
    try:
        parts = split_thread(text, limits, numbering=True)
    except PermanentError:
        return
    wanted = URL_RE.findall(text)
    found = [u for p in parts for u in URL_RE.findall(p)]
    assert found == wanted


@SETTINGS
@given(text=TEXTS, limits=LIMITS)
def test_truncation_fits_and_is_a_prefix_cut_between_graphemes(text: str, limits: Limits) -> None:
    short = truncate(text, limits)
    assert fits(short, limits)
    body = short[:-1] if short.endswith("…") and short != text else short
    assert text.startswith(body.rstrip())
    kept = "".join(graphemes(body.rstrip()))
    assert graphemes(text)[: len(graphemes(kept))] == graphemes(kept)
    for url in URL_RE.findall(short):
        assert url in URL_RE.findall(text)


@pytest.mark.parametrize("limit", [50, 280])
def test_a_known_indonesian_release_splits_into_numbered_parts(limit: int) -> None:
    text = ("Pemerintah Provinsi Nusa Harapan menyampaikan informasi tentang siaga banjir. " * 20).strip()
    parts = split_thread(text, Limits(max_length=limit, counting="weighted", url_length=23))
    assert len(parts) > 1 and parts[-1].endswith(f"{len(parts)}/{len(parts)}")
