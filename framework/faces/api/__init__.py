"""The JSON API under /api/: the console's data and actions, with an OpenAPI document made from its route table."""
