// The dashboard's only door to the server: the public API, with the session cookie and, on
// every call that changes something, the CSRF token the server handed out at sign-in.

let csrfToken = null;

export function setCsrf(token) {
  csrfToken = token;
}

/** An API error: the server's `{"error": {"code", "message", "details"}}`. */
export class ApiError extends Error {
  constructor(status, body) {
    const error = (body && body.error) || {};
    super(error.message || `the server answered ${status}`);
    this.status = status;
    this.code = error.code || "unknown";
    this.details = error.details || null;
  }
}

export async function api(method, path, body) {
  const headers = { Accept: "application/json" };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  if (method !== "GET" && csrfToken) headers["X-CSRF-Token"] = csrfToken;
  let response;
  try {
    response = await fetch(path, {
      method, headers, credentials: "same-origin",
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch (e) {
    throw new ApiError(0, { error: { code: "unreachable", message: "the server cannot be reached; is heph serve running?" } });
  }
  const text = await response.text();
  let data = null;
  if (text) {
    try { data = JSON.parse(text); } catch { data = { error: { code: "bad_answer", message: text.slice(0, 200) } }; }
  }
  if (!response.ok) {
    const error = new ApiError(response.status, data);
    if (response.status === 401 && path !== "/api/session") window.dispatchEvent(new Event("heph:signed-out"));
    throw error;
  }
  return data || {};
}

export const get = (path) => api("GET", path);
export const post = (path, body = {}) => api("POST", path, body);
export const put = (path, body) => api("PUT", path, body);
export const patch = (path, body) => api("PATCH", path, body);
export const del = (path) => api("DELETE", path);

/** A path segment, escaped. */
export const seg = encodeURIComponent;
