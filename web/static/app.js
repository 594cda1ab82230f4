// Progressive enhancement of the server-rendered pages; every page works without it.

import { enhanceConsole } from "./console.js";
import { enhanceEditor } from "./editor.js";
import { highlightListing } from "./highlight.js";
import { renderMarkdown, safeUrl } from "./markdown.js";

function setUpEditors() {
  document.querySelectorAll("[data-editor]").forEach((container) => {
    const problems = new Map();
    const list = container.parentElement.querySelector(".problems");
    list?.querySelectorAll("li[data-line]").forEach((item) => {
      const line = Number(item.dataset.line);
      const message = item.textContent.trim().replace(/\s+/g, " ");
      problems.set(line, problems.has(line) ? `${problems.get(line)}\n${message}` : message);
    });
    const editor = enhanceEditor(container, problems);
    if (!editor || !list) return;
    // Each compile error becomes a link to its line in the editor.
    list.querySelectorAll("li[data-line]").forEach((item) => {
      const where = item.querySelector(".where");
      if (!where) return;
      const link = document.createElement("a");
      link.href = "#source";
      link.textContent = where.textContent;
      link.addEventListener("click", (event) => {
        event.preventDefault();
        editor.goToLine(Number(item.dataset.line));
      });
      where.replaceChildren(link);
    });
  });
}

function setUpCopyButtons() {
  if (!navigator.clipboard) return; // only on https or localhost
  document.querySelectorAll("button[data-copy]").forEach((button) => {
    const source = document.querySelector(button.dataset.copy);
    if (!source) return;
    button.hidden = false;
    button.addEventListener("click", async () => {
      try {
        await navigator.clipboard.writeText(source.value ?? source.textContent);
        button.textContent = "Copied";
      } catch {
        source.select?.();
        button.textContent = "Press Ctrl+C";
      }
      setTimeout(() => {
        button.textContent = "Copy";
      }, 1500);
    });
  });
}

// A finished run's page shows the response as plain text; render it as markdown here.
function renderTranscripts() {
  document.querySelectorAll("[data-markdown-source]").forEach((box) => {
    const plain = box.querySelector(".plain-response");
    if (!plain) return;
    const files = new Map();
    const items = Array.from(document.querySelectorAll("li[data-file]"));
    for (const item of items) {
      const url = safeUrl(item.dataset.url);
      if (url && item.dataset.inlineRef) {
        files.set(item.dataset.inlineRef, {
          url,
          name: item.dataset.name,
          content_type: item.dataset.contentType,
        });
      }
    }
    const usedRefs = new Set();
    box.innerHTML = renderMarkdown(plain.textContent, { files, usedRefs });
    box.classList.add("markdown");
    // Attachments shown inline in the text need not be listed again.
    for (const item of items) {
      if (item.dataset.inlineRef && usedRefs.has(item.dataset.inlineRef)) item.hidden = true;
    }
  });
}

setUpEditors();
setUpCopyButtons();
document.querySelectorAll("pre[data-highlight]").forEach(highlightListing);
renderTranscripts();
document.querySelectorAll("form[data-console]").forEach(enhanceConsole);
