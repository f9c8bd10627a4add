"""The default weight set of DESIGN.md (every area 1.0; protocol 1, working 2, senior 3,
ministerial 4), active from the start, and its rollups for the activities already there."""

from django.db import migrations
from django.utils import timezone

DEFAULT_NAME = "Default (DESIGN.md)"

# The index as defined when this migration was written (cooperation/intensity.py).
FILL_ROLLUPS = """
    INSERT INTO cooperation_intensityrollup
        (weight_set_id, relationship_id, area_id, month, releasability, conducted, intensity, pipeline)
    SELECT ws.id, a.relationship_id, a.area_id, date_trunc('month', a.start_date)::date, a.releasability,
           count(*) FILTER (WHERE a.status = 'conducted'),
           coalesce(sum(round((coalesce(aw.weight, 1)::float8
               * (CASE a.level WHEN 'protocol' THEN ws.protocol_weight WHEN 'working' THEN ws.working_weight
                  WHEN 'senior' THEN ws.senior_weight WHEN 'ministerial' THEN ws.ministerial_weight END)::float8
               * (1 + log(1 + a.participants::float8))
               * sqrt(least(coalesce(a.end_date, a.start_date) - a.start_date + 1, 30)::float8))::numeric, 6))
               FILTER (WHERE a.status = 'conducted'), 0),
           count(*) FILTER (WHERE a.status IN ('planned', 'confirmed'))
    FROM cooperation_activity a
    JOIN cooperation_weightset ws ON ws.id = %s
    LEFT JOIN cooperation_areaweight aw ON aw.weight_set_id = ws.id AND aw.area_id = a.area_id
    WHERE a.deleted_at IS NULL AND a.status IN ('conducted', 'planned', 'confirmed')
    GROUP BY ws.id, a.relationship_id, a.area_id, date_trunc('month', a.start_date), a.releasability
"""


def create_default_set(apps, schema_editor):
    weight_set_model = apps.get_model("cooperation", "WeightSet")
    if weight_set_model.objects.filter(status="active").exists():
        return
    now = timezone.now()
    weight_set = weight_set_model.objects.create(
        name=DEFAULT_NAME,
        description="The weights DESIGN.md gives: every area 1.0; protocol 1, working 2, senior 3, ministerial 4.",
        status="active",
        first_activated_at=now,
        created_at=now,
    )
    schema_editor.execute(FILL_ROLLUPS, [weight_set.pk])


def delete_default_set(apps, schema_editor):
    apps.get_model("cooperation", "WeightSet").objects.filter(name=DEFAULT_NAME).delete()


class Migration(migrations.Migration):
    dependencies = [("cooperation", "0006_intensity")]

    operations = [
        # Room on each page for HOT updates: adding a bulk import's rows to the rollups
        # updates thousands of rows in place without touching the indexes.
        migrations.RunSQL(
            "ALTER TABLE cooperation_intensityrollup SET (fillfactor = 80)",
            "ALTER TABLE cooperation_intensityrollup RESET (fillfactor)",
        ),
        migrations.RunPython(create_default_set, delete_default_set),
    ]
