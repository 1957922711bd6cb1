from rest_framework.routers import SimpleRouter

from apps.catalog.api.views import ProductViewSet, VariantViewSet

router = SimpleRouter()
router.register("products", ProductViewSet, basename="product")
router.register("variants", VariantViewSet, basename="variant")
urlpatterns = router.urls
