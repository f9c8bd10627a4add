"""Inserts whose rollups the same transaction adds itself (the bulk import, through
`add_staged_activities`) need no outbox entry: the importer sets the transaction-local
`attache.rollups_added_by_caller` around its INSERT. Updates and deletes are always recorded."""

import importlib

from django.db import migrations

# Reversing restores the function as 0009 created it (read from there, not copied).
_PREVIOUS = importlib.import_module("cooperation.migrations.0009_intensity_outbox").FORWARD
BACKWARD = _PREVIOUS[_PREVIOUS.index("CREATE FUNCTION") : _PREVIOUS.index("$$;") + 3].replace(
    "CREATE FUNCTION", "CREATE OR REPLACE FUNCTION", 1
)

FORWARD = r"""
CREATE OR REPLACE FUNCTION cooperation_intensity_outbox_mark() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        IF coalesce(current_setting('attache.rollups_added_by_caller', true), '') = 'on' THEN
            RETURN NULL;
        END IF;
        INSERT INTO cooperation_intensityoutbox (relationship_id, month, created_at)
        SELECT DISTINCT relationship_id, date_trunc('month', start_date)::date, now() FROM new_rows;
    ELSIF TG_OP = 'DELETE' THEN
        INSERT INTO cooperation_intensityoutbox (relationship_id, month, created_at)
        SELECT DISTINCT relationship_id, date_trunc('month', start_date)::date, now() FROM old_rows;
    ELSE
        INSERT INTO cooperation_intensityoutbox (relationship_id, month, created_at)
        SELECT DISTINCT k.relationship_id, k.month, now() FROM (
            SELECT o.relationship_id, date_trunc('month', o.start_date)::date AS month,
                   n.relationship_id AS new_relationship_id, date_trunc('month', n.start_date)::date AS new_month
            FROM old_rows o JOIN new_rows n ON n.id = o.id
            WHERE (o.relationship_id, o.area_id, o.start_date, o.end_date, o.status, o.level, o.participants,
                   o.releasability, o.deleted_at)
                  IS DISTINCT FROM
                  (n.relationship_id, n.area_id, n.start_date, n.end_date, n.status, n.level, n.participants,
                   n.releasability, n.deleted_at)
        ) changed
        CROSS JOIN LATERAL (VALUES (changed.relationship_id, changed.month),
                                   (changed.new_relationship_id, changed.new_month)) AS k(relationship_id, month);
    END IF;
    RETURN NULL;
END
$$;
"""


class Migration(migrations.Migration):
    dependencies = [("cooperation", "0011_digest_send")]

    operations = [migrations.RunSQL(FORWARD, BACKWARD)]
