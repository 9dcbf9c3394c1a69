// New job: pick or upload a dataset, pick or write a model, edit the config, submit, go watch it.
import { api, ApiError, query } from "../api.js";
import { h, mount, notice } from "../dom.js";
import { navigate } from "../router.js";
import { describe, fieldOf, parseField, showErrors, specPath } from "./formerrors.js";
import { configFields, datasetFields, modelFields } from "./newform.js";

async function resolveDataset(f, datasets) {
  if (f.source.value === "existing") return Number(f.existing.value);
  if (f.source.value === "builtin") {
    const name = f.builtin.value;
    // Builtins are the same data every time; reuse one this user already has.
    const have = datasets.find((d) => d.format === "builtin" && d.name === name);
    return have ? have.id : (await api("/datasets/builtin", { method: "POST", body: { name } })).id;
  }
  const file = f.file.files[0];
  if (!file) throw new FieldError("dataset", "Choose a .csv, .npz or .zip file to upload.");
  const form = new FormData();
  form.append("file", file);
  form.append("name", file.name);
  if (f.target.value.trim()) form.append("target", f.target.value.trim());
  const ds = await api("/datasets", { method: "POST", body: form });
  datasets.push(ds);
  return ds.id;
}

async function resolveModel(f, spec, cache) {
  if (f.source.value === "existing") return Number(f.existing.value);
  if (f.source.value === "python") {
    const file = f.file.files[0];
    if (!file) throw new FieldError("model", "Choose a .py file that defines build_model or Model.");
    const form = new FormData();
    form.append("file", file);
    form.append("name", file.name);
    return (await api("/models", { method: "POST", body: form })).id;
  }
  // Resubmitting an unchanged spec reuses the model created the first time.
  const key = `${f.name.value}\u0000${JSON.stringify(spec)}`;
  if (!cache.has(key)) {
    const model = await api("/models", { method: "POST", body: { name: f.name.value || "model", spec } });
    cache.set(key, model.id);
  }
  return cache.get(key);
}

class FieldError extends Error {
  constructor(field, message) {
    super(message);
    this.field = field;
  }
}

export async function newPage(root) {
  const [datasets, models] = await Promise.all([
    api(`/datasets${query({ limit: 200 })}`).then((b) => b.data),
    api(`/models${query({ limit: 200 })}`).then((b) => b.data)]);
  const ds = datasetFields(datasets);
  const md = modelFields(models);
  const cf = configFields();
  const formError = h("div", { id: "form-error", role: "alert" });
  const submit = h("button", { type: "submit", id: "submit-job" }, "Submit job");
  const form = h("form", { id: "new-job-form", class: "card", novalidate: true },
    h("h1", {}, "New job"), ds.el, md.el, cf.el, submit, formError);
  const created = new Map();
  const slots = {
    dataset: [ds.error, null], model: [md.error, null], spec: [md.specError, md.spec], config: [cf.error, cf.config],
  };
  const clear = () => {
    for (const [slot, control] of Object.values(slots)) showErrors(slot, control, []);
    mount(formError);
  };

  function report(err) {
    if (err instanceof FieldError) return showErrors(...slots[err.field], [err.message]);
    if (!(err instanceof ApiError) || err.items.length === 0) {
      return mount(formError, notice(err.message));
    }
    const grouped = new Map();
    for (const item of err.items) {
      const loc = item.loc || [];
      let field = fieldOf(loc);
      if (field === "spec" && md.source.value !== "spec") field = "model";
      const [text, path] = field === "config" ? [cf.config.value, loc.slice(loc.indexOf("config") + 1)]
        : field === "spec" ? [md.spec.value, specPath(loc)] : [null, null];
      if (!grouped.has(field)) grouped.set(field, []);
      grouped.get(field).push(describe(item, text, path));
    }
    for (const [field, items] of grouped) {
      if (field === "form") mount(formError, notice(items.map((i) => i.message).join("; ")));
      else showErrors(...slots[field], items.map((i) => i.message), items.find((i) => i.at)?.at);
    }
  }

  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    clear();
    const config = parseField(cf.config.value, cf.error, cf.config, "The config");
    const spec = md.source.value === "spec" ? parseField(md.spec.value, md.specError, md.spec, "The spec") : null;
    if (config === undefined || spec === undefined) return;
    submit.disabled = true;
    try {
      const datasetId = await resolveDataset(ds, datasets).catch(tag("dataset"));
      const modelId = await resolveModel(md, spec, created).catch(tag(md.source.value === "spec" ? "spec" : "model"));
      const body = { model_id: modelId, dataset_id: datasetId, config };
      if (cf.name.value.trim()) body.name = cf.name.value.trim();
      const job = await api("/jobs", { method: "POST", body });
      navigate(`/jobs/${job.id}`);
    } catch (err) {
      report(err);
    } finally {
      submit.disabled = false;
    }
  });
  mount(root, form);
  return null;
}

/** A failed dataset or model step is shown at its field; spec errors keep their loc for the line. */
function tag(field) {
  return (err) => {
    if (err instanceof ApiError && (field !== "spec" || err.items.length === 0)) {
      throw new FieldError(field, err.message);
    }
    throw err;
  };
}
