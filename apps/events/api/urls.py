from rest_framework.routers import SimpleRouter

from apps.events.api.views import EventViewSet, SubscriptionViewSet

router = SimpleRouter()
router.register("events", EventViewSet, basename="event")
router.register("webhook-subscriptions", SubscriptionViewSet, basename="webhooksubscription")
urlpatterns = router.urls
