"""Audit contexts (who, from where) cannot be rewritten once their transaction is over.

pghistory upserts a context row while a transaction runs (nested contexts merge their
metadata), so updates are allowed only within the transaction that created the row —
its created_at is that transaction's now() — and deletes never.
"""

from django.db import migrations

FORWARD = r"""
CREATE FUNCTION attache_protect_history_context() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        RAISE EXCEPTION 'audit contexts cannot be deleted';
    END IF;
    IF OLD.created_at <> now() THEN
        RAISE EXCEPTION 'audit context % cannot be changed after its transaction', OLD.id;
    END IF;
    RETURN NEW;
END
$$;
CREATE TRIGGER attache_protect_history_context BEFORE UPDATE OR DELETE ON pghistory_context
    FOR EACH ROW EXECUTE FUNCTION attache_protect_history_context();
"""

BACKWARD = r"""
DROP TRIGGER attache_protect_history_context ON pghistory_context;
DROP FUNCTION attache_protect_history_context();
"""


class Migration(migrations.Migration):
    dependencies = [
        ("cooperation", "0007_default_weight_set"),
        ("pghistory", "0007_auto_20250421_0444"),
    ]

    operations = [migrations.RunSQL(FORWARD, BACKWARD)]
