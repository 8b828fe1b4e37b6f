"""`renraku seed synthetic`: a realistic world at any scale, bulk-loaded straight into the tables.

    build_world (numpy: who works and lives where, who is on whose team, who posted what)
      -> generate (table rows in batches, ids pre-assigned; a post's feed event follows it)
      -> write_batches (COPY on PostgreSQL, executemany on SQLite), one transaction
      -> one audit record for the whole run

It bypasses the per-action code on purpose: at 410,000 patients that code would take hours. The
rows are the ones the ORM would write; the tests read them back through the normal services.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from renraku.accounts.models import Municipality, Organisation, OrganisationMember, User
from renraku.audit import chain, changes
from renraku.db import Database
from renraku.errors import BadInput
from renraku.feed.events import lock_event_log
from renraku.feed.models import FeedEvent, Post, PostAcknowledgement, PostRead
from renraku.geo import municipalities
from renraku.seed.batches import Formats, table_of, uncovered_columns
from renraku.seed.bulk import bulk_transaction, reset_sequences, start_ids, write_batches
from renraku.seed.rows import generate
from renraku.seed.world import SyntheticSpec, World, build_world
from renraku.teams.models import Consent, Patient, PatientContact, RiskProfile, TeamMembership

# Ten times the reference scale is 410,000 / 230,000; the caps leave room above it and keep a
# typo from asking for more memory than a server has.
MAX_PATIENTS = 5_000_000
MAX_PROFESSIONALS = 3_000_000
MAX_SEED = 2**63 - 1
MIN_TEAM_POOL = 4
# Posts in all, big timelines included: about four rows each with events and receipts, and
# ten times the reference scale for a year is some 20 million.
MAX_POSTS = 25_000_000
MAX_BIG_TIMELINES = 10

__all__ = ["SeedResult", "SyntheticSpec", "seed_synthetic", "table_totals", "validate_spec"]


@dataclass(frozen=True)
class SeedResult:
    counts: dict[str, int]  # rows written per table
    seconds: float

    @property
    def rows(self) -> int:
        return sum(self.counts.values())


def validate_spec(spec: SyntheticSpec) -> None:
    """BadInput unless `spec` asks for a world that can be built."""
    if not 0 <= spec.patients <= MAX_PATIENTS:
        raise BadInput(f"patients must be between 0 and {MAX_PATIENTS:,}", field="patients")
    if not 0 <= spec.professionals <= MAX_PROFESSIONALS:
        raise BadInput(
            f"professionals must be between 0 and {MAX_PROFESSIONALS:,}", field="professionals"
        )
    if spec.patients and spec.professionals < MIN_TEAM_POOL:
        raise BadInput(
            f"a care team needs at least {MIN_TEAM_POOL} professionals", field="professionals"
        )
    if spec.focus is not None and spec.focus not in municipalities():
        raise BadInput(f"{spec.focus!r} is not a known municipality code", field="focus")
    if not 0.0 <= spec.focus_share <= 1.0:
        raise BadInput("the focus share is between 0 and 1", field="focus-share")
    if not 0 <= spec.seed <= MAX_SEED:
        raise BadInput("seed must be between 0 and 2**63-1", field="seed")
    big = spec.big_timelines
    if len(big) > MAX_BIG_TIMELINES or any(not 0 < n <= MAX_POSTS for n in big):
        raise BadInput(
            f"at most {MAX_BIG_TIMELINES} big timelines of 1 to {MAX_POSTS:,} posts",
            field="big-timeline",
        )
    if not 0 <= spec.posts <= MAX_POSTS - sum(big):
        raise BadInput(f"posts must be between 0 and {MAX_POSTS:,} in all", field="posts")
    # A big timeline takes a patient of its own; spread posts need one more.
    if spec.patients < len(big) + (1 if spec.posts else 0):
        field = "posts" if spec.posts else "big-timeline"
        raise BadInput("posts need patients to be about", field=field)


def table_totals(world: World, new_codes: set[str]) -> dict[str, int]:
    """How many rows each table will get, in the order they are written."""
    counts = world.counts()
    patients, professionals = counts["patients"], counts["professionals"]
    totals = {
        Municipality: len(new_codes),
        Organisation: counts["organisations"],
        User: professionals,
        OrganisationMember: professionals,
        Patient: patients,
        RiskProfile: patients,
        PatientContact: counts["contacts"],
        Consent: counts["consents"],
        TeamMembership: counts["memberships"],
        Post: counts["posts"],
        FeedEvent: counts["posts"],
        PostRead: counts["receipts"],
        PostAcknowledgement: counts["acknowledgements"],
    }
    return {table_of(model).name: count for model, count in totals.items()}


async def seed_synthetic(
    db: Database, spec: SyntheticSpec, *, progress: bool = False
) -> SeedResult:
    """Generate the world for `spec` and load it into `db` in one transaction, audited once."""
    validate_spec(spec)
    missing = uncovered_columns()
    if missing:
        raise RuntimeError(f"the synthetic generator does not fill {', '.join(missing)}")
    began = time.perf_counter()
    world = await asyncio.to_thread(build_world, spec)
    async with db.engine.connect() as conn, bulk_transaction(conn) as raw:
        async with AsyncSession(bind=conn) as session:
            # The locks a post's transaction takes, in its order (audit chain, then event log),
            # held to commit: no post made meanwhile can take a feed event id among ours.
            await chain.lock_chain(session)
            await lock_event_log(session)
        start = await start_ids(conn)
        known = set((await conn.execute(select(col(Municipality.code)))).scalars())
        new_codes = set(world.codes) - known
        written = await write_batches(
            conn,
            raw,
            generate(world, start, Formats(conn.dialect), new_codes=new_codes),
            totals=table_totals(world, new_codes),
            progress=progress,
        )
        await reset_sequences(conn)
        counts = {name: written[name] for name in table_totals(world, new_codes)}
        async with AsyncSession(bind=conn) as session:
            await changes.record(
                session,
                actor=None,
                action="seed.synthetic",
                detail={
                    "seed": spec.seed,
                    "today": spec.today.isoformat(),
                    "requested": {
                        "patients": spec.patients,
                        "professionals": spec.professionals,
                        "posts": spec.posts,
                        "big_timelines": list(spec.big_timelines),
                        "focus": spec.focus,
                        "focus_share": spec.focus_share,
                    },
                    "rows": counts,
                },
            )
    return SeedResult(counts=counts, seconds=time.perf_counter() - began)
