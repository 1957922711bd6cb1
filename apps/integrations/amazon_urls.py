"""Amazon-only connection pages, mounted at /channels/amazon/."""

from django.urls import path

from apps.integrations import amazon_marketplaces

app_name = "amazon"
urlpatterns = [
    path("<int:connection_pk>/marketplaces/", amazon_marketplaces.amazon_marketplaces, name="marketplaces"),
    path("<int:connection_pk>/regions/authorise/", amazon_marketplaces.amazon_region_authorise,
         name="region_authorise"),
    path("<int:connection_pk>/regions/remove/", amazon_marketplaces.amazon_region_remove_view, name="region_remove"),
]
