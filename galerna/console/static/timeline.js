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

/** Per host, greedy interval partitioning of its holding bars into lanes. Returns [lane per bar, lanes per host]. */
function assignLanes(bars, nHosts) {
  const n = bars.host.length;
  const order = new Uint32Array(n);
  for (let i = 0; i < n; i++) order[i] = i;
  order.sort((a, b) => (bars.host[a] - bars.host[b]) || (bars.start[a] - bars.start[b]) || (bars.end[a] - bars.end[b]));
  const lane = new Uint16Array(n);
  const lanes = new Uint16Array(nHosts).fill(1);
  let host = -1, ends = [];
  for (const i of order) {
    if (bars.host[i] !== host) { host = bars.host[i]; ends = []; }
    if (bars.act[i] === TRANSFER) continue;
    let k = 0;
    while (k < ends.length && ends[k] > bars.start[i] + 1e-6) k++;
    ends[k] = bars.end[i];
    lane[i] = k;
    if (k + 1 > lanes[host]) lanes[host] = k + 1;
  }
  return [lane, lanes];
}

export class Timeline {
  /**
   * el: the element to draw in. opts.relative: times are seconds from the workload start (`galerna view`);
   * opts.onSelect(barIndex): a bar was clicked; opts.describe(barIndex): tooltip HTML for a bar.
   */
  constructor(el, opts = {}) {
    this.el = el;
    this.relative = !!opts.relative;
    this.onSelect = opts.onSelect || (() => {});
    this.describe = opts.describe || (() => "");
    this.chart = echarts.init(el, null, { renderer: "canvas" });
    this.drawnPerHost = [];
    this.selectedLease = -1;
    this.chart.on("click", (p) => { if (p.seriesId === "bars") this.onSelect(p.data[5]); });
    this.chart.on("finished", () => {
      if (!this.firstPaint && this.bars && this.bars.host.length) {
        this.firstPaint = performance.now();
        performance.mark("galerna-bars-drawn");
        el.dataset.drawn = String(this.drawnTotal());
      }
    });
    new ResizeObserver(() => this.chart.resize()).observe(el);
  }

  drawnTotal() { return this.drawnPerHost.reduce((a, b) => a + b, 0); }

  /**
   * hosts: [{name, mark}] (mark: null, "error", "disabled" or "maintenance"); bars: columns {host, start, end (s),
   * act (index in ACTIVITIES), type (index in TYPES), lease (an index the caller knows), status (PAST/RUNNING/PLANNED)};
   * now: seconds or null. keepZoom: keep the window the user zoomed to.
   */
  setData(hosts, bars, now = null, keepZoom = false, range = null) {
    this.hosts = hosts;
    this.bars = bars;
    this.now = now;
    const [lane, lanes] = assignLanes(bars, hosts.length);
    const n = bars.host.length;
    const data = new Array(n);
    let lo = Infinity, hi = -Infinity;
    for (let i = 0; i < n; i++) {
      const s = bars.start[i] * 1000, e = bars.end[i] * 1000;
      if (s < lo) lo = s;
      if (e > hi) hi = e;
      // [host, start ms, end ms, activity, type, lease, lane, status]
      data[i] = [bars.host[i], s, e, bars.act[i], bars.type[i], bars.lease[i], lane[i], bars.status ? bars.status[i] : PAST];
    }
    if (range) [lo, hi] = [range[0] * 1000, range[1] * 1000];  // the window asked for, not the bars' extent
    if (!isFinite(lo)) { lo = 0; hi = 3600e3; }
    this.extent = [lo, hi];
    this.lanes = lanes;
    const marks = hosts.map((h, i) => [i, h.mark]).filter((m) => m[1]);
    const relative = this.relative;
    const self = this;
    const styles = {};
    const styleOf = (act, type, status) => {
      const key = act * 100 + type * 10 + status;
      if (!styles[key]) {
        const fill = act === RUN ? TYPE_COLOR[TYPES[type]] : ACTIVITY_COLOR[ACTIVITIES[act]];
        styles[key] = status === PLANNED
          ? { fill: echarts.color.modifyAlpha(fill, 0.28), stroke: fill, lineWidth: 1, lineDash: [3, 2] }
          : status === PAST && self.now !== null
            ? { fill: echarts.color.modifyAlpha(fill, 0.55), stroke: null }
            : { fill, stroke: status === RUNNING ? "#111827" : null, lineWidth: 1 };
      }
      return styles[key];
    };
    const option = {
      animation: false,
      useUTC: true,
      grid: { left: 120, right: 46, top: 16, bottom: 64 },
      tooltip: {
        trigger: "item", confine: true, enterable: false, transitionDuration: 0,
        formatter: (p) => (p.seriesId === "bars" ? this.describe(p.dataIndex) : ""),
      },
      xAxis: {
        type: "time", min: lo, max: hi, scale: true,
        axisLabel: { formatter: (v) => axisTime(v, relative), hideOverlap: true },
        splitLine: { show: true, lineStyle: { color: "#eef0f3" } },
      },
      yAxis: {
        type: "category", inverse: true, data: hosts.map((h) => h.name),
        axisLabel: {
          interval: "auto", fontSize: 11, lineHeight: 14,
          formatter: (name, i) => { const m = hosts[i] && hosts[i].mark; return m ? `{mark|⚠ ${m}}\n${name}` : name; },
          rich: { mark: { color: "#b91c1c", fontWeight: "bold", fontSize: 11, lineHeight: 14 } },
        },
        splitLine: { show: hosts.length <= 40, lineStyle: { color: "#f1f3f5" } },
      },
      dataZoom: [
        { type: "inside", xAxisIndex: 0, filterMode: "weakFilter", minValueSpan: 60e3, zoomOnMouseWheel: true, moveOnMouseMove: true },
        { type: "slider", xAxisIndex: 0, filterMode: "weakFilter", minValueSpan: 60e3, height: 22, bottom: 12, labelFormatter: (v) => formatTime(v, relative) },
        { type: "slider", yAxisIndex: 0, filterMode: "empty", width: 16, right: 8, zoomLock: false, showDetail: false },
      ],
      series: [
        {
          id: "marks", type: "custom", silent: true, clip: true, z: 1,
          renderItem: (params, api) => {
            const c = api.coord([0, api.value(0)]);
            const h = api.size([0, 1])[1];
            const cs = params.coordSys;
            return { type: "rect", shape: { x: cs.x, y: c[1] - h / 2, width: cs.width, height: h },
                     style: { fill: MARK_COLOR[marks[params.dataIndex][1]] || MARK_COLOR.disabled } };
          },
          encode: { x: [1, 2], y: 0 }, data: marks.map((m) => [m[0], lo, hi]),
        },
        {
          id: "bars", type: "custom", clip: true, z: 2,
          encode: { x: [1, 2], y: 0 }, data,
          renderItem: (params, api) => {
            if (params.dataIndexInside === 0) self.drawnPerHost = new Array(hosts.length).fill(0);
            const d = data[params.dataIndex];
            const host = d[0];
            const a = api.coord([d[1], host]);
            const b = api.coord([d[2], host]);
            const rowH = api.size([0, 1])[1] * 0.84;
            const top = a[1] - rowH / 2;
            let y, h;
            if (d[3] === TRANSFER) { h = Math.max(rowH * 0.18, 1); y = top + rowH - h; }
            else {
              const n = lanes[host];
              const laneH = (d[3] === TRANSFER ? rowH : rowH * 0.8) / n;
              h = Math.max(laneH - (n > 1 ? 0.5 : 0), 0.6);
              y = top + d[6] * laneH;
            }
            const shape = echarts.graphic.clipRectByRect(
              { x: a[0], y, width: Math.max(b[0] - a[0], 1), height: h },
              { x: params.coordSys.x, y: params.coordSys.y, width: params.coordSys.width, height: params.coordSys.height });
            if (!shape) return null;
            self.drawnPerHost[host]++;
            return { type: "rect", shape, style: styleOf(d[3], d[4], d[7]) };
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
    this.chart.setOption(option, { notMerge: true, lazyUpdate: false });
    if (!this._zoomHook) {
      this._zoomHook = true;
      this.chart.on("datazoom", () => { this.window = this.visibleWindow(); });
    }
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
    this.chart.dispatchAction({ type: "dataZoom", dataZoomIndex: 0, startValue: startMs, endValue: endMs });
    this.chart.dispatchAction({ type: "dataZoom", dataZoomIndex: 1, startValue: startMs, endValue: endMs });
  }

  /** Pixel centre of bar i (for tests and the benchmark), or null when it is not in view. */
  barCentre(i) {
    const d = this.chart.getOption().series[1].data[i];
    const a = this.chart.convertToPixel({ gridIndex: 0 }, [d[1], d[0]]);
    const b = this.chart.convertToPixel({ gridIndex: 0 }, [d[2], d[0]]);
    const rowH = this.chart.getModel().getComponent("yAxis", 0).axis.getBandWidth() * 0.84;
    const n = this.lanes[d[0]];
    const laneH = (rowH * 0.8) / n;
    const y = d[3] === TRANSFER ? a[1] + rowH / 2 - rowH * 0.09 : a[1] - rowH / 2 + d[6] * laneH + laneH / 2;
    return [(a[0] + b[0]) / 2, y];
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
