import type { components } from './schema';

export type ProblemBody = components['schemas']['ProblemBody'];

/** An error from the API (always problem+json there), or from getting no answer at all. */
export class ApiError extends Error {
  readonly status: number;
  readonly code: string;
  readonly detail: string;
  readonly problem: ProblemBody | null;

  constructor(status: number, problem: ProblemBody | null, fallback?: string) {
    super(problem?.detail ?? fallback ?? `HTTP ${status}`);
    this.name = 'ApiError';
    this.status = status;
    this.problem = problem;
    this.code = problem?.code ?? (status === 0 ? 'network_error' : 'unexpected_response');
    this.detail = problem?.detail ?? fallback ?? '';
  }
}

function isProblem(x: unknown): x is ProblemBody {
  return typeof x === 'object' && x !== null && 'status' in x && ('detail' in x || 'code' in x);
}

/** Builds an ApiError from what openapi-fetch hands back for a non-2xx answer. */
export function toApiError(status: number, body: unknown): ApiError {
  if (isProblem(body)) return new ApiError(status, body);
  const text = typeof body === 'string' ? body.slice(0, 200) : undefined;
  return new ApiError(status, null, text);
}

/**
 * The server has no such route yet (a planned route on an older server). Today's router
 * answers 404 for unknown paths, 405 for an unknown method, and 400 `malformed_request`
 * when the path falls into a neighbouring `{id}` route (e.g. `/v1/orders/stats` parsed as
 * an order id), so all three mean "not available here".
 */
export function routeMissing(err: unknown): boolean {
  if (!(err instanceof ApiError)) return false;
  return err.status === 404 || err.status === 405 || (err.status === 400 && err.code === 'malformed_request');
}

export function isNotFound(err: unknown): boolean {
  return err instanceof ApiError && err.status === 404;
}
