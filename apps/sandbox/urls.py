"""Sandbox routes: /sandbox/ lists the demo accounts; /sandbox/<platform>/... plays each platform's API."""

from importlib import import_module

from django.urls import include, path

from apps.sandbox import views

app_name = "sandbox"

# One module per platform in apps/sandbox/platforms/, each exposing `urlpatterns`.
PLATFORM_MODULES = ["amazon", "flipkart", "shopify", "woocommerce", "magento", "bigcommerce", "ozon", "wildberries", "gem",
                    "indiamart", "yandex_market", "uzum", "website"]

urlpatterns = [path("", views.index, name="index")]
for _slug in PLATFORM_MODULES:
    try:
        _module = import_module(f"apps.sandbox.platforms.{_slug}")
    except ModuleNotFoundError as exc:
        if exc.name != f"apps.sandbox.platforms.{_slug}":
            raise
        continue
    urlpatterns.append(path(f"{_slug}/", include((_module.urlpatterns, _slug))))
