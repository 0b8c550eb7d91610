//! `describe()`: the actions and triggers with their JSON Schemas.

use heph_sdk::{json, Value};

fn post_fields() -> Value {
    json!({
        "post_type": {"type": "string", "enum": ["posts", "pages"], "default": "posts",
                      "description": "Posts or pages."},
        "title": {"type": "string", "description": "The title (HTML allowed)."},
        "content": {"type": "string", "description": "The body, as HTML or block markup."},
        "excerpt": {"type": "string"},
        "status": {"type": "string", "enum": ["publish", "future", "draft", "pending", "private"]},
        "slug": {"type": "string"},
        "author": {"type": "integer", "description": "The author's user id."},
        "date": {"type": "string", "format": "date-time",
                 "description": "Publication date in the site's time zone; in the future with status `future` to schedule."},
        "categories": {"type": "array", "items": {"type": "integer"}},
        "tags": {"type": "array", "items": {"type": "integer"}},
        "meta": {"type": "object"}
    })
}

fn post_output() -> Value {
    json!({
        "type": "object",
        "description": "The post as the REST API returns it with context=edit.",
        "properties": {
            "id": {"type": "integer"},
            "date_gmt": {"type": "string"},
            "modified_gmt": {"type": "string"},
            "status": {"type": "string"},
            "type": {"type": "string"},
            "link": {"type": "string"},
            "slug": {"type": "string"},
            "author": {"type": "integer"},
            "title": {"type": "object", "properties": {"raw": {"type": "string"}, "rendered": {"type": "string"}}},
            "content": {"type": "object", "properties": {"raw": {"type": "string"}, "rendered": {"type": "string"}}},
            "excerpt": {"type": "object", "properties": {"raw": {"type": "string"}, "rendered": {"type": "string"}}}
        }
    })
}

fn user_output() -> Value {
    json!({
        "type": "object",
        "description": "The user as the REST API returns it with context=edit.",
        "properties": {
            "id": {"type": "integer"},
            "username": {"type": "string"},
            "name": {"type": "string"},
            "first_name": {"type": "string"},
            "last_name": {"type": "string"},
            "email": {"type": "string", "format": "email"},
            "roles": {"type": "array", "items": {"type": "string"}},
            "registered_date": {"type": "string"},
            "slug": {"type": "string"},
            "link": {"type": "string"}
        }
    })
}

fn id_input(what: &str) -> Value {
    json!({"type": "integer", "minimum": 1, "description": format!("The {what}'s id.")})
}

/// The whole description.
pub fn describe() -> Value {
    let mut update = post_fields();
    update["id"] = id_input("post");
    json!({
        "actions": [
            {
                "name": "create_post", "title": "Create a post",
                "description": "Creates a post or page (a draft unless `status` says otherwise).",
                "input": {"type": "object", "properties": post_fields(), "required": ["title"]},
                "output": post_output()
            },
            {
                "name": "update_post", "title": "Update a post",
                "description": "Changes the given fields of a post or page.",
                "input": {"type": "object", "properties": update, "required": ["id"]},
                "output": post_output()
            },
            {
                "name": "get_post", "title": "Get a post",
                "description": "One post or page by id, with its raw fields (context=edit).",
                "input": {"type": "object", "required": ["id"], "properties": {
                    "id": id_input("post"),
                    "post_type": {"type": "string", "enum": ["posts", "pages"], "default": "posts"}}},
                "output": post_output()
            },
            {
                "name": "delete_post", "title": "Delete a post",
                "description": "Moves a post to the trash, or deletes it for good with `force`.",
                "input": {"type": "object", "required": ["id"], "properties": {
                    "id": id_input("post"),
                    "post_type": {"type": "string", "enum": ["posts", "pages"], "default": "posts"},
                    "force": {"type": "boolean", "default": false}}},
                "output": {"type": "object"}
            },
            {
                "name": "get_user", "title": "Get a user",
                "description": "One user by id, with the fields an editor sees (context=edit).",
                "input": {"type": "object", "required": ["id"], "properties": {"id": id_input("user")}},
                "output": user_output()
            },
            {
                "name": "list_users", "title": "List users",
                "description": "One page of users in id order (email and roles need list_users).",
                "input": {"type": "object", "properties": {
                    "page": {"type": "integer", "minimum": 1, "default": 1},
                    "per_page": {"type": "integer", "minimum": 1, "maximum": 100, "default": 100},
                    "search": {"type": "string"},
                    "roles": {"type": "string", "description": "Comma-separated role slugs."}}},
                "output": {"type": "object", "properties": {
                    "users": {"type": "array", "items": user_output()},
                    "page": {"type": "integer"}, "total": {"type": "integer"},
                    "total_pages": {"type": "integer"}}}
            }
        ],
        "triggers": [
            {
                "name": "posts", "title": "New or updated post", "kind": "poll",
                "description": "Every post (any status: drafts, pending, private and scheduled ones too) once when it appears and again whenever it changes.",
                "config": {"type": "object", "properties": {
                    "post_type": {"type": "string", "enum": ["posts", "pages"], "default": "posts"},
                    "concurrency": {"type": "integer", "minimum": 1, "maximum": 8, "default": 4,
                                    "description": "Pages fetched at once during a full read."}}},
                "output": post_output()
            },
            {
                "name": "users", "title": "New user", "kind": "poll",
                "description": "Every user once; new users as they register; all users again every `full_sync_hours` to reconcile changes.",
                "config": {"type": "object", "properties": {
                    "full_sync_hours": {"type": "integer", "minimum": 1, "default": 24},
                    "concurrency": {"type": "integer", "minimum": 1, "maximum": 8, "default": 4}}},
                "output": user_output()
            },
            {
                "name": "post_event", "title": "Post pushed by the site", "kind": "webhook",
                "description": "A signed `post.saved`/`post.deleted` event from a site plugin (see the connector's README).",
                "config": {"type": "object", "properties": {}},
                "output": {"type": "object", "properties": {"event": {"type": "string"}, "object": post_output()}}
            },
            {
                "name": "user_event", "title": "User pushed by the site", "kind": "webhook",
                "description": "A signed `user.saved`/`user.deleted` event from a site plugin.",
                "config": {"type": "object", "properties": {}},
                "output": {"type": "object", "properties": {"event": {"type": "string"}, "object": user_output()}}
            }
        ]
    })
}
