"""Vocabulary for the tool-use training conversations: places, facts to remember, things in pictures, files,
small talk. Facts are built from parts so the model meets thousands of different notes and queries and learns
to copy them into arguments rather than to recognise a few."""

from __future__ import annotations

import random

CITIES = {
    "Tokyo": "Asia/Tokyo", "Osaka": "Asia/Tokyo", "Paris": "Europe/Paris", "London": "Europe/London",
    "Manchester": "Europe/London", "New York": "America/New_York", "Boston": "America/New_York",
    "Miami": "America/New_York", "Los Angeles": "America/Los_Angeles", "San Francisco": "America/Los_Angeles",
    "Seattle": "America/Los_Angeles", "Vancouver": "America/Vancouver", "Sydney": "Australia/Sydney",
    "Melbourne": "Australia/Melbourne", "Perth": "Australia/Perth", "Berlin": "Europe/Berlin",
    "Munich": "Europe/Berlin", "Moscow": "Europe/Moscow", "Dubai": "Asia/Dubai", "Singapore": "Asia/Singapore",
    "Mumbai": "Asia/Kolkata", "Delhi": "Asia/Kolkata", "Chicago": "America/Chicago", "Houston": "America/Chicago",
    "Toronto": "America/Toronto", "Madrid": "Europe/Madrid", "Barcelona": "Europe/Madrid", "Rome": "Europe/Rome",
    "Milan": "Europe/Rome", "Cairo": "Africa/Cairo", "Seoul": "Asia/Seoul", "Beijing": "Asia/Shanghai",
    "Shanghai": "Asia/Shanghai", "Hong Kong": "Asia/Hong_Kong", "Taipei": "Asia/Taipei",
    "Mexico City": "America/Mexico_City", "Sao Paulo": "America/Sao_Paulo", "Istanbul": "Europe/Istanbul",
    "Bangkok": "Asia/Bangkok", "Johannesburg": "Africa/Johannesburg", "Auckland": "Pacific/Auckland",
    "Denver": "America/Denver", "Phoenix": "America/Phoenix", "Lagos": "Africa/Lagos", "Nairobi": "Africa/Nairobi",
    "Jakarta": "Asia/Jakarta", "Manila": "Asia/Manila", "Stockholm": "Europe/Stockholm", "Oslo": "Europe/Oslo",
    "Helsinki": "Europe/Helsinki", "Copenhagen": "Europe/Copenhagen", "Amsterdam": "Europe/Amsterdam",
    "Brussels": "Europe/Brussels", "Vienna": "Europe/Vienna", "Zurich": "Europe/Zurich", "Prague": "Europe/Prague",
    "Warsaw": "Europe/Warsaw", "Athens": "Europe/Athens", "Dublin": "Europe/Dublin", "Lisbon": "Europe/Lisbon",
    "Reykjavik": "Atlantic/Reykjavik", "Buenos Aires": "America/Argentina/Buenos_Aires", "Lima": "America/Lima",
    "Bogota": "America/Bogota", "Santiago": "America/Santiago", "Honolulu": "Pacific/Honolulu",
    "Anchorage": "America/Anchorage", "Karachi": "Asia/Karachi", "Dhaka": "Asia/Dhaka", "Tehran": "Asia/Tehran",
    "Riyadh": "Asia/Riyadh", "Tel Aviv": "Asia/Jerusalem", "Kathmandu": "Asia/Kathmandu", "Hanoi": "Asia/Bangkok",
    "Kuala Lumpur": "Asia/Kuala_Lumpur", "Casablanca": "Africa/Casablanca", "Accra": "Africa/Accra", "UTC": "UTC",
}

PEOPLE = ("Anna", "Sam", "Raj", "Lena", "Tom", "Maria", "Kenji", "Fatima", "Oliver", "Chloe", "Diego", "Priya", "my sister",
          "my brother", "mom", "dad", "my boss", "the landlord", "grandma", "Alex", "Noah", "Mei", "Jonas", "Sofia")
DAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday", "tomorrow", "next week",
        "March 3", "June 14", "the 21st", "October 9", "Dec 2")
TIMES = ("9am", "10:30", "2pm", "3:15 pm", "noon", "6 pm", "7:45", "8 in the evening", "11am", "4:30pm")
EVENTS = ("dentist appointment", "haircut", "team meeting", "flight", "yoga class", "doctor's visit", "parent-teacher meeting",
          "car service", "job interview", "piano lesson", "dinner reservation", "vet appointment", "birthday party", "train")
THINGS = ("wifi password", "locker code", "bike lock code", "gate code", "door code", "PIN for the alarm", "library card number",
          "parking spot", "hotel room number", "booking reference", "license plate", "seat number", "gym locker number")
PLACES = ("the top drawer", "the blue box in the garage", "the kitchen shelf", "my backpack", "the glovebox",
          "the hall closet", "under the sink", "the second bookshelf", "the red folder", "the car trunk")
ITEMS = ("spare keys", "passport", "charger", "umbrella", "warranty papers", "tax forms", "headphones", "camera", "tent",
         "birth certificate", "sunglasses", "toolbox")
FOODS = ("oat milk", "spicy food", "sushi", "dark chocolate", "green tea", "pasta", "mangoes", "peanuts", "shellfish", "cilantro")


def fact(rng: random.Random) -> tuple[str, str]:
    """(a note to remember, the few words a later question about it would use)."""
    person, day, time = rng.choice(PEOPLE), rng.choice(DAYS), rng.choice(TIMES)
    kind = rng.randrange(6)
    if kind == 0:
        event = rng.choice(EVENTS)
        return f"the {event} is on {day} at {time}", event
    if kind == 1:
        thing = rng.choice(THINGS)
        code = rng.choice((str(rng.randint(100, 99999)), f"{rng.choice('ABCDEFGH')}{rng.randint(1, 99)}",
                           rng.choice(("sunflower42", "blue-otter-7", "Maple2024", "kiwi88"))))
        return f"my {thing} is {code}", thing
    if kind == 2:
        item = rng.choice(ITEMS)
        return f"the {item} are in {rng.choice(PLACES)}" if item.endswith("s") else f"the {item} is in {rng.choice(PLACES)}", item
    if kind == 3:
        food = rng.choice(FOODS)
        verb = rng.choice(("likes", "is allergic to", "can't eat", "loves", "hates"))
        return f"{person} {verb} {food}", f"{person} {food}" if rng.random() < 0.3 else person
    if kind == 4:
        item = rng.choice(ITEMS)
        return f"I lent my {item} to {person} on {day}", item
    return f"{person}'s birthday is on {rng.choice(DAYS[8:])}", f"{person} birthday"


NOUNS = ("car", "dog", "cat", "bicycle", "person", "tree", "cup", "phone", "laptop", "chair", "bird", "clock", "bottle",
         "umbrella", "red ball", "traffic light", "window", "door", "book", "lamp", "backpack", "keys", "glasses",
         "child", "bus", "boat", "flower", "sign", "table", "horse", "airplane", "pizza", "banana", "shoe", "hat")
ADJECTIVES = ("red", "open", "broken", "wet", "empty", "on", "moving", "new", "old", "full", "clean", "blue")


def picture_question(rng: random.Random) -> str:
    noun, other = rng.choice(NOUNS), rng.choice(NOUNS)
    return rng.choice((
        f"What color is the {noun}?", f"How many {noun}s are there?", f"Is the {noun} {rng.choice(ADJECTIVES)}?",
        f"Is there a {noun} in the picture?", f"What is the {noun} next to?", f"Is the {noun} left of the {other}?",
        "What is the person holding?", "Is it day or night?", "What time does the clock show?", "Is anyone smiling?",
        f"What is on the {noun}?", f"Are there more {noun}s than {other}s?", "What season does it look like?",
        f"What kind of {noun} is it?", "Is this indoors or outdoors?", f"Does the {noun} look {rng.choice(ADJECTIVES)}?",
    ))


SMALL_TALK = (
    ("Hello!", "Hello! How can I help you today?"), ("hi", "Hi! What can I do for you?"),
    ("hey there", "Hey! How can I help?"), ("Thanks!", "You're welcome!"), ("thank you so much", "Happy to help!"),
    ("Good morning", "Good morning! How can I help?"), ("good night", "Good night!"), ("bye", "Goodbye!"),
    ("ok", "Alright. Anything else?"), ("cool, thanks", "Glad it helped!"), ("How are you?", "I'm doing well, thanks. How can I help?"),
    ("Who are you?", "I am Rosetta, an assistant that can look at images, listen to recordings and use tools."),
    ("What's your name?", "My name is Rosetta."),
    ("What can you do?", "I can describe and read images, find things in them, transcribe audio, do arithmetic, "
                         "tell the time, read your files and remember notes."),
    ("Can you see images?", "Yes: attach a picture and ask me about it."),
    ("Can you listen to audio?", "Yes: attach a recording and I can transcribe it or answer what it asks."),
    ("Do you have a memory?", "Yes: I can remember notes for you and recall them later."),
    ("You're great", "Thank you!"), ("Can you help me?", "Of course. What do you need?"),
    ("That's all for now", "Alright, talk to you later!"), ("nice", "Glad you like it!"),
    ("Tell me a joke", "Why did the computer go to the doctor? It had a virus."),
)


# Requests no tool serves: the model should answer them itself, as it would without tools. Their answers in the
# training data are the base model's own (agent/train/distill.py), so learning tool use leaves these unchanged.
SUBJECTS = (
    "photosynthesis", "black holes", "the French Revolution", "gravity", "the water cycle", "volcanoes", "democracy",
    "the internet", "vaccines", "climate change", "the Roman Empire", "electricity", "DNA", "the moon", "rainbows",
    "inflation", "machine learning", "the Renaissance", "honey bees", "earthquakes", "the heart", "jazz", "chess",
    "the Great Wall of China", "dinosaurs", "recycling", "sleep", "coffee", "the ocean", "Shakespeare", "yoga",
    "the stock market", "bread", "friendship", "the solar system", "penguins", "music", "the Olympics", "tea", "forests",
)
TOPICS_TO_WRITE = ("the sea", "autumn", "a lost cat", "friendship", "the city at night", "a rainy day", "coffee", "the moon",
                   "a robot", "spring", "mountains", "a birthday", "the first snow", "a train journey", "the stars")


def general_request(rng: random.Random) -> str:
    subject, topic = rng.choice(SUBJECTS), rng.choice(TOPICS_TO_WRITE)
    return rng.choice((
        f"What is {subject}?", f"Explain {subject} in simple terms.", f"Tell me a fact about {subject}.",
        f"Why is {subject} important?", f"Give me three facts about {subject}.", f"Can you describe {subject}?",
        f"Write a short poem about {topic}.", f"Write a haiku about {topic}.", f"Tell me a short story about {topic}.",
        f"Give me a title for a blog post about {subject}.", f"What are the benefits of {subject}?",
        f"How would you explain {subject} to a child?", "What is the capital of France?", "Who wrote Hamlet?",
        "How many days are in a leap year?", "What is the largest planet?", "Give me tips to sleep better.",
        "How do I make a cup of tea?", "What should I cook for dinner?", "Suggest a name for my dog.",
        "How can I be more productive?", "What is a good way to learn a language?", f"Summarize what you know about {subject}.",
        "Tell me a joke about cats.", "What is the boiling point of water?", "Who painted the Mona Lisa?",
        "Recommend a good book.", "How do airplanes fly?", "What is the meaning of life?", f"Is {subject} interesting?",
    ))
