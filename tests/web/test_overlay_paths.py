"""The overlay's screens at plain paths (/incidents/ID, its /board, /map and /sheet, and /safety),
old /home?incident=… links sent there, and the safety board's picker offering whom the server
says a call may go to (assignableUsers): the person's team's professionals, then the
municipality's planners and managers. Real server, Debian's Chromium."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator

import pytest
from playwright.async_api import Browser, Page, expect

from tests.support.graphql import DEMO
from tests.support.server import Server
from tests.web.conftest import PHONE
from tests.web.test_browser import NURSE, api, sign_in
from tests.web.test_incidents import FAST_REFRESH, PLANNER, incident_id, nurses_people

pytestmark = pytest.mark.browser

ACCOUNTS = {a["username"]: a for a in DEMO["accounts"]}


@pytest.fixture
async def planner_page(browser: Browser, web_server: Server) -> AsyncIterator[Page]:
    context = await browser.new_context(
        base_url=web_server.url, viewport=PHONE, locale="ja-JP", has_touch=True
    )
    await context.add_init_script(FAST_REFRESH)
    page = await context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    yield page
    await context.close()
    assert not errors, errors


def path_of(page: Page) -> str:
    return re.sub(r"^https?://[^/]+", "", page.url)


async def test_the_incidents_views_have_plain_paths_that_survive_a_reload(
    planner_page: Page, web_server: Server
) -> None:
    page, iid = planner_page, incident_id(web_server)
    await sign_in(page, PLANNER)
    await page.get_by_role("link", name="優先リストを開く").click()
    await expect(page.locator("ol.priority li").first).to_be_visible()
    assert path_of(page) == f"/incidents/{iid}"
    views = page.locator("nav.views")
    for name, suffix, shown in (
        ("安否確認ボード", "/board", "table.board"),
        ("地図", "/map", ".leaflet-container"),
        ("電話連絡表(印刷)", "/sheet", "table.call-sheet"),
    ):
        await views.get_by_role("link", name=name).click()
        await expect(page.locator(shown)).to_be_visible()
        assert path_of(page) == f"/incidents/{iid}{suffix}"
        await expect(views.get_by_role("link", name=name)).to_have_attribute("aria-current", "page")
        # A reload (or the link shared) opens the same view: the server answers it with the app.
        await page.reload()
        await expect(page.locator(shown)).to_be_visible()
    await page.go_back()
    await expect(page.locator(".leaflet-container")).to_be_visible()
    assert path_of(page) == f"/incidents/{iid}/map"


async def test_old_home_links_lead_to_the_plain_paths(
    planner_page: Page, page: Page, web_server: Server
) -> None:
    iid = incident_id(web_server)
    await sign_in(planner_page, PLANNER)
    await expect(planner_page.locator("ul.incidents li")).to_have_count(1)
    await planner_page.goto(f"/home?incident={iid}&view=board")
    await expect(planner_page.locator("table.board")).to_be_visible()
    assert path_of(planner_page) == f"/incidents/{iid}/board"
    await planner_page.goto(f"/home?incident={iid}&view=print")
    await expect(planner_page.locator("table.call-sheet")).to_be_visible()
    assert path_of(planner_page) == f"/incidents/{iid}/sheet"
    await planner_page.goto(f"/home?incident={iid}")
    await expect(planner_page.locator("ol.priority li").first).to_be_visible()
    assert path_of(planner_page) == f"/incidents/{iid}"
    # /incidents alone is the home, where the incidents are listed.
    await planner_page.goto("/incidents")
    await expect(planner_page.locator("ul.incidents li")).to_have_count(1)
    assert path_of(planner_page) == "/"

    await sign_in(page, NURSE)
    await expect(page.locator(".incident-banner a")).to_have_attribute("href", "/safety")
    await page.goto("/home?view=safety")
    await expect(page.locator("h1")).to_have_text("安否確認")
    await expect(page.locator("li.check-card").first).to_be_visible()
    assert path_of(page) == "/safety"


async def test_the_safety_checks_open_at_their_path_without_network(page: Page) -> None:
    await sign_in(page, NURSE)
    await page.locator(".incident-banner a").click()
    await expect(page.locator("li.check-card").first).to_be_visible()
    await page.evaluate("navigator.serviceWorker.ready.then(() => true)")
    # The worker has taken this page over once it is its controller.
    await page.reload()
    await page.wait_for_function("navigator.serviceWorker.controller !== null")
    await page.context.set_offline(True)
    try:
        await page.reload()
        await expect(page.locator("h1")).to_have_text("安否確認")
        await expect(page.locator("li.check-card").first).to_be_visible()
    finally:
        await page.context.set_offline(False)


async def test_the_planner_gives_a_call_to_a_nurse_of_the_persons_team(
    planner_page: Page, page: Page, web_server: Server
) -> None:
    person = nurses_people(web_server)[0]
    name, patient_id = person["patient"]["displayName"], person["patient"]["id"]
    (demo,) = [p for p in DEMO["patients"] if p["display_name"] == name]
    nurse = ACCOUNTS[NURSE]["display_name"]
    outsider = next(
        a
        for a in DEMO["accounts"]
        if a["kind"] == "professional"
        and a["municipality"] == demo["municipality"]
        and a["username"] not in demo["team"]
    )

    await sign_in(planner_page, PLANNER)
    await planner_page.goto(f"/incidents/{incident_id(web_server)}/board")
    entry = planner_page.locator("li.board-entry", has_text=name)
    await expect(entry.get_by_label(f"{name}さんの担当者")).to_be_visible()
    picker = entry.locator("label.assign select")
    team = picker.locator("optgroup", has=planner_page.locator("option", has_text=nurse))
    await expect(team).to_have_attribute("label", "ケアチームの専門職")
    staff = picker.locator("optgroup[label='市町村の計画担当者・管理者'] option")
    await expect(staff.filter(has_text=ACCOUNTS[PLANNER]["display_name"])).to_have_text(
        f"自分 ({ACCOUNTS[PLANNER]['display_name']})"
    )
    await expect(staff.filter(has_text=ACCOUNTS["manager.gamagori"]["display_name"])).to_have_count(
        1
    )
    # Only the person's team: a professional of the town not on it is not offered.
    await expect(picker.locator("option", has_text=outsider["display_name"])).to_have_count(0)
    await picker.select_option(label=f"{nurse} (看護師)")
    await expect(entry.locator(".safety-line")).to_contain_text(f"担当: {nurse}")
    await expect(picker).to_have_value(api(web_server, NURSE, "{ me { id } }")["me"]["id"])
    (check,) = [
        c
        for c in api(
            web_server,
            NURSE,
            "{ mySafetyChecks { assignedToMe patient { id } check { assignee { displayName } } } }",
        )["mySafetyChecks"]
        if c["patient"]["id"] == patient_id
    ]
    assert check["assignedToMe"] and check["check"]["assignee"]["displayName"] == nurse

    # On her phone the person is hers now.
    await sign_in(page, NURSE)
    await page.locator(".incident-banner a").click()
    mine = page.locator("h2", has_text="あなたの担当")
    await expect(mine).to_be_visible()
    await expect(page.locator("ul.checks").first.locator("li.check-card")).to_contain_text(name)

    # In English the groups and the note say the same.
    await planner_page.get_by_label("言語").select_option("en")
    await expect(team).to_have_attribute("label", "Professionals of the care team")
    await expect(planner_page.get_by_text("A call can go to the professionals")).to_be_visible()
    box = await picker.bounding_box()
    assert box and box["height"] >= 44 and box["x"] + box["width"] <= PHONE["width"]
    await planner_page.get_by_label("Language").select_option("ja")
