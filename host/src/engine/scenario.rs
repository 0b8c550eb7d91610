//! The scenario model: what a user writes (YAML or JSON) and the store keeps, version by
//! version. Parsing is strict: a field this model does not know is a problem to report, not
//! something to ignore, so a typo (`inputs:`) never silently drops a mapping.
//!
//! ```yaml
//! name: WordPress users to the portal
//! trigger: {type: poll, connector: wordpress, trigger: users, every: 15m}
//! nodes:
//!   - id: save
//!     type: store
//!     op: upsert
//!     collection: users
//!     key: "{{ trigger_id }}"
//!     record: {email: "{{ trigger.email | lower }}"}
//! ```

use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::validate::Problem;

/// A whole scenario.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    /// Its name, unique per user.
    #[schema(min_length = 1)]
    pub name: String,
    /// What it is for.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub description: String,
    /// Constants the templates read as `vars.NAME`.
    #[serde(default, skip_serializing_if = "Map::is_empty")]
    #[schema(value_type = Object)]
    pub variables: Map<String, Value>,
    /// What starts a run.
    pub trigger: Trigger,
    /// The steps, in order; each follows the one before it unless it says `after:`.
    #[serde(default)]
    pub nodes: Vec<Node>,
    /// How runs go.
    #[serde(default)]
    pub settings: Settings,
}

/// Run settings.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// Items processed at once within a page (order of results is kept).
    #[serde(default = "default_concurrency")]
    pub concurrency: usize,
    /// Transient errors are retried this many times per node unless the node says otherwise.
    #[serde(default = "default_retries")]
    pub retries: u32,
}

fn default_concurrency() -> usize {
    4
}

fn default_retries() -> u32 {
    3
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            concurrency: default_concurrency(),
            retries: default_retries(),
        }
    }
}

/// What starts a run.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum Trigger {
    /// Only `heph run` or `POST /api/scenarios/{id}/run`; the item is the run's input.
    Manual {
        /// The item used when a run gives none.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        #[schema(value_type = Option<Value>)]
        input: Option<Value>,
    },
    /// A cron schedule; each firing is one item `{scheduled_at}`.
    Schedule {
        /// Five or six fields (`*/15 * * * *`).
        cron: String,
        /// IANA zone the schedule is read in (default UTC).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        timezone: Option<String>,
    },
    /// A connector's polling trigger, read from its cursor on an interval or a schedule.
    Poll {
        /// The connector.
        connector: String,
        /// Its trigger.
        trigger: String,
        /// The connection's name or id (default: the user's only connection of the connector).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        connection: Option<String>,
        /// The trigger's configuration.
        #[serde(default, skip_serializing_if = "Value::is_null")]
        #[schema(value_type = Object)]
        config: Value,
        /// How often to poll (`30s`, `15m`, `1h`); default 15 minutes.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        every: Option<String>,
        /// Or when, as a cron schedule.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        cron: Option<String>,
        /// The cron schedule's zone.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        timezone: Option<String>,
    },
    /// `POST /hooks/{scenario}/{token}`: with a connector, its webhook trigger turns the
    /// delivery into items; without one, the JSON body is the item.
    Webhook {
        /// The connector.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        connector: Option<String>,
        /// Its webhook trigger.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        trigger: Option<String>,
        /// The connection (its secrets verify signatures).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        connection: Option<String>,
    },
}

impl Trigger {
    /// `manual`, `schedule`, `poll` or `webhook`.
    pub fn kind(&self) -> &'static str {
        match self {
            Trigger::Manual { .. } => "manual",
            Trigger::Schedule { .. } => "schedule",
            Trigger::Poll { .. } => "poll",
            Trigger::Webhook { .. } => "webhook",
        }
    }

    /// What the poll cursor belongs to: a changed connector, trigger, connection or config
    /// means the old cursor means nothing.
    pub fn cursor_key(&self) -> String {
        match self {
            Trigger::Poll {
                connector,
                trigger,
                connection,
                config,
                ..
            } => format!(
                "poll:{connector}/{trigger}@{}:{}",
                connection.as_deref().unwrap_or("*"),
                config
            ),
            Trigger::Schedule { cron, timezone } => {
                format!("schedule:{cron}@{}", timezone.as_deref().unwrap_or("UTC"))
            }
            other => other.kind().to_string(),
        }
    }
}

/// What a node does when it fails for good (after its retries).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum OnError {
    /// The run stops and fails.
    #[default]
    Stop,
    /// The item is dropped (recorded as skipped); the run goes on.
    Skip,
    /// The node's output is `{error: {code, message}}` and the item goes on.
    Continue,
}

/// One node.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Node {
    /// Its id: letters, digits and `_`; later templates read its output by this name.
    #[schema(pattern = r"^[A-Za-z][A-Za-z0-9_]{0,63}$")]
    pub id: String,
    /// The node it follows (`router.route` for a router's branch); default: the node before.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub after: Option<String>,
    /// What a failure does.
    #[serde(default, skip_serializing_if = "is_default")]
    pub on_error: OnError,
    /// Retries of transient errors (default: the scenario's setting).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retries: Option<u32>,
    /// What it does.
    #[serde(flatten)]
    pub kind: NodeKind,
}

fn is_default<T: Default + PartialEq>(value: &T) -> bool {
    *value == T::default()
}

/// The kinds of node.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum NodeKind {
    /// A connector's action.
    Action {
        /// The connector.
        connector: String,
        /// Its action.
        action: String,
        /// The connection's name or id (default: the user's only one of the connector).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        connection: Option<String>,
        /// The input: a mapping (templates in strings).
        #[serde(default = "empty_object")]
        #[schema(value_type = Value)]
        input: Value,
    },
    /// The data store.
    Store {
        /// What to do.
        op: StoreOp,
        /// The collection (a template).
        collection: String,
        /// The record's id (a template; upsert, get, delete).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        key: Option<String>,
        /// The record (upsert): a mapping.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        #[schema(value_type = Option<Value>)]
        record: Option<Value>,
        /// Upsert merges into the stored record's fields instead of replacing it.
        #[serde(default, skip_serializing_if = "is_default")]
        merge: bool,
        /// How many records `list` returns (default 100, at most 1000).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        limit: Option<u32>,
    },
    /// Goes on only when the condition holds.
    Filter {
        /// A condition (`trigger.status == 'publish'` or `{{ … }}`).
        condition: String,
    },
    /// Branches: every route whose condition holds runs; a route without one runs when no
    /// other did.
    Router {
        /// The routes.
        routes: Vec<Route>,
    },
    /// Runs the nodes after it once per element of an array.
    Iterator {
        /// The array (a template that is one expression).
        over: String,
    },
    /// Builds a new value.
    Transform {
        /// The mapping.
        #[schema(value_type = Value)]
        output: Value,
    },
    /// Waits.
    Delay {
        /// Seconds (a number, or a template giving one); at most an hour.
        #[schema(value_type = Value)]
        seconds: Value,
    },
}

fn empty_object() -> Value {
    Value::Object(Map::new())
}

/// A data store operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum StoreOp {
    /// Insert or replace (or merge) the record with this key.
    Upsert,
    /// The record, or null.
    Get,
    /// Remove it (no error when it is not there).
    Delete,
    /// Records of the collection in id order.
    List,
}

/// One route of a router.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Route {
    /// Its name; nodes join it with `after: ROUTER.NAME`.
    pub name: String,
    /// Its condition; none: the fallback route.
    #[serde(default, rename = "when", skip_serializing_if = "Option::is_none")]
    pub condition: Option<String>,
}

impl NodeKind {
    /// The node type's name.
    pub fn type_name(&self) -> &'static str {
        match self {
            NodeKind::Action { .. } => "action",
            NodeKind::Store { .. } => "store",
            NodeKind::Filter { .. } => "filter",
            NodeKind::Router { .. } => "router",
            NodeKind::Iterator { .. } => "iterator",
            NodeKind::Transform { .. } => "transform",
            NodeKind::Delay { .. } => "delay",
        }
    }

    /// The fields a node of this type may have (besides the common ones).
    fn fields(type_name: &str) -> Option<&'static [&'static str]> {
        Some(match type_name {
            "action" => &["connector", "action", "connection", "input"],
            "store" => &["op", "collection", "key", "record", "merge", "limit"],
            "filter" => &["condition"],
            "router" => &["routes"],
            "iterator" => &["over"],
            "transform" => &["output"],
            "delay" => &["seconds"],
            _ => return None,
        })
    }
}

const COMMON_FIELDS: &[&str] = &["id", "type", "after", "on_error", "retries"];

/// Parses a scenario from YAML or JSON text. Every problem found is returned at once.
pub fn parse(text: &str) -> Result<(Scenario, Value), Vec<Problem>> {
    let value: Value = crate::strict::yaml(text)
        .map_err(|e| vec![Problem::general(format!("not valid YAML or JSON: {e}"))])?;
    from_value(value)
}

/// Reads a scenario from a JSON value, checking for unknown node fields.
pub fn from_value(value: Value) -> Result<(Scenario, Value), Vec<Problem>> {
    let mut problems = Vec::new();
    if !value.is_object() {
        return Err(vec![Problem::general(
            "a scenario is an object with `name`, `trigger` and `nodes`",
        )]);
    }
    if let Some(nodes) = value.get("nodes").and_then(Value::as_array) {
        for (index, node) in nodes.iter().enumerate() {
            let id = node
                .get("id")
                .and_then(Value::as_str)
                .map_or_else(|| format!("#{}", index + 1), str::to_string);
            let Some(object) = node.as_object() else {
                problems.push(Problem::node(
                    &id,
                    "",
                    "a node is an object with `id` and `type`",
                ));
                continue;
            };
            let Some(type_name) = object.get("type").and_then(Value::as_str) else {
                problems.push(Problem::node(
                    &id,
                    "type",
                    "missing: one of action, store, filter, router, iterator, transform, delay",
                ));
                continue;
            };
            let Some(allowed) = NodeKind::fields(type_name) else {
                problems.push(Problem::node(
                    &id,
                    "type",
                    format!("unknown node type `{type_name}`: use action, store, filter, router, iterator, transform or delay"),
                ));
                continue;
            };
            for key in object.keys() {
                if !COMMON_FIELDS.contains(&key.as_str()) && !allowed.contains(&key.as_str()) {
                    problems.push(Problem::node(
                        &id,
                        key,
                        format!(
                            "a {type_name} node has no field `{key}` (its fields: {})",
                            allowed.join(", ")
                        ),
                    ));
                }
            }
        }
    }
    if !problems.is_empty() {
        return Err(problems);
    }
    match serde_json::from_value::<Scenario>(value.clone()) {
        Ok(scenario) => Ok((scenario, value)),
        Err(e) => Err(vec![Problem::general(e.to_string())]),
    }
}

/// The longest interval between polls: a year (a longer one would never come, and a number
/// of days past this overflowed into a short interval once).
pub const MAX_INTERVAL: Duration = Duration::from_secs(366 * 86_400);

/// Parses `30s`, `15m`, `2h`, `1d` (or a number of seconds), from a second to [`MAX_INTERVAL`].
pub fn parse_interval(text: &str) -> Option<Duration> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let n: u64 = number.parse().ok()?;
    let unit = match unit.trim() {
        "" | "s" | "sec" | "secs" | "seconds" => 1,
        "m" | "min" | "mins" | "minutes" => 60,
        "h" | "hours" => 3600,
        "d" | "days" => 86_400,
        _ => return None,
    };
    let seconds = n.checked_mul(unit)?;
    (seconds > 0 && seconds <= MAX_INTERVAL.as_secs()).then(|| Duration::from_secs(seconds))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn intervals() {
        assert_eq!(parse_interval("30s"), Some(Duration::from_secs(30)));
        assert_eq!(parse_interval("15m"), Some(Duration::from_secs(900)));
        assert_eq!(parse_interval("2h"), Some(Duration::from_secs(7200)));
        assert_eq!(parse_interval("90"), Some(Duration::from_secs(90)));
        assert_eq!(parse_interval("0s"), None);
        assert_eq!(parse_interval("366d"), Some(MAX_INTERVAL));
        assert_eq!(parse_interval("367d"), None, "past a year");
        assert_eq!(parse_interval("94368760191893771d"), None, "overflows");
        assert_eq!(parse_interval("99999999999999999999"), None);
        assert_eq!(parse_interval("5 fortnights"), None);
    }

    #[test]
    fn unknown_node_fields_are_reported_with_their_node() {
        let problems = parse(
            "name: x\ntrigger: {type: manual}\nnodes:\n  - {id: a, type: transform, outputs: {}}\n  - {id: b, type: teleport}\n",
        )
        .unwrap_err();
        assert_eq!(problems.len(), 2, "{problems:?}");
        assert_eq!(problems[0].node.as_deref(), Some("a"));
        assert_eq!(problems[0].field, "outputs");
        assert_eq!(problems[1].field, "type");
    }
}
