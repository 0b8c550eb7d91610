//! Mappings: JSON values whose strings are minijinja templates over the trigger item, earlier
//! nodes' outputs and the scenario's variables.
//!
//! A string that is exactly one expression (`"{{ trigger.id }}"`) keeps the expression's JSON
//! type: a number stays a number, an object an object, a missing value is `null`. Any other
//! string with a template in it renders to text; a string without one is kept as it is.
//!
//! Each scenario compiles its templates once into its own [`Templates`]; evaluating a mapping
//! then costs a lookup and a render per string, not a parse.

use std::collections::BTreeSet;

use minijinja::value::Value as JinjaValue;
use minijinja::{Environment, Error, ErrorKind, State, UndefinedBehavior};
use serde_json::{Map, Value};

use super::filters;
use super::template_budget::within_budget;

/// Name of the function that hands an expression's value back to the host.
const KEEP: &str = "__heph_keep";

/// Enough for any sane mapping; stops a template that would loop for ever.
const FUEL: u64 = 2_000_000;

/// A compiled mapping.
#[derive(Debug, Clone)]
pub enum Mapping {
    /// A value with no template in it.
    Literal(Value),
    /// One expression: its value keeps its type. Holds the template's name.
    Expression(String),
    /// Text with templates in it. Holds the template's name.
    Text(String),
    /// An object of mappings.
    Object(Vec<(String, Mapping)>),
    /// An array of mappings.
    Array(Vec<Mapping>),
}

/// A scenario's compiled templates.
pub struct Templates {
    env: Environment<'static>,
    /// Top-level names each template reads, by template name.
    references: std::collections::HashMap<String, BTreeSet<String>>,
    count: usize,
}

impl std::fmt::Debug for Templates {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Templates")
            .field("count", &self.count)
            .finish()
    }
}

impl Default for Templates {
    fn default() -> Self {
        Templates::new()
    }
}

impl Templates {
    /// An environment with heph's filters and functions.
    pub fn new() -> Templates {
        let mut env = Environment::new();
        env.set_undefined_behavior(UndefinedBehavior::Chainable);
        env.set_fuel(Some(FUEL));
        env.add_function(KEEP, |state: &State, value: JinjaValue| {
            state.set_temp(KEEP, value);
            String::new()
        });
        filters::register(&mut env);
        Templates {
            env,
            references: Default::default(),
            count: 0,
        }
    }

    /// Compiles a mapping. On failure: each bad string's JSON path and what is wrong.
    pub fn compile(&mut self, value: &Value) -> Result<Mapping, Vec<(String, String)>> {
        let (mapping, problems) = self.compile_all(value);
        if problems.is_empty() {
            Ok(mapping)
        } else {
            Err(problems)
        }
    }

    /// Compiles what compiles (a bad string becomes `null`), and lists the bad strings with
    /// their JSON paths: checking goes on with the rest of the mapping.
    pub fn compile_all(&mut self, value: &Value) -> (Mapping, Vec<(String, String)>) {
        let mut problems = Vec::new();
        let mapping = self.compile_at(value, String::new(), &mut problems);
        (mapping, problems)
    }

    fn compile_at(
        &mut self,
        value: &Value,
        path: String,
        problems: &mut Vec<(String, String)>,
    ) -> Mapping {
        match value {
            Value::String(text) => match self.compile_str(text) {
                Ok(mapping) => mapping,
                Err(message) => {
                    problems.push((path, message));
                    Mapping::Literal(Value::Null)
                }
            },
            Value::Object(map) if map.values().any(has_template) => Mapping::Object(
                map.iter()
                    .map(|(k, v)| {
                        let at = if path.is_empty() {
                            k.clone()
                        } else {
                            format!("{path}.{k}")
                        };
                        (k.clone(), self.compile_at(v, at, problems))
                    })
                    .collect(),
            ),
            Value::Array(list) if list.iter().any(has_template) => Mapping::Array(
                list.iter()
                    .enumerate()
                    .map(|(i, v)| self.compile_at(v, format!("{path}[{i}]"), problems))
                    .collect(),
            ),
            other => Mapping::Literal(other.clone()),
        }
    }

    /// Compiles one string.
    pub fn compile_str(&mut self, text: &str) -> Result<Mapping, String> {
        if !is_template(text) {
            return Ok(Mapping::Literal(Value::String(text.to_string())));
        }
        let (source, single) = match single_expression(text) {
            Some(inner) => (format!("{{{{ {KEEP}(({inner})) }}}}"), true),
            None => (text.to_string(), false),
        };
        let name = self.add(source).map_err(|e| describe_error(&e))?;
        Ok(if single {
            Mapping::Expression(name)
        } else {
            Mapping::Text(name)
        })
    }

    /// Compiles a condition: a bare expression (`trigger.status == 'publish'`) or a template.
    pub fn compile_condition(&mut self, text: &str) -> Result<Mapping, String> {
        if is_template(text) {
            self.compile_str(text)
        } else if text.trim().is_empty() {
            Err("the condition is empty".into())
        } else {
            self.compile_str(&format!("{{{{ {text} }}}}"))
        }
    }

    fn add(&mut self, source: String) -> Result<String, Error> {
        let name = format!("t{}", self.count);
        self.env.add_template_owned(name.clone(), source)?;
        self.count += 1;
        let names = self
            .env
            .get_template(&name)?
            .undeclared_variables(false)
            .into_iter()
            // The environment's own functions (`range`, `namespace`, `now`) are not data.
            .filter(|n| n != KEEP && !self.env.globals().any(|(global, _)| global == n))
            .collect();
        self.references.insert(name.clone(), names);
        Ok(name)
    }

    /// The top-level names a mapping reads (`trigger`, `vars`, node ids).
    pub fn references(&self, mapping: &Mapping) -> BTreeSet<String> {
        let mut names = BTreeSet::new();
        self.collect(mapping, &mut names);
        names
    }

    fn collect(&self, mapping: &Mapping, names: &mut BTreeSet<String>) {
        match mapping {
            Mapping::Literal(_) => {}
            Mapping::Expression(name) | Mapping::Text(name) => {
                if let Some(found) = self.references.get(name) {
                    names.extend(found.iter().cloned());
                }
            }
            Mapping::Object(fields) => fields.iter().for_each(|(_, m)| self.collect(m, names)),
            Mapping::Array(list) => list.iter().for_each(|m| self.collect(m, names)),
        }
    }

    /// Evaluates a mapping in a context, within the instruction budget (fuel) and the
    /// memory budget ([`super::template_budget`]).
    pub fn eval(&self, mapping: &Mapping, context: &JinjaValue) -> Result<Value, String> {
        match mapping {
            Mapping::Literal(value) => Ok(value.clone()),
            Mapping::Expression(name) => {
                let template = self
                    .env
                    .get_template(name)
                    .map_err(|e| describe_error(&e))?;
                let captured = within_budget(|| template.render_captured(context))
                    .map_err(|e| describe_error(&e))?;
                let value = captured
                    .state()
                    .get_temp(KEEP)
                    .unwrap_or(JinjaValue::UNDEFINED);
                to_json(&value)
            }
            Mapping::Text(name) => {
                let template = self
                    .env
                    .get_template(name)
                    .map_err(|e| describe_error(&e))?;
                within_budget(|| template.render(context))
                    .map(Value::String)
                    .map_err(|e| describe_error(&e))
            }
            Mapping::Object(fields) => {
                let mut out = Map::with_capacity(fields.len());
                for (key, field) in fields {
                    out.insert(
                        key.clone(),
                        self.eval(field, context)
                            .map_err(|e| format!("{key}: {e}"))?,
                    );
                }
                Ok(Value::Object(out))
            }
            Mapping::Array(list) => list
                .iter()
                .map(|m| self.eval(m, context))
                .collect::<Result<Vec<_>, _>>()
                .map(Value::Array),
        }
    }

    /// Evaluates a condition: true when its value is truthy (a non-empty string other than
    /// `false`/`0`, a non-zero number, a non-empty list or object, `true`).
    pub fn truthy(&self, mapping: &Mapping, context: &JinjaValue) -> Result<bool, String> {
        Ok(match self.eval(mapping, context)? {
            Value::Null => false,
            Value::Bool(b) => b,
            Value::Number(n) => n.as_f64().is_some_and(|f| f != 0.0),
            Value::String(s) => {
                let s = s.trim();
                !(s.is_empty() || s.eq_ignore_ascii_case("false") || s == "0")
            }
            Value::Array(a) => !a.is_empty(),
            Value::Object(o) => !o.is_empty(),
        })
    }
}

/// Whether a string holds template syntax.
pub fn is_template(text: &str) -> bool {
    text.contains("{{") || text.contains("{%")
}

fn has_template(value: &Value) -> bool {
    match value {
        Value::String(s) => is_template(s),
        Value::Array(list) => list.iter().any(has_template),
        Value::Object(map) => map.values().any(has_template),
        _ => false,
    }
}

/// The inner expression of a string that is exactly `{{ expression }}`.
fn single_expression(text: &str) -> Option<&str> {
    let inner = text.trim().strip_prefix("{{")?.strip_suffix("}}")?;
    let inner = inner.strip_prefix('-').unwrap_or(inner);
    let inner = inner.strip_suffix('-').unwrap_or(inner);
    if inner.contains("{{") || inner.contains("}}") || inner.contains("{%") {
        return None;
    }
    Some(inner.trim())
}

/// A template value as JSON: undefined and none are `null`.
fn to_json(value: &JinjaValue) -> Result<Value, String> {
    if value.is_undefined() || value.is_none() {
        return Ok(Value::Null);
    }
    serde_json::to_value(value).map_err(|e| format!("the value cannot be JSON: {e}"))
}

/// A template error in one line, with its position when it has one.
pub fn describe_error(error: &Error) -> String {
    let mut message = match error.kind() {
        ErrorKind::SyntaxError => format!("template syntax: {}", error.detail().unwrap_or("")),
        ErrorKind::OutOfFuel => "the template did too much work (an endless loop?)".into(),
        _ => error.to_string(),
    };
    if let Some(line) = error.line() {
        if error.kind() == ErrorKind::SyntaxError {
            message.push_str(&format!(" (line {line})"));
        }
    }
    message
        .replace(&format!("{KEEP}(("), "")
        .replace("(in t", "(in template t")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn eval(template: &str, context: Value) -> Value {
        let mut t = Templates::new();
        let mapping = t.compile(&json!(template)).expect("compiles");
        t.eval(&mapping, &JinjaValue::from_serialize(&context))
            .expect("evaluates")
    }

    #[test]
    fn a_single_expression_keeps_its_type() {
        let ctx =
            json!({"trigger": {"id": 7, "tags": [1, 2], "author": {"name": "Zoë"}, "ok": true}});
        assert_eq!(eval("{{ trigger.id }}", ctx.clone()), json!(7));
        assert_eq!(eval(" {{ trigger.tags }} ", ctx.clone()), json!([1, 2]));
        assert_eq!(
            eval("{{ trigger.author }}", ctx.clone()),
            json!({"name": "Zoë"})
        );
        assert_eq!(eval("{{ trigger.ok }}", ctx.clone()), json!(true));
        assert_eq!(
            eval("{{ trigger.missing.deeper }}", ctx.clone()),
            Value::Null
        );
        assert_eq!(eval("id {{ trigger.id }}", ctx.clone()), json!("id 7"));
        assert_eq!(
            eval("{{ trigger.id }}{{ trigger.id }}", ctx.clone()),
            json!("77")
        );
        assert_eq!(eval("plain", ctx), json!("plain"));
    }

    #[test]
    fn objects_and_arrays_map_field_by_field() {
        let mut t = Templates::new();
        let mapping = t
            .compile(&json!({"a": "{{ x | int }}", "b": ["{{ x }}", 3], "c": {"d": "lit"}}))
            .unwrap();
        let out = t
            .eval(&mapping, &JinjaValue::from_serialize(json!({"x": "42"})))
            .unwrap();
        assert_eq!(out, json!({"a": 42, "b": ["42", 3], "c": {"d": "lit"}}));
        assert_eq!(
            t.references(&mapping).into_iter().collect::<Vec<_>>(),
            vec!["x"]
        );
    }

    #[test]
    fn syntax_errors_name_the_path() {
        let mut t = Templates::new();
        let problems = t
            .compile(&json!({"ok": "{{ a }}", "bad": {"deep": "{{ a | }}"}}))
            .unwrap_err();
        assert_eq!(problems.len(), 1);
        assert_eq!(problems[0].0, "bad.deep");
        assert!(problems[0].1.contains("syntax"), "{}", problems[0].1);
    }

    #[test]
    fn conditions() {
        let mut t = Templates::new();
        let c = t.compile_condition("trigger.status == 'publish'").unwrap();
        let yes = JinjaValue::from_serialize(json!({"trigger": {"status": "publish"}}));
        let no = JinjaValue::from_serialize(json!({"trigger": {"status": "draft"}}));
        assert!(t.truthy(&c, &yes).unwrap());
        assert!(!t.truthy(&c, &no).unwrap());
    }

    #[test]
    fn templates_that_build_too_much_stop_at_the_memory_budget() {
        let mut t = Templates::new();
        for template in [
            // Doubling in a loop: 2^40 bytes if nothing stopped it.
            "{% set ns = namespace(s='x') %}{% for i in range(40) %}{% set ns.s = ns.s ~ ns.s %}{% endfor %}{{ ns.s | length }}",
            // Repeats of the largest repeat, kept as one expression's value.
            "{{ ('x' * 1000000) ~ ('x' * 1000000) ~ ('x' * 1000000) ~ ('x' * 1000000) ~ ('x' * 1000000) ~ ('x' * 1000000) ~ ('x' * 1000000) ~ ('x' * 1000000) ~ ('x' * 1000000) ~ ('x' * 1000000) ~ ('x' * 1000000) ~ ('x' * 1000000) ~ ('x' * 1000000) ~ ('x' * 1000000) ~ ('x' * 1000000) ~ ('x' * 1000000) ~ ('x' * 1000000) ~ ('x' * 1000000) ~ ('x' * 1000000) ~ ('x' * 1000000) ~ ('x' * 1000000) ~ ('x' * 1000000) ~ ('x' * 1000000) ~ ('x' * 1000000) ~ ('x' * 1000000) ~ ('x' * 1000000) ~ ('x' * 1000000) ~ ('x' * 1000000) ~ ('x' * 1000000) ~ ('x' * 1000000) ~ ('x' * 1000000) ~ ('x' * 1000000) ~ ('x' * 1000000) ~ ('x' * 1000000) }}",
            // A loop that writes a large text.
            "{% set big = 'x' * 1000000 %}{% for i in range(100) %}{{ big }}{% endfor %}",
            // Lists of distinct strings.
            "{% set ns = namespace(l=[]) %}{% for i in range(100) %}{% set ns.l = ns.l + [('y' * 1000000) ~ i] %}{% endfor %}{{ ns.l | length }}",
        ] {
            let m = t.compile_str(template).unwrap();
            let error = t
                .eval(&m, &JinjaValue::from_serialize(json!({})))
                .unwrap_err();
            assert!(error.contains("more than 32 MiB"), "{template}: {error}");
        }
        // The largest repeat is 1 MiB.
        let m = t.compile_str("{{ 'x' * 2000000 }}").unwrap();
        let error = t
            .eval(&m, &JinjaValue::from_serialize(json!({})))
            .unwrap_err();
        assert!(error.contains("too large"), "{error}");
        // A mapping of a large item (8 MiB) is not work the template does: it passes.
        let item = json!({"text": "z".repeat(8 * 1024 * 1024)});
        let m = t.compile_str("{{ trigger }}").unwrap();
        let out = t
            .eval(&m, &JinjaValue::from_serialize(json!({"trigger": item})))
            .unwrap();
        assert_eq!(out["text"].as_str().map(str::len), Some(8 * 1024 * 1024));
    }

    #[test]
    fn endless_templates_run_out_of_fuel() {
        let mut t = Templates::new();
        let m = t
            .compile_str(
                "{% for i in range(100000) %}{% for j in range(100000) %}x{% endfor %}{% endfor %}",
            )
            .unwrap();
        let error = t
            .eval(&m, &JinjaValue::from_serialize(json!({})))
            .unwrap_err();
        assert!(error.contains("too much work"), "{error}");
    }
}
