"""Formats of India's procurement identifiers, checked the way the issuing systems check them.

GSTIN: 15 characters, state code (01-38 and 97/99), the holder's PAN, an entity number, "Z" by default
and a check character computed with the GSTN mod-36 algorithm. PAN: AAAAA9999A, the fourth letter the
holder's type (P person, C company, H HUF, F firm, A AOP, T trust, B BOI, L local authority, J
artificial juridical person, G government). Udyam: UDYAM-XX-00-0000000. IFSC: four bank letters, a
zero, six branch characters.
"""

from __future__ import annotations

import re

from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

GSTIN_CHARS = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"
PAN_ENTITY_TYPES = "PCHFATBLJG"
PAN_RE = re.compile(r"^[A-Z]{3}[PCHFATBLJG][A-Z][0-9]{4}[A-Z]$")
GSTIN_RE = re.compile(r"^[0-9]{2}[A-Z]{5}[0-9]{4}[A-Z][1-9A-Z][A-Z0-9][0-9A-Z]$")
UDYAM_RE = re.compile(r"^UDYAM-[A-Z]{2}-[0-9]{2}-[0-9]{7}$")
IFSC_RE = re.compile(r"^[A-Z]{4}0[A-Z0-9]{6}$")


def gstin_check_char(first14: str) -> str:
    """The GSTN check character: alternate weights 1 and 2, each product folded (quotient + remainder) mod 36."""
    total = 0
    for index, char in enumerate(first14):
        product = GSTIN_CHARS.index(char) * (2 if index % 2 else 1)
        total += product // 36 + product % 36
    return GSTIN_CHARS[(36 - total % 36) % 36]


def validate_pan(value: str) -> None:
    value = (value or "").strip().upper()
    if not PAN_RE.match(value):
        if len(value) == 10 and re.match(r"^[A-Z]{3}[A-Z]", value) and value[3] not in PAN_ENTITY_TYPES:
            raise ValidationError(_("The PAN's fourth letter must be a holder type (P, C, H, F, A, T, B, L, J or G)."),
                                  code="pan_type")
        raise ValidationError(_("A PAN has the form AAAAA9999A (five letters, four digits, one letter)."), code="pan")


def validate_gstin(value: str) -> None:
    value = (value or "").strip().upper()
    if not GSTIN_RE.match(value):
        raise ValidationError(_("A GSTIN has 15 characters: state code, PAN, entity number, Z and a check character."),
                              code="gstin")
    state = int(value[:2])
    if not (1 <= state <= 38 or state in (97, 99)):
        raise ValidationError(_("The GSTIN's first two digits are not a state code."), code="gstin_state")
    validate_pan(value[2:12])
    if gstin_check_char(value[:14]) != value[14]:
        raise ValidationError(_("The GSTIN's check character does not match: a character was mistyped."),
                              code="gstin_checksum")


def validate_udyam(value: str) -> None:
    if not UDYAM_RE.match((value or "").strip().upper()):
        raise ValidationError(_("A Udyam registration number has the form UDYAM-XX-00-0000000."), code="udyam")


def validate_ifsc(value: str) -> None:
    if not IFSC_RE.match((value or "").strip().upper()):
        raise ValidationError(_("An IFSC has four bank letters, a zero and six branch characters (e.g. SBIN0001234)."),
                              code="ifsc")
