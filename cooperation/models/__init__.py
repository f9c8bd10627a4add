from cooperation.models.accreditation import Accreditation, Attache, Post
from cooperation.models.activity import ACTIVITY_DESCRIPTION_FIELDS, Activity, CooperationArea, Relationship
from cooperation.models.desk import Desk, DeskOfficer, DeskRelationship
from cooperation.models.digest import DigestSend
from cooperation.models.intensity import AreaWeight, IntensityOutbox, IntensityRollup, WeightSet
from cooperation.models.ops import TaskFailure
from cooperation.models.sync import ActivityChange, ActivityScopeChange

__all__ = [
    "ACTIVITY_DESCRIPTION_FIELDS",
    "Accreditation",
    "Activity",
    "ActivityChange",
    "ActivityScopeChange",
    "AreaWeight",
    "Attache",
    "CooperationArea",
    "Desk",
    "DeskOfficer",
    "DeskRelationship",
    "DigestSend",
    "IntensityOutbox",
    "IntensityRollup",
    "Post",
    "Relationship",
    "TaskFailure",
    "WeightSet",
]
