// What the editor knows of a script's world: completions of the `poe` namespace and of the
// importable modules (the word list the server writes into the page from the sandbox's
// policy), and compile problems from the server's check route (the checks of a save).

import { csrfToken } from "./page.js";

const POE_MEMBER = /\bpoe\.(\w*)$/;
const IMPORT_LINE = /^\s*(?:from|import)\s+([\w.]*)$/;
const IMPORT_LIST = /^\s*import\s+(?:[\w.]+\s*(?:as\s+\w+\s*)?,\s*)+([\w.]*)$/;

/** A CompletionSource over ``words`` ({poe: [{label, type, detail, info}], modules: [...]}). */
export function completionSource(words) {
  const poe = (words.poe || []).map((w) => ({ ...w, boost: w.label.startsWith("_") ? -1 : 0 }));
  const modules = (words.modules || []).map((label) => ({ label, type: "namespace" }));
  return (context) => {
    const line = context.state.doc.lineAt(context.pos);
    const before = line.text.slice(0, context.pos - line.from);
    const member = POE_MEMBER.exec(before);
    if (member) {
      return { from: context.pos - member[1].length, options: poe, validFor: /^\w*$/ };
    }
    const imported = IMPORT_LINE.exec(before) || IMPORT_LIST.exec(before);
    if (imported) {
      const typed = imported[1];
      return { from: context.pos - typed.length, options: modules, validFor: /^[\w.]*$/ };
    }
    return null;
  };
}

let pending = null;

/** The check route's problems for the editor's text, as CodeMirror diagnostics. */
export async function checkProblems(view, form) {
  if (!form?.dataset.checkUrl) return [];
  pending?.abort(); // only the newest text matters
  const controller = new AbortController();
  pending = controller;
  const body = new FormData();
  const text = view.state.doc.toString();
  body.set("source", text);
  const name = form.querySelector("input[name=name]")?.value || form.dataset.scriptName || "";
  body.set("name", name);
  let problems;
  try {
    const response = await fetch(form.dataset.checkUrl, {
      method: "POST",
      body,
      headers: { Accept: "application/json", "X-CSRF-Token": csrfToken(form) },
      credentials: "same-origin",
      signal: controller.signal,
    });
    if (!response.ok) return [];
    problems = (await response.json()).problems;
  } catch {
    return []; // offline, aborted, or the page expired: the save still checks
  }
  if (!Array.isArray(problems) || view.state.doc.toString() !== text) return [];
  const doc = view.state.doc;
  return problems.map((problem) => {
    const number = Math.min(Math.max(Number(problem.line) || 1, 1), doc.lines);
    const line = doc.line(number);
    // From the column to the line's end; a problem past the end marks the whole line.
    let from = Math.min(line.from + Math.max(Number(problem.col) || 1, 1) - 1, line.to);
    if (from === line.to) from = line.from;
    const to = line.to;
    return { from, to, severity: "error", message: String(problem.message), source: "compile" };
  });
}
