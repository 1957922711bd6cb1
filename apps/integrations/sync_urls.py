"""Sync pages, mounted at /sync/: a connection's runs, one run, and "Sync now"."""

from django.urls import path

from apps.integrations import sync_views

app_name = "sync"
urlpatterns = [
    path("", sync_views.activity, name="activity"),
    path("<int:pk>/", sync_views.run_list, name="runs"),
    path("<int:pk>/now/", sync_views.sync_now, name="now"),
    path("runs/<int:pk>/", sync_views.run_detail, name="run_detail"),
]
