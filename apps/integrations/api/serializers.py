"""Connections and sync runs as partners see them. Credentials are write-only: accepted on create, checked
live by the platform, stored encrypted, and never part of any answer."""

from __future__ import annotations

from typing import Any

from django.utils.translation import gettext as _
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers
from rest_framework.reverse import reverse

from apps.accounts.models import SHG
from apps.integrations.connectors.base import AuthKind
from apps.integrations.connectors.registry import UnknownPlatform, available_slugs, get_connector_class
from apps.integrations.models import Connection, SyncRun
from apps.integrations.webhooks import pasted_notification_url


def api_key_platforms() -> list[tuple[str, str]]:
    """Platforms a partner can connect through the API (those that take keys, not a sign-in on their site)."""
    choices = []
    for slug in available_slugs():
        cls = get_connector_class(slug)
        if cls.auth_kind == AuthKind.API_KEY:
            choices.append((slug, cls.name))
    return choices


class ConnectionSerializer(serializers.ModelSerializer):
    platform_name = serializers.SerializerMethodField()
    capabilities = serializers.SerializerMethodField()
    sync_runs_url = serializers.SerializerMethodField()
    notification_url = serializers.SerializerMethodField(
        help_text="Ozon and Yandex Market only: the address to paste in the seller cabinet's notification settings "
                  "(the platforms have no API to register it). Null for the others: Haat registers their webhooks.")

    class Meta:
        model = Connection
        fields = ["id", "uuid", "shg", "platform", "platform_name", "display_name", "status", "external_account_id",
                  "capabilities", "last_sync_at", "last_success_at", "next_sync_at", "consecutive_failures",
                  "last_error", "sync_runs_url", "notification_url", "created_at", "updated_at"]
        read_only_fields = fields

    def _cls(self, obj: Connection):
        try:
            return get_connector_class(obj.platform)
        except (UnknownPlatform, ImportError):
            return None

    def get_platform_name(self, obj: Connection) -> str:
        cls = self._cls(obj)
        return cls.name if cls else obj.platform

    @extend_schema_field(serializers.ListField(child=serializers.CharField()))
    def get_capabilities(self, obj: Connection) -> list[str]:
        cls = self._cls(obj)
        return sorted(str(c) for c in cls.capabilities) if cls else []

    @extend_schema_field(serializers.URLField(allow_null=True))
    def get_notification_url(self, obj: Connection) -> str | None:
        return pasted_notification_url(obj)

    def get_sync_runs_url(self, obj: Connection) -> str:
        url = reverse("api:syncrun-list", request=self.context.get("request"))
        return f"{url}?connection={obj.pk}"


class ConnectionCreateSerializer(serializers.Serializer):
    """Connect an API-key platform: the keys are tried live before anything is saved."""

    shg = serializers.PrimaryKeyRelatedField(queryset=SHG.objects.none())
    platform = serializers.ChoiceField(choices=[])
    credentials = serializers.DictField(
        child=serializers.CharField(allow_blank=True, max_length=2000), write_only=True,
        help_text="The platform's connect fields, e.g. WooCommerce: store_url, consumer_key, consumer_secret. "
                  "Never returned.",
    )

    def __init__(self, *args, shgs=None, **kwargs):
        super().__init__(*args, **kwargs)
        if shgs is not None:
            self.fields["shg"].queryset = shgs
        self.fields["platform"].choices = api_key_platforms()

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        cls = get_connector_class(attrs["platform"])
        values = attrs["credentials"]
        known = {spec.name for spec in cls.credential_fields}
        errors: dict[str, list[str]] = {}
        for spec in cls.credential_fields:
            value = values.get(spec.name, "")
            if spec.required and not str(value).strip():
                errors[spec.name] = [_("This field is required.")]
            elif spec.choices and value and value not in {choice for choice, _label in spec.choices}:
                errors[spec.name] = [_("Choose one of: %(values)s.") % {
                    "values": ", ".join(choice for choice, _label in spec.choices)}]
        for name in sorted(set(values) - known):
            errors[name] = [_("Not a field of %(platform)s.") % {"platform": cls.name}]
        if errors:
            raise serializers.ValidationError({"credentials": errors})
        attrs["credentials"] = {name: str(value).strip() for name, value in values.items()}
        return attrs


class ConnectionTestResultSerializer(serializers.Serializer):
    ok = serializers.BooleanField()
    message = serializers.CharField()
    status = serializers.CharField()


class SyncRequestSerializer(serializers.Serializer):
    stream = serializers.ChoiceField(choices=SyncRun.Stream.choices, default=SyncRun.Stream.ORDERS)


class SyncRunSerializer(serializers.ModelSerializer):
    url = serializers.HyperlinkedIdentityField(view_name="api:syncrun-detail")

    class Meta:
        model = SyncRun
        fields = ["id", "url", "connection", "stream", "trigger", "status", "started_at", "finished_at", "since",
                  "pages", "fetched", "created", "updated", "unchanged", "requests", "retries", "error_type", "error"]
        read_only_fields = fields


class SyncAcceptedSerializer(serializers.Serializer):
    sync_run = SyncRunSerializer()
    already_running = serializers.BooleanField(help_text="True when a run of this stream was already under way.")


class CredentialFieldSerializer(serializers.Serializer):
    name = serializers.CharField()
    label = serializers.CharField()
    secret = serializers.BooleanField()
    required = serializers.BooleanField()
    help_text = serializers.CharField()
    choices = serializers.ListField(child=serializers.CharField())


class PlatformSerializer(serializers.Serializer):
    slug = serializers.CharField()
    name = serializers.CharField()
    auth_kind = serializers.CharField()
    capabilities = serializers.ListField(child=serializers.CharField())
    credential_fields = CredentialFieldSerializer(many=True)


class ListingImportSerializer(serializers.Serializer):
    created = serializers.IntegerField(help_text="Variants created for SKUs the catalog lacked.")
    matched = serializers.IntegerField(help_text="Products whose SKU the catalog already had.")
    listings = serializers.IntegerField(help_text="Listings created or refreshed.")
    unmatched = serializers.IntegerField(help_text="Products without a SKU, kept for mapping by hand.")
