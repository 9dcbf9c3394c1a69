"""A series far longer than the window: drawn downsampled, and a zoom fetches that window in detail."""

import math

import pytest
from sqlalchemy.orm import Session

from tests.browser.conftest import Tab
from tests.stack import Stack, wait_until

pytestmark = [pytest.mark.browser, pytest.mark.e2e]

POINTS = 50_000


def value_at(step: int) -> float:
    return math.sin(step / 500) + step / POINTS


@pytest.fixture(scope="module")
def dense_job(stack: Stack, finished_job: int) -> int:
    """The finished job gets a `dense` series of POINTS points, written as its worker would."""
    from server.core.db import make_engine
    from server.store.metrics import write_points
    from server.store.models import Job

    engine = make_engine(stack.env["TORCHYARD_DATABASE_URL"])
    try:
        with Session(engine) as session:
            job = session.get(Job, finished_job)
            assert job is not None
            points = [("dense", s, value_at(s), 1.7e9 + s) for s in range(1, POINTS + 1)]
            assert write_points(session, finished_job, job.attempts, points) == POINTS
            session.commit()
    finally:
        engine.dispose()
    return finished_job


def test_dense_series_draws_downsampled_and_zoom_fetches_detail(signed_in: Tab, dense_job: int) -> None:
    tab = signed_in
    tab.open(f"/jobs/{dense_job}")
    tag = tab.series("dense", dense_job)
    tag.wait_for()
    overview = int(tag.get_attribute("data-points") or 0)
    budget = 3 * 1280  # the page asks for about three points per pixel of window width
    assert 1000 < overview <= budget
    assert tag.get_attribute("data-last-step") == str(POINTS)
    assert float(tag.get_attribute("data-last-value") or "nan") == value_at(POINTS)

    chart = tab.page.locator('figure.chart[data-metric="dense"]')
    chart.scroll_into_view_if_needed()  # the mouse only reaches what is inside the viewport
    box = chart.locator(".u-over").bounding_box()
    assert box is not None
    y = box["y"] + box["height"] / 2
    tab.page.mouse.move(box["x"] + box["width"] * 0.45, y)
    tab.page.mouse.down()
    tab.page.mouse.move(box["x"] + box["width"] * 0.55, y, steps=4)
    tab.page.mouse.up()
    # The window (a tenth of the steps) held a tenth of the overview's points; its detail brings about
    # as many points as the whole overview, so the series grows by well over half.
    wait_until(lambda: int(tag.get_attribute("data-points") or 0) > overview * 1.4, 30,
               f"the zoomed window's detail to be drawn (overview: {overview} points)")
    assert tag.get_attribute("data-last-step") == str(POINTS)

    tab.page.click("#reset-zoom")
    wait_until(lambda: int(tag.get_attribute("data-points") or 0) == overview, 10, "the overview again")
    tab.shot("dense")
    tab.assert_clean()
