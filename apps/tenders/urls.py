from django.urls import path

from apps.tenders import views

app_name = "tenders"
urlpatterns = [
    path("", views.tender_list, name="list"),
    path("import/", views.tender_import, name="import"),
    path("<int:pk>/", views.tender_detail, name="detail"),
    path("<int:pk>/bid/start/", views.bid_start, name="bid_start"),
    path("<int:pk>/bid/save/", views.bid_update, name="bid_update"),
    path("<int:pk>/bid/step/", views.bid_transition, name="bid_transition"),
    path("<int:pk>/bid/sheet.xlsx", views.bid_sheet, name="bid_sheet"),
    path("<int:pk>/bid/bundle.zip", views.bid_bundle, name="bid_bundle"),
    path("profile/<int:shg_pk>/", views.seller_profile, name="profile"),
    path("documents/<int:pk>/", views.seller_document, name="document"),
    path("inquiries/", views.inquiry_list, name="inquiries"),
    path("inquiries/<int:pk>/", views.inquiry_detail, name="inquiry_detail"),
    path("inquiries/<int:pk>/status/", views.inquiry_status, name="inquiry_status"),
    path("quotes/<int:pk>/pdf/", views.quote_pdf, name="quote_pdf"),
    path("quotes/shared/<str:signed_quote>/", views.quote_shared, name="quote_shared"),
]

