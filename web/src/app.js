// Progressive enhancement of the server-rendered pages; every page works without it.
// Bundled by `make assets` (web/build.mjs) into static/dist.

import { enhanceConsole } from "./console.js";
import { renderMarkdown, safeUrl } from "./markdown.js";
import { setUpCopyButtons } from "./page.js";

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
        files.set(item.dataset.inlineRef, { url, name: item.dataset.name, content_type: item.dataset.contentType });
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

setUpCopyButtons();
renderTranscripts();
document.querySelectorAll("form[data-console]").forEach(enhanceConsole);
