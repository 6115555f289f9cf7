"""What is said about a photo (agent/vision/photo_report.py, photo_answers.py): counts, places, plain answers
to plain questions, and "I can't tell" for things outside the detector's 80 kinds, never a made-up "no"."""

from __future__ import annotations

from agent.messages import Message
from agent.vision.detectors import Detection
from agent.vision.photo_answers import answer, kinds_for
from agent.vision.photo_report import PhotoReport

W, H = 600, 400
TWO_PEOPLE_AND_A_DOG = PhotoReport([
    Detection("person", 0.8, (20, 50, 180, 390)),     # left, large
    Detection("person", 0.7, (420, 60, 580, 390)),    # right, large
    Detection("dog", 0.6, (260, 300, 340, 390)),      # bottom centre, small
], W, H)
NOTHING = PhotoReport([], W, H)


def test_the_description_counts_and_places_each_kind():
    text = TWO_PEOPLE_AND_A_DOG.description()
    assert text.startswith("I see two people") and "on the left" in text and "on the right" in text
    assert "a dog (small, at the bottom)" in text


def test_nothing_found_is_said_plainly():
    assert "can't say what it shows" in NOTHING.description()
    assert answer("What is in this photo?", NOTHING) == NOTHING.description()


def test_counts_use_the_words_people_use():
    assert answer("How many people are in this photo?", TWO_PEOPLE_AND_A_DOG) == "I see two people."
    assert answer("how many dogs?", TWO_PEOPLE_AND_A_DOG) == "I see one dog."
    assert answer("How many cats are there", TWO_PEOPLE_AND_A_DOG) == "I see no cats."
    assert answer("How many animals are there?", TWO_PEOPLE_AND_A_DOG).startswith("I see one animal:")


def test_presence_and_place():
    assert answer("Is there a puppy?", TWO_PEOPLE_AND_A_DOG).startswith("Yes: a dog")
    assert answer("Is there a cat in the picture?", TWO_PEOPLE_AND_A_DOG) == "No, I don't see a cat in this photo."
    assert answer("Where is the dog?", TWO_PEOPLE_AND_A_DOG) == "A dog: small, at the bottom."


def test_things_outside_the_80_kinds_get_i_cannot_tell_not_no():
    for question in ("Are there any flowers?", "How many trees are there?", "Where is the lake?"):
        reply = answer(question, TWO_PEOPLE_AND_A_DOG)
        assert reply.startswith("I can't tell") and "not one of them" in reply, reply


def test_other_questions_are_left_to_the_core():
    assert answer("Write a poem about it", TWO_PEOPLE_AND_A_DOG) is None
    assert kinds_for("kittens") == ("cat",) and kinds_for("sofa") == ("couch",) and kinds_for("spaceship") is None


def test_a_question_about_an_earlier_photo_that_is_not_about_it_is_left_alone():
    from agent.vision.photo_answers import answer_in_conversation

    assert answer_in_conversation([Message.user("What is the capital of France?")]) is None


def test_more_ways_of_asking():
    report = TWO_PEOPLE_AND_A_DOG
    assert answer("count the people", report) == "I see two people."
    assert answer("how many cats and dogs are there?", report) == "I see no cats. I see one dog."
    assert answer("How many dogs do you see", report) == "I see one dog."
    assert answer("Who is in the photo?", report).endswith("I can't tell who they are.")
    assert answer("What animal is this?", report) == "I see a dog (small, at the bottom)."
    assert answer("Is this a cat or a dog?", report) == "I see a dog in this photo."
    assert answer("Where is the person standing?", report).startswith("A person: large, on the left")


def test_a_later_question_on_another_subject_goes_to_the_core():
    from agent.vision import perception
    from agent.vision.photo_answers import answer_in_conversation
    from tests.vision.reference_inputs import photo

    portrait = photo()
    history = [Message.user("What is in this photo?", images=[portrait]), Message.assistant("I see a person.")]
    history[0].images[0].perception = perception.perceive(portrait)
    assert answer_in_conversation(history + [Message.user("How many legs does a spider have?")]) is None
    assert answer_in_conversation(history + [Message.user("How many people are in it?")]) == "I see one person."
    assert "cannot judge colours" in answer_in_conversation(history + [Message.user("What colour is her hat?")])


def test_an_agent_hears_only_the_plain_questions_so_other_requests_reach_the_tools():
    from agent.vision import perception
    from agent.vision.photo_answers import answer_in_conversation
    from tests.vision.reference_inputs import photo

    portrait = photo()
    asked = [Message.user("Remember this photo for later", images=[portrait])]
    asked[0].images[0].perception = perception.perceive(portrait)
    assert answer_in_conversation(asked, plain_only=True) is None  # remember, read_text...: a tool's job
    assert "That is all I can tell" in answer_in_conversation(asked)  # the core alone says what it can
    plain = [Message.user("How many people are in this photo?", images=[portrait])]
    plain[0].images[0].perception = asked[0].images[0].perception
    assert answer_in_conversation(plain, plain_only=True) == "I see one person."
