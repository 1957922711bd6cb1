from rest_framework.routers import SimpleRouter

from apps.orders.api.views import FulfilmentViewSet, OrderViewSet

router = SimpleRouter()
router.register("orders", OrderViewSet, basename="order")
router.register("fulfilments", FulfilmentViewSet, basename="fulfilment")
urlpatterns = router.urls
