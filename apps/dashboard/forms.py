from django import forms
from django.utils.translation import gettext_lazy as _


class OverviewFilterForm(forms.Form):
    """Which SHG the overview is about; only the user's own SHGs are choices."""

    shg = forms.ModelChoiceField(queryset=None, required=False, label=_("SHG"), empty_label=_("All my SHGs"))

    def __init__(self, *args, shgs, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["shg"].queryset = shgs


class PriceForm(forms.Form):
    """A variant's price and MRP, edited inline on the products page (MRP at least the price: the service checks)."""

    price = forms.DecimalField(label=_("Price"), min_value=0, max_digits=12, decimal_places=2)
    mrp = forms.DecimalField(label=_("MRP"), min_value=0, max_digits=12, decimal_places=2, required=False)

    def clean(self):
        data = super().clean()
        if data.get("price") is not None and data.get("mrp") is not None and data["mrp"] < data["price"]:
            self.add_error("mrp", _("The MRP cannot be below the price."))
        return data


class StockCountForm(forms.Form):
    """The counted quantity of a variant, edited inline; an adjustment always carries a reason."""

    count = forms.IntegerField(label=_("Counted quantity"), min_value=0)
    reason = forms.CharField(label=_("Reason"), max_length=255, initial=_("Counted"))


class BufferForm(forms.Form):
    """Units held back from one channel, and the most it is shown (empty: no limit)."""

    buffer = forms.IntegerField(label=_("Hold back"), min_value=0, required=False)
    maximum = forms.IntegerField(label=_("Show at most"), min_value=0, required=False)
