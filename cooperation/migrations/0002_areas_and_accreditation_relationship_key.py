"""The four founding cooperation areas, and the composite foreign key that keeps an
activity's accreditation inside the activity's relationship."""

from django.db import migrations

FOUNDING_AREAS = [
    ("peacekeeping", "Peacekeeping preparation", "Preparing units and staff for peacekeeping missions.", 10),
    ("education", "Military education", "Courses, language training and exchanges of officers and cadets.", 20),
    ("demining", "Demining", "Technical assistance, training and equipment for mine clearance.", 30),
    ("medicine", "Military medicine", "Exchanges and training in military medicine.", 40),
]


def create_areas(apps, schema_editor):
    area_model = apps.get_model("cooperation", "CooperationArea")
    for code, name, description, position in FOUNDING_AREAS:
        area_model.objects.update_or_create(
            code=code, defaults={"name": name, "description": description, "position": position}
        )


def delete_areas(apps, schema_editor):
    area_model = apps.get_model("cooperation", "CooperationArea")
    area_model.objects.filter(code__in=[code for code, *_ in FOUNDING_AREAS]).delete()


class Migration(migrations.Migration):
    dependencies = [("cooperation", "0001_initial")]

    operations = [
        migrations.RunPython(create_areas, delete_areas),
        migrations.RunSQL(
            sql="""
                ALTER TABLE cooperation_activity
                ADD CONSTRAINT activity_accreditation_in_relationship
                FOREIGN KEY (accreditation_id, relationship_id)
                REFERENCES cooperation_accreditation (id, relationship_id)
                ON UPDATE RESTRICT ON DELETE RESTRICT;
            """,
            reverse_sql="ALTER TABLE cooperation_activity DROP CONSTRAINT activity_accreditation_in_relationship;",
        ),
    ]
