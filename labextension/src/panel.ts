/**
 * The "Security" side panel: the current document's findings grouped by severity, then category,
 * with counts; clicking one jumps to its cell and line. Plus the status-bar item with the count.
 */
import { LabIcon } from '@jupyterlab/ui-components';
import { Widget } from '@lumino/widgets';
import { DocumentLinter } from './linter';
import { el, severityBadge } from './render';
import { IPlacedFinding, SEVERITIES, Severity } from './types';

const SHIELD_SVG = `<svg xmlns="http://www.w3.org/2000/svg" width="16" height="16" viewBox="0 0 24 24">
<path class="jp-icon3" fill="#616161" d="M12 1 3 5v6c0 5.55 3.84 10.74 9 12 5.16-1.26 9-6.45 9-12V5l-9-4zm0 4.2 5 2.2v3.6c0 3.7-2.3 7.2-5 8.4-2.7-1.2-5-4.7-5-8.4V7.4l5-2.2z"/>
</svg>`;

export const shieldIcon = new LabIcon({ name: 'jupyter-mlsec:shield', svgstr: SHIELD_SVG });

type AnyLinter = DocumentLinter<unknown>;

/** Follows whichever linter is current and redraws when it reports. */
class LinterFollower extends Widget {
  get linter(): AnyLinter | null {
    return this._linter;
  }

  setLinter(linter: AnyLinter | null): void {
    if (linter === this._linter) {
      return;
    }
    this._linter?.changed.disconnect(this.update, this);
    this._linter = linter;
    linter?.changed.connect(this.update, this);
    this.update();
  }

  /** Lumino runs this on `update()`, batched to once per frame; a hidden panel waits until shown. */
  protected onUpdateRequest(): void {
    if (!this.isVisible) {
      return;
    }
    this.redraw();
  }

  protected onAfterShow(): void {
    this.update();
  }

  protected onAfterAttach(): void {
    this.update();
  }

  redraw(): void {
    // drawn by subclasses
  }

  private _linter: AnyLinter | null = null;
}

export class SecurityPanel extends LinterFollower {
  constructor() {
    super();
    this.id = 'jupyter-mlsec-panel';
    this.addClass('mlsec-panel');
    this.title.icon = shieldIcon;
    this.title.caption = 'Security (mlsec)';
    this.node.tabIndex = 0;
    this.redraw();
  }

  redraw(): void {
    const root = this.node;
    root.textContent = '';
    root.appendChild(el('h2', 'mlsec-panel-title', 'Security'));
    const linter = this.linter;
    if (!linter) {
      root.appendChild(el('p', 'mlsec-panel-empty', 'Open a notebook or a .py file to see its security findings.'));
      return;
    }
    root.appendChild(el('div', 'mlsec-panel-doc', linter.path));
    const findings = linter.findings;
    const counts = linter.counts();
    const summary = el('div', 'mlsec-panel-summary');
    summary.dataset.total = String(findings.length);
    if (linter.state === 'disabled') {
      summary.textContent = 'mlsec is switched off in the settings.';
    } else if (linter.excluded) {
      summary.textContent = `Excluded by [tool.mlsec] exclude in ${linter.configFile ?? 'pyproject.toml'}.`;
    } else if (findings.length === 0) {
      summary.textContent = linter.lintCount === 0 ? 'Checking…' : 'No findings.';
    } else {
      summary.textContent = `${findings.length} finding${findings.length === 1 ? '' : 's'}: ${SEVERITIES.filter(
        s => counts[s] > 0
      )
        .map(s => `${counts[s]} ${s}`)
        .join(', ')}`;
    }
    root.appendChild(summary);
    if (linter.configFile) {
      root.appendChild(el('div', 'mlsec-panel-config', `config: ${linter.configFile}`));
    }
    for (const message of linter.errors) {
      root.appendChild(el('div', 'mlsec-panel-error', message));
    }
    for (const sev of SEVERITIES) {
      const ofSev = findings.filter(f => f.diagnostic.severity === sev);
      if (ofSev.length === 0) {
        continue;
      }
      root.appendChild(this.severityGroup(linter, sev, ofSev));
    }
  }

  private severityGroup(linter: AnyLinter, sev: Severity, findings: IPlacedFinding[]): HTMLElement {
    const group = document.createElement('details');
    group.open = true;
    group.className = `mlsec-panel-group mlsec-panel-sev-${sev}`;
    group.dataset.severity = sev;
    const head = document.createElement('summary');
    head.appendChild(severityBadge(sev));
    head.appendChild(el('span', 'mlsec-panel-count', String(findings.length)));
    group.appendChild(head);
    const byCategory = new Map<string, IPlacedFinding[]>();
    for (const f of findings) {
      const list = byCategory.get(f.diagnostic.category) ?? [];
      list.push(f);
      byCategory.set(f.diagnostic.category, list);
    }
    for (const [category, list] of [...byCategory.entries()].sort()) {
      const cat = el('div', 'mlsec-panel-category');
      cat.dataset.category = category;
      cat.appendChild(el('div', 'mlsec-panel-category-head', `${category} (${list.length})`));
      const ul = el('ul', 'mlsec-panel-list');
      for (const f of list) {
        ul.appendChild(this.item(linter, f));
      }
      cat.appendChild(ul);
      group.appendChild(cat);
    }
    return group;
  }

  private item(linter: AnyLinter, f: IPlacedFinding): HTMLElement {
    const d = f.diagnostic;
    const li = el('li', 'mlsec-panel-item');
    li.dataset.rule = d.rule;
    li.dataset.line = String(d.line);
    if (f.cellIndex !== null) {
      li.dataset.cell = String(f.cellIndex);
    }
    li.tabIndex = 0;
    li.title = d.fixHint ? `${d.message}\nFix: ${d.fixHint}` : d.message;
    const where =
      f.cellIndex === null
        ? d.inOutput || f.target === null
          ? 'notebook metadata'
          : `line ${d.line}`
        : d.inOutput
          ? `cell ${f.cellIndex + 1}, output`
          : `cell ${f.cellIndex + 1}, line ${d.line}`;
    li.appendChild(el('code', 'mlsec-panel-rule', d.rule));
    li.appendChild(el('span', 'mlsec-panel-message', d.message));
    li.appendChild(el('span', 'mlsec-panel-where', where));
    if (d.snippet) {
      li.appendChild(el('pre', 'mlsec-panel-snippet', d.snippet));
    }
    const go = () => void linter.reveal(f);
    li.addEventListener('click', go);
    li.addEventListener('keydown', ev => {
      if (ev.key === 'Enter' || ev.key === ' ') {
        ev.preventDefault();
        go();
      }
    });
    return li;
  }
}

export class StatusItem extends LinterFollower {
  constructor(onClick: () => void) {
    super();
    this.addClass('mlsec-status');
    this.node.addEventListener('click', onClick);
    this.redraw();
  }

  redraw(): void {
    const linter = this.linter;
    this.node.textContent = '';
    const icon = el('span', 'mlsec-status-icon');
    shieldIcon.element({ container: icon, height: '14px', width: '14px' });
    this.node.appendChild(icon);
    if (!linter || linter.state === 'disabled') {
      this.node.appendChild(el('span', 'mlsec-status-text', 'mlsec'));
      this.node.title = linter ? 'mlsec is switched off' : 'mlsec: no notebook';
      delete this.node.dataset.count;
      return;
    }
    const counts = linter.counts();
    const total = linter.findings.length;
    const worst = SEVERITIES.find(s => counts[s] > 0);
    this.node.dataset.count = String(total);
    this.node.dataset.timings = JSON.stringify(linter.timings);
    this.node.dataset.severity = worst ?? 'none';
    this.node.appendChild(el('span', 'mlsec-status-text', `mlsec: ${total}`));
    this.node.title =
      total === 0
        ? 'mlsec: no security findings'
        : `mlsec: ${SEVERITIES.filter(s => counts[s] > 0)
            .map(s => `${counts[s]} ${s}`)
            .join(', ')} (click for the Security panel)`;
  }
}
