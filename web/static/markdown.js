// A small markdown renderer for bot output, which is untrusted.
//
// Safety rules, in this order: every piece of input text is HTML-escaped before any markup
// is added; the only markup is produced here, from a fixed set of tags; link and image
// URLs must be absolute http(s) URLs and are escaped again as attribute values; raw HTML in
// the input is shown as text. Supported: headings, paragraphs (line breaks kept), bold,
// italic, strikethrough, code spans, fenced code blocks, links, bare URLs, lists (nested),
// block quotes, rules, images (http(s) URLs, and ![alt][ref] references to attachments).

import { escapeHtml, highlightLines } from "./highlight.js";

const MAX_DEPTH = 6; // nested lists and quotes beyond this render as text
const PLACEHOLDER = /\u0000(\d+)\u0000/g;

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

/**
 * Render ``text`` to HTML. ``files`` maps an attachment's inline_ref to {url, name,
 * content_type}; the refs used are added to ``usedRefs`` (a Set) when one is given.
 */
export function renderMarkdown(text, { files = new Map(), usedRefs = null } = {}) {
  const source = String(text).replace(/\r\n?/g, "\n").replace(/\u0000/g, "\uFFFD");
  const context = { files, usedRefs: usedRefs || new Set() };
  return renderBlocks(source.split("\n"), context, 0);
}

// -- blocks ---------------------------------------------------------------------------

const FENCE = /^ {0,3}(`{3,}|~{3,})\s*([\w+#.-]*)[^`]*$/;
const HEADING = /^ {0,3}(#{1,6})(?:[ \t]+(.*?))?(?:[ \t]+#+)?[ \t]*$/;
const RULE = /^ {0,3}([-*_])(?:[ \t]*\1){2,}[ \t]*$/;
const QUOTE = /^ {0,3}> ?(.*)$/;
const ITEM = /^( {0,12})([-*+]|\d{1,9}[.)])[ \t]+(.*)$/;

function renderBlocks(lines, context, depth) {
  const out = [];
  let index = 0;
  while (index < lines.length) {
    const line = lines[index];
    if (/^\s*$/.test(line)) {
      index += 1;
      continue;
    }
    let match = line.match(FENCE);
    if (match) {
      const fence = match[1];
      const body = [];
      index += 1;
      while (index < lines.length && !isClosingFence(lines[index], fence)) {
        body.push(lines[index]);
        index += 1;
      }
      index += 1; // the closing fence (or the end)
      out.push(codeBlock(body.join("\n"), match[2].toLowerCase()));
      continue;
    }
    match = line.match(HEADING);
    if (match) {
      const level = match[1].length;
      out.push(`<h${level}>${renderInline(match[2] || "", context)}</h${level}>`);
      index += 1;
      continue;
    }
    if (RULE.test(line)) {
      out.push("<hr>");
      index += 1;
      continue;
    }
    if (QUOTE.test(line) && depth < MAX_DEPTH) {
      const quoted = [];
      while (index < lines.length && QUOTE.test(lines[index])) {
        quoted.push(lines[index].match(QUOTE)[1]);
        index += 1;
      }
      out.push(`<blockquote>${renderBlocks(quoted, context, depth + 1)}</blockquote>`);
      continue;
    }
    match = line.match(ITEM);
    if (match && depth < MAX_DEPTH) {
      const [html, next] = renderList(lines, index, context, depth);
      out.push(html);
      index = next;
      continue;
    }
    const paragraph = [];
    while (index < lines.length && !/^\s*$/.test(lines[index]) && !startsBlock(lines[index])) {
      paragraph.push(lines[index].trim());
      index += 1;
    }
    if (paragraph.length === 0) {
      // A line that starts a block we may not nest any deeper: plain text.
      paragraph.push(lines[index].trim());
      index += 1;
    }
    out.push(`<p>${paragraph.map((part) => renderInline(part, context)).join("<br>\n")}</p>`);
  }
  return out.join("\n");
}

function startsBlock(line) {
  return FENCE.test(line) || HEADING.test(line) || RULE.test(line) || QUOTE.test(line) || ITEM.test(line);
}

function isClosingFence(line, fence) {
  const trimmed = line.trim();
  return trimmed.length >= fence.length && trimmed === fence[0].repeat(trimmed.length);
}

function codeBlock(code, language) {
  const body =
    language === "python" || language === "py"
      ? highlightLines(code).join("\n")
      : escapeHtml(code);
  const cls = /^[a-z0-9+#-]{1,20}$/.test(language) ? ` class="language-${language}"` : "";
  return `<pre><code${cls}>${body}</code></pre>`;
}

function renderList(lines, start, context, depth) {
  const first = lines[start].match(ITEM);
  const indent = first[1].length;
  const ordered = /\d/.test(first[2]);
  const items = [];
  let index = start;
  while (index < lines.length) {
    const match = lines[index].match(ITEM);
    if (!match || match[1].length !== indent || /\d/.test(match[2]) !== ordered) break;
    const body = [match[3]];
    index += 1;
    // The item goes on while lines are indented deeper than its marker (or lazily continue).
    while (index < lines.length) {
      const line = lines[index];
      if (/^\s*$/.test(line)) {
        const next = lines[index + 1];
        if (next !== undefined && leadingSpaces(next) > indent && !/^\s*$/.test(next)) {
          body.push("");
          index += 1;
          continue;
        }
        // A blank line between two items of one list (a "loose" list) does not end it.
        const sibling = next === undefined ? null : next.match(ITEM);
        if (sibling && sibling[1].length === indent && /\d/.test(sibling[2]) === ordered) {
          index += 1;
        }
        break;
      }
      const item = line.match(ITEM);
      if (item && item[1].length <= indent) break;
      if (!item && leadingSpaces(line) <= indent && startsBlock(line)) break;
      body.push(leadingSpaces(line) > indent ? line.slice(Math.min(leadingSpaces(line), indent + 4)) : line.trim());
      index += 1;
    }
    items.push(body);
  }
  const startNumber = ordered ? parseInt(first[2], 10) : 1;
  const tag = ordered ? "ol" : "ul";
  const startAttribute = ordered && startNumber !== 1 ? ` start="${startNumber}"` : "";
  const html = items
    .map((body) => {
      const inner = renderBlocks(body, context, depth + 1);
      // A tight item (one paragraph, perhaps with a nested list) shows without its <p>.
      const tight = inner.match(/^<p>((?:(?!<\/?p>)[\s\S])*)<\/p>(\n<[uo]l[ >][\s\S]*)?$/);
      return `<li>${tight && !(tight[2] || "").includes("<p>") ? tight[1] + (tight[2] || "") : inner}</li>`;
    })
    .join("\n");
  return [`<${tag}${startAttribute}>\n${html}\n</${tag}>`, index];
}

function leadingSpaces(line) {
  return line.match(/^ */)[0].length;
}

// -- inline ---------------------------------------------------------------------------

// One pass finds every construct that makes an element; text between them is escaped.
const INLINE = new RegExp(
  [
    "(?<code>(`{1,10})(?!`)([^`]|[^`][\\s\\S]{0,2000}?[^`])\\2(?!`))",
    "(?<refimage>!\\[([^\\[\\]]{0,500})\\]\\[([^\\[\\]\\s]{1,100})\\])",
    "(?<image>!\\[([^\\[\\]]{0,500})\\]\\(\\s*<?([^\\s()<>]{1,2000})>?(?:\\s+\"[^\"]{0,200}\")?\\s*\\))",
    "(?<link>\\[([^\\[\\]]{1,500})\\]\\(\\s*<?([^\\s()<>]{0,2000}(?:\\([^\\s()<>]{0,200}\\)[^\\s()<>]{0,200})?)>?(?:\\s+\"[^\"]{0,200}\")?\\s*\\))",
    "(?<bare>https?:\\/\\/[^\\s<>\"'`]+)",
  ].join("|"),
  "g",
);

function renderInline(text, context) {
  const made = [];
  const keep = (html) => `\u0000${made.push(html) - 1}\u0000`;
  let escaped = "";
  let last = 0;
  for (const match of text.matchAll(INLINE)) {
    escaped += escapeHtml(text.slice(last, match.index));
    last = match.index + match[0].length;
    const g = match;
    if (g.groups.code !== undefined) {
      escaped += keep(`<code>${escapeHtml(g[3].replace(/^ (.*) $/, "$1"))}</code>`);
    } else if (g.groups.refimage !== undefined) {
      escaped += keep(attachmentHtml(g[5], g[6], context));
    } else if (g.groups.image !== undefined) {
      const url = safeUrl(g[9]);
      escaped += url
        ? keep(`<img src="${escapeHtml(url)}" alt="${escapeHtml(g[8])}" loading="lazy" referrerpolicy="no-referrer">`)
        : escapeHtml(g[8]);
    } else if (g.groups.link !== undefined) {
      const url = safeUrl(g[12]);
      const label = emphasis(escapeHtml(g[11]));
      escaped += url ? keep(anchor(url, label)) : label;
    } else {
      const [url, rest] = trimUrl(g.groups.bare);
      const safe = safeUrl(url);
      escaped += (safe ? keep(anchor(safe, escapeHtml(url))) : escapeHtml(url)) + escapeHtml(rest);
    }
  }
  escaped += escapeHtml(text.slice(last));
  return emphasis(escaped).replace(PLACEHOLDER, (_, n) => made[Number(n)] ?? "");
}

// Applied to escaped text only, so the captured groups can hold no markup but placeholders.
// Spans are bounded, so that hostile output cannot make these patterns take quadratic time.
function emphasis(html) {
  return html
    .replace(/\*\*(?=\S)([^\n]{0,1000}?\S)\*\*/g, "<strong>$1</strong>")
    .replace(/(^|[^\w])__(?=\S)([^\n]{0,1000}?\S)__(?!\w)/g, "$1<strong>$2</strong>")
    .replace(/\*(?=[^\s*])([^*\n]{0,1000}?[^\s*])\*/g, "<em>$1</em>")
    .replace(/(^|[^\w])_(?=[^\s_])([^_\n]{0,1000}?[^\s_])_(?!\w)/g, "$1<em>$2</em>")
    .replace(/~~(?=\S)([^\n]{0,1000}?\S)~~/g, "<del>$1</del>");
}

function anchor(url, labelHtml) {
  return `<a href="${escapeHtml(url)}" rel="noopener noreferrer nofollow" target="_blank">${labelHtml}</a>`;
}

function attachmentHtml(alt, ref, context) {
  const file = context.files.get(ref);
  const url = file ? safeUrl(file.url) : null;
  if (!url) return escapeHtml(alt); // not arrived (yet), or not a web URL
  context.usedRefs.add(ref);
  if (String(file.content_type || "").startsWith("image/")) {
    return `<img src="${escapeHtml(url)}" alt="${escapeHtml(alt || file.name || "")}" loading="lazy" referrerpolicy="no-referrer">`;
  }
  return anchor(url, escapeHtml(alt || file.name || "attachment"));
}

// A bare URL ends before trailing punctuation, and before a ")" it did not open.
function trimUrl(url) {
  let end = url.length;
  while (end > 0 && /[.,;:!?*_~]/.test(url[end - 1])) end -= 1;
  let candidate = url.slice(0, end);
  while (candidate.endsWith(")") && count(candidate, "(") < count(candidate, ")")) {
    candidate = candidate.slice(0, -1);
  }
  return [candidate, url.slice(candidate.length)];
}

function count(text, ch) {
  return text.split(ch).length - 1;
}
