"""The one Finding type every front end shares (CLI, magic, JupyterLab, Python API).

Positions are relative to a cell: 1-based lines, 0-based columns counted in characters (code points)
of the original cell source. Front ends convert at the edges (SARIF lines in the raw .ipynb, UTF-16
offsets for CodeMirror).
"""
from __future__ import annotations

import enum
from dataclasses import asdict, dataclass, field
from typing import Any


class Severity(enum.IntEnum):
    INFO = 0
    LOW = 1
    MEDIUM = 2
    HIGH = 3
    CRITICAL = 4

    @classmethod
    def parse(cls, value: "str | int | Severity") -> "Severity":
        if isinstance(value, Severity):
            return value
        if isinstance(value, int):
            return cls(value)
        try:
            return cls[str(value).strip().upper()]
        except KeyError:
            raise ValueError(
                f"unknown severity {value!r}; use one of: {', '.join(s.label for s in cls)}"
            ) from None

    @property
    def label(self) -> str:
        return self.name.lower()

    def bump(self, steps: int = 1) -> "Severity":
        return Severity(min(Severity.CRITICAL, max(Severity.INFO, self + steps)))


class Confidence(enum.IntEnum):
    LOW = 1
    MEDIUM = 2
    HIGH = 3

    @classmethod
    def parse(cls, value: "str | int | Confidence") -> "Confidence":
        if isinstance(value, Confidence):
            return value
        if isinstance(value, int):
            return cls(value)
        return cls[str(value).strip().upper()]

    @property
    def label(self) -> str:
        return self.name.lower()


class Category(str, enum.Enum):
    DESERIALIZATION = "deserialization"
    SECRETS = "secrets"
    STORAGE = "storage"
    TRANSPORT = "transport"
    EXPOSURE = "exposure"
    SUPPLY_CHAIN = "supply-chain"
    INJECTION = "injection"
    SYNTAX = "syntax"  # mlsec's own diagnostics: a cell that does not parse, a file that cannot be read

    def __str__(self) -> str:  # pragma: no cover - cosmetic
        return self.value


class Stage(str, enum.Enum):
    """ML-lifecycle stage a rule belongs to (drives the secure-ML checklist)."""

    DATA_PREPARATION = "data preparation"
    TRAINING = "training"
    OPERATION = "operation"
    MONITORING = "monitoring"

    def __str__(self) -> str:  # pragma: no cover - cosmetic
        return self.value


@dataclass
class Finding:
    rule_id: str
    message: str
    severity: Severity
    confidence: Confidence = Confidence.HIGH
    category: Category = Category.DESERIALIZATION
    cwe: int | None = None
    fix_hint: str = ""
    # where
    file: str = ""
    cell_index: int | None = None  # 0-based over every cell nbformat lists; None for .py files
    cell_id: str | None = None
    line: int = 1  # 1-based, in the cell (or file for .py)
    col: int = 0  # 0-based, characters
    end_line: int = 1
    end_col: int = 0
    in_output: bool = False
    # provenance
    source: str = "native"  # "native", "bandit", or "native+bandit"
    bandit_ids: list[str] = field(default_factory=list)
    name: str = ""
    stage: Stage | None = None
    notes: list[str] = field(default_factory=list)  # e.g. "path comes from a download (cell 2)"
    fix: dict[str, Any] | None = None  # optional machine-applicable edit: {"replacement":..., "safe": bool}
    snippet: str = ""  # the finding's source lines (at most 3), secrets masked: for code frames

    @property
    def ids(self) -> list[str]:
        return [self.rule_id, *[b for b in self.bandit_ids if b != self.rule_id]]

    def sort_key(self) -> tuple:
        return (
            self.file,
            -1 if self.cell_index is None else self.cell_index,
            self.in_output,
            self.line,
            self.col,
            self.rule_id,
        )

    def fingerprint(self) -> str:
        """Stable identity for baselines: survives cells and lines moving, not the code changing."""
        import hashlib

        snippet = " ".join(self.snippet.split())
        basis = "\x1f".join([self.file.replace("\\", "/"), self.rule_id, self.message, snippet, str(self.in_output)])
        return hashlib.sha256(basis.encode("utf-8", "surrogatepass")).hexdigest()[:20]

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["severity"] = self.severity.label
        d["confidence"] = self.confidence.label
        d["category"] = self.category.value
        d["stage"] = self.stage.value if self.stage else None
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "Finding":
        d = dict(d)
        d["severity"] = Severity.parse(d["severity"])
        d["confidence"] = Confidence.parse(d.get("confidence", "high"))
        d["category"] = Category(d.get("category", "deserialization"))
        d["stage"] = Stage(d["stage"]) if d.get("stage") else None
        known = cls.__dataclass_fields__.keys()
        return cls(**{k: v for k, v in d.items() if k in known})

    def location_label(self) -> str:
        """`cell 3:2:5` (1-based cell as JupyterLab shows it) or `2:5` for plain files."""
        out = " (in output)" if self.in_output else ""
        if self.cell_index is None:
            return f"{self.line}:{self.col + 1}{out}"
        return f"cell {self.cell_index + 1}:{self.line}:{self.col + 1}{out}"
