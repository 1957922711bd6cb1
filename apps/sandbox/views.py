"""The sandbox's own pages (not a platform's): the list of demo accounts and their keys."""

from django.shortcuts import render

from apps.sandbox.models import SandboxAccount


def index(request):
    from django.shortcuts import redirect

    from apps.sandbox.http import platform_start, platform_stop, stopped_platforms
    from apps.sandbox.urls import PLATFORM_MODULES

    if request.method == "POST" and request.POST.get("platform") in PLATFORM_MODULES:  # the outage drill
        (platform_stop if request.POST.get("action") == "stop" else platform_start)(request.POST["platform"])
        return redirect("sandbox:index")
    accounts = SandboxAccount._default_manager.order_by("platform", "account_id")
    stopped = stopped_platforms()
    platforms = [{"slug": slug, "stopped": slug in stopped} for slug in PLATFORM_MODULES]
    return render(request, "sandbox/index.html", {"accounts": accounts, "platforms": platforms})
