"""The synthetic notebook as arrays: who posted what about whom, when, and who read it.

Drawn after the rest of the world from a generator of its own (seeded from the same seed), so
asking for posts never changes the patients and teams a seed gives. Posts are in time order,
which is id order: position i here becomes the i-th new post id and the i-th new feed event.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from renraku.access.enforcer import allowed
from renraku.kinds import PostCategory, Profession

Ints = NDArray[np.int64]
Floats = NDArray[np.float64]
Flags = NDArray[np.bool_]

CATEGORIES = list(PostCategory)
C = {c: i for i, c in enumerate(CATEGORIES)}
PROFESSIONS = list(Profession)
VITAL_NAMES = (
    "temperature", "systolic", "diastolic", "pulse", "spo2", "respiration", "weight",
    "blood_glucose", "pain",
)  # fmt: skip
DAY = 86_400
JST_OFFSET = 9 * 3600
# Posts are written between 08:00 and 20:00 in Japan.
WORKDAY_START, WORKDAY_HOURS = 8 * 3600, 12

# What each profession writes about, in CATEGORIES order: visit report, vitals, medication,
# meals, excretion, sleep, mood, skin, incident, instruction, other.
WRITES: dict[Profession, tuple[float, ...]] = {
    Profession.DOCTOR: (40, 10, 15, 0, 0, 2, 3, 5, 2, 20, 3),
    Profession.DENTIST: (60, 0, 5, 10, 0, 0, 0, 0, 2, 15, 8),
    Profession.NURSE: (25, 30, 10, 3, 8, 3, 4, 10, 2, 3, 2),
    Profession.PHARMACIST: (20, 0, 65, 0, 0, 0, 0, 0, 3, 7, 5),
    Profession.PHYSICAL_THERAPIST: (55, 10, 0, 0, 0, 2, 8, 3, 5, 7, 10),
    Profession.OCCUPATIONAL_THERAPIST: (55, 5, 0, 5, 0, 2, 10, 3, 5, 5, 10),
    Profession.SPEECH_THERAPIST: (50, 0, 0, 25, 0, 0, 5, 0, 3, 7, 10),
    Profession.CARE_MANAGER: (30, 0, 2, 3, 0, 2, 15, 0, 5, 8, 35),
    Profession.HOME_HELPER: (25, 5, 5, 25, 15, 5, 12, 3, 3, 0, 2),
    Profession.DIETITIAN: (30, 5, 0, 55, 0, 0, 0, 0, 0, 5, 5),
    Profession.SOCIAL_WORKER: (30, 0, 0, 0, 0, 0, 20, 0, 5, 0, 45),
    Profession.OTHER: (30, 0, 0, 10, 0, 0, 20, 0, 5, 0, 35),
}  # fmt: skip
# How often each profession posts, relative to a care manager (helpers and nurses visit most).
ACTIVITY: dict[Profession, float] = {
    Profession.DOCTOR: 0.8, Profession.DENTIST: 0.4, Profession.NURSE: 2.5,
    Profession.PHARMACIST: 0.7, Profession.PHYSICAL_THERAPIST: 1.5,
    Profession.OCCUPATIONAL_THERAPIST: 1.5, Profession.SPEECH_THERAPIST: 1.0,
    Profession.CARE_MANAGER: 1.0, Profession.HOME_HELPER: 3.0, Profession.DIETITIAN: 0.5,
    Profession.SOCIAL_WORKER: 0.5, Profession.OTHER: 0.6,
}  # fmt: skip
# Per category (CATEGORIES order): the share shared with family, and the share marked urgent.
FAMILY_SHARE = np.array([0.3, 0.3, 0.3, 0.5, 0.2, 0.4, 0.6, 0.1, 0.2, 0.1, 0.3])
URGENT_SHARE = np.array([0.01, 0.04, 0.01, 0.0, 0.01, 0.0, 0.01, 0.03, 0.35, 0.05, 0.01])
REPLY_SHARE = 0.12
# A reply is shared with family less often than its thread (never more: see draw_notebook).
REPLY_FAMILY_SHARE = 0.7
# Read receipts: most posts older than two days have some, fewer of the newest.
RECEIPTS_OLD, RECEIPTS_NEW, READER_SHARE = 0.75, 0.4, 0.35
READ_DELAY_SECONDS, URGENT_READ_DELAY_SECONDS = 6 * 3600, 600
ACKNOWLEDGED_SHARE, ACKNOWLEDGE_DELAY_SECONDS = 0.8, 300


@dataclass(frozen=True)
class Notebook:
    """Posts in id order (positions), their receipts sorted by post, and the big timelines."""

    patient: Ints  # patient position
    author: Ints  # professional position
    seconds: Ints  # created, in seconds relative to the world's anchor (all negative)
    category: Ints  # index into CATEGORIES
    urgent: Flags
    family: Flags
    reply_to: Ints  # position of the thread's first post, or -1
    parts: Ints  # (posts, 3): what the body says (post_texts.body)
    vitals: Floats  # (posts, len(VITAL_NAMES)), NaN where not measured; all NaN but on VITALS
    read_post: Ints  # receipt -> post position
    read_user: Ints  # receipt -> professional position
    read_seconds: Ints
    acknowledged: Flags  # receipt of an instruction that its reader also acknowledged
    acknowledged_seconds: Ints
    big_patients: Ints  # patient positions of the big timelines, in spec order

    def counts(self) -> dict[str, int]:
        return {
            "posts": len(self.patient),
            "receipts": len(self.read_post),
            "acknowledgements": int(self.acknowledged.sum()),
        }


def empty_notebook() -> Notebook:
    ints, none = np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.bool_)
    return Notebook(
        patient=ints, author=ints, seconds=ints, category=ints, urgent=none, family=none,
        reply_to=ints, parts=np.zeros((0, 3), dtype=np.int64),
        vitals=np.zeros((0, len(VITAL_NAMES))), read_post=ints, read_user=ints,
        read_seconds=ints, acknowledged=none, acknowledged_seconds=ints, big_patients=ints,
    )  # fmt: skip


def _pick(rng: np.random.Generator, table: Floats, row: Ints) -> Ints:
    """One column per entry of `row`, drawn from the probability row table[row]."""
    cumulative = np.cumsum(table / table.sum(axis=1, keepdims=True), axis=1)[row]
    picked: Ints = (rng.random(len(row))[:, None] > cumulative[:, :-1]).sum(axis=1)
    return picked.astype(np.int64)


def _writes_table() -> Floats:
    """WRITES as an array, without instructions for professions the policy does not allow."""
    instruction = C[PostCategory.INSTRUCTION]
    table = np.array([WRITES[p] for p in PROFESSIONS], dtype=np.float64)
    for i, profession in enumerate(PROFESSIONS):
        if not allowed({f"profession.{profession.value}"}, "post.instruction", "create"):
            table[i, instruction] = 0.0
    return table


def draw_notebook(
    rng: np.random.Generator,
    *,
    posts: int,
    big_timelines: tuple[int, ...],
    created_days_ago: Ints,
    care_level: Ints,
    team_patient: Ints,
    team_member: Ints,
    pro_profession: Ints,
) -> Notebook:
    """`posts` spread over the patients, plus each big timeline on a patient of its own.

    `team_patient` is sorted (as build_world makes it), so a patient's team is one run of it.
    """
    n = len(created_days_ago)
    sizes = np.bincount(team_patient, minlength=n)
    if n == 0 or not (posts or big_timelines):
        return empty_notebook()
    starts = np.searchsorted(team_patient, np.arange(n))
    # A patient with a busy team (a higher care level) has more posts; a big timeline has
    # exactly what was asked, no spread posts on top.
    weights = rng.gamma(1.5, size=n) * (1.0 + 0.25 * care_level) * (sizes > 1)
    big = rng.choice(np.flatnonzero(sizes > 1), size=len(big_timelines), replace=False)
    weights[big] = 0.0
    counts = rng.multinomial(posts, weights / weights.sum()) if posts else np.zeros(n, np.int64)
    counts[big] += np.array(big_timelines, dtype=np.int64)
    patient = np.repeat(np.arange(n), counts)
    m = len(patient)

    # The author: a member of the patient's team, chosen in proportion to how often they post.
    activity = np.array([ACTIVITY[p] for p in PROFESSIONS])[pro_profession[team_member]]
    below = np.concatenate([[0.0], np.cumsum(activity)])
    low, high = below[starts[patient]], below[starts[patient] + sizes[patient]]
    membership = np.searchsorted(below, low + rng.random(m) * (high - low), side="right") - 1
    membership = np.clip(membership, starts[patient], starts[patient] + sizes[patient] - 1)

    # A day after the patient joined at the earliest, and before the anchor day.
    day = 1 + (rng.random(m) * (created_days_ago[patient] - 1)).astype(np.int64)
    seconds = -day * DAY + WORKDAY_START - JST_OFFSET + rng.integers(0, WORKDAY_HOURS * 3600, m)
    order = np.argsort(seconds, kind="stable")
    patient, membership, seconds = patient[order], membership[order], seconds[order]
    author = team_member[membership]
    slot = membership - starts[patient]

    category = _pick(rng, _writes_table(), pro_profession[author])
    # Replies join the patient's latest thread; each patient's first post opens one.
    by_patient = np.lexsort((np.arange(m), patient))
    opens = np.ones(m, dtype=np.bool_)
    opens[1:] = patient[by_patient][1:] != patient[by_patient][:-1]
    is_reply = (rng.random(m) < REPLY_SHARE) & ~opens
    latest = np.maximum.accumulate(np.where(is_reply, 0, np.arange(m)))
    reply_to = np.full(m, -1, dtype=np.int64)
    reply_to[by_patient[is_reply]] = by_patient[latest[is_reply]]
    replies = reply_to >= 0
    category[replies] = C[PostCategory.OTHER]
    family = rng.random(m) < FAMILY_SHARE[category]
    # A reply to a professional-only thread stays professional-only.
    shared = rng.random(int(replies.sum())) < REPLY_FAMILY_SHARE
    family[replies] = family[reply_to[replies]] & shared
    urgent = (rng.random(m) < URGENT_SHARE[category]) & ~replies
    vitals = _draw_vitals(rng, (category == C[PostCategory.VITALS]) & ~replies)
    parts = rng.integers(0, 1 << 30, (m, 3))

    receipts = _draw_receipts(rng, seconds, urgent, sizes[patient], slot)
    read_post, read_seconds, offset = receipts
    team = sizes[patient[read_post]]
    read_slot = (slot[read_post] + 1 + offset % (team - 1)) % team
    instruction = category[read_post] == C[PostCategory.INSTRUCTION]
    acknowledged = instruction & (rng.random(len(read_post)) < ACKNOWLEDGED_SHARE)
    delay = rng.exponential(ACKNOWLEDGE_DELAY_SECONDS, len(read_post)).astype(np.int64)
    return Notebook(
        patient=patient,
        author=author,
        seconds=seconds,
        category=category,
        urgent=urgent,
        family=family,
        reply_to=reply_to,
        parts=parts,
        vitals=vitals,
        read_post=read_post,
        read_user=team_member[starts[patient[read_post]] + read_slot],
        read_seconds=read_seconds,
        acknowledged=acknowledged,
        acknowledged_seconds=np.minimum(read_seconds + 1 + delay, 0),
        big_patients=big.astype(np.int64),
    )


def _draw_receipts(
    rng: np.random.Generator, seconds: Ints, urgent: Flags, team: Ints, slot: Ints
) -> tuple[Ints, Ints, Ints]:
    """(post, read time, reader offset) per receipt; readers are distinct, never the author.

    Reader j of a post is the team member `1 + (start + j) % (team - 1)` places after its
    author, from a random start: distinct for j < team - 1, and never the author.
    """
    m = len(seconds)
    recent = seconds > -2 * DAY
    has = rng.random(m) < np.where(recent, RECEIPTS_NEW, RECEIPTS_OLD)
    others = np.maximum(team - 1, 0)
    readers = np.where(has, rng.binomial(others, READER_SHARE), 0)
    # An urgent post has been read by someone: nothing is left for escalation to find.
    readers = np.where(urgent, np.maximum(readers, 1), readers)
    readers = np.minimum(readers, others)
    post = np.repeat(np.arange(m), readers)
    within = np.arange(len(post)) - np.repeat(np.cumsum(readers) - readers, readers)
    start = rng.integers(0, np.maximum(others, 1))
    mean = np.where(urgent, URGENT_READ_DELAY_SECONDS, READ_DELAY_SECONDS)[post]
    delay = 60 + rng.exponential(1.0, len(post)) * mean
    read_seconds = np.minimum(seconds[post] + delay.astype(np.int64), 0)
    return post, read_seconds, start[post] + within


def _draw_vitals(rng: np.random.Generator, measured: Flags) -> Floats:
    """Vitals for the `measured` posts, mostly in the usual range, some not (then flagged)."""
    k = int(measured.sum())
    values = np.full((len(measured), len(VITAL_NAMES)), np.nan)

    def some(share: float, drawn: Floats) -> Floats:
        return np.where(rng.random(k) < share, drawn, np.nan)

    systolic = np.clip(np.round(rng.normal(130, 18, k)), 70, 220)
    drawn = {
        "temperature": np.clip(np.round(rng.normal(36.6, 0.45, k), 1), 34.0, 41.0),
        "systolic": systolic,
        "diastolic": np.clip(np.round(systolic - rng.normal(55, 10, k)), 40, systolic - 20),
        "pulse": np.clip(np.round(rng.normal(76, 12, k)), 40, 150),
        "spo2": np.clip(np.round(97.5 - np.abs(rng.normal(0, 2.2, k))), 80, 100),
        "respiration": some(0.5, np.clip(np.round(rng.normal(18, 3, k)), 8, 40)),
        "weight": some(0.2, np.clip(np.round(rng.normal(48, 9, k), 1), 25, 120)),
        "blood_glucose": some(0.15, np.clip(np.round(rng.normal(130, 35, k)), 50, 400)),
        "pain": some(0.25, np.clip(rng.poisson(1.5, k), 0, 10).astype(np.float64)),
    }
    values[measured] = np.stack([drawn[name] for name in VITAL_NAMES], axis=1)
    return values
