// The timeline's host labels, left of the rows: a few absolutely placed elements, laid out again only when the rows
// move (a zoom of the host axis, a resize), not at every zoom or pan of the time axis. Drawn by ECharts' category
// axis they cost most of its update at every time-axis zoom step (its labels are laid out again each time).

const LABEL_PX = 15, MARKED_PX = 30;  // a label's height; a marked host's label has two lines

export class HostLabels {
  /** el: the chart's element (positioned). */
  constructor(el) {
    this.layer = document.createElement("div");
    this.layer.className = "tl-hosts";
    el.appendChild(this.layer);
    this.labels = [];
    this.key = "";
  }

  /**
   * hosts: [{name, mark}]; row h's centre is at y0 + h * band px; clip: the grid's rectangle. One label every so
   * many rows, so that labels never overlap.
   */
  update(hosts, y0, band, clip) {
    const key = `${y0.toFixed(2)} ${band.toFixed(3)} ${clip.x} ${clip.y} ${clip.height}`;
    if (hosts === this.hosts && key === this.key) return;
    this.hosts = hosts;
    this.key = key;
    const marked = hosts.some((h) => h.mark);
    const every = Math.max(1, Math.ceil((marked ? MARKED_PX : LABEL_PX) / band));
    const first = Math.max(0, Math.ceil((clip.y - y0) / band - 0.5)), last = Math.min(hosts.length - 1,
      Math.floor((clip.y + clip.height - y0) / band + 0.5));
    let k = 0;
    for (let h = Math.ceil(first / every) * every; h <= last; h += every) {
      let lab = this.labels[k];
      if (!lab) { lab = this.labels[k] = document.createElement("span"); this.layer.appendChild(lab); }
      const { name, mark } = hosts[h];
      const text = mark ? `${mark}\n${name}` : name;
      if (lab.dataset.text !== text) {
        lab.dataset.text = text;
        lab.textContent = "";
        if (mark) {
          const m = document.createElement("b");
          m.textContent = `⚠ ${mark}`;
          lab.append(m, document.createElement("br"));
        }
        lab.append(name);
      }
      lab.style.transform = `translate(${clip.x - 8}px, ${(y0 + h * band).toFixed(1)}px) translate(-100%, -50%)`;
      lab.hidden = false;
      k++;
    }
    for (; k < this.labels.length; k++) this.labels[k].hidden = true;
  }
}
