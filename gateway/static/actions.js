// The action forms of a case, shared by the operator console and the department's
// handler view: one form for each action the server lists in case.actions (the case
// policy in schemas/policy.py decides who may do what, when). The pages keep no copy
// of the state machine or the role rules; they only know how to ask for each action.
// Also the pieces of a case both pages show: its tasks (联合执法), extensions, orders
// and the words for its timeline.
import { addStrings, api, clear, el, fmtTime, lang, t } from "./common.js";

addStrings({
  zh: {
    actions: "操作", dispatch: "派遣", reject: "驳回（不予立案）", merge: "合并到", escalate: "督办升级",
    comment: "备注", reason: "原因", note: "备注内容", into: "合并目标（附近同类案件）", done: "已提交",
    pending_answer: "已发送，等待处理结果", refused: "被拒绝", no_targets: "附近没有可合并的同类案件",
    metres_away: "约 {n} 米", accept: "签收", return: "退回（非本部门职责）", resolve: "办结并反馈",
    resolve_note: "处置说明", resolve_photo: "处置照片", verify_note: "核查说明（不通过时必填）",
    verify_pass: "核查通过", verify_fail: "核查不通过", reopen: "重新打开（返工）", reprioritise: "调整优先级",
    rate: "评价", score: "满意度", read_only: "只读查看", by_rules: "（按派遣规则）", co_departments: "协办部门",
    department: "部门", priority: "优先级",
    reassign: "改派", reassign_task: "改派哪个任务", reassign_to: "改派给", restart_clock: "重新计时（默认沿用首次派遣的时限）",
    add_department: "增加协办部门", remove_department: "移出协办部门", release_task: "释放协办任务",
    request_extension: "申请延期", until: "延期至", decide_extension: "审批延期", approve: "同意延期", refuse: "不同意",
    decision_reason: "审批意见（不同意时必填）", defer: "缓办", resume: "恢复办理", order: "发督办单",
    order_level: "督办级别", level_general: "一般", level_key: "重点", level_listed: "挂牌", reply_by: "回复时限",
    order_text: "督办内容", order_to: "督办对象", reply: "回复督办单", reply_text: "回复内容", which_order: "督办单",
    tasks: "任务（主办 / 协办）", role_lead: "主办", role_co: "协办", task_state: "任务状态",
    task_dispatched: "待签收", task_in_progress: "处理中", task_done: "已完成", task_returned: "已退回",
    task_reassigned: "已改派", task_released: "已释放", extensions: "延期申请", orders: "督办单",
    x_pending: "待审批", x_approved: "已同意", x_refused: "未同意", o_open: "待回复", o_answered: "已回复",
    deferred_since: "缓办中（自 {t}）", none: "无", respond_by: "响应时限", resolve_by: "处置时限",
    t_opened: "立案", t_report_attached: "追加上报", t_dispatched: "派遣", t_accepted: "签收", t_returned: "退回",
    t_resolved: "办结", t_verified: "核查", t_reworked: "返工", t_closed: "结案", t_rejected: "不予立案",
    t_merged: "合并", t_escalated: "升级", t_commented: "备注", t_rated: "评价", t_reprioritised: "调整优先级",
    t_supervised: "督办", t_reopened: "重新打开", t_reassigned: "改派", t_task_changed: "任务变更",
    t_extension_requested: "申请延期", t_extension_decided: "延期审批", t_deferred: "缓办", t_resumed: "恢复办理",
    t_order_issued: "发督办单", t_order_replied: "回复督办单",
  },
  en: {
    actions: "Actions", dispatch: "Dispatch", reject: "Reject", merge: "Merge into", escalate: "Escalate",
    comment: "Comment", reason: "Reason", note: "Note", into: "Target case (nearby, same category)", done: "Done",
    pending_answer: "Sent; waiting for the answer", refused: "Refused",
    no_targets: "No nearby case of this category to merge into", metres_away: "≈ {n} m", accept: "Accept",
    return: "Return (not ours)", resolve: "Resolve with evidence", resolve_note: "What was done",
    resolve_photo: "Photo of the fix", verify_note: "Verification note (required for a fail)",
    verify_pass: "Verified: pass", verify_fail: "Verified: fail", reopen: "Reopen (rework)",
    reprioritise: "Reprioritise", rate: "Rate", score: "Satisfaction", read_only: "Read only",
    by_rules: "(by routing rules)", co_departments: "Co-departments", department: "Department", priority: "Priority",
    reassign: "Reassign", reassign_task: "Task to move", reassign_to: "Reassign to",
    restart_clock: "Restart the SLA clock (default: it runs on from the first dispatch)",
    add_department: "Add a co-department", remove_department: "Remove a co-department",
    release_task: "Release a co-department's task", request_extension: "Ask for more time", until: "New deadline",
    decide_extension: "Decide the extension", approve: "Approve", refuse: "Refuse",
    decision_reason: "Decision note (required to refuse)", defer: "Defer", resume: "Resume",
    order: "Issue a supervision order", order_level: "Level", level_general: "General", level_key: "Key",
    level_listed: "Listed (leaders told)", reply_by: "Reply by", order_text: "Order", order_to: "To",
    reply: "Reply to the order", reply_text: "Reply", which_order: "Order", tasks: "Tasks (lead / co)",
    role_lead: "lead", role_co: "co", task_state: "Task state", task_dispatched: "to accept",
    task_in_progress: "in progress", task_done: "done", task_returned: "returned", task_reassigned: "reassigned",
    task_released: "released", extensions: "Extensions", orders: "Supervision orders", x_pending: "pending",
    x_approved: "approved", x_refused: "refused", o_open: "awaiting reply", o_answered: "answered",
    deferred_since: "Deferred since {t}", none: "None", respond_by: "Respond by", resolve_by: "Resolve by",
    t_opened: "opened", t_report_attached: "report attached", t_dispatched: "dispatched", t_accepted: "accepted",
    t_returned: "returned", t_resolved: "resolved", t_verified: "verified", t_reworked: "reworked",
    t_closed: "closed", t_rejected: "rejected", t_merged: "merged", t_escalated: "escalated",
    t_commented: "comment", t_rated: "rated", t_reprioritised: "reprioritised", t_supervised: "supervised",
    t_reopened: "reopened", t_reassigned: "reassigned", t_task_changed: "task changed",
    t_extension_requested: "extension asked", t_extension_decided: "extension decided", t_deferred: "deferred",
    t_resumed: "resumed", t_order_issued: "order issued", t_order_replied: "order answered",
  },
});

export const PAST = {
  dispatch: "t_dispatched", reject: "t_rejected", merge: "t_merged", escalate: "t_escalated",
  comment: "t_commented", accept: "t_accepted", return: "t_returned", resolve: "t_resolved",
  verify: "t_verified", reopen: "t_reopened", reprioritise: "t_reprioritised", rate: "t_rated",
  reassign: "t_reassigned", add_department: "t_task_changed", remove_department: "t_task_changed",
  release_task: "t_task_changed", request_extension: "t_extension_requested",
  decide_extension: "t_extension_decided", defer: "t_deferred", resume: "t_resumed", order: "t_order_issued",
  reply: "t_order_replied",
};
const PRIO = ["P1", "P2", "P3", "P4"];
const UNFINISHED = ["dispatched", "in_progress", "returned"];
const LEVELS = [["general", "level_general"], ["key", "level_key"], ["listed", "level_listed"]];

const field = (id, label, input) => [el("label", { for: id }, label), input];
const button = (id, label, onclick, cls = "") => el("button", { type: "button", id, class: cls, onclick }, label);
const text = (id, max = 1000) => el("input", { id, type: "text", maxlength: max });
// A local date and time picked on the page, as an ISO time with its zone.
const when = (input) => (input.value ? new Date(input.value).toISOString() : "");
const localInput = (id, date) => {
  const input = el("input", { id, type: "datetime-local" });
  if (date) {
    const d = new Date(date);
    input.value = new Date(d.getTime() - d.getTimezoneOffset() * 60000).toISOString().slice(0, 16);
  }
  return input;
};
const required = (input) => { if (input.value.trim()) return input.value.trim(); input.focus(); return null; };

function sender(c, status, onDone) {
  return async (body) => {
    status.className = "status info";
    status.textContent = "…";
    try {
      const { status: code, data } = await api(`/api/v1/cases/${encodeURIComponent(c.id)}/actions`, {
        method: "POST", body, headers: { "Idempotency-Key": crypto.randomUUID() },
      });
      status.className = "status ok";
      status.textContent = code === 202 ? t("pending_answer") : `${t("done")}: ${t(PAST[body.action] || body.action)}`;
      status.dataset.result = code === 202 ? "pending" : "done";
      // The version the change made: a page refreshing the case waits for it.
      if (onDone) onDone(c.id, (data && data.result && data.result.version) || 0);
    } catch (err) {
      status.className = "status err";
      status.dataset.result = "error";
      status.textContent = `${t("refused")}: ${err.detail || err}`;
    }
  };
}

function deptOptions(ctx, codes, selected) {
  return codes.map((code) => el("option", { value: code, selected: code === selected }, `${ctx.deptName(code)} (${code})`));
}

const tasksOf = (c) => c.tasks || [];
const teamCodes = (c) => tasksOf(c).filter((x) => UNFINISHED.includes(x.state)).map((x) => x.department);

// ---- the forms -------------------------------------------------------------------------
function dispatchForm(c, send, ctx) {
  const dept = el("select", { id: "act-department" }, el("option", { value: "" }, t("by_rules")),
    deptOptions(ctx, ctx.departments.map((d) => d.code), c.lead_department));
  const co = el("select", { id: "act-co", multiple: true, size: 3 }, deptOptions(ctx, ctx.departments.map((d) => d.code)));
  const go = () => {
    const chosen = [...co.selectedOptions].map((o) => o.value).filter((code) => code !== dept.value);
    send({ action: "dispatch", department: dept.value || null, co_departments: dept.value ? chosen : [] });
  };
  return el("div", { class: "action" }, ...field("act-department", t("department"), dept),
    ...field("act-co", t("co_departments"), co), button("do-dispatch", t("dispatch"), go, "primary"));
}

function reasonForm(action, inputId, cls) {
  return (c, send) => {
    const reason = text(inputId);
    const go = () => { const r = required(reason); if (r) send({ action, reason: r }); };
    return el("div", { class: "action" }, ...field(inputId, t("reason"), reason), button(`do-${action}`, t(action), go, cls));
  };
}

async function mergeForm(c, send, ctx) {
  const targets = ctx.nearbyTargets ? await ctx.nearbyTargets(c) : [];
  const into = el("select", { id: "act-into" },
    targets.length ? targets.map((o) => el("option", { value: o.id },
      `${o.id} · ${t(o.state)} · ${ctx.gridName ? ctx.gridName(o.grid_code) : o.grid_code} · ${Number.isFinite(o.distance) ? t("metres_away").replace("{n}", String(Math.round(o.distance))) : ""} · ${o.title || ""}`))
      : el("option", { value: "" }, t("no_targets")));
  const go = () => { if (into.value) send({ action: "merge", into: into.value }); };
  const merge = button("do-merge", t("merge"), go);
  merge.disabled = !targets.length;
  return el("div", { class: "action" }, ...field("act-into", t("into"), into), merge);
}

const acceptForm = (c, send) => button("do-accept", t("accept"), () => send({ action: "accept" }), "primary");

function resolveForm(c, send, ctx, status) {
  const note = el("textarea", { id: "act-resolve-note", maxlength: 2000 });
  const photo = el("input", { id: "act-resolve-photo", type: "file", accept: "image/jpeg,image/png,image/webp" });
  const go = async () => {
    const n = required(note);
    if (!n) return;
    const media = [];
    try {
      if (photo.files[0]) {
        const form = new FormData();
        form.append("file", photo.files[0]);
        media.push((await api("/api/v1/media", { method: "POST", body: form })).data.id);
      }
    } catch (err) { status.className = "status err"; status.textContent = `${t("refused")}: ${err.detail || err}`; return; }
    send({ action: "resolve", note: n, media });
  };
  return el("div", { class: "action" }, ...field("act-resolve-note", t("resolve_note"), note),
    ...field("act-resolve-photo", t("resolve_photo"), photo), button("do-resolve", t("resolve"), go, "primary"));
}

function verifyForm(c, send) {
  const note = text("act-verify-note");
  const verify = (passed) => {
    const v = note.value.trim();
    if (!passed && !v) { note.focus(); return; }
    send(passed ? { action: "verify", passed, note: v || null } : { action: "verify", passed, reason: v, note: v });
  };
  return el("div", { class: "action" }, ...field("act-verify-note", t("verify_note"), note),
    el("div", { class: "row" }, button("do-verify-pass", t("verify_pass"), () => verify(true), "primary"),
      button("do-verify-fail", t("verify_fail"), () => verify(false), "danger")));
}

const reopenForm = (c, send) => button("do-reopen", t("reopen"), () => send({ action: "reopen" }));

function reprioritiseForm(c, send) {
  const priority = el("select", { id: "act-priority" }, PRIO.map((p) => el("option", { value: p, selected: p === c.priority }, p)));
  return el("div", { class: "action" }, ...field("act-priority", t("priority"), priority),
    button("do-reprioritise", t("reprioritise"), () => send({ action: "reprioritise", priority: priority.value })));
}

function rateForm(c, send) {
  const score = el("select", { id: "act-score" }, [5, 4, 3, 2, 1].map((n) => el("option", { value: n }, "★".repeat(n))));
  return el("div", { class: "action" }, ...field("act-score", t("score"), score),
    button("do-rate", t("rate"), () => send({ action: "rate", score: Number(score.value) })));
}

function reassignForm(c, send, ctx) {
  const moving = tasksOf(c).filter((x) => UNFINISHED.includes(x.state));
  const task = el("select", { id: "act-reassign-task" }, moving.map((x) =>
    el("option", { value: x.department, selected: x.department === c.lead_department },
      `${ctx.deptName(x.department)} · ${t(`role_${x.role}`)} · ${t(`task_${x.state}`)}`)));
  const team = teamCodes(c);
  const to = el("select", { id: "act-reassign-to" }, deptOptions(ctx, ctx.departments.map((d) => d.code).filter((code) => !team.includes(code))));
  const reason = text("act-reassign-reason");
  const restart = el("input", { id: "act-restart-clock", type: "checkbox" });
  const go = () => {
    const r = required(reason);
    if (r) send({ action: "reassign", task: task.value, department: to.value, reason: r, restart_clock: restart.checked });
  };
  return el("div", { class: "action" }, ...field("act-reassign-task", t("reassign_task"), task),
    ...field("act-reassign-to", t("reassign_to"), to), ...field("act-reassign-reason", t("reason"), reason),
    el("label", { class: "check" }, restart, ` ${t("restart_clock")}`), button("do-reassign", t("reassign"), go));
}

function addDepartmentForm(c, send, ctx) {
  const team = teamCodes(c);
  const dept = el("select", { id: "act-add-department" }, deptOptions(ctx, ctx.departments.map((d) => d.code).filter((code) => !team.includes(code))));
  return el("div", { class: "action" }, ...field("act-add-department", t("add_department"), dept),
    button("do-add_department", t("add_department"), () => send({ action: "add_department", department: dept.value })));
}

function coTaskForm(action, states) {
  return (c, send, ctx) => {
    const co = tasksOf(c).filter((x) => x.role === "co" && states.includes(x.state));
    const dept = el("select", { id: `act-${action}` }, co.map((x) =>
      el("option", { value: x.department }, `${ctx.deptName(x.department)} · ${t(`task_${x.state}`)}`)));
    const reason = text(`act-${action}-reason`);
    const go = () => send({ action, department: dept.value, reason: reason.value.trim() || null });
    return el("div", { class: "action" }, ...field(`act-${action}`, t(action), dept),
      ...field(`act-${action}-reason`, t("reason"), reason), button(`do-${action}`, t(action), go));
  };
}

function requestExtensionForm(c, send, ctx) {
  const mine = tasksOf(c).filter((x) => x.department === ctx.me.scope).pop();
  const until = localInput("act-until", mine && mine.resolve_by ? new Date(new Date(mine.resolve_by).getTime() + 2 * 86400000) : null);
  const reason = text("act-extension-reason");
  const go = () => { const r = required(reason); if (r && until.value) send({ action: "request_extension", until: when(until), reason: r }); };
  return el("div", { class: "action" }, ...field("act-until", t("until"), until),
    ...field("act-extension-reason", t("reason"), reason), button("do-request_extension", t("request_extension"), go));
}

function decideExtensionForm(c, send, ctx) {
  const pending = (c.extensions || []).filter((x) => x.state === "pending");
  const which = el("select", { id: "act-extension" }, pending.map((x) =>
    el("option", { value: x.id }, `${x.id} · ${ctx.deptName(x.department)} → ${fmtTime(x.until)} · ${x.reason}`)));
  const reason = text("act-decision");
  const decide = (approved) => {
    const r = reason.value.trim();
    if (!approved && !r) { reason.focus(); return; }
    send({ action: "decide_extension", extension: which.value, approved, reason: r || null });
  };
  return el("div", { class: "action" }, ...field("act-extension", t("decide_extension"), which),
    ...field("act-decision", t("decision_reason"), reason),
    el("div", { class: "row" }, button("do-approve-extension", t("approve"), () => decide(true), "primary"),
      button("do-refuse-extension", t("refuse"), () => decide(false), "danger")));
}

function orderForm(c, send, ctx) {
  const level = el("select", { id: "act-order-level" }, LEVELS.map(([v, k]) => el("option", { value: v }, t(k))));
  const holders = tasksOf(c).filter((x) => ["dispatched", "in_progress", "done"].includes(x.state)).map((x) => x.department);
  const to = el("select", { id: "act-order-to" }, deptOptions(ctx, [...new Set(holders)], c.lead_department));
  const replyBy = localInput("act-reply-by", new Date(Date.now() + 4 * 3600000));
  const body = el("textarea", { id: "act-order-text", maxlength: 2000 });
  const go = () => {
    const text_ = required(body);
    if (text_ && replyBy.value) send({ action: "order", level: level.value, department: to.value, reply_by: when(replyBy), text: text_ });
  };
  return el("div", { class: "action" }, ...field("act-order-level", t("order_level"), level),
    ...field("act-order-to", t("order_to"), to), ...field("act-reply-by", t("reply_by"), replyBy),
    ...field("act-order-text", t("order_text"), body), button("do-order", t("order"), go));
}

function replyForm(c, send, ctx) {
  const open = (c.orders || []).filter((o) => o.state === "open" && (!ctx.me.scope || o.department === ctx.me.scope));
  const which = el("select", { id: "act-order" }, open.map((o) => el("option", { value: o.id }, `${o.id} · ${t(`level_${o.level}`)} · ${o.text}`)));
  const body = el("textarea", { id: "act-reply-text", maxlength: 2000 });
  const go = () => { const r = required(body); if (r) send({ action: "reply", order: which.value, text: r }); };
  return el("div", { class: "action" }, ...field("act-order", t("which_order"), which),
    ...field("act-reply-text", t("reply_text"), body), button("do-reply", t("reply"), go, "primary"));
}

function deferForm(action) {
  return (c, send) => {
    const reason = text(`act-${action}-reason`);
    const go = () => { const r = reason.value.trim(); if (action === "defer" && !r) { reason.focus(); return; } send({ action, reason: r || null }); };
    return el("div", { class: "action" }, ...field(`act-${action}-reason`, t("reason"), reason), button(`do-${action}`, t(action), go));
  };
}

const FORMS = {
  dispatch: dispatchForm, accept: acceptForm, resolve: resolveForm, verify: verifyForm,
  return: reasonForm("return", "act-return-reason", "danger"), reject: reasonForm("reject", "act-reason", "danger"),
  merge: mergeForm, reopen: reopenForm, reprioritise: reprioritiseForm, rate: rateForm, reassign: reassignForm,
  add_department: addDepartmentForm, remove_department: coTaskForm("remove_department", ["dispatched"]),
  release_task: coTaskForm("release_task", UNFINISHED), request_extension: requestExtensionForm,
  decide_extension: decideExtensionForm, defer: deferForm("defer"), resume: deferForm("resume"),
  order: orderForm, reply: replyForm,
};

// Escalate and comment share one note field.
function noteForm(actions, send) {
  const note = text("act-note", 2000);
  const buttons = [];
  if (actions.includes("escalate")) buttons.push(button("do-escalate", t("escalate"), () => send({ action: "escalate", note: note.value.trim() || null })));
  if (actions.includes("comment")) buttons.push(button("do-comment", t("comment"), () => { const n = required(note); if (n) send({ action: "comment", note: n }); }));
  return el("div", { class: "action" }, ...field("act-note", t("note"), note), el("div", { class: "row" }, ...buttons));
}

// ctx: {departments, deptName, gridName?, nearbyTargets?, me: {role, scope},
//       onDone?(caseId, version): after an applied action}
export async function actionPanel(c, ctx) {
  const status = el("p", { class: "status hidden", role: "status", id: "act-status" });
  const send = sender(c, status, ctx.onDone);
  const actions = c.actions || [];
  const parts = [];
  for (const action of actions) if (FORMS[action]) parts.push(await FORMS[action](c, send, ctx, status));
  if (actions.includes("escalate") || actions.includes("comment")) parts.push(noteForm(actions, send));
  if (!parts.length) parts.push(el("p", { class: "muted" }, t("read_only")));
  return el("div", {}, ...parts, status);
}

// ---- what both pages show of a case ----------------------------------------------------
export function taskTable(c, deptName) {
  const tasks = tasksOf(c);
  if (!tasks.length) return el("p", { class: "muted", id: "tasks" }, t("none"));
  return el("div", { class: "scroll" }, el("table", { class: "queue tasks", id: "tasks" },
    el("thead", {}, el("tr", {}, ...["department", "task_state", "respond_by", "resolve_by", "note"].map((k) => el("th", { scope: "col" }, t(k))))),
    el("tbody", {}, tasks.map((x) => el("tr", { dataset: { department: x.department, state: x.state } },
      el("td", {}, `${deptName(x.department)} `, el("span", { class: `badge role-${x.role}` }, t(`role_${x.role}`))),
      el("td", {}, el("span", { class: `badge task-${x.state}` }, t(`task_${x.state}`))),
      el("td", {}, fmtTime(x.respond_by) || "—"), el("td", {}, fmtTime(x.resolve_by) || "—"),
      el("td", {}, [x.note, x.reason].filter(Boolean).join(" · ")))))));
}

export function partsLists(c, deptName) {
  const extensions = c.extensions || [];
  const orders = c.orders || [];
  return el("div", {},
    c.deferred_at ? el("p", { class: "status info", id: "deferred" }, t("deferred_since").replace("{t}", fmtTime(c.deferred_at))) : "",
    el("h3", {}, t("extensions")),
    el("ul", { class: "list", id: "extensions" }, extensions.length ? extensions.map((x) => el("li", { dataset: { state: x.state } },
      el("strong", {}, `${x.id} ${deptName(x.department)} → ${fmtTime(x.until)}`), ` · ${t(`x_${x.state}`)} · ${x.reason}`,
      x.decision ? el("div", { class: "muted" }, x.decision) : ""))
      : el("li", { class: "muted" }, t("none"))),
    el("h3", {}, t("orders")),
    el("ul", { class: "list", id: "orders" }, orders.length ? orders.map((o) => el("li", { dataset: { state: o.state } },
      el("strong", {}, `${o.id} · ${t(`level_${o.level}`)} · ${deptName(o.department)}`),
      ` · ${t(`o_${o.state}`)} · ${t("reply_by")} ${fmtTime(o.reply_by)}`, el("div", {}, o.text),
      o.reply ? el("div", { class: "muted" }, `↳ ${o.reply}`) : ""))
      : el("li", { class: "muted" }, t("none"))));
}

export function eventText(e) {
  const d = e.data || {};
  const bits = [];
  for (const key of ["department", "task", "from", "state", "into", "reason", "note", "passed", "priority", "score", "mark", "order", "level", "until", "approved", "text", "report_id"])
    if (d[key] !== undefined && d[key] !== null && d[key] !== "") bits.push(`${key}: ${typeof d[key] === "object" ? JSON.stringify(d[key]) : d[key]}`);
  return bits.join(" · ");
}

export function timelineList(c) {
  return el("ol", { class: "list", id: "timeline" }, (c.timeline || []).map((e) => el("li", {},
    el("strong", {}, `v${e.version} ${t(`t_${e.type}`)}`), ` · ${fmtTime(e.time)} · ${e.actor_name || e.actor || ""}`,
    eventText(e) ? el("div", { class: "muted" }, eventText(e)) : "")));
}


