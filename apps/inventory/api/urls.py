from rest_framework.routers import SimpleRouter

from apps.inventory.api.views import MarketplaceStockViewSet, OversoldLineViewSet, StockItemViewSet, StockMovementViewSet

router = SimpleRouter()
router.register("inventory", StockItemViewSet, basename="stockitem")
router.register("stock-movements", StockMovementViewSet, basename="stockmovement")
router.register("oversold-lines", OversoldLineViewSet, basename="oversoldline")
router.register("marketplace-stock", MarketplaceStockViewSet, basename="marketplacestock")
urlpatterns = router.urls
