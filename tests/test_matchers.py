"""Matchers: operators, anchoring, the string parser and its errors, and the renderers."""

from __future__ import annotations

import pytest

from router.errors import MatcherError
from router.matchers import (
    Matcher,
    MatchOp,
    format_label_set,
    from_match_maps,
    parse_classic_matcher,
    parse_matcher,
    parse_matchers,
    route_key_part,
)
from router.regex import _OPTIONS, _compile, _full_matcher


@pytest.mark.parametrize(
    ("text", "labels", "expected"),
    [
        ('foo="bar"', {"foo": "bar"}, True),
        ('foo="bar"', {"foo": "baz"}, False),
        ('foo!="bar"', {"foo": "baz"}, True),
        ('foo!="bar"', {"foo": "bar"}, False),
        ('foo=~"ba[rz]"', {"foo": "baz"}, True),
        ('foo=~"ba[rz]"', {"foo": "bat"}, False),
        ('foo!~"ba[rz]"', {"foo": "bat"}, True),
        ('foo!~"ba[rz]"', {"foo": "bar"}, False),
    ],
)
def test_operators(text: str, labels: dict[str, str], expected: bool) -> None:
    assert parse_matcher(text).matches(labels) is expected


def test_regex_is_fully_anchored() -> None:
    m = parse_matcher('foo=~"bar"')
    assert not m.matches({"foo": "foobar"})
    assert not m.matches({"foo": "barfoo"})
    # Go's `$` does not match before a trailing newline; Python's would.
    assert not m.matches({"foo": "bar\n"})
    assert m.matches({"foo": "bar"})
    assert parse_matcher('foo=~"a|b"').matches({"foo": "b"})
    assert not parse_matcher('foo=~"a|b"').matches({"foo": "ab"})
    assert parse_matcher('foo=~".*bar.*"').matches({"foo": "xbarx"})


def test_missing_label_reads_as_empty() -> None:
    assert parse_matcher('foo=""').matches({"other": "x"})
    assert parse_matcher('foo!="bar"').matches({})
    assert parse_matcher('foo=~".*"').matches({})
    assert not parse_matcher('foo=~".+"').matches({})
    assert not parse_matcher('foo="bar"').matches({})


def test_matches_empty() -> None:
    assert parse_matcher('foo=~".*"').matches_empty
    assert parse_matcher('foo!="x"').matches_empty
    assert not parse_matcher('foo="x"').matches_empty
    assert not parse_matcher('foo!~""').matches_empty


def test_re2_flags_and_classes() -> None:
    assert parse_matcher('foo=~"(?i)prod"').matches({"foo": "PROD"})
    assert parse_matcher('foo=~"[[:digit:]]+"').matches({"foo": "123"})
    assert not parse_matcher('foo=~"[[:digit:]]+"').matches({"foo": "12a"})
    # \d is ASCII-only in RE2.
    assert not parse_matcher('foo=~"\\d"').matches({"foo": "٣"})


def test_create_and_equality() -> None:
    m = Matcher.create("env", "=~", "prod|staging")
    assert m.op is MatchOp.RE
    assert m == parse_matcher('env=~"prod|staging"')
    assert len({m, parse_matcher("env=~prod|staging")}) == 1
    with pytest.raises(MatcherError, match="invalid regular expression"):
        Matcher.create("env", MatchOp.RE, "(")


def test_string_form_with_braces() -> None:
    got = parse_matchers('{a="1", b=~"x|y"}')
    assert got == [Matcher.create("a", "=", "1"), Matcher.create("b", "=~", "x|y")]


@pytest.mark.parametrize(
    "text",
    [
        '{a="1",b!="2",}',
        'a="1", b!="2",',
        '{  a = "1" ,  b != "2"  }',
        "a=1,b!=2",
    ],
)
def test_braces_optional_trailing_comma_and_whitespace(text: str) -> None:
    assert parse_matchers(text) == [Matcher.create("a", "=", "1"), Matcher.create("b", "!=", "2")]


def test_single_matcher_forms() -> None:
    assert parse_matcher('severity="critical"') == Matcher.create("severity", "=", "critical")
    assert parse_matcher("severity=critical") == Matcher.create("severity", "=", "critical")
    assert parse_matcher("env!~prod.*") == Matcher.create("env", "!~", "prod.*")


def test_commas_inside_quotes_do_not_split() -> None:
    assert parse_matchers('{a="x,y", b="z"}') == [
        Matcher.create("a", "=", "x,y"),
        Matcher.create("b", "=", "z"),
    ]


def test_escapes_in_quoted_values() -> None:
    (m,) = parse_matchers(r'{a="say \"hi\"\nback\\slash"}')
    assert m.value == 'say "hi"\nback\\slash'
    # A lone backslash before another character is literal: a regex digit class.
    assert parse_matcher(r'a=~"\d+"').value == "\\d+"
    assert parse_matcher(r'a=~"\d+"').matches({"a": "42"})


def test_quoted_utf8_label_name() -> None:
    m = parse_matcher('"foo🙂"="bar"')
    assert m.name == "foo🙂"
    assert m.matches({"foo🙂": "bar"})
    assert str(m) == '"foo🙂"="bar"'


def test_empty_input_gives_no_matchers() -> None:
    assert parse_matchers("") == []
    assert parse_matchers("{}") == []
    assert parse_matchers("{ }") == []


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # Alertmanager 0.25's labels.ParseMatchers, checked with its amtool check-config.
        ("foo=", [("foo", "=", "")]),  # an unquoted empty value
        ("foo=bar baz", [("foo", "=", "bar baz")]),  # inner spaces belong to the value
        ('{foo="bar"', [("foo", "=", "bar")]),  # each brace is optional on its own
        ('foo="bar"}', [("foo", "=", "bar")]),
        ('a=\\x\\"y', [("a", "=", '\\x"y')]),  # a stray backslash is literal, \" a quote
        ('a="x\\\\y\\n"', [("a", "=", "x\\y\n")]),
        ('a = "1" , b!~ 2', [("a", "=", "1"), ("b", "!~", "2")]),
        ('a="1",', [("a", "=", "1")]),
    ],
)
def test_alertmanager_string_form_edge_cases(text: str, expected: list[tuple[str, str, str]]
                                             ) -> None:
    assert [(m.name, str(m.op), m.value) for m in parse_matchers(text)] == expected


@pytest.mark.parametrize(
    ("text", "message", "offset"),
    [
        ('foo="bar', "matcher value contains unescaped double quote", 0),
        ("foo", "bad matcher format: foo", 0),
        ('a="1", foo=~"("', 'invalid regular expression "(": ', 12),
        ('a="1",,', "bad matcher format: ", 6),
        ('foo-bar="x"', 'bad matcher format: foo-bar="x"', 0),
        ('a="1" b="2"', 'matcher value contains unescaped double quote: "1" b="2"', 0),
        ('  { a="1" }', 'bad matcher format: { a="1"', 2),
        ('""="x"', "empty label name", 0),
        ('"a"="x" y', 'bad matcher format: "a"="x" y', 0),
    ],
)
def test_errors_carry_message_and_offset(text: str, message: str, offset: int) -> None:
    with pytest.raises(MatcherError) as info:
        parse_matchers(text)
    assert info.value.message.startswith(message)
    assert str(info.value) == info.value.message
    assert info.value.offset == offset


def test_parse_matcher_wants_exactly_one() -> None:
    with pytest.raises(MatcherError, match="exactly one"):
        parse_matcher('a="1",b="2"')


def test_str_renders_openmetrics_escaped_value_and_raw_regex() -> None:
    assert str(Matcher.create("a", "=", 'x"y\\z\nw')) == 'a="x\\"y\\\\z\\nw"'
    assert str(Matcher.create("svc", "=~", "mysql|pg")) == 'svc=~"mysql|pg"'
    assert str(Matcher.create("a", "!~", "b")) == 'a!~"b"'


def test_from_match_maps() -> None:
    got = from_match_maps({"team": "db"}, {"service": "mysql|pg"})
    # match_re is anchored as Alertmanager compiles it: its route key shows this form.
    assert got == [Matcher.create("team", "=", "db"),
                   Matcher.create("service", "=~", "^(?:mysql|pg)$")]


def test_route_key_part_sorts_by_name_value_then_op() -> None:
    ms = parse_matchers('{z="1", a=~"x", a!="x", a="x", a="w"}')
    assert route_key_part(ms) == '{a="w",a="x",a!="x",a=~"x",z="1"}'
    assert route_key_part([]) == "{}"


def test_format_label_set_is_go_labelset_string() -> None:
    assert format_label_set({"b": "y", "a": "x"}) == '{a="x", b="y"}'
    assert format_label_set({}) == "{}"
    got = format_label_set({"a": 'q"\\\n\t\x01é\u00a0'})
    assert got == '{a="q\\"\\\\\\n\\t\\x01é\\u00a0"}'
    # Go sorts the rendered `name="value"` strings: "a0=" sorts before "a=".
    assert format_label_set({"a": "1", "a0": "2"}) == '{a0="2", a="1"}'


# --- RE2: Alertmanager's regex syntax and semantics -----------------------------------
# The table against the real amtool is tests/e2e/test_regex_amtool.py; these run anywhere.


@pytest.mark.parametrize(
    ("pattern", "value", "expected"),
    [
        ("a{,2}", "aa", False),  # a literal in Go, a repetition in Python's re
        ("a{,2}", "a{,2}", True),
        ("\\pL+", "Grüße", True),
        ("\\p{Greek}+", "αβ", True),
        ("\\Q.*\\E", ".*", True),
        ("\\Q.*\\E", "ab", False),
        ("\\x{41}", "A", True),
        ("(?U)a+?", "aa", True),
        ("[[:^alpha:]]+", "12", True),
        ("[[:^alpha:]]+", "1a", False),
        ("a\\z", "a", True),
        ("a$", "a\n", False),  # `$` is the end of text, not before a final newline
        (".", "\n", False),
        ("(?s).", "\n", True),
    ],
)
def test_regex_matches_as_in_alertmanager(pattern: str, value: str, expected: bool) -> None:
    assert Matcher.create("foo", "=~", pattern).matches({"foo": value}) is expected
    assert Matcher.create("foo", "!~", pattern).matches({"foo": value}) is not expected


@pytest.mark.parametrize(
    ("pattern", "message"),
    [
        ("a++", "invalid nested repetition operator: `++`"),
        ("(a)\\1", "invalid escape sequence: `\\1`"),
        ("(?=a)", "invalid or unsupported Perl syntax: `(?=`"),
        ("(?<!a)b", "invalid or unsupported Perl syntax: `(?<`"),
        ("a{1001}", "invalid repeat count: `{1001}`"),
        ("a{4294967296}", "invalid repeat count: `{4294967296}`"),  # literal for RE2
        ("a{2,1000000000}", "invalid repeat count: `{2,1000000000}`"),
        ("\\C", "invalid escape sequence: `\\C`"),  # RE2 accepts it, Go does not
        ("(?<n>a)", "invalid or unsupported Perl syntax: `(?<`"),  # Go 1.22+ only
        ("(?P<é>a)", "invalid named capture: `(?P<é>`"),
        ("(", "missing closing ): `^(?:()$`"),
        ("a\ud800", "invalid UTF-8"),
    ],
)
def test_regex_alertmanager_refuses_is_refused_with_gos_words(
    pattern: str, message: str
) -> None:
    with pytest.raises(MatcherError) as info:
        Matcher.create("foo", "=~", pattern)
    assert info.value.message == f'invalid regular expression "{pattern}": {message}'


@pytest.mark.parametrize("pattern", ["\\Q\\C\\E", "[\\\\C]", "[(?<]", "\\\\C", "(?P<n_1>a)"])
def test_go_only_refusals_skip_literal_text(pattern: str) -> None:
    Matcher.create("foo", "=~", pattern)  # no error: `\C` and `(?<` only as syntax


def test_catastrophic_pattern_gives_the_right_answer() -> None:
    # Python's re backtracks exponentially here (14 characters took minutes); RE2 is linear
    # in the value, so this returns at once. Speed is measured in bench/regex.py.
    bomb = parse_matcher('bomb=~"(.*.*.*)*z"')
    assert not bomb.matches({"bomb": "a" * 30})
    assert bomb.matches({"bomb": "a" * 29 + "z"})
    assert not parse_matcher('bomb=~"(a|a)*b"').matches({"bomb": "a" * 5000})


def test_value_with_a_lone_surrogate_is_matched_not_an_error() -> None:
    assert parse_matcher('foo=~"a.*"').matches({"foo": "a\ud800"})
    assert not parse_matcher('foo=~"b.*"').matches({"foo": "a\ud800"})


def test_public_fullmatch_fallback_gives_the_same_answers() -> None:
    # router/regex.py calls the binding's C++ match directly when it can; without those
    # internals it falls back to the public `fullmatch`, with the same verdicts.
    program = _compile("^(?:db-[0-9]+|\\pL+)$", _OPTIONS)

    class PublicOnly:
        fullmatch = program.fullmatch

    for value in ("db-1", "Grüße", "db-", "db-1x", ""):
        data = value.encode()
        assert _full_matcher(PublicOnly())(data) == _full_matcher(program)(data)
    assert _full_matcher(program)(b"db-12")
    assert not _full_matcher(PublicOnly())(b"x1")


# --- Alertmanager 0.25's labels.ParseMatcher (the API's `filter`), cases from its tests ---


@pytest.mark.parametrize(
    ("text", "name", "op", "value"),
    [
        ('statuscode=~"5.."', "statuscode", "=~", "5.."),
        ("tricky=~~~", "tricky", "=~", "~~"),
        ('trickier==\\\\=\\=\\"', "trickier", "=", '=\\=\\="'),
        ("job=", "job", "=", ""),
        (' \tinstance  !=  h1 \n', "instance", "!=", "h1"),
        ('quote="She said: \\"Hi\\"\\n"', "quote", "=", 'She said: "Hi"\n'),
        ('a="x,y"', "a", "=", "x,y"),
        ("x=a\\", "x", "=", "a\\"),  # a trailing backslash is literal
    ],
)
def test_classic_matcher_reads_as_alertmanager_025(text: str, name: str, op: str,
                                                    value: str) -> None:
    assert parse_classic_matcher(text) == Matcher.create(name, op, value)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('job="value', 'matcher value contains unescaped double quote: "value'),
        ('job=value"', 'matcher value contains unescaped double quote: value"'),
        ('trickier==\\\\=\\=\\""', 'matcher value contains unescaped double quote: '
                                   '=\\\\=\\=\\""'),
        ('contains_unescaped_quote = foo"bar',
         'matcher value contains unescaped double quote: foo"bar'),
        ('invalid-name = "valid label"', 'bad matcher format: invalid-name = "valid label"'),
        ('{foo="bar"}', 'bad matcher format: {foo="bar"}'),  # one matcher, no braces
        ('a="x", b="z"', 'matcher value contains unescaped double quote: "x", b="z"'),
        ('"foo=\\"bar"', 'bad matcher format: "foo=\\"bar"'),
        ("", "bad matcher format: "),
        ('foo=~"invalid[regexp"', "error parsing regexp: missing closing ]: `[regexp)$`"),
        ("dc=~(", "error parsing regexp: missing closing ): `^(?:()$`"),
    ],
)
def test_classic_matcher_errors_are_alertmanagers_words(text: str, message: str) -> None:
    with pytest.raises(MatcherError) as err:
        parse_classic_matcher(text)
    assert err.value.message == message
