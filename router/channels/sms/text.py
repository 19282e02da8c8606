"""SMS text arithmetic: GSM-7 / UCS-2 segment budgets, cutting a message to fit, E.164,
and scrubbing phone numbers out of vendor messages.

Pure functions; the SMS channel composes its one-line text with `compose`. Recipients'
numbers are personal data, so `scrub` keeps them out of errors and logs.
"""

from __future__ import annotations

import re
from enum import StrEnum

# GSM 03.38 default alphabet (one septet each); ESC (0x1B) itself is not text.
GSM7_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
# The extension table: each character costs an escape plus itself, two septets.
GSM7_EXTENSION = frozenset("\f^{}\\[~]|€")

SINGLE = {"GSM-7": 160, "UCS-2": 70}
# A concatenated message spends a user-data header per segment.
MULTI = {"GSM-7": 153, "UCS-2": 67}

_E164 = re.compile(r"\+[1-9]\d{1,14}")
_NUMBER = re.compile(r"\+?\d{7,15}")  # anything that looks like a phone number
_URL = re.compile(r"https?://\S+")
# After a cut, step back to a word boundary if one is this close: "rate above…", not "rate ab…".
_WORD_SLACK = 12
# A summary cut shorter than this says nothing ("Che..."): drop it instead.
MIN_SUMMARY = 12


class Encoding(StrEnum):
    GSM7 = "GSM-7"
    UCS2 = "UCS-2"


def is_gsm7(text: str) -> bool:
    return all(c in GSM7_BASIC or c in GSM7_EXTENSION for c in text)


def encoding(text: str) -> Encoding:
    """One character outside GSM-7 switches the whole message to UCS-2."""
    return Encoding.GSM7 if is_gsm7(text) else Encoding.UCS2


def units(text: str) -> int:
    """Septets (GSM-7, extension characters count 2) or UTF-16 code units (UCS-2).

    Phones and Twilio send UCS-2 as UTF-16, so an emoji outside the BMP costs 2 units.
    """
    if is_gsm7(text):
        return sum(2 if c in GSM7_EXTENSION else 1 for c in text)
    return len(text.encode("utf-16-le")) // 2


def limit(enc: Encoding, max_segments: int = 1) -> int:
    """Units that fit in `max_segments` segments: 160/70 for one, 153/67 per segment beyond."""
    if max_segments <= 1:
        return SINGLE[enc]
    return MULTI[enc] * max_segments


def segments(text: str) -> int:
    """How many segments the carrier bills for `text` (0 for an empty text)."""
    enc, used = encoding(text), units(text)
    if used <= SINGLE[enc]:
        return 1 if used else 0
    return -(-used // MULTI[enc])


def fits(text: str, max_segments: int = 1) -> bool:
    return units(text) <= limit(encoding(text), max_segments)


def _ellipsis(text: str) -> str:
    # "…" is not GSM-7: adding it to a GSM-7 text would halve the budget, so use "...".
    return "..." if is_gsm7(text) else "…"


def _shortened(prefix: str, middle: str, suffix: str, keep: int) -> str:
    kept = middle[:keep].rstrip()
    return prefix + kept + _ellipsis(prefix + kept + suffix) + suffix


def _word_boundary(middle: str, keep: int) -> int:
    """`keep` moved back to the end of the last whole word when one ends close by."""
    if keep >= len(middle) or middle[keep].isspace():
        return keep
    space = middle.rfind(" ", 0, keep)
    return space if space > 0 and keep - space <= _WORD_SLACK else keep


def fit_middle(
    prefix: str, middle: str, suffix: str, max_segments: int = 1, *, min_keep: int = 1
) -> str | None:
    """`prefix + middle + suffix` with `middle` shortened (ending in an ellipsis) to fit.

    None when fewer than `min_keep` characters of `middle` would be left.
    """
    if fits(prefix + middle + suffix, max_segments):
        return prefix + middle + suffix
    # Fitting is monotonic in the kept length (a shorter text never needs more units,
    # nor a smaller budget), so a binary search finds the longest kept prefix.
    lo, hi = 0, len(middle) - 1
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if fits(_shortened(prefix, middle, suffix, mid), max_segments):
            lo = mid
        else:
            hi = mid - 1
    # Cutting back to a word end only shortens, so the text still fits.
    keep = _word_boundary(middle, lo)
    if keep < min_keep:
        keep = lo
    if lo < min_keep or not middle[:keep].strip():
        return None
    return _shortened(prefix, middle, suffix, keep)


def cut(text: str, max_segments: int = 1) -> str:
    """`text` cut at its end (with an ellipsis) to fit; a trailing link is kept whole if it can."""
    if fits(text, max_segments):
        return text
    link = _URL.search(text)
    if link is not None and link.end() == len(text.rstrip()) and link.start() > 0:
        kept = fit_middle("", text[: link.start()].rstrip(), " " + link.group(), max_segments)
        if kept is not None:
            return kept
    return fit_middle("", text, "", max_segments) or ""


def compose(head: str, summary: str, more: str, link: str, max_segments: int = 1) -> str:
    """`head: summary more link` fitted to the budget.

    What goes first when it does not fit: the summary is shortened (ellipsis), then
    dropped, then the link is dropped; the head (severity and alert name) stays.
    """
    tail = f" {more}" if more else ""
    with_link = f"{tail} {link}" if link else tail
    for suffix in (with_link, tail) if link else (tail,):
        if summary:
            text = fit_middle(f"{head}: ", summary, suffix, max_segments,
                              min_keep=min(len(summary), MIN_SUMMARY))
            if text is not None:
                return text
        if fits(head + suffix, max_segments):
            return head + suffix
    return cut(head + (f": {summary}" if summary else "") + tail, max_segments)


def one_line(text: str) -> str:
    """Whitespace (newlines included) collapsed to single spaces."""
    return " ".join(text.split())


def is_e164(number: str) -> bool:
    """`+` and 2-15 digits, the first not 0 (ITU-T E.164, as Twilio expects `To`)."""
    return _E164.fullmatch(number) is not None


def scrub(text: str, secrets: tuple[str, ...] = (), numbers: tuple[str, ...] = ()) -> str:
    """Secrets and phone numbers (personal data) removed from a vendor's message."""
    for value, mask in [*((v, "<redacted>") for v in secrets), *((n, "<number>") for n in numbers)]:
        if value:
            text = text.replace(value, mask)
    return _NUMBER.sub("<number>", text)
