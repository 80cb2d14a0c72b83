/**
 * jupyter-mlsec: security findings for ML notebooks while you type.
 *
 * Wires the pieces: an editor extension that tracks views (editors.ts), one linter per notebook and per
 * .py file editor (linter.ts), the Security panel and status-bar item (panel.ts), the explanation view
 * (explain.ts) and the settings (schema/plugin.json).
 */
import {
  ILabShell,
  ILayoutRestorer,
  JupyterFrontEnd,
  JupyterFrontEndPlugin
} from '@jupyterlab/application';
import { ICommandPalette, MainAreaWidget, WidgetTracker } from '@jupyterlab/apputils';
import { IEditorExtensionRegistry } from '@jupyterlab/codemirror';
import type { IDocumentWidget } from '@jupyterlab/docregistry';
import { FileEditor, IEditorTracker } from '@jupyterlab/fileeditor';
import { INotebookTracker, INotebookWidgetFactory, NotebookPanel, NotebookWidgetFactory } from '@jupyterlab/notebook';
import { IRenderMimeRegistry } from '@jupyterlab/rendermime';
import { ISettingRegistry } from '@jupyterlab/settingregistry';
import { IStatusBar } from '@jupyterlab/statusbar';
import { Widget } from '@lumino/widgets';
import { trackerExtension } from './editors';
import { createExplanation } from './explain';
import { DocumentLinter, FileLinter, ILinterEnv, NotebookLinter, prefetchSaved } from './linter';
import { SecurityPanel, StatusItem } from './panel';
import { DEFAULT_SETTINGS, ISettings, SEVERITIES, Severity } from './types';

const PLUGIN_ID = 'jupyter-mlsec:plugin';

namespace CommandIDs {
  export const showPanel = 'mlsec:show-panel';
  export const explain = 'mlsec:explain-rule';
  export const lintNow = 'mlsec:lint-now';
  export const toggle = 'mlsec:toggle';
}

function readSettings(raw: ISettingRegistry.ISettings | null): ISettings {
  if (!raw) {
    return { ...DEFAULT_SETTINGS };
  }
  const c = raw.composite as Partial<ISettings>;
  const sev = SEVERITIES.includes(c.minSeverity as Severity) ? (c.minSeverity as Severity) : 'info';
  return {
    enabled: c.enabled !== false,
    minSeverity: sev,
    disabledRules: Array.isArray(c.disabledRules) ? c.disabledRules.filter(r => typeof r === 'string') : [],
    bandit: c.bandit !== false,
    debounce: typeof c.debounce === 'number' && c.debounce >= 0 ? c.debounce : DEFAULT_SETTINGS.debounce,
    lintPythonFiles: c.lintPythonFiles !== false
  };
}

function isPythonFile(widget: IDocumentWidget<FileEditor>): boolean {
  const path = widget.context.path.toLowerCase();
  return path.endsWith('.py') || path.endsWith('.pyw') || path.endsWith('.ipy');
}

const plugin: JupyterFrontEndPlugin<void> = {
  id: PLUGIN_ID,
  description: 'Inline security warnings for ML notebooks (mlsec).',
  autoStart: true,
  requires: [INotebookTracker, IEditorExtensionRegistry],
  optional: [
    ISettingRegistry,
    IEditorTracker,
    IStatusBar,
    ILabShell,
    IRenderMimeRegistry,
    ICommandPalette,
    ILayoutRestorer,
    INotebookWidgetFactory
  ],
  activate: (
    app: JupyterFrontEnd,
    notebooks: INotebookTracker,
    extensions: IEditorExtensionRegistry,
    settingRegistry: ISettingRegistry | null,
    editors: IEditorTracker | null,
    statusBar: IStatusBar | null,
    labShell: ILabShell | null,
    rendermime: IRenderMimeRegistry | null,
    palette: ICommandPalette | null,
    restorer: ILayoutRestorer | null,
    notebookFactory: NotebookWidgetFactory.IFactory | null
  ) => {
    extensions.addExtension(trackerExtension());

    let settings = { ...DEFAULT_SETTINGS };
    const linters = new Map<Widget, DocumentLinter<unknown>>();
    const explanations = new WidgetTracker<MainAreaWidget>({ namespace: 'jupyter-mlsec-explain' });

    const env: ILinterEnv = {
      serverSettings: app.serviceManager.serverSettings,
      settings: () => settings,
      explain: rule => void app.commands.execute(CommandIDs.explain, { rule }),
      activate: widget => app.shell.activateById(widget.id)
    };

    const panel = new SecurityPanel();
    app.shell.add(panel, 'right', { rank: 900 });
    restorer?.add(panel, panel.id);
    const status = new StatusItem(() => void app.commands.execute(CommandIDs.showPanel));
    statusBar?.registerStatusItem('jupyter-mlsec:status', {
      item: status,
      align: 'left',
      rank: 50,
      isActive: () => true
    });

    const follow = (widget: Widget | null) => {
      const linter = widget ? linters.get(widget) ?? null : null;
      if (linter || !widget || widget instanceof NotebookPanel) {
        panel.setLinter(linter);
        status.setLinter(linter);
      }
    };

    const addLinter = (widget: Widget, linter: DocumentLinter<unknown>) => {
      linters.set(widget, linter);
      widget.disposed.connect(() => {
        linters.delete(widget);
        if (panel.linter === linter) {
          panel.setLinter(null);
          status.setLinter(null);
        }
      });
    };

    // the saved file's lint starts with the panel; the tracker only hears of the panel later
    notebookFactory?.widgetCreated.connect((_, nbPanel) => prefetchSaved(nbPanel, env));
    notebooks.widgetAdded.connect((_, nbPanel) => {
      addLinter(nbPanel, new NotebookLinter(nbPanel, env) as DocumentLinter<unknown>);
      if (notebooks.currentWidget === nbPanel) {
        follow(nbPanel);
      }
    });
    editors?.widgetAdded.connect((_, editorWidget) => {
      if (!settings.lintPythonFiles || !isPythonFile(editorWidget)) {
        return;
      }
      addLinter(editorWidget, new FileLinter(editorWidget, env) as DocumentLinter<unknown>);
    });
    if (labShell) {
      labShell.currentChanged.connect((_, args) => follow(args.newValue));
    } else {
      notebooks.currentChanged.connect((_, nb) => follow(nb));
    }

    app.commands.addCommand(CommandIDs.showPanel, {
      label: 'Show the Security Panel (mlsec)',
      execute: () => app.shell.activateById(panel.id)
    });
    app.commands.addCommand(CommandIDs.explain, {
      label: args => (args.rule ? `Explain mlsec rule ${args.rule}` : 'Explain an mlsec rule'),
      execute: async args => {
        const rule = String(args.rule ?? '').trim().toUpperCase();
        if (!rule) {
          return;
        }
        const existing = explanations.find(w => w.id === `jupyter-mlsec-explain-${rule}`);
        if (existing) {
          app.shell.activateById(existing.id);
          return;
        }
        const widget = await createExplanation(rule, app.serviceManager.serverSettings, rendermime);
        void explanations.add(widget);
        app.shell.add(widget, 'main', { mode: 'split-right' });
        app.shell.activateById(widget.id);
      }
    });
    app.commands.addCommand(CommandIDs.lintNow, {
      label: 'Run mlsec on the Current Document',
      execute: () => {
        const current = app.shell.currentWidget;
        const linter = current ? linters.get(current) : undefined;
        return linter?.run(true);
      }
    });
    app.commands.addCommand(CommandIDs.toggle, {
      label: 'Inline Security Warnings (mlsec)',
      isToggled: () => settings.enabled,
      execute: async () => {
        if (settingRegistry) {
          await settingRegistry.set(PLUGIN_ID, 'enabled', !settings.enabled);
        } else {
          settings = { ...settings, enabled: !settings.enabled };
          onSettings();
        }
      }
    });
    for (const command of [CommandIDs.showPanel, CommandIDs.lintNow, CommandIDs.toggle]) {
      palette?.addItem({ command, category: 'Security' });
    }

    const onSettings = () => {
      for (const linter of linters.values()) {
        if (settings.enabled) {
          linter.schedule(0);
        } else {
          linter.disable();
        }
      }
      app.commands.notifyCommandChanged(CommandIDs.toggle);
    };

    if (settingRegistry) {
      settingRegistry
        .load(PLUGIN_ID)
        .then(loaded => {
          settings = readSettings(loaded);
          loaded.changed.connect(() => {
            settings = readSettings(loaded);
            onSettings();
          });
          onSettings();
        })
        .catch(reason => console.error('mlsec: cannot load settings', reason));
    }
  }
};

export default plugin;
