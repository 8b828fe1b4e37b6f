"""`renraku seed synthetic --patients N --professionals M [--posts K] [--big-timeline N]
[--seed S] [--focus CODE [--focus-share SHARE]]`."""

from __future__ import annotations

import argparse
import asyncio
import sys

from renraku.accounts.models import Organisation, User
from renraku.db import Database
from renraku.errors import BadInput
from renraku.feed.models import Post, PostRead
from renraku.seed.batches import table_of
from renraku.seed.synthetic import SyntheticSpec, seed_synthetic, validate_spec
from renraku.settings import load_settings
from renraku.teams.models import Patient, TeamMembership

EXIT_USAGE = 2


def register_synthetic(seed_sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add `synthetic` to the `renraku seed` subcommands."""
    parser = seed_sub.add_parser(
        "synthetic",
        help="generate a realistic world at any scale (synthetic accounts cannot sign in)",
    )
    parser.add_argument("--patients", type=int, required=True)
    parser.add_argument("--professionals", type=int, required=True)
    parser.add_argument(
        "--posts", type=int, default=0, help="posts spread over the patients, with receipts"
    )
    parser.add_argument(
        "--big-timeline",
        type=int,
        default=0,
        metavar="N",
        help="N more posts on one patient of their own (a timeline to measure paging on)",
    )
    parser.add_argument("--seed", type=int, default=0, help="the same seed gives the same world")
    parser.add_argument(
        "--focus",
        metavar="CODE",
        help="a municipality (6-digit code) that gets --focus-share of the patients",
    )
    parser.add_argument(
        "--focus-share",
        type=float,
        default=0.9,
        metavar="SHARE",
        help="the focus municipality's share of the patients, 0 to 1 (default 0.9)",
    )
    parser.set_defaults(func=_cmd_seed_synthetic)


def _cmd_seed_synthetic(args: argparse.Namespace) -> int:
    settings = load_settings()
    if settings.is_production:
        print("Refusing to load synthetic data in production mode.", file=sys.stderr)
        return EXIT_USAGE
    spec = SyntheticSpec(
        patients=args.patients,
        professionals=args.professionals,
        seed=args.seed,
        posts=args.posts,
        # 0 is the default (none); a negative size is left to validate_spec to refuse.
        big_timelines=(args.big_timeline,) if args.big_timeline else (),
        focus=args.focus,
        focus_share=args.focus_share if args.focus else 0.0,
    )
    try:
        validate_spec(spec)
    except BadInput as error:
        print(f"--{error.field}: {error}", file=sys.stderr)
        return EXIT_USAGE

    async def run() -> None:
        db = Database.from_url(settings.database_url)
        try:
            result = await seed_synthetic(db, spec, progress=True)
        finally:
            await db.dispose()
        count = {
            model: result.counts[table_of(model).name]
            for model in (Patient, User, Organisation, TeamMembership, Post, PostRead)
        }
        print(
            f"Synthetic world loaded (seed {spec.seed}): {count[Patient]:,} patients, "
            f"{count[User]:,} professionals, {count[Organisation]:,} organisations, "
            f"{count[TeamMembership]:,} team memberships, {count[Post]:,} posts with "
            f"{count[PostRead]:,} read receipts; {result.rows:,} rows in {result.seconds:.1f} s."
        )

    asyncio.run(run())
    return 0
