// Python syntax highlighting for the editor and the read-only listings.
// Tokens are found with one sticky regular expression; every piece of source text is
// HTML-escaped before it is wrapped in a <span class="tok-...">, so the output holds no
// markup but ours, whatever the source contains.

const KEYWORDS = new Set(
  ("False None True and as assert async await break case class continue def del elif else " +
    "except finally for from global if import in is lambda match nonlocal not or pass raise " +
    "return try while with yield").split(" "),
);
const BUILTINS = new Set(
  ("abs all any ascii bin bool bytearray bytes callable chr classmethod complex dict dir " +
    "divmod enumerate filter float format frozenset getattr hasattr hash hex id input int " +
    "isinstance issubclass iter len list map max min next object oct ord pow print property " +
    "range repr reversed round set setattr slice sorted staticmethod str sum super tuple type " +
    "zip self cls Exception ValueError TypeError KeyError IndexError RuntimeError " +
    "NotImplementedError StopIteration AttributeError ImportError").split(" "),
);

// Order matters: comments and strings first, so that '#' or keywords inside them stay theirs.
const TOKEN = new RegExp(
  [
    "(?<comment>#[^\\n]*)",
    // Triple-quoted strings may span lines and may be unterminated while typing.
    "(?<string>(?:[rRbBuUfF]{1,2})?(?:'''[\\s\\S]*?(?:'''|$)|\"\"\"[\\s\\S]*?(?:\"\"\"|$)" +
      "|'(?:\\\\.|[^'\\\\\\n])*(?:'|(?=\\n)|$)|\"(?:\\\\.|[^\"\\\\\\n])*(?:\"|(?=\\n)|$)))",
    "(?<decorator>@[A-Za-z_][\\w.]*)",
    "(?<number>\\b(?:0[xX][0-9a-fA-F_]+|0[oO][0-7_]+|0[bB][01_]+|\\d[\\d_]*\\.?[\\d_]*(?:[eE][+-]?\\d+)?j?)\\b|\\.\\d[\\d_]*(?:[eE][+-]?\\d+)?j?)",
    "(?<name>[A-Za-z_][\\w]*)",
    "(?<other>\\s+|[^\\sA-Za-z_#'\"@\\d.]+|.)",
  ].join("|"),
  "gy",
);

const ESCAPES = { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" };

export function escapeHtml(text) {
  return String(text).replace(/[&<>"']/g, (ch) => ESCAPES[ch]);
}

/** The source as [{type, text}] tokens; types: keyword, builtin, string, number, comment,
 *  def, decorator, poe, or null for plain text. */
export function tokenize(source) {
  const tokens = [];
  TOKEN.lastIndex = 0;
  let previousWord = "";
  while (TOKEN.lastIndex < source.length) {
    const start = TOKEN.lastIndex;
    const match = TOKEN.exec(source);
    if (!match || match[0] === "") {
      // Cannot happen with the catch-all '.', but never loop forever on a regex surprise.
      tokens.push({ type: null, text: source.slice(start) });
      break;
    }
    const groups = match.groups;
    let type = null;
    if (groups.comment !== undefined) type = "comment";
    else if (groups.string !== undefined) type = "string";
    else if (groups.decorator !== undefined) type = "decorator";
    else if (groups.number !== undefined) type = "number";
    else if (groups.name !== undefined) {
      const word = groups.name;
      if (previousWord === "def" || previousWord === "class") type = "def";
      else if (KEYWORDS.has(word)) type = "keyword";
      else if (word === "poe") type = "poe";
      else if (BUILTINS.has(word)) type = "builtin";
    }
    // The word before this one, across spaces only: "def name" and "class Name".
    if (groups.name !== undefined) previousWord = groups.name;
    else if (!/^\s+$/.test(match[0])) previousWord = "";
    const last = tokens[tokens.length - 1];
    if (type === null && last && last.type === null) last.text += match[0];
    else tokens.push({ type, text: match[0] });
  }
  return tokens;
}

/** The source highlighted, as one HTML string per line ("\n" ends a line). */
export function highlightLines(source) {
  const lines = [""];
  for (const token of tokenize(source)) {
    const pieces = token.text.split("\n");
    pieces.forEach((piece, index) => {
      if (index > 0) lines.push("");
      if (piece === "") return;
      const html = escapeHtml(piece);
      lines[lines.length - 1] += token.type ? `<span class="tok-${token.type}">${html}</span>` : html;
    });
  }
  return lines;
}

/** Highlight a read-only listing made of <span class="line"> elements, in place. */
export function highlightListing(pre) {
  const spans = Array.from(pre.querySelectorAll("span.line"));
  const source = spans.map((span) => span.textContent).join("\n");
  const lines = highlightLines(source);
  spans.forEach((span, index) => {
    span.innerHTML = lines[index] ?? "";
  });
}
