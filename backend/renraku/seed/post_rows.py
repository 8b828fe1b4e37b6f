"""Rows of the notebook tables: posts, their feed events, read receipts, acknowledgements.

Post i of the Notebook gets id `start.post + 1 + i` and feed event `start.feed_event + 1 + i`,
so event ids follow post ids and a cursor replays the posts in order. A body is picked by index
from every text the templates can write (a few thousand), so millions of posts share them; a
vitals post's body is written from its values.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from itertools import repeat

import numpy as np
from numpy.typing import NDArray

from renraku.feed.events import event_name
from renraku.feed.vitals import validate_vitals
from renraku.kinds import FeedAudience, FeedEventKind, PostCategory
from renraku.seed import post_texts
from renraku.seed.batches import Formats, Row, StartIds, lookup, spans
from renraku.seed.notebook import CATEGORIES, VITAL_NAMES, Notebook

VITALS = CATEGORIES.index(PostCategory.VITALS)
# The audience of a post's events, as feed/posts.py audience_of decides it (tests hold them equal).
AUDIENCES = lookup([FeedAudience.PROFESSIONALS.value, FeedAudience.TEAM.value])


class NotebookRows:
    def __init__(
        self, notebook: Notebook, start: StartIds, formats: Formats, anchor: datetime
    ) -> None:
        self.nb = notebook
        self.start = start
        self.formats = formats
        self.anchor = anchor
        self.first_post = start.post + 1
        self.first_patient = start.patient + 1
        self.first_user = start.user + 1

    def _times(self, seconds: NDArray[np.int64]) -> list[object]:
        return self.formats.times(self.anchor, seconds)

    def _bodies(self) -> tuple[NDArray[np.object_], NDArray[np.int64]]:
        """Every text, and each post's index into them (a vitals post's is written later)."""
        nb = self.nb
        texts, where = post_texts.every_body()
        everything = lookup([*texts, *post_texts.REPLIES, ""])
        # Per category: (start, n0, n1, n2); vitals posts point at the empty text for now.
        blank = (len(everything) - 1, 1, 1, 1)
        table = np.array([where.get(c, blank) for c in CATEGORIES], dtype=np.int64)
        start, n0, n1, n2 = (table[nb.category, k] for k in range(4))
        p = nb.parts
        index: NDArray[np.int64] = start + p[:, 0] % n0 * n1 * n2 + p[:, 1] % n1 * n2 + p[:, 2] % n2
        replies = nb.reply_to >= 0
        index[replies] = len(texts) + p[replies, 0] % len(post_texts.REPLIES)
        return everything, index

    def posts(self) -> Iterator[list[Row]]:
        nb, json = self.nb, self.formats.json
        categories = lookup([c.value for c in CATEGORIES])
        texts, bodies = self._bodies()
        no_flags = json([])
        measured = np.flatnonzero((nb.category == VITALS) & (nb.reply_to < 0))
        for a, b in spans(len(nb.patient)):
            ids = range(self.first_post + a, self.first_post + b)
            body = texts[bodies[a:b]]
            vitals = lookup([None] * (b - a))
            flags = lookup([no_flags] * (b - a))
            # The service's own check turns the drawn values into what it would store and flag.
            for i in measured[np.searchsorted(measured, a) : np.searchsorted(measured, b)]:
                row = nb.vitals[i].tolist()
                # NaN (v != v) marks a vital not measured.
                drawn = {n: v for n, v in zip(VITAL_NAMES, row, strict=True) if v == v}
                checked, flagged = validate_vitals(drawn, prefix="")
                vitals[i - a], flags[i - a] = json(checked), json(flagged)
                body[i - a] = post_texts.vitals_body(checked, flagged, int(nb.parts[i, 0]))
            reply_to = nb.reply_to[a:b]
            yield list(
                zip(
                    ids,
                    (nb.patient[a:b] + self.first_patient).tolist(),
                    (nb.author[a:b] + self.first_user).tolist(),
                    [f"syn-{i}" for i in ids],
                    categories[nb.category[a:b]].tolist(),
                    body.tolist(),
                    vitals.tolist(),
                    flags.tolist(),
                    nb.urgent[a:b].tolist(),
                    nb.family[a:b].tolist(),
                    [None if r < 0 else r + self.first_post for r in reply_to.tolist()],
                    self._times(nb.seconds[a:b]),
                    repeat(1),
                    repeat(""),
                )
            )

    def events(self) -> Iterator[list[Row]]:
        nb = self.nb
        first_event = self.start.feed_event + 1
        kind = event_name(FeedEventKind.POST_CREATED)
        audiences = AUDIENCES[nb.family.astype(np.int64)]
        for a, b in spans(len(nb.patient)):
            yield list(
                zip(
                    range(first_event + a, first_event + b),
                    (nb.patient[a:b] + self.first_patient).tolist(),
                    repeat(kind),
                    audiences[a:b].tolist(),
                    range(self.first_post + a, self.first_post + b),
                    (nb.author[a:b] + self.first_user).tolist(),
                    self._times(nb.seconds[a:b]),
                )
            )

    def reads(self) -> Iterator[list[Row]]:
        nb = self.nb
        for a, b in spans(len(nb.read_post)):
            post = nb.read_post[a:b]
            yield list(
                zip(
                    (post + self.first_post).tolist(),
                    (nb.read_user[a:b] + self.first_user).tolist(),
                    (nb.patient[post] + self.first_patient).tolist(),
                    self._times(nb.read_seconds[a:b]),
                    strict=True,
                )
            )

    def acknowledgements(self) -> Iterator[list[Row]]:
        nb = self.nb
        which = np.flatnonzero(nb.acknowledged)
        for a, b in spans(len(which)):
            picked = which[a:b]
            yield list(
                zip(
                    (nb.read_post[picked] + self.first_post).tolist(),
                    (nb.read_user[picked] + self.first_user).tolist(),
                    self._times(nb.acknowledged_seconds[picked]),
                    strict=True,
                )
            )
