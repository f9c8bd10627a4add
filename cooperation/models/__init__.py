from cooperation.models.accreditation import Accreditation, Attache, Post
from cooperation.models.activity import Activity, CooperationArea, Relationship
from cooperation.models.desk import Desk, DeskOfficer, DeskRelationship
from cooperation.models.sync import ActivityChange

__all__ = [
    "Accreditation",
    "Activity",
    "ActivityChange",
    "Attache",
    "CooperationArea",
    "Desk",
    "DeskOfficer",
    "DeskRelationship",
    "Post",
    "Relationship",
]
