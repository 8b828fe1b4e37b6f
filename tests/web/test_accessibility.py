"""axe-core on every screen of the phone app: no serious or critical violation.

axe-core comes from mobile-web's own dev dependencies (npm ci); it is injected into the page, which
the app's Content-Security-Policy would forbid, so only these contexts bypass it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from playwright.async_api import Browser, Page, expect

from tests.support.graphql import DEMO
from tests.support.server import Server
from tests.web.conftest import PHONE, WEB
from tests.web.test_browser import NURSE, api, sign_in

pytestmark = pytest.mark.browser

AXE = WEB / "node_modules" / "axe-core" / "axe.min.js"
SERIOUS = {"serious", "critical"}


@pytest.fixture
async def axe_page(browser: Browser, web_server: Server) -> AsyncIterator[Page]:
    assert AXE.is_file(), "axe-core is installed with mobile-web's dev dependencies (npm ci)"
    context = await browser.new_context(
        base_url=web_server.url, viewport=PHONE, locale="ja-JP", bypass_csp=True
    )
    yield await context.new_page()
    await context.close()


async def violations(page: Page) -> list[dict[str, Any]]:
    await page.add_script_tag(path=str(AXE))
    result: dict[str, Any] = await page.evaluate("axe.run(document)")
    return [
        {"id": v["id"], "impact": v["impact"], "nodes": [n["target"] for n in v["nodes"]]}
        for v in result["violations"]
        if v["impact"] in SERIOUS
    ]


async def test_no_serious_violation_on_any_screen(axe_page: Page, web_server: Server) -> None:
    page = axe_page
    # An invitation waits for the nurse, so that her patients and notices show it.
    (patient,) = [p for p in DEMO["patients"] if p["key"] == "pt-sugiura-kazuko"]
    assert NURSE not in patient["team"]
    patient_id = next(
        e["node"]["id"]
        for e in api(
            web_server, patient["coordinator"], "{ patients { edges { node { id displayName } } } }"
        )["patients"]["edges"]
        if e["node"]["displayName"] == patient["display_name"]
    )
    api(
        web_server,
        patient["coordinator"],
        """mutation($p: ID!, $u: ID!) {
          inviteToTeam(patientId: $p, userId: $u, role: MEMBER) { id } }""",
        p=patient_id,
        u=api(web_server, NURSE, "{ me { id } }")["me"]["id"],
    )
    found: dict[str, list[dict[str, Any]]] = {}
    await page.goto("/")
    await expect(page.locator("input[name=username]")).to_be_visible()
    found["sign-in"] = await violations(page)

    await sign_in(page, NURSE)
    await expect(page.locator("ul.patients li").first).to_be_visible()
    await expect(page.locator("a.invitations-link")).to_be_visible()
    found["patients"] = await violations(page)

    await page.locator("ul.patients a").first.click()
    await expect(page.locator("ol.posts li").first).to_be_visible()
    found["timeline"] = await violations(page)

    await page.get_by_role("link", name="ケアチーム").click()
    await expect(page.locator("ul.members li").first).to_be_visible()
    found["care team"] = await violations(page)
    await page.go_back()
    await expect(page.locator("ol.posts li").first).to_be_visible()

    await page.get_by_role("button", name="投稿する").click()
    await expect(page.get_by_label("本文")).to_be_visible()
    found["compose"] = await violations(page)

    await page.get_by_role("link", name="送信待ち").click()
    await expect(page.locator("h1")).to_have_text("送信待ち")
    found["outbox"] = await violations(page)

    await page.get_by_role("link", name="新着").click()
    await expect(page.locator("li.feed-item").first).to_be_visible()
    found["my feed"] = await violations(page)

    await page.get_by_role("link", name="お知らせ").click()
    await expect(page.locator("h1")).to_have_text("お知らせ")
    await expect(page.locator("li.invitation")).to_have_count(1)
    await expect(page.locator("li.kind-team_invitation a")).to_be_visible()
    found["notices"] = await violations(page)

    # The nurse's people inside the demo incident (災害対応): her safety checks, a status chosen.
    await page.get_by_role("link", name="担当患者").click()
    await page.locator(".incident-banner a").click()
    card = page.locator("li.check-card").first
    await card.get_by_role("button", name="避難済").click()
    await expect(card.get_by_role("button", name="記録する")).to_be_visible()
    found["safety checks"] = await violations(page)

    # A coordinator's care team: the invitation form open, and the break-the-glass record.
    await page.get_by_role("button", name="ログアウト").click()
    await sign_in(page, patient["coordinator"])
    await page.locator("ul.patients a", has_text=patient["display_name"]).click()
    await page.get_by_role("link", name="ケアチーム").click()
    await page.get_by_role("button", name="チームに招待する").click()
    await page.get_by_label("名前・よみがなで探す").fill("たかはし")
    await expect(page.locator("form.invite select[name=invitee] option").nth(1)).to_be_attached()
    await expect(page.locator("ul.invitations li")).to_have_count(1)
    await expect(page.locator("ol.glass-openings, section p.empty").first).to_be_visible()
    found["care team (coordinator)"] = await violations(page)

    await page.get_by_role("button", name="ログアウト").click()
    await sign_in(page, "planner.gamagori")
    await expect(page.locator("p.note")).to_be_visible()
    await expect(page.locator("ul.incidents li")).to_have_count(1)
    found["role home"] = await violations(page)

    # The planner's incident: its priority list, safety board, map and call sheet.
    await page.get_by_role("link", name="優先リストを開く").click()
    await expect(page.locator("ol.priority li").first).to_be_visible()
    found["priority list"] = await violations(page)
    views = page.locator("nav.views")
    await views.get_by_role("link", name="安否確認ボード").click()
    await expect(page.locator("li.board-entry").first).to_be_visible()
    await expect(page.locator("li.board-entry select optgroup").first).to_be_attached()
    found["safety board"] = await violations(page)
    await views.get_by_role("link", name="地図").click()
    await expect(page.locator(".leaflet-overlay-pane svg path.map-marker").first).to_be_attached()
    found["map"] = await violations(page)
    await views.get_by_role("link", name="電話連絡表(印刷)").click()
    await expect(page.locator("table.call-sheet tbody tr").first).to_be_visible()
    found["call sheet"] = await violations(page)

    assert not any(found.values()), found
