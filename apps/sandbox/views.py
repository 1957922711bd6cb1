"""The sandbox's own pages (not a platform's): the list of demo accounts and their keys."""

from django.shortcuts import render

from apps.sandbox.models import SandboxAccount


def index(request):
    accounts = SandboxAccount._default_manager.order_by("platform", "account_id")
    return render(request, "sandbox/index.html", {"accounts": accounts})
