"""The transfer pack in a real browser (issue 8): headless Chromium, axe-core, zoom, no JavaScript.

What the test needs, and where it gets it:

- Chromium: EXCHANGE_TEST_CHROMIUM, else ``chromium`` on the PATH (Debian's package), else it runs
  ``apt-get install -y chromium`` when it can (root, Debian). Only when no browser can be had are
  the tests skipped, saying so.
- Playwright for Python (a dev dependency) drives that Chromium; no Playwright browser download is
  used or needed.
- axe-core: EXCHANGE_TEST_AXE (a path to axe.min.js), else ~/.cache/exchange-test/axe, installed
  there from the npm registry (``npm install axe-core@4``) the first time.

Screenshots are written to test-artifacts/ at the repository root (gitignored).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from support import example

REPO = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO / "test-artifacts"
AXE_DIR = Path.home() / ".cache" / "exchange-test" / "axe"
AXE_FILE = AXE_DIR / "node_modules" / "axe-core" / "axe.min.js"
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
WCAG_22_AA = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa"]
WINDOW = {"width": 1280, "height": 1800}

sync_api = pytest.importorskip(
    "playwright.sync_api",
    reason="Playwright for Python is not installed (it is a dev dependency: pip install -e '.[dev]')",
)


def _find_chromium() -> str | None:
    for candidate in (
        os.environ.get("EXCHANGE_TEST_CHROMIUM"),
        shutil.which("chromium"),
        shutil.which("chromium-browser"),
        "/usr/bin/chromium",
    ):
        if candidate and Path(candidate).is_file() and os.access(candidate, os.X_OK):
            return candidate
    return None


def _install_chromium() -> str:
    """Debian's chromium package, when the tests run as root on a Debian-like system."""
    if os.name != "posix" or os.geteuid() != 0 or not shutil.which("apt-get"):
        return "not root on a system with apt-get"
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    install = ["apt-get", "install", "-y", "--no-install-recommends", "chromium"]
    try:
        for attempt in (install, ["apt-get", "update"], install):
            done = subprocess.run(attempt, env=env, capture_output=True, text=True, timeout=300)
            if attempt is install and done.returncode == 0:
                return ""
    except (OSError, subprocess.SubprocessError) as exc:
        return f"apt-get failed: {exc}"
    return f"apt-get install chromium failed: {done.stderr.strip()[-300:]}"


@pytest.fixture(scope="module")
def chromium() -> str:
    path = _find_chromium()
    if path is None:
        why = _install_chromium()
        path = _find_chromium()
        if path is None:
            pytest.skip(f"no Chromium to run the pack in, and none could be installed ({why})")
    return path


@pytest.fixture(scope="module")
def axe_source() -> str:
    """axe-core's browser bundle, from the npm registry the first time."""
    chosen = Path(os.environ.get("EXCHANGE_TEST_AXE", AXE_FILE))
    if not chosen.is_file():
        npm = shutil.which("npm")
        if npm is None:
            pytest.skip("axe-core is not in ~/.cache/exchange-test/axe and npm is not installed")
        AXE_DIR.mkdir(parents=True, exist_ok=True)
        try:
            done = subprocess.run(
                [npm, "install", "--prefix", str(AXE_DIR), "--no-audit", "--no-fund", "axe-core@4"],
                capture_output=True,
                text=True,
                timeout=180,
            )
            why = done.stderr.strip()[-300:]
        except (OSError, subprocess.SubprocessError) as exc:
            why = str(exc)
        if not chosen.is_file():
            pytest.skip(f"axe-core could not be installed from the npm registry: {why}")
    return chosen.read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def browser(chromium: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """Headless Chromium with a fresh profile, 1280 pixels wide."""
    profile = tmp_path_factory.mktemp("chromium-profile")
    with sync_api.sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            str(profile),
            executable_path=chromium,
            args=CHROMIUM_FLAGS,
            headless=True,
            viewport=WINDOW,
        )
        try:
            yield context
        finally:
            context.close()


@pytest.fixture
def open_pack(
    browser: Any, tmp_path: Path, send: Callable[..., Any], get_pack: Callable[..., Any]
) -> Iterator[Callable[..., Any]]:
    """Send records, fetch their pack over the API, and open it from a file in a new tab."""
    pages: list[Any] = []

    def _open(
        records: list[dict[str, Any]],
        *,
        for_person: str | None = None,
        javascript: bool = True,
        **transfer_fields: str,
    ) -> Any:
        sent = send(records, **transfer_fields)
        response = get_pack(sent, **({"for_person": for_person} if for_person else {}))
        assert response.status_code == 200, response.text
        path = tmp_path / f"pack-{len(pages)}.html"
        path.write_text(response.text, encoding="utf-8")
        page = browser.new_page()
        pages.append(page)
        if not javascript:
            cdp = browser.new_cdp_session(page)
            cdp.send("Emulation.setScriptExecutionDisabled", {"value": True})
            page.set_content("<p id='js'>off</p><script>js.textContent = 'on'</script>")
            assert page.locator("#js").text_content() == "off", "JavaScript is still running"
        page.goto(path.as_uri())
        return page

    yield _open
    for page in pages:
        page.close()


def artifact(name: str) -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS / name


def zoom(page: Any, percent: int) -> None:
    """Browser zoom on a 1280-pixel window: the page is laid out in 1280 / (percent / 100) CSS
    pixels across (a layout identical to zooming; only the pixel density differs)."""
    factor = percent / 100
    page.set_viewport_size(
        {"width": round(WINDOW["width"] / factor), "height": round(900 / factor)}
    )


def run_axe(page: Any, axe_source: str) -> dict[str, Any]:
    page.add_script_tag(content=axe_source)
    result: dict[str, Any] = page.evaluate(
        "tags => axe.run(document, {runOnly: {type: 'tag', values: tags}})", WCAG_22_AA
    )
    return result


# Each pack: its records (schemas/examples, or tests/fixtures/pack for "pack/...") and how it is
# sent and asked for.
PACKS: dict[str, tuple[list[str], dict[str, str]]] = {
    "cp-plan-child": (["cp-plan-child"], {}),
    "cp-plan-child-for-father": (["cp-plan-child"], {"for_person": "rp-father"}),
    "unborn-child": (
        ["unborn-child"],
        {"sender": "873", "to": "202", "reason": "The mother moved to Camden before the birth."},
    ),
    "sibling-group": (["cp-plan-child", "pack/alfie-half-sibling"], {}),
}


@pytest.mark.parametrize("name", list(PACKS))
def test_axe_finds_no_serious_or_critical_violations(
    name: str,
    open_pack: Callable[..., Any],
    axe_source: str,
    pack_record: Callable[[str], dict[str, Any]],
) -> None:
    names, options = PACKS[name]
    records = [
        pack_record(n.removeprefix("pack/")) if n.startswith("pack/") else example(n) for n in names
    ]
    page = open_pack(records, **options)
    page.screenshot(path=artifact(f"pack-{name}-page-one.png"))
    if name == "cp-plan-child":
        page.screenshot(path=artifact(f"pack-{name}-full.png"), full_page=True)

    result = run_axe(page, axe_source)
    serious = [
        {
            "rule": v["id"],
            "impact": v["impact"],
            "help": v["help"],
            "where": [n["target"] for n in v["nodes"]][:5],
        }
        for v in result["violations"]
        if v["impact"] in ("serious", "critical")
    ]
    artifact(f"pack-{name}-axe.json").write_text(json.dumps(result["violations"], indent=2))
    assert serious == [], json.dumps(serious, indent=2)
    checked = {rule["id"] for rule in result["passes"]} | {r["id"] for r in result["incomplete"]}
    assert {"color-contrast", "document-title", "html-has-lang", "th-has-data-cells"} <= checked, (
        "axe ran its WCAG rules on the page"
    )


def test_at_200_percent_zoom_nothing_overflows_sideways(open_pack: Callable[..., Any]) -> None:
    page = open_pack([example("cp-plan-child")])
    zoom(page, 200)
    width = page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
    assert width[1] == WINDOW["width"] // 2, "the zoom took effect"
    page.screenshot(path=artifact("pack-cp-plan-child-200-percent.png"))
    assert width[0] <= width[1], f"scrolls sideways at 200%: {width}"
    # Page one is still read in order: the name, then the risks, before anything else.
    top = page.evaluate(
        "['h1', '#c1-alerts', '#c1-due'].map(s => document.querySelector(s).getBoundingClientRect().top)"
    )
    assert top == sorted(top)


INTENDED_FONT = (
    'body { font-family: Arial, Helvetica, "Liberation Sans", "DejaVu Sans", sans-serif }'
)


def test_at_200_percent_zoom_nothing_overflows_in_the_intended_font(
    open_pack: Callable[..., Any],
) -> None:
    page = open_pack([example("cp-plan-child")])
    page.add_style_tag(content=INTENDED_FONT)  # what pack.css declares (see the font test)
    zoom(page, 200)
    width = page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
    assert width[0] <= width[1], f"scrolls sideways at 200%: {width}"


OVERFLOWING = """() => [...document.querySelectorAll('main *')]
    .filter(e => !e.closest('table') && e.getBoundingClientRect().right > window.innerWidth + 1)
    .filter(e => !(e.parentElement && e.parentElement.getBoundingClientRect().right > window.innerWidth + 1))
    .map(e => e.tagName.toLowerCase() + ': ' + e.textContent.trim().slice(0, 40))"""


def test_at_400_percent_zoom_text_reflows_outside_the_data_tables(
    open_pack: Callable[..., Any],
) -> None:
    page = open_pack([example("cp-plan-child")])
    zoom(page, 400)
    assert page.evaluate("window.innerWidth") == WINDOW["width"] // 4
    page.screenshot(path=artifact("pack-cp-plan-child-400-percent.png"))
    assert page.evaluate(OVERFLOWING) == []


def test_the_chronology_filter_works_without_javascript(open_pack: Callable[..., Any]) -> None:
    page = open_pack([example("cp-plan-child")], javascript=False)
    entries = page.locator("#c1-chronology li[data-category]")
    total = entries.count()
    categories = [entries.nth(i).get_attribute("data-category") for i in range(total)]

    def shown() -> list[str | None]:
        return [categories[i] for i in range(total) if entries.nth(i).is_visible()]

    def only(category: str) -> list[str | None]:
        return [c for c in categories if c == category]

    def radio(category: str) -> Any:
        return page.get_by_label(f"{category.replace('_', ' ')} ({len(only(category))})")

    assert shown() == categories, "everything shows until a filter is chosen"
    radio("conference").check()
    assert shown() == only("conference") == ["conference", "conference"]
    radio("police").click()
    assert shown() == only("police")
    assert radio("conference").is_checked() is False
    # The keyboard moves along the radio group, and the list follows.
    radio("police").focus()
    page.keyboard.press("ArrowRight")
    in_order = sorted({c for c in categories if c})
    after_police = in_order[in_order.index("police") + 1]
    assert radio(after_police).is_checked()
    assert shown() == only(after_police)
    page.get_by_label(f"all ({total})").check()
    assert shown() == categories


def test_the_skip_link_appears_on_the_first_tab_and_leads_to_the_case(
    open_pack: Callable[..., Any],
) -> None:
    page = open_pack([example("cp-plan-child")])
    page.keyboard.press("Tab")
    focused = page.evaluate(
        "(() => { const a = document.activeElement, r = a.getBoundingClientRect();"
        " return [a.getAttribute('href'), a.textContent, r.left >= 0 && r.right <= innerWidth]; })()"
    )
    assert focused[0] == "#main"
    assert "Skip" in focused[1]
    assert focused[2] is True, "visible when focused"
    page.keyboard.press("Enter")
    assert page.url.endswith("#main")


def test_the_pack_is_set_in_the_sans_serif_it_asks_for(open_pack: Callable[..., Any]) -> None:
    page = open_pack([example("cp-plan-child")])
    family = page.evaluate("getComputedStyle(document.body).fontFamily")
    assert family.startswith("Arial"), family


def test_each_childs_family_diagram_is_announced_with_that_childs_name(
    open_pack: Callable[..., Any], pack_record: Callable[[str], dict[str, Any]]
) -> None:
    page = open_pack([example("cp-plan-child"), pack_record("alfie-half-sibling")])
    for child in ("Tilly Rose Specimen", "Alfie Specimen"):
        named = page.get_by_role("img", name=re.compile(f"^Family diagram: {child}"))
        assert named.count() == 1, child
