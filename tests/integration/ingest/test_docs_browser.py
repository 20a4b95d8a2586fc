"""``/docs`` in a real browser: Debian's Chromium, driven by Playwright, on the public origin.

Playwright never downloads a browser here: it launches ``/usr/bin/chromium`` (``make test``
installs it when missing). Without it this test fails, saying so; ``VIDPIPE_SKIP_BROWSER=1``
skips it on purpose.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from urllib.parse import urlsplit

import pytest
from playwright.async_api import Browser

from tests.support.browser import REPORT_CSP_VIOLATIONS, launch_chromium
from tests.support.ingest import Api

TIMEOUT_MS = 20_000


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    async with launch_chromium() as launched:
        yield launched


async def test_a_person_authorizes_in_the_docs_page_and_lists_their_jobs(
    public_origin: Api, browser: Browser
) -> None:
    account = await public_origin.register()
    token = (await public_origin.login(account["username"]))["access_token"]
    base = str(public_origin.client.base_url).rstrip("/")
    page = await browser.new_page()
    page.set_default_timeout(TIMEOUT_MS)
    console: list[str] = []
    page.on("console", lambda message: console.append(f"{message.type}: {message.text}"))
    page.on("pageerror", lambda error: console.append(f"pageerror: {error}"))
    sent: list[dict[str, str]] = []
    page.on(
        "request", lambda r: sent.append(r.headers) if urlsplit(r.url).path == "/jobs" else None
    )
    await page.add_init_script(REPORT_CSP_VIOLATIONS)

    response = await page.goto(f"{base}/docs")
    assert response is not None and response.status == 200
    # the operations, with their schemas (the "Schemas" section lists the models)
    jobs = page.locator("#operations-jobs-get_jobs")
    await jobs.wait_for()
    for path in ("/upload", "/auth/login", "/jobs/{job_id}", "/events"):
        assert await page.locator(f'.opblock-summary-path[data-path="{path}"]').count() >= 1
    titles = page.locator("section.models .json-schema-2020-12__title")
    await titles.first.wait_for()
    assert {"Job", "JobList", "Tokens", "Error"} <= set(await titles.all_inner_texts())
    assert await page.get_by_role("link", name="Events: AsyncAPI 3.0 (YAML)").count() == 1

    # Authorize: the bearer scheme's box takes the access token
    await page.locator(".auth-wrapper button.authorize").click()
    bearer = page.locator(".modal-ux .auth-container").filter(has_text="bearer")
    await bearer.locator("input").fill(token)
    await bearer.locator("button.authorize").click()
    await bearer.get_by_text("Authorized").wait_for()
    await page.locator(".modal-ux button.close-modal").click()

    # GET /jobs through the page: Try it out, Execute, a 200 in the live response
    await jobs.locator(".opblock-summary").first.click()
    documented = jobs.locator(".responses-table").last  # the 200's example, made from JobList
    await documented.get_by_text("original_filename").first.wait_for()
    await jobs.locator("button.try-out__btn").click()
    await jobs.locator("button.execute").click()
    status = jobs.locator(".live-responses-table .response .response-col_status")
    await status.wait_for()
    assert (await status.inner_text()).strip() == "200"
    body = await jobs.locator(
        ".live-responses-table .response-col_description pre"
    ).first.inner_text()
    assert '"items"' in body, body
    assert sent and sent[-1].get("authorization") == f"Bearer {token}"

    violations = [line for line in console if "Content Security Policy" in line or "CSP" in line]
    assert not violations, violations
    assert not [line for line in console if line.startswith("pageerror")], console
