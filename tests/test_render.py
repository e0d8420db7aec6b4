"""The shared text toolkit: platform counting rules, truncation, threads, hashtags, templates."""

from __future__ import annotations

import random
import re
import unicodedata
from datetime import UTC, datetime

import pytest

from syndicator.channel import Limits
from syndicator.errors import PermanentError
from syndicator.models import Release
from syndicator.render import (
    DEFAULT_TEMPLATES,
    URL_RE,
    count,
    fit_summary,
    fits,
    graphemes,
    hashtags,
    render_template,
    split_thread,
    template_for,
    truncate,
)

X = Limits(max_length=280, counting="weighted")
BLUESKY = Limits(max_length=300, counting="graphemes")
MASTODON = Limits(max_length=500, counting="graphemes", url_length=23)
TELEGRAM = Limits(max_length=4096, counting="utf16")
DISCORD = Limits(max_length=2000, counting="chars")

FAMILY = "\U0001f468\u200d\U0001f469\u200d\U0001f467\u200d\U0001f466"  # man, woman, girl, boy
FLAG_ID = "\U0001f1ee\U0001f1e9"
THUMB_MEDIUM = "\U0001f44d\U0001f3fd"
RAINBOW_FLAG = "\U0001f3f3\ufe0f\u200d\U0001f308"
KEYCAP_ONE = "1\ufe0f\u20e3"
E_ACUTE_DECOMPOSED = "e\u0301"

PARAGRAPHS = [
    "Pemerintah Kota Makassar melalui Dinas Kesehatan membuka layanan imunisasi campak serentak "
    "di seluruh puskesmas mulai Senin, 23 November 2026. Layanan ini gratis bagi anak usia sembilan "
    "bulan sampai lima belas tahun.",
    "Kepala Dinas Kesehatan mengatakan cakupan imunisasi tahun lalu belum mencapai target nasional. "
    "Karena itu, petugas juga akan mendatangi sekolah dasar dan posyandu di setiap kelurahan. "
    "Orang tua diminta membawa buku Kesehatan Ibu dan Anak (KIA) saat datang ke puskesmas.",
    "Informasi lengkap tentang jadwal dan lokasi tersedia di https://dinkes.makassarkota.go.id/"
    "jadwal-imunisasi-campak-2026?utm_source=siaran-pers&utm_medium=sosial (daftar diperbarui setiap "
    "hari). Masyarakat dapat menghubungi layanan pengaduan di nomor 112.",
    "Kegiatan ini merupakan bagian dari Bulan Imunisasi Anak Nasional yang dicanangkan oleh "
    "Kementerian Kesehatan. Pemerintah berharap seluruh anak di Makassar terlindungi dari campak dan "
    "rubela sebelum akhir tahun.",
]
BODY_ID = "\n\n".join(PARAGRAPHS)


def strip_marker(part: str) -> str:
    return re.sub(r" \d+/\d+$", "", part)


# --- counting -----------------------------------------------------------------------------


def test_x_weighted_latin_cjk_emoji() -> None:
    assert count("Hello, Makassar!", X) == 16
    assert count("東京", X) == 4  # CJK weighs 2
    assert count("😀", X) == 2
    assert count(FAMILY, X) == 2  # a whole ZWJ sequence is one emoji
    assert count(FLAG_ID + THUMB_MEDIUM + KEYCAP_ONE, X) == 6
    assert count("—", X) == 1  # U+2014 is in a weight-1 range
    assert count(E_ACUTE_DECOMPOSED, X) == 1  # X counts after NFC
    assert count("مرحبا", X) == 5  # Arabic is below U+10FF
    assert fits("a" * 280, X) and not fits("a" * 281, X)
    assert fits("語" * 140, X) and not fits("語" * 141, X)


def test_x_every_url_counts_23_whatever_its_length() -> None:
    short, long = "https://t.co/x", "https://example.go.id/" + "siaran-pers/" * 30
    assert count(short, X) == count(long, X) == 23
    assert count(f"Baca {long} sekarang", X) == 5 + 23 + 9
    text = "a" * (280 - 24) + " " + long
    assert fits(text, X) and not fits("a" + text, X)


def test_bluesky_graphemes() -> None:
    assert graphemes(FAMILY) == [FAMILY]
    assert graphemes(FLAG_ID + "\U0001f1ef\U0001f1f5") == [FLAG_ID, "\U0001f1ef\U0001f1f5"]
    assert graphemes("Cafe\u0301 ok") == ["C", "a", "f", "e\u0301", " ", "o", "k"]
    assert graphemes(RAINBOW_FLAG + THUMB_MEDIUM + KEYCAP_ONE) == [RAINBOW_FLAG, THUMB_MEDIUM, KEYCAP_ONE]
    assert graphemes("a\r\nb") == ["a", "\r\n", "b"]
    assert graphemes("\n\u0301") == ["\n", "\u0301"]  # a control is never extended
    assert count(FAMILY * 300, BLUESKY) == 300
    assert fits(FAMILY * 300, BLUESKY) and not fits(FAMILY * 301, BLUESKY)
    assert count("Ñandú" + E_ACUTE_DECOMPOSED, BLUESKY) == 6
    assert count("नमस्ते", BLUESKY) == 4  # Devanagari vowel signs and virama attach


def test_other_rules_and_url_length() -> None:
    assert count("😀a", TELEGRAM) == 3  # astral code points take two UTF-16 units
    assert count("😀a", DISCORD) == 2
    assert count("é😀", Limits(counting="bytes")) == 6
    link = "https://example.com/" + "x" * 100
    assert count(f"Lihat {link}", MASTODON) == 6 + 23
    assert count(f"Lihat {link}", BLUESKY) == 6 + len(link)  # Bluesky counts URLs in full
    assert fits("x" * 10_000, Limits())
    with pytest.raises(ValueError, match="graphemes"):
        count("x", Limits(counting="words"))


@pytest.mark.parametrize(
    ("text", "urls"),
    [
        ("Lihat https://a.id/rilis.", ["https://a.id/rilis"]),
        ("(lihat https://a.id/rilis)", ["https://a.id/rilis"]),
        (
            "Wiki: https://en.wikipedia.org/wiki/Makassar_(kota)!",
            ["https://en.wikipedia.org/wiki/Makassar_(kota)"],
        ),
        ("https://a.id/x?q=1&r=2, dan http://b.id/y;", ["https://a.id/x?q=1&r=2", "http://b.id/y"]),
        ("Tanya? https://a.id/faq?", ["https://a.id/faq"]),
        ("詳細はhttps://a.jp/記事。次へ", ["https://a.jp/記事"]),  # CJK needs no space before it
        ("xhttps://a.id/y", []),
        ("nothing here: https:// or ftp://a.b", []),
    ],
)
def test_url_re_leaves_trailing_punctuation_out(text: str, urls: list[str]) -> None:
    assert [m.group() for m in URL_RE.finditer(text)] == urls


# --- truncate -----------------------------------------------------------------------------


def test_truncate_returns_fitting_text_unchanged() -> None:
    assert truncate("Siaran pers singkat.", X) == "Siaran pers singkat."
    assert truncate("x" * 5000, Limits()) == "x" * 5000


def test_truncate_cuts_at_a_word_boundary() -> None:
    text = " ".join(PARAGRAPHS)
    out = truncate(text, X)
    assert fits(out, X) and out.endswith("…")
    assert text.startswith(out[:-1]) and text[len(out) - 1] == " "
    assert not fits(text[: text.index(" ", len(out))] + "…", X)  # the next word would not fit


def test_truncate_one_giant_word_is_cut_at_a_grapheme() -> None:
    limits = Limits(max_length=50, counting="graphemes")
    out = truncate(FAMILY * 200, limits)
    assert out == FAMILY * 49 + "…"
    out = truncate("Catatan: " + "a" * 500, limits)
    assert out == "Catatan: " + "a" * 40 + "…"  # fills the room rather than stop at "Catatan:"
    out = truncate("東京都は本日新しい防災計画を発表しました" * 20, X)
    assert fits(out, X) and count(out, X) >= 278


def test_truncate_never_cuts_a_url() -> None:
    link = "https://example.go.id/" + "a" * 80
    text = f"Baca {link} lalu bagikan."
    limits = Limits(max_length=40, counting="chars")
    assert truncate(text, limits) == "Baca…"
    assert truncate(link + " lagi", limits) == "…"  # dropped whole, not cut
    out = truncate(f"Baca {link} lalu bagikan kepada semua orang.", Limits(max_length=40, url_length=23))
    assert out == f"Baca {link} lalu…"
    assert (
        truncate(f"Rilis {link} " + "kata " * 20, Limits(max_length=33, url_length=23)) == f"Rilis {link} …"
    )


def test_truncate_right_to_left_arabic() -> None:
    text = "أعلنت وزارة الصحة اليوم عن حملة تطعيم وطنية ضد الحصبة في جميع المدارس الابتدائية."
    limits = Limits(max_length=30, counting="graphemes")
    out = truncate(text, limits)
    assert fits(out, limits) and out.endswith("…")
    assert text.startswith(out[:-1]) and text[len(out) - 1] == " "
    vowelled = "بِسْمِ اللَّهِ الرَّحْمَنِ الرَّحِيمِ " * 5
    out = truncate(vowelled, Limits(max_length=20, counting="graphemes"))
    assert vowelled.startswith(out[:-1]) and not unicodedata.category(vowelled[len(out) - 1]).startswith("M")


# --- threads ------------------------------------------------------------------------------


@pytest.mark.parametrize("limits", [X, BLUESKY, MASTODON, Limits(max_length=200, counting="bytes")])
def test_indonesian_release_becomes_a_numbered_thread(limits: Limits) -> None:
    parts = split_thread(BODY_ID, limits)
    assert len(parts) >= 2
    assert all(fits(p, limits) for p in parts)
    assert [p.rsplit(" ", 1)[1] for p in parts] == [f"{i}/{len(parts)}" for i in range(1, len(parts) + 1)]
    assert " ".join(strip_marker(p) for p in parts).split() == BODY_ID.split()
    url = URL_RE.search(BODY_ID)
    assert url and any(url.group() in p for p in parts)


def test_thread_prefers_paragraph_then_sentence_boundaries() -> None:
    parts = split_thread(BODY_ID, Limits(max_length=330, counting="chars"))
    assert strip_marker(parts[0]) == PARAGRAPHS[0]
    assert all(strip_marker(p).endswith((".", ")", "2026.")) for p in parts)


def test_thread_link_first_or_last_and_short_text() -> None:
    link = "https://dinkes.makassarkota.go.id/rilis/2026-11-001"
    first = split_thread(BODY_ID, X, link=link)
    assert first[0].endswith(f"\n\n{link} 1/{len(first)}") and all(link not in p for p in first[1:])
    last = split_thread(BODY_ID, X, link=link, link_in="last")
    assert last[-1].endswith(f"{link} {len(last)}/{len(last)}") and all(link not in p for p in last[:-1])
    assert all(fits(p, X) for p in first + last)
    assert split_thread("Rilis singkat.", X, link=link) == [f"Rilis singkat.\n\n{link}"]
    assert split_thread("  ", X) == [] and split_thread("", X, link=link) == [link]
    opening = "https://example.go.id/" + "a" * 30  # cannot share the first part with the link
    parts = split_thread(f"{opening} lalu teks", Limits(max_length=60, counting="chars"), link=link)
    assert parts == [f"{link} 1/3", f"{opening} 2/3", "lalu teks 3/3"]
    with pytest.raises(ValueError):
        split_thread(BODY_ID, X, link_in="middle")


def test_thread_without_numbering_and_with_many_parts() -> None:
    parts = split_thread(BODY_ID, BLUESKY, numbering=False)
    assert " ".join(parts).split() == BODY_ID.split() and all(fits(p, BLUESKY) for p in parts)
    tiny = Limits(max_length=40, counting="chars", url_length=23)
    parts = split_thread(BODY_ID, tiny)
    assert len(parts) >= 10 and parts[-1].endswith(f" {len(parts)}/{len(parts)}")
    assert all(fits(p, tiny) for p in parts)


def test_thread_never_cuts_a_url() -> None:
    link = "https://example.go.id/" + "jadwal/" * 10
    text = ("Jadwal lengkap ada di " + link + " ya. ") * 8
    for limits in (Limits(max_length=100, counting="chars"), Limits(max_length=60, url_length=23)):
        parts = split_thread(text, limits)
        assert all(fits(p, limits) for p in parts)
        assert sum(p.count(link) for p in parts) == 8
    with pytest.raises(PermanentError, match="never cut"):
        split_thread(text, Limits(max_length=50, counting="chars"))


def test_thread_right_to_left_arabic() -> None:
    text = " ".join(["أعلنت وزارة الصحة اليوم عن حملة تطعيم وطنية ضد الحصبة في جميع المدارس."] * 12)
    parts = split_thread(text, X)
    assert len(parts) > 1 and all(fits(p, X) for p in parts)
    assert " ".join(strip_marker(p) for p in parts).split() == text.split()


def test_cjk_thread_without_spaces_cuts_at_sentence_ends() -> None:
    text = "東京都は本日、新しい防災計画を発表しました。" * 30
    parts = split_thread(text, X)
    assert all(fits(p, X) for p in parts)
    assert all(strip_marker(p).endswith("。") for p in parts)
    assert "".join(strip_marker(p) for p in parts) == text


# --- fit_summary --------------------------------------------------------------------------

LINK = "https://dinkes.makassarkota.go.id/rilis/" + "imunisasi-campak-serentak-2026" * 3


def test_fit_summary_keeps_everything_when_it_fits() -> None:
    out = fit_summary("Imunisasi Campak", "Layanan gratis.", LINK, X, hashtags=["#Makassar", "#Imunisasi"])
    assert out == f"Imunisasi Campak\n\nLayanan gratis.\n\n#Makassar #Imunisasi\n\n{LINK}"


def test_fit_summary_truncates_summary_then_drops_hashtags_then_summary() -> None:
    summary = " ".join(PARAGRAPHS)
    out = fit_summary("Imunisasi Campak Serentak", summary, LINK, X, hashtags=["#Makassar"])
    assert fits(out, X) and out.endswith(f"#Makassar\n\n{LINK}") and "…" in out
    many = [f"#Tagar{i}" for i in range(30)]
    out = fit_summary("Imunisasi Campak Serentak", summary, LINK, X, hashtags=many)
    assert fits(out, X) and "#Tagar29" not in out and out.endswith(LINK)
    assert count(out.split("\n\n")[1], X) >= 280 // 3  # the summary kept a useful length
    title = "Imunisasi Campak " * 10
    out = fit_summary(title, summary, LINK, Limits(max_length=200, url_length=23))
    assert out == f"{title.strip()}\n\n{LINK}"


def test_fit_summary_truncates_title_and_keeps_link_whole() -> None:
    title = "Pengumuman " * 40
    out = fit_summary(title, "Ringkasan.", LINK, X, hashtags=["#A"])
    assert fits(out, X) and out.endswith(f"…\n\n{LINK}") and out.startswith("Pengumuman")
    assert fit_summary(title, "", LINK, Limits(max_length=25, url_length=23)) == LINK
    with pytest.raises(PermanentError, match="link"):
        fit_summary("Judul", "", LINK, Limits(max_length=50, counting="chars"))


# --- hashtags and templates ---------------------------------------------------------------


def test_hashtags() -> None:
    tags = ["kesehatan ibu", "Kesehatan Ibu", "", "  ", "#imunisasi", "COVID-19", "2026", "Sulawesi-Selatan"]
    assert hashtags(tags) == ["#KesehatanIbu", "#Imunisasi", "#COVID19", "#SulawesiSelatan"]
    assert hashtags(["ข่าว ดี", "صحة الأم", "café crème"]) == ["#ข่าวดี", "#صحةالأم", "#CaféCrème"]


RELEASE = Release(
    source="dinkes",
    id="2026-11-001",
    title="Imunisasi Campak Serentak",
    summary="Layanan gratis di seluruh puskesmas.",
    url="https://dinkes.makassarkota.go.id/rilis/2026-11-001",
    published=datetime(2026, 11, 20, 9, 0, tzinfo=UTC),
    agency="Dinas Kesehatan Kota Makassar",
    tags=("kesehatan anak", "imunisasi"),
)


def test_render_template_fields_and_defaults() -> None:
    out = render_template(template_for("id-ID", "long"), RELEASE)
    assert out == (
        "Imunisasi Campak Serentak\n\nLayanan gratis di seluruh puskesmas.\n\n"
        "Siaran pers Dinas Kesehatan Kota Makassar\nhttps://dinkes.makassarkota.go.id/rilis/2026-11-001"
        "\n\n#KesehatanAnak #Imunisasi"
    )
    out = render_template("[{id}] {date} {title:.9} {{literal}} {channel}", RELEASE, extra={"channel": "X"})
    assert out == "[2026-11-001] 2026-11-20 Imunisasi {literal} X"
    no_summary = RELEASE.with_changes(summary="", tags=())
    assert (
        render_template(DEFAULT_TEMPLATES["en"]["short"], no_summary) == f"{RELEASE.title}\n\n{RELEASE.url}"
    )
    assert template_for("fr") == DEFAULT_TEMPLATES["en"]["short"]
    assert "Press release from" in template_for("en-GB", "long")
    with pytest.raises(ValueError, match="long"):
        template_for("id", "medium")


@pytest.mark.parametrize(
    ("template", "named"),
    [
        ("{title} {judul}", "{judul}"),
        ("{title.__class__}", "{title.__class__}"),
        ("{summary[0]}", "{summary[0]}"),
        ("{} {title}", "positional"),
        ("{0}", "positional"),
        ("{title:{width}}", "{title}"),
        ("{title!z}", "{title}"),
        ("{title:d}", "{title}"),
        ("{title", "malformed"),
    ],
)
def test_render_template_errors_name_the_field(template: str, named: str) -> None:
    with pytest.raises(PermanentError) as info:
        render_template(template, RELEASE)
    message = str(info.value)
    assert named in message
    assert "{agency}, {date}, {hashtags}, {id}, {summary}, {title}, {url}" in message


# --- property-style checks over random text -----------------------------------------------

WORDS = ["kata", "Makassar", "imunisasi", "anak.", "sehat,", "(KIA)", "2026", "東京", "発表しました。"]
WORDS += ["مرحبا", "الصحة", "Ñandú", "नमस्ते", "sangatpanjangsekalikatanya" * 3]
EMOJI_AND_MARKS = [FAMILY, FLAG_ID, THUMB_MEDIUM, RAINBOW_FLAG, KEYCAP_ONE, "a\u0301\u0302\u0303"]
URLS = ["https://a.id/x", "https://example.go.id/rilis/2026?id=7", "http://w.org/Foo_(bar)"]
PIECES = WORDS + EMOJI_AND_MARKS + URLS + [E_ACUTE_DECOMPOSED + "t"]
SEPARATORS = [" ", " ", " ", "\n", "\n\n", "  ", ". ", "\t"]
RULES = [
    Limits(max_length=280, counting="weighted"),
    Limits(max_length=300, counting="graphemes"),
    Limits(max_length=500, counting="graphemes", url_length=23),
    Limits(max_length=120, counting="utf16"),
    Limits(max_length=90, counting="chars"),
    Limits(max_length=150, counting="bytes"),
    Limits(max_length=45, counting="graphemes", url_length=23),
]


def random_text(rng: random.Random) -> str:
    return "".join(rng.choice(PIECES) + rng.choice(SEPARATORS) for _ in range(rng.randint(0, 160)))


def test_random_texts_every_part_fits_and_nothing_is_lost() -> None:
    rng = random.Random(20261120)
    for _ in range(250):
        text, limits = random_text(rng), rng.choice(RULES)
        link = rng.choice(["", "https://pemkot.go.id/r/1"])
        parts = split_thread(
            text, limits, numbering=rng.random() < 0.7, link=link, link_in=rng.choice(["first", "last"])
        )
        assert all(fits(p, limits) for p in parts), (text, limits)
        joined = "".join(strip_marker(p) for p in parts)
        if link:
            assert joined.count(link) == 1
            joined = joined.replace(link, "")
        assert re.sub(r"\s", "", joined) == re.sub(r"\s", "", text), (text, limits)
        for m in URL_RE.finditer(text):
            assert any(m.group() in p for p in parts)
        cut = truncate(text, limits)
        assert fits(cut, limits)
        if cut != text:
            kept = cut.removesuffix("…").rstrip()
            assert text.startswith(kept)
            assert graphemes(text)[: len(graphemes(kept))] == graphemes(kept)  # no cluster cut
        tags = hashtags(["kesehatan ibu", "imunisasi"])
        assert fits(fit_summary(text[:60], text, link, limits, hashtags=tags), limits)
