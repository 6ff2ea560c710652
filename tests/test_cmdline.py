"""The harness's command-line renderer, checked against the documented rules and against
the simulated host's independent parser (harness.sim.winparse)."""

import re

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from harness.cmdline import (
    MAX_COMMAND_LINE,
    cmd_command_line,
    escape,
    join,
    ps_quote,
    quote_arg,
    quote_program,
)
from harness.sim.winparse import (
    Simple,
    cmd_c_argument,
    crt_quote,
    expand_vars,
    parse_cmd,
    program_token,
    split_argv,
)


def through_cmd(line: str, env: dict[str, str]) -> Simple:
    """What ``cmd.exe /c <line>`` hands the program, per the simulated host."""
    node = parse_cmd(expand_vars(cmd_c_argument(line), env))
    assert isinstance(node, Simple), node
    assert node.redirects == []
    return node


# Microsoft Learn, "Parsing C++ command-line arguments": each documented argv renders to a
# line that reads back as the same argv, in the minimal form the rules allow.
@pytest.mark.parametrize("args, rendered", [
    (["abc", "d", "e"], "abc d e"),
    (["a b c", "d", "e"], '"a b c" d e'),
    (['ab"c', "\\", "d"], r'"ab\"c" \ d'),
    ([r"a\\\b", "de fg", "h"], r'a\\\b "de fg" h'),
    ([r'a\"b', "c", "d"], r'"a\\\"b" c d'),
    ([r"a\\b c", "d", "e"], r'"a\\b c" d e'),
    (['ab" c d'], r'"ab\" c d"'),
])
def test_join_microsoft_examples(args, rendered):
    line = join(["prog", *args])
    assert line == "prog " + rendered
    assert split_argv(line) == ["prog", *args]


@pytest.mark.parametrize("arg, rendered", [
    ("plain", "plain"),
    ("", '""'),
    ("a b", '"a b"'),
    ("tab\there", '"tab\there"'),
    ("v\vt", '"v\vt"'),
    ('say "hi"', r'"say \"hi\""'),
    ("C:\\dir\\", "C:\\dir\\"),                     # no quote follows: backslashes plain
    ("C:\\my dir\\", '"C:\\my dir\\\\"'),           # doubled before the closing quote
    ('\\\\"', '"\\\\\\\\\\""'),                     # 2 backslashes + quote -> 5 + quote
    ("a&b|c^%!", "a&b|c^%!"),                       # cmd characters are cmd's business
])
def test_quote_arg(arg, rendered):
    assert quote_arg(arg) == rendered
    assert split_argv("p " + rendered) == ["p", arg]


def test_quote_program():
    assert quote_program("whoami") == "whoami"
    assert quote_program(r"C:\Program Files\x.exe") == r'"C:\Program Files\x.exe"'
    assert quote_program("C:\\dir\\") == "C:\\dir\\"
    assert quote_program("C:\\my dir\\") == '"C:\\my dir\\"'   # no escaping in argv[0]
    for name in ("a,b.exe", "a;b", "a=b", "a&b", "(x)", "@x", ":x", "IF", "rem", "a\u00a0b"):
        assert quote_program(name) == f'"{name}"'


@pytest.mark.parametrize("argv, message", [
    ([], "empty"),
    ([""], "empty"),
    (['C:\\a"b.exe'], "double quote"),
    (["p", "a\0b"], "NUL"),
    (["p\0"], "NUL"),
])
def test_join_refuses(argv, message):
    with pytest.raises(ValueError, match=message):
        join(argv)


def test_join_refuses_a_string():
    with pytest.raises(TypeError):
        join("whoami /all")


@pytest.mark.parametrize("line, escaped", [
    ("whoami /all", "whoami /all"),
    ("prog a&b", "prog a^&b"),
    ('prog "a & b"', 'prog ^"a ^& b^"'),
    ('prog "a\\" & b"', 'prog ^"a\\^" ^& b^"'),     # cmd does not know \" : quotes escaped
    ("prog x|y<z>w^v(u)", "prog x^|y^<z^>w^^v^(u^)"),
    ("prog %PATH% 50%", "prog %^PATH%^ 50%"),       # the last % needs nothing
    ("prog 50%", "prog 50%"),
    ("prog %%", "prog %^%"),
    ('prog %"x"%', 'prog %^"x^"%'),                  # the caret after % escapes the quote
    ("prog a!b", "prog a!b"),                        # no delayed expansion
    ('"C:\\a b\\p.exe" x', '""C:\\a b\\p.exe" x"'),   # wrapped for the /c quote rule
    ('"C:\\a&b\\p.exe" x&y', '""C:\\a&b\\p.exe" x^&y"'),
    ("a&b.exe x", "a^&b.exe x"),
])
def test_escape(line, escaped):
    assert escape(line) == escaped
    assert through_cmd(escaped, {"PATH": "EXPANDED", "x": "EXPANDED"}).text == line


def test_escape_percent_in_program_token():
    # In the program token a protected % gets an empty quoted pair, not a caret: the
    # program sees it, but its argv[0] is unchanged.
    line = '"C:\\50%\\p.exe" %x%'
    assert escape(line) == '""C:\\50%""\\p.exe" %^x%"'
    text = through_cmd(escape(line), {"x": "EXPANDED"}).text
    assert text == '"C:\\50%""\\p.exe" %x%'
    assert split_argv(text) == split_argv(line) == ["C:\\50%\\p.exe", "%x%"]


@pytest.mark.parametrize("line, message", [
    ("prog a\nb", "line feed"),
    ("prog a\rb", "carriage return"),
    ("prog \0", "NUL"),
    ("@prog x", "syntax"),
    (":prog x", "syntax"),
    ("if x", "syntax"),
    ("For /f", "syntax"),
])
def test_escape_refuses(line, message):
    with pytest.raises(ValueError, match=message):
        escape(line)


def test_cmd_command_line():
    argv = [r"C:\Program Files\containerd\crictl.exe", "exec", "ctr",
            "cmd", "/c", "echo %USERNAME% & whoami", 'say "hi"']
    line = cmd_command_line(argv)
    assert line == ('""C:\\Program Files\\containerd\\crictl.exe" exec ctr cmd /c '
                    '^"echo %^USERNAME% ^& whoami^" ^"say \\^"hi\\^"^""')
    node = through_cmd(line, {"USERNAME": "expanded"})
    assert split_argv(node.text) == argv
    assert program_token(node.text)[0] == argv[0]


def test_cmd_command_line_length_limit():
    assert len(cmd_command_line(["p", "x" * (MAX_COMMAND_LINE - 2)])) == MAX_COMMAND_LINE
    with pytest.raises(ValueError, match="8191"):
        cmd_command_line(["p", "x" * (MAX_COMMAND_LINE - 1)])


def test_cmd_command_line_refuses_newline():
    with pytest.raises(ValueError, match="line feed"):
        cmd_command_line(["p", "two\nlines"])


@pytest.mark.parametrize("value, literal", [
    ("plain", "'plain'"),
    ("", "''"),
    ("it's", "'it''s'"),
    ("$env:X `n \"q\"", "'$env:X `n \"q\"'"),
    ("\u2018a\u2019 \u201ab\u201b", "'\u2018\u2018a\u2019\u2019 \u201a\u201ab\u201b\u201b'"),
])
def test_ps_quote(value, literal):
    assert ps_quote(value) == literal


# --- property: the renderer and the simulated host's parser agree --------------------------

NAMES = ["PATH", "path", "Foo", "x", "ERRORLEVEL", "a b", "CD", "é", "x:"]
TRICKY = ['"', "\\", "\\\\", '\\"', '\\\\"', '""', " ", "\t", "\v", "&", "&&", "|", "||",
          "<", ">", ">>", "2>&1", "^", "%", "%%", "!", "(", ")", ",", ";", "=", "@", ":",
          "'", "\u2019"]
_any_char = st.characters(blacklist_categories=("Cs",), blacklist_characters="\0\r\n")
_piece = st.one_of(
    st.sampled_from(TRICKY),
    st.text(_any_char, max_size=4),
    st.sampled_from(NAMES).map(lambda name: f"%{name}%"),
    st.sampled_from(NAMES).map(lambda name: f"%{name}:~0,2%"),
)
_arg = st.lists(_piece, max_size=7).map("".join)
_program = _arg.map(lambda s: s.replace('"', "")).filter(bool)


def _names_in(argv: list[str]) -> set[str]:
    """Every name cmd could read between two percent signs of the plain argv text."""
    text = " ".join(argv)
    marks = [i for i, ch in enumerate(text) if ch == "%"]
    names = set()
    for a, i in enumerate(marks):
        for j in marks[a + 1:]:
            names.add(text[i + 1:j])
            names.add(text[i + 1:j].split(":")[0])
    # The documented limit of the escaping: no variable name starts with ^ or ".
    return {n for n in names if n and "=" not in n and n[0] not in '^"'}


@settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(program=_program, args=st.lists(_arg, max_size=5), data=st.data())
def test_render_parse_round_trip(program, args, data):
    argv = [program, *args]
    line = join(argv)
    assert split_argv(line) == argv

    names = sorted(_names_in(argv) | set(NAMES))
    chosen = data.draw(st.lists(st.sampled_from(names), unique=True), label="defined")
    env = {data.draw(st.sampled_from([n, n.upper(), n.lower()])): f"<{n}>" for n in chosen}
    try:
        rendered = cmd_command_line(argv)
    except ValueError as refused:  # only the length limit may refuse such an argv
        assert "8191" in str(refused)
        return
    node = through_cmd(rendered, env)
    assert split_argv(node.text) == argv
    assert program_token(node.text)[0] == argv[0]


@settings(max_examples=500, deadline=None)
@given(arg=st.text(st.sampled_from(' \t\n\v"\\ab'), max_size=12) | st.text(max_size=8))
def test_quote_arg_agrees_with_the_sims_own_quoting(arg):
    """The simulated SCM quotes start arguments with its own code (winparse.crt_quote),
    written separately from harness.cmdline; both must give the same line."""
    assert quote_arg(arg) == crt_quote(arg)
    assert split_argv("p " + quote_arg(arg)) == ["p", arg]


_word = st.text(_any_char, min_size=1, max_size=6).filter(
    lambda w: not re.search(r'[\s"%\u00a0\u0085\u2028\u2029]', w) and w[0] not in "@:"
    and not re.match(r"(?i)(if|for|rem)(?=[\s,;=(/]|$)", w))


@settings(max_examples=300, deadline=None)
@given(program=_word, rest=st.lists(_piece, max_size=10).map("".join))
def test_escape_passes_text_unchanged(program, rest):
    line = f"{program} {rest}"
    env = {name: "<expanded>" for name in NAMES}
    assert through_cmd(escape(line), env).text == line
