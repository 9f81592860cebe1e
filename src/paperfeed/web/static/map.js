// The map of papers (/map): draws every point on a canvas, with pan (drag), zoom (wheel,
// pinch, buttons) and a click on a point opening its paper. Points come page by page
// from /map.json; the first page is drawn as soon as it lands. Without this script the
// page keeps its server-drawn SVG of the regions.
"use strict";
(() => {
  const view = document.getElementById("paper-map");
  if (!view) return;
  const fallback = view.querySelector(".map-fallback");
  const canvas = document.createElement("canvas");
  canvas.setAttribute("role", "img");
  canvas.setAttribute("aria-label", "Map of papers: the lists below the map hold its regions and highlighted papers");
  const tip = document.createElement("div");
  tip.className = "map-tip";
  tip.hidden = true;
  const controls = document.createElement("div");
  controls.className = "map-controls";
  const ctx = canvas.getContext("2d");

  const PALETTE = ["#4a6fa5", "#2a9d8f", "#8a5a9e", "#c77d2a", "#3d8b37", "#b5475e",
    "#5470c6", "#7a6f3a", "#1f7a8c", "#9c5b3c", "#6b4fa0", "#4f7d5c"];
  const TODAY = "#e67e00";
  const MATCH = "#c0143c";
  const ids = [], xs = [], ys = [], regionOf = [];
  const byRegion = new Map(); // region -> indexes of its points, drawn in one colour
  let regions = [], width = 1000, height = 1000, pages = 1;
  let today = new Set(), matches = new Set();
  let scale = 1, fitScale = 1, tx = 0, ty = 0, cssWidth = 0, cssHeight = 0;
  // Hit testing: the points' indexes in a grid of world cells.
  const GRID = 128;
  let cell = 1;
  const grid = new Map();

  function addPoints(points) {
    for (let k = 0; k < points.arxiv_id.length; k++) {
      const i = ids.length;
      ids.push(points.arxiv_id[k]);
      xs.push(points.x[k]);
      ys.push(points.y[k]);
      regionOf.push(points.region[k]);
      if (!byRegion.has(points.region[k])) byRegion.set(points.region[k], []);
      byRegion.get(points.region[k]).push(i);
      const key = Math.floor(points.x[k] / cell) * 4096 + Math.floor(points.y[k] / cell);
      if (!grid.has(key)) grid.set(key, []);
      grid.get(key).push(i);
    }
  }

  function pointRadius() {
    const base = ids.length > 20000 ? 1.3 : ids.length > 2000 ? 2 : 3.5;
    return Math.min(9, base * Math.sqrt(scale / fitScale));
  }

  function resize() {
    cssWidth = view.clientWidth;
    cssHeight = Math.round(Math.max(320, Math.min(cssWidth * 0.75, window.innerHeight * 0.75)));
    const ratio = window.devicePixelRatio || 1;
    canvas.width = Math.round(cssWidth * ratio);
    canvas.height = Math.round(cssHeight * ratio);
    canvas.style.height = `${cssHeight}px`;
    ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
  }

  function fit() {
    fitScale = scale = 0.94 * Math.min(cssWidth / width, cssHeight / height);
    tx = (cssWidth - width * scale) / 2;
    ty = (cssHeight - height * scale) / 2;
  }

  function dots(indexes, r, colour) {
    ctx.fillStyle = colour;
    const d = 2 * r;
    for (const i of indexes) {
      const x = xs[i] * scale + tx, y = ys[i] * scale + ty;
      if (x < -d || y < -d || x > cssWidth + d || y > cssHeight + d) continue;
      ctx.fillRect(x - r, y - r, d, d);
    }
  }

  function rings(indexes, r, colour) {
    ctx.fillStyle = colour;
    ctx.strokeStyle = "#fff";
    ctx.lineWidth = 1.5;
    for (const i of indexes) {
      ctx.beginPath();
      ctx.arc(xs[i] * scale + tx, ys[i] * scale + ty, r, 0, 2 * Math.PI);
      ctx.fill();
      ctx.stroke();
    }
  }

  function labels() {
    // Largest regions first; a label that would overlap one already drawn waits for zoom.
    ctx.font = "600 13px system-ui, sans-serif";
    ctx.textAlign = "center";
    ctx.textBaseline = "middle";
    ctx.lineJoin = "round";
    // About one label per 20,000 square pixels of map at full view, more as one zooms in.
    const most = Math.max(3, Math.floor(((cssWidth * cssHeight) / 20000) * (scale / fitScale)));
    const placed = [];
    for (const region of regions) {
      if (placed.length >= most) break;
      const w = ctx.measureText(region.label).width + 8, h = 18;
      let x = region.x * scale + tx;
      const y = region.y * scale + ty;
      if (x < 0 || y < 0 || x > cssWidth || y > cssHeight) continue;
      x = Math.min(Math.max(x, w / 2), cssWidth - w / 2); // whole, not cut at an edge
      const box = [x - w / 2, y - h / 2, x + w / 2, y + h / 2];
      if (placed.some((b) => box[0] < b[2] && b[0] < box[2] && box[1] < b[3] && b[1] < box[3])) continue;
      placed.push(box);
      ctx.strokeStyle = "rgba(255,255,255,.9)";
      ctx.lineWidth = 4;
      ctx.strokeText(region.label, x, y);
      ctx.fillStyle = "#1d2333";
      ctx.fillText(region.label, x, y);
    }
  }

  let queued = false;
  function draw() {
    queued = false;
    ctx.clearRect(0, 0, cssWidth, cssHeight);
    const r = pointRadius();
    for (const [region, indexes] of byRegion) dots(indexes, r, PALETTE[region % PALETTE.length]);
    const marked = (set) => [...set].filter((i) => i !== undefined);
    rings(marked(today), r + 2, TODAY);
    rings(marked(matches), r + 3, MATCH);
    labels();
  }
  function redraw() {
    if (!queued) {
      queued = true;
      requestAnimationFrame(draw);
    }
  }

  // The point under a position on screen (client coordinates): the nearest within a few
  // pixels, so a click on any drawn point finds it.
  function pointAt(clientX, clientY) {
    const box = canvas.getBoundingClientRect();
    const wx = (clientX - box.left - tx) / scale, wy = (clientY - box.top - ty) / scale;
    const reach = Math.max(pointRadius() + 3, 6) / scale;
    let best = -1, bestDistance = reach * reach;
    for (let cx = Math.floor((wx - reach) / cell); cx <= Math.floor((wx + reach) / cell); cx++) {
      for (let cy = Math.floor((wy - reach) / cell); cy <= Math.floor((wy + reach) / cell); cy++) {
        for (const i of grid.get(cx * 4096 + cy) || []) {
          const d = (xs[i] - wx) ** 2 + (ys[i] - wy) ** 2;
          if (d <= bestDistance) {
            best = i;
            bestDistance = d;
          }
        }
      }
    }
    return best;
  }
  const linkOf = (i) => (i < 0 ? null : `/papers/${ids[i]}`);

  function zoomAt(factor, sx, sy) {
    const next = Math.min(fitScale * 400, Math.max(fitScale * 0.5, scale * factor));
    tx = sx - ((sx - tx) * next) / scale;
    ty = sy - ((sy - ty) * next) / scale;
    scale = next;
    redraw();
  }

  // Pointers: one drags the map, two pinch it; a press that does not move is a click.
  const down = new Map();
  let moved = 0, pinch = 0;
  canvas.addEventListener("pointerdown", (event) => {
    canvas.setPointerCapture(event.pointerId);
    down.set(event.pointerId, [event.clientX, event.clientY]);
    moved = 0;
    if (down.size === 2) {
      const [a, b] = [...down.values()];
      pinch = Math.hypot(a[0] - b[0], a[1] - b[1]);
    }
  });
  canvas.addEventListener("pointermove", (event) => {
    const last = down.get(event.pointerId);
    if (!last) return hover(event);
    const dx = event.clientX - last[0], dy = event.clientY - last[1];
    down.set(event.pointerId, [event.clientX, event.clientY]);
    moved += Math.abs(dx) + Math.abs(dy);
    if (down.size === 1) {
      tx += dx;
      ty += dy;
      redraw();
    } else if (down.size === 2) {
      const [a, b] = [...down.values()];
      const spread = Math.hypot(a[0] - b[0], a[1] - b[1]);
      const box = canvas.getBoundingClientRect();
      if (pinch > 0) zoomAt(spread / pinch, (a[0] + b[0]) / 2 - box.left, (a[1] + b[1]) / 2 - box.top);
      pinch = spread;
    }
  });
  const release = (event) => {
    const wasClick = down.size === 1 && moved < 6;
    down.delete(event.pointerId);
    if (!wasClick || event.type !== "pointerup") return;
    const link = linkOf(pointAt(event.clientX, event.clientY));
    if (link) window.location.assign(link);
  };
  canvas.addEventListener("pointerup", release);
  canvas.addEventListener("pointercancel", release);
  canvas.addEventListener("wheel", (event) => {
    event.preventDefault();
    const box = canvas.getBoundingClientRect();
    zoomAt(Math.exp(-event.deltaY * 0.0015), event.clientX - box.left, event.clientY - box.top);
  }, { passive: false });

  function hover(event) {
    const i = pointAt(event.clientX, event.clientY);
    canvas.classList.toggle("pointing", i >= 0);
    tip.hidden = i < 0;
    if (i < 0) return;
    const region = regions.find((r) => r.id === regionOf[i]);
    tip.textContent = `arXiv:${ids[i]}${region ? ` · ${region.label}` : ""}`;
    const box = view.getBoundingClientRect();
    tip.style.left = `${Math.min(event.clientX - box.left + 12, cssWidth - tip.offsetWidth - 4)}px`;
    tip.style.top = `${event.clientY - box.top + 12}px`;
  }
  canvas.addEventListener("pointerleave", () => { tip.hidden = true; });

  function button(text, label, action) {
    const b = document.createElement("button");
    b.type = "button";
    b.textContent = text;
    b.setAttribute("aria-label", label);
    b.addEventListener("click", () => { action(); redraw(); });
    controls.append(b);
  }
  button("+", "Zoom in", () => zoomAt(1.6, cssWidth / 2, cssHeight / 2));
  button("−", "Zoom out", () => zoomAt(1 / 1.6, cssWidth / 2, cssHeight / 2));
  button("⟲", "Show the whole map", fit);

  async function load() {
    const first = new URL(view.dataset.source, window.location.href);
    const answer = await fetch(first, { headers: { Accept: "application/json" } });
    if (!answer.ok) throw new Error(`map.json answered ${answer.status}`);
    const data = await answer.json();
    ({ width, height, pages } = data);
    regions = data.regions;
    cell = Math.max(width, height) / GRID || 1;
    addPoints(data.points);
    fallback.remove();
    view.append(canvas, tip, controls);
    resize();
    fit();
    const where = new Map(ids.map((id, i) => [id, i]));
    const indexOf = (list) => new Set(list.map((id) => where.get(id)));
    const highlight = () => {
      today = indexOf(data.today);
      matches = indexOf(data.matches);
    };
    highlight();
    draw();
    performance.mark("map-first-render");
    // The other pages (no query: the highlights came with the first), fetched together.
    const rest = [];
    for (let page = 2; page <= pages; page++) {
      const url = new URL("/map.json", window.location.href);
      url.searchParams.set("page", String(page));
      rest.push(fetch(url, { headers: { Accept: "application/json" } }).then((r) => r.json()));
    }
    for (const pending of rest) {
      const more = await pending;
      const start = ids.length;
      addPoints(more.points);
      for (let i = start; i < ids.length; i++) where.set(ids[i], i);
      highlight();
      redraw();
    }
    draw();
    performance.mark("map-complete");
    view.dataset.state = "complete";
  }

  window.addEventListener("resize", () => {
    if (!cssWidth) return;
    resize();
    fit();
    redraw();
  });

  // For tests and benchmarks: every point's position on screen, and what a click there opens.
  window.paperMap = {
    count: () => ids.length,
    screenOf: (i) => {
      const box = canvas.getBoundingClientRect();
      return [box.left + xs[i] * scale + tx, box.top + ys[i] * scale + ty];
    },
    idOf: (i) => ids[i],
    linkAt: (clientX, clientY) => linkOf(pointAt(clientX, clientY)),
  };

  load().catch((error) => {
    view.dataset.state = "failed";
    console.error(error);
  });
})();
