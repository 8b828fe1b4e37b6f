"""`renraku admin add-idp`: register a municipality's OpenID Connect provider."""

from __future__ import annotations

import argparse
import asyncio
import os
import sys

from renraku.accounts.oidc import callback_path, check_add_identity_provider
from renraku.errors import BadInput
from renraku.runtime import build_runtime
from renraku.settings import load_settings

EXIT_REFUSED = 1
SECRET_ENV = "RENRAKU_IDP_CLIENT_SECRET"  # noqa: S105 - the variable's name, not a secret


def _cmd_add_idp(args: argparse.Namespace) -> int:
    settings = load_settings()
    secret = (
        args.client_secret if args.client_secret is not None else os.environ.get(SECRET_ENV, "")
    )

    async def run() -> None:
        runtime = build_runtime(settings)
        try:
            await check_add_identity_provider(
                runtime,
                key=args.key,
                name=args.name,
                municipality_code=args.municipality,
                issuer=args.issuer,
                client_id=args.client_id,
                client_secret=secret,
            )
        finally:
            await runtime.close()

    try:
        asyncio.run(run())
    except BadInput as error:
        print(f"Not added ({error.field}): {error}", file=sys.stderr)
        return EXIT_REFUSED
    print(f"Identity provider {args.key!r} added.")
    print(f"Register this redirect URI with it: {settings.public_origin}{callback_path(args.key)}")
    return 0


def register(admin_sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add `add-idp` to the `renraku admin` command group."""
    parser = admin_sub.add_parser("add-idp", help="register a municipality's OpenID provider")
    parser.add_argument("--key", required=True, help="short name used in the sign-in URLs")
    parser.add_argument("--name", required=True, help="name shown to people signing in")
    parser.add_argument("--municipality", required=True, help="6-digit municipality code")
    parser.add_argument("--issuer", required=True, help="the provider's issuer URL")
    parser.add_argument("--client-id", required=True)
    parser.add_argument(
        "--client-secret",
        default=None,
        help=f"or set {SECRET_ENV} (kept out of shell history); omit both for a public client",
    )
    parser.set_defaults(func=_cmd_add_idp)
