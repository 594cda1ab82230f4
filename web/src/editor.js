// The code editor of the script form: CodeMirror 6 over the form's own <textarea>, which
// stays in the form (hidden) and always holds the editor's text, so the form submits as it
// does without JavaScript. Compile problems come from the server's check route, the same
// checks as a save; Mod-S saves, Mod-Enter runs the buffer in the console.

import { autocompletion, closeBrackets, closeBracketsKeymap } from "@codemirror/autocomplete";
import { defaultKeymap, history, historyKeymap, indentWithTab } from "@codemirror/commands";
import { pythonLanguage, python } from "@codemirror/lang-python";
import {
  bracketMatching,
  foldGutter,
  HighlightStyle,
  indentOnInput,
  indentUnit,
  syntaxHighlighting,
} from "@codemirror/language";
import { lintGutter, linter, lintKeymap } from "@codemirror/lint";
import { highlightSelectionMatches, search, searchKeymap } from "@codemirror/search";
import { EditorState } from "@codemirror/state";
import {
  crosshairCursor,
  drawSelection,
  EditorView,
  highlightActiveLine,
  highlightActiveLineGutter,
  highlightSpecialChars,
  keymap,
  lineNumbers,
  rectangularSelection,
} from "@codemirror/view";
import { tags } from "@lezer/highlight";

import { checkProblems, completionSource } from "./python-help.js";

const CHECK_DELAY_MS = 600;

// Colours from app.css's variables, so light and dark follow the system.
const highlightStyle = HighlightStyle.define([
  { tag: [tags.keyword, tags.controlKeyword, tags.definitionKeyword, tags.moduleKeyword, tags.operatorKeyword], color: "var(--hl-keyword)" },
  { tag: [tags.standard(tags.variableName), tags.bool, tags.null, tags.self], color: "var(--hl-builtin)" },
  { tag: [tags.string, tags.special(tags.string)], color: "var(--hl-string)" },
  { tag: [tags.number], color: "var(--hl-number)" },
  { tag: [tags.comment, tags.lineComment], color: "var(--hl-comment)", fontStyle: "italic" },
  { tag: [tags.function(tags.definition(tags.variableName)), tags.definition(tags.className)], color: "var(--hl-def)" },
  { tag: [tags.meta], color: "var(--hl-decorator)" },
  { tag: tags.invalid, color: "var(--bad)" },
]);

const theme = EditorView.theme({
  "&": { backgroundColor: "var(--code-bg)", color: "var(--text)", fontSize: "14px", border: "1px solid var(--line)", borderRadius: "8px" },
  "&.cm-focused": { outline: "2px solid var(--accent)", outlineOffset: "1px" },
  ".cm-scroller": { fontFamily: "var(--mono)", lineHeight: "1.5", minHeight: "22em", maxHeight: "75vh" },
  ".cm-content": { caretColor: "var(--text)" },
  ".cm-gutters": { backgroundColor: "var(--code-bg)", color: "var(--muted)", borderRight: "1px solid var(--line)" },
  ".cm-activeLine, .cm-activeLineGutter": { backgroundColor: "color-mix(in srgb, var(--accent) 7%, transparent)" },
  "&.cm-focused > .cm-scroller > .cm-selectionLayer .cm-selectionBackground, .cm-selectionBackground": {
    backgroundColor: "color-mix(in srgb, var(--accent) 25%, transparent)",
  },
  ".cm-tooltip": { backgroundColor: "var(--card)", color: "var(--text)", border: "1px solid var(--line)" },
});

/** The page's CSP nonce for <style> elements (CodeMirror injects its base styles). */
function styleNonce() {
  return document.querySelector('meta[name="style-nonce"]')?.content || "";
}

/** Enhance one ``[data-editor]`` container; returns ``{view, goToLine}`` or null. */
export function enhanceEditor(container) {
  const textarea = container.querySelector("textarea");
  if (!textarea || container.classList.contains("enhanced")) return null;
  const form = textarea.form;
  const words = readWords();
  const initial = textarea.value;
  let submitting = false;

  const save = () => {
    if (!form) return false;
    textarea.value = view.state.doc.toString();
    form.requestSubmit();
    return true;
  };
  const runInConsole = () => {
    textarea.value = view.state.doc.toString();
    document.dispatchEvent(new CustomEvent("scriptbots:run-draft"));
    return true;
  };

  const view = new EditorView({
    parent: container,
    state: EditorState.create({
      doc: textarea.value,
      extensions: [
        EditorView.cspNonce.of(styleNonce()),
        lineNumbers(),
        highlightActiveLineGutter(),
        highlightSpecialChars(),
        history(),
        foldGutter(),
        drawSelection(),
        EditorState.allowMultipleSelections.of(true),
        indentOnInput(),
        indentUnit.of("    "),
        syntaxHighlighting(highlightStyle),
        bracketMatching(),
        closeBrackets(),
        autocompletion({ activateOnTyping: true }),
        rectangularSelection(),
        crosshairCursor(),
        highlightActiveLine(),
        highlightSelectionMatches(),
        search({ top: true }),
        python(),
        pythonLanguage.data.of({ autocomplete: completionSource(words) }),
        linter((v) => checkProblems(v, form), { delay: CHECK_DELAY_MS }),
        lintGutter(),
        keymap.of([
          { key: "Mod-s", run: save, preventDefault: true },
          { key: "Mod-Enter", run: runInConsole, preventDefault: true },
          ...closeBracketsKeymap,
          ...defaultKeymap,
          ...searchKeymap,
          ...historyKeymap,
          ...lintKeymap,
          indentWithTab,
        ]),
        EditorView.updateListener.of((update) => {
          if (update.docChanged) textarea.value = update.state.doc.toString();
        }),
        EditorView.contentAttributes.of({ "aria-label": "Python source", "aria-describedby": "source-help" }),
        theme,
      ],
    }),
  });
  textarea.hidden = true;
  textarea.setAttribute("aria-hidden", "true");
  container.classList.add("enhanced");
  container.editorView = view; // for the page's tests and the problem links

  form?.addEventListener("submit", () => {
    submitting = true;
  });
  window.addEventListener("beforeunload", (event) => {
    if (!submitting && view.state.doc.toString() !== initial) {
      event.preventDefault();
      event.returnValue = ""; // older browsers need it set
    }
  });

  return {
    view,
    /** Put the caret at the start of ``line`` (1-based) and show it. */
    goToLine(line) {
      const doc = view.state.doc;
      const target = doc.line(Math.min(Math.max(line, 1), doc.lines));
      view.dispatch({ selection: { anchor: target.from, head: target.to }, scrollIntoView: true });
      view.focus();
    },
  };
}

function readWords() {
  const data = document.getElementById("editor-words");
  try {
    return data ? JSON.parse(data.textContent) : {};
  } catch {
    return {};
  }
}

function setUpEditors() {
  document.querySelectorAll("[data-editor]").forEach((container) => {
    const editor = enhanceEditor(container);
    const list = container.parentElement.querySelector(".problems");
    if (!editor || !list) return;
    // Each compile error of the last save becomes a link to its line in the editor.
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

setUpEditors();
