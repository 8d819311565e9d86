// `galerna view`: the timeline of a simulation output directory, read-only.
import { ACTIVITIES, TYPES, TYPE_LABEL, Timeline, formatTime, legendHTML } from "./timeline.js";

const $ = (id) => document.getElementById(id);
const esc = (s) => String(s ?? "").replace(/[&<>"]/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;" })[c]);
const t = (s) => (s === null || s === undefined ? "–" : `${formatTime(s * 1000, true)} (${s} s)`);

async function main() {
  const r = await fetch("/v1/view/data");
  if (!r.ok) throw new Error(`${r.status}: ${await r.text()}`);
  const data = await r.json();
  const a = data.allocations;
  const n = a.host.length;
  const typeCode = data.leases.map((l) => TYPES.indexOf(l.type));
  const bars = {
    host: Int32Array.from(a.host), start: Float64Array.from(a.start), end: Float64Array.from(a.end),
    act: Uint8Array.from(a.activity), type: Uint8Array.from(a.lease, (l) => typeCode[l]), lease: Int32Array.from(a.lease),
  };
  const byLease = new Map();
  for (let i = 0; i < n; i++) {
    if (!byLease.has(a.lease[i])) byLease.set(a.lease[i], []);
    byLease.get(a.lease[i]).push(i);
  }
  document.title = `Galerna view: ${data.name}`;
  $("run-name").textContent = data.name;
  $("run-stats").textContent = `${data.hosts.length} hosts · ${data.leases.length} leases · ${n} allocations`;
  $("legend").innerHTML = legendHTML(false);
  const describe = (i) => {
    const l = data.leases[a.lease[i]];
    return `<div class="bar-tip"><b>lease ${esc(l.lease_id)}</b> (${TYPE_LABEL[l.type]}, ${esc(l.state)})<br>` +
      `${ACTIVITIES[a.activity[i]]} of VM ${a.node[i]} on ${esc(data.hosts[a.host[i]].name)}<br>` +
      `<span data-start="${a.start[i]}" data-end="${a.end[i]}">${t(a.start[i])} → ${t(a.end[i])}</span></div>`;
  };
  const select = (li) => {
    const l = data.leases[li];
    const rows = (byLease.get(li) || []).map((i) =>
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
}

main().catch((e) => { $("error").textContent = `cannot show the run: ${e.message}`; $("error").classList.remove("hidden"); });
