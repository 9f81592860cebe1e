"""Three invented days of arXiv announcements and Hugging Face lists for the update tests:
each day's papers have words and topics of their own, so that a keyword and a paraphrase
find that day's papers and no other's."""

from __future__ import annotations

from datetime import date

from tests.fake_services import World
from tests.feeds import paper

DAYS = [date(2026, 11, 25), date(2026, 11, 26), date(2026, 11, 27)]  # Wednesday to Friday
CATEGORIES = "cs.AI,cs.CL,cs.CV,cs.LG"

# (title, abstract, categories) per day; the first three are also on that day's HF list.
TOPICS = [
    [
        (
            "Tactile sensing lets a robot hand grasp fragile glassware",
            "We fit a robotic gripper with touch sensors so that it holds eggs and wine "
            "glasses firmly without cracking them.",
            ["cs.AI", "cs.RO"],
        ),
        (
            "Speech recognition for languages with little transcribed audio",
            "Self-supervised acoustic pretraining cuts word error rates for twelve "
            "low-resource languages.",
            ["cs.CL"],
        ),
        (
            "A benchmark of chess puzzles for language models",
            "Language models solve tactical chess puzzles given in algebraic notation.",
            ["cs.CL", "cs.AI"],
        ),
        (
            "Counting penguins in satellite images",
            "A density estimator counts penguin colonies on Antarctic ice from orbit.",
            ["cs.CV"],
        ),
        (
            "Side-channel attacks on smart door locks",
            "Power traces leak the unlock codes of consumer smart locks.",
            ["cs.CR"],  # not in the configured categories: left out
        ),
    ],
    [
        (
            "Forecasting river floods with graph neural networks",
            "Gauges along a river network form a graph; message passing predicts water "
            "levels three days ahead and warns of overflowing banks.",
            ["cs.LG"],
        ),
        (
            "Compressing transformer weights to two bits",
            "Quantization with learned rotations keeps perplexity close to half precision.",
            ["cs.LG", "cs.CL"],
        ),
        (
            "Detecting sarcasm in product reviews",
            "A contrastive classifier spots ironic praise in online shop reviews.",
            ["cs.CL"],
        ),
        (
            "Estimating crop yields from drone imagery",
            "Multispectral drone photographs of wheat fields predict the harvest.",
            ["cs.CV"],
        ),
    ],
    [
        (
            "Translating sign language videos into text",
            "A pose encoder reads the hand shapes of deaf signers in video and writes "
            "English sentences.",
            ["cs.CV", "cs.CL"],
        ),
        (
            "Reinforcement learning for data-center cooling",
            "A policy sets chiller temperatures and saves a fifth of the energy.",
            ["cs.LG"],
        ),
        (
            "Music generation with latent diffusion",
            "A latent diffusion model composes piano pieces from a text prompt.",
            ["cs.AI"],
        ),
        (
            "Extracting clauses from legal contracts",
            "Span extraction finds termination and liability clauses in contracts.",
            ["cs.CL"],
        ),
    ],
]

# Per day: (a word only that day's papers use, its paper; a paraphrase, its paper).
KEYWORD = ["glassware", "flood", "sign"]
PARAPHRASE = [
    "machine picks up delicate things without breaking them",
    "predicting when rivers overflow",
    "converting gestures of deaf people to written words",
]


def day_papers(index: int) -> list[dict]:
    day = DAYS[index]
    return [
        paper(
            1000 * (index + 1) + n,
            title=title,
            abstract=abstract,
            categories=categories,
            authors=[f"Author{n} Day{index + 1}", "Mia Chen"],
            published=f"{day.isoformat()}T10:00:00Z",
            updated=f"{day.isoformat()}T10:00:00Z",
            upvotes=10 - n,
        )
        for n, (title, abstract, categories) in enumerate(TOPICS[index])
    ]


def in_categories(papers: list[dict]) -> list[dict]:
    wanted = set(CATEGORIES.split(","))
    return [p for p in papers if wanted.intersection(p["categories"])]


def three_days() -> World:
    world = World()
    for index, day in enumerate(DAYS):
        papers = day_papers(index)
        world.arxiv[day] = papers
        world.hf[day] = papers[:3]
    return world
