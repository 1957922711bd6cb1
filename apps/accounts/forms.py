from django import forms
from django.utils.translation import gettext_lazy as _

from apps.accounts.models import Organization


class PartnerTokenForm(forms.Form):
    organization = forms.ModelChoiceField(queryset=Organization.objects.none(), label=_("Organization"))
    name = forms.CharField(max_length=100, label=_("What is this token for?"))

    def __init__(self, *args, organizations, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["organization"].queryset = organizations
        if organizations.count() == 1:
            self.fields["organization"].initial = organizations.first()
