// The code editor: the form's own <textarea>, made transparent over a highlighted <pre>,
// with a line-number gutter. Without JavaScript the plain textarea remains and submits the
// same field. Tab indents (Shift+Tab dedents); after Escape, Tab moves focus as usual.

import { highlightLines } from "./highlight.js";

const INDENT = "    ";

export function enhanceEditor(container, problemLines = new Map()) {
  const textarea = container.querySelector("textarea");
  if (!textarea || container.classList.contains("enhanced")) return null;

  const gutter = document.createElement("div");
  gutter.className = "editor-gutter";
  gutter.setAttribute("aria-hidden", "true");
  const stage = document.createElement("div");
  stage.className = "editor-stage";
  const highlight = document.createElement("pre");
  highlight.className = "editor-highlight";
  highlight.setAttribute("aria-hidden", "true");
  const code = document.createElement("code");
  highlight.append(code);

  textarea.before(gutter, stage);
  stage.append(highlight, textarea);
  container.classList.add("enhanced");

  let lineCount = -1;
  let scheduled = false;
  let tabLeaves = false;

  function render() {
    scheduled = false;
    const lines = highlightLines(textarea.value);
    code.innerHTML = lines
      .map((html, index) => {
        const problem = problemLines.get(index + 1);
        return problem ? `<span class="problem-mark">${html || " "}</span>` : html;
      })
      .join("\n") + "\n\n"; // room for the textarea's last line and scrollbar
    if (lines.length !== lineCount) {
      lineCount = lines.length;
      const numbers = [];
      for (let line = 1; line <= lineCount; line += 1) {
        const problem = problemLines.get(line);
        numbers.push(
          problem
            ? `<span class="has-problem" title="">${line}</span>`
            : `<span>${line}</span>`,
        );
      }
      gutter.innerHTML = numbers.join("") + "<span></span><span></span>";
      // Titles are set as text, never as markup: messages quote the creator's source.
      gutter.querySelectorAll("span.has-problem").forEach((span) => {
        span.title = problemLines.get(Number(span.textContent)) || "";
      });
    }
    syncScroll();
  }

  function schedule() {
    if (!scheduled) {
      scheduled = true;
      requestAnimationFrame(render);
    }
  }

  function syncScroll() {
    highlight.scrollTop = textarea.scrollTop;
    highlight.scrollLeft = textarea.scrollLeft;
    gutter.scrollTop = textarea.scrollTop;
  }

  function replaceSelection(text, selectStart, selectEnd) {
    textarea.focus();
    // execCommand keeps the browser's undo history; setRangeText is the fallback.
    if (!document.execCommand || !document.execCommand("insertText", false, text)) {
      textarea.setRangeText(text, textarea.selectionStart, textarea.selectionEnd, "end");
      textarea.dispatchEvent(new Event("input", { bubbles: true }));
    }
    if (selectStart !== undefined) textarea.setSelectionRange(selectStart, selectEnd);
  }

  function selectedLines() {
    const value = textarea.value;
    const start = value.lastIndexOf("\n", textarea.selectionStart - 1) + 1;
    let end = value.indexOf("\n", Math.max(textarea.selectionEnd - 1, textarea.selectionStart));
    if (end === -1) end = value.length;
    return { start, end, text: value.slice(start, end) };
  }

  function indent(outdent) {
    const { selectionStart, selectionEnd, value } = textarea;
    const multiline = value.slice(selectionStart, selectionEnd).includes("\n");
    if (!outdent && !multiline) {
      const column = selectionStart - (value.lastIndexOf("\n", selectionStart - 1) + 1);
      replaceSelection(INDENT.slice(column % INDENT.length));
      return;
    }
    const block = selectedLines();
    const changed = block.text
      .split("\n")
      .map((line) => (outdent ? line.replace(/^( {1,4}|\t)/, "") : INDENT + line))
      .join("\n");
    textarea.setSelectionRange(block.start, block.end);
    replaceSelection(changed, block.start, block.start + changed.length);
  }

  function newline() {
    const { selectionStart, value } = textarea;
    const lineStart = value.lastIndexOf("\n", selectionStart - 1) + 1;
    const before = value.slice(lineStart, selectionStart);
    let leading = before.match(/^[ \t]*/)[0];
    if (/:\s*(#.*)?$/.test(before)) leading += INDENT;
    replaceSelection("\n" + leading);
  }

  textarea.addEventListener("keydown", (event) => {
    if (event.key === "Escape") {
      tabLeaves = true;
      return;
    }
    if (event.key === "Tab" && !tabLeaves && !event.ctrlKey && !event.altKey && !event.metaKey) {
      event.preventDefault();
      indent(event.shiftKey);
      return;
    }
    if (event.key !== "Tab") tabLeaves = false;
    if (event.key === "Enter" && !event.shiftKey && !event.ctrlKey && !event.metaKey && !event.isComposing) {
      event.preventDefault();
      newline();
    }
  });
  textarea.addEventListener("blur", () => {
    tabLeaves = false;
  });
  textarea.addEventListener("input", schedule);
  textarea.addEventListener("scroll", syncScroll);
  render();

  return {
    textarea,
    /** Put the caret at the start of ``line`` (1-based) and show it. */
    goToLine(line) {
      const lines = textarea.value.split("\n");
      const target = Math.min(Math.max(line, 1), lines.length);
      let offset = 0;
      for (let index = 0; index < target - 1; index += 1) offset += lines[index].length + 1;
      textarea.focus();
      textarea.setSelectionRange(offset, offset + lines[target - 1].length);
      const lineHeight = parseFloat(getComputedStyle(textarea).lineHeight) || 21;
      textarea.scrollTop = Math.max(0, (target - 3) * lineHeight);
      syncScroll();
    },
  };
}
