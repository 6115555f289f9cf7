from agent.messages import ImageBlock, Message, TextBlock
from agent.vision.scene_answers import answer, answer_in_conversation, things_named
from agent.vision.scene_report import SceneReport, Thing, plural
from PIL import Image

# A 300x300 drawing: two cats at the top, a woman biking in the middle, a red square and the word HI at the bottom.
REPORT = SceneReport([
    Thing("emoji", "cat", (10, 10, 60, 60)),
    Thing("emoji", "cat", (240, 10, 290, 60)),
    Thing("emoji", "woman biking", (120, 120, 180, 180)),
    Thing("shape", "square", (10, 240, 50, 280), colour="red"),
    Thing("text", "HI", (240, 250, 290, 280), colour="black"),
], 300, 300)


def test_plain_questions_get_short_answers_from_the_findings():
    assert answer("How many emoji are in the picture?", REPORT) == "Three."
    assert answer("How many times does the cat appear?", REPORT) == "Two."
    assert answer("How many squares are there?", REPORT) == "One."
    assert answer("How many circles are there?", REPORT) == "Zero."
    assert answer("What colour is the square?", REPORT) == "Red."
    assert answer("Where is the woman biking?", REPORT) == "Center."
    assert answer("What is at the top left?", REPORT) == "A cat."
    assert answer("Is the woman biking to the left of the word?", REPORT) is not None
    assert answer("Is the square to the left of the woman biking?", REPORT) == "Yes."
    assert answer("Is the square to the right of the woman biking?", REPORT) == "No."
    assert answer("What does the text say?", REPORT) == "HI."
    assert answer("Is there a cat?", REPORT).startswith("Yes")


def test_what_is_not_there_is_never_guessed():
    assert answer("What colour is the triangle?", REPORT).startswith("I can't tell")
    assert answer("Where is the dog?", REPORT).startswith("I can't tell")
    empty = SceneReport([], 100, 100)
    assert answer("What does the text say?", empty).startswith("I can't tell")
    assert answer("How many emoji are in the picture?", empty) == "Zero."


def test_a_description_names_and_places_every_thing():
    text = REPORT.description()
    assert text.startswith("I see two cats (one at the top left; one at the top right)")
    for phrase in ("a woman biking (in the center)", "a red square (at the bottom left)", 'the word "HI" (at the bottom right)'):
        assert phrase in text
    assert REPORT.caption() == 'two cats, a woman biking, a red square and the word "HI"'


def test_plurals_of_emoji_names():
    assert plural("woman biking") == "women biking"
    assert plural("face with tears of joy") == "faces with tears of joy"
    assert plural("butterfly") == "butterflies"
    assert plural("red square") == "red squares"


def test_phrases_name_the_things_they_mean():
    assert [t.label for t in things_named("the cats", REPORT)] == ["cat", "cat"]
    assert things_named("red square", REPORT)[0].colour == "red"
    assert things_named("blue square", REPORT) == []
    assert things_named("a dog", REPORT) is None


def test_in_a_conversation_only_questions_about_the_picture_are_answered():
    block = ImageBlock(Image.new("RGB", (300, 300)), perception=REPORT, looked=True)
    asked = [Message("user", [block, TextBlock("How many cats are there?")])]
    assert answer_in_conversation(asked, REPORT) == "Two."
    later = asked + [Message.assistant("Two."), Message.user("What is the capital of France?")]
    assert answer_in_conversation(later, REPORT) is None
    poem = [Message("user", [block, TextBlock("Write a poem about it")])]
    assert answer_in_conversation(poem, REPORT).startswith("I see two cats")
    assert answer_in_conversation(poem, REPORT, plain_only=True) is None
