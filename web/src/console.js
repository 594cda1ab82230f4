// The test console as a chat: each message is posted with fetch() together with the
// conversation so far (sent as the query's earlier messages, as Poe does), its attachments
// and parameters; the run's Server-Sent Events (the Poe protocol: meta, text,
// replace_response, file, error, done) are shown as markdown while they stream. Without
// JavaScript the same form posts normally and the server answers with the run's page.

import { renderMarkdown, safeUrl } from "./markdown.js";

const BOT_CALLS_POLL_MS = 1000;

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
  const card = form.closest("[data-console-card]") || document;
  const chat = card.querySelector("[data-chat]");
  const status = card.querySelector("[data-console-status]");
  const runButton = form.querySelector("[data-run]");
  const stopButton = form.querySelector("[data-stop]");
  const newChat = card.querySelector("[data-new-chat]");
  const query = form.querySelector("textarea[name=query]");
  const calls = new CallsView(card, form);
  const history = []; // earlier turns: {role, content, attachments}
  let controller = null;

  stopButton.addEventListener("click", () => controller?.abort());
  newChat.addEventListener("click", () => {
    history.length = 0;
    chat.replaceChildren();
    chat.hidden = true;
    newChat.hidden = true;
    status.textContent = "";
    query.focus();
  });
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    if (!controller) send();
  });
  query.addEventListener("keydown", (event) => {
    if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) {
      event.preventDefault();
      if (!controller) send();
    }
  });
  if (form.dataset.draftSource) {
    document.addEventListener("scriptbots:run-draft", () => {
      if (!controller) send();
    });
  }

  async function send() {
    const text = query.value;
    const body = new FormData(form);
    body.set("history", JSON.stringify(history));
    if (form.dataset.draftSource) {
      const source = document.querySelector(form.dataset.draftSource);
      if (source) body.set("source", source.value);
    }
    const sentFiles = form.querySelector("input[type=file]")?.files || [];
    const user = addTurn(chat, "user", text, Array.from(sentFiles, (f) => f.name));
    const run = new RunView(addTurn(chat, "bot", ""));
    chat.hidden = false;
    user.scrollIntoView({ block: "nearest" });
    controller = new AbortController();
    setRunning(true);
    const started = performance.now();
    const timer = setInterval(() => {
      status.textContent = `Running… ${seconds(started)} s`;
    }, 100);
    status.textContent = "Starting…";
    let runId = null;
    try {
      const response = await fetch(form.action, {
        method: "POST",
        body,
        headers: { Accept: "text/event-stream" },
        credentials: "same-origin",
        signal: controller.signal,
      });
      const type = response.headers.get("content-type") || "";
      if (!response.ok || !type.startsWith("text/event-stream")) {
        run.fail(await describeRefusal(response));
      } else {
        runId = response.headers.get("x-run-id");
        run.sentAttachments = parseAttachments(response.headers.get("x-console-attachments"));
        if (runId && !/^[0-9a-f-]{36}$/i.test(runId)) runId = null;
        calls.watch(runId);
        await readEvents(response.body, run);
      }
    } catch (error) {
      if (error.name === "AbortError") run.stopped = true;
      else run.fail("The connection to the server was lost.");
    } finally {
      clearInterval(timer);
      run.finish();
      calls.stop();
      controller = null;
      setRunning(false);
    }
    const took = `${seconds(started)} s`;
    status.textContent = run.stopped ? `Stopped after ${took}.` : run.failed ? `Failed after ${took}.` : `Done in ${took}.`;
    if (runId) {
      const link = document.createElement("a");
      link.href = `/scripts/${encodeURIComponent(form.dataset.script)}/runs/${runId}`;
      link.textContent = "Transcript";
      status.append(" ", link);
      refreshRecentRuns();
    }
    if (run.started) {
      // The turn joins the conversation the next message is sent with.
      history.push({ role: "user", content: text, attachments: run.sentAttachments });
      history.push({ role: "bot", content: run.text, attachments: run.files.map(({ url, name, content_type }) => ({ url, name, content_type })) });
      query.value = "";
      const fileInput = form.querySelector("input[type=file]");
      if (fileInput) fileInput.value = "";
      newChat.hidden = false;
    } else {
      user.remove(); // never reached the script: not part of the conversation
    }
  }

  function setRunning(running) {
    runButton.disabled = running;
    stopButton.hidden = !running;
    card.setAttribute("aria-busy", running ? "true" : "false");
  }
}

function parseAttachments(header) {
  try {
    const list = JSON.parse(header || "[]");
    return Array.isArray(list) ? list.filter((a) => a && safeUrl(a.url)) : [];
  } catch {
    return [];
  }
}

function seconds(started) {
  return ((performance.now() - started) / 1000).toFixed(1);
}

function addTurn(chat, role, text, fileNames = []) {
  const item = document.createElement("li");
  item.className = `turn ${role}`;
  const who = document.createElement("span");
  who.className = "who";
  who.textContent = role === "user" ? "You" : "Bot";
  item.append(who);
  if (role === "user") {
    item.append(document.createTextNode(text)); // text, never markup
    if (fileNames.length) {
      const files = document.createElement("p");
      files.className = "sent-files";
      files.textContent = `Attached: ${fileNames.join(", ")}`;
      item.append(files);
    }
  }
  chat.append(item);
  return item;
}

/** Replace the page's recent-runs table with a fresh one (no reload). */
async function refreshRecentRuns() {
  const box = document.querySelector("[data-recent-runs]");
  if (!box) return;
  try {
    const response = await fetch(box.dataset.url, { credentials: "same-origin", headers: { Accept: "text/html" } });
    if (!response.ok) return;
    const fresh = new DOMParser().parseFromString(await response.text(), "text/html").querySelector("[data-recent-runs]");
    if (fresh) box.replaceWith(document.importNode(fresh, true));
  } catch {
    // the table stays as it was; a reload shows the runs
  }
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
    else if (type.includes("html")) {
      const page = new DOMParser().parseFromString(await response.text(), "text/html");
      detail = page.querySelector("main p:not(.error-code)")?.textContent || "";
    }
  } catch {
    detail = "";
  }
  return typeof detail === "string" && detail ? detail : `The run could not start (HTTP ${response.status}).`;
}

/** The bot's turn in the chat; every string from the stream is treated as untrusted. */
class RunView {
  constructor(item) {
    this.item = item;
    this.output = document.createElement("div");
    this.output.className = "markdown reply";
    this.filesBox = document.createElement("div");
    this.filesBox.className = "console-files";
    this.filesBox.hidden = true;
    this.errorBox = document.createElement("div");
    this.errorBox.className = "console-error";
    this.errorBox.setAttribute("role", "alert");
    this.errorBox.hidden = true;
    item.append(this.output, this.filesBox, this.errorBox);
    item.classList.add("streaming");
    item.setAttribute("aria-busy", "true"); // read out once complete, not per chunk
    this.output.classList.add("cursor");
    this.text = "";
    this.files = [];
    this.sentAttachments = [];
    this.done = false;
    this.failed = false;
    this.stopped = false;
    this.started = false;
    this.frame = 0;
  }

  apply({ event, data }) {
    let payload = {};
    try {
      payload = data ? JSON.parse(data) : {};
    } catch {
      return; // not an event of the Poe protocol
    }
    if (typeof payload !== "object" || payload === null) return;
    this.started = true;
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
    this.item.classList.remove("streaming");
    this.output.classList.remove("cursor");
    this.item.removeAttribute("aria-busy");
    if (this.stopped) {
      const note = document.createElement("p");
      note.className = "muted";
      note.textContent = "Stopped.";
      this.item.append(note);
    }
  }
}

/** The run's bot calls to the creator's scripts, read from the record while it goes, and
 * its HTTP requests once it ended (they are recorded with its transcript). */
class CallsView {
  constructor(card, form) {
    this.box = card.querySelector("[data-console-calls]");
    this.list = card.querySelector("[data-console-call-list]");
    this.script = form.dataset.script;
    this.timer = null;
  }

  watch(runId) {
    if (!runId || !this.box) return;
    this.runId = runId;
    this.list.replaceChildren();
    this.box.hidden = true;
    this.timer = setInterval(() => this.poll(), BOT_CALLS_POLL_MS);
  }

  async stop() {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    if (!this.runId) return;
    // The run is recorded just after its stream ends: look again while that happens.
    for (const wait of [0, 500, 1500]) {
      await new Promise((resolve) => setTimeout(resolve, wait));
      if (await this.poll()) return;
    }
  }

  async poll() {
    try {
      const url = `/scripts/${encodeURIComponent(this.script)}/runs/${this.runId}/calls`;
      const response = await fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } });
      if (!response.ok) return false;
      const { calls, status } = await response.json();
      const ended = status !== "running";
      if (!Array.isArray(calls) || !calls.length) return ended;
      this.list.replaceChildren(
        ...calls.map((call) => {
          const item = document.createElement("li");
          item.textContent = `${call.kind === "http" ? "HTTP" : "Bot"} ${String(call.target)}: ${String(call.status)}`;
          return item;
        }),
      );
      this.box.hidden = false;
      return ended;
    } catch {
      return false; // the list is a convenience; the transcript has it all
    }
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
