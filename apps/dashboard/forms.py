from django import forms
from django.utils.translation import gettext_lazy as _


class OverviewFilterForm(forms.Form):
    """Which SHG the overview is about; only the user's own SHGs are choices."""

    shg = forms.ModelChoiceField(queryset=None, required=False, label=_("SHG"), empty_label=_("All my SHGs"))

    def __init__(self, *args, shgs, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["shg"].queryset = shgs
