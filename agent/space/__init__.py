"""The shared embedding space at run time: the text, image and audio towers, the Rosetta space and hub dual encoders, and grounding in it."""
