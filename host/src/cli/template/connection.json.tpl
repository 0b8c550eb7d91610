{
  "base_url": "https://api.example.com/v1",
  "api_token": "paste your token here",
  "allow_private_network": false
}
