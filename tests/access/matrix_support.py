"""How the authorization matrix is run: the operations, what a GraphQL answer's outcome is, the
hand-written tables read, personas signed in, and the database pokes and reads that build each
relation and check that only allowed writes were stored."""

from __future__ import annotations

import enum
from collections import defaultdict
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import httpx
from sqlalchemy import update
from sqlmodel import col, func, select

from renraku.accounts.actions import do_create_session
from renraku.accounts.models import User
from renraku.audit.models import AuditRecord
from renraku.db import Database
from renraku.errors import NOT_FOUND_MESSAGE
from renraku.feed.models import Post, PostAcknowledgement, PostRead
from renraku.glass.models import GlassAccess
from renraku.ids import decode_id, encode_id
from renraku.kinds import UserKind
from renraku.runtime import Runtime
from renraku.teams.models import Invitation, TeamMembership
from renraku.timeutil import utcnow
from tests.support.concurrent import side_by_side
from tests.support.graphql import GraphQLClient


class Outcome(enum.Enum):
    ALLOW = "A"
    NOT_FOUND = "N"
    FORBIDDEN = "F"


def outcome_of(result: dict[str, Any], root: str, field: str | None = None) -> Outcome:
    """What a GraphQL answer says about one operation; fails on any other kind of answer.

    `root` is the operation's top-level field (or alias); `field` the one inside it under test,
    if any. A NOT_FOUND must be the one fixed answer, with nothing of the object in the data.
    """
    every = result.get("errors") or []
    assert all(e.get("path") for e in every), result
    errors = [e for e in every if e["path"][0] == root]
    data = result.get("data") or {}
    if not errors:
        value = data.get(root)
        assert value is not None, result
        if field is not None:
            assert value.get(field) is not None, result
        return Outcome.ALLOW
    assert len(errors) == 1, result
    error = errors[0]
    code = error.get("extensions", {}).get("code")
    if code == "NOT_FOUND":
        assert error["message"] == NOT_FOUND_MESSAGE, result
        assert error["extensions"] == {"code": "NOT_FOUND"}, result
        assert error.get("path") == [root], result
        assert data.get(root) is None, result
        return Outcome.NOT_FOUND
    if code == "FORBIDDEN":
        path = [root] if field is None else [root, field]
        assert error.get("path") == path, result
        return Outcome.FORBIDDEN
    raise AssertionError(f"neither allowed, not found nor forbidden: {result}")


@dataclass(frozen=True)
class Op:
    """One operation of the matrix: a GraphQL document over the shared variables (`$id` the
    patient, `$add`/`$end`/`$invite` the persona's bystanders, `$address` a new address)."""

    name: str
    document: str
    root: str
    field: str | None = None
    # What a successful write leaves in the audit log.
    action: str | None = None


# The reads, each under its own alias in one request, so that each answers for itself.
READS = """query($id: ID!) {
  read: patient(id: $id) { id displayName }
  risk: patient(id: $id) { id risk { careLevel } }
  cont: patient(id: $id) { id phone }
  team: patient(id: $id) { id careTeam { members { role } } }
  hist: patient(id: $id) { id accessHistory(first: 5) { edges { node { action } } } }
}"""
READ_OPS = (
    Op("read", READS, "read"),
    Op("risk", READS, "risk", "risk"),
    Op("cont", READS, "cont", "phone"),
    Op("team", READS, "team", "careTeam"),
    Op("hist", READS, "hist", "accessHistory"),
)
WRITE_OPS = (
    Op(
        "upd",
        """mutation($id: ID!, $address: String!) {
             updatePatient(id: $id, input: {address: $address}) { id } }""",
        "updatePatient",
        action="teams.patient_updated",
    ),
    Op(
        "rupd",
        "mutation($id: ID!) { updateRiskProfile(patientId: $id, input: {floor: 2}) { id } }",
        "updateRiskProfile",
        action="teams.risk_updated",
    ),
    Op(
        "add",
        """mutation($id: ID!, $add: ID!) {
             addTeamMember(patientId: $id, userId: $add, role: MEMBER) { role } }""",
        "addTeamMember",
        action="teams.member_added",
    ),
    Op(
        "end",
        """mutation($id: ID!, $end: ID!) {
             endTeamMembership(patientId: $id, userId: $end, reason: "matrix") { role } }""",
        "endTeamMembership",
        action="teams.member_removed",
    ),
    Op(
        "inv",
        """mutation($id: ID!, $invite: ID!) {
             inviteToTeam(patientId: $id, userId: $invite, role: MEMBER) { id } }""",
        "inviteToTeam",
        action="teams.invitation_created",
    ),
    Op(
        "cons",
        """mutation($id: ID!) {
             recordConsent(patientId: $id, kind: NORMAL_SHARING, granted: true) { granted } }""",
        "recordConsent",
        action="teams.consent_recorded",
    ),
)
GLASS = Op(
    "glass",
    """mutation($id: ID!) {
         breakGlass(patientId: $id, reason: "Called to the home at night") { id } }""",
    "breakGlass",
    action="access.glass_opened",
)
ARCHIVE = Op(
    "arch",
    "mutation($id: ID!) { archivePatient(id: $id, reason: OTHER) { id } }",
    "archivePatient",
    action="teams.patient_archived",
)
LIST = "list"
PATIENT_OPS = (*READ_OPS, *WRITE_OPS, GLASS, ARCHIVE)
WRITE_ACTIONS = frozenset(op.action for op in PATIENT_OPS if op.action)
BYSTANDER_PURPOSES = ("add", "end", "invite")


@dataclass(frozen=True)
class Target:
    pk: int
    gid: str
    municipality: str


@dataclass
class World:
    """A fresh copy of the demo world with the personas signed in."""

    runtime: Runtime
    usernames: dict[str, str]  # persona -> username
    managers: dict[str, str]  # municipality -> persona of its manager
    clients: dict[str, GraphQLClient]  # persona -> signed-in client
    ids: dict[str, int]  # username -> user id

    def user_gid(self, username: str) -> str:
        return encode_id("User", self.ids[username])

    async def manage(self, target: Target, document: str, **values: Any) -> dict[str, Any]:
        """Run `document` as the manager of the target's municipality; it must succeed."""
        client = self.clients[self.managers[target.municipality]]
        result = await client.execute(document, {"id": target.gid, **values})
        assert "errors" not in result, result
        data: dict[str, Any] = result["data"]
        return data


def bystander(persona: str, purpose: str, municipality: str) -> str:
    """The username of the bystander a persona's `purpose` write acts upon."""
    return f"matrix.{persona}.{purpose}.{municipality}"


def variables(
    patient_gid: str, persona: str, municipality: str, ids: dict[str, int]
) -> dict[str, str]:
    found = {
        purpose: encode_id("User", ids[bystander(persona, purpose, municipality)])
        for purpose in BYSTANDER_PURPOSES
    }
    return {"id": patient_gid, "address": f"matrix {persona}", **found}


async def listed_ids(client: GraphQLClient) -> set[str]:
    """Every patient id in the client's `patients` list, all pages."""
    seen: set[str] = set()
    after: str | None = None
    while True:
        result = await client.execute(
            """query($after: String) { patients(first: 100, after: $after) {
                 edges { node { id } } pageInfo { hasNextPage endCursor } } }""",
            {"after": after},
        )
        assert "errors" not in result, result
        page = result["data"]["patients"]
        seen |= {edge["node"]["id"] for edge in page["edges"]}
        if not page["pageInfo"]["hasNextPage"]:
            return seen
        after = page["pageInfo"]["endCursor"]


def parse_table(text: str, columns: tuple[str, ...]) -> dict[str, dict[str, Outcome]]:
    """Rows of `name A N F - ...` under a header `persona <columns>`; "-" leaves a cell out and
    lines starting with # are comments."""
    lines = [line.split() for line in text.strip().splitlines() if line.strip()]
    lines = [line for line in lines if not line[0].startswith("#")]
    header, rows = lines[0], lines[1:]
    assert tuple(header[1:]) == columns, header
    table: dict[str, dict[str, Outcome]] = {}
    for name, *cells in rows:
        assert len(cells) == len(columns), name
        assert name not in table, name
        table[name] = {
            column: Outcome(cell)
            for column, cell in zip(columns, cells, strict=True)
            if cell != "-"
        }
    return table


async def sign_in(runtime: Runtime, http: httpx.AsyncClient, username: str) -> GraphQLClient:
    """A client with a bearer session for `username`.

    The session is opened directly: the matrix is about what a signed-in actor may do, and the
    password check (argon2, on purpose slow) is tested with sign-in itself.
    """
    async with runtime.db.transaction() as session:
        user = (await session.exec(select(User).where(User.username == username))).one()
        issued = await do_create_session(session, runtime, user=user, kind="bearer", method="test")
    return GraphQLClient(http, issued.token)


async def user_ids(db: Database) -> dict[str, int]:
    async with db.session() as session:
        rows = (await session.exec(select(User.username, User.id))).all()
    return {name: uid for name, uid in rows if uid is not None}


async def add_professionals(db: Database, usernames: list[str], municipality: str) -> None:
    """Professionals with no team and no password: bystanders that writes can act upon."""
    async with db.transaction() as session:
        session.add_all(
            User(
                username=name,
                display_name=name,
                kind=UserKind.PROFESSIONAL.value,
                profession="nurse",
                municipality_code=municipality,
            )
            for name in usernames
        )


async def put_on_team(db: Database, patient_id: int, user_ids: list[int], role: str) -> None:
    async with db.transaction() as session:
        session.add_all(
            TeamMembership(patient_id=patient_id, user_id=uid, role=role) for uid in user_ids
        )


async def move_memberships_into_the_past(
    db: Database, patient_id: int, user_ids: list[int]
) -> None:
    """The users' memberships on the patient began two days ago and ended yesterday."""
    now = utcnow()
    async with db.transaction() as session:
        await session.exec(
            update(TeamMembership)
            .where(
                col(TeamMembership.patient_id) == patient_id,
                col(TeamMembership.user_id).in_(user_ids),
            )
            .values(starts_at=now - timedelta(days=2), ends_at=now - timedelta(days=1))
        )


async def expire_glass(db: Database, patient_id: int) -> None:
    """Every break-the-glass grant on the patient began yesterday and ran out an hour ago."""
    now = utcnow()
    async with db.transaction() as session:
        await session.exec(
            update(GlassAccess)
            .where(col(GlassAccess.patient_id) == patient_id)
            .values(starts_at=now - timedelta(days=1), expires_at=now - timedelta(hours=1))
        )


async def is_active_member(db: Database, patient_id: int, user_id: int) -> bool:
    now = utcnow()
    async with db.session() as session:
        rows = await session.exec(
            select(TeamMembership).where(
                TeamMembership.patient_id == patient_id, TeamMembership.user_id == user_id
            )
        )
        return any(
            m.starts_at <= now and (m.ends_at is None or m.ends_at > now) for m in rows.all()
        )


async def is_invited(db: Database, patient_id: int, user_id: int) -> bool:
    async with db.session() as session:
        found = await session.exec(
            select(Invitation.id).where(
                Invitation.patient_id == patient_id, Invitation.user_id == user_id
            )
        )
        return found.first() is not None


async def audit_mark(db: Database) -> int:
    """The id of the latest audit record: what comes after it was written by the test."""
    async with db.session() as session:
        latest = (await session.exec(select(func.max(AuditRecord.id)))).one()
    return int(latest or 0)


async def audited_actions(db: Database, *, after: int, patient_id: int) -> dict[int, set[str]]:
    """Per actor id, the actions audited on the patient since the mark `after`."""
    async with db.session() as session:
        rows = (await session.exec(select(AuditRecord).where(col(AuditRecord.id) > after))).all()
    actions: dict[int, set[str]] = defaultdict(set)
    for record in rows:
        if record.actor_id is not None and patient_id in record.object_ids:
            actions[record.actor_id].add(record.action)
    return actions


async def run_matrix(
    world: World, target: Target, expected: dict[str, dict[str, Outcome]]
) -> dict[str, dict[str, Outcome]]:
    """Every persona's outcome of every operation on the target.

    Personas act side by side. Writes act on each persona's own bystanders, so one persona's
    allowed write does not change another's relation. Breaking the glass changes the
    clinician's, so it comes after the others; archiving ends everything, so it comes last.
    """
    seen: dict[str, dict[str, Outcome]] = {p: {} for p in world.clients}

    def values(persona: str) -> dict[str, str]:
        return variables(target.gid, persona, target.municipality, world.ids)

    async def read(persona: str) -> None:
        client = world.clients[persona]
        result = await client.execute(READS, values(persona))
        for op in READ_OPS:
            seen[persona][op.name] = outcome_of(result, op.root, op.field)
        listed = target.gid in await listed_ids(client)
        seen[persona][LIST] = Outcome.ALLOW if listed else Outcome.NOT_FOUND

    async def write(persona: str, ops: tuple[Op, ...]) -> None:
        for op in ops:
            result = await world.clients[persona].execute(op.document, values(persona))
            seen[persona][op.name] = outcome_of(result, op.root, op.field)

    await side_by_side(*(read(p) for p in world.clients))
    await side_by_side(*(write(p, WRITE_OPS) for p in world.clients))
    archivers = {p for p in world.clients if expected[p].get(ARCHIVE.name) is Outcome.ALLOW}
    await side_by_side(*(write(p, (ARCHIVE,)) for p in world.clients if p not in archivers))
    glass = [p for p in world.clients if GLASS.name in expected[p]]
    await side_by_side(*(write(p, (GLASS,)) for p in glass))
    for persona in archivers:
        await write(persona, (ARCHIVE,))
    return seen


def mismatches(
    expected: dict[str, dict[str, Outcome]], seen: dict[str, dict[str, Outcome]]
) -> list[str]:
    return [
        f"{persona} {op}: expected {want.name}, got {seen[persona][op].name}"
        for persona, cells in expected.items()
        for op, want in cells.items()
        if seen[persona][op] is not want
    ]


async def check_only_allowed_writes_were_stored(
    world: World, target: Target, seen: dict[str, dict[str, Outcome]], mark: int
) -> None:
    """Each persona's writes left their audit record and their effect exactly where allowed."""
    db = world.runtime.db
    audited = await audited_actions(db, after=mark, patient_id=target.pk)
    for persona, username in world.usernames.items():
        done = seen[persona]
        ops = [*WRITE_OPS, GLASS, ARCHIVE]
        allowed = {op.action for op in ops if done.get(op.name) is Outcome.ALLOW}
        assert audited.get(world.ids[username], set()) & WRITE_ACTIONS == allowed, persona
        code = target.municipality
        added, ended, invited = (world.ids[bystander(persona, p, code)] for p in BYSTANDER_PURPOSES)
        assert await is_active_member(db, target.pk, added) == (done["add"] is Outcome.ALLOW)
        assert await is_active_member(db, target.pk, ended) == (done["end"] is not Outcome.ALLOW)
        assert await is_invited(db, target.pk, invited) == (done["inv"] is Outcome.ALLOW)


# The notebook (feed/): what each persona may do with a patient's posts. The patient's posts are
# written by a clinician of its team (the author): one shared with family, one professional-only
# instruction, and for each persona a professional-only post of its own to try to retract.
NOTEBOOK_COLUMNS = ("tl", "fam", "pro", "feed", "post", "fpost", "rcpt", "mark", "ack", "retr")
NOTEBOOK_READS = """query($id: ID!, $fam: ID!, $pro: ID!) {
  tl: patient(id: $id) { id timeline(first: 1) { edges { node { id } } } }
  fam: post(id: $fam) { id }
  pro: post(id: $pro) { id }
  rcpt: post(id: $fam) { id readBy { at } }
  feed: myFeed(first: 100) { edges { node { id } } }
}"""
NOTEBOOK_CREATE = """mutation($input: CreatePostInput!) { createPost(input: $input) { id } }"""
NOTEBOOK_MARK = "mutation($ids: [ID!]!) { markPostsRead(postIds: $ids) }"
NOTEBOOK_ACK = "mutation($id: ID!) { acknowledgePost(postId: $id) { id } }"
NOTEBOOK_RETRACT = """mutation($id: ID!) {
  retractPost(postId: $id, reason: "matrix") { id } }"""


@dataclass(frozen=True)
class Notebook:
    """The posts on a target: `fam` shared with family, `pro` an instruction for professionals
    only, `mine` each persona's post to try to retract."""

    fam: str
    pro: str
    mine: dict[str, str]


async def write_notebook(world: World, target: Target, author: str) -> Notebook:
    client = await sign_in(world.runtime, world.clients["operator"].http, author)

    async def post(client_id: str, **fields: Any) -> str:
        values = {"patientId": target.gid, "clientId": client_id, "body": "matrix", **fields}
        result = await client.execute(NOTEBOOK_CREATE, {"input": values})
        assert "errors" not in result, result
        return str(result["data"]["createPost"]["id"])

    tag = f"m{target.pk}"
    fam = await post(f"{tag}-fam", category="VISIT_REPORT", visibleToFamily=True)
    pro = await post(f"{tag}-pro", category="INSTRUCTION")
    mine = {p: await post(f"{tag}-{p}", category="OTHER") for p in world.clients}
    return Notebook(fam=fam, pro=pro, mine=mine)


def field_outcome(result: dict[str, Any], root: str, field: str) -> Outcome:
    """A field's outcome, or its object's when the object itself was refused."""
    if any(e.get("path") == [root] for e in result.get("errors") or []):
        return outcome_of(result, root)
    return outcome_of(result, root, field)


async def run_notebook(
    world: World, target: Target, notebook: Notebook
) -> dict[str, dict[str, Outcome]]:
    """Every persona's outcome of every notebook operation on the target, side by side."""

    async def run(persona: str) -> dict[str, Outcome]:
        client = world.clients[persona]
        reads = await client.execute(
            NOTEBOOK_READS, {"id": target.gid, "fam": notebook.fam, "pro": notebook.pro}
        )
        # myFeed never fails: a persona with no patient gets an empty page.
        assert (reads.get("data") or {}).get("feed") is not None, (persona, reads)
        feed = reads["data"]["feed"]["edges"]
        seen = {
            "tl": field_outcome(reads, "tl", "timeline"),
            "fam": outcome_of(reads, "fam"),
            "pro": outcome_of(reads, "pro"),
            "rcpt": field_outcome(reads, "rcpt", "readBy"),
            "feed": Outcome.ALLOW
            if notebook.pro in {e["node"]["id"] for e in feed}
            else Outcome.NOT_FOUND,
        }
        for name, shared in (("post", False), ("fpost", True)):
            values = {
                "patientId": target.gid,
                "clientId": f"m{target.pk}-{persona}-{name}",
                "category": "VISIT_REPORT",
                "body": "matrix",
                "visibleToFamily": shared,
            }
            created = await client.execute(NOTEBOOK_CREATE, {"input": values})
            seen[name] = outcome_of(created, "createPost")
        marked = await client.execute(NOTEBOOK_MARK, {"ids": [notebook.fam]})
        seen["mark"] = outcome_of(marked, "markPostsRead")
        acked = await client.execute(NOTEBOOK_ACK, {"id": notebook.pro})
        seen["ack"] = outcome_of(acked, "acknowledgePost")
        theirs = notebook.mine[_other(notebook, persona)]
        retracted = await client.execute(NOTEBOOK_RETRACT, {"id": theirs})
        seen["retr"] = outcome_of(retracted, "retractPost")
        return seen

    found = await side_by_side(*(run(p) for p in world.clients))
    return dict(zip(world.clients, found, strict=True))


async def check_only_allowed_notebook_writes(
    world: World, target: Target, notebook: Notebook, seen: dict[str, dict[str, Outcome]]
) -> None:
    """Each persona's posts, receipts, acknowledgements and retractions exist exactly where the
    matrix allowed them."""
    fam, pro = decode_id("Post", notebook.fam), decode_id("Post", notebook.pro)
    async with world.runtime.db.session() as session:
        posts = (await session.exec(select(Post).where(Post.patient_id == target.pk))).all()
        reads = (await session.exec(select(PostRead.user_id).where(PostRead.post_id == fam))).all()
        acks = (
            await session.exec(
                select(PostAcknowledgement.user_id).where(PostAcknowledgement.post_id == pro)
            )
        ).all()
    by_id = {p.id: p for p in posts}
    for persona, username in world.usernames.items():
        uid, done = world.ids[username], seen[persona]
        allowed = sum(done[n] is Outcome.ALLOW for n in ("post", "fpost"))
        assert len([p for p in posts if p.author_id == uid]) == allowed, persona
        assert (uid in reads) == (done["mark"] is Outcome.ALLOW), persona
        assert (uid in acks) == (done["ack"] is Outcome.ALLOW), persona
        tried = by_id[decode_id("Post", notebook.mine[_other(notebook, persona)])]
        assert (tried.retracted_by == uid) == (done["retr"] is Outcome.ALLOW), persona


def _other(notebook: Notebook, persona: str) -> str:
    """Whose post `persona` tries to retract: the first persona other than itself."""
    return next(p for p in notebook.mine if p != persona)
