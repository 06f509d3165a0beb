"""The transfer pack as HTML (issue 8): what a receiving social worker reads, and in what order.

The pack is fetched through GET /v1/transfers/{id}/pack and parsed with lxml: the tests look at the
headings, the text and the markup a reader (or a screen reader) meets, never at the template.
"""

from __future__ import annotations

import datetime as dt
import itertools
import re
from collections.abc import Callable
from typing import Any
from zoneinfo import ZoneInfo

import lxml.html
import pytest
from fastapi.testclient import TestClient
from lxml.html import HtmlElement
from support import bearer, example

SEVERITY_RANK = {"high": 0, "medium": 1, "low": 2}
# The first page, in the order, then the rest: one pattern per section heading.
SECTION_ORDER = [
    ("alerts and risks", r"^alerts and risks$"),
    ("where the child lives now", r"^where .+ lives now$"),
    ("why the case is moving", r"why the case is moving"),
    ("transfer-in conference", r"transfer-in conference"),
    ("who to call", r"^who to call at "),
    ("the plan", r"\bplan\b.*social worker"),
    ("family and household", r"family and household"),
    ("professionals", r"professionals"),
    ("chronology", r"chronology"),
    ("episodes and plans", r"episodes and plans"),
    ("agency contributions", r"agencies"),
    ("documents", r"^documents$"),
    ("unmapped fields", r"without a place in the record"),
]
CONFIDENTIAL_ADDRESS_PARTS = ("Flat 3", "17 Example Terrace", "CB4 9ZZ", "CB49ZZ")


def parse(text: str) -> HtmlElement:
    doc = lxml.html.document_fromstring(text)
    for br in doc.iter("br"):  # a line break separates words, as on screen
        br.tail = " " + (br.tail or "")
    return doc


def words(element: HtmlElement) -> str:
    """An element's text as read: whitespace collapsed."""
    return " ".join(element.text_content().split())


def long_date(iso: str) -> str:
    day = dt.date.fromisoformat(iso)
    return f"{day.day} {day:%B %Y}"


def london_today() -> dt.date:
    return dt.datetime.now(ZoneInfo("Europe/London")).date()


def age_in_years(born: str, today: dt.date) -> int:
    b = dt.date.fromisoformat(born)
    return today.year - b.year - ((today.month, today.day) < (b.month, b.day))


def rows(container: HtmlElement) -> list[list[str]]:
    """The body rows of the tables in the container, each as its cells' text."""
    return [[words(cell) for cell in tr] for tr in container.xpath(".//table/tbody/tr")]


def section(doc: HtmlElement, heading: str) -> HtmlElement:
    """The <section> whose h2 matches the pattern (the first child's)."""
    for h2 in doc.iter("h2"):
        if re.search(heading, words(h2), re.IGNORECASE):
            parent = h2.getparent()
            assert parent is not None
            assert parent.tag == "section", words(h2)
            return parent
    raise AssertionError(f"no section headed {heading!r}")


def identifiers(doc: HtmlElement) -> dict[str, str]:
    """The child's identifiers as the terms and values listed under the name."""
    who = doc.get_element_by_id("c1-name").getparent()
    return {words(dt_): words(dt_.getnext()) for dt_ in who.iter("dt")}


def alert_items(doc: HtmlElement) -> list[HtmlElement]:
    return section(doc, SECTION_ORDER[0][1]).xpath(".//li")


def transfer_json(client: TestClient, sent: Any) -> dict[str, Any]:
    response = client.get(f"/v1/transfers/{sent.id}", headers=bearer(sent.receiver))
    assert response.status_code == 200, response.text
    data: dict[str, Any] = response.json()
    return data


# --- page one: order and content -----------------------------------------------------------------


def test_the_sections_come_in_the_page_one_order_then_the_rest(
    cp_plan_transfer: Any, get_pack: Callable[..., Any]
) -> None:
    response = get_pack(cp_plan_transfer)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/html")
    doc = parse(response.text)

    headings = [(h.tag, words(h)) for h in doc.iter("h1", "h2")]
    assert headings[0] == ("h1", "Tilly Rose Specimen"), "page one starts with who the child is"
    h2s = [text for tag, text in headings if tag == "h2"]
    found = []
    for label, pattern in SECTION_ORDER:
        matches = [i for i, text in enumerate(h2s) if re.search(pattern, text, re.IGNORECASE)]
        assert matches, f"no {label} section in {h2s}"
        found.append((matches[0], label))
    assert [label for _, label in sorted(found)] == [label for label, _ in SECTION_ORDER], h2s
    assert (
        section(doc, "where .+ lives now").xpath("h2")[0].text_content().startswith("Where Tilly")
    ), "the home section speaks of the child by name"


def test_who_the_child_is_name_age_and_identifiers(
    cp_plan_transfer: Any, get_pack: Callable[..., Any]
) -> None:
    record = example("cp-plan-child")
    doc = parse(get_pack(cp_plan_transfer).text)

    lead = words(doc.find_class("lead")[0])
    years = age_in_years(record["child"]["birth_date"], london_today())
    assert lead.startswith(f"{years} years · born 14 March 2016 · Female")
    assert "also known as Matilda Placeholder" in lead
    ids = identifiers(doc)
    assert ids["NHS number"] == "9434765919"
    assert ids["UPN"] == "R202410020123"
    assert ids["Sending authority's id"] == "CAM100234567"
    assert ids["Ethnicity"] == "White and Black Caribbean"
    photo = doc.find_class("photo")[0]
    assert photo.get("role") == "img"
    assert photo.get("aria-label"), "a labelled photo placeholder"
    assert "OFFICIAL-SENSITIVE" in doc.findtext(".//title")


def test_alerts_come_high_first_then_medium(
    cp_plan_transfer: Any, get_pack: Callable[..., Any]
) -> None:
    doc = parse(get_pack(cp_plan_transfer).text)
    severities = [
        words(li.find_class("tag")[0]).lower()
        for li in alert_items(doc)
        if words(li.find_class("tag")[0]).lower() in SEVERITY_RANK
    ]
    record_alerts = [a for a in example("cp-plan-child")["alerts"] if not a.get("end_date")]
    assert len(severities) == len(record_alerts), "every open alert is listed"
    assert severities == sorted(severities, key=SEVERITY_RANK.__getitem__), severities
    assert severities[0] == "high"
    summaries = [words(li) for li in alert_items(doc)]
    assert any("non-molestation order" in s for s in summaries[:2]), "the high risk leads"


def test_where_the_child_lives_and_with_whom(
    cp_plan_transfer: Any, get_pack: Callable[..., Any]
) -> None:
    home = section(parse(get_pack(cp_plan_transfer).text), "where .+ lives now")
    text = words(home)
    assert "Flat 3, 17 Example Terrace, Cambridge, CB4 9ZZ" in text
    assert "since 5 October 2026" in text
    assert "Lives with: Rosa Specimen (mother), Alfie Specimen (half sibling)." in text
    assert "22 Imaginary Road" not in text, "the previous address is not where the child lives now"


def test_why_the_case_is_moving_and_the_legal_status(
    cp_plan_transfer: Any, get_pack: Callable[..., Any]
) -> None:
    why = section(parse(get_pack(cp_plan_transfer).text), "why the case is moving")
    facts = {words(d): words(d.getnext()) for d in why.iter("dt")}
    assert "The family moved to Cambridgeshire." in words(why)
    assert facts["From"] == "London Borough of Camden"
    assert facts["To"] == "Cambridgeshire County Council"
    assert facts["Legal status"] == "Child protection plan since 23 March 2026"
    assert facts["Categories"] == "initially Neglect, now Emotional abuse"
    assert facts["Last review"] == "12 October 2026"


def test_the_conference_due_date_and_working_days_left_match_the_transfer(
    client: TestClient, cp_plan_transfer: Any, get_pack: Callable[..., Any]
) -> None:
    doc = parse(get_pack(cp_plan_transfer).text)
    transfer = transfer_json(client, cp_plan_transfer)
    due = words(section(doc, "transfer-in conference"))
    days = transfer["working_days_left"]
    assert days >= 0
    assert (
        f"Due by {long_date(transfer['transfer_in_conference_due'])}: "
        f"{days} working day{'s' if days != 1 else ''} left." in due
    )
    assert "have not started yet" in due, "not acknowledged: the date is the latest it can be"


def test_after_acknowledgement_the_pack_shows_the_started_clock(
    client: TestClient, cp_plan_transfer: Any, get_pack: Callable[..., Any]
) -> None:
    acked = client.post(
        f"/v1/transfers/{cp_plan_transfer.id}/acknowledge",
        headers=bearer(cp_plan_transfer.receiver),
    )
    assert acked.status_code == 200, acked.text
    due = words(section(parse(get_pack(cp_plan_transfer).text), "transfer-in conference"))
    transfer = transfer_json(client, cp_plan_transfer)
    assert transfer["conference_clock_started"] is True
    assert f"Due by {long_date(transfer['transfer_in_conference_due'])}:" in due
    assert f"{transfer['working_days_left']} working days left" in due
    assert "have not started yet" not in due


def test_who_to_call_is_the_lead_worker_at_the_sending_authority(
    cp_plan_transfer: Any, get_pack: Callable[..., Any]
) -> None:
    call = words(
        section(parse(get_pack(cp_plan_transfer).text), "who to call at London Borough of Camden")
    )
    assert "Sam Example, Allocated social worker" in call
    assert "020 7946 0001" in call
    assert "sam.example@example.org" in call
    assert "Dr Priya Fictitious" not in call, "only the lead worker, not every professional"


def test_the_rest_of_the_case_is_there(cp_plan_transfer: Any, get_pack: Callable[..., Any]) -> None:
    doc = parse(get_pack(cp_plan_transfer).text)
    record = example("cp-plan-child")
    assert words(section(doc, "social worker")).startswith(
        "The plan, in the social worker's words " + record["current_plan"]["text"][:40]
    )
    family = section(doc, "family and household")
    assert family.xpath(".//*[local-name()='svg']"), "a relationship diagram"
    people = {row[0]: row[1:4] for row in rows(family)}
    assert people["Rosa Specimen born 2 July 1992"] == ["mother", "Yes", "Yes"]
    assert people["Dominic Placeholder born 20 November 1989"] == ["father", "Yes", "No"]
    assert people["Alfie Specimen born 30 August 2024"] == ["half sibling", "Not recorded", "Yes"]
    professionals = [row[0] for row in rows(section(doc, "professionals"))]
    assert professionals == [
        p["name"] + (" (lead)" if p.get("is_lead") else "") for p in record["professionals"]
    ]
    agencies = words(section(doc, "agencies"))
    assert all(a["title"] in agencies for a in record["agency_contributions"])
    assert record["documents"][0]["title"] in words(section(doc, "^documents$"))
    [unmapped] = rows(section(doc, "without a place"))
    assert unmapped[:2] == [
        "Paper file reference",
        "Archive box 14, folder 3 (2021-2022 CIN episode)",
    ]
    assert unmapped[2].startswith("legacy_case_notes.xlsx, Notes, row 12, F")


# --- the chronology ------------------------------------------------------------------------------


def test_chronology_is_newest_first_and_every_entry_has_a_category(
    cp_plan_transfer: Any, get_pack: Callable[..., Any]
) -> None:
    doc = parse(get_pack(cp_plan_transfer).text)
    chronology = section(doc, "chronology")
    entries = chronology.xpath(".//ol/li")
    record = example("cp-plan-child")["chronology"]
    assert len(entries) == len(record)
    dates = [li.xpath(".//time/@datetime")[0] for li in entries]
    assert dates == sorted((e["date"] for e in record), reverse=True)
    categories = [li.get("data-category") for li in entries]
    assert categories == [
        e["category"] for e in sorted(record, key=lambda e: e["date"], reverse=True)
    ]
    # A filter for each category present, with how many entries it shows, and one for all.
    labels = {words(label) for label in chronology.xpath(".//fieldset//label")}
    assert f"all ({len(record)})" in labels
    for category in set(categories):
        n = categories.count(category)
        assert f"{category.replace('_', ' ')} ({n})" in labels
    radios = chronology.xpath(".//fieldset//input")
    assert all(r.get("type") == "radio" for r in radios)
    assert len({r.get("name") for r in radios}) == 1, "one group: one choice at a time"


# --- confidentiality -----------------------------------------------------------------------------


def test_authorities_copy_shows_the_confidential_address_with_its_warning(
    cp_plan_transfer: Any, get_pack: Callable[..., Any]
) -> None:
    for token in (cp_plan_transfer.sender, cp_plan_transfer.receiver):
        doc = parse(get_pack(cp_plan_transfer, token).text)
        home = section(doc, "where .+ lives now")
        [warning] = home.find_class("warning")
        assert "Confidential address." in words(warning)
        assert "Not to be disclosed to Dominic Placeholder (father)." in words(warning)
        # The warning comes before the address it warns about.
        address = home.find_class("address")[0]
        assert list(home.iter()).index(warning) < list(home.iter()).index(address)
        assert "CB4 9ZZ" in words(address)
        do_not_disclose = [li for li in alert_items(doc) if "Do not disclose address" in words(li)]
        assert len(do_not_disclose) == 1
        assert "Not to be disclosed to Dominic Placeholder (father)." in words(do_not_disclose[0])


def test_the_fathers_copy_leaves_the_address_and_its_alert_out_entirely(
    cp_plan_transfer: Any, get_pack: Callable[..., Any]
) -> None:
    response = get_pack(cp_plan_transfer, for_person="rp-father")
    assert response.status_code == 200, response.text
    raw = response.text
    for part in CONFIDENTIAL_ADDRESS_PARTS:
        assert part.lower() not in raw.lower(), f"{part!r} is in the father's copy"
    doc = parse(raw)
    assert all("Do not disclose address" not in words(li) for li in alert_items(doc))
    assert "where Tilly now lives" not in raw, "the do-not-disclose alert is gone"
    assert "Copy for Dominic Placeholder (father)" in words(doc.find(".//header"))
    home = words(section(doc, "where .+ lives now"))
    assert "Not shown in this copy." in home
    # Left out, not blanked: the rest of the case is still there for whoever reads this copy.
    assert any("Risk from person" in words(li) for li in alert_items(doc))
    assert "Chronology" in words(doc)
    assert "left out of this copy" in words(doc)


@pytest.mark.parametrize("person", ["rp-father", "rp-mother", "rp-halfbrother"])
def test_every_related_persons_copy_leaves_every_confidential_address_out(
    person: str, cp_plan_transfer: Any, get_pack: Callable[..., Any]
) -> None:
    response = get_pack(cp_plan_transfer, for_person=person)
    assert response.status_code == 200, response.text
    for part in CONFIDENTIAL_ADDRESS_PARTS:
        assert part.lower() not in response.text.lower(), f"{part!r} in the copy for {person}"


def test_a_sibling_groups_copy_leaves_both_childrens_addresses_out(
    send: Callable[..., Any],
    get_pack: Callable[..., Any],
    pack_record: Callable[[str], dict[str, Any]],
) -> None:
    siblings = send([example("cp-plan-child"), pack_record("alfie-half-sibling")])
    authorities = parse(get_pack(siblings).text)
    assert [words(h) for h in authorities.iter("h1")] == ["Tilly Rose Specimen", "Alfie Specimen"]
    assert words(authorities).count("CB4 9ZZ") == 2, "each child's page shows the address"

    fathers = get_pack(siblings, for_person="rp-father")
    assert fathers.status_code == 200, fathers.text
    for part in CONFIDENTIAL_ADDRESS_PARTS:
        assert part.lower() not in fathers.text.lower()
    doc = parse(fathers.text)
    assert [words(h) for h in doc.iter("h1")] == ["Tilly Rose Specimen", "Alfie Specimen"]


def test_a_copy_for_someone_not_in_the_record_is_refused(
    cp_plan_transfer: Any, get_pack: Callable[..., Any]
) -> None:
    response = get_pack(cp_plan_transfer, for_person="rp-neighbour")
    assert response.status_code == 422
    assert response.headers["content-type"].startswith("application/problem+json")
    problem = response.json()
    assert problem["code"] == "request-invalid"
    assert "rp-neighbour" in problem["detail"]
    assert "CB4 9ZZ" not in response.text


def test_a_related_persons_ended_alert_is_not_shown_as_current(
    send: Callable[..., Any], get_pack: Callable[..., Any]
) -> None:
    record = example("cp-plan-child")
    father = next(p for p in record["related_people"] if p["id"] == "rp-father")
    father["alerts"][0]["end_date"] = "2026-04-01"  # the order ran out
    doc = parse(get_pack(send([record])).text)
    family = words(section(doc, "family and household"))
    assert "Dominic Placeholder" in family
    assert "Non-molestation order" not in family


# --- the unborn child ----------------------------------------------------------------------------


def test_an_unborn_child_is_shown_as_unborn_with_the_due_date(
    unborn_transfer: Any, get_pack: Callable[..., Any]
) -> None:
    response = get_pack(unborn_transfer, unborn_transfer.receiver)
    assert response.status_code == 200, response.text
    doc = parse(response.text)
    assert words(doc.find(".//h1")) == "Unborn Mockford"
    lead = words(doc.find_class("lead")[0])
    assert lead.startswith("unborn, due 15 January 2027")
    assert "years" not in lead
    assert "month" not in lead
    assert identifiers(doc)["Sending authority's id"] == "CC7700123"
    why = section(doc, "why the case is moving")
    facts = {words(d): words(d.getnext()) for d in why.iter("dt")}
    assert facts["From"] == "Cambridgeshire County Council"
    assert facts["To"] == "London Borough of Camden"
    assert "The mother moved to Camden to live with her sister before the birth." in words(why)
    assert facts["Legal status"] == "Child protection plan since 29 September 2026"
    assert facts["Last review"] == "no review yet"
    assert "Who to call at Cambridgeshire County Council" in words(doc)


def test_an_unborn_childs_due_date_is_said_once(
    unborn_transfer: Any, get_pack: Callable[..., Any]
) -> None:
    lead = words(parse(get_pack(unborn_transfer).text).find_class("lead")[0])
    assert "born due" not in lead
    assert lead.count("15 January 2027") == 1, lead


# --- plain, accessible markup ---------------------------------------------------------------------


def test_the_page_has_no_script_and_works_as_plain_html(
    cp_plan_transfer: Any, get_pack: Callable[..., Any]
) -> None:
    doc = parse(get_pack(cp_plan_transfer).text)
    assert doc.xpath("//script") == []
    assert doc.xpath("//@*[starts-with(name(), 'on')]") == [], "no inline event handlers"
    assert not [h for h in doc.xpath("//@href") if h.strip().lower().startswith("javascript:")]
    assert doc.xpath("//link[@rel='stylesheet'] | //img | //iframe") == [], "self-contained"


def test_landmarks_language_and_skip_link(
    cp_plan_transfer: Any, get_pack: Callable[..., Any]
) -> None:
    doc = parse(get_pack(cp_plan_transfer).text)
    assert doc.get("lang", "").startswith("en")
    body = doc.find("body")
    assert [el.tag for el in body if el.tag in ("header", "main", "footer")] == [
        "header",
        "main",
        "footer",
    ]
    first_link = body.xpath(".//a")[0]
    assert first_link.get("href") == "#main"
    assert "skip" in words(first_link).lower()
    assert body.xpath("./main[@id='main']"), "the skip link lands on the main content"
    footer = words(doc.find(".//footer"))
    assert "OFFICIAL-SENSITIVE" in footer
    assert cp_plan_transfer.id in footer
    assert "OFFICIAL-SENSITIVE" in words(doc.find(".//header"))


def test_every_table_has_header_cells_with_scope_and_a_caption(
    cp_plan_transfer: Any, get_pack: Callable[..., Any]
) -> None:
    doc = parse(get_pack(cp_plan_transfer).text)
    tables = doc.xpath("//table")
    assert len(tables) >= 3, "family, professionals, unmapped"
    for table in tables:
        assert table.xpath("./caption"), "a caption names the table"
        assert table.xpath("./thead//th"), "column headers"
        assert [th.get("scope") for th in table.xpath("./thead//th")] == ["col"] * len(
            table.xpath("./thead//th")
        )
        assert all(th.get("scope") == "row" for th in table.xpath("./tbody//th"))


def test_headings_do_not_skip_levels(cp_plan_transfer: Any, get_pack: Callable[..., Any]) -> None:
    doc = parse(get_pack(cp_plan_transfer).text)
    levels = [int(h.tag[1]) for h in doc.iter("h1", "h2", "h3", "h4", "h5", "h6")]
    assert levels[0] == 1
    assert all(b - a <= 1 for a, b in itertools.pairwise(levels)), levels


def test_ids_are_unique_and_each_diagram_is_named_after_its_child(
    send: Callable[..., Any],
    get_pack: Callable[..., Any],
    pack_record: Callable[[str], dict[str, Any]],
) -> None:
    siblings = send([example("cp-plan-child"), pack_record("alfie-half-sibling")])
    doc = parse(get_pack(siblings).text)
    ids = doc.xpath("//@id")
    assert sorted({i for i in ids if ids.count(i) > 1}) == []
    for article, child in zip(doc.iter("article"), ("Tilly", "Alfie"), strict=True):
        [svg] = article.xpath(".//*[local-name()='svg']")
        label = doc.xpath(f"//*[@id='{svg.get('aria-labelledby')}']")[
            0
        ]  # the first, as browsers do
        assert child in words(label)


def test_family_diagram_boxes_do_not_overlap(
    cp_plan_transfer: Any, unborn_transfer: Any, get_pack: Callable[..., Any]
) -> None:
    for sent in (cp_plan_transfer, unborn_transfer):
        [svg] = parse(get_pack(sent).text).xpath("//*[local-name()='svg']")
        width = float((svg.get("viewBox") or svg.get("viewbox")).split()[2])
        rows: dict[float, list[tuple[float, float]]] = {}
        for rect in svg.xpath(".//*[local-name()='rect']"):
            x, w = float(rect.get("x")), float(rect.get("width"))
            assert x >= 0, "inside the drawing"
            assert x + w <= width, "inside the drawing"
            rows.setdefault(float(rect.get("y")), []).append((x, x + w))
        for boxes in rows.values():
            boxes.sort()
            assert all(a[1] <= b[0] for a, b in itertools.pairwise(boxes)), boxes


def test_record_text_is_shown_as_text_never_as_markup(
    send: Callable[..., Any], get_pack: Callable[..., Any]
) -> None:
    record = example("cp-plan-child")
    record["child"]["names"][0]["given"] = "<script>alert(1)</script>Tilly"
    record["summary"]["text"] = '<img src="x" onerror="alert(2)"> Tilly & "Alfie"'
    record["related_people"][0]["names"][0]["given"] = "</text><script>alert(3)</script>"
    record["chronology"][0]["summary"] = "<a href='javascript:alert(4)'>click</a>"
    doc = parse(get_pack(send([record])).text)
    assert doc.xpath("//script | //img | //a[starts-with(@href, 'javascript')]") == []
    assert doc.xpath("//@*[starts-with(name(), 'on')]") == []
    assert words(doc.find(".//h1")).startswith("<script>alert(1)</script>Tilly")
    assert '<img src="x" onerror="alert(2)"> Tilly & "Alfie"' in words(doc)


# --- who may read it, and the audit --------------------------------------------------------------


def test_only_the_sender_and_receiver_get_the_pack(
    cp_plan_transfer: Any, get_pack: Callable[..., Any], make_client: Callable[..., str]
) -> None:
    for token in (cp_plan_transfer.sender, cp_plan_transfer.receiver):
        response = get_pack(cp_plan_transfer, token)
        assert response.status_code == 200, response.text
        assert response.headers["cache-control"] == "no-store", "not kept in caches"
    third = get_pack(cp_plan_transfer, make_client(authority="301", name="Barking"))
    assert third.status_code == 404
    assert third.json()["code"] == "transfer-not-found"
    assert "Tilly" not in third.text
    auditor = get_pack(cp_plan_transfer, make_client(role="auditor", authority="873"))
    assert auditor.status_code == 403


def test_reading_the_pack_is_audited_as_a_read_of_the_record(
    client: TestClient,
    cp_plan_transfer: Any,
    get_pack: Callable[..., Any],
    make_client: Callable[..., str],
) -> None:
    auditor = make_client(role="auditor", authority=None, name="national auditor")

    def reads() -> list[dict[str, Any]]:
        page = client.get(
            "/v1/audit/events",
            params={"transfer_id": cp_plan_transfer.id, "action": "record.read"},
            headers=bearer(auditor),
        )
        assert page.status_code == 200, page.text
        items: list[dict[str, Any]] = page.json()["items"]
        return items

    assert reads() == []
    assert get_pack(cp_plan_transfer, headers={"X-Acting-User": "cambs.sw"}).status_code == 200
    assert get_pack(cp_plan_transfer, for_person="rp-father").status_code == 200
    events = reads()
    assert len(events) == 2, "one read per pack"
    assert {e["details"]["format"] for e in events} == {"pack-html"}
    receiver, sender = (
        cp_plan_transfer.transfer[k]["gss_code"] for k in ("to_authority", "from_authority")
    )
    assert {(e["actor_authority"], e["counterpart_authority"]) for e in events} == {
        (receiver, sender)
    }
    # Newest first: the father's copy, then the worker's own read, named as the acting user.
    assert [e["acting_user"] for e in events] == [None, "cambs.sw"]
    assert all(e["outcome"] == "success" for e in events)
    assert "Tilly" not in str(events)
    assert "CB4 9ZZ" not in str(events)
