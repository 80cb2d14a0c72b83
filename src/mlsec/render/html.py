"""HTML for notebooks: the findings table behind `Report._repr_html_`, `%mlsec` and `%mlsec scan`.

Self-contained HTML (one scoped <style>, no scripts, no external assets) so it renders in JupyterLab,
classic Notebook, VS Code and nbconvert output alike. Every piece of text is escaped; messages and
code frames go through `secrets.mask_text` once more, because a renderer is the last place a secret
could leak from.
"""
from __future__ import annotations

import html as _html
import re
from typing import Any, Iterable

from ..findings import Confidence, Finding, Severity
from ..secrets import mask_text

MAX_ROWS = 500  # a larger report shows its first rows and says how to get the rest

SEVERITY_COLORS = {
    Severity.CRITICAL: ("#8e24aa", "#ffffff"),
    Severity.HIGH: ("#d32f2f", "#ffffff"),
    Severity.MEDIUM: ("#ef6c00", "#ffffff"),
    Severity.LOW: ("#f9a825", "#1a1a1a"),
    Severity.INFO: ("#1e88e5", "#ffffff"),
}

STYLE = """<style>
.mlsec-r{font-family:var(--jp-ui-font-family,system-ui,sans-serif);font-size:13px;color:var(--jp-ui-font-color1,inherit);max-width:100%;}
.mlsec-r .mlsec-head{margin:2px 0 6px 0;}
.mlsec-r table{border-collapse:collapse;width:100%;}
.mlsec-r th{text-align:left;font-weight:600;border-bottom:2px solid var(--jp-border-color1,#bbb);padding:3px 6px;}
.mlsec-r td{vertical-align:top;text-align:left;border-bottom:1px solid var(--jp-border-color2,#ddd);padding:4px 6px;}
.mlsec-r code,.mlsec-r pre{font-family:var(--jp-code-font-family,monospace);font-size:12px;}
.mlsec-r pre{margin:4px 0;padding:4px 6px;background:var(--jp-layout-color2,#f5f5f5);white-space:pre-wrap;overflow-x:auto;}
.mlsec-r details>summary{cursor:pointer;}
.mlsec-r .mlsec-expl{max-width:60em;padding:4px 0 4px 10px;border-left:3px solid var(--jp-border-color1,#bbb);}
.mlsec-r .mlsec-dim{color:var(--jp-ui-font-color2,#666);font-size:12px;}
.mlsec-r .mlsec-badge{display:inline-block;border-radius:3px;padding:0 5px;font-size:11px;font-weight:700;letter-spacing:.03em;}
.mlsec-r .mlsec-compact{border-left:4px solid;padding:2px 8px;margin:2px 0;}
.mlsec-r .mlsec-compact div{margin:1px 0;}
</style>"""


def esc(text: Any) -> str:
    return _html.escape("" if text is None else str(text), quote=True)


def safe(text: Any) -> str:
    """Escaped, secrets masked."""
    return esc(mask_text("" if text is None else str(text)))


def inline(text: Any) -> str:
    """Escaped, masked, with `code spans` and **bold** rendered (rule messages use backticks)."""
    out = safe(text)
    out = re.sub(r"`([^`\n]+)`", r"<code>\1</code>", out)
    return re.sub(r"\*\*([^*\n]+)\*\*", r"<b>\1</b>", out)


def badge(severity: Severity | str) -> str:
    sev = Severity.parse(severity)
    bg, fg = SEVERITY_COLORS[sev]
    return f'<span class="mlsec-badge" style="background:{bg};color:{fg}">{sev.label.upper()}</span>'


def markdown(text: str) -> str:
    """The small markdown subset rule explanations use: paragraphs, bullets, fenced code, `code`, **bold**."""
    out: list[str] = []
    para: list[str] = []
    items: list[str] = []

    def flush() -> None:
        if para:
            out.append("<p>" + inline(" ".join(para)) + "</p>")
            para.clear()
        if items:
            out.append("<ul>" + "".join(f"<li>{inline(i)}</li>" for i in items) + "</ul>")
            items.clear()

    lines = (text or "").strip("\n").splitlines()
    i = 0
    while i < len(lines):
        line = lines[i]
        stripped = line.strip()
        if stripped.startswith("```"):
            flush()
            code: list[str] = []
            i += 1
            while i < len(lines) and not lines[i].strip().startswith("```"):
                code.append(lines[i])
                i += 1
            out.append("<pre>" + safe("\n".join(code)) + "</pre>")
        elif not stripped:
            flush()
        elif re.match(r"[-*] ", stripped):
            if para:
                flush()
            items.append(stripped[2:])
        elif items and line.startswith(("  ", "\t")):
            items[-1] += " " + stripped
        else:
            if items:
                flush()
            para.append(stripped)
        i += 1
    flush()
    return "".join(out)


def rule_info(rule_id: str) -> dict[str, Any] | None:
    """Metadata of a native rule (None for bandit-only ids or when the rule packs cannot load)."""
    try:
        from ..rules.base import get_rule

        rule = get_rule(rule_id)
    except Exception:
        return None
    return rule.meta() if rule is not None else None


def _where(f: Finding, cell_format: str) -> str:
    if f.cell_index is None:
        place = f"line {f.line}"
    else:
        place = f"{cell_format.format(n=f.cell_index + 1)}, line {f.line}"
    if f.in_output:
        place += " (in output)"
    return place


def _rule_cell(f: Finding, explanations: dict[str, str]) -> str:
    if f.rule_id not in explanations:
        info = rule_info(f.rule_id)
        expl = ""
        if info and info.get("explanation"):
            meta = [f"category: {info['category']}", f"stage: {info['stage']}"]
            if info.get("cwe"):
                meta.append(f"CWE-{info['cwe']}")
            expl = markdown(info["explanation"]) + f'<div class="mlsec-dim">{esc(" · ".join(meta))}</div>'
        explanations[f.rule_id] = expl
    expl = explanations[f.rule_id]
    ids = " ".join(f"<code>{esc(i)}</code>" for i in f.ids)
    name = f'<div class="mlsec-dim">{esc(f.name)}</div>' if f.name else ""
    if expl:
        return (
            f'<details class="mlsec-rule"><summary>{ids}</summary><div class="mlsec-expl">{expl}</div></details>{name}'
        )
    return ids + name


def _code_frame(f: Finding) -> str:
    if not f.snippet:
        return ""
    lines = f.snippet.splitlines()
    width = len(str(f.line + len(lines) - 1))
    body = "\n".join(f"{str(f.line + k).rjust(width)} | {ln}" for k, ln in enumerate(lines))
    return f"<details><summary class=\"mlsec-dim\">code</summary><pre>{safe(body)}</pre></details>"


def summary_line(report: Any) -> str:
    """`3 findings (1 high, 2 medium) in 12 cells of 1 file · 0.12 s` (plain text)."""
    findings = report.findings
    counts = report.counts()
    parts = [f"{counts[s.label]} {s.label}" for s in sorted(Severity, reverse=True) if counts.get(s.label)]
    n = len(findings)
    text = f"{n} finding{'s' if n != 1 else ''}"
    if parts:
        text += f" ({', '.join(parts)})"
    scope = []
    if report.cells:
        scope.append(f"{report.cells} cell{'s' if report.cells != 1 else ''}")
    if report.files and (report.files > 1 or not report.cells):
        scope.append(f"{report.files} file{'s' if report.files != 1 else ''}")
    if scope:
        text += " in " + " of ".join(scope)
    if report.duration:
        text += f" · {report.duration:.2f} s"
    return text


def render(
    report: Any,
    *,
    title: str | None = None,
    max_rows: int = MAX_ROWS,
    cell_format: str = "cell {n}",
    note: str | None = None,
) -> str:
    """The findings table: severity badge, rule (explanation inline), where, message + code frame, fix.

    `cell_format` names a cell from its 1-based number: "cell {n}" (notebook files, as JupyterLab
    counts them) or "In [{n}]" (a session's input history)."""
    findings: list[Finding] = sorted(report.findings, key=lambda f: (-int(f.severity), *f.sort_key()))
    files = {f.file for f in findings}
    multi = len(files) > 1 or (report.files or 0) > 1
    head = f"<b>mlsec</b> · {esc(summary_line(report))}"
    if title:
        head = f"<b>mlsec</b> · {safe(title)} · {esc(summary_line(report))}"
    parts = [STYLE, '<div class="mlsec-r">', f'<div class="mlsec-head">{head}</div>']
    if note:
        parts.append(f'<div class="mlsec-dim">{inline(note)}</div>')
    if not findings:
        parts.append('<div style="color:#2e7d32;font-weight:600">✓ No findings.</div>')
    else:
        explanations: dict[str, str] = {}
        cols = ["severity", "rule", *(["file"] if multi else []), "where", "finding", "fix"]
        parts.append("<table><thead><tr>" + "".join(f"<th>{c}</th>" for c in cols) + "</tr></thead><tbody>")
        for f in findings[:max_rows]:
            notes = "".join(f'<div class="mlsec-dim">{inline(n)}</div>' for n in f.notes)
            conf = f' <span class="mlsec-dim">({esc(f.confidence.label)} confidence)</span>' if f.confidence < Confidence.HIGH else ""
            row = [
                badge(f.severity),
                _rule_cell(f, explanations),
                *([f"<code>{safe(f.file)}</code>"] if multi else []),
                esc(_where(f, cell_format)),
                inline(f.message) + conf + notes + _code_frame(f),
                inline(f.fix_hint),
            ]
            parts.append("<tr>" + "".join(f"<td>{c}</td>" for c in row) + "</tr>")
        parts.append("</tbody></table>")
        if len(findings) > max_rows:
            parts.append(
                f'<div class="mlsec-dim">{len(findings) - max_rows} more findings not shown: '
                "use <code>_mlsec.findings</code>, <code>_mlsec.to_dataframe()</code> or the <code>mlsec</code> CLI.</div>"
            )
    errors = list(getattr(report, "errors", []) or [])
    if errors:
        parts.append(f"<details open><summary><b>{len(errors)} file{'s' if len(errors) != 1 else ''} not fully analysed</b></summary><ul>")
        for e in errors[:max_rows]:
            parts.append(f"<li><code>{safe(e.path)}</code>: {inline(e.message)}</li>")
        parts.append("</ul></details>")
    parts.append("</div>")
    return "".join(parts)


def render_compact(findings: Iterable[Finding], *, title: str = "") -> str:
    """A few lines above a cell's output (automatic mode): badge, id, line, message, fix."""
    findings = sorted(findings, key=lambda f: (-int(f.severity), f.line, f.col))
    if not findings:
        return ""
    top = max(f.severity for f in findings)
    color = SEVERITY_COLORS[top][0]
    rows = []
    for f in findings:
        where = f"line {f.line}" + (" (output)" if f.in_output else "")
        fix = f' <span class="mlsec-dim">— {inline(f.fix_hint)}</span>' if f.fix_hint else ""
        rows.append(
            f"<div>{badge(f.severity)} <code>{esc(f.rule_id)}</code> <span class=\"mlsec-dim\">{esc(where)}</span> "
            f"{inline(f.message)}{fix}</div>"
        )
    head = f'<div class="mlsec-dim"><b>mlsec</b>{" · " + safe(title) if title else ""}</div>'
    return f'{STYLE}<div class="mlsec-r"><div class="mlsec-compact" style="border-color:{color}">{head}{"".join(rows)}</div></div>'


def render_rules(rules: Iterable[dict[str, Any]]) -> str:
    """`%mlsec rules`: one row per rule, the explanation folded under its id."""
    rules = list(rules)
    parts = [STYLE, '<div class="mlsec-r">', f'<div class="mlsec-head"><b>mlsec</b> · {len(rules)} rules</div>']
    parts.append(
        "<table><thead><tr><th>rule</th><th>severity</th><th>category</th><th>stage</th><th>CWE</th><th>what it finds</th></tr></thead><tbody>"
    )
    for r in rules:
        off = "" if r.get("default_enabled", True) else ' <span class="mlsec-dim">(off by default)</span>'
        expl = markdown(r.get("explanation", ""))
        rule = f"<details><summary><code>{esc(r['id'])}</code></summary><div class=\"mlsec-expl\">{expl}</div></details>"
        rule += f'<div class="mlsec-dim">{esc(r.get("name", ""))}</div>'
        cwe = f"CWE-{r['cwe']}" if r.get("cwe") else ""
        parts.append(
            f"<tr><td>{rule}</td><td>{badge(r['severity'])}</td><td>{esc(r.get('category', ''))}</td>"
            f"<td>{esc(r.get('stage', ''))}</td><td>{esc(cwe)}</td><td>{inline(r.get('message', ''))}{off}</td></tr>"
        )
    parts.append("</tbody></table></div>")
    return "".join(parts)


def render_explain(meta: dict[str, Any]) -> str:
    """`%mlsec explain ID`: the rule's explanation with its metadata."""
    facts = [f"category {meta.get('category', '')}", f"stage {meta.get('stage', '')}"]
    if meta.get("cwe"):
        facts.append(f"CWE-{meta['cwe']}")
    if meta.get("bandit_ids"):
        facts.append("same as bandit " + ", ".join(meta["bandit_ids"]))
    if not meta.get("default_enabled", True):
        facts.append("off by default (enable it in [tool.mlsec] enable = [...])")
    return (
        f'{STYLE}<div class="mlsec-r"><div class="mlsec-head">{badge(meta["severity"])} <b><code>{esc(meta["id"])}</code> '
        f'{esc(meta.get("name", ""))}</b></div><div class="mlsec-dim">{esc(" · ".join(facts))}</div>'
        f"<p>{inline(meta.get('message', ''))}</p>{markdown(meta.get('explanation', ''))}"
        f"<p><b>Fix:</b> {inline(meta.get('fix_hint', ''))}</p>"
        f'<p class="mlsec-dim">Silence one line with <code># mlsec: ignore[{esc(meta["id"])}]</code>.</p></div>'
    )


def render_components(vulnerable: list[Any], checked: int, *, source: str = "") -> str:
    """`%mlsec env`: installed packages with known advisories (objects from `mlsec.components`)."""
    head = (
        f"<b>mlsec env</b> · {checked} installed packages checked · "
        f"{len(vulnerable)} with known advisories"
    )
    parts = [STYLE, '<div class="mlsec-r">', f'<div class="mlsec-head">{head}</div>']
    if source:
        parts.append(f'<div class="mlsec-dim">{inline(source)}</div>')
    if not vulnerable:
        parts.append('<div style="color:#2e7d32;font-weight:600">✓ No installed package matches a known advisory.</div>')
    else:
        parts.append(
            "<table><thead><tr><th>severity</th><th>package</th><th>installed</th><th>advisories</th><th>upgrade to</th></tr></thead><tbody>"
        )
        for v in vulnerable:
            items = []
            for a in v.advisories[:50]:
                link = f'<a href="{esc(a.ref)}" target="_blank" rel="noopener">{esc(a.id)}</a>' if a.ref else esc(a.id)
                alias = f" <span class=\"mlsec-dim\">({esc(', '.join(a.aliases[:2]))})</span>" if a.aliases else ""
                if "osv" in (getattr(a, "source", "") or ""):  # from the online check (mlsec.osv)
                    alias += f" <span class=\"mlsec-dim\">[{esc(a.source)}]</span>"
                items.append(f"<li>{link}{alias}: {safe(a.summary)}</li>")
            more = f"<li>… {len(v.advisories) - 50} more</li>" if len(v.advisories) > 50 else ""
            adv = (
                f"<details><summary>{len(v.advisories)} advisor{'ies' if len(v.advisories) != 1 else 'y'}</summary>"
                f"<ul>{''.join(items)}{more}</ul></details>"
            )
            parts.append(
                f"<tr><td>{badge(v.severity)}</td><td><code>{esc(v.package)}</code></td><td>{esc(v.version)}</td>"
                f"<td>{adv}</td><td>{esc(v.upgrade_to or 'no fixed version listed')}</td></tr>"
            )
        parts.append("</tbody></table>")
    parts.append("</div>")
    return "".join(parts)


def message_box(text: str, *, level: str = "info") -> str:
    """A one-paragraph notice (errors, status), masked and escaped."""
    color = {"error": "#d32f2f", "warn": "#ef6c00", "ok": "#2e7d32"}.get(level, "#1e88e5")
    body = "<br>".join(inline(line) for line in text.splitlines())
    return f'{STYLE}<div class="mlsec-r"><div class="mlsec-compact" style="border-color:{color}">{body}</div></div>'
