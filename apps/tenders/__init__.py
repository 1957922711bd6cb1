"""Tenders and B2B: GeM bids, IndiaMART inquiries and quotes."""
