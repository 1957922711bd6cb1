import pytest
from django.core.exceptions import ValidationError

from apps.tenders import validators

VALID_GSTIN = "27AAPFU0939F1ZV"  # a published example GSTIN with a correct check character


def test_gstin_checksum():
    assert validators.gstin_check_char(VALID_GSTIN[:14]) == "V"
    validators.validate_gstin(VALID_GSTIN)
    with pytest.raises(ValidationError) as info:
        validators.validate_gstin("27AAPFU0939F1ZW")
    assert info.value.code == "gstin_checksum"


@pytest.mark.parametrize("value,code", [("99AAPFU0939F1ZV", "gstin_checksum"), ("40AAPFU0939F1ZV", "gstin_state"),
                                        ("27AAPFU0939F1Z", "gstin"), ("27AAPXU0939F1ZV", "pan_type")])
def test_gstin_errors(value, code):
    with pytest.raises(ValidationError) as info:
        validators.validate_gstin(value)
    assert info.value.code == code


def test_pan_entity_type():
    validators.validate_pan("AAPFU0939F")
    validators.validate_pan("ABCPE1234F")
    with pytest.raises(ValidationError) as info:
        validators.validate_pan("ABCXE1234F")
    assert info.value.code == "pan_type"
    with pytest.raises(ValidationError):
        validators.validate_pan("ABCP1234EF")


def test_udyam_and_ifsc():
    validators.validate_udyam("UDYAM-MH-26-0012345")
    validators.validate_ifsc("SBIN0001234")
    for bad in ("UDYAM-MH-26-001234", "UDYAM-M1-26-0012345"):
        with pytest.raises(ValidationError):
            validators.validate_udyam(bad)
    for bad in ("SBIN1001234", "SBI0001234"):
        with pytest.raises(ValidationError):
            validators.validate_ifsc(bad)
