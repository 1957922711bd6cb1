"""Webhook endpoints, mounted at /webhooks/.

/webhooks/<platform>/<connection uuid>/ is the address Haat registers with the platform per connection;
/webhooks/shopify/ is the app-level address for Shopify's mandatory privacy topics (set once in the
app's configuration).
"""

from django.urls import path

from apps.integrations import webhook_views

app_name = "webhooks"
urlpatterns = [
    path("shopify/", webhook_views.receive_shopify_app, name="shopify_app"),
    path("<slug:platform>/<uuid:connection_uuid>/", webhook_views.receive, name="receive"),
]
