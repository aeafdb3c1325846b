"""A restricted LaTeX -> NumPy translator: the formulas a learner reads, made computable.

Tests evaluate every side of every "=" of a formula shown by dlcore.activations,
dlcore.losses and dlcore.regression at sample points and compare it with the code that
computes it. A formula outside the translator's subset raises ValueError, so a new entry
cannot skip the check. Numbers are read as dlcore.readable.latex writes them: digit groups
``2{,}524{,}420`` and powers of ten ``1.5 \\times 10^{-8}``; ``\\text{area}'`` is the
variable "area'".
"""

import math
import re

import numpy as np

# Subscripts i, j, k index a vector, so y_i is the array y and \sum adds it up.

_TOKEN = re.compile(
    r"(?P<skip>\s+|\\[,;! ]|\\quad|\\left|\\right)"
    r"|(?P<rowsep>\\\\)"
    r"|(?P<named>\\(?:text|operatorname|begin|end)\{(?P<name>[^{}]*)\})"
    r"|(?P<command>\\[A-Za-z]+)"
    r"|(?P<number>\d{1,3}(?:\{,\}\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?)"
    r"|(?P<char>[A-Za-z{}()\[\]^_+\-/=|&<>,'])"
)
_erf = np.vectorize(math.erf, otypes=[float])
FUNCTIONS = {
    "log": np.log,
    "ln": np.log,
    "exp": np.exp,
    "tanh": np.tanh,
    "cosh": np.cosh,
    "sigma": lambda x: 1.0 / (1.0 + np.exp(-x)),
    "Phi": lambda x: 0.5 * (1.0 + _erf(x / np.sqrt(2.0))),
    "varphi": lambda x: np.exp(-(x**2) / 2.0) / np.sqrt(2.0 * np.pi),
    "erf": _erf,
    "max": np.maximum,
    "min": np.minimum,
    "ReLU6": lambda x: np.clip(x, 0.0, 6.0),
}
RELATIONS = {
    ">": np.greater,
    "<": np.less,
    r"\le": np.less_equal,
    r"\leq": np.less_equal,
    r"\ge": np.greater_equal,
    r"\geq": np.greater_equal,
}
GREEK = {r"\alpha", r"\lambda", r"\delta"}
TIMES = {("command", r"\times"), ("command", r"\cdot")}
DIGIT_GROUP = "{,}"  # LaTeX's thousands separator without the space a bare comma gets


def _tokenize(latex: str) -> list[tuple[str, str]]:
    tokens, position = [], 0
    while position < len(latex):
        match = _TOKEN.match(latex, position)
        if not match:
            raise ValueError(f"unsupported LaTeX at {latex[position : position + 20]!r}")
        kind = match.lastgroup if match.lastgroup != "name" else "named"
        if kind == "named":
            tokens.append((match.group("named")[1:].split("{")[0], match.group("name")))
        elif kind != "skip":
            tokens.append((kind, match.group(kind)))
        position = match.end()
    return tokens


class _Parser:
    """Recursive descent over the tokens of one side of a formula; builds env -> value."""

    def __init__(self, tokens):
        self.tokens, self.pos, self.abs_depth = tokens + [("end_of_input", "")], 0, 0

    def peek(self):
        return self.tokens[self.pos]

    def take(self, expected=None):
        token = self.tokens[self.pos]
        if expected is not None and token[1] != expected:
            raise ValueError(f"expected {expected!r}, found {token!r}")
        self.pos += 1
        return token

    def parse(self):
        node = self.expr()
        if self.peek()[0] != "end_of_input":
            raise ValueError(f"unexpected {self.peek()!r}")
        return node

    def expr(self):
        node = self.term()
        while self.peek() in (("char", "+"), ("char", "-")):
            sign, right, left = self.take()[1], self.term(), node
            node = (
                (lambda a, b: lambda env: a(env) + b(env))(left, right)
                if sign == "+"
                else (lambda a, b: lambda env: a(env) - b(env))(left, right)
            )
        return node

    def term(self):
        node = self.signed()
        while True:
            if self.peek() == ("char", "/"):
                self.take()
                node = (lambda a, b: lambda env: a(env) / b(env))(node, self.signed())
            elif self.peek() in TIMES:
                self.take()
                node = (lambda a, b: lambda env: a(env) * b(env))(node, self.signed())
            elif self._starts_factor(self.peek()):
                node = (lambda a, b: lambda env: a(env) * b(env))(node, self.power())
            else:
                return node

    def _starts_factor(self, token):
        kind, value = token
        if kind == "number" or (kind == "char" and (value.isalpha() or value in "({[")):
            return True
        if value == "|":
            return self.abs_depth == 0
        if kind == "command":
            return (
                value[1:] in FUNCTIONS
                or value in GREEK
                or value in (r"\frac", r"\sqrt", r"\sum", r"\hat", r"\pi")
            )
        return (kind, value) == ("begin", "cases") or (
            kind in ("text", "operatorname") and value in FUNCTIONS
        )

    def signed(self):
        if self.peek() == ("char", "-"):
            self.take()
            inner = self.signed()
            return lambda env: -inner(env)
        return self.power()

    def power(self):
        base = self.atom()
        if self.peek() == ("char", "^"):
            self.take()
            exponent = self.script()
            return lambda env: base(env) ** exponent(env)
        return base

    def script(self):
        kind, value = self.take()
        if (kind, value) == ("char", "{"):
            node = self.expr()
            self.take("}")
            return node
        if kind == "number":
            return _number(value)
        if kind == "char" and value.isalpha():
            return self._variable(value)
        raise ValueError(f"unsupported script {value!r}")

    def group(self):
        self.take("{")
        node = self.expr()
        self.take("}")
        return node

    def atom(self):
        kind, value = self.take()
        closing = {"(": ")", "[": "]", "{": "}"}
        if kind == "number":
            return _number(value)
        if kind == "char" and value in closing:
            node = self.expr()
            self.take(closing[value])
            return node
        if (kind, value) == ("char", "|"):
            self.abs_depth += 1
            inner = self.expr()
            self.take("|")
            self.abs_depth -= 1
            return lambda env: np.abs(inner(env))
        if kind == "char" and value.isalpha():
            return self._variable(value)
        if kind in ("text", "operatorname") and value in FUNCTIONS:
            return self.call(value)
        if kind == "text" and value.isidentifier():  # a named quantity: \text{price}
            return self._variable(value)
        if (kind, value) == ("begin", "cases"):
            return self.cases()
        if kind == "command":
            return self.command(value)
        raise ValueError(f"unsupported token {value!r}")

    def command(self, value):
        if value == r"\frac":
            top, bottom = self.group(), self.group()
            return lambda env: top(env) / bottom(env)
        if value == r"\sqrt":
            inner = self.group()
            return lambda env: np.sqrt(inner(env))
        if value == r"\sum":
            for mark in ("_", "^"):
                self.take(mark)
                self.script() if mark == "^" else self._skip_group()
            operand = self.term()
            return lambda env: np.sum(operand(env))
        if value == r"\hat":
            self.take("{")
            letter = self.take()[1]
            self.take("}")
            return self._variable(letter + "hat")
        if value in GREEK:
            return lambda env: env[value]
        if value == r"\pi":
            return lambda env: np.pi
        if value[1:] in FUNCTIONS:
            return self.call(value[1:])
        raise ValueError(f"unsupported command {value!r}")

    def _skip_group(self):
        self.take("{")
        while self.take()[1] != "}":
            pass

    def call(self, name):
        exponent = None
        if self.peek() == ("char", "^"):
            self.take()
            exponent = self.script()
        self.take("(")
        args = [self.expr()]
        while self.peek() == ("char", ","):
            self.take()
            args.append(self.expr())
        self.take(")")
        function = FUNCTIONS[name]
        if exponent is None:
            return lambda env: function(*(arg(env) for arg in args))
        return lambda env: function(*(arg(env) for arg in args)) ** exponent(env)

    def _variable(self, name):
        if self.peek() == ("char", "_"):
            self.take()
            index = self.take()[1]
            if index not in "ijk":
                raise ValueError(f"unsupported subscript {index!r} on {name}")
        if self.peek() == ("char", "'"):  # x' (scaled x) is a variable of its own
            self.take()
            name += "'"
        if name == "e":
            return lambda env: env.get("e", np.e)
        return lambda env: env[name]

    def cases(self):
        branches = []
        while True:
            value = self.expr()
            self.take("&")
            branches.append((value, self.condition()))
            if self.take()[0] == "end":
                break

        def evaluate(env):
            arrays = np.broadcast_arrays(
                *(c(env) for _, c in branches), *(v(env) for v, _ in branches)
            )
            return np.select(arrays[: len(branches)], arrays[len(branches) :], default=np.nan)

        return evaluate

    def condition(self):
        if self.peek() == ("text", "otherwise"):
            self.take()
            return lambda env: True
        left, tests = self.expr(), []
        while self.peek()[1] in RELATIONS:
            relation, right = RELATIONS[self.take()[1]], self.expr()
            tests.append((lambda r, a, b: lambda env: r(a(env), b(env)))(relation, left, right))
            left = right
        if not tests:
            raise ValueError("a case needs a condition")
        return lambda env: np.logical_and.reduce([test(env) for test in tests])


def _number(text: str):
    value = float(text.replace(DIGIT_GROUP, ""))
    return lambda env: value


def latex_sides(latex: str) -> list:
    """Every side of the formula after the first "=" (the left side only names the function),
    each as a function env -> value, where env maps variable names ("x", "y", "yhat", "z",
    "n") and LaTeX symbols (r"\\alpha") to values."""
    tokens, sides, depth, current = _tokenize(latex), [], 0, []
    for token in tokens:
        depth += token in (("char", "("), ("char", "{"), ("char", "["))
        depth -= token in (("char", ")"), ("char", "}"), ("char", "]"))
        if token == ("char", "=") and depth == 0:
            sides.append(current)
            current = []
        else:
            current.append(token)
    sides.append(current)
    if len(sides) < 2:
        raise ValueError(f"no '=' in {latex!r}")
    return [_Parser(side).parse() for side in sides[1:]]
