"""tests/python/typed_mistakes.py - mistakes the package's type hints let
mypy find before the program runs; tests/python/mypy.test expects one
error on each line marked with its message."""
import tokenstore
from tokenstore import Token

store = tokenstore.open("memory:")
found = store.find({"user_name": "a@example.com"})
print(found.refresh_token)  # E: Item "None" of "Optional[Token]" has no attribute "refresh_token"
new_id: int = store.save(Token(user_name="a@example.com"))  # E: Incompatible types in assignment
store.open_flags  # E: "Store" has no attribute "open_flags"
Token(user="a@example.com")  # E: Unexpected keyword argument "user" for "Token"
tokenstore.open(42)  # E: Argument 1 to "open" has incompatible type "int"
