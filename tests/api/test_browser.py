"""Real browser: headless Debian Chromium (Playwright) against `contimg serve` on loopback.

The server is the real command in a subprocess, on a free port of 127.0.0.1,
over the database the real runs filled. The browser opens the overview and the
failed run's page, checks what they render, visits every other page of the
navigation, checks that the console shows no errors (nor failed requests), and
saves screenshots to the test's tmp_path.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.api.conftest import Filled, Science

pytestmark = pytest.mark.browser

CHROMIUM = "/usr/bin/chromium"
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


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server(filled: Filled) -> Iterator[str]:
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("CONTIMG_")}
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "contimg",
            "serve",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--workdir",
            str(filled.settings.paths.workdir),
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(f"{url}/api/v1/health", timeout=1) as resp:
                    if resp.status == 200:
                        break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    err = proc.stderr.read().decode() if proc.stderr else ""
                    raise AssertionError(f"contimg serve did not start: {err}") from None
                time.sleep(0.2)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        if proc.stderr:
            proc.stderr.close()


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield b
        b.close()


def _watch(page) -> list[str]:
    problems: list[str] = []
    page.on(
        "console",
        lambda m: problems.append(f"console {m.type}: {m.text}") if m.type == "error" else None,
    )
    page.on("pageerror", lambda e: problems.append(f"page error: {e}"))
    page.on("requestfailed", lambda r: problems.append(f"request failed: {r.url}"))
    page.on(
        "response",
        lambda r: problems.append(f"HTTP {r.status}: {r.url}") if r.status >= 400 else None,
    )
    return problems


def test_overview_and_run_page_render_without_console_errors(
    server: str, browser, filled: Filled, tmp_path: Path
) -> None:
    page = browser.new_page(viewport={"width": 1280, "height": 1100})
    problems = _watch(page)

    page.goto(f"{server}/", wait_until="networkidle")
    assert page.title() == "Overview · contimg"
    assert page.locator("h1").inner_text() == "Overview"
    assert page.locator("svg.throughput").count() == 1
    assert page.locator(f'a[href="/runs/{filled.failed_run}"]').count() >= 1
    assert "reachable" in page.locator(".cards").inner_text()
    # live refresh: the fragment is re-fetched (every 5 s) and the content stays whole
    with page.expect_response(
        lambda r: r.url.endswith("/fragments/overview"), timeout=15_000
    ) as refreshed:
        pass
    assert refreshed.value.status == 200
    page.wait_for_timeout(200)
    assert page.locator("#overview section").count() >= 4
    page.screenshot(path=str(tmp_path / "overview.png"), full_page=True)

    page.goto(f"{server}/runs/{filled.failed_run}", wait_until="networkidle")
    assert f"Run #{filled.failed_run}" in page.locator("h1").inner_text()
    assert page.locator("svg.gantt rect.bar").count() == 4
    assert page.locator("svg.gantt rect.st-failed").count() == 1
    assert "ZeroDivisionError" in page.locator("details.error-box summary").first.inner_text()
    page.locator("#logs tr").first.wait_for()
    assert "run.failed" in page.locator("#logs").inner_text()
    page.select_option("select[name=level]", "error")
    page.wait_for_function(
        "() => !document.querySelector('#logs').innerText.includes('stage.started')"
    )
    assert "run.failed" in page.locator("#logs").inner_text()
    page.screenshot(path=str(tmp_path / "run.png"), full_page=True)

    for path, heading in (
        ("/runs", "Runs"),
        ("/images", "Images"),
        ("/calibration", "Calibration"),
        ("/sources", "Sources"),
        ("/api", "REST API"),
    ):
        page.goto(f"{server}{path}", wait_until="networkidle")
        assert page.locator("h1").inner_text().startswith(heading), path
    assert not problems, problems
    _keep(tmp_path)


def _keep(tmp_path: Path) -> None:
    """Copy the screenshots somewhere a person can look at them (KEEP_API_SCREENSHOTS=DIR)."""
    if os.environ.get("KEEP_API_SCREENSHOTS"):
        keep = Path(os.environ["KEEP_API_SCREENSHOTS"])
        keep.mkdir(parents=True, exist_ok=True)
        for png in tmp_path.glob("*.png"):
            (keep / png.name).write_bytes(png.read_bytes())


@pytest.mark.casa
@pytest.mark.wsclean
@pytest.mark.slow
def test_images_and_science_run_render(
    server: str, browser, science: Science, tmp_path: Path
) -> None:
    page = browser.new_page(viewport={"width": 1280, "height": 1100})
    problems = _watch(page)
    loaded = "img => img.complete && img.naturalWidth > 0"

    page.goto(f"{server}/", wait_until="networkidle")
    thumb = page.locator(f'a.thumb[href="/images/{science.image_id}"] img')
    assert thumb.evaluate(loaded)
    page.screenshot(path=str(tmp_path / "overview-science.png"), full_page=True)

    page.goto(f"{server}/images/{science.image_id}", wait_until="networkidle")
    assert page.locator("img.quicklook").evaluate(loaded)
    assert "Cross-match" in page.locator("main").inner_text()
    page.screenshot(path=str(tmp_path / "image.png"), full_page=True)

    page.goto(f"{server}/runs/{science.standard_run}", wait_until="networkidle")
    assert page.locator("svg.gantt rect.st-completed").count() >= 8
    page.screenshot(path=str(tmp_path / "run-standard.png"), full_page=True)

    page.goto(f"{server}/calibration", wait_until="networkidle")
    plots = page.locator(".plots img")
    assert plots.count() >= 1
    for i in range(plots.count()):
        plots.nth(i).scroll_into_view_if_needed()
        page.wait_for_function(f"() => document.querySelectorAll('.plots img')[{i}].complete")
        assert plots.nth(i).evaluate(loaded)
    page.screenshot(path=str(tmp_path / "calibration.png"), full_page=True)

    page.goto(f"{server}/sources", wait_until="networkidle")
    page.locator("table a", has_text="VAR_C").click()
    page.wait_for_load_state("networkidle")
    assert page.locator("h1").inner_text().startswith("VAR_C")
    assert page.locator("img.plot").evaluate(loaded)
    page.screenshot(path=str(tmp_path / "source.png"), full_page=True)

    assert not problems, problems
    _keep(tmp_path)
