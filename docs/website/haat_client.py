#!/usr/bin/env python3
"""A small example client for an SHG's own website talking to Haat, using only Python's standard library.

It does the two things a site does (docs/platforms/website.md):

  # send an order (a JSON file matching order.schema.json), signed with the signing secret
  python3 haat_client.py post-order --url https://haat.example.org/webhooks/website/<uuid>/ \
      --secret "$HAAT_SIGNING_SECRET" order.json [--event order.updated]

  # read live stock and prices with the feed key (every page of the JSON feed, or the CSV)
  python3 haat_client.py feed --url https://haat.example.org/feeds/<uuid>/products.json --key "$HAAT_FEED_KEY"
  python3 haat_client.py feed --url https://haat.example.org/feeds/<uuid>/products.csv --key "$HAAT_FEED_KEY"

Secrets can also come from the HAAT_SIGNING_SECRET and HAAT_FEED_KEY environment variables, so they stay
out of the shell history. Copy the functions into your site's code: `sign`, `post_order`, `read_feed`.
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import json
import os
import sys
import time
import urllib.error
import urllib.request
import uuid

USER_AGENT = "haat-example-client/1.0"


def sign(secret: str, timestamp: int, body: bytes) -> str:
    """X-Haat-Signature: HMAC-SHA256 of "<timestamp>.<exact body bytes>", hex, prefixed with sha256=."""
    return "sha256=" + hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()


def post_order(url: str, secret: str, order: dict, *, event: str = "order.created",
               delivery_id: str | None = None) -> tuple[int, str]:
    """POST one order to Haat, signed; returns (HTTP status, Haat's short answer).

    Retry on a network error or a 5xx with the SAME delivery id (Haat stores a delivery once) but a fresh
    timestamp and signature: a signature older than five minutes is refused.
    """
    body = json.dumps(order, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    timestamp = int(time.time())
    request = urllib.request.Request(_http_url(url), data=body, method="POST", headers={  # noqa: S310
        "Content-Type": "application/json", "User-Agent": USER_AGENT,
        "X-Haat-Event": event, "X-Haat-Delivery": delivery_id or str(uuid.uuid4()),
        "X-Haat-Timestamp": str(timestamp), "X-Haat-Signature": sign(secret, timestamp, body),
    })
    try:
        with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310 (http(s) checked)
            return response.status, response.read().decode("utf-8", "replace")
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode("utf-8", "replace")


def _http_url(url: str) -> str:
    """Only http(s): urllib would also open file: and other schemes."""
    if not url.lower().startswith(("https://", "http://")):
        raise ValueError(f"not an http(s) address: {url!r}")
    return url


def _get(url: str, key: str) -> bytes:
    headers = {"X-Haat-Feed-Key": key, "User-Agent": USER_AGENT}
    request = urllib.request.Request(_http_url(url), headers=headers)  # noqa: S310 (http(s) checked)
    with urllib.request.urlopen(request, timeout=60) as response:  # noqa: S310 (http(s) checked)
        return response.read()


def read_feed(url: str, key: str) -> list[dict]:
    """Every item of the JSON feed, following `next` page by page."""
    items: list[dict] = []
    while url:
        page = json.loads(_get(url, key))
        items.extend(page["items"])
        url = page.get("next")
    return items


def read_feed_csv(url: str, key: str) -> str:
    return _get(url, key).decode("utf-8")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    post = commands.add_parser("post-order", help="sign and send an order (a JSON file)")
    post.add_argument("--url", required=True, help="Haat's webhook address of the connection")
    post.add_argument("--secret", default=os.environ.get("HAAT_SIGNING_SECRET", ""))
    post.add_argument("--event", default="order.created", choices=["order.created", "order.updated"])
    post.add_argument("--delivery-id", default=None)
    post.add_argument("order", help="path of the order JSON, or - for standard input")
    feed = commands.add_parser("feed", help="print the stock and price feed (JSON items, or the CSV)")
    feed.add_argument("--url", required=True, help="products.json or products.csv address")
    feed.add_argument("--key", default=os.environ.get("HAAT_FEED_KEY", ""))
    args = parser.parse_args(argv)

    if args.command == "post-order":
        if not args.secret:
            parser.error("give --secret or set HAAT_SIGNING_SECRET")
        if args.order == "-":
            order = json.load(sys.stdin)
        else:
            with open(args.order, encoding="utf-8") as source:
                order = json.load(source)
        status, answer = post_order(args.url, args.secret, order, event=args.event, delivery_id=args.delivery_id)
        print(f"{status} {answer}")
        return 0 if 200 <= status < 300 else 1
    if not args.key:
        parser.error("give --key or set HAAT_FEED_KEY")
    try:
        if args.url.split("?", 1)[0].endswith(".csv"):
            sys.stdout.write(read_feed_csv(args.url, args.key))
        else:
            json.dump(read_feed(args.url, args.key), sys.stdout, ensure_ascii=False, indent=1)
            sys.stdout.write("\n")
    except urllib.error.HTTPError as error:
        print(f"{error.code} {error.read().decode('utf-8', 'replace')}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
