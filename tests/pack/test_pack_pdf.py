"""The transfer pack as a PDF (issue 8): produced server-side, opened and read back with pypdf."""

from __future__ import annotations

import datetime as dt
import io
import re
from collections.abc import Callable
from typing import Any

from fastapi.testclient import TestClient
from pypdf import PdfReader
from support import bearer

MARKING = "OFFICIAL-SENSITIVE"


def pages_of(response: Any) -> list[str]:
    """Each page's text, whitespace collapsed (extraction breaks lines where the layout does)."""
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/pdf"
    assert response.content.startswith(b"%PDF-")
    reader = PdfReader(io.BytesIO(response.content))
    return [" ".join((page.extract_text() or "").split()) for page in reader.pages]


def squeezed(text: str) -> str:
    """Text with no whitespace at all: extraction may split a word at a kerned pair
    ("Example T errace"), so addresses are compared without spaces."""
    return "".join(text.split())


def long_date(iso: str) -> str:
    day = dt.date.fromisoformat(iso)
    return f"{day.day} {day:%B %Y}"


def test_the_pdf_comes_by_query_or_by_accept_header_and_is_audited(
    client: TestClient,
    cp_plan_transfer: Any,
    get_pack: Callable[..., Any],
    make_client: Callable[..., str],
) -> None:
    by_query = get_pack(cp_plan_transfer, format="pdf")
    by_accept = get_pack(cp_plan_transfer, headers={"Accept": "application/pdf"})
    for response in (by_query, by_accept):
        disposition = response.headers["content-disposition"]
        assert disposition.startswith("inline;")
        assert cp_plan_transfer.id in disposition
        assert response.headers["cache-control"] == "no-store"
    assert "Tilly Rose Specimen" in pages_of(by_accept)[0]
    # The query wins over the header: a link that says html gets html.
    html = get_pack(cp_plan_transfer, headers={"Accept": "application/pdf"}, format="html")
    assert html.headers["content-type"].startswith("text/html")

    pages = pages_of(by_query)
    first = pages[0]
    for text in ("Tilly Rose Specimen", "NHS number 9434765919", "UPN R202410020123"):
        assert text in first, f"{text!r} not on page one: {first[:600]}"
    assert first.index("Alerts and risks") < first.index("HIGH Risk from person")
    assert len(pages) > 1, "the whole case, not just page one"
    for n, text in enumerate(pages, 1):
        assert text.count(MARKING) >= 2, f"page {n}: marking at the top and in the footer"
        assert f"Page {n} of {len(pages)}" in text, f"page {n}: {text[-200:]}"
        footer = re.search(rf"{MARKING} · Transfer (\S+) · generated (.+? UTC)", text)
        assert footer is not None, f"page {n} footer: {text[-200:]}"
        assert footer.group(1) == cp_plan_transfer.id
        generated = dt.datetime.strptime(footer.group(2), "%d %B %Y %H:%M UTC").replace(
            tzinfo=dt.UTC
        )
        assert abs(dt.datetime.now(dt.UTC) - generated) < dt.timedelta(minutes=5)
    whole = " ".join(pages)
    for later in ("Chronology, newest first", "Episodes and plans", "Paper file reference"):
        assert later in whole
    assert squeezed("Flat 3, 17 Example Terrace, Cambridge, CB4 9ZZ") in squeezed(whole), (
        "the authorities' copy"
    )
    assert "Not to be disclosed to Dominic Placeholder (father)" in whole

    auditor = make_client(role="auditor", authority=None, name="national auditor")
    events = client.get(
        "/v1/audit/events",
        params={"transfer_id": cp_plan_transfer.id, "action": "record.read"},
        headers=bearer(auditor),
    ).json()["items"]
    assert sorted(e["details"]["format"] for e in events) == ["pack-html", "pack-pdf", "pack-pdf"]


def test_an_unborn_childs_page_one(unborn_transfer: Any, get_pack: Callable[..., Any]) -> None:
    first = pages_of(get_pack(unborn_transfer, format="pdf"))[0]
    for text in ("Unborn Mockford", "unborn, due 15 January 2027", "CC7700123"):
        assert text in first, f"{text!r} not on page one: {first[:600]}"
    assert first.index("Alerts and risks") < first.index("HIGH Risk from person")


def test_page_one_has_the_conference_due_date(
    client: TestClient, unborn_transfer: Any, get_pack: Callable[..., Any]
) -> None:
    first = pages_of(get_pack(unborn_transfer, format="pdf"))[0]
    sent = unborn_transfer
    transfer = client.get(f"/v1/transfers/{sent.id}", headers=bearer(sent.receiver)).json()
    assert f"Due by {long_date(transfer['transfer_in_conference_due'])}" in first


def test_the_fathers_pdf_has_no_trace_of_the_confidential_address(
    cp_plan_transfer: Any, get_pack: Callable[..., Any]
) -> None:
    pages = pages_of(get_pack(cp_plan_transfer, format="pdf", for_person="rp-father"))
    fathers = " ".join(pages)
    for part in ("CB4 9ZZ", "17 Example Terrace", "Flat 3"):
        assert squeezed(part) not in squeezed(fathers)
    assert "Do not tell the father" not in fathers
    assert "Tilly Rose Specimen" in pages[0]
    assert "Alerts and risks" in pages[0]
    assert "confidential item(s) were left out of this copy" in fathers


def test_the_fathers_pdf_says_whose_copy_it_is(
    cp_plan_transfer: Any, get_pack: Callable[..., Any]
) -> None:
    pages = pages_of(get_pack(cp_plan_transfer, format="pdf", for_person="rp-father"))
    assert "Copy for Dominic Placeholder (father)" in pages[0]
