"""Mounted at the site root: the overview is "home", where the login redirect (LOGIN_REDIRECT_URL) lands."""

from django.urls import path

from apps.dashboard import views

urlpatterns = [
    path("", views.overview, name="home"),
]
