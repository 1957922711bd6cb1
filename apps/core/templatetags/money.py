"""`{{ amount|money:currency }}`: amounts as coordinators read them.

INR uses Indian digit grouping (₹1,23,456.00: the last three digits, then pairs), the way amounts are
written in India in both English and Hindi. Other currencies get their symbol (or ISO code) and
thousands grouping, with the currency's usual number of decimals.
"""

from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

from django import template

register = template.Library()

SYMBOLS = {"INR": "₹", "USD": "$", "EUR": "€", "GBP": "£", "JPY": "¥", "AUD": "A$", "CAD": "CA$", "SGD": "S$",
           "AED": "AED ", "NPR": "NPR ", "BDT": "৳", "LKR": "LKR "}
ZERO_DECIMALS = {"JPY", "KRW", "VND", "CLP", "ISK"}


def group_indian(digits: str) -> str:
    if len(digits) <= 3:
        return digits
    head, tail = digits[:-3], digits[-3:]
    pairs = []
    while len(head) > 2:
        pairs.insert(0, head[-2:])
        head = head[:-2]
    return ",".join([head, *pairs, tail]) if head else ",".join([*pairs, tail])


def group_thousands(digits: str) -> str:
    return f"{int(digits):,}"


def format_money(amount, currency: str = "INR") -> str:
    """Format `amount` (Decimal, int, float or numeric string) in `currency`; raises ValueError if not a number."""
    try:
        value = amount if isinstance(amount, Decimal) else Decimal(str(amount))
    except (InvalidOperation, ValueError, TypeError):
        raise ValueError(f"not an amount: {amount!r}") from None
    if not value.is_finite():
        raise ValueError(f"not an amount: {amount!r}")
    code = (currency or "INR").upper()
    places = 0 if code in ZERO_DECIMALS else 2
    value = value.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP)
    sign = "-" if value < 0 else ""
    whole, _, fraction = f"{abs(value):f}".partition(".")
    grouped = group_indian(whole) if code == "INR" else group_thousands(whole)
    number = f"{grouped}.{fraction}" if places else grouped
    symbol = SYMBOLS.get(code, f"{code} ")
    return f"{sign}{symbol}{number}"


@register.filter(name="money")
def money(amount, currency: str = "INR") -> str:
    """Template filter; an empty amount renders as nothing, a non-number as itself (templates never raise)."""
    if amount is None or amount == "":
        return ""
    try:
        return format_money(amount, currency)
    except ValueError:
        return str(amount)
