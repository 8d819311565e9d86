// The timeline's time axis: ticks a fixed step apart (from a ladder of readable steps) and their labels.
//
// ECharts' time axis puts its ticks on calendar boundaries (months, weeks), so at month zoom they are unevenly
// spaced, and it lays its labels out again at every zoom step. Here the step is the smallest one of the ladder whose
// labels do not touch at the current scale; ticks are the multiples of it (UTC midnight for whole days, the workload
// start in `galerna view`), so neighbouring ticks are always the same number of pixels apart. The labels are a few
// absolutely placed elements under the grid, reused from frame to frame.

const S = 1000, M = 60 * S, H = 60 * M, D = 24 * H;
/** The steps the axis may use, smallest first. */
export const STEPS = [S, 2 * S, 5 * S, 10 * S, 15 * S, 30 * S, M, 2 * M, 5 * M, 10 * M, 15 * M, 30 * M,
  H, 2 * H, 3 * H, 6 * H, 12 * H, D, 2 * D, 7 * D, 14 * D, 28 * D, 56 * D, 112 * D, 364 * D];
const GAP = 16;  // px of white between two labels, at least

function pad(n) { return String(n).padStart(2, "0"); }

/** A tick's label, as precise as the step needs: no seconds unless the step is under a minute, no time of day for
 * whole days. relative: ms from the workload start ("day N"), else UTC. */
export function tickLabel(ms, step, relative) {
  const d = new Date(ms);
  const hm = `${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}`, sec = step < M ? `:${pad(d.getUTCSeconds())}` : "";
  if (relative) {
    const day = `day ${Math.floor(ms / D)}`;
    return step >= D ? day : `${day} ${hm}${sec}`;
  }
  const date = `${pad(d.getUTCMonth() + 1)}-${pad(d.getUTCDate())}`;
  if (step >= D) return date;
  return step < M ? `${hm}${sec}` : `${date} ${hm}`;
}

/** The smallest step of the ladder at which labels `width(step)` px wide keep GAP px apart, `kx` px per ms. */
export function tickStep(kx, width) {
  for (const step of STEPS) if (step * kx >= width(step) + GAP) return step;
  return STEPS[STEPS.length - 1];
}

/** The multiples of `step` in [lo, hi]. */
export function ticksIn(lo, hi, step) {
  const out = [];
  for (let t = Math.ceil(lo / step) * step; t <= hi; t += step) out.push(t);
  return out;
}

export class TimeAxis {
  /** el: the chart's element (positioned); relative: `galerna view`'s "day N" labels. */
  constructor(el, relative) {
    this.relative = relative;
    this.layer = document.createElement("div");
    this.layer.className = "tl-axis";
    el.appendChild(this.layer);
    this.labels = [];
    this.measurer = document.createElement("canvas").getContext("2d");
    this.widths = new Map();  // label length -> px (digits are of equal width in the font)
    this.font = null;
  }

  /** Width in px of a label like `text` (measured once per length). */
  width(text) {
    if (!this.font) {
      const probe = document.createElement("span");
      this.layer.appendChild(probe);
      const cs = getComputedStyle(probe);
      this.font = `${cs.fontWeight} ${cs.fontSize} ${cs.fontFamily}`;
      probe.remove();
      this.measurer.font = this.font;
    }
    let w = this.widths.get(text.length);
    if (w === undefined) this.widths.set(text.length, (w = Math.ceil(this.measurer.measureText(text.replace(/\d/g, "0")).width)));
    return w;
  }

  /**
   * The ticks of the window [lo, hi] ms drawn `kx` px per ms from x0 (px of time 0), labels placed under `clip`
   * (the grid's rectangle); returns the ticks' x positions (for the grid lines) and the step.
   */
  update(lo, hi, x0, kx, clip) {
    const step = tickStep(kx, (s) => this.width(tickLabel(hi, s, this.relative)));
    const right = this.layer.parentElement.clientWidth;  // read before any write: no forced layout
    const xs = [];
    let k = 0;
    for (const t of ticksIn(lo, hi, step)) {
      const x = x0 + t * kx;
      xs.push(x);
      const text = tickLabel(t, step, this.relative), half = this.width(text) / 2;
      if (x - half < 0 || x + half > right) continue;  // would leave the chart
      let lab = this.labels[k];
      if (!lab) { lab = this.labels[k] = document.createElement("span"); this.layer.appendChild(lab); }
      if (lab.textContent !== text) lab.textContent = text;
      lab.style.transform = `translate(${x.toFixed(1)}px, ${clip.y + clip.height + 6}px) translateX(-50%)`;
      lab.hidden = false;
      k++;
    }
    for (; k < this.labels.length; k++) this.labels[k].hidden = true;
    this.step = step;
    this.layer.dataset.step = String(step);
    return xs;
  }
}
