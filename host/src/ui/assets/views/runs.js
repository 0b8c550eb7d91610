// Runs: the history with status, duration and item counts; one run's progress while it goes
// (refreshed every second), its events, and each item's steps with input, output, error,
// attempts and the outbound requests they made.

import { h, mount, badge, time, duration, json, busy, notice } from "../dom.js";
import { get, post, seg } from "../api.js";

const LIVE = new Set(["queued", "running"]);

function took(run) {
  if (!run.started_at) return null;
  return (run.finished_at || Date.now()) - run.started_at;
}

const PAGE = 50;

export async function renderList(main, ctx) {
  const scenario = ctx.query.get("scenario");
  const cursor = ctx.query.get("cursor");
  // Links keep the scenario filter; a cursor names the page after the one it came with.
  const pageHref = (next) => {
    const q = new URLSearchParams();
    if (scenario) q.set("scenario", scenario);
    if (next) q.set("cursor", next);
    const text = q.toString();
    return `#/runs${text ? `?${text}` : ""}`;
  };
  const draw = async () => {
    const query = new URLSearchParams({ limit: String(PAGE) });
    if (scenario) query.set("scenario", scenario);
    if (cursor) query.set("cursor", cursor);
    const [{ runs, next_cursor }, { scenarios }] = await Promise.all([
      get(`/api/runs?${query}`), get("/api/scenarios?limit=1000"),
    ]);
    const names = new Map(scenarios.map((s) => [s.id, s.name]));
    mount(main,
      h("h1", {}, scenario ? `Runs of ${names.get(scenario) || scenario}` : "Runs"),
      h("div", { class: "panel" }, runs.length ? h("table", {},
        h("thead", {}, h("tr", {}, ["Run", "Scenario", "Status", "Started", "Duration", "Items done", "Failed", "Skipped", "Pages"].map((t) => h("th", {}, t)))),
        h("tbody", {}, runs.map((r) => h("tr", {},
          h("td", {}, h("a", { href: `#/runs/${seg(r.id)}` }, r.id)),
          h("td", {}, names.get(r.scenario_id) || r.scenario_id),
          h("td", {}, badge(r.status), r.error ? h("div", { class: "help error-text" }, r.error) : null),
          h("td", {}, time(r.started_at || r.created_at)),
          h("td", {}, duration(took(r))),
          h("td", {}, r.items_done), h("td", {}, r.items_failed), h("td", {}, r.items_skipped), h("td", {}, r.pages)))))
        : h("p", { class: "muted" }, "No runs yet."),
        h("nav", { class: "row", "aria-label": "Pages of runs" },
          cursor ? h("a", { href: pageHref(null) }, "← Newest runs") : null,
          next_cursor ? h("a", { href: pageHref(next_cursor), "data-testid": "older-runs" }, "Older runs →") : null)));
    // Only the newest page changes by itself.
    return !cursor && runs.some((r) => LIVE.has(r.status));
  };
  const live = await draw();
  if (live) {
    const timer = setInterval(async () => { if (!(await draw().catch(() => false))) clearInterval(timer); }, 2000);
    ctx.onLeave(() => clearInterval(timer));
  }
}

const ITEMS = 100;

export async function renderOne(main, ctx, id) {
  // The window of items shown: those whose sequence number is above `after`.
  let after = 0;
  let timer = null;
  const draw = async () => {
    const detail = await get(`/api/runs/${seg(id)}?after=${after}&limit=${ITEMS}`);
    const run = detail; // the run's fields, with its events and items
    const scenario = await get(`/api/scenarios/${seg(run.scenario_id)}`).catch(() => null);
    const live = LIVE.has(run.status);
    const cancel = live ? h("button", { class: "danger", onclick: () => busy(cancel, async () => { await post(`/api/runs/${seg(id)}/cancel`); notice("Cancelling: the run stops at its next item"); }) }, "Cancel") : null;
    const processed = run.items_done + run.items_failed + run.items_skipped;
    mount(main,
      h("div", { class: "spread" }, h("h1", {}, `Run ${run.id}`), cancel),
      h("section", { class: "panel", "aria-labelledby": "run-progress" },
        h("h2", { id: "run-progress" }, scenario ? h("a", { href: `#/scenarios/${seg(scenario.id)}` }, scenario.name) : run.scenario_id, " ", badge(run.status)),
        live ? h("div", { class: "progress indeterminate", role: "progressbar", "aria-label": "Run in progress", "aria-valuetext": `${processed} items so far` }, h("div", {})) : null,
        h("div", { class: "counters", "data-testid": "counters" },
          counter("Items done", run.items_done, "items-done"), counter("Failed", run.items_failed, "items-failed"),
          counter("Skipped", run.items_skipped, "items-skipped"), counter("Pages read", run.pages, "pages"),
          counter("Duration", duration(took(run)), "duration"), counter("Attempts", run.attempts, "attempts")),
        run.error ? h("p", { class: "error-text" }, run.error) : null,
        h("p", { class: "help" }, `Trigger: ${run.trigger_kind} · queued `, time(run.created_at), run.finished_at ? [" · finished ", time(run.finished_at)] : null)),
      detail.events.length ? h("section", { class: "panel" }, h("h2", {}, "Events"),
        h("ul", {}, detail.events.map((e) => h("li", {}, time(e.at), ` ${e.level}: ${e.message}`)))) : null,
      itemsView(detail.items, processed, live, after, detail.next_after, (to) => { after = to; draw(); }));
    return live;
  };
  const tick = async () => {
    let live = false;
    try {
      live = await draw();
    } catch (e) {
      // A missed refresh is retried; one that keeps failing says why.
      if (!main.querySelector("[data-counter]")) mount(main, h("p", { class: "error-text" }, e.message));
      live = true;
    }
    timer = live ? setTimeout(tick, 1000) : null;
  };
  ctx.onLeave(() => timer && clearTimeout(timer));
  await tick();
}

// `nextAfter`: the server cut the window short to keep its answer small (large steps).
function itemsView(items, processed, live, after, nextAfter, moveTo) {
  const first = items.length ? items[0].seq : after + 1;
  const last = items.length ? items[items.length - 1].seq : after;
  const range = items.length ? `items ${first}–${last} of ${processed}` : `${processed} items`;
  return h("section", { class: "panel", "aria-labelledby": "run-items" },
    h("h2", { id: "run-items" }, `Items (${range})`),
    items.length ? items.map(itemView) : h("p", { class: "muted" }, live ? "Waiting for the first item…" : "No items here."),
    h("nav", { class: "row", "aria-label": "Pages of items" },
      after > 0 ? h("button", { onclick: () => moveTo(Math.max(0, first - 1 - ITEMS)) }, `← Previous ${ITEMS}`) : null,
      nextAfter != null ? h("button", { onclick: () => moveTo(nextAfter) }, "Next items →")
        : items.length === ITEMS && last < processed ? h("button", { onclick: () => moveTo(last) }, `Next ${ITEMS} →`) : null));
}

function counter(label, value, id) {
  return h("div", { "data-counter": id }, h("strong", {}, String(value)), h("span", { class: "help" }, label));
}

function itemView(item) {
  return h("details", { class: "panel", "data-item": item.item_id },
    h("summary", {}, `#${item.seq} · ${item.item_id} `, badge(item.status), item.error ? h("span", { class: "error-text" }, ` ${item.error}`) : null),
    h("table", {}, h("thead", {}, h("tr", {}, ["Step", "Status", "Attempts", "Time", "Input", "Output / error", "Requests"].map((t) => h("th", {}, t)))),
      h("tbody", {}, item.steps.map((s) => h("tr", { "data-step": s.node_id },
        h("td", {}, s.node_id), h("td", {}, badge(s.status)), h("td", {}, s.attempts),
        h("td", {}, duration(Math.round(s.duration_us / 1000))),
        h("td", {}, s.input === null ? "—" : json(s.input)),
        h("td", {}, s.error ? h("p", { class: "error-text" }, `${s.error_code || "error"}: ${s.error}`) : s.output === null ? "—" : json(s.output)),
        h("td", {}, requestsView(s.requests)))))));
}

function requestsView(requests) {
  if (!Array.isArray(requests) || !requests.length) return "—";
  return h("ul", {}, requests.map((r) => h("li", {}, `${r.method || ""} ${r.url || ""} → ${r.status ?? r.error ?? "?"}`)));
}
