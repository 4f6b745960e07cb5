// /d/ — a department's phone: the cases where it has work to do — a task (主办 or
// 协办) to accept or finish, a supervision order to answer — its own task's deadline first; a tap opens the case with its tasks, orders and
// extensions and the department's own actions (accept, resolve with a photo, return,
// ask for more time, answer a supervision order), drawn from case.actions through
// the same forms as the console (actions.js). Live over SSE; notifications below.
import {
  addStrings, api, ApiError, applyI18n, clear, el, fmtTime, getToken, nameIn, profile, setToken,
  streamEvents, t, wireHeader,
} from "./common.js";
import { actionPanel, partsLists, taskTable, timelineList } from "./actions.js";

addStrings({
  zh: {
    title: "部门处置", my_tasks: "本部门任务", pick: "选择一项任务", inbox: "通知（督办、派遣、延期）",
    count_of: "共 {n} 项", my_task: "本部门：{role} · {state}", deadline: "处置时限", open_orders_n: "待回复督办单 {n}",
    live: "实时", reconnecting: "重连中…", denied: "无权访问实时流", timeline: "时间线",
    signed_in_as: "当前：{name}", not_department: "此页面供职能部门使用，请用部门令牌登录。",
    gone: "该任务已不在本部门名下（已退回或已改派）。",
  },
  en: {
    title: "Department tasks", my_tasks: "Our tasks", pick: "Pick a task", inbox: "Notifications",
    count_of: "{n} tasks", my_task: "Ours: {role} · {state}", deadline: "Resolve by", open_orders_n: "{n} orders to answer",
    live: "Live", reconnecting: "Reconnecting…", denied: "No access to the live stream", timeline: "Timeline",
    signed_in_as: "Signed in: {name}", not_department: "This page is for departments: sign in with a department token.",
    gone: "This task is no longer ours (returned or moved).",
  },
});

const LIVE = ["dispatched", "in_progress", "resolved"];
const cases = new Map();
let me = { role: "", name: "", scope: "" };
let categories = [];
let departments = [];
let selected = null;
let detailToken = 0;
// The case version the detail shows: a refresh that brings the same version (the
// live event and the action's own follow-up both ask) leaves the panel alone, so a
// reason being typed into its forms is not wiped.
let shownVersion = null;

const catName = (code) => nameIn(categories, code);
const deptName = (code) => nameIn(departments, code);
const mine = (c) => (c.tasks || []).filter((x) => x.department === me.scope).pop();
// On the list: a task of ours still to do, or a supervision order of ours to answer.
const todo = (c) => {
  const task = mine(c);
  return (task && ["dispatched", "in_progress"].includes(task.state))
    || (c.orders || []).some((o) => o.state === "open" && o.department === me.scope);
};

async function loadCases() {
  const pages = await Promise.all(LIVE.map((state) =>
    api(`/api/v1/cases?state=${state}&limit=200`).then((r) => r.data.items).catch(() => [])));
  cases.clear();
  for (const c of pages.flat()) cases.set(c.id, c);
  render();
}

function render() {
  const list = [...cases.values()].filter(todo).sort((a, b) =>
    new Date((mine(a) || {}).resolve_by || a.resolve_by || 0) - new Date((mine(b) || {}).resolve_by || b.resolve_by || 0));
  document.getElementById("count").textContent = t("count_of").replace("{n}", String(list.length));
  clear(document.getElementById("my-cases")).append(...list.map((c) => {
    const task = mine(c);
    const orders = (c.orders || []).filter((o) => o.state === "open" && o.department === me.scope).length;
    return el("li", { tabindex: 0, dataset: { case: c.id }, class: c.id === selected ? "sel" : "",
      onclick: () => openCase(c.id), onkeydown: (e) => { if (e.key === "Enter") openCase(c.id); } },
    el("div", { class: "row" }, el("span", { class: `badge prio-${c.priority}` }, c.priority),
      el("span", { class: `badge sla-${c.sla_state}` }, t(c.sla_state)), el("span", { class: "title" }, catName(c.category))),
    el("div", {}, c.title || ""),
    el("div", { class: "muted" }, t("my_task").replace("{role}", t(`role_${task.role}`)).replace("{state}", t(`task_${task.state}`)),
      ` · ${t("deadline")} ${fmtTime(task.resolve_by) || "—"}`),
    orders ? el("div", { class: "status err small" }, t("open_orders_n").replace("{n}", String(orders))) : "",
    el("div", { class: "muted mono" }, c.id));
  }));
}

async function openCase(id, atLeastVersion = 0) {
  selected = id;
  const ticket = ++detailToken;
  let c;
  for (let attempt = 0; ; attempt++) {
    try { c = (await api(`/api/v1/cases/${encodeURIComponent(id)}`)).data; } catch (err) {
      if (ticket !== detailToken) return;
      if (err instanceof ApiError && err.status === 404) { // not ours any more (returned, moved)
        cases.delete(id);
        selected = null;
        render();
        clear(document.getElementById("detail")).append(el("p", { class: "status info", id: "gone" }, t("gone")));
        return;
      }
      clear(document.getElementById("detail")).append(el("p", { class: "status err" }, `${t("error")}: ${err.detail || err}`));
      return;
    }
    if (c.version >= atLeastVersion || attempt >= 20) break;
    await new Promise((resolve) => setTimeout(resolve, 300));
  }
  if (ticket !== detailToken) return;
  if (!todo(c) || !LIVE.includes(c.state)) cases.delete(c.id); // done here, or not ours now
  else cases.set(c.id, c);
  if (shownVersion === `${c.id}@${c.version}` && document.getElementById("detail-h")) {
    render();
    return;
  }
  const panel = await actionPanel(c, {
    departments, deptName, me,
    onDone: async (caseId, version) => { await openCase(caseId, version); loadCases(); loadInbox(); },
  });
  if (ticket !== detailToken) return;
  render();
  clear(document.getElementById("detail")).append(
    el("h2", { id: "detail-h", tabindex: -1 }, `${catName(c.category)} · ${c.id}`),
    el("p", {}, c.title || ""),
    el("div", { class: "row" }, el("span", { class: `badge state-${c.state}` }, t(c.state)),
      el("span", { class: `badge sla-${c.sla_state}` }, t(c.sla_state))),
    el("h3", {}, t("tasks")), taskTable(c, deptName),
    el("h3", {}, t("actions")), panel,
    partsLists(c, deptName),
    el("h3", {}, t("timeline")), timelineList(c));
  shownVersion = `${c.id}@${c.version}`;
  document.getElementById("detail-h").focus();
}

async function loadInbox() {
  try {
    const { data } = await api("/api/v1/me/inbox?limit=30");
    clear(document.getElementById("inbox")).append(...(data.items.length ? data.items.map((m) => el("li", {
      dataset: { case: m.case_id || "" }, onclick: () => m.case_id && openCase(m.case_id) },
    el("strong", {}, m.subject), el("div", { class: "muted" }, `${fmtTime(m.time)} · ${m.body}`)))
      : [el("li", { class: "muted" }, t("none"))]));
  } catch { /* the tasks go on without the inbox */ }
}

function onEvent(type, data) {
  if (type === "reset") { loadCases(); return; }
  if (type !== "case" || !data || !data.case) return;
  const c = { ...data.case, id: data.case.id || data.case_id };
  if (LIVE.includes(c.state) && todo(c)) cases.set(c.id, c);
  else cases.delete(c.id);
  render();
  if (c.id === selected) openCase(c.id, data.version);
  loadInbox();
}

async function start() {
  document.getElementById("signin").classList.add("hidden");
  document.getElementById("app").classList.remove("hidden");
  document.getElementById("signout").classList.remove("hidden");
  try { me = await profile(); } catch (err) {
    if (err instanceof ApiError && err.status === 401) { setToken(""); location.reload(); return; }
  }
  document.getElementById("who").textContent = t("signed_in_as").replace("{name}", me.name || "");
  if (me.role !== "department") {
    clear(document.getElementById("my-cases")).append(el("li", { class: "muted" }, t("not_department")));
    return;
  }
  try {
    [categories, departments] = await Promise.all([
      api("/api/v1/categories").then((r) => r.data), api("/api/v1/departments").then((r) => r.data)]);
  } catch { /* codes instead of names */ }
  await loadCases();
  loadInbox();
  const live = document.getElementById("live");
  streamEvents("/api/v1/stream/cases", onEvent, (s) => {
    live.textContent = t(s);
    live.dataset.state = s;
    live.className = `badge ${s === "live" ? "sla-on_track" : "sla-warning"}`;
    if (s === "live") loadCases();
  });
}

function init() {
  applyI18n();
  wireHeader(() => { render(); if (selected) openCase(selected); });
  document.getElementById("signin-form").addEventListener("submit", async (e) => {
    e.preventDefault();
    setToken(document.getElementById("token-input").value.trim());
    try { await api("/api/v1/me/profile"); start(); } catch (err) {
      setToken("");
      const s = document.getElementById("signin-status");
      s.classList.remove("hidden");
      s.textContent = err instanceof ApiError ? t("bad_token") : t("network_error");
    }
  });
  if (getToken()) start();
  else document.getElementById("signin").classList.remove("hidden");
}

init();
