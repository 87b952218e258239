// A small client for the sharing API (same origin): JSON in and out, problem+json errors
// surfaced as ApiError with the server's `detail`, the bearer token kept in sessionStorage.
export class ApiError extends Error {
  constructor(status, title, detail) {
    super(detail || title || `HTTP ${status}`);
    this.status = status;
    this.title = title;
  }
}

const TOKEN_KEY = "alliance.token";

export function token() {
  return sessionStorage.getItem(TOKEN_KEY);
}

export function setToken(value) {
  if (value) sessionStorage.setItem(TOKEN_KEY, value);
  else sessionStorage.removeItem(TOKEN_KEY);
}

export async function api(path, { method = "GET", body, raw = false } = {}) {
  const headers = { Accept: "application/json" };
  const bearer = token();
  if (bearer) headers.Authorization = `Bearer ${bearer}`;
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const response = await fetch(path, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  if (!response.ok) {
    let problem = {};
    try {
      problem = await response.json();
    } catch {
      // not problem+json: keep the status line
    }
    throw new ApiError(response.status, problem.title, problem.detail);
  }
  if (raw) return response;
  return response.status === 204 ? null : response.json();
}

// A whole list: lists come in pages (at most 1,000 items); the API names the next page's
// cursor in X-Next-Cursor until the last page. Follow it so nothing is left out.
export async function apiAll(path) {
  const items = [];
  let cursor = "";
  do {
    const sep = path.includes("?") ? "&" : "?";
    const url = cursor ? `${path}${sep}cursor=${encodeURIComponent(cursor)}` : path;
    const response = await api(url, { raw: true });
    items.push(...(await response.json()));
    cursor = response.headers.get("X-Next-Cursor") || "";
  } while (cursor);
  return items;
}
