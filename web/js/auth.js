// Signing in with a token: from ?token= in any URL, or from the sign-in form.
import { api, ApiError, getToken, setToken } from "./api.js";
import { h, mount, notice } from "./dom.js";

/** Take ?token=T out of the address bar, keeping the other query parameters; returns T (or null). */
export function takeTokenFromUrl() {
  const params = new URLSearchParams(location.search);
  const token = params.get("token");
  if (token === null) return null;
  params.delete("token");
  const q = params.toString();
  history.replaceState(null, "", location.pathname + (q ? `?${q}` : "") + location.hash);
  return token || null;
}

/**
 * Keep a link's token at once (the next page opened is signed in), then check it: a refused one
 * gives the stored token back, so a wrong link never signs out a good session.
 * Returns {user} when accepted, else {message} saying why it was not.
 */
export async function acceptLinkToken(token) {
  const previous = getToken();
  setToken(token);
  try {
    return { user: await api("/me", { token }) };
  } catch (err) {
    if (!(err instanceof ApiError && err.status === 401)) {
      return { message: `Could not check the token in the link: ${err.message}` };
    }
    setToken(previous);
    return { message: "The token in the link was not accepted." };
  }
}

/** The signed-in user ({id, name, admin}), or null when there is no valid token. */
export async function currentUser() {
  if (!getToken()) return null;
  try {
    return await api("/me");
  } catch (err) {
    if (err instanceof ApiError && err.status === 401) {
      setToken(null);
      return null;
    }
    throw err;
  }
}

/** Show the sign-in form in `root`; onSignedIn(user) runs after a token is accepted. */
export function showSignIn(root, onSignedIn, message) {
  const input = h("input", { id: "token", name: "token", type: "password", autocomplete: "current-password",
    required: true, size: 48, "aria-describedby": "signin-error" });
  const error = h("div", { id: "signin-error" }, message ? notice(message) : null);
  const form = h("form", { class: "card signin", id: "signin-form" },
    h("h1", {}, "Sign in"),
    h("p", { class: "muted" }, "Paste the API token you got from ", h("code", { class: "code" }, "torchyard user create"),
      " (or the admin token)."),
    h("label", { for: "token" }, "Token"), input,
    h("button", { type: "submit" }, "Sign in"), error);
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const token = input.value.trim();
    try {
      const user = await api("/me", { token });
      setToken(token);
      onSignedIn(user);
    } catch (err) {
      const text = err instanceof ApiError && err.status === 401 ? "That token was not accepted." : err.message;
      mount(error, notice(text));
    }
  });
  mount(root, form);
  input.focus();
}
