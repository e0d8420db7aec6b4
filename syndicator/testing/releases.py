"""Release builders of the test kit: :func:`make_release`, :class:`ReleaseFactory` and
:func:`hard_releases`, the releases that break naive channels (with their text).

PYTEST_DONT_REWRITE: ``pytest_plugins = ["syndicator.testing"]`` marks the whole package for
assertion rewriting; the marker keeps this module as the single-file kit was, unrewritten.
"""

from __future__ import annotations

import html
import itertools
from collections.abc import Sequence
from datetime import datetime, timedelta, timezone
from typing import Any

from ..models import Media, Release

# -- releases ----------------------------------------------------------------------------------

#: The source name of every release the kit builds (a release key is ``kit/<id>``).
KIT_SOURCE = "kit"
_WIB = timezone(timedelta(hours=7), "WIB")
_PUBLISHED = datetime(2026, 3, 2, 9, 0, tzinfo=_WIB)
_SITE = "https://ppid.example.go.id"


def _html(paragraphs: Sequence[str]) -> str:
    return "".join(f"<p>{html.escape(p, quote=False)}</p>" for p in paragraphs)


def _with_body(fields: dict[str, Any], paragraphs: Sequence[str]) -> dict[str, Any]:
    fields.setdefault("body_text", "\n\n".join(paragraphs))
    fields.setdefault("body_html", _html(paragraphs))
    return fields


def make_release(**changes: Any) -> Release:
    """A complete, ordinary release (every field filled, nothing hard); ``changes`` override fields.

    ``body`` (a list of paragraphs) sets ``body_text`` and ``body_html`` together.
    """
    body = changes.pop("body", None)
    release_id = changes.get("id", "2026-03-001")
    fields: dict[str, Any] = {
        "source": KIT_SOURCE,
        "id": release_id,
        "title": "Pemprov Resmikan Jembatan Gantung Desa Sukamaju",
        "summary": "Jembatan sepanjang 120 meter menghubungkan dua dusun yang selama ini terpisah sungai.",
        "url": f"{_SITE}/siaran-pers/{release_id}",
        "published": _PUBLISHED,
        "agency": "Dinas Pekerjaan Umum",
        "author": "Humas Dinas PU",
        "tags": ("infrastruktur", "desa"),
        "language": "id",
        "images": (
            Media(
                f"{_SITE}/img/jembatan-sukamaju.jpg",
                alt="Warga menyeberangi jembatan gantung baru di atas Sungai Cibeureum",
                mime_type="image/jpeg",
                size=204_800,
            ),
        ),
        "status": "approved",
    }
    fields.update(changes)
    paragraphs = body or [
        "SUKAMAJU – Gubernur meresmikan jembatan gantung sepanjang 120 meter di Desa Sukamaju pada "
        "Senin pagi. Jembatan ini dibangun dalam delapan bulan dengan anggaran daerah.",
        "Sebelumnya warga Dusun Kaler harus memutar sejauh 14 kilometer untuk mencapai sekolah dan "
        "puskesmas. Kini perjalanan itu cukup ditempuh dengan berjalan kaki selama sepuluh menit.",
    ]
    return Release(**_with_body(fields, paragraphs))


class ReleaseFactory:
    """Builds releases for tests: each call a new id (``kit-0001``, ``kit-0002``...)."""

    def __init__(self) -> None:
        self._ids = itertools.count(1)

    def __call__(self, **changes: Any) -> Release:
        changes.setdefault("id", f"kit-{next(self._ids):04d}")
        return make_release(**changes)

    @staticmethod
    def hard() -> dict[str, Release]:
        """The releases that break channels; see :func:`hard_releases`."""
        return hard_releases()


# Emoji written as escapes: ZWJ sequences are invisible in an editor.
_ZWJ = "\u200d"
_FAMILY = _ZWJ.join(["\U0001f468", "\U0001f469", "\U0001f467", "\U0001f466"])  # man woman girl boy
_RAINBOW_FLAG = "\U0001f3f3\ufe0f" + _ZWJ + "\U0001f308"
_WOMAN_FARMER = "\U0001f469\U0001f3fd" + _ZWJ + "\U0001f33e"  # medium skin tone
_HEALTH_WORKER = "\U0001f9d1\U0001f3ff" + _ZWJ + "\u2695\ufe0f"
_FLAG_ID = "\U0001f1ee\U0001f1e9"  # Indonesia
_KEYCAP_1 = "1\ufe0f\u20e3"
_EMOJI = [
    _FAMILY,
    _RAINBOW_FLAG,
    _WOMAN_FARMER,
    _HEALTH_WORKER,
    _FLAG_ID,
    _KEYCAP_1,
    "\U0001f389",
    "\u2764\ufe0f",
]

_CJK_SUMMARY = (
    "本届文化节汇集来自三十四个省份的一百二十个表演团体，展示传统音乐、舞蹈和手工艺。"
    "活动期间免费入场，欢迎市民和游客参加。"
    "文化祭は七日間にわたり開催され、伝統音楽や舞踊、工芸品の展示が行われます。"
    "한국어 안내: 축제는 모든 방문객에게 무료로 진행됩니다。"
)
_ARABIC = [
    "أعلنت حكومة المقاطعة عن افتتاح مهرجان الثقافة السنوي بمشاركة أكثر من 120 فرقة فنية من 34 مقاطعة.",
    "يستمر المهرجان سبعة أيام في ساحة المدينة، ويشمل عروضاً موسيقية وورش عمل للحرف التقليدية.",
    "الدخول مجاني لجميع الزوار، والبرنامج الكامل منشور على الموقع الرسمي "
    f"{_SITE}/ar/festival-2026 باللغتين العربية والإندونيسية.",
]
_LONG_URL = (
    f"{_SITE}/siaran-pers/2026/03/02/"
    "pemerintah-provinsi-meluncurkan-program-desa-tangguh-bencana-di-seratus-dua-puluh-desa-"
    "rawan-banjir-dan-longsor-dengan-pelatihan-relawan-sistem-peringatan-dini-dan-lumbung-pangan"
    "?utm_source=whatsapp&utm_medium=social&utm_campaign=siaran-pers-maret-2026"
    "&utm_content=tautan-panjang-untuk-pengujian&ref=" + "a1b2c3d4e5f6" * 30 + "&lang=id#bagian-3"
)
_ID_SENTENCES = [
    "Pemerintah provinsi meluncurkan Program Desa Tangguh Bencana di seratus dua puluh desa yang "
    "rawan banjir dan tanah longsor.",
    "Setiap desa menerima pelatihan relawan, peralatan evakuasi dasar, dan sistem peringatan dini "
    "berbasis pengeras suara masjid.",
    "Kepala Badan Penanggulangan Bencana Daerah menyampaikan bahwa kesiapsiagaan warga adalah kunci "
    "untuk mengurangi korban jiwa.",
    "Warga diajak mengenali jalur evakuasi, titik kumpul, dan nomor darurat yang berlaku di "
    "wilayah masing-masing.",
    "Program ini juga membangun lumbung pangan desa agar kebutuhan dasar tetap tersedia selama "
    "masa tanggap darurat.",
    "Sekolah-sekolah di sekitar daerah aliran sungai akan mengadakan simulasi evakuasi setiap "
    "enam bulan sekali.",
    "Data curah hujan dari stasiun pemantau dikirimkan setiap jam kepada perangkat desa melalui "
    "pesan singkat.",
    "Pemerintah kabupaten menyiapkan anggaran pendamping untuk perawatan peralatan dan honor "
    "koordinator relawan.",
    "Perguruan tinggi setempat dilibatkan untuk menyusun peta risiko yang diperbarui setiap tahun.",
    "Masyarakat dapat menyampaikan laporan kerusakan tanggul atau saluran air melalui kanal "
    "pengaduan resmi pemerintah daerah.",
    "Kepala desa diminta menyusun rencana kontinjensi bersama tokoh agama, tokoh adat, dan "
    "kelompok perempuan.",
    "Pada akhir tahun, setiap desa akan dinilai berdasarkan kelengkapan dokumen, latihan rutin, "
    "dan keterlibatan warganya.",
]


def _long_indonesian(words: int = 3200) -> list[str]:
    """Paragraphs of plain Indonesian prose, at least ``words`` words long."""
    paragraphs: list[str] = []
    sentences = itertools.cycle(_ID_SENTENCES)
    total = 0
    part = 0
    while total < words:
        part += 1
        lead = f"Pada tahap ke-{part}, kegiatan dilaksanakan di {part * 3} desa sasaran."
        paragraph = " ".join([lead, *(next(sentences) for _ in range(5))])
        paragraphs.append(paragraph)
        total += len(paragraph.split())
    return paragraphs


def hard_releases() -> dict[str, Release]:
    """Releases that break naive channels, by name; render must stay within limits for each.

    ``emoji-zwj``: emoji ZWJ sequences, skin tones, flags and keycaps (one grapheme, many code
    points); ``cjk``: Chinese, Japanese and Korean without spaces to cut at; ``rtl-arabic``:
    right-to-left Arabic with numbers and a URL inside; ``long-url``: a link of about 750
    characters; ``long-indonesian``: a body of more than 3,000 words; ``many-images``: 24
    images, each with alt text; ``no-summary``: no summary; ``bare``: a title and nothing else.

    They are for ``render``: their media are URLs on a host that does not exist, so a channel
    that downloads media before posting must not publish them.
    """
    emoji_line = " ".join(_EMOJI)
    arabic_title = "افتتاح مهرجان الثقافة الإندونيسية في جاكرتا 2026"
    long_body = _long_indonesian()
    images = tuple(
        Media(
            f"{_SITE}/img/banjir-2026/foto-{n:02d}.jpg",
            alt=f"Foto {n}: relawan desa memasang rambu jalur evakuasi di tepi sungai, dilihat dari arah barat",
            mime_type="image/jpeg",
            size=150_000 + n * 1_000,
        )
        for n in range(1, 25)
    )
    return {
        "emoji-zwj": make_release(
            id="hard-emoji-zwj",
            title=f"{_FLAG_ID} Festival Keluarga {_FAMILY} dan Petani {_WOMAN_FARMER} Dibuka Hari Ini \U0001f389",
            summary=" ".join([emoji_line] * 40),
            body=[
                f"Festival keluarga {_FAMILY} dibuka dengan pawai petani {_WOMAN_FARMER} dan tenaga "
                f"kesehatan {_HEALTH_WORKER}. Semua warga dipersilakan hadir {_RAINBOW_FLAG} {_KEYCAP_1}.",
                " ".join([emoji_line] * 20),
            ],
            tags=("festival", f"keluarga{_FAMILY}"),
        ),
        "cjk": make_release(
            id="hard-cjk",
            title="雅加达国际文化节将于三月开幕：一百二十个表演团体参加",
            summary=_CJK_SUMMARY * 3,
            body=[_CJK_SUMMARY * 6, "詳細はhttps://ppid.example.go.id/zh/festival-2026をご覧ください。"],
            language="zh",
            agency="文化旅游局",
            tags=("文化节", "旅游"),
        ),
        "rtl-arabic": make_release(
            id="hard-rtl-arabic",
            title=arabic_title,
            summary=" ".join(_ARABIC[:2]),
            body=_ARABIC * 5,
            language="ar",
            agency="دائرة الثقافة والسياحة",
            tags=("ثقافة", "مهرجان"),
        ),
        "long-url": make_release(
            id="hard-long-url",
            title="Program Desa Tangguh Bencana Diluncurkan di 120 Desa",
            url=_LONG_URL,
            body=[f"Rincian lengkap: {_LONG_URL}", f"Peta risiko: {_LONG_URL}&peta=1"],
        ),
        "long-indonesian": make_release(
            id="hard-long-indonesian",
            title="Pemprov Luncurkan Program Desa Tangguh Bencana: Pelatihan, Peringatan Dini, dan "
            "Lumbung Pangan untuk 120 Desa Rawan Banjir dan Longsor di Seluruh Provinsi",
            summary=" ".join(_ID_SENTENCES[:6]),
            body=long_body,
            tags=("bencana", "desa tangguh", "banjir", "longsor", "relawan", "peringatan dini"),
        ),
        "many-images": make_release(
            id="hard-many-images",
            title="Dokumentasi Pemasangan Rambu Evakuasi di 24 Titik",
            images=images,
            attachments=(
                Media(f"{_SITE}/data/rambu-2026.csv", kind="file", title="Daftar titik rambu (CSV)"),
            ),
        ),
        "no-summary": make_release(id="hard-no-summary", title="Jadwal Pelayanan Libur Nasional", summary=""),
        "bare": Release(source=KIT_SOURCE, id="hard-bare", title="Pengumuman"),
    }
