"""The partner API: /api/v1/ (each app's api/urls.py), the OpenAPI schema and its docs (assets from the sidecar).

The schema and docs are public (they describe, they hold no data); every /api/v1/ route needs a token.
"""

from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularRedocView, SpectacularSwaggerView

app_name = "api"

v1 = [
    path("", include("apps.accounts.api.urls")),
    path("", include("apps.integrations.api.urls")),
    path("", include("apps.orders.api.urls")),
    path("", include("apps.catalog.api.urls")),
    path("", include("apps.inventory.api.urls")),
    path("", include("apps.events.api.urls")),
    path("", include("apps.tenders.api.urls")),
    path("", include("apps.reviews.api.urls")),
]

public = {"authentication_classes": [], "permission_classes": []}

urlpatterns = [
    path("v1/", include(v1)),
    path("schema/", SpectacularAPIView.as_view(**public), name="schema"),
    path("docs/", SpectacularSwaggerView.as_view(url_name="api:schema", **public), name="docs"),
    path("redoc/", SpectacularRedocView.as_view(url_name="api:schema", **public), name="redoc"),
]
