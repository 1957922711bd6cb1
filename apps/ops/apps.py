"""Operations: connection health, circuit breakers, alerts, probes, metrics and audit."""
from django.apps import AppConfig


class OpsConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "apps.ops"

    def ready(self) -> None:
        from apps.ops.audit import register_models

        register_models()
