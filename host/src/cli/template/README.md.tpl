# {{title}} connector for Heph

Items of a {{title}} account: the **New item** trigger fires once for each new item, and the
**Create an item** action adds one.

## Connect

| field | what |
|---|---|
| API URL | the address of the API, such as `https://api.example.com/v1` |
| API token | your account's API token (kept encrypted by Heph; the connector never sees it) |

## Develop

```sh
heph connector build                                  # builds for wasm32-wasip2 and checks it
heph connector test --connection connection.json      # the bench: bench.json against a real account
cargo test                                            # the unit tests
heph keygen --out ~/.config/heph/publisher.key        # once: your signing key
heph connector pack --key ~/.config/heph/publisher.key
heph connector publish target/{{id}}-0.1.0.hephpkg --registry URL --token TOKEN
```
