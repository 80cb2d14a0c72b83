/**
 * The wire format of `POST <base>/mlsec/lint` and the extension's settings.
 * Offsets (`from`, `to`, fix changes) are UTF-16 code units into the cell source, as CodeMirror counts.
 */

export type Severity = 'info' | 'low' | 'medium' | 'high' | 'critical';

/** Most severe first: the order of the panel's groups. */
export const SEVERITIES: Severity[] = ['critical', 'high', 'medium', 'low', 'info'];

export interface IFixChange {
  from: number;
  to: number;
  insert: string;
}

export interface IFix {
  title: string;
  safe: boolean;
  changes: IFixChange[];
}

export interface IMlsecDiagnostic {
  rule: string;
  name: string;
  severity: Severity;
  category: string;
  message: string;
  fixHint: string;
  snippet: string;
  inOutput: boolean;
  line: number;
  endLine: number;
  col: number;
  endCol: number;
  from: number;
  to: number;
  ids: string[];
  source: string;
  notes: string[];
  cwe: number | null;
  /** The rule has an mlsec explanation (`GET /mlsec/rules/<id>`); bandit-only ids do not. */
  explainable: boolean;
  fix?: IFix;
}

export interface ILintResponse {
  version: number;
  cells: IMlsecDiagnostic[][];
  notebook: IMlsecDiagnostic[];
  errors: { message: string }[];
  config: string | null;
  excluded: boolean;
  durationMs?: number;
  analysisMs?: number;
  /** With fromDisk: each cell's `sourceKey`, so that results are applied only to unchanged text. */
  sourceKeys?: string[];
}

/** Length and 32-bit FNV-1a of the UTF-16 code units (the server's `source_key`). */
export function sourceKey(text: string): string {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h = Math.imul(h ^ text.charCodeAt(i), 0x01000193) >>> 0;
  }
  return `${text.length}:${h.toString(16).padStart(8, '0')}`;
}

export interface ICellPayload {
  id: string;
  cell_type: string;
  source: string;
  outputs?: Record<string, unknown>[];
}

export interface ILintRequest {
  kind: 'notebook' | 'file';
  path: string;
  language: string;
  cells: ICellPayload[];
  ignore: string[];
  settings: { minSeverity: Severity; disabledRules: string[]; bandit: boolean };
  metadata?: Record<string, unknown>;
  /** Lint the saved file instead of `cells` (sent while JupyterLab is still loading the notebook). */
  fromDisk?: boolean;
}

export interface ISettings {
  enabled: boolean;
  minSeverity: Severity;
  disabledRules: string[];
  bandit: boolean;
  debounce: number;
  lintPythonFiles: boolean;
}

export const DEFAULT_SETTINGS: ISettings = {
  enabled: true,
  minSeverity: 'info',
  disabledRules: [],
  bandit: true,
  debounce: 300,
  lintPythonFiles: true
};

/** A diagnostic placed in a document, as the panel and the status bar list it. */
export interface IPlacedFinding {
  diagnostic: IMlsecDiagnostic;
  /** 0-based cell index at lint time; null for a .py file or notebook metadata. */
  cellIndex: number | null;
  /** Opaque handle the linter uses to find the cell again after cells move. */
  target: unknown;
}
