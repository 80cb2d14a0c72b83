"""Model-file scanning: malicious pickles and Keras Lambda layers, found without ever loading the file.

`scan_artifact(path)` reads bytes only: pickles are walked opcode by opcode (`pickletools.genops`, which
parses and never unpickles), zips are listed before any member is decompressed, Keras configs are parsed
as JSON, and HDF5 attributes are read with h5py when it is installed (in a child process with a time
limit: libhdf5 can hang on a crafted file). Nothing the file names is imported, nothing is executed, and at
most `MAX_READ_BYTES` are read (after decompression) per file. Findings use the MLS8xx rules of
`mlsec.rules.artifacts`; a file that cannot be fully read gets an MLS806 info finding and whatever was
found before the problem is kept.

Formats, by their first bytes: zip (PyTorch checkpoints with `*/data.pkl`, `.npz`, `.keras`), HDF5 (Keras
`.h5`), `.npy` (object arrays hold a pickle), zlib/gzip/bz2/lzma (compressed joblib), and pickle
(`.pkl`, `.joblib`, legacy `torch.save`, several pickles back to back).
"""
from __future__ import annotations

import io
import os
from typing import IO, TYPE_CHECKING, Iterable

from .limits import MAX_READ_BYTES, Budget, BoundedReader, OverBudget, make_reader

if TYPE_CHECKING:  # pragma: no cover
    from ..config import Config
    from ..findings import Finding, Severity
    from .limits import MemoryReader

__all__ = ["ARTIFACT_EXTENSIONS", "MAX_READ_BYTES", "is_artifact", "scan_artifact"]

ARTIFACT_EXTENSIONS = (
    ".pkl", ".pickle", ".joblib", ".dill", ".p", ".pt", ".pth", ".bin", ".ckpt", ".npy", ".npz",
    ".keras", ".h5", ".hdf5",
)
# Extensions that promise a pickle: anything else in such a file is reported as not checked.
# The others (.bin, .p, .h5...) are also used for data that is not a model; those are left alone.
_PICKLE_EXTENSIONS = (".pkl", ".pickle", ".joblib", ".dill", ".pt", ".pth", ".ckpt")
HASH_LIMIT = 4 * 1024 * 1024  # model files up to this size are content-hashed for the scan cache (larger: size+mtime)


def is_artifact(path: str) -> bool:
    return path.lower().endswith(ARTIFACT_EXTENSIONS)


def scan_artifact(path: "str | os.PathLike[str]", data: bytes | None = None) -> "list[Finding]":
    """Findings for one model file (`data`: its bytes, when already read). Never raises for bad input."""
    path = os.fspath(path)
    out = Collector(path)
    try:
        fh: IO[bytes] = io.BytesIO(data) if data is not None else open(path, "rb")
    except OSError as exc:
        out.not_checked(f"cannot read the file ({exc.strerror or exc})")
        return out.findings
    try:
        with fh:
            size = len(data) if data is not None else os.fstat(fh.fileno()).st_size
            _dispatch(path, fh, size, out, data)
    except OverBudget as exc:
        out.not_checked(str(exc))
    except (OSError, MemoryError, RecursionError) as exc:
        out.not_checked(f"reading stopped: {type(exc).__name__}: {exc}")
    except Exception as exc:  # noqa: BLE001 - a file must never end the scan; say what happened instead
        out.not_checked(f"mlsec could not finish reading it ({type(exc).__name__}: {exc}); please report this")
    return out.findings


def _dispatch(path: str, fh: IO[bytes], size: int, out: "Collector", data: bytes | None = None) -> None:
    from . import archives, keras
    from .pickles import PROTO01_STARTS

    budget = Budget()
    ext = os.path.splitext(path)[1].lower()
    head = fh.read(16)
    fh.seek(0)
    if not head:
        if ext in _PICKLE_EXTENSIONS:
            out.not_checked("the file is empty")
        return
    if head.startswith((b"PK\x03\x04", b"PK\x05\x06")):
        archives.scan_zip(fh, out, budget, ext)
    elif head.startswith(keras.HDF5_MAGIC):
        keras.scan_h5(path, fh, out, budget, data)
    elif head.startswith(archives.NPY_MAGIC):
        archives.scan_npy(BoundedReader(fh, budget, size=size), out)  # numeric arrays: only the header is read
    elif head[:1] == b"\x80" and len(head) > 1 and 0 < head[1] <= 5:
        check_pickles(make_reader(fh, budget, size), out, "")
    elif archives.compression_of(head) and ext in (*_PICKLE_EXTENSIONS, ".p", ".bin"):
        archives.scan_compressed(fh, archives.compression_of(head) or "", out, budget)
    elif ext in _PICKLE_EXTENSIONS and head[:1] in PROTO01_STARTS:
        check_pickles(make_reader(fh, budget, size), out, "")
    elif ext in _PICKLE_EXTENSIONS:
        out.not_checked("not a pickle, zip, numpy or compressed file mlsec can read")




MAX_NESTING = 3  # pickle in bytes in a pickle...


def check_pickles(reader: "BoundedReader | MemoryReader", out: "Collector", where: str, note: str = "",
                  depth: int = 0) -> None:
    """Report what the pickles in `reader` import, and why the walk stopped early, if it did. Bytes that a
    nested loader (`pickle.loads`, `torch.storage._load_from_bytes`) gets are checked the same way."""
    from .limits import MemoryReader
    from .pickles import classify, scan_pickles

    result = scan_pickles(reader)
    inside = f" in {where}" if where else ""
    for imp in result.imports.values():
        kind, severity, why = classify(imp.module, imp.name)
        if kind == "safe":
            continue
        at = f"{imp.opcode} at byte {imp.offset}{inside}"
        notes = [at + (f" (imported {imp.count} times)" if imp.count > 1 else "")]
        if note:
            notes.append(note)
        if kind == "dangerous":
            out.dangerous(imp.qualname, why, where, severity, notes)
        else:
            out.unknown(imp.qualname, where, notes)
    if result.problem:
        at = f" at byte {result.problem_offset}" if result.problem_offset is not None else ""
        out.not_checked(f"{result.problem}{at}{inside}")
    for offset, blob in result.nested:
        inner = f"{where + ', ' if where else ''}bytes at {offset} loaded as a nested pickle"
        if depth >= MAX_NESTING:
            out.not_checked(f"{inner}: nested more than {MAX_NESTING} levels deep; not read")
        elif blob[:4] == b"PK\x03\x04":
            from .archives import scan_zip

            scan_zip(io.BytesIO(blob), out, Budget(), "", where=inner)
        else:
            check_pickles(MemoryReader(blob), out, inner, note, depth + 1)


class Collector:
    """Builds Findings for one file, with the rule metadata of `mlsec.rules.artifacts`."""

    def __init__(self, path: str):
        self.path = path
        self.findings: list[Finding] = []
        self._seen: set[tuple[str, str]] = set()

    def _add(self, rule: type, message: str, severity: "Severity | None" = None,
             notes: Iterable[str] = ()) -> None:
        from ..findings import Finding

        key = (rule.id, message)
        if key in self._seen:
            return
        self._seen.add(key)
        self.findings.append(Finding(
            rule_id=rule.id, name=rule.name, message=message,
            severity=severity if severity is not None else rule.severity, confidence=rule.confidence,
            category=rule.category, cwe=rule.cwe, fix_hint=rule.fix_hint, stage=rule.stage,
            file=self.path, cell_index=None, line=1, col=0, end_line=1, end_col=0, notes=list(notes),
        ))

    @staticmethod
    def _where(where: str) -> str:
        return f" ({where})" if where else ""

    def dangerous(self, qualname: str, why: str, where: str, severity: "Severity | None",
                  notes: Iterable[str]) -> None:
        from ..rules.artifacts import PickleDangerousImport as R

        self._add(R, f"pickle{self._where(where)} imports `{qualname}`, which {why}: loading the file runs it",
                  severity, notes)

    def unknown(self, qualname: str, where: str, notes: Iterable[str]) -> None:
        from ..rules.artifacts import PickleUnknownImport as R

        self._add(R, f"pickle{self._where(where)} imports `{qualname}`: unpickling runs its code", None, notes)

    def lambda_layer(self, name: str, function: str, where: str, notes: Iterable[str] = ()) -> None:
        from ..rules.artifacts import KerasLambdaLayer as R

        self._add(R, f"Keras model has a Lambda layer `{name}` calling {function}: it runs when the model loads "
                     f"without safe_mode", None, [f"in {where}", *notes] if where else list(notes))

    def custom_object(self, qualname: str, where: str, severity: "Severity | None" = None) -> None:
        from ..rules.artifacts import KerasCustomObject as R

        what = ("a dangerous callable: loading the model can call it" if severity is not None
                else "outside Keras: loading imports that module")
        self._add(R, f"Keras model config refers to `{qualname}`, {what}", severity,
                  [f"in {where}"] if where else [])

    def suspicious(self, what: str, notes: Iterable[str] = ()) -> None:
        from ..rules.artifacts import SuspiciousArchive as R

        self._add(R, f"model archive {what}", None, notes)

    def not_checked(self, why: str) -> None:
        from ..rules.artifacts import ArtifactNotChecked as R

        self._add(R, f"model file not fully checked: {why}")


# ---------------------------------------------------------------------------------------------
# For `mlsec scan`


def read_for_scan(path: str) -> tuple[bytes | None, str]:
    """(bytes or None, digest) for the scan cache: small files are read and content-hashed; larger ones are
    streamed by the scanner later and keyed by size and modification time. Raises SourceError."""
    from ..cache import content_hash
    from ..source import SourceError

    try:
        st = os.stat(path)
        if st.st_size > HASH_LIMIT:
            return None, f"stat:{st.st_size}:{st.st_mtime_ns}"
        with open(path, "rb") as fh:
            data = fh.read()
    except OSError as exc:
        raise SourceError(f"cannot read: {exc.strerror or exc}") from None
    return data, content_hash(data)


def analyse(path: str, config: "Config", data: bytes | None = None) -> "list[Finding]":
    """`scan_artifact` with the config's rule selection, per-path ignores and minimum severity applied."""
    kept = []
    for f in scan_artifact(path, data):
        if not config.rule_enabled(f.rule_id, f.category):
            continue
        if config.ignored_for_path(path, f.rule_id, f.category):
            continue
        if f.severity < config.min_severity:
            continue
        kept.append(f)
    return kept
