"""Issue 14's care-team round in the phone app, end to end (real server, Debian's Chromium):
a coordinator invites a professional who accepts from her notices and joins the team; the
coordinator sees who opened the record by break-the-glass, when and why; and a post's mentions,
picked among those who can read it, reach the mentioned member even when written offline."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator

import pytest
from playwright.async_api import Browser, Page, expect

from tests.support.graphql import DEMO
from tests.support.server import Server
from tests.web.conftest import PHONE
from tests.web.test_browser import api, sign_in

pytestmark = pytest.mark.browser

ACCOUNTS = {a["username"]: a for a in DEMO["accounts"]}
PATIENTS = {p["key"]: p for p in DEMO["patients"]}


def name_of(username: str) -> str:
    name: str = ACCOUNTS[username]["display_name"]
    return name


def patient_id(server: Server, username: str, display_name: str) -> str:
    edges = api(server, username, "{ patients { edges { node { id displayName } } } }")
    (found,) = [
        e["node"]["id"]
        for e in edges["patients"]["edges"]
        if e["node"]["displayName"] == display_name
    ]
    return str(found)


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


async def open_team(page: Page, patient_name: str) -> None:
    await page.locator("ul.patients a", has_text=patient_name).click()
    await page.get_by_role("link", name="ケアチーム").click()
    await expect(page.locator("ul.members li").first).to_be_visible()


async def test_team_a_coordinator_invites_a_nurse_who_accepts_and_joins(
    phone: object, web_server: Server
) -> None:
    patient = PATIENTS["pt-sugiura-kazuko"]
    coordinator, nurse = patient["coordinator"], "nurse.sato"
    assert nurse not in patient["team"]
    coordinator_page: Page = await phone()  # type: ignore[operator]
    nurse_page: Page = await phone()  # type: ignore[operator]

    await sign_in(coordinator_page, coordinator)
    await open_team(coordinator_page, patient["display_name"])
    members = coordinator_page.locator("ul.members:not(.invitations) li .name")
    assert name_of(nurse) not in await members.all_inner_texts()
    await coordinator_page.get_by_role("button", name="チームに招待する").click()
    form = coordinator_page.locator("form.invite")
    # She is found by the server among the municipality's accounts not on the team, by reading.
    await form.get_by_label("名前・よみがなで探す").fill("さとう")
    person = form.get_by_label("招待する専門職")
    await expect(person.locator("option", has_text=name_of(nurse))).to_have_count(1)
    await expect(person.locator("option", has_text=name_of("nurse.takahashi"))).to_have_count(0)
    await person.select_option(label=f"{name_of(nurse)} (看護師)")
    await form.get_by_label("役割").select_option("MEMBER")
    await form.get_by_role("button", name="招待を送る").click()
    await expect(coordinator_page.locator(".banner.notice")).to_contain_text(name_of(nurse))
    sent = coordinator_page.locator("ul.invitations li")
    await expect(sent).to_have_count(1)
    await expect(sent).to_contain_text(name_of(nurse))
    await expect(sent).to_contain_text("メンバー")
    history = coordinator_page.locator("ol.history:not(.glass-openings) li")
    await expect(history.filter(has_text="チームへの招待").first).to_be_visible()

    # The nurse is told on her patient list and answers in her notices.
    await sign_in(nurse_page, nurse)
    assert (
        patient["display_name"]
        not in await nurse_page.locator("ul.patients li .name").all_inner_texts()
    )
    await nurse_page.get_by_role("link", name="ケアチームへの招待が1件あります").click()
    invitation = nurse_page.locator("li.invitation")
    await expect(invitation).to_contain_text(f"{name_of(coordinator)}さんからの招待")
    await expect(invitation).to_contain_text("役割: メンバー")
    await invitation.get_by_role("button", name="承諾する").click()
    await expect(nurse_page.locator(".banner.notice")).to_contain_text("ケアチームに参加しました")
    await expect(nurse_page.locator("li.invitation")).to_have_count(0)
    await nurse_page.get_by_role("link", name="担当患者").click()
    await expect(
        nurse_page.locator("ul.patients li", has_text=patient["display_name"])
    ).to_be_visible()
    assert api(web_server, nurse, "{ myInvitations { id } }")["myInvitations"] == []

    # On the coordinator's open phone she is on the team now (live), no longer among the invited.
    await expect(members.filter(has_text=name_of(nurse))).to_have_count(1)
    await expect(coordinator_page.locator("ul.invitations li")).to_have_count(0)
    await expect(
        coordinator_page.locator("ul.members li", has_text=name_of(nurse))
    ).to_contain_text("メンバー")


async def test_team_an_invitation_can_be_declined(phone: object, web_server: Server) -> None:
    patient = PATIENTS["pt-hattori-kiyo"]
    coordinator, invitee = patient["coordinator"], "pt.yoshida"
    assert invitee not in patient["team"]
    api(
        web_server,
        coordinator,
        """mutation($p: ID!, $u: ID!) { inviteToTeam(patientId: $p, userId: $u, role: MEMBER) {
          id } }""",
        p=patient_id(web_server, coordinator, patient["display_name"]),
        u=api(web_server, invitee, "{ me { id } }")["me"]["id"],
    )
    page: Page = await phone()  # type: ignore[operator]
    await sign_in(page, invitee)
    await page.get_by_role("link", name="お知らせ").click()
    invitation = page.locator("li.invitation")
    await expect(invitation).to_contain_text(f"{name_of(coordinator)}さんからの招待")
    # In English too.
    await page.get_by_label("言語").select_option("en")
    await expect(page.get_by_role("heading", name="Invitations to care teams")).to_be_visible()
    await expect(invitation).to_contain_text(f"Invitation from {name_of(coordinator)}")
    await expect(invitation).to_contain_text("Role: Member")
    await invitation.get_by_role("button", name="Decline").click()
    await expect(page.locator(".banner.notice")).to_contain_text("Invitation declined.")
    await page.get_by_label("Language").select_option("ja")
    assert api(web_server, invitee, "{ myInvitations { id } }")["myInvitations"] == []
    await page.get_by_role("link", name="担当患者").click()
    await expect(page.locator("ul.patients li").first).to_be_visible()
    assert (
        patient["display_name"] not in await page.locator("ul.patients li .name").all_inner_texts()
    )


async def test_team_the_coordinator_sees_who_broke_the_glass_when_and_why(
    phone: object, web_server: Server
) -> None:
    patient = PATIENTS["pt-okamoto-fumi"]
    coordinator, doctor = patient["coordinator"], "dr.inoue"
    assert doctor not in patient["team"]
    reason = "救急搬送先で既往歴を確認するため"
    pid = patient_id(web_server, coordinator, patient["display_name"])
    api(
        web_server,
        doctor,
        """mutation($p: ID!, $r: String!) { breakGlass(patientId: $p, reason: $r) { id } }""",
        p=pid,
        r=reason,
    )
    api(web_server, doctor, "query($p: ID!) { patient(id: $p) { displayName } }", p=pid)

    page: Page = await phone()  # type: ignore[operator]
    await sign_in(page, coordinator)
    await open_team(page, patient["display_name"])
    section = page.locator(
        "section", has=page.get_by_role("heading", name=re.compile("緊急アクセス"))
    )
    opening = section.locator("ol.glass-openings li")
    await expect(opening).to_have_count(1)
    await expect(opening).to_contain_text(name_of(doctor))
    await expect(opening).to_contain_text("医師")
    await expect(opening).to_contain_text(f"理由: {reason}")
    await expect(opening).to_contain_text(re.compile(r"\d{1,2}:\d{2}に開きました"))

    # The coordinator was told in her notices too, which lead back to this record.
    await page.get_by_role("link", name="お知らせ").click()
    notice = page.locator("ul.notices li", has_text="緊急アクセス").filter(
        has_text=patient["display_name"]
    )
    await expect(notice).to_have_count(1)
    await notice.locator("a").click()
    await expect(page.locator("h1")).to_have_text("ケアチーム")
    await expect(page.locator("ol.glass-openings li")).to_contain_text(name_of(doctor))

    # In English, from the language switch.
    await page.get_by_label("言語").select_option("en")
    await expect(page.get_by_role("heading", name="Break-the-glass openings")).to_be_visible()
    await expect(page.locator("ol.glass-openings li")).to_contain_text(f"Reason: {reason}")


OUTBOX = """async () => {
    const db = await new Promise((ok, no) => {
        const r = indexedDB.open("renraku");
        r.onsuccess = () => ok(r.result);
        r.onerror = no;
    });
    const rows = await new Promise((ok) => {
        const r = db.transaction("outbox").objectStore("outbox").getAll();
        r.onsuccess = () => ok(r.result);
    });
    db.close();
    return rows;
}"""


def mention_notices(server: Server, username: str) -> list[dict]:
    found = api(server, username, "{ myNotices(first: 50) { edges { node { kind data } } } }")
    return [
        e["node"]["data"]
        for e in found["myNotices"]["edges"]
        if e["node"]["kind"] == "post_mention"
    ]


async def test_mentions_a_post_written_offline_mentions_a_member_who_is_told(
    phone: object, web_server: Server
) -> None:
    patient = PATIENTS["pt-ito-haru"]
    author, doctor, family = "nurse.sato", "dr.suzuki", patient["family"][0]
    assert doctor in patient["team"] and author in patient["team"]
    before = mention_notices(web_server, doctor)
    page: Page = await phone()  # type: ignore[operator]
    await sign_in(page, author)
    await page.locator("ul.patients a", has_text=patient["display_name"]).click()
    await expect(page.locator("ol.posts li").first).to_be_visible()
    mentions = page.get_by_role("group", name="メンション(通知する人)")

    # Written without network, the compose form never opened online: the team comes from what
    # the notebook kept. The outbox keeps whom the post mentions, and the waiting post says so.
    await page.evaluate("navigator.serviceWorker.ready.then(() => true)")
    await page.context.set_offline(True)
    await page.context.route("**/*", lambda route: route.abort())
    await page.get_by_role("button", name="投稿する").click()
    body = "先生、夜間の発熱についてご確認ください。"
    await page.get_by_label("本文").fill(body)
    await mentions.get_by_label(re.compile(name_of(doctor))).check()
    await page.get_by_role("button", name="送信").click()
    pending = page.locator("li.post.pending", has_text=body)
    await expect(pending).to_contain_text(f"メンション: {name_of(doctor)}")
    (entry,) = [e for e in await page.evaluate(OUTBOX) if e["input"]["body"] == body]
    doctor_id = api(web_server, doctor, "{ me { id } }")["me"]["id"]
    assert entry["input"]["mentionIds"] == [doctor_id]
    await page.get_by_role("link", name=re.compile("送信待ち")).click()
    await expect(page.locator("ul.outbox li", has_text=body)).to_contain_text(
        f"メンション: {name_of(doctor)}"
    )
    await page.go_back()

    await page.context.unroute("**/*")
    await page.context.set_offline(False)
    await expect(page.locator("li.post.pending")).to_have_count(0, timeout=20_000)

    # The team is offered, not the author; family only while the post is visible to family.
    await page.get_by_role("button", name="投稿する").click()
    await expect(mentions.get_by_label(re.compile(name_of(doctor)))).to_be_visible()
    await expect(mentions.get_by_label(re.compile(name_of(author)))).to_have_count(0)
    await expect(mentions.get_by_label(re.compile(name_of(family)))).to_have_count(0)
    await page.get_by_label("家族にも公開する").check()
    await expect(mentions.get_by_label(re.compile(name_of(family)))).to_be_visible()
    await mentions.get_by_label(re.compile(name_of(family))).check()
    await page.get_by_label("家族にも公開する").uncheck()
    await expect(mentions.get_by_label(re.compile(name_of(family)))).to_have_count(0)
    await page.get_by_role("button", name="キャンセル").click()
    (post,) = [
        e["node"]
        for e in api(
            web_server,
            author,
            """query($p: ID!) { patient(id: $p) {
              timeline(first: 20) { edges { node { id body } } } } }""",
            p=patient_id(web_server, author, patient["display_name"]),
        )["patient"]["timeline"]["edges"]
        if e["node"]["body"] == body
    ]
    after = mention_notices(web_server, doctor)
    assert [n for n in after if n not in before] == [
        {"postId": post["id"], "patientId": patient_id(web_server, doctor, patient["display_name"])}
    ]

    # The doctor sees it in his notices and goes to the notebook from there.
    doctor_page: Page = await phone()  # type: ignore[operator]
    await sign_in(doctor_page, doctor)
    await doctor_page.get_by_role("link", name="お知らせ").click()
    notice = doctor_page.locator("ul.notices li", has_text="メンション").first
    await expect(notice).to_contain_text(patient["display_name"])
    await notice.locator("a").click()
    await expect(doctor_page.locator("li.post", has_text=body)).to_be_visible()


async def test_mentions_english_labels_and_touch_targets_at_360_px(phone: object) -> None:
    patient = PATIENTS["pt-ito-haru"]
    page: Page = await phone()  # type: ignore[operator]
    await sign_in(page, "nurse.sato")
    await page.get_by_label("言語").select_option("en")
    await page.locator("ul.patients a", has_text=patient["display_name"]).click()
    await page.get_by_role("button", name="New post").click()
    mentions = page.get_by_role("group", name="Mention (notify)")
    await expect(mentions.get_by_label(re.compile(name_of("dr.suzuki")))).to_be_visible()
    for label in await mentions.locator("label.check").all():
        box = await label.bounding_box()
        assert box and box["height"] >= 44 and box["x"] + box["width"] <= PHONE["width"]
    assert await page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]


async def test_team_screen_speaks_both_languages_and_fits_a_phone(
    phone: object, web_server: Server
) -> None:
    patient = PATIENTS["pt-goto-isamu"]
    coordinator, invitee = patient["coordinator"], "nurse.sato"
    assert invitee not in patient["team"]
    page: Page = await phone()  # type: ignore[operator]
    await sign_in(page, coordinator)
    await open_team(page, patient["display_name"])
    await page.get_by_role("button", name="チームに招待する").click()
    form = page.locator("form.invite")
    search = form.get_by_label("名前・よみがなで探す")
    await expect(search).to_be_focused()
    await search.fill("さとう")
    person = form.get_by_label("招待する専門職")
    await expect(person.locator("option", has_text=name_of(invitee))).to_have_count(1)
    await person.select_option(label=f"{name_of(invitee)} (看護師)")
    # Invited from another phone meanwhile: offered here, refused by the server, said in Japanese.
    api(
        web_server,
        coordinator,
        """mutation($p: ID!, $u: ID!) { inviteToTeam(patientId: $p, userId: $u, role: MEMBER) {
          id } }""",
        p=patient_id(web_server, coordinator, patient["display_name"]),
        u=api(web_server, invitee, "{ me { id } }")["me"]["id"],
    )
    await form.get_by_role("button", name="招待を送る").click()
    await expect(form.get_by_role("alert")).to_have_text(
        "この人はすでにこの役割でチームにいるか、招待に返事を待っています。"
    )

    await page.get_by_label("言語").select_option("en")
    await expect(page.get_by_role("heading", name="Care team", exact=True)).to_be_visible()
    await expect(form.get_by_role("heading", name="Invite to the team")).to_be_visible()
    await expect(form.get_by_label("Professional to invite")).to_be_visible()
    await expect(form.get_by_label("Role")).to_be_visible()
    await expect(page.get_by_role("heading", name="Break-the-glass openings")).to_be_visible()
    await form.get_by_role("button", name="Send invitation").click()
    await expect(form.get_by_role("alert")).to_have_text(
        "This person is on the team in this role already, or has an invitation waiting."
    )
    # Every control a thumb can hit, and nothing wider than the phone.
    for control in await form.locator("button, select, input").all():
        box = await control.bounding_box()
        assert box and box["height"] >= 44 and box["x"] + box["width"] <= PHONE["width"]
    for control in await page.locator("ul.members button").all():
        box = await control.bounding_box()
        assert box and box["height"] >= 44
    assert await page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    # Focus shows: a keyboard user sees where she is.
    await form.get_by_role("button", name="Cancel").focus()
    await page.keyboard.press("Shift+Tab")
    outline = await page.evaluate("getComputedStyle(document.activeElement).outlineStyle")
    assert outline == "solid"
