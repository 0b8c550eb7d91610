// The builder's right-hand panel: the settings of the trigger or of one node, each field
// made from what the connector describes (its triggers' configuration, its actions' input
// schemas) and mapped with the mapping editor.

import { h, mount, field } from "../dom.js";
import { schemaForm } from "../schema_form.js";
import { mappingEditor, templateInput, previewButton, flatten } from "./mapping.js";
import { parentOf } from "./graph.js";
import { sampleContext } from "./builder.js";

export const NODE_TYPES = [
  ["action", "Connector action"], ["store", "Data store"], ["transform", "Transform"],
  ["filter", "Filter"], ["router", "Router"], ["iterator", "Iterator"], ["delay", "Delay"],
];

/** A new node of a type, with an id no other node has. */
export function newNode(type, state) {
  let n = 1;
  while (state.def.nodes.some((node) => node.id === `${type}${n}`)) n++;
  const id = `${type}${n}`;
  const firstAction = [...state.catalog.values()].find((c) => (c.describe.actions || []).length);
  switch (type) {
    case "action": return { id, type, connector: firstAction ? firstAction.id : "", action: firstAction ? firstAction.describe.actions[0].name : "", input: {} };
    case "store": return { id, type, op: "upsert", collection: "records", key: "{{ trigger_id }}", record: "{{ trigger }}" };
    case "transform": return { id, type, output: {} };
    case "filter": return { id, type, condition: "" };
    case "router": return { id, type, routes: [{ name: "yes", when: "" }, { name: "otherwise" }] };
    case "iterator": return { id, type, over: "{{ trigger.items }}" };
    default: return { id, type: "delay", seconds: 5 };
  }
}

function select(label, options, value, onChange, id) {
  const el = h("select", { id }, options.map(([v, t]) => h("option", { value: v, selected: v === value }, t)));
  el.addEventListener("change", () => onChange(el.value));
  return field(label, el);
}

function text(label, value, onChange, help, attrs = {}) {
  const el = h("input", { value: value ?? "", ...attrs });
  el.addEventListener("input", () => onChange(el.value));
  return field(label, el, help);
}

function connectionChoice(state, connector, value, onChange) {
  const mine = state.connections.filter((c) => c.connector === connector);
  return select("Connection", [["", mine.length ? "the only one / the first" : "— connect an account first —"], ...mine.map((c) => [c.id, c.name])],
    value || "", (v) => onChange(v || undefined));
}

/** The fields a node's templates can read: the trigger's, then earlier nodes' outputs. */
export function sourcesFor(state, index) {
  const def = state.def;
  const t = def.trigger;
  const triggerSpec = t.connector && state.catalog.get(t.connector)
    ? (state.catalog.get(t.connector).describe.triggers || []).find((x) => x.name === t.trigger) : null;
  const out = [{ path: "trigger_id", type: "string", sample: state.samples.trigger_id ?? undefined, title: "The item's id" }];
  out.push({ path: "trigger", type: "object", sample: undefined, title: "The whole trigger item" });
  flatten("trigger", triggerSpec ? triggerSpec.output : null, state.samples.trigger, out);
  for (const [k, v] of Object.entries(def.variables || {})) out.push({ path: `vars.${k}`, type: typeof v, sample: v });
  def.nodes.slice(0, index).forEach((node) => {
    let schema = null;
    if (node.type === "action") {
      const c = state.catalog.get(node.connector);
      const action = c && (c.describe.actions || []).find((a) => a.name === node.action);
      schema = action ? action.output : null;
    } else if (node.type === "transform") {
      schema = { properties: Object.fromEntries(Object.keys(node.output || {}).map((k) => [k, {}])) };
    }
    out.push({ path: node.id, type: "object", sample: state.samples.outputs[node.id], title: `The output of ${node.id}` });
    flatten(node.id, schema, state.samples.outputs[node.id], out);
  });
  return out;
}

export function triggerInspector(state, changed) {
  const t = state.def.trigger;
  const box = h("div", {});
  const redraw = () => mount(box, ...triggerFields());
  const set = (key, value) => {
    if (value === undefined || value === "") delete t[key]; else t[key] = value;
    changed();
  };
  function triggerFields() {
    const kinds = select("Starts", [["manual", "When started by hand"], ["schedule", "On a schedule"], ["poll", "When a connector has new items"], ["webhook", "When a webhook is called"]], t.type, (v) => {
      for (const k of Object.keys(t)) delete t[k];
      t.type = v;
      if (v === "poll") {
        const c = [...state.catalog.values()].find((x) => (x.describe.triggers || []).some((tr) => tr.kind === "poll"));
        if (c) { t.connector = c.id; t.trigger = c.describe.triggers.find((tr) => tr.kind === "poll").name; t.every = "15m"; }
      }
      if (v === "schedule") t.cron = "0 * * * *";
      changed();
      redraw();
    }, "trigger-type");
    const fields = [kinds];
    if (t.type === "schedule") {
      fields.push(text("Cron schedule", t.cron, (v) => set("cron", v), "Five fields: minute hour day month weekday, such as */15 * * * *"));
      fields.push(text("Time zone", t.timezone, (v) => set("timezone", v), "An IANA zone such as Europe/Paris (default UTC)"));
    }
    if (t.type === "poll" || t.type === "webhook") {
      const kind = t.type;
      const withTriggers = [...state.catalog.values()].filter((c) => (c.describe.triggers || []).some((tr) => tr.kind === kind));
      fields.push(select("Connector", [[kind === "webhook" ? "" : t.connector || "", kind === "webhook" ? "none: the body is the item" : "—"], ...withTriggers.map((c) => [c.id, c.name])]
        .filter((o, i, all) => all.findIndex((x) => x[0] === o[0]) === i), t.connector || "", (v) => {
        set("connector", v);
        const c = state.catalog.get(v);
        const first = c ? c.describe.triggers.find((tr) => tr.kind === kind) : null;
        set("trigger", first ? first.name : undefined);
        delete t.config;
        delete t.connection;
        redraw();
      }, "trigger-connector"));
      const c = state.catalog.get(t.connector);
      if (c) {
        const triggers = c.describe.triggers.filter((tr) => tr.kind === kind);
        fields.push(select("Trigger", triggers.map((tr) => [tr.name, tr.title || tr.name]), t.trigger, (v) => { set("trigger", v); delete t.config; redraw(); }, "trigger-name"));
        const spec = triggers.find((tr) => tr.name === t.trigger);
        if (spec && spec.description) fields.push(h("p", { class: "help" }, spec.description));
        fields.push(connectionChoice(state, t.connector, t.connection, (v) => set("connection", v)));
        if (spec && spec.config && Object.keys(spec.config.properties || {}).length) {
          const form = schemaForm(spec.config, t.config || {}, { prefix: "config." });
          form.element.addEventListener("input", () => { try { const v = form.read(); if (Object.keys(v).length) t.config = v; else delete t.config; changed(); } catch { /* half-typed */ } });
          form.element.addEventListener("change", () => form.element.dispatchEvent(new Event("input")));
          fields.push(h("h3", {}, "Configuration"), form.element);
        }
      }
      if (kind === "poll") fields.push(text("Every", t.every, (v) => set("every", v), "How often to look for new items when the scenario is enabled: 30s, 15m, 1h"));
    }
    if (t.type === "manual") {
      const area = h("textarea", { rows: 4 });
      area.value = t.input === undefined ? "" : JSON.stringify(t.input, null, 2);
      area.addEventListener("change", () => { try { set("input", area.value.trim() ? JSON.parse(area.value) : undefined); } catch { area.setCustomValidity("not valid JSON"); area.reportValidity(); } });
      fields.push(field("Input item (JSON)", area, "The item a run gets when started without one."));
    }
    return fields;
  }
  redraw();
  return h("div", {}, h("h2", {}, "Trigger"), box);
}

export function nodeInspector(state, index, { changed, renamed, remove }) {
  const node = state.def.nodes[index];
  const sources = sourcesFor(state, index);
  const context = () => sampleContext(state);
  const set = (key, value) => {
    if (value === undefined || value === "") delete node[key]; else node[key] = value;
    changed();
  };
  const idInput = h("input", { value: node.id, pattern: "[A-Za-z_][A-Za-z0-9_]*" });
  idInput.addEventListener("change", () => {
    const old = node.id, id = idInput.value.trim();
    if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(id) || state.def.nodes.some((n) => n !== node && n.id === id)) {
      idInput.setCustomValidity("letters, digits and _, not used by another node");
      idInput.reportValidity();
      return;
    }
    idInput.setCustomValidity("");
    node.id = id;
    for (const n of state.def.nodes) if (n.after && (n.after === old || n.after.startsWith(`${old}.`))) n.after = id + n.after.slice(old.length);
    state.selected = id;
    changed();
    renamed();
  });
  const follows = [["trigger", "the trigger"]];
  state.def.nodes.forEach((n) => {
    if (n === node) return;
    if (n.type === "router") (n.routes || []).forEach((r) => follows.push([`${n.id}.${r.name}`, `${n.id} → ${r.name}`]));
    else follows.push([n.id, n.id]);
  });
  const common = [
    h("div", { class: "spread" }, h("h2", {}, `${node.type}: ${node.id}`), h("button", { type: "button", class: "danger", onclick: remove }, "Remove")),
    field("Id (templates read its output by this name)", idInput),
    select("Follows", follows, parentOf(state.def, index), (v) => {
      const implied = index === 0 ? "trigger" : state.def.nodes[index - 1].id;
      if (v === implied) delete node.after; else node.after = v;
      changed();
    }),
  ];
  const specific = h("div", {});
  const draw = () => mount(specific, ...fieldsFor(node));
  function fieldsFor(node) {
    switch (node.type) {
      case "action": {
        const withActions = [...state.catalog.values()].filter((c) => (c.describe.actions || []).length);
        const c = state.catalog.get(node.connector);
        const action = c && c.describe.actions.find((a) => a.name === node.action);
        const editor = action ? mappingEditor({ schema: action.input, value: node.input, sources, free: !action.input || !action.input.properties, onChange: () => set("input", editor.read()) }) : null;
        return [
          select("Connector", withActions.map((x) => [x.id, x.name]), node.connector, (v) => {
            node.connector = v;
            node.action = state.catalog.get(v).describe.actions[0].name;
            node.input = {};
            delete node.connection;
            changed();
            draw();
          }),
          c ? select("Action", c.describe.actions.map((a) => [a.name, a.title || a.name]), node.action, (v) => { node.action = v; node.input = {}; changed(); draw(); }) : null,
          action && action.description ? h("p", { class: "help" }, action.description) : null,
          c ? connectionChoice(state, node.connector, node.connection, (v) => set("connection", v)) : null,
          editor ? [h("h3", {}, "Input"), editor.element, previewButton(() => editor.read(), context)] : null,
        ];
      }
      case "transform": {
        const editor = mappingEditor({ schema: null, value: node.output, sources, free: true, onChange: () => { node.output = editor.read(); changed(); } });
        const all = h("button", { type: "button", onclick: () => {
          const fields = sources.filter((s) => /^trigger\.[A-Za-z_][A-Za-z0-9_]*$/.test(s.path));
          node.output = Object.assign(Object.fromEntries(fields.map((s) => [s.path.slice(8), `{{ ${s.path} }}`])), node.output);
          changed();
          draw();
        } }, "Map every trigger field");
        return [h("h3", {}, "Output fields"), editor.element, all,
          previewButton(() => editor.read(), context, (output) => { state.samples.outputs[node.id] = output; state.drawSamples && state.drawSamples(); })];
      }
      case "store": {
        const out = [
          select("Operation", [["upsert", "Save (insert or replace)"], ["get", "Read one"], ["delete", "Delete one"], ["list", "List"]], node.op, (v) => { set("op", v); draw(); }),
          text("Collection", node.collection, (v) => set("collection", v), "Records are grouped in named collections, such as users."),
        ];
        if (node.op !== "list") {
          const key = templateInput("Key", node.key, sources, () => set("key", key.read()));
          out.push(field("Key", key.input), key.element);
        }
        if (node.op === "upsert") {
          if (typeof node.record === "object" && node.record !== null) {
            const editor = mappingEditor({ schema: null, value: node.record, sources, free: true, onChange: () => { node.record = editor.read(); changed(); } });
            out.push(h("h3", {}, "Record fields"), editor.element, previewButton(() => editor.read(), context));
          } else {
            const record = templateInput("Record", node.record, sources, () => set("record", record.read()));
            out.push(field("Record (one value, such as the output of a transform)", record.input), record.element,
              h("button", { type: "button", onclick: () => { node.record = {}; changed(); draw(); } }, "Map fields one by one"),
              previewButton(() => record.read(), context));
          }
          const merge = h("input", { type: "checkbox", checked: !!node.merge });
          merge.addEventListener("change", () => set("merge", merge.checked || undefined));
          out.push(h("div", { class: "row" }, merge, h("span", {}, "Merge into the stored record instead of replacing it")));
        }
        return out;
      }
      case "filter": {
        const cond = templateInput("Condition", node.condition, sources, () => set("condition", cond.read()));
        return [field("Go on only when", cond.input, "Such as trigger.status == 'publish'"), cond.element, previewButton(() => cond.read(), context)];
      }
      case "iterator": {
        const over = templateInput("Over", node.over, sources, () => set("over", over.read()));
        return [field("For each element of", over.input, "One expression giving a list"), over.element];
      }
      case "delay":
        return [text("Seconds", node.seconds, (v) => set("seconds", /^\d+$/.test(v) ? Number(v) : v), "A number, or a template giving one; at most 3600", { inputmode: "numeric" })];
      case "router": {
        const rows = (node.routes || []).map((route, i) => h("div", { class: "row" },
          h("input", { value: route.name, "aria-label": `Route ${i + 1} name`, oninput: (e) => { route.name = e.target.value; changed(); } }),
          h("input", { value: route.when || "", placeholder: "condition (empty: when no other route ran)", "aria-label": `Route ${i + 1} condition`, oninput: (e) => { if (e.target.value) route.when = e.target.value; else delete route.when; changed(); } }),
          h("button", { type: "button", class: "danger", "aria-label": `Remove route ${route.name}`, onclick: () => { node.routes.splice(i, 1); changed(); draw(); } }, "×")));
        return [h("h3", {}, "Routes"), rows, h("button", { type: "button", onclick: () => { node.routes.push({ name: `route${node.routes.length + 1}`, when: "" }); changed(); draw(); } }, "Add route")];
      }
      default:
        return [h("p", { class: "muted" }, "This node has no settings here; edit it in the JSON below.")];
    }
  }
  draw();
  const onError = select("When it fails for good", [["stop", "Stop the run"], ["skip", "Skip the item"], ["continue", "Go on with the error as output"]], node.on_error || "stop",
    (v) => set("on_error", v === "stop" ? undefined : v));
  return h("div", {}, common, specific, h("h3", {}, "Errors"), onError);
}
