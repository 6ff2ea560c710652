"""The user documentation (README.md, docs/*.md) against the code it describes.

Docs drift silently: an option is renamed, a file moves, an error text changes, and the page
that a new user follows step by step stops working without any test going red.  So:

* every relative link (and ``#anchor``) in the docs must point at something that exists;
* every ``hpc-e2e ...`` command in a shell code block must parse with the real argument
  parser (``harness.cli.build_parser``);
* every inventory shown in a TOML code block must load with the real inventory loader;
* the ``hpc-e2e doctor`` tables pasted in docs/doctor-examples.md must still be what doctor
  prints for the same simulated hosts (status, detail and hint of every row).

Each checker is a plain function over text, so the tests below also feed it deliberately
broken snippets and watch it complain: a checker that never fails proves nothing.
"""

from __future__ import annotations

import contextlib
import io
import json
import re
import shlex
import tomllib
from dataclasses import dataclass
from pathlib import Path

import pytest

from harness.cli import build_parser, parse_args
from harness.config.inventory import parse_inventory
from harness.errors import ConfigError

ROOT = Path(__file__).resolve().parents[1]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md")), ROOT / "ci" / "README.md"]

# Code blocks whose lines are commands a user types.  Output (``text``), config (``toml``)
# and code (``python``) blocks are not: a summary table's title "hpc-e2e scenarios" is no
# command line.
SHELL_LANGS = {"", "sh", "bash", "shell", "console", "zsh", "powershell", "pwsh", "ps1"}
POWERSHELL_LANGS = {"powershell", "pwsh", "ps1"}
OPERATORS = {"&&", "||", ";", "|", "&"}


# --- reading markdown -----------------------------------------------------------------------
@dataclass(frozen=True)
class Block:
    lang: str
    text: str
    line: int  # 1-based line of the opening fence


_FENCE = re.compile(r"^(?P<indent>\s*)(?P<fence>`{3,}|~{3,})(?P<info>.*)$")


def split_markdown(text: str) -> tuple[list[Block], str]:
    """The fenced code blocks, and the prose with every fenced block blanked out.

    Blanked lines keep the line count, so positions in the prose are still line numbers.
    """
    blocks: list[Block] = []
    prose: list[str] = []
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        m = _FENCE.match(lines[i])
        if not m:
            prose.append(lines[i])
            i += 1
            continue
        fence, lang = m.group("fence"), m.group("info").strip().split(" ")[0].lower()
        body: list[str] = []
        start = i + 1
        i += 1
        prose.append("")
        while i < len(lines) and not re.match(rf"^\s*{re.escape(fence[0])}{{{len(fence)},}}\s*$",
                                              lines[i]):
            body.append(lines[i])
            prose.append("")
            i += 1
        i += 1  # the closing fence (or the end of the file)
        prose.append("")
        indent = len(m.group("indent"))
        body = [b[indent:] if b[:indent].isspace() else b for b in body]
        blocks.append(Block(lang, "\n".join(body), start))
    return blocks, "\n".join(prose)


_INLINE_CODE = re.compile(r"(`+)(?:(?!\1).)+?\1", re.DOTALL)
_LINK = re.compile(r"!?\[(?:[^\[\]]|\[[^\]]*\])*\]"  # [text], one level of [nesting]
                   r"\(\s*<?(?P<target>[^)\s>]*)>?(?:\s+\"[^\"]*\")?\s*\)")
_REF_DEF = re.compile(r"^\s{0,3}\[[^\]]+\]:\s*<?(?P<target>\S+?)>?(?:\s+\"[^\"]*\")?\s*$",
                      re.MULTILINE)
_HEADING = re.compile(r"^\s{0,3}#{1,6}\s+(?P<text>.*?)\s*#*\s*$")
_HTML_ANCHOR = re.compile(r"<a\s+(?:name|id)=\"(?P<id>[^\"]+)\"", re.IGNORECASE)


def links(text: str) -> list[tuple[int, str]]:
    """``(line, target)`` of every markdown link and reference definition outside code."""
    _, prose = split_markdown(text)
    found = []
    for number, line in enumerate(prose.splitlines(), 1):
        line = _INLINE_CODE.sub(lambda m: " " * len(m.group(0)), line)
        found += [(number, m.group("target")) for m in _LINK.finditer(line)]
        found += [(number, m.group("target")) for m in _REF_DEF.finditer(line)]
    return found


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: the text as rendered, lower-cased, punctuation
    other than ``-`` and ``_`` removed, spaces turned into hyphens."""
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", heading)  # a link keeps its text
    text = text.replace("`", "").strip().lower()
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def anchors(text: str) -> set[str]:
    """Every anchor a page offers: heading slugs (duplicates numbered) and HTML anchors."""
    _, prose = split_markdown(text)
    seen: dict[str, int] = {}
    result = set()
    for line in prose.splitlines():
        m = _HEADING.match(line)
        if m:
            base = slug(m.group("text"))
            n = seen.get(base, 0)
            seen[base] = n + 1
            result.add(base if n == 0 else f"{base}-{n}")
        result.update(a.group("id") for a in _HTML_ANCHOR.finditer(line))
    return result


def broken_links(doc: Path, text: str, root: Path = ROOT) -> list[str]:
    """What is wrong with the relative links of ``doc`` (whose content is ``text``)."""
    problems = []
    for line, target in links(text):
        if not target or re.match(r"^[a-z][a-z0-9+.-]*:", target, re.IGNORECASE):
            continue  # http:, https:, mailto: ... are not checked here (no network)
        path_part, _, anchor = target.partition("#")
        where = f"{doc.name}:{line}: {target}"
        dest = (doc.parent / path_part).resolve() if path_part else doc.resolve()
        if root.resolve() not in (dest, *dest.parents):
            problems.append(f"{where}: points outside the repository")
            continue
        if not dest.exists():
            problems.append(f"{where}: {dest.relative_to(root.resolve())} does not exist")
            continue
        if anchor and dest.suffix == ".md":
            offered = anchors(dest.read_text(encoding="utf-8"))
            if anchor not in offered:
                problems.append(f"{where}: no heading with anchor #{anchor} in {dest.name}")
    return problems


# --- commands in code blocks -----------------------------------------------------------------
def command_lines(block: Block) -> list[tuple[int, str]]:
    """The block's logical lines (continuations joined, prompts removed), with line numbers."""
    joined: list[tuple[int, str]] = []
    pending, first = "", 0
    cont = "`" if block.lang in POWERSHELL_LANGS else "\\"
    for offset, raw in enumerate(block.text.splitlines(), 1):
        line = raw.rstrip()
        if not pending:
            first = block.line + offset
            line = re.sub(r"^\s*(?:\$|PS[^>]*>)\s+", "", line)
        if line.endswith(cont):
            pending += line[:-1] + " "
            continue
        joined.append((first, pending + line))
        pending = ""
    if pending:
        joined.append((first, pending))
    return joined


def hpc_e2e_commands(line: str) -> list[list[str]]:
    """The argv (after ``hpc-e2e``) of every hpc-e2e command on one shell line."""
    lexer = shlex.shlex(line, posix=True, punctuation_chars=";&|")
    lexer.whitespace_split = True
    lexer.commenters = "#"
    try:
        tokens = list(lexer)
    except ValueError:  # an unbalanced quote: not something we can judge
        return []
    commands, current = [], []
    for token in [*tokens, ";"]:
        if token in OPERATORS:
            if current:
                commands.append(current)
            current = []
        else:
            current.append(token)
    found = []
    for words in commands:
        words = _without_env(words)
        if words[:1] == ["hpc-e2e"]:
            found.append(words[1:])
        elif len(words) >= 3 and re.fullmatch(r"python[\d.]*", words[0]) and \
                words[1:3] == ["-m", "harness"]:
            found.append(words[3:])
    return found


def _without_env(words: list[str]) -> list[str]:
    """Drop ``VAR=value`` prefixes and an ``env [-u NAME] [-i]`` wrapper."""
    i = 0
    while i < len(words):
        if re.fullmatch(r"[A-Za-z_]\w*=.*", words[i]):
            i += 1
        elif words[i] == "env":
            i += 1
            while i < len(words) and words[i].startswith("-"):
                i += 2 if words[i] in ("-u", "--unset") else 1
        else:
            break
    return words[i:]


def cli_problems(doc_name: str, text: str) -> list[str]:
    """Every hpc-e2e command in ``text``'s shell blocks that the real parser rejects."""
    problems = []
    blocks, _ = split_markdown(text)
    for block in blocks:
        if block.lang not in SHELL_LANGS:
            continue
        for line_no, line in command_lines(block):
            for argv in hpc_e2e_commands(line):
                error = parse_error(argv)
                if error is not None:
                    problems.append(f"{doc_name}:{line_no}: hpc-e2e {shlex.join(argv)}: {error}")
    return problems


def parse_error(argv: list[str]) -> str | None:
    """argparse's complaint about ``hpc-e2e argv``, or None when it parses."""
    err = io.StringIO()
    try:
        with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
            parse_args(build_parser(), argv)
    except SystemExit as exc:
        if exc.code in (0, None):  # --help, --version
            return None
        return err.getvalue().strip().splitlines()[-1] if err.getvalue().strip() else \
            f"exit {exc.code}"
    return None


# --- inventories in TOML blocks --------------------------------------------------------------
def inventory_blocks(text: str) -> list[Block]:
    blocks, _ = split_markdown(text)
    return [b for b in blocks
            if b.lang == "toml" and re.search(r"^\[hosts\.", b.text, re.MULTILINE)]


def load_example_inventory(block: Block, base_dir: Path):
    """Load an inventory as the docs show it; secret files it names are created first
    (with a dummy value), because a doc cannot ship the lab's password."""
    raw = tomllib.loads(block.text)
    for name in re.findall(r"^\s*(?:password|key_passphrase)_file\s*=\s*\"([^\"]+)\"",
                           block.text, re.MULTILINE):
        secret = base_dir / name
        secret.parent.mkdir(parents=True, exist_ok=True)
        secret.write_text("a-dummy-password\n", encoding="utf-8")
    return parse_inventory(raw, source=f"block at line {block.line}", base_dir=base_dir)


# === the checks on the real docs ============================================================
@pytest.mark.parametrize("doc", DOCS, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_every_relative_link_points_at_something_that_exists(doc):
    assert broken_links(doc, doc.read_text(encoding="utf-8")) == []


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_every_hpc_e2e_command_in_a_code_block_parses(doc):
    assert cli_problems(doc.name, doc.read_text(encoding="utf-8")) == []


def test_the_docs_show_commands_for_every_verb():
    """The parser check must have something to check: the walkthrough's commands are there."""
    verbs = set()
    for doc in DOCS:
        blocks, _ = split_markdown(doc.read_text(encoding="utf-8"))
        for block in blocks:
            if block.lang in SHELL_LANGS:
                for _, line in command_lines(block):
                    verbs.update(argv[0] for argv in hpc_e2e_commands(line) if argv)
    assert {"run", "doctor", "provision", "clean", "report", "sim"} <= verbs


@pytest.mark.parametrize("doc", [d for d in DOCS if inventory_blocks(d.read_text("utf-8"))],
                         ids=lambda p: p.relative_to(ROOT).as_posix())
def test_every_inventory_shown_in_the_docs_loads(doc, tmp_path, monkeypatch):
    monkeypatch.setenv("HPC_E2E_PASSWORD", "a-dummy-password")
    for i, block in enumerate(inventory_blocks(doc.read_text(encoding="utf-8"))):
        targets = load_example_inventory(block, tmp_path / str(i))
        assert targets, f"{doc.name}:{block.line}: no hosts"


def test_lab_vm_shows_the_three_transports(tmp_path, monkeypatch):
    """docs/lab-vm.md promises NTLM over 5985, HTTPS over 5986 and SSH: check what loads."""
    monkeypatch.setenv("HPC_E2E_PASSWORD", "a-dummy-password")
    doc = ROOT / "docs" / "lab-vm.md"
    seen = set()
    for i, block in enumerate(inventory_blocks(doc.read_text(encoding="utf-8"))):
        for t in load_example_inventory(block, tmp_path / str(i)):
            if t.transport == "ssh":
                seen.add(("ssh", t.ssh.auth, t.ssh.known_hosts is not None))
            else:
                seen.add((t.winrm.scheme, t.winrm.auth, t.effective_port,
                          t.winrm.ca_bundle is not None))
    assert ("http", "ntlm", 5985, False) in seen
    assert ("https", "ntlm", 5986, True) in seen
    assert ("ssh", "key", True) in seen


# === the checkers catch what they are for ====================================================
BROKEN_DOC = """\
# Broken

Run it:

```sh
hpc-e2e doctor --inventory lab.toml
HPC_E2E_PASSWORD=x hpc-e2e doctor --inventroy lab.toml   # a typo in the option
pip install -e . && hpc-e2e provison --inventory lab.toml
hpc-e2e run -k identity \\
    --workers 2
```

```powershell
$env:X = 1; hpc-e2e clean --older-than 2h --dry-run
```

```text
hpc-e2e scenarios          <- output, not a command
```
"""


def test_the_command_check_rejects_a_bad_option_and_names_it():
    problems = cli_problems("broken.md", BROKEN_DOC)
    assert len(problems) == 3, problems
    typo, verb, continued = problems
    assert typo.startswith("broken.md:7: hpc-e2e doctor --inventroy lab.toml:")
    assert "unrecognized arguments: --inventroy" in typo
    assert "broken.md:8: hpc-e2e provison" in verb and "invalid choice: 'provison'" in verb
    # the continued line is judged as one command, reported at its first line
    assert continued.startswith("broken.md:9: hpc-e2e run -k identity --workers 2:")


def test_the_command_check_accepts_what_the_cli_accepts():
    good = "```sh\n$ hpc-e2e run -k identity -n 2 -- -x --tb=short\n" \
           "env -u HPC_E2E_PASSWORD hpc-e2e doctor --inventory lab.toml --json\n" \
           "hpc-e2e sim serve --state-dir d --no-virtualization &\n" \
           "python3 -m harness report --single-file\n```\n"
    assert cli_problems("good.md", good) == []
    blocks, _ = split_markdown(good)
    found = [argv for _, line in command_lines(blocks[0]) for argv in hpc_e2e_commands(line)]
    assert [argv[0] for argv in found] == ["run", "doctor", "sim", "report"]


def test_arguments_after_a_double_dash_belong_to_run_only():
    assert parse_error(["run", "--", "--whatever"]) is None
    assert "after -- are passed to pytest" in parse_error(["doctor", "--", "-x"])


def test_the_link_check_finds_missing_files_anchors_and_escapes(tmp_path):
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "there.md").write_text("# A heading: with `code`\n\n## Twice\n## Twice\n")
    doc = tmp_path / "docs" / "page.md"
    text = ("[ok](there.md#a-heading-with-code) [ok too](there.md#twice-1) "
            "[web](https://example.test/x) [here](#local)\n\n## Local\n\n"
            "[gone](missing.md) [bad anchor](there.md#nope) [out](../../etc/passwd)\n"
            "`[in code](missing-too.md)`\n\n```md\n[in a block](missing-three.md)\n```\n")
    doc.write_text(text)
    problems = broken_links(doc, text, root=tmp_path)
    assert len(problems) == 3, problems
    assert "page.md:5: missing.md: docs/missing.md does not exist" in problems[0]
    assert "no heading with anchor #nope in there.md" in problems[1]
    assert "points outside the repository" in problems[2]


def test_github_slugs():
    assert slug("7. Run a first scenario group: `hpc-e2e run -k identity`") == \
        "7-run-a-first-scenario-group-hpc-e2e-run--k-identity"
    assert slug("Export the WinRM certificate for `ca_bundle`") == \
        "export-the-winrm-certificate-for-ca_bundle"
    assert slug("Describing real hosts: the inventory") == "describing-real-hosts-the-inventory"


def test_the_inventory_check_rejects_a_drifted_key(tmp_path, monkeypatch):
    monkeypatch.setenv("HPC_E2E_PASSWORD", "x")
    text = '```toml\n[hosts.lab1]\naddress = "lab1"\npassword_env = "HPC_E2E_PASSWORD"\n' \
           'user = "a"\n[hosts.lab1.winrm]\nca_bundel = "ca.pem"\n```\n'
    (block,) = inventory_blocks(text)
    with pytest.raises(ConfigError, match=r"winrm\.ca_bundel: unknown key"):
        load_example_inventory(block, tmp_path)


# === docs/doctor-examples.md against doctor itself ===========================================
EXAMPLES = ROOT / "docs" / "doctor-examples.md"
_EXAMPLE = re.compile(r"<!-- doctor-example: (?P<name>[\w-]+) -->\s*\n```text\n(?P<body>.*?)\n```",
                      re.DOTALL)


@dataclass(frozen=True)
class Row:
    check: str
    status: str
    detail: str
    hint: str


def _squeeze(text: str) -> str:
    """Compare texts as rich wrapped them: no whitespace, loopback ports and pids neutral."""
    text = re.sub(r"\s+", "", text)
    text = re.sub(r"127\.0\.0\.1:\d+", "127.0.0.1:PORT", text)
    return re.sub(r"\(pid\d+\)", "(pidN)", text)


def pasted_tables(text: str) -> dict[str, list[tuple[str, list[Row]]]]:
    """``name -> [(host title, rows)]`` of every doctor table pasted in the page."""
    result = {}
    for m in _EXAMPLE.finditer(text):
        hosts: list[tuple[str, list[Row]]] = []
        cells: list[list[str]] | None = None
        for line in m.group("body").splitlines():
            if re.match(r"^\S.*: (?:not )?ready$", line):
                hosts.append((line, []))
            elif line.startswith("│"):
                parts = [p.strip() for p in line.strip("│").split("│")]
                if parts[0]:
                    cells = [[p] for p in parts]
                    hosts[-1][1].append(cells)  # type: ignore[arg-type]
                elif cells is not None:
                    for column, part in zip(cells, parts):
                        column.append(part)
        result[m.group("name")] = [
            (title, [Row(*(_squeeze("".join(col)) for col in row)) for row in rows])
            for title, rows in hosts]
    return result


def real_rows(report) -> list[Row]:
    return [Row(*(_squeeze(v) for v in (c.name, c.status, c.detail, c.hint)))
            for c in report.checks]


def test_the_examples_page_holds_every_case():
    assert set(pasted_tables(EXAMPLES.read_text(encoding="utf-8"))) == {
        "fresh", "ready", "no-virtualization", "not-elevated", "wrong-password"}


def test_the_table_reader_sees_rows_and_their_wrapped_text():
    tables = pasted_tables(EXAMPLES.read_text(encoding="utf-8"))
    ((title, rows),) = tables["not-elevated"]
    assert title.endswith(": not ready")
    elevated = next(r for r in rows if r.check == "elevatedadministrator")
    assert elevated.status == "fail"
    assert "LocalAccountTokenFilterPolicy=1" in elevated.hint


@pytest.fixture(scope="module")
def doctor_reports(tmp_path_factory):
    """The doctor reports of the simulated hosts the examples page was captured from."""
    from harness.runtime.layout import default_layout
    from harness.commands.doctor import check_host
    from harness.config.secrets import Secret
    from harness.config.target import SSHOptions, Target, WinRMOptions
    from harness.runtime.bundle import load_bundle
    from harness.cri.runtime_access import crictl_runtime_access
    from harness.hosts import endpoint_target
    from harness.runtime.provision import provision_host
    from harness.sim.bundle import write_sim_bundle
    from harness.sim.host import SimHost
    from harness.sim.hostmodel import HostProfile
    from harness.transport import open_transport
    from harness.windows import WindowsHost

    base = tmp_path_factory.mktemp("doctor-examples")
    bundle = load_bundle(write_sim_bundle(base / "sim-bundle"))
    layout = default_layout()

    def provision(target) -> None:
        with open_transport(target) as transport:
            provision_host(WindowsHost(transport), bundle, cri=crictl_runtime_access)

    def as_lab1(ep: dict, password: Secret) -> Target:
        # docs/lab-vm.md "Rehearsing these steps": lab.toml's host, WinRM Basic over TLS.
        return Target(name="lab1", address="127.0.0.1", port=endpoint_target(ep).port,
                      user=ep["user"], password=password,
                      winrm=WinRMOptions(auth="ntlm", ca_bundle=ep["ca_bundle"]))

    reports = {}
    fast = {"restart_seconds": 0.2}
    lab = SimHost(base / "sim-lab", profile=HostProfile(**fast)).start()
    try:
        ep = json.loads(lab.endpoint_file.read_text(encoding="utf-8"))
        wrong = Secret("not-the-password")
        reports["wrong-password"] = [
            check_host(as_lab1(ep, wrong), layout),
            check_host(Target(name="lab3", transport="ssh", address="127.0.0.1",
                              port=ep["ssh_port"], user=ep["user"], password=wrong,
                              ssh=SSHOptions(auth="password", known_hosts=ep["ssh_known_hosts"])),
                       layout)]
        right = as_lab1(ep, Secret.from_file(ep["password_file"]))
        reports["fresh"] = [check_host(right, layout)]
        provision(right)
        reports["ready"] = [check_host(right, layout)]
    finally:
        lab.stop()
    for name, profile, provisioned in (("no-virtualization", {"hyperv_capable": False}, True),
                                       ("not-elevated", {"elevated": False}, False)):
        sim = SimHost(base / name, ssh_port=None, profile=HostProfile(**fast, **profile)).start()
        try:
            target = endpoint_target(json.loads(sim.endpoint_file.read_text(encoding="utf-8")))
            if provisioned:
                provision(target)
            reports[name] = [check_host(target, layout)]
        finally:
            sim.stop()
    return reports


@pytest.mark.parametrize("case", ["fresh", "ready", "no-virtualization", "not-elevated",
                                  "wrong-password"])
def test_the_pasted_doctor_output_is_what_doctor_prints(case, doctor_reports):
    """If this fails, doctor changed: capture the table again (the commands are on the page)
    and check that the page's explanation of it still holds."""
    pasted = pasted_tables(EXAMPLES.read_text(encoding="utf-8"))[case]
    reports = doctor_reports[case]
    assert [title.rsplit(": ", 1)[1] for title, _ in pasted] == \
        ["ready" if r.ready else "not ready" for r in reports]
    for (title, rows), report in zip(pasted, reports):
        assert title.startswith(report.host + " "), title
        assert rows == real_rows(report), f"{case}: {title}"
