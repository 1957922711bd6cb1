"""Forms generated from a connector's description: API-key fields and OAuth start fields.

Secret fields are password inputs that never render a value back, not even after a failed submit, so
a key typed once never appears in a page again.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _

from apps.integrations.connectors.base import CredentialField

MAX_VALUE_LENGTH = 2000


class CredentialForm(forms.Form):
    """One input per CredentialField: a select when it has choices, a password input when it is secret."""

    def __init__(self, *args: Any, fields: Sequence[CredentialField], **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.specs = tuple(fields)
        for spec in self.specs:
            self.fields[spec.name] = self._field_for(spec)

    @staticmethod
    def _field_for(spec: CredentialField) -> forms.Field:
        common = {"label": spec.label, "required": spec.required, "help_text": spec.help_text}
        choices = tuple(getattr(spec, "choices", ()) or ())
        if choices:
            blank = [] if spec.required else [("", "—")]
            return forms.ChoiceField(choices=[*blank, *choices], **common)
        if spec.secret:
            widget = forms.PasswordInput(render_value=False, attrs={"autocomplete": "off", "spellcheck": "false"})
            return forms.CharField(max_length=MAX_VALUE_LENGTH, strip=True, widget=widget, **common)
        widget = forms.TextInput(attrs={"autocomplete": "off", "spellcheck": "false", "autocapitalize": "none"})
        return forms.CharField(max_length=MAX_VALUE_LENGTH, strip=True, widget=widget, **common)

    def values(self) -> dict[str, str]:
        """The cleaned values by field name (call after is_valid())."""
        return {spec.name: self.cleaned_data.get(spec.name, "") for spec in self.specs}


class WriteOnlyTextarea(forms.Textarea):
    """A textarea that never renders a value: what was typed is not sent back to the browser."""

    def format_value(self, value: Any) -> None:
        return None


class ReplaceCredentialsField(forms.CharField):
    """Staff-only: a JSON object that replaces a connection's credentials; empty keeps them."""

    widget = WriteOnlyTextarea(attrs={"rows": 4, "autocomplete": "off", "spellcheck": "false"})

    def __init__(self, **kwargs: Any):
        kwargs.setdefault("required", False)
        kwargs.setdefault("label", _("Replace credentials"))
        kwargs.setdefault("help_text", _('Write-only. A JSON object such as {"consumer_key": "…", "consumer_secret": "…"} '
                                         "replaces every stored value; leave empty to keep them. Stored values are never shown."))
        super().__init__(strip=True, **kwargs)

    def clean(self, value: Any) -> dict[str, Any] | None:
        value = super().clean(value)
        if not value:
            return None
        try:
            parsed = json.loads(value)
        except ValueError:
            # The message never repeats the input: it may hold a secret.
            raise forms.ValidationError(_("Not valid JSON. Enter an object such as {\"api_key\": \"…\"}."),
                                        code="invalid_json") from None
        if not isinstance(parsed, dict) or not parsed:
            raise forms.ValidationError(_("Enter a non-empty JSON object of names and values."), code="not_object")
        if not all(isinstance(k, str) and k for k in parsed):
            raise forms.ValidationError(_("Every name must be a non-empty string."), code="bad_key")
        return parsed
