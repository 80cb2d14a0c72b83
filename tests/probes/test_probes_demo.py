"""Execute demo_notebooks/probes_demo.ipynb in a real kernel and check what it shows."""
from __future__ import annotations

from pathlib import Path

import nbformat

from probe_helpers import require_torch

NOTEBOOK = Path(__file__).resolve().parents[2] / "demo_notebooks" / "probes_demo.ipynb"


def _text(nb) -> str:
    parts = []
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            if out.output_type == "stream":
                parts.append(out.text)
            elif out.output_type == "error":
                parts.append(f"ERROR {out.ename}: {out.evalue}")
            else:
                data = out.get("data", {})
                parts.append(data.get("text/html", "") + data.get("text/plain", ""))
    return "\n".join(parts)


def test_demo_notebook_is_stripped_and_runs(tmp_path):
    require_torch()  # the notebook trains a torch model
    from nbclient import NotebookClient

    nb = nbformat.read(NOTEBOOK, as_version=4)
    assert all(not c.get("outputs") and c.get("execution_count") is None for c in nb.cells if c.cell_type == "code")
    NotebookClient(nb, kernel_name="python3", timeout=300, resources={"metadata": {"path": str(tmp_path)}}).execute()
    text = _text(nb)
    assert "ERROR" not in text
    assert "robust accuracy at eps=0.1" in text and "class='mlsec-probes'" in text
    assert "one pixel changed:" in text and " -> " in text
    assert "constraint violations in PGD rows: []" in text
    assert "data:image/png;base64" in text  # matplotlib figures
    assert "Done: 3 probes" in text and "('fgsm_linf'" in text
    assert "probe verdicts this session:" in text and "exported 9 results" in text
