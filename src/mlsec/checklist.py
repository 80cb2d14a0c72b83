"""The secure-ML checklist: each practice with a status from evidence, and the next step to take.

Evidence comes from three places, never from guessing:
- the notebook's findings (mlsec's static analysis), placed by the rule's lifecycle stage and category;
- the adversarial probes run in this session (`mlsec.probes.session_results()`), placed by their
  name/category (evasion -> adversarial training, label noise -> training-data filtration, ...);
- the notebook's imports (the engine's alias table), which show that a practice is at least in use
  (an outlier detector, feature squeezing, a logger), and the installed-package advisory check.

Statuses: `fail` (evidence of a problem), `warn` (something to look at), `pass` (checked, nothing
found), `seen` (in use according to the code, not verified), `not checked` (no evidence either way).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Iterable

STATUS_ORDER = {"fail": 4, "warn": 3, "not checked": 2, "seen": 1, "pass": 0}
STATUS_LOOK = {
    "fail": ("✗", "#d32f2f"),
    "warn": ("!", "#ef6c00"),
    "pass": ("✓", "#2e7d32"),
    "seen": ("◐", "#1e88e5"),
    "not checked": ("○", "#757575"),
}


@dataclass(frozen=True)
class Practice:
    key: str
    section: str
    title: str
    probe_words: tuple[str, ...] = ()  # probe name/category/title words that give evidence
    imports: tuple[str, ...] = ()  # qualified-name prefixes whose import shows the practice in use
    sast: bool = False  # static-analysis findings land here
    sast_pass: bool = True  # a clean lint counts as "pass" (not for practices code can only show missing)
    components: bool = False  # installed-package advisories land here
    next_unchecked: str = ""
    next_problem: str = ""
    next_ok: str = ""


SECTIONS = (
    "1. Secure data preparation",
    "2. Secure training and validation",
    "3. Secure operation",
    "4. Monitoring and logging",
)

PRACTICES: tuple[Practice, ...] = (
    Practice(
        "storage", SECTIONS[0], "Secure storage",
        sast=True,
        next_unchecked="Lint the notebook (`%mlsec`) to check how data, credentials and artifacts are stored.",
        next_problem="Fix the findings listed here: credentials into a secrets manager or environment variables, "
                     "data in access-controlled storage, no world-readable or /tmp files, no public buckets.",
        next_ok="Keep datasets versioned with checksums, and credentials out of cells and outputs.",
    ),
    Practice(
        "data-anomalies", SECTIONS[0], "Anomaly detection and filtration of training data",
        probe_words=("poison", "label", "noise", "flip", "backdoor", "spectral", "activation", "knn", "clean", "outlier",
                     "suspicious"),
        imports=("cleanlab", "pyod", "alibi_detect", "sklearn.ensemble.IsolationForest",
                 "sklearn.neighbors.LocalOutlierFactor", "sklearn.covariance.EllipticEnvelope", "sklearn.svm.OneClassSVM",
                 "pandera", "great_expectations", "deepchecks"),
        next_unchecked="Run the data probes (label noise / poisoning) from `%mlsec probe`, and filter the training set "
                       "with an outlier detector (IsolationForest, cleanlab) before training.",
        next_problem="Inspect and drop the flagged training samples, then retrain and run the probe again.",
        next_ok="Re-run the data checks whenever the training data changes.",
    ),
    Practice(
        "adversarial-training", SECTIONS[1], "Adversarial training",
        probe_words=("evasion", "fgsm", "pgd", "adversarial", "robust", "pixel", "hopskip", "square", "boundary", "attack"),
        imports=("art.defences.trainer", "torchattacks", "advertorch", "cleverhans", "foolbox"),
        next_unchecked="Measure robustness with the evasion probes (`%mlsec probe`: FGSM/PGD); if robust accuracy "
                       "drops sharply at small ε, train on adversarial examples.",
        next_problem="Train with adversarial examples (e.g. PGD adversarial training) and re-run the evasion probe "
                     "to confirm the robust-accuracy gain.",
        next_ok="Keep the evasion probe in the validation step so regressions show up.",
    ),
    Practice(
        "training-sast", SECTIONS[1], "SAST and open-source component checks",
        sast=True, components=True,
        next_unchecked="Lint the notebook (`%mlsec`) and check the installed packages (`%mlsec env`).",
        next_problem="Fix the findings (unsafe model/data loading, unpinned or untrusted installs) and upgrade the "
                     "packages with known advisories.",
        next_ok="Run `mlsec scan` in CI so new findings fail the build.",
    ),
    Practice(
        "input-anomalies", SECTIONS[2], "Anomaly detection on input data",
        probe_words=("squeez", "detect", "ood", "out of distribution", "drift", "anomal"),
        imports=("alibi_detect", "pyod", "sklearn.ensemble.IsolationForest", "sklearn.neighbors.LocalOutlierFactor",
                 "art.defences.detector", "evidently", "whylogs"),
        next_unchecked="Add an input check in front of the model (out-of-distribution / outlier detector) and test it "
                       "with the detection probe in `%mlsec probe`.",
        next_problem="Tune or replace the input detector: the probe shows adversarial or odd inputs getting through.",
        next_ok="Log what the detector rejects, and review it.",
    ),
    Practice(
        "squeezing-ensembles", SECTIONS[2], "Ensembles and feature squeezing",
        probe_words=("squeez", "ensemble"),
        imports=("art.defences.preprocessor", "sklearn.ensemble.VotingClassifier", "sklearn.ensemble.StackingClassifier",
                 "sklearn.ensemble.BaggingClassifier"),
        next_unchecked="Try feature squeezing (bit-depth reduction) as a cheap detector and an ensemble of diverse "
                       "models; measure both with the probes.",
        next_problem="The squeezing/ensemble defence does not hold: compare with and without it in the evasion probe.",
        next_ok="Re-measure after each model change.",
    ),
    Practice(
        "operation-sast", SECTIONS[2], "SAST and component checks",
        sast=True, components=True,
        next_unchecked="Lint the serving code and notebook (`%mlsec`, `mlsec scan`) and check components (`%mlsec env`).",
        next_problem="Fix the findings in the serving path and upgrade the vulnerable packages before deploying.",
        next_ok="Pin the serving environment and re-check it on every release.",
    ),
    Practice(
        "exposure", SECTIONS[2], "Secure exposure to users",
        sast=True, sast_pass=False,
        probe_words=("extraction", "steal", "membership", "inference", "inversion", "privacy", "leak", "exploratory"),
        next_unchecked="Check what the model leaks to its users: run the extraction and membership-inference probes "
                       "(`%mlsec probe`), and lint the serving code.",
        next_problem="Limit what users get (labels instead of scores, rate limits, authentication, no public share "
                     "links or 0.0.0.0 binds) and re-run the probes.",
        next_ok="Keep authentication and rate limits on every endpoint that serves the model.",
    ),
    Practice(
        "monitoring", SECTIONS[3], "Monitoring and logging",
        sast=True, sast_pass=False,
        imports=("logging", "mlflow", "wandb", "torch.utils.tensorboard", "tensorboard", "tensorboardX",
                 "prometheus_client", "evidently", "whylogs", "neptune", "comet_ml", "structlog", "loguru"),
        next_unchecked="Log inputs, predictions and rejections (with secrets masked) and watch for drift and abuse "
                       "(evidently, whylogs, Prometheus).",
        next_problem="Fix the logging findings (secrets or personal data in logs).",
        next_ok="Alert on drift and on unusual query patterns, not just log them.",
    ),
)


@dataclass
class Item:
    practice: Practice
    status: str = "not checked"
    evidence: list[str] = field(default_factory=list)
    next_step: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {"key": self.practice.key, "section": self.practice.section, "title": self.practice.title,
                "status": self.status, "evidence": list(self.evidence), "next_step": self.next_step}


@dataclass
class Checklist:
    items: list[Item]
    scope: str = ""
    notes: list[str] = field(default_factory=list)

    def __getitem__(self, key: str) -> Item:
        for it in self.items:
            if it.practice.key == key:
                return it
        raise KeyError(key)

    def to_dict(self) -> dict[str, Any]:
        return {"scope": self.scope, "notes": list(self.notes), "items": [i.to_dict() for i in self.items]}

    def to_text(self) -> str:
        from .secrets import mask_text

        lines = [f"mlsec secure-ML checklist{' · ' + self.scope if self.scope else ''}"]
        section = None
        for it in self.items:
            if it.practice.section != section:
                section = it.practice.section
                lines.append(section)
            icon = STATUS_LOOK[it.status][0]
            lines.append(f"  {icon} {it.practice.title}: {it.status}")
            for e in it.evidence[:6]:
                lines.append(f"      - {e}")
            if len(it.evidence) > 6:
                lines.append(f"      - ... {len(it.evidence) - 6} more")
            lines.append(f"      next: {it.next_step}")
        lines.extend(f"note: {n}" for n in self.notes)
        return mask_text("\n".join(lines))

    def to_html(self) -> str:
        from .render.html import STYLE, esc, inline

        parts = [STYLE, '<div class="mlsec-r">',
                 f'<div class="mlsec-head"><b>mlsec</b> · secure-ML checklist{" · " + esc(self.scope) if self.scope else ""}</div>',
                 "<table><thead><tr><th>practice</th><th>status</th><th>evidence</th><th>next step</th></tr></thead><tbody>"]
        section = None
        for it in self.items:
            if it.practice.section != section:
                section = it.practice.section
                parts.append(f'<tr><td colspan="4"><b>{esc(section)}</b></td></tr>')
            icon, color = STATUS_LOOK[it.status]
            ev = "".join(f"<li>{inline(e)}</li>" for e in it.evidence[:6])
            if len(it.evidence) > 6:
                ev += f"<li>… {len(it.evidence) - 6} more</li>"
            evidence = f'<ul style="margin:0;padding-left:1.2em">{ev}</ul>' if ev else '<span class="mlsec-dim">none</span>'
            parts.append(
                f'<tr><td style="padding-left:1.5em">{esc(it.practice.title)}</td>'
                f'<td style="white-space:nowrap;color:{color};font-weight:600">{icon} {esc(it.status)}</td>'
                f"<td>{evidence}</td><td>{inline(it.next_step)}</td></tr>"
            )
        parts.append("</tbody></table>")
        parts.extend(f'<div class="mlsec-dim">{inline(n)}</div>' for n in self.notes)
        parts.append("</div>")
        return "".join(parts)

    def _repr_html_(self) -> str:
        return self.to_html()


# ---------------------------------------------------------------------------------------------
# Placing evidence


def practice_for_finding(f: Any) -> str | None:
    """Which checklist practice a static finding belongs to: exposure, storage and secrets by category,
    the rest by the rule's lifecycle stage (no stage, e.g. bandit-only: training)."""
    from .engine import SYNTAX_RULE_ID
    from .findings import Category, Stage

    if f.rule_id == SYNTAX_RULE_ID:
        return None
    if f.category == Category.EXPOSURE:
        return "exposure"
    if f.category in (Category.STORAGE, Category.SECRETS):
        return "storage"  # where data and credentials are kept, whatever the stage
    stage = f.stage
    if stage == Stage.DATA_PREPARATION:
        return "storage"
    if stage == Stage.TRAINING:
        return "training-sast"
    if stage == Stage.OPERATION:
        return "operation-sast"
    if stage == Stage.MONITORING:
        return "monitoring"
    return "training-sast"


def probe_fields(result: Any) -> tuple[str, str, str, str]:
    """(name, status, text, advice) of a probe result: ProbeResult, a mapping, or any object alike."""
    def get(*keys: str) -> Any:
        for k in keys:
            if isinstance(result, dict) and k in result:
                return result[k]
            v = getattr(result, k, None) if not isinstance(result, dict) else None
            if v is not None:
                return v
        return None

    name = " ".join(str(v) for v in (get("name", "probe"), get("title"), get("category")) if v)
    status = get("status", "verdict")
    status = getattr(status, "value", status)
    text = get("text", "summary", "message") or ""
    advice = get("advice", "next_step") or ""
    return name, str(status or "").lower(), str(text), str(advice)


def practices_for_probe(name: str) -> list[str]:
    """Practices a probe informs, by words that start a word of its name/title/category."""
    import re

    low = re.sub(r"[\W_]+", " ", name.lower())
    return [p.key for p in PRACTICES if any(re.search(r"\b" + re.escape(w), low) for w in p.probe_words)]


def _worse(a: str, b: str) -> str:
    return a if STATUS_ORDER[a] >= STATUS_ORDER[b] else b


def build(
    findings: Iterable[Any] = (),
    probe_results: Iterable[Any] = (),
    imports: Iterable[str] = (),
    components: Iterable[Any] | None = None,
    *,
    linted: bool = True,
    scope: str = "",
    notes: Iterable[str] = (),
) -> Checklist:
    """The checklist from evidence. `imports` are qualified names the code imports or calls;
    `components` the vulnerable installed packages (None: not checked)."""
    from .findings import Severity

    items = {p.key: Item(p) for p in PRACTICES}
    per: dict[str, list[Any]] = {}
    for f in findings:
        key = practice_for_finding(f)
        if key:
            per.setdefault(key, []).append(f)
    for it in items.values():
        p = it.practice
        status = "not checked"
        problem = False
        own_advice = ""
        if p.sast and linted:
            fs = per.get(p.key, [])
            if fs:
                top = max(f.severity for f in fs)
                status = "fail" if top >= Severity.HIGH else "warn"
                problem = True
                for f in sorted(fs, key=lambda f: (-int(f.severity), f.sort_key()))[:8]:
                    where = f" ({f.location_label()})" if f.cell_index is not None or f.line else ""
                    it.evidence.append(f"{f.severity.label} {f.rule_id}{where}: {f.message}")
                if len(fs) > 8:
                    it.evidence.append(f"{len(fs) - 8} more findings")
            elif p.sast_pass:
                status = "pass"
                it.evidence.append("static analysis: no findings")
            else:
                it.evidence.append("static analysis: no findings here (it can only show problems, not the practice)")
        if p.components and components is not None:
            vul = list(components)
            if vul:
                top = max(v.severity for v in vul)
                status = _worse(status, "fail" if top >= Severity.HIGH else "warn")
                problem = True
                names = ", ".join(f"{v.package} {v.version}" for v in vul[:5]) + (" ..." if len(vul) > 5 else "")
                it.evidence.append(f"{len(vul)} installed package{'s' if len(vul) != 1 else ''} with known advisories: "
                                   f"{names} (`%mlsec env`)")
            else:
                status = _worse(status, "pass") if status != "not checked" else "pass"
                it.evidence.append("installed packages: no known advisories")
        for r in probe_results:
            name, pstatus, text, advice = probe_fields(r)
            if p.key not in practices_for_probe(name) or pstatus not in ("pass", "warn", "fail"):
                continue
            it.evidence.append(f"probe {name.split(' ')[0]}: {pstatus} — {text}")
            if pstatus in ("warn", "fail"):
                problem = True
                own_advice = own_advice or advice
            status = pstatus if status in ("not checked", "seen") else _worse(status, pstatus)
        used = sorted({q for q in imports for prefix in p.imports if q == prefix or q.startswith(prefix + ".")})
        if used:
            it.evidence.append("in the code: " + ", ".join(f"`{u}`" for u in used[:5]))
            if status == "not checked":
                status = "seen"
        it.status = status
        if problem:
            it.next_step = own_advice or p.next_problem
        elif status == "pass":
            it.next_step = p.next_ok
        elif status == "seen":
            it.next_step = "In use according to the code; verify it with a probe: " + p.next_unchecked
        else:
            it.next_step = p.next_unchecked
    return Checklist(list(items.values()), scope=scope, notes=list(notes))


def imported_names(document: Any) -> set[str]:
    """Qualified names the document imports or instantiates (the engine's cheap alias scan)."""
    from .context import Context
    from .syntax import transform

    ctx = Context()
    for cell in document.cells:
        if not cell.is_code:
            continue
        try:
            ctx.learn_from_text(transform(cell.source).python)
        except Exception:  # a cell IPython cannot tokenize: its imports are simply not seen
            continue
    names = {q for q in ctx.aliases.values() if q}
    names |= {q.rstrip("()") for q in ctx.instances.values() if q}
    return names


def session_probe_results() -> tuple[list[Any], str | None]:
    """Probe results of this Python session, and a note when the probes are not available."""
    try:
        from . import probes

        fn = getattr(probes, "session_results", None)
        if fn is None:
            from .probes.report import session_results as fn
    except Exception as exc:  # optional extra not installed, or the probes failed to import
        return [], f"probe results unavailable ({type(exc).__name__}: {exc})"
    try:
        return list(fn()), None
    except Exception as exc:
        return [], f"probe results unavailable ({type(exc).__name__}: {exc})"


def build_for_session(session: Any) -> Checklist:
    """`%mlsec checklist`: lint the notebook (or history), collect probes and components, build."""
    report, title, _, note = session.lint_notebook()
    docs = list(getattr(report, "sources", {}).values())
    imports: set[str] = set()
    for d in docs:
        imports |= imported_names(d)
    probes, probe_note = session_probe_results()
    notes = [n for n in (note, probe_note) if n]
    if not probes and not probe_note:
        notes.append("no probes run in this session yet: `%mlsec probe` opens the probe panel")
    vulnerable = None
    try:
        from . import components

        if getattr(session.config(bandit=False)[0], "osv", False):  # [tool.mlsec] osv = true: osv.dev too
            from . import osv

            result = osv.check_installed()
            vulnerable = result.vulnerable
            if result.message:
                notes.append(result.message)
        else:
            vulnerable, _ = components.check_installed()
    except Exception as exc:  # missing table or packaging: the component items say "not checked"
        notes.append(f"component check skipped ({type(exc).__name__}: {exc})")
    return build(report.findings, probes, imports, vulnerable, scope=title, notes=notes)
