"""The jobs list: live status and progress, filters by status and text."""

import re
import time

import pytest

from tests.browser.conftest import Member, Tab
from tests.stack import wait_until

pytestmark = [pytest.mark.browser, pytest.mark.e2e]


def _progress(tab: Tab, job_id: int) -> int:
    text = tab.page.locator(f'#jobs-table tr[data-job-id="{job_id}"] .progress-cell').text_content() or ""
    done = text.strip().split("/")[0]
    return int(done) if done.isdigit() else 0


def test_jobs_list_updates_progress_and_status_live(signed_in: Tab, member: Member, long_job: int) -> None:
    tab = signed_in
    job_id = long_job
    tab.open("/")
    tab.page.wait_for_selector(f'#jobs-table tr[data-job-id="{job_id}"]')
    seen: set[int] = set()

    def advanced() -> bool:
        step = _progress(tab, job_id)
        if step:
            seen.add(step)
        return len(seen) >= 3

    wait_until(advanced, 120, f"the progress of job {job_id} to advance in the list", every_s=0.3)
    response = member.http.post(f"/jobs/{job_id}/cancel")
    assert response.status_code == 202
    tab.page.wait_for_selector(f'#jobs-table tr[data-job-id="{job_id}"][data-status="cancelled"]',
                               timeout=60_000)
    assert member.get(f"/jobs/{job_id}")["status"] == "cancelled"
    tab.shot("jobs-live")
    tab.assert_clean()


def test_jobs_list_filters_by_status_and_text(signed_in: Tab, finished_job: int) -> None:
    tab = signed_in
    done = finished_job
    tab.open("/")
    tab.page.wait_for_selector(f'#jobs-table tr[data-job-id="{done}"][data-status="succeeded"]')

    tab.page.fill("#text-filter", "finished-run")
    rows = tab.page.locator("#jobs-table tbody tr[data-job-id]")
    assert rows.count() == 1 and rows.first.get_attribute("data-job-id") == str(done)

    tab.page.fill("#text-filter", "")
    tab.page.select_option("#status-filter", "failed")
    assert tab.page.locator(f'#jobs-table tr[data-job-id="{done}"]').count() == 0
    tab.page.select_option("#status-filter", "succeeded")
    assert tab.page.locator(f'#jobs-table tr[data-job-id="{done}"]').count() == 1

    tab.page.click("#compare-selected")  # nothing ticked: say what to do instead of doing nothing
    tab.page.wait_for_selector("text=Tick one or more jobs to compare")
    assert tab.page.url == f"{tab.base_url}/"
    tab.shot("jobs-list")
    tab.assert_clean()


def test_jobs_list_shows_total_of_job_that_starts_after_opening(signed_in: Tab, member: Member,
                                                                busy_worker: int) -> None:
    tab = signed_in
    job_id = member.submit({"epochs": 500, "batch_size": 8}, name="starts-later")
    try:
        assert member.get(f"/jobs/{job_id}")["status"] == "queued"
        # The list's own periodic refresh would also bring the total; stop the page's timers so only
        # the live events can.
        tab.page.clock.install()
        tab.open("/")
        cell = tab.page.locator(f'#jobs-table tr[data-job-id="{job_id}"] .progress-cell')
        cell.wait_for()
        tab.page.clock.pause_at(time.time() + 1)
        assert (cell.text_content() or "").strip() == ""

        assert member.http.post(f"/jobs/{busy_worker}/cancel").status_code == 202
        shown = wait_until(lambda: re.fullmatch(r"(\d+)/(\d+)", (cell.text_content() or "").strip()), 120,
                           f"the list to show the total steps of job {job_id}", every_s=0.3)
        job = member.get(f"/jobs/{job_id}")
        assert job["status"] == "running"
        assert int(shown[2]) == job["progress"]["total_steps"]
        tab.shot("jobs-total")
        tab.assert_clean()
    finally:
        member.http.post(f"/jobs/{job_id}/cancel")
