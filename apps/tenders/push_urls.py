"""Mounted by config/urls.py under webhooks/indiamart/: IndiaMART's push delivery of new leads."""

from django.urls import path

from apps.tenders import views

urlpatterns = [
    path("<uuid:connection_uuid>/<str:token>/", views.indiamart_push, name="indiamart_push"),
]
