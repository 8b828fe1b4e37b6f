"""What a batch of events needs read from the database before it is dispatched: who may see
each event's patient, and the rows the events name (two or three queries for the batch)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sqlmodel import col, select

from renraku.access.notebook import Scope, scope_of
from renraku.access.scopes import roles_by_patient
from renraku.accounts.models import User
from renraku.accounts.service import users_by_id
from renraku.feed import events as feed_events
from renraku.feed.models import FeedEvent, Post
from renraku.feed.receipts import Unread, unread_by_key
from renraku.kinds import FeedEventKind
from renraku.loaders import Loaders
from renraku.realtime.subscriptions import NO_ROLES
from renraku.runtime import Runtime
from renraku.teams.models import Patient as PatientRow
from renraku.teams.service import live_patients


@dataclass
class Batch:
    """Who may see each patient, and the rows the events name."""

    roles: dict[int, dict[int, frozenset[str]]]
    posts: dict[int, Post]
    users: dict[int, User]
    # The patients whose roles and events' rows were read.
    patients: frozenset[int] = frozenset()
    # For subscribers with fields of their own: the patients' rows and their unread counts.
    patient_rows: dict[int, PatientRow] = field(default_factory=dict)
    unread: dict[tuple[int, int, Scope], Unread] = field(default_factory=dict)

    @classmethod
    async def read(
        cls,
        session: Any,
        patients: set[int],
        events: list[FeedEvent],
        own_fields_heard: Callable[[int], set[int]] | None = None,
    ) -> Batch:
        roles = await roles_by_patient(session, sorted(patients))
        posts, users = await rows_named(session, [e for e in events if e.patient_id in patients])
        batch = cls(roles=roles, posts=posts, users=users, patients=frozenset(patients))
        if own_fields_heard is not None:
            await batch._read_own(session, own_fields_heard)
        return batch

    async def _read_own(self, session: Any, heard: Callable[[int], set[int]]) -> None:
        wanted: dict[tuple[int, int], Scope] = {}
        for patient_id in self.patients:
            on_patient = self.roles.get(patient_id, {})
            for user_id in heard(patient_id) & on_patient.keys():
                scope = scope_of(on_patient[user_id])
                if scope is not None:
                    wanted[(user_id, patient_id)] = scope
        if not wanted:
            return
        self.unread = await unread_by_key(session, [(u, p, s) for (u, p), s in wanted.items()])
        self.patient_rows = await live_patients(session, {p for _, p in wanted})

    def merged(self, other: Batch) -> Batch:
        return Batch(
            roles={**self.roles, **other.roles},
            posts={**self.posts, **other.posts},
            users={**self.users, **other.users},
            patients=self.patients | other.patients,
            patient_rows={**self.patient_rows, **other.patient_rows},
            unread={**self.unread, **other.unread},
        )

    def loaders(self, runtime: Runtime, scope: Scope) -> Loaders:
        """Loaders holding the batch's rows, for readers with `scope`: family see no post that
        is not shared with them now, even through an event from when it was."""
        loaders = Loaders(runtime.db, family=scope is Scope.FAMILY)
        loaders.prime_posts(self.posts)
        loaders.users.prime_many(self.users)
        loaders.patients.prime_many(self.patient_rows)
        loaders.unread.prime_many(self.unread)
        return loaders


def kind_of(event: FeedEvent) -> FeedEventKind:
    return FeedEventKind(event.kind.removeprefix(feed_events.EVENT_PREFIX))


def removed_subject(event: FeedEvent, roles: dict[int, frozenset[str]]) -> int | None:
    """The user a MEMBERSHIP_CHANGED event is about, if they no longer may see the patient:
    they are sent that one event, carrying the patient's id only, so a phone can wipe what it
    holds of the patient."""
    subject = event.subject_user_id
    if kind_of(event) is not FeedEventKind.MEMBERSHIP_CHANGED or subject is None:
        return None
    return subject if scope_of(roles.get(subject, NO_ROLES)) is None else None


def wiped(event: FeedEvent) -> FeedEvent:
    """The event with nothing but its kind, cursor, time and patient id."""
    return FeedEvent(
        id=event.id,
        patient_id=event.patient_id,
        kind=event.kind,
        audience=event.audience,
        created_at=event.created_at,
    )


async def rows_named(
    session: Any, events: list[FeedEvent]
) -> tuple[dict[int, Post], dict[int, User]]:
    """The posts `events` name and the people they name (the posts' authors, the events'
    subjects): posts and authors in one query, subjects not among them in a second."""
    post_ids = sorted({e.post_id for e in events if e.post_id})
    posts: dict[int, Post] = {}
    users: dict[int, User] = {}
    if post_ids:
        rows = await session.exec(
            select(Post, User)
            .join(User, col(User.id) == Post.author_id)
            .where(col(Post.id).in_(post_ids))
        )
        for post, author in rows.all():
            posts[post.id] = post
            users[author.id] = author
    subjects = {e.subject_user_id for e in events if e.subject_user_id is not None}
    users.update(await users_by_id(session, subjects - users.keys()))
    return posts, users
