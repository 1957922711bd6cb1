"""The PDF document the quotation is drawn on: vendored Unicode fonts, Devanagari fallback, HarfBuzz shaping.

Buyer names, products, addresses and terms are often Hindi. fpdf2's core fonts are Latin-1 only and printed
them as "?"; without shaping, conjuncts and matras come out as separate, misplaced glyphs. The fonts live in
`fonts/` beside this module (Noto, SIL OFL 1.1), so no server needs system fonts. Kept out of services.py
because importing fpdf2 (Pillow, fontTools) costs about a second: services import this only to draw a PDF.
"""

from __future__ import annotations

import logging
import unicodedata
from pathlib import Path

from fpdf import FPDF

FONT_DIR = Path(__file__).resolve().parent / "fonts"
FAMILY = "notosans"
# Noto Sans carries Latin, digits and "₹"; every character it lacks (Devanagari letters, matras, danda,
# Devanagari digits) is drawn from Noto Sans Devanagari within the same line.
FALLBACK = "notodeva"
FONTS = [(FAMILY, "", "NotoSans-Regular.ttf"), (FAMILY, "B", "NotoSans-Bold.ttf"),
         (FALLBACK, "", "NotoSansDevanagari-Regular.ttf"), (FALLBACK, "B", "NotoSansDevanagari-Bold.ttf")]


class QuoteDocument(FPDF):
    """FPDF that keeps drawing in the selected font after a line that began in the fallback font, and
    notes the characters it cannot draw.

    fpdf2 2.8.4 makes a line's first fragment the page's font, so after a line starting in Hindi the
    fallback font stays "current" and a later English line in the same set_font loses its Latin letters
    (py-pdf/fpdf2#1488 and #1772, fixed upstream after 2.8.4). Reselecting before each cell undoes that.
    """

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.uncovered: set[str] = set()  # characters no embedded font has: left out of the PDF

    def _note_uncovered(self, args: tuple, kwargs: dict) -> None:
        """Remember characters that neither font can draw: with shaping on, fpdf2 drops them without a word."""
        text = kwargs.get("text", args[2] if len(args) > 2 else "")
        covered = [self.fonts[key].cmap for key in (FAMILY, FALLBACK)]
        self.uncovered.update(char for char in str(text or "") if unicodedata.category(char)[0] != "C"
                              and not any(ord(char) in cmap for cmap in covered))

    def _reselect_font(self) -> None:
        selected = self.fonts.get(self.font_family + self.font_style)
        if selected is not None and self.current_font is not selected:
            self.current_font = selected
            self.current_font_is_set_on_page = False  # the next text object writes its Tf again

    def cell(self, *args, **kwargs):
        self._note_uncovered(args, kwargs)
        self._reselect_font()
        return super().cell(*args, **kwargs)

    def multi_cell(self, *args, **kwargs):
        self._note_uncovered(args, kwargs)
        self._reselect_font()
        return super().multi_cell(*args, **kwargs)


def quote_document() -> QuoteDocument:
    """An A4 document with the fonts embedded (subsetted), the fallback set and text shaping on."""
    # fontTools logs every subsetting step of every embedded font at INFO: some sixty lines per quote.
    logging.getLogger("fontTools.subset").setLevel(logging.WARNING)
    pdf = QuoteDocument(format="A4")
    for family, style, filename in FONTS:
        pdf.add_font(family, style, FONT_DIR / filename)
    pdf.set_fallback_fonts([FALLBACK], exact_match=False)
    pdf.set_text_shaping(True)  # needs uharfbuzz (requirements.txt)
    return pdf
