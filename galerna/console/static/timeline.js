// The timeline shared by the console (`galerna serve`) and `galerna view`: hosts as rows, time as the axis,
// one bar per allocation, drawn by an Apache ECharts custom series on a canvas.
//
// Bars of one host that overlap in time (VMs sharing a host) are put in lanes, so none hides another.
// Image transfers (which hold no cpu or memory) are a thin stripe at the bottom of their row.
import * as echarts from "./vendor/echarts.esm.min.js";

export const TYPES = ["ar", "best_effort", "immediate", "deadline"];
export const TYPE_LABEL = { ar: "advance reservation", best_effort: "best-effort", immediate: "immediate", deadline: "deadline" };
export const TYPE_COLOR = { ar: "#d62839", best_effort: "#2b6cb0", immediate: "#2f9e44", deadline: "#e8890c" };
export const ACTIVITIES = ["run", "boot", "shutdown", "suspend", "resume", "migrate", "transfer"];
export const ACTIVITY_COLOR = {
  boot: "#94a3b8", shutdown: "#475569", suspend: "#7c3aed", resume: "#0d9488", migrate: "#c2410c", transfer: "#db2777",
};
const TRANSFER = ACTIVITIES.indexOf("transfer");
const RUN = 0;
export const MARK_COLOR = { error: "rgba(220,38,38,0.16)", disabled: "rgba(100,116,139,0.20)", maintenance: "rgba(234,179,8,0.22)" };
// Where a bar stands against "now": 0 over, 1 running, 2 planned (in `galerna view` every bar is over).
export const PAST = 0, RUNNING = 1, PLANNED = 2;

function pad(n) { return String(n).padStart(2, "0"); }

/** Axis labels: absolute UTC times in the console, "day N hh:mm" from the workload start in `galerna view`. */
export function formatTime(ms, relative) {
  const d = new Date(ms);
  if (relative) {
    const day = Math.floor(ms / 86400000);
    const s = d.getUTCSeconds() ? ":" + pad(d.getUTCSeconds()) : "";
    return `day ${day} ${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}${s}`;
  }
  return `${d.getUTCFullYear()}-${pad(d.getUTCMonth() + 1)}-${pad(d.getUTCDate())} ${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}:${pad(d.getUTCSeconds())}`;
}

/** Shorter axis labels: the seconds only when there are some, the year never. */
function axisTime(ms, relative) {
  if (relative) return formatTime(ms, true);
  const d = new Date(ms);
  const s = d.getUTCSeconds() ? ":" + pad(d.getUTCSeconds()) : "";
  return `${pad(d.getUTCMonth() + 1)}-${pad(d.getUTCDate())} ${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}${s}`;
}

/**
 * Per host, greedy interval partitioning of its holding bars into lanes. A run of bars that overlap one another
 * (a cluster) shares its lanes; elsewhere a bar has the whole row. Returns [lane per bar, lanes of its cluster].
 */
function assignLanes(bars) {
  const n = bars.host.length;
  const order = new Uint32Array(n);
  for (let i = 0; i < n; i++) order[i] = i;
  order.sort((a, b) => (bars.host[a] - bars.host[b]) || (bars.start[a] - bars.start[b]) || (bars.end[a] - bars.end[b]));
  const lane = new Uint16Array(n);
  const lanes = new Uint16Array(n).fill(1);
  let host = -1, ends = [], owner = [], reach = -Infinity, cluster = [];
  const close = () => {
    const k = Math.max(1, ends.length);
    for (const i of cluster) lanes[i] = k;
    cluster = []; ends = []; owner = [];
  };
  for (const i of order) {
    if (bars.host[i] !== host) { close(); host = bars.host[i]; reach = -Infinity; }
    if (bars.act[i] === TRANSFER) continue;
    // a lane the same lease's bar just left (boot -> run -> shutdown, or what is left of a running phase) first
    let k = ends.findIndex((e, j) => owner[j] === bars.lease[i] && Math.abs(e - bars.start[i]) <= 1e-6);
    if (k < 0 && bars.start[i] >= reach - 1e-6) close();  // nothing before it still runs: a new cluster
    if (k < 0) { k = 0; while (k < ends.length && ends[k] > bars.start[i] + 1e-6) k++; }
    ends[k] = bars.end[i];
    owner[k] = bars.lease[i];
    lane[i] = k;
    cluster.push(i);
    if (bars.end[i] > reach) reach = bars.end[i];
  }
  close();
  return [lane, lanes];
}

// The bars are written as pixels into an image of our own (typed-array fills), which ECharts shows as one element
// under its axes, zoom controls and "now" line. Tens of thousands of rectangles then cost a few milliseconds: the
// canvas' own fillRect costs ~2 microseconds a rectangle in software rendering, a path of many rectangles more.
// Translucent styles are blended with the white background here. Hovering and clicking are resolved per host row,
// time and lane (barAt).
function packed(css) {
  const [r, g, b, a = 1] = echarts.color.parse(css);
  const mix = (c) => Math.round(c * a + 255 * (1 - a));
  return ((255 << 24) | (mix(b) << 16) | (mix(g) << 8) | mix(r)) >>> 0;  // little-endian RGBA
}

function paintBatch(px, W, H, batch, style, view, perHost, dpr) {
  const { idx, start, end, host, lane, act, lanes } = batch;
  const { x0, kx, y0, band, clip } = view;
  const right = clip.x + clip.width, bottom = clip.y + clip.height;
  const rowH = band * 0.84;
  const fill = style.packedFill, stroke = style.packedStroke, dashed = !!style.lineDash;
  const emit = (a, y, b, h) => {
    const x1 = Math.max(0, Math.round((a - clip.x) * dpr)), x2 = Math.min(W, Math.max(x1 + 1, Math.round((b - clip.x) * dpr)));
    const y1 = Math.max(0, Math.round((y - clip.y) * dpr)), y2 = Math.min(H, Math.max(y1 + 1, Math.round((y + h - clip.y) * dpr)));
    for (let r = y1; r < y2; r++) px.fill(fill, r * W + x1, r * W + x2);
    if (stroke === undefined || x2 - x1 < 3 || y2 - y1 < 3) return;
    for (let x = x1; x < x2; x++) if (!dashed || (x - x1) % 5 < 3) { px[y1 * W + x] = stroke; px[(y2 - 1) * W + x] = stroke; }
    for (let r = y1; r < y2; r++) if (!dashed || (r - y1) % 5 < 3) { px[r * W + x1] = stroke; px[r * W + x2 - 1] = stroke; }
  };
  // The bars come sorted by host, lane and start: neighbours in one lane that touch on screen become one rectangle.
  // Outlined bars are merged only while they are too narrow for an outline to show.
  const stroked = stroke !== undefined;
  let pa = 0, pb = -Infinity, py = 0, ph = 0;
  for (let j = 0; j < idx.length; j++) {
    const i = idx[j];
    let a = x0 + start[i] * kx, b = x0 + end[i] * kx;
    if (b < clip.x || a > right) continue;
    const h0 = host[i];
    const top = y0 + h0 * band - rowH / 2;
    let y, h;
    if (act[i] === TRANSFER) { h = Math.max(rowH * 0.18, 1); y = top + rowH - h; }
    else {
      const n = lanes[i], laneH = (rowH * 0.8) / n;
      h = Math.max(laneH - (n > 1 ? 0.5 : 0), 0.6);
      y = top + lane[i] * laneH;
    }
    if (y > bottom || y + h < clip.y) continue;
    if (a < clip.x) a = clip.x;
    if (b > right) b = right;
    if (b - a < 1) b = a + 1;
    perHost[h0]++;
    if (y === py && h === ph && a <= pb + 0.75 && (!stroked || (pb - pa < 3 && b - a < 3))) {
      if (b > pb) pb = b;
      continue;
    }
    if (pb > -Infinity) emit(pa, py, pb, ph);
    pa = a; pb = b; py = y; ph = h;
  }
  if (pb > -Infinity) emit(pa, py, pb, ph);
}

export class Timeline {
  /**
   * el: the element to draw in. opts.relative: times are seconds from the workload start (`galerna view`);
   * opts.onSelect(leaseIndex): a bar was clicked; opts.describe(barIndex): tooltip HTML for a bar.
   */
  constructor(el, opts = {}) {
    this.el = el;
    this.relative = !!opts.relative;
    this.onSelect = opts.onSelect || (() => {});
    this.describe = opts.describe || (() => "");
    this.chart = echarts.init(el, null, { renderer: "canvas" });
    this.counts = { perHost: [] };
    this.canvas = document.createElement("canvas");  // the bars, painted here at every render
    this.tip = document.createElement("div");
    this.tip.className = "tl-tip hidden";
    el.style.position = "relative";
    el.appendChild(this.tip);
    const zr = this.chart.getZr();
    zr.on("mousemove", (e) => this.hover(e.offsetX, e.offsetY));
    zr.on("globalout", () => this.tip.classList.add("hidden"));
    zr.on("click", (e) => { const i = this.barAt(e.offsetX, e.offsetY); if (i >= 0) this.onSelect(this.bars.lease[i]); });
    this.chart.on("finished", () => {
      if (!this.firstPaint && this.bars && this.bars.host.length) {
        this.firstPaint = performance.now();
        performance.mark("galerna-bars-drawn");
        el.dataset.drawn = String(this.drawnTotal());
      }
    });
    new ResizeObserver(() => this.chart.resize()).observe(el);
  }

  get drawnPerHost() { return Array.from(this.counts.perHost); }

  drawnTotal() { return this.counts.perHost.reduce((a, b) => a + b, 0); }

  /**
   * hosts: [{name, mark}] (mark: null, "error", "disabled" or "maintenance"); bars: columns {host, start, end (s),
   * act (index in ACTIVITIES), type (index in TYPES), lease (an index the caller knows), status (PAST/RUNNING/PLANNED)};
   * now: seconds or null. keepZoom: keep the window the user zoomed to. range: [start, end] s of the axis.
   */
  setData(hosts, bars, now = null, keepZoom = false, range = null) {
    this.hosts = hosts;
    this.bars = bars;
    this.now = now;
    const [lane, lanes] = assignLanes(bars);
    const n = bars.host.length;
    const startMs = new Float64Array(n), endMs = new Float64Array(n);
    let lo = Infinity, hi = -Infinity;
    const groups = new Map();  // style key -> bar indices
    for (let i = 0; i < n; i++) {
      const s = (startMs[i] = bars.start[i] * 1000), e = (endMs[i] = bars.end[i] * 1000);
      if (s < lo) lo = s;
      if (e > hi) hi = e;
      const key = bars.act[i] * 100 + bars.type[i] * 10 + (bars.status ? bars.status[i] : PAST);
      if (!groups.has(key)) groups.set(key, []);
      groups.get(key).push(i);
    }
    if (range) [lo, hi] = [range[0] * 1000, range[1] * 1000];  // the window asked for, not the bars' extent
    if (!isFinite(lo)) { lo = 0; hi = 3600e3; }
    this.extent = [lo, hi];
    this.lane = lane;
    this.lanes = lanes;
    this.startMs = startMs;
    this.endMs = endMs;
    // per host, its bars in start order (for hovering)
    this.byHost = Array.from({ length: hosts.length }, () => []);
    for (let i = 0; i < n; i++) this.byHost[bars.host[i]].push(i);
    for (const list of this.byHost) list.sort((a, b) => startMs[a] - startMs[b]);
    const byRow = (x, y) => (bars.host[x] - bars.host[y]) || (lane[x] - lane[y]) || (startMs[x] - startMs[y]);
    const batches = [...groups].map(([key, list]) => ({ key, idx: Int32Array.from(list.sort(byRow)) }));
    const marks = hosts.map((h, i) => [i, h.mark]).filter((m) => m[1]);
    const labelPx = marks.length ? 30 : 15;  // a marked host's label has two lines
    const relative = this.relative;
    const hasNow = now !== null;
    const styleOf = (key) => {
      const act = Math.floor(key / 100), type = Math.floor(key / 10) % 10, status = key % 10;
      const fill = act === RUN ? TYPE_COLOR[TYPES[type]] : ACTIVITY_COLOR[ACTIVITIES[act]];
      return status === PLANNED
        ? { fill: echarts.color.modifyAlpha(fill, 0.28), stroke: fill, lineWidth: 1, lineDash: [3, 2] }
        : status === PAST && hasNow
          ? { fill: echarts.color.modifyAlpha(fill, 0.55), stroke: null }
          : { fill, stroke: status === RUNNING ? "#111827" : null, lineWidth: 1 };
    };
    // running bars last, so their outline is on top
    batches.sort((a, b) => ((a.key % 10 === RUNNING) - (b.key % 10 === RUNNING)) || a.key - b.key);
    const styles = batches.map((b) => styleOf(b.key));
    for (const st of styles) { st.packedFill = packed(st.fill); st.packedStroke = st.stroke ? packed(st.stroke) : undefined; }
    const self = this;
    const option = {
      animation: false,
      useUTC: true,
      grid: { left: 120, right: 46, top: 16, bottom: 64 },
      xAxis: {
        type: "time", min: lo, max: hi, scale: true,
        axisLabel: { formatter: (v) => axisTime(v, relative), hideOverlap: true },
        splitLine: { show: true, lineStyle: { color: "#eef0f3" } },
      },
      yAxis: {
        type: "category", inverse: true, data: hosts.map((h) => h.name),
        axisLabel: {
          // one label every so many rows, so that labels never overlap (ECharts' "auto" misjudges two-line ones)
          interval: (i) => i % Math.max(1, Math.ceil(labelPx / (self.view ? self.view.band : labelPx))) === 0,
          fontSize: 11, lineHeight: 14,
          formatter: (name, i) => { const m = hosts[i] && hosts[i].mark; return m ? `{mark|⚠ ${m}}\n${name}` : name; },
          rich: { mark: { color: "#b91c1c", fontWeight: "bold", fontSize: 11, lineHeight: 14 } },
        },
        splitLine: { show: hosts.length <= 40, lineStyle: { color: "#f1f3f5" } },
      },
      dataZoom: [
        { type: "inside", xAxisIndex: 0, filterMode: "none", minValueSpan: 60e3, zoomOnMouseWheel: true, moveOnMouseMove: true },
        { type: "slider", xAxisIndex: 0, filterMode: "none", minValueSpan: 60e3, height: 22, bottom: 12, labelFormatter: (v) => axisTime(v, relative) },
        { type: "slider", yAxisIndex: 0, filterMode: "empty", width: 16, right: 8, showDetail: false },
      ],
      series: [
        {
          id: "marks", type: "custom", silent: true, clip: true, z: 1,
          renderItem: (params, api) => {
            const c = api.coord([lo, api.value(0)]);
            const h = api.size([0, 1])[1];
            const cs = params.coordSys;
            return { type: "rect", shape: { x: cs.x, y: c[1] - h / 2, width: cs.width, height: h },
                     style: { fill: MARK_COLOR[marks[params.dataIndex][1]] || MARK_COLOR.disabled } };
          },
          encode: { x: [1, 2], y: 0 }, data: marks.map((m) => [m[0], lo, hi]),
        },
        {
          id: "bars", type: "custom", silent: true, clip: true, z: 2,
          encode: { x: [1, 2] }, data: [[0, lo, hi]],
          renderItem: (params, api) => {
            const p0 = api.coord([lo, 0]), p1 = api.coord([hi, 0]);
            const kx = (p1[0] - p0[0]) / (hi - lo);
            const cs = params.coordSys;
            const clip = { x: cs.x, y: cs.y, width: cs.width, height: cs.height };
            self.view = { x0: p0[0] - lo * kx, kx, y0: p0[1], band: api.size([0, 1])[1], clip };
            const dpr = window.devicePixelRatio || 1;
            const cv = self.canvas;
            const w = Math.max(1, Math.round(clip.width * dpr)), h = Math.max(1, Math.round(clip.height * dpr));
            if (cv.width !== w || cv.height !== h) { cv.width = w; cv.height = h; }
            const ctx = cv.getContext("2d");
            if (!self.image || self.image.width !== w || self.image.height !== h) {
              self.image = ctx.createImageData(w, h);
              self.pixels = new Uint32Array(self.image.data.buffer);
            }
            self.pixels.fill(0);
            const perHost = new Int32Array(hosts.length);
            const batch = { start: startMs, end: endMs, host: bars.host, lane, act: bars.act, lanes };
            batches.forEach((bt, k) => paintBatch(self.pixels, w, h, { ...batch, idx: bt.idx }, styles[k], self.view, perHost, dpr));
            ctx.putImageData(self.image, 0, 0);
            self.counts = { perHost };
            return { type: "image", silent: true,
                     style: { image: cv, x: clip.x, y: clip.y, width: clip.width, height: clip.height } };
          },
          markLine: now === null ? undefined : {
            silent: true, symbol: "none", animation: false,
            label: { formatter: "now", position: "start", color: "#b91c1c" },
            lineStyle: { color: "#b91c1c", width: 1.5, type: "solid" }, data: [{ xAxis: now * 1000 }],
          },
        },
      ],
    };
    if (keepZoom && this.window) {
      option.dataZoom[0].startValue = option.dataZoom[1].startValue = this.window[0];
      option.dataZoom[0].endValue = option.dataZoom[1].endValue = this.window[1];
    }
    this.tip.classList.add("hidden");
    this.chart.setOption(option, { notMerge: true, lazyUpdate: false });
    if (!this._zoomHook) {
      this._zoomHook = true;
      this.chart.on("datazoom", () => { this.window = this.visibleWindow(); });
    }
  }

  /** The bar under pixel (x, y) of the chart, or -1: its host row, then its time, then its lane. */
  barAt(x, y) {
    const v = this.view;
    if (!v || x < v.clip.x || x > v.clip.x + v.clip.width || y < v.clip.y || y > v.clip.y + v.clip.height) return -1;
    const host = Math.round((y - v.y0) / v.band);
    if (host < 0 || host >= this.hosts.length) return -1;
    const t = (x - v.x0) / v.kx, slack = 1 / v.kx;  // one pixel, in ms
    let best = -1;
    for (const i of this.byHost[host]) {
      if (this.startMs[i] - slack > t) break;
      if (this.endMs[i] + slack < t) continue;
      const [top, h] = this.barBand(i);
      if (y < top - 0.5 || y > top + h + 0.5) continue;
      if (best < 0 || this.startMs[i] <= t) best = i;
    }
    return best;
  }

  /** [top, height] in pixels of bar i at the current zoom. */
  barBand(i) {
    const v = this.view;
    const rowH = v.band * 0.84, top = v.y0 + this.bars.host[i] * v.band - rowH / 2;
    if (this.bars.act[i] === TRANSFER) { const h = Math.max(rowH * 0.18, 1); return [top + rowH - h, h]; }
    const laneH = (rowH * 0.8) / this.lanes[i];
    return [top + this.lane[i] * laneH, Math.max(laneH - (this.lanes[i] > 1 ? 0.5 : 0), 0.6)];
  }

  hover(x, y) {
    const i = this.barAt(x, y);
    if (i < 0) { this.tip.classList.add("hidden"); this.el.style.cursor = ""; return; }
    this.el.style.cursor = "pointer";
    this.tip.innerHTML = this.describe(i);
    this.tip.classList.remove("hidden");
    const w = this.el.clientWidth, tw = this.tip.offsetWidth, th = this.tip.offsetHeight;
    this.tip.style.left = `${Math.min(x + 14, w - tw - 4)}px`;
    this.tip.style.top = `${Math.max(y - th - 10, 4)}px`;
  }

  /** The visible [start, end] in ms. */
  visibleWindow() {
    const m = this.chart.getModel();
    if (!m) return this.extent;
    const ext = m.getComponent("xAxis", 0).axis.scale.getExtent();
    return [ext[0], ext[1]];
  }

  /** Zoom to [start, end] in ms. */
  zoomTo(startMs, endMs) {
    this.chart.dispatchAction({ type: "dataZoom", batch: [0, 1].map((k) => ({ dataZoomIndex: k, startValue: startMs, endValue: endMs })) });
  }

  /** Pixel centre of bar i (for tests and the benchmark) at the current zoom. */
  barCentre(i) {
    const v = this.view;
    const a = Math.max(v.x0 + this.startMs[i] * v.kx, v.clip.x), b = Math.min(v.x0 + this.endMs[i] * v.kx, v.clip.x + v.clip.width);
    const [top, h] = this.barBand(i);
    return [(a + b) / 2, top + h / 2];
  }
}

/** The legend as HTML: lease types, activities, and (console) past / running / planned. */
export function legendHTML(withNow) {
  const item = (c, label, extra = "") => `<span><span class="sw" style="background:${c};${extra}"></span>${label}</span>`;
  let h = TYPES.map((t) => item(TYPE_COLOR[t], TYPE_LABEL[t])).join("");
  h += ACTIVITIES.slice(1).map((a) => item(ACTIVITY_COLOR[a], a, a === "transfer" ? "height:4px" : "")).join("");
  if (withNow) {
    h += item("rgba(43,108,176,0.55)", "over") + item("#2b6cb0", "running", "outline:1px solid #111827") +
      item("rgba(43,108,176,0.28)", "planned", "outline:1px dashed #2b6cb0");
  }
  return h;
}
