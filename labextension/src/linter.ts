/**
 * One linter per open notebook (and per open .py file): debounced requests to the server, results
 * spread onto the cell editors, the output areas, the panel and the status bar.
 *
 * The whole notebook is sent every time (the engine needs the cross-cell context, and caches each
 * cell by content + context, so unchanged cells cost nothing server-side). Nothing is sent when the
 * request would be identical to the last one, one request per document is in flight at a time, and
 * editors are only touched where a cell's diagnostics changed (see editors.ts).
 */
import { Cell, CodeCell, ICellModel, ICodeCellModel } from '@jupyterlab/cells';
import type { CodeEditor } from '@jupyterlab/codeeditor';
import type { DocumentRegistry, IDocumentWidget } from '@jupyterlab/docregistry';
import type { FileEditor } from '@jupyterlab/fileeditor';
import type { NotebookPanel } from '@jupyterlab/notebook';
import { ServerConnection } from '@jupyterlab/services';
import { IDisposable } from '@lumino/disposable';
import { ISignal, Signal } from '@lumino/signaling';
import { ignoreInNotebook, notebookIgnores } from './actions';
import { clearModelDiagnostics, setModelDiagnostics } from './editors';
import { IDiagnosticHandlers, toCodeMirror } from './render';
import { requestAPI } from './request';
import {
  ICellPayload,
  ILintRequest,
  ILintResponse,
  IMlsecDiagnostic,
  IPlacedFinding,
  ISettings,
  SEVERITIES,
  Severity,
  sourceKey
} from './types';

/** What a linter needs from the extension. */
export interface ILinterEnv {
  serverSettings: ServerConnection.ISettings;
  settings(): ISettings;
  explain(rule: string): void;
  activate(widget: IDocumentWidget): void;
}

const MAX_OUTPUT_CHARS = 100_000; // per output text sent for the secrets-in-output rules
const MAX_TOTAL_OUTPUT_CHARS = 4_000_000; // per request; beyond it outputs are not sent
const MAX_METADATA_CHARS = 256_000;

function lintRequest(
  path: string,
  s: ISettings,
  kind: 'notebook' | 'file',
  cells: ICellPayload[],
  language: string,
  ignore: string[]
): ILintRequest {
  return {
    kind,
    path,
    language,
    cells,
    ignore,
    settings: { minSeverity: s.minSeverity, disabledRules: s.disabledRules, bandit: s.bandit }
  };
}

export type LinterState = 'idle' | 'linting' | 'error' | 'disabled';

export abstract class DocumentLinter<T> implements IDisposable {
  constructor(
    readonly widget: IDocumentWidget,
    protected env: ILinterEnv
  ) {}

  /** Emitted after every lint (and when the state changes): the panel and status bar redraw. */
  get changed(): ISignal<this, void> {
    return this._changed;
  }

  get isDisposed(): boolean {
    return this._disposed;
  }

  get path(): string {
    return this.widget.context.localPath ?? this.widget.context.path;
  }

  findings: IPlacedFinding[] = [];
  errors: string[] = [];
  state: LinterState = 'idle';
  excluded = false;
  configFile: string | null = null;
  lastResponse: ILintResponse | null = null;
  /** performance.now() when the last result was applied (the bench reads it). */
  appliedAt = 0;
  lintCount = 0;
  /** Where the last lint's time went (ms): building the request, the round trip, the server's part, applying. */
  timings = { collect: 0, roundtrip: 0, server: 0, apply: 0 };

  counts(): Record<Severity, number> {
    const c = { critical: 0, high: 0, medium: 0, low: 0, info: 0 } as Record<Severity, number>;
    for (const f of this.findings) {
      c[f.diagnostic.severity]++;
    }
    return c;
  }

  /** Lint after the debounce delay (0: now). Repeated calls restart the delay. */
  schedule(delay?: number): void {
    if (this._disposed) {
      return;
    }
    if (this._timer !== null) {
      clearTimeout(this._timer);
    }
    const ms = delay ?? Math.max(0, this.env.settings().debounce);
    this._timer = window.setTimeout(() => {
      this._timer = null;
      void this.run();
    }, ms);
  }

  /** Lint now unless nothing changed since the last request (`force` re-sends anyway). */
  async run(force = false): Promise<void> {
    if (this._disposed) {
      return;
    }
    if (!this.env.settings().enabled) {
      this.disable();
      return;
    }
    if (this._inFlight) {
      this._again = true;
      return;
    }
    const t0 = performance.now();
    const req = this.collect();
    if (!req) {
      return;
    }
    const body = JSON.stringify(req.body);
    const t1 = performance.now();
    if (!force && body === this._lastBody) {
      this.spread(req, this.lastResponse);
      return;
    }
    this._inFlight = true;
    this.setState('linting');
    try {
      const response = await requestAPI<ILintResponse>(this.env.serverSettings, 'lint', {
        method: 'POST',
        body,
        headers: { 'Content-Type': 'application/json' }
      });
      if (this._disposed) {
        return;
      }
      this._lastBody = body;
      this.lastResponse = response;
      this.errors = response.errors.map(e => e.message);
      this.excluded = response.excluded;
      this.configFile = response.config;
      this.lintCount++;
      const t2 = performance.now();
      this.spread(req, response);
      this.appliedAt = performance.now();
      this.timings = {
        collect: Math.round(t1 - t0),
        roundtrip: Math.round(t2 - t1),
        server: Math.round(response.durationMs ?? 0),
        apply: Math.round(this.appliedAt - t2)
      };
      this.state = 'idle';
    } catch (err) {
      this._lastBody = '';
      this.errors = [err instanceof Error ? err.message : String(err)];
      this.state = 'error';
    } finally {
      this._inFlight = false;
      this._changed.emit();
      if (this._again && !this._disposed) {
        this._again = false;
        this.schedule(0);
      }
    }
  }

  /** Switched off in the settings: clear everything this linter drew. */
  disable(): void {
    this.clear();
    this.findings = [];
    this.lastResponse = null;
    this._lastBody = '';
    this.setState('disabled');
  }

  dispose(): void {
    if (this._disposed) {
      return;
    }
    this._disposed = true;
    if (this._timer !== null) {
      clearTimeout(this._timer);
    }
    Signal.clearData(this);
  }

  /** Jump to a finding: activate the document, scroll, put the cursor on it. */
  abstract reveal(finding: IPlacedFinding): Promise<void>;

  protected abstract collect(): { body: ILintRequest; targets: T[] } | null;
  protected abstract spread(req: { body: ILintRequest; targets: T[] }, response: ILintResponse | null): void;
  protected abstract clear(): void;

  protected baseRequest(kind: 'notebook' | 'file', cells: ICellPayload[], language: string, ignore: string[]): ILintRequest {
    return lintRequest(this.path, this.env.settings(), kind, cells, language, ignore);
  }

  protected emitChanged(): void {
    this._changed.emit();
  }

  protected setState(state: LinterState): void {
    if (this.state !== state) {
      this.state = state;
      this._changed.emit();
    }
  }

  protected applyToModel(
    model: CodeEditor.IModel,
    source: string,
    diags: IMlsecDiagnostic[],
    handlers: IDiagnosticHandlers
  ): void {
    const key = diags.length ? JSON.stringify(diags) : '';
    setModelDiagnostics(model, source, key, diags.length === 0, () => diags.map(d => toCodeMirror(d, handlers)));
  }

  private _changed = new Signal<this, void>(this);
  private _timer: number | null = null;
  private _inFlight = false;
  private _again = false;
  private _lastBody = '';
  private _disposed = false;
}

// ---------------------------------------------------------------------------------------------

/** Lints of saved notebooks sent the moment their panel is created (before JupyterLab loads them). */
const early = new WeakMap<NotebookPanel, Promise<ILintResponse>>();

function requestSaved(panel: NotebookPanel, env: ILinterEnv): Promise<ILintResponse> {
  const path = panel.context.localPath ?? panel.context.path;
  const body: ILintRequest = { ...lintRequest(path, env.settings(), 'notebook', [], 'python', []), fromDisk: true };
  return requestAPI<ILintResponse>(env.serverSettings, 'lint', {
    method: 'POST',
    body: JSON.stringify(body),
    headers: { 'Content-Type': 'application/json' }
  });
}

/**
 * Start the lint of a notebook's saved file as its panel is created: the request then races
 * JupyterLab's own fetch of the file instead of starting after the first cells are on screen, and
 * the answer is usually back before JupyterLab starts rendering every cell (a long, blocking task
 * with windowing "none"). The panel's linter picks it up.
 */
export function prefetchSaved(panel: NotebookPanel, env: ILinterEnv): void {
  if (!env.settings().enabled || early.has(panel)) {
    return;
  }
  const pending = requestSaved(panel, env);
  pending.catch(() => undefined); // handled (or ignored) by the linter
  early.set(panel, pending);
}

interface INotebookTarget {
  model: ICellModel;
  source: string;
}

export class NotebookLinter extends DocumentLinter<INotebookTarget> {
  constructor(
    readonly panel: NotebookPanel,
    env: ILinterEnv
  ) {
    super(panel, env);
    this.handlers = {
      explain: rule => env.explain(rule),
      ignoreInNotebook: ids => {
        const model = this.panel.content.model;
        if (model) {
          ignoreInNotebook(model, ids);
        }
      }
    };
    this.prefetch();
    // the saved file's cells arrive in the model before the context is ready (which waits for a
    // checkpoint round trip and is followed by JupyterLab restyling every editor): use them then
    panel.context.model.cells.changed.connect(this.onCellsLoaded, this);
    void panel.context.ready.then(() => {
      panel.context.model.cells.changed.disconnect(this.onCellsLoaded, this);
      if (this.isDisposed) {
        return;
      }
      const model = panel.content.model;
      model?.contentChanged.connect(this.onChange, this);
      model?.metadataChanged.connect(this.onChange, this);
      this.applyPrefetched(true);
      // now, not after a timer: the server then analyses while JupyterLab renders the cells
      void this.run();
    });
    panel.disposed.connect(() => this.dispose());
  }

  private handlers: IDiagnosticHandlers;
  private prefetched: ILintResponse | null = null;

  /**
   * Ask the server to lint the saved file the moment the notebook starts opening. JupyterLab then
   * spends seconds rendering a long notebook (all of it with windowing "none") and the page runs
   * nothing else meanwhile; with this answer already here, the diagnostics are applied as soon as the
   * cells are in the model instead of after another round trip queued behind that rendering.
   */
  private prefetch(): void {
    if (!this.env.settings().enabled) {
      return;
    }
    const pending = early.get(this.panel) ?? requestSaved(this.panel, this.env);
    early.delete(this.panel);
    pending.then(
      response => {
        if (this.isDisposed) {
          return;
        }
        this.prefetched = response;
        this.applyPrefetched(this.panel.context.isReady);
      },
      () => undefined // not saved yet, renamed, too large: the regular lint follows anyway
    );
  }

  private onCellsLoaded(): void {
    this.applyPrefetched(false);
  }

  /**
   * Spread the prefetched result if no regular lint has landed and every cell holds the text it was
   * computed for. Before the context is ready (`final` false) a model that does not hold all the
   * cells yet is waited for; after it, a mismatch drops the result.
   */
  private applyPrefetched(final: boolean): void {
    const pre = this.prefetched;
    const model = this.panel.context.model;
    if (!pre) {
      return;
    }
    if (this.lintCount > 0 || !pre.sourceKeys || pre.excluded || !this.env.settings().enabled) {
      this.prefetched = null;
      return;
    }
    if (pre.cells.length !== pre.sourceKeys.length) {
      this.prefetched = null;
      return;
    }
    if (model.cells.length !== pre.sourceKeys.length) {
      if (final) {
        this.prefetched = null;
      }
      return;
    }
    const targets: INotebookTarget[] = [];
    for (let i = 0; i < model.cells.length; i++) {
      const cell = model.cells.get(i);
      const source = cell.sharedModel.getSource();
      if (sourceKey(source) !== pre.sourceKeys[i]) {
        if (final) {
          this.prefetched = null;
        }
        return;
      }
      targets.push({ model: cell, source });
    }
    this.prefetched = null;
    this.spread({ body: null as unknown as ILintRequest, targets }, pre);
    this.appliedAt = performance.now();
    this.emitChanged();
  }

  private onChange(): void {
    this.schedule();
  }

  protected collect(): { body: ILintRequest; targets: INotebookTarget[] } | null {
    const model = this.panel.content.model;
    if (!model) {
      return null;
    }
    const cells: ICellPayload[] = [];
    const targets: INotebookTarget[] = [];
    let budget = MAX_TOTAL_OUTPUT_CHARS;
    for (const cell of model.cells) {
      const isCode = cell.type === 'code';
      const source = cell.sharedModel.getSource();
      const payload: ICellPayload = { id: cell.id, cell_type: cell.type, source: isCode ? source : '' };
      if (isCode && budget > 0) {
        const outputs = textOutputs(cell as ICodeCellModel);
        budget -= outputs.size;
        if (outputs.items.length && budget > 0) {
          payload.outputs = outputs.items;
        }
      }
      cells.push(payload);
      targets.push({ model: cell, source });
    }
    const meta = model.getMetadata('kernelspec') as { language?: string } | undefined;
    const info = model.getMetadata('language_info') as { name?: string } | undefined;
    const language = info?.name || meta?.language || 'python';
    const body = this.baseRequest('notebook', cells, language, notebookIgnores(model));
    // notebook metadata is scanned too (tokens pasted into it); widget state can be megabytes: left out
    const metadata = { ...(model.metadata as Record<string, unknown>) };
    delete metadata.widgets;
    if (JSON.stringify(metadata).length <= MAX_METADATA_CHARS) {
      body.metadata = metadata;
    }
    return { body, targets };
  }

  protected spread(req: { body: ILintRequest; targets: INotebookTarget[] }, response: ILintResponse | null): void {
    const findings: IPlacedFinding[] = [];
    const outputFindings = new Map<ICellModel, IMlsecDiagnostic[]>();
    req.targets.forEach((t, i) => {
      const diags = response?.cells[i] ?? [];
      const inCode = diags.filter(d => !d.inOutput);
      const inOutput = diags.filter(d => d.inOutput);
      if (t.model.type === 'code') {
        this.applyToModel(t.model, t.source, inCode, this.handlers);
      }
      if (inOutput.length) {
        outputFindings.set(t.model, inOutput);
      }
      for (const d of diags) {
        findings.push({ diagnostic: d, cellIndex: i, target: t.model });
      }
    });
    for (const d of response?.notebook ?? []) {
      findings.push({ diagnostic: d, cellIndex: null, target: null });
    }
    this.findings = findings;
    this.markOutputs(outputFindings);
  }

  /** Outlines the output area of cells whose outputs hold a finding (a leaked token, say). */
  private markOutputs(byModel: Map<ICellModel, IMlsecDiagnostic[]>): void {
    for (const cell of this.panel.content.widgets) {
      const diags = byModel.get(cell.model);
      const flagged = cell.node.classList.contains('mlsec-output-flagged');
      if (!diags) {
        if (flagged) {
          cell.node.classList.remove('mlsec-output-flagged');
          delete cell.node.dataset.mlsecOutput;
          const area = (cell as CodeCell).outputArea;
          if (area) {
            area.node.removeAttribute('title');
            delete area.node.dataset.mlsecLabel;
          }
        }
        continue;
      }
      const worst = SEVERITIES.find(s => diags.some(d => d.severity === s)) ?? 'info';
      cell.node.classList.add('mlsec-output-flagged');
      cell.node.dataset.mlsecOutput = worst;
      const label = `mlsec: ${diags.map(d => `${d.rule} ${d.message}`).join('\n')}`;
      void cell.ready.then(() => {
        const area = (cell as CodeCell).outputArea;
        if (area && cell.node.classList.contains('mlsec-output-flagged')) {
          area.node.title = label;
          area.node.dataset.mlsecLabel = `${diags[0].rule}: ${diags[0].message}`;
        }
      });
    }
  }

  protected clear(): void {
    const model = this.panel.content.model;
    if (model) {
      for (const cell of model.cells) {
        clearModelDiagnostics(cell);
      }
    }
    this.markOutputs(new Map());
  }

  async reveal(finding: IPlacedFinding): Promise<void> {
    const nb = this.panel.content;
    this.env.activate(this.panel);
    const model = finding.target as ICellModel | null;
    if (!model || !nb.model) {
      return;
    }
    let index = -1;
    for (let i = 0; i < nb.model.cells.length; i++) {
      if (nb.model.cells.get(i) === model) {
        index = i;
        break;
      }
    }
    if (index < 0) {
      return;
    }
    nb.activeCellIndex = index;
    try {
      await nb.scrollToItem(index, 'center');
    } catch {
      // older windowing code paths: scrollToCell below still brings it in
    }
    const cell: Cell | undefined = nb.widgets[index];
    if (!cell) {
      return;
    }
    await nb.scrollToCell(cell, 'center').catch(() => undefined);
    await cell.ready;
    const d = finding.diagnostic;
    if (d.inOutput) {
      nb.mode = 'command';
      (cell as CodeCell).outputArea?.node.scrollIntoView({ block: 'center' });
      return;
    }
    const editor = cell.editor;
    if (!editor) {
      return;
    }
    nb.mode = 'edit';
    const text = model.sharedModel.getSource();
    const pos = editor.getPositionAt(Math.min(d.from, text.length));
    if (pos) {
      editor.setCursorPosition(pos);
      editor.revealPosition(pos);
    }
    editor.focus();
  }
}

function textOutputs(cell: ICodeCellModel): { items: Record<string, unknown>[]; size: number } {
  const items: Record<string, unknown>[] = [];
  let size = 0;
  const outputs = cell.outputs;
  if (!outputs) {
    return { items, size };
  }
  const cut = (s: unknown): string => {
    const text = Array.isArray(s) ? s.join('') : typeof s === 'string' ? s : '';
    const out = text.length > MAX_OUTPUT_CHARS ? text.slice(0, MAX_OUTPUT_CHARS) : text;
    size += out.length;
    return out;
  };
  for (let i = 0; i < outputs.length; i++) {
    const o = outputs.get(i).toJSON() as Record<string, any>;
    const kind = o.output_type;
    if (kind === 'stream') {
      items.push({ output_type: kind, name: o.name, text: cut(o.text) });
    } else if (kind === 'execute_result' || kind === 'display_data') {
      const data: Record<string, string> = {};
      for (const mime of ['text/plain', 'text/html', 'text/markdown']) {
        if (o.data && mime in o.data) {
          data[mime] = cut(o.data[mime]);
        }
      }
      if (o.data && 'application/json' in o.data) {
        data['application/json'] = cut(JSON.stringify(o.data['application/json']));
      }
      items.push({ output_type: kind, data });
    } else if (kind === 'error') {
      items.push({ output_type: kind, traceback: [cut(o.traceback)] });
    }
  }
  return { items, size };
}

// ---------------------------------------------------------------------------------------------

interface IFileTarget {
  model: CodeEditor.IModel;
  source: string;
}

export class FileLinter extends DocumentLinter<IFileTarget> {
  constructor(
    readonly editorWidget: IDocumentWidget<FileEditor>,
    env: ILinterEnv
  ) {
    super(editorWidget, env);
    const context: DocumentRegistry.Context = editorWidget.context;
    void context.ready.then(() => {
      if (this.isDisposed) {
        return;
      }
      context.model.contentChanged.connect(this.onChange, this);
      void this.run();
    });
    editorWidget.disposed.connect(() => this.dispose());
  }

  private handlers: IDiagnosticHandlers = { explain: rule => this.env.explain(rule), ignoreInNotebook: null };

  private onChange(): void {
    this.schedule();
  }

  private get model(): CodeEditor.IModel {
    return this.editorWidget.content.editor.model;
  }

  protected collect(): { body: ILintRequest; targets: IFileTarget[] } | null {
    const model = this.model;
    const source = model.sharedModel.getSource();
    const body = this.baseRequest('file', [{ id: 'file', cell_type: 'code', source }], 'python', []);
    return { body, targets: [{ model, source }] };
  }

  protected spread(req: { body: ILintRequest; targets: IFileTarget[] }, response: ILintResponse | null): void {
    const t = req.targets[0];
    const diags = response?.cells[0] ?? [];
    this.applyToModel(t.model, t.source, diags, this.handlers);
    this.findings = diags.map(d => ({ diagnostic: d, cellIndex: null, target: t.model }));
  }

  protected clear(): void {
    clearModelDiagnostics(this.model);
  }

  async reveal(finding: IPlacedFinding): Promise<void> {
    this.env.activate(this.editorWidget);
    const editor = this.editorWidget.content.editor;
    const pos = editor.getPositionAt(finding.diagnostic.from);
    if (pos) {
      editor.setCursorPosition(pos);
      editor.revealPosition(pos);
    }
    editor.focus();
  }
}
