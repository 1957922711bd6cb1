"""The SHGs a partner token may see (its federation's and those its organization serves)."""

from rest_framework import viewsets

from apps.accounts.api.filters import SHGFilter
from apps.accounts.api.serializers import SHGSerializer
from apps.accounts.models import SHG
from apps.accounts.selectors import visible_shgs
from apps.core.api import request_token


class SHGViewSet(viewsets.ReadOnlyModelViewSet):
    queryset = SHG.objects.none()  # the real one is per token: get_queryset
    serializer_class = SHGSerializer
    filterset_class = SHGFilter
    cursor_ordering = "name"

    def get_queryset(self):
        return visible_shgs(request_token(self.request)).select_related("federation")
