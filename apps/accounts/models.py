"""Tenants: organizations (federations, NGOs, partner companies), the SHGs that sell, and who may see what.

An SHG belongs to one federation and may be served by several partner organizations. A user sees the
SHGs of the organizations they are a member of, plus the SHGs they are a direct member of. A partner
token sees the SHGs its organization owns or serves. `selectors.py` is the only place that turns
those rules into querysets.
"""

import hashlib
import secrets
import uuid

from django.conf import settings
from django.core.validators import RegexValidator
from django.db import models
from django.db.models import Q

from apps.core.models import TimestampedModel

phone_validator = RegexValidator(
    r"^\+?[0-9][0-9 \-]{7,16}$", "Enter a phone number of 8 to 17 digits, optionally starting with +."
)


class Organization(TimestampedModel):
    class Kind(models.TextChoices):
        FEDERATION = "federation", "SHG federation"
        NGO = "ngo", "NGO"
        PARTNER = "partner", "Partner company"

    name = models.CharField(max_length=200, unique=True)
    kind = models.CharField(max_length=20, choices=Kind.choices, default=Kind.FEDERATION)
    state = models.CharField(max_length=100, blank=True)
    contact_email = models.EmailField(blank=True)
    served_shgs = models.ManyToManyField(
        "SHG", blank=True, related_name="partner_organizations",
        help_text="SHGs of other federations this organization works for (partners and NGOs).",
    )

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class SHG(TimestampedModel):
    """A self-help group: the seller on every channel."""

    federation = models.ForeignKey(Organization, on_delete=models.PROTECT, related_name="shgs")
    name = models.CharField(max_length=200)
    registration_number = models.CharField(
        max_length=50, help_text="NRLM / state mission registration number.",
    )
    state = models.CharField(max_length=100)
    district = models.CharField(max_length=100)
    contact_person = models.CharField(max_length=200)
    phone = models.CharField(max_length=20, validators=[phone_validator])
    languages = models.CharField(max_length=200, blank=True, help_text="Comma-separated, e.g. Hindi, Marathi.")
    is_active = models.BooleanField(default=True)

    class Meta:
        verbose_name = "SHG"
        verbose_name_plural = "SHGs"
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(fields=["federation", "registration_number"], name="uniq_shg_registration"),
        ]

    def __str__(self) -> str:
        return self.name


class Membership(TimestampedModel):
    """A user's role in an organization (all its SHGs) or in a single SHG."""

    class Role(models.TextChoices):
        ORG_ADMIN = "org_admin", "Organization admin"
        COORDINATOR = "coordinator", "Coordinator"
        VIEWER = "viewer", "Viewer"

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships")
    organization = models.ForeignKey(
        Organization, null=True, blank=True, on_delete=models.CASCADE, related_name="memberships"
    )
    shg = models.ForeignKey(SHG, null=True, blank=True, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=20, choices=Role.choices, default=Role.COORDINATOR)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=(Q(organization__isnull=False, shg__isnull=True) | Q(organization__isnull=True, shg__isnull=False)),
                name="membership_org_xor_shg",
            ),
            models.UniqueConstraint(fields=["user", "organization"], name="uniq_membership_org",
                                    condition=Q(organization__isnull=False)),
            models.UniqueConstraint(fields=["user", "shg"], name="uniq_membership_shg", condition=Q(shg__isnull=False)),
        ]

    def __str__(self) -> str:
        return f"{self.user} – {self.get_role_display()} of {self.organization or self.shg}"

    @property
    def can_edit(self) -> bool:
        return self.role in (self.Role.ORG_ADMIN, self.Role.COORDINATOR)


def hash_token_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


class PartnerToken(TimestampedModel):
    """An API key for a partner organization. Only its SHA-256 is stored; the key is shown once."""

    PREFIX = "haat_"

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="tokens")
    name = models.CharField(max_length=100, help_text="What the token is used for.")
    key_prefix = models.CharField(max_length=16, editable=False, help_text="First characters, to tell keys apart.")
    key_hash = models.CharField(max_length=64, unique=True, editable=False)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.name} ({self.key_prefix}…)"

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None

    @classmethod
    def generate_key(cls) -> str:
        return cls.PREFIX + secrets.token_urlsafe(32)
