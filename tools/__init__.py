"""The agent's tools, one module per tool: a typed function plus its JSON schema.

Tools depend on ``agent``, never the reverse: transcribe, read_text, remember/recall (memory), calculator,
now (clock), list_files/read_file (files). The planner loop that calls them is the agent issue's work.
"""
