"""SMS text arithmetic: GSM-7 / UCS-2 budgets, boundary lengths, smart cutting, E.164."""

from __future__ import annotations

import pytest

from router.channels.sms.text import (
    Encoding,
    compose,
    cut,
    encoding,
    fits,
    is_e164,
    limit,
    one_line,
    segments,
    units,
)

LINK = "https://runbooks.example.com/checkout-5xx"


def test_gsm7_single_segment_boundary() -> None:
    assert fits("a" * 160)
    assert not fits("a" * 161)
    assert segments("a" * 160) == 1
    assert segments("a" * 161) == 2
    assert segments("") == 0


def test_one_emoji_switches_to_ucs2_and_70() -> None:
    assert encoding("a" * 69 + "!") is Encoding.GSM7
    assert encoding("a" * 10 + "🔥") is Encoding.UCS2
    # An emoji outside the BMP is a UTF-16 surrogate pair: 2 of the 70 units.
    assert units("a" * 68 + "🔥") == 70
    assert fits("a" * 68 + "🔥")
    assert not fits("a" * 69 + "🔥")
    assert fits("ж" * 70)
    assert not fits("ж" * 71)


def test_gsm7_letters_outside_ascii_stay_gsm7() -> None:
    # é, ü, Ä, £ are in the GSM-7 default alphabet; ç (lower case) is not.
    assert encoding("Café über Äpfel £5") is Encoding.GSM7
    assert encoding("façade") is Encoding.UCS2


@pytest.mark.parametrize("char", list("€[]{}^~|\\"))
def test_extension_characters_count_two(char: str) -> None:
    assert encoding(char) is Encoding.GSM7
    assert units(char * 80) == 160
    assert fits(char * 80)
    assert not fits(char * 80 + "a")
    assert not fits(char * 81)


def test_max_segments_two_gives_306_and_134() -> None:
    assert limit(Encoding.GSM7, 2) == 306
    assert limit(Encoding.UCS2, 2) == 134
    assert fits("a" * 306, 2)
    assert not fits("a" * 307, 2)
    assert segments("a" * 306) == 2
    assert segments("a" * 307) == 3
    assert fits("ж" * 134, 2)
    assert not fits("ж" * 135, 2)
    assert segments("ж" * 71) == 2


def test_cut_uses_a_gsm7_ellipsis_on_gsm7_text() -> None:
    # "…" is not GSM-7: appending it would switch the text to UCS-2 and 70 characters.
    out = cut("x" * 200)
    assert out == "x" * 157 + "..."
    assert encoding(out) is Encoding.GSM7
    assert cut("ж" * 100) == "ж" * 69 + "…"
    assert cut("a" * 160) == "a" * 160


def test_cut_keeps_a_trailing_link_whole() -> None:
    text = "disk " * 40 + LINK
    out = cut(text)
    assert out.endswith("... " + LINK)
    assert fits(out)
    assert len(out) > 150  # the rest was filled, not dropped


def test_compose_fits_whole_message() -> None:
    out = compose("[CRIT] HighErrorRate", "Checkout 5xx rate above 5%", "(+1)", LINK)
    assert out == f"[CRIT] HighErrorRate: Checkout 5xx rate above 5% (+1) {LINK}"


def test_compose_shortens_the_summary_at_a_word_and_keeps_the_link() -> None:
    summary = "Checkout 5xx rate above 5% on every instance of the payment gateway " * 3
    out = compose("[CRIT] HighErrorRate", summary, "(+2)", LINK)
    assert out.startswith("[CRIT] HighErrorRate: Checkout 5xx rate above 5% on every")
    assert out.endswith(f"... (+2) {LINK}")
    assert fits(out)
    assert units(out) > 150
    cut_at = out.index("...")
    assert out[cut_at - 1] != " "
    assert summary.startswith(out[len("[CRIT] HighErrorRate: "):cut_at] + " ")  # whole words


def test_compose_ucs2_summary_budget_is_70() -> None:
    out = compose("[CRIT] DiskFull", "Диск заполнится через четыре часа на всех узлах кластера", "",
                  "https://r.example/d")
    assert encoding(out) is Encoding.UCS2
    assert units(out) <= 70
    assert out.endswith("… https://r.example/d")


def test_compose_drops_the_summary_then_the_link() -> None:
    # Room for "Che..." only: a summary that short says nothing, so it goes.
    long_link = "https://runbooks.example.com/" + "x" * 95
    out = compose("[CRIT] HighErrorRate", "Checkout 5xx rate above 5%", "(+1)", long_link)
    assert out == f"[CRIT] HighErrorRate (+1) {long_link}"
    huge_link = "https://runbooks.example.com/" + "x" * 200
    out = compose("[CRIT] HighErrorRate", "Checkout 5xx rate above 5%", "(+1)", huge_link)
    assert out == "[CRIT] HighErrorRate: Checkout 5xx rate above 5% (+1)"


def test_compose_with_more_segments_keeps_more_summary() -> None:
    summary = "word " * 60
    one = compose("[WARN] X", summary, "", LINK)
    two = compose("[WARN] X", summary, "", LINK, max_segments=2)
    assert fits(one)
    assert not fits(two)
    assert fits(two, 2)
    assert len(two) > len(one) + 100


def test_one_line_collapses_whitespace() -> None:
    assert one_line(" a\n b\t\tc ") == "a b c"


@pytest.mark.parametrize(
    ("number", "ok"),
    [
        ("+15551230000", True),
        ("+447700900123", True),
        ("+12", True),
        ("+1", False),
        ("15551230000", False),
        ("+05551230000", False),
        ("+1 555 123 0000", False),
        ("+1234567890123456", False),  # 16 digits
        ("+123456789012345", True),  # 15 digits
        ("+15551230000\n", False),
    ],
)
def test_e164(number: str, ok: bool) -> None:
    assert is_e164(number) is ok
