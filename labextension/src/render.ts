/**
 * mlsec diagnostics as CodeMirror lint diagnostics: severity colours (via markClass), the hover
 * tooltip's content (message, rule id, fix hint, an "Explain" link) and its action buttons.
 */
import { Action, Diagnostic } from '@codemirror/lint';
import { EditorView } from '@codemirror/view';
import { applyFix, ignoreOnLine } from './actions';
import { IMlsecDiagnostic, Severity } from './types';

export interface IDiagnosticHandlers {
  /** Show the rule's explanation (the `mlsec:explain-rule` command). */
  explain(rule: string): void;
  /** Ignore the finding's ids in this notebook; null where there is no notebook (a .py file). */
  ignoreInNotebook: ((ids: string[]) => void) | null;
}

const CM_SEVERITY: Record<Severity, Diagnostic['severity']> = {
  critical: 'error',
  high: 'error',
  medium: 'warning',
  low: 'info',
  info: 'hint'
};

export function toCodeMirror(d: IMlsecDiagnostic, handlers: IDiagnosticHandlers): Diagnostic {
  const actions: Action[] = [];
  if (d.fix) {
    const fix = d.fix;
    actions.push({
      name: `Fix: ${fix.title}`,
      markClass: 'mlsec-action-fix',
      apply: (view: EditorView, from: number) => {
        applyFix(view, from, d);
      }
    });
  }
  actions.push({
    name: 'Ignore on this line',
    markClass: 'mlsec-action-ignore-line',
    apply: (view: EditorView, from: number, to: number) => {
      ignoreOnLine(view, from, to, d.rule);
    }
  });
  const ignoreInNotebook = handlers.ignoreInNotebook;
  if (ignoreInNotebook) {
    actions.push({
      name: `Ignore ${d.rule} in this notebook`,
      markClass: 'mlsec-action-ignore-rule',
      apply: () => ignoreInNotebook(d.ids.length ? d.ids : [d.rule])
    });
  }
  return {
    from: d.from,
    to: d.to,
    severity: CM_SEVERITY[d.severity] ?? 'warning',
    markClass: `mlsec-mark mlsec-sev-${d.severity}`,
    source: 'mlsec',
    message: `${d.rule}: ${d.message}`,
    renderMessage: () => renderTooltip(d, handlers),
    actions
  };
}

export function renderTooltip(d: IMlsecDiagnostic, handlers: IDiagnosticHandlers): HTMLElement {
  const box = el('div', 'mlsec-tooltip');
  box.dataset.rule = d.rule;
  const head = el('div', 'mlsec-tooltip-head');
  head.appendChild(severityBadge(d.severity));
  head.appendChild(el('code', 'mlsec-tooltip-rule', d.rule));
  if (d.name) {
    head.appendChild(el('span', 'mlsec-tooltip-name', d.name));
  }
  head.appendChild(el('span', 'mlsec-tooltip-category', d.category));
  box.appendChild(head);
  box.appendChild(el('div', 'mlsec-tooltip-message', d.message));
  for (const note of d.notes) {
    box.appendChild(el('div', 'mlsec-tooltip-note', note));
  }
  if (d.fixHint) {
    const hint = el('div', 'mlsec-tooltip-hint');
    hint.appendChild(el('strong', '', 'Fix: '));
    hint.appendChild(document.createTextNode(d.fixHint));
    box.appendChild(hint);
  }
  const foot = el('div', 'mlsec-tooltip-foot');
  if (d.explainable) {
    const link = el('a', 'mlsec-explain', `Explain ${d.rule}`) as HTMLAnchorElement;
    link.href = '#';
    link.title = `Show why ${d.rule} matters and how to fix it`;
    link.addEventListener('mousedown', ev => ev.preventDefault()); // keep the editor's focus and tooltip
    link.addEventListener('click', ev => {
      ev.preventDefault();
      handlers.explain(d.rule);
    });
    foot.appendChild(link);
  } else if (d.source === 'bandit') {
    foot.appendChild(el('span', 'mlsec-tooltip-also', `reported by bandit (${d.rule})`));
  }
  if (d.ids.length > 1) {
    foot.appendChild(el('span', 'mlsec-tooltip-also', `also ${d.ids.slice(1).join(', ')}`));
  }
  box.appendChild(foot);
  return box;
}

export function severityBadge(sev: Severity): HTMLElement {
  return el('span', `mlsec-sev-badge mlsec-sev-${sev}`, sev);
}

export function el(tag: string, className: string, text?: string): HTMLElement {
  const node = document.createElement(tag);
  if (className) {
    node.className = className;
  }
  if (text !== undefined) {
    node.textContent = text;
  }
  return node;
}
