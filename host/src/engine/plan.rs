//! A checked scenario, ready to run: its nodes as a tree under the trigger, their mappings
//! compiled, their connections resolved.

use std::sync::Arc;

use super::scenario::{OnError, Scenario, StoreOp};
use super::template::{Mapping, Templates};

/// A compiled scenario.
#[derive(Debug)]
pub struct Plan {
    /// The scenario as written.
    pub scenario: Scenario,
    /// Its compiled templates.
    pub templates: Templates,
    /// The nodes, in the order they were written.
    pub nodes: Vec<PlanNode>,
    /// The nodes that follow the trigger directly.
    pub roots: Vec<usize>,
    /// The trigger's connection (poll and connector webhooks).
    pub trigger_connection: Option<String>,
}

/// One node.
#[derive(Debug)]
pub struct PlanNode {
    /// Its id.
    pub id: String,
    /// What a failure does.
    pub on_error: OnError,
    /// Retries of transient errors.
    pub retries: u32,
    /// What it does.
    pub kind: PlanKind,
    /// The nodes after it, with the router route they are on.
    pub children: Vec<(Option<String>, usize)>,
}

/// What a node does, compiled.
pub enum PlanKind {
    /// A connector's action.
    Action {
        /// The connector.
        connector: String,
        /// The action.
        action: String,
        /// The connection's id.
        connection: String,
        /// The input mapping.
        input: Mapping,
        /// The action's input schema.
        schema: Option<Arc<jsonschema::Validator>>,
    },
    /// The data store.
    Store {
        /// The operation.
        op: StoreOp,
        /// The collection.
        collection: Mapping,
        /// The record's id.
        key: Option<Mapping>,
        /// The record.
        record: Option<Mapping>,
        /// Merge instead of replace.
        merge: bool,
        /// `list`'s page size.
        limit: u32,
    },
    /// Continue only if.
    Filter {
        /// The condition.
        condition: Mapping,
    },
    /// Branches.
    Router {
        /// (name, condition); no condition: the fallback.
        routes: Vec<(String, Option<Mapping>)>,
    },
    /// One pass per element.
    Iterator {
        /// The array.
        over: Mapping,
    },
    /// A new value.
    Transform {
        /// The mapping.
        output: Mapping,
    },
    /// A pause.
    Delay {
        /// Seconds.
        seconds: Mapping,
    },
}

impl std::fmt::Debug for PlanKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let name = match self {
            PlanKind::Action { .. } => "action",
            PlanKind::Store { .. } => "store",
            PlanKind::Filter { .. } => "filter",
            PlanKind::Router { .. } => "router",
            PlanKind::Iterator { .. } => "iterator",
            PlanKind::Transform { .. } => "transform",
            PlanKind::Delay { .. } => "delay",
        };
        f.write_str(name)
    }
}

impl Plan {
    /// The connections the nodes use (each once).
    pub fn connections(&self) -> Vec<String> {
        let mut ids: Vec<String> = self
            .nodes
            .iter()
            .filter_map(|n| match &n.kind {
                PlanKind::Action { connection, .. } => Some(connection.clone()),
                _ => None,
            })
            .chain(self.trigger_connection.clone())
            .collect();
        ids.sort();
        ids.dedup();
        ids
    }

    /// Whether any node calls a connector's action (an effect outside Heph).
    pub fn has_actions(&self) -> bool {
        self.nodes
            .iter()
            .any(|n| matches!(n.kind, PlanKind::Action { .. }))
    }
}
