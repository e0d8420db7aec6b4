"""The files ``syndicator init`` writes: a minimal configuration and one sample release.

The sample release is in review (``status: review``), so a fresh setup publishes nothing
until someone edits it and approves it.
"""

from __future__ import annotations

from pathlib import Path

CONFIG_NAME = "syndicator.toml"
RELEASE_PATH = Path("releases") / "contoh-siaran-pers.md"

STARTER_CONFIG = """\
# syndicator configuration. Relative paths are relative to the folder of this file.

[syndicator]
# The SQLite ledger that remembers what was published where, so nothing goes out twice.
# Keep it and back it up: without it every release looks new again.
state = "state/syndicator.db"
# Zone for dates written without an offset ("Asia/Jakarta" = WIB, "Asia/Makassar" = WITA,
# "Asia/Jayapura" = WIT).
timezone = "Asia/Jakarta"

[sources.releases]
# Markdown files with YAML front matter (or JSON files), found recursively under `path`.
type = "directory"
path = "releases"
# "front-matter": a release goes out only when its file says `status: approved` and names
# `approved_by`. Other policies: "trusted", "manual", "category:NAME".
approval = "front-matter"
# Defaults for releases that do not name their own agency or language.
agency = "Dinas Komunikasi dan Informatika"
language = "id"

[channels.site]
# A static website (an index, a page per release and a feed) written to `output`.
type = "website"
output = "site"
title = "Siaran Pers"
description = "Siaran pers resmi PPID Utama."

# More channels, e.g. a signed webhook; secrets always come from the environment:
# [channels.hook]
# type = "webhook"
# url = "https://hooks.example.go.id/siaran-pers"
# secret = { env = "SYNDICATOR_WEBHOOK_SECRET" }
"""

STARTER_RELEASE = """\
---
# A unique id within this source; without it the file name (minus .md) is used.
# Never change it once the release is published.
id: contoh-siaran-pers
# The headline (required).
title: "Contoh Siaran Pers: Judul Singkat dan Jelas"
# One or two sentences, used by feeds and social media posts.
summary: Ringkasan satu atau dua kalimat tentang isi siaran pers.
# The release date; give the offset (+07:00 WIB, +08:00 WITA, +09:00 WIT).
date: 2026-01-05T09:00:00+07:00
# The issuing agency (defaults to the source's `agency`).
agency: Dinas Komunikasi dan Informatika
# Optional: the PR officer who wrote it.
author: Nama Pranata Humas
# Topics; channels may route by tag.
tags: [pengumuman]
# Language code of the text.
lang: id
# "review" or "draft": held back. Set "approved" (and fill in approved_by) to publish.
status: review
# Who approved it and when; required before anything is published.
# approved_by: Nama Pejabat, Kepala Dinas Komunikasi dan Informatika
# approved_at: 2026-01-05T10:00:00+07:00
# Optional: pin the approval to this exact content ("sha256:..."); any later edit is held.
# approved_hash: sha256:...
# Optional embargo: not published before this time.
# publish_at: 2026-01-06T08:00:00+07:00
# "normal" or "urgent".
priority: normal
# Optional images and attachments, relative to this file's folder:
# images: [{src: images/foto.jpg, alt: "Deskripsi gambar untuk pembaca layar"}]
# attachments: [{path: data/tabel.csv, title: "Data pendukung (CSV)"}]
---

**KOTA –** Paragraf pembuka memuat inti berita: apa, siapa, kapan, di mana, mengapa, dan
bagaimana. Tulis dalam bahasa Indonesia yang baku dan ringkas.

Paragraf berikutnya memuat penjelasan dan kutipan pejabat. "Kutipan langsung ditulis di
antara tanda petik dan menyebutkan nama serta jabatan narasumber," ujar Kepala Dinas.

Paragraf penutup memuat informasi tambahan atau ajakan kepada masyarakat.

**Narahubung:**\\
Nama Narahubung, Jabatan\\
Telepon: 0800-0000-0000 · Surel: humas@example.go.id
"""


def write_starter(folder: Path, *, force: bool = False) -> list[Path]:
    """Write syndicator.toml and releases/contoh-siaran-pers.md into folder; refuse (FileExistsError) to overwrite unless force. Returns the paths written."""
    files = ((folder / CONFIG_NAME, STARTER_CONFIG), (folder / RELEASE_PATH, STARTER_RELEASE))
    if not force:
        existing = [path for path, _ in files if path.exists()]
        if existing:
            names = ", ".join(str(path) for path in existing)
            raise FileExistsError(f"refusing to overwrite {names} (use --force to replace)")
    written: list[Path] = []
    for path, text in files:
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("w", encoding="utf-8", newline="\n") as fh:
            fh.write(text)
        written.append(path)
    return written
