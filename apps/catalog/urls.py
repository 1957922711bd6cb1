from django.urls import path

from apps.catalog import views

app_name = "catalog"
urlpatterns = [
    path("", views.product_list, name="products"),
    path("import/", views.catalog_import, name="import"),
    path("export.<str:file_format>", views.catalog_export_view, name="export"),
    path("unmatched/", views.unmatched_list, name="unmatched"),
    path("unmatched/<int:pk>/map/", views.unmatched_map, name="unmatched_map"),
    path("channels/<int:connection_pk>/import/", views.channel_import, name="channel_import"),
]
