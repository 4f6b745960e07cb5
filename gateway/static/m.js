// /m/ — the grid worker's phone page: report with photo + location, an offline
// outbox (IndexedDB) re-sent with the same Idempotency-Key, my reports, to verify.
import {
  addStrings, api, ApiError, applyI18n, clear, el, fmtTime, getToken, lang,
  setToken, streamEvents, t, wireHeader,
} from "./common.js";

addStrings({
  zh: {
    title: "网格员上报", new_report: "新建上报", category: "事件类别",
    category_search: "搜索类别（中文或英文）", description: "问题描述",
    description_hint: "简要描述现场情况", photo: "现场照片", location: "位置",
    use_gps: "使用当前定位", grid_manual: "或选择网格", grid_none: "（按定位自动识别）",
    submit: "提交上报", outbox: "待发送（离线）", to_verify: "待核查", my_reports: "我的上报",
    online: "在线", offline: "离线", queued: "已保存，联网后自动发送", sent: "已上报",
    need_category: "请选择事件类别", need_description: "请填写问题描述",
    need_place: "请定位或选择网格", gps_fail: "无法获取定位，请手动选择网格",
    gps_wait: "正在定位…", failed: "被拒绝", delete: "删除", retry: "重发",
    pass: "核查通过", fail: "核查不通过", note: "核查说明", reason_needed: "不通过时请填写原因",
    verified: "已提交核查", empty: "暂无", case: "案件", waiting_case: "处理中，等待立案",
    verify_photo: "核查照片", sent_later: "离线保存的上报已发送",
    reporter: "反映人（选填，用于回访）", reporter_name: "姓名", reporter_phone: "手机号",
    anonymous: "匿名：对工作人员隐藏姓名和电话（仅用于发送回访链接）",
    inbox: "消息", mark_read: "标为已读", read: "已读", unread_n: "{n} 条未读",
  },
  en: {
    title: "Grid worker report", new_report: "New report", category: "Category",
    category_search: "Search categories (Chinese or English)", description: "Description",
    description_hint: "Briefly describe what you see", photo: "Photo", location: "Location",
    use_gps: "Use my location", grid_manual: "Or pick the grid", grid_none: "(from my location)",
    submit: "Submit report", outbox: "Outbox (offline)", to_verify: "To verify",
    my_reports: "My reports", online: "Online", offline: "Offline",
    queued: "Saved; it will be sent when the connection returns", sent: "Reported",
    need_category: "Pick a category", need_description: "Describe the problem",
    need_place: "Use your location or pick a grid", gps_fail: "No location; pick the grid by hand",
    gps_wait: "Locating…", failed: "Refused", delete: "Delete", retry: "Retry",
    pass: "Pass", fail: "Fail", note: "Verification note", reason_needed: "Give a reason for a fail",
    verified: "Verification sent", empty: "Nothing here", case: "Case",
    waiting_case: "Processing, case not opened yet", verify_photo: "Verification photo",
    sent_later: "The reports saved offline have been sent",
    reporter: "Who reported it (optional, for the follow-up)", reporter_name: "Name",
    reporter_phone: "Mobile", anonymous: "Anonymous: hide name and phone from staff (used only to send the feedback link)",
    inbox: "Messages", mark_read: "Mark read", read: "Read", unread_n: "{n} unread",
  },
});

const MINE_KEY = "gridhub.m.mine";
let categories = [];
let position = null; // {lat, lon}
let flushing = false;

// ---- IndexedDB outbox -------------------------------------------------------------
function db() {
  return new Promise((resolve, reject) => {
    const req = indexedDB.open("gridhub-m", 1);
    req.onupgradeneeded = () => req.result.createObjectStore("outbox", { keyPath: "key" });
    req.onsuccess = () => resolve(req.result);
    req.onerror = () => reject(req.error);
  });
}
async function store(mode, fn) {
  const conn = await db();
  return new Promise((resolve, reject) => {
    const tx = conn.transaction("outbox", mode);
    const result = fn(tx.objectStore("outbox"));
    tx.oncomplete = () => resolve(result && "result" in result ? result.result : undefined);
    tx.onerror = () => reject(tx.error);
  });
}
const outboxAll = () => store("readonly", (s) => s.getAll());
const outboxPut = (item) => store("readwrite", (s) => s.put(item));
const outboxDelete = (key) => store("readwrite", (s) => s.delete(key));

function mine() {
  try {
    return JSON.parse(localStorage.getItem(MINE_KEY) || "[]");
  } catch {
    return [];
  }
}
function remember(entry) {
  const list = mine().filter((m) => m.key !== entry.key);
  list.unshift(entry);
  localStorage.setItem(MINE_KEY, JSON.stringify(list.slice(0, 50)));
}

// ---- sending ------------------------------------------------------------------------
function transient(err) {
  // Offline (TypeError from fetch), or a server/bus problem worth retrying.
  return !(err instanceof ApiError) || err.status >= 500 || err.status === 429 || err.status === 408;
}

async function sendOne(item) {
  if (item.photo && !item.mediaId) {
    const form = new FormData();
    form.append("file", item.photo, item.photoName || "photo.jpg");
    const { data } = await api("/api/v1/media", { method: "POST", body: form });
    item.mediaId = data.id;
    await outboxPut(item); // an upload retried later keeps its id
  }
  const body = { ...item.body, media: item.mediaId ? [item.mediaId] : [] };
  const { data } = await api("/api/v1/reports", {
    method: "POST", body, headers: { "Idempotency-Key": item.key },
  });
  return data.report_id;
}

async function flush() {
  if (flushing || !getToken()) return;
  flushing = true;
  try {
    for (const item of await outboxAll()) {
      if (item.failed) continue;
      try {
        const reportId = await sendOne(item);
        await outboxDelete(item.key);
        remember({ key: item.key, report_id: reportId, category: item.body.category,
          description: item.body.description, time: item.created });
      } catch (err) {
        if (transient(err)) break; // still offline: keep everything, try again later
        item.failed = err.detail || String(err);
        await outboxPut(item);
      }
    }
  } finally {
    flushing = false;
    const left = await outboxAll();
    const status = document.getElementById("report-status");
    if (status.dataset.kind === "queued" && !left.some((x) => !x.failed)) showStatus("ok", "sent_later", "sent");
    await renderOutbox();
    renderMine();
  }
}

// ---- rendering -------------------------------------------------------------------------
function catName(code) {
  const c = categories.find((x) => x.code === code);
  if (!c) return code;
  return lang() === "en" ? c.name_en : c.name_zh;
}

function renderCategories() {
  const needle = document.getElementById("cat-search").value.trim().toLowerCase();
  const select = document.getElementById("category");
  const chosen = select.value;
  clear(select);
  for (const c of categories) {
    const hay = `${c.code} ${c.name_zh} ${c.name_en}`.toLowerCase();
    if (needle && !hay.includes(needle)) continue;
    const label = lang() === "en" ? `${c.name_en} · ${c.name_zh}` : `${c.name_zh} · ${c.name_en}`;
    select.append(el("option", { value: c.code, selected: c.code === chosen }, label));
  }
  if (select.options.length === 1) select.selectedIndex = 0;
}

async function renderOutbox() {
  const items = await outboxAll();
  const list = clear(document.getElementById("outbox")); // after the read: never shown empty by mistake
  if (!items.length) list.append(el("li", { class: "muted" }, t("empty")));
  for (const item of items) {
    list.append(el("li", {},
      el("div", {}, el("strong", {}, catName(item.body.category)), " ", item.body.description),
      el("div", { class: "muted" }, fmtTime(item.created), " · ",
        item.failed ? `${t("failed")}: ${item.failed}` : t("pending")),
      el("div", { class: "row" },
        item.failed ? el("button", { type: "button", class: "danger", onclick: async () => {
          await outboxDelete(item.key); await renderOutbox(); } }, t("delete")) : null,
        !item.failed ? el("button", { type: "button", onclick: flush }, t("retry")) : null)));
  }
}

function renderMine() {
  const list = clear(document.getElementById("mine"));
  const entries = mine();
  if (!entries.length) list.append(el("li", { class: "muted" }, t("empty")));
  for (const entry of entries) {
    const state = el("span", { class: "badge" }, t("waiting_case"));
    list.append(el("li", { dataset: { report: entry.report_id } },
      el("div", {}, el("strong", {}, catName(entry.category)), " ", entry.description),
      el("div", { class: "muted" }, fmtTime(entry.time), " · ", state)));
    api(`/api/v1/reports/${encodeURIComponent(entry.report_id)}`)
      .then(({ data }) => {
        if (data && data.case_state) {
          state.textContent = `${t("case")} ${data.case_id || ""} · ${t(data.case_state)}`;
          state.className = `badge state-${data.case_state}`;
        }
      })
      .catch(() => {});
  }
}

async function renderTasks(relabel = false) {
  const list = document.getElementById("tasks");
  let items = [];
  try {
    items = (await api("/api/v1/me/tasks")).data.items;
  } catch {
    clear(list).append(el("li", { class: "muted" }, t("network_error")));
    return;
  }
  // A task already on screen (same case, same version) is kept as it is: a note
  // being typed or a photo picked survives the refresh.
  const shown = new Map(relabel ? [] : [...list.querySelectorAll("li[data-case]")].map((li) => [`${li.dataset.case}@${li.dataset.version}`, li]));
  clear(list);
  if (!items.length) list.append(el("li", { class: "muted" }, t("empty")));
  for (const c of items) {
    const kept = shown.get(`${c.id}@${c.version}`);
    if (kept) { list.append(kept); continue; }
    const noteId = `note-${c.id}`;
    const photoId = `vphoto-${c.id}`;
    const note = el("textarea", { id: noteId, maxlength: 1000 });
    const photo = el("input", { id: photoId, type: "file", accept: "image/jpeg,image/png,image/webp", capture: "environment" });
    const status = el("p", { class: "status hidden", role: "status" });
    const verify = async (passed) => {
      const text = note.value.trim();
      if (!passed && !text) {
        status.className = "status err"; status.textContent = t("reason_needed"); note.focus(); return;
      }
      try {
        const media = [];
        if (photo.files[0]) {
          const form = new FormData();
          form.append("file", photo.files[0]);
          media.push((await api("/api/v1/media", { method: "POST", body: form })).data.id);
        }
        const body = { action: "verify", passed, note: text || null, media };
        if (!passed) body.reason = text;
        await api(`/api/v1/cases/${encodeURIComponent(c.id)}/actions`, {
          method: "POST", body, headers: { "Idempotency-Key": `verify-${c.id}-${c.version}` },
        });
        status.className = "status ok"; status.textContent = t("verified");
        setTimeout(renderTasks, 800);
      } catch (err) {
        status.className = "status err"; status.textContent = `${t("error")}: ${err.detail || err}`;
      }
    };
    // The server says what this worker may do now (case.actions): no rules here.
    const verifiable = (c.actions || []).includes("verify");
    list.append(el("li", { dataset: { case: c.id, version: c.version } },
      el("div", {}, el("strong", {}, catName(c.category)), " ", c.title || c.description || ""),
      el("div", { class: "muted" }, `${c.id} · ${c.grid_code} · ${fmtTime(c.updated_at || c.opened_at)}`),
      ...(verifiable ? [
        el("label", { for: noteId }, t("note")), note,
        el("label", { for: photoId }, t("verify_photo")), photo, status,
        el("div", { class: "row" },
          el("button", { type: "button", class: "primary", onclick: () => verify(true) }, t("pass")),
          el("button", { type: "button", class: "danger", onclick: () => verify(false) }, t("fail")))] : [])));
  }
}

function renderNet() {
  const net = document.getElementById("net");
  net.textContent = navigator.onLine ? t("online") : t("offline");
}

// The status line under the form: a message key (re-translated when the language
// changes) and an optional detail from the server.
function showStatus(kind, key, what = kind, detail = "") {
  const node = document.getElementById("report-status");
  node.className = `status ${kind}`;
  Object.assign(node.dataset, { kind: what, key, detail });
  node.textContent = detail ? `${t(key)}: ${detail}` : t(key);
}

function relabelStatus() {
  const node = document.getElementById("report-status");
  if (node.dataset.key) node.textContent = node.dataset.detail ? `${t(node.dataset.key)}: ${node.dataset.detail}` : t(node.dataset.key);
}

// ---- actions -------------------------------------------------------------------------
async function submitReport(event) {
  event.preventDefault();
  const category = document.getElementById("category").value;
  const description = document.getElementById("description").value.trim();
  const grid = document.getElementById("grid").value;
  const file = document.getElementById("photo").files[0] || null;
  if (!category) return showStatus("err", "need_category");
  if (!description) return showStatus("err", "need_description");
  if (!grid && !position) return showStatus("err", "need_place");
  const body = { category, description, occurred_at: new Date().toISOString() };
  if (grid) body.grid_code = grid;
  else body.location = position;
  const name = document.getElementById("reporter-name").value.trim();
  const phone = document.getElementById("reporter-phone").value.trim();
  if (name || phone) {
    body.reporter = { ...(name ? { name } : {}), ...(phone ? { phone } : {}) };
    if (document.getElementById("reporter-anonymous").checked) body.reporter.anonymous = true;
  }
  const item = {
    key: crypto.randomUUID(), body, photo: file, photoName: file ? file.name : null,
    mediaId: null, created: new Date().toISOString(), failed: null,
  };
  await outboxPut(item); // saved before the first try: nothing is lost if the tab dies
  document.getElementById("report-form").reset();
  clear(document.getElementById("photo-preview"));
  renderCategories();
  await flush();
  const still = (await outboxAll()).find((x) => x.key === item.key);
  if (!still) showStatus("ok", "sent");
  else if (still.failed) showStatus("err", "failed", "err", still.failed);
  else showStatus("info", "queued", "queued");
}

function locate() {
  const out = document.getElementById("gps");
  if (!navigator.geolocation) { out.textContent = t("gps_fail"); return; }
  out.textContent = t("gps_wait");
  navigator.geolocation.getCurrentPosition(
    (pos) => {
      position = { lat: pos.coords.latitude, lon: pos.coords.longitude };
      out.textContent = `${position.lat.toFixed(5)}, ${position.lon.toFixed(5)} (±${Math.round(pos.coords.accuracy)} m)`;
    },
    () => { position = null; out.textContent = t("gps_fail"); document.getElementById("grid").focus(); },
    { enableHighAccuracy: true, timeout: 15000, maximumAge: 60000 },
  );
}

async function loadReference() {
  categories = (await api("/api/v1/categories")).data;
  localStorage.setItem("gridhub.m.categories", JSON.stringify(categories));
  const grids = (await api("/api/v1/grids")).data;
  const select = document.getElementById("grid");
  for (const f of grids.features || []) {
    const p = f.properties || {};
    select.append(el("option", { value: p.code }, `${p.name || ""} (${p.code})`));
  }
}

// Case changes in this worker's grids (live stream): refresh "to verify" and "my reports".
let refreshTimer = null;
// The worker's inbox: what the hub told this worker and the answers to the
// reports it filed, newest first; each marked read here.
async function renderInbox() {
  const list = document.getElementById("inbox");
  let items;
  try {
    items = (await api("/api/v1/me/inbox?limit=30")).data.items;
  } catch {
    return; // offline: keep what is shown
  }
  clear(list);
  const unread = items.filter((m) => !m.read_at).length;
  document.getElementById("unread").textContent = unread ? t("unread_n").replace("{n}", unread) : "";
  if (!items.length) list.append(el("li", { class: "muted" }, t("empty")));
  for (const m of items) {
    const read = Boolean(m.read_at);
    const button = read ? el("span", { class: "muted small" }, t("read"))
      : el("button", { type: "button", class: "mark-read", onclick: async () => {
        button.disabled = true;
        try { await api(`/api/v1/me/inbox/${encodeURIComponent(m.notification_id)}/read`, { method: "POST" }); }
        finally { renderInbox(); }
      } }, t("mark_read"));
    list.append(el("li", { class: read ? "message read" : "message unread", dataset: { id: m.notification_id } },
      el("strong", {}, m.subject), el("div", { class: "small" }, m.body),
      el("div", { class: "muted small" }, fmtTime(m.time)), button));
  }
}

function onCaseEvent(type) {
  if (type !== "case" && type !== "reset") return;
  clearTimeout(refreshTimer);
  refreshTimer = setTimeout(() => { renderTasks(); renderMine(); renderInbox(); }, 300);
}

async function start() {
  document.getElementById("signin").classList.add("hidden");
  document.getElementById("app").classList.remove("hidden");
  document.getElementById("signout").classList.remove("hidden");
  try {
    await loadReference();
  } catch (err) {
    if (err instanceof ApiError && err.status === 401) { setToken(""); return showSignIn(t("bad_token")); }
    categories = JSON.parse(localStorage.getItem("gridhub.m.categories") || "[]"); // offline start
  }
  renderCategories();
  await renderOutbox();
  renderMine();
  renderTasks();
  renderInbox();
  flush();
  streamEvents("/api/v1/stream/cases", onCaseEvent);
}

function showSignIn(message) {
  document.getElementById("signin").classList.remove("hidden");
  document.getElementById("app").classList.add("hidden");
  const status = document.getElementById("signin-status");
  status.classList.toggle("hidden", !message);
  status.textContent = message || "";
}

function init() {
  applyI18n();
  renderNet();
  wireHeader(() => { renderNet(); relabelStatus(); renderCategories(); renderOutbox(); renderMine(); renderTasks(true); });
  document.getElementById("signin-form").addEventListener("submit", async (e) => {
    e.preventDefault();
    const value = document.getElementById("token-input").value.trim();
    setToken(value);
    try {
      await api("/api/v1/categories");
      start();
    } catch (err) {
      setToken("");
      showSignIn(err instanceof ApiError ? t("bad_token") : t("network_error"));
    }
  });
  document.getElementById("cat-search").addEventListener("input", renderCategories);
  document.getElementById("report-form").addEventListener("submit", submitReport);
  document.getElementById("locate").addEventListener("click", locate);
  document.getElementById("photo").addEventListener("change", (e) => {
    const preview = clear(document.getElementById("photo-preview"));
    const file = e.target.files[0];
    if (file) preview.append(el("img", { class: "thumb", alt: t("photo"), src: URL.createObjectURL(file) }));
  });
  window.addEventListener("online", () => { renderNet(); flush(); });
  window.addEventListener("offline", renderNet);
  setInterval(() => { if (navigator.onLine) flush(); }, 30000);
  if (getToken()) start();
  else showSignIn("");
}

init();
