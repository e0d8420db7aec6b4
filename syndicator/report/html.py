"""The report as one self-contained HTML file: the CSS and ``render_html``."""

from __future__ import annotations

from datetime import timedelta

from .charts import DARK, LIGHT, RED, _bar_chart, _column_chart, _e, _listing, _Series
from .model import Counts, MonthlyReport, hold_kind
from .words import _Words

# -- HTML --------------------------------------------------------------------------------------

_CSS = """
:root { color-scheme: light; }
* { box-sizing: border-box; }
body { font-family: "Noto Sans", "DejaVu Sans", Arial, Helvetica, sans-serif; color: #111;
  background: #fff; margin: 0 auto; max-width: 60rem; padding: 1.5rem; line-height: 1.45;
  font-size: 15px; }
h1 { font-size: 1.6rem; margin: 0 0 .25rem; }
h2 { font-size: 1.2rem; margin: 2rem 0 .6rem; padding-bottom: .2rem; border-bottom: 2px solid #1f4e79; }
p.meta { margin: .15rem 0; color: #333; }
table { border-collapse: collapse; width: 100%; margin: .5rem 0 1rem; font-size: .9rem; }
caption { text-align: left; font-weight: bold; padding: .3rem 0; }
th, td { border: 1px solid #9aa5b1; padding: .3rem .45rem; text-align: left; vertical-align: top; }
thead th { background: #e8eef4; }
td.n, th.n { text-align: right; font-variant-numeric: tabular-nums; }
td.n { white-space: nowrap; }
td.d { text-align: right; }
table.wide { font-size: .82rem; }
tfoot td, tfoot th { font-weight: bold; background: #f4f6f8; }
.cards { display: grid; grid-template-columns: repeat(6, minmax(0, 1fr)); gap: .6rem;
  margin: 0; padding: 0; }
@media (max-width: 40rem) { .cards { grid-template-columns: repeat(3, minmax(0, 1fr)); } }
.cards div { border: 1px solid #9aa5b1; border-radius: 4px; padding: .5rem .7rem; }
.cards dt { font-size: .85rem; color: #333; }
.cards dd { margin: 0; font-size: 1.6rem; font-weight: bold; }
figure { margin: 1rem 0 1.5rem; break-inside: avoid; page-break-inside: avoid; }
figure svg { display: block; width: 100%; height: auto; }
figcaption { font-size: .9rem; margin-top: .3rem; }
.key { font-family: "DejaVu Sans Mono", monospace; font-size: .8rem; color: #333; }
.copy { display: block; overflow-wrap: anywhere; }
.small { font-size: .85rem; color: #333; }
a { color: #0b4f8a; }
footer { margin-top: 2rem; font-size: .85rem; color: #333; border-top: 1px solid #9aa5b1;
  padding-top: .5rem; }
@page { size: A4; margin: 15mm 12mm 16mm; }
@media print {
  body { max-width: none; padding: 0; font-size: 10pt; }
  h2 { break-after: avoid; page-break-after: avoid; }
  thead { display: table-header-group; }
  tr, .cards div, table.keep { break-inside: avoid; page-break-inside: avoid; }
  caption { break-after: avoid; page-break-after: avoid; }
  a { color: #000; }
}
"""


def render_html(report: MonthlyReport, lang: str = "id") -> str:
    """The report as one self-contained, printable, accessible HTML file."""
    w = _Words(lang, report)
    month = w.month(report.month)
    last_day = report.end - timedelta(days=1)
    zone_name = report.start.tzname() or report.timezone
    metrics = ("received", "approved", "published", "held", "failed", "retracted")
    counter = {"figure": 0, "table": 0}

    def numbered(kind: str, text: str) -> str:
        counter[kind] += 1
        return f"{w[kind]} {counter[kind]}. {text}, {month}."

    def cell(n: int) -> str:
        return f'<td class="n">{w.number(n)}</td>'

    def count_cells(c: Counts) -> str:
        values = (c.received, c.approved, c.published, c.held_total, c.failed, c.retracted)
        return "".join(cell(v) for v in values)

    metric_heads = "".join(f'<th scope="col" class="n">{_e(w[m])}</th>' for m in metrics)
    out: list[str] = [
        "<!DOCTYPE html>",
        f'<html lang="{lang}">',
        "<head>",
        '<meta charset="utf-8"/>',
        '<meta name="viewport" content="width=device-width, initial-scale=1"/>',
        f"<title>{_e(w['title'])} — {_e(month)}</title>",
        f"<style>{_CSS}</style>",
        "</head>",
        "<body>",
        "<header>",
        f"<h1>{_e(w['title'])}</h1>",
        f'<p class="meta"><strong>{_e(w["period"])}:</strong> {report.start.day}–{last_day.day} {_e(month)}'
        f" ({_e(w['zone'])} {_e(zone_name)}, {_e(report.timezone)})</p>",
        f'<p class="meta"><strong>{_e(w["as_of"])}:</strong> {_e(w.moment(report.as_of))} · '
        f"<strong>{_e(w['generated'])}:</strong> {_e(w.moment(report.generated_at))}</p>",
        "</header>",
        "<main>",
        f'<section aria-labelledby="s-summary"><h2 id="s-summary">{_e(w["summary"])}</h2>',
        '<dl class="cards">',
    ]
    t = report.totals
    for m, v in zip(
        metrics, (t.received, t.approved, t.published, t.held_total, t.failed, t.retracted), strict=True
    ):
        out.append(f"<div><dt>{_e(w[m])}</dt><dd>{w.number(v)}</dd></div>")
    out.append("</dl>")
    timing = report.timing
    out.append(
        f"<p>{_e(w['timing_all'])}: {_e(w['median'].split(' ')[0].lower())} {_e(w.duration(timing.median_seconds))}"
        f", {_e(w['longest'].lower())} {_e(w.duration(timing.longest_seconds))}"
        f" ({w.number(timing.count)} {_e(w['samples'])}).</p></section>"
    )

    # charts
    out.append(f'<section aria-labelledby="s-charts"><h2 id="s-charts">{_e(w["charts"])}</h2>')
    day_series = [
        _Series(w["received"], LIGHT, [d.received for d in report.days]),
        _Series(w["published"], DARK, [d.published for d in report.days]),
    ]
    caption = numbered("figure", w["fig_days"])
    desc = _listing(
        ((w.day(d.date), (d.received, d.published)) for d in report.days),
        [w["received"], w["published"]],
        lang,
    )
    chart = _column_chart(
        "chart-days",
        caption,
        desc,
        [str(d.date.day) for d in report.days],
        [w.day(d.date) for d in report.days],
        day_series,
        w["no_data"],
    )
    out.append(f"<figure>{chart}<figcaption>{_e(caption)}</figcaption></figure>")
    names = [g.name for g in report.channels]
    channel_series = [
        _Series(w["published"], DARK, [g.counts.published for g in report.channels]),
        _Series(w["failed"], RED, [g.counts.failed for g in report.channels]),
    ]
    caption = numbered("figure", w["fig_channels"])
    desc = _listing(
        ((g.name, (g.counts.published, g.counts.failed)) for g in report.channels),
        [w["published"], w["failed"]],
        lang,
    )
    chart = _bar_chart("chart-channels", caption, desc, names, channel_series, w["no_data"])
    out.append(f"<figure>{chart}<figcaption>{_e(caption)}</figcaption></figure>")
    agency_names = [w.agency(g.name) for g in report.agencies]
    agency_series = [
        _Series(w["received"], LIGHT, [g.counts.received for g in report.agencies]),
        _Series(w["published"], DARK, [g.counts.published for g in report.agencies]),
    ]
    caption = numbered("figure", w["fig_agencies"])
    desc = _listing(
        ((w.agency(g.name), (g.counts.received, g.counts.published)) for g in report.agencies),
        [w["received"], w["published"]],
        lang,
    )
    chart = _bar_chart("chart-agencies", caption, desc, agency_names, agency_series, w["no_data"])
    out.append(f"<figure>{chart}<figcaption>{_e(caption)}</figcaption></figure></section>")

    # per agency
    out.append(f'<section aria-labelledby="s-agencies"><h2 id="s-agencies">{_e(w["by_agency"])}</h2>')
    out.append(f"<table><caption>{_e(numbered('table', w['tab_agencies']))}</caption>")
    out.append(f'<thead><tr><th scope="col">{_e(w["agency"])}</th>{metric_heads}</tr></thead><tbody>')
    for g in report.agencies:
        out.append(f'<tr><th scope="row">{_e(w.agency(g.name))}</th>{count_cells(g.counts)}</tr>')
    if not report.agencies:
        out.append(f'<tr><td colspan="7">{_e(w["none"])}</td></tr>')
    out.append(
        f'</tbody><tfoot><tr><th scope="row">{_e(w["total"])}</th>{count_cells(t)}</tr></tfoot></table>'
    )
    out.append("</section>")

    # per channel
    out.append(f'<section aria-labelledby="s-channels"><h2 id="s-channels">{_e(w["by_channel"])}</h2>')
    out.append(f'<table class="wide keep"><caption>{_e(numbered("table", w["tab_channels"]))}</caption>')
    out.append(
        f'<thead><tr><th scope="col">{_e(w["channel"])}</th><th scope="col">{_e(w["type"])}</th>'
        f'{metric_heads}<th scope="col" class="n">{_e(w["median"])}</th>'
        f'<th scope="col" class="n">{_e(w["longest"])}</th></tr></thead><tbody>'
    )
    for g in report.channels:
        out.append(
            f'<tr><th scope="row">{_e(g.name)}</th><td>{_e(g.type or "–")}</td>{count_cells(g.counts)}'
            f'<td class="d">{_e(w.duration(g.timing.median_seconds))}</td>'
            f'<td class="d">{_e(w.duration(g.timing.longest_seconds))}'
            + (
                f'<br/><span class="key">{_e(g.timing.longest_release)}</span>'
                if g.timing.longest_release
                else ""
            )
            + "</td></tr>"
        )
    if not report.channels:
        out.append(f'<tr><td colspan="10">{_e(w["none"])}</td></tr>')
    out.append("</tbody></table></section>")

    # held, by reason
    out.append(f'<section aria-labelledby="s-held"><h2 id="s-held">{_e(w["held_title"])}</h2>')
    if t.held:
        out.append(f'<table class="keep"><caption>{_e(numbered("table", w["tab_held"]))}</caption>')
        out.append(
            f'<thead><tr><th scope="col">{_e(w["reason"])}</th>'
            f'<th scope="col" class="n">{_e(w["count"])}</th></tr></thead><tbody>'
        )
        for kind, n in sorted(t.held.items(), key=lambda kv: (-kv[1], kv[0])):
            out.append(f'<tr><th scope="row">{_e(w.reason(kind))}</th>{cell(n)}</tr>')
        out.append("</tbody></table>")
    else:
        out.append(f"<p>{_e(w['none'])}</p>")
    out.append("</section>")

    # the releases
    out.append(f'<section aria-labelledby="s-list"><h2 id="s-list">{_e(w["list"])}</h2>')
    out.append(f'<table class="wide"><caption>{_e(numbered("table", w["tab_list"]))}</caption>')
    out.append(
        "<thead><tr>"
        + "".join(
            f'<th scope="col">{_e(w[k])}</th>'
            for k in ("no", "release", "date", "approved", "status", "copies")
        )
        + "</tr></thead><tbody>"
    )
    for i, e in enumerate(report.releases, 1):
        status = w.state(e.state)
        if e.reason and e.state in ("held", "retracted", "unrouted"):
            why = w.reason(hold_kind(e.reason)) if e.state == "held" else e.reason
            status += f": {why}"
        approved = w.moment(e.approved_at, year=False)
        if e.approved_by:
            approved += f' <span class="small">{_e(w["by"])} {_e(e.approved_by)}</span>'
        copies = []
        for c in e.copies:
            when = f" {_e(w.moment(c.published_at, year=False))}" if c.published_at else ""
            if c.url.startswith(("https://", "http://")):
                link = f'<a href="{_e(c.url)}">{_e(c.url)}</a>'
            else:
                link = f'<span class="key">{_e(c.url)}</span>' if c.url else ""
            state = "" if c.state == "sent" else f" ({_e(w.state(c.state))})"
            copies.append(
                f'<span class="copy"><strong>{_e(c.channel)}</strong>{state}{when}'
                + (f"<br/>{link}" if link else "")
                + "</span>"
            )
        out.append(
            f'<tr><td class="n">{i}</td><td>{_e(e.title)}<br/><span class="small">{_e(w.agency(e.agency))}'
            f'</span><br/><span class="key">{_e(e.key)}</span></td>'
            f"<td>{_e(w.moment(e.date or e.received_at, year=False))}</td>"
            f"<td>{approved}</td><td>{_e(status)}</td><td>{''.join(copies) or '–'}</td></tr>"
        )
    if not report.releases:
        out.append(f'<tr><td colspan="6">{_e(w["no_releases"])}</td></tr>')
    out.append("</tbody></table></section>")

    # definitions
    out.append(f'<section aria-labelledby="s-notes"><h2 id="s-notes">{_e(w["notes"])}</h2><dl>')
    for m in metrics:
        out.append(f"<dt><strong>{_e(w[m])}</strong></dt><dd>{_e(w['def_' + m])}</dd>")
    out.append(f"</dl><p>{_e(w['def_timing'])}</p></section>")
    out.append("</main>")
    out.append(f"<footer><p>{_e(w['footer'].format(zone=report.timezone))}</p></footer>")
    out.append("</body>")
    out.append("</html>")
    return "\n".join(out) + "\n"
