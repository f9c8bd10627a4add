from django.apps import AppConfig


class CooperationConfig(AppConfig):
    name = "cooperation"
    verbose_name = "Defence cooperation"

    def ready(self) -> None:
        from cooperation import checks  # noqa: F401 - registers the database checks
