"""A shop's own address, as a coordinator types it, for platforms that live at the shop's domain (WooCommerce,
Magento): checked once here so every such connector refuses the same mistakes with the same words."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from django.conf import settings


def on_sandbox(url: str, slug: str) -> bool:
    """True for an address of this Haat's own sandbox of `slug` (the one place plain HTTP is allowed)."""
    if not settings.SANDBOX:
        return False
    from apps.integrations.services import sandbox_root

    root = sandbox_root()
    return bool(root) and url.startswith(f"{root}/{slug}/")


def normalize_shop_url(value: Any, *, slug: str, pasted_suffixes: Iterable[str], https_error: str) -> str:
    """The shop's base URL: https (or the sandbox), no credentials, query or fragment, lower-case host, no trailing
    slash; anything from one of `pasted_suffixes` on (an API or admin path pasted by mistake) is dropped."""
    if not isinstance(value, str) or not value.strip():
        raise ValueError("Enter the store's address, for example https://shop.example.in")
    text = value.strip()
    if "://" not in text:
        text = "https://" + text
    parts = urlsplit(text)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError("The store address must be a web address such as https://shop.example.in")
    if parts.username or parts.password:
        raise ValueError("The store address must not contain a user name or password")
    if parts.query or parts.fragment:
        raise ValueError("The store address must not contain '?' or '#': enter the shop's home page address")
    path = parts.path
    for marker in pasted_suffixes:
        if marker in path:
            path = path.split(marker, 1)[0]
    normalized = urlunsplit((parts.scheme, parts.netloc.lower(), path.rstrip("/"), "", ""))
    if parts.scheme != "https" and not on_sandbox(normalized, slug):
        raise ValueError(https_error)
    return normalized
