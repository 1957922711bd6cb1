app_name = "orders"
urlpatterns: list = []
