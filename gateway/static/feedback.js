// /f/{token} — the reporter's private link: the case's progress in plain words and,
// once it is resolved or closed, a 1–5 rating with an optional comment (once).
// The token is the last part of this page's address; nothing else identifies anyone.
import { addStrings, applyI18n, clear, el, lang, t, wireHeader } from "./common.js";

addStrings({
  zh: {
    title: "办理进度与评价", progress: "您反映的问题", rate: "请评价处置结果",
    score: "满意度（1 分很不满意，5 分很满意）", comment: "意见（选填，请勿填写个人信息）", submit: "提交评价",
    thanks: "感谢您的评价", category: "问题类别", street: "所在街道", opened: "受理日期", closed: "结案日期",
    state: "当前进度", rated_before: "您已评价过（{n} 分），感谢参与。", not_yet: "办结后可在此评价。",
    thanks_text: "您的评分：{n} 分。", low_text: "很抱歉处置结果未能让您满意。总值班室将回访核实，必要时重新办理。",
    bad_link: "链接无效或已过期。", error: "出错了", stars: "{n} 分",
  },
  en: {
    title: "Progress and rating", progress: "What you reported", rate: "Rate how it was handled",
    score: "Satisfaction (1 very unhappy, 5 very happy)", comment: "Comment (optional; no personal details please)",
    submit: "Send rating", thanks: "Thank you", category: "Category", street: "Street", opened: "Received",
    closed: "Closed", state: "Progress", rated_before: "You rated this already ({n}). Thank you.",
    not_yet: "You can rate it here once it is fixed.", thanks_text: "Your rating: {n}.",
    low_text: "We are sorry the result did not satisfy you. The duty office will call back and reopen the case if needed.",
    bad_link: "This link is not valid or has expired.", error: "Error", stars: "{n}",
  },
});

const token = decodeURIComponent(location.pathname.split("/").filter(Boolean).pop() || "");
const apiPath = `/api/v1/feedback/${encodeURIComponent(token)}`;
let current = null;

function fact(key, value) {
  return value ? [el("dt", {}, t(key)), el("dd", { id: `fact-${key}` }, value)] : [];
}

function render() {
  const status = document.getElementById("status");
  if (!current) return;
  const words = current.status[lang() === "en" ? "en" : "zh"];
  status.className = "status";
  status.textContent = words;
  const category = current.category ? (lang() === "en" ? current.category.name_en : current.category.name_zh) : "";
  clear(document.getElementById("facts")).append(
    ...fact("state", words), ...fact("category", category), ...fact("street", current.street),
    ...fact("opened", current.opened), ...fact("closed", current.closed));
  document.getElementById("rate-card").classList.toggle("hidden", !current.rateable);
  const done = document.getElementById("done-card");
  if (current.rated) {
    done.classList.remove("hidden");
    document.getElementById("done-text").textContent = t("rated_before").replace("{n}", current.score ?? "");
  } else if (!current.rateable) {
    status.textContent = `${words} ${t("not_yet")}`;
  }
}

async function load() {
  const response = await fetch(apiPath, { referrerPolicy: "no-referrer" });
  if (!response.ok) {
    const status = document.getElementById("status");
    status.className = "status err";
    status.textContent = response.status === 404 ? t("bad_link") : `${t("error")} ${response.status}`;
    return;
  }
  current = await response.json();
  render();
}

async function submit(event) {
  event.preventDefault();
  const chosen = document.querySelector('input[name="score"]:checked');
  if (!chosen) return;
  const score = Number(chosen.value);
  const comment = document.getElementById("comment").value.trim();
  const response = await fetch(apiPath, {
    method: "POST", referrerPolicy: "no-referrer",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify(comment ? { score, comment } : { score }),
  });
  const body = await response.json().catch(() => ({}));
  const done = document.getElementById("done-card");
  const text = document.getElementById("done-text");
  document.getElementById("rate-card").classList.add("hidden");
  done.classList.remove("hidden");
  if (response.ok) {
    text.textContent = `${t("thanks_text").replace("{n}", score)}${body.low ? ` ${t("low_text")}` : ""}`;
    current = { ...current, rateable: false, rated: true, score };
  } else {
    text.textContent = `${t("error")}: ${body.detail || response.status}`;
  }
}

function init() {
  applyI18n();
  const scores = document.getElementById("scores");
  for (let n = 1; n <= 5; n += 1) {
    const id = `score-${n}`;
    scores.append(el("input", { type: "radio", name: "score", id, value: n, required: n === 1 }),
      el("label", { for: id, class: "score" }, String(n)));
  }
  wireHeader(() => { applyI18n(); render(); });
  document.getElementById("rate-form").addEventListener("submit", submit);
  load();
}

init();
