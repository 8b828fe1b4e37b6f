"""The care-team screen and the timeline from the server's own lists (real server, Debian's
Chromium): a coordinator finds a nurse of the municipality she has never worked with by typing
part of her name (joinableUsers), invites her and sees the invitation listed on any phone
(teamInvitations); the nurse is told in her notices and answers from there; the break-the-glass
section shows who opened the record and why (patientGlassAccesses), before any read; and a post's
mentions show on the timeline of another member of the team (Post.mentions).

Patients of 西尾市 only: tests/web/test_team_and_mentions.py works on 蒲郡市's."""

from __future__ import annotations

import re
import uuid
from collections.abc import AsyncIterator

import pytest
from playwright.async_api import Browser, Page, expect

from tests.support.graphql import DEMO
from tests.support.server import Server
from tests.web.conftest import PHONE
from tests.web.test_browser import api, sign_in
from tests.web.test_team_and_mentions import PATIENTS, name_of, open_team, patient_id

pytestmark = pytest.mark.browser


@pytest.fixture
async def phone(browser: Browser, web_server: Server) -> AsyncIterator[object]:
    """Opens pages on phones of their own (one browser context each), failing on script errors."""
    contexts = []
    errors: list[str] = []

    async def open_phone() -> Page:
        context = await browser.new_context(
            base_url=web_server.url, viewport=PHONE, locale="ja-JP", has_touch=True
        )
        contexts.append(context)
        page = await context.new_page()
        page.on("pageerror", lambda error: errors.append(str(error)))
        return page

    yield open_phone
    for context in contexts:
        await context.close()
    assert not errors, errors


def teams_of(username: str) -> list[dict]:
    return [p for p in DEMO["patients"] if username in p["team"] or p["coordinator"] == username]


async def test_a_coordinator_finds_a_nurse_she_never_worked_with_and_the_nurse_answers(
    phone: object, web_server: Server
) -> None:
    patient = PATIENTS["pt-tsuzuki-hiroshi"]
    coordinator, nurse = patient["coordinator"], "nurse.hayashi"
    # Not on any team of the coordinator's: the phone could not have offered her before.
    assert all(nurse not in p["team"] for p in teams_of(coordinator))
    assert patient["municipality"] == "232131"

    page: Page = await phone()  # type: ignore[operator]
    await sign_in(page, coordinator)
    await open_team(page, patient["display_name"])
    await expect(page.get_by_role("heading", name="招待中")).to_be_visible()
    await expect(page.locator("ul.invitations li")).to_have_count(0)
    await page.get_by_role("button", name="チームに招待する").click()
    form = page.locator("form.invite")
    person = form.get_by_label("招待する専門職")
    # One character is not enough to ask; two are (part of her reading).
    await form.get_by_label("名前・よみがなで探す").fill("は")
    await expect(person.locator("option").first).to_have_text("2文字以上入力してください")
    await form.get_by_label("名前・よみがなで探す").fill("はや")
    await expect(person.locator("option", has_text=name_of(nurse))).to_have_count(1)
    await expect(form.get_by_role("status")).to_contain_text("人見つかりました")
    # Those on the team already are never offered (dr.inoue is).
    await form.get_by_label("名前・よみがなで探す").fill("いのうえ")
    await expect(form.get_by_role("status")).to_have_text("0人見つかりました")
    await form.get_by_label("名前・よみがなで探す").fill("林 優")
    await person.select_option(label=f"{name_of(nurse)} (看護師)")
    await form.get_by_role("button", name="招待を送る").click()
    await expect(page.locator(".banner.notice")).to_contain_text(name_of(nurse))
    sent = page.locator("ul.invitations li")
    await expect(sent).to_have_count(1)
    await expect(sent).to_contain_text(name_of(nurse))
    await expect(sent).to_contain_text("メンバー")
    await expect(sent).to_contain_text(f"招待した人: {name_of(coordinator)}")

    # The server lists it: a phone that sent nothing sees it too.
    other: Page = await phone()  # type: ignore[operator]
    await sign_in(other, coordinator)
    await open_team(other, patient["display_name"])
    await expect(other.locator("ul.invitations li")).to_contain_text(name_of(nurse))

    # The nurse is told in her notices, and the notice leads to where she answers.
    nurse_page: Page = await phone()  # type: ignore[operator]
    await sign_in(nurse_page, nurse)
    await nurse_page.get_by_role("link", name="お知らせ").click()
    notice = nurse_page.locator("li.kind-team_invitation")
    await expect(notice).to_contain_text("ケアチームへの招待が届きました(役割: メンバー)")
    await expect(notice).to_contain_text("承諾・辞退へ")
    await notice.get_by_role("link").click()
    invitation = nurse_page.locator("li.invitation")
    await expect(invitation).to_be_focused()
    await expect(invitation).to_contain_text(f"{name_of(coordinator)}さんからの招待")
    # In English too.
    await nurse_page.get_by_label("言語").select_option("en")
    await expect(notice).to_contain_text("You are invited to a care team (role: Member)")
    await expect(notice).to_contain_text("Accept or decline")
    await invitation.get_by_role("button", name="Accept").click()
    await expect(nurse_page.locator(".banner.notice")).to_contain_text("joined")
    await expect(notice).to_contain_text("Answered already, or expired")
    await expect(notice.get_by_role("link")).to_have_count(0)
    await nurse_page.get_by_label("Language").select_option("ja")

    # On the coordinator's phone she is on the team now, and no invitation waits.
    await expect(
        page.locator("ul.members:not(.invitations) li", has_text=name_of(nurse))
    ).to_be_visible()
    await expect(page.locator("ul.invitations li")).to_have_count(0)
    await expect(page.get_by_text("返事を待っている招待はありません。")).to_be_visible()


async def test_the_glass_section_shows_the_reason_before_any_read(
    phone: object, web_server: Server
) -> None:
    patient = PATIENTS["pt-okada-yoshio"]
    coordinator, doctor = patient["coordinator"], "dr.inoue"
    assert doctor not in patient["team"]
    reason = "夜間の往診依頼で服薬内容を確認するため"
    api(
        web_server,
        doctor,
        """mutation($p: ID!, $r: String!) { breakGlass(patientId: $p, reason: $r) { id } }""",
        p=patient_id(web_server, coordinator, patient["display_name"]),
        r=reason,
    )
    # The doctor has read nothing yet: the reason comes from the opening itself.
    page: Page = await phone()  # type: ignore[operator]
    await sign_in(page, coordinator)
    await open_team(page, patient["display_name"])
    opening = page.locator("ol.glass-openings li")
    await expect(opening).to_have_count(1)
    await expect(opening).to_contain_text(f"{name_of(doctor)} · 医師")
    await expect(opening).to_contain_text(f"理由: {reason}")
    await expect(opening).to_contain_text(re.compile(r"\d{1,2}:\d{2}に開きました"))
    await expect(opening).to_have_attribute("data-active", "true")
    await expect(opening).to_contain_text(re.compile(r"アクセス中: .*\d{1,2}:\d{2}まで"))
    await page.get_by_label("言語").select_option("en")
    await expect(opening).to_contain_text(f"Reason: {reason}")
    await expect(opening).to_contain_text("Open until")
    await page.get_by_label("Language").select_option("ja")


async def test_a_posts_mentions_show_on_another_members_timeline(
    phone: object, web_server: Server
) -> None:
    patient = PATIENTS["pt-ohashi-sumiko"]
    author, doctor, reader = "nurse.hayashi", "dr.yamamoto", patient["coordinator"]
    assert {author, doctor} <= set(patient["team"]) and reader not in {author, doctor}
    pid = patient_id(web_server, reader, patient["display_name"])
    page: Page = await phone()  # type: ignore[operator]
    await sign_in(page, reader)
    await page.locator("ul.patients a", has_text=patient["display_name"]).click()
    await expect(page.locator(".live.on")).to_be_visible()

    def post(body: str, mentions: list[str]) -> None:
        api(
            web_server,
            author,
            """mutation($input: CreatePostInput!) { createPost(input: $input) { id } }""",
            input={
                "patientId": pid,
                "clientId": str(uuid.uuid4()),
                "category": "OTHER",
                "body": body,
                "mentionIds": [api(web_server, u, "{ me { id } }")["me"]["id"] for u in mentions],
            },
        )

    # Arriving live, then again from the server's page after a reload.
    body = "山本先生、血圧の薬についてご相談があります。"
    post("夕食は全量摂取されました。", [])
    post(body, [doctor])
    item = page.locator("ol.posts > li.post", has_text=body)
    await expect(item.locator(".mentions")).to_have_text(f"メンション: {name_of(doctor)}")
    await page.reload()
    await expect(item.locator(".mentions")).to_have_text(f"メンション: {name_of(doctor)}")
    # A post that mentions nobody says nothing of it.
    plain = page.locator("ol.posts > li.post", has_text="夕食は全量摂取されました。")
    await expect(plain).to_be_visible()
    await expect(plain.locator(".mentions")).to_have_count(0)
    await page.get_by_label("言語").select_option("en")
    await expect(item.locator(".mentions")).to_have_text(f"Mentioned: {name_of(doctor)}")
    await page.get_by_label("Language").select_option("ja")
