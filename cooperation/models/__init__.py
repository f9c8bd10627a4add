from cooperation.models.accreditation import Accreditation, Attache, Post
from cooperation.models.activity import Activity, CooperationArea, Relationship
from cooperation.models.desk import Desk, DeskOfficer, DeskRelationship
from cooperation.models.intensity import AreaWeight, IntensityRollup, WeightSet
from cooperation.models.sync import ActivityChange

__all__ = [
    "Accreditation",
    "Activity",
    "ActivityChange",
    "AreaWeight",
    "Attache",
    "CooperationArea",
    "Desk",
    "DeskOfficer",
    "DeskRelationship",
    "IntensityRollup",
    "Post",
    "Relationship",
    "WeightSet",
]
