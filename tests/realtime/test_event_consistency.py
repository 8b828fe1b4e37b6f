"""The event invariant: state before + events received = state read back after.

A seeded random sequence of notebook and team actions goes through GraphQL (posts, edits,
retractions, read receipts, acknowledgements, members joining and leaving, and some actions the
server must refuse) while dr.suzuki follows `myEvents`. The notebook rebuilt from what arrived
must equal what queries read back; a replay from the first cursor must bring the same events.
"""

from __future__ import annotations

import random
import uuid
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.support.graphql import DEMO, GraphQLClient
from tests.support.graphql_ws import Socket, create_post, go_live, open_socket
from tests.support.server import Server, patient_ids, serving, user_id

SEED = 20260501
ACTIONS = 160
PATIENTS = ("pt-ito-haru", "pt-okamoto-fumi", "pt-hattori-kiyo")
SUBSCRIBER, COORDINATOR = "dr.suzuki", "cm.tanaka"  # on all three teams, never taken off
# People the coordinator puts on and takes off the teams.
MOVING = ("pt.yoshida", "helper.nakamura", "nurse.sato", "helper.kobayashi")
FAMILY = {"pt-ito-haru": "family.ito"}
INSTRUCTING = {"doctor", "nurse", "pharmacist", "care_manager", "physical_therapist"}
CATEGORIES = ("VISIT_REPORT", "MEDICATION", "MEALS", "MOOD", "OTHER", "INSTRUCTION")
REFUSALS = {"FORBIDDEN", "NOT_FOUND", "BAD_USER_INPUT"}

EVENTS = """
subscription($after: String) {
  myEvents(after: $after) {
    cursor kind patientId subjectUser { username } post { id author { username } }
  }
}
"""
STATE = """
query($id: ID!, $after: String) {
  patient(id: $id) {
    careTeam { members { user { username } } }
    timeline(first: 100, after: $after) {
      edges { node {
        id revision retractedAt author { username }
        readBy { user { username } } acknowledgedBy { user { username } }
      } }
      pageInfo { hasNextPage endCursor }
    }
  }
}
"""
EDIT = "mutation($i: EditPostInput!) { editPost(input: $i) { id } }"
RETRACT = "mutation($p: ID!, $r: String!) { retractPost(postId: $p, reason: $r) { id } }"
READ = "mutation($ids: [ID!]!) { markPostsRead(postIds: $ids) }"
ACKNOWLEDGE = "mutation($p: ID!) { acknowledgePost(postId: $p) { id } }"
ADD = (
    "mutation($p: ID!, $u: ID!) { addTeamMember(patientId: $p, userId: $u, role: MEMBER) { role } }"
)
END = """
mutation($p: ID!, $u: ID!) {
  endTeamMembership(patientId: $p, userId: $u, reason: "担当変更") { role }
}
"""


@dataclass
class PostState:
    patient: str
    author: str
    revision: int = 1
    retracted: bool = False
    read_by: set[str] = field(default_factory=set)
    acknowledged_by: set[str] = field(default_factory=set)


@dataclass
class Notebook:
    """What a client holds: each patient's team, and every post with its receipts."""

    teams: dict[str, set[str]] = field(default_factory=dict)
    posts: dict[str, PostState] = field(default_factory=dict)

    def apply(self, event: dict[str, Any]) -> None:
        kind, patient = event["kind"], event["patientId"]
        subject: str = (event.get("subjectUser") or {}).get("username", "")
        post = event.get("post")
        if kind == "MEMBERSHIP_CHANGED":
            assert subject, event
            self.teams[patient] ^= {subject}  # joined if absent, left if present
            return
        assert post is not None, event
        if kind == "POST_CREATED":
            assert post["id"] not in self.posts, event
            self.posts[post["id"]] = PostState(patient, post["author"]["username"])
            return
        state = self.posts[post["id"]]
        assert state.patient == patient, event
        if kind == "POST_EDITED":
            state.revision += 1
        elif kind == "POST_RETRACTED":
            assert not state.retracted, event
            state.retracted = True
        elif kind == "POST_READ":
            assert subject not in state.read_by, event
            state.read_by.add(subject)
        elif kind == "POST_ACKNOWLEDGED":
            assert subject not in state.acknowledged_by, event
            state.acknowledged_by.add(subject)
        else:
            raise AssertionError(f"unexpected event {event}")


async def read_notebook(client: GraphQLClient, patients: dict[str, str]) -> Notebook:
    notebook = Notebook()
    for patient in patients.values():
        after = None
        while True:
            result = await client.execute(STATE, {"id": patient, "after": after})
            assert "errors" not in result, result
            found = result["data"]["patient"]
            notebook.teams[patient] = {m["user"]["username"] for m in found["careTeam"]["members"]}
            for edge in found["timeline"]["edges"]:
                node = edge["node"]
                notebook.posts[node["id"]] = PostState(
                    patient,
                    node["author"]["username"],
                    node["revision"],
                    node["retractedAt"] is not None,
                    {r["user"]["username"] for r in node["readBy"]},
                    {r["user"]["username"] for r in node["acknowledgedBy"]},
                )
            page = found["timeline"]["pageInfo"]
            if not page["hasNextPage"]:
                break
            after = page["endCursor"]
    return notebook


@dataclass
class Written:
    id: str
    patient: str
    author: str
    category: str
    family: bool
    retracted: bool = False


class Actions:
    """Chooses plausible actions from what the test has done so far (the server may still
    refuse some, and a few are meant to be refused) and counts how each ended."""

    def __init__(
        self,
        rng: random.Random,
        clients: dict[str, GraphQLClient],
        patients: dict[str, str],
        users: dict[str, str],
    ) -> None:
        self.rng = rng
        self.clients = clients
        self.patients = patients
        self.users = users
        self.professions = {a["username"]: a.get("profession") for a in DEMO["accounts"]}
        self.teams: dict[str, set[str]] = {
            patients[p["key"]]: set(p["team"]) for p in DEMO["patients"] if p["key"] in patients
        }
        self.family = {patients[key]: name for key, name in FAMILY.items()}
        self.posts: list[Written] = []
        self.outcomes: Counter[tuple[str, str]] = Counter()

    async def run(self, name: str, who: str, query: str, variables: dict[str, Any]) -> bool:
        result = await self.clients[who].execute(query, variables)
        if "errors" in result:
            codes = {e.get("extensions", {}).get("code") for e in result["errors"]}
            assert codes <= REFUSALS, result  # refused, never broken
            self.outcomes[(name, "refused")] += 1
            return False
        self.outcomes[(name, "done")] += 1
        return True

    async def step(self) -> None:
        name = self.rng.choices(
            ["post", "edit", "retract", "read", "acknowledge", "member", "refused"],
            weights=[30, 12, 6, 20, 10, 8, 4],
        )[0]
        await getattr(self, name)()

    def _member(self, patient: str) -> str:
        members: list[str] = sorted(self.teams[patient])
        return self.rng.choice(members)

    def _visible(self, patient: str, reader: str) -> list[Written]:
        family = reader == self.family.get(patient)
        return [p for p in self.posts if p.patient == patient and (p.family or not family)]

    async def post(self) -> None:
        patient = self.rng.choice(sorted(self.teams))
        author = self._member(patient)
        family = self.rng.random() < 0.3
        if patient in self.family and self.rng.random() < 0.15:
            author, family = self.family[patient], True
        allowed = [
            c
            for c in CATEGORIES
            if c != "INSTRUCTION" or self.professions.get(author) in INSTRUCTING
        ]
        category = self.rng.choice(allowed)
        draft = {
            "patientId": patient,
            "clientId": uuid.uuid4().hex,
            "category": category,
            "body": f"記録 {len(self.posts)}",
            "visibleToFamily": family,
        }
        query = "mutation($i: CreatePostInput!) { createPost(input: $i) { id } }"
        result = await self.clients[author].execute(query, {"i": draft})
        if "errors" in result:
            self.outcomes[("post", "refused")] += 1
            return
        self.outcomes[("post", "done")] += 1
        post_id = result["data"]["createPost"]["id"]
        self.posts.append(Written(post_id, patient, author, category, family))

    async def edit(self) -> None:
        mine = [p for p in self.posts if not p.retracted]
        if mine:
            post = self.rng.choice(mine)
            edit = {"postId": post.id, "body": f"訂正 {self.rng.randrange(10**6)}"}
            await self.run("edit", post.author, EDIT, {"i": edit})

    async def retract(self) -> None:
        live = [p for p in self.posts if not p.retracted]
        if live:
            post = self.rng.choice(live)
            who = post.author if self.rng.random() < 0.7 else COORDINATOR
            if await self.run("retract", who, RETRACT, {"p": post.id, "r": "誤記のため"}):
                post.retracted = True

    async def read(self) -> None:
        patient = self.rng.choice(sorted(self.teams))
        reader = self._member(patient)
        if patient in self.family and self.rng.random() < 0.2:
            reader = self.family[patient]
        visible = self._visible(patient, reader)
        if visible:
            chosen = self.rng.sample(visible, min(len(visible), self.rng.randint(1, 4)))
            await self.run("read", reader, READ, {"ids": [p.id for p in chosen]})

    async def acknowledge(self) -> None:
        instructions = [p for p in self.posts if p.category == "INSTRUCTION" and not p.retracted]
        if instructions:
            post = self.rng.choice(instructions)
            others = sorted(self.teams[post.patient] - {post.author})
            await self.run("acknowledge", self.rng.choice(others), ACKNOWLEDGE, {"p": post.id})

    async def member(self) -> None:
        patient = self.rng.choice(sorted(self.teams))
        moving = self.rng.choice(MOVING)
        variables = {"p": patient, "u": self.users[moving]}
        if moving in self.teams[patient]:
            if await self.run("member", COORDINATOR, END, variables):
                self.teams[patient].discard(moving)
        elif await self.run("member", COORDINATOR, ADD, variables):
            self.teams[patient].add(moving)

    async def refused(self) -> None:
        """Something the server must refuse, changing nothing."""
        patient = self.rng.choice(sorted(self.teams))
        outsider = self.rng.choice([m for m in MOVING if m not in self.teams[patient]] or [None])
        own = [p for p in self.posts if p.category == "INSTRUCTION"]
        choices = [
            ("retract", "helper.kobayashi", RETRACT, {"p": "UG9zdDoxMDAwMDAw", "r": "x"}),
            ("edit", SUBSCRIBER, EDIT, {"i": {"postId": self.posts[0].id, "body": ""}})
            if self.posts
            else None,
            ("acknowledge", own[0].author, ACKNOWLEDGE, {"p": own[0].id}) if own else None,
            ("read", outsider, READ, {"ids": [p.id for p in self._visible(patient, "")][:1]})
            if outsider and self._visible(patient, "")
            else None,
        ]
        name, who, query, variables = self.rng.choice([c for c in choices if c is not None])
        assert not await self.run(name, who, query, variables)


async def read_events(ws: Socket, sub_id: str, until_post: str) -> list[dict[str, Any]]:
    events = []
    while True:
        event = await ws.next_event(sub_id)
        events.append(event)
        if event["kind"] == "POST_CREATED" and event["post"]["id"] == until_post:
            return events


@pytest.fixture
async def server(database_url: str, tmp_path: Path) -> AsyncIterator[Server]:
    with serving(database_url, cwd=tmp_path) as running:
        yield running


async def test_the_notebook_rebuilt_from_events_equals_what_queries_read_back(
    server: Server,
) -> None:
    rng = random.Random(SEED)
    names = {SUBSCRIBER, COORDINATOR, *MOVING, *FAMILY.values()}
    names |= {u for p in DEMO["patients"] if p["key"] in PATIENTS for u in p["team"]}
    async with server.client() as http:
        anonymous = GraphQLClient(http)
        clients = {name: await anonymous.login(name) for name in sorted(names)}
        users = {name: await user_id(client) for name, client in clients.items()}
        seen = await patient_ids(clients[SUBSCRIBER])
        patients = {key: seen[key] for key in PATIENTS}
        subscriber = clients[SUBSCRIBER]

        async def probe() -> list[str]:
            return [await create_post(clients[COORDINATOR], patients[PATIENTS[0]], "開始")]

        async with open_socket(server.ws_url, token=subscriber.token) as ws:
            await ws.subscribe("live", EVENTS)
            await go_live([(ws, "live")], probe)
            start = ws.last_cursor("live")
            before = await read_notebook(subscriber, patients)

            actions = Actions(rng, clients, patients, users)
            for _ in range(ACTIONS):
                await actions.step()
            end = (await probe())[0]
            live = await read_events(ws, "live", end)
        after = await read_notebook(subscriber, patients)

        rebuilt = before
        for event in live:
            rebuilt.apply(event)
        assert rebuilt.teams == after.teams
        assert rebuilt.posts == after.posts

        # Every kind of action happened, and so did refusals.
        done = {name for (name, outcome) in actions.outcomes if outcome == "done"}
        assert done == {"post", "edit", "retract", "read", "acknowledge", "member"}
        assert sum(n for (_, outcome), n in actions.outcomes.items() if outcome == "refused")
        assert {e["kind"] for e in live} == {
            "POST_CREATED",
            "POST_EDITED",
            "POST_RETRACTED",
            "POST_READ",
            "POST_ACKNOWLEDGED",
            "MEMBERSHIP_CHANGED",
        }

        # A client that missed it all replays the same events, in the same order.
        async with open_socket(server.ws_url, token=subscriber.token) as ws:
            await ws.subscribe("replay", EVENTS, {"after": start})
            replayed = await read_events(ws, "replay", end)
        assert [_identity(e) for e in replayed] == [_identity(e) for e in live]


def _identity(event: dict[str, Any]) -> tuple[Any, ...]:
    return (
        event["cursor"],
        event["kind"],
        event["patientId"],
        (event.get("post") or {}).get("id"),
        (event.get("subjectUser") or {}).get("username"),
    )
