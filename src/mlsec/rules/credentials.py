"""Plaintext credentials: API tokens, passwords and keys written into notebooks, shell lines and outputs.

A notebook is shared whole (git, Kaggle, Colab links, HTML exports): a token typed into a cell, a
`%env` line or printed into an output travels with it. Each literal is reported once, by the most
specific rule: a provider token format (MLS201, or MLS205/206/207 outside Python code) before
credentials in a URL (MLS202), before a known SDK login (MLS203), before a secret-looking name (MLS204).
Messages only ever show masked values (`mlsec.secrets.mask`).
"""
from __future__ import annotations

import re
from typing import Any

from .. import secrets as S
from ..findings import Category, Confidence, Severity, Stage
from .base import Assign, Call, Invalid, Rule, StringLit, TextItem, Valid, register, string_value

_ALNUM = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
_HEX = "0123456789abcdef"


def _fake(prefix: str, n: int, alphabet: str = _ALNUM, seed: int = 7) -> str:
    """A format-valid, made-up token for the examples, built at import so no token-shaped text sits in the source."""
    x = (seed * 2654435761 + len(prefix) * 97 + n) & 0xFFFFFFFF
    out = []
    for _ in range(n):
        x = (x * 1103515245 + 12345) & 0x7FFFFFFF
        out.append(alphabet[(x >> 8) % len(alphabet)])
    return prefix + "".join(out)


_HF = _fake("hf" + "_", 34)
_GH = _fake("gh" + "p_", 36, seed=3)
_OA = _fake("sk" + "-proj-", 64, seed=5)
_AK = _fake("AK" + "IA", 16, "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567", seed=11)
_AS = _fake("", 40, _ALNUM + "+/", seed=13)
_ANT = _fake("sk" + "-ant-api03-", 93, seed=17) + "AA"
_SLACK = "xo" + "xb-" + _fake("", 12, "0123456789", seed=19) + "-" + _fake("", 24, seed=23)
_WANDB = _fake("", 40, _HEX, seed=29)
_PW = "Tr0ub4dor&" + _fake("", 6, seed=31)
_PK = "-----BEGIN " + "RSA PRIVATE KEY-----\\n" + _fake("MII", 61, _ALNUM + "+/", seed=37) + "\\n-----END RSA PRIVATE KEY-----"

CRITICAL_KINDS = frozenset({
    "AWS secret access key", "private key", "GitHub token", "GitLab token", "Stripe live key", "Slack token",
    "Azure storage account key", "PyPI token", "npm token", "Databricks token",
})


def token_severity(kind: str) -> Severity:
    if kind in CRITICAL_KINDS:
        return Severity.CRITICAL
    if kind == "Stripe test key":
        return Severity.MEDIUM
    return Severity.HIGH


def _code_token(value: str, ctx: Any) -> tuple[int, int, str] | None:
    """A provider token in a Python string value, or a bare AWS secret key on a line that says aws/secret."""
    toks = S.find_tokens(value)
    if toks:
        return toks[0]
    v = value.strip()
    if S.looks_like_aws_secret(v):
        for i, line in enumerate(ctx.lines):
            if v in line:
                near = (ctx.lines[i - 1] if i else "") + line
                low = near.lower()
                if "aws" in low or "secret" in low:
                    s = value.find(v)
                    return (s, s + len(v), "AWS secret access key")
    return None


def _owned_by_earlier(value: str, ctx: Any) -> bool:
    """MLS201 (token format) and MLS202 (URL credentials) report this literal already."""
    return _code_token(value, ctx) is not None or bool(S.find_url_credentials(value))


def _literal(node: Any) -> str | None:
    return string_value(node)


def _name_of_target(assign: Assign) -> tuple[str | None, bool]:
    """The name that says what a target holds (`api_key`, `X_KEY` of `os.environ["X_KEY"]`) and if it is the env."""
    import libcst as cst

    node = assign.target_node
    if isinstance(node, cst.Name):
        return node.value, False
    if isinstance(node, cst.Attribute):
        return node.attr.value, False
    if isinstance(node, cst.Subscript) and len(node.slice) == 1 and isinstance(node.slice[0].slice, cst.Index):
        key = string_value(node.slice[0].slice.value)
        base = assign.target.split("[", 1)[0]
        is_env = base.endswith("environ")
        return key, is_env
    return None, False


_SHARED_EXPLANATION_FIX = """
**Fix**: revoke the credential (it is in the notebook's history and in every copy already shared),
then read it at run time: `os.environ["NAME"]`, `getpass.getpass()`, Colab `userdata.get("NAME")`,
Kaggle `UserSecretsClient().get_secret("NAME")`, or the library's own login flow
(`huggingface_hub.notebook_login()`, `wandb.login()` with `WANDB_API_KEY` set outside the notebook).
"""


@register
class HardcodedToken(Rule):
    id = "MLS201"
    name = "hardcoded-token"
    category = Category.SECRETS
    severity = Severity.HIGH
    confidence = Confidence.HIGH
    cwe = 798
    stage = Stage.OPERATION
    message = "provider token in a string literal"
    fix_hint = "Revoke the token and read it at run time (os.environ, getpass, Colab userdata, a secrets manager)."
    explanation = """
**Why**: the string has the exact format of a provider credential (AWS, GitHub, GitLab, Hugging Face,
OpenAI, Anthropic, Google, Slack, Stripe, a private key block, a JWT...). Anyone who gets the notebook
(a git push, a Colab or Kaggle share, an HTML export) can use it; bots scan public repositories for
these formats within minutes.

**Example**
```python
from huggingface_hub import login
login(token="hf_...34 characters...")
```
""" + _SHARED_EXPLANATION_FIX
    triggers = (
        r"(?:A3T[A-Z0-9]|AKIA|ASIA|ABIA|ACCA)[A-Z0-9]{16}",
        r"gh[pousr]_[A-Za-z0-9]{36}|github_pat_|glpat-|(?:hf|api_org)_[A-Za-z0-9]{30}|sk-[\w-]{20}|AIza[\w-]{35}|"
        r"xox[abeoprs]-|[sr]k_(?:live|test)_",
        r"PRIVATE KEY|eyJ[\w-]{8,}\.eyJ|npm_[A-Za-z0-9]{36}|pypi-AgEI|SG\.[\w-]{22}\.|r8_[A-Za-z0-9]{37}|"
        r"gsk_[A-Za-z0-9]{52}|lsv2_|dapi[a-f0-9]{32}|(?i:accountkey)=",
        r"[A-Za-z0-9/+]{40}['\"]",  # a bare AWS secret access key
    )
    bandit_ids = ("B105", "B106", "B107")
    VALID = [
        Valid("from huggingface_hub import login\nlogin(token=os.environ['HF_TOKEN'])"),
        Valid("token = 'hf_...'", note="truncated example"),
        Valid("api_key = 'sk-' + 'x' * 48"),
        Valid(f"key = '{_fake('sk' + '-', 48, 'x')}'", note="all x: a placeholder"),
        Valid("AWS_KEY = 'AKIA' + 'IOSFODNN7' + 'EXAMPLE'\nprint(AWS_KEY)"),
        Valid("hf_hub_download(repo_id='gpt2', filename='config.json')"),
        Valid("if line.startswith('-----BEGIN ' 'PRIVATE KEY-----'):\n    pass", note="a parser, not a key"),
        Valid(f"x = 'data:image/png;base64,{_fake('', 30)}{_AK}{_fake('', 30)}'", note="inside a base64 blob"),
    ]
    INVALID = [
        Invalid(f"from huggingface_hub import login\nlogin(token='{_HF}')", line=2, severity="high"),
        Invalid(f"login('{_HF}')", line=1),
        Invalid(f"headers = {{'Authorization': 'token {_GH}'}}", severity="critical"),
        Invalid(f"import openai\nopenai.api_key = '{_OA}'", line=2),
        Invalid(f"client = anthropic.Anthropic(api_key=\"{_ANT}\")"),
        Invalid(f"import boto3\ns3 = boto3.client('s3', aws_access_key_id='{_AK}',\n    aws_secret_access_key='{_AS}')",
                count=2, line=2, note="key id and secret"),
        Invalid(f"SLACK = '{_SLACK}'", severity="critical"),
        Invalid(f"KEY = '''{_PK}'''", severity="critical"),
        Invalid(f"url = f'https://hub.example/api?t={{x}}&token={_HF}'", note="inside an f-string"),
    ]

    def check_string(self, string: StringLit, ctx) -> None:
        tok = _code_token(string.value, ctx)
        if tok is None:
            return
        s, e, kind = tok
        more = len(S.find_tokens(string.value)) - 1
        extra = f" (and {more} more)" if more > 0 else ""
        ctx.report(
            self, string.node, severity=token_severity(kind),
            message=f"{kind} hard-coded in a string literal: `{S.mask(string.value[s:e])}`{extra}",
        )


@register
class CredentialsInUrl(Rule):
    id = "MLS202"
    name = "credentials-in-url"
    category = Category.SECRETS
    severity = Severity.HIGH
    confidence = Confidence.MEDIUM
    cwe = 798
    stage = Stage.OPERATION
    message = "credentials embedded in a URL"
    fix_hint = "Revoke the password or token; build the URL at run time from os.environ, or use a credential helper."
    explanation = """
**Why**: `postgresql://user:password@host/db`, `https://user:token@github.com/org/repo.git` and
`?api_key=...` put a working credential inside a URL. URLs are printed, logged, cached in shell
history and kept in the notebook; the credential goes wherever the notebook goes.

**Example**
```python
engine = create_engine("postgresql://admin:S3cr3tPassw0rd@db.prod.internal/metrics")
!git clone https://me:ghp_...@github.com/org/private-repo.git
```
""" + _SHARED_EXPLANATION_FIX + """
For git, use `gh auth login`, a credential helper or `GIT_ASKPASS`; for databases, pass the password
separately from the environment (`URL.create(..., password=os.environ["DB_PASSWORD"])`).
"""
    triggers = (r"://[^\s'\"/]*@", r"[?&][\w.\-]*(?i:key|token|secret|pass|appid)[\w.\-]*=")
    VALID = [
        Valid("engine = create_engine('postgresql://user:<password>@localhost/db')"),
        Valid("url = f'postgresql://{user}:{pw}@{host}/db'"),
        Valid("uri = 'mongodb+srv://<username>:<password>@cluster0.mongodb.net'"),
        Valid("db = 'postgres://postgres:postgres@localhost:5432/postgres'", note="local default"),
        Valid("!git clone https://github.com/huggingface/transformers.git"),
        Valid("!pip install git+ssh://git@github.com/org/repo.git"),
        Valid("u = 'https://maps.example.com/api?key=YOUR_API_KEY'"),
    ]
    INVALID = [
        Invalid("from sqlalchemy import create_engine\ne = create_engine('postgresql://admin:" + _PW + "@db.prod.internal/x')",
                line=2, severity="high"),
        Invalid("!git clone https://me:" + _fake("", 24, seed=41) + "9@gitlab.internal.net/org/repo.git", line=1),
        Invalid("%%bash\npip install --index-url https://user:" + _PW + "@pypi.corp.net/simple pkg", line=2),
        Invalid("r = requests.get('https://api.weather.io/v1?city=x&api_key=" + _fake("", 32, _HEX) + "')"),
        Invalid("!git clone https://" + _fake("", 40, _HEX, seed=43) + "@github.com/org/private.git",
                note="token as the user name"),
    ]

    def check_string(self, string: StringLit, ctx) -> None:
        if _code_token(string.value, ctx) is not None:
            return
        creds = S.find_url_credentials(string.value)
        if creds:
            c = creds[0]
            ctx.report(self, string.node, severity=self._severity(c), message=f"credentials in a URL: `{c.url}`")

    def check_special(self, special, ctx) -> None:
        if special.kind == "help" or (special.kind == "magic" and special.name in ENV_MAGICS):
            return
        text = special.text
        toks = S.find_tokens(text)
        for c in S.find_url_credentials(text):
            if any(c.start < e and s < c.end for s, e, _ in toks):
                continue  # a provider token: MLS206 reports it
            _report_in_special(self, ctx, special, c.start, c.end, severity=self._severity(c),
                               message=f"credentials in a URL on a shell line: `{c.url}`")

    def check_text(self, text: TextItem, ctx) -> None:
        if text.kind != "text":
            return  # outputs and metadata: MLS207
        toks = S.find_tokens(text.text)
        for c in S.find_url_credentials(text.text):
            if not any(c.start < e and s < c.end for s, e, _ in toks):
                ctx.report(self, span=_text_span(text, c.start, c.end), severity=self._severity(c),
                           message=f"credentials in a URL: `{c.url}`")

    @staticmethod
    def _severity(c: S.UrlCredential) -> Severity:
        return Severity.MEDIUM if c.host and S._local_host(c.host) else Severity.HIGH


# Known SDK entry points that take a credential: qualified name -> (positional index or None, keywords)
SDK_CREDENTIAL_PARAMS: dict[str, tuple[int | None, tuple[str, ...]]] = {
    "huggingface_hub.login": (0, ("token",)),
    "huggingface_hub.HfApi": (None, ("token",)),
    "huggingface_hub.HfFolder.save_token": (0, ("token",)),
    "wandb.login": (None, ("key",)),
    "openai.OpenAI": (None, ("api_key",)),
    "openai.AsyncOpenAI": (None, ("api_key",)),
    "openai.AzureOpenAI": (None, ("api_key", "azure_ad_token")),
    "anthropic.Anthropic": (None, ("api_key", "auth_token")),
    "anthropic.AsyncAnthropic": (None, ("api_key", "auth_token")),
    "anthropic.AnthropicBedrock": (None, ("aws_secret_key", "aws_session_token")),
    "google.generativeai.configure": (None, ("api_key",)),
    "google.genai.Client": (None, ("api_key",)),
    "cohere.Client": (0, ("api_key",)),
    "cohere.ClientV2": (0, ("api_key",)),
    "groq.Groq": (None, ("api_key",)),
    "mistralai.Mistral": (None, ("api_key",)),
    "together.Together": (None, ("api_key",)),
    "replicate.Client": (None, ("api_token",)),
    "pinecone.Pinecone": (None, ("api_key",)),
    "pinecone.init": (None, ("api_key",)),
    "voyageai.Client": (None, ("api_key",)),
    "boto3.client": (None, ("aws_secret_access_key", "aws_session_token")),
    "boto3.resource": (None, ("aws_secret_access_key", "aws_session_token")),
    "boto3.Session": (None, ("aws_secret_access_key", "aws_session_token")),
    "boto3.session.Session": (None, ("aws_secret_access_key", "aws_session_token")),
    "pyngrok.ngrok.set_auth_token": (0, ("token",)),
    "ngrok.set_auth_token": (0, ("token",)),
    "github.Github": (0, ("login_or_token", "password")),
    "roboflow.Roboflow": (None, ("api_key",)),
    "comet_ml.Experiment": (None, ("api_key",)),
    "comet_ml.init": (None, ("api_key",)),
    "comet_ml.login": (None, ("api_key",)),
    "neptune.init_run": (None, ("api_token",)),
    "clearml.Task.set_credentials": (None, ("key", "secret")),
    "kaggle.api.authenticate": (None, ()),
    "langchain_openai.ChatOpenAI": (None, ("api_key", "openai_api_key")),
    "langchain_openai.OpenAIEmbeddings": (None, ("api_key", "openai_api_key")),
    "langchain_anthropic.ChatAnthropic": (None, ("api_key", "anthropic_api_key")),
    "neo4j.GraphDatabase.driver": (None, ("auth",)),
    "requests.auth.HTTPBasicAuth": (1, ("password",)),
    "requests.auth.HTTPDigestAuth": (1, ("password",)),
    "httpx.BasicAuth": (1, ("password",)),
    "aiohttp.BasicAuth": (1, ("password",)),
}
# Class names distinctive enough to match when the import was not seen (another notebook, `%run`).
_DISTINCT_CALLEES = {"OpenAI", "AsyncOpenAI", "AzureOpenAI", "Anthropic", "AsyncAnthropic", "Groq", "Mistral",
                     "Together", "Pinecone", "Roboflow", "ChatOpenAI", "ChatAnthropic", "OpenAIEmbeddings", "HfApi"}
# Module attributes that hold a key: `openai.api_key = "..."`
SDK_CREDENTIAL_ATTRS = frozenset({
    "openai.api_key", "openai.azure_ad_token", "anthropic.api_key", "cohere.api_key", "groq.api_key",
    "litellm.api_key", "litellm.openai_key", "litellm.anthropic_key", "replicate.api_token", "stripe.api_key",
    "together.api_key", "mistralai.api_key", "pinecone.api_key", "wandb.api_key",
})
_LOGIN_KEYWORDS = ("token", "key", "api_key", "password", "passwd", "pwd", "secret", "auth_token", "access_token")


def sdk_credential_params(call: Call) -> tuple[int | None, tuple[str, ...]] | None:
    """Where a known SDK call or any `*.login(...)` takes its credential, or None."""
    q = (call.qualname or "").replace("()", "")
    if q in SDK_CREDENTIAL_PARAMS:
        return SDK_CREDENTIAL_PARAMS[q]
    name = call.name
    if call.qualname is None and name in _DISTINCT_CALLEES:
        for k, v in SDK_CREDENTIAL_PARAMS.items():
            if k.endswith("." + name):
                return v
    if name in ("login", "set_auth_token", "save_token"):
        return (0 if name != "login" or call.qualname is None or "huggingface" in q else None, _LOGIN_KEYWORDS)
    return None


@register
class LiteralLoginSecret(Rule):
    id = "MLS203"
    name = "login-with-literal-secret"
    category = Category.SECRETS
    severity = Severity.HIGH
    confidence = Confidence.HIGH
    cwe = 798
    stage = Stage.OPERATION
    message = "a login or API client is given a literal credential"
    fix_hint = "Let the library read its environment variable (HF_TOKEN, WANDB_API_KEY, OPENAI_API_KEY...) or pass os.environ[...]."
    explanation = """
**Why**: `wandb.login(key="...")`, `huggingface_hub.login("...")`, `openai.api_key = "..."`,
`anthropic.Anthropic(api_key="...")`, `boto3.client(aws_secret_access_key="...")` and a Kaggle
`{"username": ..., "key": ...}` dictionary all put a working credential into the notebook text.

**Example**
```python
import wandb
wandb.login(key="0123abcd...40 hex characters...")
```
""" + _SHARED_EXPLANATION_FIX
    # no `modules`: aliases of these libraries are common names (`client`), and every call it checks takes
    # its credential through one of these words or a literal argument to login/set_auth_token
    triggers = (r"login\((?!\))|set_auth_token|save_token|api_key|api_token|auth_token|aws_secret|aws_session|"
                r"azure_ad_token|OpenAI\(|Anthropic\(|Groq\(|Mistral\(|Together\(|Pinecone\(|Roboflow\(|"
                r"HfApi\(|Github\(|(?i:cohere)|set_credentials|GraphDatabase|BasicAuth|DigestAuth|['\"]username['\"]",)
    VALID = [
        Valid("import wandb\nwandb.login()"),
        Valid("import wandb, os\nwandb.login(key=os.environ['WANDB_API_KEY'])"),
        Valid("from huggingface_hub import notebook_login\nnotebook_login()"),
        Valid("import openai\nopenai.api_key = os.getenv('OPENAI_API_KEY')"),
        Valid("from openai import OpenAI\nclient = OpenAI(api_key='EMPTY', base_url='http://localhost:8000/v1')"),
        Valid("from anthropic import Anthropic\nclient = Anthropic(api_key='<YOUR_API_KEY>')"),
        Valid("from google.colab import userdata\nimport wandb\nwandb.login(key=userdata.get('WANDB'))"),
        Valid("import json\njson.dump({'username': 'me', 'key': '<kaggle key>'}, f)"),
    ]
    INVALID = [
        Invalid(f"import wandb\nwandb.login(key='{_WANDB}')", line=2, severity="high"),
        Invalid(f"import openai\nopenai.api_key = '{_WANDB}'", line=2),
        Invalid(f"from openai import OpenAI\nclient = OpenAI(api_key='{_fake('', 32, seed=47)}')"),
        Invalid(f"import json\njson.dump({{'username': 'me', 'key': '{_fake('', 32, _HEX, seed=53)}'}}, open('kaggle.json', 'w'))"),
        Invalid(f"kaggle_creds = {{'username': 'me', 'key': '{_fake('', 32, _HEX, seed=59)}'}}"),
        Invalid(f"from pyngrok import ngrok\nngrok.set_auth_token('{_fake('2a', 40, seed=61)}')"),
        Invalid(f"server = smtplib.SMTP('smtp.gmail.com', 587)\nserver.login('me@x.org', password='{_PW}')", line=2),
        Invalid(f"from requests.auth import HTTPBasicAuth\nr = requests.get(u, auth=HTTPBasicAuth('me', '{_PW}'))", line=2),
    ]

    def check_call(self, call: Call, ctx) -> None:
        params = sdk_credential_params(call)
        if params is not None:
            pos, keywords = params
            nodes = [call.kwargs[k].value for k in keywords if k in call.kwargs]
            if pos is not None and pos < len(call.args):
                nodes.append(call.args[pos].value)
            if call.name == "login" and call.qualname is None and len(call.args) >= 2:
                nodes.append(call.args[1].value)  # server.login(user, "password")
            callee = call.dotted or call.name or "call"
            for node in nodes:
                self._check_value(node, callee, ctx)
        for a in call.args:  # json.dump({"username": ..., "key": ...}, f)
            self._check_kaggle(a.value, ctx)

    def check_assign(self, assign: Assign, ctx) -> None:
        if assign.resolved_target in SDK_CREDENTIAL_ATTRS:
            self._check_value(assign.value, assign.target, ctx, attr=True)
        self._check_kaggle(assign.value, ctx)

    def _check_value(self, node: Any, callee: str, ctx, attr: bool = False) -> None:
        import libcst as cst

        if isinstance(node, (cst.Tuple, cst.List)):  # auth=("user", "password")
            for el in node.elements[1:]:
                self._check_value(el.value, callee, ctx, attr)
            return
        value = _literal(node)
        if value is None or _owned_by_earlier(value, ctx):
            return
        if not S.looks_like_secret(value, "password"):
            return
        how = f"`{callee}` is set to" if attr else f"`{callee}(...)` is given"
        ctx.report(self, node, message=f"{how} a literal credential: `{S.mask(value)}`")

    def _check_kaggle(self, node: Any, ctx) -> None:
        import libcst as cst

        if not isinstance(node, cst.Dict):
            return
        items = {string_value(el.key): el.value for el in node.elements if isinstance(el, cst.DictElement)}
        if "username" in items and "key" in items:
            value = _literal(items["key"])
            if value is not None and not _owned_by_earlier(value, ctx) and S.looks_like_secret(value, "key"):
                ctx.report(self, items["key"], message=f"Kaggle API key in a literal: `{S.mask(value)}`")


@register
class SecretNamedLiteral(Rule):
    id = "MLS204"
    name = "hardcoded-secret"
    category = Category.SECRETS
    severity = Severity.HIGH
    confidence = Confidence.MEDIUM
    cwe = 798
    stage = Stage.OPERATION
    message = "a secret-named variable is given a literal value"
    fix_hint = "Read the value at run time (os.environ, getpass.getpass(), Colab userdata, a secrets manager) and rotate it."
    explanation = """
**Why**: a variable, attribute, keyword argument, dict key or environment variable named like a
secret (`password`, `api_key`, `client_secret`, `auth_token`, `OPENAI_API_KEY`...) is given a string
that looks like a real value, not a placeholder. Names used by ML code for vocabulary tokens
(`pad_token`, `eos_token`, `max_tokens`, `token_type_ids`, `tokenizer`) are not secrets and are left alone.

**Example**
```python
os.environ["WANDB_API_KEY"] = "a3f9...40 characters..."
db = connect(host="db", password="S3cr3t-2024!")
```
""" + _SHARED_EXPLANATION_FIX
    triggers = (
        r"(?i:pass|pwd|token|secret|key|auth|cred)\w*['\"]?\]?(?:\s*:\s*\w+)?\s*[:=]\s*[rbuRBU]{0,2}['\"]",
        r"setdefault\(|putenv\(",
    )
    bandit_ids = ("B105", "B106", "B107")
    VALID = [
        Valid("tokenizer.pad_token = '<pad>'\ntokenizer.eos_token = '</s>'"),
        Valid("max_tokens = 256\nnum_tokens = len(ids)\ntoken_type_ids = enc['token_type_ids']"),
        Valid("special_tokens = {'pad_token': '[PAD]', 'bos_token': '<s>'}"),
        Valid("tok = AutoTokenizer.from_pretrained('gpt2', token=os.environ['HF_TOKEN'])"),
        Valid("password = getpass.getpass()\napi_key = userdata.get('OPENAI_API_KEY')"),
        Valid("api_key = ''\npassword = 'changeme'\ntoken = '<YOUR_TOKEN>'\nsecret = 'xxxxxxxx'"),
        Valid("api_key = 'your-api-key-here'\nAPI_KEY = '[your-api-key]'"),
        Valid("token_file = 'token.json'\napi_key_name = 'openai-key'\nsecret_name = 'projects/p/secrets/s'"),
        Valid("os.environ['TOKENIZERS_PARALLELISM'] = 'false'\nos.environ['CUDA_VISIBLE_DEVICES'] = '0'"),
        Valid("key = 'train_loss_history'\nsort_key = 'accuracy2'"),
        Valid("api_key = 'OPENAI_API_KEY'", note="an env var name"),
        Valid("pwd = 'abc'", note="too short"),
        Valid("token = f'Bearer {tok}'"),
        Valid("HF_TOKEN = '/content/drive/MyDrive/hf_token.txt'"),
        Valid("access_tokens_registry = ['SYS_SECURE_TOKEN_5541']"),
        Valid("PRIMARY_KEY = 'user_id_2024'\nCACHE_KEY = 'results_v3_2024'"),
        Valid("requests.get(u, auth=('user', os.environ['PW']))"),
    ]
    INVALID = [
        Invalid(f"neo4j_password = '{_PW}'", line=1, severity="high"),
        Invalid(f"import os\nos.environ['WANDB_API_KEY'] = '{_WANDB}'", line=2),
        Invalid(f"os.environ.setdefault('HF_TOKEN', '{_fake('', 30, seed=67)}')"),
        Invalid(f"cfg = {{'client_secret': '{_fake('', 24, seed=71)}', 'client_id': 'abc'}}"),
        Invalid(f"conn = psycopg2.connect(host='db', user='app', password='{_PW}')"),
        Invalid(f"class C:\n    def __init__(self):\n        self.api_key = '{_fake('', 32, seed=73)}'", line=3),
        Invalid("token = 'Bearer " + _fake("", 64, _HEX, seed=79) + "'"),
        Invalid(f"SECRET_KEY: str = '{_fake('', 50, _ALNUM + '!@#%^&*', seed=83)}'"),
        Invalid(f"demo.launch(share=False, auth=('admin', '{_PW}'))", note="gradio basic auth"),
    ]

    def check_assign(self, assign: Assign, ctx) -> None:
        if assign.resolved_target in SDK_CREDENTIAL_ATTRS:
            return  # MLS203
        name, is_env = _name_of_target(assign)
        if name:
            self._check(name, assign.value, ctx, env=is_env)

    def check_call(self, call: Call, ctx) -> None:
        params = sdk_credential_params(call)
        owned = set(params[1]) if params else set()
        for kw, arg in call.kwargs.items():
            if kw not in owned:
                self._check(kw, arg.value, ctx, keyword=True)
        d = call.dotted or ""
        if (d.endswith("environ.setdefault") or call.is_("os.putenv")) and len(call.args) >= 2:
            name = string_value(call.args[0].value)
            if name:
                self._check(name, call.args[1].value, ctx, env=True)

    def check_dict_item(self, key: str, value: Any, node: Any, ctx) -> None:
        self._check(key, value, ctx, dict_key=True)

    def _check(self, name: str, node: Any, ctx, *, env: bool = False, keyword: bool = False,
               dict_key: bool = False) -> None:
        import libcst as cst

        kind = S.secret_name_kind(name)
        if kind is None:
            return
        if kind in ("authorization", "password", "credential") and isinstance(node, (cst.Tuple, cst.List)):
            if len(node.elements) == 2:  # auth=("user", "password")
                node, kind = node.elements[1].value, "password"
        value = _literal(node)
        if value is None or _owned_by_earlier(value, ctx) or not S.looks_like_secret(value, kind):
            return
        if env:
            where = f"environment variable `{name}`"
        elif keyword:
            where = f"keyword `{name}=`"
        elif dict_key:
            where = f"dict key `{name!r}`"
        else:
            where = f"`{name}`"
        ctx.report(self, node, message=f"{where} holds a literal {kind}: `{S.mask(value)}`")


# ---------------------------------------------------------------------------------------------
# Shell lines, %env and cell-magic bodies

ENV_MAGICS = ("env", "set_env")
_ENV_ARG = re.compile(r"^(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?:\s*=\s*|\s+)(?P<value>.+?)\s*$")


def _unquote(text: str, start: int, end: int) -> tuple[int, int]:
    v = text[start:end]
    if len(v) >= 2 and v[0] == v[-1] and v[0] in "'\"":
        return start + 1, end - 1
    return start, end


def _report_in_special(rule: Rule, ctx, special, start: int, end: int, **kw: Any):
    """Report special.text[start:end] at its exact place, also on the continuation lines of `cmd \\`."""
    value = special.text[start:end]
    if value and special.end_line > special.line:
        for ln in range(special.line, min(special.end_line, len(ctx.lines)) + 1):
            line = ctx.lines[ln - 1]
            at = line.find(value, special.col if ln == special.line else 0)
            if at >= 0:
                return ctx.report(rule, span=(ln, at, ln, at + len(value)), **kw)
    return ctx.report_special(rule, special, start, end, **kw)


def _a(kind: str) -> str:
    return ("an " if kind[:1].lower() in "aeiou" else "a ") + kind


def _text_span(item: TextItem, start: int, end: int) -> tuple[int, int, int, int]:
    """Line/col (cell-relative for cell-magic bodies, text-relative for outputs) of text[start:end]."""
    t = item.text
    line = item.first_line + t.count("\n", 0, start)
    col = start - (t.rfind("\n", 0, start) + 1)
    end_line = item.first_line + t.count("\n", 0, end)
    end_col = end - (t.rfind("\n", 0, end) + 1)
    return line, col, end_line, end_col


@register
class SecretInEnvMagic(Rule):
    id = "MLS205"
    name = "secret-in-env-magic"
    category = Category.SECRETS
    severity = Severity.HIGH
    confidence = Confidence.HIGH
    cwe = 798
    stage = Stage.OPERATION
    message = "`%env` sets a secret from a literal"
    fix_hint = "Set the variable outside the notebook (shell, .env file outside the repo, Colab/Kaggle secrets) and revoke this one."
    explanation = """
**Why**: `%env OPENAI_API_KEY=sk-...` looks like configuration but writes the key into the notebook,
where every copy keeps it. `%env` with no argument also prints every environment variable, secrets
included, into the cell output.

**Example**
```
%env HF_TOKEN=hf_...
```
""" + _SHARED_EXPLANATION_FIX
    VALID = [
        Valid("%env CUDA_VISIBLE_DEVICES=0"),
        Valid("%env TOKENIZERS_PARALLELISM=false"),
        Valid("%env OPENAI_API_KEY=<your key>"),
        Valid("%env HF_TOKEN=$HF_TOKEN"),
        Valid("%env WANDB_MODE offline"),
    ]
    INVALID = [
        Invalid(f"%env OPENAI_API_KEY={_OA}", line=1, severity="high"),
        Invalid(f"%env WANDB_API_KEY {_WANDB}", line=1),
        Invalid(f"import os\n%env DB_PASSWORD='{_PW}'", line=2),
        Invalid(f"%set_env GITHUB_TOKEN={_GH}", severity="critical"),
        Invalid("import os\n%env", line=2, severity="low", note="lists every variable into the output"),
    ]

    def check_special(self, special, ctx) -> None:
        if special.kind != "magic" or special.name not in ENV_MAGICS:
            return
        if special.name == "env" and not special.text.strip():
            ctx.report_special(self, special, severity=Severity.LOW, confidence=Confidence.MEDIUM,
                               message="`%env` with no argument prints every environment variable, secrets included, "
                                       "into the saved output")
            return
        m = _ENV_ARG.match(special.text)
        if not m:
            return
        name = m.group("name")
        vs, ve = _unquote(special.text, *m.span("value"))
        value = special.text[vs:ve]
        toks = S.find_tokens(value)
        if toks:
            s, e, kind = toks[0]
            _report_in_special(self, ctx, special, vs + s, vs + e, severity=token_severity(kind),
                               message=f"`%{special.name} {name}` sets {_a(kind)}: `{S.mask(value[s:e])}`")
            return
        creds = S.find_url_credentials(value)
        if creds:
            c = creds[0]
            _report_in_special(self, ctx, special, vs + c.start, vs + c.end,
                               message=f"`%{special.name} {name}` holds credentials in a URL: `{c.url}`")
            return
        kind = S.secret_name_kind(name)
        if kind and S.looks_like_secret(value, kind):
            _report_in_special(self, ctx, special, vs, ve, message=f"`%{special.name} {name}` sets a literal {kind}: `{S.mask(value)}`")


# `-H "Authorization: Bearer x"`, `--token x`, `--hf_token=x`, `export X_KEY=x`, `wandb login x`, `"key": "x"`
_SHELL_HEADER = re.compile(
    r"(?i)(?P<name>authorization|x-api-key|api-key|x-auth-token|private-token|x-goog-api-key|x-token)\s*:\s*"
    r"(?:(?:bearer|token|basic|bot|apikey)\s+)?(?P<value>[^\s'\"]+)"
)
_SHELL_FLAG = re.compile(r"(?<![\w-])(?P<name>--?[A-Za-z][\w\-]*)(?:=|\s+)(?P<value>\"[^\"]*\"|'[^']*'|[^\s;&|'\"]+)")
_SHELL_ASSIGN = re.compile(
    r"(?:^|(?<=[\s;&|('\"]))(?:export\s+|set\s+|setx\s+)?(?P<name>[A-Za-z_][A-Za-z0-9_]*)="
    r"(?P<value>\"[^\"]*\"|'[^']*'|[^\s;&|'\"]+)"
)
_TEXT_YAML = re.compile(r"(?m)^[ \t]*(?P<name>[A-Za-z_][\w\-]*)[ \t]*:[ \t]*(?P<value>\"[^\"\n]*\"|'[^'\n]*'|[^\s#'\"]+)[ \t]*(?:#.*)?$")
_SHELL_JSON = re.compile(r"\\?[\"'](?P<name>[A-Za-z_][\w\-]*)\\?[\"']\s*:\s*\\?[\"'](?P<value>[^\"'\\]+)\\?[\"']")
_SHELL_POSITIONAL = re.compile(
    r"(?:\bwandb\s+login(?:\s+--relogin)?|\bngrok\s+(?:config\s+add-)?authtoken|\bkaggle\s+config\s+set\s+-n\s+key\s+-v|"
    r"\bmachine\s+\S+\s+login\s+\S+\s+password)"
    r"\s+(?P<value>[^\s;&|-][^\s;&|]*)"
)
_SHORT_PASSWORD_FLAGS = {"-p": ("docker", "sshpass", "mysql")}


def shell_secrets(text: str, config_text: bool = False) -> list[tuple[int, int, str, str]]:
    """(start, end, kind, what) of each secret on a shell line or in a config-like text, tokens first."""
    found: list[tuple[int, int, str, str]] = []

    def add(s: int, e: int, kind: str, what: str) -> None:
        s, e = _unquote(text, s, e)
        if e > s and not any(s < fe and fs < e for fs, fe, _, _ in found):
            found.append((s, e, kind, what))

    for s, e, kind in S.find_tokens(text):
        add(s, e, kind, "")
    url_spans = [(c.start, c.end) for c in S.find_url_credentials(text)]
    for m in _SHELL_HEADER.finditer(text):
        v = m.group("value")
        if S.looks_like_secret(v, "authorization"):
            add(*m.span("value"), "credential", f"the `{m.group('name')}` header")
    for m in _SHELL_POSITIONAL.finditer(text):
        v = m.group("value").strip("'\"")
        tool = m.group(0).split()[0]
        if S.looks_like_secret(v, "token"):
            kind = {"wandb": "W&B API key", "ngrok": "ngrok auth token", "kaggle": "Kaggle API key",
                    "machine": "password"}.get(tool, "token")
            tool = ".netrc" if tool == "machine" else tool
            add(*m.span("value"), kind, f"`{tool}` login")
    patterns = [(_SHELL_FLAG, "option"), (_SHELL_ASSIGN, "variable"), (_SHELL_JSON, "key")]
    if config_text:  # a `%%writefile config.yaml` body
        patterns.append((_TEXT_YAML, "key"))
    for pat, label in patterns:
        for m in pat.finditer(text):
            name = m.group("name")
            kind = S.secret_name_kind(name.lstrip("-"))
            value = m.group("value").strip("'\"")
            if kind is None and name == "-p" and re.search(r"\b(?:docker|sshpass)\b", text):
                kind = "password"
            if kind is None and label == "key" and name == "key" and "kaggle" in text.lower():
                kind = "Kaggle API key"
            if kind is None or not S.looks_like_secret(value, kind):
                continue
            if label == "option" and re.match(r"[A-Za-z_][\w.\-]*=", value):
                continue  # `--secret id=HF_TOKEN`: a reference to a secret, not its value
            s, e = m.span("value")
            if any(s < ue and us < e for us, ue in url_spans):
                continue  # MLS202
            add(s, e, kind, f"{label} `{name}`")
    found.sort()
    return found


@register
class SecretInShell(Rule):
    id = "MLS206"
    name = "secret-in-shell"
    category = Category.SECRETS
    severity = Severity.HIGH
    confidence = Confidence.HIGH
    cwe = 798
    stage = Stage.OPERATION
    message = "a secret is written on a shell line"
    fix_hint = "Use an environment variable set outside the notebook (`$HF_TOKEN`) or the tool's interactive login, and revoke this one."
    explanation = """
**Why**: `!curl -H "Authorization: Bearer ..."`, `!huggingface-cli login --token ...`,
`export OPENAI_API_KEY=...` in a `%%bash` cell or a `%%writefile .env` body keep the secret in the
notebook text, and shells echo commands into outputs and logs.

**Example**
```
!huggingface-cli login --token hf_...
%%bash
export OPENAI_API_KEY=sk-...
```
""" + _SHARED_EXPLANATION_FIX + """
In shell lines, refer to a variable set elsewhere: `!huggingface-cli login --token $HF_TOKEN`.
"""
    VALID = [
        Valid("!huggingface-cli login --token $HF_TOKEN"),
        Valid("!curl -H \"Authorization: Bearer ${OPENAI_API_KEY}\" https://api.openai.com/v1/models"),
        Valid("!python run_clm.py --max_new_tokens 128 --pad_token_id 0 --tokenizer_name gpt2"),
        Valid("%%bash\nexport CUDA_VISIBLE_DEVICES=0\nexport OPENAI_API_KEY=<your-key>"),
        Valid("!wandb login"),
        Valid("!echo 'HF_TOKEN=your_token_here' > .env"),
        Valid("!python train.py --push_to_hub --hub_token $HUB_TOKEN"),
        Valid("!gcloud secrets versions access latest --secret=hf-token-2"),
        Valid("%%writefile config.yaml\nmodel: gpt2\ntokenizer: gpt2\nmax_tokens: 256\npad_token: '<pad>'\n"),
    ]
    INVALID = [
        Invalid(f"!huggingface-cli login --token {_HF}", line=1, severity="high"),
        Invalid(f"!curl -H \"Authorization: Bearer {_fake('', 48, seed=89)}\" https://api.corp.net/v1", line=1),
        Invalid(f"%%bash\nexport OPENAI_API_KEY={_fake('', 40, seed=97)}\npython run.py", line=2),
        Invalid(f"!wandb login {_WANDB}"),
        Invalid(f"!python train.py --hub_token={_fake('', 34, seed=101)}"),
        Invalid(f"%%writefile .env\nHF_TOKEN={_HF}\n", line=2),
        Invalid(f"%%writefile config.yaml\ndb:\n  host: db.prod.internal\n  password: {_PW}\n", line=4),
        Invalid(f"!mkdir -p ~/.kaggle && echo '{{\"username\":\"me\",\"key\":\"{_fake('', 32, _HEX, seed=103)}\"}}' > ~/.kaggle/kaggle.json"),
        Invalid(f"!echo 'machine api.corp.net login me password {_PW}' >> ~/.netrc"),
        Invalid(f"!git clone https://user:{_GH}@github.com/org/repo.git", severity="critical",
                note="a provider token inside URL credentials"),
    ]

    def check_special(self, special, ctx) -> None:
        if special.kind == "help" or (special.kind == "magic" and special.name in ENV_MAGICS):
            return
        for s, e, kind, what in shell_secrets(special.text):
            value = special.text[s:e]
            where = f" in {what}" if what else ""
            _report_in_special(self, ctx, special, s, e, severity=token_severity(kind),
                               message=f"{kind}{where} on a shell line: `{S.mask(value)}`")

    def check_text(self, text: TextItem, ctx) -> None:
        if text.kind != "text":
            return
        for s, e, kind, what in shell_secrets(text.text, config_text=True):
            where = f" in {what}" if what else ""
            ctx.report(self, span=_text_span(text, s, e), severity=token_severity(kind),
                       message=f"{kind}{where} in a cell-magic body: `{S.mask(text.text[s:e])}`")


_ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


@register
class SecretInOutput(Rule):
    id = "MLS207"
    name = "secret-in-output"
    category = Category.SECRETS
    severity = Severity.HIGH
    confidence = Confidence.HIGH
    cwe = 532
    stage = Stage.MONITORING
    message = "a secret appears in a cell output or the notebook metadata"
    fix_hint = "Clear the output (Edit > Clear Outputs, `jupyter nbconvert --clear-output`), revoke the secret, and stop printing it."
    explanation = """
**Why**: outputs are saved in the `.ipynb` file. A token printed by `print(os.environ)`, `!env`,
`%env`, a debug log or an error traceback is committed and shared with the notebook even though the
code itself reads the secret safely. Notebook metadata (widget state, extensions) can carry tokens too.

**Example**: a cell `!cat ~/.huggingface/token` whose saved output shows the token.

**Fix**: clear the outputs, revoke the secret, and avoid printing environment variables or
configuration objects that hold credentials. `nbstripout` as a git filter keeps outputs out of commits.
"""
    VALID = [
        Valid("print('hello')"),
        Valid("x = 1", note="no outputs"),
    ]
    INVALID = [
        Invalid(f"Token is valid.\nYour token: {_HF}\nLogin successful", in_output=True, line=2, severity="high"),
        Invalid(f"AWS_ACCESS_KEY_ID={_AK}\nAWS_SECRET_ACCESS_KEY={_AS}\n", in_output=True, count=2),
        Invalid(f"\x1b[0;31mHTTPError\x1b[0m: 401 for url https://api.x.io/v1?api_key={_fake('', 32, _HEX, seed=107)}",
                in_output=True, note="traceback with ANSI colours"),
        Invalid(f"DATABASE_URL=postgresql://app:{_PW}@db.prod.internal/app\n", in_output=True),
    ]

    def check_text(self, text: TextItem, ctx) -> None:
        if text.kind not in ("output", "metadata"):
            return
        body = text.text
        if "\x1b" in body:  # same-length blanks keep offsets right
            body = _ANSI.sub(lambda m: " " * len(m.group(0)), body)
        seen: set[str] = set()
        where = "the notebook metadata" if text.kind == "metadata" else "a cell output"
        spans = [(s, e, kind, None) for s, e, kind in S.find_tokens(body)]
        for c in S.find_url_credentials(body):
            if not any(c.start < e and s < c.end for s, e, _, _ in spans):
                spans.append((c.start, c.end, "URL credential", c.url))
        for s, e, kind, url in sorted(spans):
            value = body[s:e]
            if value in seen:
                continue
            seen.add(value)
            shown = url if url else S.mask(value)
            ctx.report(self, span=_text_span(text, s, e), severity=token_severity(kind),
                       message=f"{kind} in {where}: `{shown}`")
