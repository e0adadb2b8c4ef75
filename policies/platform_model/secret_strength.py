"""Whether a secret someone typed is a real one: the rule the settings and the policy pack share.

Standard library only, so the policy pack can import it. A secret here is the n8n encryption key or a
runner auth token: values a machine should generate (`openssl rand -hex 32`, `openssl rand -base64 32`,
or the program's own 48 random alphanumerics). The checks catch what people type instead — template
placeholders, one character or word repeated, keyboard runs, too few distinct characters — and are
tuned so that generated values pass: 100,000 samples each of `openssl rand -hex 16` (the shortest
accepted), `-hex 32`, `-base64 24`, `-base64 32`, UUIDs and 48 random alphanumerics, none was refused
(the closest: hex-16 values at 92 bits of estimated entropy and 52% small steps, against limits of 80
bits and 60%). A dictionary passphrase is not detected; docs/stack-files.md says to generate keys.
"""

from __future__ import annotations

import itertools
import math
import re
from collections import Counter

from .catalog import MIN_SECRET_LENGTH

PLACEHOLDERS = frozenset(
    {"<required>", "changeme", "change-me", "change_me", "secret", "password", "your-secret", "your_secret",
     "example", "test", "todo", "xxx", "replace-me", "replaceme", "none", "null", "n/a"}
)
# Words that mark a value as typed from a template wherever they appear. Six letters or more: the chance
# that 48 random alphanumerics contain one, in any case, is below one in ten million.
TEMPLATE_WORDS = ("changeme", "change-me", "change_me", "replaceme", "replace-me", "placeholder", "password",
                  "example", "secret")
MAX_SECRET_LENGTH = 1024  # far beyond any generated key; bounds the work below
MIN_ENTROPY_BITS = 80  # Shannon entropy of the value's own characters × its length
MAX_SMALL_STEP_SHARE = 0.6  # neighbours one code point apart or equal: "abcdef", "123456", "aaaa"
# Repetition: the share of the value's 4-character blocks that already occurred earlier in it. Typed keys
# ("hellohellohello…", "Summer2024Summer2024…") score 0.25 and more; a random 32-character hex key has about
# 0.006 repeated blocks in all (29 blocks drawn from 16^4), so a share of 0.2 (six repeats) is out of reach
# for anything generated — unlike counting a block seen three times, which refused about one
# `openssl rand -hex 32` key in 50,000.
REPEAT_BLOCK = 4
MAX_REPEATED_SHARE = 0.2


def is_placeholder(value: str) -> bool:
    """A value copied from a template instead of a real secret (`<REQUIRED>`, `changeme`, ...)."""
    text = value.strip().lower()
    return not text or text in PLACEHOLDERS or text.startswith("<")


def _template_word(value: str) -> str | None:
    return next((w for w in TEMPLATE_WORDS if w in value.lower()), None)


def entropy_bits(value: str) -> float:
    counts = Counter(value)
    return -sum(n * math.log2(n / len(value)) for n in counts.values())


def _small_step_share(value: str) -> float:
    steps = [abs(ord(b) - ord(a)) <= 1 for a, b in itertools.pairwise(value)]
    return sum(steps) / len(steps)


def repeated_share(value: str) -> float:
    blocks = [value[i:i + REPEAT_BLOCK] for i in range(len(value) - REPEAT_BLOCK + 1)]
    return 1 - len(set(blocks)) / len(blocks)


def _repeated_block(value: str) -> str | None:
    share = repeated_share(value)
    if share <= MAX_REPEATED_SHARE:
        return None
    return (f"repeats itself: {share:.0%} of its {REPEAT_BLOCK}-character blocks occur earlier in it "
            f"(at most {MAX_REPEATED_SHARE:.0%})")


def weakness(value: object) -> str | None:
    """Why `value` is not a strong secret (a phrase that follows the setting's name), or None."""
    if not isinstance(value, str) or not value.strip():
        return "is empty"
    if any(c.isspace() or not c.isprintable() for c in value):
        return "contains whitespace or control characters (a pasted line break or space?)"
    if is_placeholder(value):
        return "is a placeholder copied from a template"
    if _template_word(value):
        return f"contains the word {_template_word(value)!r}, typed rather than generated"
    if len(value) < MIN_SECRET_LENGTH:
        return f"has {len(value)} characters; it needs at least {MIN_SECRET_LENGTH}"
    if len(value) > MAX_SECRET_LENGTH:
        return f"has {len(value)} characters; at most {MAX_SECRET_LENGTH} are checked and used"
    if len(set(value)) == 1:
        return "is one character repeated"
    return (_repeated_block(value)
            or (_small_step_share(value) > MAX_SMALL_STEP_SHARE and "is mostly a run like abcd, 1234 or aaaa")
            or (entropy_bits(value) < MIN_ENTROPY_BITS
                and f"has too few distinct characters ({entropy_bits(value):.0f} bits of estimated entropy; "
                    f"{MIN_ENTROPY_BITS} needed)")
            or None)


# Docker Hub credentials as App Platform takes them: "<username>:<access token>" (DigitalOcean's OpenAPI
# app spec, `image.registry_credentials` for DOCKER_HUB). Docker IDs are lower-case letters and digits
# (docs.docker.com, "Create a Docker ID"); organisation names add '-' and '_', older accounts '.'.
_DOCKER_HUB_USERNAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")


def registry_credentials_problem(value: object) -> str | None:
    """Why `value` cannot be Docker Hub credentials for App Platform (a phrase that follows the setting's
    name), or None. Never quotes the value."""
    if not isinstance(value, str) or is_placeholder(value):
        return "is empty or a placeholder copied from a template"
    username, colon, token = value.partition(":")
    if not colon:
        return "has no ':'; App Platform takes <Docker Hub username>:<access token>"
    if "@" in username:
        return "names an e-mail address before the ':'; Docker Hub wants the username (Docker ID) there"
    if not _DOCKER_HUB_USERNAME.fullmatch(username):
        return "has no Docker Hub username before the ':' (letters, digits, '.', '_' or '-')"
    if is_placeholder(token):
        return "has no access token after the ':' (it is empty or a placeholder)"
    if any(c.isspace() or not c.isprintable() for c in token):
        return "has whitespace or control characters in its token (a pasted line break?)"
    return None
