"""Helpers for the report tests: internal links of a built site, and a headless Chromium (Debian's package)."""

from __future__ import annotations

import re
import shutil
from pathlib import Path
from urllib.parse import urldefrag

HREF = re.compile(r'(?:href|src)="([^"]+)"')


def broken_links(site: Path) -> list[str]:
    """Every internal href/src of every page that does not resolve to a file (or to an id on the target page)."""
    bad = []
    for page in sorted(site.rglob("*.html")):
        text = page.read_text()
        for link in HREF.findall(text):
            if link.startswith(("http://", "https://", "mailto:")):
                continue
            path, frag = urldefrag(link)
            target = (page.parent / path).resolve() if path else page
            if not target.is_file():
                bad.append(f"{page.relative_to(site)} -> {link}")
            elif frag and f'id="{frag}"' not in target.read_text():
                bad.append(f"{page.relative_to(site)} -> {link} (no such id)")
    return bad


def chromium_paths() -> tuple[str, str] | None:
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    driver = shutil.which("chromedriver")
    return (browser, driver) if browser and driver else None


def browser():
    """A headless Chromium driven by Selenium, with the browser console log enabled."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    paths = chromium_paths()
    assert paths is not None
    opts = webdriver.ChromeOptions()
    for a in ("--headless=new", "--no-sandbox", "--disable-gpu", "--window-size=1400,1800",
              "--allow-file-access-from-files"):
        opts.add_argument(a)
    opts.binary_location = paths[0]
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    return webdriver.Chrome(service=Service(paths[1]), options=opts)
