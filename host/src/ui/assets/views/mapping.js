// Mapping: each field of a node's input is a template over what came before it. The user
// picks a field of the trigger or of an earlier node (its schema, and a sample value from a
// test of the trigger or the last run), chooses a conversion and a default, and previews the
// mapped result on the sample before saving.

import { h, mount, json, errorText } from "../dom.js";
import { post } from "../api.js";

/** Conversions offered: the engine's filters that turn one value into another. */
export const CONVERSIONS = [
  ["", "as it is"], ["lower", "lower case"], ["upper", "upper case"], ["trim", "trimmed"],
  ["int", "whole number"], ["float", "number"], ["string", "text"], ["date", "date (ISO 8601)"],
  ["strip_tags", "text without HTML"], ["slug", "slug"], ["fromjson", "parsed JSON"],
];
const KNOWN = new Set(CONVERSIONS.map(([f]) => f).filter(Boolean));

/** `{{ base | conversion | default("x") }}` split into its parts; null for other text. */
export function decompose(text) {
  const m = /^\s*\{\{\s*([^{}]*?)\s*\}\}\s*$/.exec(text || "");
  if (!m) return null;
  const parts = m[1].split("|").map((p) => p.trim());
  const out = { base: parts[0], conversion: "", fallback: null };
  for (const part of parts.slice(1)) {
    const d = /^default\((.*)\)$/.exec(part);
    if (d) {
      try { out.fallback = JSON.parse(d[1]); } catch { return null; }
    } else if (KNOWN.has(part) && !out.conversion) out.conversion = part;
    else return null;
  }
  return out;
}

export function compose({ base, conversion, fallback }) {
  let expr = base;
  if (conversion) expr += ` | ${conversion}`;
  if (fallback !== null && fallback !== undefined && fallback !== "") expr += ` | default(${JSON.stringify(fallback)})`;
  return `{{ ${expr} }}`;
}

/** Fields a template may read: [{path, type, sample}], from schemas and samples. */
export function flatten(prefix, schema, sample, out = [], depth = 0) {
  const props = (schema && schema.properties) || {};
  const keys = new Set(Object.keys(props));
  if (sample && typeof sample === "object" && !Array.isArray(sample)) Object.keys(sample).forEach((k) => keys.add(k));
  for (const key of keys) {
    const path = /^[A-Za-z_][A-Za-z0-9_]*$/.test(key) ? `${prefix}.${key}` : `${prefix}[${JSON.stringify(key)}]`;
    const sub = props[key] || {};
    const value = sample && typeof sample === "object" ? sample[key] : undefined;
    const type = sub.type || (value === null ? "null" : Array.isArray(value) ? "array" : typeof value);
    out.push({ path, type: Array.isArray(type) ? type.join("|") : type, sample: value, title: sub.description || "" });
    if (depth < 2 && (type === "object" || (value && typeof value === "object" && !Array.isArray(value)))) {
      flatten(path, sub, value, out, depth + 1);
    }
  }
  return out;
}

function short(value) {
  if (value === undefined) return "";
  const text = typeof value === "string" ? value : JSON.stringify(value);
  return text.length > 60 ? text.slice(0, 59) + "…" : text;
}

/** A picker of the fields a template may read; `choose(path)` gets the one picked. */
function picker(sources, choose, close) {
  const search = h("input", { type: "search", placeholder: "Find a field", "aria-label": "Find a field" });
  const list = h("div", { class: "picker", role: "list" });
  const draw = () => {
    const q = search.value.toLowerCase();
    mount(list, sources.filter((s) => !q || s.path.toLowerCase().includes(q)).map((s) =>
      h("button", { type: "button", role: "listitem", title: s.title || s.path, onclick: () => { choose(s.path); close(); } },
        h("strong", {}, s.path), h("span", {}, s.sample !== undefined ? short(s.sample) : s.type || ""))));
    if (!list.children.length) mount(list, h("p", { class: "muted", style: "padding:6px" }, sources.length ? "No field matches." : "No fields yet: test the trigger to get a sample."));
  };
  search.addEventListener("input", draw);
  search.addEventListener("keydown", (e) => { if (e.key === "Escape") close(); });
  draw();
  setTimeout(() => search.focus(), 0);
  return h("div", {}, search, list);
}

/** One template value: text, a field picker, a conversion and a default. */
export function templateInput(label, initial, sources, onChange) {
  const text = h("input", { value: typeof initial === "string" ? initial : initial === undefined ? "" : JSON.stringify(initial), "aria-label": `${label}: template` });
  const conversion = h("select", { "aria-label": `${label}: conversion` }, CONVERSIONS.map(([v, t]) => h("option", { value: v }, t)));
  const fallback = h("input", { placeholder: "default", size: 8, "aria-label": `${label}: default when empty` });
  const pickArea = h("div", {});
  const sync = () => {
    const parts = decompose(text.value);
    conversion.disabled = fallback.disabled = !parts;
    if (parts) {
      conversion.value = parts.conversion;
      fallback.value = parts.fallback === null ? "" : String(parts.fallback);
    }
  };
  const rebuild = () => {
    const parts = decompose(text.value);
    if (!parts) return;
    text.value = compose({ base: parts.base, conversion: conversion.value, fallback: fallback.value === "" ? null : fallback.value });
    onChange && onChange();
  };
  const pick = h("button", { type: "button", "aria-label": `${label}: insert a field`, onclick: () => {
    if (pickArea.firstChild) { pickArea.replaceChildren(); return; }
    mount(pickArea, picker(sources, (path) => {
      const parts = decompose(text.value);
      if (!text.value.trim() || parts) text.value = compose({ base: path, conversion: parts ? parts.conversion : "", fallback: parts ? parts.fallback : null });
      else text.value += ` {{ ${path} }}`;
      sync();
      onChange && onChange();
    }, () => { pickArea.replaceChildren(); text.focus(); }));
  } }, "Insert field");
  text.addEventListener("input", () => { sync(); onChange && onChange(); });
  conversion.addEventListener("change", rebuild);
  fallback.addEventListener("change", rebuild);
  sync();
  return {
    element: h("div", {}, text, h("div", { class: "tools", style: "margin-top:4px" }, pick, conversion, fallback), pickArea),
    read: () => text.value,
    input: text,
  };
}

/**
 * An object mapping: one row per field of the input schema (required ones first), plus any
 * field the user adds when `free`.
 */
export function mappingEditor({ schema, value, sources, free = false, onChange }) {
  const props = (schema && schema.properties) || {};
  const required = new Set((schema && schema.required) || []);
  const current = value && typeof value === "object" && !Array.isArray(value) ? value : {};
  const names = [...new Set([...Object.keys(props).sort((a, b) => required.has(b) - required.has(a)), ...Object.keys(current)])];
  const rows = [];
  const body = h("div", {});
  const addRow = (name, initial, fixed) => {
    const nameInput = fixed ? null : h("input", { value: name, "aria-label": "Field name", placeholder: "field name" });
    const input = templateInput(name || "new field", initial, sources, onChange);
    const entry = { read: () => [nameInput ? nameInput.value.trim() : name, input.read()] };
    const prop = props[name] || {};
    const el = h("div", { class: "mapping-row" },
      h("div", { class: "name" }, nameInput || h("span", { class: required.has(name) ? "required" : "" }, name),
        prop.description ? h("div", { class: "help" }, prop.description) : null,
        prop.type ? h("div", { class: "help" }, [].concat(prop.type).join("|")) : null),
      input.element,
      h("div", {}, fixed ? null : h("button", { type: "button", class: "danger", "aria-label": `Remove field ${name}`, onclick: () => {
        rows.splice(rows.indexOf(entry), 1); el.remove(); onChange && onChange();
      } }, "×")));
    rows.push(entry);
    body.appendChild(el);
    return input;
  };
  for (const name of names) addRow(name, current[name], !free && name in props);
  const add = free ? h("button", { type: "button", onclick: () => { addRow("", "", false).input.focus(); } }, "Add field") : null;
  return {
    element: h("div", {}, body, add),
    read() {
      const out = {};
      for (const row of rows) {
        const [name, text] = row.read();
        if (name && text !== "") out[name] = text;
      }
      return out;
    },
  };
}

/** "Preview" for a mapping: evaluates it on the sample context and shows the result. */
export function previewButton(readMapping, context, onResult) {
  const out = h("div", { role: "status" });
  const button = h("button", { type: "button", onclick: async () => {
    button.disabled = true;
    try {
      const answer = await post("/api/mappings/preview", { mapping: readMapping(), context: context() });
      mount(out, h("p", { class: "help" }, "Mapped result on the sample:"), json(answer.output));
      onResult && onResult(answer.output);
    } catch (e) {
      mount(out, h("p", { class: "error-text" }, errorText(e)));
    } finally {
      button.disabled = false;
    }
  } }, "Preview on the sample");
  return h("div", { style: "margin-top:10px" }, button, out);
}
