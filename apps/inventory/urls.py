from django.urls import path

from apps.inventory import views

app_name = "inventory"
urlpatterns = [
    path("", views.stock_list, name="stock"),
    path("<int:pk>/ledger/", views.stock_ledger, name="ledger"),
    path("<int:pk>/adjust/", views.stock_adjust, name="adjust"),
]
