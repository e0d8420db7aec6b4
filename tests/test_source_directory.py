"""The directory source against real files in a temporary folder."""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pluggy
import pytest
from feedserver import MemoryState, make_context

from syndicator import hookspecs
from syndicator.errors import SourceError
from syndicator.models import Release
from syndicator.plugins import source_types
from syndicator.sources import directory, rss
from syndicator.sources.base import SourceContext
from syndicator.sources.directory import DirectorySource, parse_release_file
from syndicator.sources.frontmatter import ReleaseFileError, parse_date, shorten

MAKASSAR = ZoneInfo("Asia/Makassar")

FULL = """\
---
id: 2026-11-001
title: "Imunisasi *Campak* Serentak"
summary: Dinas Kesehatan membuka layanan imunisasi.
date: 2026-11-20T09:00:00+08:00
updated: 2026-11-21 10:30
agency: Dinas Kesehatan
author: Humas Dinkes
tags: [kesehatan, imunisasi]
categories: anak
lang: id
url: https://dinkes.example.go.id/rilis/2026-11-001
status: Approved
approved_by: Kepala Diskominfo
approved_at: 2026-11-20T10:00:00+08:00
approved_hash: sha256:{hash}
publish_at: 2026-12-01T08:00:00+07:00
priority: urgent
images:
  - src: images/foto.jpg
    alt: Petugas menyuntik vaksin
    title: Foto
  - https://cdn.example.go.id/poster.png
attachments:
  - path: data/anggaran.csv
    title: Anggaran
channels:
  x: {{text: "Imunisasi campak dibuka hari ini"}}
  mastodon:
    spoiler: kesehatan
---

Paragraf **pertama** siaran pers.

<script>alert(1)</script>

Paragraf kedua.
"""


def collect(ctx: SourceContext) -> tuple[list[Release], list[SourceError]]:
    items = list(DirectorySource().collect(ctx))
    return [i for i in items if isinstance(i, Release)], [i for i in items if isinstance(i, SourceError)]


def write(path: Path, text: str | bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")
    return path


def context(
    tmp_path: Path, state: MemoryState | None = None, defaults: Mapping[str, Any] | None = None
) -> SourceContext:
    return make_context(DirectorySource, {"path": "rilis"}, base_dir=tmp_path, state=state, defaults=defaults)


def release(title: str, extra: str = "", body: str = "Isi.") -> str:
    return f"---\ntitle: {title}\n{extra}---\n\n{body}\n"


def test_every_front_matter_key(tmp_path: Path) -> None:
    folder = tmp_path / "rilis"
    write(folder / "2026" / "images" / "foto.jpg", b"\xff\xd8jpeg bytes")  # beside the release file
    write(folder / "2026" / "data" / "anggaran.csv", "a,b\n1,2\n")
    write(folder / "2026" / "imunisasi.md", FULL.format(hash="AB" * 32))
    releases, errors = collect(
        context(tmp_path, defaults={"agency": "Diskominfo", "tags": ("pemprov", "kesehatan")})
    )
    assert errors == []
    (r,) = releases
    assert r.source == "test" and r.id == "2026-11-001" and r.key == "test/2026-11-001"
    assert r.title == "Imunisasi *Campak* Serentak"
    assert r.summary == "Dinas Kesehatan membuka layanan imunisasi."
    assert "<strong>pertama</strong>" in r.body_html and "<script" not in r.body_html
    assert r.body_text.startswith("Paragraf pertama siaran pers.") and "Paragraf kedua." in r.body_text
    assert r.published == datetime(2026, 11, 20, 9, tzinfo=timezone(timedelta(hours=8)))
    assert r.updated == datetime(2026, 11, 21, 10, 30, tzinfo=MAKASSAR)  # naive: configured zone
    assert r.agency == "Dinas Kesehatan"  # its own, not the default
    assert r.author == "Humas Dinkes"
    assert r.tags == ("kesehatan", "imunisasi", "anak", "pemprov")
    assert r.language == "id" and r.url == "https://dinkes.example.go.id/rilis/2026-11-001"
    assert r.status == "approved" and r.priority == "urgent"
    assert r.publish_at == datetime(2026, 12, 1, 8, tzinfo=timezone(timedelta(hours=7)))
    assert r.approval is not None
    assert r.approval.approved_by == "Kepala Diskominfo" and r.approval.origin == "source"
    assert r.approval.approved_at == datetime(2026, 11, 20, 10, tzinfo=timezone(timedelta(hours=8)))
    assert r.approval.content_hash == "sha256:" + "ab" * 32
    image, poster = r.images
    assert (
        image.location == str((folder / "2026" / "images" / "foto.jpg").resolve())
        and Path(image.location).is_absolute()
    )
    assert (image.kind, image.alt, image.title, image.mime_type, image.size) == (
        "image",
        "Petugas menyuntik vaksin",
        "Foto",
        "image/jpeg",
        12,
    )
    assert image.digest == "sha256:" + hashlib.sha256(b"\xff\xd8jpeg bytes").hexdigest()
    assert poster.location == "https://cdn.example.go.id/poster.png" and poster.is_remote and poster.alt == ""
    (sheet,) = r.attachments
    assert (
        sheet.kind == "file"
        and sheet.title == "Anggaran"
        and sheet.size == 8
        and sheet.mime_type == "text/csv"
    )
    assert dict(r.overrides) == {
        "x": {"text": "Imunisasi campak dibuka hari ini"},
        "mastodon": {"spoiler": "kesehatan"},
    }
    assert r.origin == "2026/imunisasi.md"
    json.dumps(r.to_dict())  # everything serialisable
    assert r.content_hash.startswith("sha256:")


def test_defaults_and_derived_fields(tmp_path: Path) -> None:
    long_para = " ".join(["kata"] * 120)
    write(
        tmp_path / "rilis" / "a.md",
        release("Judul", "date: 2026-11-20\ntags: banjir\n", f"# Kepala\n\n{long_para}\n\nDua."),
    )
    (r,) = collect(
        context(tmp_path, defaults={"agency": "Diskominfo", "language": "id", "tags": ("pemprov",)})
    )[0]
    assert r.id == "a" and r.agency == "Diskominfo" and r.language == "id" and r.tags == ("banjir", "pemprov")
    assert r.published == datetime(2026, 11, 20, tzinfo=MAKASSAR)
    assert r.summary.endswith("…") and len(r.summary) <= 300 and r.summary.startswith("kata kata")
    assert "kata…" in r.summary or r.summary.endswith("kata…")
    assert r.status == "" and r.approval is None and r.priority == "normal"


def test_approval_needs_status_and_approver(tmp_path: Path) -> None:
    folder = tmp_path / "rilis"
    write(folder / "draft.md", release("A", "status: draft\napproved_by: X\n"))
    write(folder / "noby.md", release("B", "status: approved\n"))
    write(folder / "ok.md", release("C", "status: approved\napproved_by: Kadis\n"))
    by_id = {r.id: r for r in collect(context(tmp_path))[0]}
    assert by_id["draft"].approval is None and by_id["noby"].approval is None
    approval = by_id["ok"].approval
    assert approval is not None and approval.approved_at is None and approval.content_hash is None


def test_nested_non_ascii_hidden_and_other_files(tmp_path: Path) -> None:
    folder = tmp_path / "rilis"
    write(folder / "2026" / "11" / "banjir-samarinda.md", release("Banjir"))
    write(folder / "Pengumuman ‘Banjir’ é.md", release("Pengumuman"))
    write(folder / "nfd" / "cafe\u0301.markdown", release("Kafe"))
    write(folder / ".hidden.md", release("Hidden"))
    write(folder / ".git" / "x.md", release("Git"))
    write(folder / "LICENSE", "MIT")
    write(folder / "README.txt", "readme")
    write(folder / "images" / "foto.jpg", b"jpg")
    releases, errors = collect(context(tmp_path))
    assert errors == []
    ids = sorted(r.id for r in releases)
    assert ids == ["2026/11/banjir-samarinda", "Pengumuman ‘Banjir’ é", "nfd/café"]
    origins = {r.origin for r in releases}
    assert "Pengumuman ‘Banjir’ é.md" in origins and "nfd/cafe\u0301.markdown" in origins


def test_json_files(tmp_path: Path) -> None:
    folder = tmp_path / "rilis"
    write(folder / "a.json", json.dumps({"title": "JSON md", "body": "Halo **dunia**", "tags": ["x"]}))
    write(
        folder / "b.json",
        json.dumps(
            {
                "id": "b-1",
                "title": "JSON html",
                "body_html": "<p onclick='x()'>Hai <b>kamu</b></p><script>bad()</script>",
            }
        ),
    )
    by_id = {r.id: r for r in collect(context(tmp_path))[0]}
    assert by_id["a"].body_html == "<p>Halo <strong>dunia</strong></p>" and by_id["a"].summary == "Halo dunia"
    assert by_id["b-1"].body_html == "<p>Hai <b>kamu</b></p>" and by_id["b-1"].body_text == "Hai kamu"


def test_bom_crlf_and_toml_front_matter(tmp_path: Path) -> None:
    folder = tmp_path / "rilis"
    write(
        folder / "bom.md",
        b"\xef\xbb\xbf---\r\ntitle: Dengan BOM\r\ndate: 2026-01-02 03:04:05 -0400\r\n---\r\n\r\nIsi\r\n",
    )
    write(folder / "zola.md", '+++\ntitle = "TOML"\ndate = 2026-01-02T03:04:05Z\n[extra]\nx = 1\n+++\nIsi\n')
    by_id = {r.id: r for r in collect(context(tmp_path))[0]}
    assert by_id["bom"].title == "Dengan BOM" and by_id["bom"].body_text == "Isi"
    assert by_id["bom"].published == datetime(2026, 1, 2, 3, 4, 5, tzinfo=timezone(timedelta(hours=-4)))
    assert by_id["zola"].published == datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)


BROKEN: dict[str, tuple[str | bytes, str]] = {
    "bad-yaml.md": ("---\ntitle: ok\ntags: [a, b\n---\nx\n", "bad YAML in the front matter at line"),
    "list.md": ("---\n- a\n- b\n---\nx\n", "not a mapping"),
    "notitle.md": ("---\ndate: 2026-11-20\n---\nx\n", "no title"),
    "emptytitle.md": ("---\ntitle: ''\n---\nx\n", "no title"),
    "latin1.md": (b"---\ntitle: caf\xe9\n---\n", "not valid UTF-8 at byte 14 (line 2)"),
    "baddate.md": (
        "---\ntitle: a\napproved_at: kemarin sore\n---\n",
        "approved_at: cannot read 'kemarin sore' as a date",
    ),
    "badmonth.md": ("---\ntitle: a\ndate: 2026-13-01\n---\n", "date: cannot read '2026-13-01' as a date"),
    "bad.json": ('{"title": "a",\n "body": }', "invalid JSON at line 2 column 10"),
    "array.json": ("[1, 2]", "must hold one object"),
    "nofm.md": ("# Just markdown\n", "no front matter"),
    "unclosed.md": ("---\ntitle: a\n", "never closed"),
    "noimage.md": ("---\ntitle: a\nimages: [images/x.jpg]\n---\n", "image images/x.jpg not found"),
    "escape.md": (
        "---\ntitle: a\nattachments: [../../etc/passwd]\n---\n",
        "attachment ../../etc/passwd is outside the source folder",
    ),
    "priority.md": ("---\ntitle: a\npriority: high\n---\n", "priority: expected 'normal' or 'urgent'"),
    "pyobj.md": ("---\ntitle: !!python/object/apply:os.system [echo hi]\n---\n", "bad YAML"),
    "hash.md": ("---\ntitle: a\napproved_hash: md5:abc\n---\n", "approved_hash"),
}


def test_each_broken_file_is_a_clear_error_and_the_rest_go_on(tmp_path: Path) -> None:
    folder = tmp_path / "rilis"
    for name, (content, _) in BROKEN.items():
        write(folder / name, content)
    write(folder / "good.md", release("Baik"))
    releases, errors = collect(context(tmp_path))
    assert [r.id for r in releases] == ["good"]
    by_item = {e.item: e for e in errors}
    assert set(by_item) == set(BROKEN)
    for name, (_, reason) in BROKEN.items():
        error = by_item[name]
        assert error.source == "test" and reason in error.reason, (name, error.reason)
        assert str(error).startswith(f"test: {name}: ")
    assert "line 3" in by_item["bad-yaml.md"].reason or "line 4" in by_item["bad-yaml.md"].reason


def test_duplicate_ids_name_both_files(tmp_path: Path) -> None:
    folder = tmp_path / "rilis"
    write(folder / "a.md", release("A", "id: same\n"))
    write(folder / "b.md", release("B", "id: same\n"))
    releases, errors = collect(context(tmp_path))
    assert [r.origin for r in releases] == ["a.md"]
    (error,) = errors
    assert error.item == "b.md" and "a.md" in error.reason and "'same'" in error.reason


def test_unchanged_files_are_not_parsed_again(tmp_path: Path) -> None:
    folder = tmp_path / "rilis"
    state = MemoryState()
    a = write(folder / "a.md", release("Satu"))
    write(folder / "b.md", release("Dua"))
    first, errors = collect(context(tmp_path, state))
    assert sorted(r.id for r in first) == ["a", "b"] and errors == []
    assert state.data["file:a.md"]["id"] == "a" and state.data["file:a.md"]["size"] == a.stat().st_size

    # Same size, same mtime, but broken content: it is not read, so no error and no release.
    stat = a.stat()
    broken = "---\ntitle: [\n---\n".ljust(stat.st_size, "x")
    a.write_text(broken, encoding="utf-8")
    os.utime(a, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert a.stat().st_size == stat.st_size
    assert collect(context(tmp_path, state)) == ([], [])

    # Now it changed (mtime): parsed, and the error shows on every tick until fixed.
    os.utime(a, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))
    for _ in range(2):
        releases, errors = collect(context(tmp_path, state))
        assert releases == [] and [e.item for e in errors] == ["a.md"]
    assert "file:a.md" not in state.data

    a.write_text(release("Satu, diperbaiki"), encoding="utf-8")
    releases, errors = collect(context(tmp_path, state))
    assert [r.title for r in releases] == ["Satu, diperbaiki"] and errors == []

    (folder / "b.md").unlink()
    assert collect(context(tmp_path, state)) == ([], [])
    assert "file:b.md" not in state.data and "file:a.md" in state.data


def test_duplicate_of_an_unchanged_file(tmp_path: Path) -> None:
    state = MemoryState()
    write(tmp_path / "rilis" / "a.md", release("A", "id: same\n"))
    assert len(collect(context(tmp_path, state))[0]) == 1
    write(tmp_path / "rilis" / "z.md", release("Z", "id: same\n"))
    releases, errors = collect(context(tmp_path, state))
    assert releases == [] and errors[0].item == "z.md" and "a.md" in errors[0].reason


def test_changed_image_changes_the_hash(tmp_path: Path) -> None:
    folder = tmp_path / "rilis"
    md = write(folder / "a.md", release("A", "images: [foto.png]\n"))
    image = write(folder / "foto.png", b"one")
    first = parse_release_file(md, folder, source="s", localize=lambda d: d)
    image.write_bytes(b"two")
    second = parse_release_file(md, folder, source="s", localize=lambda d: d)
    assert first.images[0].digest != second.images[0].digest and first.content_hash != second.content_hash


def test_site_root_image_paths(tmp_path: Path) -> None:
    folder = tmp_path / "rilis"
    write(folder / "assets" / "x.png", b"png")
    md = write(folder / "2026" / "a.md", release("A", "image: /assets/x.png\nimage-alt: Gambar\n"))
    (image,) = parse_release_file(md, folder, source="s", localize=lambda d: d).images
    assert image.location == str((folder / "assets" / "x.png").resolve()) and image.alt == "Gambar"


def test_missing_folder_fails_the_whole_source(tmp_path: Path) -> None:
    with pytest.raises(SourceError, match="does not exist") as caught:
        list(DirectorySource().collect(context(tmp_path)))
    assert caught.value.source == "test" and caught.value.item is None


def test_yaml_booleans_and_dates(tmp_path: Path) -> None:
    write(tmp_path / "rilis" / "no.md", release("Norwegia", "lang: no\ntags: [yes, on]\n"))
    (r,) = collect(context(tmp_path))[0]
    assert r.language == "no" and r.tags == ("yes", "on")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-11-20T09:00:00Z", datetime(2026, 11, 20, 9, tzinfo=UTC)),
        ("2015-03-17 10:00:00 -4", datetime(2015, 3, 17, 10, tzinfo=timezone(timedelta(hours=-4)))),
        ("2021-06-09T14:00:00.000Z", datetime(2021, 6, 9, 14, tzinfo=UTC)),
        ("2023-10-30T11:01:00", datetime(2023, 10, 30, 11, 1, tzinfo=MAKASSAR)),
        ("Fri, 20 Nov 2026 09:00:00 +0700", datetime(2026, 11, 20, 9, tzinfo=timezone(timedelta(hours=7)))),
    ],
)
def test_parse_date(text: str, expected: datetime) -> None:
    value = parse_date(text, "date", lambda d: d if d.tzinfo else d.replace(tzinfo=MAKASSAR))
    assert value == expected and value.utcoffset() == expected.utcoffset()


def test_parse_date_refuses_nonsense() -> None:
    with pytest.raises(ReleaseFileError, match="publish_at: cannot read '12' as a date"):
        parse_date(12, "publish_at", lambda d: d)


def test_shorten_cuts_on_a_word() -> None:
    assert shorten("satu dua tiga empat", 12) == "satu dua…"
    assert shorten("pendek", 12) == "pendek"


def test_plugins_register_both_sources() -> None:
    pm = pluggy.PluginManager(hookspecs.PROJECT)
    pm.add_hookspecs(hookspecs)
    pm.register(directory)
    pm.register(rss)
    table = source_types(pm)
    assert table["directory"].cls is DirectorySource and table["rss"].cls is rss.RssSource
