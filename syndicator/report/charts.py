"""The HTML report's charts: inline SVG column and bar charts, with their colours and text descriptions."""

from __future__ import annotations

import html
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

#: Colours for the charts: distinct in hue and in lightness (they survive grey printing).
LIGHT, DARK, RED = "#8fb4d9", "#1f4e79", "#b3261e"


def _e(value: object) -> str:
    return html.escape(str(value), quote=True)


@dataclass(frozen=True)
class _Series:
    label: str
    colour: str
    values: Sequence[int]


def _ticks(top: int) -> tuple[int, list[int]]:
    """A round axis maximum and its ticks (at most six, integers)."""
    top = max(top, 1)
    step = 1
    for candidate in (1, 2, 5, 10, 20, 25, 50, 100, 200, 250, 500, 1000, 2000, 5000, 10000):
        step = candidate
        if top / candidate <= 5:
            break
    ceiling = -(-top // step) * step
    return ceiling, list(range(0, ceiling + 1, step))


def _legend(series: Sequence[_Series], x: float, y: float) -> list[str]:
    out = []
    for s in series:
        out.append(f'<rect x="{x:.1f}" y="{y - 9:.1f}" width="10" height="10" fill="{s.colour}"/>')
        out.append(f'<text x="{x + 14:.1f}" y="{y:.1f}" font-size="11">{_e(s.label)}</text>')
        x += 22 + 6.5 * len(s.label)
    return out


def _svg(ident: str, title: str, desc: str, width: int, height: int, body: list[str]) -> str:
    return (
        f'<svg viewBox="0 0 {width} {height}" width="{width}" height="{height}" role="img"'
        f' aria-labelledby="{ident}-t {ident}-d" font-family="DejaVu Sans, Arial, sans-serif" fill="#111">'
        f'<title id="{ident}-t">{_e(title)}</title><desc id="{ident}-d">{_e(desc)}</desc>'
        + "".join(body)
        + "</svg>"
    )


def _column_chart(
    ident: str,
    title: str,
    desc: str,
    labels: Sequence[str],
    tips: Sequence[str],
    series: Sequence[_Series],
    empty: str,
) -> str:
    """Vertical bars, one group per label (the days of a month)."""
    width, height, left, right, top, bottom = 720, 250, 40, 8, 30, 30
    plot_w, plot_h = width - left - right, height - top - bottom
    ceiling, ticks = _ticks(max((v for s in series for v in s.values), default=0))
    body = _legend(series, left, 14)
    for t in ticks:
        y = top + plot_h - plot_h * t / ceiling
        body.append(f'<line x1="{left}" y1="{y:.1f}" x2="{width - right}" y2="{y:.1f}" stroke="#d5dbe1"/>')
        body.append(f'<text x="{left - 5}" y="{y + 4:.1f}" font-size="10" text-anchor="end">{t}</text>')
    group = plot_w / max(len(labels), 1)
    bar = group * 0.8 / max(len(series), 1)
    for i, label in enumerate(labels):
        x0 = left + i * group + group * 0.1
        for j, s in enumerate(series):
            v = s.values[i]
            if v:
                h = plot_h * v / ceiling
                body.append(
                    f'<rect x="{x0 + j * bar:.1f}" y="{top + plot_h - h:.1f}" width="{bar:.1f}" height="{h:.1f}"'
                    f' fill="{s.colour}"><title>{_e(f"{tips[i]}: {v} {s.label.lower()}")}</title></rect>'
                )
        body.append(
            f'<text x="{left + (i + 0.5) * group:.1f}" y="{height - bottom + 14}" font-size="9"'
            f' text-anchor="middle">{_e(label)}</text>'
        )
    body.append(
        f'<line x1="{left}" y1="{top + plot_h}" x2="{width - right}" y2="{top + plot_h}" stroke="#111"/>'
    )
    if not any(v for s in series for v in s.values):
        body.append(
            f'<text x="{width / 2}" y="{top + plot_h / 2}" font-size="14" text-anchor="middle">{_e(empty)}</text>'
        )
    return _svg(ident, title, desc, width, height, body)


def _bar_chart(
    ident: str, title: str, desc: str, labels: Sequence[str], series: Sequence[_Series], empty: str
) -> str:
    """Horizontal bars, one row per label (channels, agencies), the value at each bar's end."""
    width, left, right, top = 720, 290, 40, 30
    bar, gap = 13, 10
    row = bar * max(len(series), 1) + gap
    height = top + max(len(labels), 1) * row + 24
    plot_w = width - left - right
    ceiling, ticks = _ticks(max((v for s in series for v in s.values), default=0))
    body = _legend(series, left, 14)
    bottom = top + len(labels) * row
    for t in ticks:
        x = left + plot_w * t / ceiling
        body.append(f'<line x1="{x:.1f}" y1="{top}" x2="{x:.1f}" y2="{bottom}" stroke="#d5dbe1"/>')
        body.append(f'<text x="{x:.1f}" y="{bottom + 14}" font-size="10" text-anchor="middle">{t}</text>')
    for i, label in enumerate(labels):
        y0 = top + i * row + gap / 2
        short = label if len(label) <= 44 else label[:43] + "…"
        body.append(
            f'<text x="{left - 6}" y="{y0 + bar * len(series) / 2 + 4:.1f}" font-size="11" text-anchor="end">'
            f"<title>{_e(label)}</title>{_e(short)}</text>"
        )
        for j, s in enumerate(series):
            v = s.values[i]
            w = plot_w * v / ceiling
            y = y0 + j * bar
            body.append(
                f'<rect x="{left}" y="{y:.1f}" width="{w:.1f}" height="{bar - 2}" fill="{s.colour}">'
                f"<title>{_e(f'{label}: {v} {s.label.lower()}')}</title></rect>"
            )
            body.append(f'<text x="{left + w + 4:.1f}" y="{y + bar - 4:.1f}" font-size="10">{v}</text>')
    body.append(f'<line x1="{left}" y1="{top}" x2="{left}" y2="{max(bottom, top + row)}" stroke="#111"/>')
    if not labels:
        body.append(
            f'<text x="{left + plot_w / 2}" y="{top + row / 2 + 4}" font-size="14" text-anchor="middle">{_e(empty)}</text>'
        )
    return _svg(ident, title, desc, width, height, body)


def _listing(pairs: Iterable[tuple[str, Sequence[int]]], names: Sequence[str], lang: str) -> str:
    """The data of a chart as a sentence, for its description (what a screen reader reads)."""
    items = [
        f"{label}: " + ", ".join(f"{n} {name.lower()}" for name, n in zip(names, values, strict=True))
        for label, values in pairs
        if any(values)
    ]
    return "; ".join(items) + "." if items else ("Tidak ada data." if lang == "id" else "No data.")
