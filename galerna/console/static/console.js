// The console of `galerna serve`: sign-in, the live timeline, leases, the request form and (admins) hosts.
// Everything goes through the public REST API and the event stream; the server enforces who sees what.
import { api, token } from "./api.js";
import { follow } from "./sse.js";
import { ACTIVITIES, PAST, PLANNED, RUNNING, TYPES, TYPE_LABEL, Timeline, formatTime, legendHTML } from "./timeline.js";

const $ = (id) => document.getElementById(id);
const esc = (s) => String(s ?? "").replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]);
const FINAL = new Set(["done", "cancelled", "failed", "rejected"]);
const secs = (iso) => (iso ? Date.parse(iso) / 1000 : null);
const when = (iso) => (iso ? formatTime(Date.parse(iso), false) : "–");
const utcInput = (v) => (v ? new Date(v.length === 16 ? v + ":00Z" : v + "Z") : null);  // datetime-local, read as UTC

const state = { me: null, view: null, timeline: null, plan: null, stop: null, refreshTimer: null, lastEvent: null };
window.galerna = state;

function flash(text, kind = "ok") {
  const f = $("flash");
  f.textContent = text;
  f.className = `msg ${kind}`;
  clearTimeout(flash.t);
  flash.t = setTimeout(() => f.classList.add("hidden"), 8000);
}

// ------------------------------------------------------------------ sign-in
function showSignin(message) {
  if (state.stop) { state.stop(); state.stop = null; }
  state.me = null;
  $("app").classList.add("hidden");
  $("nav").classList.add("hidden");
  $("signout").classList.add("hidden");
  $("who").textContent = "";
  $("live").textContent = "";
  $("signin").classList.remove("hidden");
  const err = $("signin-error");
  err.textContent = message || "";
  err.classList.toggle("hidden", !message);
}

async function signIn(tok) {
  const r = await api("GET", "/v1/whoami", undefined, tok);
  if (!r.ok) {
    token.clear();
    showSignin(r.status === 401 ? `refused: ${r.reason}` : r.reason);
    return;
  }
  token.set(tok);
  state.me = r.data;
  $("signin").classList.add("hidden");
  $("app").classList.remove("hidden");
  $("nav").classList.remove("hidden");
  $("signout").classList.remove("hidden");
  $("who").textContent = r.data.admin ? `${r.data.name} (admin)` : `${r.data.name} (tenant ${r.data.tenant})`;
  document.body.classList.toggle("admin", r.data.admin);
  for (const el of document.querySelectorAll(".admin-only")) el.classList.toggle("hidden", !r.data.admin);
  state.stop = follow(tok, onEvent, (s) => {
    $("live").textContent = s === "live" ? "● live" : s === "refused" ? "stream refused" : "reconnecting…";
    $("live").className = `live ${s === "live" ? "on" : ""}`;
    document.body.dataset.stream = s;
    if (s === "refused") api("GET", "/v1/whoami");
  });
  route();
}

api.onUnauthorized = (why) => { token.clear(); showSignin(`refused: ${why}`); };

// ------------------------------------------------------------------ live
function onEvent(name, msg) {
  state.lastEvent = { name, msg };
  document.body.dataset.lastEvent = `${name} ${msg.lease || msg.host || ""}`;
  clearTimeout(state.refreshTimer);
  state.refreshTimer = setTimeout(refresh, 150);  // one refresh for a burst of events
}

function refresh() {
  if (!state.me) return;
  ({ timeline: drawTimeline, leases: drawLeases, lease: drawLease, hosts: drawHosts })[state.view]?.(true);
}

// ------------------------------------------------------------------ routing
function route() {
  if (!state.me) return;
  const [view, arg] = (location.hash.slice(1) || "timeline").split("/");
  state.view = view;
  state.arg = arg;
  for (const s of document.querySelectorAll(".view")) s.classList.toggle("hidden", s.id !== `view-${view}`);
  for (const a of document.querySelectorAll("#nav a")) a.classList.toggle("active", a.dataset.view === view);
  if (view === "request") prepareRequest();
  else refresh();
}

// ------------------------------------------------------------------ timeline
async function drawTimeline(keepZoom = false) {
  const [back, ahead] = $("window").value.split(",").map(Number);
  const now = Date.now();
  const q = `start=${new Date(now + back * 3600e3).toISOString()}&end=${new Date(now + ahead * 3600e3).toISOString()}`;
  const [plan, queue] = await Promise.all([api("GET", `/v1/plan?${q}`), api("GET", "/v1/queue")]);
  if (!plan.ok) { flash(`cannot read the plan: ${plan.reason}`, "error"); return; }
  const p = plan.data;
  state.plan = p;
  const hostIndex = new Map(p.hosts.map((h, i) => [h.name, i]));
  const leaseIndex = new Map(p.leases.map((l, i) => [l.id, i]));
  const nowS = secs(p.now);
  // a phase under way is two bars: what has run (solid, outlined) and what is left of it (planned)
  const ph = [], parts = [];
  for (const x of p.phases) {
    if (!hostIndex.has(x.host)) continue;
    const a = secs(x.start), b = secs(x.end);
    if (b <= nowS) parts.push([a, b, PAST]);
    else if (a >= nowS) parts.push([a, b, PLANNED]);
    else { parts.push([a, nowS, RUNNING]); ph.push(x); parts.push([nowS, b, PLANNED]); }
    ph.push(x);
  }
  const n = ph.length;
  const bars = { host: new Int32Array(n), start: new Float64Array(n), end: new Float64Array(n), act: new Uint8Array(n),
                 type: new Uint8Array(n), lease: new Int32Array(n), status: new Uint8Array(n) };
  ph.forEach((x, i) => {
    const li = leaseIndex.get(x.lease);
    bars.host[i] = hostIndex.get(x.host);
    [bars.start[i], bars.end[i], bars.status[i]] = parts[i];
    bars.act[i] = ACTIVITIES.indexOf(x.activity);
    bars.type[i] = TYPES.indexOf(p.leases[li].type);
    bars.lease[i] = li;
  });
  const hosts = p.hosts.map((h) => ({
    name: h.name, mark: h.health === "error" ? "error" : h.state !== "up" ? h.state : null,
  }));
  if (!state.timeline) {
    $("legend").innerHTML = legendHTML(true);
    state.timeline = new Timeline($("timeline"), {
      describe: (i) => {
        const x = state.shown[i], l = state.plan.leases[state.leaseOf[i]];
        return `<div class="bar-tip"><b>lease ${esc(l.id)}</b>${l.name ? ` “${esc(l.name)}”` : ""} (${TYPE_LABEL[l.type]}, ${esc(l.state)})` +
          `${state.me.admin ? `<br>tenant ${esc(l.tenant)}` : ""}<br>${esc(x.activity)} of VM ${x.node} on ${esc(x.host)}` +
          ` (${x.cpu} cpu, ${x.memory} MB)<br><span data-start="${esc(x.start)}" data-end="${esc(x.end)}">${when(x.start)} → ${when(x.end)}</span></div>`;
      },
      onSelect: (li) => { location.hash = `lease/${state.plan.leases[li].id}`; },
    });
  }
  state.shown = ph;
  state.leaseOf = bars.lease;
  state.timeline.setData(hosts, bars, nowS, keepZoom, [secs(p.start), secs(p.end)]);
  $("timeline").dataset.bars = String(n);
  $("timeline").dataset.leases = p.leases.map((l) => l.id).join(",");
  $("timeline").dataset.marked = hosts.filter((h) => h.mark).map((h) => `${h.name}:${h.mark}`).join(",");
  const waiting = queue.ok ? queue.data : [];
  $("queue").innerHTML = waiting.map((e) => `<li><a href="#lease/${e.lease.id}">lease ${esc(e.lease.id)}</a> ` +
    `${TYPE_LABEL[e.lease.type]}, <span class="state ${esc(e.lease.state)}">${esc(e.lease.state)}</span>` +
    `${e.lease.start ? `<br>starts ${when(e.lease.start)}` : ""}</li>`).join("");
  $("queue-empty").classList.toggle("hidden", waiting.length > 0);
}

// ------------------------------------------------------------------ leases
function vms(l) {
  const groups = new Map();
  for (const n of l.nodes) { const k = `${n.cpu} cpu, ${n.memory} MB`; groups.set(k, (groups.get(k) || 0) + 1); }
  return [...groups].map(([k, c]) => `${c} × ${k}`).join("; ");
}

function actionsHTML(l) {
  if (FINAL.has(l.state)) return "";
  let h = `<button class="danger" data-act="cancel" data-id="${l.id}">Cancel</button>`;
  if (l.type === "ar") {
    h += ` <input size="4" type="number" min="1" value="15" data-minutes="${l.id}" title="minutes"> min ` +
      `<button data-act="extend" data-id="${l.id}">Extend</button> <button data-act="shorten" data-id="${l.id}">Shorten</button> ` +
      `<button data-act="end_now" data-id="${l.id}">End now</button>`;
  }
  return h;
}

async function act(kind, id, root) {
  let r;
  if (kind === "cancel") r = await api("DELETE", `/v1/leases/${id}`);
  else if (kind === "end_now") r = await api("PATCH", `/v1/leases/${id}`, { end_now: true });
  else {
    const minutes = Number(root.querySelector(`[data-minutes="${id}"]`).value);
    r = await api("PATCH", `/v1/leases/${id}`, { [`${kind}_by`]: minutes * 60 });
  }
  if (r.ok) flash(`lease ${id}: ${r.data.state}${r.data.end ? `, ends ${when(r.data.end)}` : ""}`);
  else flash(`lease ${id}: refused: ${r.reason}`, "error");
  refresh();
}

function wireActions(root) {
  root.onclick = (e) => {
    const b = e.target.closest("button[data-act]");
    if (b) act(b.dataset.act, b.dataset.id, root);
  };
}

async function drawLeases() {
  const qs = new URLSearchParams({ limit: "1000" });
  if ($("f-state").value) qs.append("state", $("f-state").value);
  if ($("f-type").value) qs.set("type", $("f-type").value);
  if (state.me.admin && $("f-tenant").value.trim()) qs.set("tenant", $("f-tenant").value.trim());
  const r = await api("GET", `/v1/leases?${qs}`);
  if (!r.ok) { flash(`cannot list leases: ${r.reason}`, "error"); return; }
  // the time range: leases whose run overlaps it (the API filters by state, type and tenant)
  const from = utcInput($("f-from").value), to = utcInput($("f-to").value);
  const rows = r.data.filter((l) => (!from || !l.end || Date.parse(l.end) > from) && (!to || !l.start || Date.parse(l.start) < to))
    .reverse();
  const body = $("leases").querySelector("tbody");
  body.innerHTML = rows.map((l) => `<tr data-lease="${l.id}"><td><a href="#lease/${l.id}">${l.id}</a></td><td>${esc(l.name)}</td>` +
    `${state.me.admin ? `<td>${esc(l.tenant)}</td>` : ""}<td>${TYPE_LABEL[l.type]}</td>` +
    `<td><span class="state ${esc(l.state)}">${esc(l.state)}</span></td><td>${when(l.start)}</td><td>${when(l.end)}</td>` +
    `<td>${vms(l)}</td><td>${esc(l.hosts.join(", "))}</td><td>${esc(l.reason)}</td><td>${actionsHTML(l)}</td></tr>`).join("");
  wireActions(body);
}

function phasesTable(title, phases) {
  if (!phases.length) return "";
  return `<h2>${title}</h2><table><tr><th>activity</th><th>start (UTC)</th><th>end (UTC)</th><th>hosts</th></tr>` +
    phases.map((p) => `<tr><td>${esc(p.activity)}</td><td>${when(p.start)}</td><td>${when(p.end)}</td><td>${esc(p.hosts.join(", "))}</td></tr>`).join("") +
    "</table>";
}

async function drawLease() {
  const id = state.arg;
  const [r, ev] = await Promise.all([api("GET", `/v1/leases/${id}`), api("GET", `/v1/leases/${id}/events`)]);
  const root = $("view-lease");
  if (!r.ok) { root.innerHTML = `<div class="msg error">${esc(r.reason)}</div>`; return; }
  const l = r.data;
  root.innerHTML = `<h2>Lease ${esc(l.id)}${l.name ? ` “${esc(l.name)}”` : ""}</h2>
    <dl><dt>type</dt><dd>${TYPE_LABEL[l.type]}</dd><dt>state</dt><dd><span class="state ${esc(l.state)}" id="lease-state">${esc(l.state)}</span></dd>
    <dt>reason</dt><dd>${esc(l.reason) || "–"}</dd><dt>tenant</dt><dd>${esc(l.tenant)}</dd>
    <dt>submitted</dt><dd>${when(l.submitted)}</dd><dt>requested start</dt><dd>${when(l.requested_start)}</dd>
    <dt>deadline</dt><dd>${when(l.deadline)}</dd><dt>run</dt><dd>${when(l.start)} → ${when(l.end)}</dd>
    <dt>duration</dt><dd>${l.duration} s</dd><dt>VMs</dt><dd>${vms(l)}</dd><dt>image</dt><dd>${l.image ? `${esc(l.image.id)} (${l.image.size_mb} MB)` : "–"}</dd>
    <dt>preemptible</dt><dd>${l.preemptible ? "yes" : "no"}</dd><dt>hosts</dt><dd>${esc(l.hosts.join(", ")) || "–"}</dd></dl>
    <p>${actionsHTML(l)}</p>
    ${phasesTable("Plan", l.plan)}${phasesTable("Phases so far", l.history)}
    <h2>Events</h2><table id="lease-events"><tr><th>time (UTC)</th><th>event</th><th>state</th><th>hosts</th><th>detail</th></tr>` +
    (ev.ok ? ev.data : []).map((e) => `<tr><td>${when(e.time)}</td><td>${esc(e.kind)}</td><td>${esc(e.state)}</td>` +
      `<td>${esc(e.hosts.join(", "))}</td><td>${esc(e.detail)}</td></tr>`).join("") + "</table>";
  wireActions(root);
}

// ------------------------------------------------------------------ request form
function prepareRequest() {
  const type = $("r-type").value;
  document.querySelector(".r-start").classList.toggle("hidden", type !== "ar" && type !== "deadline");
  document.querySelector(".r-deadline").classList.toggle("hidden", type !== "deadline");
  if (!$("r-start").value) {
    const t = new Date(Date.now() + 15 * 60e3);
    t.setUTCSeconds(0, 0);
    $("r-start").value = t.toISOString().slice(0, 19);
  }
}

async function submitRequest(e) {
  e.preventDefault();
  const type = $("r-type").value;
  const body = {
    type, duration: Number($("r-duration").value) * 60, n_nodes: Number($("r-nodes").value),
    cpu: Number($("r-cpu").value), memory: Number($("r-memory").value), preemptible: $("r-preemptible").checked,
  };
  if ($("r-name").value.trim()) body.name = $("r-name").value.trim();
  if (type === "ar" || type === "deadline") { const s = utcInput($("r-start").value); if (s) body.start = s.toISOString(); }
  if (type === "deadline") { const d = utcInput($("r-deadline").value); if (d) body.deadline = d.toISOString(); }
  if ($("r-image").value.trim()) body.image = { id: $("r-image").value.trim(), size_mb: Number($("r-image-size").value) || 0 };
  if (state.me.admin && $("r-tenant").value.trim()) body.tenant = $("r-tenant").value.trim();
  const r = await api("POST", "/v1/leases", body);
  const out = $("request-result");
  out.classList.remove("hidden");
  if (r.ok) {
    out.className = "msg ok";
    out.innerHTML = `<a href="#lease/${r.data.id}">lease ${esc(r.data.id)}</a>: ${esc(r.data.state)}` +
      `${r.data.start ? `, starts ${when(r.data.start)}` : ""}`;
  } else {
    out.className = "msg error";
    out.textContent = r.status === 409 ? r.reason : `refused: ${r.reason}`;
  }
  out.dataset.status = String(r.status);
}

// ------------------------------------------------------------------ hosts (admins)
async function drawHosts() {
  const now = Date.now();
  const [hosts, plan] = await Promise.all([api("GET", "/v1/hosts"),
    api("GET", `/v1/plan?start=${new Date(now - 1000).toISOString()}&end=${new Date(now + 1000).toISOString()}`)]);
  if (!hosts.ok) { flash(`cannot list hosts: ${hosts.reason}`, "error"); return; }
  const running = new Map();
  for (const p of plan.ok ? plan.data.phases : []) {
    if (Date.parse(p.start) <= now && Date.parse(p.end) > now && p.activity !== "transfer") {
      if (!running.has(p.host)) running.set(p.host, []);
      running.get(p.host).push(p);
    }
  }
  const body = $("hosts").querySelector("tbody");
  body.innerHTML = hosts.data.map((h) => {
    const here = running.get(h.name) || [];
    const cpu = here.reduce((a, p) => a + p.cpu, 0), mem = here.reduce((a, p) => a + p.memory, 0);
    const btn = (a, label) => (h.state === a || (a === "enable" && h.state === "up") ? "" :
      `<button data-host="${esc(h.name)}" data-action="${a}">${label}</button> `);
    return `<tr data-host-row="${esc(h.name)}"><td><b>${esc(h.name)}</b><br><small>${esc(h.uri || "no hypervisor")}</small></td>` +
      `<td><span class="state ${esc(h.health)}">${esc(h.health)}</span></td><td><span class="state ${esc(h.state)}">${esc(h.state)}</span></td>` +
      `<td>${h.cpu} cpu, ${h.memory} MB</td><td>${cpu} cpu (${Math.round((100 * cpu) / h.cpu)} %), ${mem} MB</td>` +
      `<td>${here.map((p) => `<a href="#lease/${p.lease}">lease ${esc(p.lease)}</a> VM ${p.node} (${esc(p.activity)})`).join("<br>") || "–"}</td>` +
      `<td class="hv" data-hv="${esc(h.name)}">…</td>` +
      `<td>${btn("enable", "Enable")}${btn("disable", "Disable")}${btn("maintenance", "Maintenance")}</td></tr>`;
  }).join("");
  body.onclick = async (e) => {
    const b = e.target.closest("button[data-action]");
    if (!b) return;
    const r = await api("POST", `/v1/hosts/${encodeURIComponent(b.dataset.host)}/${b.dataset.action}`);
    if (r.ok) flash(`host ${r.data.name}: ${r.data.state}`);
    else flash(`host ${b.dataset.host}: refused: ${r.reason}`, "error");
    drawHosts();
  };
  for (const h of hosts.data) {
    api("GET", `/v1/hosts/${encodeURIComponent(h.name)}/vms`).then((r) => {
      const cell = body.querySelector(`[data-hv="${CSS.escape(h.name)}"]`);
      if (!cell) return;
      cell.innerHTML = r.ok ? (r.data.map((v) => `${esc(v.name)}: ${esc(v.state)}`).join("<br>") || "none") : esc(r.reason);
    });
  }
}

// ------------------------------------------------------------------ wiring
$("signin-form").addEventListener("submit", (e) => { e.preventDefault(); signIn($("token").value.trim()); });
$("signout").addEventListener("click", () => { token.clear(); showSignin(""); });
$("lease-filters").addEventListener("submit", (e) => { e.preventDefault(); drawLeases(); });
$("request-form").addEventListener("submit", submitRequest);
$("r-type").addEventListener("change", prepareRequest);
$("window").addEventListener("change", () => drawTimeline(false));
window.addEventListener("hashchange", route);
setInterval(() => { if (state.view === "timeline" && state.me) drawTimeline(true); }, 15000);  // the "now" line moves
if (token.get()) signIn(token.get()); else showSignin("");
