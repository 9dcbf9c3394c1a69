// Where a validation `loc` points inside JSON text the user typed, so the error can name its line.
// JSON.parse gives no positions, so this walks the (already valid) text once.

/**
 * Find the deepest prefix of `path` (keys and array indices) present in `text`.
 * Returns {start, end, line, depth} (line from 1) or null when the text is not valid JSON.
 */
export function locate(text, path) {
  const state = { text, i: 0, path, best: null };
  try {
    value(state, 0, true);
  } catch {
    return null;
  }
  if (!state.best) return null;
  const line = text.slice(0, state.best.start).split("\n").length;
  return { ...state.best, line };
}

function skip(st) {
  while (st.i < st.text.length && " \t\r\n".includes(st.text[st.i])) st.i += 1;
}

function value(st, depth, onPath) {
  skip(st);
  const start = st.i;
  const c = st.text[st.i];
  if (c === "{") container(st, depth, onPath, "}");
  else if (c === "[") container(st, depth, onPath, "]");
  else if (c === "\"") string(st);
  else scalar(st);
  if (onPath && (!st.best || depth >= st.best.depth)) st.best = { start, end: st.i, depth };
}

function container(st, depth, onPath, close) {
  st.i += 1;
  skip(st);
  if (st.text[st.i] === close) {
    st.i += 1;
    return;
  }
  for (let index = 0; ; index += 1) {
    skip(st);
    let key = index;
    if (close === "}") {
      key = string(st);
      skip(st);
      expect(st, ":");
    }
    const childOnPath = onPath && depth < st.path.length && String(st.path[depth]) === String(key);
    value(st, depth + 1, childOnPath);
    skip(st);
    if (st.text[st.i] === ",") st.i += 1;
    else return expect(st, close);
  }
}

function string(st) {
  expect(st, "\"");
  const start = st.i;
  while (st.text[st.i] !== "\"") {
    if (st.i >= st.text.length) throw new SyntaxError("unterminated string");
    st.i += st.text[st.i] === "\\" ? 2 : 1;
  }
  st.i += 1;
  return JSON.parse(`"${st.text.slice(start, st.i - 1)}"`);
}

function scalar(st) {
  const start = st.i;
  while (st.i < st.text.length && !",}] \t\r\n".includes(st.text[st.i])) st.i += 1;
  if (st.i === start) throw new SyntaxError("value expected");
}

function expect(st, ch) {
  if (st.text[st.i] !== ch) throw new SyntaxError(`expected ${ch}`);
  st.i += 1;
}

/** The line and column of a JSON.parse SyntaxError, when the engine reports a position. */
export function syntaxErrorLine(text, err) {
  const m = /position (\d+)/.exec(err.message) || /line (\d+) column (\d+)/.exec(err.message);
  if (!m) return null;
  if (m.length === 3) return Number(m[1]);
  return text.slice(0, Number(m[1])).split("\n").length;
}
