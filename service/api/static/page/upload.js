// Upload a JSONL file of articles to the batch endpoint: a progress bar while the NDJSON lines
// stream back, then a download of every line (one per article, summary or problem).
"use strict";

(() => {
  const form = document.getElementById("upload-form");
  const button = document.getElementById("upload-button");
  const progress = document.getElementById("upload-progress");
  const statusLine = document.getElementById("upload-status");
  const errorBox = document.getElementById("upload-error");
  const download = document.getElementById("upload-download");

  function fail(message) {
    errorBox.textContent = message;
    errorBox.hidden = false;
    statusLine.textContent = "";
  }

  async function upload(event) {
    event.preventDefault();
    errorBox.hidden = true;
    download.hidden = true;
    const file = document.getElementById("jsonl").files[0];
    if (!file) return;
    const body = await file.text();
    let total = body.split("\n").filter((line) => line.trim()).length;
    if (body.trim().startsWith("[")) {
      try { total = JSON.parse(body).length; } catch (error) { /* the service says what is wrong */ }
    }
    const headers = { "content-type": "application/x-ndjson" };
    const key = document.getElementById("api-key").value.trim();
    if (key) headers.authorization = `Bearer ${key}`;

    button.disabled = true;
    progress.max = total;
    progress.value = 0;
    progress.hidden = false;
    statusLine.textContent = `0 of ${total} articles done`;
    const lines = [];
    let failed = 0;
    try {
      const response = await fetch("/v1/summaries:batch", { method: "POST", headers, body });
      if (!response.ok) {
        const payload = await response.json().catch(() => ({}));
        const retry = response.headers.get("retry-after");
        fail(`${payload.title || response.statusText}: ${payload.detail || "the request failed"}` +
          (retry ? ` (try again in ${retry} s)` : ""));
        progress.hidden = true;
        return;
      }
      const reader = response.body.getReader();
      const decoder = new TextDecoder();
      let pending = "";
      for (;;) {
        const { done, value } = await reader.read();
        pending += decoder.decode(value || new Uint8Array(), { stream: !done });
        const parts = pending.split("\n");
        pending = parts.pop();
        for (const part of parts.filter((line) => line.trim())) {
          lines.push(part);
          if (JSON.parse(part).status !== 200) failed += 1;
        }
        progress.value = lines.length;
        statusLine.textContent = `${lines.length} of ${total} articles done` + (failed ? ` (${failed} with a problem)` : "");
        if (done) break;
      }
      // Back in the file's order; each line keeps its "index" and "id".
      lines.sort((a, b) => JSON.parse(a).index - JSON.parse(b).index);
      const blob = new Blob([lines.join("\n") + "\n"], { type: "application/x-ndjson" });
      if (download.href) URL.revokeObjectURL(download.href);
      download.href = URL.createObjectURL(blob);
      download.download = file.name.replace(/\.[^.]*$/, "") + ".summaries.jsonl";
      download.hidden = false;
      statusLine.textContent = `Done: ${lines.length} of ${total} articles` + (failed ? `, ${failed} with a problem (see their lines)` : "") + ".";
    } catch (error) {
      fail(`Could not reach the service: ${error.message}`);
    } finally {
      button.disabled = false;
    }
  }

  form.addEventListener("submit", upload);
})();
