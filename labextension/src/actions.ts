/**
 * What the tooltip's buttons do: suppress a finding on its line, ignore a rule for the whole notebook
 * (notebook metadata `mlsec.ignore`, honoured by the server), apply a rule's quick fix.
 */
import type { INotebookModel } from '@jupyterlab/notebook';
import { EditorView } from '@codemirror/view';
import { IMlsecDiagnostic } from './types';

const IGNORE_COMMENT = /#\s*mlsec:\s*ignore(\[([^\]]*)\])?/i;

/**
 * Add `# mlsec: ignore[ID]` at the end of the finding's last line (the end of a node is never inside
 * a string literal, unlike the first line of a multi-line one), or add ID to an existing comment there.
 */
export function ignoreOnLine(view: EditorView, from: number, to: number, rule: string): boolean {
  const doc = view.state.doc;
  let line = doc.lineAt(Math.min(Math.max(to, from), doc.length));
  if (/\\\s*$/.test(line.text)) {
    line = doc.lineAt(Math.min(from, doc.length)); // a comment after a line continuation breaks it
  }
  const m = IGNORE_COMMENT.exec(line.text);
  if (m) {
    if (m[1] === undefined) {
      return false; // a bare `# mlsec: ignore` already covers every rule
    }
    const ids = m[2]
      .split(',')
      .map(s => s.trim())
      .filter(s => s.length > 0);
    if (ids.some(id => id.toUpperCase() === rule.toUpperCase())) {
      return false;
    }
    const closing = line.from + m.index + m[0].length - 1;
    view.dispatch({ changes: { from: closing, insert: (ids.length ? ', ' : '') + rule } });
    return true;
  }
  const end = line.from + line.text.replace(/\s+$/, '').length;
  view.dispatch({
    changes: { from: end, to: line.to, insert: `  # mlsec: ignore[${rule}]` }
  });
  return true;
}

/**
 * Add the finding's ids (the rule, and bandit's id when bandit reported the same problem) to the
 * notebook metadata's `mlsec.ignore` list; the notebook is then unsaved.
 */
export function ignoreInNotebook(model: INotebookModel, ids: string[]): boolean {
  const meta = (model.getMetadata('mlsec') as Record<string, unknown> | undefined) ?? {};
  const ignore = Array.isArray(meta.ignore)
    ? (meta.ignore as unknown[]).filter((x): x is string => typeof x === 'string')
    : [];
  const known = new Set(ignore.map(id => id.toUpperCase()));
  const added = ids.filter(id => !known.has(id.toUpperCase()));
  if (added.length === 0) {
    return false;
  }
  model.setMetadata('mlsec', { ...meta, ignore: [...ignore, ...added] });
  return true;
}

/** The rules a notebook's metadata ignores. */
export function notebookIgnores(model: INotebookModel | null): string[] {
  const meta = model?.getMetadata('mlsec') as Record<string, unknown> | undefined;
  if (!meta || !Array.isArray(meta.ignore)) {
    return [];
  }
  return (meta.ignore as unknown[]).filter((x): x is string => typeof x === 'string');
}

/**
 * Apply the diagnostic's fix. `from` is the diagnostic's current start (CodeMirror maps it through
 * edits made since the lint); the fix's changes are shifted by the same amount.
 */
export function applyFix(view: EditorView, from: number, diag: IMlsecDiagnostic): boolean {
  if (!diag.fix || diag.fix.changes.length === 0) {
    return false;
  }
  const delta = from - diag.from;
  const length = view.state.doc.length;
  const changes = diag.fix.changes.map(c => ({
    from: c.from + delta,
    to: c.to + delta,
    insert: c.insert
  }));
  if (changes.some(c => c.from < 0 || c.to > length || c.to < c.from)) {
    return false;
  }
  view.dispatch({ changes });
  return true;
}
