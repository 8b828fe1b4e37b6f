"""GraphQL for a post's vitals: what a post shows (Vitals) and what a writer sends (VitalsInput)."""

from __future__ import annotations

import strawberry

from renraku.access.fields import with_object
from renraku.context import Info
from renraku.feed.changes import Version
from renraku.feed.models import Post as PostRow
from renraku.feed.vitals import FIELD_NAMES, VITALS


@with_object
@strawberry.type
class Vitals:
    temperature: float | None = None
    systolic: int | None = None
    diastolic: int | None = None
    pulse: int | None = None
    spo2: int | None = None
    respiration: int | None = None
    weight: float | None = None
    blood_glucose: int | None = None
    pain: int | None = None
    flagged: list[str] = strawberry.field(
        default_factory=list,
        description="Vitals outside their usual range (input names, e.g. bloodGlucose).",
    )


@strawberry.input
class VitalsInput:
    temperature: float | None = None
    systolic: float | None = None
    diastolic: float | None = None
    pulse: float | None = None
    spo2: float | None = None
    respiration: float | None = None
    weight: float | None = None
    blood_glucose: float | None = None
    pain: float | None = None

    def values(self) -> dict[str, float | None]:
        return {
            "temperature": self.temperature,
            "systolic": self.systolic,
            "diastolic": self.diastolic,
            "pulse": self.pulse,
            "spo2": self.spo2,
            "respiration": self.respiration,
            "weight": self.weight,
            "blood_glucose": self.blood_glucose,
            "pain": self.pain,
        }


def vitals_of(row: PostRow | Version) -> Vitals | None:
    if not row.vitals:
        return None
    v = row.vitals
    return Vitals(
        temperature=v.get("temperature"),
        systolic=v.get("systolic"),
        diastolic=v.get("diastolic"),
        pulse=v.get("pulse"),
        spo2=v.get("spo2"),
        respiration=v.get("respiration"),
        weight=v.get("weight"),
        blood_glucose=v.get("blood_glucose"),
        pain=v.get("pain"),
        flagged=[FIELD_NAMES[f] for f in row.vitals_flags if f in FIELD_NAMES],
    )


@strawberry.type(
    description="A vital sign a post may carry: what the server accepts (min to max; outside, "
    "the post is refused) and what it takes as usual (outside, the value is flagged). The one "
    "source of the ranges a form checks as the user types."
)
class VitalSign:
    name: str = strawberry.field(description="As in VitalsInput, e.g. bloodGlucose.")
    unit: str
    min: float
    max: float
    whole: bool = strawberry.field(description="Whole numbers only.")
    usual_low: float | None = strawberry.field(description="Null: any accepted value is usual.")
    usual_high: float | None


def _vital_signs() -> list[VitalSign]:
    return [
        VitalSign(
            name=FIELD_NAMES[name],
            unit=unit,
            min=plausible.low,
            max=plausible.high,
            whole=plausible.whole,
            usual_low=usual.low if usual else None,
            usual_high=usual.high if usual else None,
        )
        for name, (unit, plausible, usual) in VITALS.items()
    ]


@strawberry.type
class Query:
    @strawberry.field(description="The vital signs a post may carry, with their ranges.")
    def vital_signs(self, info: Info) -> list[VitalSign]:
        info.context.require_actor()
        return _vital_signs()
