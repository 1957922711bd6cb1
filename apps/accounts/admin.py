from django.contrib import admin, messages
from django.utils import timezone

from apps.accounts.models import SHG, Membership, Organization, PartnerToken
from apps.accounts.services import partner_token_create


class MembershipInline(admin.TabularInline):
    model = Membership
    extra = 0
    autocomplete_fields = ["user"]
    fk_name = "organization"


@admin.register(Organization)
class OrganizationAdmin(admin.ModelAdmin):
    list_display = ["name", "kind", "state", "contact_email", "created_at"]
    list_filter = ["kind", "state"]
    search_fields = ["name", "contact_email"]
    filter_horizontal = ["served_shgs"]
    inlines = [MembershipInline]


@admin.register(SHG)
class SHGAdmin(admin.ModelAdmin):
    list_display = ["name", "federation", "district", "state", "contact_person", "phone", "is_active"]
    list_filter = ["state", "is_active", "federation"]
    search_fields = ["name", "registration_number", "district", "contact_person", "phone"]
    list_select_related = ["federation"]
    autocomplete_fields = ["federation"]


@admin.register(Membership)
class MembershipAdmin(admin.ModelAdmin):
    list_display = ["user", "role", "organization", "shg", "created_at"]
    list_filter = ["role"]
    search_fields = ["user__username", "user__email", "organization__name", "shg__name"]
    list_select_related = ["user", "organization", "shg"]
    autocomplete_fields = ["user", "organization", "shg"]


@admin.register(PartnerToken)
class PartnerTokenAdmin(admin.ModelAdmin):
    """The key is shown once, in a message, right after creation; only its hash is ever stored."""

    list_display = ["name", "organization", "key_prefix", "last_used_at", "revoked_at", "created_at"]
    list_filter = ["organization", ("revoked_at", admin.EmptyFieldListFilter)]
    search_fields = ["name", "key_prefix", "organization__name"]
    readonly_fields = ["key_prefix", "last_used_at", "created_by", "created_at", "revoked_at"]
    fields = ["organization", "name", "key_prefix", "created_by", "created_at", "last_used_at", "revoked_at"]
    actions = ["revoke"]
    list_select_related = ["organization"]

    def save_model(self, request, obj, form, change):
        if change:
            super().save_model(request, obj, form, change)
            return
        token, key = partner_token_create(organization=obj.organization, name=obj.name, created_by=request.user)
        obj.pk, obj.key_prefix, obj.key_hash = token.pk, token.key_prefix, token.key_hash
        obj._state.adding = False
        messages.warning(request, f"Copy the key now, it will not be shown again: {key}")

    @admin.action(description="Revoke selected tokens")
    def revoke(self, request, queryset):
        count = queryset.filter(revoked_at__isnull=True).update(revoked_at=timezone.now())
        self.message_user(request, f"{count} token(s) revoked.")
