"""tests/python/typed_app.py - a program using the tokenstore package as an
application would, for mypy (tests/python/mypy.test) to check against the
package's type hints: it must pass `mypy --strict`. It also runs: with
a store URI as its argument it saves, finds and lists tokens there."""
import sys
from typing import Dict, Iterator, List, Optional

import tokenstore
from tokenstore import Token


def expiry_of(store: tokenstore.Store, user: str) -> Optional[int]:
    token: Optional[Token] = store.find({"user_name": user})
    if token is None or token.expiry_time is None:
        return None
    return int(token.expiry_time)


def users(store: tokenstore.Store) -> List[str]:
    every: Iterator[Token] = store.tokens()
    return [t.user_name for t in every if t.user_name is not None]


def main(spec: str) -> int:
    version: str = tokenstore.__version__
    assert version == tokenstore.version()
    with tokenstore.open(spec) as store:
        token_id: str = store.save(Token(user_name="a@example.com", refresh_token="1000.r",
                                         expiry_time="1893456000000"))
        ids: List[str] = store.save_many([{"user_name": "b@example.com", "grant_token": "g"},
                                          Token(user_name="c@example.com", access_token="x")])
        by_id: Token = store.find_by_id(token_id)
        fields: Dict[str, str] = by_id.as_dict()
        print(token_id, ids, fields["user_name"], expiry_of(store, "a@example.com"),
              users(store))
        try:
            store.delete(int(token_id) + 100)
        except tokenstore.NotFoundError as e:
            code: Optional[str] = e.code
            print(code)
        closed: bool = store.closed
        assert not closed
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else "memory:"))
