"""Mounted at the site root: the overview is "home", where the login redirect (LOGIN_REDIRECT_URL) lands."""

from django.urls import path

from apps.dashboard import views

urlpatterns = [
    path("", views.overview, name="home"),
    path("products/<int:variant_pk>/price/", views.variant_price, name="variant_price"),
    path("products/<int:variant_pk>/stock/", views.variant_stock, name="variant_stock"),
    path("stock/<int:pk>/buffers/", views.stock_buffers, name="stock_buffers"),
]
