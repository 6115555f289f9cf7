"""The agent's tools, one module per tool: a typed ``run`` plus its JSON schema (tools.base.Tool).

describe_image, ask_image, locate (images of the conversation or files), read_text (OCR), transcribe (speech),
remember/recall (memory), calculator, now (clock), list_files/read_file (files, inside a root). ``defaults``
builds the default set; ``langchain`` adapts langchain-core tools both ways. Tools depend on ``agent``, never the
reverse; the loop that calls them is agent/loop.py.
"""
