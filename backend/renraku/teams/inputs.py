"""GraphQL inputs for patient records, each turned into the plain values of teams/fields.py."""

from __future__ import annotations

from datetime import date
from typing import Any

import strawberry

from renraku.kinds import (
    ArchiveReason,
    CareLevel,
    ConsentKind,
    DeviceKind,
    LandslideZone,
    Living,
    Mobility,
    Sex,
)
from renraku.teams.fields import ContactFields, DeviceFields, PatientFields, RiskFields

strawberry.enum(DeviceKind)
strawberry.enum(LandslideZone)
strawberry.enum(Sex)
strawberry.enum(ConsentKind)
strawberry.enum(ArchiveReason)


@strawberry.input
class ContactInput:
    name: str
    relation: str = ""
    phone: str = ""

    def to_fields(self) -> ContactFields:
        return ContactFields(name=self.name, relation=self.relation, phone=self.phone)


@strawberry.input
class DeviceInput:
    kind: DeviceKind
    battery_hours: float | None = None


@strawberry.input(description="Risk attributes; those left out keep their value (or default).")
class RiskProfileInput:
    care_level: CareLevel | None = None
    mobility: Mobility | None = None
    dementia: bool | None = None
    sensory_impairment: bool | None = None
    living: Living | None = None
    devices: list[DeviceInput] | None = None
    floor: int | None = None
    landslide_zone: LandslideZone | None = None
    flood_depth_m: float | None = None
    tsunami_zone: bool | None = None
    air_conditioning: bool | None = None
    supporter: str | None = None

    def to_fields(self) -> RiskFields:
        devices = None
        if self.devices is not None:
            devices = tuple(DeviceFields(d.kind, d.battery_hours) for d in self.devices)
        return RiskFields(
            care_level=self.care_level,
            mobility=self.mobility,
            dementia=self.dementia,
            sensory_impairment=self.sensory_impairment,
            living=self.living,
            devices=devices,
            floor=self.floor,
            landslide_zone=self.landslide_zone,
            flood_depth_m=self.flood_depth_m,
            tsunami_zone=self.tsunami_zone,
            air_conditioning=self.air_conditioning,
            supporter=self.supporter,
        )


@strawberry.input(description="A new patient; the location must lie inside your municipality.")
class CreatePatientInput:
    display_name: str
    latitude: float
    longitude: float
    kana: str = ""
    birth_date: date | None = None
    sex: Sex = Sex.OTHER
    address: str = ""
    phone: str = ""
    key_person: ContactInput | None = None
    contacts: list[ContactInput] = strawberry.field(default_factory=list)
    risk: RiskProfileInput | None = None
    external_ref: str | None = None

    def to_fields(self) -> PatientFields:
        return PatientFields(
            display_name=self.display_name,
            latitude=self.latitude,
            longitude=self.longitude,
            kana=self.kana,
            birth_date=self.birth_date,
            sex=self.sex,
            address=self.address,
            phone=self.phone,
            key_person=self.key_person.to_fields() if self.key_person else None,
            contacts=tuple(c.to_fields() for c in self.contacts),
            external_ref=self.external_ref,
        )

    def risk_fields(self) -> RiskFields:
        return self.risk.to_fields() if self.risk else RiskFields()


@strawberry.input(
    description="Changes to a patient's record: fields left out stay; keyPerson and contacts, "
    "when given, replace the current ones."
)
class UpdatePatientInput:
    display_name: str | None = strawberry.UNSET
    kana: str | None = strawberry.UNSET
    birth_date: date | None = strawberry.UNSET
    sex: Sex | None = strawberry.UNSET
    address: str | None = strawberry.UNSET
    latitude: float | None = strawberry.UNSET
    longitude: float | None = strawberry.UNSET
    phone: str | None = strawberry.UNSET
    key_person: ContactInput | None = strawberry.UNSET
    contacts: list[ContactInput] | None = strawberry.UNSET
    external_ref: str | None = strawberry.UNSET

    def changes(self) -> dict[str, Any]:
        """The fields the client sent (null included), by PatientFields name."""
        given: dict[str, Any] = {
            name: value for name, value in vars(self).items() if value is not strawberry.UNSET
        }
        if "key_person" in given and self.key_person is not None:
            given["key_person"] = self.key_person.to_fields()
        if "contacts" in given and self.contacts is not None:
            given["contacts"] = tuple(c.to_fields() for c in self.contacts)
        return given
