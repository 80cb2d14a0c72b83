import { URLExt } from '@jupyterlab/coreutils';
import { ServerConnection } from '@jupyterlab/services';

/** Call `<base_url>/mlsec/<endpoint>`; ServerConnection adds the token / XSRF header. */
export async function requestAPI<T>(
  settings: ServerConnection.ISettings,
  endpoint: string,
  init: RequestInit = {}
): Promise<T> {
  const url = URLExt.join(settings.baseUrl, 'mlsec', endpoint);
  const response = await ServerConnection.makeRequest(url, init, settings);
  const text = await response.text();
  let data: any = text;
  if (text.length > 0) {
    try {
      data = JSON.parse(text);
    } catch {
      // not JSON: keep the text for the error message
    }
  }
  if (!response.ok) {
    const reason =
      (data && (data.reason || data.message)) || response.statusText || String(response.status);
    throw new ServerConnection.ResponseError(response, `mlsec: ${reason}`);
  }
  return data as T;
}
