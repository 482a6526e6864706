"""Names people give things through the API (a cluster, a schedule): 1 to 200 characters, some of
them not white space, stored without the white space around them.

The limits apply to the name as sent, as the OpenAPI document states them (a name cut to size only
after stripping would be longer than the document allows). White space is JSON Schema's (ECMAScript's
``\\s``), so that the document and this check agree on which names have nothing in them.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import AfterValidator, StringConstraints

SPACE = "\t\n\v\f\r \u00a0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a"
SPACE += "\u2028\u2029\u202f\u205f\u3000\ufeff"


def without_space_around(name: str) -> str:
    return name.strip(SPACE)


Name = Annotated[
    str,
    StringConstraints(min_length=1, max_length=200, pattern=f"[^{SPACE}]"),
    AfterValidator(without_space_around),
]
