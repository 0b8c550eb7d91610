// Signing in with a name and password (an account an admin made).

import { h, mount, field, errorText } from "../dom.js";
import { post } from "../api.js";

export function render(main, signedIn) {
  const name = h("input", { name: "name", autocomplete: "username", required: true });
  const password = h("input", { name: "password", type: "password", autocomplete: "current-password", required: true });
  const error = h("p", { class: "error-text", role: "alert" });
  const submit = h("button", { class: "primary", type: "submit" }, "Sign in");
  const form = h("form", { class: "panel login", "aria-labelledby": "login-title" },
    h("h1", { id: "login-title" }, "Sign in to Heph"),
    field("Name", name), field("Password", password), error,
    h("div", { class: "row", style: "margin-top:12px" }, submit));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    submit.disabled = true;
    error.textContent = "";
    try {
      signedIn(await post("/api/session", { name: name.value, password: password.value }));
    } catch (e) {
      error.textContent = errorText(e);
      password.select();
    } finally {
      submit.disabled = false;
    }
  });
  mount(main, form);
  name.focus();
}
