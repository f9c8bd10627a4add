"""The channel rule in the database: an activity is never less restricted than the
accreditation it ran through (`models.activity.channel_refusal`), so whoever may see the
activity may see its channel.

`Activity.clean`, `Accreditation.clean` and the import check it first, with a clear
message; these triggers refuse what reaches the tables some other way (a queryset
`update()`, SQL). The activity's trigger reads the accreditation FOR SHARE, which waits for
an accreditation update in flight and makes that update wait for it, so the two checks
cannot pass side by side. Rows written before this migration are not checked again.
"""

from django.db import migrations

FORWARD = r"""
CREATE FUNCTION attache_activity_channel_rule() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    channel integer;
BEGIN
    SELECT releasability INTO channel FROM cooperation_accreditation
        WHERE id = NEW.accreditation_id FOR SHARE;
    IF channel > NEW.releasability THEN
        RAISE EXCEPTION USING ERRCODE = 'check_violation', CONSTRAINT = 'activity_channel_not_more_restricted',
            MESSAGE = format('activity_channel_not_more_restricted: activity %s runs through accreditation %s, which is more restricted',
                             NEW.id, NEW.accreditation_id);
    END IF;
    RETURN NULL;
END
$$;
CREATE TRIGGER activity_channel_not_more_restricted
    AFTER INSERT OR UPDATE OF accreditation_id, releasability ON cooperation_activity
    FOR EACH ROW WHEN (NEW.accreditation_id IS NOT NULL)
    EXECUTE FUNCTION attache_activity_channel_rule();

CREATE FUNCTION attache_accreditation_channel_rule() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF EXISTS (SELECT 1 FROM cooperation_activity
               WHERE accreditation_id = NEW.id AND releasability < NEW.releasability) THEN
        RAISE EXCEPTION USING ERRCODE = 'check_violation', CONSTRAINT = 'accreditation_not_above_its_activities',
            MESSAGE = format('accreditation_not_above_its_activities: an activity that ran through accreditation %s is less restricted', NEW.id);
    END IF;
    RETURN NULL;
END
$$;
CREATE TRIGGER accreditation_not_above_its_activities
    AFTER UPDATE OF releasability ON cooperation_accreditation
    FOR EACH ROW WHEN (NEW.releasability > OLD.releasability)
    EXECUTE FUNCTION attache_accreditation_channel_rule();
"""

BACKWARD = r"""
DROP TRIGGER accreditation_not_above_its_activities ON cooperation_accreditation;
DROP FUNCTION attache_accreditation_channel_rule();
DROP TRIGGER activity_channel_not_more_restricted ON cooperation_activity;
DROP FUNCTION attache_activity_channel_rule();
"""


class Migration(migrations.Migration):
    dependencies = [("cooperation", "0014_create_once_keys")]

    operations = [migrations.RunSQL(FORWARD, BACKWARD)]
