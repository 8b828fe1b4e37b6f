"""The phone app end to end: Debian's Chromium (Playwright) against a real `renraku serve`."""

from __future__ import annotations

import re
import uuid
from pathlib import Path

import httpx
import pyotp
import pytest
from PIL import Image, ImageDraw
from playwright.async_api import Browser, BrowserContext, Page, expect

from tests.support.graphql import DEMO, DEMO_PASSWORD
from tests.support.server import Server
from tests.web.conftest import PHONE

pytestmark = pytest.mark.browser

NURSE = "nurse.sato"
FAMILY = "family.ito"


def patients_of(username: str) -> set[str]:
    """The demo patients on whose team `username` is (seed/demo.toml)."""
    return {
        p["display_name"]
        for p in DEMO["patients"]
        if username in p["team"] or p.get("coordinator") == username
    }


async def sign_in(page: Page, username: str, password: str = DEMO_PASSWORD) -> None:
    await page.goto("/")
    # DESIGN.md's contract: the form's first input is the username, the only password field
    # follows, and Enter submits.
    first = page.locator("form input").first
    await expect(first).to_have_attribute("name", "username")
    await expect(page.locator("input[type=password]")).to_have_count(1)
    await first.fill(username)
    await page.locator("input[type=password]").fill(password)
    await page.locator("input[type=password]").press("Enter")


async def shown_patients(page: Page) -> set[str]:
    names = page.locator("ul.patients li .name")
    await expect(names.first).to_be_visible()
    return set(await names.all_inner_texts())


def posts_with(server: Server, username: str, patient_name: str, body: str) -> list[dict]:
    """The posts holding `body` in the patient's notebook, as the server has them."""
    token = server.login(username)
    query = """query { patients(first: 100) { edges { node { displayName
      timeline(first: 100) { edges { node {
        id body category vitals { temperature pulse flagged } photos { width height }
      } } } } } } }"""
    response = httpx.post(
        server.graphql_url, json={"query": query}, headers={"Authorization": f"Bearer {token}"}
    )
    data = response.json()["data"]["patients"]["edges"]
    (patient,) = [e["node"] for e in data if e["node"]["displayName"] == patient_name]
    return [e["node"] for e in patient["timeline"]["edges"] if e["node"]["body"] == body]


def my_feed(server: Server, username: str) -> list[dict]:
    """The user's latest posts across their patients, with retraction and history."""
    token = server.login(username)
    query = """query { myFeed(first: 50) { edges { node {
      retractedAt retractReason history { body } } } } }"""
    response = httpx.post(
        server.graphql_url, json={"query": query}, headers={"Authorization": f"Bearer {token}"}
    )
    return [e["node"] for e in response.json()["data"]["myFeed"]["edges"]]


async def test_a_nurse_signs_in_and_sees_exactly_her_patients(page: Page) -> None:
    await sign_in(page, NURSE)
    await expect(page).to_have_url(re.compile(r"/patients$"))
    assert await shown_patients(page) == patients_of(NURSE)


async def test_a_wrong_password_is_refused_on_the_form(page: Page) -> None:
    await sign_in(page, NURSE, "not-the-password")
    await expect(page.get_by_role("alert")).to_contain_text("ユーザー名またはパスワードが違います")
    await expect(page.locator("input[name=username]")).to_be_visible()


def camera_photo(folder: Path) -> Path:
    """A photo the size a phone's camera takes (2400x1800), to be made smaller before upload."""
    path = folder / "photo.jpg"
    image = Image.new("RGB", (2400, 1800), (200, 120, 90))
    ImageDraw.Draw(image).ellipse((600, 400, 1800, 1400), fill=(240, 200, 180))
    image.save(path, quality=90)
    return path


async def test_the_nurse_reads_a_timeline_and_posts_vitals_with_a_photo(
    page: Page, web_server: Server, tmp_path: Path
) -> None:
    await sign_in(page, NURSE)
    patient = sorted(patients_of(NURSE))[0]
    await page.locator("ul.patients a", has_text=patient).click()
    await expect(page.locator("h1")).to_have_text(patient)
    await expect(page.locator("ol.posts li").first).to_be_visible()

    body = f"訪問時バイタル {uuid.uuid4().hex[:6]}"
    await page.get_by_role("button", name="投稿する").click()
    await page.get_by_label("分類").select_option("VITALS")
    await page.get_by_label("本文").fill(body)
    # The form checks as she types, with the server's own ranges (vitalSigns).
    temperature = page.get_by_label("体温")
    await temperature.fill("3.7")
    await expect(page.locator("#vital-temperature-note")).to_contain_text("30〜45 °C")
    await expect(temperature).to_have_attribute("aria-invalid", "true")
    await temperature.fill("38.6")
    await expect(page.locator("#vital-temperature-note")).to_contain_text(
        "通常範囲（35〜37.5 °C）外"
    )
    await expect(temperature).to_have_attribute("aria-invalid", "false")
    await page.get_by_label("脈拍").fill("88")
    await page.get_by_label("写真を撮る・選ぶ").set_input_files(camera_photo(tmp_path))
    await expect(page.get_by_role("img", name="添付する写真1")).to_be_visible()
    await page.get_by_role("button", name="送信").click()

    post = page.locator("ol.posts:not(.pending) li", has_text=body)
    await expect(post).to_be_visible()
    await expect(post.locator(".vital.flagged")).to_contain_text("38.6")
    thumbnail = post.locator("ul.thumbs img")
    await expect(thumbnail).to_have_count(1)
    await thumbnail.scroll_into_view_if_needed()
    await page.wait_for_function(
        "img => img.complete && img.naturalWidth > 0", arg=await thumbnail.element_handle()
    )
    (stored,) = posts_with(web_server, NURSE, patient, body)
    # Made smaller on the phone: 1600 px on the longer side, not the camera's 2400.
    assert (stored["photos"][0]["width"], stored["photos"][0]["height"]) == (1600, 1200)
    assert stored["category"] == "VITALS"
    assert stored["vitals"]["temperature"] == 38.6 and stored["vitals"]["pulse"] == 88
    assert "temperature" in stored["vitals"]["flagged"]


async def test_posts_written_offline_wait_in_the_outbox_and_arrive_once_each(
    page: Page, context: BrowserContext, web_server: Server, tmp_path: Path
) -> None:
    await sign_in(page, NURSE)
    patient = sorted(patients_of(NURSE))[-1]
    await page.locator("ul.patients a", has_text=patient).click()
    await expect(page.locator("ol.posts li").first).to_be_visible()
    # Let the service worker take the shell, so the reload below opens without network.
    await page.evaluate("navigator.serviceWorker.ready.then(() => true)")

    # Offline: the context's switch, and the service worker's own requests aborted too.
    await context.set_offline(True)
    await context.route("**/*", lambda route: route.abort())
    bodies = [f"圏外からの投稿 {i} {uuid.uuid4().hex[:6]}" for i in range(2)]
    for i, body in enumerate(bodies):
        await page.get_by_role("button", name="投稿する").click()
        await page.get_by_label("本文").fill(body)
        if i == 0:  # a photo taken offline is kept with its post
            await page.get_by_label("写真を撮る・選ぶ").set_input_files(camera_photo(tmp_path))
            await expect(page.get_by_role("img", name="添付する写真1")).to_be_visible()
        await page.get_by_role("button", name="送信").click()
        await expect(page.locator("h1")).to_have_text(patient)
    await page.get_by_role("link", name=re.compile("送信待ち")).click()
    entries = page.locator("ul.outbox li")
    await expect(entries).to_have_count(2)
    await expect(entries.first).to_contain_text("待機中")

    await page.reload()  # the outbox lives in IndexedDB, not in the page
    await expect(page.locator("ul.outbox li")).to_have_count(2)

    await context.unroute("**/*")
    await context.set_offline(False)
    await expect(page.locator("ul.outbox li")).to_have_count(0, timeout=20_000)
    arrived = [posts_with(web_server, NURSE, patient, body) for body in bodies]
    assert [len(posts) for posts in arrived] == [1, 1]
    assert [len(posts[0]["photos"]) for posts in arrived] == [1, 0]


async def test_signing_out_wipes_the_phone_and_shows_the_form(page: Page) -> None:
    await sign_in(page, NURSE)
    await expect(page.locator("ul.patients li").first).to_be_visible()
    await page.get_by_role("button", name="ログアウト").click()
    await expect(page.locator("input[name=username]")).to_be_visible()
    stored = await page.evaluate(
        """async () => {
            const db = await new Promise((ok, no) => {
                const r = indexedDB.open("renraku");
                r.onsuccess = () => ok(r.result);
                r.onerror = no;
            });
            const count = (name) => new Promise((ok) => {
                const r = db.transaction(name).objectStore(name).count();
                r.onsuccess = () => ok(r.result);
            });
            const counts = [await count("patients"), await count("posts"), await count("outbox")];
            db.close();
            return counts;
        }"""
    )
    assert stored == [0, 0, 0]


async def test_english_is_one_switch_away(page: Page) -> None:
    await page.goto("/")
    await page.get_by_label("言語").select_option("en")
    await expect(page.get_by_role("button", name="Sign in")).to_be_visible()
    await expect(page.locator("html")).to_have_attribute("lang", "en")


@pytest.mark.parametrize(
    ("username", "says"),
    [
        ("planner.gamagori", "災害時の優先リスト"),
        ("manager.gamagori", "市町村の管理画面"),
        ("operator", "運用者向けの画面"),
        (FAMILY, "ご家族"),
    ],
)
async def test_other_roles_land_on_a_home_that_says_what_exists(
    page: Page, username: str, says: str
) -> None:
    await sign_in(page, username)
    await expect(page.locator("p.note")).to_contain_text(says)
    await expect(page.get_by_role("alert")).to_have_count(0)


async def test_family_sees_only_the_posts_shared_with_family(
    page: Page, web_server: Server
) -> None:
    (patient,) = [p for p in DEMO["patients"] if FAMILY in p["family"]]
    await sign_in(page, FAMILY)
    await page.locator("ul.patients a", has_text=patient["display_name"]).click()
    await expect(page.locator("h1")).to_have_text(patient["display_name"])
    shown = page.locator("li.post")
    await expect(shown.first).to_be_visible()
    # Every post the family member is shown, replies included, is marked as shared with family.
    shared = page.locator("li.post > .post-head", has_text="家族にも公開")
    assert await shown.count() == await shared.count()


async def test_a_post_reaches_another_member_live(
    page: Page, browser: Browser, web_server: Server
) -> None:
    doctor = "dr.suzuki"
    (patient,) = [
        p["display_name"]
        for p in DEMO["patients"]
        if NURSE in p["team"] and doctor in p["team"] and p["key"] == "pt-ito-haru"
    ]
    other = await browser.new_context(base_url=web_server.url, viewport=PHONE, locale="ja-JP")
    try:
        watching = await other.new_page()
        await sign_in(watching, doctor)
        await watching.locator("ul.patients a", has_text=patient).click()
        await expect(watching.locator(".live.on")).to_be_visible()

        await sign_in(page, NURSE)
        await page.locator("ul.patients a", has_text=patient).click()
        body = f"ライブ確認 {uuid.uuid4().hex[:6]}"
        await page.get_by_role("button", name="投稿する").click()
        await page.get_by_label("本文").fill(body)
        await page.get_by_role("button", name="送信").click()

        await expect(watching.locator("ol.posts li", has_text=body)).to_be_visible()
        # The doctor has it on screen, so it is read; the nurse sees that live too.
        mine = page.locator("ol.posts:not(.pending) li", has_text=body)
        await expect(mine.locator(".readby summary")).to_contain_text("1/4")
        await mine.locator(".readby summary").click()
        doctor_name = next(a for a in DEMO["accounts"] if a["username"] == doctor)
        await expect(mine.locator(".readby ul")).to_contain_text(doctor_name["display_name"])
    finally:
        await other.close()


async def test_an_ended_session_brings_back_the_form(
    page: Page, context: BrowserContext, web_server: Server
) -> None:
    await sign_in(page, NURSE)
    await expect(page.locator("ul.patients li").first).to_be_visible()
    # The session ends behind the app's back (as on expiry or revocation elsewhere).
    ended = await context.request.post("/auth/logout", headers={"Origin": web_server.url})
    assert ended.ok
    # The server closes the live socket (4401), or the next request is refused: either way the
    # app asks to sign in again, saying why.
    await expect(page.get_by_role("alert")).to_contain_text("もう一度ログイン")
    await expect(page.locator("input[name=username]")).to_be_visible()


async def test_a_post_waiting_offline_shows_in_its_timeline(
    page: Page, context: BrowserContext
) -> None:
    await sign_in(page, NURSE)
    patient = sorted(patients_of(NURSE))[0]
    await page.locator("ul.patients a", has_text=patient).click()
    await expect(page.locator("ol.posts li").first).to_be_visible()
    await context.set_offline(True)
    body = f"電波待ち {uuid.uuid4().hex[:6]}"
    await page.get_by_role("button", name="投稿する").click()
    await page.get_by_label("本文").fill(body)
    await page.get_by_role("button", name="送信").click()
    waiting = page.locator("ol.posts.pending li", has_text=body)
    await expect(waiting).to_contain_text("待機中")
    await context.set_offline(False)
    await expect(waiting).to_have_count(0, timeout=20_000)
    await expect(page.locator("ol.posts:not(.pending) li", has_text=body)).to_be_visible()


def enrol_totp(server: Server, username: str) -> str:
    """Turn TOTP on for `username` through the API; its secret."""
    token = server.login(username)
    headers = {"Authorization": f"Bearer {token}"}
    begun = httpx.post(
        server.graphql_url,
        json={"query": "mutation { beginTotpEnrolment { secret } }"},
        headers=headers,
    ).json()["data"]["beginTotpEnrolment"]
    enabled = httpx.post(
        server.graphql_url,
        json={
            "query": "mutation($s: String!, $c: String!) { enableTotp(secret: $s, code: $c) }",
            "variables": {"s": begun["secret"], "c": pyotp.TOTP(begun["secret"]).now()},
        },
        headers=headers,
    ).json()
    assert "errors" not in enabled, enabled
    secret: str = begun["secret"]
    return secret


async def test_an_account_with_totp_is_asked_for_its_code(page: Page, web_server: Server) -> None:
    username = "nurse.takahashi"
    secret = enrol_totp(web_server, username)
    await sign_in(page, username)
    code = page.get_by_label("認証アプリの確認コード")
    await expect(code).to_be_focused()
    await code.fill("000000" if pyotp.TOTP(secret).now() != "000000" else "111111")
    await code.press("Enter")
    await expect(page.get_by_role("alert")).to_contain_text("確認コードが違います")
    await code.fill(pyotp.TOTP(secret).now())
    await code.press("Enter")
    await expect(page).to_have_url(re.compile(r"/patients$"))
    assert await shown_patients(page) == patients_of(username)


async def test_the_idle_lock_hides_everything_and_needs_the_password(
    page: Page, context: BrowserContext
) -> None:
    # A care office's short idle time for this phone: three seconds.
    await context.add_init_script("localStorage.setItem('renraku.idleMinutes', '0.05')")
    await sign_in(page, NURSE)
    patient = sorted(patients_of(NURSE))[0]
    await expect(page.locator("ul.patients li", has_text=patient)).to_be_visible()

    await expect(page.get_by_role("heading", name="ロック中")).to_be_visible(timeout=10_000)
    assert patient not in await page.content()
    await page.reload()  # the lock outlives a reload
    await expect(page.get_by_role("heading", name="ロック中")).to_be_visible()
    assert patient not in await page.content()
    await expect(page.locator("input[name=username]")).to_have_value(NURSE)

    await page.locator("input[type=password]").fill("not-the-password")
    await page.locator("input[type=password]").press("Enter")
    await expect(page.get_by_role("alert")).to_contain_text("パスワードが違います")
    await page.locator("input[type=password]").fill(DEMO_PASSWORD)
    await page.locator("input[type=password]").press("Enter")
    await expect(page.locator("ul.patients li", has_text=patient)).to_be_visible()


def api(server: Server, username: str, query: str, **variables: object) -> dict:
    token = server.login(username)
    response = httpx.post(
        server.graphql_url,
        json={"query": query, "variables": variables},
        headers={"Authorization": f"Bearer {token}"},
    )
    body = response.json()
    assert "errors" not in body, body
    data: dict = body["data"]
    return data


STORED_FOR = """async (patientId) => {
    const db = await new Promise((ok, no) => {
        const r = indexedDB.open("renraku");
        r.onsuccess = () => ok(r.result);
        r.onerror = no;
    });
    const all = (name) => new Promise((ok) => {
        const r = db.transaction(name).objectStore(name).getAll();
        r.onsuccess = () => ok(r.result);
    });
    const rows = [...(await all("patients")), ...(await all("posts")), ...(await all("outbox"))];
    db.close();
    return rows.filter((row) => (row.patientId ?? row.id) === patientId).length;
}"""

REFUSED_ENTRY = """async (patientId) => {
    const db = await new Promise((ok, no) => {
        const r = indexedDB.open("renraku");
        r.onsuccess = () => ok(r.result);
        r.onerror = no;
    });
    const clientId = crypto.randomUUID();
    await new Promise((ok) => {
        const tx = db.transaction("outbox", "readwrite");
        tx.objectStore("outbox").put({
            clientId, patientId, createdAt: new Date().toISOString(), status: "refused",
            attempts: 1, nextAttemptAt: 0, reason: "test",
            input: { patientId, clientId, category: "OTHER", body: "未送信", vitals: null,
                     urgent: false, visibleToFamily: false },
        });
        tx.oncomplete = ok;
    });
    db.close();
}"""


async def test_a_member_removed_from_a_team_loses_the_patient_on_her_open_phone(
    page: Page, web_server: Server
) -> None:
    member, coordinator = "helper.kobayashi", "cm.tanaka"
    (patient,) = [p for p in DEMO["patients"] if p["key"] == "pt-ito-haru"]
    assert member in patient["team"] and patient["coordinator"] == coordinator
    name = patient["display_name"]

    await sign_in(page, member)
    await page.locator("ul.patients a", has_text=name).click()
    await expect(page.locator("ol.posts li").first).to_be_visible()
    patient_id = page.url.rsplit("/", 1)[-1]
    await page.evaluate(REFUSED_ENTRY, patient_id)
    await page.get_by_role("link", name="担当患者").click()
    await expect(page.locator("ul.patients li", has_text=name)).to_be_visible()
    assert await page.evaluate(STORED_FOR, patient_id) > 2

    member_id = api(web_server, member, "{ me { id } }")["me"]["id"]
    api(
        web_server,
        coordinator,
        """mutation($p: ID!, $u: ID!) {
          endTeamMembership(patientId: $p, userId: $u, reason: "担当変更") { role } }""",
        p=patient_id,
        u=member_id,
    )

    await expect(page.locator("ul.patients li", has_text=name)).to_have_count(0, timeout=10_000)
    await expect(page.locator(".banner.notice")).to_contain_text("1件")
    assert await page.evaluate(STORED_FOR, patient_id) == 0


async def test_an_instruction_is_acknowledged_from_its_post(page: Page) -> None:
    member = "pharm.kato"
    (instruction,) = [p for p in DEMO["posts"] if p["key"] == "demo-ito-02"]
    (patient,) = [p for p in DEMO["patients"] if p["key"] == instruction["patient"]]
    assert member in patient["team"] and member not in instruction["acknowledged_by"]

    await sign_in(page, member)
    await page.locator("ul.patients a", has_text=patient["display_name"]).click()
    # The instruction is a reply in its thread: the innermost post holding its text.
    post = page.locator("li.post", has_text=instruction["body"]).last
    done = len(instruction["acknowledged_by"])
    await expect(post).to_contain_text(f"{done}人が確認")
    await post.get_by_role("button", name="確認しました").click()
    await expect(post).to_contain_text(f"{done + 1}人が確認")
    await expect(post.get_by_role("button", name="確認しました")).to_have_count(0)


async def test_a_mention_shows_in_notices_and_is_read_there(page: Page, web_server: Server) -> None:
    doctor = "dr.suzuki"
    (patient,) = [p for p in DEMO["patients"] if p["key"] == "pt-ito-haru"]
    patient_id = next(
        e["node"]["id"]
        for e in api(web_server, NURSE, "{ patients { edges { node { id displayName } } } }")[
            "patients"
        ]["edges"]
        if e["node"]["displayName"] == patient["display_name"]
    )
    doctor_id = api(web_server, doctor, "{ me { id } }")["me"]["id"]
    api(
        web_server,
        NURSE,
        """mutation($input: CreatePostInput!) { createPost(input: $input) { id } }""",
        input={
            "patientId": patient_id,
            "clientId": str(uuid.uuid4()),
            "category": "OTHER",
            "body": "先生、ご確認をお願いします。",
            "mentionIds": [doctor_id],
        },
    )

    await sign_in(page, doctor)
    await page.get_by_role("link", name="お知らせ").click()
    notice = page.locator("ul.notices li", has_text="メンション").first
    await expect(notice).to_contain_text(patient["display_name"])
    await expect(notice).to_contain_text("未読")
    unread = "{ myNotices { unreadCount } }"
    for _ in range(50):
        if api(web_server, doctor, unread)["myNotices"]["unreadCount"] == 0:
            break
        await page.wait_for_timeout(100)
    assert api(web_server, doctor, unread)["myNotices"]["unreadCount"] == 0
    await notice.locator("a").click()
    await expect(page.locator("h1")).to_have_text(patient["display_name"])


async def test_vitals_show_as_a_trend_per_measure(page: Page) -> None:
    (patient,) = [p for p in DEMO["patients"] if p["key"] == "pt-ito-haru"]
    earlier = [
        p["vitals"]["temperature"]
        for p in DEMO["posts"]
        if p["patient"] == "pt-ito-haru" and "temperature" in p.get("vitals", {})
    ]
    assert earlier, "the demo world has a temperature for this patient"
    await sign_in(page, NURSE)
    await page.locator("ul.patients a", has_text=patient["display_name"]).click()
    await page.get_by_role("button", name="投稿する").click()
    await page.get_by_label("分類").select_option("VITALS")
    await page.get_by_label("体温").fill("38.9")
    await page.get_by_role("button", name="送信").click()
    trend = page.get_by_role("img", name=re.compile(r"^体温の推移: .*→ 38\.9$"))
    await expect(trend).to_be_visible()
    await expect(page.locator(".trend", has=trend).locator("strong.flag")).to_have_text("38.9")


async def test_a_coordinator_sees_the_team_and_the_access_history(page: Page) -> None:
    (patient,) = [p for p in DEMO["patients"] if p["key"] == "pt-okamoto-fumi"]
    coordinator = patient["coordinator"]
    accounts = {a["username"]: a for a in DEMO["accounts"]}
    await sign_in(page, coordinator)
    await page.locator("ul.patients a", has_text=patient["display_name"]).click()
    await page.get_by_role("link", name="ケアチーム").click()
    members = page.locator("ul.members li .name")
    await expect(members.first).to_be_visible()
    expected = {accounts[u]["display_name"] for u in [*patient["team"], *patient["family"]]}
    assert set(await members.all_inner_texts()) >= expected
    await expect(page.get_by_role("heading", name="アクセス履歴")).to_be_visible()
    await expect(page.locator("ol.history li").first).to_be_visible()
    # The coordinator removes a member, giving the reason the audit keeps.
    leaving = accounts["helper.nakamura"]["display_name"]
    member = page.locator("ul.members li", has_text=leaving)
    await member.get_by_role("button", name="チームから外す").click()
    await member.get_by_label("外す理由").fill("担当変更")
    await member.get_by_role("button", name="外す", exact=True).click()
    await expect(page.locator(".banner.notice")).to_contain_text(leaving)
    await expect(page.locator("ul.members li", has_text=leaving)).to_have_count(0)


async def test_my_feed_spans_my_patients_and_filters_urgent(page: Page) -> None:
    mine = {p["key"]: p["display_name"] for p in DEMO["patients"] if NURSE in p["team"]}
    urgent = [p for p in DEMO["posts"] if p.get("urgent") and p["patient"] in mine]
    assert urgent, "the demo world has an urgent post for the nurse's patients"
    await sign_in(page, NURSE)
    await page.get_by_role("link", name="新着").click()
    patients = page.locator("li.feed-item .feed-patient")
    await expect(patients.first).to_be_visible()
    assert set(await patients.all_inner_texts()) <= set(mine.values())
    await page.get_by_label("至急のみ").check()
    await expect(page.locator("li.feed-item li.post:not(.urgent)")).to_have_count(0)
    await expect(page.locator("li.feed-item", has_text=urgent[0]["body"])).to_be_visible()


async def test_planners_see_their_incidents_and_the_counts_small_ones_hidden_outside_one(
    page: Page, context: BrowserContext
) -> None:
    """The planner whose municipality has the demo incident (災害対応) sees it and the counts in
    full; the other municipality's planner sees none, and the small counts hidden."""
    await sign_in(page, "planner.gamagori")
    await expect(page.locator("ul.incidents li")).to_have_count(1)
    await expect(page.locator("ul.incidents li")).to_contain_text("警戒レベル3")
    table = page.get_by_role("table", name="災害対応の範囲内の患者数")
    await expect(table.locator("tbody tr")).to_have_count(8)
    await expect(table).not_to_contain_text("—")
    await expect(page.locator("p.counts-note")).to_have_count(0)
    await page.get_by_role("button", name="ログアウト").click()
    await sign_in(page, "planner.nishio")
    await expect(page.get_by_text("対応中の災害対応はありません")).to_be_visible()
    await expect(page.locator("p.counts-note")).to_contain_text("表示しません")
    await expect(page.get_by_role("table", name="担当市町村の患者数")).to_contain_text("—")


async def test_the_nurse_replies_edits_and_retracts_her_own_post(
    page: Page, web_server: Server
) -> None:
    await sign_in(page, NURSE)
    patient = sorted(patients_of(NURSE))[0]
    await page.locator("ul.patients a", has_text=patient).click()
    await expect(page.locator("h1")).to_have_text(patient)
    body = f"夕食は半分 {uuid.uuid4().hex[:6]}"
    await page.get_by_role("button", name="投稿する").click()
    await page.get_by_label("本文").fill(body)
    await page.get_by_role("button", name="送信").click()
    post = page.locator("ol.posts:not(.pending) > li", has_text=body)
    await expect(post).to_be_visible()

    # A reply joins the post's thread.
    await post.get_by_role("link", name="返信").first.click()
    await expect(page.locator("h1")).to_have_text("返信")
    await page.get_by_label("本文").fill(f"{body} への返信")
    await page.get_by_role("button", name="送信").click()
    await expect(post.locator("ol.replies li", has_text="への返信")).to_be_visible()

    # Her own post: edited, with the earlier version in its history.
    await post.get_by_role("button", name="編集").first.click()
    await post.get_by_label("本文").fill(f"{body}(訂正: 全量)")
    await post.get_by_role("button", name="保存").click()
    await expect(post.locator("p.body").first).to_contain_text("訂正: 全量")
    await post.locator("details.history > summary").first.click()
    await expect(post.locator("details.history li").first).to_contain_text(body)

    # Retracted with a reason, which every reader sees instead of the text.
    await post.get_by_role("button", name="取り消す").first.click()
    await post.get_by_label("取り消す理由").fill("別の患者さんの記録でした")
    await post.get_by_role("button", name="投稿を取り消す").click()
    await expect(post.locator("p.retracted")).to_contain_text("別の患者さんの記録でした")
    # As the server has it: retracted with that reason, both versions in its history (their
    # text no longer shown, as the post's own).
    (stored,) = [
        n for n in my_feed(web_server, NURSE) if n["retractReason"] == "別の患者さんの記録でした"
    ]
    assert stored["retractedAt"]
    assert len(stored["history"]) == 2
