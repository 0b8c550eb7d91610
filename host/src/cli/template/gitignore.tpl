/target
connection.json
*.key
