//! The [`Connector`] trait and its glue to the generated `connector` export.

use std::marker::PhantomData;

use serde_json::Value;

use crate::bindings::exports::heph::connector::connector as wit;
use crate::Error;

/// What the host says about a call: the connection's non-secret fields and the run id.
#[derive(Debug, Clone, Default)]
pub struct Context {
    /// The connection's non-secret fields as a JSON object (`Value::Null` when there are none).
    pub connection: Value,
    /// The run this call belongs to; empty outside a run.
    pub run_id: String,
}

impl Context {
    /// A required string field of the connection, or an `invalid-input` error naming it.
    pub fn field(&self, name: &str) -> Result<&str, Error> {
        self.optional_field(name)
            .ok_or_else(|| Error::InvalidInput(format!("the connection has no `{name}` field")))
    }

    /// An optional string field of the connection; empty strings count as absent.
    pub fn optional_field(&self, name: &str) -> Option<&str> {
        self.connection
            .get(name)
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
    }
}

/// One record produced by a trigger; `id` is the upstream's stable id (the dedupe key).
#[derive(Debug, Clone, PartialEq)]
pub struct Item {
    /// The upstream's stable id.
    pub id: String,
    /// The record.
    pub data: Value,
}

impl Item {
    /// An item with the given id and data.
    pub fn new(id: impl ToString, data: Value) -> Self {
        Item {
            id: id.to_string(),
            data,
        }
    }
}

/// One page of a polling trigger: its items, where the next poll starts, and whether more
/// records are ready right now.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Page {
    /// The records, oldest change first.
    pub items: Vec<Item>,
    /// The cursor to pass to the next poll (`None` keeps the previous one).
    pub cursor: Option<String>,
    /// True when the host should poll again at once.
    pub has_more: bool,
}

/// A connector: implement `describe` and whichever of the other methods the connector
/// supports, then export it with [`export_connector!`](crate::export_connector).
pub trait Connector {
    /// The actions and triggers with their JSON Schemas:
    /// `{"actions": [{"name", "title", "description", "input", "output"}], "triggers": [...]}`.
    fn describe() -> Value;

    /// Checks the connection and returns who it is connected as.
    fn test_connection(_ctx: &Context) -> Result<Value, Error> {
        Err(Error::Permanent(
            "this connector cannot test its connection".into(),
        ))
    }

    /// Runs an action.
    fn run_action(_ctx: &Context, action: &str, _input: Value) -> Result<Value, Error> {
        Err(Error::unknown_action(action))
    }

    /// Reads the next page of a polling trigger.
    fn poll(
        _ctx: &Context,
        trigger: &str,
        _config: Value,
        _cursor: Option<String>,
    ) -> Result<Page, Error> {
        Err(Error::unknown_trigger(trigger))
    }

    /// Turns a webhook delivery into items.
    fn webhook(
        _ctx: &Context,
        trigger: &str,
        _headers: &[(String, String)],
        _body: &[u8],
    ) -> Result<Vec<Item>, Error> {
        Err(Error::unknown_trigger(trigger))
    }
}

/// What `export_connector!` records about the build: the manifest the component was built
/// with. `describe()` answers it as `"build": {"manifest": …}`; the host checks it at packing
/// and strips it.
pub trait BuildInfo {
    /// The text of the crate's `heph.toml`.
    const MANIFEST: &'static str;
}

/// The generated export, implemented for any [`Connector`]. Used by `export_connector!`.
pub struct Exported<C, B>(PhantomData<(C, B)>);

fn context(ctx: wit::Context) -> Result<Context, Error> {
    let connection = match ctx.connection {
        Some(text) => serde_json::from_str(&text)
            .map_err(|e| Error::InvalidInput(format!("the connection is not JSON: {e}")))?,
        None => Value::Null,
    };
    Ok(Context {
        connection,
        run_id: ctx.run_id,
    })
}

fn parse_json(what: &str, text: &str) -> Result<Value, Error> {
    if text.trim().is_empty() {
        return Ok(Value::Object(Default::default()));
    }
    serde_json::from_str(text).map_err(|e| Error::InvalidInput(format!("{what} is not JSON: {e}")))
}

impl<C: Connector, B: BuildInfo> wit::Guest for Exported<C, B> {
    fn describe() -> String {
        let mut description = C::describe();
        if let Value::Object(fields) = &mut description {
            fields.insert(
                "build".into(),
                serde_json::json!({"manifest": B::MANIFEST, "sdk": env!("CARGO_PKG_VERSION")}),
            );
        }
        description.to_string()
    }

    fn test_connection(ctx: wit::Context) -> Result<String, wit::Error> {
        let ctx = context(ctx)?;
        Ok(C::test_connection(&ctx)?.to_string())
    }

    fn run_action(ctx: wit::Context, action: String, input: String) -> Result<String, wit::Error> {
        let ctx = context(ctx)?;
        let input = parse_json("the input", &input)?;
        Ok(C::run_action(&ctx, &action, input)?.to_string())
    }

    fn poll(
        ctx: wit::Context,
        trigger: String,
        config: String,
        cursor: Option<String>,
    ) -> Result<wit::Page, wit::Error> {
        let ctx = context(ctx)?;
        let config = parse_json("the trigger's configuration", &config)?;
        let page = C::poll(&ctx, &trigger, config, cursor)?;
        Ok(wit::Page {
            items: page.items.into_iter().map(Into::into).collect(),
            cursor: page.cursor,
            has_more: page.has_more,
        })
    }

    fn webhook(
        ctx: wit::Context,
        trigger: String,
        headers: Vec<(String, String)>,
        body: Vec<u8>,
    ) -> Result<Vec<wit::Item>, wit::Error> {
        let ctx = context(ctx)?;
        let items = C::webhook(&ctx, &trigger, &headers, &body)?;
        Ok(items.into_iter().map(Into::into).collect())
    }
}

impl From<Item> for wit::Item {
    fn from(item: Item) -> Self {
        wit::Item {
            id: item.id,
            data: item.data.to_string(),
        }
    }
}
