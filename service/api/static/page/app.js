// The page's only script: send the form to the API and show the answer, highlighted at its offsets.
"use strict";

const form = document.getElementById("article-form");
const button = document.getElementById("summarize");
const statusLine = document.getElementById("status");
const errorBox = document.getElementById("error");
const result = document.getElementById("result");

function showError(message) {
  errorBox.textContent = message;
  errorBox.hidden = false;
}

function itemText(item) {
  return item ? item.text : "";
}

// The answers of one field, each followed by a bar as long as its confidence (the chance it is right).
function fillItems(id, items, label, warnings) {
  const cell = document.getElementById(id);
  cell.replaceChildren();
  items.forEach((item, index) => {
    if (index) cell.append("; ");
    cell.append(label(item));
    if (typeof item.confidence === "number") {
      const percent = Math.round(item.confidence * 100);
      const bar = document.createElement("span");
      bar.className = "confidence";
      bar.setAttribute("role", "img");
      bar.setAttribute("aria-label", `confidence ${percent}%`);
      bar.title = `confidence ${percent}%`;
      const level = document.createElement("span");
      level.style.width = `${percent}%`;
      bar.append(level);
      cell.append(bar);
    }
  });
  if (!items.length) {
    const abstained = warnings.some((line) => line.startsWith(`${id}:`));
    cell.textContent = abstained ? "(not confident enough to answer)" : "(not found in the article)";
  }
}

// Wrap each answer's characters in <mark> elements; where answers overlap, one mark carries both.
function highlight(text, summary) {
  const spans = [];
  for (const field of ["who", "what", "when", "where"]) {
    const value = summary[field];
    for (const item of Array.isArray(value) ? value : value ? [value] : []) {
      if (item.start !== null && item.start !== undefined && item.end > item.start) {
        spans.push({ start: item.start, end: item.end, field });
      }
    }
  }
  const cuts = new Set([0, text.length]);
  spans.forEach((span) => { cuts.add(span.start); cuts.add(span.end); });
  const points = [...cuts].sort((a, b) => a - b);
  const container = document.getElementById("highlighted");
  container.replaceChildren();
  for (let i = 0; i < points.length - 1; i += 1) {
    const [from, to] = [points[i], points[i + 1]];
    const fields = [...new Set(spans.filter((s) => s.start <= from && s.end >= to).map((s) => s.field))];
    const piece = text.slice(from, to);
    if (fields.length === 0) {
      container.append(document.createTextNode(piece));
    } else {
      const mark = document.createElement("mark");
      mark.className = fields.join(" ") + (fields.length > 1 ? " multi" : "");
      mark.dataset.start = String(from);
      mark.dataset.end = String(to);
      mark.title = fields.join(", ");
      mark.textContent = piece;
      container.append(mark);
    }
  }
}

async function summarize(event) {
  event.preventDefault();
  errorBox.hidden = true;
  const text = document.getElementById("text").value;
  const body = { text };
  const title = document.getElementById("title").value.trim();
  const published = document.getElementById("published").value;
  if (title) body.title = title;
  if (published) body.published_at = published;
  const headers = { "content-type": "application/json" };
  const key = document.getElementById("api-key").value.trim();
  if (key) headers.authorization = `Bearer ${key}`;

  button.disabled = true;
  statusLine.textContent = "Reading the article…";
  const started = performance.now();
  try {
    const response = await fetch("/v1/summaries", { method: "POST", headers, body: JSON.stringify(body) });
    const payload = await response.json().catch(() => ({}));
    if (!response.ok) {
      const retry = response.headers.get("retry-after");
      showError(`${payload.title || response.statusText}: ${payload.detail || "the request failed"}` +
        (retry ? ` (try again in ${retry} s)` : ""));
      statusLine.textContent = "";
      return;
    }
    const warnings = payload.warnings || [];
    fillItems("who", payload.who, itemText, warnings);
    fillItems("what", payload.what && payload.what.text ? [payload.what] : [], itemText, warnings);
    fillItems("when", payload.when ? [payload.when] : [], (when) => when.text + (when.date ? ` (${when.date})` : ""), warnings);
    fillItems("where", payload.where, itemText, warnings);
    const seconds = ((performance.now() - started) / 1000).toFixed(1);
    document.getElementById("meta").textContent =
      `${payload.model}, ${seconds} s` + (payload.warnings.length ? ` — ${payload.warnings.join("; ")}` : "");
    highlight(text, payload);
    result.hidden = false;
    statusLine.textContent = "Done.";
    document.getElementById("result-heading").focus();
  } catch (error) {
    showError(`Could not reach the service: ${error.message}`);
    statusLine.textContent = "";
  } finally {
    button.disabled = false;
  }
}

form.addEventListener("submit", summarize);
form.addEventListener("keydown", (event) => {
  if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) form.requestSubmit();
});
document.getElementById("result-heading").tabIndex = -1;
