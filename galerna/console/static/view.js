// `galerna view`: the timeline of a simulation output directory, read-only.
// The run is fetched at once, while the chart library (imported by timeline.js, about 1 MB) loads and compiles. The
// allocations come as binary typed-array columns (nothing to parse); the leases' details after the first paint.
const ok = async (r) => { if (!r.ok) throw new Error(`${r.status}: ${await r.text()}`); return r; };
const runReady = Promise.all([
  fetch("/v1/view/data").then(ok).then((r) => r.json()),
  fetch("/v1/view/allocations").then(ok).then((r) => r.arrayBuffer()),
]).then(([run, buf]) => {
  const n = run.allocations.count, kinds = { Float64Array, Int32Array, Uint8Array };
  let offset = 0;
  const cols = {};
  for (const [name, kind] of run.allocations.layout) {
    cols[name] = new kinds[kind](buf, offset, n);
    offset += n * kinds[kind].BYTES_PER_ELEMENT;
  }
  if (offset !== buf.byteLength) throw new Error(`allocations: ${buf.byteLength} bytes, expected ${offset}`);
  run.allocations = cols;
  performance.mark("galerna-data-parsed");
  return run;
});

const $ = (id) => document.getElementById(id);
const esc = (s) => String(s ?? "").replace(/[&<>"]/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;" })[c]);

async function main() {
  const [{ ACTIVITIES, TYPES, TYPE_LABEL, Timeline, formatTime, legendHTML }, data] =
    await Promise.all([import("./timeline.js").then((m) => { performance.mark("galerna-library-loaded"); return m; }), runReady]);
  const t = (s) => (s === null || s === undefined ? "–" : `${formatTime(s * 1000, true)} (${s} s)`);
  const a = data.allocations, L = data.leases;  // L: each lease's id and type, as columns
  const n = a.host.length;
  let details = null;  // every lease field, as columns, once /v1/view/leases has come
  let detailsReady = null;
  const loadDetails = () => (detailsReady ||= fetch("/v1/view/leases").then(ok).then((r) => r.json())
    .then((d) => { details = d; return d; }));
  const lease = (i) => details ? Object.fromEntries(Object.keys(details).map((k) => [k, details[k][i]]))
    : { lease_id: L.lease_id[i], type: L.types[L.type[i]] };
  const codes = L.types.map((x) => TYPES.indexOf(x)), typeCode = Uint8Array.from(L.type, (x) => codes[x]);
  const bars = { host: a.host, start: a.start, end: a.end, act: a.activity, lease: a.lease,
                 type: Uint8Array.from(a.lease, (l) => typeCode[l]) };
  document.title = `Galerna view: ${data.name}`;
  $("run-name").textContent = data.name;
  $("run-stats").textContent = `${data.hosts.length} hosts · ${L.lease_id.length} leases · ${n} allocations`;
  $("legend").innerHTML = legendHTML(false);
  const describe = (i) => {
    const l = lease(a.lease[i]);
    return `<div class="bar-tip"><b>lease ${esc(l.lease_id)}</b> (${TYPE_LABEL[l.type]}${l.state ? ", " + esc(l.state) : ""})<br>` +
      `${ACTIVITIES[a.activity[i]]} of VM ${a.node[i]} on ${esc(data.hosts[a.host[i]].name)}<br>` +
      `<span data-start="${a.start[i]}" data-end="${a.end[i]}">${t(a.start[i])} → ${t(a.end[i])}</span></div>`;
  };
  const select = async (li) => {
    await loadDetails();
    const l = lease(li);
    const mine = [];
    for (let i = 0; i < n; i++) if (a.lease[i] === li) mine.push(i);
    const rows = mine.map((i) =>
      `<tr><td>${ACTIVITIES[a.activity[i]]}</td><td>${a.node[i]}</td><td>${esc(data.hosts[a.host[i]].name)}</td>` +
      `<td>${formatTime(a.start[i] * 1000, true)}</td><td>${formatTime(a.end[i] * 1000, true)}</td></tr>`).join("");
    $("detail").innerHTML = `<h2>Lease ${esc(l.lease_id)}</h2><dl>
      <dt>type</dt><dd>${TYPE_LABEL[l.type]}</dd><dt>state</dt><dd><span class="state ${esc(l.state)}">${esc(l.state)}</span></dd>
      <dt>VMs</dt><dd>${esc(l.nodes)} × ${esc(l.cpu)} cpu, ${esc(l.memory)} MB</dd>
      <dt>submitted</dt><dd>${t(l.submit)}</dd><dt>requested start</dt><dd>${t(l.start_requested)}</dd>
      <dt>deadline</dt><dd>${t(l.deadline)}</dd><dt>ran</dt><dd>${t(l.start)} → ${t(l.end)}</dd>
      <dt>wait</dt><dd>${l.wait ?? "–"} s</dd><dt>duration</dt><dd>${l.duration} s (really ${l.real_duration} s)</dd>
      <dt>suspensions</dt><dd>${esc(l.suspensions)}</dd><dt>hosts</dt><dd>${esc(l.hosts.replaceAll(";", ", "))}</dd></dl>
      <h2>History</h2><table><tr><th>activity</th><th>VM</th><th>host</th><th>start</th><th>end</th></tr>${rows}</table>`;
  };
  const tl = new Timeline($("timeline"), { relative: true, describe, onSelect: select });
  window.galerna = { timeline: tl, data };
  tl.setData(data.hosts.map((h) => ({ name: h.name, mark: null })), bars, null);
  requestAnimationFrame(() => setTimeout(loadDetails, 0));  // after the first paint
}

main().catch((e) => { $("error").textContent = `cannot show the run: ${e.message}`; $("error").classList.remove("hidden"); });
