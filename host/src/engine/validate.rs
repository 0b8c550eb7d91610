//! Checking a scenario and compiling it into a [`Plan`] the executor walks. Checking is pure:
//! the caller gathers the connectors' descriptions and the user's connections first, so every
//! rule here is unit-tested without a database. All problems are reported at once, each with
//! the node and the field it concerns.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

use serde::Serialize;
use serde_json::Value;

use super::ancestry::{cycles, Ancestry};
use super::plan::{Plan, PlanKind, PlanNode};
use super::scenario::{parse_interval, NodeKind, Scenario, Trigger};
use super::template::{Mapping, Templates};
use crate::store::ConnectionRow;

/// One problem with a scenario.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Problem {
    /// The node it concerns (`None`: the scenario or its trigger, see `field`).
    pub node: Option<String>,
    /// The field (`trigger.connector`, `input.title`, `after`).
    pub field: String,
    /// What is wrong and what would be right.
    pub message: String,
}

impl Problem {
    /// A problem with the scenario as a whole.
    pub fn general(message: impl Into<String>) -> Problem {
        Problem {
            node: None,
            field: String::new(),
            message: message.into(),
        }
    }

    /// A problem with a field outside the nodes (`name`, `trigger.cron`).
    pub fn field(field: impl Into<String>, message: impl Into<String>) -> Problem {
        Problem {
            node: None,
            field: field.into(),
            message: message.into(),
        }
    }

    /// A problem with a node's field.
    pub fn node(node: &str, field: impl Into<String>, message: impl Into<String>) -> Problem {
        Problem {
            node: Some(node.to_string()),
            field: field.into(),
            message: message.into(),
        }
    }
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match (&self.node, self.field.is_empty()) {
            (Some(node), false) => write!(f, "node `{node}`, {}: {}", self.field, self.message),
            (Some(node), true) => write!(f, "node `{node}`: {}", self.message),
            (None, false) => write!(f, "{}: {}", self.field, self.message),
            (None, true) => write!(f, "{}", self.message),
        }
    }
}

/// What checking needs to know about the world.
pub struct Environment<'a> {
    /// `describe()` of each installed connector, by id.
    pub descriptions: &'a HashMap<String, Arc<Value>>,
    /// The user's connections.
    pub connections: &'a [ConnectionRow],
}

/// Names every template may read besides earlier nodes.
pub const GLOBALS: &[&str] = &["trigger", "trigger_id", "vars", "run"];

/// Checks a scenario and compiles it.
pub fn check(scenario: Scenario, env: &Environment<'_>) -> Result<Plan, Vec<Problem>> {
    if scenario.nodes.len() > MAX_NODES {
        // Refused before any of the work below, whose cost grows with the node count.
        return Err(vec![too_many_nodes(scenario.nodes.len())]);
    }
    let mut problems = Vec::new();
    let mut templates = Templates::new();
    if scenario.name.trim().is_empty() {
        problems.push(Problem::field("name", "a scenario needs a name"));
    }
    if !(1..=64).contains(&scenario.settings.concurrency) {
        problems.push(Problem::field(
            "settings.concurrency",
            "between 1 and 64 items at once",
        ));
    }
    if scenario.settings.retries > MAX_RETRIES {
        problems.push(Problem::field(
            "settings.retries",
            format!("from 0 to {MAX_RETRIES} retries"),
        ));
    }
    for node in &scenario.nodes {
        if node.retries.is_some_and(|r| r > MAX_RETRIES) {
            problems.push(Problem::node(
                &node.id,
                "retries",
                format!("from 0 to {MAX_RETRIES} retries"),
            ));
        }
    }
    let trigger_connection = check_trigger(&scenario.trigger, env, &mut problems);

    // Ids, then parents.
    let mut index: HashMap<&str, usize> = HashMap::new();
    for (i, node) in scenario.nodes.iter().enumerate() {
        if !is_identifier(&node.id) {
            problems.push(Problem::node(&node.id, "id", "use letters, digits and `_`, starting with a letter (templates read the node's output by its id)"));
        } else if GLOBALS.contains(&node.id.as_str()) || node.id == "loop" {
            problems.push(Problem::node(
                &node.id,
                "id",
                format!("`{}` is a name templates already use", node.id),
            ));
        }
        if index.insert(node.id.as_str(), i).is_some() {
            problems.push(Problem::node(&node.id, "id", "another node has this id"));
        }
    }
    let mut parents: Vec<Option<(usize, Option<String>)>> = vec![None; scenario.nodes.len()];
    for (i, node) in scenario.nodes.iter().enumerate() {
        let (reference, explicit) = match &node.after {
            Some(after) => (Some(after.clone()), true),
            None if i == 0 => (None, false),
            None => (Some(scenario.nodes[i - 1].id.clone()), false),
        };
        let Some(reference) = reference.filter(|r| r != "trigger") else {
            continue;
        };
        let (parent_id, route) = match reference.split_once('.') {
            Some((p, r)) => (p.to_string(), Some(r.to_string())),
            None => (reference.clone(), None),
        };
        let Some(&parent) = index.get(parent_id.as_str()) else {
            problems.push(Problem::node(
                &node.id,
                "after",
                format!("there is no node `{parent_id}`"),
            ));
            continue;
        };
        match (&scenario.nodes[parent].kind, &route) {
            (NodeKind::Router { routes }, Some(route)) => {
                if !routes.iter().any(|r| &r.name == route) {
                    problems.push(Problem::node(
                        &node.id,
                        "after",
                        format!("router `{parent_id}` has no route `{route}`"),
                    ));
                    continue;
                }
            }
            (NodeKind::Router { routes }, None) => {
                let names: Vec<_> = routes.iter().map(|r| r.name.as_str()).collect();
                let how = if explicit {
                    ""
                } else {
                    " (it follows the router in the list)"
                };
                problems.push(Problem::node(
                    &node.id,
                    "after",
                    format!(
                        "say which route of `{parent_id}` this node is on{how}: after: {parent_id}.{}",
                        names.first().unwrap_or(&"ROUTE")
                    ),
                ));
                continue;
            }
            (_, Some(route)) => {
                problems.push(Problem::node(
                    &node.id,
                    "after",
                    format!("`{parent_id}` is not a router, so it has no route `{route}`"),
                ));
                continue;
            }
            (_, None) => {}
        }
        if parent == i {
            problems.push(Problem::node(
                &node.id,
                "after",
                "a node cannot follow itself",
            ));
            continue;
        }
        parents[i] = Some((parent, route));
    }
    // Cycles: a node whose chain of parents comes back to it.
    let in_cycle = cycles(&parents);
    let cycle: Vec<&str> = (0..scenario.nodes.len())
        .filter(|&i| in_cycle[i])
        .map(|i| scenario.nodes[i].id.as_str())
        .collect();
    for &i in (0..scenario.nodes.len())
        .filter(|&i| in_cycle[i])
        .collect::<Vec<_>>()
        .iter()
    {
        problems.push(Problem::node(
            &scenario.nodes[i].id,
            "after",
            format!(
                "the nodes {} follow each other in a cycle: a scenario is a tree that starts at its trigger",
                cycle.iter().map(|n| format!("`{n}`")).collect::<Vec<_>>().join(", ")
            ),
        ));
    }
    let ancestry = Ancestry::of(&parents, &in_cycle);

    // Each node's own fields.
    let mut plan_nodes = Vec::with_capacity(scenario.nodes.len());
    for (i, node) in scenario.nodes.iter().enumerate() {
        let mut ctx = NodeCheck {
            id: &node.id,
            at: i,
            ancestry: &ancestry,
            nodes: &scenario.nodes,
            templates: &mut templates,
            all: &index,
            problems: &mut problems,
        };
        let kind = check_node(&node.kind, &mut ctx, env);
        plan_nodes.push(PlanNode {
            id: node.id.clone(),
            on_error: node.on_error,
            retries: node.retries.unwrap_or(scenario.settings.retries),
            kind,
            children: Vec::new(),
        });
    }
    if !problems.is_empty() {
        return Err(problems);
    }
    let mut roots = Vec::new();
    for (i, parent) in parents.iter().enumerate() {
        match parent {
            Some((p, route)) => plan_nodes[*p].children.push((route.clone(), i)),
            None => roots.push(i),
        }
    }
    Ok(Plan {
        scenario,
        templates,
        nodes: plan_nodes,
        roots,
        trigger_connection,
    })
}

/// The most nodes a scenario may have.
pub const MAX_NODES: usize = 500;

/// The problem of a scenario with `count` nodes, past [`MAX_NODES`].
pub fn too_many_nodes(count: usize) -> Problem {
    Problem::field(
        "nodes",
        format!(
            "a scenario has at most {MAX_NODES} nodes (this one has {count}): split it, and chain the parts through the data store or a webhook"
        ),
    )
}

/// The most retries of a node.
pub const MAX_RETRIES: u32 = 10;

fn is_identifier(id: &str) -> bool {
    let mut chars = id.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
        && id.len() <= 64
}

/// Finds the connection a node or trigger means: by id, by name, or the user's only
/// connection of the connector.
pub fn resolve_connection(
    connections: &[ConnectionRow],
    connector: &str,
    reference: Option<&str>,
) -> Result<String, String> {
    match reference {
        Some(reference) => {
            let found: Vec<_> = connections
                .iter()
                .filter(|c| c.id == reference || c.name == reference)
                .collect();
            match found.as_slice() {
                [] => Err(format!("you have no connection `{reference}`")),
                [one] if one.connector_id != connector => Err(format!(
                    "connection `{reference}` is a {} connection; this needs a {connector} one",
                    one.connector_id
                )),
                [one] => Ok(one.id.clone()),
                _ => Err(format!(
                    "several connections are named `{reference}`: give the id instead"
                )),
            }
        }
        None => {
            let mine: Vec<_> = connections
                .iter()
                .filter(|c| c.connector_id == connector)
                .collect();
            match mine.as_slice() {
                [] => Err(format!(
                    "you have no {connector} connection yet: create one (heph connection create {connector} …)"
                )),
                [one] => Ok(one.id.clone()),
                many => Err(format!(
                    "you have {} {connector} connections: say which with `connection:` ({})",
                    many.len(),
                    many.iter().map(|c| c.name.as_str()).collect::<Vec<_>>().join(", ")
                )),
            }
        }
    }
}

/// The description entry `kind` (`actions`/`triggers`) named `name`.
fn described<'a>(description: &'a Value, kind: &str, name: &str) -> Option<&'a Value> {
    description
        .get(kind)?
        .as_array()?
        .iter()
        .find(|a| a.get("name").and_then(Value::as_str) == Some(name))
}

fn names_of(description: &Value, kind: &str, trigger_kind: Option<&str>) -> String {
    description
        .get(kind)
        .and_then(Value::as_array)
        .map(|list| {
            list.iter()
                .filter(|a| {
                    trigger_kind.is_none() || a.get("kind").and_then(Value::as_str) == trigger_kind
                })
                .filter_map(|a| a.get("name").and_then(Value::as_str))
                .collect::<Vec<_>>()
                .join(", ")
        })
        .unwrap_or_default()
}

fn check_trigger(
    trigger: &Trigger,
    env: &Environment<'_>,
    problems: &mut Vec<Problem>,
) -> Option<String> {
    let check_cron = |cron: &str, timezone: &Option<String>, problems: &mut Vec<Problem>| {
        if let Err(e) = super::schedule::parse_cron(cron) {
            problems.push(Problem::field("trigger.cron", e));
        }
        if let Some(tz) = timezone {
            if tz.parse::<chrono_tz::Tz>().is_err() {
                problems.push(Problem::field(
                    "trigger.timezone",
                    format!("unknown time zone `{tz}` (use an IANA name such as Europe/Berlin)"),
                ));
            }
        }
    };
    match trigger {
        Trigger::Manual { .. } => None,
        Trigger::Schedule { cron, timezone } => {
            check_cron(cron, timezone, problems);
            None
        }
        Trigger::Poll {
            connector,
            trigger,
            connection,
            config,
            every,
            cron,
            timezone,
        } => {
            if let Some(every) = every {
                if parse_interval(every).is_none() {
                    problems.push(Problem::field(
                        "trigger.every",
                        format!(
                            "`{every}` is not an interval: write 30s, 15m, 2h or 1d (at most 366d)"
                        ),
                    ));
                }
                if cron.is_some() {
                    problems.push(Problem::field(
                        "trigger.every",
                        "give `every` or `cron`, not both",
                    ));
                }
            }
            if let Some(cron) = cron {
                check_cron(cron, timezone, problems);
            }
            check_connector_trigger(
                connector,
                trigger,
                "poll",
                Some(config),
                connection,
                env,
                problems,
            )
        }
        Trigger::Webhook {
            connector,
            trigger,
            connection,
        } => match (connector, trigger) {
            (None, None) => None,
            (Some(connector), Some(trigger)) => check_connector_trigger(
                connector, trigger, "webhook", None, connection, env, problems,
            ),
            _ => {
                problems.push(Problem::field(
                    "trigger",
                    "a connector's webhook needs both `connector` and `trigger` (or neither, to take the JSON body as the item)",
                ));
                None
            }
        },
    }
}

fn check_connector_trigger(
    connector: &str,
    trigger: &str,
    kind: &str,
    config: Option<&Value>,
    connection: &Option<String>,
    env: &Environment<'_>,
    problems: &mut Vec<Problem>,
) -> Option<String> {
    let Some(description) = env.descriptions.get(connector) else {
        problems.push(Problem::field(
            "trigger.connector",
            format!("no connector `{connector}` is installed"),
        ));
        return None;
    };
    match described(description, "triggers", trigger) {
        None => problems.push(Problem::field(
            "trigger.trigger",
            format!(
                "{connector} has no {kind} trigger `{trigger}` (its {kind} triggers: {})",
                names_of(description, "triggers", Some(kind))
            ),
        )),
        Some(t) if t.get("kind").and_then(Value::as_str).unwrap_or("poll") != kind => problems
            .push(Problem::field(
                "trigger.trigger",
                format!(
                    "`{trigger}` is a {} trigger, not a {kind} one",
                    t.get("kind").and_then(Value::as_str).unwrap_or("poll")
                ),
            )),
        Some(t) => {
            if let (Some(config), Some(schema)) = (config.filter(|c| !c.is_null()), t.get("config"))
            {
                for message in schema_errors(schema, config) {
                    problems.push(Problem::field("trigger.config", message));
                }
            }
        }
    }
    match resolve_connection(env.connections, connector, connection.as_deref()) {
        Ok(id) => Some(id),
        Err(message) => {
            problems.push(Problem::field("trigger.connection", message));
            None
        }
    }
}

/// Every way `value` breaks `schema`, one line each.
pub fn schema_errors(schema: &Value, value: &Value) -> Vec<String> {
    match jsonschema::validator_for(schema) {
        Ok(validator) => validator
            .iter_errors(value)
            .map(|e| {
                let at = e.instance_path().to_string();
                if at.is_empty() {
                    e.to_string()
                } else {
                    format!("{at}: {e}")
                }
            })
            .collect(),
        Err(_) => Vec::new(),
    }
}

struct NodeCheck<'a> {
    id: &'a str,
    /// The node's index.
    at: usize,
    ancestry: &'a Ancestry,
    nodes: &'a [crate::engine::scenario::Node],
    templates: &'a mut Templates,
    all: &'a HashMap<&'a str, usize>,
    problems: &'a mut Vec<Problem>,
}

impl NodeCheck<'_> {
    fn problem(&mut self, field: impl Into<String>, message: impl Into<String>) {
        self.problems.push(Problem::node(self.id, field, message));
    }

    /// Compiles a mapping and checks the names it reads.
    fn mapping(&mut self, field: &str, value: &Value) -> Mapping {
        let (mapping, errors) = self.templates.compile_all(value);
        for (path, message) in errors {
            let at = if path.is_empty() {
                field.to_string()
            } else {
                format!("{field}.{path}")
            };
            self.problem(at, message);
        }
        self.names(field, &mapping);
        mapping
    }

    fn condition(&mut self, field: &str, text: &str) -> Mapping {
        match self.templates.compile_condition(text) {
            Ok(mapping) => {
                self.names(field, &mapping);
                mapping
            }
            Err(message) => {
                self.problem(field, message);
                Mapping::Literal(Value::Null)
            }
        }
    }

    fn names(&mut self, field: &str, mapping: &Mapping) {
        for name in self.templates.references(mapping) {
            let earlier = self
                .all
                .get(name.as_str())
                .is_some_and(|&node| self.ancestry.precedes(node, self.at));
            if GLOBALS.contains(&name.as_str()) || earlier {
                continue;
            }
            let message = if name == self.id {
                format!("`{name}` is this node: a node cannot read its own output")
            } else if self.all.contains_key(name.as_str()) {
                format!("`{name}` does not come before this node, so its output is not there yet")
            } else {
                let mut known: Vec<_> = GLOBALS.iter().map(|s| s.to_string()).collect();
                let mut earlier: Vec<_> = self
                    .ancestry
                    .chain(self.at)
                    .map(|i| self.nodes[i].id.clone())
                    .collect();
                earlier.sort();
                known.extend(earlier);
                format!(
                    "`{name}` is not defined (templates here read {})",
                    known.join(", ")
                )
            };
            self.problem(field, message);
        }
    }
}

fn check_node(kind: &NodeKind, ctx: &mut NodeCheck<'_>, env: &Environment<'_>) -> PlanKind {
    match kind {
        NodeKind::Action {
            connector,
            action,
            connection,
            input,
        } => {
            let mapping = ctx.mapping("input", input);
            let connection =
                match resolve_connection(env.connections, connector, connection.as_deref()) {
                    Ok(id) => id,
                    Err(message) => {
                        ctx.problem("connection", message);
                        String::new()
                    }
                };
            let mut schema = None;
            match env.descriptions.get(connector) {
                None => ctx.problem(
                    "connector",
                    format!("no connector `{connector}` is installed"),
                ),
                Some(description) => match described(description, "actions", action) {
                    None => ctx.problem(
                        "action",
                        format!(
                            "{connector} has no action `{action}` (its actions: {})",
                            names_of(description, "actions", None)
                        ),
                    ),
                    Some(described) => {
                        if let Some(input_schema) = described.get("input") {
                            check_input(ctx, action, input_schema, input);
                            schema = jsonschema::validator_for(input_schema).ok().map(Arc::new);
                        }
                    }
                },
            }
            PlanKind::Action {
                connector: connector.clone(),
                action: action.clone(),
                connection,
                input: mapping,
                schema,
            }
        }
        NodeKind::Store {
            op,
            collection,
            key,
            record,
            merge,
            limit,
        } => {
            use super::scenario::StoreOp;
            if collection.trim().is_empty() {
                ctx.problem("collection", "name the collection (such as `users`)");
            } else if !super::template::is_template(collection) && !valid_collection(collection) {
                ctx.problem(
                    "collection",
                    "use letters, digits, `-` and `_` (at most 64)",
                );
            }
            let collection = ctx.mapping("collection", &Value::String(collection.clone()));
            let key = match (key, op) {
                (Some(key), _) => Some(ctx.mapping("key", &Value::String(key.clone()))),
                (None, StoreOp::List) => None,
                (None, _) => {
                    ctx.problem(
                        "key",
                        "the record's id is needed (such as \"{{ trigger_id }}\")",
                    );
                    None
                }
            };
            let record = match (record, op) {
                (Some(record), StoreOp::Upsert) => Some(ctx.mapping("record", record)),
                (None, StoreOp::Upsert) => {
                    ctx.problem("record", "an upsert needs the record to write");
                    None
                }
                (Some(_), _) => {
                    ctx.problem("record", "only an upsert writes a record");
                    None
                }
                (None, _) => None,
            };
            if limit.is_some_and(|l| l == 0 || l > 1000) {
                ctx.problem("limit", "between 1 and 1000");
            }
            PlanKind::Store {
                op: *op,
                collection,
                key,
                record,
                merge: *merge,
                limit: limit.unwrap_or(100).clamp(1, 1000),
            }
        }
        NodeKind::Filter { condition } => PlanKind::Filter {
            condition: ctx.condition("condition", condition),
        },
        NodeKind::Router { routes } => {
            if routes.is_empty() {
                ctx.problem("routes", "a router needs at least one route");
            }
            let mut names = BTreeSet::new();
            let mut fallbacks = 0;
            let mut compiled = Vec::new();
            for (i, route) in routes.iter().enumerate() {
                if !is_identifier(&route.name) {
                    ctx.problem(format!("routes[{i}].name"), "use letters, digits and `_`");
                }
                if !names.insert(route.name.clone()) {
                    ctx.problem(
                        format!("routes[{i}].name"),
                        format!("two routes are named `{}`", route.name),
                    );
                }
                let condition = match &route.condition {
                    Some(c) => Some(ctx.condition(&format!("routes[{i}].when"), c)),
                    None => {
                        fallbacks += 1;
                        None
                    }
                };
                compiled.push((route.name.clone(), condition));
            }
            if fallbacks > 1 {
                ctx.problem(
                    "routes",
                    "only one route may go without `when` (the fallback)",
                );
            }
            PlanKind::Router { routes: compiled }
        }
        NodeKind::Iterator { over } => {
            if !over.contains("{{") {
                ctx.problem(
                    "over",
                    "give the array as one expression, such as \"{{ trigger.tags }}\"",
                );
            }
            PlanKind::Iterator {
                over: ctx.mapping("over", &Value::String(over.clone())),
            }
        }
        NodeKind::Transform { output } => PlanKind::Transform {
            output: ctx.mapping("output", output),
        },
        NodeKind::Delay { seconds } => {
            match seconds {
                Value::Number(n) if n.as_f64().is_some_and(|s| (0.0..=3600.0).contains(&s)) => {}
                Value::String(s) if s.contains("{{") => {}
                _ => ctx.problem(
                    "seconds",
                    "a number of seconds from 0 to 3600, or a template giving one",
                ),
            }
            PlanKind::Delay {
                seconds: ctx.mapping("seconds", seconds),
            }
        }
    }
}

/// Whether a collection name is usable.
pub fn valid_collection(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

/// What can be known before a run: required fields are mapped, no unknown field where the
/// schema forbids them, and literal values fit their field's schema.
fn check_input(ctx: &mut NodeCheck<'_>, action: &str, schema: &Value, input: &Value) {
    let Some(object) = input.as_object() else {
        if !(input.is_string() && super::template::is_template(input.as_str().unwrap_or(""))) {
            ctx.problem("input", format!("`{action}` takes an object"));
        }
        return;
    };
    let properties = schema.get("properties").and_then(Value::as_object);
    if let Some(required) = schema.get("required").and_then(Value::as_array) {
        for name in required.iter().filter_map(Value::as_str) {
            if !object.contains_key(name) {
                ctx.problem(
                    format!("input.{name}"),
                    format!("`{action}` requires `{name}`: map a value to it"),
                );
            }
        }
    }
    let closed = schema.get("additionalProperties") == Some(&Value::Bool(false));
    for (name, value) in object {
        let property = properties.and_then(|p| p.get(name));
        match property {
            None if closed => ctx.problem(
                format!("input.{name}"),
                format!(
                    "`{action}` has no input `{name}` (its inputs: {})",
                    properties
                        .map(|p| p.keys().cloned().collect::<Vec<_>>().join(", "))
                        .unwrap_or_default()
                ),
            ),
            Some(property) if !contains_template(value) => {
                for message in schema_errors(property, value) {
                    ctx.problem(format!("input.{name}"), message);
                }
            }
            _ => {}
        }
    }
}

fn contains_template(value: &Value) -> bool {
    match value {
        Value::String(s) => super::template::is_template(s),
        Value::Array(list) => list.iter().any(contains_template),
        Value::Object(map) => map.values().any(contains_template),
        _ => false,
    }
}
