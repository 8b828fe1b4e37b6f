"""Screenshots of the phone app for the README, taken from a running demo (`make demo`).

    ../.venv/bin/python tools/screenshots.py http://127.0.0.1:8000

Drives Debian's Chromium (/usr/bin/chromium) through Playwright at 360x640 and writes
screenshots/*.png: sign-in, my patients, a timeline, compose with vitals and the outbox with
posts waiting, in Japanese, my patients in English, and the disaster overlay: the planner's
priority list of the demo incident and a nurse's safety checks. It posts nothing and records no
status: the outbox's posts are discarded before the end, and the safety checks are only shown.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from playwright.async_api import Page, async_playwright

OUT = Path(__file__).resolve().parents[1] / "screenshots"
PASSWORD = "renraku-demo-2026"  # the demo password (seed/demo.toml), valid only in demo mode


async def sign_in(page: Page, username: str, ready: str = "ul.patients li") -> None:
    await page.goto("/")
    await page.fill("input[name=username]", username)
    await page.fill("input[name=password]", PASSWORD)
    await page.press("input[name=password]", "Enter")
    await page.wait_for_selector(ready)


async def sign_out(page: Page) -> None:
    await page.get_by_role("button", name="ログアウト").click()
    await page.wait_for_selector("input[name=username]")


async def main(base_url: str) -> None:
    OUT.mkdir(exist_ok=True)
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path="/usr/bin/chromium")
        context = await browser.new_context(
            base_url=base_url, viewport={"width": 360, "height": 640}, locale="ja-JP"
        )
        page = await context.new_page()
        await page.goto("/")
        await page.wait_for_selector("input[name=username]")
        await page.screenshot(path=OUT / "sign-in.png")

        await sign_in(page, "nurse.sato")
        await page.screenshot(path=OUT / "patients.png")

        await page.locator("ul.patients a").first.click()
        await page.wait_for_selector("ol.posts li")
        await page.wait_for_selector(".live.on")
        await page.screenshot(path=OUT / "timeline.png")

        await page.get_by_role("button", name="投稿する").click()
        await page.get_by_label("分類").select_option("VITALS")
        await page.get_by_label("本文").fill("訪問時、やや発熱あり。水分摂取を促しました。")
        for label, value in (("体温", "38.2"), ("血圧(上)", "132"), ("血圧(下)", "78")):
            await page.get_by_label(label).fill(value)
        await page.screenshot(path=OUT / "compose.png")

        await context.set_offline(True)
        await page.get_by_role("button", name="送信").click()
        await page.get_by_role("button", name="投稿する").click()
        await page.get_by_label("本文").fill("食事は半分ほど摂取。")
        await page.get_by_role("button", name="送信").click()
        await page.get_by_role("link", name="送信待ち (2)").click()
        await page.wait_for_selector("ul.outbox li")
        await page.screenshot(path=OUT / "outbox.png")
        for _ in range(2):
            await page.get_by_role("button", name="破棄").first.click()
        await context.set_offline(False)

        await page.wait_for_selector(".banner.notice", state="hidden")
        await page.get_by_label("言語").select_option("en")
        await page.get_by_role("link", name="My patients").click()
        await page.wait_for_selector("ul.patients li")
        await page.screenshot(path=OUT / "patients-en.png")
        await page.get_by_label("Language").select_option("ja")

        # The nurse's safety checks (安否確認) for her people inside the demo incident.
        await page.locator(".incident-banner a").click()
        await page.wait_for_selector("li.check-card")
        await page.screenshot(path=OUT / "safety-checks.png")
        await sign_out(page)

        # The planner's priority list of the demo incident, ranked with its reasons.
        await sign_in(page, "planner.gamagori", ready="ul.incidents li")
        await page.get_by_role("link", name="優先リストを開く").click()
        await page.wait_for_selector("ol.priority li")
        await page.screenshot(path=OUT / "priority-list.png")
        await sign_out(page)
        await browser.close()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1] if len(sys.argv) > 1 else "http://127.0.0.1:8000"))
