// The registry, for admins: search it, read a connector's versions and what each may do,
// and install or upgrade one. A first install (or an upgrade asking for more) is shown for
// review — hosts, sign-in, private network, publisher and digest — and waits for Approve.

import { h, mount, badge, busy, notice, time } from "../dom.js";
import { get, post, seg } from "../api.js";

/** What a version may do, in words. */
export function capabilitiesList(caps) {
  if (!caps) return h("p", { class: "muted" }, "Not listed.");
  return h("ul", { class: "caps" },
    h("li", {}, "Reaches the hosts: ", (caps.hosts || []).length ? caps.hosts.map((x, i) => [i ? ", " : "", h("code", {}, x)]) : "none"),
    h("li", {}, `Signs in with: ${caps.auth || "none"}`),
    h("li", {}, caps.private_network ? "Asks to reach private networks" : "Does not ask for private networks"));
}

/** The review of an install waiting for approval, with its Approve button. */
export function reviewPanel(review, done) {
  const approve = h("button", { class: "primary", onclick: () => busy(approve, async () => {
    await post(`/api/connectors/${seg(review.id)}/approve`);
    notice(`${review.name} ${review.version} is installed`);
    done();
  }) }, `Approve and install ${review.name} ${review.version}`);
  return h("section", { class: "panel", "aria-labelledby": "review-title", "data-review": review.id },
    h("h2", { id: "review-title" }, `Review ${review.name} ${review.version}`),
    h("p", {}, review.description),
    h("p", {}, `Published and signed by ${review.publisher} (key `, h("code", {}, review.key), ")."),
    h("p", { class: "help" }, "Digest ", h("code", {}, review.digest)),
    review.active_version ? h("p", {}, `Upgrades ${review.active_version}.`) : null,
    h("h3", {}, "Once installed it may"), capabilitiesList(review.capabilities),
    review.needs_approval.length ? [h("h3", {}, "Why it needs your approval"), h("ul", {}, review.needs_approval.map((r) => h("li", {}, r)))] : null,
    h("div", { class: "row" }, approve, h("a", { class: "button", href: "#/admin/connectors" }, "Not now")));
}

async function install(name, version, out, done) {
  const answer = await post("/api/connectors/install", { name, version });
  if (answer.status === "awaiting_approval") {
    mount(out, reviewPanel(answer.review, done));
    out.querySelector("button.primary")?.focus();
  } else {
    notice(answer.status === "already_active" ? `${name} ${answer.review.version} was already installed` : `${name} ${answer.review.version} is installed`);
    done();
  }
}

export async function renderSearch(main, ctx) {
  const q = h("input", { type: "search", value: ctx.query.get("q") || "", "aria-label": "Search the registry", placeholder: "name, title, publisher" });
  const results = h("div", {});
  const form = h("form", { class: "row" }, q, h("button", { type: "submit" }, "Search"));
  const search = async () => {
    try {
      const found = await get(`/api/registry/connectors?q=${seg(q.value)}`);
      mount(results, h("p", { class: "help" }, `Registry: ${found.registry}`),
        found.connectors.length ? h("table", {},
          h("thead", {}, h("tr", {}, ["Connector", "Publisher", "Latest", "Installed here", ""].map((t) => h("th", {}, t)))),
          h("tbody", {}, found.connectors.map((c) => h("tr", {},
            h("td", {}, h("a", { href: `#/admin/registry/${seg(c.name)}` }, c.title || c.name), h("div", { class: "help" }, c.description)),
            h("td", {}, c.publisher), h("td", {}, c.latest || "—"),
            h("td", {}, c.installed ? [c.installed.version, " ", badge(c.installed.status)] : "—"),
            h("td", { class: "actions" }, h("a", { class: "button", href: `#/admin/registry/${seg(c.name)}` }, c.installed ? "Versions" : "Review and install"))))))
          : h("p", { class: "muted" }, "Nothing matches."));
    } catch (e) {
      mount(results, h("p", { class: "error-text" }, e.message));
    }
  };
  form.addEventListener("submit", (e) => { e.preventDefault(); search(); });
  mount(main, h("h1", {}, "Registry"), h("div", { class: "panel" }, form, results));
  await search();
}

export async function renderOne(main, ctx, name) {
  const c = await get(`/api/registry/connectors/${seg(name)}`);
  const out = h("div", {});
  const again = () => renderOne(main, ctx, name);
  const installed = c.installed;
  mount(main,
    h("h1", {}, c.title || c.name),
    h("div", { class: "panel" },
      h("p", {}, c.description), h("p", { class: "help" }, `${c.name} · published by ${c.publisher}`),
      installed ? h("p", {}, "Installed here: ", installed.version, " ", badge(installed.status), ` (${installed.source})`) : h("p", {}, "Not installed here."),
      h("h2", {}, "What the latest version may do"), capabilitiesList(c.capabilities),
      h("h2", {}, "Actions and triggers"),
      h("p", {}, `Actions: ${(c.actions || []).map((a) => a.name || a).join(", ") || "none"}`),
      h("p", {}, `Triggers: ${(c.triggers || []).map((t) => t.name || t).join(", ") || "none"}`)),
    out,
    h("section", { class: "panel" }, h("h2", {}, "Versions"),
      h("table", {}, h("thead", {}, h("tr", {}, ["Version", "Published", "Hosts", "Status", ""].map((t) => h("th", {}, t)))),
        h("tbody", {}, (c.versions || []).map((v) => {
          const current = installed && installed.version === v.version && installed.status === "active";
          const button = h("button", { class: current ? "" : "primary", disabled: current || v.yanked, "data-install": v.version,
            onclick: () => busy(button, () => install(c.name, v.version, out, again)) },
            current ? "Installed" : installed ? `Move to ${v.version}` : `Install ${v.version}`);
          return h("tr", {}, h("td", {}, v.version), h("td", {}, time(v.published_at || v.created_at)),
            h("td", {}, ((v.capabilities && v.capabilities.hosts) || []).join(", ")),
            h("td", {}, v.yanked ? badge("yanked") : badge("available")), h("td", { class: "actions" }, button));
        })))));
}
