//! `describe()`: the actions and triggers with their JSON Schemas.

use heph_sdk::{json, Value};

fn page_output() -> Value {
    json!({
        "type": "object",
        "description": "The page as Notion returns it.",
        "properties": {
            "object": {"const": "page"},
            "id": {"type": "string"},
            "url": {"type": "string", "format": "uri"},
            "created_time": {"type": "string", "format": "date-time"},
            "last_edited_time": {"type": "string", "format": "date-time"},
            "in_trash": {"type": "boolean"},
            "parent": {"type": "object"},
            "properties": {"type": "object", "description": "Property name → Notion property value."}
        }
    })
}

fn list_output() -> Value {
    json!({
        "type": "object",
        "properties": {
            "count": {"type": "integer"},
            "results": {"type": "array", "items": {"type": "object"}}
        }
    })
}

fn id(description: &str) -> Value {
    json!({"type": "string", "minLength": 1, "description": format!("{description} An id or a Notion URL.")})
}

fn poll_config() -> Value {
    json!({
        "type": "object",
        "additionalProperties": false,
        "required": ["data_source_id"],
        "properties": {
            "data_source_id": id("The data source to watch."),
            "start": {"type": "string", "enum": ["now", "beginning"], "default": "now",
                      "description": "`now`: only what changes from now on; `beginning`: every item there is first."},
            "page_size": {"type": "integer", "minimum": 1, "maximum": 100, "default": 100}
        }
    })
}

const VALUES: &str = "Property name → plain value (text, number, true/false, a date as YYYY-MM-DD or ISO 8601, a list of names for multi-select), converted by the data source's property types.";
const PROPERTIES: &str =
    "Property name → value in Notion's own shape; passed through, and wins over `values`.";
const MARKDOWN: &str = "Markdown: paragraphs, # headings, - bulleted and 1. numbered lists, ``` code ```, > quotes, **bold**, *italic*, `code`, [links](https://…).";

/// The connector's description.
pub fn describe() -> Value {
    json!({
        "actions": [
            {
                "name": "create_page",
                "title": "Create a page",
                "description": "Creates a page in a data source (a database's table) or under a page, with properties and content.",
                "input": {
                    "type": "object",
                    "additionalProperties": false,
                    "properties": {
                        "data_source_id": id("The data source to add the page to."),
                        "database_id": id("Or: the database, whose first data source gets the page."),
                        "parent_page_id": id("Or: the page to create it under."),
                        "title": {"type": "string", "description": "The page's title."},
                        "values": {"type": "object", "description": VALUES},
                        "properties": {"type": "object", "description": PROPERTIES},
                        "content_markdown": {"type": "string", "description": MARKDOWN},
                        "icon_emoji": {"type": "string", "maxLength": 8}
                    }
                },
                "output": page_output()
            },
            {
                "name": "append_content",
                "title": "Append content",
                "description": "Adds Markdown content at the end of a page (or after one of its blocks).",
                "input": {
                    "type": "object",
                    "additionalProperties": false,
                    "required": ["page_id", "markdown"],
                    "properties": {
                        "page_id": id("The page (or block) to add to."),
                        "markdown": {"type": "string", "minLength": 1, "description": MARKDOWN},
                        "after_block_id": {"type": "string", "description": "Insert after this block instead of at the end."}
                    }
                },
                "output": {"type": "object", "properties": {"page_id": {"type": "string"}, "blocks_added": {"type": "integer"}}}
            },
            {
                "name": "update_page",
                "title": "Update page properties",
                "description": "Changes a page's title and properties.",
                "input": {
                    "type": "object",
                    "additionalProperties": false,
                    "required": ["page_id"],
                    "properties": {
                        "page_id": id("The page."),
                        "title": {"type": "string"},
                        "values": {"type": "object", "description": VALUES},
                        "properties": {"type": "object", "description": PROPERTIES}
                    }
                },
                "output": page_output()
            },
            {
                "name": "archive_page",
                "title": "Archive a page",
                "description": "Moves a page to the trash (restorable in Notion for 30 days).",
                "input": {"type": "object", "additionalProperties": false, "required": ["page_id"],
                          "properties": {"page_id": id("The page.")}},
                "output": page_output()
            },
            {
                "name": "get_page",
                "title": "Get a page",
                "description": "Reads a page and its properties.",
                "input": {"type": "object", "additionalProperties": false, "required": ["page_id"],
                          "properties": {"page_id": id("The page.")}},
                "output": page_output()
            },
            {
                "name": "query_data_source",
                "title": "Query a data source",
                "description": "Lists a data source's pages, with Notion's filter and sorts, across as many pages of results as needed.",
                "input": {
                    "type": "object",
                    "additionalProperties": false,
                    "properties": {
                        "data_source_id": id("The data source."),
                        "database_id": id("Or: the database, whose first data source is queried."),
                        "filter": {"type": "object", "description": "A Notion filter object."},
                        "sorts": {"type": "array", "items": {"type": "object"}, "description": "Notion sort objects."},
                        "limit": {"type": "integer", "minimum": 1, "maximum": 1000, "default": 100}
                    }
                },
                "output": list_output()
            },
            {
                "name": "search",
                "title": "Search",
                "description": "Finds pages and data sources shared with the integration by title, newest edit first.",
                "input": {
                    "type": "object",
                    "additionalProperties": false,
                    "properties": {
                        "query": {"type": "string", "description": "Words in the title; empty: everything."},
                        "object": {"type": "string", "enum": ["page", "data_source"]},
                        "limit": {"type": "integer", "minimum": 1, "maximum": 1000, "default": 100}
                    }
                },
                "output": list_output()
            }
        ],
        "triggers": [
            {
                "name": "new_item",
                "title": "New item in a data source",
                "description": "A page added to a data source.",
                "kind": "poll",
                "config": poll_config(),
                "output": page_output()
            },
            {
                "name": "updated_item",
                "title": "Updated item in a data source",
                "description": "A page of a data source added or edited (Notion's edit times are minute-precise; each edit is given once).",
                "kind": "poll",
                "config": poll_config(),
                "output": page_output()
            },
            {
                "name": "events",
                "title": "Webhook events",
                "description": "Notion's webhook events (page.created, page.content_updated, page.properties_updated, page.deleted, comment.created, …), signed with the subscription's verification token; page events come with the page. The first delivery is the verification request: an item of type `verification` with the token to paste into Notion and into the connection.",
                "kind": "webhook",
                "config": {"type": "object", "properties": {}},
                "output": {
                    "type": "object",
                    "properties": {
                        "id": {"type": "string"},
                        "type": {"type": "string"},
                        "timestamp": {"type": "string", "format": "date-time"},
                        "entity": {"type": "object", "properties": {"id": {"type": "string"}, "type": {"type": "string"}}},
                        "data": {"type": "object"},
                        "page": page_output(),
                        "verification_token": {"type": "string"}
                    }
                }
            }
        ]
    })
}
