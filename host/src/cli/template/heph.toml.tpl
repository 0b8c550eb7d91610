# The manifest: who this connector is, how the host authenticates its requests, the fields a
# user fills in to connect, and the only hosts it may call. Heph shows the admin these
# capabilities before installing; asking for more in an upgrade needs their approval again.
id = "{{id}}"
name = "{{title}}"
version = "0.1.0"
publisher = "{{publisher}}"
contract = "0.1.0"
description = "Items in {{title}}: a trigger for new ones, an action that creates one."
# What describe() must list: `heph connector build` and `pack` refuse a disagreement.
actions = ["create_item"]
triggers = ["new_item"]

[auth]
# The host adds `Authorization: Bearer <token>` to requests for the hosts below; the
# connector's code never sees the token.
kind = "bearer"
token = "{api_token}"

[[connection.fields]]
name = "base_url"
title = "API URL"
format = "uri"
required = true
help = "The address of the API, such as https://api.example.com/v1."

[[connection.fields]]
name = "api_token"
title = "API token"
secret = true
required = true
help = "Your account's API token."

[capabilities]
# `{base_url}` is the connection's own URL: scheme, host and port must match it.
hosts = ["{base_url}"]
