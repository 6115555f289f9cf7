"""The agent's tools, one module per tool: a typed function plus its JSON schema.

Tools depend on ``agent``, never the reverse. The first tools arrive with the planner loop.
"""
