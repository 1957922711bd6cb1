from datetime import timedelta

from django import forms
from django.core.validators import RegexValidator
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

# Suggestions only: any carrier name is accepted (platforms map names to their own codes).
COMMON_CARRIERS = ["India Post", "Delhivery", "Blue Dart", "DTDC", "Ekart", "Ecom Express", "Xpressbees", "Shadowfax",
                   "Shiprocket", "Professional Couriers"]

tracking_validator = RegexValidator(r"^[A-Za-z0-9][A-Za-z0-9\-]{3,39}$",
                                    _("A tracking number is 4 to 40 letters, digits or dashes."))


class TrackingForm(forms.Form):
    carrier = forms.CharField(label=_("Carrier"), max_length=100,
                              widget=forms.TextInput(attrs={"list": "carriers", "autocomplete": "off"}))
    tracking_number = forms.CharField(label=_("Tracking number"), max_length=40, validators=[tracking_validator],
                                      widget=forms.TextInput(attrs={"autocapitalize": "characters", "autocomplete": "off"}))
    tracking_url = forms.URLField(label=_("Tracking link (optional)"), required=False, assume_scheme="https")
    shipped_at = forms.DateTimeField(label=_("Shipped at (optional, default now)"), required=False,
                                     widget=forms.DateTimeInput(attrs={"type": "datetime-local"}))

    def __init__(self, *args, order=None, **kwargs):
        self.order = order
        super().__init__(*args, **kwargs)

    def clean_carrier(self):
        carrier = " ".join(self.cleaned_data["carrier"].split())
        if not carrier:
            raise forms.ValidationError(_("Enter the carrier."))
        return carrier

    def clean_tracking_number(self):
        return self.cleaned_data["tracking_number"].strip().upper()

    def clean_shipped_at(self):
        shipped_at = self.cleaned_data.get("shipped_at")
        if shipped_at is None:
            return None
        if shipped_at > timezone.now() + timedelta(hours=1):
            raise forms.ValidationError(_("The shipping time cannot be in the future."))
        if self.order is not None and shipped_at < self.order.placed_at - timedelta(hours=1):
            raise forms.ValidationError(_("The parcel cannot ship before the order was placed."))
        return shipped_at
