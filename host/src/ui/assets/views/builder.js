// The scenario builder: the graph on the left, the selected node's settings on the right,
// sample data below. Every change goes into `def`, the same definition the API and the
// YAML files use; Save sends it, and the server's problems come back next to the nodes.

import { h, mount, json, busy, notice, errorText, confirmDialog } from "../dom.js";
import { get, post, put, seg } from "../api.js";
import { drawGraph, parentOf } from "./graph.js";
import { nodeInspector, triggerInspector, NODE_TYPES, newNode } from "./inspector.js";
import { runNow } from "./scenarios.js";

const EMPTY = { name: "", trigger: { type: "manual" }, nodes: [] };

export async function render(main, ctx, id) {
  const [{ connectors }, { connections }, scenario] = await Promise.all([
    get("/api/connectors?limit=1000"), get("/api/connections?limit=200"), id ? get(`/api/scenarios/${seg(id)}`) : null,
  ]);
  // The list leaves out what each connector describes (actions, triggers, schemas).
  const described = await Promise.all(connectors.filter((c) => c.status === "active").map((c) => get(`/api/connectors/${seg(c.id)}`)));
  const state = {
    id: scenario ? scenario.id : null,
    def: structuredClone(scenario ? scenario.definition : EMPTY),
    selected: "trigger",
    adding: null,
    dirty: false,
    catalog: new Map(described.map((c) => [c.id, { ...c, describe: c.describe || { actions: [], triggers: [] } }])),
    connections,
    samples: { trigger: null, trigger_id: null, outputs: {}, source: "" },
  };
  if (state.id) await loadRunSamples(state);

  const name = h("input", { value: state.def.name, id: "scenario-name", required: true, placeholder: "What this scenario does" });
  const description = h("input", { value: state.def.description || "", id: "scenario-description" });
  const graphBox = h("div", {});
  const inspectorBox = h("div", { class: "panel", "aria-live": "polite" });
  const samplesBox = h("div", {});
  const problemsBox = h("div", { role: "alert" });
  const raw = h("textarea", { rows: 16, "aria-label": "The definition as JSON" });
  const changed = () => {
    state.dirty = true;
    state.def.name = name.value;
    if (description.value) state.def.description = description.value; else delete state.def.description;
    drawAll(false);
  };
  name.addEventListener("input", changed);
  description.addEventListener("input", changed);

  const select = (nodeId) => { state.selected = nodeId; state.adding = null; drawAll(true); };
  const add = (parentId) => { state.adding = parentId; state.selected = null; drawAll(true); };

  function drawAll(withInspector) {
    mount(graphBox, drawGraph(state.def, state.selected, { onSelect: select, onAdd: add }));
    raw.value = JSON.stringify(state.def, null, 2);
    if (withInspector) drawInspector();
  }

  function drawInspector() {
    if (state.adding) {
      mount(inspectorBox, h("h2", {}, `Add a node after ${state.adding}`),
        h("div", { class: "row" }, NODE_TYPES.map(([type, label]) =>
          h("button", { type: "button", "data-type": type, onclick: () => insert(state.adding, type) }, label))));
      inspectorBox.querySelector("button")?.focus();
      return;
    }
    if (state.selected === "trigger") {
      mount(inspectorBox, triggerInspector(state, changed));
      return;
    }
    const index = state.def.nodes.findIndex((n) => n.id === state.selected);
    if (index < 0) { mount(inspectorBox, h("p", { class: "muted" }, "Pick a node in the graph, or + to add one.")); return; }
    mount(inspectorBox, nodeInspector(state, index, {
      changed,
      renamed: () => drawAll(false),
      remove: () => removeNode(index),
    }));
  }

  function insert(parentId, type) {
    const node = newNode(type, state);
    const index = parentId === "trigger" ? 0 : state.def.nodes.findIndex((n) => n.id === parentId) + 1;
    const parent = state.def.nodes.find((n) => n.id === parentId);
    if (parent && parent.type === "router") node.after = `${parent.id}.${(parent.routes[0] || { name: "route" }).name}`;
    else if (parentId === "trigger" && index !== 0) node.after = "trigger";
    state.def.nodes.splice(index, 0, node);
    state.selected = node.id;
    state.adding = null;
    changed();
    drawInspector();
  }

  async function removeNode(index) {
    const node = state.def.nodes[index];
    if (!(await confirmDialog(`Remove ${node.id}?`, h("p", {}, "The nodes after it will follow what it followed."), "Remove", true))) return;
    // Make every link explicit, drop the node, point its followers at its parent, then
    // leave out the links that the order already says.
    const links = state.def.nodes.map((_, i) => parentOf(state.def, i));
    const parent = links[index];
    state.def.nodes.splice(index, 1);
    links.splice(index, 1);
    state.def.nodes.forEach((n, i) => {
      let link = links[i];
      if (link === node.id || link.startsWith(`${node.id}.`)) link = parent;
      const implied = i === 0 ? "trigger" : state.def.nodes[i - 1].id;
      if (link === implied) delete n.after; else n.after = link;
    });
    state.selected = "trigger";
    changed();
    drawInspector();
  }

  const save = h("button", { class: "primary", type: "button", onclick: () => busy(save, saveScenario) }, "Save");
  const run = h("button", { type: "button", onclick: () => busy(run, async () => {
    if (!state.id || state.dirty) { if (!(await saveScenario())) return; }
    await runNow(state.id);
  }) }, "Run now");

  async function saveScenario() {
    mount(problemsBox);
    try {
      const saved = state.id ? await put(`/api/scenarios/${seg(state.id)}`, state.def) : await post("/api/scenarios", state.def);
      state.dirty = false;
      notice(`Saved ${saved.name} (version ${saved.version})`);
      if (!state.id) {
        state.id = saved.id;
        history.replaceState(null, "", `#/scenarios/${seg(saved.id)}`);
      }
      return true;
    } catch (e) {
      const problems = (e.details && e.details.problems) || [];
      mount(problemsBox, h("div", { class: "panel" },
        h("p", { class: "error-text" }, problems.length ? `The scenario has ${problems.length} problem(s):` : errorText(e)),
        problems.length ? h("ul", {}, problems.map((p) => h("li", {},
          p.node ? h("button", { type: "button", onclick: () => select(p.node) }, p.node) : "scenario",
          p.field ? ` · ${p.field}: ` : ": ", p.message))) : null));
      return false;
    }
  }

  const testTrigger = h("button", { type: "button", onclick: () => busy(testTrigger, async () => {
    await sampleTrigger(state);
    drawSamples();
    drawInspector();
  }) }, "Test the trigger");

  function drawSamples() {
    const s = state.samples;
    mount(samplesBox,
      h("p", { class: "help" }, s.source || "No sample yet. Test the trigger (or run the scenario) to see real data while mapping."),
      s.trigger !== null ? [h("h3", {}, "trigger"), json(s.trigger)] : null,
      Object.entries(s.outputs).map(([node, output]) => [h("h3", {}, node), json(output)]));
  }

  const applyRaw = h("button", { type: "button", onclick: () => {
    try {
      const parsed = JSON.parse(raw.value);
      if (!parsed || typeof parsed !== "object" || !parsed.trigger) throw new Error("a definition is an object with a trigger");
      parsed.nodes = parsed.nodes || [];
      state.def = parsed;
      name.value = parsed.name || "";
      description.value = parsed.description || "";
      state.dirty = true;
      state.selected = "trigger";
      drawAll(true);
      notice("Applied");
    } catch (e) {
      notice(`Not applied: ${e.message}`, "bad");
    }
  } }, "Apply");

  mount(main,
    h("div", { class: "spread" }, h("h1", {}, state.id ? `Scenario: ${state.def.name}` : "New scenario"),
      h("div", { class: "row" }, save, run, state.id ? h("a", { class: "button", href: `#/runs?scenario=${seg(state.id)}` }, "Runs") : null)),
    h("div", { class: "panel" },
      h("div", { class: "field" }, h("label", { for: "scenario-name", class: "required" }, "Name"), name),
      h("div", { class: "field" }, h("label", { for: "scenario-description" }, "Description"), description)),
    problemsBox,
    h("div", { class: "builder" },
      h("section", { class: "panel", "aria-label": "Graph" }, h("h2", {}, "Graph"),
        h("p", { class: "help" }, "Select a box to configure it; + adds a node after it."), graphBox),
      inspectorBox),
    h("section", { class: "panel", "aria-labelledby": "samples-title" },
      h("div", { class: "spread" }, h("h2", { id: "samples-title" }, "Sample data"), testTrigger), samplesBox),
    h("details", { class: "panel" }, h("summary", {}, "Definition (JSON)"), raw, h("div", { class: "row", style: "margin-top:8px" }, applyRaw)));
  state.drawSamples = drawSamples;
  drawAll(true);
  drawSamples();
}

/** Node outputs of the scenario's last run, as samples for mapping. */
async function loadRunSamples(state) {
  try {
    const { runs } = await get(`/api/runs?scenario=${seg(state.id)}&limit=1`);
    if (!runs.length) return;
    const detail = await get(`/api/runs/${seg(runs[0].id)}?limit=1`);
    const item = detail.items[0];
    if (!item) return;
    for (const step of item.steps) if (step.output !== null && step.output !== undefined) state.samples.outputs[step.node_id] = step.output;
    state.samples.trigger_id = item.item_id;
    state.samples.source = `Outputs of the last run (${runs[0].id}), first item.`;
  } catch {
    /* samples are a help, not a need */
  }
}

/** Reads the trigger's first items through its connection. */
async function sampleTrigger(state) {
  const trigger = state.def.trigger;
  if (trigger.type === "manual") {
    state.samples.trigger = trigger.input ?? {};
    state.samples.trigger_id = "manual";
    state.samples.source = "The manual trigger's input.";
    return;
  }
  if (trigger.type !== "poll") throw new Error("only polling triggers can be tested here; a webhook's sample comes from its first delivery");
  const mine = state.connections.filter((c) => c.connector === trigger.connector);
  const connection = trigger.connection ? mine.find((c) => c.id === trigger.connection || c.name === trigger.connection) : mine[0];
  if (!connection) throw new Error(`connect a ${trigger.connector} account first (Connections)`);
  const answer = await post(`/api/connections/${seg(connection.id)}/triggers/${seg(trigger.trigger)}/sample?limit=3`, trigger.config || {});
  if (!answer.items.length) throw new Error("the trigger found no items to sample");
  state.samples.trigger = answer.items[0].data;
  state.samples.trigger_id = answer.items[0].id;
  state.samples.source = `First of ${answer.items.length} item(s) read from ${connection.name} just now.`;
}

/** What templates of a node read on the sample. */
export function sampleContext(state) {
  return {
    trigger: state.samples.trigger ?? {},
    trigger_id: state.samples.trigger_id ?? "",
    vars: state.def.variables || {},
    ...state.samples.outputs,
  };
}
