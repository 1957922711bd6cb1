"""The quotation PDF prints Hindi and English in one document, with the rupee sign and Indian digit grouping.

No PDF reader is a project dependency, so `pdf_text` below reads what a viewer's copy-paste would: it follows
each text operator's font to that font's ToUnicode map, which fpdf2 writes for every embedded subset
(glyph 0, .notdef, is drawn for a character the font lacks and maps to U+0000).
"""

from __future__ import annotations

import re
import zlib
from decimal import Decimal

import pytest
from django.utils import timezone

from apps.tenders import services
from apps.tenders.models import Inquiry

pytestmark = pytest.mark.django_db

BUYER = "श्रीमती क्षमा त्रिपाठी"
COMPANY = "Prakriti Handlooms"
PRODUCT = "हथकरघा सूती साड़ी (Handloom cotton saree)"
TERMS = "50% अग्रिम, शेष डिलीवरी पर"
MESSAGE = "धन्यवाद। हम समय पर डिलीवरी करेंगे।"
SELLER = "सखी बुनकर स्वयं सहायता समूह"

OBJECT = re.compile(rb"(\d+) 0 obj\s*(.*?)endobj", re.S)
ESCAPES = {ord("n"): b"\n", ord("r"): b"\r", ord("t"): b"\t", ord("b"): b"\b", ord("f"): b"\f"}


def _objects(data: bytes) -> dict[int, tuple[bytes, bytes]]:
    """Object number -> (dictionary, decoded stream or b"")."""
    objects = {}
    for match in OBJECT.finditer(data):
        body = match.group(2)
        head, _, rest = body.partition(b"stream")
        stream = b""
        if rest:
            start = rest.index(b"\n") + 1
            # /Length says where the data ends: compressed bytes may themselves end in CR or LF.
            length = re.search(rb"/Length (\d+)\b(?!\s+\d+\s+R)", head)
            stream = (rest[start:start + int(length.group(1))] if length
                      else rest[start:rest.rindex(b"endstream")].rstrip(b"\r\n"))
            if b"/FlateDecode" in head:
                stream = zlib.decompress(stream)
        objects[int(match.group(1))] = (head, stream)
    return objects


def _to_unicode(cmap: bytes) -> dict[int, str]:
    mapping = {}
    for block in re.findall(rb"beginbfchar(.*?)endbfchar", cmap, re.S):
        for code, text in re.findall(rb"<([0-9A-Fa-f]+)>\s*<([0-9A-Fa-f]*)>", block):
            mapping[int(code, 16)] = bytes.fromhex(text.decode()).decode("utf-16-be")
    for block in re.findall(rb"beginbfrange(.*?)endbfrange", cmap, re.S):
        for low, high, start in re.findall(rb"<([0-9A-Fa-f]+)>\s*<([0-9A-Fa-f]+)>\s*<([0-9A-Fa-f]+)>", block):
            first = int(start, 16)
            for offset in range(int(high, 16) - int(low, 16) + 1):
                mapping[int(low, 16) + offset] = chr(first + offset)
    return mapping


def _literal(content: bytes, start: int) -> tuple[bytes, int]:
    """The PDF literal string opening at content[start] == "(", and the index after its closing ")"."""
    out, depth, i = bytearray(), 1, start + 1
    while True:
        char = content[i]
        if char == ord("\\"):
            nxt = content[i + 1]
            if nxt in b"01234567":
                digits = re.match(rb"[0-7]{1,3}", content[i + 1:i + 4]).group()
                out.append(int(digits, 8) & 0xFF)
                i += 1 + len(digits)
                continue
            if nxt in b"\r\n":
                i += 2
                continue
            out += ESCAPES.get(nxt, bytes([nxt]))
            i += 2
            continue
        if char == ord("("):
            depth += 1
        elif char == ord(")"):
            depth -= 1
            if depth == 0:
                return bytes(out), i + 1
        out.append(char)
        i += 1


def pdf_text(data: bytes) -> str:
    """The text of every page, one line per text object (BT ... ET), as the fonts' ToUnicode maps give it."""
    objects = _objects(data)
    maps = {}
    for number, (head, _stream) in objects.items():
        unicode_ref = re.search(rb"/ToUnicode (\d+) 0 R", head)
        if b"/Type /Font" in head and unicode_ref:
            maps[number] = _to_unicode(objects[int(unicode_ref.group(1))][1])
    lines = []
    for head, _stream in objects.values():
        if b"/Type /Page\n" not in head and not head.rstrip().endswith(b"/Type /Page\n>>"):
            continue
        resources = objects[int(re.search(rb"/Resources (\d+) 0 R", head).group(1))][0]
        fonts = {name: maps[int(ref)] for name, ref in re.findall(rb"/(F\d+) (\d+) 0 R", resources)}
        content = objects[int(re.search(rb"/Contents (\d+) 0 R", head).group(1))][1]
        font, saved, line, i = None, [], [], 0
        token = re.compile(rb"/(F\d+) [\d.]+ Tf|\(|\b(ET|q|Q)\b")
        while match := token.search(content, i):
            if match.group(1):
                font, i = fonts[match.group(1)], match.end()
            elif match.group() in (b"q", b"Q"):  # the font is graphics state: Q restores the one q saved
                if match.group() == b"q":
                    saved.append(font)
                else:
                    font = saved.pop()
                i = match.end()
            elif match.group() == b"ET":
                if line:
                    lines.append("".join(line))
                line, i = [], match.end()
            else:
                raw, i = _literal(content, match.start())
                # fpdf2 maps a shaped cluster's text to its first glyph (a reordered "ि" carries "पि"); the
                # cluster's other glyphs have no entry and copy as nothing, as in a viewer.
                line += [font.get(int.from_bytes(raw[k:k + 2], "big"), "") for k in range(0, len(raw), 2)]
    return "\n".join(lines)


@pytest.fixture
def hindi_quote(tenant):
    services.seller_profile_upsert(shg=tenant["shg"], data={
        "organization_type": "shg", "legal_name": SELLER, "pan": "AAPFU0939F", "gstin": "27AAPFU0939F1ZV",
        "udyam_number": "UDYAM-MH-26-0012345", "address": "गाँव पिंपरी, पुणे", "state": "Maharashtra",
        "pincode": "411001", "bank_account_number": "1234567890", "bank_ifsc": "SBIN0001234"})
    inquiry = Inquiry.objects.create(shg=tenant["shg"], unique_query_id="IM-77", received_at=timezone.now(),
                                     buyer_name=BUYER, company=COMPANY, product_name=PRODUCT, email="b@example.in")
    return services.quote_create(inquiry=inquiry, quantity=500, unit_price=Decimal("2469.50"), delivery_days=7,
                                 payment_terms=TERMS, validity_days=10, message=MESSAGE)


def test_devanagari_and_latin_are_embedded_and_extractable(hindi_quote, caplog):
    with caplog.at_level("WARNING", logger="apps.tenders.services"):
        data = services.quote_pdf(hindi_quote)
    assert not [r for r in caplog.records if r.name == "apps.tenders.services"]  # every character has a font

    base_fonts = set(re.findall(rb"/BaseFont /[A-Z]{6}\+([A-Za-z-]+)", data))
    assert {b"NotoSans", b"NotoSansBold", b"NotoSansDevanagari", b"NotoSansDevanagariBold"} <= base_fonts
    assert b"/FontFile2" in data and b"Helvetica" not in data  # embedded subsets, no Latin-1 core font
    text = pdf_text(data)
    assert "?" not in text and "\x00" not in text  # no replaced character, no .notdef ("tofu") glyph
    for hindi in (f"Quotation - {SELLER}", f"To: {BUYER}, {COMPANY}", "गाँव पिंपरी, पुणे",
                  "GSTIN 27AAPFU0939F1ZV", "PAN AAPFU0939F",  # English lines right after a Hindi one
                  f"Your IndiaMART inquiry IM-77: {PRODUCT}", TERMS, MESSAGE):
        assert hindi in text, hindi
    assert "₹2,469.50" in text and "₹12,34,750.00" in text  # Indian grouping: lakh, then thousands
    assert "Rs." not in text


def test_conjuncts_are_shaped_not_drawn_letter_by_letter(hindi_quote):
    """With HarfBuzz on, "क्ष" and "त्रि" are single glyphs; unshaped, they would be क + ् + ष with a loose virama."""
    objects = _objects(services.quote_pdf(hindi_quote))
    glyph_texts = set()
    for head, _stream in objects.values():
        if re.search(rb"/BaseFont /[A-Z]{6}\+NotoSansDevanagari(Bold)?\n", head) and b"/ToUnicode" in head:
            glyph_texts |= set(_to_unicode(objects[int(re.search(rb"/ToUnicode (\d+) 0 R", head).group(1))][1]).values())
    assert {"क्ष", "त्रि", "पि"} <= glyph_texts  # a ligature or reordered matra maps back to its whole cluster
    assert "्" not in glyph_texts  # no virama drawn on its own anywhere in the text


def test_an_english_line_after_a_hindi_one_keeps_its_letters():
    """fpdf2 2.8.4 left the Devanagari font current after a line starting in Hindi (QuoteDocument works round it)."""
    from apps.tenders.pdf import FAMILY, quote_document

    pdf = quote_document()
    pdf.add_page()
    pdf.set_font(FAMILY, size=10)
    for line in ("पुणे", "Pune 411001", "मुंबई", "Mumbai"):
        pdf.multi_cell(0, 5, line, new_x="LMARGIN", new_y="NEXT")
    pdf.cell(0, 5, "Nashik")
    assert pdf_text(bytes(pdf.output())).splitlines() == ["पुणे", "Pune 411001", "मुंबई", "Mumbai", "Nashik"]


def test_characters_no_font_has_are_reported_not_silently_dropped(tenant, caplog):
    inquiry = Inquiry.objects.create(shg=tenant["shg"], unique_query_id="IM-2", received_at=timezone.now(),
                                     buyer_name="সুমিতা দাস", product_name="साड़ी")
    quote = services.quote_create(inquiry=inquiry, quantity=1, unit_price=Decimal("10"), delivery_days=2,
                                  payment_terms="अग्रिम")
    with caplog.at_level("WARNING", logger="apps.tenders.services"):
        text = pdf_text(services.quote_pdf(quote))
    assert "साड़ी" in text and "अग्रिम" in text
    [record] = [r for r in caplog.records if r.name == "apps.tenders.services"]
    assert f"Quote {quote.pk}" in record.getMessage()
    assert set(record.getMessage().rsplit(": ", 1)[1]) == set("সুমিতা দাস") - {" "}


def test_latin_only_quote_is_unchanged_in_meaning(tenant):
    inquiry = Inquiry.objects.create(shg=tenant["shg"], unique_query_id="IM-1", received_at=timezone.now(),
                                     buyer_name="Asha Rao", product_name="Jute bag")
    quote = services.quote_create(inquiry=inquiry, quantity=3, unit_price=Decimal("99"), delivery_days=2,
                                  payment_terms="On delivery")
    text = pdf_text(services.quote_pdf(quote))
    assert "Quotation - Sakhi Weavers" in text and "To: Asha Rao" in text
    assert "₹99.00" in text and "₹297.00" in text and "On delivery" in text
