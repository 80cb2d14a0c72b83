"""Supply chain: what `pip install` / `conda install` lines in a notebook let into the kernel.

Every rule here reads shell and magic lines (`!pip install`, `%pip install`, bare automagic `pip
install`, `%%bash` bodies, `python -m pip`, `uv pip`, `conda`/`mamba` installs) as shell words. Nothing
is installed, resolved or looked up online: known advisories come from the offline table in
`mlsec/data/advisories.json`.
"""
from __future__ import annotations

import functools
import re
from dataclasses import dataclass, field
from typing import Iterator

from ..findings import Category, Confidence, Severity, Stage
from .base import Invalid, Rule, Valid, register

# ---------------------------------------------------------------------------------------------
# Reading shell lines (shared with the exposure rules)

_WRAPPERS = {"sudo", "nohup", "time", "exec", "command", "env", "nice", "stdbuf"}
_PYTHON_RE = re.compile(r"^(?:python(?:\d+(?:\.\d+)?)?|\{sys\.executable\}|\$\{?PYTHON\}?|.*/python(?:\d+(?:\.\d+)?)?)$")


@dataclass
class ShellCommand:
    """One command of a shell line: `program` (basename, `python -m x` -> `x`), its words, env assignments."""

    program: str
    args: list[str]
    env: list[str] = field(default_factory=list)


def command_text(special) -> str:
    """The shell command a special amounts to; like `Special.command`, also for `%pip3` / `%micromamba`."""
    if special.kind == "magic" and special.name in ("pip3", "micromamba", "uv", "mamba", "conda", "pip"):
        return f"{special.name} {special.text}"
    return special.command


def shell_commands(special) -> tuple[ShellCommand, ...]:
    """The commands of a shell line or of a `%pip`/`%conda`-style magic (other magics give nothing).

    Cached by command text: a dozen rules read the same line. The result is shared: do not mutate it.
    """
    if special.kind == "help":
        return ()
    if special.kind == "magic" and special.name not in ("pip", "pip3", "conda", "mamba", "micromamba", "uv"):
        return ()
    return _shell_commands(command_text(special))


@functools.lru_cache(maxsize=4096)
def _shell_commands(text: str) -> tuple[ShellCommand, ...]:
    return tuple(_iter_commands(text))


def _iter_commands(text: str) -> Iterator[ShellCommand]:
    from ..engine import split_commands

    for words in split_commands(text):
        env: list[str] = []
        while words and (re.fullmatch(r"[A-Za-z_]\w*=.*", words[0]) or words[0] in _WRAPPERS):
            if "=" in words[0]:
                env.append(words[0])
            words = words[1:]
        if not words:
            continue
        prog = words[0].rsplit("/", 1)[-1]
        args = words[1:]
        if _PYTHON_RE.match(words[0]) and len(args) >= 2 and args[0] == "-m":
            prog, args = args[1], args[2:]
        elif _PYTHON_RE.match(words[0]) and args and args[0].startswith("-m") and len(args[0]) > 2:
            prog, args = args[0][2:], args[1:]
        yield ShellCommand(prog, args, env)


def word_span(special, word: str, after: int = 0) -> tuple[int, int | None]:
    """Offsets of `word` in `special.text` (searching from `after`), else the whole text."""
    i = special.text.find(word, after)
    if i < 0 and after:
        i = special.text.find(word)
    return (i, i + len(word)) if i >= 0 and word else (0, None)


def redact_url(text: str) -> str:
    """`https://user:token@host/x` -> `https://***@host/x`: credentials never reach a message."""
    return re.sub(r"://[^/@\s]+@", "://***@", text)


def option_values(args: list[str], names: tuple[str, ...]) -> list[tuple[str, str]]:
    """(option, value) for every `--opt value` / `--opt=value` / `-ovalue` among `names`."""
    out = []
    i = 0
    while i < len(args):
        w = args[i]
        for n in names:
            if w == n:
                if i + 1 < len(args):
                    out.append((w, args[i + 1]))
                    i += 1
                break
            if n.startswith("--") and w.startswith(n + "="):
                out.append((w, w[len(n) + 1:]))
                break
            if not n.startswith("--") and len(n) == 2 and w.startswith(n) and len(w) > 2 and not w.startswith("--"):
                out.append((w, w[2:]))
                break
        i += 1
    return out


# ---------------------------------------------------------------------------------------------
# Parsing pip and conda install lines

_PIP_PROGRAMS = re.compile(r"^pip(?:3(?:\.\d+)?)?$")
_CONDA_PROGRAMS = {"conda", "mamba", "micromamba"}
# pip install options that take a value (long and short spellings)
_PIP_VALUE_OPTS = {
    "-r", "--requirement", "-c", "--constraint", "-e", "--editable", "-i", "--index-url", "--extra-index-url",
    "-f", "--find-links", "--trusted-host", "-t", "--target", "--prefix", "--root", "--src", "--platform",
    "--python-version", "--implementation", "--abi", "--no-binary", "--only-binary", "--progress-bar",
    "--upgrade-strategy", "--log", "--proxy", "--retries", "--timeout", "--exists-action", "--cert",
    "--client-cert", "--cache-dir", "--global-option", "--install-option", "--config-settings", "-C", "--report",
    "--python", "-p", "--root-user-action", "--use-feature", "--use-deprecated", "--keyring-provider",
    "--index-strategy", "--extra-index", "--default-index", "--index", "--resolution", "--prerelease",
    "--group", "--extra", "--override", "--overrides", "--build-constraint",
}
_CONDA_VALUE_OPTS = {"-c", "--channel", "-n", "--name", "-p", "--prefix", "--file", "--solver", "--repodata-fn",
                     "--subdir", "--platform"}
_TOOLING = {"pip", "setuptools", "wheel"}
_REQ_RE = re.compile(
    r"^(?P<name>[A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?)\s*(?:\[(?P<extras>[^\]]*)\])?\s*"
    r"(?P<spec>(?:===|==|~=|!=|<=|>=|<|>)[^;@]*)?\s*(?:;.*)?$"
)
_NAME_AT_URL_RE = re.compile(r"^(?P<name>[A-Za-z0-9][A-Za-z0-9._-]*)\s*(?:\[[^\]]*\])?\s*@\s*(?P<url>\S+)$")
_CONDA_REQ_RE = re.compile(
    r"^(?:(?P<channel>[\w.\-/:]+)::)?(?P<name>[A-Za-z0-9][A-Za-z0-9._-]*)\s*(?P<spec>(?:[<>=!~]=?|=)[^\s]*)?$"
)
_VCS_PREFIXES = ("git+", "hg+", "svn+", "bzr+")
_ARCHIVE_EXT = (".whl", ".tar.gz", ".tgz", ".zip", ".tar.bz2", ".tar.xz", ".tar")


@dataclass
class Requirement:
    """One thing a pip/conda line installs."""

    word: str  # the shell word as written (without quotes)
    kind: str  # "name" (index package), "url" (VCS or archive URL), "local" (path/file), "unknown"
    name: str = ""
    spec: str = ""  # `==1.2.3`, `>=1`, conda `=1.2`
    url: str = ""


@dataclass
class InstallCommand:
    tool: str  # "pip" or "conda"
    requirements: list[Requirement]
    options: list[tuple[str, str]]  # (option as written, value) for options that take one
    flags: list[str]
    words: list[str]

    def option(self, *names: str) -> list[tuple[str, str]]:
        out = []
        for written, value in self.options:
            opt = written.split("=", 1)[0] if written.startswith("--") else written[:2]
            if opt in names:
                out.append((written, value))
        return out


def _classify(word: str) -> Requirement:
    w = word.strip()
    m = _NAME_AT_URL_RE.match(w)
    if m:
        return Requirement(word, "url", name=m.group("name"), url=m.group("url"))
    if w.startswith(_VCS_PREFIXES) or "://" in w:
        return Requirement(word, "url", url=w)
    if not w or w.startswith((".", "/", "~", "$", "{")) or "/" in w or "\\" in w or w.endswith(_ARCHIVE_EXT):
        return Requirement(word, "local")
    m = _REQ_RE.match(w)
    if m:
        return Requirement(word, "name", name=m.group("name"), spec=(m.group("spec") or "").strip())
    return Requirement(word, "unknown")


def parse_pip_install(args: list[str]) -> InstallCommand | None:
    """`pip [global opts] install ...` words after the program; None when it is not an install."""
    i = 0
    while i < len(args) and args[i].startswith("-"):
        i += 1  # global options such as -q, --quiet, --no-cache-dir
    if i >= len(args) or args[i] != "install":
        return None
    rest = args[i + 1:]
    reqs, options, flags = [], [], []
    j = 0
    while j < len(rest):
        w = rest[j]
        if w.startswith("-") and w != "-":
            opt = w.split("=", 1)[0]
            if opt in _PIP_VALUE_OPTS and "=" not in w and not (len(w) > 2 and not w.startswith("--")):
                value = rest[j + 1] if j + 1 < len(rest) else ""
                options.append((w, value))
                if opt in ("-e", "--editable"):
                    reqs.append(_classify(value))
                j += 2
                continue
            if "=" in w and opt in _PIP_VALUE_OPTS:
                options.append((w, w.split("=", 1)[1]))
            elif not w.startswith("--") and len(w) > 2 and w[:2] in _PIP_VALUE_OPTS:
                options.append((w, w[2:]))  # -rrequirements.txt, -ihttps://...
            else:
                flags.append(w)
            j += 1
            continue
        # `name @ url` split into three words by the shell
        if j + 2 < len(rest) and rest[j + 1] == "@":
            reqs.append(_classify(f"{w} @ {rest[j + 2]}"))
            reqs[-1].word = rest[j + 2]
            j += 3
            continue
        reqs.append(_classify(w))
        j += 1
    return InstallCommand("pip", reqs, options, flags, rest)


def parse_conda_install(args: list[str]) -> InstallCommand | None:
    if not args or args[0] not in ("install", "create"):
        return None
    rest = args[1:]
    reqs, options, flags = [], [], []
    j = 0
    while j < len(rest):
        w = rest[j]
        if w.startswith("-"):
            opt = w.split("=", 1)[0]
            if opt in _CONDA_VALUE_OPTS and "=" not in w:
                options.append((w, rest[j + 1] if j + 1 < len(rest) else ""))
                j += 2
                continue
            if "=" in w:
                options.append((w, w.split("=", 1)[1]))
            else:
                flags.append(w)
            j += 1
            continue
        if "://" in w or w.startswith((".", "/", "~", "$", "{")) or w.endswith((".tar.bz2", ".conda")):
            reqs.append(Requirement(w, "url" if "://" in w else "local", url=w if "://" in w else ""))
        else:
            m = _CONDA_REQ_RE.match(w.replace(" ", ""))
            if m:
                reqs.append(Requirement(w, "name", name=m.group("name"), spec=m.group("spec") or ""))
            else:
                reqs.append(Requirement(w, "unknown"))
        j += 1
    return InstallCommand("conda", reqs, options, flags, rest)


def install_commands(special) -> tuple[tuple[InstallCommand, ShellCommand], ...]:
    """pip and conda installs in a shell or magic line (`uv pip install` counts as pip). Shared: do not mutate."""
    text = special.text
    if "install" not in text and "create" not in text:
        return ()
    if special.kind == "help" or (special.kind == "magic" and special.name not in (
            "pip", "pip3", "conda", "mamba", "micromamba", "uv")):
        return ()
    return _install_commands(command_text(special))


@functools.lru_cache(maxsize=4096)
def _install_commands(text: str) -> tuple[tuple[InstallCommand, ShellCommand], ...]:
    return tuple(_iter_installs(text))


def _iter_installs(text: str) -> Iterator[tuple[InstallCommand, ShellCommand]]:
    for cmd in _shell_commands(text):
        prog, args = cmd.program, cmd.args
        if prog == "uv" and args[:1] == ["pip"]:
            prog, args = "pip", args[1:]
        if _PIP_PROGRAMS.match(prog):
            parsed = parse_pip_install(args)
        elif prog in _CONDA_PROGRAMS:
            parsed = parse_conda_install(args)
        else:
            parsed = None
        if parsed is not None:
            yield parsed, cmd


def is_pinned(req: Requirement, tool: str) -> bool:
    if tool == "conda":
        return req.spec.startswith("=") or req.spec.startswith("==")
    return req.spec.startswith("==") or req.spec.startswith("===")


def exact_version(req: Requirement, tool: str) -> str | None:
    """The exact version a requirement pins (`==1.2.3`, conda `=1.2.3` with three parts), else None."""
    spec = req.spec.strip()
    if "," in spec or "*" in spec:
        return None
    if spec.startswith("==="):
        v = spec[3:]
    elif spec.startswith("=="):
        v = spec[2:]
    elif tool == "conda" and spec.startswith("="):
        v = spec[1:].split("=", 1)[0]  # conda name=1.2.3=build
        if v.count(".") < 2:
            return None  # conda `=1.2` is a prefix match (1.2.*), not one version
    else:
        return None
    v = v.strip().strip("'\"")
    return v or None


# ---------------------------------------------------------------------------------------------
# MLS601 unpinned installs


@register
class UnpinnedInstall(Rule):
    id = "MLS601"
    name = "pip-unpinned"
    category = Category.SUPPLY_CHAIN
    severity = Severity.LOW
    confidence = Confidence.HIGH
    cwe = 1357
    stage = Stage.DATA_PREPARATION
    message = "`{tool} install` without pinned versions: {names}"
    fix_hint = "Pin exact versions (`pkg==1.2.3`), or install from a lock file with hashes (`pip install -r requirements.txt --require-hashes`)."
    explanation = """
**Why**: an unpinned install takes whatever version the index serves on the day the notebook runs.
A compromised or typo-squatted release, a maintainer account takeover, or simply a breaking release
reaches your kernel (and your results) without any change to the notebook. Pinning also makes the
notebook reproducible. Lower bounds (`>=`, `~=`) still float and count as unpinned. One finding per
line lists the unpinned names. Not reported: `-r requirements.txt` / `-c constraints.txt` (the file
decides), `--require-hashes` (pip then insists on pins), local paths and `-e .`, and upgrades of the
installer itself (`pip`, `setuptools`, `wheel`). VCS and URL installs are checked by MLS605.

**Example**: `!pip install transformers datasets accelerate`

**Fix**: `!pip install transformers==4.46.3 datasets==3.1.0 accelerate==1.1.1`, or keep the versions in a
`requirements.txt` made by `pip freeze` / `pip-compile --generate-hashes` and run
`!pip install -r requirements.txt --require-hashes`.
"""
    VALID = [
        Valid("!pip install transformers==4.46.3 datasets==3.1.0"),
        Valid("%pip install -r requirements.txt"),
        Valid("!pip install -e ."),
        Valid("!pip install --upgrade pip"),
        Valid("!pip install -U pip setuptools wheel"),
        Valid("!pip install -q /content/diffusers"),
        Valid("!pip install ./dist/pkg-1.0-py3-none-any.whl"),
        Valid("!pip install -c constraints.txt torch transformers", note="a constraints file decides"),
        Valid("!pip install --require-hashes torch"),
        Valid("!pip list"),
        Valid("!pip install 'torch-neuron==1.9.1.*'", note="a wildcard pin is a pin"),
        Valid("%conda install -y numpy=1.26.4"),
        Valid("!pip install git+https://github.com/org/repo.git", note="MLS605's concern"),
        Valid("print('pip install torch')"),
    ]
    INVALID = [
        Invalid("!pip install transformers datasets evaluate accelerate", line=1, severity="low"),
        Invalid("%pip install --upgrade --quiet google-genai"),
        Invalid("pip install torch", note="automagic"),
        Invalid("!pip install -q 'google-cloud-aiplatform>=1.97.0' requests==2.32.3", note="a lower bound floats"),
        Invalid("!pip install a b\n!pip install c==1.0 d", count=2),
        Invalid("!python -m pip install pandas"),
        Invalid("!{sys.executable} -m pip install --user numpy"),
        Invalid("!uv pip install --system polars"),
        Invalid("%%bash\npip install scikit-learn", line=2),
        Invalid("%%capture\n!pip install gradio", line=2),
        Invalid("!conda install -c conda-forge -y faiss-cpu"),
        Invalid("!pip install torch && pip install torchvision", count=1, note="one finding per line"),
    ]

    def check_special(self, special, ctx) -> None:
        names: list[str] = []
        tool = "pip"
        for inst, _cmd in install_commands(special):
            decided_by_file = (("--file",) if inst.tool == "conda" else
                               ("-r", "--requirement", "-c", "--constraint", "--override", "--overrides"))
            if inst.option(*decided_by_file):
                continue
            if "--require-hashes" in inst.flags:
                continue
            for req in inst.requirements:
                if req.kind != "name" or req.name.lower() in _TOOLING:
                    continue
                if inst.tool == "conda" and req.name.lower() == "python":
                    continue
                if not is_pinned(req, inst.tool) and req.word not in names:
                    names.append(req.word)
                    tool = inst.tool
        if names:
            shown = ", ".join(names[:8]) + (f" and {len(names) - 8} more" if len(names) > 8 else "")
            ctx.report_special(self, special, message=self.message.format(tool=tool, names=shown))


# ---------------------------------------------------------------------------------------------
# MLS602 extra index (dependency confusion)

_PIP_ENV_EXTRA = ("PIP_EXTRA_INDEX_URL", "UV_EXTRA_INDEX_URL", "UV_INDEX")


def _is_pypi(url: str) -> bool:
    return re.match(r"^https://(?:pypi\.org|pypi\.python\.org|files\.pythonhosted\.org)(?:/simple)?/?$", url.strip()) is not None


@register
class ExtraIndexUrl(Rule):
    id = "MLS602"
    name = "pip-extra-index-url"
    category = Category.SUPPLY_CHAIN
    severity = Severity.HIGH
    confidence = Confidence.HIGH
    cwe = 427
    stage = Stage.DATA_PREPARATION
    message = "`{what}` lets pip take any package from whichever index offers the higher version (dependency confusion)"
    fix_hint = "Use one index (`--index-url`) that mirrors what you need, or pin with hashes (`--require-hashes`) so a swapped package cannot install."
    explanation = """
**Why**: with `--extra-index-url`, pip treats PyPI and the extra index as one pool and installs the
highest version it finds for each name. Anyone can publish a package on PyPI with the name of a
package that only exists on your extra index (or the reverse), give it a higher version, and it
wins. This is how the PyTorch nightly `torchtriton` compromise (December 2022) worked:
`--extra-index-url https://download.pytorch.org/whl/nightly` pulled a malicious `torchtriton` from
PyPI. `pip config set global.extra-index-url`, `PIP_EXTRA_INDEX_URL` and uv's `--extra-index-url` /
`--index` behave the same.

**Example**: `!pip install torch --extra-index-url https://download.pytorch.org/whl/cu121`

**Fix**: use a single index, e.g. `--index-url https://download.pytorch.org/whl/cu121` for the
torch wheels in a separate install line, or a private mirror that proxies PyPI; pin versions and
hashes (`--require-hashes`) so a package from the wrong index fails to install.
"""
    triggers = (r"EXTRA_INDEX",)
    VALID = [
        Valid("!pip install torch --index-url https://download.pytorch.org/whl/cu121"),
        Valid("!pip install torch==2.3.1"),
        Valid("print('--extra-index-url is risky')"),
        Valid("%pip install --extra-index-url https://pypi.org/simple --upgrade google-genai==1.0.0",
              note="PyPI named twice is still one index"),
    ]
    INVALID = [
        Invalid("!pip install torch --extra-index-url https://download.pytorch.org/whl/cu121", line=1,
                severity="high"),
        Invalid("%pip install --extra-index-url=https://pypi.example.com/simple internal-lib"),
        Invalid("!pip config set global.extra-index-url https://pip.repos.neuron.amazonaws.com"),
        Invalid("!PIP_EXTRA_INDEX_URL=https://x.example.com/simple pip install foo==1.0"),
        Invalid("%env PIP_EXTRA_INDEX_URL=https://x.example.com/simple"),
        Invalid("import os\nos.environ['PIP_EXTRA_INDEX_URL'] = 'https://x.example.com/simple'", line=2),
        Invalid("!uv pip install --extra-index-url https://x.example.com/simple foo"),
    ]

    def check_assign(self, assign, ctx) -> None:
        t = assign.resolved_target or ""
        if t in (f"os.environ[{k!r}]" for k in _PIP_ENV_EXTRA):
            ctx.report(self, assign.node, message=self.message.format(what=t.split("'")[1]))

    def check_special(self, special, ctx) -> None:
        if special.kind == "magic" and special.name in ("env", "set_env"):
            m = re.match(r"\s*(PIP_EXTRA_INDEX_URL|UV_EXTRA_INDEX_URL|UV_INDEX)\b\s*[= ]\s*\S", special.text)
            if m:
                ctx.report_special(self, special, message=self.message.format(what=m.group(1)))
            return
        for cmd in shell_commands(special):
            for e in cmd.env:
                if e.split("=", 1)[0] in _PIP_ENV_EXTRA and e.split("=", 1)[1]:
                    s, end = word_span(special, e)
                    ctx.report_special(self, special, s, end, message=self.message.format(what=e.split("=", 1)[0]))
            prog, args = cmd.program, cmd.args
            if prog == "export":
                for w in args:
                    if w.split("=", 1)[0] in _PIP_ENV_EXTRA and "=" in w:
                        s, end = word_span(special, w)
                        ctx.report_special(self, special, s, end, message=self.message.format(what=w.split("=", 1)[0]))
            if prog == "uv" and args[:1] == ["pip"]:
                prog, args = "pip", args[1:]
            if not _PIP_PROGRAMS.match(prog):
                continue
            if args[:1] == ["config"] and any(a.endswith("extra-index-url") for a in args[1:3]):
                s, end = word_span(special, next(a for a in args[1:3] if a.endswith("extra-index-url")))
                ctx.report_special(self, special, s, end, message=self.message.format(what="pip config extra-index-url"))
                continue
            for written, value in option_values(args, ("--extra-index-url", "--extra-index", "--index")):
                if _is_pypi(value):
                    continue  # PyPI added again as an "extra" index: still one index
                s, end = word_span(special, written)
                ctx.report_special(self, special, s, end,
                                   message=self.message.format(what=written.split("=", 1)[0]))
                break


# ---------------------------------------------------------------------------------------------
# MLS603 installs over plain HTTP


def _http(url: str) -> bool:
    u = url.lower()
    if "http://" not in u:
        return False
    host = re.sub(r"^.*?http://", "", u).split("/", 1)[0].split("@")[-1].split(":")[0]
    return host not in ("localhost", "127.0.0.1", "::1", "[::1]")


@register
class InsecureInstallTransport(Rule):
    id = "MLS603"
    name = "pip-http-source"
    category = Category.SUPPLY_CHAIN
    severity = Severity.HIGH
    confidence = Confidence.HIGH
    cwe = 494
    stage = Stage.DATA_PREPARATION
    message = "`{what}` installs packages over plain HTTP: anyone on the network path can swap them"
    fix_hint = "Use the https:// URL of the index, find-links page, archive or conda channel."
    explanation = """
**Why**: a package is code that runs at install time (`setup.py`, build hooks) and at import. Over
`http://` there is no integrity or authenticity: a proxy, a hostile network or any router on the
path can serve a different package. Reported for `--index-url`/`-i`, `--extra-index-url`,
`--find-links`/`-f`, direct `http://` package or archive URLs, and conda channels (`-c http://...`).
Loopback hosts are not reported.

**Example**: `!pip install -i http://pypi.internal.example/simple mylib`

**Fix**: use `https://` (and, for an internal index with a private CA, `--cert /path/ca.pem`
instead of `--trusted-host`).
"""
    VALID = [
        Valid("!pip install -i https://pypi.org/simple requests==2.32.3"),
        Valid("!pip install -f https://download.pytorch.org/whl/torch_stable.html torch==2.0.1"),
        Valid("!pip install -i http://localhost:8080/simple mylib==1.0", note="loopback"),
        Valid("!wget http://example.com/x.zip", note="a download, not an install (transport rules)"),
    ]
    INVALID = [
        Invalid("!pip install -i http://pypi.internal.example/simple mylib==1.0", line=1, severity="high"),
        Invalid("!pip install --index-url=http://mirror.example/simple x==1"),
        Invalid("!pip install torch==1.0 -f http://download.example.com/whl/torch_stable.html"),
        Invalid("!pip install http://example.com/pkg-1.0.tar.gz"),
        Invalid("!conda install -c http://conda.example.com/channel mypkg=1.0.0"),
    ]

    def check_special(self, special, ctx) -> None:
        for inst, cmd in install_commands(special):
            hit = None
            for written, value in inst.option("-i", "--index-url", "--extra-index-url", "-f", "--find-links",
                                              "-c", "--channel", "--index", "--default-index", "--extra-index"):
                if inst.tool == "pip" and written[:2] == "-c" and not written.startswith("--"):
                    continue  # pip -c is a constraints file
                if _http(value):
                    hit = (written if value in written else value, written.split("=", 1)[0] + " " + value)
                    break
            if hit is None:
                for req in inst.requirements:
                    if req.kind == "url" and _http(req.url):
                        hit = (req.word, req.url)
                        break
            if hit:
                s, end = word_span(special, hit[0])
                ctx.report_special(self, special, s, end, message=self.message.format(what=redact_url(hit[1])[:100]))


# ---------------------------------------------------------------------------------------------
# MLS604 --trusted-host


@register
class TrustedHost(Rule):
    id = "MLS604"
    name = "pip-trusted-host"
    category = Category.SUPPLY_CHAIN
    severity = Severity.MEDIUM
    confidence = Confidence.HIGH
    cwe = 295
    stage = Stage.DATA_PREPARATION
    message = "`--trusted-host {host}` turns off pip's TLS checks for that host: installs from it can be swapped"
    fix_hint = "Remove `--trusted-host`; for a private CA pass `--cert /path/to/ca.pem` (or set PIP_CERT)."
    explanation = """
**Why**: `--trusted-host` tells pip to accept that host over plain HTTP or with any certificate. It is
usually added once to get past a proxy's certificate error, and afterwards anyone who can intercept
the traffic (proxy, Wi-Fi, cloud network) can serve their own packages, which run code on install.
Also reported: `pip config set global.trusted-host` and `PIP_TRUSTED_HOST`.

**Example**: `!pip install --trusted-host pypi.org --trusted-host files.pythonhosted.org torch`

**Fix**: remove it and make pip trust the proxy's CA instead: `pip install --cert corp-ca.pem ...`
or `pip config set global.cert /path/corp-ca.pem`.
"""
    triggers = (r"PIP_TRUSTED_HOST",)
    VALID = [Valid("!pip install --cert /etc/ssl/corp.pem torch==2.3.1"), Valid("!pip install torch==2.3.1")]
    INVALID = [
        Invalid("!pip install --trusted-host pypi.org torch==2.3.1", line=1, severity="medium"),
        Invalid("!pip install --trusted-host=mirror.local -i https://mirror.local/simple x==1"),
        Invalid("!pip config set global.trusted-host pypi.org"),
        Invalid("%env PIP_TRUSTED_HOST=pypi.org"),
        Invalid("import os\nos.environ['PIP_TRUSTED_HOST'] = 'pypi.org'"),
    ]

    def check_assign(self, assign, ctx) -> None:
        if assign.resolved_target == "os.environ['PIP_TRUSTED_HOST']":
            ctx.report(self, assign.node, message=self.message.format(host="(PIP_TRUSTED_HOST)"))

    def check_special(self, special, ctx) -> None:
        if special.kind == "magic" and special.name in ("env", "set_env"):
            m = re.match(r"\s*PIP_TRUSTED_HOST\s*[= ]\s*(\S+)", special.text)
            if m:
                ctx.report_special(self, special, message=self.message.format(host=m.group(1)))
            return
        for cmd in shell_commands(special):
            for e in cmd.env:
                if e.startswith("PIP_TRUSTED_HOST=") and len(e) > 17:
                    s, end = word_span(special, e)
                    ctx.report_special(self, special, s, end, message=self.message.format(host=e[17:]))
            prog, args = cmd.program, cmd.args
            if prog == "uv" and args[:1] == ["pip"]:
                prog, args = "pip", args[1:]
            if not _PIP_PROGRAMS.match(prog):
                continue
            if args[:1] == ["config"] and any(a.endswith("trusted-host") for a in args[1:3]):
                host = args[3] if len(args) > 3 else ""
                s, end = word_span(special, next(a for a in args[1:3] if a.endswith("trusted-host")))
                ctx.report_special(self, special, s, end, message=self.message.format(host=host))
                continue
            for written, value in option_values(args, ("--trusted-host",)):
                s, end = word_span(special, written)
                ctx.report_special(self, special, s, end, message=self.message.format(host=value))
                break


# ---------------------------------------------------------------------------------------------
# MLS605 VCS / archive installs without a commit

_SHA_RE = re.compile(r"^[0-9a-fA-F]{7,40}$")
_VERSION_TAG_RE = re.compile(r"^v?\d+(?:\.\d+)+(?:[-.]?(?:a|b|rc|post|dev)\d*)?$", re.I)


def vcs_ref(url: str) -> tuple[str, str | None]:
    """(kind, ref) of a VCS or archive URL: kind is 'vcs', 'archive' or 'file'; ref the pinned revision if any."""
    u = url.split("#", 1)[0]
    if u.startswith(_VCS_PREFIXES):
        path = u.split("://", 1)[-1]
        tail = path.rsplit("/", 1)[-1]
        ref = None
        if "@" in tail:
            ref = tail.rsplit("@", 1)[1]
        elif "@" in path.split("/", 1)[-1] and "/" in path:
            ref = path.rsplit("@", 1)[1] if "/" not in path.rsplit("@", 1)[1] else None
        return "vcs", ref
    m = re.search(r"github\.com/[^/]+/[^/]+/(?:archive|zipball|tarball)/(?:refs/(?:heads|tags)/)?(?P<ref>[^/?#]+?)"
                  r"(?:\.zip|\.tar\.gz|\.tgz)?$", u)
    if m:
        kind = "archive-branch" if "/refs/heads/" in u else "archive"
        return kind, m.group("ref")
    return "file", None


@register
class UnpinnedVcsInstall(Rule):
    id = "MLS605"
    name = "pip-vcs-unpinned"
    category = Category.SUPPLY_CHAIN
    severity = Severity.MEDIUM
    confidence = Confidence.HIGH
    cwe = 829
    stage = Stage.DATA_PREPARATION
    message = "`{url}` installs whatever the branch holds today: pin a commit (`@<sha>`)"
    fix_hint = "Append the commit you reviewed: `git+https://github.com/org/repo@<40-char sha>` (or install a released version)."
    explanation = """
**Why**: `pip install git+https://github.com/org/repo` (and `@main`, branch archives such as
`/archive/main.zip`) builds and runs the repository's current code, with no release process in
between. One push to that branch (by a maintainer, a compromised account or a merged pull request)
changes what runs in your kernel, and the notebook gives no hint that anything changed. Version tags
(`@v1.2.0`) are accepted; a commit hash is best.

**Example**: `!pip install git+https://github.com/huggingface/transformers.git`

**Fix**: `!pip install git+https://github.com/huggingface/transformers.git@<commit sha>`, or the released
package pinned to a version (`transformers==4.46.3`).
"""
    VALID = [
        Valid("!pip install git+https://github.com/org/repo.git@0123456789abcdef0123456789abcdef01234567"),
        Valid("!pip install 'unsloth @ git+https://github.com/unslothai/unsloth.git@79b46f71b249600488842511c9ee40f27a3989f2'"),
        Valid("!pip install git+https://github.com/org/repo@v1.2.0", note="a version tag"),
        Valid("!pip install https://github.com/org/repo/archive/0123456789abcdef.zip"),
        Valid("!pip install https://files.example.com/pkg-1.0-py3-none-any.whl"),
        Valid("!git clone https://github.com/org/repo"),
    ]
    INVALID = [
        Invalid("!pip install git+https://github.com/huggingface/transformers.git", line=1, severity="medium"),
        Invalid("!pip install -q -U -t /kaggle/working/ git+https://github.com/Kaggle/learntools.git"),
        Invalid("!uv pip install git+https://github.com/xhinker/sd_embed.git@main"),
        Invalid("!pip install 'pkg @ git+https://github.com/org/pkg@dev'"),
        Invalid("!pip install -e git+https://github.com/org/pkg.git#egg=pkg"),
        Invalid("!pip install https://github.com/org/repo/archive/refs/heads/main.zip"),
        Invalid("!pip install https://github.com/org/repo/archive/master.zip"),
        Invalid("!pip install git+https://github.com/a/b git+https://github.com/c/d", count=2),
    ]

    def check_special(self, special, ctx) -> None:
        cursor = 0
        for inst, _cmd in install_commands(special):
            for req in inst.requirements:
                if req.kind != "url":
                    continue
                kind, ref = vcs_ref(req.url)
                if kind == "file":
                    continue
                if ref and (_SHA_RE.match(ref) or (kind == "vcs" and _VERSION_TAG_RE.match(ref))):
                    continue
                if ref and kind == "archive" and _VERSION_TAG_RE.match(ref.replace("refs/tags/", "")):
                    continue
                s, end = word_span(special, req.word, cursor)
                if end is not None:
                    cursor = end
                url = redact_url(req.url)
                shown = url if len(url) <= 90 else url[:87] + "..."
                ctx.report_special(self, special, s, end, message=self.message.format(url=shown))


# ---------------------------------------------------------------------------------------------
# MLS606 pinned versions with known advisories

_CONDA_TO_PYPI = {"pytorch": "torch", "py-opencv": "opencv-python", "tensorflow-base": "tensorflow"}


@register
class VulnerablePin(Rule):
    id = "MLS606"
    name = "pip-vulnerable-pin"
    category = Category.SUPPLY_CHAIN
    severity = Severity.MEDIUM
    confidence = Confidence.HIGH
    cwe = 1395
    stage = Stage.DATA_PREPARATION
    message = "`{req}` has {n} known advisor{ies}{cvss}, e.g. {top}: {summary}; {upgrade}"
    fix_hint = "Pin a fixed version (the message names the lowest one that clears the listed advisories)."
    explanation = """
**Why**: a pin freezes a version, including its vulnerabilities. Tutorials pin old releases of
`transformers`, `torch`, `tensorflow`, `gradio`, `mlflow`, `Pillow`... whose known bugs include code
execution while loading models, path traversal in servers and unsafe deserialization. mlsec matches
each exact pin (`pkg==1.2.3`, conda `pkg=1.2.3`) against an offline copy of the Python Packaging
Advisory Database (see `mlsec/data/ADVISORIES_LICENSE.md`; no network is used). Severity is high when
one of the advisories has a CVSS v3 base score of 7.0 or more, else medium.

**Example**: `!pip install transformers==4.11.3`

**Fix**: pin the fixed version the message names (check your code against its changelog), and re-run
`mlsec` when you bump pins. Advisories without a fixed version are listed in the notes.
"""
    VALID = [
        Valid("!pip install requests==2.33.0 numpy==2.1.0"),
        Valid("!pip install some-unknown-package==0.0.1"),
        Valid("!pip install 'torch>=2.6'", note="not an exact pin (MLS601 reports it as unpinned)"),
        Valid("!pip install 'torch-neuron==1.9.1.*'"),
    ]
    INVALID = [
        Invalid("!pip install transformers==4.11.3", line=1, severity="high"),
        Invalid("!pip install -q torch==1.13.1 torchvision==0.14.1", count=1),
        Invalid("!pip install Pillow==9.0.0 PyYAML==5.3", count=2),
        Invalid("%conda install -y pytorch=1.13.1", note="conda name mapped to torch"),
        Invalid('!pip install "gradio==3.50.0"'),
    ]

    def check_special(self, special, ctx) -> None:
        from .. import data

        cursor = 0
        for inst, _cmd in install_commands(special):
            for req in inst.requirements:
                if req.kind != "name":
                    continue
                version = exact_version(req, inst.tool)
                if version is None:
                    continue
                name = req.name.lower()
                if inst.tool == "conda":
                    name = _CONDA_TO_PYPI.get(name, name)
                try:
                    advs = data.affected(name, version)
                except (OSError, ValueError) as exc:  # a damaged data file must not stop the scan
                    ctx.report_special(self, special, severity=Severity.INFO, confidence=Confidence.LOW,
                                       message=f"advisory table unreadable ({exc}); pinned versions not checked")
                    return
                if not advs:
                    continue
                s, end = word_span(special, req.word, cursor)
                if end is not None:
                    cursor = end
                self._report(special, ctx, req, name, version, advs, s, end)

    def _report(self, special, ctx, req, name, version, advs, s, end) -> None:
        from .. import data

        top = max(advs, key=lambda a: (a.cvss or 0.0, a.id))
        best = max((a.cvss for a in advs if a.cvss is not None), default=None)
        safe = data.first_safe_version(advs, version)
        unfixed = [a for a in advs if not a.fixed]
        if safe:
            upgrade = f"upgrade to {name}=={safe} or later"
        else:
            upgrade = "no listed fixed version clears them all"
        if unfixed:
            upgrade += f" ({len(unfixed)} without a fix)"
        summary = top.summary if len(top.summary) <= 140 else top.summary[:137].rstrip() + "..."
        msg = self.message.format(
            req=f"{name}=={version}", n=len(advs), ies="y" if len(advs) == 1 else "ies",
            cvss=f" (highest CVSS {best:.1f})" if best is not None else "", top=top.label, summary=summary,
            upgrade=upgrade,
        )
        notes = [f"{a.label}{f' CVSS {a.cvss:.1f}' if a.cvss is not None else ''}"
                 f"{' fixed in ' + ', '.join(a.fixed) if a.fixed else ' (no fix listed)'}"
                 f"{': ' + a.ref if a.ref else ''}" for a in sorted(advs, key=lambda a: -(a.cvss or 0))[:10]]
        if len(advs) > 10:
            notes.append(f"... and {len(advs) - 10} more")
        sev = Severity.HIGH if best is not None and best >= 7.0 else Severity.MEDIUM
        ctx.report_special(self, special, s, end, message=msg, severity=sev, notes=notes)
