"""Tenancy: every read of tenant data starts from one of these scoped querysets.

`visible_shgs` answers "which SHGs may this principal see"; every other app scopes its own
querysets with `scope_by_shg(queryset, principal)`, filtering on the SHG foreign key path, so a row of
another tenant is simply not found (views answer 404).
"""

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.db.models import Q, QuerySet

from apps.accounts.models import SHG, Membership, Organization, PartnerToken

Principal = AbstractBaseUser | AnonymousUser | PartnerToken


def visible_shgs(principal: Principal) -> QuerySet[SHG]:
    if isinstance(principal, PartnerToken):
        if not principal.is_active:
            return SHG.objects.none()
        org = principal.organization_id
        return SHG.objects.filter(Q(federation_id=org) | Q(partner_organizations__id=org)).distinct()
    if not principal.is_authenticated:
        return SHG.objects.none()
    org_ids = Membership.objects.filter(user=principal, organization__isnull=False).values("organization_id")
    shg_ids = Membership.objects.filter(user=principal, shg__isnull=False).values("shg_id")
    return SHG.objects.filter(
        Q(federation_id__in=org_ids) | Q(partner_organizations__id__in=org_ids) | Q(id__in=shg_ids)
    ).distinct()


def visible_shg_ids(principal: Principal) -> QuerySet:
    return visible_shgs(principal).values("id")


def scope_by_shg(queryset: QuerySet, principal: Principal, shg_field: str = "shg") -> QuerySet:
    """Limit any queryset to rows whose `shg_field` path points at an SHG the principal may see."""
    return queryset.filter(**{f"{shg_field}__in": visible_shg_ids(principal)})


def editable_shg_ids(user: AbstractBaseUser) -> set[int]:
    """SHGs where the user may change things (org admins and coordinators, not viewers)."""
    if not user.is_authenticated:
        return set()
    editable_roles = [Membership.Role.ORG_ADMIN, Membership.Role.COORDINATOR]
    memberships = Membership.objects.filter(user=user, role__in=editable_roles)
    org_ids = [m.organization_id for m in memberships if m.organization_id]
    direct = {m.shg_id for m in memberships if m.shg_id}
    via_org = set(
        SHG.objects.filter(Q(federation_id__in=org_ids) | Q(partner_organizations__id__in=org_ids)).values_list("id", flat=True)
    )
    return direct | via_org


def visible_organizations(user: AbstractBaseUser) -> QuerySet[Organization]:
    if not user.is_authenticated:
        return Organization.objects.none()
    return Organization.objects.filter(memberships__user=user).distinct()


def partner_tokens_for(user: AbstractBaseUser) -> QuerySet[PartnerToken]:
    admin_orgs = Membership.objects.filter(user=user, role=Membership.Role.ORG_ADMIN).values("organization_id")
    return PartnerToken.objects.filter(organization_id__in=admin_orgs)


def shg_list_for_dashboard(user: AbstractBaseUser) -> QuerySet[SHG]:
    return visible_shgs(user).select_related("federation").order_by("name")
