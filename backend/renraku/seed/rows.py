"""Turn a synthetic World into table rows, in batches, in foreign-key order.

Ids are assigned here, after the largest id already in each table, so the loader needs no round
trip to learn them.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, time, timedelta
from itertools import repeat
from typing import Any

import numpy as np

from renraku.accounts.models import Municipality, Organisation, OrganisationMember, User
from renraku.feed.models import FeedEvent, Post, PostAcknowledgement, PostRead
from renraku.geo import municipalities
from renraku.kinds import UserKind
from renraku.seed import names
from renraku.seed.batches import Batch, Formats, Row, StartIds, batches, lookup, spans, table_of
from renraku.seed.patient_rows import YOUNGER_GIVEN, PatientRows, full_names
from renraku.seed.post_rows import NotebookRows
from renraku.seed.world import ORG_KINDS, PROFESSIONS, World
from renraku.teams.models import Consent, Patient, PatientContact, RiskProfile, TeamMembership


def generate(
    world: World, start: StartIds, formats: Formats, *, new_codes: set[str]
) -> Iterator[Batch]:
    """Every row of the world, table by table in foreign-key order, in batches."""
    info = municipalities()
    anchor = datetime.combine(world.spec.today, time(0), UTC)
    # Organisations and accounts were set up a while before the patients arrived.
    setup_at = formats.ts(anchor - timedelta(days=1500, hours=-9))
    yield from batches(
        table_of(Municipality),
        [
            [
                (c, info[c].name, info[c].name_kana, info[c].name_en, info[c].prefecture)
                for c in world.codes
                if c in new_codes
            ]
        ],
    )
    yield from batches(table_of(Organisation), _organisations(world, start, setup_at))
    first_user = start.user + 1
    yield from batches(table_of(User), _users(world, first_user, setup_at))
    org_ids = world.pro_organisation + start.organisation + 1
    yield from batches(
        table_of(OrganisationMember),
        (
            list(zip(org_ids[a:b].tolist(), range(first_user + a, first_user + b), strict=True))
            for a, b in spans(len(org_ids))
        ),
    )
    rows = PatientRows(world, start, formats, anchor)
    yield from batches(table_of(Patient), rows.patients())
    yield from batches(table_of(RiskProfile), rows.risks())
    yield from batches(table_of(PatientContact), rows.contacts())
    yield from batches(table_of(Consent), rows.consents())
    yield from batches(table_of(TeamMembership), rows.memberships())
    notebook = NotebookRows(world.notebook, start, formats, anchor)
    yield from batches(table_of(Post), notebook.posts())
    yield from batches(table_of(FeedEvent), notebook.events())
    yield from batches(table_of(PostRead), notebook.reads())
    yield from batches(table_of(PostAcknowledgement), notebook.acknowledgements())


def _organisations(world: World, start: StartIds, setup_at: Any) -> Iterator[list[Row]]:
    cities = [municipalities()[c].name for c in world.codes]
    rows = []
    for i, (m, k, stem, pick) in enumerate(
        zip(
            world.org_municipality.tolist(),
            world.org_kind.tolist(),
            world.org_stem.tolist(),
            world.org_template.tolist(),
            strict=True,
        )
    ):
        kind = ORG_KINDS[k].value
        templates = names.ORGANISATION_NAMES[kind]
        name = templates[pick % len(templates)].format(stem=names.STEMS[stem], city=cities[m])
        org_id = start.organisation + 1 + i
        rows.append((org_id, f"syn-org-{org_id}", name, kind, world.codes[m], setup_at))
    for a, b in spans(len(rows)):
        yield rows[a:b]


def _users(world: World, first_id: int, setup_at: Any) -> Iterator[list[Row]]:
    offset = np.where(world.pro_female, 0, len(names.YOUNGER_FEMALE))
    name = world.pro_surname * len(YOUNGER_GIVEN) + world.pro_given + offset
    written, reading = full_names(YOUNGER_GIVEN, 0)[name], full_names(YOUNGER_GIVEN, 1)[name]
    professions = lookup([p.value for p in PROFESSIONS])[world.pro_profession]
    codes = lookup(list(world.codes))[world.pro_municipality]
    for a, b in spans(len(name)):
        ids = range(first_id + a, first_id + b)
        yield list(
            zip(
                ids,
                [f"syn.{i}" for i in ids],
                written[a:b].tolist(),
                reading[a:b].tolist(),
                repeat(UserKind.PROFESSIONAL.value),
                professions[a:b].tolist(),
                codes[a:b].tolist(),
                repeat(False),
                repeat(True),
                repeat(setup_at),
            )
        )
