"""Debian's Chromium driven by Playwright, for the browser tests (never a downloaded browser).

Every page a test visits is screenshotted (``Pages.visit``) into ``ARTIFACTS`` (the README's
two into ``docs/screenshots/`` as well) and scanned with axe-core, injected from the web app's
``node_modules`` (an npm dev dependency) as an init script, which the page's CSP does not apply to.
"""

from __future__ import annotations

import os
import re
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import Browser, BrowserContext, Page, async_playwright

from tests.support.repo import ROOT

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]
# the web app's players start without a click (the tests watch their time advance)
APP_ARGS = ["--autoplay-policy=no-user-gesture-required"]
AXE = ROOT / "web" / "node_modules" / "axe-core" / "axe.min.js"
ARTIFACTS = Path(os.environ.get("VIDPIPE_TEST_ARTIFACTS", ROOT / ".artifacts")) / "web"
README_SHOTS = ROOT / "docs" / "screenshots"
# The README's two screenshots are tracked files: rewritten only when asked
# (VIDPIPE_README_SCREENSHOTS=1 make test), so a test run leaves the checkout clean.
UPDATE_README_SHOTS = os.environ.get("VIDPIPE_README_SCREENSHOTS") == "1"
# Scripts injected by Playwright are exempt from the CSP: this one reports every violation of it
REPORT_CSP_VIOLATIONS = """
document.addEventListener("securitypolicyviolation", (e) =>
  console.error(`CSP violation: ${e.violatedDirective} blocked ${e.blockedURI || "inline"}`));
"""
# react-aria's live announcer briefly points aria-labelledby at a node it has already removed
# (a transient, off-screen announcement): left out of the scan, everything else is in
SERIOUS_VIOLATIONS = """async () => {
  const context = { exclude: [["[data-live-announcer]"]] };
  const result = await window.axe.run(context, { resultTypes: ["violations"] });
  return result.violations
    .filter((v) => v.impact === "serious" || v.impact === "critical")
    .map((v) => ({ id: v.id, impact: v.impact, help: v.help,
                   nodes: v.nodes.slice(0, 5).map((n) => n.target.join(" ")) }));
}"""


@asynccontextmanager
async def launch_chromium(extra_args: Sequence[str] = ()) -> AsyncIterator[Browser]:
    """Debian's Chromium through Playwright (never a browser Playwright downloads)."""
    if os.environ.get("VIDPIPE_SKIP_BROWSER") == "1":
        pytest.skip("VIDPIPE_SKIP_BROWSER=1: browser tests skipped on purpose")
    if not CHROMIUM.exists():
        pytest.fail(
            f"{CHROMIUM} is missing: `make test` installs Debian's chromium "
            "(apt-get install -y --no-install-recommends chromium); "
            "set VIDPIPE_SKIP_BROWSER=1 to skip the browser tests instead"
        )
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=[*CHROMIUM_ARGS, *extra_args]
        )
        try:
            yield browser
        finally:
            await browser.close()


@asynccontextmanager
async def chromium() -> AsyncIterator[Browser]:
    """The browser the web app's tests drive, with axe-core at hand."""
    async with launch_chromium(APP_ARGS) as browser:
        assert AXE.exists(), f"{AXE} is missing: `make web-check` installs the web app's packages"
        yield browser


class Pages:
    """One browser context (one person, one cookie jar) with its console, screenshots, axe."""

    def __init__(self, context: BrowserContext, name: str) -> None:
        self.context = context
        self.name = name
        self.console: list[str] = []
        self.shots: list[Path] = []

    @classmethod
    async def open(
        cls, browser: Browser, name: str, viewport: dict[str, int] | None = None
    ) -> Pages:
        context = await browser.new_context(
            viewport=viewport or {"width": 1280, "height": 900}, accept_downloads=True
        )
        context.set_default_timeout(30_000)
        await context.add_init_script(REPORT_CSP_VIOLATIONS)
        await context.add_init_script(path=str(AXE))
        pages = cls(context, name)
        context.on("page", pages._listen)
        return pages

    def _listen(self, page: Page) -> None:
        page.on("console", lambda m: self.console.append(f"{m.type}: {m.text}"))
        page.on("pageerror", lambda e: self.console.append(f"pageerror: {e}"))

    async def page(self) -> Page:
        return await self.context.new_page()

    async def visit(self, page: Page, label: str, *, readme: str | None = None) -> None:
        """Screenshot the page as it is now, and fail on a serious or critical axe violation."""
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        slug = re.sub(r"[^a-z0-9]+", "-", f"{self.name}-{len(self.shots):02d}-{label}".lower())
        path = ARTIFACTS / f"{slug}.png"
        await page.screenshot(path=str(path), full_page=True)
        self.shots.append(path)
        if readme and UPDATE_README_SHOTS:
            README_SHOTS.mkdir(parents=True, exist_ok=True)
            await page.screenshot(path=str(README_SHOTS / readme), full_page=True)
        violations: list[dict[str, Any]] = await page.evaluate(SERIOUS_VIOLATIONS)
        assert not violations, f"axe on {label} ({page.url}): {violations}"

    def problems(self) -> list[str]:
        """CSP violations and uncaught errors seen so far."""
        return [line for line in self.console if "CSP violation" in line or "pageerror" in line]

    async def close(self) -> None:
        await self.context.close()
