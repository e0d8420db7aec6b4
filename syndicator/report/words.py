"""The HTML report's words in Indonesian and English: month names, labels, reasons, states, ``_Words``."""

from __future__ import annotations

from datetime import date, datetime

from .model import LANGUAGES, Month, MonthlyReport

_MONTHS = {
    "id": (
        [
            "Januari",
            "Februari",
            "Maret",
            "April",
            "Mei",
            "Juni",
            "Juli",
            "Agustus",
            "September",
            "Oktober",
            "November",
            "Desember",
        ]
    ),
    "en": [
        "January",
        "February",
        "March",
        "April",
        "May",
        "June",
        "July",
        "August",
        "September",
        "October",
        "November",
        "December",
    ],
}

_TEXT: dict[str, dict[str, str]] = {
    "id": {
        "title": "Laporan Bulanan Publikasi Siaran Pers",
        "period": "Periode",
        "zone": "zona waktu",
        "as_of": "Data per",
        "generated": "Dibuat",
        "summary": "Ringkasan",
        "charts": "Grafik",
        "by_agency": "Rekap per Instansi",
        "by_channel": "Rekap per Kanal",
        "held_title": "Siaran Pers yang Tertahan",
        "list": "Daftar Siaran Pers",
        "notes": "Keterangan",
        "received": "Diterima",
        "approved": "Disetujui",
        "published": "Diterbitkan",
        "held": "Tertahan",
        "failed": "Gagal",
        "retracted": "Ditarik",
        "median": "Median persetujuan–terbit",
        "longest": "Terlama",
        "agency": "Instansi",
        "channel": "Kanal",
        "type": "Jenis",
        "reason": "Alasan",
        "count": "Jumlah",
        "no": "No.",
        "release": "Siaran pers",
        "date": "Tanggal",
        "status": "Status",
        "copies": "Salinan terbit",
        "by": "oleh",
        "none": "Tidak ada.",
        "no_releases": "Tidak ada siaran pers pada bulan ini.",
        "no_data": "Tidak ada data",
        "no_agency": "(tanpa instansi)",
        "total": "Jumlah",
        "figure": "Gambar",
        "table": "Tabel",
        "fig_days": "Jumlah siaran pers yang diterima dan diterbitkan per hari",
        "fig_channels": "Jumlah siaran pers yang diterbitkan dan pengiriman yang gagal per kanal",
        "fig_agencies": "Jumlah siaran pers yang diterima dan diterbitkan per instansi",
        "tab_agencies": "Rekap siaran pers per instansi",
        "tab_channels": "Rekap pengiriman dan waktu dari persetujuan sampai terbit per kanal",
        "tab_held": "Siaran pers yang diterima bulan ini dan masih tertahan, menurut alasan",
        "tab_list": "Daftar siaran pers beserta tautan ke setiap salinan yang terbit",
        "timing_all": "Waktu dari persetujuan sampai terbit (semua kanal)",
        "samples": "publikasi",
        "day": "Tanggal",
        "footer": "Laporan ini dibuat oleh syndicator dari buku besar (ledger) pengiriman. "
        "Angka dihitung menurut zona waktu {zone}.",
        "def_received": "siaran pers yang pertama kali tercatat pada bulan ini.",
        "def_approved": "siaran pers yang persetujuannya tercatat pada bulan ini.",
        "def_published": "siaran pers yang pertama kali terbit pada bulan ini; per kanal: terbit "
        "pertama kali di kanal tersebut.",
        "def_held": "siaran pers yang diterima bulan ini dan pada akhir bulan (atau saat laporan "
        "dibuat) belum boleh terbit, menurut alasannya.",
        "def_failed": "pengiriman yang gagal pada bulan ini dan sampai akhir bulan belum berhasil.",
        "def_retracted": "siaran pers yang ditarik pada bulan ini.",
        "def_timing": "Waktu persetujuan–terbit dihitung dari persetujuan terakhir sebelum terbit "
        "(menurut waktu persetujuan yang tertulis pada siaran pers, atau saat persetujuan dicatat) "
        "sampai salinan terbit di kanal.",
    },
    "en": {
        "title": "Monthly Press Release Publication Report",
        "period": "Period",
        "zone": "time zone",
        "as_of": "Data as of",
        "generated": "Generated",
        "summary": "Summary",
        "charts": "Charts",
        "by_agency": "By Agency",
        "by_channel": "By Channel",
        "held_title": "Held Releases",
        "list": "List of Releases",
        "notes": "Definitions",
        "received": "Received",
        "approved": "Approved",
        "published": "Published",
        "held": "Held",
        "failed": "Failed",
        "retracted": "Retracted",
        "median": "Median approval to publication",
        "longest": "Longest",
        "agency": "Agency",
        "channel": "Channel",
        "type": "Type",
        "reason": "Reason",
        "count": "Count",
        "no": "No.",
        "release": "Release",
        "date": "Date",
        "status": "Status",
        "copies": "Published copies",
        "by": "by",
        "none": "None.",
        "no_releases": "No releases this month.",
        "no_data": "No data",
        "no_agency": "(no agency)",
        "total": "Total",
        "figure": "Figure",
        "table": "Table",
        "fig_days": "Releases received and published per day",
        "fig_channels": "Releases published and failed deliveries per channel",
        "fig_agencies": "Releases received and published per agency",
        "tab_agencies": "Releases per agency",
        "tab_channels": "Deliveries and time from approval to publication per channel",
        "tab_held": "Releases received this month and still held, by reason",
        "tab_list": "Releases with links to every published copy",
        "timing_all": "Time from approval to publication (all channels)",
        "samples": "publications",
        "day": "Day",
        "footer": "This report was made by syndicator from its delivery ledger. "
        "Counted in the {zone} time zone.",
        "def_received": "releases first recorded during the month.",
        "def_approved": "releases whose approval was recorded during the month.",
        "def_published": "releases first published during the month; per channel: first published "
        "on that channel.",
        "def_held": "releases received during the month that, at its end (or when the report was "
        "made), could not go out yet, by reason.",
        "def_failed": "deliveries that failed during the month and had not succeeded by its end.",
        "def_retracted": "releases withdrawn during the month.",
        "def_timing": "Approval to publication runs from the latest approval before publication "
        "(at the approval time the release gives, else when it was recorded) to the copy's "
        "publication on the channel.",
    },
}

_REASONS = {
    "id": {
        "not approved": "belum disetujui",
        "changed since approval": "diubah setelah disetujui",
        "embargoed": "masih diembargo",
        "approval hook failed": "pemeriksaan persetujuan gagal",
    },
    "en": {},
}

_STATES = {
    "id": {
        "published": "terbit",
        "held": "tertahan",
        "failed": "gagal",
        "pending": "menunggu",
        "unrouted": "tanpa kanal",
        "retracted": "ditarik",
        "sent": "terbit",
        "dead": "gagal",
        "unknown": "tidak pasti",
        "in_flight": "sedang dikirim",
        "abandoned": "dibatalkan",
        "": "belum dijadwalkan",
    },
    "en": {
        "failed": "retrying",
        "sent": "published",
        "in_flight": "in flight",
        "": "not planned",
        "dead": "failed",
    },
}


class _Words:
    """Dates, numbers, durations and labels in one language."""

    def __init__(self, lang: str, report: MonthlyReport) -> None:
        if lang not in LANGUAGES:
            raise ValueError(f"unknown report language {lang!r} (one of {', '.join(LANGUAGES)})")
        self.lang = lang
        self.text = _TEXT[lang]
        self.report = report

    def __getitem__(self, key: str) -> str:
        return self.text[key]

    def number(self, n: int) -> str:
        s = f"{n:,}"
        return s.replace(",", ".") if self.lang == "id" else s

    def month(self, m: Month) -> str:
        return f"{_MONTHS[self.lang][m.month - 1]} {m.year}"

    def day(self, d: date) -> str:
        return f"{d.day} {_MONTHS[self.lang][d.month - 1][:3]}"

    def moment(self, value: datetime | None, *, year: bool = True) -> str:
        local = self.report.local(value)
        if local is None:
            return "–"
        clock = f"{local:%H.%M}" if self.lang == "id" else f"{local:%H:%M}"
        name = _MONTHS[self.lang][local.month - 1][:3]
        return f"{local.day} {name}{f' {local.year}' if year else ''} {clock} {local.tzname() or ''}".rstrip()

    def duration(self, seconds: float | None) -> str:
        if seconds is None:
            return "–"
        units = (
            (("hari", 86400), ("jam", 3600), ("menit", 60))
            if self.lang == "id"
            else (("d", 86400), ("h", 3600), ("min", 60))
        )
        if seconds < 60:
            return "< 1 " + units[2][0]
        left, parts = int(seconds), []
        for name, size in units:
            if left >= size:
                parts.append(f"{left // size} {name}")
                left %= size
        return " ".join(parts[:2])

    def reason(self, kind: str) -> str:
        return _REASONS[self.lang].get(kind, kind)

    def state(self, state: str) -> str:
        return _STATES[self.lang].get(state, state)

    def agency(self, name: str) -> str:
        return name or self.text["no_agency"]
