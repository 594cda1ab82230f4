// The test console: posts the form with fetch() and reads the run's Server-Sent Events as
// they arrive (the Poe protocol: meta, text, replace_response, file, error, done), showing
// the response as markdown while it streams. Without JavaScript the same form posts
// normally and the server answers with the finished run's page.

import { renderMarkdown, safeUrl } from "./markdown.js";

/** Split a stream of SSE bytes into events; ``feed`` returns the complete ones so far. */
export class SseParser {
  constructor() {
    this.buffer = "";
    this.decoder = new TextDecoder();
  }

  feed(chunk, final = false) {
    this.buffer += this.decoder.decode(chunk, { stream: !final });
    const events = [];
    // An event ends at a blank line; any of \r\n, \n, \r ends a line (the SSE spec).
    const parts = this.buffer.split(/\r\n\r\n|\n\n|\r\r/);
    this.buffer = final ? "" : parts.pop();
    for (const block of parts) {
      const event = { event: "message", data: [] };
      for (const line of block.split(/\r\n|\n|\r/)) {
        if (line === "" || line.startsWith(":")) continue; // comments: keep-alive pings
        const colon = line.indexOf(":");
        const field = colon === -1 ? line : line.slice(0, colon);
        let value = colon === -1 ? "" : line.slice(colon + 1);
        if (value.startsWith(" ")) value = value.slice(1);
        if (field === "event") event.event = value;
        else if (field === "data") event.data.push(value);
      }
      if (event.data.length > 0 || event.event !== "message") {
        events.push({ event: event.event, data: event.data.join("\n") });
      }
    }
    return events;
  }
}

export function enhanceConsole(form) {
  const card = form.closest(".console") || document;
  const output = card.querySelector("[data-console-output]");
  const filesBox = card.querySelector("[data-console-files]");
  const errorBox = card.querySelector("[data-console-error]");
  const status = card.querySelector("[data-console-status]");
  const button = form.querySelector("button[type=submit]");
  const runLabel = button.textContent;
  let controller = null;

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    if (controller) {
      controller.abort(); // the button reads "Stop" while a run streams
      return;
    }
    controller = new AbortController();
    const run = new RunView(output, filesBox, errorBox);
    button.textContent = "Stop";
    status.textContent = "Starting…";
    const started = performance.now();
    try {
      const response = await fetch(form.action, {
        method: "POST",
        body: new FormData(form),
        headers: { Accept: "text/event-stream" },
        credentials: "same-origin",
        signal: controller.signal,
      });
      const type = response.headers.get("content-type") || "";
      if (!response.ok || !type.startsWith("text/event-stream")) {
        run.fail(await describeRefusal(response));
      } else {
        status.textContent = "Running…";
        const runId = response.headers.get("x-run-id");
        await readEvents(response.body, run);
        const seconds = ((performance.now() - started) / 1000).toFixed(1);
        status.textContent = run.failed ? `Failed after ${seconds} s.` : `Done in ${seconds} s.`;
        if (runId && /^[0-9a-f-]{36}$/i.test(runId)) {
          const link = document.createElement("a");
          link.href = `${form.action.replace(/\/console$/, "")}/runs/${runId}`;
          link.textContent = "Transcript";
          status.append(" ", link);
        }
      }
    } catch (error) {
      if (error.name === "AbortError") {
        status.textContent = "Stopped.";
      } else {
        run.fail("The connection to the server was lost.");
        status.textContent = "";
      }
    } finally {
      run.finish();
      controller = null;
      button.textContent = runLabel;
    }
  });
}

async function readEvents(body, run) {
  const reader = body.getReader();
  const parser = new SseParser();
  for (;;) {
    const { value, done } = await reader.read();
    const events = done ? parser.feed(new Uint8Array(), true) : parser.feed(value);
    for (const event of events) run.apply(event);
    if (done || run.done) break;
  }
}

async function describeRefusal(response) {
  if (response.status === 401 || response.redirected) return "Your session has ended; log in again.";
  if (response.status === 403) return "The page has expired; reload it and try again.";
  if (response.status === 429) return "Too many runs at once; wait for one to finish.";
  let detail = "";
  try {
    const type = response.headers.get("content-type") || "";
    if (type.includes("json")) detail = (await response.json()).detail;
  } catch {
    detail = "";
  }
  return typeof detail === "string" && detail ? detail : `The run could not start (HTTP ${response.status}).`;
}

/** One run's output on the page; every string from the stream is treated as untrusted. */
class RunView {
  constructor(output, filesBox, errorBox) {
    this.output = output;
    this.filesBox = filesBox;
    this.errorBox = errorBox;
    this.text = "";
    this.files = [];
    this.done = false;
    this.failed = false;
    this.frame = 0;
    output.hidden = false;
    output.setAttribute("aria-busy", "true"); // read out once complete, not per chunk
    output.classList.add("streaming", "cursor");
    output.replaceChildren();
    filesBox.hidden = true;
    filesBox.replaceChildren();
    errorBox.hidden = true;
    errorBox.replaceChildren();
  }

  apply({ event, data }) {
    let payload = {};
    try {
      payload = data ? JSON.parse(data) : {};
    } catch {
      return; // not an event of the Poe protocol
    }
    if (typeof payload !== "object" || payload === null) return;
    if (event === "text" && typeof payload.text === "string") {
      this.text += payload.text;
    } else if (event === "replace_response" && typeof payload.text === "string") {
      this.text = payload.text;
    } else if (event === "file") {
      const url = safeUrl(payload.url);
      if (url) {
        this.files.push({
          url,
          name: String(payload.name || "attachment"),
          content_type: String(payload.content_type || ""),
          inline_ref: typeof payload.inline_ref === "string" ? payload.inline_ref : null,
        });
      }
    } else if (event === "error") {
      this.fail(typeof payload.text === "string" ? payload.text : "The run failed.");
    } else if (event === "done") {
      this.done = true;
    }
    this.schedule();
  }

  fail(message) {
    this.failed = true;
    const pre = document.createElement("pre");
    pre.textContent = message; // text, never markup
    this.errorBox.append(pre);
    this.errorBox.hidden = false;
  }

  schedule() {
    if (!this.frame) this.frame = requestAnimationFrame(() => this.render());
  }

  render() {
    this.frame = 0;
    const inline = new Map(this.files.filter((f) => f.inline_ref).map((f) => [f.inline_ref, f]));
    const usedRefs = new Set();
    this.output.innerHTML = renderMarkdown(this.text, { files: inline, usedRefs });
    const listed = this.files.filter((f) => !f.inline_ref || !usedRefs.has(f.inline_ref));
    this.filesBox.replaceChildren(...listed.map(fileElement));
    this.filesBox.hidden = listed.length === 0;
  }

  finish() {
    if (this.frame) cancelAnimationFrame(this.frame);
    this.render();
    this.output.classList.remove("streaming", "cursor");
    this.output.removeAttribute("aria-busy");
    if (!this.text && !this.files.length) this.output.hidden = true;
  }
}

function fileElement(file) {
  const box = document.createElement("div");
  box.className = "file";
  if (file.content_type.startsWith("image/")) {
    const image = document.createElement("img");
    image.src = file.url;
    image.alt = file.name;
    image.loading = "lazy";
    image.referrerPolicy = "no-referrer";
    box.append(image);
  }
  const link = document.createElement("a");
  link.href = file.url;
  link.textContent = file.name;
  link.rel = "noopener noreferrer nofollow";
  link.target = "_blank";
  box.append(link);
  return box;
}
