from django.apps import AppConfig


class TendersConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "apps.tenders"
