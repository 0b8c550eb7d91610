{
  "cases": [
    { "name": "creates an item", "action": "create_item", "input": {"name": "First item"},
      "expect": {"name": "First item"} },
    { "name": "refuses an empty name", "action": "create_item", "input": {"name": " "},
      "expect_error": "invalid_input" },
    { "name": "sees the new item", "trigger": "new_item", "expect_first": {"name": "First item"} }
  ]
}
