"""The ``percepta serve`` page in a real browser: Debian's chromium, headless, driven by Playwright.

Skips, saying why, where ``/usr/bin/chromium`` (``apt-get install chromium``), Playwright or the serve extra
is missing. Playwright's own browser downloads are never used: it drives the system's chromium.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from .conftest import PHOTOS

CHROMIUM = Path(os.environ.get("PERCEPTA_CHROMIUM", "/usr/bin/chromium"))
#: no network beyond the page, no first-run or update machinery, no GPU: a quiet, repeatable browser
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

if not CHROMIUM.is_file():
    pytest.skip(f"browser test skipped: no chromium at {CHROMIUM} (apt-get install chromium)", allow_module_level=True)
pytest.importorskip("fastapi", reason="browser test skipped: percepta serve needs the serve extra")
sync_api = pytest.importorskip("playwright.sync_api", reason="browser test skipped: pip install playwright")


@pytest.fixture(scope="module")
def server_url() -> Iterator[str]:
    from percepta.serve.launch import running_server

    with running_server("--max-side", "256") as server:
        yield server.url


@pytest.fixture(scope="module")
def page(server_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[object]:
    with sync_api.sync_playwright() as pw:
        try:
            browser = pw.chromium.launch_persistent_context(
                str(tmp_path_factory.mktemp("chromium-profile")),
                executable_path=str(CHROMIUM),
                headless=True,
                args=CHROMIUM_ARGS,
                viewport={"width": 1280, "height": 800},
            )
        except sync_api.Error as exc:
            pytest.skip(f"browser test skipped: {CHROMIUM} does not start here ({str(exc).splitlines()[0]})")
        page = browser.new_page()
        page.errors = []
        page.on("pageerror", lambda exc: page.errors.append(str(exc)))
        page.goto(server_url)
        yield page
        browser.close()


def _wait_for_result(page) -> dict:  # a playwright Page
    page.wait_for_selector("#result[data-ready=true]", timeout=60_000)
    return page.evaluate(
        """() => {
            const [img, link] = [document.getElementById("result"), document.getElementById("download")];
            return {w: img.naturalWidth, h: img.naturalHeight, status: document.getElementById("status").textContent,
                    href: link.href, name: link.download, hidden: link.hidden};
        }"""
    )


def test_upload_pick_a_style_and_see_the_result(page) -> None:
    page.wait_for_selector("label.style input[value=wave]", state="attached")
    before = page.evaluate(  # before any upload: no broken image icon, no Download button that looks live
        """() => ({broken: [...document.querySelectorAll("img")].filter(
                      i => i.offsetParent !== null && i.naturalWidth === 0).length,
                   download: document.getElementById("download").offsetParent !== null})"""
    )
    assert before == {"broken": 0, "download": False}, before
    cards = page.eval_on_selector_all("label.style input", "els => els.map(e => [e.value, e.dataset.fast || ''])")
    assert not [v for v, _ in cards if v.endswith("-fast")]  # each painting once; the switch picks its twin
    assert ["wave", "wave-fast"] in [list(c) for c in cards]
    names = page.eval_on_selector_all("label.style input", "els => els.map(e => e.value)")
    assert {"wave", "udnie", "starry_night", "the_scream"} <= set(names)
    page.wait_for_function(  # the painting's thumbnail loads (its own request, after the list)
        "() => { const i = document.querySelector('label.style:has(input[value=wave]) img');"
        " return i !== null && i.complete && i.naturalWidth > 0; }",
        timeout=30_000,
    )
    page.set_input_files("#file", str(PHOTOS / "mate_Garden.jpg"))
    page.wait_for_function("() => document.getElementById('original').naturalWidth > 0")
    page.click("label.style:has(input[value=wave])")
    page.fill("#max-size", "128")
    page.click("#go")
    shown = _wait_for_result(page)
    assert max(shown["w"], shown["h"]) == 128
    assert "ms on the server" in shown["status"]
    assert shown["href"].startswith("blob:") and shown["name"] == "mate_Garden_wave.png" and not shown["hidden"]
    assert page.inner_text("#result-info") == f"{shown['w']}×{shown['h']}"
    assert not page.errors


def test_super_resolution_and_a_bad_file(page, tmp_path: Path) -> None:
    page.check("input[name=task][value=sr]")
    page.check('input[name=scale][value="8"]')
    assert page.input_value("#sr-model") == "sr_x8_feat"
    page.set_input_files("#file", str(PHOTOS / "opencv_orange.jpg"))
    page.fill("#max-size", "24")
    page.click("#go")
    shown = _wait_for_result(page)
    assert max(shown["w"], shown["h"]) == 24 * 8 and shown["name"] == "opencv_orange_x8.png"

    bad = tmp_path / "not_really.jpg"
    bad.write_bytes(b"this is not an image")
    page.set_input_files("#file", str(bad))
    page.click("#go")
    page.wait_for_selector("#status.error")
    assert page.inner_text("#status").startswith("400: not_really.jpg: not a recognised image file")
    assert not page.errors
