// The caller's position on the regulator's case page, with nothing fetched from elsewhere (CSP script-src
// 'self', no map tiles, no run-time downloads): coordinates, accuracy, age of the last fix, a small plot of the
// recent fixes in metres around the latest one (north up, accuracy circle, scale), and links the regulator opens
// in the map application of their choice (OpenStreetMap in a new tab, or geo: for a phone's map app).
const SVG = 'http://www.w3.org/2000/svg';
const MAX_FIXES = 20;
const PLOT = 90; // the plot spans -PLOT..PLOT in its viewBox
const NICE = [25, 50, 100, 200, 500, 1000, 2000, 5000, 10000, 20000, 50000];

function svg(name, attributes) {
  const node = document.createElementNS(SVG, name);
  for (const [key, value] of Object.entries(attributes)) node.setAttribute(key, String(value));
  return node;
}

// Metres east (x) and north (y) of `origin` (equirectangular: exact enough over a few kilometres).
function offset(origin, fix) {
  const x = (fix.lon - origin.lon) * Math.cos((origin.lat * Math.PI) / 180) * 111320;
  const y = (fix.lat - origin.lat) * 110540;
  return { x, y };
}

export function ageText(ms, t) {
  const seconds = Math.max(0, Math.round(ms / 1000));
  if (seconds < 90) return t('js_age_seconds', { n: seconds });
  const minutes = Math.round(seconds / 60);
  if (minutes < 90) return t('js_age_minutes', { n: minutes });
  return t('js_age_hours', { n: Math.round(minutes / 60) });
}

export class PositionView {
  // root: the #position element; t: the translation function.
  constructor(root, t) {
    this.root = root;
    this.t = t;
    this.fixes = [];
    this.timer = setInterval(() => this.renderAge(), 1000);
  }

  // detail: {lat, lon, accuracy} of a `caller.location` event; at: its ISO time.
  add(detail, at) {
    if (!detail || !Number.isFinite(detail.lat) || !Number.isFinite(detail.lon)) return;
    this.fixes.push({ lat: detail.lat, lon: detail.lon, accuracy: Number(detail.accuracy) || 0, at: Date.parse(at) });
    if (this.fixes.length > MAX_FIXES) this.fixes.shift();
    this.render();
  }

  get latest() {
    return this.fixes[this.fixes.length - 1];
  }

  render() {
    const fix = this.latest;
    if (!fix) return;
    const $ = (selector) => this.root.querySelector(selector);
    this.root.hidden = false;
    const none = document.getElementById('position-none');
    if (none) none.hidden = true;
    const coords = `${fix.lat.toFixed(5)}, ${fix.lon.toFixed(5)}`;
    $('#position-coords').textContent = coords;
    $('#position-accuracy').textContent = fix.accuracy ? `± ${Math.round(fix.accuracy)} m` : '—';
    const osm = `https://www.openstreetmap.org/?mlat=${fix.lat.toFixed(6)}&mlon=${fix.lon.toFixed(6)}`
      + `#map=17/${fix.lat.toFixed(6)}/${fix.lon.toFixed(6)}`;
    $('#position-osm').href = osm;
    $('#position-geo').href = `geo:${fix.lat.toFixed(6)},${fix.lon.toFixed(6)}`;
    $('#position-copy').onclick = () => navigator.clipboard && navigator.clipboard.writeText(coords).catch(() => {});
    this.renderAge();
    this.renderPlot($('#position-plot'));
  }

  renderAge() {
    const fix = this.latest;
    if (!fix || !Number.isFinite(fix.at)) return;
    const age = this.root.querySelector('#position-age');
    age.textContent = ageText(Date.now() - fix.at, this.t);
    age.dataset.stale = String(Date.now() - fix.at > 5 * 60 * 1000);
  }

  renderPlot(plot) {
    const fix = this.latest;
    const points = this.fixes.map((other) => offset(fix, other));
    const reach = Math.max(fix.accuracy, ...points.map(({ x, y }) => Math.hypot(x, y)), 10) * 1.15;
    const radius = NICE.find((value) => value >= reach) || reach; // metres at the edge of the plot
    const scale = PLOT / radius;
    const nodes = [
      svg('circle', { cx: 0, cy: 0, r: PLOT, class: 'plot-edge' }),
      svg('line', { x1: -PLOT, y1: 0, x2: PLOT, y2: 0, class: 'plot-axis' }),
      svg('line', { x1: 0, y1: -PLOT, x2: 0, y2: PLOT, class: 'plot-axis' }),
      svg('circle', { cx: 0, cy: 0, r: Math.max(2, fix.accuracy * scale), class: 'plot-accuracy' }),
    ];
    if (points.length > 1) {
      const path = points.map(({ x, y }) => `${(x * scale).toFixed(1)},${(-y * scale).toFixed(1)}`).join(' ');
      nodes.push(svg('polyline', { points: path, class: 'plot-track' }));
    }
    points.slice(0, -1).forEach(({ x, y }) => nodes.push(svg('circle', {
      cx: (x * scale).toFixed(1), cy: (-y * scale).toFixed(1), r: 2, class: 'plot-old' })));
    nodes.push(svg('circle', { cx: 0, cy: 0, r: 4, class: 'plot-now' }));
    const north = svg('text', { x: 0, y: -PLOT + 12, class: 'plot-label', 'text-anchor': 'middle' });
    north.textContent = 'N';
    const edge = svg('text', { x: PLOT - 2, y: PLOT - 4, class: 'plot-label', 'text-anchor': 'end' });
    edge.textContent = radius >= 1000 ? `${radius / 1000} km` : `${radius} m`;
    nodes.push(north, edge);
    plot.replaceChildren(...nodes);
    plot.dataset.radius = String(radius);
  }
}
