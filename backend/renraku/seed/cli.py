"""`renraku seed synthetic --patients N --professionals M [--posts K] [--seed S]`."""

from __future__ import annotations

import argparse
import asyncio
import sys

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
        "--posts", type=int, default=0, help="posts to generate (needs the notebook feed)"
    )
    parser.add_argument("--seed", type=int, default=0, help="the same seed gives the same world")
    parser.set_defaults(func=_cmd_seed_synthetic)


def _cmd_seed_synthetic(args: argparse.Namespace) -> int:
    from renraku.accounts.models import Organisation, User
    from renraku.db import Database
    from renraku.errors import BadInput
    from renraku.seed.batches import table_of
    from renraku.seed.synthetic import SyntheticSpec, check_spec, seed_synthetic
    from renraku.settings import load_settings
    from renraku.teams.models import Patient, TeamMembership

    if args.posts != 0:
        print("posts need the notebook feed (not built yet)", file=sys.stderr)
        return EXIT_USAGE
    settings = load_settings()
    if settings.is_production:
        print("Refusing to load synthetic data in production mode.", file=sys.stderr)
        return EXIT_USAGE
    spec = SyntheticSpec(patients=args.patients, professionals=args.professionals, seed=args.seed)
    try:
        check_spec(spec)
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
            for model in (Patient, User, Organisation, TeamMembership)
        }
        print(
            f"Synthetic world loaded (seed {spec.seed}): {count[Patient]:,} patients, "
            f"{count[User]:,} professionals, {count[Organisation]:,} organisations, "
            f"{count[TeamMembership]:,} team memberships; {result.rows:,} rows "
            f"in {result.seconds:.1f} s."
        )

    asyncio.run(run())
    return 0
