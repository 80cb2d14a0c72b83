"""Token formats, placeholders and masking, shared by the secret rules and every renderer."""
from __future__ import annotations

import re

# (name, compiled pattern); group "secret" when present marks the part to mask
TOKEN_PATTERNS: list[tuple[str, re.Pattern[str]]] = [
    ("AWS access key id", re.compile(r"\b(?P<secret>(?:A3T[A-Z0-9]|AKIA|ASIA|ABIA|ACCA)[A-Z0-9]{16})\b")),
    ("GitHub token", re.compile(r"\b(?P<secret>(?:ghp|gho|ghu|ghs|ghr)_[A-Za-z0-9]{36,255}|github_pat_[A-Za-z0-9_]{60,255})\b")),
    ("GitLab token", re.compile(r"\b(?P<secret>glpat-[A-Za-z0-9_\-]{20,})\b")),
    ("Hugging Face token", re.compile(r"\b(?P<secret>hf_[A-Za-z0-9]{30,})\b")),
    ("Anthropic API key", re.compile(r"\b(?P<secret>sk-ant-(?:api|admin)\d{2}-[A-Za-z0-9_\-]{80,})")),
    ("OpenAI API key", re.compile(r"\b(?P<secret>sk-(?:proj-|svcacct-|admin-)?[A-Za-z0-9_\-]{20,}T3BlbkFJ[A-Za-z0-9_\-]{20,}|sk-proj-[A-Za-z0-9_\-]{40,}|sk-[A-Za-z0-9]{48})\b")),
    ("Google API key", re.compile(r"\b(?P<secret>AIza[0-9A-Za-z_\-]{35})\b")),
    ("Slack token", re.compile(r"\b(?P<secret>xox[baprs]-[0-9A-Za-z\-]{10,})\b")),
    ("Stripe key", re.compile(r"\b(?P<secret>(?:sk|rk)_(?:live|test)_[0-9A-Za-z]{20,})\b")),
    ("private key", re.compile(r"(?P<secret>-----BEGIN (?:[A-Z]+ )?PRIVATE KEY-----)")),
    ("JSON Web Token", re.compile(r"\b(?P<secret>eyJ[A-Za-z0-9_\-]{8,}\.eyJ[A-Za-z0-9_\-]{8,}\.[A-Za-z0-9_\-]{8,})")),
]

_PLACEHOLDER = re.compile(
    r"^\s*$|^<[^>]*>$|^\{\{.*\}\}$|^\$\{?[A-Z_]+\}?$|^(x+|\*+|\.+|-+|_+|0+|#+)$|"
    r"(your|my|insert|enter|replace|put|add)[-_ ]?(api|access|secret|own|here|key|token|password|pass)|"
    r"^(changeme|change_me|todo|tbd|none|null|secret|password|token|api_key|apikey|test|dummy|example|sample|fake|placeholder|redacted|xxx.*|\.\.\.)$",
    re.I,
)


def is_placeholder(value: str) -> bool:
    """`""`, `"<YOUR_KEY>"`, `"xxxx"`, `"..."`, `"your-api-key-here"` are not secrets."""
    v = value.strip().strip("'\"")
    if len(v) < 4:
        return True
    if _PLACEHOLDER.search(v):
        return True
    if len(set(v.lower())) <= 2:
        return True
    return False


def find_tokens(text: str) -> list[tuple[int, int, str]]:
    """(start, end, kind) of every provider token format in text."""
    found: list[tuple[int, int, str]] = []
    for kind, pat in TOKEN_PATTERNS:
        for m in pat.finditer(text):
            s, e = m.span("secret")
            if not any(s < fe and fs < e for fs, fe, _ in found):
                found.append((s, e, kind))
    found.sort()
    return found


def mask(value: str, keep: int = 4) -> str:
    """`hf_abcdefgh...` -> `hf_a************`: never more than `keep` characters and never half."""
    if not value:
        return value
    keep = min(keep, len(value) // 4)
    return value[:keep] + "*" * max(4, min(len(value) - keep, 16))


def mask_text(text: str) -> str:
    """Mask every token-format secret in arbitrary text (code frames, messages, outputs)."""
    if not text:
        return text
    spans = find_tokens(text)
    if not spans:
        return text
    out, last = [], 0
    for s, e, _ in spans:
        out.append(text[last:s])
        out.append(mask(text[s:e]))
        last = e
    out.append(text[last:])
    return "".join(out)
