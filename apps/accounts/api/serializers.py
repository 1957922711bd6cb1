"""SHGs as partners see them: who they are and where, never their members."""

from rest_framework import serializers

from apps.accounts.models import SHG


class SHGSerializer(serializers.ModelSerializer):
    federation = serializers.CharField(source="federation.name", read_only=True)

    class Meta:
        model = SHG
        fields = ["id", "name", "registration_number", "federation", "state", "district", "contact_person", "phone",
                  "languages", "is_active", "created_at", "updated_at"]
        read_only_fields = fields
