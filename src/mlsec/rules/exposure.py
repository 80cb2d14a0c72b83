"""Exposed services: notebook servers, demo apps, dashboards and sockets reachable by other people.

A notebook kernel runs code for whoever can reach the servers it starts. These rules look for the
settings that make a server reachable from the network without authentication: Jupyter without a
token or bound to every interface, Flask's debugger, gradio share links, TensorBoard / MLflow / Ray
dashboards bound to all interfaces, raw sockets, public tunnels. Unlike bandit's B104 they never
flag a "0.0.0.0" string by itself: only where a server binds it.
"""
from __future__ import annotations

import re

from ..findings import Category, Confidence, Severity, Stage
from . import fixes
from .base import Call, Invalid, Rule, Valid, is_true, literal, MISSING, register, string_value
from .supply_chain import ShellCommand, option_values, shell_commands, word_span

PUBLIC_HOSTS = frozenset({"0.0.0.0", "::", "*", "[::]", "0:0:0:0:0:0:0:0"})
BIND_ALL = PUBLIC_HOSTS | {""}  # for sockets, "" is INADDR_ANY
_TRUE_WORDS = ("true", "1", "yes", "on")
_WRITEFILE_NOTE = ("in a %%writefile cell: code written out to run elsewhere; inside a container binding all "
                   "interfaces is normal, so make sure only the intended port is published")


def host_value(node, ctx) -> str | None:
    """A host argument as a string: a literal, or a name assigned a literal earlier in this cell."""
    v = string_value(node)
    if v is not None:
        return v
    from .base import dotted_name

    name = dotted_name(node)
    if name and "." not in name:
        for value in reversed(ctx.local_values(name)):
            s = string_value(value)
            if s is not None:
                return s
    return None


def imported(ctx, prefix: str) -> bool:
    """Whether any module or name under `prefix` was imported earlier in the notebook."""
    return any(q == prefix or q.startswith(prefix + ".") for q in ctx.context.imported())


def unresolved_method(call: Call, method: str) -> bool:
    """`x.method(...)` where `x` is a plain name mlsec could not type (defined in a multi-line `with`...)."""
    return (call.qualname is None and call.dotted is not None and call.dotted.count(".") == 1
            and call.name == method)


def _truthy_word(v: str | None) -> bool:
    return v is not None and v.strip().strip("'\"").lower() in _TRUE_WORDS


def _falsy_word(v: str | None) -> bool:
    return v is not None and v.strip().strip("'\"").lower() in ("false", "0", "no", "off")


def _empty_word(v: str | None) -> bool:
    return v is not None and v.strip() in ("", "''", '""', "u''", 'u""')


def _host_only(v: str) -> str:
    """`0.0.0.0:8000` -> `0.0.0.0`; `[::]:80` -> `[::]`; `unix:/x` stays."""
    v = v.strip().strip("'\"")
    if v.startswith("[") and "]" in v:
        return v[: v.index("]") + 1]
    if v.count(":") == 1:
        return v.split(":", 1)[0]
    return v


_LOOPBACK = {"0.0.0.0": "127.0.0.1", "*": "127.0.0.1", "": "127.0.0.1", "::": "::1", "[::]": "[::1]",
             "0:0:0:0:0:0:0:0": "::1"}


def loopback_edit(node):
    """Edit turning a literal public host (`"0.0.0.0"`, `"0.0.0.0:8000"`, `"::"`) into loopback; None otherwise."""
    import libcst as cst

    v = string_value(node)
    if v is None or not isinstance(node, cst.SimpleString) or "b" in node.prefix.lower():
        return None  # a name, a concatenation, bytes
    host = _host_only(v)
    if host not in _LOOPBACK or host not in v:
        return None
    return fixes.replace(node, fixes.same_quotes(node, v.replace(host, _LOOPBACK[host], 1)))


def _severity_writefile(ctx, sev: Severity) -> tuple[Severity, list[str]]:
    if ctx.code.cell_magic in ("writefile", "file"):
        return Severity.LOW, [_WRITEFILE_NOTE]
    return sev, []


# ---------------------------------------------------------------------------------------------
# Jupyter: command lines and config code

_JUPYTER_SUBCOMMANDS = ("notebook", "lab", "server", "nbclassic")
_JUPYTER_PROGRAMS = {"jupyter-notebook": [], "jupyter-lab": [], "jupyter-server": [], "jupyter-nbclassic": [],
                     "notebook": [], "jupyterlab": [], "jupyter_server": [], "nbclassic": []}
_JUPYTER_CLASSES = ("NotebookApp", "ServerApp", "LabApp", "LabServerApp", "IdentityProvider",
                    "PasswordIdentityProvider", "NBClassicApp")
_JUPYTER_VALUE_KEYS = {"ip", "port", "token", "password", "hashed_password", "allow_origin", "allow_origin_pat",
                       "notebook-dir", "notebook_dir", "config", "certfile", "keyfile", "root_dir", "ServerApp.root_dir"}
_CONFIG_ASSIGN_RE = re.compile(r"^\w+\.(?:%s)\.(?P<key>\w+)$" % "|".join(_JUPYTER_CLASSES))
_CONFIG_TEXT_RE = re.compile(
    r"\bc\.(?:%s)\.(?P<key>\w+)\s*=\s*(?P<value>u?'[^'\n]*'|u?\"[^\"\n]*\"|\\?'\\?'|\\?\"\\?\"|[\w.*:]+)"
    % "|".join(_JUPYTER_CLASSES)
)


def jupyter_args(cmd: ShellCommand) -> list[str] | None:
    """The option words of a command that starts a Jupyter server, else None."""
    if cmd.program == "jupyter" and cmd.args[:1] and cmd.args[0] in _JUPYTER_SUBCOMMANDS:
        return cmd.args[1:]
    if cmd.program in _JUPYTER_PROGRAMS:
        return cmd.args
    return None


def jupyter_settings(args: list[str]) -> list[tuple[str, str | None, str]]:
    """(key, value, word as written): `--ip=0.0.0.0`, `--ServerApp.token=''`, `--allow-root` -> ('allow_root', None)."""
    out = []
    i = 0
    while i < len(args):
        w = args[i]
        if not w.startswith("--"):
            i += 1
            continue
        name, eq, value = w[2:].partition("=")
        cls, dot, trait = name.rpartition(".")
        key = trait if dot and cls in _JUPYTER_CLASSES else name
        key = key.replace("-", "_") if key in ("allow-root", "no-browser") else key
        if eq:
            out.append((key, value, w))
        elif (dot or key in _JUPYTER_VALUE_KEYS) and i + 1 < len(args) and not args[i + 1].startswith("--"):
            out.append((key, args[i + 1], w))
            i += 1
        else:
            out.append((key, None, w))
        i += 1
    return out


def _config_assigns(ctx) -> dict[str, tuple[str | None, object]]:
    """`c.ServerApp.token = ''` style assignments of this cell: key -> (string value or 'True'/'False', node)."""
    out: dict[str, tuple[str | None, object]] = {}
    for a in ctx.assigns:
        m = _CONFIG_ASSIGN_RE.match(a.target)
        if not m or a.resolved_target is not None:
            continue
        v = literal(a.value)
        out[m.group("key")] = (None if v is MISSING else str(v), a.node)
    return out


def _jupyter_problems(settings) -> dict[str, tuple[str, str]]:
    """What is wrong in (key, value, word) settings: problem -> (word, detail)."""
    found: dict[str, tuple[str, str]] = {}
    password_set = any(k in ("password", "hashed_password") and v is not None and not _empty_word(v)
                       for k, v, _ in settings)
    for key, value, word in settings:
        if key == "token" and _empty_word(value) and not password_set:
            found.setdefault("no_auth", (word, "an empty token"))
        elif key == "ip" and value is not None and value.strip().strip("'\"") in PUBLIC_HOSTS:
            found.setdefault("public_ip", (word, value.strip("'\"")))
        elif key == "disable_check_xsrf" and _truthy_word(value):
            found.setdefault("xsrf", (word, "disable_check_xsrf"))
        elif key == "allow_origin" and value is not None and value.strip().strip("'\"") == "*":
            found.setdefault("origin", (word, "allow_origin='*'"))
        elif key == "allow_origin_pat" and value is not None and value.strip().strip("'\"") in (".*", ".+", "^.*$"):
            found.setdefault("origin", (word, f"allow_origin_pat={value}"))
        elif key == "allow_root" and (value is None or _truthy_word(value)):
            found.setdefault("root", (word, "--allow-root"))
    return found


def _jupyter_specials(special):
    """(problems, ShellCommand) for every Jupyter server command or `echo "c.X.y = ..."` in a shell line."""
    if special.kind == "magic" or special.kind == "help":
        return
    for cmd in shell_commands(special):
        args = jupyter_args(cmd)
        if args is not None:
            yield _jupyter_problems(jupyter_settings(args))
    if "c." in special.text:
        settings = []
        for m in _CONFIG_TEXT_RE.finditer(special.text):
            value = m.group("value").replace("\\", "")
            if value.startswith("u") and value[1:2] in "'\"":
                value = value[1:]
            if value[:1] in "'\"" and value[-1:] == value[:1] and len(value) >= 2:
                value = value[1:-1]
            settings.append((m.group("key"), value, m.group(0)))
        if settings:
            yield _jupyter_problems(settings)


@register
class JupyterNoAuth(Rule):
    id = "MLS501"
    name = "jupyter-no-auth"
    category = Category.EXPOSURE
    severity = Severity.HIGH
    confidence = Confidence.HIGH
    cwe = 306
    stage = Stage.OPERATION
    message = "Jupyter started with {what}: anyone who reaches the port runs code as you"
    fix_hint = "Keep Jupyter's generated token (or set a hashed password with `jupyter server password`); never pass an empty token."
    explanation = """
**Why**: a Jupyter server executes arbitrary code for whoever can open a kernel. Its only protection
is the token (or password). `--NotebookApp.token=''`, `--ServerApp.token=''`,
`--IdentityProvider.token=''` or `c.ServerApp.token = ''` turn that off; cryptominer campaigns scan
the internet for such servers. Bound to every interface (`--ip=0.0.0.0`) it is critical: anyone on
the network or internet gets a shell. Even on localhost, other users of a shared machine and
malicious web pages (via DNS rebinding) can reach it. An empty *password* alone is not reported: the
token still protects the server; it is reported together with an empty token.

**Example**: `!jupyter notebook --ip=0.0.0.0 --NotebookApp.token='' --NotebookApp.password=''`

**Fix**: leave the token at its generated default (it is printed in the startup URL), or set a hashed
password (`jupyter server password`); reach remote servers through an SSH tunnel
(`ssh -L 8888:localhost:8888 host`) instead of opening the port.
"""
    triggers = (r"NotebookApp|ServerApp|IdentityProvider|LabApp",)
    VALID = [
        Valid("!jupyter notebook --no-browser --port=8888"),
        Valid("!jupyter lab --ServerApp.token=abc123longtoken"),
        Valid("!jupyter notebook --NotebookApp.token='' --NotebookApp.password='sha1:abc:def'",
              note="a password still protects it"),
        Valid("c = get_config()\nc.ServerApp.token = os.environ['JUPYTER_TOKEN']"),
        Valid("!jupyter notebook --NotebookApp.password=''", note="the token still applies"),
        Valid("print(\"--NotebookApp.token=''\")"),
    ]
    INVALID = [
        Invalid("!jupyter notebook --NotebookApp.token='' --NotebookApp.password=''", line=1, severity="high"),
        Invalid("!jupyter lab --ip=0.0.0.0 --ServerApp.token= --allow-root", severity="critical"),
        Invalid("!nohup jupyter-lab --IdentityProvider.token='' &"),
        Invalid("!python -m notebook --NotebookApp.token=''"),
        Invalid("%%bash\njupyter server --ServerApp.token=''", line=2),
        Invalid("c = get_config()\nc.NotebookApp.token = ''\nc.NotebookApp.ip = '0.0.0.0'", line=2,
                severity="critical"),
        Invalid("%%writefile jupyter_notebook_config.py\nc.ServerApp.token = ''", line=2),
        Invalid("!echo \"c.NotebookApp.token = ''\" >> ~/.jupyter/jupyter_notebook_config.py"),
    ]

    def check_assign(self, assign, ctx) -> None:
        m = _CONFIG_ASSIGN_RE.match(assign.target)
        if not m or assign.resolved_target is not None or m.group("key") != "token":
            return
        if string_value(assign.value) != "":
            return
        conf = _config_assigns(ctx)
        for key in ("password", "hashed_password"):
            if key in conf and conf[key][0]:
                return
        ip = conf.get("ip", (None, None))[0]
        public = ip is not None and ip.strip() in PUBLIC_HOSTS
        ctx.report(self, assign.node, severity=Severity.CRITICAL if public else self.severity,
                   message=self.message.format(what="an empty token" + (f" on {ip}" if public else "")))

    def check_special(self, special, ctx) -> None:
        for problems in _jupyter_specials(special):
            if "no_auth" not in problems:
                continue
            word, what = problems["no_auth"]
            public = "public_ip" in problems
            s, e = word_span(special, word)
            ctx.report_special(self, special, s, e, severity=Severity.CRITICAL if public else self.severity,
                               message=self.message.format(
                                   what=what + (f" on {problems['public_ip'][1]}" if public else "")))


@register
class JupyterPublicIp(Rule):
    id = "MLS502"
    name = "jupyter-public-ip"
    category = Category.EXPOSURE
    severity = Severity.MEDIUM
    confidence = Confidence.HIGH
    cwe = 1327
    stage = Stage.OPERATION
    message = "Jupyter listens on every network interface (`{what}`): the server is reachable from the network"
    fix_hint = "Bind to 127.0.0.1 (the default) and connect through an SSH tunnel or an authenticated proxy."
    explanation = """
**Why**: `--ip=0.0.0.0` (or `*`, `::`) exposes the Jupyter server, and so code execution, to every
host that can route to the machine: the cloud VPC, the office network, or the internet when the VM
has a public address. The token then becomes the only barrier, and tokens leak through logs,
screenshots, shell history and shared URLs.

**Example**: `!jupyter lab --ip=0.0.0.0 --port=8888`

**Fix**: keep the default `127.0.0.1` and use `ssh -L 8888:localhost:8888 host`, or put the server
behind an authenticating proxy (JupyterHub, cloud IAP). Inside a container that must bind all
interfaces, publish the port on the host's loopback only (`docker run -p 127.0.0.1:8888:8888`).
"""
    triggers = (r"NotebookApp|ServerApp|LabApp",)
    VALID = [
        Valid("!jupyter lab --ip=127.0.0.1 --port=8888"),
        Valid("!jupyter notebook --ip localhost"),
        Valid("c = get_config()\nc.ServerApp.ip = 'localhost'"),
        Valid("host = '0.0.0.0'", note="a string alone is not a bind"),
    ]
    INVALID = [
        Invalid("!jupyter lab --ip=0.0.0.0 --port=8888", line=1, severity="medium"),
        Invalid("!jupyter notebook --ip='*' --no-browser"),
        Invalid("!jupyter notebook --NotebookApp.ip=0.0.0.0"),
        Invalid("!jupyter lab --ip 0.0.0.0"),
        Invalid("c = get_config()\nc.ServerApp.ip = '0.0.0.0'", line=2),
    ]

    def check_assign(self, assign, ctx) -> None:
        m = _CONFIG_ASSIGN_RE.match(assign.target)
        if m and assign.resolved_target is None and m.group("key") == "ip":
            v = string_value(assign.value)
            if v is not None and v.strip() in PUBLIC_HOSTS:
                ctx.report(self, assign.node, message=self.message.format(what=f"ip = {v!r}"))

    def check_special(self, special, ctx) -> None:
        for problems in _jupyter_specials(special):
            if "public_ip" in problems:
                word, _ = problems["public_ip"]
                s, e = word_span(special, word)
                ctx.report_special(self, special, s, e, message=self.message.format(what=word))


@register
class WeakServerOptions(Rule):
    id = "MLS503"
    name = "server-weak-options"
    category = Category.EXPOSURE
    severity = Severity.MEDIUM
    confidence = Confidence.HIGH
    cwe = 352
    stage = Stage.OPERATION
    message = "{server} started with {what}: {why}"
    fix_hint = "Remove the option; allow the specific origin you need instead of `*`, and run as a normal user."
    explanation = """
**Why**: these options remove a browser-side protection of a server that runs code or serves data:
- Jupyter `disable_check_xsrf=True` and `allow_origin='*'` (or `allow_origin_pat='.*'`): any web page
  you visit can send requests to your Jupyter server with your cookies or token, and run code.
- Streamlit `--server.enableCORS false` / `--server.enableXsrfProtection false`: other sites can
  drive the app (upload files, trigger actions) from your browser.
- Jupyter `--allow-root` (low): a kernel compromise becomes root on the machine or container.

**Example**: `!jupyter notebook --NotebookApp.allow_origin='*' --NotebookApp.disable_check_xsrf=True`

**Fix**: drop the option; when a front end on another origin must connect (Colab's local runtime),
allow exactly that origin (`--NotebookApp.allow_origin='https://colab.research.google.com'`).
Run Jupyter as an unprivileged user.
"""
    triggers = (r"NotebookApp|ServerApp|LabApp",)
    VALID = [
        Valid("!jupyter notebook --NotebookApp.allow_origin='https://colab.research.google.com' --port=8888"),
        Valid("!streamlit run app.py --server.port 8501"),
        Valid("!streamlit run app.py --server.enableCORS true"),
        Valid("c = get_config()\nc.ServerApp.disable_check_xsrf = False"),
    ]
    INVALID = [
        Invalid("!jupyter notebook --NotebookApp.allow_origin='*' --NotebookApp.disable_check_xsrf=True", line=1,
                severity="medium"),
        Invalid("!jupyter lab --allow-root", severity="low"),
        Invalid("!streamlit run app.py --server.enableCORS false --server.enableXsrfProtection=false",
                severity="medium"),
        Invalid("c = get_config()\nc.ServerApp.disable_check_xsrf = True", line=2),
        Invalid("c = get_config()\nc.NotebookApp.allow_origin = '*'", line=2),
    ]
    _WHY = {
        "xsrf": (Severity.MEDIUM, "any web page can send requests to it with your credentials"),
        "origin": (Severity.MEDIUM, "any web site can call it from your browser"),
        "root": (Severity.LOW, "a kernel compromise is root on the machine"),
    }

    def check_assign(self, assign, ctx) -> None:
        m = _CONFIG_ASSIGN_RE.match(assign.target)
        if not m or assign.resolved_target is not None:
            return
        v = literal(assign.value)
        value = None if v is MISSING else str(v)
        problems = _jupyter_problems([(m.group("key"), value, assign.target)])
        self._report(problems, "Jupyter", lambda word: {"node": assign.node}, ctx)

    def check_special(self, special, ctx) -> None:
        def at(word):
            s, e = word_span(special, word)
            return {"special": special, "start": s, "end": e}

        for problems in _jupyter_specials(special):
            self._report(problems, "Jupyter", at, ctx)
        for cmd in shell_commands(special):
            if cmd.program != "streamlit" or cmd.args[:1] != ["run"]:
                continue
            hits = []
            for written, value in option_values(cmd.args, ("--server.enableCORS", "--server.enableXsrfProtection")):
                if _falsy_word(value):
                    hits.append(written)
            if hits:
                what = " and ".join(f"`{h.split('=')[0]} false`" for h in hits)
                self._emit(ctx, at(hits[0]), Severity.MEDIUM, "Streamlit", what,
                           "other web sites can drive the app from your browser")

    def _report(self, problems, server, where, ctx) -> None:
        keys = [k for k in ("xsrf", "origin", "root") if k in problems]
        if not keys:
            return
        sev = max(self._WHY[k][0] for k in keys)
        what = " and ".join(f"`{problems[k][1]}`" for k in keys)
        why = "; ".join(self._WHY[k][1] for k in keys)
        self._emit(ctx, where(problems[keys[0]][0]), sev, server, what, why)

    def _emit(self, ctx, where, sev, server, what, why) -> None:
        msg = self.message.format(server=server, what=what, why=why)
        if "node" in where:
            ctx.report(self, where["node"], severity=sev, message=msg)
        else:
            ctx.report_special(self, where["special"], where["start"], where["end"], severity=sev, message=msg)


# ---------------------------------------------------------------------------------------------
# Web apps: Flask debug, servers bound to every interface


def _flask_like(call: Call, ctx, methods: tuple[str, ...]) -> str | None:
    """'flask' / 'dash' when `call` is `app.run(...)` of a Flask or Dash app (resolved, or unresolved with flask imported)."""
    q = call.qualname or ""
    if call.name in methods:
        if q.startswith("flask.Flask()."):
            return "Flask"
        if q.startswith("dash.Dash()."):
            return "Dash"
        if q.startswith(("werkzeug.serving.run_simple", "werkzeug.run_simple")):
            return "Werkzeug"
        if unresolved_method(call, call.name) and imported(ctx, "flask") and call.name == "run":
            return "Flask"
    return None


@register
class FlaskDebug(Rule):
    id = "MLS504"
    name = "flask-debug"
    category = Category.EXPOSURE
    severity = Severity.HIGH
    confidence = Confidence.HIGH
    cwe = 94
    stage = Stage.OPERATION
    message = "{app} runs with `debug=True`: the Werkzeug debugger lets anyone who reaches the app run Python{where}"
    fix_hint = "Remove `debug=True` (use `FLASK_DEBUG` only on your own machine, bound to 127.0.0.1)."
    explanation = """
**Why**: Flask's debug mode enables the Werkzeug interactive debugger: any exception page gets a
Python console in the browser. It is protected only by a PIN derived from machine facts (often
guessable or printed in the notebook output). Reachable from the network (`host="0.0.0.0"`), it is
remote code execution. Dash's `debug=True` and Werkzeug `run_simple(use_debugger=True)` do the
same, as do `flask run --debug` and `FLASK_DEBUG=1`.

**Example**: `app.run(host="0.0.0.0", port=5000, debug=True)`

**Fix**: `app.run()` without `debug`; for auto-reload during development use `flask run --reload` on
127.0.0.1, and serve production with a WSGI server (gunicorn, waitress) without the debugger.
"""
    triggers = (r"debug\s*=\s*True", r"use_debugger")  # every finding needs the keyword: no alias triggers
    bandit_ids = ("B201",)
    # safe: the app serves the same responses; only the interactive debugger and the reloader go
    fixable = "safe"
    VALID = [
        Valid("from flask import Flask\napp = Flask(__name__)\napp.run(port=5000)"),
        Valid("from flask import Flask\napp = Flask(__name__)\napp.run(debug=False)"),
        Valid("demo.launch(debug=True)", note="gradio's debug only blocks the cell and shows errors"),
        Valid("agent.run('task', debug=True)", note="not a Flask app"),
    ]
    INVALID = [
        Invalid("from flask import Flask\napp = Flask(__name__)\napp.run(debug=True)", line=3, severity="high",
                expected_replacement="from flask import Flask\napp = Flask(__name__)\napp.run(debug=False)"),
        Invalid("from flask import Flask\napp = Flask(__name__)\napp.run(host='0.0.0.0', debug=True)",
                severity="critical"),
        Invalid("import dash\napp = dash.Dash(__name__)\napp.run_server(debug=True)"),
        Invalid("from werkzeug.serving import run_simple\nrun_simple('localhost', 5000, app, use_debugger=True)"),
        Invalid("from flask import Flask\ndef create_app():\n    return Flask(__name__)\napp = create_app()\n"
                "app.run(debug=True)", line=5, note="app of unknown type, flask imported"),
        Invalid("!flask --app app run --debug"),
        Invalid("!FLASK_DEBUG=1 flask run --host=0.0.0.0", severity="critical"),
    ]

    def check_call(self, call: Call, ctx) -> None:
        app = _flask_like(call, ctx, ("run", "run_server", "run_simple"))
        if app is None:
            return
        debug = call.arg(None, "use_debugger") if app == "Werkzeug" else call.arg(None, "debug")
        if not is_true(debug):
            return
        host = call.arg(0, "host") if app != "Werkzeug" else call.arg(0, "hostname")
        hv = host_value(host, ctx) if host is not None else None
        public = hv is not None and hv.strip() in PUBLIC_HOSTS
        sev, notes = (Severity.CRITICAL if public else self.severity), []
        if ctx.code.cell_magic in ("writefile", "file"):
            notes = ["in a %%writefile cell: make sure the deployed copy runs without debug"]
        kw = "use_debugger" if app == "Werkzeug" else "debug"
        ctx.report(self, call.node, severity=sev, notes=notes,
                   message=self.message.format(app=app, where=f" on {hv}" if public else ""),
                   fix=fixes.fix([fixes.replace(debug, "False")], safe=True, title=f"Set {kw}=False"))

    def check_special(self, special, ctx) -> None:
        for cmd in shell_commands(special):
            if cmd.program != "flask" or "run" not in cmd.args:
                continue
            env_debug = any(e.split("=", 1)[0] in ("FLASK_DEBUG", "FLASK_ENV") and
                            (_truthy_word(e.split("=", 1)[1]) or e.split("=", 1)[1] == "development")
                            for e in cmd.env)
            word = next((w for w in cmd.args if w in ("--debug", "--debugger")), None)
            if not (word or env_debug):
                continue
            hosts = [v for _, v in option_values(cmd.args, ("--host", "-h"))]
            public = any(h.strip("'\"") in PUBLIC_HOSTS for h in hosts)
            s, e = word_span(special, word or "FLASK_")
            ctx.report_special(self, special, s, e, severity=Severity.CRITICAL if public else self.severity,
                               message=self.message.format(app="`flask run`", where=" on 0.0.0.0" if public else ""))


_HOST_KW_SERVERS = {
    "uvicorn.run": "uvicorn", "uvicorn.Config": "uvicorn", "aiohttp.web.run_app": "aiohttp",
    "waitress.serve": "waitress", "panel.serve": "Panel", "bokeh.server.server.Server": "Bokeh",
    "hypercorn.config.Config": "hypercorn",
}
_HOST_KWS = ("host", "address", "listen", "hostname")


def _shell_server_bind(cmd: ShellCommand) -> tuple[str, str] | None:
    """(server, word) when a shell command starts a server bound to every interface."""
    prog, args = cmd.program, cmd.args
    pairs: list[tuple[str, str]] = []
    name = prog
    if prog in ("uvicorn", "hypercorn", "fastapi", "vllm", "sglang", "llamafactory-cli"):
        pairs = option_values(args, ("--host", "--bind", "-b"))
    elif prog == "gunicorn":
        pairs = option_values(args, ("--bind", "-b"))
    elif prog == "flask" and "run" in args:
        pairs = option_values(args, ("--host", "-h"))
        name = "flask run"
    elif prog == "streamlit" and args[:1] == ["run"]:
        pairs = option_values(args, ("--server.address",))
    elif prog in ("panel", "bokeh") and args[:1] == ["serve"]:
        pairs = option_values(args, ("--address",))
    elif prog == "voila":
        pairs = [(w, w.split("=", 1)[1]) for w in args if w.startswith(("--Voila.ip=", "--ip="))]
    elif prog == "http.server":
        binds = option_values(args, ("--bind", "-b"))
        if not binds:
            return "python -m http.server", "http.server"
        pairs = binds
        name = "python -m http.server"
    elif prog.startswith("vllm.entrypoints") or prog.startswith("sglang.launch_server"):
        pairs = option_values(args, ("--host",))
        name = prog
    elif prog == "ollama" and args[:1] == ["serve"]:
        pairs = [(e, e.split("=", 1)[1]) for e in cmd.env if e.startswith("OLLAMA_HOST=")]
        name = "ollama serve"
    for written, value in pairs:
        if _host_only(value) in PUBLIC_HOSTS:
            return name, written
    return None


@register
class ServerPublicBind(Rule):
    id = "MLS505"
    name = "server-public-bind"
    category = Category.EXPOSURE
    severity = Severity.MEDIUM
    confidence = Confidence.HIGH
    cwe = 1327
    stage = Stage.OPERATION
    message = "{server} listens on every network interface ({host}): the app is reachable from the network"
    fix_hint = "Bind to 127.0.0.1 while developing; expose a deployed service through a proxy that authenticates."
    explanation = """
**Why**: a model demo or API started from a notebook usually has no authentication, no rate limit
and direct access to the kernel's files, credentials and GPU. Bound to `0.0.0.0` (or `::`) it is
reachable by anyone who can route to the machine: a cloud VM with a public IP, a shared cluster, the
office network. Reported for Flask/Dash `app.run(host=...)`, `uvicorn.run`/`uvicorn.Config`, aiohttp
`web.run_app`, waitress, Panel/Bokeh, and shell lines (`uvicorn --host`, `gunicorn -b`, `flask run
--host`, `streamlit run --server.address`, `vllm serve --host`, `OLLAMA_HOST=0.0.0.0 ollama serve`,
and `python -m http.server`, which serves the current folder on every interface unless given
`--bind`). Code in a `%%writefile` cell (an app written out for a container, where binding every
interface is normal) is reported at low severity. A plain "0.0.0.0" string is never reported.

**Example**: `uvicorn.run(app, host="0.0.0.0", port=8000)`

**Fix**: `host="127.0.0.1"` in notebooks; in deployment, publish the port only through an
authenticating reverse proxy or platform IAM (Cloud Run `--no-allow-unauthenticated`).
"""
    triggers = (r"host\s*=", r"hostname\s*=", r"address\s*=", r"listen\s*=", r"0\.0\.0\.0", r"['\"](?:::|\*|\[::\])['\"]")
    bandit_ids = ("B104",)
    fixable = "unsafe"  # other machines (and containers publishing the port) can no longer connect
    VALID = [
        Valid("import uvicorn\nuvicorn.run(app, host='127.0.0.1', port=8000)"),
        Valid("from flask import Flask\napp = Flask(__name__)\napp.run()"),
        Valid("HOST = '0.0.0.0'\nprint(HOST)", note="no server"),
        Valid("args = ['--host=0.0.0.0', '--port=8080']", note="container arguments, not a bind here"),
        Valid("!python -m http.server 8000 --bind 127.0.0.1"),
        Valid("!streamlit run app.py"),
    ]
    INVALID = [
        Invalid("import uvicorn\nuvicorn.run(app, host='0.0.0.0', port=8000)", line=2, severity="medium",
                expected_replacement="import uvicorn\nuvicorn.run(app, host='127.0.0.1', port=8000)"),
        Invalid("from flask import Flask\napp = Flask(__name__)\napp.run(host='0.0.0.0', port=5000)", line=3),
        Invalid("from flask import Flask\napp = Flask(__name__)\napp.run('0.0.0.0')"),
        Invalid("import uvicorn\nHOST = '0.0.0.0'\nconfig = uvicorn.Config(app, host=HOST)", line=3),
        Invalid("%%writefile main.py\nimport uvicorn\nuvicorn.run(app, host='0.0.0.0')", line=3, severity="low"),
        Invalid("!uvicorn main:app --host 0.0.0.0 --port 8000", line=1),
        Invalid("!gunicorn -b 0.0.0.0:8000 app:app"),
        Invalid("!streamlit run app.py --server.address=0.0.0.0"),
        Invalid("!python -m http.server 8000"),
        Invalid("!OLLAMA_HOST=0.0.0.0:11434 ollama serve &"),
        Invalid("from aiohttp import web\nweb.run_app(app, host='::')"),
    ]

    def check_call(self, call: Call, ctx) -> None:
        server = None
        host = None
        q = call.qualname or ""
        for name, label in _HOST_KW_SERVERS.items():
            if q == name:
                server = label
                host = next((call.arg(None, k) for k in _HOST_KWS if k in call.kwargs), None)
                break
        if server is None:
            app = _flask_like(call, ctx, ("run", "run_server"))
            if app in ("Flask", "Dash"):
                server = f"{app} `{call.dotted or 'app.run'}`"
                host = call.arg(0, "host")
        if server is None or host is None:
            return
        hv = host_value(host, ctx)
        if hv is None or _host_only(hv) not in PUBLIC_HOSTS:
            return
        sev, notes = _severity_writefile(ctx, self.severity)
        # code written out for a container binds every interface on purpose: no automatic fix there
        fix = None if notes else fixes.fix([loopback_edit(host)], safe=False, title="Bind to loopback only")
        ctx.report(self, call.node, severity=sev, notes=notes,
                   message=self.message.format(server=server, host=repr(hv)), fix=fix)

    def check_special(self, special, ctx) -> None:
        for cmd in shell_commands(special):
            hit = _shell_server_bind(cmd)
            if hit:
                server, word = hit
                s, e = word_span(special, word)
                host = "the default for http.server" if word == "http.server" else word
                ctx.report_special(self, special, s, e, message=self.message.format(server=f"`{server}`", host=host))


# ---------------------------------------------------------------------------------------------
# Gradio


def _gradio_call(call: Call, ctx) -> tuple[bool, Confidence]:
    """Whether `call` is a gradio app's `.launch(...)`: typed, chained, or by name when gradio is imported."""
    import libcst as cst

    from .base import dotted_name

    func = call.node.func
    method = func.attr.value if isinstance(func, cst.Attribute) else call.name
    if method != "launch":
        return False, Confidence.HIGH
    q = call.qualname or ""
    if q.startswith("gradio.") and q.endswith(".launch"):
        return True, Confidence.HIGH
    if isinstance(func, cst.Attribute) and isinstance(func.value, cst.Call):
        inner = ctx.resolve(func.value.func)
        if inner and inner.startswith("gradio."):
            return True, Confidence.HIGH  # gr.Interface(...).launch(...)
        d = dotted_name(func.value.func) or ""
        if inner is None and d.split(".")[0] == "gr" and d.count(".") == 1 and d[3:4].isupper():
            return True, Confidence.MEDIUM  # `gr.Interface(...)` run before the cell that imports gradio as gr
    if unresolved_method(call, "launch") and imported(ctx, "gradio"):
        return True, Confidence.MEDIUM
    if q.endswith("GradioUI().launch"):
        return True, Confidence.HIGH  # smolagents' GradioUI
    return False, Confidence.HIGH


@register
class GradioPublic(Rule):
    id = "MLS506"
    name = "gradio-public-no-auth"
    category = Category.EXPOSURE
    severity = Severity.MEDIUM
    confidence = Confidence.HIGH
    cwe = 306
    stage = Stage.OPERATION
    message = "gradio app {what} without `auth=`: anyone with the {where} can use the model and the files it can read"
    fix_hint = "Pass `auth=(user, password)` (or an auth function), or keep the app local (`share=False`, default server_name)."
    explanation = """
**Why**: `launch(share=True)` creates a public `*.gradio.live` URL that tunnels to your kernel for
days; `server_name="0.0.0.0"` listens on every interface. Without `auth=`, anyone with the link or
on the network can call every function the app exposes, spend your GPU/API credits, and exploit
gradio's own bugs (several versions allowed reading arbitrary files of the host). Links end up in
notebook outputs, chats and screenshots.

**Example**
```python
demo = gr.Interface(fn=predict, inputs="text", outputs="label")
demo.launch(share=True)
```

**Fix**: `demo.launch(share=True, auth=("user", os.environ["GRADIO_PASSWORD"]))`, or run locally
(`demo.launch()`), or deploy on a platform with access control (a private Hugging Face Space).
"""
    triggers = (r"share\s*=", r"server_name")
    fixable = "unsafe"  # the public link (or network access) goes away: adding `auth=` is the other fix
    VALID = [
        Valid("import gradio as gr\ndemo = gr.Interface(fn=f, inputs='text', outputs='text')\ndemo.launch()"),
        Valid("import gradio as gr\ndemo = gr.Interface(fn=f, inputs='text', outputs='text')\n"
              "demo.launch(share=True, auth=('admin', pw))"),
        Valid("import gradio as gr\ndemo = gr.Blocks()\ndemo.launch(server_name='127.0.0.1')"),
        Valid("browser = playwright.chromium.launch(headless=True)"),
        Valid("rocket.launch(share=True)", note="gradio not imported"),
    ]
    INVALID = [
        Invalid("import gradio as gr\ndemo = gr.Interface(fn=f, inputs='text', outputs='text')\ndemo.launch(share=True)",
                line=3, severity="medium", expected_replacement="import gradio as gr\n"
                "demo = gr.Interface(fn=f, inputs='text', outputs='text')\ndemo.launch(share=False)"),
        Invalid("import gradio as gr\nwith gr.Blocks() as demo:\n    pass\ndemo.launch(share=True, debug=True)", line=4),
        Invalid("import gradio as gr\ngr.Interface(classify, 'image', 'label').launch(share=True)", line=2),
        Invalid("import gradio as gr\nwith gr.Blocks(\n    theme=t,\n) as app:\n    pass\napp.launch(share=True)", line=6,
                note="multi-line with: matched by name"),
        Invalid("import gradio as gr\ndemo = gr.ChatInterface(fn)\ndemo.launch(server_name='0.0.0.0', server_port=7860)"),
        Invalid("import gradio as gr\ndemo = gr.Blocks()\ndemo.launch(share=True, auth=None)"),
        Invalid("gr.Interface(classify, 'image', 'label').launch(share=True)",
                note="cells run out of order: `gr` imported in a later cell"),
    ]

    def check_call(self, call: Call, ctx) -> None:
        is_gradio, confidence = _gradio_call(call, ctx)
        if not is_gradio:
            return
        auth = call.arg(None, "auth")
        if auth is not None and literal(auth) is not None:
            return
        if call.arg(None, "auth_dependency") is not None:
            return
        share = is_true(call.arg(None, "share"))
        name = call.arg(None, "server_name")
        hv = host_value(name, ctx) if name is not None else None
        public = hv is not None and hv.strip() in PUBLIC_HOSTS
        if not (share or public):
            return
        if share and public:
            what, where = f"shared publicly (`share=True`) and bound to {hv}", "link or network access"
        elif share:
            what, where = "shared publicly (`share=True`)", "link"
        else:
            what, where = f"bound to every interface (`server_name={hv!r}`)", "network access"
        edits = [fixes.replace(call.kwargs["share"].value, "False")] if share else []
        if public:
            edits.append(loopback_edit(name))
        fix = fixes.fix(edits, safe=False, title="Keep the app local") if None not in edits else None
        ctx.report(self, call.node, confidence=confidence, message=self.message.format(what=what, where=where), fix=fix)


# ---------------------------------------------------------------------------------------------
# ML dashboards: TensorBoard, MLflow, Ray


@register
class DashboardPublic(Rule):
    id = "MLS507"
    name = "ml-dashboard-public"
    category = Category.EXPOSURE
    severity = Severity.MEDIUM
    confidence = Confidence.HIGH
    cwe = 1327
    stage = Stage.MONITORING
    message = "{tool} listens on every network interface ({how}): {why}"
    fix_hint = "Keep the dashboard on localhost and reach it through an SSH tunnel or the platform's authenticated proxy."
    explanation = """
**Why**: ML dashboards have no authentication by default. Bound to every interface:
- **Ray** (`ray.init(dashboard_host="0.0.0.0")`, `ray start --dashboard-host 0.0.0.0`): the dashboard's
  job API runs any command on the cluster (CVE-2023-48022, exploited in the "ShadowRay" campaign).
  Critical.
- **MLflow** (`mlflow server/ui --host 0.0.0.0`): anyone can read and overwrite experiments, models and
  artifacts (and with them, pickled models that others will load); several MLflow versions also
  allowed reading server files. High.
- **TensorBoard** (`--bind_all`, `--host 0.0.0.0`, `%tensorboard ... --bind_all`): training data
  samples, embeddings, hyper-parameters and paths are readable by anyone on the network. Medium.

**Example**: `%tensorboard --logdir logs --bind_all`

**Fix**: leave the default (localhost) and use `ssh -L 6006:localhost:6006 host`; for shared MLflow,
run it behind an authenticating proxy or with `mlflow server --app-name basic-auth`.
"""
    triggers = (r"dashboard_host", r"bind_all", r"0\.0\.0\.0")
    VALID = [
        Valid("%tensorboard --logdir logs"),
        Valid("!mlflow ui --port 5000"),
        Valid("import ray\nray.init()"),
        Valid("import ray\nray.init(dashboard_host='127.0.0.1')"),
        Valid("!ray start --head"),
    ]
    INVALID = [
        Invalid("%tensorboard --logdir logs --bind_all", line=1, severity="medium"),
        Invalid("!tensorboard --logdir=runs --host 0.0.0.0 --port 6006"),
        Invalid("!mlflow server --host 0.0.0.0 --port 5000", severity="high"),
        Invalid("!mlflow ui -h 0.0.0.0", severity="high"),
        Invalid("import ray\nray.init(dashboard_host='0.0.0.0')", line=2, severity="critical"),
        Invalid("!ray start --head --dashboard-host=0.0.0.0", severity="critical"),
        Invalid("from tensorboard import program\ntb = program.TensorBoard()\n"
                "tb.configure(argv=[None, '--logdir', 'logs', '--bind_all'])", line=3),
    ]
    _WHY = {
        "Ray": (Severity.CRITICAL, "its job API runs commands for anyone who reaches it"),
        "MLflow": (Severity.HIGH, "anyone can read and replace experiments, models and artifacts"),
        "TensorBoard": (Severity.MEDIUM, "training data, metrics and paths are readable by anyone on the network"),
    }

    def _emit(self, ctx, tool, how, node=None, special=None, span=(0, None)) -> None:
        sev, why = self._WHY[tool]
        msg = self.message.format(tool=tool, how=how, why=why)
        if special is not None:
            ctx.report_special(self, special, span[0], span[1], severity=sev, message=msg)
        else:
            ctx.report(self, node, severity=sev, message=msg)

    def check_call(self, call: Call, ctx) -> None:
        if call.is_("ray.init"):
            h = call.arg(None, "dashboard_host")
            hv = host_value(h, ctx) if h is not None else None
            if hv is not None and hv.strip() in PUBLIC_HOSTS:
                self._emit(ctx, "Ray", f"dashboard_host={hv!r}", node=call.node)
        elif call.is_("tensorboard.program.TensorBoard().configure"):
            argv = call.arg(None, "argv")
            words = literal(argv) if argv is not None else MISSING
            if is_true(call.arg(None, "bind_all")):
                self._emit(ctx, "TensorBoard", "bind_all=True", node=call.node)
            elif isinstance(words, tuple) and ("--bind_all" in words or self._tb_public(
                    [w for w in words if isinstance(w, str)])):
                self._emit(ctx, "TensorBoard", "--bind_all" if "--bind_all" in words else "--host", node=call.node)
            elif string_value(call.arg(None, "host")) in PUBLIC_HOSTS:
                self._emit(ctx, "TensorBoard", "host", node=call.node)

    @staticmethod
    def _tb_public(args: list[str]) -> str | None:
        if "--bind_all" in args:
            return "--bind_all"
        for written, value in option_values(args, ("--host",)):
            if value.strip("'\"") in PUBLIC_HOSTS:
                return written
        return None

    def check_special(self, special, ctx) -> None:
        if special.kind == "magic" and special.name == "tensorboard":
            import shlex

            try:
                args = shlex.split(special.text)
            except ValueError:
                args = special.text.split()
            w = self._tb_public(args)
            if w:
                self._emit(ctx, "TensorBoard", w, special=special, span=word_span(special, w))
            return
        for cmd in shell_commands(special):
            prog, args = cmd.program, cmd.args
            if prog == "tensorboard" or prog == "tensorboard.main":
                w = self._tb_public(args)
                if w:
                    self._emit(ctx, "TensorBoard", w, special=special, span=word_span(special, w))
            elif prog == "mlflow" and args[:1] and args[0] in ("server", "ui"):
                for written, value in option_values(args, ("--host", "-h")):
                    if _host_only(value) in PUBLIC_HOSTS:
                        self._emit(ctx, "MLflow", f"`{written}`", special=special, span=word_span(special, written))
                        break
            elif prog == "ray" and args[:1] == ["start"]:
                for written, value in option_values(args, ("--dashboard-host",)):
                    if value.strip("'\"") in PUBLIC_HOSTS:
                        self._emit(ctx, "Ray", f"`{written}`", special=special, span=word_span(special, written))
                        break


# ---------------------------------------------------------------------------------------------
# Sockets and stdlib servers

_SOCKET_SERVERS = (
    "socketserver.TCPServer", "socketserver.ThreadingTCPServer", "socketserver.ForkingTCPServer",
    "socketserver.UDPServer", "socketserver.ThreadingUDPServer", "http.server.HTTPServer",
    "http.server.ThreadingHTTPServer", "xmlrpc.server.SimpleXMLRPCServer", "xmlrpc.server.DocXMLRPCServer",
    "socket.create_server", "multiprocessing.connection.Listener", "asyncio.start_server",
)


@register
class SocketBindAll(Rule):
    id = "MLS508"
    name = "socket-bind-all"
    category = Category.EXPOSURE
    severity = Severity.MEDIUM
    confidence = Confidence.HIGH
    cwe = 1327
    stage = Stage.OPERATION
    message = "`{name}` binds {host!r}, every network interface: whatever it serves is reachable from the network"
    fix_hint = "Bind to 127.0.0.1 (or the one interface that must serve) and authenticate what the socket accepts."
    explanation = """
**Why**: `("0.0.0.0", port)`, `("::", port)` and `("", port)` mean every interface. A socket server in
a notebook (a quick model endpoint, a `multiprocessing` listener, `http.server` for files) usually
has no authentication; bound to all interfaces, anyone who can route to the machine can use it. A
`multiprocessing.connection.Listener` even unpickles what it receives. Only binds are reported, not
"0.0.0.0" strings elsewhere (bandit's B104 flags every such string).

**Example**: `sock.bind(("0.0.0.0", 9000))`

**Fix**: `sock.bind(("127.0.0.1", 9000))`; if other machines must connect, bind the one private
interface and authenticate (TLS with client certificates, a shared secret).
"""
    triggers = (r"\.bind\(", r"Server\(", r"create_server|start_server|Listener|make_server")
    bandit_ids = ("B104",)
    VALID = [
        Valid("import socket\ns = socket.socket()\ns.bind(('127.0.0.1', 9000))"),
        Valid("import socket\ns = socket.socket()\ns.connect(('0.0.0.0', 9000))"),
        Valid("binder.bind(globals())"),
        Valid("x = ('0.0.0.0', 80)", note="a tuple alone is not a bind"),
    ]
    INVALID = [
        Invalid("import socket\nsock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)\nsock.bind(('0.0.0.0', 9000))",
                line=3, severity="medium"),
        Invalid("import socket\ns = socket.socket()\ns.bind(('', 8080))"),
        Invalid("s.bind(('::', 8080))", note="receiver unknown: the (host, port) tuple is enough"),
        Invalid("import http.server\nhttpd = http.server.HTTPServer(('', 8000), http.server.SimpleHTTPRequestHandler)"),
        Invalid("import socketserver\nsocketserver.TCPServer(('0.0.0.0', 9999), Handler)"),
        Invalid("from wsgiref.simple_server import make_server\nmake_server('', 8000, app)"),
        Invalid("from multiprocessing.connection import Listener\nl = Listener(('0.0.0.0', 6000), authkey=b'k')"),
    ]

    def check_call(self, call: Call, ctx) -> None:
        q = call.qualname or ""
        if call.is_(*_SOCKET_SERVERS):
            if q == "asyncio.start_server":
                host = host_value(call.arg(1, "host"), ctx)
            else:
                host = self._tuple_host(call.arg(0, "address") or call.arg(None, "server_address"), ctx)
            if host is not None and host in BIND_ALL:
                self._report(call, ctx, q, host)
        elif call.is_("wsgiref.simple_server.make_server"):
            host = host_value(call.arg(0, "host"), ctx)
            if host is not None and host in BIND_ALL:
                self._report(call, ctx, q, host)
        elif call.name == "bind" and (q.startswith("socket.") or call.qualname is None) and call.args:
            host = self._tuple_host(call.arg(0), ctx)
            if host is not None and host in BIND_ALL:
                self._report(call, ctx, call.dotted or "bind", host)

    @staticmethod
    def _tuple_host(node, ctx) -> str | None:
        import libcst as cst

        if isinstance(node, cst.Tuple) and len(node.elements) >= 2:
            return host_value(node.elements[0].value, ctx)
        return None

    def _report(self, call, ctx, name, host) -> None:
        sev, notes = _severity_writefile(ctx, self.severity)
        ctx.report(self, call.node, severity=sev, notes=notes,
                   message=self.message.format(name=name.replace("()", ""), host=host))


# ---------------------------------------------------------------------------------------------
# Public tunnels

_TUNNEL_AUTH_KWS = ("auth", "basic_auth", "oauth_provider", "oauth", "oidc_issuer_url", "traffic_policy")


@register
class PublicTunnel(Rule):
    id = "MLS509"
    name = "public-tunnel"
    category = Category.EXPOSURE
    severity = Severity.MEDIUM
    confidence = Confidence.HIGH
    cwe = 306
    stage = Stage.OPERATION
    message = "{tool} publishes a local port on a public URL without authentication"
    fix_hint = "Add the tunnel's authentication (`ngrok http 8501 --basic-auth user:pass`, `--oauth`), or use an SSH tunnel to your own machine."
    explanation = """
**Why**: ngrok, localtunnel, cloudflared quick tunnels and the like give a local server (a Streamlit or
Flask demo, a model API, even Jupyter) a public internet URL. Tunnel URLs are found by scanners and
shared in outputs; the app behind them rarely has authentication and runs with the notebook's
files, credentials and GPU.

**Example**: `!streamlit run app.py & npx localtunnel --port 8501`

**Fix**: require authentication at the tunnel (`ngrok http 8501 --basic-auth "user:$PASS"` or
`--oauth google --oauth-allow-email you@example.com`; pyngrok `ngrok.connect(8501, auth="user:pass")`),
or reach the app through `ssh -L` instead of a public URL.
"""
    triggers = (r"ngrok",)
    VALID = [
        Valid("!ngrok http 8501 --basic-auth 'user:secret'"),
        Valid("!ngrok config add-authtoken $NGROK_TOKEN"),
        Valid("!pip install pyngrok==7.2.0"),
        Valid("from pyngrok import ngrok\nngrok.connect(8501, auth='user:pw')"),
    ]
    INVALID = [
        Invalid("!streamlit run app.py & npx localtunnel --port 8501", line=1, severity="medium"),
        Invalid("!ngrok http 8501"),
        Invalid("!lt --port 7860"),
        Invalid("!cloudflared tunnel --url http://localhost:8080"),
        Invalid("from pyngrok import ngrok\nurl = ngrok.connect(8501)", line=2),
        Invalid("from flask_ngrok import run_with_ngrok\nrun_with_ngrok(app)"),
        Invalid("import ngrok\nlistener = ngrok.forward(8080, authtoken_from_env=True)"),
    ]

    def check_call(self, call: Call, ctx) -> None:
        if call.is_("pyngrok.ngrok.connect", "ngrok.connect", "ngrok.forward", "ngrok.listen"):
            if any(k in call.kwargs for k in _TUNNEL_AUTH_KWS):
                return
            if len(call.args) >= 3 or any(a.star for a in call.node.args):
                return  # options passed positionally or as **kwargs: cannot tell
            ctx.report(self, call.node, message=self.message.format(tool=f"`{call.qualname}`"))
        elif call.is_("flask_ngrok.run_with_ngrok"):
            ctx.report(self, call.node, message=self.message.format(tool="`run_with_ngrok`"))

    def check_special(self, special, ctx) -> None:
        for cmd in shell_commands(special):
            prog, args = cmd.program, cmd.args
            if prog == "npx" and args:
                prog, args = args[0], args[1:]
                if prog == "--yes" and args:
                    prog, args = args[0], args[1:]
            tool = None
            if prog == "ngrok" and args[:1] and args[0] in ("http", "tcp", "tls"):
                if not any(a.startswith(("--basic-auth", "--auth", "--oauth", "--oidc", "--traffic-policy",
                                         "--policy-file", "--mutual-tls-cas")) for a in args):
                    tool = "ngrok"
            elif prog in ("localtunnel", "lt") and any(a.startswith("--port") or a == "-p" for a in args):
                tool = "localtunnel"
            elif prog == "cloudflared" and args[:1] == ["tunnel"] and any(a.startswith("--url") for a in args):
                tool = "a cloudflared quick tunnel"
            elif prog == "ssh" and any(re.search(r"serveo\.net|localhost\.run|pinggy\.io", a) for a in args):
                tool = "an ssh reverse tunnel service"
            elif prog == "bore" and args[:1] == ["local"]:
                tool = "bore"
            if tool:
                word = cmd.args[0] if prog != cmd.program else cmd.program
                s, e = word_span(special, prog if prog in special.text else word)
                ctx.report_special(self, special, s, e, message=self.message.format(tool=tool))
