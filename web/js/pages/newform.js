// The controls of the new-job form; new.js wires them to the API.
import { h } from "../dom.js";

export const BUILTINS = ["digits", "iris", "wine", "breast_cancer", "diabetes"];

export const DEFAULT_CONFIG = {
  task: null, epochs: 10, max_steps: null, batch_size: 64, optimizer: { type: "Adam", lr: 0.001 },
  loss: null, scheduler: null, val_fraction: 0.2, seed: 0, shuffle: true, drop_last: false, normalize: true,
  num_workers: 0, pin_memory: null, device: "auto", precision: "32", compile: false, grad_clip_norm: null,
  grad_accum_steps: 1, checkpoint_every_epochs: 1, checkpoint_every_steps: null, keep_checkpoints: 3,
  early_stopping: null, log_every_steps: 1, gpus: null, max_restarts: 3, init_from: null, freeze: [],
};

export const DEFAULT_SPEC = {
  layers: [{ type: "Linear", out_features: 64 }, { type: "ReLU" }, { type: "Linear", out_features: 10 }],
};

/** A group of radio buttons choosing which of several panels is active. */
function choice(name, options, initial, onPick) {
  return h("div", { class: "choice", role: "radiogroup", "aria-label": name },
    options.map(([value, label]) => h("label", {},
      h("input", { type: "radio", name, value, checked: value === initial, onchange: () => onPick(value) }),
      ` ${label}`)));
}

function panelSwitch(name, options, initial, panels) {
  const show = (value) => {
    for (const [key, el] of Object.entries(panels)) el.hidden = key !== value;
  };
  show(initial);
  let current = initial;
  const el = choice(name, options, initial, (v) => { current = v; show(v); });
  return { el, get value() { return current; } };
}

const errorSlot = (id) => h("div", { id, class: "field-error", role: "alert", hidden: true });

export function datasetFields(datasets) {
  const f = {
    existing: h("select", { id: "dataset-select", "aria-label": "Dataset" },
      datasets.map((d) => h("option", { value: d.id },
        `${d.name} #${d.id} (${d.num_samples} samples, [${d.input_shape}])`))),
    builtin: h("select", { id: "builtin-select", "aria-label": "Builtin dataset" },
      BUILTINS.map((n) => h("option", { value: n }, n))),
    file: h("input", { type: "file", id: "dataset-file", accept: ".csv,.npz,.zip", "aria-label": "Dataset file" }),
    target: h("input", { id: "dataset-target", placeholder: "target column (CSV; default last)",
      "aria-label": "Target column" }),
    error: errorSlot("dataset-error"),
  };
  const panels = { existing: h("div", {}, f.existing), builtin: h("div", {}, f.builtin),
    upload: h("div", {}, f.file, " ", f.target) };
  const options = [["builtin", "builtin"], ["upload", "upload a file"]];
  if (datasets.length) options.unshift(["existing", "existing"]);
  f.source = panelSwitch("dataset-source", options, "builtin", panels);
  f.el = h("fieldset", { id: "dataset-fieldset" }, h("legend", {}, "Dataset"), f.source.el,
    Object.values(panels), f.error);
  return f;
}

export function modelFields(models) {
  const f = {
    existing: h("select", { id: "model-select", "aria-label": "Model" },
      models.map((m) => h("option", { value: m.id }, `${m.name} #${m.id} (${m.kind})`))),
    name: h("input", { id: "model-name", value: "model", "aria-label": "Model name" }),
    spec: h("textarea", { id: "model-spec", rows: 14, spellcheck: false, class: "code",
      "aria-label": "Model spec (JSON)", "aria-describedby": "spec-error" }),
    file: h("input", { type: "file", id: "model-file", accept: ".py", "aria-label": "Python model file" }),
    specError: errorSlot("spec-error"),
    error: errorSlot("model-error"),
  };
  f.spec.value = JSON.stringify(DEFAULT_SPEC, null, 2);
  const panels = {
    spec: h("div", {}, h("label", {}, "Name ", f.name), f.spec, f.specError),
    existing: h("div", {}, f.existing), python: h("div", {}, f.file),
  };
  const options = [["spec", "write a spec"], ["python", "upload a .py file"]];
  if (models.length) options.push(["existing", "existing"]);
  f.source = panelSwitch("model-source", options, "spec", panels);
  f.el = h("fieldset", { id: "model-fieldset" }, h("legend", {}, "Model"), f.source.el, Object.values(panels), f.error);
  return f;
}

export function configFields() {
  const f = {
    name: h("input", { id: "job-name", placeholder: "optional", "aria-label": "Job name" }),
    config: h("textarea", { id: "job-config", rows: 16, spellcheck: false, class: "code",
      "aria-label": "Config (JSON)", "aria-describedby": "config-error" }),
    error: errorSlot("config-error"),
  };
  f.config.value = JSON.stringify(DEFAULT_CONFIG, null, 2);
  f.el = h("fieldset", { id: "config-fieldset" }, h("legend", {}, "Job"),
    h("label", {}, "Name ", f.name), h("p", { class: "muted" }, "Config (every key optional; these are the defaults)"),
    f.config, f.error);
  return f;
}
