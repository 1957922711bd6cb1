from rest_framework.routers import SimpleRouter

from apps.tenders.api.views import BidViewSet, InquiryViewSet, QuoteViewSet, SellerProfileViewSet, TenderViewSet

router = SimpleRouter()
router.register("tenders", TenderViewSet, basename="tender")
router.register("bids", BidViewSet, basename="bid")
router.register("inquiries", InquiryViewSet, basename="inquiry")
router.register("quotes", QuoteViewSet, basename="quote")
router.register("seller-profiles", SellerProfileViewSet, basename="sellerprofile")
urlpatterns = router.urls
