// The HTTP side of the contract: bearer token, JSON bodies, errors as ApiError.

const PREFIX = "/api/v1";
const TOKEN_KEY = "torchyard.token";

export function getToken() {
  return localStorage.getItem(TOKEN_KEY);
}

export function setToken(token) {
  if (token) localStorage.setItem(TOKEN_KEY, token);
  else localStorage.removeItem(TOKEN_KEY);
}

/** An HTTP error; detail is the server's sentence or its list of {loc, msg}. */
export class ApiError extends Error {
  constructor(status, detail) {
    super(typeof detail === "string" ? detail : describeDetail(detail, status));
    this.status = status;
    this.detail = detail;
  }

  /** The validation items ({loc, msg}) of a 422, or []. */
  get items() {
    return Array.isArray(this.detail) ? this.detail : [];
  }
}

function describeDetail(detail, status) {
  if (Array.isArray(detail)) {
    return detail.map((d) => `${(d.loc || []).join(".")}: ${d.msg}`).join("; ");
  }
  return `HTTP ${status}`;
}

// Pages register this so any 401 sends the user back to the sign-in form.
let onUnauthorized = () => {};
export function setUnauthorizedHandler(fn) {
  onUnauthorized = fn;
}

/** Fetch a route; body objects are sent as JSON, FormData as multipart. Returns the raw Response. */
export async function raw(path, { method = "GET", body, token = getToken(), signal } = {}) {
  const headers = {};
  if (token) headers.Authorization = `Bearer ${token}`;
  let payload = body;
  if (body !== undefined && !(body instanceof FormData)) {
    headers["Content-Type"] = "application/json";
    payload = JSON.stringify(body);
  }
  const res = await fetch(PREFIX + path, { method, headers, body: payload, signal });
  if (!res.ok) {
    const detail = await errorDetail(res);
    if (res.status === 401 && token === getToken()) onUnauthorized();
    throw new ApiError(res.status, detail);
  }
  return res;
}

async function errorDetail(res) {
  try {
    const data = await res.json();
    return data.detail ?? `HTTP ${res.status}`;
  } catch {
    return `HTTP ${res.status} ${res.statusText}`;
  }
}

/** Fetch a JSON route. */
export async function api(path, opts = {}) {
  const res = await raw(path, opts);
  if (res.status === 204) return null;
  return res.json();
}

/** Build a query string from an object; arrays repeat the key (?job=1&job=2). */
export function query(params) {
  const q = new URLSearchParams();
  for (const [key, value] of Object.entries(params)) {
    if (value === undefined || value === null || value === "") continue;
    for (const v of Array.isArray(value) ? value : [value]) q.append(key, String(v));
  }
  const s = q.toString();
  return s ? `?${s}` : "";
}

/** The URL of an event stream (EventSource cannot send headers, so the token rides in the query). */
export function eventsUrl(path, params) {
  return PREFIX + path + query({ ...params, access_token: getToken() });
}
