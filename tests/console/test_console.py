"""The console of a real `galerna serve` (libvirt test-driver hosts, SQLite) in Debian's Chromium."""
from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone

import pytest

pytestmark = pytest.mark.xdist_group("console-serve")


def sign_in(page, server, who: str) -> None:
    page.goto(server.url + "/")
    page.fill("#token", server.tokens[who])
    page.click("#signin-form button")
    page.wait_for_selector("#timeline[data-bars]", timeout=20000)
    page.wait_for_function("document.body.dataset.stream === 'live'", timeout=10000)


def timeline_leases(page) -> set[str]:
    return set(filter(None, page.get_attribute("#timeline", "data-leases").split(",")))


def _iso(dt: datetime) -> str:
    return dt.isoformat()


@pytest.fixture
def later():
    return datetime.now(timezone.utc) + timedelta(hours=1)


def test_a_tenant_sees_only_its_own_leases(page, server, later):
    with server.client("alice") as a, server.client("bob") as b:
        mine = a.post("/v1/leases", json={"type": "ar", "start": _iso(later), "duration": 900, "cpu": 1,
                                          "memory": 128, "name": "alices"}).json()
        theirs = b.post("/v1/leases", json={"type": "ar", "start": _iso(later), "duration": 900, "cpu": 1,
                                            "memory": 128, "name": "bobs"}).json()
        try:
            sign_in(page, server, "alice")
            assert page.inner_text("#who") == "alice (tenant alice)"
            shown = timeline_leases(page)
            assert mine["id"] in shown and theirs["id"] not in shown
            assert page.locator("#nav a[data-view=hosts]").is_hidden()
            page.click("#nav a[data-view=leases]")
            page.wait_for_selector(f"tr[data-lease='{mine['id']}']")
            ids = page.locator("#leases tbody tr").evaluate_all("rows => rows.map(r => r.dataset.lease)")
            assert mine["id"] in ids and theirs["id"] not in ids
            assert {lease["id"] for lease in a.get("/v1/leases", params={"limit": 1000}).json()} == set(ids)
            # another tenant's lease page answers as if it did not exist
            page.evaluate(f"location.hash = 'lease/{theirs['id']}'")
            page.wait_for_selector("#view-lease .msg.error")
            assert page.inner_text("#view-lease .msg.error") == f"no lease {theirs['id']}"
        finally:
            a.delete(f"/v1/leases/{mine['id']}")
            b.delete(f"/v1/leases/{theirs['id']}")


def test_an_ar_requested_through_the_form_appears_on_another_pages_timeline_via_the_stream(page, browser, server,
                                                                                           later):
    watcher = browser.new_page()
    try:
        sign_in(watcher, server, "alice")
        before = timeline_leases(watcher)
        sign_in(page, server, "alice")
        page.click("#nav a[data-view=request]")
        page.select_option("#r-type", "ar")
        page.fill("#r-name", "from-the-form")
        page.fill("#r-start", later.strftime("%Y-%m-%dT%H:%M:%S"))
        page.fill("#r-duration", "30")
        page.fill("#r-nodes", "2")
        page.fill("#r-cpu", "2")
        page.fill("#r-memory", "1024")
        page.click("#r-submit")
        page.wait_for_selector("#request-result[data-status='201']")
        lease_id = re.match(r"lease (\d+): scheduled", page.inner_text("#request-result")).group(1)
        # the watcher did nothing: only the stream can make it redraw (its periodic refresh is every 15 s)
        watcher.wait_for_function(f"document.getElementById('timeline').dataset.leases.split(',').includes('{lease_id}')",
                                  timeout=10000)
        assert timeline_leases(watcher) - before == {lease_id}
        assert watcher.evaluate("document.body.dataset.lastEvent") == f"lease.scheduled {lease_id}"
        with server.client("alice") as a:
            lease = a.get(f"/v1/leases/{lease_id}").json()
            assert lease["name"] == "from-the-form" and lease["type"] == "ar" and len(lease["nodes"]) == 2
            assert datetime.fromisoformat(lease["start"]) == later.replace(microsecond=0)
            a.delete(f"/v1/leases/{lease_id}")
        watcher.wait_for_function(
            f"!document.getElementById('timeline').dataset.leases.split(',').includes('{lease_id}')", timeout=10000)
    finally:
        watcher.close()


def test_a_request_that_does_not_fit_shows_the_apis_reason(page, server, later):
    sign_in(page, server, "alice")
    page.click("#nav a[data-view=request]")
    page.select_option("#r-type", "ar")
    page.fill("#r-start", later.strftime("%Y-%m-%dT%H:%M:%S"))
    page.fill("#r-cpu", "64")  # the test hosts have 8 cores
    page.click("#r-submit")
    page.wait_for_selector("#request-result[data-status='409']")
    shown = page.inner_text("#request-result")
    with server.client("alice") as a:
        rejected = [x for x in a.get("/v1/leases", params={"state": "rejected", "limit": 1000}).json()]
    assert shown == f"refused: {rejected[-1]['reason']}" and rejected[-1]["reason"]
    # a field the API refuses is named
    page.fill("#r-duration", "0")
    page.eval_on_selector("#r-duration", "e => e.removeAttribute('min')")
    page.click("#r-submit")
    page.wait_for_selector("#request-result[data-status='422']")
    assert page.inner_text("#request-result").startswith("refused: duration:")


def test_cancelling_a_lease_from_the_table(page, server, later):
    with server.client("alice") as a:
        lease = a.post("/v1/leases", json={"type": "ar", "start": _iso(later), "duration": 900, "cpu": 1,
                                           "memory": 128}).json()
    sign_in(page, server, "alice")
    page.click("#nav a[data-view=leases]")
    row = page.locator(f"tr[data-lease='{lease['id']}']")
    row.locator("button[data-act=cancel]").click()
    page.wait_for_selector(f"tr[data-lease='{lease['id']}'] .state.cancelled")
    assert f"lease {lease['id']}: cancelled" in page.inner_text("#flash")
    with server.client("alice") as a:
        assert a.get(f"/v1/leases/{lease['id']}").json()["state"] == "cancelled"


def test_extending_an_ar_and_its_event_history(page, server, later):
    with server.client("alice") as a:
        lease = a.post("/v1/leases", json={"type": "ar", "start": _iso(later), "duration": 900, "cpu": 1,
                                           "memory": 128}).json()
    try:
        sign_in(page, server, "alice")
        page.evaluate(f"location.hash = 'lease/{lease['id']}'")
        page.wait_for_selector("#lease-events")
        page.fill(f"[data-minutes='{lease['id']}']", "10")
        page.click("#view-lease button[data-act=extend]")
        page.wait_for_selector("#flash.ok")
        with server.client("alice") as a:
            now = a.get(f"/v1/leases/{lease['id']}").json()
        assert (datetime.fromisoformat(now["end"]) - datetime.fromisoformat(lease["end"])).total_seconds() == \
            pytest.approx(600, abs=1)
        events = page.locator("#lease-events tr td:nth-child(2)").all_inner_texts()
        assert events and events[0] == "submitted"
    finally:
        with server.client("alice") as a:
            a.delete(f"/v1/leases/{lease['id']}")


def test_an_admin_disables_a_host_and_its_row_is_marked(page, browser, server):
    watcher = browser.new_page()
    try:
        sign_in(watcher, server, "admin")
        assert "test2:" not in watcher.get_attribute("#timeline", "data-marked")
        sign_in(page, server, "admin")
        page.click("#nav a[data-view=hosts]")
        page.locator("tr[data-host-row='test2'] button[data-action=disable]").click()
        page.wait_for_selector("tr[data-host-row='test2'] .state.disabled")
        watcher.wait_for_function("document.getElementById('timeline').dataset.marked.includes('test2:disabled')",
                                  timeout=10000)
        with server.client("admin") as adm:
            assert next(h for h in adm.get("/v1/hosts").json() if h["name"] == "test2")["state"] == "disabled"
        page.locator("tr[data-host-row='test2'] button[data-action=enable]").click()
        page.wait_for_selector("tr[data-host-row='test2'] .state.up")
        watcher.wait_for_function("!document.getElementById('timeline').dataset.marked.includes('test2:')",
                                  timeout=10000)
    finally:
        watcher.close()
        with server.client("admin") as adm:
            adm.post("/v1/hosts/test2/enable")


@pytest.mark.parametrize("which", ["nonsense", "revoked"])
def test_a_bad_or_revoked_token_is_refused(page, server, which):
    page.goto(server.url + "/")
    page.fill("#token", "glr_nonsense" if which == "nonsense" else server.tokens["revoked"])
    page.click("#signin-form button")
    page.wait_for_selector("#signin-error:not(.hidden)")
    assert page.inner_text("#signin-error") == "refused: unknown or revoked token"
    assert page.locator("#app").is_hidden()
    assert page.evaluate("sessionStorage.getItem('galerna-token')") is None
