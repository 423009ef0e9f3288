"""The ``percepta serve`` page in a real browser: Debian's chromium, headless, driven by Playwright: the image
mode (upload, paste, re-run on an option change, the before/after slider, 1:1 zoom, errors, the phone layout)
and the webcam mode on chromium's fake camera.

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
PAINTING = Path(__file__).resolve().parents[1] / "src" / "percepta" / "examples" / "hokusai_great_wave.jpg"
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
    "--use-fake-device-for-media-stream",  # a synthetic camera (a moving test pattern) for the webcam mode
    "--use-fake-ui-for-media-stream",  # and the camera permission granted without asking
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
                permissions=["camera"],
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
                    href: link.href, name: link.download, hidden: link.hidden,
                    note: document.getElementById("result-note").textContent,
                    progress: !document.getElementById("progress").hidden};
        }"""
    )


def test_upload_pick_a_style_and_see_the_result(page) -> None:
    page.wait_for_selector("label.style input[value=wave]", state="attached")
    page.wait_for_function(  # the paintings' thumbnails have loaded (each its own request, after the list)
        "() => [...document.querySelectorAll('label.style img')].every(i => i.complete)", timeout=30_000
    )
    before = page.evaluate(  # before any upload: no broken image icon, no Download button that looks live
        """() => ({broken: [...document.querySelectorAll("img")].filter(
                      i => i.offsetParent !== null && i.complete && i.naturalWidth === 0).length,
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
    original = page.evaluate("() => [document.getElementById('original').naturalWidth, "
                             "document.getElementById('original').naturalHeight]")  # fmt: skip
    page.click("label.style:has(input[value=wave])")
    page.fill("#max-size", "128")
    page.evaluate(  # note whether the spinner shows while the server works (it goes when the result comes)
        """() => { const p = document.getElementById('progress'); window.sawProgress = false;
                   const seen = () => { window.sawProgress ||= !p.hidden && p.textContent.includes('Stylizing'); };
                   new MutationObserver(seen).observe(p, {attributes: true, childList: true, subtree: true}); }"""
    )
    page.click("#go")
    shown = _wait_for_result(page)
    assert max(shown["w"], shown["h"]) == 128 and not shown["progress"]
    assert page.evaluate("() => window.sawProgress")  # the spinner showed, in the result pane itself:
    assert page.evaluate("() => document.querySelector('#result-frame #progress .spinner') !== null")
    assert "ms on the server" in shown["status"]
    assert shown["href"].startswith("blob:") and shown["name"] == "mate_Garden_wave.png" and not shown["hidden"]
    assert page.inner_text("#result-info") == f"{shown['w']}×{shown['h']}"
    # the server said it shrank the photo, and the page says so
    assert (
        shown["note"] == f"resized from {original[0]}×{original[1]} to {shown['w']}×{shown['h']} (maximum size 128 px)"
    )
    # before/after: the original shows left of the line; the slider moves it
    assert page.is_visible("#before") and page.is_visible("#compare-pos")
    page.fill("#compare-pos", "20")
    assert page.evaluate("() => document.getElementById('compare').style.getPropertyValue('--pos')") == "20%"

    # after a first result, another style (or the Fast switch) runs again by itself
    page.click("label.style:has(input[value=udnie])")
    page.wait_for_function("() => document.getElementById('download').download === 'mate_Garden_udnie.png'",
                           timeout=60_000)  # fmt: skip
    page.check("#fast")
    page.wait_for_function("() => document.getElementById('download').download === 'mate_Garden_udnie-fast.png'",
                           timeout=60_000)  # fmt: skip
    _wait_for_result(page)
    page.uncheck("#fast")
    page.wait_for_function("() => document.getElementById('download').download === 'mate_Garden_udnie.png'",
                           timeout=60_000)  # fmt: skip
    _wait_for_result(page)
    wait_new = (
        "src => { const r = document.getElementById('result'); return r.src !== src && r.dataset.ready === 'true'; }"
    )
    for slider, value in [("#strength", "0.5"), ("#style-scale", "2")]:  # the sliders too, once let go
        shown_src = page.get_attribute("#result", "src")
        page.fill(slider, value)
        page.wait_for_function(wait_new, arg=shown_src, timeout=60_000)
    count = "() => performance.getEntriesByType('resource').filter(e => e.name.endsWith('/api/stylize')).length"
    runs = page.evaluate(count)
    page.check("#preserve")  # ticked and unticked at once: the settings of the result shown, no new request
    page.uncheck("#preserve")
    page.wait_for_timeout(600)
    assert page.evaluate(count) == runs
    assert not page.errors


def test_paste_an_image(page) -> None:
    """An image pasted on the page (the clipboard's paste event) is the input, and runs at once after a result."""
    page.evaluate(
        """async () => {
            const canvas = Object.assign(document.createElement("canvas"), {width: 96, height: 64});
            const ctx = canvas.getContext("2d");
            ctx.fillStyle = "#3a7"; ctx.fillRect(0, 0, 96, 64); ctx.fillStyle = "#e52"; ctx.fillRect(20, 10, 40, 30);
            const blob = await new Promise((resolve) => canvas.toBlob(resolve, "image/png"));
            const data = new DataTransfer();
            data.items.add(new File([blob], "image.png", {type: "image/png"}));
            document.dispatchEvent(new ClipboardEvent("paste", {clipboardData: data, bubbles: true}));
        }"""
    )
    page.wait_for_function("() => document.getElementById('download').download === 'pasted_udnie.png'",
                           timeout=60_000)  # fmt: skip
    shown = _wait_for_result(page)
    assert (shown["w"], shown["h"]) == (96, 64) and shown["note"] == ""  # under the maximum size: not resized
    assert page.inner_text("#original-info") == "96×64"
    assert not page.errors


def test_super_resolution_at_one_to_one_and_a_bad_file(page, tmp_path: Path) -> None:
    page.check("input[name=task][value=sr]")
    page.check('input[name=scale][value="8"]')
    assert page.input_value("#sr-model") == "sr_x8_feat"
    page.set_input_files("#file", str(PHOTOS / "opencv_orange.jpg"))
    page.fill("#max-size", "24")
    page.click("#go")
    page.wait_for_function("() => document.getElementById('download').download === 'opencv_orange_x8.png'",
                           timeout=60_000)  # fmt: skip
    shown = _wait_for_result(page)
    assert max(shown["w"], shown["h"]) == 24 * 8
    assert shown["note"].startswith("input resized from ") and shown["note"].endswith("(maximum size), then ×8")
    # shown at 1:1 pixels; a click on the picture fits it to the pane and back
    shown_width = "() => document.getElementById('result').getBoundingClientRect().width"
    assert page.evaluate(shown_width) == shown["w"]
    assert page.evaluate("() => document.getElementById('result-frame').classList.contains('actual')")
    assert page.inner_text("#zoom") == "Fit"
    page.click("#result")
    assert not page.evaluate("() => document.getElementById('result-frame').classList.contains('actual')")
    page.click("#zoom")
    assert page.inner_text("#zoom") == "Fit"

    bad = tmp_path / "not_really.jpg"
    bad.write_bytes(b"this is not an image")
    page.set_input_files("#file", str(bad))
    page.click("#go")
    page.wait_for_selector("#status.error")
    # the server's one-line message, without the HTTP status in front
    assert page.inner_text("#status").startswith("not_really.jpg: not a recognised image file")
    assert page.inner_text("#result-note").startswith("not_really.jpg: not a recognised image file")
    assert not page.is_visible("#original") and "cannot show not_really.jpg" in page.inner_text("#original-figure")
    assert not page.errors


def test_phone_layout_shows_the_result(page) -> None:
    """At 390x844 the result pane comes into view by itself when the result arrives (it sits under the form)."""
    page.set_viewport_size({"width": 390, "height": 844})
    try:
        page.check("input[name=task][value=style]")
        page.evaluate("window.scrollTo(0, 0)")
        page.set_input_files("#file", str(PHOTOS / "mate_Garden.jpg"))
        page.fill("#max-size", "128")
        page.click("#go")
        _wait_for_result(page)
        page.wait_for_function(  # smooth scrolling: the pane's top reaches the screen
            """() => { const r = document.getElementById('result').getBoundingClientRect();
                       return r.top >= 0 && r.bottom <= window.innerHeight; }""",
            timeout=10_000,
        )
        width = page.evaluate("() => document.documentElement.scrollWidth")
        assert width <= 390, f"the page is {width} px wide on a 390 px phone"
    finally:
        page.set_viewport_size({"width": 1280, "height": 800})
    assert not page.errors


def test_the_training_panel_is_there(page) -> None:
    """The "Train your own painting" panel: offered where the server can train, its controls present, Start
    enabled once a painting is chosen (its name suggested from the file's). Nothing is trained here:
    tests/test_serve_train.py trains for real."""
    page.wait_for_function("() => !document.getElementById('train-panel').hidden")
    page.click("#train-panel summary")
    for control in ("#train-file", "#train-name", "#train-minutes", "#train-replace", "#train-go"):
        assert page.is_visible(control), control
    if page.get_attribute("#train-panel", "data-unavailable"):  # no PyTorch: disabled, saying why
        assert page.is_disabled("#train-go") and "percepta[train]" in page.inner_text("#train-status")
        return
    assert page.get_attribute("#train-minutes", "max") == "30" and page.input_value("#train-minutes") == "10"
    assert page.is_disabled("#train-go")
    page.set_input_files("#train-file", str(PAINTING))
    assert page.input_value("#train-name") == "hokusai_great_wave"
    assert page.is_enabled("#train-go") and not page.is_visible("#train-cancel")
    assert not page.is_visible("#train-progress")
    page.click("#train-panel summary")  # folded away again
    assert not page.errors


def test_webcam_frames_arrive(page, server_url: str) -> None:
    """Chromium's fake camera streams through /ws/webcam: stylised frames are drawn and counted on the page; a
    second stream on this one-worker server gets the server's message."""
    from importlib.util import find_spec

    if find_spec("websockets") is None and find_spec("wsproto") is None:
        pytest.skip("webcam test skipped: uvicorn has no websocket library (pip install websockets)")
    page.check("input[name=task][value=webcam]")
    page.check("#fast")  # the slim networks keep real time (the mode ticks it unless the switch was touched)
    page.click("label.style:has(input[value=wave])")
    page.click("#go")
    page.wait_for_function("() => Number(document.getElementById('webcam-out').dataset.frames || 0) >= 5",
                           timeout=30_000)  # fmt: skip
    out = page.evaluate(
        "() => { const c = document.getElementById('webcam-out');"
        " return {w: c.width, h: c.height, fps: Number(c.dataset.fps), visible: !c.hidden}; }"
    )
    assert out["visible"] and max(out["w"], out["h"]) <= 320 and out["fps"] > 0, out
    assert "frames/s" in page.inner_text("#result-info")
    assert page.inner_text("#go") == "Stop webcam"

    other = page.context.new_page()
    try:
        other.goto(server_url)
        other.wait_for_selector("label.style input[value=wave]", state="attached")
        other.check("input[name=task][value=webcam]")
        other.click("#go")
        other.wait_for_selector("#status.error", timeout=20_000)
        assert "webcam stream" in other.inner_text("#status") and "in use" in other.inner_text("#status")
        assert other.inner_text("#go") == "Start webcam"
    finally:
        other.close()

    page.click("#go")  # stop
    page.wait_for_function("() => document.getElementById('go').textContent === 'Start webcam'")
    assert "Webcam stopped" in page.inner_text("#status")
    page.check("input[name=task][value=style]")  # back to the image mode: its result (if any) is there again
    assert not page.is_visible("#webcam-out") and not page.is_visible("#camera")
    assert page.is_visible("#result") == bool(page.get_attribute("#result", "src"))
    assert not page.errors
