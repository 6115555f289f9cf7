"""The agent's tools, one module per tool: a typed ``run``, whose hints and descriptions give the JSON schema
(tools.base.Tool, agent/function_schema.py).

describe_image, ask_image, locate (images of the conversation or files), read_text (OCR), transcribe (speech),
remember/recall (memory), calculator, now (clock), list_files/read_file (files, inside a root). ``defaults``
builds the default set; ``langchain`` adapts langchain-core tools both ways. Tools build on the layers below
them (the vocabulary, perception, models, memory) and never import the loop, the server or the CLI, which sit
above them and call them (the layer contract: tests/layers.py).
"""
