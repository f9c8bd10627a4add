"""System checks that read the database (`python manage.py check --database default`)."""

from __future__ import annotations

from typing import Any

from django.core import checks
from django.db import DatabaseError
from django.db.models import F

SHOWN_IDS = 20


@checks.register(checks.Tags.database)
def channel_rule(app_configs: Any = None, databases: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    """Activities less restricted than the accreditation they ran through.

    Since migration 0015 the database refuses new ones; rows written before it are not
    checked by it, and whoever may see such an activity may not be allowed to see its
    channel. The history and the pages hide the channel from them; this names the rows so
    that someone can raise the activity or unlink the accreditation.
    """
    from cooperation.models import Activity

    messages: list[checks.CheckMessage] = []
    for alias in databases or ():
        violating = Activity.objects.using(alias).filter(accreditation__releasability__gt=F("releasability"))
        try:
            ids = list(violating.order_by("pk").values_list("pk", flat=True)[: SHOWN_IDS + 1])
            count = len(ids) if len(ids) <= SHOWN_IDS else violating.count()
        except DatabaseError:  # not migrated yet (`migrate` runs the checks first)
            continue
        if count:
            shown = ", ".join(str(pk) for pk in ids[:SHOWN_IDS]) + (", …" if count > SHOWN_IDS else "")
            messages.append(
                checks.Warning(
                    f"{count} activit{'y runs' if count == 1 else 'ies run'} through an accreditation more "
                    f"restricted than {'itself' if count == 1 else 'themselves'} (database {alias!r}; ids {shown}).",
                    hint="Raise each activity's releasability to its accreditation's, or unlink the accreditation.",
                    id="cooperation.W001",
                )
            )
    return messages
