"""Rendering the pack: accessible HTML (no JavaScript), and a PDF of the same HTML (WeasyPrint)."""

from __future__ import annotations

import datetime as dt
import html
from importlib.resources import files

from jinja2 import Environment, PackageLoader, select_autoescape

from exchange.canonical import ChildRecord
from exchange.pack.view import Pack, PersonView, TransferFacts, child_pack

_env = Environment(
    loader=PackageLoader("exchange.pack", "templates"), autoescape=select_autoescape(["html"])
)
_CSS = (files("exchange.pack") / "templates" / "pack.css").read_text(encoding="utf-8")

PARENTS = {
    "mother",
    "father",
    "step parent",
    "adoptive parent",
    "parent partner",
    "special guardian",
}


def build_pack(
    records: list[ChildRecord],
    transfer: TransferFacts,
    *,
    today: dt.date,
    generated_at: dt.datetime,
    viewer: str | None = None,
    viewer_label: str | None = None,
) -> Pack:
    """The pack of a transfer's records."""
    return Pack(
        transfer=transfer,
        children=[child_pack(r, today=today, viewer=viewer) for r in records],
        generated_at=f"{generated_at:%d %B %Y %H:%M} UTC",
        viewer=viewer_label or viewer,
    )


def family_diagram(child_name: str, people: list[PersonView], index: int = 1) -> str:
    """A small SVG: parents and carers above the child, siblings and others beside; solid lines
    for people the child lives with."""
    if not people:
        return ""
    above = [p for p in people if p.relationship in PARENTS]
    beside = [p for p in people if p.relationship not in PARENTS]
    width = max(len(above), len(beside), 1) * 170 + 40
    height = 230 if beside else 150
    box_w, box_h = 150, 46
    parts = [
        f'<svg class="family-diagram" role="img" aria-labelledby="c{index}-fd-title" viewBox="0 0 {width} {height}" width="{width}" height="{height}" xmlns="http://www.w3.org/2000/svg">',
        f'<title id="c{index}-fd-title">Family diagram: {html.escape(child_name)} and {len(people)} related people</title>',
    ]
    cx, cy = width / 2, 115
    rows = [(above, 10), (beside, 175)]
    for group, y in rows:
        for i, person in enumerate(group, 1):
            x = cx + (i - (len(group) + 1) / 2) * 170
            dash = "" if person.lives_with_child else ' stroke-dasharray="6 4"'
            parts.append(
                f'<line x1="{x:.0f}" y1="{y + box_h / 2:.0f}" x2="{cx:.0f}" y2="{cy:.0f}" stroke="#484949" stroke-width="2"{dash}/>'
            )
            colour = "#b10e1e" if person.alerts else "#0b0c0c"
            parts.append(
                f'<rect x="{x - box_w / 2:.0f}" y="{y}" width="{box_w}" height="{box_h}" fill="#fff" stroke="{colour}" stroke-width="2"/>'
                f'<text x="{x:.0f}" y="{y + 19}" text-anchor="middle" font-size="13" fill="#0b0c0c">{html.escape(person.name[:22])}</text>'
                f'<text x="{x:.0f}" y="{y + 36}" text-anchor="middle" font-size="11" fill="#484949">{html.escape(person.relationship)}{" · alert" if person.alerts else ""}</text>'
            )
    parts.append(
        f'<rect x="{cx - 80:.0f}" y="{cy - 22:.0f}" width="160" height="44" fill="#0b0c0c"/>'
        f'<text x="{cx:.0f}" y="{cy + 5:.0f}" text-anchor="middle" font-size="14" fill="#fff" font-weight="bold">{html.escape(child_name[:22])}</text>'
    )
    parts.append("</svg>")
    parts.append(
        '<p class="small">Solid line: lives with the child. Dashed: does not. Red box: has an alert.</p>'
    )
    return "".join(parts)


def render_html(pack: Pack) -> str:
    """The pack as a standalone HTML page."""
    diagrams = [family_diagram(c.name, c.people, i) for i, c in enumerate(pack.children, 1)]
    return _env.get_template("pack.html").render(pack=pack, css=_CSS, diagrams=diagrams)


def render_pdf(page: str) -> bytes:
    """The same pack as a PDF (A4, page numbers, protective marking, transfer id in the footer)."""
    from weasyprint import HTML

    pdf: bytes = HTML(string=page).write_pdf()
    return pdf
