// Small DOM builders so pages read as structure instead of createElement chains.

/**
 * Create an element. attrs: properties/attributes; "on*" functions become listeners,
 * "dataset"/"style" objects are merged, booleans toggle attributes.
 */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key.startsWith("on") && typeof value === "function") {
      el.addEventListener(key.slice(2).toLowerCase(), value);
    } else if (key === "dataset" || key === "style") {
      Object.assign(el[key], value);
    } else if (key === "class") {
      el.className = value;
    } else if (key in el && typeof value !== "string") {
      el[key] = value;
    } else {
      el.setAttribute(key, value === true ? "" : String(value));
    }
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

/** Replace all children of el. */
export function mount(el, ...children) {
  el.replaceChildren();
  append(el, children);
  return el;
}

/** A titled section with an id, used by every page. */
export function section(title, id, ...children) {
  return h("section", { class: "card", id }, h("h2", {}, title), ...children);
}

/** A table header row of column titles. */
export function thead(columns) {
  return h("thead", {}, h("tr", {}, columns.map((c) => h("th", { scope: "col" }, c))));
}

/** An inline alert; kind is "error" or "info". */
export function notice(text, kind = "error", attrs = {}) {
  return h("p", { class: `notice ${kind}`, role: kind === "error" ? "alert" : "status", ...attrs }, text);
}
