"""Dashboard pages of the accounts app: the coordinator's SHG list and an SHG's page; partner tokens."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from apps.accounts.forms import PartnerTokenForm
from apps.accounts.models import Membership
from apps.accounts.selectors import (
    editable_shg_ids,
    partner_tokens_for,
    shg_list_for_dashboard,
    visible_organizations,
    visible_shgs,
)
from apps.accounts.services import partner_token_create, partner_token_revoke


@login_required
def home(request):
    """The SHGs the user coordinates (the overview at / is where a coordinator lands)."""
    shgs = shg_list_for_dashboard(request.user)
    return render(request, "accounts/home.html", {"shgs": shgs})


@login_required
def shg_detail(request, pk: int):
    shg = get_object_or_404(visible_shgs(request.user).select_related("federation"), pk=pk)
    connections = shg.connections.order_by("platform", "display_name")
    return render(
        request,
        "accounts/shg_detail.html",
        {
            "shg": shg,
            "connections": connections,
            "can_edit": shg.pk in editable_shg_ids(request.user),
        },
    )


def _admin_organizations(user):
    return visible_organizations(user).filter(memberships__user=user, memberships__role=Membership.Role.ORG_ADMIN)


@login_required
def token_list(request):
    organizations = _admin_organizations(request.user)
    if not organizations.exists():
        raise Http404
    form = PartnerTokenForm(request.POST or None, organizations=organizations)
    if request.method == "POST" and form.is_valid():
        token, key = partner_token_create(
            organization=form.cleaned_data["organization"],
            name=form.cleaned_data["name"],
            created_by=request.user,
        )
        return render(request, "accounts/token_created.html", {"token": token, "key": key})
    tokens = partner_tokens_for(request.user).select_related("organization", "created_by")
    return render(request, "accounts/token_list.html", {"form": form, "tokens": tokens})


@login_required
@require_POST
def token_revoke(request, pk: int):
    token = get_object_or_404(partner_tokens_for(request.user), pk=pk)
    partner_token_revoke(token=token)
    messages.success(request, _("Token %(name)s revoked.") % {"name": token.name})
    return redirect("token_list")
