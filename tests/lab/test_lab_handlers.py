"""The server extension over HTTP (pytest-jupyter): auth, bad bodies, size limits, diagnostics, paths."""
from __future__ import annotations

import asyncio
import json
import os

import pytest
from tornado.httpclient import HTTPClientError

TOKEN = "ghp_" + "Zq8Lm2Xv9Tr4Wp7Ks1Nd6Hf3Jb5Yc0Ga8Ue2Q"


def utf16_slice(text: str, start: int, end: int) -> str:
    return text.encode("utf-16-le")[2 * start : 2 * end].decode("utf-16-le")


async def lint(jp_fetch, payload, **kw):
    body = payload if isinstance(payload, (bytes, str)) else json.dumps(payload)
    r = await jp_fetch("mlsec", "lint", method="POST", body=body, **kw)
    assert r.code == 200
    return json.loads(r.body)


async def status_of(coro) -> int:
    try:
        r = await coro
    except HTTPClientError as exc:
        return exc.code
    return r.code


def nb(*sources, **extra):
    return {"cells": [{"id": f"c{i}", "cell_type": "code", "source": s} for i, s in enumerate(sources)], **extra}


# -- authentication ---------------------------------------------------------------------------


async def test_lint_without_token_is_403(http_server_client, jp_base_url):
    url = jp_base_url + "mlsec/lint"
    r = await http_server_client.fetch(url, method="POST", body=json.dumps(nb("import pickle")), raise_error=False)
    assert r.code == 403
    # a valid XSRF cookie/header pair gets past the XSRF check, and is still not a login
    r = await http_server_client.fetch(
        url,
        method="POST",
        body=json.dumps(nb("import pickle")),
        headers={"Cookie": "_xsrf=abc123", "X-XSRFToken": "abc123"},
        raise_error=False,
    )
    assert r.code == 403
    r = await http_server_client.fetch(jp_base_url + "mlsec/rules/MLS101", raise_error=False, follow_redirects=False)
    assert r.code == 403


async def test_wrong_token_is_403(http_server_client, jp_base_url):
    r = await http_server_client.fetch(
        jp_base_url + "mlsec/lint",
        method="POST",
        body=json.dumps(nb("x = 1")),
        headers={"Authorization": "token not-the-token"},
        raise_error=False,
    )
    assert r.code == 403


# -- bad requests -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "body",
    [
        b"{not json",
        b"\xff\xfe",
        b"[]",
        json.dumps({"cells": "import pickle"}).encode(),
        json.dumps({"cells": [{"source": 3}]}).encode(),
        json.dumps({"cells": [{"source": "x", "cell_type": "python"}]}).encode(),
        json.dumps({"cells": [], "settings": {"minSeverity": "severe"}}).encode(),
        json.dumps({"cells": [], "settings": {"bandit": "yes"}}).encode(),
        json.dumps({"cells": [], "ignore": "MLS101"}).encode(),
        json.dumps({"kind": "file", "cells": []}).encode(),
        json.dumps({"cells": [], "path": 7}).encode(),
    ],
)
async def test_malformed_body_is_400(jp_fetch, body):
    assert await status_of(jp_fetch("mlsec", "lint", method="POST", body=body)) == 400


async def test_empty_body_is_400(jp_fetch):
    assert await status_of(jp_fetch("mlsec", "lint", method="POST", body=b"", allow_nonstandard_methods=True)) == 400


async def test_oversized_body_is_413(jp_fetch, body_limit):
    SMALL_BODY_LIMIT = body_limit
    big = nb("x = 1\n" * (SMALL_BODY_LIMIT // 6 + 10))
    assert len(json.dumps(big)) > SMALL_BODY_LIMIT
    assert await status_of(jp_fetch("mlsec", "lint", method="POST", body=json.dumps(big))) == 413
    # just under the limit is fine
    ok = nb("x = 1\n" * (SMALL_BODY_LIMIT // 8))
    assert len(json.dumps(ok)) < SMALL_BODY_LIMIT
    assert await status_of(jp_fetch("mlsec", "lint", method="POST", body=json.dumps(ok))) == 200


async def test_oversized_chunked_body_without_content_length_is_413(jp_fetch, body_limit):
    """No Content-Length (chunked upload): the streamed size is counted and the body dropped past the limit."""
    chunk = b" " * 8192

    async def producer(write):
        await write(b'{"cells": [')
        for _ in range(body_limit // len(chunk) + 2):
            await write(chunk)
        await write(b"]}")

    code = await status_of(
        jp_fetch("mlsec", "lint", method="POST", body_producer=producer, headers={"Content-Type": "application/json"})
    )
    assert code == 413


async def test_content_length_is_refused_before_the_body_is_sent(jp_serverapp, jp_base_url, jp_auth_header, http_server_client, jp_http_port):
    """413 comes back while the client has sent headers only: the server never waits for the body."""
    reader, writer = await asyncio.open_connection("127.0.0.1", jp_http_port)
    head = (
        f"POST {jp_base_url}mlsec/lint HTTP/1.1\r\nHost: 127.0.0.1:{jp_http_port}\r\n"
        f"Authorization: {jp_auth_header['Authorization']}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {50 * 1024 * 1024}\r\n\r\n"
    )
    writer.write(head.encode())
    await writer.drain()
    status = await asyncio.wait_for(reader.readline(), timeout=10)
    writer.close()
    assert b" 413 " in status


# -- diagnostics ------------------------------------------------------------------------------


async def test_diagnostics_in_utf16_after_an_emoji_with_cross_cell_alias(jp_fetch):
    cell1 = 'note = "🐍🐍 models"; obj = pk.load(open("m.pkl", "rb"))\n'
    out = await lint(jp_fetch, nb("import pickle as pk\n", cell1, "print(obj)"))
    assert out["version"] == 1 and len(out["cells"]) == 3
    [d] = [d for d in out["cells"][1] if d["rule"] == "MLS101"]
    assert utf16_slice(cell1, d["from"], d["to"]) == 'pk.load(open("m.pkl", "rb"))'
    # the code-point column would be 2 less: the two snakes take 2 UTF-16 units each
    assert d["col"] == cell1.index("pk.load") + 2
    assert d["severity"] == "high" and d["category"] == "deserialization" and d["line"] == 1
    assert d["message"] and d["fixHint"] and d["snippet"] and d["explainable"] is True
    assert out["cells"][2] == []
    # bandit's own finding on the import has no mlsec explanation to link to
    assert [x["explainable"] for x in out["cells"][0] if x["rule"] == "B403"] == [False]


async def test_secrets_are_masked_and_output_findings_flagged(jp_fetch):
    payload = nb(f'token = "{TOKEN}"')
    payload["cells"].append(
        {"id": "o", "cell_type": "code", "source": "print(token)",
         "outputs": [{"output_type": "stream", "name": "stdout", "text": f"using {TOKEN}\n"}]}
    )
    r = await jp_fetch("mlsec", "lint", method="POST", body=json.dumps(payload))
    text = r.body.decode()
    assert TOKEN not in text and TOKEN[:12] not in text
    out = json.loads(text)
    assert any(d["category"] == "secrets" and not d["inOutput"] for d in out["cells"][0])
    assert any(d["inOutput"] and d["category"] == "secrets" for d in out["cells"][1])


async def test_settings_and_notebook_ignore_list_are_honoured(jp_fetch):
    src = nb("import pickle\nobj = pickle.loads(data)\n")
    rules = lambda out: {d["rule"] for c in out["cells"] for d in c}  # noqa: E731
    assert "MLS101" in rules(await lint(jp_fetch, src))
    assert "MLS101" not in rules(await lint(jp_fetch, {**src, "ignore": ["MLS101"]}))
    assert "MLS101" not in rules(await lint(jp_fetch, {**src, "metadata": {"mlsec": {"ignore": ["MLS101"]}}}))
    assert "MLS101" not in rules(await lint(jp_fetch, {**src, "settings": {"disabledRules": ["deserialization"]}}))
    assert "MLS101" not in rules(await lint(jp_fetch, {**src, "settings": {"minSeverity": "critical"}}))
    no_bandit = await lint(jp_fetch, {**src, "settings": {"bandit": False}})
    assert all(d["source"] == "native" for c in no_bandit["cells"] for d in c)


async def test_inline_ignore_comment(jp_fetch):
    out = await lint(jp_fetch, nb("import pickle\nobj = pickle.loads(data)  # mlsec: ignore[MLS101]\n"))
    assert "MLS101" not in {d["rule"] for c in out["cells"] for d in c}


async def test_python_file(jp_fetch):
    src = "import yaml\n\ncfg = yaml.load(open('c.yml'))\n"
    out = await lint(jp_fetch, {"kind": "file", "path": "", "cells": [{"source": src}]})
    [d] = [d for d in out["cells"][0] if d["rule"] == "MLS106"]
    assert d["line"] == 3 and utf16_slice(src, d["from"], d["to"]).startswith("yaml.load(")


async def test_non_python_notebook_reports_an_error(jp_fetch):
    out = await lint(jp_fetch, nb("x <- readRDS('m.rds')", language="R"))
    assert out["cells"] == [[]] and out["errors"]


# -- pyproject.toml and paths -----------------------------------------------------------------


async def test_nearest_pyproject_inside_root_is_used(jp_fetch, jp_root_dir):
    sub = jp_root_dir / "proj" / "notebooks"
    sub.mkdir(parents=True)
    (jp_root_dir / "proj" / "pyproject.toml").write_text('[tool.mlsec]\nignore = ["MLS101"]\n')
    src = nb("import pickle\nobj = pickle.loads(data)\n", path="proj/notebooks/a.ipynb")
    out = await lint(jp_fetch, src)
    assert out["config"] == "proj/pyproject.toml"
    assert "MLS101" not in {d["rule"] for c in out["cells"] for d in c}
    # per-path-ignores are relative to the pyproject's folder
    (jp_root_dir / "proj" / "pyproject.toml").write_text(
        '[tool.mlsec]\n[tool.mlsec.per-path-ignores]\n"notebooks/*.ipynb" = ["MLS101"]\n'
    )
    out = await lint(jp_fetch, src)
    assert out["config"] == "proj/pyproject.toml" and out["errors"] == []
    assert "MLS101" not in {d["rule"] for c in out["cells"] for d in c}
    out = await lint(jp_fetch, {**src, "path": "proj/other.ipynb"})
    assert "MLS101" in {d["rule"] for c in out["cells"] for d in c}
    # excluded notebooks get no diagnostics, as in `mlsec scan`
    (jp_root_dir / "proj" / "pyproject.toml").write_text('[tool.mlsec]\nexclude = ["notebooks/**"]\n')
    out = await lint(jp_fetch, src)
    assert out["excluded"] is True and out["cells"] == [[]]
    # a broken table is reported, and linting goes on with defaults
    (jp_root_dir / "proj" / "pyproject.toml").write_text('[tool.mlsec]\nignroe = ["MLS101"]\n')
    out = await lint(jp_fetch, src)
    assert out["errors"] and "MLS101" in {d["rule"] for c in out["cells"] for d in c}


async def test_pyproject_above_the_root_is_never_read(jp_fetch, jp_root_dir):
    outside = jp_root_dir.parent / "pyproject.toml"
    outside.write_text('[tool.mlsec]\nignore = ["ALL"]\n')
    try:
        out = await lint(jp_fetch, nb("import pickle\npickle.loads(b)\n", path="a.ipynb"))
        assert out["config"] is None
        assert "MLS101" in {d["rule"] for c in out["cells"] for d in c}
    finally:
        outside.unlink()


@pytest.mark.parametrize("path", ["../x.ipynb", "a/../../x.ipynb", "/etc/passwd", "..\\x.ipynb", "C:\\x.ipynb"])
async def test_path_traversal_is_400(jp_fetch, path):
    assert await status_of(jp_fetch("mlsec", "lint", method="POST", body=json.dumps(nb("x=1", path=path)))) == 400


async def test_symlink_out_of_root_is_403(jp_fetch, jp_root_dir, tmp_path_factory):
    elsewhere = tmp_path_factory.mktemp("elsewhere")
    (elsewhere / "pyproject.toml").write_text('[tool.mlsec]\nignore = ["ALL"]\n')
    os.symlink(elsewhere, jp_root_dir / "link")
    body = json.dumps(nb("import pickle\npickle.loads(b)\n", path="link/a.ipynb"))
    assert await status_of(jp_fetch("mlsec", "lint", method="POST", body=body)) == 403


async def test_symlinked_pyproject_leading_out_of_root_is_not_read(jp_fetch, jp_root_dir, tmp_path_factory):
    elsewhere = tmp_path_factory.mktemp("elsewhere2")
    (elsewhere / "pyproject.toml").write_text('[tool.mlsec]\nignore = ["ALL"]\n')
    (jp_root_dir / "p").mkdir()
    os.symlink(elsewhere / "pyproject.toml", jp_root_dir / "p" / "pyproject.toml")
    out = await lint(jp_fetch, nb("import pickle\npickle.loads(b)\n", path="p/a.ipynb"))
    assert out["config"] is None and "MLS101" in {d["rule"] for c in out["cells"] for d in c}


# -- rules ------------------------------------------------------------------------------------


async def test_rule_explanation(jp_fetch):
    r = await jp_fetch("mlsec", "rules", "MLS101")
    meta = json.loads(r.body)
    assert meta["id"] == "MLS101" and meta["explanation"] and meta["severity"] == "high"
    r = await jp_fetch("mlsec", "rules")
    assert "MLS101" in {m["id"] for m in json.loads(r.body)["rules"]}
    assert await status_of(jp_fetch("mlsec", "rules", "NOPE999")) == 404


async def test_lint_runs_off_the_event_loop(jp_fetch, monkeypatch):
    """A slow analysis must not block the server: other requests are answered meanwhile."""
    import threading
    import time

    from mlsec.lab import handlers

    real = handlers.lint
    seen = {}

    def slow(*a, **kw):
        seen["thread"] = threading.current_thread().name
        time.sleep(1.0)
        return real(*a, **kw)

    monkeypatch.setattr(handlers, "lint", slow)
    task = asyncio.ensure_future(jp_fetch("mlsec", "lint", method="POST", body=json.dumps(nb("x = 1"))))
    await asyncio.sleep(0.1)
    t0 = time.perf_counter()
    r = await jp_fetch("api", "status")
    assert r.code == 200 and time.perf_counter() - t0 < 0.8
    assert (await task).code == 200
    assert seen["thread"].startswith("mlsec-lint")


async def test_notebook_metadata_is_scanned_and_masked(jp_fetch):
    out = await lint(jp_fetch, nb("x = 1", metadata={"colab": {"token": TOKEN}}))
    assert any(d["category"] == "secrets" for d in out["notebook"])
    assert TOKEN not in json.dumps(out)


# -- fromDisk: the lint the frontend asks for while JupyterLab is still rendering the notebook ---


def _write_notebook(path, cells, metadata=None):
    nbjson = {"nbformat": 4, "nbformat_minor": 5, "metadata": metadata or {"language_info": {"name": "python"}},
              "cells": [{"id": c["id"], "cell_type": "code", "source": c["source"], "metadata": {},
                         "outputs": c.get("outputs", []), "execution_count": None} for c in cells]}
    path.write_text(json.dumps(nbjson), encoding="utf-8")


async def test_from_disk_gives_what_the_same_cells_sent_inline_give(jp_fetch, jp_root_dir):
    payload = nb("import pickle as pk\n", 'note = "🐍"; obj = pk.load(open("m.pkl", "rb"))\n', f'token = "{TOKEN}"\n')
    payload["cells"][2]["outputs"] = [{"output_type": "stream", "name": "stdout", "text": f"{TOKEN}\n"}]
    (jp_root_dir / "sub").mkdir()
    _write_notebook(jp_root_dir / "sub" / "disk.ipynb", payload["cells"])
    inline = await lint(jp_fetch, {**payload, "path": "sub/disk.ipynb"})
    r = await jp_fetch("mlsec", "lint", method="POST",
                       body=json.dumps({"path": "sub/disk.ipynb", "fromDisk": True, "cells": []}))
    assert TOKEN not in r.body.decode()
    disk = json.loads(r.body)
    from mlsec.lab.handlers import source_key

    assert disk["sourceKeys"] == [source_key(c["source"]) for c in payload["cells"]]
    assert disk["cells"] == inline["cells"]
    assert any(d["inOutput"] for d in disk["cells"][2])


async def test_from_disk_honours_the_notebooks_ignore_list(jp_fetch, jp_root_dir):
    cells = [{"id": "a", "source": "import pickle\nobj = pickle.loads(data)\n"}]
    _write_notebook(jp_root_dir / "ign.ipynb", cells, {"mlsec": {"ignore": ["MLS101", "B301", "B403"]}})
    out = await lint(jp_fetch, {"path": "ign.ipynb", "fromDisk": True})
    assert out["cells"] == [[]]


async def test_from_disk_bad_requests(jp_fetch, jp_root_dir, body_limit):
    async def status(body):
        return await status_of(jp_fetch("mlsec", "lint", method="POST", body=json.dumps(body)))

    assert await status({"fromDisk": True, "path": ""}) == 400
    assert await status({"fromDisk": "yes", "path": "x.ipynb"}) == 400
    assert await status({"fromDisk": True, "path": "x.ipynb", "cells": [{"source": "x"}]}) == 400
    assert await status({"fromDisk": True, "path": "missing.ipynb"}) == 404
    assert await status({"fromDisk": True, "path": "../x.ipynb"}) == 400
    (jp_root_dir / "big.ipynb").write_text(" " * (body_limit + 10))
    assert await status({"fromDisk": True, "path": "big.ipynb"}) == 413
    # not a notebook: an error entry, no crash
    (jp_root_dir / "bad.ipynb").write_text("{not json")
    out = await lint(jp_fetch, {"fromDisk": True, "path": "bad.ipynb"})
    assert out["cells"] == [] and "invalid notebook JSON" in out["errors"][0]["message"]


def test_source_key_counts_utf16_units():
    from mlsec.lab.handlers import source_key

    assert source_key("") == "0:811c9dc5"
    assert source_key("a") == "1:e40c292c"  # FNV-1a of the single unit 0x61
    assert source_key("🐍").startswith("2:") and source_key("ab") != source_key("ba")


async def test_from_disk_symlink_out_of_root_is_403(jp_fetch, jp_root_dir, tmp_path_factory):
    outside = tmp_path_factory.mktemp("outside") / "secret.ipynb"
    _write_notebook(outside, [{"id": "a", "source": "x = 1\n"}])
    os.symlink(outside, jp_root_dir / "link.ipynb")
    assert await status_of(jp_fetch("mlsec", "lint", method="POST",
                                    body=json.dumps({"fromDisk": True, "path": "link.ipynb"}))) == 403
