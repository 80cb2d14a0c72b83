"""Insecure transport: TLS checks turned off and data or models fetched over plain HTTP."""
from __future__ import annotations

import ipaddress
import re

from ..findings import Category, Confidence, Severity, Stage
from . import fixes
from .base import Call, Invalid, Rule, Valid, is_false, literal, register, string_value
from .storage import leading_text, resolved

_HTTP_VERBS = frozenset({"get", "post", "put", "patch", "delete", "head", "options", "request", "send", "stream",
                         "Client", "AsyncClient", "Session", "urlopen", "build_opener"})
_SESSIONISH = re.compile(r"(?i)sess|client|http|conn|^s$|api")
_TLS_LIBS = ("requests.", "httpx.", "aiohttp.", "urllib3.", "boto3.", "botocore.", "hvac.", "pip._vendor.requests.")


def _split_env(cmd: list[str]) -> tuple[list[str], list[str]]:
    """Leading `VAR=value` words (and `sudo`/`env`) moved aside from the command."""
    env = []
    while cmd and (re.fullmatch(r"[A-Za-z_]\w*=.*", cmd[0]) or cmd[0] in ("sudo", "env", "command", "time")):
        if "=" in cmd[0]:
            env.append(cmd[0])
        cmd = cmd[1:]
    return env, cmd


def _shell_words(special):
    """Commands of a shell special as (env, words)."""
    from ..engine import split_commands

    for cmd in split_commands(special.command):
        yield _split_env(cmd)


_SUBPROCESS_CALLS = ("os.system", "os.popen", "subprocess.run", "subprocess.call", "subprocess.check_call",
                     "subprocess.check_output", "subprocess.Popen", "subprocess.getoutput",
                     "subprocess.getstatusoutput")


def subprocess_commands(call: Call, ctx) -> tuple[str, list[tuple[list[str], list[str]]]]:
    """(command text, [(env, words)]) of `os.system("...")` / `subprocess.run([...])` with literal parts."""
    import libcst as cst

    from ..engine import split_commands

    if not call.is_(*_SUBPROCESS_CALLS):
        return "", []
    arg = call.arg(0, "args") if call.qualname.startswith("subprocess.") else call.arg(0, "command")
    if arg is None and call.qualname.startswith("subprocess.get"):
        arg = call.arg(0, "cmd")
    if isinstance(arg, (cst.List, cst.Tuple)):
        words = [leading_text(e.value, ctx) or "{}" for e in arg.elements if isinstance(e, cst.Element)]
        return " ".join(words), [_split_env(words)]
    text = leading_text(arg, ctx)
    if not text:
        return "", []
    return text, [_split_env(c) for c in split_commands(text)]


def _word_span(special, word: str) -> tuple[int, int | None]:
    i = special.text.find(word)
    return (i, i + len(word)) if i >= 0 else (0, None)


# ---------------------------------------------------------------------------------------------
# MLS401: verify=False

_CA_BUNDLE_VARS = ("CURL_CA_BUNDLE", "REQUESTS_CA_BUNDLE")


@register
class VerifyFalse(Rule):
    id = "MLS401"
    name = "tls-verify-disabled"
    category = Category.TRANSPORT
    severity = Severity.HIGH
    cwe = 295
    stage = Stage.DATA_PREPARATION
    message = "`{name}` with `verify=False` accepts any certificate: a network attacker can read and change the traffic"
    fix_hint = "Remove `verify=False`; behind a corporate proxy pass `verify=\"/path/to/ca-bundle.pem\"` (or set REQUESTS_CA_BUNDLE)."
    explanation = """
**Why**: without certificate verification, TLS still encrypts but no longer checks *who* is at the
other end. Anyone on the path (public Wi-Fi, a compromised proxy, a hostile network in the cloud) can
impersonate the server: read API keys and data you send, and replace the data, weights or pickles
you download (which then run code when loaded). Notebooks usually add `verify=False` to get past a
proxy's certificate error once and keep it forever.

Also reported: `session.verify = False`, `httpx.Client(verify=False)`, `verify_ssl=False` /
`verify_certs=False` / `ssl_verify=False` keywords (aiohttp, Elasticsearch, GitLab...) and
`os.environ["CURL_CA_BUNDLE"] = ""` / `%env CURL_CA_BUNDLE=` (the old trick that turned off
verification for every `requests` call in the process; it works with requests < 2.28).

**Example**: `requests.get(url, verify=False)`

**Fix**: drop the argument. If a proxy re-signs TLS, point at its CA instead:
`requests.get(url, verify="/etc/ssl/certs/corp-ca.pem")`, `httpx.Client(verify=ssl_context)`, or
`REQUESTS_CA_BUNDLE=/path/ca.pem`.
"""
    triggers = (r"verify", r"CA_BUNDLE")
    bandit_ids = ("B501",)
    fixable = "unsafe"  # requests through a re-signing proxy start failing: the point, but a behaviour change
    VALID = [
        Valid("import requests\nrequests.get('https://x', timeout=10)"),
        Valid("import requests\nrequests.get('https://x', verify='/etc/ssl/corp.pem')"),
        Valid("import jwt\njwt.decode(token, verify=False)", note="not TLS"),
        Valid("import os\nos.environ['REQUESTS_CA_BUNDLE'] = '/etc/ssl/corp.pem'"),
        Valid("%env REQUESTS_CA_BUNDLE=/etc/ssl/corp.pem"),
        Valid("args.verify = False", note="not a session"),
    ]
    INVALID = [
        Invalid("import requests\nr = requests.get(url, verify=False)", line=2, severity="high",
                expected_replacement="import requests\nr = requests.get(url)"),
        Invalid("import requests\ns = requests.Session()\ns.get(url, verify=False)", line=3),
        Invalid("import requests\nr = requests.post(verify=False, url=u, json=d)",
                expected_replacement="import requests\nr = requests.post(url=u, json=d)"),
        Invalid("import requests\nrequests.Session().get(url, verify=False)"),
        Invalid("import requests\nsession = requests.Session()\nsession.verify = False", line=3,
                expected_replacement="import requests\nsession = requests.Session()\nsession.verify = True"),
        Invalid("self.session.verify = False", note="unresolved, but named like a session"),
        Invalid("import httpx\nclient = httpx.Client(verify=False)"),
        Invalid("from requests import post\npost(url, json=d, verify=False)"),
        Invalid("r = session.get(url, verify=False)", note="unresolved session: medium confidence"),
        Invalid("import aiohttp\nconn = aiohttp.TCPConnector(verify_ssl=False)"),
        Invalid("from elasticsearch import Elasticsearch\nes = Elasticsearch(hosts, verify_certs=False)"),
        Invalid("import os\nos.environ['CURL_CA_BUNDLE'] = ''", severity="medium"),
        Invalid("%env CURL_CA_BUNDLE=", severity="medium"),
        Invalid("import boto3\ns3 = boto3.client('s3', verify=False)"),
    ]

    def check_call(self, call: Call, ctx) -> None:
        call = resolved(call, ctx)
        q = call.qualname
        for kw in ("verify_ssl", "verify_certs", "ssl_verify"):
            if is_false(call.arg(None, kw)):
                ctx.report(self, call.kwargs[kw], message=f"`{kw}=False` turns off certificate verification: a "
                           "network attacker can read and change the traffic", fix=self._remove(call, kw))
                return
        v = literal(call.arg(None, "verify"))
        if not (v is False or (type(v) is int and v == 0)):
            if q and q.startswith("aiohttp.") and is_false(call.arg(None, "ssl")):
                ctx.report(self, call.kwargs["ssl"], message=self.message.format(name=q.replace("()", "")),
                           fix=self._remove(call, "ssl"))
            return
        if q is not None:
            if not q.startswith(_TLS_LIBS):
                return
            ctx.report(self, call.kwargs["verify"], message=self.message.format(name=q.replace("()", "")),
                       fix=self._remove(call, "verify"))
        elif call.name in _HTTP_VERBS:
            ctx.report(self, call.kwargs["verify"], confidence=Confidence.MEDIUM,
                       message=self.message.format(name=call.dotted or call.name), fix=self._remove(call, "verify"))

    @staticmethod
    def _remove(call: Call, kw: str):
        """Drop the keyword (verification on is every library's default); `kw=True` when a comment is in the way."""
        edit = fixes.remove_keyword(call.node, kw) or fixes.replace(call.kwargs[kw].value, "True")
        return fixes.fix([edit], safe=False, title=f"Remove {kw}=False")

    def check_assign(self, assign, ctx) -> None:
        if assign.target.endswith(".verify") and is_false(assign.value):
            r = assign.resolved_target
            if r and not r.startswith(_TLS_LIBS):
                return
            if not r and not _SESSIONISH.search(assign.target.rsplit(".", 2)[-2]):
                return  # `args.verify = False`: some other setting
            ctx.report(self, assign.node, confidence=Confidence.HIGH if r else Confidence.MEDIUM,
                       message=f"`{assign.target} = False` turns off certificate verification for every request of "
                               "this session",
                       fix=fixes.fix([fixes.replace(assign.value, "True")], safe=False, title="Set verify = True"))
            return
        r = assign.resolved_target or ""
        for var in _CA_BUNDLE_VARS:
            if r == f"os.environ[{var!r}]" and string_value(assign.value) == "":
                ctx.report(self, assign.node, severity=Severity.MEDIUM,
                           message=f"setting {var} to an empty string is a known way to turn off certificate checks "
                                   "in `requests` (effective before requests 2.28)")

    def check_special(self, special, ctx) -> None:
        if special.kind != "magic" or special.name not in ("env", "set_env"):
            return
        m = re.match(r"\s*(\w+)\s*[= ]\s*(\S*)\s*$", special.text)
        if m and m.group(1) in _CA_BUNDLE_VARS and m.group(2) in ("", "''", '""'):
            ctx.report_special(self, special, severity=Severity.MEDIUM,
                               message=f"setting {m.group(1)} to an empty string is a known way to turn off "
                                       "certificate checks in `requests` (effective before requests 2.28)")


# ---------------------------------------------------------------------------------------------
# MLS402: unverified ssl contexts


@register
class UnverifiedSSLContext(Rule):
    id = "MLS402"
    name = "ssl-unverified-context"
    category = Category.TRANSPORT
    severity = Severity.HIGH
    cwe = 295
    stage = Stage.DATA_PREPARATION
    message = "{what} turns off certificate verification: a network attacker can impersonate the server"
    fix_hint = "Use `ssl.create_default_context()` (optionally `cafile=` for a private CA) and keep `check_hostname=True`."
    explanation = """
**Why**: `ssl._create_unverified_context()` (and `_create_stdlib_context`), `verify_mode = CERT_NONE`,
`cert_reqs=CERT_NONE` and `check_hostname = False` make TLS accept any certificate, or a valid
certificate for any other site. The notebook favourite
`ssl._create_default_https_context = ssl._create_unverified_context` does it for **every** `urllib`
download in the kernel, including the dataset and weight downloads of torchvision, keras and
torch.hub: a network attacker can then serve poisoned data or a malicious pickle.

**Example**
```python
import ssl
ssl._create_default_https_context = ssl._create_unverified_context
```

**Fix**: fix the trust store instead (`pip install certifi` and
`ssl.create_default_context(cafile=certifi.where())`; on macOS run *Install Certificates.command*;
behind a proxy add its CA with `cafile=`).
"""
    triggers = (r"_create_unverified_context", r"_create_stdlib_context", r"CERT_NONE", r"check_hostname",
                r"_create_default_https_context")
    modules = ("ssl",)
    bandit_ids = ("B323",)
    fixable = "unsafe"  # connections to servers with self-signed or mismatched certificates start failing
    VALID = [
        Valid("import ssl\nctx = ssl.create_default_context()"),
        Valid("import ssl, certifi\nctx = ssl.create_default_context(cafile=certifi.where())"),
        Valid("import ssl\nctx.check_hostname = True\nctx.verify_mode = ssl.CERT_REQUIRED"),
    ]
    INVALID = [
        Invalid("import ssl\nssl._create_default_https_context = ssl._create_unverified_context", line=2,
                expected_replacement="import ssl\nssl._create_default_https_context = ssl.create_default_context"),
        Invalid("import ssl, urllib.request\nurllib.request.urlopen(url, context=ssl._create_unverified_context())",
                line=2, expected_replacement="import ssl, urllib.request\n"
                "urllib.request.urlopen(url, context=ssl.create_default_context())"),
        Invalid("import ssl\nctx = ssl.create_default_context()\nctx.check_hostname = False", line=3,
                expected_replacement="import ssl\nctx = ssl.create_default_context()\nctx.check_hostname = True"),
        Invalid("import ssl\nctx = ssl.create_default_context()\nctx.check_hostname = False\n"
                "ctx.verify_mode = ssl.CERT_NONE", count=2),
        Invalid("import urllib3\nhttp = urllib3.PoolManager(cert_reqs='CERT_NONE')"),
        Invalid("import ssl\ns = ssl.wrap_socket(sock, cert_reqs=ssl.CERT_NONE)"),
    ]

    def check_call(self, call: Call, ctx) -> None:
        if call.is_("ssl._create_unverified_context", "ssl._create_stdlib_context"):
            fix = None
            if not call.node.args:  # create_default_context takes other arguments
                fix = self._default_context(call.node.func, ctx)
            ctx.report(self, call.node, message=self.message.format(what=f"`{call.qualname}()`"), fix=fix)
            return
        node = call.arg(None, "cert_reqs")
        if node is None:
            return
        if string_value(node) in ("CERT_NONE", "none", "NONE") or ctx.resolve(node) == "ssl.CERT_NONE":
            ctx.report(self, call.kwargs["cert_reqs"], message=self.message.format(what="`cert_reqs=CERT_NONE`"))

    def check_assign(self, assign, ctx) -> None:
        t = assign.target
        if t.endswith("._create_default_https_context") or assign.resolved_target == "ssl._create_default_https_context":
            if ctx.resolve(assign.value) in ("ssl._create_unverified_context", "ssl._create_stdlib_context"):
                ctx.report(self, assign.node, message="`ssl._create_default_https_context = "
                           f"{ctx.resolve(assign.value)}` turns off certificate verification for every urllib "
                           "download in the kernel (torchvision, keras, torch.hub): a network attacker can swap them",
                           fix=self._default_context(assign.value, ctx))
        elif t.endswith(".check_hostname") and is_false(assign.value):
            ctx.report(self, assign.node, severity=Severity.MEDIUM,
                       message="`check_hostname = False` accepts a valid certificate for any other site: a network "
                               "attacker with any certificate can impersonate the server",
                       fix=fixes.fix([fixes.replace(assign.value, "True")], safe=False, title="Set check_hostname = True"))
        elif t.endswith(".verify_mode") and ctx.resolve(assign.value) == "ssl.CERT_NONE":
            ctx.report(self, assign.node, message=self.message.format(what="`verify_mode = ssl.CERT_NONE`"))


    @staticmethod
    def _default_context(func, ctx):
        """`ssl._create_unverified_context` -> `ssl.create_default_context` (through the module only)."""
        import libcst as cst

        if not isinstance(func, cst.Attribute) or ctx.resolve(func.value) != "ssl":
            return None
        return fixes.fix([fixes.replace(func.attr, "create_default_context")], safe=False,
                         title="Use ssl.create_default_context")


# ---------------------------------------------------------------------------------------------
# MLS403: plain-HTTP downloads

_DOWNLOAD_CALLS = (
    "requests.get", "requests.post", "requests.put", "requests.patch", "requests.head", "requests.request",
    "requests.Session().get", "requests.Session().post", "requests.Session().request", "requests.session().get",
    "httpx.get", "httpx.post", "httpx.stream", "httpx.request", "httpx.Client().get", "httpx.Client().post",
    "httpx.Client().stream", "httpx.AsyncClient().get",
    "urllib.request.urlopen", "urllib.request.urlretrieve", "urllib.request.Request", "urllib.urlretrieve",
    "urllib.urlopen", "wget.download", "gdown.download",
    "torch.hub.load_state_dict_from_url", "torch.hub.download_url_to_file", "torch.utils.model_zoo.load_url",
    "torchvision.datasets.utils.download_url", "torchvision.datasets.utils.download_and_extract_archive",
    "keras.utils.get_file", "keras.utils.data_utils.get_file",
    "numpy.loadtxt", "numpy.genfromtxt", "numpy.DataSource().open",
    "fsspec.open", "datasets.load_dataset",
    "diffusers.utils.load_image", "transformers.image_utils.load_image", "PIL.Image.open",
)
_PANDAS_READERS = re.compile(r"^pandas\.read_(csv|json|parquet|excel|table|html|xml|fwf|feather|orc|stata|sas|spss|"
                             r"pickle)$")
# code or pickles: swapping them in transit runs code in the kernel
_CODE_SUFFIXES = (".pkl", ".pickle", ".pt", ".pth", ".bin", ".ckpt", ".joblib", ".h5", ".keras", ".npy", ".npz",
                  ".sav", ".dill", ".sh", ".py", ".whl", ".so", ".exe", ".ipynb")


def plain_http_url(text: str | None) -> str | None:
    """The URL when `text` is an http:// URL to a remote host known statically, else None.

    Loopback and unspecified addresses (localhost, 127.0.0.0/8, ::1, 0.0.0.0) are local services;
    a host that is a placeholder (`http://{ip}/`) is unknown and not reported.
    """
    if not text or not text[:7].lower() == "http://":
        return None
    rest = text[7:]
    host = re.split(r"[/?#]", rest, maxsplit=1)[0]
    host = host.rsplit("@", 1)[-1]
    if host.startswith("["):
        host = host[1:].split("]", 1)[0]
    elif host.count(":") == 1:
        host = host.split(":", 1)[0]
    host = host.lower().rstrip(".")
    if not host or "{" in host or "}" in host or "%" in host:
        return None
    if host == "localhost" or host.endswith(".localhost") or host in ("0.0.0.0", "::", "::1", "host.docker.internal"):
        return None
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        return text
    if ip.is_loopback or ip.is_unspecified:
        return None
    return text


def _is_private_host(url: str) -> bool:
    host = re.split(r"[/?#:]", url[7:], maxsplit=1)[0].rsplit("@", 1)[-1]
    try:
        return ipaddress.ip_address(host).is_private
    except ValueError:
        return host.endswith((".local", ".internal", ".lan"))


def _severity_for(url: str, base: Severity) -> tuple[Severity, list[str]]:
    path = re.split(r"[?#]", url, maxsplit=1)[0].lower()
    if path.endswith(_CODE_SUFFIXES):
        return Severity.HIGH, ["a model, pickle or code file: a swapped file runs code when loaded"]
    if _is_private_host(url):
        return Severity.LOW, ["private-network host"]
    return base, []


def _shown(url: str) -> str:
    url = url.replace("{}", "…")
    return url if len(url) <= 80 else url[:77] + "..."


@register
class PlainHttpDownload(Rule):
    id = "MLS403"
    name = "plain-http-download"
    category = Category.TRANSPORT
    severity = Severity.MEDIUM
    confidence = Confidence.HIGH
    cwe = 319
    stage = Stage.DATA_PREPARATION
    message = "`{name}` fetches `{url}` over plain HTTP: anyone on the network path can read or replace it"
    fix_hint = "Use the https:// URL, and check a published SHA-256 of datasets and weights before using them."
    explanation = """
**Why**: an `http://` download has no integrity or authenticity: a proxy, a hostile Wi-Fi or any hop
on the route can swap the dataset (poisoning your model), the weights, or a pickle or script (code
execution when you load or run it; reported at high severity). Only actual downloads are reported:
calls of download functions (requests, httpx, urllib, wget, torch.hub, keras `get_file`, pandas
`read_*`, `load_dataset`, LangChain `WebBaseLoader`...) and `wget`/`curl`/`git clone` in shell lines,
with the URL written literally or bound to a name earlier in the notebook. URLs in prints, markdown,
comments and docstrings are not downloads; loopback URLs (localhost, 127.0.0.1, 0.0.0.0) are local
services and are skipped; private-network hosts are reported at low severity.

**Example**
```python
url = "http://images.cocodataset.org/val2017/000000039769.jpg"
image = Image.open(requests.get(url, stream=True).raw)
!wget http://nlp.stanford.edu/data/glove.6B.zip
```

**Fix**: use `https://` (most hosts serve both), then verify a checksum the publisher gives
(`hashlib.sha256`, `keras.utils.get_file(..., file_hash=...)`, `torch.hub.download_url_to_file(...,
hash_prefix=...)`).
"""
    # Literal URLs, plus the download calls a URL bound in an earlier cell can reach (kept narrow:
    # every cell a trigger matches gets parsed).
    triggers = (r"(?i:http://)", r"requests\.\w+\(|httpx\.\w+\(", r"urlopen|urlretrieve",
                r"get_file|load_state_dict_from_url|load_url|download_url|wget\.download|gdown\.download",
                r"read_(?:csv|json|parquet|excel|table|html|xml|fwf|feather|orc|stata|sas|spss|pickle)\(",
                r"WebBaseLoader|load_image\(", r"loadtxt|genfromtxt", r"fsspec\.open", r"subprocess|(?<!\)\.)\bsystem\(|popen\(")
    modules = ("urllib.request", "wget", "gdown", "torch.hub.load_state_dict_from_url", "torch.hub.download_url_to_file", "keras.utils.get_file", "fsspec")
    bandit_ids = ()  # B310 audits every urlopen for file:/custom schemes: a different problem
    VALID = [
        Valid("import requests\nrequests.get('https://example.com/data.csv')"),
        Valid("print('see http://example.com/docs')"),
        Valid('"""Data from http://example.com/data.csv"""'),
        Valid("import requests\nrequests.get('http://localhost:8000/health')"),
        Valid("import requests\nr = requests.post('http://127.0.0.1:11434/api/chat', json=p)"),
        Valid("url = 'http://example.com/x.csv'\nprint(url)", note="a URL that is never fetched"),
        Valid("import requests\nrequests.post(f'http://{host}:{port}/predict', json=x)", note="host unknown"),
        Valid("!curl -s http://localhost:8079 > /dev/null"),
        Valid("import subprocess\nsubprocess.run(['wget', 'https://example.com/x.zip'])"),
        Valid("# !wget http://example.com/data.zip"),
    ]
    INVALID = [
        Invalid("!wget http://www.robots.ox.ac.uk/~vgg/data/pets/data/images.tar.gz", line=1, severity="medium"),
        Invalid("import pandas as pd\ndf = pd.read_csv('http://example.com/train.csv')", line=2),
        Invalid("import requests\nfrom PIL import Image\nurl = 'http://images.cocodataset.org/val2017/1.jpg'\n"
                "image = Image.open(requests.get(url, stream=True).raw)", line=4),
        Invalid("import urllib.request\nurllib.request.urlretrieve('http://example.com/model.pkl', 'model.pkl')",
                severity="high"),
        Invalid("import torch\nsd = torch.hub.load_state_dict_from_url('http://example.com/w.pth')", severity="high"),
        Invalid("from tensorflow import keras\np = keras.utils.get_file('spa-eng.zip', origin='http://storage.googleapis.com/x/spa-eng.zip')"),
        Invalid("import wget\nwget.download('http://example.com/data.csv')"),
        Invalid("!curl -L http://example.com/install.sh | bash", severity="high"),
        Invalid("%%bash\nwget -q http://example.com/a.zip\ncurl -O http://example.com/b.zip", count=2),
        Invalid("import urllib.request\nBASE = 'http://yann.lecun.com/exdb/mnist/'\n"
                "urllib.request.urlretrieve(BASE + name, name)", line=3),
        Invalid("!git clone http://example.com/repo.git"),
        Invalid("from langchain_community.document_loaders import WebBaseLoader\n"
                "loader = WebBaseLoader('http://www.paulgraham.com/worked.html')"),
        Invalid("import requests\nrequests.get('http://10.0.0.5/data.csv')", severity="low"),
        Invalid("import subprocess\nsubprocess.run(['wget', '-q', 'http://example.com/w.pt'])", severity="high"),
        Invalid("import os\nos.system('curl -o d.zip http://example.com/d.zip')", line=2),
    ]

    def _is_download(self, call: Call) -> bool:
        q = call.qualname
        if q is None:
            return False
        if call.is_(*_DOWNLOAD_CALLS) or _PANDAS_READERS.match(q):
            return True
        if q.startswith(("requests.", "httpx.")) and call.name in _HTTP_VERBS:
            return True
        return q.endswith(".WebBaseLoader") and "langchain" in q

    def check_call(self, call: Call, ctx) -> None:
        call = resolved(call, ctx)
        if call.is_(*_SUBPROCESS_CALLS):
            self._check_subprocess(call, ctx)
            return
        if not self._is_download(call):
            return
        for value in list(call.args[:2]) + [a for k, a in call.kwargs.items() if k in (
                "url", "origin", "urls", "web_path", "web_paths", "filepath_or_buffer", "path_or_buf", "io",
                "data_files", "fname", "uri", "fp", "src")]:
            url = plain_http_url(leading_text(value.value, ctx))
            if url is None:
                continue
            sev, notes = _severity_for(url, self.severity)
            if call.is_("torch.hub.load_state_dict_from_url", "torch.utils.model_zoo.load_url"):
                sev, notes = Severity.HIGH, ["the weights are unpickled after the download"]
            ctx.report(self, call.node, severity=sev, notes=notes,
                       message=self.message.format(name=call.qualname.replace("()", ""), url=_shown(url)))
            return

    def check_special(self, special, ctx) -> None:
        if special.kind != "shell" or "http://" not in special.text.lower():
            return
        for env, cmd in _shell_words(special):
            for prog, url, sev, notes in _http_fetches(cmd, special.command):
                start, end = _word_span(special, url)
                ctx.report_special(self, special, start, end, severity=sev, notes=notes,
                                   message=self.message.format(name=prog, url=_shown(url)))

    def _check_subprocess(self, call: Call, ctx) -> None:
        text, cmds = subprocess_commands(call, ctx)
        for env, cmd in cmds:
            for prog, url, sev, notes in _http_fetches(cmd, text):
                ctx.report(self, call.node, severity=sev, notes=notes,
                           message=self.message.format(name=f"{prog}` (via `{call.qualname}", url=_shown(url)))


def _http_fetches(cmd: list[str], command: str):
    """(program, url, severity, notes) of the plain-HTTP URL a wget/curl/git/aria2c command fetches."""
    if not cmd:
        return
    prog = cmd[0].rsplit("/", 1)[-1]
    if prog == "git" and not any(w in cmd for w in ("clone", "fetch", "pull", "submodule")):
        return
    if prog not in ("wget", "curl", "aria2c", "git", "gdown"):
        return
    for w in cmd[1:]:
        url = plain_http_url(w)
        if url is None:
            continue
        sev, notes = _severity_for(url, Severity.MEDIUM)
        if _piped_to_shell(command):
            sev, notes = Severity.HIGH, ["piped into a shell: a swapped script runs at once"]
        yield prog, url, sev, notes
        return


def _piped_to_shell(command: str) -> bool:
    return re.search(r"\|\s*(?:sudo\s+)?(?:ba|z|da)?sh\b|\|\s*python3?\b", command) is not None


# ---------------------------------------------------------------------------------------------
# MLS404: TLS checks off in shell tools

# curl short options that take an argument: a `k` after one of them in a cluster is that argument.
_CURL_ARG_OPTS = set("oHdXuAebcFTxrmwEKCYyzUPQt")


def _curl_insecure(word: str) -> bool:
    if word in ("--insecure", "--proxy-insecure", "--doh-insecure"):
        return True
    if word.startswith("-") and not word.startswith("--") and len(word) > 1:
        for ch in word[1:]:
            if ch == "k":
                return True
            if ch in _CURL_ARG_OPTS:
                return False
    return False


_TLS_OFF_HINT = re.compile(r"(?i)insecure|-\w*k|check-certificate|sslverify|ssl_no_verify|ssl_verify")


def _falsy(v: str) -> bool:
    return v.strip().strip("'\"").lower() in ("false", "0", "no", "off")


@register
class InsecureShellTLS(Rule):
    id = "MLS404"
    name = "shell-tls-disabled"
    category = Category.TRANSPORT
    severity = Severity.HIGH
    cwe = 295
    stage = Stage.DATA_PREPARATION
    message = "`{what}` turns off certificate checks: a network attacker can replace what is downloaded"
    fix_hint = "Drop the flag; if a proxy re-signs TLS, give the tool its CA (`curl --cacert`, `wget --ca-certificate`, `git -c http.sslCAInfo=`)."
    explanation = """
**Why**: `curl -k` / `--insecure`, `wget --no-check-certificate`, `git -c http.sslVerify=false`
(or `git config http.sslVerify false`, `GIT_SSL_NO_VERIFY=1`) and `conda config --set ssl_verify
false` make the tool accept any certificate. Whatever it fetches (datasets, weights, install scripts,
repositories you then import) can be swapped by anyone on the network path. (`pip --trusted-host`
is reported by the supply-chain rules.)

**Example**: `!wget --no-check-certificate https://example.com/weights.bin`

**Fix**: remove the flag. Behind a TLS-inspecting proxy, trust its CA explicitly:
`curl --cacert corp.pem`, `wget --ca-certificate=corp.pem`, `git -c http.sslCAInfo=corp.pem`,
`conda config --set ssl_verify corp.pem`.
"""
    triggers = (r"GIT_SSL_NO_VERIFY", r"(?<!system\(['\"])(?<!getoutput\(['\"])\b(?:curl|wget)\b|sslVerify|ssl_verify")
    bandit_ids = ()
    VALID = [
        Valid("!curl -fsSL https://example.com/x -o x"),
        Valid("!curl -o k.txt https://example.com/k.txt", note="-o takes an argument"),
        Valid("!wget https://example.com/x.zip"),
        Valid("!git -c http.sslVerify=true clone https://example.com/r.git"),
        Valid("print('curl -k is insecure')"),
        Valid("!tar -xkf data.tar", note="-k of tar means keep files"),
        Valid("import subprocess\nsubprocess.run(['curl', '-fsSL', '-o', 'x', url])"),
    ]
    INVALID = [
        Invalid("!curl -k https://example.com/model.bin -o model.bin", line=1, severity="high"),
        Invalid("!curl -sSLk https://example.com/install.sh | bash"),
        Invalid("!curl --insecure -O https://example.com/a.zip"),
        Invalid("!wget --no-check-certificate https://example.com/weights.bin"),
        Invalid("!git -c http.sslVerify=false clone https://example.com/r.git"),
        Invalid("!git config --global http.sslVerify false"),
        Invalid("!GIT_SSL_NO_VERIFY=1 git clone https://example.com/r.git"),
        Invalid("%env GIT_SSL_NO_VERIFY=1"),
        Invalid("import os\nos.environ['GIT_SSL_NO_VERIFY'] = '1'", line=2),
        Invalid("!conda config --set ssl_verify false"),
        Invalid("%%bash\nset -e\nwget --no-check-certificate https://example.com/x", line=3),
        Invalid("import subprocess\nsubprocess.run(['curl', '-k', '-o', 'm.bin', url], check=True)", line=2),
        Invalid("import os\nos.system('git -c http.sslVerify=false clone https://example.com/r.git')"),
    ]

    def check_assign(self, assign, ctx) -> None:
        if assign.resolved_target == "os.environ['GIT_SSL_NO_VERIFY']":
            v = string_value(assign.value)
            if v is not None and v.strip() and not _falsy(v):
                ctx.report(self, assign.node, message=self.message.format(what="GIT_SSL_NO_VERIFY"))

    def check_special(self, special, ctx) -> None:
        if special.kind == "magic" and special.name in ("env", "set_env"):
            m = re.match(r"\s*GIT_SSL_NO_VERIFY\s*[= ]\s*(\S+)", special.text)
            if m and not _falsy(m.group(1)):
                ctx.report_special(self, special, message=self.message.format(what="GIT_SSL_NO_VERIFY"))
            return
        if special.kind != "shell" or not _TLS_OFF_HINT.search(special.text):
            return
        for env, cmd in _shell_words(special):
            for word, what in _insecure_tls(env, cmd):
                start, end = _word_span(special, word)
                ctx.report_special(self, special, start, end, message=self.message.format(what=what))

    def check_call(self, call: Call, ctx) -> None:
        _, cmds = subprocess_commands(call, ctx)
        for env, cmd in cmds:
            for word, what in _insecure_tls(env, cmd):
                ctx.report(self, call.node, message=self.message.format(what=what))


def _insecure_tls(env: list[str], cmd: list[str]):
    """(word, description) of each flag or setting in one command that turns TLS verification off."""
    for e in env:
        if e.startswith("GIT_SSL_NO_VERIFY=") and not _falsy(e.split("=", 1)[1]):
            yield e, "GIT_SSL_NO_VERIFY"
    if not cmd:
        return
    prog = cmd[0].rsplit("/", 1)[-1]
    words = cmd[1:]
    if prog == "export":
        for w in words:
            if w.startswith("GIT_SSL_NO_VERIFY=") and not _falsy(w.split("=", 1)[1]):
                yield w, "GIT_SSL_NO_VERIFY"
    elif prog == "curl":
        for w in words:
            if _curl_insecure(w):
                yield w, f"curl {w}"
                return
    elif prog == "wget":
        for w in words:
            if w == "--no-check-certificate" or (w.startswith("--check-certificate=") and _falsy(w[20:])):
                yield w, f"wget {w}"
                return
    elif prog == "git":
        for i, w in enumerate(words):
            key = val = None
            if w == "-c" and i + 1 < len(words) and "=" in words[i + 1]:
                key, val = words[i + 1].split("=", 1)
                w = words[i + 1]
            elif w.lower() == "http.sslverify" and i + 1 < len(words) and "config" in words[:i]:
                key, val = w, words[i + 1]
            if key and key.lower().endswith("http.sslverify") and _falsy(val):
                yield w, f"git http.sslVerify={val}"
                return
    elif prog in ("conda", "mamba", "micromamba"):
        for i, w in enumerate(words):
            if w == "ssl_verify" and i + 1 < len(words) and _falsy(words[i + 1]) and "config" in words:
                yield w, f"{prog} config ssl_verify {words[i + 1]}"
                return
