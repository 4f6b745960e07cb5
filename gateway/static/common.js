// Shared helpers for the GridHub pages: token, i18n, API calls, safe DOM building,
// SSE over fetch (so the bearer token travels in a header), and the SVG grid map.
// All user/data text goes through textContent: never innerHTML with data.

const TOKEN_KEY = "gridhub.token";
const LANG_KEY = "gridhub.lang";

export function getToken() {
  return localStorage.getItem(TOKEN_KEY) || "";
}
export function setToken(token) {
  if (token) localStorage.setItem(TOKEN_KEY, token);
  else localStorage.removeItem(TOKEN_KEY);
}

// ---- i18n -------------------------------------------------------------------
const COMMON = {
  zh: {
    lang_toggle: "English",
    sign_in: "登录",
    sign_out: "退出",
    token: "访问令牌",
    token_hint: "请输入管理员发放的令牌",
    bad_token: "令牌无效或已过期",
    loading: "加载中…",
    error: "出错了",
    network_error: "网络不可用",
    on_track: "正常",
    warning: "预警",
    overdue: "超期",
    open: "待受理",
    dispatched: "已派遣",
    in_progress: "处理中",
    resolved: "待核查",
    closed: "已结案",
    rejected: "不予立案",
    merged: "已合并",
    pending: "待上报",
    none: "无",
  },
  en: {
    lang_toggle: "中文",
    sign_in: "Sign in",
    sign_out: "Sign out",
    token: "Access token",
    token_hint: "Enter the token your administrator gave you",
    bad_token: "Token invalid or expired",
    loading: "Loading…",
    error: "Error",
    network_error: "Network unavailable",
    on_track: "On track",
    warning: "Warning",
    overdue: "Overdue",
    open: "Open",
    dispatched: "Dispatched",
    in_progress: "In progress",
    resolved: "To verify",
    closed: "Closed",
    rejected: "Rejected",
    merged: "Merged",
    pending: "Pending",
    none: "None",
  },
};

let dict = { zh: { ...COMMON.zh }, en: { ...COMMON.en } };

export function lang() {
  const stored = localStorage.getItem(LANG_KEY);
  return stored === "en" ? "en" : "zh";
}

export function addStrings(strings) {
  dict = { zh: { ...dict.zh, ...strings.zh }, en: { ...dict.en, ...strings.en } };
}

export function t(key) {
  const table = dict[lang()];
  return key in table ? table[key] : key;
}

// Elements with data-i18n="key" get t(key) as text; data-i18n-placeholder,
// data-i18n-label (aria-label) likewise.
export function applyI18n(root = document) {
  document.documentElement.lang = lang() === "en" ? "en" : "zh-CN";
  for (const node of root.querySelectorAll("[data-i18n]")) node.textContent = t(node.dataset.i18n);
  for (const node of root.querySelectorAll("[data-i18n-placeholder]"))
    node.setAttribute("placeholder", t(node.dataset.i18nPlaceholder));
  for (const node of root.querySelectorAll("[data-i18n-label]"))
    node.setAttribute("aria-label", t(node.dataset.i18nLabel));
}

export function toggleLang() {
  localStorage.setItem(LANG_KEY, lang() === "en" ? "zh" : "en");
}

// ---- DOM --------------------------------------------------------------------
// el("li", {class: "x", onclick: f}, "text", childNode): text children become text nodes.
export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value === null || value === undefined || value === false) continue;
    if (name.startsWith("on") && typeof value === "function") node.addEventListener(name.slice(2), value);
    else if (name === "class") node.className = value;
    else if (name === "dataset") Object.assign(node.dataset, value);
    else node.setAttribute(name, value === true ? "" : String(value));
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

export function clear(node) {
  while (node.firstChild) node.removeChild(node.firstChild);
  return node;
}

/** The name of ``code`` in a list of {code, name_zh, name_en} (categories,
 * departments), in the page's language; the code itself when it is not listed. */
export function nameIn(list, code) {
  const item = (list || []).find((x) => x.code === code);
  return item ? (lang() === "en" ? item.name_en : item.name_zh) : code || "";
}

/** The name of grid ``code`` in our grid GeoJSON collection. */
export function gridNameIn(collection, code) {
  const f = ((collection && collection.features) || []).find((x) => (x.properties || {}).code === code);
  return f ? f.properties.name : code || "";
}

export function fmtTime(iso) {
  if (!iso) return "";
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return String(iso);
  return d.toLocaleString(lang() === "en" ? "en-GB" : "zh-CN", { hour12: false });
}

// ---- API --------------------------------------------------------------------
export class ApiError extends Error {
  constructor(status, detail) {
    super(`${status}: ${detail}`);
    this.status = status;
    this.detail = detail;
  }
}

function detailOf(body) {
  if (!body) return "";
  if (typeof body.detail === "string") return body.detail;
  if (Array.isArray(body.detail)) return body.detail.map((d) => d.msg || JSON.stringify(d)).join("; ");
  return JSON.stringify(body);
}

// fetch with the bearer token; JSON in and out. Network failures throw TypeError
// (callers treat that as "offline"); HTTP errors throw ApiError.
export async function api(path, { method = "GET", body, headers = {}, raw = false } = {}) {
  const init = { method, headers: { Authorization: `Bearer ${getToken()}`, ...headers } };
  if (body instanceof FormData) init.body = body;
  else if (body !== undefined) {
    init.body = JSON.stringify(body);
    init.headers["Content-Type"] = "application/json";
  }
  const response = await fetch(path, init);
  if (raw) return response;
  let data = null;
  const text = await response.text();
  if (text) {
    try {
      data = JSON.parse(text);
    } catch {
      data = { detail: text };
    }
  }
  if (!response.ok && response.status !== 202) throw new ApiError(response.status, detailOf(data));
  return { status: response.status, data };
}

// A protected image (GET /api/v1/media/{id} needs the token): fetched as a blob.
export function mediaImg(mediaId, alt) {
  const img = el("img", { alt: alt || "", class: "thumb", loading: "lazy" });
  api(`/api/v1/media/${encodeURIComponent(mediaId)}`, { raw: true })
    .then((r) => (r.ok ? r.blob() : null))
    .then((blob) => {
      if (blob) img.src = URL.createObjectURL(blob);
    })
    .catch(() => {});
  return img;
}

// A protected file (CSV export, brief as PDF/HTML): fetched with the token, then
// saved through a temporary object URL (a plain link could not send the header).
export async function download(path, fallbackName) {
  const response = await api(path, { raw: true });
  if (!response.ok) {
    let detail = "";
    try { detail = detailOf(await response.json()); } catch { /* not JSON */ }
    throw new ApiError(response.status, detail);
  }
  const disposition = response.headers.get("Content-Disposition") || "";
  const match = /filename="([^"]+)"/.exec(disposition);
  const url = URL.createObjectURL(await response.blob());
  const link = el("a", { href: url, download: match ? match[1] : fallbackName, class: "hidden" });
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(url), 60000);
}

// Who is signed in: {name, role, scope}.
export async function profile() {
  return (await api("/api/v1/me/profile")).data;
}

// Distance in metres between two {lat, lon} points (haversine).
export function metres(a, b) {
  if (!a || !b) return Infinity;
  const rad = Math.PI / 180;
  const dLat = (b.lat - a.lat) * rad;
  const dLon = (b.lon - a.lon) * rad;
  const h = Math.sin(dLat / 2) ** 2 + Math.cos(a.lat * rad) * Math.cos(b.lat * rad) * Math.sin(dLon / 2) ** 2;
  return 2 * 6371000 * Math.asin(Math.sqrt(h));
}

// The centre of a grid polygon, as {lat, lon} (for cases placed by grid only).
export function gridCentre(collection, code) {
  const feature = ((collection && collection.features) || []).find((f) => (f.properties || {}).code === code);
  const ring = feature ? rings(feature.geometry)[0] || [] : [];
  if (!ring.length) return null;
  return { lon: ring.reduce((a, p) => a + p[0], 0) / ring.length, lat: ring.reduce((a, p) => a + p[1], 0) / ring.length };
}

// ---- SSE over fetch -----------------------------------------------------------
// Calls onEvent(type, data, id) for every frame; reconnects with Last-Event-ID.
// Returns a stop() function.
export function streamEvents(path, onEvent, onStatus = () => {}) {
  let lastId = null;
  let stopped = false;
  let controller = null;
  let retryMs = 3000;

  async function run() {
    while (!stopped) {
      controller = new AbortController();
      try {
        const headers = { Authorization: `Bearer ${getToken()}`, Accept: "text/event-stream" };
        if (lastId) headers["Last-Event-ID"] = lastId;
        const response = await fetch(path, { headers, signal: controller.signal });
        if (!response.ok) throw new ApiError(response.status, "stream refused");
        onStatus("live");
        const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
        let buffer = "";
        for (;;) {
          const { value, done } = await reader.read();
          if (done) break;
          buffer += value.replace(/\r\n/g, "\n");
          let cut;
          while ((cut = buffer.indexOf("\n\n")) >= 0) {
            const block = buffer.slice(0, cut);
            buffer = buffer.slice(cut + 2);
            let type = "message";
            let id = null;
            const data = [];
            for (const line of block.split("\n")) {
              if (line.startsWith(":")) continue;
              const colon = line.indexOf(":");
              const field = colon < 0 ? line : line.slice(0, colon);
              const val = colon < 0 ? "" : line.slice(colon + 1).replace(/^ /, "");
              if (field === "event") type = val;
              else if (field === "data") data.push(val);
              else if (field === "id") id = val;
              else if (field === "retry" && /^\d+$/.test(val)) retryMs = Number(val);
            }
            if (id !== null) lastId = id;
            if (data.length) {
              let parsed = null;
              try {
                parsed = JSON.parse(data.join("\n"));
              } catch {
                parsed = data.join("\n");
              }
              onEvent(type, parsed, id);
            }
          }
        }
      } catch (err) {
        if (stopped) return;
        if (err instanceof ApiError && (err.status === 401 || err.status === 403)) {
          onStatus("denied");
          return;
        }
      }
      onStatus("reconnecting");
      await new Promise((resolve) => setTimeout(resolve, retryMs));
    }
  }
  run();
  return () => {
    stopped = true;
    if (controller) controller.abort();
  };
}

// ---- SVG grid map -------------------------------------------------------------
const SVG_NS = "http://www.w3.org/2000/svg";

export function svg(tag, attrs = {}, ...children) {
  const node = document.createElementNS(SVG_NS, tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value === null || value === undefined) continue;
    if (name.startsWith("on") && typeof value === "function") node.addEventListener(name.slice(2), value);
    else node.setAttribute(name, String(value));
  }
  for (const child of children) if (child) node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  return node;
}

function rings(geometry) {
  if (!geometry) return [];
  if (geometry.type === "Polygon") return [geometry.coordinates[0]];
  if (geometry.type === "MultiPolygon") return geometry.coordinates.map((p) => p[0]);
  return [];
}

// Draws the FeatureCollection as an SVG (equirectangular, lon scaled by cos(lat)).
// style(feature) -> {fill, label, title}; points: [{lat, lon, label}].
export function gridMap(collection, { style = () => ({}), points = [], width = 600, title = "" } = {}) {
  const features = (collection && collection.features) || [];
  let minX = Infinity, minY = Infinity, maxX = -Infinity, maxY = -Infinity;
  for (const f of features)
    for (const ring of rings(f.geometry))
      for (const [x, y] of ring) {
        minX = Math.min(minX, x); maxX = Math.max(maxX, x);
        minY = Math.min(minY, y); maxY = Math.max(maxY, y);
      }
  if (!Number.isFinite(minX)) return el("p", {}, t("none"));
  const k = Math.cos((((minY + maxY) / 2) * Math.PI) / 180);
  const spanX = (maxX - minX) * k || 1e-6;
  const spanY = maxY - minY || 1e-6;
  const pad = 8;
  const height = Math.round((width - 2 * pad) * (spanY / spanX)) + 2 * pad;
  const px = (lon) => pad + ((lon - minX) * k * (width - 2 * pad)) / spanX;
  const py = (lat) => pad + ((maxY - lat) * (height - 2 * pad)) / spanY;
  const root = svg("svg", { viewBox: `0 0 ${width} ${height}`, role: "img", class: "gridmap" });
  root.append(svg("title", {}, title));
  for (const f of features) {
    const s = style(f) || {};
    const props = f.properties || {};
    for (const ring of rings(f.geometry)) {
      const d = ring.map(([x, y], i) => `${i ? "L" : "M"}${px(x).toFixed(1)},${py(y).toFixed(1)}`).join("") + "Z";
      const path = svg("path", { d, fill: s.fill || "#eef3f8", stroke: s.stroke || "#6b7c93", "stroke-width": s.strokeWidth || 1 });
      path.append(svg("title", {}, s.title || `${props.name || ""} ${props.code || f.id || ""}`));
      root.append(path);
    }
    if (s.label) {
      const ring = rings(f.geometry)[0] || [];
      const cx = ring.reduce((a, p) => a + p[0], 0) / (ring.length || 1);
      const cy = ring.reduce((a, p) => a + p[1], 0) / (ring.length || 1);
      root.append(svg("text", { x: px(cx).toFixed(1), y: (py(cy) + 5).toFixed(1), "text-anchor": "middle", class: "maplabel", fill: s.labelColour || "#223" }, s.label));
    }
  }
  for (const p of points) {
    if (typeof p.lat !== "number" || typeof p.lon !== "number") continue;
    const dot = svg("circle", { cx: px(p.lon).toFixed(1), cy: py(p.lat).toFixed(1), r: 6, fill: p.colour || "#c0392b", stroke: "#fff", "stroke-width": 2 });
    dot.append(svg("title", {}, p.label || ""));
    root.append(dot);
  }
  return root;
}

// Language toggle and sign-out buttons common to every page header.
export function wireHeader(onChange) {
  const langButton = document.getElementById("lang");
  if (langButton)
    langButton.addEventListener("click", () => {
      toggleLang();
      applyI18n();
      onChange();
    });
  const out = document.getElementById("signout");
  if (out)
    out.addEventListener("click", () => {
      setToken("");
      location.reload();
    });
}
