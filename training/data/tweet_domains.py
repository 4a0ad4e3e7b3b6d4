"""The topic ("domain") of a CrowdFlower tweet, from its @mentions, hashtags and keywords.

The corpus pools several CrowdFlower jobs, each collected around one topic. A model can score well on it by
learning those topics (most airline tweets are complaints) instead of sentiment, so the leave-one-domain-out
evaluation trains without one domain and tests on it, a stand-in for tweets about anything else.

The rules, checked in this order (the first domain whose pattern matches wins, case-insensitive):

- ``airlines``: an @mention or hashtag of a US airline (``@united``, ``@usairways``, ``@americanair``,
  ``@southwestair``, ``@jetblue``, ``@virginamerica``, ``@delta``, ``#unitedairlines`` …), or an airline word
  (``flight``, ``airline``, ``boarding``, ``gate agent``…) next to one of those names.
- ``nfl``: DeflateGate and the Super Bowl: ``#deflategate`` (and its spellings), ``deflate``, Patriots, Brady,
  Belichick, Goodell, Seahawks, ``@nfl``, ``#sb49``, ``super bowl``, ``football``.
- ``coachella``: ``coachella`` anywhere (``#Coachella2015``, ``@coachella``).
- ``apple``: ``@apple``, ``#apple``, ``#aapl``, Apple, iPhone, iPad, iPod, iOS, iTunes, iCloud, MacBook,
  Apple Watch.
- ``allergy``: the allergy-medicine job: Claritin, Zyrtec, Allegra, antihistamine, allergy, allergies.
- ``self_driving``: self-driving, driver-less, autonomous, automated or connected cars, robot cars, Google's
  car, a car that drives itself.
- ``other``: none of these.
"""

from __future__ import annotations

import re
from collections import Counter

AIRLINE_NAMES = (
    r"united|usairways|us ?airways|americanair|american ?airlines?|southwest ?air|southwest|jetblue|"
    r"virgin ?america|delta"
)
RULES = (
    (
        "airlines",
        re.compile(
            rf"[@#](?:{AIRLINE_NAMES})\w*|\b(?:{AIRLINE_NAMES})\b.*\b(?:flights?|flight attendants?|"
            r"airlines?|boarding|gate agent|baggage|plane|pilot)\b|\b(?:flights?|airlines?|boarding|"
            rf"baggage|plane)\b.*\b(?:{AIRLINE_NAMES})\b",
            re.IGNORECASE,
        ),
    ),
    (
        "nfl",
        re.compile(
            r"deflat|patriots|\bpats\b|brady|belichi|goodell|seahawks|[@#]nfl|#sb49|super ?bowl|"
            r"football",
            re.IGNORECASE,
        ),
    ),
    ("coachella", re.compile(r"coachella", re.IGNORECASE)),
    (
        "apple",
        re.compile(
            r"[@#]apple\b|#aapl|\bapple\b|\bi(?:phone|pad|pod|os|tunes|cloud)\w*|\bmacbook|"
            r"apple ?watch",
            re.IGNORECASE,
        ),
    ),
    ("allergy", re.compile(r"claritin|zyrtec|allegra|antihistamine|allerg", re.IGNORECASE)),
    (
        "self_driving",
        re.compile(
            r"self[- ]?driv|driver[- ]?less|autonom|automated (?:car|vehicle|driving)|"
            r"connected car|robot(?:ic)? cars?|google(?:'s)? car|drives? (?:it|them)sel",
            re.IGNORECASE,
        ),
    ),
)
OTHER = "other"
DOMAINS = tuple(name for name, _ in RULES) + (OTHER,)


def tweet_domain(text: str) -> str:
    """The domain of one tweet as written: the first rule that matches, or ``other``."""
    for name, pattern in RULES:
        if pattern.search(text):
            return name
    return OTHER


def tweet_domains(texts: list[str]) -> list[str]:
    return [tweet_domain(text) for text in texts]


def domain_counts(texts: list[str]) -> dict[str, int]:
    counted = Counter(tweet_domains(texts))
    return {domain: counted.get(domain, 0) for domain in DOMAINS}
