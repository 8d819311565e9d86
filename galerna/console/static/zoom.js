// The timeline's own zoom and pan of the time axis: the wheel zooms about the pointer, a drag pans, two fingers
// pinch. ECharts' "inside" dataZoom did this before, at the cost of a whole chart update (layout, axes, sliders,
// its SVG or canvas redrawn) at every wheel or mouse-move event; here a step only moves the window and asks for the
// bars and axis labels to be painted at the next animation frame. ECharts' slider is told where the window is once
// the steps pause (SETTLE_MS), so it follows without being part of every frame.

export const SETTLE_MS = 120;  // the slider (and ECharts' own axis) follow this long after the last zoom/pan step
const LINE_PX = 16, PAGE_PX = 800;  // wheel deltas in lines or pages, as pixels
const WHEEL_ZOOM = 0.002, PINCH_ZOOM = 0.01;  // e^(k * px): a notch of a mouse wheel (100 px) zooms by 1.22x
const DRAG_PX = 5;  // a press that moves less than this is a click, not a pan (zrender: a click within 4 px)

/**
 * Wheel, drag and pinch on `el`, inside the rectangle `tl.plotRect()` returns (the grid: not the sliders), turned into
 * `tl.setWindow(lo, hi)` calls; the window is read from `tl.window`, clamped to `tl.extent` and no narrower than
 * `tl.minSpan` (ms).
 */
export class ZoomPan {
  constructor(el, tl) {
    this.el = el;
    this.tl = tl;
    this.pointers = new Map();  // pointerId -> [x, y] (client px) of the pointers pressed in the grid
    this.drag = null;  // {x, window, moved} of a one-pointer pan, or {dist, mid, window} of a pinch
    el.style.touchAction = "none";
    el.addEventListener("wheel", (e) => this.wheel(e), { passive: false });
    el.addEventListener("pointerdown", (e) => this.down(e));
    window.addEventListener("pointermove", (e) => this.move(e));
    window.addEventListener("pointerup", (e) => this.up(e));
    window.addEventListener("pointercancel", (e) => this.up(e));
  }

  /** A drag or pinch is moving the window. */
  get panning() { return !!(this.drag && this.drag.moved); }

  /** Client (x, y) as chart pixels, and whether they lie in the grid. */
  local(e) {
    const box = this.el.getBoundingClientRect();  // the chart's origin is inside the element's border
    const x = e.clientX - box.left - this.el.clientLeft, y = e.clientY - box.top - this.el.clientTop;
    const r = this.tl.plotRect();
    return { x, y, inside: !!r && x >= r.x && x <= r.x + r.width && y >= r.y && y <= r.y + r.height };
  }

  /** The time (ms) at chart pixel x, in the window `win`. */
  timeAt(x, win) {
    const r = this.tl.plotRect();
    return win[0] + ((x - r.x) / r.width) * (win[1] - win[0]);
  }

  /** Zoom `win` by `factor` (above 1: out) about time t, clamped to the extent. */
  scaled(win, factor, t) {
    const [lo, hi] = this.tl.extent, full = hi - lo;
    const span = Math.min(full, Math.max(this.tl.minSpan, (win[1] - win[0]) * factor));
    const f = (t - win[0]) / (win[1] - win[0]);
    return this.clamp(t - f * span, span);
  }

  /** [a, a + span] moved inside the extent. */
  clamp(a, span) {
    const [lo, hi] = this.tl.extent;
    span = Math.min(span, hi - lo);
    a = Math.min(Math.max(a, lo), hi - span);
    return [a, a + span];
  }

  wheel(e) {
    const p = this.local(e);
    if (!p.inside) return;
    e.preventDefault();
    const unit = e.deltaMode === 1 ? LINE_PX : e.deltaMode === 2 ? PAGE_PX : 1;
    const dx = e.deltaX * unit, dy = e.deltaY * unit, win = this.tl.window;
    if (Math.abs(dx) > Math.abs(dy) && !e.ctrlKey) {  // a sideways swipe pans
      const r = this.tl.plotRect();
      const [a, b] = this.clamp(win[0] + (dx / r.width) * (win[1] - win[0]), win[1] - win[0]);
      this.tl.setWindow(a, b);
      return;
    }
    const factor = Math.exp(dy * (e.ctrlKey ? PINCH_ZOOM : WHEEL_ZOOM));  // ctrl + wheel: a touchpad's pinch
    const [a, b] = this.scaled(win, factor, this.timeAt(p.x, win));
    this.tl.setWindow(a, b);
  }

  down(e) {
    if (e.pointerType === "mouse" && e.button !== 0) return;
    const p = this.local(e);
    if (!p.inside) return;
    this.pointers.set(e.pointerId, [e.clientX, e.clientY]);
    this.start();
  }

  /** A pan (one pointer) or pinch (two) begins from the pointers pressed now. */
  start() {
    const pts = [...this.pointers.values()];
    const win = this.tl.window.slice();
    if (pts.length === 1) this.drag = { x: pts[0][0], window: win, moved: false };
    else if (pts.length >= 2) {
      const [[x1, y1], [x2, y2]] = pts;
      this.drag = { dist: Math.hypot(x2 - x1, y2 - y1) || 1, mid: (x1 + x2) / 2, window: win, moved: true };
    } else this.drag = null;
  }

  move(e) {
    if (!this.pointers.has(e.pointerId) || !this.drag) return;
    this.pointers.set(e.pointerId, [e.clientX, e.clientY]);
    const d = this.drag, r = this.tl.plotRect(), pts = [...this.pointers.values()];
    const span = d.window[1] - d.window[0];
    if (pts.length === 1) {
      const dx = pts[0][0] - d.x;
      if (!d.moved && Math.abs(dx) < DRAG_PX) return;
      d.moved = true;
      this.el.style.cursor = "grabbing";
      const [a, b] = this.clamp(d.window[0] - (dx / r.width) * span, span);
      this.tl.setWindow(a, b);
      return;
    }
    const [[x1, y1], [x2, y2]] = pts;
    const box = this.el.getBoundingClientRect();
    const factor = d.dist / (Math.hypot(x2 - x1, y2 - y1) || 1);
    const t = this.timeAt(d.mid - box.left - this.el.clientLeft, d.window);
    const [a, b] = this.scaled(d.window, factor, t);
    const shift = (((x1 + x2) / 2 - d.mid) / r.width) * (b - a);  // the fingers' midpoint also pans
    this.tl.setWindow(...this.clamp(a - shift, b - a));
  }

  up(e) {
    if (!this.pointers.delete(e.pointerId)) return;
    if (this.drag && this.drag.moved) this.el.style.cursor = "";
    this.start();
  }
}

/** Calls `fn` once, SETTLE_MS after the last of a run of `poke()` calls (or at once with `flush()`). */
export class Settle {
  constructor(fn, ms = SETTLE_MS) { this.fn = fn; this.ms = ms; this.timer = 0; }

  poke() {
    clearTimeout(this.timer);
    this.timer = setTimeout(() => { this.timer = 0; this.fn(); }, this.ms);
  }

  get pending() { return this.timer !== 0; }

  flush() { if (this.timer) { clearTimeout(this.timer); this.timer = 0; this.fn(); } }
}
