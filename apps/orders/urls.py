from django.urls import path

from apps.orders import views

app_name = "orders"
urlpatterns = [
    path("", views.order_list, name="list"),
    path("export.csv", views.order_export, name="export"),
    path("totals/", views.order_totals, name="totals"),
    path("<int:pk>/", views.order_detail, name="detail"),
    path("fulfilments/<int:pk>/retry/", views.fulfilment_retry, name="fulfilment_retry"),
]
