"""The layer contract (tests/layers.py): no module imports one above its own layer, the runtime never imports
training code, and no two modules import each other, directly or round a loop. The check itself is checked: a
made-up upward import and a made-up loop are caught."""

from __future__ import annotations

from tests import layers


def test_no_module_imports_a_higher_layer_or_training_code():
    wrong = layers.upward_imports()
    assert not wrong, "\n".join(f"{i.source} -> {i.target} (line {i.line})" for i in wrong)


def test_there_are_no_import_cycles():
    assert layers.cycles() == []


def test_every_module_has_a_layer():
    assert [name for name in layers.modules() if layers.layer_of(name) is None and not name.startswith("agent.train")] == []


def test_the_check_catches_an_upward_import_and_a_cycle(monkeypatch):
    made_up = [layers.Import("agent.messages", "agent.loop", 1, False),   # vocabulary -> loop: upward
               layers.Import("agent.memory.memory", "agent.train.scenes", 2, True),  # runtime -> training
               layers.Import("agent.loop", "agent.events", 3, False), layers.Import("agent.events", "agent.loop", 4, True)]
    monkeypatch.setattr(layers, "imports", lambda: made_up)
    assert [(i.source, i.target) for i in layers.upward_imports()] == [("agent.messages", "agent.loop"),
                                                                      ("agent.memory.memory", "agent.train.scenes")]
    assert layers.cycles() == [["agent.events", "agent.loop"]]
