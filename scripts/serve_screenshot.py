"""The README's screenshot of ``percepta serve``: the page after stylising the example photo with "wave".

    python scripts/serve_screenshot.py [--out docs/serve.jpg] [--chromium /usr/bin/chromium]

Starts the real server on a free loopback port, drives Debian's chromium (headless, through Playwright) to
pick the photo, choose the style and run it, and saves a JPEG of the window.
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
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default=str(ROOT / "docs" / "serve.jpg"))
    parser.add_argument("--chromium", default="/usr/bin/chromium")
    parser.add_argument("--style", default="wave")
    args = parser.parse_args()
    with running_server() as server, sync_playwright() as pw, tempfile.TemporaryDirectory() as profile:
        browser = pw.chromium.launch_persistent_context(profile, executable_path=args.chromium, headless=True,
                                                        args=ARGS, viewport={"width": 1280, "height": 900})  # fmt: skip
        page = browser.new_page()
        page.goto(server.url)
        page.wait_for_selector(f"label.style input[value={args.style}]", state="attached")
        page.set_input_files("#file", str(PHOTO))
        page.click(f"label.style:has(input[value={args.style}])")
        page.click("#go")
        page.wait_for_selector("#result[data-ready=true]", timeout=120_000)
        page.evaluate("window.scrollTo(0, 0)")
        page.screenshot(path=args.out, type="jpeg", quality=85)
        browser.close()
    print(args.out)


if __name__ == "__main__":
    main()
