"""Screenshots of the transfer pack's page one, for the README (issue 8).

    .venv/bin/python scripts/pack_screenshots.py [--out docs] [--chromium /usr/bin/chromium]

Each example record (schemas/examples) is sent between two authorities through the real API, on a
throwaway SQLite database with throwaway keys, and the receiving authority's pack
(GET /v1/transfers/{id}/pack) is opened in headless Chromium (Debian's package, driven by
Playwright for Python; no Playwright browser download) and photographed at 1280 x 1800: the top
of the page, what a social worker sees first. The due date and working days left are those of the
day the script runs.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import secrets
import shutil
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
EXAMPLES = REPO / "schemas" / "examples"
WINDOW = {"width": 1280, "height": 1800}
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
LEGAL_BASIS = "Children Act 1989 s47; Working Together to Safeguard Children"


@dataclass(frozen=True)
class Shot:
    """One screenshot: which example, sent by whom to whom, and why."""

    example: str
    output: str
    sender: str
    receiver: str
    reason: str


SHOTS = [
    Shot(
        "cp-plan-child",
        "pack-cp-plan-child.png",
        sender="202",
        receiver="873",
        reason="The family moved to Cambridgeshire to get away from Tilly's father.",
    ),
    Shot(
        "unborn-child",
        "pack-unborn-child.png",
        sender="873",
        receiver="202",
        reason="The mother moved to Camden to live with her sister before the birth.",
    ),
]


def _throwaway_environment(workdir: Path) -> None:
    """A database and keys that exist only for this run (nothing is written under ./data)."""
    os.environ["EXCHANGE_DATABASE_URL"] = f"sqlite:///{workdir / 'exchange.db'}"
    os.environ["EXCHANGE_DATA_DIR"] = str(workdir)
    os.environ["EXCHANGE_ENCRYPTION_KEYS"] = (
        "shots:" + base64.b64encode(secrets.token_bytes(32)).decode()
    )
    os.environ["EXCHANGE_PSEUDONYM_KEY"] = secrets.token_hex(32)
    os.environ["EXCHANGE_AUDIT_SIGNING_KEY"] = base64.b64encode(secrets.token_bytes(32)).decode()
    os.environ["EXCHANGE_LOG_LEVEL"] = "WARNING"
    os.environ["EXCHANGE_LOG_JSON"] = "false"


def render_packs(workdir: Path) -> dict[str, str]:
    """Send each example through the API and fetch the receiver's pack as HTML."""
    _throwaway_environment(workdir)
    from fastapi.testclient import TestClient

    from exchange.app import create_app, setup_database
    from exchange.authorities.auth import Role
    from exchange.authorities.clients import ClientCreate, create_client
    from exchange.config import get_settings
    from exchange.db import session_scope

    get_settings.cache_clear()
    settings = get_settings()
    setup_database(settings)
    tokens: dict[str, str] = {}
    with session_scope(settings.database_url) as session:
        for authority in {a for shot in SHOTS for a in (shot.sender, shot.receiver)}:
            body = ClientCreate(
                name=f"screenshots {authority}", role=Role.AUTHORITY, authority=authority
            )
            tokens[authority] = create_client(session, body, actor=None).token

    pages = {}
    with TestClient(create_app(settings)) as client:
        for shot in SHOTS:
            record: dict[str, Any] = json.loads((EXAMPLES / f"{shot.example}.json").read_text())
            sent = client.post(
                "/v1/transfers",
                json={
                    "to_authority": shot.receiver,
                    "reason": shot.reason,
                    "legal_basis": LEGAL_BASIS,
                    "records": [record],
                },
                headers={
                    "Authorization": f"Bearer {tokens[shot.sender]}",
                    "Idempotency-Key": secrets.token_hex(16),
                },
            )
            if sent.status_code != 201:
                raise SystemExit(f"{shot.example}: the transfer was refused: {sent.text}")
            pack = client.get(
                f"/v1/transfers/{sent.json()['id']}/pack",
                headers={"Authorization": f"Bearer {tokens[shot.receiver]}"},
            )
            if pack.status_code != 200:
                raise SystemExit(f"{shot.example}: no pack: {pack.text}")
            pages[shot.output] = pack.text
    return pages


def photograph(pages: dict[str, str], out: Path, chromium: str, workdir: Path) -> list[Path]:
    """Open each pack from a file in headless Chromium and save the top of the page."""
    from playwright.sync_api import sync_playwright

    out.mkdir(parents=True, exist_ok=True)
    written = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch_persistent_context(
            str(workdir / "chromium-profile"),
            executable_path=chromium,
            args=CHROMIUM_FLAGS,
            headless=True,
            viewport=WINDOW,
        )
        try:
            for name, html in pages.items():
                source = workdir / f"{Path(name).stem}.html"
                source.write_text(html, encoding="utf-8")
                page = browser.new_page()
                page.goto(source.as_uri())
                target = out / name
                page.screenshot(path=target)  # the viewport only: page one
                page.close()
                written.append(target)
        finally:
            browser.close()
    return written


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=REPO / "docs", help="where the PNGs go")
    parser.add_argument(
        "--chromium",
        default=os.environ.get("EXCHANGE_TEST_CHROMIUM") or shutil.which("chromium"),
        help="the Chromium to use (default: chromium on the PATH)",
    )
    args = parser.parse_args()
    if not args.chromium:
        sys.exit("No Chromium found: apt-get install chromium, or pass --chromium PATH.")
    with tempfile.TemporaryDirectory(prefix="pack-screenshots-") as tmp:
        workdir = Path(tmp)
        for path in photograph(render_packs(workdir), args.out, args.chromium, workdir):
            print(path.relative_to(REPO) if path.is_relative_to(REPO) else path)


if __name__ == "__main__":
    main()
