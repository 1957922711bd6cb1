from django.apps import AppConfig


class IntegrationsConfig(AppConfig):
    name = "apps.integrations"
    label = "integrations"
    verbose_name = "Channels"

    def ready(self) -> None:
        from apps.integrations import checks  # noqa: F401  (registers the connector system check)
