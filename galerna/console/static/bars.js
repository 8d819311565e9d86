// The timeline's bars: parsed once into typed arrays, indexed by host and time, and painted as pixels.
//
// Painting visits only the host rows in view and, in each row, only the bars that reach into the time window (two
// binary searches over the row's bars in start order and their running maximum end). Neighbouring bars of one lane
// and style that touch on screen (at month zoom many are under a pixel wide) become one rectangle. The rectangles
// are typed-array fills into an image of our own; a canvas' fillRect costs ~2 microseconds each in software.
import { color } from "./vendor/echarts.esm.min.js";

export const TYPES = ["ar", "best_effort", "immediate", "deadline"];
export const ACTIVITIES = ["run", "boot", "shutdown", "suspend", "resume", "migrate", "transfer"];
export const TYPE_COLOR = { ar: "#d62839", best_effort: "#2b6cb0", immediate: "#2f9e44", deadline: "#e8890c" };
export const ACTIVITY_COLOR = {
  boot: "#94a3b8", shutdown: "#475569", suspend: "#7c3aed", resume: "#0d9488", migrate: "#c2410c", transfer: "#db2777",
};
// Where a bar stands against "now": 0 over, 1 running, 2 planned (in `galerna view` every bar is over).
export const PAST = 0, RUNNING = 1, PLANNED = 2;
const TRANSFER = ACTIVITIES.indexOf("transfer");
const RUN = 0;
const EPS = 1e-3;  // ms
let GRID = 0;  // the grid lines' packed colour (parsed once)
export const WHITE = 0xffffffff;  // the background, packed

/** `fn` when the page is idle (between frames, nothing else to do), within a second at most. */
export const idle = (fn) => (window.requestIdleCallback ? requestIdleCallback(fn, { timeout: 1000 }) : setTimeout(fn, 0));

/** A bar's style: activity, lease type and status in one small number (a row of the style table). */
const styleKey = (act, type, status) => (act * TYPES.length + type) * 3 + status;

export function packed(css) {
  const [r, g, b, a = 1] = color.parse(css);
  const mix = (c) => Math.round(c * a + 255 * (1 - a));  // blended with the white background
  return ((255 << 24) | (mix(b) << 16) | (mix(g) << 8) | mix(r)) >>> 0;  // little-endian RGBA
}

/** The fill and outline of every style key; `hasNow`: finished bars are paler than running ones (the console). */
export function styleTable(hasNow) {
  const table = [];
  for (let act = 0; act < ACTIVITIES.length; act++) {
    for (let type = 0; type < TYPES.length; type++) {
      const fill = act === RUN ? TYPE_COLOR[TYPES[type]] : ACTIVITY_COLOR[ACTIVITIES[act]];
      for (let status = 0; status < 3; status++) {
        const st = status === PLANNED ? { fill: color.modifyAlpha(fill, 0.28), stroke: fill, dashed: true }
          : status === PAST && hasNow ? { fill: color.modifyAlpha(fill, 0.55) }
            : { fill, stroke: status === RUNNING ? "#111827" : undefined };
        table[styleKey(act, type, status)] = {
          fill: packed(st.fill), stroke: st.stroke ? packed(st.stroke) : undefined, dashed: !!st.dashed };
      }
    }
  }
  return table;
}

/**
 * bars: columns {host, start, end (s), act, type, lease, status (optional)}; hosts: how many rows.
 * Holds the bars in ms, their order by host and start, each row's slice of that order, the running maximum end
 * along it, and the lanes: per host, greedy interval partitioning of the bars that hold resources, so that bars
 * overlapping in time (VMs sharing a host) never hide one another. Image transfers are a stripe at the row's bottom.
 */
export class BarIndex {
  constructor(bars, hosts) {
    const n = bars.host.length;
    this.n = n;
    this.bars = bars;
    const startMs = (this.startMs = new Float64Array(n)), endMs = (this.endMs = new Float64Array(n));
    const style = (this.style = new Uint8Array(n));
    let lo = Infinity, hi = -Infinity, running = false;
    for (let i = 0; i < n; i++) {
      const s = (startMs[i] = bars.start[i] * 1000), e = (endMs[i] = bars.end[i] * 1000);
      if (s < lo) lo = s;
      if (e > hi) hi = e;
      const st = bars.status ? bars.status[i] : PAST;
      if (st === RUNNING) running = true;
      style[i] = styleKey(bars.act[i], bars.type[i], st);
    }
    this.bounds = [lo, hi];
    this.running = running;
    const order = (this.order = new Int32Array(n));
    for (let i = 0; i < n; i++) order[i] = i;
    const host = bars.host;
    order.sort((a, b) => (host[a] - host[b]) || (startMs[a] - startMs[b]) || (endMs[a] - endMs[b]));
    const from = (this.hostFrom = new Int32Array(hosts + 1));
    const reach = (this.reach = new Float64Array(n));
    for (let p = 0, h = -1; p < n; p++) {
      const i = order[p];
      while (h < host[i]) from[++h] = p;
      reach[p] = p > from[h] && reach[p - 1] > endMs[i] ? reach[p - 1] : endMs[i];
    }
    for (let h = n ? host[order[n - 1]] + 1 : 0; h <= hosts; h++) from[h] = n;
    this.assignLanes();
    this.sorted = this.columns();
    this.levels = new Map();  // merge threshold (ms) -> merged columns, built when a zoom first needs them
    this.merging = true;  // paint from the merged levels at coarse zoom (off: every bar, to compare)
  }

  /**
   * What painting reads, as columns in `order` (read one after another, not at random: at month zoom a frame visits
   * every bar): start, end, style, slot (lane, or `mostLanes` for a transfer), lanes of its cluster; the rows'
   * slices (`from`), running maximum end (`reach`), and each row's ends sorted (to count bars in a window).
   */
  columns() {
    const { n, order, startMs, endMs, style, lane, lanes, hostFrom, reach, bars } = this;
    const c = { n, from: hostFrom, reach, a: new Float64Array(n), b: new Float64Array(n), style: new Uint8Array(n),
      slot: new Uint16Array(n), lanes: new Uint16Array(n), running: new Uint8Array(n) };
    for (let p = 0; p < n; p++) {
      const i = order[p];
      c.a[p] = startMs[i]; c.b[p] = endMs[i]; c.style[p] = style[i]; c.lanes[p] = lanes[i];
      c.slot[p] = bars.act[i] === TRANSFER ? this.mostLanes : lane[i];
      c.running[p] = bars.status && bars.status[i] === RUNNING ? 1 : 0;
    }
    const ends = (this.endsSorted = c.b.slice());
    for (let h = 0; h + 1 < hostFrom.length; h++) ends.subarray(hostFrom[h], hostFrom[h + 1]).sort();
    return c;
  }

  /**
   * The columns with neighbouring bars of one row, slot and style merged when the gap between them is at most
   * `gap` ms (a level of detail: at month zoom, where a pixel is an hour, back-to-back bars become one span).
   * Outlined bars (running, planned) are never merged. Built once per gap.
   */
  level(gap) {
    let lv = this.levels.get(gap);
    if (lv) return lv;
    const c = this.sorted, rows = c.from.length - 1, slots = this.mostLanes + 1;
    const keep = new Int32Array(c.n), end = new Float64Array(c.n);
    const open = new Int32Array(slots);
    let m = 0;
    const from = new Int32Array(rows + 1);
    for (let h = 0; h < rows; h++) {
      from[h] = m;
      open.fill(-1);
      for (let p = c.from[h]; p < c.from[h + 1]; p++) {
        const k = c.slot[p], q = open[k];
        if (q >= 0 && c.style[p] % 3 === PAST && c.style[keep[q]] === c.style[p] && c.lanes[keep[q]] === c.lanes[p] &&
            c.a[p] - end[q] <= gap) {
          if (c.b[p] > end[q]) end[q] = c.b[p];
          continue;
        }
        keep[m] = p; end[m] = c.b[p];
        open[k] = c.style[p] % 3 === PAST ? m : -1;
        m++;
      }
    }
    from[rows] = m;
    lv = { n: m, from, reach: new Float64Array(m), a: new Float64Array(m), b: end.slice(0, m),
      style: new Uint8Array(m), slot: new Uint16Array(m), lanes: new Uint16Array(m), running: new Uint8Array(m) };
    for (let h = 0; h < rows; h++) {
      for (let q = from[h]; q < from[h + 1]; q++) {
        const p = keep[q];
        lv.a[q] = c.a[p]; lv.style[q] = c.style[p]; lv.slot[q] = c.slot[p]; lv.lanes[q] = c.lanes[p];
        lv.running[q] = c.running[p];
        lv.reach[q] = q > from[h] && lv.reach[q - 1] > lv.b[q] ? lv.reach[q - 1] : lv.b[q];
      }
    }
    this.levels.set(gap, lv);
    return lv;
  }

  /**
   * The merged level for `gap` if it is built, else null, and it is built in a task of its own (a first frame at a
   * new level, the first paint among them, paints every bar rather than wait for the merge).
   */
  levelFor(gap) {
    if (!gap) return null;
    const lv = this.levels.get(gap);
    if (lv) return lv;
    if (!this.pending) {
      this.pending = setTimeout(() => { this.pending = 0; this.level(gap); }, 0);
    }
    return null;
  }

  /**
   * Builds the levels up to `maxGap` ms, coarsest first, one per idle period, before a zoom needs them (after first
   * paint), then calls `then` (if given) in the next idle period.
   */
  warm(maxGap, then) {
    const gaps = [];
    for (let g = maxGap; g >= 16e3; g /= 2) if (!this.levels.has(g)) gaps.push(g);
    const next = () => {
      const g = gaps.shift();
      if (g === undefined) { if (then) idle(then); return; }
      this.level(g);
      idle(next);
    };
    idle(next);
  }

  /** How many of row h's bars overlap the window (a, b) ms: those starting before b less those ending by a. */
  countIn(h, a, b) {
    const { hostFrom, order, startMs, endsSorted } = this;
    let l = hostFrom[h], r = hostFrom[h + 1];
    while (l < r) { const m = (l + r) >> 1; if (startMs[order[m]] < b) l = m + 1; else r = m; }
    const before = l;
    l = hostFrom[h]; r = hostFrom[h + 1];
    while (l < r) { const m = (l + r) >> 1; if (endsSorted[m] <= a) l = m + 1; else r = m; }
    return before - l;
  }

  /** Lane of each bar and lanes of its cluster (a run of bars overlapping one another shares its lanes). */
  assignLanes() {
    const { n, order, bars, startMs, endMs } = this;
    const lane = (this.lane = new Uint16Array(n)), lanes = (this.lanes = new Uint16Array(n).fill(1));
    let host = -1, ends = [], owner = [], reach = -Infinity, cluster = [], most = 1;
    const close = () => {
      const k = Math.max(1, ends.length);
      if (k > most) most = k;
      for (const i of cluster) lanes[i] = k;
      cluster = []; ends = []; owner = [];
    };
    for (let p = 0; p < n; p++) {
      const i = order[p];
      if (bars.host[i] !== host) { close(); host = bars.host[i]; reach = -Infinity; }
      if (bars.act[i] === TRANSFER) continue;
      // a lane the same lease's bar just left (boot -> run -> shutdown, or what is left of a running phase) first
      let k = ends.findIndex((e, j) => owner[j] === bars.lease[i] && Math.abs(e - startMs[i]) <= EPS);
      if (k < 0 && startMs[i] >= reach - EPS) close();  // nothing before it still runs: a new cluster
      if (k < 0) { k = 0; while (k < ends.length && ends[k] > startMs[i] + EPS) k++; }
      ends[k] = endMs[i];
      owner[k] = bars.lease[i];
      lane[i] = k;
      cluster.push(i);
      if (endMs[i] > reach) reach = endMs[i];
    }
    close();
    this.mostLanes = most;
  }

  /** [from, to): the positions in `order` of host h's bars that may overlap the window (a, b) ms. */
  slice(h, a, b) {
    let lo = this.hostFrom[h], hi = this.hostFrom[h + 1];
    const { reach, order, startMs } = this;
    let l = lo, r = hi;
    while (l < r) { const m = (l + r) >> 1; if (reach[m] > a) r = m; else l = m + 1; }
    lo = l; r = hi;
    while (l < r) { const m = (l + r) >> 1; if (startMs[order[m]] < b) l = m + 1; else r = m; }
    return [lo, l];
  }

  /** [top, height] of bar i in pixels, for rows `band` pixels apart whose centre row 0 is at y0. */
  band(i, y0, band) {
    const rowH = band * 0.84, top = y0 + this.bars.host[i] * band - rowH / 2;
    if (this.bars.act[i] === TRANSFER) { const h = Math.max(rowH * 0.18, 1); return [top + rowH - h, h]; }
    const n = this.lanes[i], laneH = (rowH * 0.8) / n;
    return [top + this.lane[i] * laneH, Math.max(laneH - (n > 1 ? 0.5 : 0), 0.6)];
  }
}

/** The merge gap (ms) of the level of detail at `kx` device pixels per ms, or 0 (none) while a pixel is under a
 * minute: half a pixel rounded down to a power of two of seconds, so a few levels serve every zoom. */
export function mergeGap(kx) {
  const msPerPx = 1 / kx;
  return msPerPx >= 60e3 ? 1000 * 2 ** Math.floor(Math.log2(msPerPx / 2000)) : 0;
}

/**
 * Paints the bars of `index` in view into `px` (W x H pixels, one Uint32 each) and counts them per host.
 * view: {x0, kx (px per ms), y0, band, clip: {x, y, width, height}} in CSS pixels; win: [a, b] ms shown.
 * ticks: x positions of the time axis' grid lines; rowFill: per host, a packed colour for its row's background or 0
 * (marked hosts). Running bars go last, so that their outline is on top.
 */
export function paintBars(px, W, H, index, styles, view, win, ticks, dpr, rowFill) {
  const { x0, kx, y0, band, clip } = view;
  const [wa, wb] = win;
  const right = clip.x + clip.width, bottom = clip.y + clip.height;
  const hosts = index.hostFrom.length - 1;
  const perHost = new Int32Array(hosts);
  px.fill(WHITE);  // the canvas is opaque (no blending with the page when composited)
  const grid = GRID ||= packed("#eef0f3");
  for (const t of ticks) {
    const x = Math.round((t - clip.x) * dpr);
    if (x >= 0 && x < W) for (let r = 0; r < H; r++) px[r * W + x] = grid;
  }
  const emit = (a, y, b, h, st) => {
    const x1 = Math.max(0, Math.round((a - clip.x) * dpr)), x2 = Math.min(W, Math.max(x1 + 1, Math.round((b - clip.x) * dpr)));
    const y1 = Math.max(0, Math.round((y - clip.y) * dpr)), y2 = Math.min(H, Math.max(y1 + 1, Math.round((y + h - clip.y) * dpr)));
    const fill = st.fill, stroke = st.stroke, dashed = st.dashed;
    if (x2 - x1 <= 8) {  // most bars at month zoom: plain stores beat a fill() call per pixel row
      for (let r = y1 * W; r < y2 * W; r += W) for (let x = r + x1; x < r + x2; x++) px[x] = fill;
    } else for (let r = y1; r < y2; r++) px.fill(fill, r * W + x1, r * W + x2);
    if (stroke === undefined || x2 - x1 < 3 || y2 - y1 < 3) return;
    for (let x = x1; x < x2; x++) if (!dashed || (x - x1) % 5 < 3) { px[y1 * W + x] = stroke; px[(y2 - 1) * W + x] = stroke; }
    for (let r = y1; r < y2; r++) if (!dashed || (r - y1) % 5 < 3) { px[r * W + x1] = stroke; px[r * W + x2 - 1] = stroke; }
  };
  // one rectangle being extended per lane (the last slot: transfers); flushed when the next bar does not touch it
  const slots = index.mostLanes + 1;
  const pa = new Float64Array(slots), pb = new Float64Array(slots).fill(-Infinity);
  const py = new Float64Array(slots), ph = new Float64Array(slots), ps = new Int32Array(slots);
  const flush = () => {
    for (let k = 0; k < slots; k++) if (pb[k] > -Infinity) { emit(pa[k], py[k], pb[k], ph[k], styles[ps[k]]); pb[k] = -Infinity; }
  };
  const first = Math.max(0, Math.floor((clip.y - y0) / band)), last = Math.min(hosts - 1, Math.ceil((bottom - y0) / band));
  for (let h = first; h <= last; h++) {
    if (!rowFill[h]) continue;
    const r1 = Math.max(0, Math.round((y0 + (h - 0.5) * band - clip.y) * dpr));
    const r2 = Math.min(H, Math.round((y0 + (h + 0.5) * band - clip.y) * dpr));
    px.fill(rowFill[h], r1 * W, r2 * W);
  }
  // the level of detail: at a zoom where a pixel is over a minute, bars of a lane less than half a pixel apart are
  // merged beforehand
  const c = (index.merging && index.levelFor(mergeGap(kx * dpr))) || index.sorted;
  const { from: rowFrom, reach, a: ca, b: cb, style, slot, lanes, running } = c;
  const rowH = band * 0.84;  // as in BarIndex.band
  const tH = Math.max(rowH * 0.18, 1);
  for (let pass = 0; pass < (index.running ? 2 : 1); pass++) {
    for (let h = first; h <= last; h++) {
      if (pass === 0) perHost[h] = index.countIn(h, wa, wb);
      const top = y0 + h * band - rowH / 2;
      if (top > bottom || top + rowH < clip.y) continue;
      // the row's bars that reach into the window: the first whose running maximum end is past wa, on to the
      // first that starts at or after wb
      let p = rowFrom[h], to = rowFrom[h + 1];
      for (let r = to; p < r;) { const m = (p + r) >> 1; if (reach[m] > wa) r = m; else p = m + 1; }
      for (let l = p; l < to;) { const m = (l + to) >> 1; if (ca[m] < wb) l = m + 1; else to = m; }
      for (; p < to; p++) {
        if (cb[p] <= wa) continue;
        if (index.running && (running[p] === 1) !== (pass === 1)) continue;
        const k = slot[p];
        let y, hgt;
        if (k === slots - 1) { hgt = tH; y = top + rowH - hgt; }
        else { const n = lanes[p], laneH = (rowH * 0.8) / n; hgt = Math.max(laneH - (n > 1 ? 0.5 : 0), 0.6); y = top + k * laneH; }
        let a = x0 + ca[p] * kx, b = x0 + cb[p] * kx;
        if (a < clip.x) a = clip.x;
        if (b > right) b = right;
        if (b - a < 1) b = a + 1;
        const st = style[p];
        const stroked = styles[st].stroke !== undefined;
        if (pb[k] > -Infinity && y === py[k] && hgt === ph[k] && st === ps[k] && a <= pb[k] + 0.75 &&
            (!stroked || (pb[k] - pa[k] < 3 && b - a < 3))) {
          if (b > pb[k]) pb[k] = b;
          continue;
        }
        if (pb[k] > -Infinity) emit(pa[k], py[k], pb[k], ph[k], styles[ps[k]]);
        pa[k] = a; pb[k] = b; py[k] = y; ph[k] = hgt; ps[k] = st;
      }
      flush();
    }
  }
  return perHost;
}
