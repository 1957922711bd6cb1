"""The website channel's feed and its Keys page, mounted at /feeds/."""

from django.urls import path

from apps.integrations import feed_views

app_name = "feeds"
urlpatterns = [
    path("<uuid:connection_uuid>/products.json", feed_views.products_json, name="products_json"),
    path("<uuid:connection_uuid>/products.csv", feed_views.products_csv, name="products_csv"),
    path("website/<int:connection_pk>/keys/", feed_views.website_keys, name="website_keys"),
]
