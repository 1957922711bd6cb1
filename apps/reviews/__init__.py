"""Buyers' ratings and reviews read from the channels that publish them (rating.received events)."""
