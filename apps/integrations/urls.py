"""Connection pages, mounted at /connections/. The OAuth callback path is registered with each platform."""

from django.urls import path

from apps.integrations import views

app_name = "integrations"
urlpatterns = [
    path("", views.connection_list, name="list"),
    path("shgs/<int:shg_pk>/connect/", views.platform_picker, name="picker"),
    path("shgs/<int:shg_pk>/connect/<slug:platform>/", views.connect, name="connect"),
    path("oauth/<slug:platform>/callback/", views.oauth_callback, name="oauth_callback"),
    path("<int:pk>/", views.connection_detail, name="detail"),
    path("<int:pk>/test/", views.connection_test, name="test"),
    path("<int:pk>/reconnect/", views.reconnect, name="reconnect"),
    path("<int:pk>/disconnect/", views.connection_disconnect, name="disconnect"),
]
