from django.conf import settings
from django.contrib import admin
from django.urls import include, path

admin.site.site_header = "Haat"
admin.site.site_title = "Haat admin"
admin.site.index_title = "Channels, orders and stock of every SHG"

urlpatterns = [
    path("admin/", admin.site.urls),
    path("i18n/", include("django.conf.urls.i18n")),
    path("", include("apps.dashboard.urls")),
    path("", include("apps.accounts.urls")),
    path("connections/", include("apps.integrations.urls")),
    path("sync/", include("apps.integrations.sync_urls")),
    path("orders/", include("apps.orders.urls")),
    path("catalog/", include("apps.catalog.urls")),
    path("inventory/", include("apps.inventory.urls")),
    path("webhooks/", include("apps.integrations.webhook_urls")),
    path("webhooks/indiamart/", include("apps.tenders.push_urls")),
    path("tenders/", include("apps.tenders.urls")),
    path("reviews/", include("apps.reviews.urls")),
    path("feeds/", include("apps.integrations.feed_urls")),
    path("channels/amazon/", include("apps.integrations.amazon_urls")),
    path("api/", include("config.api_urls")),
    path("", include("apps.ops.urls")),
]

if settings.SANDBOX:
    urlpatterns.append(path("sandbox/", include("apps.sandbox.urls")))
