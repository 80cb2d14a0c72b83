"""The secrets library (formats, placeholders, names, masking) and the MLS2 credential rules end to end.

Every token here is made up at run time from seeded random letters, so the repository holds no text that
looks like a live credential; each is format-valid so that the detectors must fire on it.
"""
from __future__ import annotations

import json
import random

import pytest

from mlsec import secrets as S
from mlsec.api import lint
from mlsec.config import Config
from mlsec.engine import analyze
from mlsec.findings import Category
from mlsec.source import Cell, Document, OutputText, from_cells, from_string

ALNUM = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
HEX = "0123456789abcdef"
B64 = ALNUM + "+/"
_rng = random.Random(20240601)


def rnd(n: int, alphabet: str = ALNUM) -> str:
    return "".join(_rng.choice(alphabet) for _ in range(n))


TOKENS = {
    "AWS access key id": "AK" + "IA" + rnd(16, "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"),
    "GitHub token": "gh" + "p_" + rnd(36),
    "GitLab token": "gl" + "pat-" + rnd(20),
    "Hugging Face token": "hf" + "_" + rnd(34),
    "OpenAI API key": "sk" + "-proj-" + rnd(64),
    "Anthropic API key": "sk" + "-ant-api03-" + rnd(93) + "AA",
    "Google API key": "AI" + "za" + rnd(35),
    "Slack token": "xo" + "xb-" + rnd(12, "0123456789") + "-" + rnd(24),
    "Stripe live key": "sk" + "_live_" + rnd(24),
    "npm token": "np" + "m_" + rnd(36),
    "Replicate API token": "r8" + "_" + rnd(37),
    "Groq API key": "gs" + "k_" + rnd(52),
}
LEGACY_OPENAI = "sk" + "-" + rnd(48)
AWS_SECRET = rnd(39, B64) + "7"
PASSWORD = "Tr0ub4dor&" + rnd(8)
PRIVATE_KEY = (
    "-----BEGIN " + "RSA PRIVATE KEY-----\n" + "\n".join(rnd(64, B64) for _ in range(4)) + "\n-----END RSA PRIVATE KEY-----"
)


def _jwt(payload: dict) -> str:
    import base64

    def seg(d: dict) -> str:
        return base64.urlsafe_b64encode(json.dumps(d).encode()).decode().rstrip("=")

    return seg({"alg": "HS256", "typ": "JWT"}) + "." + seg(payload) + "." + rnd(43, ALNUM + "-_")


# ---------------------------------------------------------------------------------------------
# mask / mask_text


@pytest.mark.parametrize("value", ["", "a", "abcd", "abcdefgh", PASSWORD, *TOKENS.values(), PRIVATE_KEY])
def test_mask_shows_at_most_four_characters_and_a_quarter(value):
    m = S.mask(value)
    shown = m.rstrip("*")
    assert len(shown) <= min(4, len(value) // 4)
    assert value == "" or m != value
    assert value[len(shown):] not in m or len(value) - len(shown) < 2


def test_mask_length_does_not_reveal_the_secret_length():
    assert len(S.mask("x" * 60)) == len(S.mask("y" * 200)) == 20


@pytest.mark.parametrize("kind", sorted(TOKENS))
def test_mask_text_hides_every_token_format(kind):
    token = TOKENS[kind]
    text = f"print('{token}')  # and again: Bearer {token}"
    out = S.mask_text(text)
    assert token not in out
    assert token[:3] in out  # enough left to recognise which credential it was


def test_mask_text_hides_url_password_header_private_key_and_bandit_message():
    text = (
        f"postgresql://app:{PASSWORD}@db.prod.internal/x\n"
        f"curl -H 'Authorization: Bearer {rnd(40)}'\n"
        f"{PRIVATE_KEY}\n"
        f"Possible hardcoded password: '{PASSWORD}'"
    )
    out = S.mask_text(text)
    assert PASSWORD not in out
    for body_line in PRIVATE_KEY.splitlines()[1:-1]:
        assert body_line not in out
    assert "postgresql://app:" in out and "@db.prod.internal/x" in out


def test_mask_text_is_stable_on_masked_text_and_plain_text():
    once = S.mask_text(f"token = '{TOKENS['Hugging Face token']}'")
    assert S.mask_text(once) == once
    plain = "model = AutoModel.from_pretrained('bert-base-uncased')"
    assert S.mask_text(plain) == plain


# ---------------------------------------------------------------------------------------------
# formats and placeholders


@pytest.mark.parametrize("kind", sorted(TOKENS))
def test_find_tokens_names_each_format(kind):
    token = TOKENS[kind]
    found = S.find_tokens(f'x = "{token}"')
    assert [(k, f'x = "{token}"'[s:e]) for s, e, k in found] == [(kind, token)]


def test_more_formats_legacy_openai_private_key_jwt_aws_secret():
    assert S.token_kind(LEGACY_OPENAI) == "OpenAI API key"
    assert S.token_kind(PRIVATE_KEY) == "private key"
    assert S.token_kind(_jwt({"sub": "svc-" + rnd(8), "exp": 1900000000})) == "JSON Web Token"
    text = f'aws_secret_access_key = "{AWS_SECRET}"'
    assert [k for _, _, k in S.find_tokens(text)] == ["AWS secret access key"]
    assert S.find_tokens(f'x = "{AWS_SECRET}"') == []  # 40 characters alone: needs an AWS keyword


@pytest.mark.parametrize(
    "text",
    [
        "sk-" + "x" * 48,
        "hf_" + "X" * 34,
        "AKIA" + "IOSFODNN7" + "EXAMPLE",
        "ghp_" + "abcdefghij" * 4,
        "hf_" + "0123456789" * 4,
        "-----BEGIN " + "PRIVATE KEY-----",  # a header alone: code that looks for keys
        "-----BEGIN " + "PRIVATE KEY-----\n" + "..." + "\n-----END PRIVATE KEY-----",
        # the jwt.io sample token
        "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkpvaG4gRG9lIiwiaWF0IjoxNTE2MjM5MDIyfQ."
        "SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c",
        "data:image/png;base64," + rnd(30) + TOKENS["AWS access key id"] + rnd(30),  # chance match in a blob
        "hf_hub_download(repo_id='x/y', filename='pytorch_model.bin')",
    ],
)
def test_find_tokens_leaves_out_samples_and_chance_matches(text):
    assert S.find_tokens(text) == []


@pytest.mark.parametrize(
    "value",
    ["", "   ", "<YOUR_KEY>", "<hf_token>", "[your-api-key]", "{api_key}", "${OPENAI_API_KEY}", "$HF_TOKEN",
     "xxxxxxxx", "********", "...", "sk-...", "hf_...", "your-api-key", "YOUR_API_KEY_HERE", "insert_token_here",
     "changeme", "EMPTY", "not-needed", "sk-no-key-required", "dummy", "password", "abc", "12345678",
     "🔑🔑🔑 Your API Key here! 🔑🔑🔑", "aaaaaaaaaaaa", "example-token-123"],
)
def test_placeholders(value):
    assert S.is_placeholder(value)


@pytest.mark.parametrize("value", [PASSWORD, rnd(32, HEX), *TOKENS.values()])
def test_real_looking_values_are_not_placeholders(value):
    assert not S.is_placeholder(value)


# ---------------------------------------------------------------------------------------------
# names


@pytest.mark.parametrize(
    "name",
    ["tokenizer", "max_tokens", "max_new_tokens", "token_type_ids", "num_tokens", "pad_token", "eos_token",
     "bos_token", "unk_token", "special_tokens", "token_id", "additional_special_tokens", "PAD_TOKEN", "MASK_TOKEN",
     "sort_key", "cache_key", "key", "api_key_name", "secret_name", "token_file", "password_field", "use_auth_token",
     "TOKEN_SECRET_NAME", "tokens", "placeholder_token", "image_token", "is_secret", "keys", "hf_token_path"],
)
def test_ml_names_are_not_secret_names(name):
    assert S.secret_name_kind(name) is None


@pytest.mark.parametrize(
    "name,kind",
    [("password", "password"), ("neo4j_password", "password"), ("pwd", "password"), ("DB_PASS", "password"),
     ("passwd", "password"), ("token", "token"), ("hf_token", "token"), ("HF_TOKEN", "token"), ("auth_token", "token"),
     ("authToken", "token"), ("GITHUB_TOKEN", "token"), ("api_key", "API key"), ("apikey", "API key"),
     ("apiKey", "API key"), ("OPENAI_API_KEY", "API key"), ("secret", "secret"), ("client_secret", "secret"),
     ("secret_key", "secret"), ("AWS_SECRET_ACCESS_KEY", "secret"), ("access_key", "key"), ("WANDB_KEY", "key"),
     ("private_key", "private key"), ("Authorization", "authorization"), ("--hub-token", "token"),
     ("X-API-Key", "API key")],
)
def test_secret_names(name, kind):
    assert S.secret_name_kind(name) == kind


@pytest.mark.parametrize(
    "value,kind",
    [("token.json", "token"), ("/content/drive/hf_token.txt", "token"), ("OPENAI_API_KEY", "API key"),
     ("hf_token", "token"), ("openai-api-key", "API key"), ("Bearer {}", "authorization"), ("short", "password"),
     ("meta-llama/Llama-2-7b-hf", "token"), ("userdata.HF_TOKEN", "token"), ("me@example.org", "password"),
     ("the secret message", "secret"), ("mysecretvalue", "token")],
)
def test_values_that_are_not_the_secret(value, kind):
    assert not S.looks_like_secret(value, kind)


def test_values_that_are_the_secret():
    assert S.looks_like_secret(PASSWORD, "password")
    assert S.looks_like_secret(rnd(40, HEX), "API key")
    assert S.looks_like_secret("Bearer " + rnd(64, HEX), "authorization")


# ---------------------------------------------------------------------------------------------
# URLs


def test_url_credentials():
    text = f"postgresql://admin:{PASSWORD}@db.prod.internal:5432/x"
    (c,) = S.find_url_credentials(text)
    assert text[c.start : c.end] == PASSWORD and PASSWORD not in c.url and c.host == "db.prod.internal"
    tok = rnd(40, HEX)
    (c,) = S.find_url_credentials(f"https://{tok}@github.com/org/repo.git")
    assert tok not in c.url
    key = rnd(32, HEX)
    (c,) = S.find_url_credentials(f"https://api.weather.io/v1?q=x&api_key={key}&units=metric")
    assert key not in c.url
    for safe in ["mongodb+srv://<user>:<password>@cluster0.x.net", "postgres://postgres:postgres@localhost/db",
                 "f'{scheme}://{user}:{pw}@{host}'", "https://user:password@proxy.corp:8080",
                 "git+ssh://git@github.com/org/repo.git", "https://example.com/?key=YOUR_API_KEY",
                 "https://github.com/org/repo"]:
        assert S.find_url_credentials(safe) == [], safe


# ---------------------------------------------------------------------------------------------
# the rules, end to end


def _ids(report) -> list[str]:
    return [f.rule_id for f in report.findings if f.rule_id.startswith("MLS2")]


def test_each_literal_is_reported_once_by_the_most_specific_rule():
    hf = TOKENS["Hugging Face token"]
    cells = [
        f"from huggingface_hub import login\nlogin(token='{hf}')",  # token format beats login and name
        f"import wandb\nwandb.login(key='{rnd(40, HEX)}')",  # login beats name
        f"db_password = '{PASSWORD}'",
        f"url = 'postgresql://app:{PASSWORD}@db.prod.internal/x'",
        f"%env HF_TOKEN={hf}",
        f"!huggingface-cli login --token {hf}",
    ]
    report = lint(cells, bandit=False, select=["MLS2"])
    assert [(f.cell_index, f.rule_id) for f in report.findings] == [
        (0, "MLS201"), (1, "MLS203"), (2, "MLS204"), (3, "MLS202"), (4, "MLS205"), (5, "MLS206")
    ]


def test_ml_notebook_code_gives_no_findings():
    code = """
from transformers import AutoTokenizer
tokenizer = AutoTokenizer.from_pretrained("gpt2", token=os.environ.get("HF_TOKEN"))
tokenizer.pad_token = tokenizer.eos_token
tokenizer.add_special_tokens({"pad_token": "[PAD]", "additional_special_tokens": ["<|im_start|>", "<|im_end|>"]})
max_tokens = 512
out = model.generate(**inputs, max_new_tokens=128, pad_token_id=tokenizer.eos_token_id)
token_type_ids = enc["token_type_ids"]
placeholder_token = "<cat-toy>"
api_key = getpass.getpass("OpenAI key: ")
client = OpenAI(api_key=userdata.get("OPENAI_API_KEY"))
os.environ["TOKENIZERS_PARALLELISM"] = "false"
os.environ["WANDB_PROJECT"] = "my-project-2024"
secret_name = f"projects/{PROJECT_ID}/secrets/hf-token/versions/latest"
headers = {"Authorization": f"Bearer {token}"}
"""
    assert _ids(lint(code, bandit=False)) == []


def test_outputs_are_scanned_with_positions_in_the_output_text():
    hf = TOKENS["Hugging Face token"]
    cells = [
        {"cell_type": "code", "source": "!cat ~/.huggingface/token", "outputs": [
            {"output_type": "stream", "name": "stdout", "text": ["checking...\n", f"  token: {hf}\n"]}]},
        {"cell_type": "code", "source": "cfg", "outputs": [
            {"output_type": "execute_result", "execution_count": 1,
             "data": {"text/plain": [f"{{'url': 'postgresql://app:{PASSWORD}@db.prod.internal/x'}}"]}}]},
        {"cell_type": "code", "source": "connect()", "outputs": [
            {"output_type": "error", "ename": "HTTPError", "evalue": "401",
             "traceback": ["\x1b[0;31mHTTPError\x1b[0m: 401", f"\x1b[0;32mheaders\x1b[0m={{'x': '{TOKENS['GitHub token']}'}}"]}]},
    ]
    report = lint(cells, bandit=False, select=["MLS2"])
    found = [(f.cell_index, f.rule_id, f.in_output, f.line, f.col, f.end_col) for f in report.findings]
    tb_line = cells[2]["outputs"][0]["traceback"][1]  # columns count the ANSI colour codes as saved
    gh = TOKENS["GitHub token"]
    assert found == [
        (0, "MLS207", True, 2, 9, 9 + len(hf)),
        (1, "MLS207", True, 1, 26, 26 + len(PASSWORD)),
        (2, "MLS207", True, 2, tb_line.index(gh), tb_line.index(gh) + len(gh)),
    ]
    assert [f.severity.label for f in report.findings] == ["high", "high", "critical"]
    assert all(f.snippet == "" and TOKENS["GitHub token"] not in f.message for f in report.findings)


def test_notebook_metadata_is_scanned():
    token = TOKENS["Slack token"]
    doc = Document(
        path="nb.ipynb", cells=[Cell(source="x = 1", index=0)], kind="notebook",
        metadata_text=json.dumps({"widgets": {"state": {"w": {"value": token}}}}),
    )
    (f,) = analyze(doc, Config(bandit=False, select=["MLS2"]), use_cache=False).findings
    assert f.rule_id == "MLS207" and f.in_output and "in notebook metadata" in f.notes
    assert "notebook metadata" in f.message and token not in f.message


def test_shell_and_env_findings_point_at_the_secret():
    key = rnd(40)
    cell = f"%%bash\necho start\nexport OPENAI_API_KEY={key}\n"
    (f,) = lint(cell, bandit=False, select=["MLS2"]).findings
    line = cell.splitlines()[f.line - 1]
    assert (f.rule_id, f.line) == ("MLS206", 3) and line[f.col : f.end_col] == key
    cell = f"import os\n%env WANDB_API_KEY={key}"
    (f,) = lint(cell, bandit=False, select=["MLS2"]).findings
    assert (f.rule_id, f.line) == ("MLS205", 2) and cell.splitlines()[1][f.col : f.end_col] == key


# ---------------------------------------------------------------------------------------------
# no raw secret anywhere


def _secret_notebook() -> tuple[list[dict], list[str]]:
    hf, gh, oa = TOKENS["Hugging Face token"], TOKENS["GitHub token"], TOKENS["OpenAI API key"]
    wandb_key, shell_key, env_pw = rnd(40, HEX), rnd(40), "Zx9" + rnd(13)
    url_pw, bearer = "Pg7" + rnd(12), rnd(64, HEX)
    secrets = [hf, gh, oa, wandb_key, shell_key, env_pw, url_pw, bearer, PASSWORD, AWS_SECRET,
               TOKENS["AWS access key id"], TOKENS["Slack token"], TOKENS["Stripe live key"], LEGACY_OPENAI]
    secrets += PRIVATE_KEY.splitlines()[1:-1]
    cells = [
        f"from huggingface_hub import login\nlogin(token='{hf}'); login(token='{hf}')",
        f"import wandb, os\nwandb.login(key='{wandb_key}')\nos.environ['DB_PASSWORD'] = '{PASSWORD}'",
        f"import boto3\ns3 = boto3.client('s3', aws_access_key_id='{TOKENS['AWS access key id']}', "
        f"aws_secret_access_key='{AWS_SECRET}')",
        f"KEY = '''{PRIVATE_KEY}'''\nimport pickle\npickle.loads(KEY)",
        f"!git clone https://me:{gh}@github.com/org/repo.git && curl -H 'Authorization: Bearer {bearer}' x.io",
        f"%env OPENAI_API_KEY={oa}\n%env DB_PASS={env_pw}",
        f"%%bash\nexport MY_SERVICE_TOKEN={shell_key}\nwandb login {wandb_key}\n",
        f"%%writefile .env\nSLACK_TOKEN={TOKENS['Slack token']}\nSTRIPE={TOKENS['Stripe live key']}\n",
        f"engine = create_engine('postgresql://app:{url_pw}@db.prod.internal/x')",
        {"cell_type": "code", "source": "print(os.environ)", "outputs": [
            {"output_type": "stream", "name": "stdout", "text": f"{{'OPENAI_API_KEY': '{LEGACY_OPENAI}', 'HF': '{hf}'}}"}]},
    ]
    return cells, secrets


def _assert_no_secret(text: str, secrets: list[str], where: str) -> None:
    for s in secrets:
        assert s not in text, f"raw secret {S.mask(s)} visible in {where}: {S.mask_text(text)[:200]}"


def test_no_raw_secret_in_any_message_snippet_or_serialised_finding():
    cells, secrets = _secret_notebook()
    report = lint(cells, bandit=False)
    sec = [f for f in report.findings if f.category == Category.SECRETS]
    assert {f.rule_id for f in sec} == {"MLS201", "MLS202", "MLS203", "MLS204", "MLS205", "MLS206", "MLS207"}
    assert len(sec) >= 18
    for f in report.findings:  # every finding, not only the secret ones: a code frame can show a secret too
        _assert_no_secret(f.message, secrets, f"{f.rule_id} message")
        _assert_no_secret(f.snippet, secrets, f"{f.rule_id} snippet")
        _assert_no_secret(json.dumps(f.to_dict()), secrets, f"{f.rule_id} to_dict")
        _assert_no_secret(f.fingerprint(), secrets, "fingerprint")
    # the code frames still show where: the masked token prefix is there
    snippets = "\n".join(f.snippet for f in sec)
    assert "hf_" in snippets and "-----BEGIN" not in snippets.replace("----****", "")


def test_snippet_masks_every_line_of_a_multi_line_secret():
    cells, secrets = _secret_notebook()
    report = lint([cells[3]], bandit=False)
    pk = [f for f in report.findings if f.rule_id == "MLS201"]
    assert len(pk) == 1 and pk[0].end_line > pk[0].line
    other = [f for f in report.findings if f.rule_id != "MLS201" and f.category != Category.SECRETS]
    for f in pk + other:
        _assert_no_secret(f.snippet, secrets, f.rule_id)


def test_html_report_shows_no_raw_secret():
    cells, secrets = _secret_notebook()
    report = lint(cells, bandit=False)
    _assert_no_secret(report._repr_html_(), secrets, "HTML report")


@pytest.mark.parametrize("prefix", ["!", "%%bash\n"])
def test_secret_on_a_continuation_line_is_pointed_at_and_masked(prefix):
    key = rnd(30)
    cell = f"{prefix}python train.py \\\n   --hub_token {key} \\\n   --epochs 3\n"
    (f,) = lint(cell, bandit=False, select=["MLS2"]).findings
    lines = cell.splitlines()
    assert lines[f.line - 1][f.col : f.end_col] == key
    assert key not in f.snippet and "--hub_token" in f.snippet


def test_bandit_style_password_message_is_masked():
    msg = f"Possible hardcoded password: '{PASSWORD}'"
    assert PASSWORD not in S.mask_text(msg) and "Possible hardcoded password" in S.mask_text(msg)


def test_no_raw_secret_with_bandit_merged_in():
    cells, secrets = _secret_notebook()
    report = lint(cells, bandit=True)
    assert any(f.rule_id == "MLS201" for f in report.findings)
    for f in report.findings:
        for text in (f.message, f.snippet, json.dumps(f.to_dict())):
            _assert_no_secret(text, secrets, f"{f.rule_id} ({f.source})")
