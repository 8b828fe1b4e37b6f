"""The application's start-up: what it allocated is kept out of later collections, and young
collections are spaced out so a feed batch's rows die young (app.py)."""

from __future__ import annotations

import gc

from renraku.app import GC_YOUNG_THRESHOLD, build_app
from renraku.db import Database
from renraku.runtime import build_runtime
from renraku.settings import Settings
from tests.support.databases import one_database


@one_database
async def test_start_up_freezes_what_it_allocated_and_spaces_young_collections(
    settings: Settings,
) -> None:
    before = gc.get_threshold()
    gc.unfreeze()  # whatever an earlier test froze
    app = build_app(runtime=build_runtime(settings, Database.from_url(settings.database_url)))
    try:
        async with app.router.lifespan_context(app):
            assert gc.get_threshold() == (GC_YOUNG_THRESHOLD, *before[1:])
            assert gc.get_freeze_count() > 0
    finally:
        gc.set_threshold(*before)
