"""Enumerations of the domain. Areas are data (CooperationArea), not an enum."""

from django.db import models


class Classification(models.IntegerChoices):
    """Releasability of a record and clearance of a user share one ordered scale."""

    PUBLIC = 10, "Public"
    INTERNAL = 20, "Internal"
    RESTRICTED = 30, "Restricted"

    @classmethod
    def from_code(cls, code: str) -> "Classification":
        try:
            return cls[code.upper()]
        except KeyError:
            allowed = ", ".join(member.name.lower() for member in cls)
            raise ValueError(f"Unknown classification {code!r}; expected one of {allowed}.") from None

    @property
    def code(self) -> str:
        return self.name.lower()


class Role(models.TextChoices):
    DESK_OFFICER = "desk_officer", "Desk officer"
    MANAGER = "manager", "Manager"
    API_CLIENT = "api_client", "API client"
    ADMIN = "admin", "Administrator"


class Service(models.TextChoices):
    ARMY = "army", "Army"
    NAVY = "navy", "Navy"
    AIR_FORCE = "air_force", "Air Force"
    MARINES = "marines", "Marine Corps"
    JOINT = "joint", "Joint / Defence"
    OTHER = "other", "Other"


class AccreditationKind(models.TextChoices):
    RESIDENT = "resident", "Resident"
    CONCURRENT = "concurrent", "Concurrent"


class AccreditationStatus(models.TextChoices):
    REQUESTED = "requested", "Requested"
    AGREMENT_GRANTED = "agrement_granted", "Agrément granted"
    ACCREDITED = "accredited", "Accredited"
    ENDED = "ended", "Ended"
    REFUSED = "refused", "Refused"
    WITHDRAWN = "withdrawn", "Withdrawn"


OPEN_ACCREDITATION_STATUSES = (
    AccreditationStatus.REQUESTED,
    AccreditationStatus.AGREMENT_GRANTED,
    AccreditationStatus.ACCREDITED,
)


class ActivityKind(models.TextChoices):
    COURSE = "course", "Course"
    TRAINING = "training", "Training"
    EXERCISE = "exercise", "Exercise"
    VISIT = "visit", "Visit"
    SEMINAR = "seminar", "Seminar"
    TECHNICAL_ASSISTANCE = "technical_assistance", "Technical assistance"
    DONATION = "donation", "Donation"
    PROTOCOL_EVENT = "protocol_event", "Protocol event"
    OTHER = "other", "Other"


class ActivityLevel(models.TextChoices):
    PROTOCOL = "protocol", "Protocol"
    WORKING = "working", "Working"
    SENIOR = "senior", "Senior"
    MINISTERIAL = "ministerial", "Ministerial"


class ActivityStatus(models.TextChoices):
    PLANNED = "planned", "Planned"
    CONFIRMED = "confirmed", "Confirmed"
    CONDUCTED = "conducted", "Conducted"
    POSTPONED = "postponed", "Postponed"
    CANCELLED = "cancelled", "Cancelled"


PIPELINE_STATUSES = (ActivityStatus.PLANNED, ActivityStatus.CONFIRMED)


class WeightSetStatus(models.TextChoices):
    """A set is a draft until activated; its rollups are built while `activating`;
    exactly one set is `active`; the sets it replaced are `retired`."""

    DRAFT = "draft", "Draft"
    ACTIVATING = "activating", "Being activated"
    ACTIVE = "active", "Active"
    RETIRED = "retired", "Retired"


CONDUCTED_STATUSES = (ActivityStatus.CONDUCTED,)
