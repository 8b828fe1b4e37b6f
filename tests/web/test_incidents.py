"""The disaster overlay (災害対応) in the phone app, end to end: the planner's priority list, map,
safety board and call sheet, and a nurse's safety checks from her phone, online and offline.

The demo incident is planner.gamagori's; nurse.sato is on the teams of some of the people inside.
The board re-fetches every 20 s; these tests set `renraku.test.refreshMs` in localStorage (read by
mobile-web/src/lib/refresh.ts, for tests only) so it follows within a second.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest
from playwright.async_api import Browser, BrowserContext, Page, expect

from tests.support.graphql import DEMO
from tests.support.server import Server
from tests.web.conftest import PHONE
from tests.web.test_browser import NURSE, api, sign_in

pytestmark = pytest.mark.browser

PLANNER = "planner.gamagori"
FAST_REFRESH = "localStorage.setItem('renraku.test.refreshMs', '500')"


def incident_id(server: Server) -> str:
    (incident,) = api(server, PLANNER, "{ incidents(active: true) { id pending } }")["incidents"]
    assert not incident["pending"]
    return str(incident["id"])


def nurses_people(server: Server) -> list[dict]:
    """The people inside the demo incident on the nurse's teams, as mySafetyChecks lists them."""
    checks = api(
        server,
        NURSE,
        "{ mySafetyChecks { incidentId patient { id displayName } check { status place } } }",
    )["mySafetyChecks"]
    assert checks, "the demo puts some of the nurse's people inside its incident"
    return checks


def status_of(server: Server, patient_id: str) -> dict:
    (check,) = [c for c in nurses_people(server) if c["patient"]["id"] == patient_id]
    return check["check"]


async def wait_for(condition: Callable[[], bool]) -> None:
    """Poll the server until `condition()` holds (the outbox sends on its own schedule)."""
    deadline = time.monotonic() + 15
    while not condition():
        assert time.monotonic() < deadline, "the server never got there"
        await asyncio.sleep(0.2)


@pytest.fixture
async def planner_page(browser: Browser, web_server: Server) -> AsyncIterator[Page]:
    """The planner on a phone of her own, with the board's refresh made short."""
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


async def open_incident(page: Page) -> None:
    await sign_in(page, PLANNER)
    await expect(page.locator("ul.incidents li")).to_have_count(1)
    await page.get_by_role("link", name="優先リストを開く").click()
    await expect(page.locator("ol.priority li").first).to_be_visible()


async def test_the_planner_sees_the_ranked_list_with_its_reasons_and_the_map(
    planner_page: Page, web_server: Server
) -> None:
    page = planner_page
    await open_incident(page)
    entries = page.locator("ol.priority > li")
    total = len(nurses_people(web_server))
    assert await entries.count() >= total
    # Ranked: the tiers never go back up the list, and P1 comes first.
    tiers = [await e.get_attribute("data-tier") for e in await entries.all()]
    order = ["P1", "P2", "P3", "RESOLVED"]
    assert tiers == sorted(tiers, key=order.index), tiers
    assert tiers[0] == "P1"
    first = entries.first
    # The tier badge says what it means to a screen reader; the reasons are in Japanese.
    await expect(first.locator(".tier .visually-hidden")).to_have_text("優先度P1（今すぐ連絡）")
    await expect(first.locator("ul.reasons li").first).to_contain_text("警戒レベル3")
    await expect(first.locator("ul.reasons li", has_text="時間後に発生見込み")).to_have_count(1)
    await expect(first.locator("ul.reasons li", has_text="P1へ直行")).not_to_have_count(0)
    assert "capped" not in await page.locator("ol.priority").inner_text()
    await expect(first.locator("a[href^='tel:']")).to_have_count(1)
    await expect(page.locator("ul.tier-counts li")).to_have_count(4)

    await page.locator("nav.views").get_by_role("link", name="地図").click()
    # Leaflet's SVG layer: the municipality's outline, the incident's area and one marker a person.
    svg = page.locator(".leaflet-overlay-pane svg")
    await expect(svg.locator("path.map-area").first).to_be_attached()
    await expect(svg.locator("path.map-outline").first).to_be_attached()
    await expect(svg.locator("path.map-marker")).to_have_count(len(tiers))
    await expect(svg.locator("path.marker-p1")).to_have_count(tiers.count("P1"))
    # No tile server can be reached: no tile layer is asked for.
    await expect(page.locator(".leaflet-tile")).to_have_count(0)

    await page.locator("nav.views").get_by_role("link", name="優先リスト").click()
    await expect(entries.first).to_be_visible()
    await page.get_by_role("button", name="ログアウト").click()


async def test_a_status_set_by_the_nurse_in_two_taps_shows_on_the_planners_board(
    page: Page, planner_page: Page, web_server: Server
) -> None:
    (person, *_) = nurses_people(web_server)
    name = person["patient"]["displayName"]

    await open_incident(planner_page)
    await planner_page.locator("nav.views").get_by_role("link", name="安否確認ボード").click()
    board_entry = planner_page.locator("li.board-entry", has_text=name)
    await expect(board_entry).to_have_attribute("data-status", "UNKNOWN")

    await sign_in(page, NURSE)
    await page.locator(".incident-banner a").click()
    card = page.locator("li.check-card", has=page.locator("a.name", has_text=name))
    await card.get_by_role("button", name="無事").click()  # one
    await card.get_by_role("button", name="記録する").click()  # two
    await expect(card).to_have_attribute("data-status", "SAFE")

    # The board follows by its refresh; nothing is reloaded by hand.
    await expect(board_entry).to_have_attribute("data-status", "SAFE")
    await expect(board_entry.locator(".status")).to_contain_text("無事")
    # The district's progress counts her (every district starts at 0 reached).
    reached = planner_page.locator("table.board .reached", has_text=re.compile(r"^[1-9]"))
    await expect(reached).to_have_count(1)
    assert status_of(web_server, person["patient"]["id"])["status"] == "SAFE"


async def test_a_status_set_offline_is_sent_when_the_network_returns(
    page: Page, context: BrowserContext, web_server: Server
) -> None:
    person = nurses_people(web_server)[-1]
    name, patient_id = person["patient"]["displayName"], person["patient"]["id"]
    await sign_in(page, NURSE)
    await page.locator(".incident-banner a").click()
    card = page.locator("li.check-card", has=page.locator("a.name", has_text=name))
    await expect(card).to_be_visible()

    await context.set_offline(True)
    await card.get_by_role("button", name="避難済").click()
    await card.get_by_label("行き先(避難所・病院など)").fill("西浦小学校")
    await card.get_by_role("button", name="記録する").click()
    waiting = card.locator(".check-state")
    await expect(waiting).to_have_attribute("data-status", "waiting")
    await expect(waiting).to_contain_text("送信待ち: 避難済")
    await page.get_by_role("link", name="送信待ち").click()
    await expect(page.locator("li.outbox-entry", has_text=name)).to_contain_text("避難済")
    assert status_of(web_server, patient_id)["status"] != "EVACUATED"

    await context.set_offline(False)
    await wait_for(lambda: status_of(web_server, patient_id)["status"] == "EVACUATED")
    assert status_of(web_server, patient_id)["place"] == "西浦小学校"
    await expect(page.locator("li.outbox-entry")).to_have_count(0)


async def test_the_call_sheet_renders_for_print(planner_page: Page, web_server: Server) -> None:
    page = planner_page
    await open_incident(page)
    count = await page.locator("ol.priority > li").count()
    await page.locator("nav.views").get_by_role("link", name="電話連絡表(印刷)").click()
    sheet = page.locator("table.call-sheet")
    await expect(sheet.locator("tbody tr")).to_have_count(count)
    await page.emulate_media(media="print")
    # On paper: the sheet alone, every column, and a blank one to write in.
    await expect(page.locator("header.bar")).to_be_hidden()
    await expect(page.locator("nav.views")).to_be_hidden()
    await expect(page.get_by_role("button", name="印刷する")).to_be_hidden()
    await expect(sheet).to_be_visible()
    headers = await sheet.locator("thead th").all_inner_texts()
    assert headers == ["優先度", "氏名(かな)", "住所", "電話", "理由", "メモ(安否・時刻)"]
    first = sheet.locator("tbody tr").first
    await expect(first.locator(".kana")).not_to_have_text("")
    await expect(first.locator("td.phone")).to_have_text(re.compile(r"^[0-9-]+$"))
    assert (await first.locator("td.notes").inner_text()).strip() == ""
    await expect(first.locator("ul.reasons li").first).to_contain_text("警戒レベル")
    pdf = await page.pdf(format="A4", landscape=True)
    assert pdf.startswith(b"%PDF")


async def test_the_call_sheet_offers_the_whole_list_as_files(
    planner_page: Page, web_server: Server
) -> None:
    page = planner_page
    await open_incident(page)
    count = await page.locator("ol.priority > li").count()
    await page.locator("nav.views").get_by_role("link", name="電話連絡表(印刷)").click()
    link = page.get_by_role("link", name="CSVで保存")
    async with page.expect_download() as waiting:
        await link.click()
    download = await waiting.value
    saved = Path(await download.path())
    text = await asyncio.to_thread(saved.read_text, encoding="utf-8-sig")
    assert text.splitlines()[0].startswith("tier,score,name")
    assert len(text.splitlines()) == count + 1
    geojson = await page.get_by_role("link", name="GeoJSONで保存").get_attribute("href")
    assert geojson is not None and geojson.endswith("/priority.geojson")


async def test_the_planners_notice_of_the_incident_leads_to_it(
    page: Page, web_server: Server
) -> None:
    await sign_in(page, PLANNER)
    await page.get_by_role("link", name="お知らせ").click()
    notice = page.locator("li.kind-incident_started")
    await expect(notice.first).to_contain_text("災害対応が始まりました(警戒レベル3")
    await notice.first.locator("a").click()
    await expect(page.locator("ol.priority li").first).to_be_visible()
    assert page.url.endswith(f"/incidents/{incident_id(web_server)}")


async def test_the_nurse_sees_the_incident_on_her_list_and_on_the_timeline(
    page: Page, web_server: Server
) -> None:
    inside = {c["patient"]["displayName"] for c in nurses_people(web_server)}
    await sign_in(page, NURSE)
    banner = page.locator(".incident-banner")
    await expect(banner).to_contain_text("災害対応中 警戒レベル3")
    await expect(banner.get_by_role("link")).to_have_text(f"安否確認 {len(inside)}人")
    rows = page.locator("ul.patients li")
    await expect(rows.first).to_be_visible()
    for row in await rows.all():
        name = await row.locator(".name").inner_text()
        badge = row.locator(".incident-badge")
        await expect(badge).to_have_count(1 if name in inside else 0)
    await page.locator("ul.patients a", has_text=sorted(inside)[0]).click()
    await expect(page.locator("ol.posts li").first).to_be_visible()
    await expect(page.locator(".incident-banner")).to_contain_text("警戒レベル3")


async def test_a_coordinators_notice_of_the_incident_leads_to_her_safety_checks(
    page: Page, web_server: Server
) -> None:
    inside = {c["patient"]["displayName"] for c in nurses_people(web_server)}
    coordinator = next(p["coordinator"] for p in DEMO["patients"] if p["display_name"] in inside)
    await sign_in(page, coordinator)
    await page.get_by_role("link", name="お知らせ").click()
    notice = page.locator("li.kind-incident_started").first
    await expect(notice).to_contain_text("警戒レベル3")
    await expect(notice).to_contain_text("安否確認へ")
    await notice.locator("a").click()
    await expect(page.locator("h1")).to_have_text("安否確認")
    await expect(page.locator("li.check-card").first).to_be_visible()


async def test_the_board_follows_a_status_at_once_through_the_incidents_live_updates(
    page: Page, web_server: Server
) -> None:
    """No shortened refresh here: the 20 s re-fetch would come too late for the wait below, so
    the board can only follow through incidentUpdates."""
    person = nurses_people(web_server)[1]
    name, patient_id = person["patient"]["displayName"], person["patient"]["id"]
    await open_incident(page)
    await page.locator("nav.views").get_by_role("link", name="安否確認ボード").click()
    entry = page.locator("li.board-entry", has_text=name)
    await expect(entry).to_be_visible()
    before = await entry.get_attribute("data-status")
    status = "NEEDS_HELP" if before != "NEEDS_HELP" else "CONTACTED"
    api(
        web_server,
        NURSE,
        """mutation($i: ID!, $p: ID!, $s: SafetyStatus!) {
          setSafetyStatus(input: {incidentId: $i, patientId: $p, status: $s}) { status } }""",
        i=incident_id(web_server),
        p=patient_id,
        s=status,
    )
    await expect(entry).to_have_attribute("data-status", status, timeout=10_000)


async def test_the_manager_sees_the_incidents_but_not_the_list_of_names(page: Page) -> None:
    """The municipality's manager may end an incident but not read its priority list."""
    await sign_in(page, "manager.gamagori")
    incident = page.locator("ul.incidents li")
    await expect(incident).to_have_count(1)
    await expect(incident).to_contain_text("警戒レベル3")
    await expect(incident.get_by_role("button", name="災害対応を終了する")).to_be_visible()
    await expect(incident.get_by_role("link", name="優先リストを開く")).to_have_count(0)
