"""The screenshots of ``percepta serve`` in docs/: the page with a result, on a desktop and on a phone, and the
webcam mode on chromium's fake camera.

    python scripts/serve_screenshot.py [--out-dir docs] [--chromium /usr/bin/chromium] [--style wave]

Starts the real server on a free loopback port and drives Debian's chromium (headless, through Playwright):

- ``serve.jpg``: 1280x900, the example photo stylised with ``--style`` (the before/after line a third of the way);
- ``serve_phone.jpg``: 390x844 (a phone; device scale 2), the same run, the result scrolled into view by the page;
- ``serve_webcam.jpg``: 1280x900, the webcam mode on chromium's synthetic camera (a moving test pattern),
  ``--style``'s fast model, with the frame rate the page measured.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from playwright.sync_api import sync_playwright

from percepta.serve.launch import running_server

ROOT = Path(__file__).resolve().parents[1]
PHOTO = ROOT / "src" / "percepta" / "examples" / "picos_de_europa.jpg"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync",
        "--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream"]  # fmt: skip
#: name, viewport, device scale factor
SHOTS = (("serve.jpg", {"width": 1280, "height": 900}, 1), ("serve_phone.jpg", {"width": 390, "height": 844}, 2))


def stylized(page, url: str, style: str, out: Path) -> None:  # a playwright Page
    """The page after stylising the example photo with ``style``, as ``out``."""
    page.goto(url)
    page.wait_for_selector(f"label.style input[value={style}]", state="attached")
    page.wait_for_function("() => [...document.querySelectorAll('label.style img')].every(i => i.complete)")
    page.set_input_files("#file", str(PHOTO))
    page.click(f"label.style:has(input[value={style}])")
    page.click("#go")
    page.wait_for_selector("#result[data-ready=true]", timeout=120_000)
    page.fill("#compare-pos", "33")
    page.dispatch_event("#compare-pos", "input")
    page.wait_for_timeout(1200)  # the page's smooth scroll to the result (on a phone) comes to rest
    page.screenshot(path=str(out), type="jpeg", quality=85)


def webcam(page, url: str, style: str, out: Path) -> None:
    """The webcam mode streaming the fake camera through ``style``'s fast model, as ``out``."""
    page.goto(url)
    page.wait_for_selector(f"label.style input[value={style}]", state="attached")
    page.check("input[name=task][value=webcam]")
    page.click(f"label.style:has(input[value={style}])")
    page.click("#go")
    page.wait_for_function("() => Number(document.getElementById('webcam-out').dataset.frames || 0) >= 60",
                           timeout=60_000)  # fmt: skip
    page.screenshot(path=str(out), type="jpeg", quality=85)
    page.click("#go")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out-dir", default=str(ROOT / "docs"))
    parser.add_argument("--chromium", default="/usr/bin/chromium")
    parser.add_argument("--style", default="wave")
    args = parser.parse_args()
    out_dir = Path(args.out_dir)
    with running_server() as server, sync_playwright() as pw:
        for name, viewport, scale in SHOTS:
            with tempfile.TemporaryDirectory() as profile:
                browser = pw.chromium.launch_persistent_context(
                    profile, executable_path=args.chromium, headless=True, args=ARGS, viewport=viewport,
                    device_scale_factor=scale, is_mobile=scale > 1, has_touch=scale > 1, permissions=["camera"],
                )  # fmt: skip
                stylized(browser.new_page(), server.url, args.style, out_dir / name)
                if name == "serve.jpg":
                    webcam(browser.new_page(), server.url, args.style, out_dir / "serve_webcam.jpg")
                    print(out_dir / "serve_webcam.jpg")
                browser.close()
            print(out_dir / name)


if __name__ == "__main__":
    main()
