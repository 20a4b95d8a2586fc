"""The web app in Debian's Chromium (Playwright) against a real ``vidpipe up`` with real videos.

One stack for the module; each test is one person's long walk through the app, as they would
use it: nothing but clicks, keys and files. Every page visited is screenshotted and scanned
with axe (``tests/support/browser.py``); CSP violations and uncaught errors fail the test.
"""

from __future__ import annotations

import asyncio
import base64
import os
import subprocess
import sys
import tempfile
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
from playwright.async_api import Browser, Dialog, Page, expect

from tests.support import media
from tests.support.browser import Pages, chromium
from tests.support.repo import ROOT
from tests.support.up import Up

pytestmark = pytest.mark.slow
PASSWORD = "correct horse battery"
JOB_DEADLINE_MS = 120_000


@pytest.fixture(scope="module")
def stack() -> Iterator[Up]:
    if not (ROOT / "web" / "dist" / "index.html").exists():
        pytest.fail("web/dist is missing: `make web` builds the app (`make test` does)")
    with tempfile.TemporaryDirectory(prefix="vpw", dir="/tmp") as tmp:
        up = Up(Path(tmp))
        try:
            up.wait_ready()
            yield up
        except BaseException:
            up.dump()
            raise
        finally:
            up.stop()


@pytest.fixture(scope="module")
def videos() -> Iterator[dict[str, Path]]:
    with tempfile.TemporaryDirectory(prefix="vpv") as tmp:
        folder = Path(tmp)
        yield {
            "clip": media.make_video(folder / "clip.mp4", seconds=4, size="320x240"),
            "ladder": media.make_video(folder / "ladder.mp4", seconds=3, size="320x240"),
            "long": media.make_video(folder / "long.mp4", seconds=40, size="640x480"),
            "big": media.make_video(folder / "big.mp4", seconds=20, size="640x480"),
            "silent": media.make_video(folder / "silent.mp4", seconds=2, audio=False),
        }


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    async with chromium() as launched:
        yield launched


def base_of(stack: Up) -> str:
    return stack.address("ingest")


def create_admin(stack: Up, name: str) -> None:
    """Admins are made on the command line (``vidpipe user create --admin``), never by the API."""
    env = {**os.environ, "VIDPIPE_DATA_DIR": str(stack.data_dir)}
    env["DATABASE_URL"] = _stack_database(stack)
    subprocess.run(
        [sys.executable, "-m", "services.cli", "user", "create", name,
         "--email", f"{name}@example.com", "--admin", "--password-stdin"],
        input=PASSWORD, text=True, env=env, check=True, timeout=60,
    )  # fmt: skip


def _stack_database(stack: Up) -> str:
    import json

    return str(json.loads((stack.data_dir / "stack.json").read_text())["database_url"])


async def register(pages: Pages, page: Page, base: str, name: str) -> None:
    await page.goto(f"{base}/jobs")
    await expect(page).to_have_url(f"{base}/login?next=%2Fjobs")
    await expect(page.get_by_role("heading", name="Log in")).to_be_visible()
    await pages.visit(page, "login")
    await page.get_by_role("link", name="Register").click()
    await page.get_by_label("Username").fill(name)
    await page.get_by_label("Email").fill(f"{name}@example.com")
    await page.get_by_label("Password").fill(PASSWORD)
    await pages.visit(page, "register")
    await page.get_by_role("button", name="Register").click()
    await expect(page.get_by_role("heading", name="Your jobs")).to_be_visible()


async def upload(page: Page, files: list[Path], preset: str) -> None:
    """Pick files on the upload page with a preset; the uploads start at once."""
    await page.get_by_role("link", name="Upload", exact=True).click()
    await expect(page.get_by_role("heading", name="Upload videos")).to_be_visible()
    await page.get_by_role("button", name="Preset").click()
    await page.get_by_role("option", name=preset).click()
    async with page.expect_file_chooser() as chooser:
        await page.get_by_role("button", name="Choose files").click()
    await (await chooser.value).set_files([str(f) for f in files])


async def plays(page: Page, label: str) -> None:
    """The video element's time advances: it really plays."""
    video = page.get_by_label(label)
    await video.evaluate("v => { v.muted = true; return v.play(); }")
    await expect(video).to_have_js_property("paused", False)
    await page.wait_for_function(
        "([label]) => document.querySelector(`video[aria-label='${label}']`).currentTime > 0.3",
        arg=[label],
        timeout=30_000,
    )


async def test_a_person_uploads_watches_plays_downloads_cancels_and_retries(
    stack: Up, browser: Browser, videos: dict[str, Path]
) -> None:
    base = base_of(stack)
    pages = await Pages.open(browser, "user")
    page = await pages.page()
    name = f"ada{uuid.uuid4().hex[:6]}"
    await register(pages, page, base, name)
    await pages.visit(page, "empty job list")

    # Upload, then go on browsing: the upload goes on, and the list follows the job live
    await upload(page, [videos["clip"]], "MP4 480p (H.264)")
    await pages.visit(page, "upload")
    await page.evaluate("window.__sameDocument = true")  # gone if anything reloads the page
    await page.get_by_role("link", name="Jobs", exact=True).click()
    bar = page.get_by_role("progressbar", name="Progress of clip.mp4")
    await expect(bar).to_have_attribute("aria-valuenow", "100", timeout=JOB_DEADLINE_MS)
    await expect(
        page.locator("li.job", has_text="clip.mp4").get_by_text("completed")
    ).to_be_visible()
    assert await page.evaluate("window.__sameDocument === true"), "the list was reloaded"
    await expect(page.get_by_role("status").filter(has_text="clip.mp4 is ready")).to_be_visible()

    # The job page: metadata, thumbnail, the result and the preview play, history, download
    await page.get_by_role("link", name="clip.mp4", exact=True).click()
    await expect(page.get_by_role("heading", name="clip.mp4", exact=True)).to_be_visible()
    await expect(page.get_by_text("320\u00d7240")).to_be_visible()  # with a multiplication sign
    thumb = page.get_by_role("img", name="Thumbnail of clip.mp4")
    await expect(thumb).to_have_js_property("complete", True)
    assert await thumb.evaluate("i => i.naturalWidth") > 0
    await plays(page, "Result of clip.mp4")
    await plays(page, "Preview of clip.mp4")
    await expect(page.get_by_role("heading", name="History")).to_be_visible()
    await expect(page.locator(".timeline li").first).to_be_visible()
    await pages.visit(page, "job page", readme="job-page.png")
    async with page.expect_download() as download_info:
        await page.get_by_role("link", name="Download preview.mp4").click()
    download = await download_info.value
    saved = Path(await download.path())
    assert download.suggested_filename == "preview.mp4"
    assert saved.stat().st_size > 1000 and saved.read_bytes()[4:8] == b"ftyp"

    # An HLS job plays through hls.js; a deep link survives a reload
    await upload(page, [videos["ladder"]], "HLS ladder (360p/480p/720p)")
    await page.get_by_role("link", name="Open the job for ladder.mp4").click(timeout=60_000)
    await expect(page.get_by_role("progressbar", name="Progress")).to_have_attribute(
        "aria-valuenow", "100", timeout=JOB_DEADLINE_MS
    )
    await page.reload()
    player = page.get_by_label("Result of ladder.mp4")
    await expect(player).to_have_attribute("data-kind", "hls")
    await plays(page, "Result of ladder.mp4")
    assert await player.evaluate("v => v.src.startsWith('blob:')"), "not played through MSE"
    await pages.visit(page, "hls job page")

    # A job that fails shows its message and code (and says so on any page); reprocessing it
    # with another preset makes it complete; then it is deleted, after confirming
    await upload(page, [videos["silent"]], "Audio only (M4A)")
    await page.get_by_role("link", name="Open the job for silent.mp4").click(timeout=60_000)
    failure = page.get_by_role("alert").filter(has_text="invalid_options")
    await expect(failure).to_contain_text("audio track", timeout=JOB_DEADLINE_MS)
    await expect(page.get_by_role("status").filter(has_text="silent.mp4 failed")).to_be_visible()
    await pages.visit(page, "failed job")
    await page.get_by_role("button", name="New preset").click()
    await page.get_by_role("option", name="MP4 480p (H.264)").click()
    await page.get_by_role("button", name="Reprocess").click()
    dialog = page.get_by_role("alertdialog", name="Reprocess this video?")
    await expect(dialog).to_contain_text("h264-480p")
    await pages.visit(page, "reprocess dialog")
    await dialog.get_by_role("button", name="Reprocess").click()
    await expect(page.locator(".job-meta").get_by_text("completed")).to_be_visible(
        timeout=JOB_DEADLINE_MS
    )
    await expect(page.get_by_label("Result of silent.mp4")).to_be_visible()
    await page.get_by_role("button", name="Delete job").click()
    await page.get_by_role("alertdialog").get_by_role("button", name="Delete").click()
    await expect(page.get_by_role("heading", name="Your jobs")).to_be_visible()
    await expect(page.get_by_role("link", name="silent.mp4", exact=True)).to_have_count(0)

    # Cancel a long job while it runs, then retry it
    await upload(page, [videos["long"]], "WebM 720p (VP9)")
    await page.get_by_role("link", name="Open the job for long.mp4").click(timeout=60_000)
    await page.get_by_role("button", name="Cancel job").click()
    await expect(page.locator(".job-meta").get_by_text("cancelled")).to_be_visible(
        timeout=JOB_DEADLINE_MS
    )
    await pages.visit(page, "cancelled job")
    await page.get_by_role("button", name="Retry job").click()
    await expect(page.get_by_role("button", name="Cancel job")).to_be_visible()
    await pages.visit(page, "retried job")

    # The list: search, filter, select and bulk-cancel the retried job
    await page.get_by_role("link", name="Jobs", exact=True).click()
    await page.get_by_label("Search by file name").fill("long")
    await expect(page.locator("li.job")).to_have_count(1)
    await page.get_by_role("checkbox", name="Select long.mp4").focus()  # by keyboard
    await page.keyboard.press("Space")
    await page.get_by_role("button", name="Cancel selected").click()
    await expect(page.get_by_role("status").filter(has_text="cancel: 1 of 1 done")).to_be_visible()
    await page.get_by_label("Search by file name").fill("")
    await expect(page.locator("li.job")).to_have_count(3)
    await pages.visit(page, "job list", readme="job-list.png")

    # Keyboard only, at 375 px: log out through the header
    await page.set_viewport_size({"width": 375, "height": 800})
    await pages.visit(page, "job list at 375 px")
    await page.get_by_role("button", name="Log out").focus()
    await page.keyboard.press("Enter")
    await expect(page.get_by_role("heading", name="Log in")).to_be_visible()
    assert not pages.problems(), pages.problems()
    await pages.close()


async def test_admins_oversee_the_pipeline_and_users_while_a_user_gets_403(
    stack: Up, browser: Browser
) -> None:
    base = base_of(stack)
    # a user: the app says admins only, and the API answers 403
    name = f"eve{uuid.uuid4().hex[:6]}"
    user = await Pages.open(browser, "not-admin")
    user_page = await user.page()
    await register(user, user_page, base, name)
    await user_page.goto(f"{base}/admin")
    await expect(user_page.get_by_role("heading", name="Admins only")).to_be_visible()
    await user.visit(user_page, "admin refused")
    async with httpx.AsyncClient(base_url=base, timeout=30) as client:
        login = await client.post("/auth/login", json={"username": name, "password": PASSWORD})
        token = login.json()["access_token"]
        refused = await client.get("/admin/overview", headers={"Authorization": f"Bearer {token}"})
    assert refused.status_code == 403, refused.text
    assert refused.json()["error"]["code"]

    # an admin logs in with the keyboard alone
    boss = f"boss{uuid.uuid4().hex[:6]}"
    create_admin(stack, boss)
    admin = await Pages.open(browser, "admin")
    page = await admin.page()
    await page.goto(f"{base}/admin")
    await page.get_by_label("Username").focus()
    await page.keyboard.type(boss)
    await page.keyboard.press("Tab")
    await page.keyboard.type(PASSWORD)
    await page.keyboard.press("Enter")
    await expect(page.get_by_role("heading", name="Pipeline overview")).to_be_visible()
    await expect(page.get_by_role("img", name="Throughput over the last hour")).to_be_visible()
    await expect(page.get_by_role("heading", name="Consumer lag")).to_be_visible()
    await admin.visit(page, "admin overview")

    # two tabs of one session load at once (both refresh the cookie): neither is signed out
    second = await admin.page()
    await asyncio.gather(second.goto(f"{base}/admin/jobs"), page.reload())
    await expect(second.get_by_role("heading", name="All jobs")).to_be_visible()
    await expect(page.get_by_role("heading", name="Pipeline overview")).to_be_visible()
    await second.reload()
    await expect(second.get_by_role("heading", name="All jobs")).to_be_visible()
    await admin.visit(second, "admin all jobs")
    await second.close()

    # the users page: disable the user, whose next sign-in is refused with the reason
    await page.get_by_role("link", name="Users").click()
    await expect(page.get_by_role("rowheader", name=boss)).to_be_visible()
    await page.get_by_role("button", name=f"Disable {name}").click()
    await expect(page.get_by_role("button", name=f"Enable {name}")).to_be_visible()
    await admin.visit(page, "admin users")
    assert not admin.problems(), admin.problems()
    await admin.close()

    await user_page.get_by_role("button", name="Log out").click()
    await user_page.get_by_label("Username").fill(name)
    await user_page.get_by_label("Password").fill(PASSWORD)
    await user_page.get_by_role("button", name="Log in").click()
    await expect(user_page.get_by_role("alert")).to_contain_text("disabled")
    await user.visit(user_page, "disabled account refused")
    await user.close()


async def test_uploads_resume_after_a_reload_warn_before_leaving_and_show_refusals(
    stack: Up, browser: Browser, videos: dict[str, Path], tmp_path: Path
) -> None:
    base = base_of(stack)
    pages = await Pages.open(browser, "uploads", viewport={"width": 375, "height": 800})
    page = await pages.page()
    await register(pages, page, base, f"bo{uuid.uuid4().hex[:6]}")

    # A file the server refuses: its own words are shown
    pdf = tmp_path / "notes.pdf"
    pdf.write_bytes(media.PDF)
    await upload(page, [pdf], "MP4 480p (H.264)")
    refusal = page.get_by_role("alert").filter(has_text="not a media file")
    await expect(refusal).to_be_visible()
    await expect(page.get_by_role("button", name="Resume notes.pdf")).to_have_count(0)
    await pages.visit(page, "upload refused")

    # Drag and drop: a file dropped on the zone is sent like a picked one. A script cannot
    # make an OS drop, so the page is told what the OS would: a copy is allowed, the item is a
    # file entry (a constructed DataTransfer says neither)
    clip = videos["clip"]
    transfer = await page.evaluate_handle(
        """([b64, name]) => {
          const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
          const data = new DataTransfer();
          data.items.add(new File([bytes], name, { type: "video/mp4" }));
          Object.defineProperty(data, "effectAllowed", { value: "all" });
          DataTransferItem.prototype.webkitGetAsEntry = () => ({ isFile: true });
          return data;
        }""",
        [base64.b64encode(clip.read_bytes()).decode(), "dropped.mp4"],
    )
    zone = page.locator(".dropzone")
    for event in ("dragenter", "dragover", "drop"):
        await zone.dispatch_event(event, {"dataTransfer": transfer})
    await expect(page.get_by_role("link", name="Open the job for dropped.mp4")).to_be_visible()

    # A slow link: the upload is part way when the tab reloads; leaving asks first
    big = videos["big"]
    cdp = await page.context.new_cdp_session(page)
    await cdp.send("Network.enable")
    slow = {"offline": False, "latency": 20, "downloadThroughput": -1, "uploadThroughput": 64_000}
    await cdp.send("Network.emulateNetworkConditions", slow)
    await upload(page, [big], "MP4 480p (H.264)")
    sending = page.get_by_role("progressbar", name="Upload of big.mp4")
    await page.wait_for_function(
        "() => Number(document.querySelector('[aria-label=\"Upload of big.mp4\"]')"
        "?.getAttribute('aria-valuenow')) >= 10"
    )
    await page.get_by_role("button", name="Pause big.mp4").click()
    await expect(page.locator("li.upload", has_text="big.mp4")).to_have_attribute(
        "data-state", "paused"
    )
    await pages.visit(page, "upload paused")
    await page.get_by_role("button", name="Resume big.mp4").click()
    await expect(page.get_by_role("button", name="Pause big.mp4")).to_be_visible()
    await pages.visit(page, "upload in progress")
    asked: list[str] = []

    async def leave(dialog: Dialog) -> None:
        asked.append(dialog.type)
        await dialog.accept()

    page.on("dialog", leave)
    await page.reload()
    assert asked == ["beforeunload"], asked
    await cdp.send("Network.emulateNetworkConditions", {**slow, "uploadThroughput": -1})

    # Picking the same file again continues from the server's offset, and completes
    await upload(page, [big], "MP4 480p (H.264)")
    resumed = page.get_by_text("Continued from")
    await expect(resumed).to_be_visible()
    assert "Continued from 0 B" not in await resumed.inner_text()
    await expect(sending).to_have_attribute("aria-valuenow", "100")
    await page.get_by_role("link", name="Open the job for big.mp4").click()
    await expect(page.get_by_role("heading", name="big.mp4")).to_be_visible()
    await pages.visit(page, "resumed upload job")
    assert not pages.problems(), pages.problems()
    await pages.close()
