// A form made from a JSON Schema object (a connector's connection form, a trigger's
// configuration): one input per property, typed, with its title, help and whether it is
// required. Secrets (`writeOnly`) are password inputs and are never filled in: left empty on
// an edit, they stay as they are.

import { h, field } from "./dom.js";

/**
 * @returns {{element: HTMLElement, read: () => object}} `read` gives the values entered,
 *   leaving out empty optional fields (and empty secrets when `keepSecrets`).
 */
export function schemaForm(schema, values = {}, { keepSecrets = false, prefix = "" } = {}) {
  const properties = (schema && schema.properties) || {};
  const required = new Set((schema && schema.required) || []);
  const readers = [];
  const fields = Object.entries(properties).map(([name, prop]) => {
    const { input, read } = inputFor(name, prop, values[name], keepSecrets);
    input.name = `${prefix}${name}`;
    readers.push([name, read, prop]);
    const isRequired = required.has(name) && !(keepSecrets && prop.writeOnly);
    if (isRequired && input.type !== "checkbox") input.required = true;
    let help = prop.description || "";
    if (keepSecrets && prop.writeOnly) help = (help ? help + " " : "") + "Leave empty to keep the stored value.";
    return field(prop.title || name, input, help, isRequired);
  });
  return {
    element: h("div", {}, fields.length ? fields : h("p", { class: "muted" }, "Nothing to fill in.")),
    read() {
      const out = {};
      for (const [name, read, prop] of readers) {
        const value = read();
        if (value === undefined || value === "") continue;
        if (keepSecrets && prop.writeOnly && !value) continue;
        out[name] = value;
      }
      return out;
    },
  };
}

function inputFor(name, prop, value, keepSecrets) {
  const type = Array.isArray(prop.type) ? prop.type.find((t) => t !== "null") : prop.type;
  if (Array.isArray(prop.enum)) {
    const select = h("select", {},
      h("option", { value: "" }, "—"),
      prop.enum.map((v) => h("option", { value: String(v), selected: String(value ?? prop.default ?? "") === String(v) }, String(v))));
    return { input: select, read: () => (select.value === "" ? undefined : coerce(select.value, type)) };
  }
  if (type === "boolean") {
    const box = h("input", { type: "checkbox", checked: value ?? prop.default ?? false });
    return { input: box, read: () => box.checked };
  }
  if (type === "integer" || type === "number") {
    const input = h("input", { type: "number", step: type === "integer" ? "1" : "any", value: value ?? prop.default ?? "" });
    return { input, read: () => (input.value === "" ? undefined : Number(input.value)) };
  }
  if (type === "object" || type === "array") {
    const area = h("textarea", { rows: 3, placeholder: type === "array" ? "[ ]" : "{ }" });
    area.value = value === undefined ? "" : JSON.stringify(value, null, 2);
    return {
      input: area,
      read: () => {
        if (!area.value.trim()) return undefined;
        try { return JSON.parse(area.value); } catch { throw new Error(`${prop.title || name}: not valid JSON`); }
      },
    };
  }
  const secret = !!prop.writeOnly;
  const input = h("input", {
    type: secret ? "password" : prop.format === "uri" ? "url" : prop.format === "email" ? "email" : "text",
    autocomplete: secret ? "new-password" : "off",
    value: secret && keepSecrets ? "" : value ?? prop.default ?? "",
    placeholder: prop.examples && prop.examples[0] ? String(prop.examples[0]) : null,
  });
  return { input, read: () => input.value.trim() };
}

function coerce(text, type) {
  if (type === "integer" || type === "number") return Number(text);
  if (type === "boolean") return text === "true";
  return text;
}
