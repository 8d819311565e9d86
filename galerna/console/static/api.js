// The console's only way to the daemon: the public REST API with the bearer token of this browser session.
const KEY = "galerna-token";

export const token = {
  get: () => sessionStorage.getItem(KEY),
  set: (t) => sessionStorage.setItem(KEY, t),
  clear: () => sessionStorage.removeItem(KEY),
};

/** The reason the API gives, as one line: the detail of a refusal, or each invalid field with its message. */
export function reason(status, data) {
  if (data && typeof data.detail === "string") return data.detail;
  if (data && Array.isArray(data.detail)) {
    return data.detail.map((d) => `${(d.loc || []).filter((x) => x !== "body").join(".")}: ${d.msg}`).join("; ");
  }
  return `HTTP ${status}`;
}

/** {ok, status, data, reason}; a 401 also calls onUnauthorized (the token was revoked meanwhile). */
export async function api(method, path, body, tok = token.get()) {
  const headers = { Authorization: `Bearer ${tok}` };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  let r;
  try {
    r = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  } catch (e) {
    return { ok: false, status: 0, data: null, reason: `the daemon does not answer (${e.message})` };
  }
  let data = null;
  try { data = await r.json(); } catch { /* no body */ }
  const out = { ok: r.ok, status: r.status, data, reason: r.ok ? "" : reason(r.status, data) };
  if (r.status === 401 && api.onUnauthorized) api.onUnauthorized(out.reason);
  return out;
}
