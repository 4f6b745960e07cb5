// gridhub bench: the latency phase's load generator, in a process of its own.
// POSTs report bodies to the gateway at a fixed rate (open loop: each request at its
// own scheduled start; waiting for a connection counts) and writes, per report, what
// happened. Node's HTTP client costs a fraction of Python's per request, so the
// generator leaves the two cores to the hub it measures.
//
// usage: node poster.js BASE_URL TOKEN RATE START BODIES OUT WARMUP
//   START: the first request's time on CLOCK_MONOTONIC in seconds (Python's
//   time.monotonic(); libuv's hrtime reads the same clock). BODIES: one JSON body a
//   line, each with its report_id; the first WARMUP are sent at once, not recorded.
//   OUT: a JSON object: accepted (report id -> scheduled start), http_ms, failures,
//   retried, unfinished, seconds.
"use strict";

const fs = require("fs");
const http = require("http");

const [base, token, rateText, startText, bodiesPath, outPath, warmupText] = process.argv.slice(2);
const rate = Number(rateText);
const start = Number(startText);
const warmup = Number(warmupText || 0);
const url = new URL("/api/v1/reports", base);
const now = () => Number(process.hrtime.bigint()) / 1e9;

// As many connections as many phones would open: a request is never held back for
// one while the gateway takes a while to answer (that shows as latency instead).
const agent = new http.Agent({ keepAlive: true, maxSockets: Math.max(16, Math.ceil(rate / 5)) });
const bodies = fs.readFileSync(bodiesPath, "utf8").split("\n").filter((line) => line.length);
const accepted = {};
const httpMs = [];
const failures = [];
const retried = [];

function postOnce(body) {
  return new Promise((resolve) => {
    const request = http.request(
      url,
      {
        method: "POST",
        agent,
        headers: {
          Authorization: `Bearer ${token}`,
          "Content-Type": "application/json",
          "Content-Length": Buffer.byteLength(body),
        },
        timeout: 30000,
      },
      (response) => {
        const chunks = [];
        response.on("data", (chunk) => chunks.push(chunk));
        response.on("end", () =>
          resolve({ status: response.statusCode, text: Buffer.concat(chunks).toString() })
        );
      }
    );
    request.on("timeout", () => request.destroy(new Error("timed out after 30 s")));
    request.on("error", (error) => resolve({ error }));
    request.end(body);
  });
}

async function post(body, scheduled) {
  const reportId = JSON.parse(body).report_id;
  let begun = now();
  let answer;
  for (let attempt = 0; attempt < 3; attempt++) {
    begun = now();
    answer = await postOnce(body);
    // A keep-alive connection the server closed as it was reused: a phone would send
    // the same report id again, harmlessly.
    if (!answer.error || !["ECONNRESET", "EPIPE"].includes(answer.error.code)) break;
    if (attempt < 2) retried.push(reportId);
  }
  if (answer.error) {
    failures.push(`${answer.error.code || "error"}: ${answer.error.message}`);
    return;
  }
  if (answer.status !== 202) {
    failures.push(`HTTP ${answer.status}: ${answer.text.slice(0, 200)}`);
    return;
  }
  if (scheduled !== null) {
    accepted[reportId] = scheduled;
    httpMs.push(1000 * (now() - begun));
  }
}

const sleep = (seconds) => new Promise((resolve) => setTimeout(resolve, Math.max(0, seconds) * 1000));

async function main() {
  await Promise.all(bodies.slice(0, warmup).map((body) => post(body, null)));
  const measured = bodies.slice(warmup);
  const pending = new Set();
  for (let n = 0; n < measured.length; n++) {
    const scheduled = start + n / rate;
    const delay = scheduled - now();
    if (delay > 0.001) await sleep(delay);
    const task = post(measured[n], scheduled);
    pending.add(task);
    task.then(() => pending.delete(task));
  }
  const budget = Math.max(60, (10 * measured.length) / rate);
  await Promise.race([Promise.all([...pending]), sleep(budget)]);
  fs.writeFileSync(
    outPath,
    JSON.stringify({
      accepted,
      http_ms: httpMs,
      failures,
      retried,
      unfinished: pending.size,
      seconds: now() - start,
    })
  );
  agent.destroy();
  process.exit(0);
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
