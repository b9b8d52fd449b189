"""Sequential specifications (models) for the linearizability checker.

A model is one small class (see docs/checker.md, "Writing a model"):

- `fs`: the operations it understands;
- `init(initial)`: the initial state (hashable: states are cached by equality/hash);
- `prepare(op)`: a compact, hashable description of one operation for `step`, or
  None to leave the operation out (an `info` read constrains nothing);
- `step(state, data)`: the state after the operation, or ILLEGAL when the
  operation cannot happen in that state (a read of the wrong value, a cas whose
  expected value does not match);
- `partition(op)`: the independent object the op touches (P-compositionality:
  a history over independent keys is linearizable iff each key's sub-history is);
- `describe_state(state)`, `why(state, op)`: words for explanations.

`prepare` sees whether an op is `ok` or `info`: an `info` op may or may not have
taken effect, so its step must allow both (the "did not happen" branch is covered
by linearizing it after everything else, which is always allowed as it never
returns) and must not constrain anything it would only observe.
"""

from __future__ import annotations

from typing import Any

from chaoskit.checker.history import Op


class _Illegal:
    __slots__ = ()

    def __repr__(self) -> str:
        return "ILLEGAL"


ILLEGAL: Any = _Illegal()

# The built-in models describe an op as (code, a, b) with these codes; models
# that set `inline = True` promise exactly these meanings, and the search then
# evaluates them in its loop instead of calling `step` (a call per step is a
# large share of CPython's cost there). Other models just implement `step`.
READ = 0  # legal iff state == a; state unchanged
WRITE = 1  # state := a
CAS = 2  # legal iff state == a; state := b
MAYBE_CAS = 3  # state := b if state == a (an info cas: may not have happened)
ADD = 4  # state := state | {a}
APPEND = 5  # state := state + a


def show(v: Any) -> str:
    if v is None:
        return "nil"
    if isinstance(v, frozenset):
        return "{" + ", ".join(sorted(show(x) for x in v)) + "}"
    if isinstance(v, tuple):
        return "[" + " ".join(show(x) for x in v) + "]"
    if isinstance(v, str):
        return repr(v)
    return str(v)


class Model:
    name = "abstract"
    fs: frozenset[str] = frozenset()
    noun = "object"
    inline = False  # True only for models whose op data follow the codes above
    # "wgl": the general search; "set": wgl_set.search_set (grow-only sets only)
    strategy = "wgl"
    # True when a state can only come back through an op that writes it (see
    # wgl.search's value guard): registers, not strings built by appends
    value_guard = False

    def init(self, initial: Any = None) -> Any:
        return initial

    def prepare(self, op: Op) -> Any | None:
        raise NotImplementedError

    def step(self, state: Any, data: Any) -> Any:
        raise NotImplementedError

    def partition(self, op: Op) -> Any:
        return op.key

    def pure(self, data: Any) -> bool:
        """True when the op never changes the state (a read). Lets the search
        commit to a legal read where it meets it."""
        return False

    def precheck(self, ops: list[Op], data: list[Any], init: Any) -> tuple[int, str] | None:
        """An op that no order can ever make legal (e.g. a read of a value nobody
        wrote), as (index, reason), found cheaply before the search; or None."""
        return None

    def lazy(self, ops: list[Op], data: list[Any]) -> list[bool] | None:
        """Which never-returning writes the search may place only right before an
        op that reads their value (inline models only; see wgl.search)."""
        return None

    def prune(self, ops: list[Op], data: list[Any]) -> list[bool]:
        """Which ops to keep. Ops whose presence cannot change the verdict may be
        dropped here (a model-specific speed-up; keep everything by default)."""
        return [True] * len(ops)

    def describe_state(self, state: Any) -> str:
        return f"{self.noun} {show(state)}"

    def describe_op(self, op: Op) -> str:
        if op.f in ("read", "get", "read-all"):
            out = "?" if op.type != "ok" else show(op.output)
            return f"{op.f} -> {out}"
        return f"{op.f} {show(op.value)}"

    def why(self, state: Any, op: Op) -> str:
        return f"{self.describe_op(op)} is impossible when the {self.describe_state(state)}"


class RegisterModel(Model):
    """A read/write register. A read of nil means the register was never written."""

    inline = True
    value_guard = True
    name = "register"
    fs = frozenset({"read", "write"})
    noun = "register holds"

    # Kinds kept as small ints: the search calls step millions of times.
    def prepare(self, op: Op) -> Any | None:
        if op.type == "fail":
            return None
        if op.f == "read":
            if op.type != "ok":
                return None
            return (READ, op.output, None)
        if op.f == "write":
            return (WRITE, op.value, None)
        if op.f == "cas":
            if not isinstance(op.value, tuple) or len(op.value) != 2:
                raise ValueError(
                    f"line {op.call_line}: cas value must be [expected, new], got {show(op.value)}"
                )
            return (CAS if op.type == "ok" else MAYBE_CAS, op.value[0], op.value[1])
        raise ValueError(f"line {op.call_line}: f {op.f!r} is not an operation of {self.name}")

    def step(self, state: Any, data: Any) -> Any:
        k, a, b = data
        if k == 0:
            return state if a == state else ILLEGAL
        if k == 1:
            return a
        if k == 2:
            return b if a == state else ILLEGAL
        return b if a == state else state  # info cas: applies only if it matched

    def pure(self, data: Any) -> bool:
        return data[0] == 0

    def precheck(self, ops: list[Op], data: list[Any], init: Any) -> tuple[int, str] | None:
        written = {init}
        for d in data:
            if d[0] == WRITE:
                written.add(d[1])
            elif d[0] in (CAS, MAYBE_CAS):
                written.add(d[2])
        bad = [
            i
            for i, d in enumerate(data)
            if (d[0] == READ or d[0] == CAS) and d[1] not in written and ops[i].type == "ok"
        ]
        if not bad:
            return None
        i = min(bad, key=lambda j: ops[j].ret if ops[j].ret is not None else 1 << 62)
        what = "read" if data[i][0] == READ else "cas expecting"
        return i, (
            f"it {what} {show(data[i][1])}, a value no operation on this key ever writes "
            f"(and not the initial value {show(init)})"
        )

    def lazy(self, ops: list[Op], data: list[Any]) -> list[bool] | None:
        # Pending writes are lazy unless an info cas expects their value (the
        # search pairs lazy writes only with reads and ok cas).
        maybe_expected = {d[1] for d in data if d[0] == MAYBE_CAS}
        return [
            op.type != "ok" and d[0] == WRITE and d[1] not in maybe_expected
            for op, d in zip(ops, data, strict=True)
        ]

    def prune(self, ops: list[Op], data: list[Any]) -> list[bool]:
        # An info write (or info cas) of a value nobody ever observes (no read
        # returns it, no cas expects it) can be dropped: in any linearization it
        # can only be overwritten unseen, so it may as well never have happened.
        observed = {d[1] for d in data if d[0] != 1}
        keep = []
        for op, d in zip(ops, data, strict=True):
            k = d[0]
            if op.type != "ok" and (
                k == 1 and d[1] not in observed or k == 3 and d[2] not in observed
            ):
                keep.append(False)
            else:
                keep.append(True)
        return keep

    def describe_state(self, state: Any) -> str:
        return f"register holds {show(state)}"

    def why(self, state: Any, op: Op) -> str:
        if op.f == "read":
            return f"can't read {show(op.output)} from a register holding {show(state)}"
        if op.f == "cas":
            e, n = op.value
            return f"can't cas {show(e)} -> {show(n)}: the register holds {show(state)}"
        return super().why(state, op)


class CasRegisterModel(RegisterModel):
    name = "cas-register"
    fs = frozenset({"read", "write", "cas"})


class KVModel(Model):
    """Porcupine's kv: per key a string; get returns it, put sets it, append appends.

    A missing key reads as "" (nil reads are taken as "")."""

    inline = True
    name = "kv"
    fs = frozenset({"get", "put", "append"})

    def init(self, initial: Any = None) -> Any:
        return "" if initial is None else str(initial)

    def prepare(self, op: Op) -> Any | None:
        if op.type == "fail":
            return None
        if op.f == "get":
            if op.type != "ok":
                return None
            return (READ, "" if op.output is None else str(op.output), None)
        if op.f == "put":
            return (WRITE, "" if op.value is None else str(op.value), None)
        if op.f == "append":
            return (APPEND, "" if op.value is None else str(op.value), None)
        raise ValueError(f"line {op.call_line}: f {op.f!r} is not an operation of kv")

    def step(self, state: Any, data: Any) -> Any:
        k, a, _ = data
        if k == READ:
            return state if a == state else ILLEGAL
        if k == WRITE:
            return a
        return state + a

    def pure(self, data: Any) -> bool:
        return data[0] == 0

    def describe_state(self, state: Any) -> str:
        return f"value is {state!r}"

    def why(self, state: Any, op: Op) -> str:
        if op.f == "get":
            return f"can't get {show(op.output)} when the value is {state!r}"
        return super().why(state, op)


class SetModel(Model):
    """A grow-only set: add x; read-all returns every element."""

    inline = True
    strategy = "set"
    name = "set"
    fs = frozenset({"add", "read-all"})

    def init(self, initial: Any = None) -> Any:
        if initial is None:
            return frozenset()
        if isinstance(initial, tuple | list | set | frozenset):
            return frozenset(initial)
        raise ValueError(f"--initial for a set must be a list, got {initial!r}")

    def prepare(self, op: Op) -> Any | None:
        if op.type == "fail":
            return None
        if op.f == "add":
            return (ADD, op.value, None)
        if op.f == "read-all":
            if op.type != "ok":
                return None
            out = op.output
            if out is None:
                out = ()
            if not isinstance(out, tuple | frozenset):
                raise ValueError(
                    f"line {op.ret_line}: read-all must return a list, got {show(out)}"
                )
            return (READ, frozenset(out), None)
        raise ValueError(f"line {op.call_line}: f {op.f!r} is not an operation of set")

    def step(self, state: Any, data: Any) -> Any:
        k, a, _ = data
        if k == READ:
            return state if a == state else ILLEGAL
        if a in state:
            return state
        return state | {a}

    def pure(self, data: Any) -> bool:
        return data[0] == 0

    def prune(self, ops: list[Op], data: list[Any]) -> list[bool]:
        # An info add of an element no read-all ever returns: once added it stays,
        # so it can only be linearized after every read, i.e. as if never done.
        seen: set[Any] = set()
        for d in data:
            if d[0] == 0:
                seen |= d[1]
        return [
            op.type == "ok" or d[0] == 0 or d[1] in seen for op, d in zip(ops, data, strict=True)
        ]

    def describe_state(self, state: Any) -> str:
        return f"set is {show(state)}"

    def why(self, state: Any, op: Op) -> str:
        if op.f == "read-all":
            got = frozenset(op.output or ())
            missing = sorted(map(show, state - got))
            extra = sorted(map(show, got - state))
            parts = []
            if missing:
                parts.append("missing " + ", ".join(missing[:8]))
            if extra:
                parts.append("unexpected " + ", ".join(extra[:8]))
            return f"read-all disagrees with the set {show(state)}: " + "; ".join(parts)
        return super().why(state, op)


MODELS: dict[str, type[Model]] = {
    "register": RegisterModel,
    "cas-register": CasRegisterModel,
    "kv": KVModel,
    "set": SetModel,
}


def register_model(cls: type[Model]) -> type[Model]:
    """Make a model known by name (check_linearizable(h, "name"), and --model when
    registered before the CLI is imported) and its operations valid in histories.
    Usable as a class decorator."""
    from chaoskit.checker.history import KNOWN_FS

    MODELS[cls.name] = cls
    KNOWN_FS.update(cls.fs)
    return cls


def get_model(model: str | Model) -> Model:
    if isinstance(model, Model):
        return model
    cls = MODELS.get(model)
    if cls is None:
        raise ValueError(f"unknown model {model!r}; valid: {', '.join(sorted(MODELS))}, auto")
    return cls()


def guess_model(fs: set[str]) -> str:
    """The model a history's operations suggest (for --model auto)."""
    if fs & {"add", "read-all"}:
        return "set"
    if fs & {"get", "put", "append"}:
        return "kv"
    if "cas" in fs:
        return "cas-register"
    return "register"
