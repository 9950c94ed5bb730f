"""The zero-shot prior of the ``encoder`` kind: one sentence describing each IMDb genre.

The encoder embeds these sentences at fit time; the cosine between a text and each genre's
sentence gives a prior that lifts the rare genres (4-10 training rows), which the trained head
barely sees. On 4-fold validation of the training file it raised macro-F1 by ~0.05-0.09 for
about one point of accuracy.
"""

from __future__ import annotations

#: One sentence per IMDb genre, embedded once at fit time: the zero-shot prior that lifts the
#: rare genres (4-10 training rows). Labels outside this table fall back to "A {label} film."
GENRE_DESCRIPTIONS: dict[str, str] = {
    "action": "An action movie full of fights, chases, explosions, guns, heroes and villains "
    "in dangerous missions.",
    "adult": "An adult erotic film with sex, nudity, seduction and sexual desire.",
    "adventure": "An adventure film about a journey, an expedition, a quest for treasure in "
    "exotic lands.",
    "animation": "An animated cartoon film with animated characters, animation and drawn or "
    "computer-generated images.",
    "biography": "A biographical film about the real life story of a famous person, from "
    "childhood to career and legacy.",
    "comedy": "A comedy: a funny, hilarious story with jokes, humor and laughs.",
    "crime": "A crime film about criminals, gangsters, murder, police detectives, drugs, robbery "
    "and the mafia.",
    "documentary": "A documentary film that explores real people, events and issues with "
    "interviews and archival footage.",
    "drama": "A drama about a family, relationships, love, loss and the struggles of life.",
    "family": "A family film for children and parents, about kids, friendship, pets and "
    "growing up.",
    "fantasy": "A fantasy film with magic, wizards, dragons, fairies, spells and mythical "
    "kingdoms.",
    "game-show": "A television game show where contestants compete in games and quizzes to win "
    "cash and prizes, with a host.",
    "history": "A history film about historical events, ancient civilizations, wars of the "
    "past, kings, empires and centuries.",
    "horror": "A horror film with a monster, ghosts, demons, a killer, blood, terror and "
    "haunted houses.",
    "music": "A music film about musicians, bands, singers, songs, concerts, albums and tours.",
    "musical": "A musical film where characters sing and dance in song-and-dance numbers on stage.",
    "mystery": "A mystery about a puzzling disappearance or murder, secrets, clues and an "
    "investigation.",
    "news": "A television news program with reports, journalists, current affairs, headlines "
    "and interviews.",
    "reality-tv": "A reality TV series following real people, contestants and their daily "
    "lives, competitions and challenges.",
    "romance": "A romance about two people falling in love, a love story, romantic "
    "relationships and marriage.",
    "sci-fi": "A science fiction film about space, aliens, robots, future technology, time "
    "travel and scientists.",
    "short": "A short film: a brief story of a few minutes.",
    "sport": "A sports film about athletes, a team, a coach, football, boxing, a championship "
    "and competition.",
    "talk-show": "A television talk show where a host interviews celebrity guests and discusses "
    "topics with an audience.",
    "thriller": "A thriller full of suspense, danger, a killer, a conspiracy, kidnapping and a "
    "chase.",
    "war": "A war film about soldiers, battles, the army, World War II, combat and the front "
    "lines.",
    "western": "A western about cowboys, outlaws, a sheriff, horses, gunfights and the wild "
    "west frontier.",
}


def genre_description(label: str) -> str:
    return GENRE_DESCRIPTIONS.get(label, f"A {label} film.")
