"""Token formats, placeholders, secret-looking names and masking, shared by the secret rules and every renderer.

Everything here works on text only and is cheap: the rules call it on every string literal, shell line
and cell output, and the engine calls `mask_text` on every message and code frame it emits.
"""
from __future__ import annotations

import base64
import binascii
import json
import re
from typing import NamedTuple

# (name, compiled pattern); group "secret" marks the part to mask. Patterns are anchored on fixed
# prefixes so that scanning megabytes of cell output stays fast.
TOKEN_PATTERNS: list[tuple[str, re.Pattern[str]]] = [
    ("AWS access key id", re.compile(r"\b(?P<secret>(?:A3T[A-Z0-9]|AKIA|ASIA|ABIA|ACCA)[A-Z0-9]{16})\b")),
    ("GitHub token", re.compile(
        r"\b(?P<secret>(?:ghp|gho|ghu|ghs|ghr)_[A-Za-z0-9]{36,255}|github_pat_[A-Za-z0-9]{22}_[A-Za-z0-9]{59,}|"
        r"github_pat_[A-Za-z0-9_]{60,255})\b")),
    ("GitLab token", re.compile(r"\b(?P<secret>glpat-[A-Za-z0-9_\-]{20,})")),
    ("Hugging Face token", re.compile(r"\b(?P<secret>(?:hf|api_org)_[A-Za-z0-9]{30,})\b")),
    ("Anthropic API key", re.compile(r"\b(?P<secret>sk-ant-(?:api|admin|oat|sid)\d{2}-[A-Za-z0-9_\-]{32,})")),
    ("OpenAI API key", re.compile(
        r"\b(?P<secret>sk-(?:proj-|svcacct-|admin-)?[A-Za-z0-9_\-]{20,}T3BlbkFJ[A-Za-z0-9_\-]{20,}|"
        r"sk-(?:proj|svcacct|admin)-[A-Za-z0-9_\-]{40,}|sk-[A-Za-z0-9]{48})(?![A-Za-z0-9_\-])")),
    ("Google API key", re.compile(r"\b(?P<secret>AIza[0-9A-Za-z_\-]{35})(?![0-9A-Za-z_\-])")),
    ("Slack token", re.compile(r"\b(?P<secret>xox[abeoprs]-(?:\d+-)?[0-9A-Za-z\-]{10,})")),
    ("Stripe live key", re.compile(r"\b(?P<secret>(?:sk|rk)_live_[0-9A-Za-z]{20,})\b")),
    ("Stripe test key", re.compile(r"\b(?P<secret>(?:sk|rk)_test_[0-9A-Za-z]{20,})\b")),
    # a header with key material after it (a header alone is a parser looking for keys, not a key)
    ("private key", re.compile(
        r"(?P<secret>-----BEGIN (?P<pk>(?:RSA |EC |DSA |OPENSSH |ENCRYPTED |PGP |SSH2 )?PRIVATE KEY(?: BLOCK)?)-----"
        r"(?:\s|\\[nr])*(?:(?:Proc-Type|DEK-Info|Comment|Version):[^\n]*?(?:\s|\\[nr])+)*[A-Za-z0-9+/=]{40})")),
    ("JSON Web Token", re.compile(
        r"\b(?P<secret>eyJ[A-Za-z0-9_\-]{8,}\.eyJ[A-Za-z0-9_\-]{8,}\.[A-Za-z0-9_\-]{8,})")),
    ("npm token", re.compile(r"\b(?P<secret>npm_[A-Za-z0-9]{36})\b")),
    ("PyPI token", re.compile(r"\b(?P<secret>pypi-AgEIcHlwaS5vcmc[A-Za-z0-9_\-]{50,})")),
    ("SendGrid API key", re.compile(r"\b(?P<secret>SG\.[A-Za-z0-9_\-]{22}\.[A-Za-z0-9_\-]{43})\b")),
    ("Replicate API token", re.compile(r"\b(?P<secret>r8_[A-Za-z0-9]{37})\b")),
    ("Groq API key", re.compile(r"\b(?P<secret>gsk_[A-Za-z0-9]{52})\b")),
    ("LangSmith API key", re.compile(r"\b(?P<secret>lsv2_(?:pt|sk)_[a-f0-9]{32}_[a-f0-9]{10})\b")),
    ("Databricks token", re.compile(r"\b(?P<secret>dapi[a-f0-9]{32}(?:-\d)?)\b")),
    ("Azure storage account key", re.compile(r"(?i:AccountKey)=(?P<secret>[A-Za-z0-9+/]{86}==)")),
    # a 40-character secret key right after an AWS secret keyword (detect-secrets' rule)
    ("AWS secret access key", re.compile(
        r"(?i:aws)[\w.\-]{0,30}?(?i:secret|private)[\w.\-]{0,20}[\"']?\s{0,3}(?:[:=]|=>|,)\s{0,3}[\"']?"
        r"(?P<secret>[A-Za-z0-9/+]{40})(?![A-Za-z0-9/+=])")),
]

# Token kinds that are only one half of a credential or are usually published on purpose.
LOW_RISK_KINDS = frozenset({"Stripe test key", "AWS access key id", "JSON Web Token"})

_BASE64ISH = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/")

_PLACEHOLDER = re.compile(
    r"^\s*$|^<.*>$|^\[.*\]$|^\{.*\}$|^\(.*\)$|\{\{.*\}\}|^\$\{?[A-Za-z_][A-Za-z0-9_]*\}?$|^\$\$|%\(\w+\)s|"
    r"^(x+|\*+|\.+|-+|_+|0+|#+|•+)$|\.\.\.|…|"
    r"(your|my|insert|enter|replace|put|add|paste|set)[-_ ]?(api|access|secret|own|here|key|token|password|pass|auth|"
    r"client|personal|real|actual|hf|openai|github|project|bot|app|account|user)|"
    r"\b(example|sample|dummy|fake|placeholder|redacted|changeme|change[-_]me|replace[-_]?me|todo|tbd|fixme|"
    r"not[-_ ]?(?:needed|required|used|set|a[-_ ]?real\w*|provided)|no[-_ ]?(?:key|token|auth|password)|"
    r"unused|anything|whatever|here)\b|"
    r"^(none|null|nil|empty|secret|secrets|password|passwd|token|api[-_ ]?key|apikey|key|test|testing|demo|"
    r"demo[-_]key|ollama|lm[-_]studio|local|default|admin|root|guest|user|username|abc123|letmein|qwerty|"
    r"12345678|123456789|1234567890|pass|pwd|foo|bar|foobar|xyz)$|"
    r"x{4,}|X{4,}|\*{3,}",
    re.I,
)
_SEQUENCES = ("0123456", "1234567", "2345678", "3456789", "abcdefg", "bcdefgh", "qwertyu", "9876543")
_ENV_NAME = re.compile(r"^[A-Z][A-Z0-9]*(?:_[A-Z0-9]+)+$")
_DOTTED = re.compile(r"^[A-Za-z_]+(?:\.[A-Za-z_]+)+$")
_FILE_EXT = re.compile(r"\.(?:json|txt|pem|key|ya?ml|cfg|ini|env|csv|pkl|p12|pfx|crt|cert|jks|toml|py|ipynb|db|gpg|pub)$", re.I)
_NAME_WORDS = {"token", "key", "api", "secret", "password", "pass", "pwd", "auth", "access", "name", "id", "hf",
               "openai", "client", "value", "env", "private", "public"}


def is_placeholder(value: str) -> bool:
    """`""`, `"<YOUR_KEY>"`, `"xxxx"`, `"..."`, `"your-api-key-here"`, `"${TOKEN}"` are not secrets."""
    v = value.strip().strip("'\"").strip()
    if len(v) < 4:
        return True
    if _PLACEHOLDER.search(v):
        return True
    if len(set(v.lower())) <= 3:
        return True
    low = v.lower()
    if any(s in low for s in _SEQUENCES):
        return True
    if re.search(r"(.)\1{5,}", v):  # six times the same character: typed by hand, not generated
        return True
    return False


def _token_is_fake(token: str, kind: str) -> bool:
    """Format-valid but obviously made up: `sk-xxxx...`, `AKIA...EXAMPLE`, the jwt.io sample token."""
    if kind == "private key":
        body = token.split("-----", 2)[2].split("-----END", 1)[0]
        body = re.sub(r"\s|\\[nr]", "", body)
        return is_placeholder(body[:64]) or "..." in body
    body = re.sub(r"^(?:sk-ant-\w+-|sk-(?:proj|svcacct|admin)-|sk-|hf_|api_org_|gh[pousr]_|github_pat_|glpat-|xox\w-|"
                  r"(?:sk|rk)_(?:live|test)_|AIza|AKIA|ASIA|npm_|r8_|gsk_|lsv2_\w\w_|dapi|SG\.)", "", token)
    if is_placeholder(body):
        return True
    low = token.lower()
    if "example" in low or "sample" in low or "dummy" in low or "fake" in low:
        return True
    if kind == "JSON Web Token":
        payload = _jwt_payload(token)
        if payload is None:
            return True  # does not decode: not a JWT
        if payload.get("sub") == "1234567890" or payload.get("name") == "John Doe":
            return True  # the jwt.io sample
    return False


def _jwt_payload(token: str) -> dict | None:
    parts = token.split(".")
    if len(parts) != 3:
        return None
    seg = parts[1] + "=" * (-len(parts[1]) % 4)
    try:
        data = json.loads(base64.urlsafe_b64decode(seg.encode("ascii")))
    except (binascii.Error, ValueError, UnicodeDecodeError):
        return None
    return data if isinstance(data, dict) else None


class TokenMatch(NamedTuple):
    start: int
    end: int
    kind: str


# every fixed prefix above: text without any of them has no token (one fast search instead of twenty)
_QUICK = re.compile(
    r"A3T|AKIA|ASIA|ABIA|ACCA|gh[pousr]_|github_pat_|glpat-|hf_|api_org_|sk-|AIza|xox[abeoprs]-|_live_|_test_|"
    r"PRIVATE KEY|eyJ|npm_|pypi-|SG\.|r8_|gsk_|lsv2_|dapi|(?i:accountkey|aws)"
)


def find_tokens(text: str, *, include_fake: bool = False) -> list[tuple[int, int, str]]:
    """(start, end, kind) of every provider token format in text, made-up sample tokens left out."""
    found: list[tuple[int, int, str]] = []
    if not text or not _QUICK.search(text):
        return found
    for kind, pat in TOKEN_PATTERNS:
        for m in pat.finditer(text):
            s, e = m.span("secret")
            if kind not in ("private key", "AWS secret access key", "Azure storage account key"):
                # inside a longer base64 blob (an image in an output, a hash): a chance match
                if (s > 0 and text[s - 1] in _BASE64ISH) or (e < len(text) and text[e] in _BASE64ISH):
                    continue
            if kind == "AWS secret access key" and not _mixed(text[s:e]):
                continue
            if kind == "private key":  # the span runs to the END line when there is one
                end_at = text.find("-----END ", e, e + 16384)
                close = text.find("-----", end_at + 9, end_at + 64) if end_at >= 0 else -1
                if close >= 0:
                    e = close + 5
            if not include_fake and _token_is_fake(text[s:e], kind):
                continue
            if not any(s < fe and fs < e for fs, fe, _ in found):
                found.append(TokenMatch(s, e, kind))
    found.sort()
    return found


def token_kind(value: str) -> str | None:
    """The provider token kind found in `value`, if any."""
    toks = find_tokens(value)
    return toks[0][2] if toks else None


def _mixed(v: str) -> bool:
    return any(c.islower() for c in v) and any(c.isupper() for c in v) and any(c.isdigit() for c in v)


def looks_like_aws_secret(value: str) -> bool:
    """40 characters of base64 with upper, lower and digits: the shape of an AWS secret access key."""
    return (
        len(value) == 40 and all(c in _BASE64ISH for c in value) and _mixed(value) and not _token_is_fake(value, "")
    )


# ---------------------------------------------------------------------------------------------
# Credentials in URLs and connection strings


class UrlCredential(NamedTuple):
    start: int  # span of the secret part (the password, or a token given as the user name)
    end: int
    url: str  # the URL with its secret masked, for messages
    host: str


_URL_CRED = re.compile(
    r"(?P<scheme>\b[A-Za-z][A-Za-z0-9+.\-]{1,20})://(?P<user>[^\s:/@'\"<>{}\[\]]{0,128})"
    r"(?::(?P<pw>[^\s/@'\"<>]{1,256}))?@(?P<host>[A-Za-z0-9.\-_]{1,253})"
)
_QUERY_SECRET = re.compile(
    r"(?P<sep>[?&;])(?P<name>[A-Za-z][A-Za-z0-9_\-.]{1,40})=(?P<value>[^\s&;#'\"<>]{8,512})"
)
_GIT_HOSTS = ("github.com", "gitlab.com", "huggingface.co", "bitbucket.org", "dev.azure.com", "hf.co")
_NON_SECRET_PW = {"x-oauth-basic", "x-oauth", "oauth2", "x-access-token", "", "api", "token"}


def _local_host(host: str) -> bool:
    h = host.lower()
    return h in ("localhost", "127.0.0.1", "0.0.0.0", "db", "database", "postgres", "mysql", "redis", "mongo") or (
        "example" in h or h.endswith((".local", ".test", ".invalid", ".localhost"))
    )


def find_url_credentials(text: str) -> list[UrlCredential]:
    """`scheme://user:password@host` and `?api_key=...` secrets; placeholders (`<password>`, `${PW}`) left out."""
    found: list[UrlCredential] = []
    if "://" not in text:
        return found
    for m in _URL_CRED.finditer(text):
        user, pw, host = m.group("user"), m.group("pw"), m.group("host")
        if pw is not None and pw.lower() not in _NON_SECRET_PW:
            if not _url_secret_ok(pw, min_len=6) or "example" in host.lower() or pw == user:
                continue
            if _local_host(host) and not _randomish(pw):
                continue  # `postgres:postgres@localhost`: a local default, not a leaked credential
            s, e = m.span("pw")
        elif user and host.lower().endswith(_GIT_HOSTS) and len(user) >= 20 and _randomish(user) and not is_placeholder(user):
            s, e = m.span("user")  # https://<token>@github.com/... or https://<token>:x-oauth-basic@github.com
        else:
            continue
        shown = text[m.start() : s] + mask(text[s:e]) + text[e : m.end()]
        found.append(UrlCredential(s, e, shown, host))
    for m in _QUERY_SECRET.finditer(text):
        url_at = text.rfind("://", max(0, m.start() - 2048), m.start())
        if url_at < 0 or re.search(r"[\s'\"<>]", text[url_at : m.start()]):
            continue  # not inside a URL (URLs longer than 2 kB are not followed)
        kind = secret_name_kind(m.group("name"))
        value = m.group("value")
        if kind is None and m.group("name").lower() not in ("key", "sig", "appid", "app_id", "access_token"):
            continue
        if not _url_secret_ok(value, min_len=12) or not _randomish(value):
            continue
        if m.group("name").lower() == "sig" or m.group("name").lower() == "key" and len(value) < 20:
            continue  # `sig=` of public signed URLs is meant to be shared; `key=short` is usually an index
        s, e = m.span("value")
        if any(s < fe and fs < e for fs, fe, _, _ in found):
            continue
        url_start = max(text.rfind(c, 0, url_at) for c in " \t\n'\"") + 1
        shown = text[url_start:s] + mask(value)
        found.append(UrlCredential(s, e, shown, ""))
    found.sort()
    return found


def _url_secret_ok(value: str, min_len: int) -> bool:
    v = value
    if len(v) < min_len or is_placeholder(v) or v.startswith(("$", "%", "{", "<", "[")) or "{" in v:
        return False
    if _ENV_NAME.match(v):
        return False
    if v.lower() in ("password", "passwd", "pass", "secret", "pwd", "changeme"):
        return False
    return True


def _identifier_like(v: str) -> bool:
    """Lower-case words and numbers joined by `_`, `-` or `.`, none long: a name, not a generated secret."""
    parts = re.split(r"[_\-.]", v)
    return (
        len(parts) >= 2
        and all(p and len(p) <= 10 and (p.isdigit() or p.isalpha()) and p == p.lower() for p in parts)
        and any(p.isalpha() and len(p) >= 2 for p in parts)
    )


def _randomish(v: str) -> bool:
    """Has letters and digits (or both cases over 16 characters): generated, not a word."""
    letters = any(c.isalpha() for c in v)
    digits = any(c.isdigit() for c in v)
    if letters and digits:
        return True
    return len(v) >= 16 and any(c.islower() for c in v) and any(c.isupper() for c in v)


# ---------------------------------------------------------------------------------------------
# Secret-looking names (variables, keywords, dict keys, env vars, command-line flags)

_CAMEL = re.compile(r"[A-Z]+(?![a-z])|[A-Z]?[a-z]+|\d+")
_COMPOUNDS = {
    "apikey": ("api", "key"), "apikeys": ("api", "keys"), "authtoken": ("auth", "token"),
    "accesstoken": ("access", "token"), "accesskey": ("access", "key"), "secretkey": ("secret", "key"),
    "privatekey": ("private", "key"), "clientsecret": ("client", "secret"), "apitoken": ("api", "token"),
    "hftoken": ("hf", "token"), "bearertoken": ("bearer", "token"), "authkey": ("auth", "key"),
    "refreshtoken": ("refresh", "token"), "sessiontoken": ("session", "token"), "secretaccesskey": ("secret", "access", "key"),
    "accesskeyid": ("access", "key", "id"), "passwd": ("passwd",), "password": ("password",),
}
PASSWORD_WORDS = frozenset({"password", "passwd", "pwd", "passphrase", "passcode", "passwort", "pword"})
_PASS_OWNERS = frozenset({"db", "database", "user", "admin", "root", "smtp", "mail", "email", "ftp", "mysql", "postgres",
                          "pg", "sql", "redis", "proxy", "login", "account", "neo4j", "mongo", "mongodb", "es", "elastic"})
# the name describes a secret (where it is, what it is called), it does not hold it
_DESCRIPTORS = frozenset({
    "name", "names", "id", "ids", "type", "types", "kind", "path", "paths", "file", "files", "filename", "filepath",
    "fname", "dir", "folder", "location", "loc", "url", "uri", "endpoint", "host", "length", "len", "size", "count",
    "counts", "num", "number", "limit", "limits", "max", "min", "idx", "index", "indices", "position", "pos", "offset",
    "span", "prefix", "suffix", "pattern", "regex", "re", "format", "fmt", "version", "mode", "policy", "scope",
    "scopes", "provider", "manager", "service", "store", "vault", "helper", "handler", "func", "fn", "function",
    "method", "validator", "strength", "hash", "hashed", "digest", "salt", "expiry", "expires", "expiration", "ttl",
    "timeout", "required", "enabled", "ok", "valid", "exists", "list", "dict", "map", "mapping", "column", "col",
    "param", "params", "arg", "args", "env", "envvar", "var", "variable", "label", "prompt", "message", "msg", "text",
    "hint", "help", "description", "desc", "title", "widget", "input", "field", "fields", "box", "form", "entry",
    "button", "placeholder", "template", "embedding", "embeddings", "emb", "embed", "logits", "prob", "probs",
    "score", "scores", "weight", "weights", "mask", "tensor", "tensors", "vocab", "freq", "frequency", "dim", "str",
    "string", "word", "words", "char", "chars", "piece", "pieces", "seq", "sequence", "tag", "tags", "budget",
    "usage", "cost", "costs", "rate", "price", "stats", "config", "cfg", "settings", "source", "src", "reset",
    "check", "policy", "rotation", "secret_ref", "ref", "arn", "region", "project", "bucket", "user", "username",
    "email", "login", "account", "keys", "tokens", "secrets", "passwords", "column", "table",
    "schema", "flag", "option", "options", "set", "error", "exception", "status", "state", "info", "details",
    "callback", "class", "module", "request", "response", "resp", "res", "result", "results", "obj", "object",
    "instance", "client", "session", "sessions", "cache", "sha", "checksum", "fingerprint",
})
_BOOL_PREFIX = frozenset({"use", "is", "has", "enable", "enabled", "require", "requires", "show", "hide", "check",
                          "verify", "validate", "get", "load", "read", "save", "fetch", "generate", "gen", "create",
                          "make", "num", "max", "min", "n", "count", "total", "len", "reset", "forgot", "hash",
                          "hashed", "encrypted", "encode", "decode", "to", "from", "with", "no", "skip", "ask",
                          "prompt", "input", "print", "log", "sample", "example", "dummy", "fake", "test"})
_TOKEN_QUALIFIERS = frozenset({
    "access", "auth", "api", "bearer", "refresh", "session", "oauth", "personal", "pat", "hf", "hugging", "huggingface",
    "hub", "github", "gh", "gitlab", "slack", "bot", "discord", "telegram", "wandb", "kaggle", "openai", "notion",
    "jupyter", "notebook", "secret", "private", "client", "app", "service", "write", "read", "admin", "login",
    "cloud", "dropbox", "twilio", "replicate", "cohere", "groq", "colab", "ngrok", "azure", "aws", "gcp", "google",
    "databricks", "mlflow", "comet", "neptune", "clearml", "roboflow", "pinecone", "langchain", "langsmith",
    "git", "repo", "deploy", "security", "csrf", "xsrf", "jwt", "id", "sas", "pypi", "npm", "my", "sec", "dev",
    "reddit", "twitter", "spotify", "mapbox", "shopify", "zoom", "jira", "confluence",
})
_ML_TOKEN_WORDS = frozenset({
    "pad", "padding", "eos", "bos", "sos", "eot", "sot", "unk", "unknown", "oov", "sep", "cls", "mask", "start", "end",
    "stop", "begin", "special", "image", "img", "audio", "video", "text", "new", "added", "max", "min", "num", "total",
    "first", "last", "next", "prev", "input", "output", "target", "decoder", "encoder", "query", "blank", "null",
    "space", "word", "sub", "subword", "char", "byte", "vision", "im", "think", "tool", "system", "assistant",
    "prompt", "completion", "turn", "placeholder", "class", "label", "trigger", "concept", "placeholder", "answer",
    "question", "context", "boi", "eoi", "boa", "eoa", "fim", "middle", "suffix", "prefix", "pause", "dummy",
    "chosen", "rejected", "reasoning", "generated", "response", "instruction", "user", "human", "ai",
})
_KEY_QUALIFIERS = frozenset({
    "api", "secret", "access", "private", "auth", "encryption", "encrypt", "signing", "sign", "master", "account",
    "subscription", "license", "licence", "developer", "openai", "anthropic", "claude", "hf", "huggingface", "wandb",
    "kaggle", "cohere", "groq", "gemini", "google", "palm", "mistral", "pinecone", "serpapi", "serp", "serper",
    "tavily", "langchain", "langsmith", "replicate", "together", "aws", "azure", "stripe", "ssh", "rsa", "gpg", "pgp",
    "jwt", "fernet", "aes", "hmac", "cipher", "crypto", "bing", "youtube", "elevenlabs", "voyage", "jina",
    "fireworks", "deepseek", "perplexity", "openrouter", "cerebras", "xai", "grok", "assemblyai", "deepgram",
    "weaviate", "qdrant", "cohere", "ai21", "nvidia", "ngc", "comet", "neptune", "roboflow", "maps", "weather",
    "news", "alpha", "vantage", "finnhub", "polygon", "exa", "brave", "firecrawl", "apify", "unstructured",
    "llama", "llamaparse", "llamacloud", "mixedbread", "nomic", "upstage", "sambanova", "hyperbolic", "novita",
    "fal", "stability", "runway", "midjourney", "leonardo", "ocr", "vision", "speech", "translate", "translator",
    "cognitive", "search", "storage", "shared", "sas", "client", "app", "service", "consumer", "webhook",
})


# `PRIMARY_KEY`, `SORT_KEY`, `CACHE_KEY`: keys of data, not credentials
_DATA_KEY_WORDS = frozenset({
    "primary", "sort", "partition", "cache", "label", "labels", "data", "dataset", "column", "field", "hash", "range",
    "foreign", "row", "s3", "bucket", "object", "redis", "metric", "model", "state", "result", "target", "feature",
    "group", "index", "dict", "map", "lookup", "join", "unique", "composite", "shard", "routing", "idempotency",
    "dedup", "prompt", "response", "image", "audio", "video", "file", "path", "seed", "rng", "random", "prng",
})


def name_words(name: str) -> list[str]:
    """`OPENAI_API_KEY` -> [openai, api, key]; `hfToken` -> [hf, token]; `--hub-token` -> [hub, token]."""
    words: list[str] = []
    for part in re.split(r"[^A-Za-z0-9]+", name):
        for w in _CAMEL.findall(part):
            w = w.lower()
            words.extend(_COMPOUNDS.get(w, (w,)))
    return words


def secret_name_kind(name: str) -> str | None:
    """What kind of secret a name holds (`password`, `token`, `API key`, ...), or None.

    Precise on ML code: `tokenizer`, `max_tokens`, `token_type_ids`, `pad_token`, `eos_token`,
    `special_tokens`, `token_id`, `sort_key` and `api_key_name` are not secrets.
    """
    words = name_words(name)
    if not words:
        return None
    last = words[-1]
    if len(words) > 1 and (last in _DESCRIPTORS or words[0] in _BOOL_PREFIX):
        return None
    ws = set(words)
    upper = name.replace("-", "_").isupper()
    if ws & PASSWORD_WORDS:
        return "password"
    if last == "pass" and (len(words) == 1 or words[-2] in _PASS_OWNERS):
        return "password"
    if "token" in ws:
        if ws & _ML_TOKEN_WORDS:
            return None
        if len(words) == 1 or ws & _TOKEN_QUALIFIERS or (upper and last == "token"):
            return "token"
        return None
    if "secret" in ws:
        return "secret"
    if "key" in ws:
        i = words.index("key")
        before = set(words[:i])
        if before & {"private", "ssh", "rsa"}:
            return "private key"
        if before & _KEY_QUALIFIERS:
            return "API key" if "api" in before else "key"
        if upper and last == "key" and len(words) >= 2 and not before & (_ML_TOKEN_WORDS | _DATA_KEY_WORDS):
            return "key"
        return None
    if ws & {"credential", "credentials", "creds", "cred"} and last not in _DESCRIPTORS:
        return "credential"
    if last in ("authorization", "bearer") or words == ["auth"] or (
        last in ("header", "headers") and ws & {"auth", "authorization", "bearer"}
    ):
        return "authorization"
    return None


_AUTH_VALUE = re.compile(r"^(?:Bearer|Token|Basic|Bot|token|bearer|Key|ApiKey|SSWS)\s+(?P<v>\S+)$")


def looks_like_secret(value: str, kind: str = "secret", min_len: int = 8) -> bool:
    """A literal given to a secret-named variable that is plausibly the secret itself, not a placeholder,
    a file name, an env-var name, a template or a sentence."""
    v = value.strip()
    m = _AUTH_VALUE.match(v)
    if m:
        v = m.group("v")
    if len(v) < min_len or is_placeholder(v):
        return False
    if any(c.isspace() for c in v):
        return False
    if v[0] in "$%{<[(@#" or "{" in v or "://" in v:
        return False
    if _ENV_NAME.match(v) or _DOTTED.match(v):
        return False
    if v.startswith(("/", "./", "../", "~", "\\")) or re.match(r"^[A-Za-z]:\\", v) or _FILE_EXT.search(v):
        return False
    if "/" in v and not looks_like_aws_secret(v) and re.match(r"^[\w.\-]+(?:/[\w.\-]+)+$", v):
        return False  # a path or an `org/model` name
    if re.fullmatch(r"[a-z]+(?:[_\-][a-z]+)+", v) and set(re.split(r"[_\-]", v)) & _NAME_WORDS:
        return False  # `hf_token`, `openai-api-key`: the name of a secret
    if re.fullmatch(r"[A-Za-z]+(?:[_\-][A-Za-z]+)*", v) and kind in ("token", "API key", "key", "secret",
                                                                      "credential", "authorization", "private key"):
        return False  # words only: a generated token or key has digits or mixed case
    if kind in ("token", "API key", "key", "authorization") and not _randomish(v):
        return False
    if kind != "password" and _identifier_like(v):
        return False  # `user_id_2024`, `hf-token-2`: the name of something
    if re.fullmatch(r"[\w.+\-]+@[\w\-]+\.[\w.\-]+", v):
        return False  # an e-mail address
    return True


# ---------------------------------------------------------------------------------------------
# Masking


def mask(value: str, keep: int = 4) -> str:
    """`hf_abcdefgh...` -> `hf_a****************`: at most `keep` characters and never more than a quarter shown."""
    if not value:
        return value
    keep = min(keep, len(value) // 4)
    return value[:keep] + "*" * max(4, min(len(value) - keep, 16))


_AUTH_HEADER = re.compile(
    r"(?i)\b(?:authorization|x-api-key|api-key|x-auth-token|private-token)[\"']?\s*[:=]\s*[\"']?"
    r"(?:(?:bearer|token|basic|bot)\s+)?(?P<secret>[A-Za-z0-9_\-.=+/~]{8,})"
)
_BANDIT_PASSWORD = re.compile(r"(?i)hardcoded password(?: string| func arg| funcarg)?:\s*(?P<q>['\"])(?P<secret>.*?)(?P=q)")


def mask_text(text: str) -> str:
    """Mask every secret that can be recognised without context: token formats, URL passwords,
    authorization headers, private key blocks (code frames, messages, logs)."""
    if not text:
        return text
    spans: list[tuple[int, int]] = [(s, e) for s, e, _ in find_tokens(text, include_fake=True)]
    for c in find_url_credentials(text):
        spans.append((c.start, c.end))
    if "uthoriz" in text or "api-key" in text.lower() or "auth-token" in text.lower() or "PRIVATE-TOKEN" in text.upper():
        for m in _AUTH_HEADER.finditer(text):
            if not is_placeholder(m.group("secret")):
                spans.append(m.span("secret"))
    if "ardcoded password" in text:
        spans.extend(m.span("secret") for m in _BANDIT_PASSWORD.finditer(text))
    if not spans:
        return text
    spans.sort()
    merged: list[list[int]] = []
    for s, e in spans:
        if merged and s <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], e)
        else:
            merged.append([s, e])
    out, last = [], 0
    for s, e in merged:
        out.append(text[last:s])
        out.append(mask(text[s:e]))
        last = e
    out.append(text[last:])
    return "".join(out)
