"""Create the demo tenant: a federation, three SHGs, a coordinator, a partner token. Safe to run again."""

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand
from django.db import transaction

from apps.accounts.models import SHG, Membership, Organization, PartnerToken
from apps.accounts.services import partner_token_create

DEMO_PASSWORD = "haat-demo-2026"
DEMO_SHGS = [
    {"name": "Sakhi Mahila Bachat Gat", "registration_number": "MH-PUN-2019-0142", "state": "Maharashtra",
     "district": "Pune", "contact_person": "Sunita Jadhav", "phone": "+91 98220 41234", "languages": "Marathi, Hindi"},
    {"name": "Jeevika Didi Udyog Samuh", "registration_number": "BR-MUZ-2017-0831", "state": "Bihar",
     "district": "Muzaffarpur", "contact_person": "Rina Devi", "phone": "+91 94310 55872", "languages": "Hindi, Maithili"},
    {"name": "Kudumbashree Annapoorna Unit", "registration_number": "KL-TSR-2018-0517", "state": "Kerala",
     "district": "Thrissur", "contact_person": "Lakshmi Menon", "phone": "+91 94470 13579", "languages": "Malayalam, English"},
]


class Command(BaseCommand):
    help = "Seed the demo data (idempotent): a federation, three SHGs, a coordinator login and a partner token."

    def add_arguments(self, parser):
        parser.add_argument("--quiet", action="store_true", help="Print nothing but errors.")

    @transaction.atomic
    def handle(self, *args, **options):
        federation, _ = Organization.objects.update_or_create(
            name="Deccan SHG Federation",
            defaults={"kind": Organization.Kind.FEDERATION, "state": "Maharashtra",
                      "contact_email": "office@deccan-shg.example.in"},
        )
        partner, _ = Organization.objects.update_or_create(
            name="Gramin Logistics Partners", defaults={"kind": Organization.Kind.PARTNER,
                                                        "contact_email": "api@gramin-logistics.example.in"},
        )
        shgs = []
        for data in DEMO_SHGS:
            shg, _ = SHG.objects.update_or_create(
                federation=federation, registration_number=data["registration_number"], defaults=data,
            )
            shgs.append(shg)
        partner.served_shgs.set(shgs)

        User = get_user_model()
        coordinator, created = User.objects.get_or_create(
            username="coordinator", defaults={"email": "coordinator@deccan-shg.example.in", "first_name": "Asha"},
        )
        if created or not coordinator.check_password(DEMO_PASSWORD):
            coordinator.set_password(DEMO_PASSWORD)
            coordinator.save()
        Membership.objects.update_or_create(
            user=coordinator, organization=federation, defaults={"role": Membership.Role.ORG_ADMIN},
        )
        admin_user, created = User.objects.get_or_create(
            username="admin", defaults={"email": "admin@haat.example.in", "is_staff": True, "is_superuser": True},
        )
        if created:
            admin_user.set_password(DEMO_PASSWORD)
            admin_user.save()

        # A token key cannot be read back (only its hash is stored), so a fresh one is issued on every run
        # and the previous demo token is revoked.
        PartnerToken.objects.filter(organization=partner, name="Demo partner token", revoked_at__isnull=True).delete()
        _, key = partner_token_create(organization=partner, name="Demo partner token")

        extra = self.seed_channels(shgs, coordinator)
        extra += self.seed_procurement(shgs, coordinator)
        if not options["quiet"]:
            self.stdout.write(self.style.SUCCESS("Demo data ready."))
            self.stdout.write(f"  Coordinator login: coordinator / {DEMO_PASSWORD}")
            self.stdout.write(f"  Staff admin login: admin / {DEMO_PASSWORD}  (http://127.0.0.1:8000/admin/)")
            self.stdout.write(f"  Partner API token ({partner.name}): {key}")
            for line in extra:
                self.stdout.write(f"  {line}")

    def seed_channels(self, shgs, coordinator) -> list[str]:
        """Connect the demo SHGs to the sandbox marketplaces (grows with the connectors)."""
        from apps.integrations.demo import seed_demo_connections

        return seed_demo_connections(shgs=shgs, user=coordinator)

    def seed_procurement(self, shgs, coordinator) -> list[str]:
        """Seller profile, GeM tenders matched to the catalog, a bid with its reminders, IndiaMART inquiries."""
        from apps.tenders.demo import seed_demo_procurement

        return seed_demo_procurement(shgs=shgs, user=coordinator)
