"""The one list of kinds (DESIGN.md "Kinds"), shared by code, seed file, UI and tests."""

from __future__ import annotations

from enum import StrEnum


class UserKind(StrEnum):
    PROFESSIONAL = "professional"
    FAMILY = "family"
    PATIENT = "patient"
    MUNICIPALITY = "municipality"
    PLANNER = "planner"
    OPERATOR = "operator"


class Profession(StrEnum):
    DOCTOR = "doctor"
    DENTIST = "dentist"
    NURSE = "nurse"
    PHARMACIST = "pharmacist"
    PHYSICAL_THERAPIST = "physical_therapist"
    OCCUPATIONAL_THERAPIST = "occupational_therapist"
    SPEECH_THERAPIST = "speech_therapist"
    CARE_MANAGER = "care_manager"
    HOME_HELPER = "home_helper"
    DIETITIAN = "dietitian"
    SOCIAL_WORKER = "social_worker"
    OTHER = "other"


class OrganisationKind(StrEnum):
    MUNICIPALITY = "municipality"
    CLINIC = "clinic"
    HOSPITAL = "hospital"
    HOME_NURSING_STATION = "home_nursing_station"
    CARE_MANAGEMENT_OFFICE = "care_management_office"
    PHARMACY = "pharmacy"
    CARE_PROVIDER = "care_provider"
    COMMUNITY_SUPPORT_CENTER = "community_support_center"


class TeamRole(StrEnum):
    COORDINATOR = "coordinator"
    MEMBER = "member"
    FAMILY = "family"


class CareLevel(StrEnum):
    NONE = "none"
    SUPPORT_1 = "support_1"
    SUPPORT_2 = "support_2"
    CARE_1 = "care_1"
    CARE_2 = "care_2"
    CARE_3 = "care_3"
    CARE_4 = "care_4"
    CARE_5 = "care_5"


class Mobility(StrEnum):
    INDEPENDENT = "independent"
    WALKS_WITH_AID = "walks_with_aid"
    WHEELCHAIR = "wheelchair"
    BEDRIDDEN = "bedridden"


class Living(StrEnum):
    ALONE = "alone"
    ELDERLY_ONLY = "elderly_only"
    WITH_FAMILY = "with_family"


class DeviceKind(StrEnum):
    VENTILATOR = "ventilator"
    OXYGEN = "oxygen"
    HOME_DIALYSIS = "home_dialysis"
    SUCTION = "suction"
    FEEDING_PUMP = "feeding_pump"


class LandslideZone(StrEnum):
    NONE = "none"
    ZONE = "zone"
    SPECIAL = "special"


class Sex(StrEnum):
    FEMALE = "female"
    MALE = "male"
    OTHER = "other"


class ConsentKind(StrEnum):
    NORMAL_SHARING = "normal_sharing"
    PLANNER_SHARING = "planner_sharing"


class ArchiveReason(StrEnum):
    DISCHARGE = "discharge"
    DEATH = "death"
    MOVE = "move"
    OTHER = "other"


class PostCategory(StrEnum):
    VISIT_REPORT = "visit_report"
    VITALS = "vitals"
    MEDICATION = "medication"
    MEALS = "meals"
    EXCRETION = "excretion"
    SLEEP = "sleep"
    MOOD = "mood"
    SKIN = "skin"
    INCIDENT = "incident"
    INSTRUCTION = "instruction"
    OTHER = "other"


class FeedEventKind(StrEnum):
    """What a feed event says happened; stored as `feed.<value>` names (DESIGN.md contract)."""

    POST_CREATED = "post_created"
    POST_EDITED = "post_edited"
    POST_RETRACTED = "post_retracted"
    POST_READ = "post_read"
    POST_ACKNOWLEDGED = "post_acknowledged"
    MEMBERSHIP_CHANGED = "membership_changed"
    # Not in the contract's list: an urgent post nobody read in time, raised to the coordinator.
    POST_ESCALATED = "post_escalated"


class FeedAudience(StrEnum):
    """Who may receive a feed event about a patient: the whole team, or professionals only."""

    TEAM = "team"
    PROFESSIONALS = "professionals"
