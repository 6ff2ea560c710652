"""The simulated host's command-line parser: C runtime argv, cmd.exe's /c rule, %VAR%,
and the command structure.  Expected values come from the documented rules."""

import pytest

from harness.sim.winparse import (
    SYNTAX_ERROR,
    TRAILING_CARET,
    Chain,
    CmdSyntaxError,
    Pipeline,
    Redirect,
    Simple,
    cmd_c_argument,
    crt_quote,
    expand_vars,
    parse_cmd,
    program_token,
    split_argv,
    split_cmd_switches,
)

# Microsoft Learn, "Parsing C++ command-line arguments": the worked examples (the input is
# what follows the program name; each row's expected argv[1:]).
MICROSOFT_EXAMPLES = [
    (r'"abc" d e', ["abc", "d", "e"]),
    (r'"a b c" d e', ["a b c", "d", "e"]),
    (r'"ab\"c" "\\" d', ['ab"c', "\\", "d"]),
    (r'a\\\b d"e f"g h', [r"a\\\b", "de fg", "h"]),
    (r'a\\\"b c d', [r'a\"b', "c", "d"]),
    (r'a\\\\"b c" d e', [r"a\\b c", "d", "e"]),
    (r'a"b"" c d', ['ab" c d']),
]


@pytest.mark.parametrize("tail, expected", MICROSOFT_EXAMPLES)
def test_split_argv_microsoft_examples(tail, expected):
    assert split_argv("prog " + tail) == ["prog", *expected]


@pytest.mark.parametrize("line, expected", [
    (r'"C:\Program Files\x.exe" a', [r"C:\Program Files\x.exe", "a"]),
    (r'"C:\dir\"x y', ["C:\\dir\\x", "y"]),          # argv[0]: backslash is plain
    (r'pro"g na"me a', ["prog name", "a"]),           # argv[0]: quotes only toggle
    (" a b", ["", "a", "b"]),                          # leading blank: empty program name
    ("p \t a\t\tb  ", ["p", "a", "b"]),
    ('p ""', ["p", ""]),
    ('p "" ""', ["p", "", ""]),
    (r"p a\\", ["p", r"a\\"]),                         # trailing backslashes stay
    ('p "unterminated arg', ["p", "unterminated arg"]),
    ('p """"', ["p", '"']),                            # open, "" -> quote, close
    ('p a"b', ["p", "ab"]),
])
def test_split_argv_rules(line, expected):
    assert split_argv(line) == expected


@pytest.mark.parametrize("arg, quoted", [
    ("plain", "plain"),
    ("", '""'),
    ("a b", '"a b"'),
    ('say "hi"', r'"say \"hi\""'),
    (r"C:\dir\ ", r'"C:\dir\ "'),
    ("C:\\dir with space\\", r'"C:\dir with space\\"'),  # trailing run doubled
    (r'a\"b', r'"a\\\"b"'),  # one backslash before a quote: three, then the quote
    (r"a\b", r"a\b"),  # no quote, no blank: as it is
])
def test_crt_quote(arg, quoted):
    assert crt_quote(arg) == quoted
    assert split_argv("p " + quoted) == ["p", arg]


def test_program_token():
    assert program_token(r'"C:\Program Files\x.exe" -v') == (r"C:\Program Files\x.exe", " -v")
    assert program_token("  ping,127.0.0.1") == ("ping", ",127.0.0.1")
    assert program_token("ping,127.0.0.1", style="createprocess") == ("ping,127.0.0.1", "")
    assert program_token('C:\\"a b"\\c.exe x') == ("C:\\a b\\c.exe", " x")
    assert program_token("hostname") == ("hostname", "")
    with pytest.raises(ValueError):
        program_token("x", style="bash")


def test_split_cmd_switches():
    assert split_cmd_switches(' /d /s /c "echo hi"') == (["/D", "/S", "/C"], ' "echo hi"')
    assert split_cmd_switches("/v:off /Cdir") == (["/V:OFF", "/C"], "dir")
    assert split_cmd_switches("/r x") == (["/C"], " x")
    assert split_cmd_switches("/k x") == (["/K"], " x")
    for bad in ("", "  ", "echo hi", "/z /c x", "/v /c x"):
        with pytest.raises(CmdSyntaxError):
            split_cmd_switches(bad)


def test_cmd_c_quote_rule():
    assert cmd_c_argument(' "echo hi"') == "echo hi"
    assert cmd_c_argument('echo "hi"') == 'echo "hi"'
    # more than two quotes: first and last are removed, text after the last one kept
    assert cmd_c_argument('"my prog.exe" "param 1" > out.txt') == 'my prog.exe" "param 1 > out.txt'
    assert cmd_c_argument('"x" tail') == "x tail"
    assert cmd_c_argument('"only one') == "only one"
    exe = {"my prog.exe"}.__contains__
    assert cmd_c_argument('"my prog.exe" a', is_executable=exe) == '"my prog.exe" a'
    assert cmd_c_argument('"my prog.exe" a', is_executable=exe, s_switch=True) == "my prog.exe a"
    assert cmd_c_argument('"myprog.exe" a', is_executable=lambda _: True) == "myprog.exe a"
    assert cmd_c_argument('"my&prog.exe" a', is_executable=lambda _: True) == "my&prog.exe a"
    assert cmd_c_argument('"my prog.exe" a') == "my prog.exe a"  # no file check: not kept


def test_expand_vars():
    env = {"Path": r"C:\bin", "b": "a", "E": "", "x:": "colon"}
    assert expand_vars("echo %PATH%;%path%", env) == r"echo C:\bin;C:\bin"
    assert expand_vars("echo %UNDEF% %b%", env) == "echo %UNDEF% a"
    assert expand_vars("%%b%%", env) == "%a%"                    # %% is not special
    assert expand_vars("%E%|", env) == "|"
    assert expand_vars("50% done", env) == "50% done"
    assert expand_vars("%^b% %b^%", env) == "%^b% %b^%"          # carets do not stop phase 1
    assert expand_vars("%x:%", env) == "colon"                   # ':' before '%' is in the name
    assert expand_vars("%nope:~0,2%", env) == "%nope:~0,2%"
    # the undefined reference gives up its closing % to the next one
    assert expand_vars("%a %b% c%", {"b": "a"}) == "%a a c%"
    assert expand_vars("%a %b% c%", {"a ": "b"}) == "bb% c%"
    with pytest.raises(CmdSyntaxError, match="substring"):
        expand_vars("%PATH:~0,2%", env)


@pytest.mark.parametrize("line, expected", [
    ("whoami", Simple("whoami", [])),
    ("", Simple("", [])),
    ("  echo a & echo b", Chain(Simple("echo a "), [("&", Simple("echo b"))])),
    ("a | b && c || d & e",
     Chain(Pipeline([Simple("a "), Simple("b ")]),
           [("&&", Simple("c ")), ("||", Simple("d ")), ("&", Simple("e"))])),
    ("a && b | c", Chain(Simple("a "), [("&&", Pipeline([Simple("b "), Simple("c")]))])),
    ('type "a&b|c.txt"', Simple('type "a&b|c.txt"')),
    ("echo ^&^|^<^>^^^(^)", Simple("echo &|<>^()")),
    ('echo "^&" ^"&x', Chain(Simple('echo "^&" "'), [("&", Simple("x"))])),
    ('echo "x" > "a b.txt" 2>&1',
     Simple('echo "x"  ', [Redirect(1, ">", "a b.txt"), Redirect(2, ">&", "1")])),
    ("sort < in.txt >> out.txt", Simple("sort  ", [Redirect(0, "<", "in.txt"),
                                                     Redirect(1, ">>", "out.txt")])),
    ("cmd 2>nul", Simple("cmd ", [Redirect(2, ">", "nul")])),
    ("echo ^2>x", Simple("echo 2", [Redirect(1, ">", "x")])),
    ("echo a >x^&y b", Simple("echo a  b", [Redirect(1, ">", "x&y")])),
    (">x echo hi", Simple("echo hi", [Redirect(1, ">", "x")])),
    ("echo a|more", Pipeline([Simple("echo a"), Simple("more")])),
])
def test_parse_cmd(line, expected):
    assert parse_cmd(line) == expected


@pytest.mark.parametrize("line, message", [
    ("echo a ^", TRAILING_CARET),
    ("echo a > x^", TRAILING_CARET),
    ("echo a &", SYNTAX_ERROR),
    ("echo a &&  ", SYNTAX_ERROR),
    ("echo a |", SYNTAX_ERROR),
    ("echo a >", SYNTAX_ERROR),
    ("echo a > &", SYNTAX_ERROR),
    ('echo a > ""', SYNTAX_ERROR),
    ("echo a 2>&x", SYNTAX_ERROR),
    ("& echo a", "& was unexpected at this time."),
    ("echo a & || b", "|| was unexpected at this time."),
    ("(echo a)", "parentheses"),
    ("echo (a)", "parentheses"),
    ("echo a > (x", "parentheses"),
    ("@echo off", "@"),
    ("echo a & @echo b", "@"),
    (":label", "label"),
    ("if exist x echo y", "if statement"),
    ("FOR %i in (a) do echo %i", "for statement"),
    ("rem hi", "rem statement"),
    ("echo a 3>x", "handle 3"),
    ("echo a <&0", "<&"),
    ("echo a1>x", "digit glued"),
    ("echo a\nb", "line feed"),
])
def test_parse_cmd_refuses(line, message):
    with pytest.raises(CmdSyntaxError) as caught:
        parse_cmd(line)
    assert message in str(caught.value)
    assert isinstance(caught.value, ValueError)


def test_keywords_only_as_whole_words():
    assert parse_cmd("iffy x") == Simple("iffy x")
    assert parse_cmd('"if" x') == Simple('"if" x')
    assert parse_cmd("format.com x") == Simple("format.com x")
