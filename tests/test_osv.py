"""The optional OSV check (`mlsec.osv`) against a local OSV-like server on 127.0.0.1: batching, pagination,
merging with the offline table, the disk cache, and every failure falling back to the offline results.
No test touches the network."""
from __future__ import annotations

import http.server
import json
import os
import socket
import threading
import time
import urllib.error
import urllib.request

import pytest

from mlsec import components, osv
from mlsec.config import ConfigError, config_from_table
from mlsec.findings import Severity

HIGH_VECTOR = "CVSS:3.1/AV:N/AC:L/PR:N/UI:R/S:U/C:H/I:H/A:N"  # 8.1

OFFLINE = {"advisories": [
    {"id": "PYSEC-1", "aliases": ["CVE-1", "GHSA-aaaa"], "package": "torch", "spec": ["<2.6.0"],
     "fixed": ["2.6.0"], "summary": "offline torch advisory", "cvss": 9.8},
    {"id": "PYSEC-9", "package": "pyyaml", "spec": ["<5.4"], "fixed": ["5.4"], "summary": "offline only"},
]}


def record(vid, package, events, *, aliases=(), severity=None, db_severity=None, summary="", details="",
           ecosystem="PyPI"):
    rec = {"id": vid, "aliases": list(aliases), "summary": summary, "details": details,
           "affected": [{"package": {"name": package, "ecosystem": ecosystem},
                         "ranges": [{"type": "ECOSYSTEM", "events": events}]}],
           "references": [{"type": "WEB", "url": f"https://example.org/{vid}"},
                          {"type": "ADVISORY", "url": f"https://github.com/advisories/{vid}"}]}
    if severity:
        rec["severity"] = [{"type": "CVSS_V3", "score": severity}]
    if db_severity:
        rec["database_specific"] = {"severity": db_severity}
    return rec


VULNS = {
    "PYSEC-1": record("PYSEC-1", "torch", [{"introduced": "0"}, {"fixed": "2.6.0"}], aliases=["CVE-1", "GHSA-aaaa"]),
    "GHSA-aaaa": record("GHSA-aaaa", "torch", [{"introduced": "0"}, {"fixed": "2.6.0"}], aliases=["CVE-1"],
                        db_severity="CRITICAL"),
    "GHSA-bbbb": record("GHSA-bbbb", "torch", [{"introduced": "1.0"}, {"fixed": "2.7.0"}], severity=HIGH_VECTOR,
                        summary="torch thing fixed in 2.7"),
    "GHSA-cccc": record("GHSA-cccc", "safetensors", [{"introduced": "0"}, {"last_affected": "0.3.9"}],
                        db_severity="CRITICAL", details="Header parsing overflows. More text here."),
}
INDEX = {
    ("torch", "2.0.0"): ["PYSEC-1", "GHSA-aaaa", "GHSA-bbbb"],
    ("safetensors", "0.3.0"): ["GHSA-cccc"],
}


class OsvServer:
    """A tiny OSV: POST /v1/querybatch (page_size ids per query, then next_page_token), GET /v1/vulns/ID."""

    def __init__(self):
        self.calls: list[tuple[str, object]] = []
        self.mode = "ok"  # ok | 500 | badjson | sleep
        self.page_size = 2
        self.index = dict(INDEX)
        self.vulns = dict(VULNS)
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *a):
                pass

            def _send(self, code, body):
                data = body if isinstance(body, bytes) else json.dumps(body).encode()
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _misbehave(self):
                if server.mode == "sleep":
                    time.sleep(1.5)
                if server.mode == "500":
                    self._send(500, {"error": "boom"})
                    return True
                if server.mode == "badjson":
                    self._send(200, b"<html>not json")
                    return True
                return False

            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                server.calls.append((self.path, body))
                if self._misbehave():
                    return
                results = []
                for q in body["queries"]:
                    ids = server.index.get((q["package"]["name"], q["version"]), [])
                    start = int(q.get("page_token") or 0)
                    res = {"vulns": [{"id": i, "modified": "2026-01-01T00:00:00Z"}
                                     for i in ids[start:start + server.page_size]]}
                    if start + server.page_size < len(ids):
                        res["next_page_token"] = str(start + server.page_size)
                    results.append(res if res["vulns"] else {})
                self._send(200, {"results": results})

            def do_GET(self):
                server.calls.append((self.path, None))
                if self._misbehave():
                    return
                vid = self.path.rsplit("/", 1)[-1]
                if vid in server.vulns:
                    self._send(200, server.vulns[vid])
                else:
                    self._send(404, {"code": 5, "message": "Bug not found."})

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.httpd.block_on_close = False
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def batches(self):
        return [b for p, b in self.calls if p == "/v1/querybatch"]

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture(autouse=True)
def _isolated(monkeypatch, tmp_path):
    """No proxy in the way of 127.0.0.1, and no cache outside tmp_path."""
    for var in ("http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    monkeypatch.delenv(osv.URL_ENV, raising=False)


@pytest.fixture
def server():
    s = OsvServer()
    yield s
    s.close()


@pytest.fixture
def table():
    return components.AdvisoryTable(components.parse_table(OFFLINE), source="test")


PACKAGES = [("torch", "2.0.0"), ("Safetensors", "0.3.0"), ("numpy", "2.0.0"), ("PyYAML", "5.3")]


def by_package(report):
    return {v.package: v for v in report.vulnerable}


# ---------------------------------------------------------------------------------------------
# online results


def test_query_merges_osv_with_offline_table_and_dedupes_aliases(server, table, tmp_path):
    rep = osv.query(PACKAGES, url=server.url, table=table, cache_dir=str(tmp_path / "c"))
    assert rep.message == "" and rep.online and rep.checked == 4 and rep.osv_ids == 4
    got = by_package(rep)
    assert set(got) == {"torch", "safetensors", "pyyaml"}  # numpy: nothing offline or online
    torch = got["torch"]
    assert [a.id for a in torch.advisories] == ["PYSEC-1", "GHSA-bbbb"]  # GHSA-aaaa is PYSEC-1's twin
    first = torch.advisories[0]
    assert first.source == "offline table + osv" and "GHSA-aaaa" in first.aliases and first.cvss == 9.8
    second = torch.advisories[1]
    assert second.source == "osv" and second.cvss == 8.1 and second.severity is Severity.HIGH
    assert second.specs == (">=1.0,<2.7.0",) and second.ref == "https://github.com/advisories/GHSA-bbbb"
    assert torch.upgrade_to == "2.7.0"  # 2.6.0 fixes PYSEC-1 but not GHSA-bbbb
    st = got["safetensors"].advisories[0]
    assert (st.id, st.source, st.severity, st.cvss) == ("GHSA-cccc", "osv", Severity.CRITICAL, None)
    assert st.summary == "Header parsing overflows." and st.specs == ("<=0.3.9",)
    assert got["pyyaml"].advisories[0].source == "offline table"
    assert rep.vulnerable[0].severity is Severity.CRITICAL
    assert got["torch"].to_dict()["advisories"][1]["source"] == "osv"


def test_pagination_follows_next_page_token_for_the_queries_that_have_one(server, table, tmp_path):
    osv.query(PACKAGES, url=server.url, table=table, cache_dir=str(tmp_path / "c"))
    batches = server.batches()
    assert len(batches) == 2
    assert len(batches[0]["queries"]) == 4 and not any("page_token" in q for q in batches[0]["queries"])
    assert batches[1]["queries"] == [{"package": {"name": "torch", "ecosystem": "PyPI"}, "version": "2.0.0",
                                      "page_token": "2"}]
    fetched = sorted(p for p, b in server.calls if p.startswith("/v1/vulns/"))
    assert fetched == ["/v1/vulns/GHSA-aaaa", "/v1/vulns/GHSA-bbbb", "/v1/vulns/GHSA-cccc", "/v1/vulns/PYSEC-1"]


def test_queries_are_sent_in_batches_of_the_limit(server, table, tmp_path, monkeypatch):
    monkeypatch.setattr(osv, "BATCH_LIMIT", 2)
    server.page_size = 10
    pkgs = [(f"pkg{i}", "1.0") for i in range(5)]
    rep = osv.query(pkgs, url=server.url, table=table, cache_dir=str(tmp_path / "c"))
    assert rep.message == "" and rep.vulnerable == []
    assert [len(b["queries"]) for b in server.batches()] == [2, 2, 1]
    assert rep.requests == 3


def test_a_missing_record_is_listed_by_id_and_said(server, table, tmp_path):
    server.index[("torch", "2.0.0")] = ["GHSA-gone"]
    rep = osv.query([("torch", "2.0.0")], url=server.url, table=table, cache_dir=str(tmp_path / "c"))
    ids = [a.id for a in by_package(rep)["torch"].advisories]
    assert ids == ["PYSEC-1", "GHSA-gone"]
    gone = by_package(rep)["torch"].advisories[1]
    assert gone.source == "osv" and "details not fetched" in gone.summary and "HTTP 404" in gone.summary
    assert not rep.online and "details of 1 of 1 advisories not fetched" in rep.message


def test_records_for_other_ecosystems_or_packages_are_not_used():
    rec = record("X-1", "torch", [{"introduced": "0"}], ecosystem="npm")
    assert osv.to_advisory(rec, "torch") is None
    assert osv.to_advisory(record("X-2", "other", [{"introduced": "0"}]), "torch") is None
    adv = osv.to_advisory(record("X-3", "Torch", [{"introduced": "0"}]), "torch")
    assert adv.specs == ("*",) and adv.matches("99.0")
    assert osv.events_to_specs([{"introduced": "1.0"}, {"fixed": "1.2"}, {"introduced": "2.0"}]) == [
        ">=1.0,<1.2", ">=2.0"]


# ---------------------------------------------------------------------------------------------
# cache


def test_second_query_is_answered_from_the_cache(server, table, tmp_path):
    cache = str(tmp_path / "c")
    first = osv.query(PACKAGES, url=server.url, table=table, cache_dir=cache)
    n = len(server.calls)
    second = osv.query(PACKAGES, url=server.url, table=table, cache_dir=cache)
    assert len(server.calls) == n  # the server was not asked again
    assert second.requests == 0 and second.cached == 4 + 4  # 4 queries + 4 records
    assert [v.to_dict() for v in second.vulnerable] == [v.to_dict() for v in first.vulnerable]


def test_default_cache_dir_honours_xdg_cache_home(server, table, tmp_path):
    assert osv.default_cache_dir() == str(tmp_path / "xdg" / "mlsec" / "osv")
    osv.query(PACKAGES, url=server.url, table=table)
    assert len(os.listdir(tmp_path / "xdg" / "mlsec" / "osv")) == 8


def test_cache_entries_expire_after_a_day(server, table, tmp_path, monkeypatch):
    cache = str(tmp_path / "c")
    osv.query(PACKAGES, url=server.url, table=table, cache_dir=cache)
    n = len(server.calls)
    later = time.time() + 23 * 3600
    monkeypatch.setattr(osv, "_now", lambda: later)
    osv.query(PACKAGES, url=server.url, table=table, cache_dir=cache)
    assert len(server.calls) == n
    later = time.time() + 25 * 3600
    monkeypatch.setattr(osv, "_now", lambda: later)
    rep = osv.query(PACKAGES, url=server.url, table=table, cache_dir=cache)
    assert len(server.calls) == 2 * n and rep.cached == 0


def test_corrupt_cache_entries_are_ignored(server, table, tmp_path):
    cache = tmp_path / "c"
    osv.query(PACKAGES, url=server.url, table=table, cache_dir=str(cache))
    n = len(server.calls)
    for i, f in enumerate(sorted(cache.iterdir())):
        f.write_text(["{not json", "[]", '{"key": 1}', '{"key": "x", "time": "soon", "data": 1}'][i % 4])
    rep = osv.query(PACKAGES, url=server.url, table=table, cache_dir=str(cache))
    assert len(server.calls) == 2 * n and rep.message == "" and "torch" in by_package(rep)


# ---------------------------------------------------------------------------------------------
# failures: a message and the offline results


def offline_only(rep):
    return {v.package: [a.id for a in v.advisories] for v in rep.vulnerable} == {
        "torch": ["PYSEC-1"], "pyyaml": ["PYSEC-9"]}


def test_timeout_falls_back_to_the_offline_table(server, table, tmp_path):
    server.mode = "sleep"
    t0 = time.monotonic()
    rep = osv.query(PACKAGES, url=server.url, table=table, cache_dir=str(tmp_path / "c"), timeout=0.2)
    assert time.monotonic() - t0 < 1.4
    assert rep.message.startswith("OSV not reachable: ") and rep.message.endswith("; offline table used")
    assert "timed out" in rep.message and offline_only(rep) and not rep.online


def test_http_500_falls_back_to_the_offline_table(server, table, tmp_path):
    server.mode = "500"
    rep = osv.query(PACKAGES, url=server.url, table=table, cache_dir=str(tmp_path / "c"))
    assert "OSV not reachable: HTTP 500" in rep.message and offline_only(rep)
    assert not os.path.exists(tmp_path / "c")  # failures are not cached


def test_bad_json_falls_back_to_the_offline_table(server, table, tmp_path):
    server.mode = "badjson"
    rep = osv.query(PACKAGES, url=server.url, table=table, cache_dir=str(tmp_path / "c"))
    assert "not JSON" in rep.message and "offline table used" in rep.message and offline_only(rep)


def test_unreachable_port_falls_back_to_the_offline_table(table, tmp_path):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    rep = osv.query(PACKAGES, url=f"http://127.0.0.1:{port}", table=table, cache_dir=str(tmp_path / "c"))
    assert rep.message.startswith(f"OSV not reachable: http://127.0.0.1:{port}: ") and offline_only(rep)


def test_a_wrong_shaped_answer_falls_back(server, table, tmp_path, monkeypatch):
    class Resp:
        def __init__(self, body):
            self.body = body

        def read(self):
            return self.body

        def __enter__(self):
            return self

        def __exit__(self, *a):
            return False

    rep = osv.query(PACKAGES, url="http://osv.invalid", table=table, cache_dir=str(tmp_path / "c"),
                    opener=lambda req, timeout: Resp(b'{"results": []}'))
    assert "unexpected querybatch answer" in rep.message and offline_only(rep)


# ---------------------------------------------------------------------------------------------
# off by default


def test_nothing_calls_the_network_unless_asked(monkeypatch, tmp_path):
    calls = []

    def no_network(*a, **k):
        calls.append(a)
        raise urllib.error.URLError("network blocked by the test")

    monkeypatch.setattr(urllib.request, "urlopen", no_network)
    assert config_from_table({}).osv is False
    _, checked = components.check_installed()
    assert checked > 0 and calls == []
    # the same guard sees the online path when it is asked for (so the check above can fail)
    rep = osv.query([("torch", "2.0.0")], cache_dir=str(tmp_path / "c"))
    assert len(calls) == 1 and "network blocked by the test" in rep.message


def test_config_key_osv_is_validated():
    assert config_from_table({"osv": True}).osv is True
    with pytest.raises(ConfigError, match="osv: must be true or false"):
        config_from_table({"osv": "yes"})
    assert config_from_table({"osv": True}).fingerprint() == config_from_table({}).fingerprint()


# ---------------------------------------------------------------------------------------------
# %mlsec env --osv


@pytest.fixture(scope="module")
def _shell():
    pytest.importorskip("IPython")
    from IPython.core.interactiveshell import InteractiveShell

    existed = InteractiveShell.initialized()
    shell = InteractiveShell.instance()
    yield shell
    if not existed:
        InteractiveShell.clear_instance()


@pytest.fixture
def ip(_shell, tmp_path, monkeypatch):
    import IPython

    table = {"advisories": [{"id": "TEST-1", "aliases": ["GHSA-ipy1"], "package": "ipython", "spec": ["<99999"],
                             "fixed": ["99999"], "summary": "offline ipython advisory", "cvss": 5.0}]}
    path = tmp_path / "adv.json"
    path.write_text(json.dumps(table))
    monkeypatch.setenv("MLSEC_ADVISORIES", str(path))
    monkeypatch.chdir(tmp_path)  # no pyproject.toml above: config defaults (osv off)
    _shell.reset(new_session=True)
    if "mlsec" in _shell.extension_manager.loaded:
        _shell.run_line_magic("unload_ext", "mlsec")
    _shell.run_line_magic("load_ext", "mlsec")
    _shell.ipython_version = IPython.__version__
    yield _shell
    _shell.run_line_magic("unload_ext", "mlsec")
    _shell.reset(new_session=True)


def run(shell, code):
    from IPython.utils.capture import capture_output

    with capture_output() as cap:
        res = shell.run_cell(code, store_history=True)
    html = "\n".join(o.data.get("text/html", "") for o in cap.outputs)
    text = cap.stdout + cap.stderr + "\n".join(o.data.get("text/plain", "") for o in cap.outputs)
    return res, html, text


def ipython_server(server, version):
    server.index = {("ipython", version): ["GHSA-ipy1", "GHSA-ipy2"]}
    server.vulns["GHSA-ipy1"] = record("GHSA-ipy1", "ipython", [{"introduced": "0"}, {"fixed": "99999"}])
    server.vulns["GHSA-ipy2"] = record("GHSA-ipy2", "IPython", [{"introduced": "0"}], severity=HIGH_VECTOR,
                                       summary="online-only ipython advisory")


def test_magic_env_osv_end_to_end(ip, server, monkeypatch, tmp_path):
    ipython_server(server, ip.ipython_version)
    monkeypatch.setenv(osv.URL_ENV, server.url)
    res, html, text = run(ip, "%mlsec env")  # off by default: the server is not asked
    assert res.error_in_exec is None and server.calls == []
    assert [a.id for a in ip.user_ns["_mlsec_env"][0].advisories] == ["TEST-1"]
    res, html, text = run(ip, "%mlsec env --osv")
    assert res.error_in_exec is None and server.batches()
    vul = {v.package: v for v in ip.user_ns["_mlsec_env"]}["ipython"]
    assert [(a.id, a.source) for a in vul.advisories] == [("TEST-1", "offline table + osv"), ("GHSA-ipy2", "osv")]
    assert vul.severity is Severity.HIGH and vul.upgrade_to is None  # GHSA-ipy2 has no fix
    assert "GHSA-ipy2" in html and "[osv]" in html and "online-only ipython advisory" in html
    assert "GHSA-ipy2 [osv]" in text and "OSV (osv.dev): 2 matching records" in text
    assert (tmp_path / "xdg" / "mlsec" / "osv").is_dir()


def test_magic_env_osv_unreachable_says_so_and_shows_offline_results(ip, monkeypatch):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    monkeypatch.setenv(osv.URL_ENV, f"http://127.0.0.1:{port}")
    res, _, text = run(ip, "%mlsec env --osv")
    assert res.error_in_exec is None
    assert "OSV not reachable" in text and "offline table used" in text
    assert [a.id for a in {v.package: v for v in ip.user_ns["_mlsec_env"]}["ipython"].advisories] == ["TEST-1"]
    res, _, text = run(ip, "%mlsec env --online")
    assert type(res.error_in_exec).__name__ == "UsageError" and "--osv" in text


def test_magic_env_uses_osv_when_the_project_config_says_so(ip, server, monkeypatch, tmp_path):
    ipython_server(server, ip.ipython_version)
    monkeypatch.setenv(osv.URL_ENV, server.url)
    (tmp_path / "pyproject.toml").write_text("[tool.mlsec]\nosv = true\n")
    run(ip, "%mlsec env")
    assert server.batches()
    assert "GHSA-ipy2" in [a.id for v in ip.user_ns["_mlsec_env"] for a in v.advisories]
    n = len(server.calls)
    run(ip, "%mlsec env --no-osv")
    assert len(server.calls) == n
    assert "GHSA-ipy2" not in [a.id for v in ip.user_ns["_mlsec_env"] for a in v.advisories]


# ---------------------------------------------------------------------------------------------
# mlsec deps


@pytest.fixture
def cli_env(tmp_path, monkeypatch):
    path = tmp_path / "adv.json"
    path.write_text(json.dumps(OFFLINE))
    monkeypatch.setenv("MLSEC_ADVISORIES", str(path))
    monkeypatch.chdir(tmp_path)
    req = tmp_path / "requirements.txt"
    req.write_text("torch==2.0.0  # pinned\nsafetensors[torch] == 0.3.0 ; python_version > '3'\n"
                   "numpy>=1.0\n-r other.txt\nPyYAML==5.3 \\\n    --hash=sha256:abc\n")
    return req


def test_deps_cli_checks_requirements_pins_offline_by_default(cli_env, server, monkeypatch, capsys):
    from mlsec.cli import main

    monkeypatch.setenv(osv.URL_ENV, server.url)
    assert main(["deps", str(cli_env)]) == 1
    out = capsys.readouterr().out
    assert server.calls == []
    assert "3 packages checked" in out and "1 requirement lines are not exact pins" in out
    assert "torch 2.0.0: 1 advisories (PYSEC-1)" in out and "pyyaml 5.3" in out and "safetensors" not in out


def test_deps_cli_osv_json(cli_env, server, monkeypatch, capsys):
    from mlsec.cli import main

    monkeypatch.setenv(osv.URL_ENV, server.url)
    assert main(["deps", "--osv", "--format", "json", str(cli_env)]) == 1
    data = json.loads(capsys.readouterr().out)
    got = {v["package"]: [(a["id"], a["source"]) for a in v["advisories"]] for v in data["vulnerable"]}
    assert got == {"torch": [("PYSEC-1", "offline table + osv"), ("GHSA-bbbb", "osv")],
                   "safetensors": [("GHSA-cccc", "osv")], "pyyaml": [("PYSEC-9", "offline table")]}
    assert data["osv"] == {"used": True, "message": ""} and data["checked"] == 3


def test_deps_cli_osv_from_config_and_unreachable(cli_env, monkeypatch, capsys, tmp_path):
    from mlsec.cli import main

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    monkeypatch.setenv(osv.URL_ENV, f"http://127.0.0.1:{port}")
    (tmp_path / "pyproject.toml").write_text("[tool.mlsec]\nosv = true\n")
    assert main(["deps", str(cli_env)]) == 1
    cap = capsys.readouterr()
    assert "mlsec: warning: OSV not reachable" in cap.err and "offline table used" in cap.err
    assert "torch 2.0.0: 1 advisories (PYSEC-1)" in cap.out
    (tmp_path / "pyproject.toml").write_text("[tool.mlsec]\nosv = 1\n")
    assert main(["deps", str(cli_env)]) == 2
    assert "osv: must be true or false" in capsys.readouterr().err
    assert main(["deps", str(tmp_path / "missing.txt"), "--no-osv"]) == 2


def test_deps_cli_installed_packages(cli_env, monkeypatch, capsys, tmp_path):
    IPython = pytest.importorskip("IPython")
    from mlsec.cli import main

    (tmp_path / "adv.json").write_text(json.dumps({"advisories": [
        {"id": "TEST-1", "package": "ipython", "spec": [f"<={IPython.__version__}"], "summary": "x"}]}))
    assert main(["deps"]) == 1
    out = capsys.readouterr().out
    assert "(installed)" in out and f"ipython {IPython.__version__}: 1 advisories (TEST-1)" in out


def test_checklist_uses_osv_only_when_the_project_config_says_so(ip, server, monkeypatch, tmp_path):
    import mlsec.checklist as cl

    monkeypatch.setattr(cl, "session_probe_results", lambda: ([], None))
    (tmp_path / "adv.json").write_text(json.dumps({"advisories": []}))
    monkeypatch.setenv("MLSEC_ADVISORIES", str(tmp_path / "adv.json"))
    ipython_server(server, ip.ipython_version)
    monkeypatch.setenv(osv.URL_ENV, server.url)

    def component_evidence():
        run(ip, "%mlsec checklist")
        items = ip.user_ns["_mlsec_checklist"].items
        return " ".join(e for it in items if it.practice.components for e in it.evidence)

    assert "installed packages: no known advisories" in component_evidence() and server.calls == []
    (tmp_path / "pyproject.toml").write_text("[tool.mlsec]\nosv = true\n")
    assert f"ipython {ip.ipython_version}" in component_evidence() and server.batches()


def test_deps_cli_follows_requirement_includes(cli_env, capsys, tmp_path):
    from mlsec.cli import main

    (tmp_path / "sub").mkdir()
    top = tmp_path / "req-top.txt"
    top.write_text("-r sub/base.txt\nnumpy==1.26.0 \\\n    --hash=sha256:abc\n--requirement=sub/more.txt\n"
                   "-r https://example.com/r.txt\n-r missing.txt  # gone\n")
    (tmp_path / "sub" / "base.txt").write_text("torch==2.0.0\n-rmore.txt\n")
    (tmp_path / "sub" / "more.txt").write_text("-r ../req-top.txt\nPyYAML==5.3\nrequests>=2\n")
    assert main(["deps", "--no-osv", str(top)]) == 1
    cap = capsys.readouterr()
    assert "3 packages checked" in cap.out and "1 requirement lines are not exact pins" in cap.out
    assert "torch 2.0.0: 1 advisories (PYSEC-1)" in cap.out and "pyyaml 5.3" in cap.out
    # line numbers count the file's own lines (the continuation of line 2 is line 3)
    assert f"{top}:5: -r https://example.com/r.txt: a URL, not fetched" in cap.err
    assert f"{top}:6: -r missing.txt: cannot read:" in cap.err
    assert cap.err.count("mlsec: warning:") == 2  # the include cycle is read once, silently
