"""Use Rosetta's model core with langchain-core messages (and back).

    .venv/bin/python examples/langchain_messages.py
"""

from langchain_core.messages import HumanMessage, SystemMessage

from agent import load_model
from agent.formats import from_langchain, to_langchain

model = load_model()
messages = [SystemMessage("Answer in one sentence."), HumanMessage("Why is the sky blue?")]
reply = model.chat(from_langchain(messages))
print(to_langchain([reply.message])[0])  # an AIMessage
