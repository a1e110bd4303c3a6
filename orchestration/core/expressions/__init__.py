"""Safe conditions: small Python-like expressions, checked and compiled once, never eval'd.

A route rule and a pipeline stage carry a condition such as
``payload.get('task') == 'calculate'``. :func:`compile_condition` checks it against an
allow-list when the rule is added and raises
:class:`~orchestration.core.exceptions.ConditionError` saying why when it is refused;
:meth:`Condition.evaluate` then runs the kept tree with the `simpleeval
<https://pypi.org/project/simpleeval/>`_ interpreter, hardened here, for a few microseconds
per call (``bench/conditions.py`` measures it against CEL implementations).
Nothing is ever passed to ``eval``, ``exec`` or ``compile``.

The language (one Python expression, at most :data:`MAX_SOURCE_LENGTH` characters, nested at
most :data:`MAX_DEPTH` levels; ``a + b + c`` nests one level per ``+``):

- **Names**: the context names the caller allows; for messages :data:`bus.message.MESSAGE_NAMES`
  (``payload``, ``sender_id``, ``recipient_id``, ``message_type``, ``priority``, ``headers``,
  ``correlation_id``, ``metadata``). Nothing starting with ``_`` is reachable, ever.
- **Literals**: strings, numbers, ``True``/``False``/``None``, and list, tuple, set and dict
  displays of expressions (``message_type in ('request', 'event')``).
- **Operators**: ``and or not``, ``== != < <= > >= in not in is is not``, ``+ - * / // % **``,
  unary ``- +``, ``x if c else y``, subscripts and slices (``payload['amount']``,
  ``sender_id[:6]``).
- **Functions**: ``len min max abs str int float bool`` (``str`` converts only strings,
  numbers, booleans and ``None``). Positional arguments only.
- **Methods**, called directly and only on the right type: on mappings ``.get .keys .values
  .items``; on strings ``.startswith .endswith .lower .upper .strip``. Attributes can only be
  called, never read (``payload.task`` is refused: write ``payload['task']``).

Refused when the rule is added: statements and imports, other names (``open``, ``getattr``,
``globals``, ``__import__``...), any ``_name`` or ``.__attr__``, other methods (``.format``,
``.pop``...), keyword arguments and ``*``/``**`` unpacking, lambda, comprehensions, ``:=``,
f-strings, ``%``-formatting of string literals, bitwise and shift operators, and any part
without names that fails or overflows (``9**9**9``, ``'a' * 10**10``, ``1/0``): such parts are
computed once at compile time, with the same bounds as at run time.

Bounded at run time, where the operands come from the message: a string built by ``+`` or
``*`` stays under :data:`MAX_SEQUENCE_LENGTH` characters, an integer built by ``*`` or ``**``
under :data:`MAX_INT_BITS` bits, lists and tuples are never repeated and strings are never
``%``-formatted. Going past a bound is an evaluation error like any other: the condition is
False, the error is counted on the condition and logged once.

The package: :mod:`.interpreter` runs checked trees with the bounds below,
:mod:`.checker` refuses what the language does not allow, :mod:`.condition` is the public
face.
"""

from orchestration.core.expressions.condition import Condition, compile_condition
from orchestration.core.expressions.interpreter import (
    MAX_DEPTH,
    MAX_INT_BITS,
    MAX_SEQUENCE_LENGTH,
    MAX_SOURCE_LENGTH,
)

__all__ = [
    "MAX_DEPTH",
    "MAX_INT_BITS",
    "MAX_SEQUENCE_LENGTH",
    "MAX_SOURCE_LENGTH",
    "Condition",
    "compile_condition",
]
