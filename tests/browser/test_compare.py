"""Compare: two finished runs overlaid, one colour each, the selection in the URL."""

import pytest

from tests.browser.conftest import Member, Tab

pytestmark = [pytest.mark.browser, pytest.mark.e2e]


def test_compare_two_finished_jobs_draws_both_series(signed_in: Tab, member: Member,
                                                     finished_job: int) -> None:
    tab = signed_in
    first = finished_job
    second = member.submit({"epochs": 2, "batch_size": 64, "seed": 2}, name="run-b")
    assert member.wait_job(second)["status"] == "succeeded"

    tab.open(f"/compare?jobs={first},{second}")
    for job_id in (first, second):
        truth = member.series(job_id, "train_loss")
        tag = tab.series("train_loss", job_id)
        tag.wait_for()
        assert tag.get_attribute("data-points") == str(len(truth["steps"]))
        assert tag.get_attribute("data-last-step") == str(truth["steps"][-1])
        assert float(tag.get_attribute("data-last-value") or "nan") == truth["values"][-1]
    chart = tab.page.locator('figure.chart[data-metric="train_loss"]')
    assert chart.locator(".series-tag").count() == 2
    colours = {chart.locator(".swatch").nth(i).evaluate("e => e.style.background") for i in range(2)}
    assert len(colours) == 2, "each run gets its own colour"
    tab.shot("compare-two")

    tab.page.uncheck(f'#compare-picker input[value="{first}"]')
    tab.series("train_loss", first).wait_for(state="detached")
    assert tab.page.url.endswith(f"/compare?jobs={second}")
    tab.series("train_loss", second).wait_for()  # the remaining run is drawn again on its own
    tab.shot("compare-one")
    tab.assert_clean()


def test_compare_status_badge_follows_live_status(signed_in: Tab, member: Member, long_job: int) -> None:
    tab = signed_in
    member.wait_job(long_job, frozenset({"running"}), timeout_s=120)
    tab.open(f"/compare?jobs={long_job}")
    label = f'#compare-picker label:has(input[value="{long_job}"])'
    badge = tab.page.locator(f"{label} .status")
    tab.series("train_loss", long_job).wait_for()
    assert badge.get_attribute("data-status") == "running"

    assert member.http.post(f"/jobs/{long_job}/cancel").status_code == 202
    tab.page.wait_for_selector(f'{label} [data-status="cancelled"]', timeout=60_000)
    assert member.get(f"/jobs/{long_job}")["status"] == "cancelled"
    tab.shot("compare-status")
    tab.assert_clean()
