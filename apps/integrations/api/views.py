"""Connections (list, detail, connect with keys, test, sync) and sync runs, scoped to the token's SHGs."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import ValidationError
from rest_framework.response import Response

from apps.accounts.selectors import scope_by_shg, visible_shgs
from apps.core.api import ConflictError, error_responses, request_token
from apps.integrations.api.filters import ConnectionFilter, SyncRunFilter
from apps.integrations.api.serializers import (
    ConnectionCreateSerializer,
    ConnectionSerializer,
    ConnectionTestResultSerializer,
    ListingImportSerializer,
    PlatformSerializer,
    SyncAcceptedSerializer,
    SyncRequestSerializer,
    SyncRunSerializer,
)
from apps.integrations.connectors.registry import all_connector_classes
from apps.integrations.models import Connection, SyncRun
from apps.integrations.services import ConnectFailed, connection_connect_api_key, connection_test
from apps.integrations.tasks import NotSyncable, sync_request


@extend_schema_view(
    list=extend_schema(summary="Connections of the SHGs the token sees"),
    retrieve=extend_schema(summary="One connection", responses={200: ConnectionSerializer, **error_responses(404)}),
)
class ConnectionViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    queryset = Connection.objects.none()  # the real one is per token: get_queryset
    serializer_class = ConnectionSerializer
    filterset_class = ConnectionFilter
    cursor_ordering = "-id"

    def get_queryset(self):
        return scope_by_shg(Connection.objects.select_related("shg"), request_token(self.request))

    @extend_schema(
        summary="Connect an API-key platform",
        description="The credentials are tried against the platform before anything is saved; connecting the "
                    "same account again updates its connection. Credentials are never returned.",
        request=ConnectionCreateSerializer, responses={201: ConnectionSerializer, **error_responses(400)},
    )
    def create(self, request):
        token = request_token(request)
        serializer = ConnectionCreateSerializer(data=request.data, shgs=visible_shgs(token))
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        try:
            connection = connection_connect_api_key(shg=data["shg"], platform=data["platform"],
                                                    values=data["credentials"])
        except ConnectFailed as exc:
            raise ValidationError({"credentials": [exc.message]}) from None
        body = ConnectionSerializer(connection, context=self.get_serializer_context()).data
        return Response(body, status=status.HTTP_201_CREATED)

    @extend_schema(summary="Test a connection live", request=None,
                   responses={200: ConnectionTestResultSerializer, **error_responses(404)})
    @action(detail=True, methods=["post"])
    def test(self, request, pk=None):
        connection = self.get_object()
        outcome = connection_test(connection=connection)
        return Response({"ok": outcome.ok, "message": outcome.message, "status": connection.status})

    @extend_schema(
        summary="Start a sync",
        description="Answers 202 at once with the run that will do the work (`Location` is its URL); poll it "
                    "until `status` is no longer `running`. A run already under way is returned instead.",
        request=SyncRequestSerializer,
        responses={202: OpenApiResponse(SyncAcceptedSerializer), **error_responses(400, 404, 409)},
    )
    @action(detail=True, methods=["post"])
    def sync(self, request, pk=None):
        connection = self.get_object()
        serializer = SyncRequestSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        try:
            run, created = sync_request(connection=connection, stream=serializer.validated_data["stream"],
                                        trigger=SyncRun.Trigger.MANUAL)
        except NotSyncable as exc:
            raise ConflictError(str(exc)) from None
        context = self.get_serializer_context()
        body = {"sync_run": SyncRunSerializer(run, context=context).data, "already_running": not created}
        return Response(body, status=status.HTTP_202_ACCEPTED, headers={"Location": body["sync_run"]["url"]})


    @extend_schema(
        summary="Import the channel's products as listings",
        description="Reads every product of the channel now: SKUs the catalog lacks become variants, every SKU'd "
                    "product becomes (or refreshes) a listing of its variant, and products without a SKU are kept "
                    "for a coordinator to map by hand (`unmatched`). The catalog's prices and stock are not "
                    "overwritten.",
        request=None, responses={200: ListingImportSerializer, **error_responses(404, 409)},
    )
    @action(detail=True, methods=["post"], url_path="import-listings")
    def import_listings(self, request, pk=None):
        from apps.catalog.services import listings_import_from_channel
        from apps.integrations.connectors.base import Capability
        from apps.integrations.connectors.errors import ConnectorError

        connection = self.get_object()
        if not connection.is_syncable or not connection.connector_class.supports(Capability.PRODUCTS):
            raise ConflictError("This connection cannot be read for products now.")
        try:
            result = listings_import_from_channel(connection=connection)
        except ConnectorError as exc:
            raise ConflictError(f"The channel did not answer: {exc}") from None
        return Response({"created": result.created, "matched": result.matched, "listings": result.listings,
                         "unmatched": result.unmatched})


class SyncRunViewSet(viewsets.ReadOnlyModelViewSet):
    queryset = SyncRun.objects.none()
    serializer_class = SyncRunSerializer
    filterset_class = SyncRunFilter
    cursor_ordering = "-id"

    def get_queryset(self):
        return scope_by_shg(SyncRun.objects.all(), request_token(self.request), shg_field="connection__shg")


class PlatformViewSet(viewsets.ViewSet):
    """The platforms this installation can connect, and what each needs to connect with keys."""

    pagination_class = None
    serializer_class = PlatformSerializer

    @extend_schema(responses=PlatformSerializer(many=True))
    def list(self, request):
        rows = [{
            "slug": cls.slug, "name": cls.name, "auth_kind": str(cls.auth_kind),
            "capabilities": sorted(str(c) for c in cls.capabilities),
            "credential_fields": [{"name": f.name, "label": f.label, "secret": f.secret, "required": f.required,
                                   "help_text": f.help_text, "choices": [c for c, _label in f.choices]}
                                  for f in cls.credential_fields],
        } for cls in all_connector_classes()]
        return Response(PlatformSerializer(rows, many=True).data)


