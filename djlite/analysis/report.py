"""report.html: one self-contained page (images as data URIs, no script, nothing fetched) that a person
reads to choose thresholds: per stat its distribution, the recipe's thresholds, what they would keep and
drop, and thumbnails of the videos at both ends and on either side of each threshold."""

import base64
import html
import time
from dataclasses import dataclass, field

from djlite.analysis.overall import COLUMNS, md_number
from djlite.analysis.thresholds import Bound
from djlite.analysis.whatif import WHATIF_COLUMNS, StepCounts, whatif_row

STYLE = """
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, "DejaVu Sans", sans-serif; color: #1d2330;
       margin: 0; background: #f6f7f9; }
main { max-width: 1180px; margin: 0 auto; padding: 20px 28px 48px; }
h1 { font-size: 24px; margin: 8px 0 4px; } h2 { font-size: 19px; margin: 34px 0 8px; border-bottom: 2px solid #dde1e8;
       padding-bottom: 4px; } h3 { font-size: 15px; margin: 18px 0 6px; }
.meta { color: #5b6475; margin: 0 0 14px; word-break: break-all; }
.cards { display: flex; gap: 12px; flex-wrap: wrap; margin: 12px 0; }
.card { background: #fff; border: 1px solid #dde1e8; border-radius: 8px; padding: 10px 16px; min-width: 140px; }
.card b { display: block; font-size: 22px; } .card span { color: #5b6475; font-size: 12px; }
nav a { margin-right: 12px; white-space: nowrap; }
table { border-collapse: collapse; background: #fff; margin: 6px 0 10px; font-size: 13px; }
th, td { border: 1px solid #dde1e8; padding: 3px 8px; text-align: right; white-space: nowrap; }
th { background: #eef1f5; white-space: normal; } td:first-child, th:first-child, .text { text-align: left; }
.wide { overflow-x: auto; max-width: 100%; }
.plots { display: flex; flex-wrap: wrap; gap: 8px; align-items: flex-start; }
.plots img { background: #fff; border: 1px solid #dde1e8; width: calc(50% - 6px); min-width: 420px; height: auto; }
.bounds li { margin: 2px 0; }
.thumbs { display: flex; flex-wrap: wrap; gap: 10px; margin: 4px 0 12px; }
figure { margin: 0; background: #fff; border: 1px solid #dde1e8; border-radius: 6px; padding: 6px; width: 204px; }
figure img { display: block; max-width: 200px; max-height: 150px; margin: 0 auto; }
figcaption { font-size: 12px; margin-top: 4px; word-break: break-all; }
figcaption .value { font-weight: 600; font-size: 13px; }
.kept { color: #136f2d; font-weight: 600; } .removed { color: #b3261e; font-weight: 600; }
.failed { height: 90px; display: flex; align-items: center; justify-content: center; color: #b3261e;
          font-size: 12px; text-align: center; }
.note { color: #5b6475; font-size: 13px; }
"""


@dataclass
class StatSection:
    name: str
    summary: dict
    bounds: list[Bound]
    plots: list[bytes]  # PNG bytes: histogram, box plot
    steps: list[StepCounts]  # the filter steps bounding this stat
    examples: list[tuple] = field(default_factory=list)  # (Example, path or None, (jpeg, w, h) or error string)


def _esc(value) -> str:
    return html.escape(str(value), quote=True)


def _data_uri(data: bytes, mime: str) -> str:
    return f"data:{mime};base64,{base64.b64encode(data).decode('ascii')}"


def _table(header, rows, text_columns=()) -> str:
    head = "".join(
        f'<th class="text">{_esc(h.replace("_", " "))}</th>'
        if i in text_columns
        else f"<th>{_esc(h.replace('_', ' '))}</th>"
        for i, h in enumerate(header)
    )
    body = []
    for row in rows:
        cells = "".join(
            f'<td class="text">{_esc(c)}</td>' if i in text_columns else f"<td>{_esc(md_number(c))}</td>"
            for i, c in enumerate(row)
        )
        body.append(f"<tr>{cells}</tr>")
    return f'<div class="wide"><table><thead><tr>{head}</tr></thead><tbody>{"".join(body)}</tbody></table></div>'


def _whatif_table(steps: list[StepCounts]) -> str:
    rows = [whatif_row(s) for s in steps]
    return _table(WHATIF_COLUMNS, rows, text_columns=(1, 2))


def _figure(example, path, thumb) -> str:
    if isinstance(thumb, tuple):
        data, width, height = thumb
        picture = f'<img src="{_data_uri(data, "image/jpeg")}" width="{width}" height="{height}" alt="{_esc(path)}">'
    else:
        picture = f'<div class="failed">{_esc(thumb)}</div>'
    verdict = f' <span class="{example.verdict}">{example.verdict}</span>' if example.verdict else ""
    video = "" if example.position < 0 else f" (video {example.position})"
    return (
        f'<figure>{picture}<figcaption><span class="value">{_esc(md_number(example.value))}</span>{verdict}'
        f"<br>sample {example.row}{video}<br>{_esc(path or 'no video path')}</figcaption></figure>"
    )


def _examples_html(section: StatSection, thumbnails_note: str) -> str:
    if not section.examples:
        return f'<p class="note">{_esc(thumbnails_note)}</p>' if thumbnails_note else ""
    groups: dict[str, list[str]] = {}
    for example, path, thumb in section.examples:
        groups.setdefault(example.group, []).append(_figure(example, path, thumb))
    out = []
    for group, figures in groups.items():
        title = {"lowest": "Lowest values", "highest": "Highest values"}.get(group, f"Either side of {group}")
        out.append(f'<h3>{_esc(title)}</h3><div class="thumbs">{"".join(figures)}</div>')
    return "".join(out)


def _stat_html(section: StatSection, thumbnails_note: str) -> str:
    parts = [f'<h2 id="stat-{_esc(section.name)}">{_esc(section.name)}</h2>']
    parts.append(_table(COLUMNS, [[section.summary[c] for c in COLUMNS]], text_columns=(0,)))
    if section.bounds:
        items = "".join(f"<li>{_esc(b.describe())}</li>" for b in section.bounds)
        parts.append(f'<ul class="bounds">{items}</ul>')
    else:
        parts.append('<p class="note">No step of the recipe sets a threshold on this stat.</p>')
    if section.steps:
        parts.append(_whatif_table(section.steps))
    images = "".join(
        f'<img src="{_data_uri(png, "image/png")}" alt="{_esc(section.name)} {kind}">'
        for png, kind in zip(section.plots, ("histogram", "box plot"))
    )
    parts.append(f'<div class="plots">{images}</div>')
    parts.append(_examples_html(section, thumbnails_note))
    return "".join(parts)


def render_report(
    title: str,
    source: str,
    counts: dict,
    overall_table: list[dict],
    steps: list[StepCounts],
    sections: list[StatSection],
    errors: list[str],
    thumbnails_note: str = "",
    overall_notes: list[str] = (),
) -> str:
    cards = "".join(f'<div class="card"><b>{_esc(v)}</b><span>{_esc(k)}</span></div>' for k, v in counts.items())
    nav = " ".join(f'<a href="#stat-{_esc(s.name)}">{_esc(s.name)}</a>' for s in sections)
    body = [
        f"<h1>{_esc(title)}</h1>",
        f'<p class="meta">stats: {_esc(source)} · written {_esc(time.strftime("%Y-%m-%d %H:%M:%S"))}</p>',
        f'<div class="cards">{cards}</div>',
        f"<nav>{nav}</nav>" if nav else "",
        "<h2>Overall</h2>",
        '<p class="note">A sample with several videos contributes one value per video; std has ddof=1.</p>',
        _table(COLUMNS, [[row[c] for c in COLUMNS] for row in overall_table], text_columns=(0,)),
        *(f'<p class="note">{_esc(n)}</p>' for n in overall_notes),
    ]
    if steps:
        body += [
            "<h2>What the recipe's thresholds would do</h2>",
            '<p class="note">Samples per step. <i>alone</i>: that step by itself on every analysed sample '
            "(<i>unknown</i>: an earlier step failed on the sample, so it has no stats for this one). "
            "<i>seq</i>: the steps in recipe order, as dj-process runs them.</p>",
            _whatif_table(steps),
        ]
        notes = [n for s in steps for n in s.notes]
        body += [f'<p class="note">{_esc(n)}</p>' for n in dict.fromkeys(notes)]
    body += [_stat_html(s, thumbnails_note) for s in sections]
    if errors:
        items = "".join(f"<li>{_esc(e)}</li>" for e in errors)
        body.append(f"<h2>Errors</h2><ul>{items}</ul>")
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f'<link rel="icon" href="data:,"><title>{_esc(title)}</title><style>{STYLE}</style></head>'
        f"<body><main>{''.join(body)}</main></body></html>\n"
    )
