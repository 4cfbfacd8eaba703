// Calls to the gateway's own public routes, with the caller token when there is one.

/** An RFC 9457 problem as the gateway sends it, or one made here when there was no answer. */
export interface Problem {
  title: string;
  status: number;
  detail: string;
  code?: string;
  param?: string;
}

export type Answer<T> = { ok: true; body: T } | { ok: false; problem: Problem };

export async function getJson<T>(path: string, token: string): Promise<Answer<T>> {
  const headers: Record<string, string> = { accept: 'application/json' };
  if (token) headers.authorization = `Bearer ${token}`;
  let response: Response;
  try {
    response = await fetch(path, { headers, credentials: 'omit', redirect: 'error' });
  } catch (error) {
    return { ok: false, problem: { title: 'No answer', status: 0, detail: `the gateway did not answer (${(error as Error).message})` } };
  }
  const text = await response.text();
  if (response.ok) {
    try {
      return { ok: true, body: JSON.parse(text) as T };
    } catch {
      return { ok: false, problem: { title: 'Unreadable answer', status: response.status, detail: 'the answer is not JSON' } };
    }
  }
  return { ok: false, problem: problemOf(response, text) };
}

function problemOf(response: Response, text: string): Problem {
  const fallback = { title: response.statusText || 'Error', status: response.status, detail: `HTTP ${response.status}` };
  if (!(response.headers.get('content-type') ?? '').includes('json')) return fallback;
  try {
    const body = JSON.parse(text) as Partial<Problem>;
    return {
      title: typeof body.title === 'string' ? body.title : fallback.title,
      status: typeof body.status === 'number' ? body.status : response.status,
      detail: typeof body.detail === 'string' ? body.detail : fallback.detail,
      ...(typeof body.code === 'string' ? { code: body.code } : {}),
      ...(typeof body.param === 'string' ? { param: body.param } : {}),
    };
  } catch {
    return fallback;
  }
}
