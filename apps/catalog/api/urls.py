from rest_framework.routers import SimpleRouter

from apps.catalog.api.views import ListingViewSet, ProductViewSet, VariantViewSet

router = SimpleRouter()
router.register("products", ProductViewSet, basename="product")
router.register("variants", VariantViewSet, basename="variant")
router.register("listings", ListingViewSet, basename="listing")
urlpatterns = router.urls
