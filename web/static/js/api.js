// JSON calls to Lucarne's HTTP API, with the session's CSRF token (docs/protocol.md, "JSON API").
import { boot } from './boot.js';

export class ApiError extends Error {
  constructor(status, code, message) {
    super(message || code || `HTTP ${status}`);
    this.name = 'ApiError';
    this.status = status;
    this.code = code || 'http';
  }
}

export async function api(method, path, body) {
  const headers = { Accept: 'application/json', 'X-CSRF-Token': boot.csrf || '' };
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  const response = await fetch(path, {
    method,
    headers,
    credentials: 'same-origin',
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const data = await response.json().catch(() => ({}));
  if (!response.ok) throw new ApiError(response.status, data.error, data.message);
  return data;
}
