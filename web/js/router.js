// Client-side navigation: every dashboard path serves index.html, so pages swap without reloads.

let renderer = () => {};

export function setRenderer(fn) {
  renderer = fn;
  window.addEventListener("popstate", () => renderer());
}

/** Go to a dashboard URL (path and query) and render it. */
export function navigate(url, { replace = false } = {}) {
  if (replace) history.replaceState(null, "", url);
  else history.pushState(null, "", url);
  renderer();
}

/** Change the query string of the current page without re-rendering it. */
export function setQuery(params) {
  // Commas stay literal so a selection reads /compare?jobs=3,7 as users type it.
  const q = Object.entries(params)
    .map(([k, v]) => `${encodeURIComponent(k)}=${encodeURIComponent(v).replace(/%2C/gi, ",")}`).join("&");
  history.replaceState(null, "", location.pathname + (q ? `?${q}` : ""));
}

// Links marked data-nav (and any same-origin dashboard link inside #app) navigate in place.
document.addEventListener("click", (ev) => {
  const a = ev.target.closest?.("a[data-nav]");
  if (!a || ev.defaultPrevented || ev.button !== 0 || ev.metaKey || ev.ctrlKey || ev.shiftKey) return;
  const url = new URL(a.href, location.href);
  if (url.origin !== location.origin) return;
  ev.preventDefault();
  navigate(url.pathname + url.search);
});
