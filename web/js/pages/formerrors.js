// Showing the server's validation errors next to the field (and JSON line) they name.
import { h, mount } from "../dom.js";
import { locate, syntaxErrorLine } from "../jsonpos.js";

const SPEC_ROOTS = ["layers", "generator", "discriminator", "latent_dim"];

/** The path inside the model spec a `loc` names, or null when it names no part of a spec. */
export function specPath(loc) {
  const i = loc.indexOf("spec");
  if (i >= 0) return loc.slice(i + 1);
  const j = loc.findIndex((part) => SPEC_ROOTS.includes(part));
  return j >= 0 ? loc.slice(j) : null;
}

/** Which field of the form an error item belongs to: config, spec, model, dataset or form. */
export function fieldOf(loc) {
  const parts = loc[0] === "body" ? loc.slice(1) : loc;
  if (parts[0] === "config") return "config";
  if (specPath(parts) !== null) return "spec";
  if (parts[0] === "model_id" || parts[0] === "model" || parts[0] === "file") return "model";
  if (parts[0] === "dataset_id" || parts[0] === "dataset" || parts[0] === "target") return "dataset";
  return "form";
}

function pathText(path) {
  return path.map((p) => (typeof p === "number" ? `[${p}]` : `.${p}`)).join("").replace(/^\./, "");
}

/** One message line for an item, naming the line of `text` its path points at. */
export function describe(item, text, path) {
  const where = path && path.length ? pathText(path) : "";
  const at = text !== null && path ? locate(text, path) : null;
  const prefix = [at ? `line ${at.line}` : "", where].filter(Boolean).join(", ");
  return { message: prefix ? `${prefix}: ${item.msg}` : item.msg, at };
}

/** Fill an error slot with messages and mark its control invalid; empty list clears it. */
export function showErrors(slot, control, messages, at = null) {
  mount(slot, messages.length ? h("ul", {}, messages.map((m) => h("li", {}, m))) : null);
  slot.hidden = messages.length === 0;
  if (!control) return;
  if (messages.length) control.setAttribute("aria-invalid", "true");
  else control.removeAttribute("aria-invalid");
  if (at && control.setSelectionRange) {
    control.focus();
    control.setSelectionRange(at.start, at.end);
  }
}

/** Parse JSON from a textarea, reporting a syntax error with its line in `slot`. */
export function parseField(text, slot, control, label) {
  try {
    const value = JSON.parse(text);
    if (typeof value !== "object" || value === null || Array.isArray(value)) {
      showErrors(slot, control, [`${label} must be a JSON object.`]);
      return undefined;
    }
    return value;
  } catch (err) {
    const line = syntaxErrorLine(text, err);
    showErrors(slot, control, [`${label} is not valid JSON${line ? ` (line ${line})` : ""}: ${err.message}`]);
    return undefined;
  }
}
