"""Rosetta's core as a langchain-core chat model: a prompt | model | parser chain, streaming, and a forced
tool call read into a pydantic object (with_structured_output).

    python examples/langchain_chain.py
"""

from __future__ import annotations

from langchain_core.output_parsers import StrOutputParser
from langchain_core.prompts import ChatPromptTemplate
from pydantic import BaseModel, Field

from agent.models.langchain_chat import RosettaChatModel


class CityWeather(BaseModel):
    """The weather someone described for a city."""

    city: str = Field(description="the city's name")
    celsius: int = Field(description="the temperature in degrees Celsius")


def main() -> None:
    model = RosettaChatModel.from_spec("default", max_tokens=48)
    chain = ChatPromptTemplate.from_messages([("user", "What is the capital of {country}? Answer in one sentence.")]) | model | StrOutputParser()
    print("chain:", chain.invoke({"country": "France"}))

    print("stream: ", end="", flush=True)
    for chunk in chain.stream({"country": "Italy"}):
        print(chunk, end="", flush=True)
    print()

    weather = model.with_structured_output(CityWeather).invoke("In Lisbon it is 21 degrees and sunny today.")
    print("structured:", repr(weather))


if __name__ == "__main__":
    main()
