from rest_framework.routers import SimpleRouter

from apps.accounts.api.views import SHGViewSet

router = SimpleRouter()
router.register("shgs", SHGViewSet, basename="shg")
urlpatterns = router.urls
