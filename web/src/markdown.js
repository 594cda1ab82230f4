// Bot output as markdown: markdown-it (CommonMark + GFM tables, strikethrough, task lists,
// bare links) renders, DOMPurify sanitises what it rendered. Bot output is untrusted: raw
// HTML in it is shown as text (html: false), links and images must be http(s) (or an
// attachment of the run, by its inline_ref), and no attribute can carry script or style.

import DOMPurify from "dompurify";
import MarkdownIt from "markdown-it";
import taskLists from "markdown-it-task-lists";

const markdown = new MarkdownIt({ html: false, linkify: true, breaks: true }).use(taskLists, {
  enabled: false,
});

/** An absolute http(s) URL, or null. */
export function safeUrl(raw) {
  if (typeof raw !== "string" || !/^https?:\/\//i.test(raw)) return null;
  try {
    const url = new URL(raw);
    return url.protocol === "http:" || url.protocol === "https:" ? url.href : null;
  } catch {
    return null;
  }
}

DOMPurify.addHook("afterSanitizeAttributes", (node) => {
  if (node.tagName === "A") {
    const url = safeUrl(node.getAttribute("href"));
    if (url) {
      node.setAttribute("href", url);
      node.setAttribute("rel", "noopener noreferrer nofollow");
      node.setAttribute("target", "_blank");
    } else {
      node.removeAttribute("href");
    }
  } else if (node.tagName === "INPUT") {
    // Only the task lists' check boxes, and only to look at.
    if (node.getAttribute("type") === "checkbox") node.setAttribute("disabled", "");
    else node.remove();
  } else if (node.tagName === "IMG") {
    const url = safeUrl(node.getAttribute("src"));
    if (url) {
      node.setAttribute("src", url);
      node.setAttribute("referrerpolicy", "no-referrer");
      node.setAttribute("loading", "lazy");
    } else {
      node.removeAttribute("src");
    }
  }
});

const PURIFY = {
  FORBID_TAGS: ["style", "form", "button", "textarea", "select"],
  FORBID_ATTR: ["style", "id", "name"],
  ALLOW_DATA_ATTR: false,
};

/**
 * ``text`` as sanitised HTML. ``files`` maps an attachment's inline_ref to {url, ...}:
 * ``![alt][ref]`` shows it; the refs shown are added to ``usedRefs`` when one is given.
 */
export function renderMarkdown(text, { files = new Map(), usedRefs = null } = {}) {
  let source = String(text);
  const definitions = [];
  for (const [ref, file] of files) {
    const url = safeUrl(file.url);
    if (url && /^[\w.-]+$/.test(ref)) definitions.push(`[${ref}]: <${url}>`);
  }
  if (definitions.length) source += `\n\n${definitions.join("\n")}\n`;
  const html = DOMPurify.sanitize(markdown.render(source), PURIFY);
  if (usedRefs) {
    for (const [ref, file] of files) if (html.includes(escapeAttribute(file.url))) usedRefs.add(ref);
  }
  return html;
}

function escapeAttribute(value) {
  return String(value).replace(/&/g, "&amp;").replace(/"/g, "&quot;");
}
