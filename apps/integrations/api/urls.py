from rest_framework.routers import SimpleRouter

from apps.integrations.api.views import ConnectionViewSet, PlatformViewSet, SyncRunViewSet

router = SimpleRouter()
router.register("platforms", PlatformViewSet, basename="platform")
router.register("connections", ConnectionViewSet, basename="connection")
router.register("sync-runs", SyncRunViewSet, basename="syncrun")
urlpatterns = router.urls
