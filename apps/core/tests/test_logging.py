import logging

from apps.core.logging import RedactSecretsFilter, redact


def test_redacts_header_and_form_secrets():
    line = ("POST /token headers={'Authorization': 'Bearer abc.def.ghi', 'X-Shopify-Access-Token': 'shpat_1234567890abcdef'} "
            "body=grant_type=refresh_token&refresh_token=Atzr|IwEBIxyzxyzxyz&client_secret=s3cr3t")
    cleaned = redact(line)
    for secret in ("abc.def.ghi", "shpat_1234567890abcdef", "Atzr|IwEBIxyzxyzxyz", "s3cr3t"):
        assert secret not in cleaned
    assert "grant_type=refresh_token" in cleaned


def test_woocommerce_keys_are_masked_anywhere():
    assert "ck_0123456789abcdef" not in redact("key ck_0123456789abcdef used")


def test_filter_rewrites_the_record():
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "token %s", ("access_token=zzz999",), None)
    assert RedactSecretsFilter().filter(record)
    assert "zzz999" not in record.getMessage()


def test_plain_lines_are_untouched():
    assert redact("synced 42 orders for connection 7") == "synced 42 orders for connection 7"
