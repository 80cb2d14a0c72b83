/**
 * The rule explanation view: `GET /mlsec/rules/<id>` rendered as (sanitised) markdown in a main-area tab.
 */
import { MainAreaWidget } from '@jupyterlab/apputils';
import { IRenderMimeRegistry, MimeModel } from '@jupyterlab/rendermime';
import { ServerConnection } from '@jupyterlab/services';
import { Panel, Widget } from '@lumino/widgets';
import { el, severityBadge } from './render';
import { requestAPI } from './request';
import { Severity } from './types';

interface IRuleMeta {
  id: string;
  name: string;
  category: string;
  severity: Severity;
  cwe: number | null;
  stage: string;
  message: string;
  fix_hint: string;
  explanation: string;
  bandit_ids: string[];
}

export async function createExplanation(
  rule: string,
  serverSettings: ServerConnection.ISettings,
  rendermime: IRenderMimeRegistry | null
): Promise<MainAreaWidget> {
  const content = new Panel();
  content.addClass('mlsec-explanation');
  const top = new Widget();
  content.addWidget(top);
  const widget = new MainAreaWidget({ content });
  widget.id = `jupyter-mlsec-explain-${rule}`;
  widget.title.label = `mlsec ${rule}`;
  widget.title.closable = true;
  let meta: IRuleMeta;
  try {
    meta = await requestAPI<IRuleMeta>(serverSettings, `rules/${encodeURIComponent(rule)}`);
  } catch (err) {
    top.node.appendChild(el('p', 'mlsec-panel-error', err instanceof Error ? err.message : String(err)));
    return widget;
  }
  const head = el('div', 'mlsec-explanation-head');
  head.appendChild(severityBadge(meta.severity));
  head.appendChild(el('h1', '', `${meta.id} ${meta.name}`));
  top.node.appendChild(head);
  const facts = [`category: ${meta.category}`, `stage: ${meta.stage}`];
  if (meta.cwe) {
    facts.push(`CWE-${meta.cwe}`);
  }
  if (meta.bandit_ids.length) {
    facts.push(`bandit: ${meta.bandit_ids.join(', ')}`);
  }
  top.node.appendChild(el('div', 'mlsec-explanation-facts', facts.join(' · ')));
  const markdown =
    meta.explanation || `${meta.message}\n\n**Fix:** ${meta.fix_hint || 'see the rule documentation.'}`;
  if (rendermime) {
    const renderer = rendermime.createRenderer('text/markdown');
    await renderer.renderModel(new MimeModel({ data: { 'text/markdown': markdown }, trusted: false }));
    content.addWidget(renderer);
  } else {
    top.node.appendChild(el('pre', '', markdown));
  }
  return widget;
}
