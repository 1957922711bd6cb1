from django.urls import path

from apps.reviews import views

app_name = "reviews"
urlpatterns = [
    path("", views.review_list, name="list"),
]
