"""Fixtures of the console tests: one Chromium per test session (per xdist worker), a page per test, a screenshot on
failure; one real `galerna serve` per backend shared by the modules that drive it (test_console.py, test_plan_api.py:
one xdist group), each test cleaning up the leases it makes.

Screenshots of failed tests go to ``$GALERNA_TEST_ARTIFACTS`` (default ``test-artifacts/console/``).
"""
from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from tests.console.browser import available, launch
from tests.daemon.conftest import BACKENDS, make_server

ARTIFACTS = Path(os.environ.get("GALERNA_TEST_ARTIFACTS", "test-artifacts/console"))


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    setattr(item, f"rep_{rep.when}", rep)


@pytest.fixture(scope="session", params=BACKENDS)
def server(request, tmp_path_factory):
    """A real `galerna serve` (libvirt test-driver hosts) for the whole session, not one per module."""
    srv, drop = make_server(request.param, tmp_path_factory.mktemp(f"console-{request.param}"))
    srv.start()
    yield srv
    srv.stop()
    drop()


@pytest.fixture(scope="module")
def browser():
    """One Chromium per module, not per session: Playwright's sync API keeps an asyncio loop running in the main
    thread while it is open, so a later test of the same worker that calls asyncio.run() would fail."""
    why = available()
    if why:
        pytest.skip(why)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        ctx = launch(p)
        yield ctx
        ctx.close()


@pytest.fixture
def page(browser, request):
    pg = browser.new_page()
    errors: list[str] = []
    pg.on("pageerror", lambda e: errors.append(str(e)))
    pg.errors = errors
    yield pg
    failed = getattr(request.node, "rep_call", None)
    if failed is not None and failed.failed:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        name = re.sub(r"[^A-Za-z0-9_.-]+", "_", request.node.nodeid)
        pg.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)
    pg.close()
    assert not errors, f"errors in the page: {errors}"
