"""Structured vitals: what is possible is stored, what is outside the usual range is flagged.

A value outside PLAUSIBLE is a typing error (a temperature of 3.7 °C), refused as BAD_USER_INPUT;
a value inside it but outside USUAL is real and worrying, stored as given and named in the post's
flags so that every list can show it.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

from renraku.errors import BadInput


@dataclass(frozen=True)
class Range:
    low: float
    high: float
    whole: bool = False  # counts and scales: no fractions

    def __contains__(self, value: float) -> bool:
        return self.low <= value <= self.high


# name: (unit, plausible range, usual range or None when any plausible value is usual)
VITALS: dict[str, tuple[str, Range, Range | None]] = {
    "temperature": ("°C", Range(30.0, 45.0), Range(35.0, 37.5)),
    "systolic": ("mmHg", Range(40, 300, whole=True), Range(90, 140)),
    "diastolic": ("mmHg", Range(20, 200, whole=True), Range(50, 90)),
    "pulse": ("/min", Range(20, 250, whole=True), Range(50, 100)),
    "spo2": ("%", Range(50, 100, whole=True), Range(94, 100)),
    "respiration": ("/min", Range(4, 60, whole=True), Range(12, 24)),
    "weight": ("kg", Range(10.0, 250.0), None),
    "blood_glucose": ("mg/dL", Range(20, 800, whole=True), Range(70, 180)),
    "pain": ("0-10", Range(0, 10, whole=True), Range(0, 6)),
}
# The GraphQL input's names for the same fields.
FIELD_NAMES = {
    "temperature": "temperature",
    "systolic": "systolic",
    "diastolic": "diastolic",
    "pulse": "pulse",
    "spo2": "spo2",
    "respiration": "respiration",
    "weight": "weight",
    "blood_glucose": "bloodGlucose",
    "pain": "pain",
}


def validate_vitals(
    values: Mapping[str, float | None], *, prefix: str = "vitals."
) -> tuple[dict[str, float], list[str]]:
    """The given vitals (None dropped) and the names of those outside their usual range."""
    checked: dict[str, float] = {}
    flags: list[str] = []
    for name, value in values.items():
        if value is None:
            continue
        if name not in VITALS:
            raise BadInput("Unknown vital sign.", field=prefix + name)
        unit, plausible, usual = VITALS[name]
        field = prefix + FIELD_NAMES[name]
        if isinstance(value, bool) or not math.isfinite(value) or value not in plausible:
            raise BadInput(
                f"Must be between {plausible.low:g} and {plausible.high:g} {unit}.", field=field
            )
        if plausible.whole and value != int(value):
            raise BadInput("Must be a whole number.", field=field)
        checked[name] = int(value) if plausible.whole else round(float(value), 2)
        if usual is not None and value not in usual:
            flags.append(name)
    if (
        "systolic" in checked
        and "diastolic" in checked
        and checked["diastolic"] >= checked["systolic"]
    ):
        raise BadInput("Diastolic must be below systolic.", field=prefix + "diastolic")
    if ("systolic" in checked) != ("diastolic" in checked):
        missing = "diastolic" if "systolic" in checked else "systolic"
        raise BadInput("Blood pressure needs both systolic and diastolic.", field=prefix + missing)
    return checked, sorted(flags)
