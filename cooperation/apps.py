from django.apps import AppConfig
from django.db.models.signals import post_migrate


class CooperationConfig(AppConfig):
    name = "cooperation"
    verbose_name = "Defence cooperation"

    def ready(self) -> None:
        from cooperation import checks  # noqa: F401 - registers the database checks
        from cooperation.app_role import after_migrate

        # sender=self: once per migrate, after the apps listed before this one (pgtrigger's
        # and pghistory's install-on-migrate handlers, were they switched on).
        post_migrate.connect(after_migrate, sender=self, dispatch_uid="cooperation.app_role.after_migrate")
