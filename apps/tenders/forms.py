from django import forms
from django.utils.translation import gettext_lazy as _

from apps.tenders.models import Bid, Inquiry, SellerDocument, SellerProfile
from apps.tenders.services import CHECKLIST

MAX_DOCUMENT_BYTES = 10 * 1024 * 1024
DOCUMENT_TYPES = (".pdf", ".jpg", ".jpeg", ".png")


class SellerProfileForm(forms.ModelForm):
    class Meta:
        model = SellerProfile
        fields = ["organization_type", "legal_name", "pan", "gstin", "udyam_number", "address", "state", "pincode",
                  "bank_account_name", "bank_account_number", "bank_ifsc", "email"]
        widgets = {"address": forms.Textarea(attrs={"rows": 3}),
                   "pan": forms.TextInput(attrs={"autocapitalize": "characters"}),
                   "gstin": forms.TextInput(attrs={"autocapitalize": "characters"}),
                   "bank_ifsc": forms.TextInput(attrs={"autocapitalize": "characters"})}

    def clean(self):
        data = super().clean()
        for name in ("pan", "gstin", "udyam_number", "bank_ifsc"):
            if data.get(name):
                data[name] = data[name].strip().upper()
        return data


class SellerDocumentForm(forms.ModelForm):
    class Meta:
        model = SellerDocument
        fields = ["kind", "title", "file", "valid_until"]
        widgets = {"valid_until": forms.DateInput(attrs={"type": "date"})}

    def clean_file(self):
        upload = self.cleaned_data["file"]
        if upload.size > MAX_DOCUMENT_BYTES:
            raise forms.ValidationError(_("A document may be at most 10 MB."))
        if not upload.name.lower().endswith(DOCUMENT_TYPES):
            raise forms.ValidationError(_("Upload a PDF, JPG or PNG."))
        return upload


class TenderFileForm(forms.Form):
    shg = forms.ModelChoiceField(label=_("SHG"), queryset=None)
    file = forms.FileField(label=_("GeM bid list export (CSV or XLSX)"))

    def __init__(self, *args, shgs=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["shg"].queryset = shgs


class BidForm(forms.Form):
    unit_price = forms.DecimalField(label=_("Unit price (INR)"), min_value=0.01, max_digits=14, decimal_places=2,
                                    required=False)
    quantity = forms.IntegerField(label=_("Quantity offered"), min_value=1, required=False)
    notes = forms.CharField(label=_("Notes"), required=False, widget=forms.Textarea(attrs={"rows": 2}))

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for key, label in CHECKLIST.items():
            self.fields[f"check_{key}"] = forms.BooleanField(label=label, required=False)

    def checklist(self) -> dict[str, bool]:
        return {key: self.cleaned_data.get(f"check_{key}", False) for key in CHECKLIST}


class BidTransitionForm(forms.Form):
    to_status = forms.ChoiceField(choices=Bid.Status.choices)
    note = forms.CharField(required=False, max_length=1000)


class QuoteForm(forms.Form):
    quantity = forms.IntegerField(label=_("Quantity"), min_value=1)
    unit_price = forms.DecimalField(label=_("Unit price (INR)"), min_value=0.01, max_digits=12, decimal_places=2)
    delivery_days = forms.IntegerField(label=_("Delivery in days"), min_value=1, max_value=365)
    payment_terms = forms.CharField(label=_("Payment terms"), max_length=200,
                                    initial=_("50% advance, balance before dispatch"))
    validity_days = forms.IntegerField(label=_("Valid for days"), min_value=1, max_value=90, initial=15)
    message = forms.CharField(label=_("Message to the buyer"), required=False, widget=forms.Textarea(attrs={"rows": 3}))
    to_email = forms.EmailField(label=_("Buyer's email"), required=False)


class InquiryStatusForm(forms.Form):
    status = forms.ChoiceField(choices=Inquiry.Status.choices)
