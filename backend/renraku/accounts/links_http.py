"""The page behind a set-up or password-reset link, and the JSON call its form makes.

`GET /auth/link?token=...` checks the link without using it and serves a small self-contained page
(Japanese first, then English; inline script and style under a nonce-based CSP, no external assets).
`POST /auth/link` with JSON {token, password} uses the link: it sets the password and ends the
user's other sessions. The page puts the token nowhere but its own form, and asks browsers not to
pass it on as a Referer.
"""

from __future__ import annotations

import secrets as pysecrets
from html import escape
from urllib.parse import quote

from sqlmodel import col, select
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Route

from renraku.accounts import actions
from renraku.accounts.http import error_response, origin_allowed, read_json_object, runtime_of
from renraku.accounts.models import IdentityProvider
from renraku.accounts.secrets import MAX_PASSWORD_LENGTH, MIN_PASSWORD_LENGTH
from renraku.errors import BadInput, Forbidden, NotFound, RenrakuError

MAX_LINK_BODY = 4096

_STYLE = """
body{font-family:system-ui,sans-serif;max-width:28rem;margin:2rem auto;padding:0 1rem;color:#222}
h1{font-size:1.3rem}label{display:block;margin:1rem 0 .25rem}
input{width:100%;box-sizing:border-box;font-size:1rem;padding:.5rem}
button,a.button{display:inline-block;margin-top:1rem;font-size:1rem;padding:.6rem 1rem}
.en{color:#555;font-size:.9em}#msg{min-height:1.5em;font-weight:bold}
"""

_SCRIPT = """
const form = document.getElementById("link-form");
const msg = document.getElementById("msg");
const say = (text) => { msg.textContent = text; };
const texts = {
  mismatch: "2つのパスワードが一致しません。 / The two passwords do not match.",
  done: "パスワードを設定しました。サインインしてください。 / "
    + "Your password is set. Please sign in.",
  NOT_FOUND: "このリンクは無効か、期限切れか、すでに使われています。 / "
    + "This link is invalid, has expired or was already used.",
  BAD_USER_INPUT: "パスワードが条件を満たしていません。 / ",
  other: "設定できませんでした。もう一度お試しください。 / Something went wrong. Please try again.",
};
form.addEventListener("submit", async (event) => {
  event.preventDefault();
  if (form.password.value !== form.confirm.value) { say(texts.mismatch); return; }
  const button = form.querySelector("button");
  button.disabled = true;
  try {
    const response = await fetch("/auth/link", {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ token: form.token.value, password: form.password.value }),
    });
    const body = await response.json();
    if (response.ok) {
      form.hidden = true;
      say(texts.done);
      document.getElementById("signin").hidden = false;
      return;
    }
    const code = body.error && body.error.code;
    say(code === "BAD_USER_INPUT" ? texts.BAD_USER_INPUT + body.error.message
      : texts[code] || texts.other);
  } catch (_error) {
    say(texts.other);
  }
  button.disabled = false;
});
"""


def _page(body: str, *, status: int, nonce: str) -> HTMLResponse:
    html = f"""<!doctype html><html lang="ja"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<title>Renraku 連絡帳 — パスワードの設定 / Set your password</title>
<style nonce="{nonce}">{_STYLE}</style></head><body>{body}</body></html>"""
    return HTMLResponse(
        html,
        status_code=status,
        headers={
            "Content-Security-Policy": (
                f"default-src 'none'; script-src 'nonce-{nonce}'; style-src 'nonce-{nonce}'; "
                "connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
            ),
            "Referrer-Policy": "no-referrer",
            "Cache-Control": "no-store",
        },
    )


def _provider_links(providers: list[IdentityProvider], token: str) -> str:
    if not providers:
        return ""
    items = "".join(
        f'<p><a class="button" href="/auth/oidc/{escape(quote(p.key, safe=""))}/login'
        f'?link={escape(quote(token, safe=""))}">{escape(p.name)} でサインイン'
        f' <span class="en">/ Sign in with {escape(p.name)}</span></a></p>'
        for p in providers
    )
    return f"<p>または <span class='en'>/ or</span></p>{items}"


def _form_page(username: str, token: str, providers: list[IdentityProvider]) -> HTMLResponse:
    nonce = pysecrets.token_urlsafe(16)
    body = f"""<h1>パスワードの設定 <span class="en">/ Set your password</span></h1>
<p>アカウント <span class="en">/ Account</span>: <strong>{escape(username)}</strong></p>
<form id="link-form">
<input type="hidden" name="token" value="{escape(token)}">
<input type="text" name="username" value="{escape(username)}" autocomplete="username" hidden>
<label for="password">新しいパスワード（{MIN_PASSWORD_LENGTH}文字以上）
<span class="en">/ New password (at least {MIN_PASSWORD_LENGTH} characters)</span></label>
<input id="password" name="password" type="password" autocomplete="new-password"
 minlength="{MIN_PASSWORD_LENGTH}" maxlength="{MAX_PASSWORD_LENGTH}" required>
<label for="confirm">もう一度入力 <span class="en">/ Type it again</span></label>
<input id="confirm" name="confirm" type="password" autocomplete="new-password"
 minlength="{MIN_PASSWORD_LENGTH}" maxlength="{MAX_PASSWORD_LENGTH}" required>
<button type="submit">設定する <span class="en">/ Set password</span></button>
</form>
<p id="msg" role="status"></p>
<p id="signin" hidden>
<a class="button" href="/">サインイン <span class="en">/ Sign in</span></a></p>
{_provider_links(providers, token)}
<script nonce="{nonce}">{_SCRIPT}</script>"""
    return _page(body, status=200, nonce=nonce)


def _gone_page() -> HTMLResponse:
    body = """<h1>リンクを使えません <span class="en">/ This link cannot be used</span></h1>
<p>このリンクは無効か、期限切れか、すでに使われています。担当者に新しいリンクを依頼してください。</p>
<p class="en">This link is invalid, has expired or was already used.
Ask the person who sent it for a new one.</p>"""
    return _page(body, status=404, nonce=pysecrets.token_urlsafe(16))


async def link_page(request: Request) -> Response:
    runtime = runtime_of(request)
    token = request.query_params.get("token", "")
    async with runtime.db.session() as session:
        try:
            _link, user = await actions.access_link(session, token)
        except NotFound:
            return _gone_page()
        providers: list[IdentityProvider] = []
        if user.municipality_code is not None:
            rows = await session.exec(
                select(IdentityProvider)
                .where(IdentityProvider.municipality_code == user.municipality_code)
                .order_by(col(IdentityProvider.name))
            )
            providers = list(rows.all())
    return _form_page(user.username, token, providers)


async def use_link(request: Request) -> Response:
    runtime = runtime_of(request)
    if not origin_allowed(request, runtime):
        return error_response(Forbidden("Use the link from the page it opens."), 403)
    try:
        data = await read_json_object(request, max_bytes=MAX_LINK_BODY)
        token, password = data.get("token"), data.get("password")
        if not isinstance(token, str) or not isinstance(password, str):
            raise ValueError
    except (ValueError, UnicodeDecodeError, RecursionError):
        return error_response(BadInput("Send JSON with token and password."), 400)
    try:
        user = await actions.check_use_link(runtime, token=token, new_password=password)
    except RenrakuError as error:
        return error_response(error, 404 if isinstance(error, NotFound) else 400)
    return JSONResponse({"ok": True, "user": {"username": user.username}})


routes = [
    Route("/auth/link", link_page, methods=["GET"]),
    Route("/auth/link", use_link, methods=["POST"]),
]
