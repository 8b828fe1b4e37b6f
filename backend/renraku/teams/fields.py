"""A patient's editable fields as plain values, their validation, and their mapping to rows.

Every check raises BadInput naming the field as the GraphQL client spelled it (`displayName`,
`risk.devices.0.batteryHours`), so a form can point at it. Messages never echo the value.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from datetime import date

from renraku import geo
from renraku.errors import BadInput
from renraku.kinds import CareLevel, DeviceKind, LandslideZone, Living, Mobility, Sex
from renraku.teams.models import Patient, PatientContact, RiskProfile
from renraku.text import validate_text
from renraku.timeutil import utcnow

MAX_NAME = 200
MAX_ADDRESS = 400
MAX_PHONE = 40
MAX_RELATION = 60
MAX_EXTERNAL_REF = 80
MAX_NOTE = 400
MAX_CONTACTS = 20
MAX_DEVICES = 10
# Basements to the tallest residential towers; anything outside is a typing error.
MIN_FLOOR, MAX_FLOOR = -5, 100
# A week and a bit: longer than any home medical device's battery, shorter than a typo.
MAX_BATTERY_HOURS = 240.0
# Deeper than the deepest inundation on any hazard map (the 20 m-plus rank).
MAX_FLOOD_DEPTH_M = 30.0
OLDEST_BIRTH_DATE = date(1900, 1, 1)

_PHONE = re.compile(r"^[0-9+\-() ]*$")
_REF = re.compile(r"^[A-Za-z0-9._:\-]+$")


@dataclass(frozen=True)
class ContactFields:
    name: str
    relation: str = ""
    phone: str = ""


@dataclass(frozen=True)
class DeviceFields:
    kind: DeviceKind
    battery_hours: float | None = None


@dataclass(frozen=True)
class RiskFields:
    """The vulnerability profile; None means "not given" (a default on create, kept on update)."""

    care_level: CareLevel | None = None
    mobility: Mobility | None = None
    dementia: bool | None = None
    sensory_impairment: bool | None = None
    living: Living | None = None
    devices: tuple[DeviceFields, ...] | None = None
    floor: int | None = None
    landslide_zone: LandslideZone | None = None
    flood_depth_m: float | None = None
    tsunami_zone: bool | None = None
    air_conditioning: bool | None = None
    supporter: str | None = None


@dataclass(frozen=True)
class PatientFields:
    display_name: str
    latitude: float
    longitude: float
    kana: str = ""
    birth_date: date | None = None
    sex: Sex = Sex.OTHER
    address: str = ""
    phone: str = ""
    key_person: ContactFields | None = None
    contacts: tuple[ContactFields, ...] = field(default_factory=tuple)
    external_ref: str | None = None


# Fields whose change needs the right to edit contact details, not just the record.
CONTACT_FIELDS = frozenset({"phone", "key_person", "contacts"})


def validate_phone(value: str | None, *, name: str) -> str:
    phone = validate_text(value, name=name, max_length=MAX_PHONE)
    if not _PHONE.match(phone):
        raise BadInput(f"{name} may hold only digits, spaces, +, - and brackets.", field=name)
    return phone


def _contact(contact: ContactFields, *, name: str) -> ContactFields:
    return ContactFields(
        name=validate_text(contact.name, name=f"{name}.name", max_length=MAX_NAME, required=True),
        relation=validate_text(contact.relation, name=f"{name}.relation", max_length=MAX_RELATION),
        phone=validate_phone(contact.phone, name=f"{name}.phone"),
    )


def _validate_location(latitude: float, longitude: float, municipality_code: str) -> None:
    if not (math.isfinite(latitude) and -90.0 <= latitude <= 90.0):
        raise BadInput("latitude must be between -90 and 90.", field="latitude")
    if not (math.isfinite(longitude) and -180.0 <= longitude <= 180.0):
        raise BadInput("longitude must be between -180 and 180.", field="longitude")
    if not geo.contains(municipality_code, latitude, longitude):
        raise BadInput("The location lies outside the patient's municipality.", field="latitude")


def validate_patient_fields(fields: PatientFields, *, municipality_code: str) -> PatientFields:
    """The fields normalised, or BadInput naming the first one that is not acceptable."""
    _validate_location(fields.latitude, fields.longitude, municipality_code)
    if fields.birth_date is not None and not (
        OLDEST_BIRTH_DATE <= fields.birth_date <= utcnow().date()
    ):
        raise BadInput("birthDate must be a past date after 1900.", field="birthDate")
    if len(fields.contacts) > MAX_CONTACTS:
        raise BadInput(f"At most {MAX_CONTACTS} contacts.", field="contacts")
    external_ref = None
    if fields.external_ref is not None:
        external_ref = validate_text(
            fields.external_ref, name="externalRef", max_length=MAX_EXTERNAL_REF, required=True
        )
        if not _REF.match(external_ref):
            raise BadInput(
                "externalRef may hold only letters, digits and . _ : -", field="externalRef"
            )
    return PatientFields(
        display_name=validate_text(
            fields.display_name, name="displayName", max_length=MAX_NAME, required=True
        ),
        kana=validate_text(fields.kana, name="kana", max_length=MAX_NAME),
        birth_date=fields.birth_date,
        sex=fields.sex,
        address=validate_text(fields.address, name="address", max_length=MAX_ADDRESS),
        latitude=fields.latitude,
        longitude=fields.longitude,
        phone=validate_phone(fields.phone, name="phone"),
        key_person=_contact(fields.key_person, name="keyPerson") if fields.key_person else None,
        contacts=tuple(_contact(c, name=f"contacts.{i}") for i, c in enumerate(fields.contacts)),
        external_ref=external_ref,
    )


def _device(device: DeviceFields, *, name: str) -> DeviceFields:
    hours = device.battery_hours
    if hours is not None and not (math.isfinite(hours) and 0.0 <= hours <= MAX_BATTERY_HOURS):
        raise BadInput(
            f"batteryHours must be between 0 and {MAX_BATTERY_HOURS:g}.",
            field=f"{name}.batteryHours",
        )
    return device


def validate_risk_fields(risk: RiskFields, *, prefix: str = "") -> RiskFields:
    """The profile with its given values checked; `prefix` places the field names (`risk.`)."""
    devices = None
    if risk.devices is not None:
        if len(risk.devices) > MAX_DEVICES:
            raise BadInput(f"At most {MAX_DEVICES} devices.", field=f"{prefix}devices")
        devices = tuple(_device(d, name=f"{prefix}devices.{i}") for i, d in enumerate(risk.devices))
    if risk.floor is not None and not MIN_FLOOR <= risk.floor <= MAX_FLOOR:
        raise BadInput(
            f"floor must be between {MIN_FLOOR} and {MAX_FLOOR}.", field=f"{prefix}floor"
        )
    depth = risk.flood_depth_m
    if depth is not None and not (math.isfinite(depth) and 0.0 <= depth <= MAX_FLOOD_DEPTH_M):
        raise BadInput(
            f"floodDepthM must be between 0 and {MAX_FLOOD_DEPTH_M:g}.",
            field=f"{prefix}floodDepthM",
        )
    supporter = risk.supporter
    if supporter is not None:
        supporter = validate_text(supporter, name=f"{prefix}supporter", max_length=MAX_NAME)
    return RiskFields(
        care_level=risk.care_level,
        mobility=risk.mobility,
        dementia=risk.dementia,
        sensory_impairment=risk.sensory_impairment,
        living=risk.living,
        devices=devices,
        floor=risk.floor,
        landslide_zone=risk.landslide_zone,
        flood_depth_m=depth,
        tsunami_zone=risk.tsunami_zone,
        air_conditioning=risk.air_conditioning,
        supporter=supporter,
    )


def apply_risk(row: RiskProfile, risk: RiskFields) -> None:
    """Copy the given (not None) attributes onto the stored profile."""
    for name in (
        "care_level",
        "mobility",
        "dementia",
        "sensory_impairment",
        "living",
        "floor",
        "landslide_zone",
        "flood_depth_m",
        "tsunami_zone",
        "air_conditioning",
        "supporter",
    ):
        value = getattr(risk, name)
        if value is not None:
            setattr(row, name, value)
    if risk.devices is not None:
        # An unknown battery time is left out rather than stored as null (readers use .get).
        row.devices = [
            {"kind": d.kind.value}
            | ({} if d.battery_hours is None else {"battery_hours": d.battery_hours})
            for d in risk.devices
        ]


def contact_rows(patient_id: int, fields: PatientFields) -> list[PatientContact]:
    """The contact rows for the fields: the key person first."""
    rows = []
    if fields.key_person is not None:
        kp = fields.key_person
        rows.append(
            PatientContact(
                patient_id=patient_id,
                name=kp.name,
                relation=kp.relation,
                phone=kp.phone,
                is_key_person=True,
            )
        )
    rows += [
        PatientContact(patient_id=patient_id, name=c.name, relation=c.relation, phone=c.phone)
        for c in fields.contacts
    ]
    return rows


def fields_of(patient: Patient, contacts: list[PatientContact]) -> PatientFields:
    """The stored record as fields, so an update is validated whole, like a creation."""
    key = next((c for c in contacts if c.is_key_person), None)
    return PatientFields(
        display_name=patient.display_name,
        kana=patient.kana,
        birth_date=patient.birth_date,
        sex=Sex(patient.sex),
        address=patient.address,
        latitude=patient.latitude,
        longitude=patient.longitude,
        phone=patient.phone,
        key_person=ContactFields(key.name, key.relation, key.phone) if key else None,
        contacts=tuple(
            ContactFields(c.name, c.relation, c.phone) for c in contacts if not c.is_key_person
        ),
        external_ref=patient.external_ref,
    )
