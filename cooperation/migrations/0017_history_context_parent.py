"""An audit context's `parent` always names a context row.

`cooperation.audit` gives each service action, and a request whose user changes, a context
of its own whose `parent` is the outermost context (the request or task). That one is
written only when something writes under it directly, which most requests never do: their
writes go through services. Its metadata travels with the child's (`parent_metadata`); when
the child's row is first written (pghistory's `_pgh_attach_context()` upsert), this trigger
writes the parent's row from it, unless it exists, in the same transaction, and stores the
child without the key.
"""

from django.db import migrations

FORWARD = r"""
CREATE FUNCTION attache_history_context_parent() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO pghistory_context (id, metadata, created_at, updated_at)
        VALUES ((NEW.metadata ->> 'parent')::uuid, NEW.metadata -> 'parent_metadata', NEW.created_at, NEW.updated_at)
        ON CONFLICT (id) DO NOTHING;
    NEW.metadata := NEW.metadata - 'parent_metadata';
    RETURN NEW;
END
$$;
CREATE TRIGGER attache_history_context_parent BEFORE INSERT ON pghistory_context
    FOR EACH ROW WHEN (NEW.metadata ? 'parent_metadata') EXECUTE FUNCTION attache_history_context_parent();
"""

BACKWARD = r"""
DROP TRIGGER attache_history_context_parent ON pghistory_context;
DROP FUNCTION attache_history_context_parent();
"""


class Migration(migrations.Migration):
    dependencies = [
        ("cooperation", "0016_activity_scope_change"),
        ("pghistory", "0007_auto_20250421_0444"),
    ]

    operations = [migrations.RunSQL(FORWARD, BACKWARD)]
