// Entry point: sign-in, theme, and which page a path shows.
import { setToken, setUnauthorizedHandler } from "./api.js";
import { acceptLinkToken, currentUser, showSignIn, takeTokenFromUrl } from "./auth.js";
import { redrawAll } from "./charts.js";
import { h, mount, notice } from "./dom.js";
import { setRenderer } from "./router.js";
import { comparePage } from "./pages/compare.js";
import { jobPage } from "./pages/job.js";
import { jobsPage } from "./pages/jobs.js";
import { newPage } from "./pages/new.js";

const ROUTES = [
  [/^\/$/, jobsPage],
  [/^\/jobs\/(\d+)\/?$/, jobPage],
  [/^\/compare\/?$/, comparePage],
  [/^\/new\/?$/, newPage],
];

const app = document.getElementById("app");
let cleanup = null;
let user = null;
let generation = 0;
let flash = null; // a message for the next render only (a refused link token)

async function render() {
  cleanup?.();
  cleanup = null;
  const gen = ++generation;
  if (!user) user = await currentUser();
  showUser();
  const message = flash;
  flash = null;
  mount(document.getElementById("banner"),
    user && message ? notice(`${message} You are still signed in as ${user.name}.`) : null);
  if (!user) {
    showSignIn(app, (u) => { user = u; render(); }, message);
    return;
  }
  const match = ROUTES.map(([re, page]) => [re.exec(location.pathname), page]).find(([m]) => m);
  if (!match) {
    mount(app, h("h1", {}, "Not found"), h("p", {}, h("a", { href: "/", "data-nav": true }, "Back to jobs")));
    return;
  }
  const [m, page] = match;
  try {
    const done = await page(app, ...m.slice(1));
    // A newer navigation started while this page loaded: stop its streams at once.
    if (gen === generation) cleanup = done;
    else done?.();
  } catch (err) {
    if (gen === generation) mount(app, notice(`Could not load this page: ${err.message}`));
  }
  highlightNav();
}

function showUser() {
  const who = document.getElementById("whoami");
  who.textContent = user ? `${user.name}${user.admin ? " (admin)" : ""}` : "";
  document.getElementById("sign-out").hidden = !user;
}

function highlightNav() {
  for (const a of document.querySelectorAll(".topbar nav a")) {
    const path = new URL(a.href).pathname;
    const here = path === "/" ? location.pathname === "/" || location.pathname.startsWith("/jobs")
      : location.pathname.startsWith(path);
    if (here) a.setAttribute("aria-current", "page");
    else a.removeAttribute("aria-current");
  }
}

function signOut() {
  setToken(null);
  user = null;
  render();
}

// An explicit choice wins over prefers-color-scheme; without one the CSS media query decides.
function initTheme() {
  const saved = localStorage.getItem("torchyard.theme");
  if (saved) document.documentElement.dataset.theme = saved;
  document.getElementById("theme-toggle").addEventListener("click", () => {
    const dark = document.documentElement.dataset.theme
      ? document.documentElement.dataset.theme === "dark"
      : matchMedia("(prefers-color-scheme: dark)").matches;
    const next = dark ? "light" : "dark";
    document.documentElement.dataset.theme = next;
    localStorage.setItem("torchyard.theme", next);
    redrawAll();
  });
}

async function start() {
  const linkToken = takeTokenFromUrl();
  if (linkToken) ({ user = null, message: flash = null } = await acceptLinkToken(linkToken));
  render();
}

initTheme();
document.getElementById("sign-out").addEventListener("click", signOut);
setUnauthorizedHandler(() => {
  if (!user) return;
  setToken(null);
  user = null;
  render();
});
setRenderer(render);
start();
