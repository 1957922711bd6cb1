from django import forms
from django.utils.translation import gettext_lazy as _


class ImportForm(forms.Form):
    shg = forms.TypedChoiceField(label=_("SHG"), coerce=int)
    file = forms.FileField(label=_("CSV or XLSX file"), help_text=_(
        "Columns: sku, title, description, brand, category, hsn_code, barcode, price, mrp, currency, weight_grams, on_hand."))

    def __init__(self, *args, shgs=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["shg"].choices = [(shg.pk, shg.name) for shg in shgs]

    def clean_file(self):
        upload = self.cleaned_data["file"]
        name = upload.name.lower()
        if not name.endswith((".csv", ".xlsx")):
            raise forms.ValidationError(_("Upload a .csv or .xlsx file."))
        if upload.size > 5 * 1024 * 1024:
            raise forms.ValidationError(_("The file is larger than 5 MB; split it."))
        return upload


class MapForm(forms.Form):
    sku = forms.CharField(label=_("SKU in the catalog"), max_length=100)
