"""Signing in and out of the dashboard."""

import pytest

from tests.browser.conftest import Member, Tab

pytestmark = [pytest.mark.browser, pytest.mark.e2e]


def test_sign_in_form_rejects_bad_token_then_accepts_member(tab: Tab, member: Member) -> None:
    tab.open("/")
    tab.page.wait_for_selector("#signin-form")
    assert not tab.page.is_visible("#sign-out"), "nobody is signed in, so there is nothing to sign out of"
    intro = tab.page.text_content("#signin-form p") or ""
    assert "`" not in intro and tab.page.text_content("#signin-form code") == "torchyard user create"
    tab.page.fill("#token", "not-a-valid-token-at-all")
    tab.page.click("#signin-form button[type=submit]")
    tab.page.wait_for_selector("#signin-error [role=alert]")
    assert "not accepted" in (tab.page.text_content("#signin-error") or "")

    tab.page.fill("#token", member.token)
    tab.page.click("#signin-form button[type=submit]")
    tab.page.wait_for_selector("#jobs-table")
    assert tab.page.text_content("#whoami") == member.name
    stored = tab.page.evaluate("localStorage.getItem('torchyard.token')")
    assert stored == member.token
    assert tab.page.is_visible("#sign-out")
    tab.shot("signed-in")

    tab.page.click("#sign-out")
    tab.page.wait_for_selector("#signin-form")
    assert tab.page.evaluate("localStorage.getItem('torchyard.token')") is None
    assert tab.page.text_content("#whoami") == ""
    assert not tab.page.is_visible("#sign-out")
    tab.assert_clean()


def test_sign_in_token_in_url_is_removed_from_address_bar(tab: Tab, member: Member) -> None:
    tab.open(f"/compare?jobs=1&token={member.token}")
    tab.page.wait_for_selector("#compare-picker")
    assert "token" not in tab.page.url
    assert tab.page.url == f"{tab.base_url}/compare?jobs=1"
    assert tab.page.text_content("#whoami") == member.name

    tab.page.evaluate("localStorage.clear()")
    tab.open(f"/?token={member.token}")  # kept as the page loads: a page opened right after is signed in
    assert tab.page.evaluate("localStorage.getItem('torchyard.token')") == member.token
    tab.open("/compare?jobs=1")
    tab.page.wait_for_selector("#compare-picker")
    assert tab.page.text_content("#whoami") == member.name

    tab.page.reload()  # the token was kept, so a reload stays signed in
    tab.page.wait_for_selector("#compare-picker")
    assert tab.page.text_content("#whoami") == member.name
    tab.shot("token-in-url")
    tab.assert_clean()


def test_theme_toggle_switches_and_persists(signed_in: Tab) -> None:
    tab = signed_in
    page = tab.page
    background = "getComputedStyle(document.body).backgroundColor"
    before = page.evaluate(background)
    page.click("#theme-toggle")
    chosen = page.evaluate("document.documentElement.dataset.theme")
    assert chosen in ("dark", "light")
    assert page.evaluate(background) != before
    page.reload()
    page.wait_for_selector("#jobs-table")
    assert page.evaluate("document.documentElement.dataset.theme") == chosen
    assert page.evaluate(background) != before
    tab.shot(f"theme-{chosen}")
    tab.assert_clean()


def test_sign_in_link_with_wrong_token_keeps_stored_token_and_says_so(signed_in: Tab, member: Member) -> None:
    tab = signed_in
    tab.open("/?token=not-a-valid-token-at-all")
    tab.page.wait_for_selector("#banner [role=alert]")
    assert "token in the link was not accepted" in (tab.page.text_content("#banner") or "")
    tab.page.wait_for_selector("#jobs-table")  # still signed in with the token stored before
    assert tab.page.text_content("#whoami") == member.name
    assert tab.page.evaluate("localStorage.getItem('torchyard.token')") == member.token
    assert "token" not in tab.page.url
    tab.shot("link-token-refused")

    tab.page.evaluate("localStorage.clear()")  # a browser with no token at all gets the form, with the reason
    tab.open("/jobs/1?token=not-a-valid-token-at-all")
    tab.page.wait_for_selector("#signin-error [role=alert]")
    assert "token in the link was not accepted" in (tab.page.text_content("#signin-error") or "")
    assert tab.page.url == f"{tab.base_url}/jobs/1"
    assert tab.page.text_content("#banner") == ""
    tab.assert_clean()
