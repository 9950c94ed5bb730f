"""A few hand-written movie descriptions: for the quick start, the web page and the docs."""

from __future__ import annotations

EXAMPLES: dict[str, str] = {
    "Haunted lighthouse": (
        "After inheriting a remote lighthouse, a young widow moves in with her son and begins to "
        "hear whispers in the walls at night. The villagers refuse to speak of the keeper who "
        "vanished there, and as the storms close in, something in the cellar starts to answer "
        "her calls."
    ),
    "Mountain wildlife": (
        "Filmed over four years in the Himalayas, this film follows snow leopards, golden eagles "
        "and the herders who share their valleys. Scientists and villagers explain how a warming "
        "climate is changing the mountains, with interviews and rare footage of animals that few "
        "people have ever seen."
    ),
    "Wedding chaos": (
        "Two rival wedding planners are hired by mistake for the same ceremony and must share "
        "one chaotic weekend at a seaside hotel. Between a runaway goat, a jealous ex and a cake "
        "that will not stay upright, they slowly discover they are better together than apart."
    ),
    "Space station": (
        "In the year 2190 a repair crew aboard a failing orbital station discovers an alien "
        "signal hidden in the reactor logs. As the station's artificial intelligence starts to "
        "lock them out, the engineers race to decode the message before the orbit decays and "
        "the station falls to Earth."
    ),
    "Frontier town": (
        "A retired gunslinger rides into a dusty frontier town where a cattle baron has taken "
        "the water rights and the sheriff is in his pocket. When the ranchers are driven from "
        "their land, he straps on his revolver one last time for a showdown on the main street "
        "at noon."
    ),
}
