// The timeline shared by the console (`galerna serve`) and `galerna view`: hosts as rows, time as the axis,
// one bar per allocation. Apache ECharts (its SVG renderer) gives the grid, the axis lines and the sliders; the bars
// (and the shading of marked hosts' rows) are painted by bars.js on an opaque canvas under ECharts' layer; the time
// axis' labels, the host labels and the "now" line are a few positioned elements. Zoom and pan of the time axis are
// zoom.js' (the wheel, a drag, a pinch): a step moves the window and paints the next frame, and ECharts' slider is
// told once the steps pause.
import * as echarts from "./vendor/echarts.esm.min.js";
import { TimeAxis } from "./axis.js";
import { HostLabels } from "./hostlabels.js";
import { ACTIVITIES, ACTIVITY_COLOR, BarIndex, TYPES, TYPE_COLOR, idle, mergeGap, packed, paintBars, styleTable } from "./bars.js";
import { Settle, ZoomPan } from "./zoom.js";

export { ACTIVITIES, ACTIVITY_COLOR, PAST, PLANNED, RUNNING, TYPES, TYPE_COLOR } from "./bars.js";
export const TYPE_LABEL = { ar: "advance reservation", best_effort: "best-effort", immediate: "immediate", deadline: "deadline" };
export const MARK_COLOR = { error: "rgba(220,38,38,0.16)", disabled: "rgba(100,116,139,0.20)", maintenance: "rgba(234,179,8,0.22)" };

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

export class Timeline {
  /**
   * el: the element to draw in. opts.relative: times are seconds from the workload start (`galerna view`);
   * opts.onSelect(leaseIndex): a bar was clicked; opts.describe(barIndex): tooltip HTML for a bar.
   *
   * ECharts draws the grid, axis lines and sliders as SVG; the bars are painted on a canvas of our own under it, at
   * most once per animation frame. `window` ([start, end] ms) is the time axis' window; ECharts' x axis and slider
   * follow it SETTLE_MS after the last zoom step (sync).
   */
  constructor(el, opts = {}) {
    this.el = el;
    this.relative = !!opts.relative;
    this.onSelect = opts.onSelect || (() => {});
    this.describe = opts.describe || (() => "");
    // SVG: ECharts' layer changes only when the slider moves, and is composited, not rasterised, at a zoom step
    this.chart = echarts.init(el, null, { renderer: "svg" });
    el.style.position = "relative";
    el.firstElementChild.style.zIndex = "1";  // ECharts' own layer, over the bars
    this.minSpan = 60e3;
    this.canvas = document.createElement("canvas");
    this.canvas.className = "tl-bars";
    el.appendChild(this.canvas);
    this.counts = { perHost: [] };
    this.axis = new TimeAxis(el, this.relative);
    this.hostLabels = new HostLabels(el);
    this.tip = document.createElement("div");
    this.tip.className = "tl-tip hidden";
    el.appendChild(this.tip);
    this.nowLine = document.createElement("div");
    this.nowLine.className = "tl-now hidden";
    this.nowLine.innerHTML = "<span>now</span>";
    el.appendChild(this.nowLine);
    this.frame = 0;
    const zr = this.chart.getZr();
    zr.on("mousemove", (e) => this.hover(e.offsetX, e.offsetY));
    zr.on("globalout", () => this.tip.classList.add("hidden"));
    zr.on("click", (e) => { const i = this.barAt(e.offsetX, e.offsetY); if (i >= 0) this.onSelect(this.bars.lease[i]); });
    // the sliders (ours are dispatched silently): the time slider sets the window, the host slider moves the rows
    this.chart.on("datazoom", (e) => {
      if ((e.batch || [e]).some((b) => b.dataZoomId === "x")) this.window = this.axisWindow();
      this.tip.classList.add("hidden");  // the bar it described has moved
      this.schedule();
    });
    this.sync = new Settle(() => this.syncAxis());
    this.zoom = new ZoomPan(el, this);
    new ResizeObserver(() => { this.chart.resize(); this.rect = null; this.schedule(); }).observe(el);
  }

  get drawnPerHost() { return Array.from(this.counts.perHost); }

  drawnTotal() { return this.counts.perHost.reduce((a, b) => a + b, 0); }

  /** Paint the bars at the next animation frame (however many zoom events come before it). */
  schedule() {
    if (!this.frame) this.frame = requestAnimationFrame(() => { this.frame = 0; this.paint(); });
  }

  /**
   * hosts: [{name, mark}] (mark: null, "error", "disabled" or "maintenance"); bars: columns {host, start, end (s),
   * act (index in ACTIVITIES), type (index in TYPES), lease (an index the caller knows), status (PAST/RUNNING/PLANNED)};
   * now: seconds or null. keepZoom: keep the window the user zoomed to. range: [start, end] s of the axis.
   */
  setData(hosts, bars, now = null, keepZoom = false, range = null) {
    this.hosts = hosts;
    this.bars = bars;
    this.now = now;
    this.index = new BarIndex(bars, hosts.length);
    this.warmed = false;
    if (!this.firstPaint) performance.mark("galerna-bars-indexed");
    this.styles = styleTable(now !== null);
    let [lo, hi] = range ? [range[0] * 1000, range[1] * 1000] : this.index.bounds;  // the window asked for, if any
    if (!isFinite(lo)) { lo = 0; hi = 3600e3; }
    const whole = !this.window || !this.extent || (this.window[0] <= this.extent[0] && this.window[1] >= this.extent[1]);
    this.extent = [lo, hi];
    if (!keepZoom || whole) this.window = [lo, hi];  // not zoomed in: the whole new range (the console's moves on)
    this.window = [Math.max(lo, this.window[0]), Math.min(hi, this.window[1])];
    if (!(this.window[1] - this.window[0] > 0)) this.window = [lo, hi];
    // a marked host's row is shaded under its bars (painted with them), its label says why (hostlabels.js)
    this.rowFill = Uint32Array.from(hosts, (h) => (h.mark ? packed(MARK_COLOR[h.mark] || MARK_COLOR.disabled) : 0));
    const relative = this.relative;
    const option = {
      animation: false,
      useUTC: true,
      grid: { left: 120, right: 46, top: 16, bottom: 64 },
      xAxis: {
        // a plain number axis: its ticks and labels are axis.js' (evenly spaced at every zoom), its grid lines are
        // painted under the bars (paint)
        type: "value", min: lo, max: hi, scale: true,
        axisLabel: { show: false }, axisTick: { show: false }, splitLine: { show: false },
      },
      yAxis: {
        type: "category", inverse: true, data: hosts.map((h) => h.name),
        axisLabel: { show: false }, axisTick: { show: false },  // the labels are hostlabels.js'
        splitLine: { show: hosts.length <= 40, lineStyle: { color: "#f1f3f5" } },
      },
      // the wheel, drag and pinch on the grid are zoom.js'; the sliders are ECharts' (the time slider is moved to
      // the window when zoom steps pause)
      dataZoom: [
        { id: "x", type: "slider", xAxisIndex: 0, filterMode: "none", minValueSpan: this.minSpan, throttle: 16, showDataShadow: false, height: 22, bottom: 12, labelFormatter: (v) => axisTime(v, relative),
          startValue: this.window[0], endValue: this.window[1] },
        { id: "y", type: "slider", yAxisIndex: 0, filterMode: "empty", throttle: 16, showDataShadow: false, width: 16, right: 8, showDetail: false },
      ],
      series: [
        {
          // the time axis' extent; the bars themselves are on the canvas underneath
          id: "frame", type: "custom", silent: true, encode: { x: [1, 2] }, data: [[0, lo, hi]],
          renderItem: () => ({ type: "group", children: [] }),
        },
      ],
    };
    this.nowLine.classList.toggle("hidden", now === null);
    this.tip.classList.add("hidden");
    this.chart.setOption(option, { notMerge: true, lazyUpdate: false });
    this.rect = null;
    this.schedule();
  }

  /** The grid's rectangle (chart pixels), as ECharts laid it out (kept until a resize or new data). */
  plotRect() {
    if (!this.rect) {
      const m = this.chart.getModel(), grid = m && m.getComponent("grid", 0);
      if (!grid || !grid.coordinateSystem) return null;
      const r = grid.coordinateSystem.getRect();
      this.rect = { x: r.x, y: r.y, width: r.width, height: r.height };
    }
    return this.rect;
  }

  /** Show [a, b] ms (a zoom or pan step): painted at the next frame, ECharts' axis and slider told once they pause. */
  setWindow(a, b) {
    this.window = [a, b];
    this.tip.classList.add("hidden");  // the bar it described has moved
    this.schedule();
    this.sync.poke();
  }

  /** ECharts' time axis and slider to the window, without a datazoom event of its own. */
  syncAxis() {
    const [a, b] = this.window;
    this.chart.dispatchAction({ type: "dataZoom", dataZoomId: "x", startValue: a, endValue: b }, { silent: true });
  }

  /** Where the grid and the visible window are now: the window is ours, the rows are ECharts' category axis'. */
  measure() {
    const rect = this.plotRect();
    const [lo, hi] = this.window;
    const kx = rect.width / (hi - lo), x0 = rect.x - lo * kx;
    const p0 = this.chart.convertToPixel({ yAxisIndex: 0 }, 0), p1 = this.chart.convertToPixel({ yAxisIndex: 0 }, 1);
    const clip = rect;
    const ticks = this.axis.update(lo, hi, x0, kx, clip);
    return { view: { x0, kx, y0: p0, band: p1 - p0, clip }, win: [lo, hi], ticks };
  }

  /** The bars in view, painted as pixels on our canvas at the grid's place. */
  paint() {
    if (!this.index) return;
    const t0 = performance.now();
    const { view, win, ticks } = this.measure();
    this.view = view;
    const { clip } = view;
    const dpr = window.devicePixelRatio || 1;
    const cv = this.canvas;
    const w = Math.max(1, Math.round(clip.width * dpr)), h = Math.max(1, Math.round(clip.height * dpr));
    if (cv.width !== w || cv.height !== h) {
      cv.width = w; cv.height = h;
      Object.assign(cv.style, { left: `${clip.x}px`, top: `${clip.y}px`, width: `${clip.width}px`, height: `${clip.height}px` });
      this.ctx = cv.getContext("2d", { alpha: false });  // opaque: composited without blending
      this.image = this.ctx.createImageData(w, h);
      this.pixels = new Uint32Array(this.image.data.buffer);
    }
    this.hostLabels.update(this.hosts, view.y0, view.band, clip);
    if (this.now !== null) {
      const x = view.x0 + this.now * 1000 * view.kx;
      this.nowLine.style.visibility = x < clip.x || x > clip.x + clip.width ? "hidden" : "";
      this.nowLine.style.transform = `translate(${x.toFixed(1)}px, ${clip.y}px)`;
      this.nowLine.style.height = `${clip.height}px`;
    }
    const perHost = paintBars(this.pixels, w, h, this.index, this.styles, view, win, ticks, dpr, this.rowFill);
    this.ctx.putImageData(this.image, 0, 0);
    this.counts = { perHost };
    this.paintMs = performance.now() - t0;  // read by benchmarks/console_render.py
    if (!this.firstPaint && this.index.n) {
      this.firstPaint = performance.now();
      performance.mark("galerna-bars-drawn");
    }
    if (!this.warmed && this.index.n) {  // the merged levels for the whole extent, in the idle time after it
      this.warmed = true;
      const [lo, hi] = this.extent;
      this.index.warm(mergeGap((clip.width * dpr) / (hi - lo)), () => this.warmPainter(w, h, dpr));
    }
    this.el.dataset.drawn = String(this.drawnTotal());
  }

  /**
   * Paints a few zooms (a day, an hour, a minute about the middle of the run) into a scratch image, one per idle
   * period, so that the painter's code is compiled for the paths a first zoom takes before the user zooms: the first
   * paint ran only the month-zoom one.
   */
  warmPainter(w, h, dpr) {
    const [lo, hi] = this.extent, mid = (lo + hi) / 2, scratch = new Uint32Array(w * h), index = this.index;
    const spans = [86400e3, 3600e3, 60e3].filter((s) => s < hi - lo);
    const next = () => {
      const span = spans.shift();
      if (span === undefined || index !== this.index || !this.view) return;  // new data meanwhile: its own warm-up
      const { clip, y0, band } = this.view, kx = clip.width / span, a = mid - span / 2;
      paintBars(scratch, w, h, index, this.styles, { x0: clip.x - a * kx, kx, y0, band, clip }, [a, a + span], [],
        dpr, this.rowFill);
      idle(next);
    };
    idle(next);
  }

  /** The bar under pixel (x, y) of the chart, or -1: its host row, then its time, then its lane. */
  barAt(x, y) {
    const v = this.view;
    if (!v || x < v.clip.x || x > v.clip.x + v.clip.width || y < v.clip.y || y > v.clip.y + v.clip.height) return -1;
    const host = Math.round((y - v.y0) / v.band);
    if (host < 0 || host >= this.hosts.length) return -1;
    const t = (x - v.x0) / v.kx, slack = 1 / v.kx;  // one pixel, in ms
    const ix = this.index;
    const [from, to] = ix.slice(host, t - slack, t + slack);
    let best = -1;
    for (let p = from; p < to; p++) {
      const i = ix.order[p];
      if (ix.endMs[i] + slack < t) continue;
      const [top, h] = this.barBand(i);
      if (y < top - 0.5 || y > top + h + 0.5) continue;
      if (best < 0 || ix.startMs[i] <= t) best = i;
    }
    return best;
  }

  /** [top, height] in pixels of bar i at the current zoom. */
  barBand(i) { return this.index.band(i, this.view.y0, this.view.band); }

  hover(x, y) {
    if (this.zoom.panning) { this.tip.classList.add("hidden"); return; }  // the cursor is zoom.js' meanwhile
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
  visibleWindow() { return this.window ? this.window.slice() : this.extent; }

  /** ECharts' x axis' [start, end] ms (the slider's window; the visible one SETTLE_MS after a zoom step). */
  axisWindow() {
    const ext = this.chart.getModel().getComponent("xAxis", 0).axis.scale.getExtent();
    return [ext[0], ext[1]];
  }

  /** Zoom to [start, end] in ms (clamped to the extent, at least a minute). */
  zoomTo(startMs, endMs) {
    const [lo, hi] = this.extent;
    const span = Math.min(hi - lo, Math.max(this.minSpan, endMs - startMs));
    const a = Math.min(Math.max(startMs, lo), hi - span);
    this.setWindow(a, a + span);
  }

  /** Pixel centre of bar i (for tests and the benchmark) at the current zoom. */
  barCentre(i) {
    const v = this.view, ix = this.index;
    const a = Math.max(v.x0 + ix.startMs[i] * v.kx, v.clip.x), b = Math.min(v.x0 + ix.endMs[i] * v.kx, v.clip.x + v.clip.width);
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
