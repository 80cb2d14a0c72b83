/**
 * Which CodeMirror views show which model, and what each model's diagnostics should be.
 *
 * An editor extension (registered in IEditorExtensionRegistry) tells us about every EditorView as it
 * is created and destroyed, together with its model (a cell model or a file's document model). That
 * covers lazily rendered and windowed cells, cells re-created after a move, and file editors: a view
 * created after the lint result arrived gets the model's diagnostics right away.
 *
 * A view is only updated when its model's diagnostics or text changed (compared by key), and never with
 * a result computed for a different text (a newer lint is then on its way).
 */
import type { CodeEditor } from '@jupyterlab/codeeditor';
import { EditorExtensionRegistry, IEditorExtensionFactory } from '@jupyterlab/codemirror';
import { Diagnostic, linter, lintGutter, setDiagnostics } from '@codemirror/lint';
import { Extension, Prec, StateEffect } from '@codemirror/state';
import { EditorView, ViewPlugin } from '@codemirror/view';

interface IDesired {
  source: string;
  key: string;
  empty: boolean;
  build: () => Diagnostic[];
  built?: Diagnostic[];
}

const viewsByModel = new WeakMap<CodeEditor.IModel, Set<EditorView>>();
// Views are only updated while on (or near) the screen: with every cell of a long notebook rendered
// (windowing "none"), updating hundreds of off-screen editors at once forces a layout per editor.
const viewOfDom = new WeakMap<Element, EditorView>();
const onScreen = new WeakSet<EditorView>();
const waiting = new WeakMap<EditorView, CodeEditor.IModel>();
let observer: IntersectionObserver | null = null;
const MARGIN = 400; // px above and below the window where a view counts as on screen

function visibility(): IntersectionObserver {
  if (!observer) {
    observer = new IntersectionObserver(
      entries => {
        for (const entry of entries) {
          const view = viewOfDom.get(entry.target);
          if (!view) {
            continue;
          }
          if (entry.isIntersecting) {
            onScreen.add(view);
            const model = waiting.get(view);
            if (model) {
              waiting.delete(view);
              arriving.set(view, model);
            }
          } else {
            onScreen.delete(view);
          }
        }
        applyArriving();
      },
      { rootMargin: `${MARGIN}px 0px` }
    );
  }
  return observer;
}

/**
 * Views that scrolled into view with diagnostics to show, updated a few per task. Each update makes
 * CodeMirror read the DOM selection right after writing its marks, which forces a layout; with every
 * cell of a long notebook in the page (windowing "none") that is ~10 ms per view, and a fast scroll
 * brings several views at once. Updated within a budget per task, they no longer make one long task.
 */
const arriving = new Map<EditorView, CodeEditor.IModel>();
const BUDGET_MS = 12;
let drainScheduled = false;

function applyArriving(): void {
  const t0 = performance.now();
  for (const [view, model] of arriving) {
    if (performance.now() - t0 > BUDGET_MS) {
      break;
    }
    arriving.delete(view);
    applyTo(view, model); // back to waiting if it left the screen meanwhile
  }
  if (arriving.size && !drainScheduled) {
    drainScheduled = true;
    setTimeout(() => {
      drainScheduled = false;
      applyArriving();
    }, 0);
  }
}

const desired = new WeakMap<CodeEditor.IModel, IDesired>();
const appliedKey = new WeakMap<EditorView, string>();
const withLint = new WeakSet<EditorView>();

// Lowest precedence: the underline wraps the syntax-highlighting spans instead of being cut by them.
const LINT = [Prec.lowest(linter(null)), lintGutter({ hoverTime: 200 })];

/**
 * The themes (style modules) inside an extension. A view that gains a theme after it was created
 * remounts its styles, and for a page (not a shadow root) CodeMirror's style-mod rewrites the one
 * shared <style> element: every editor in the page is restyled (about 70 ms with 300 cells, per
 * view). Every editor gets LINT's themes at creation, so adding LINT later brings no new one.
 */
function themesOf(ext: Extension): Extension[] {
  const found: Extension[] = [];
  const seen = new Set<unknown>();
  const walk = (e: any): void => {
    if (!e || typeof e !== 'object' || seen.has(e)) {
      return;
    }
    seen.add(e);
    if (Array.isArray(e)) {
      e.forEach(walk);
    } else if (e.facet === EditorView.styleModule) {
      found.push(e);
    } else if (e.facet) {
      walk(e.facet.extensions); // what a facet enables (the tooltip facet brings its theme)
    } else if (e.inner) {
      walk(e.inner); // precedence or compartment
    } else {
      walk(e.provides); // a state field
      walk(e.extension); // a view plugin
    }
  };
  walk(ext);
  return found;
}
const THEMES = Prec.lowest(themesOf(LINT));

/**
 * The editor extension: registers each view with its model for as long as the view lives. The lint
 * extensions (state, underlines, hover tooltip, gutter) are added to a view with its first diagnostics,
 * not to every editor up front: CodeMirror's tooltip plugin alone costs about 3 ms per editor, which
 * made rendering a 300-cell notebook with windowing "none" 0.8 s slower. Views are only updated near
 * the screen, so these reconfigurations come a few at a time.
 */
export function trackerExtension(): IEditorExtensionFactory<undefined> {
  return {
    name: 'jupyter-mlsec:diagnostics',
    factory: options => {
      const model = options.model;
      const tracker = ViewPlugin.define(view => {
          let set = viewsByModel.get(model);
          if (!set) {
            set = new Set();
            viewsByModel.set(model, set);
          }
          set.add(view);
          viewOfDom.set(view.dom, view);
          visibility().observe(view.dom); // reports the current state right away, then changes
          created.push([view, model]);
          if (created.length === 1) {
            // A view cannot be updated while it is being constructed: right after, for all views
            // created in this task at once.
            void Promise.resolve().then(applyToCreated);
          }
          return {
            destroy: () => {
              viewsByModel.get(model)?.delete(view);
              waiting.delete(view);
              arriving.delete(view);
              visibility().unobserve(view.dom);
            }
          };
        });
      return EditorExtensionRegistry.createImmutableExtension([tracker, THEMES]);
    }
  };
}

/**
 * Views just created, with their models. The intersection observer only reports where a view is at the
 * next frame, and while JupyterLab renders a long notebook (every cell with windowing "none") that
 * frame waits behind more of its work; views created together in such a batch, with diagnostics
 * already known (the saved file's lint arrived first), are placed by one geometry read instead, and
 * the ones on screen are updated right away.
 */
let created: [EditorView, CodeEditor.IModel][] = [];
const BIG_BATCH = 20;

function applyToCreated(): void {
  const batch = created;
  created = [];
  const pending = (view: EditorView, model: CodeEditor.IModel): boolean => {
    const want = desired.get(model);
    return want !== undefined && !want.empty && appliedKey.get(view) !== want.key;
  };
  // Only for a big batch: that is JupyterLab rendering a whole notebook in one long task. Windowed
  // notebooks create a few editors at a time, mostly off screen, and their next frame is near: a
  // geometry read there would only force extra layouts.
  if (batch.length >= BIG_BATCH && batch.some(([view, model]) => pending(view, model))) {
    // Reads only (one layout), then the updates. Editors created together (a notebook's cells, in
    // order) may not have their height yet: each one without is counted at its line count, and the
    // ones after it are that much further down.
    const top = -MARGIN;
    const bottom = window.innerHeight + MARGIN;
    let below = 0;
    for (const [view, model] of batch) {
      if (!view.dom.isConnected || view.dom.getClientRects().length === 0) {
        continue; // not in the page, or in a hidden panel
      }
      const r = view.dom.getBoundingClientRect();
      const height = r.height || view.state.doc.lines * view.defaultLineHeight;
      const y = r.top + below;
      below += height - r.height;
      if (y <= bottom && y + height >= top && pending(view, model)) {
        onScreen.add(view);
      }
    }
  }
  for (const [view, model] of batch) {
    applyTo(view, model);
  }
}

/**
 * Set what `model` should show: `key` identifies the diagnostics and `source` the text they were
 * computed for; `build` creates the CodeMirror diagnostics only when some view needs them.
 */
export function setModelDiagnostics(
  model: CodeEditor.IModel,
  source: string,
  key: string,
  empty: boolean,
  build: () => Diagnostic[]
): void {
  const current = desired.get(model);
  if (current && current.key === key && current.source === source) {
    // same result: still offer it to views that have not shown it (new, or stale before)
    for (const view of viewsByModel.get(model) ?? []) {
      applyTo(view, model);
    }
    return;
  }
  desired.set(model, { source, key, empty, build });
  for (const view of viewsByModel.get(model) ?? []) {
    applyTo(view, model);
  }
}

/** Forget a model's diagnostics and clear them from its views (extension switched off). */
export function clearModelDiagnostics(model: CodeEditor.IModel): void {
  desired.delete(model);
  for (const view of viewsByModel.get(model) ?? []) {
    if (appliedKey.has(view)) {
      view.dispatch(setDiagnostics(view.state, []));
      appliedKey.delete(view);
    }
  }
}

/** The live views of a model (for actions that edit text). */
export function viewsOf(model: CodeEditor.IModel): EditorView[] {
  return [...(viewsByModel.get(model) ?? [])];
}

function applyTo(view: EditorView, model: CodeEditor.IModel): void {
  const want = desired.get(model);
  if (!want) {
    return;
  }
  const had = appliedKey.get(view);
  if (had === want.key) {
    return;
  }
  if (want.empty && had === undefined) {
    return; // nothing shown, nothing to show
  }
  if (!onScreen.has(view)) {
    waiting.set(view, model); // applied when it scrolls into view
    return;
  }
  if (view.state.doc.toString() !== want.source) {
    return; // the text moved on; the lint of the new text will update this view
  }
  if (!want.built) {
    want.built = want.build();
  }
  const spec = setDiagnostics(view.state, want.built).effects;
  // setDiagnostics adds the lint state itself when a view has none, at default precedence: ours instead
  let effects = (Array.isArray(spec) ? spec : spec ? [spec] : []) as StateEffect<unknown>[];
  if (!withLint.has(view)) {
    // added and filled in one transaction: new state fields are created, then see its effects
    effects = [StateEffect.appendConfig.of(LINT), ...effects.filter(e => !e.is(StateEffect.appendConfig))];
    withLint.add(view);
  }
  view.dispatch({ effects });
  appliedKey.set(view, want.key);
}
