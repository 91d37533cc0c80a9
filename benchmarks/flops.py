"""FLOPs of a traced TensorFlow function, counted op by op from its graph.

What is counted: the multiply-adds of the dense ops, two FLOPs each (a
multiply and an add), with the static shapes of the traced graph:

| op | FLOPs |
|---|---|
| `MatMul` | 2 M K N |
| `BatchMatMul`, `BatchMatMulV2/V3` | 2 * (output elements) * K |
| `Einsum` (two operands) | 2 * product of the sizes of all its labels |
| `Conv2D`, `Conv3D` | 2 * (output elements) * kh kw (kd) * in-channels per filter |
| `Conv2DBackpropInput` / `...Filter` (and 3-D) | 2 * (out_backprop elements) * kh kw (kd) * in-ch |
| `DepthwiseConv2dNative` and its two backprops | 2 * (output / out_backprop elements) * kh kw |

The gradients of a `tf.GradientTape` inside a `tf.function` are ops of
the same graph, so a training step's count holds forward, backward
(the backprop convolutions, the transposed matmuls and einsums) and the
optimizer (no dense ops). The counter descends into function bodies:
`If` / `StatelessIf` / `Case` count their most expensive branch (in this
project every conditional is "run the step" against "skip it"),
`PartitionedCall` / `StatefulPartitionedCall` their function once, and
`While` / `StatelessWhile` their body times the trip count (e.g. the
LSTM's loop over words, forward and gradient). The trip count is the
loop's static `maximum_iterations`, or the bound of a `Less` /
`LessEqual` against a constant in its condition; a loop whose count
cannot be found statically is counted once and named in
`FlopCount.unknown_trip_counts`.

Not counted (excluded on purpose): elementwise arithmetic, activations,
batch normalisation, pooling, resizing, reductions, softmax, gathers and
the optimizer's update arithmetic. They are memory-bound, a few FLOPs per
element, and not what a matmul peak measures; in this project's models
they are a few percent of the dense FLOPs.

Why not TensorFlow's profiler: `tensorflow.python.profiler.model_analyzer`
with `ProfileOptionBuilder.float_operation()` (TF 2.21) counts nothing
inside function bodies (a step's top-level graph is one `If` around the
whole step: total 0), and on the body of a TF2 graph it skips `Conv2D`,
`MatMul` and `Einsum` whose shapes it cannot read, while it reports a
wrong number for `Conv2DBackpropFilter` (223 507 for a convolution of
41 472 FLOPs). See `tests/test_benchmark_train_step.py` for the hand check.
"""

import collections
import dataclasses
import re

import numpy as np
from tensorflow.python.framework import tensor_util

MATMUL_OPS = ("MatMul", "_FusedMatMul")
BATCH_MATMUL_OPS = ("BatchMatMul", "BatchMatMulV2", "BatchMatMulV3")
CONV_OPS = ("Conv2D", "Conv3D", "_FusedConv2D")
CONV_INPUT_GRAD_OPS = ("Conv2DBackpropInput", "Conv3DBackpropInputV2")
CONV_FILTER_GRAD_OPS = ("Conv2DBackpropFilter", "Conv3DBackpropFilterV2")
DEPTHWISE_OPS = (
    "DepthwiseConv2dNative",
    "DepthwiseConv2dNativeBackpropInput",
    "DepthwiseConv2dNativeBackpropFilter",
)
CONDITIONAL_OPS = {
    "If": ("then_branch", "else_branch"),
    "StatelessIf": ("then_branch", "else_branch"),
}
CASE_OPS = ("Case", "StatelessCase")
CALL_OPS = ("PartitionedCall", "StatefulPartitionedCall")
WHILE_OPS = ("While", "StatelessWhile")


@dataclasses.dataclass
class FlopCount:
    """The FLOPs of one call of a function.

    Attributes:
        total: all counted FLOPs.
        by_op_type: FLOPs per op type (`Conv2D`, `Conv2DBackpropFilter`, ...).
        by_scope: FLOPs per name-scope path: a tuple of `"forward"` or
            `"backward"` then the op's name scopes without control-flow and
            tape prefixes (`("backward", "generator", "stage2_res0",
            "conv2")`); `by_network` sums it per network.
        unknown_trip_counts: loops counted once because their trip count
            is not static.
    """

    total: int = 0
    by_op_type: dict = dataclasses.field(default_factory=dict)
    by_scope: dict = dataclasses.field(default_factory=dict)
    unknown_trip_counts: list = dataclasses.field(default_factory=list)

    def add(self, op_type, scope, flops):
        self.total += flops
        self.by_op_type[op_type] = self.by_op_type.get(op_type, 0) + flops
        self.by_scope[scope] = self.by_scope.get(scope, 0) + flops

    def scaled(self, factor):
        return FlopCount(
            self.total * factor,
            {k: v * factor for k, v in self.by_op_type.items()},
            {k: v * factor for k, v in self.by_scope.items()},
            list(self.unknown_trip_counts),
        )

    def merge(self, other):
        self.total += other.total
        for mine, theirs in ((self.by_op_type, other.by_op_type), (self.by_scope, other.by_scope)):
            for k, v in theirs.items():
                mine[k] = mine.get(k, 0) + v
        self.unknown_trip_counts.extend(other.unknown_trip_counts)


def count_flops(function, *args, **kwargs):
    """FLOPs of one call of `function` (a `tf.function` or a concrete function).

    Args:
        function: a `tf.function`, traced with `args` / `kwargs`, or a
            `ConcreteFunction` (then no args).
    Returns:
        A `FlopCount`.
    Raises:
        ValueError: a dense op has a shape that is not fully static.
    """
    if hasattr(function, "get_concrete_function"):
        function = function.get_concrete_function(*args, **kwargs)
    return count_graph_flops(function.graph)


def count_graph_flops(graph):
    """FLOPs of one run of every op of `graph`, nested function bodies included."""
    return _Counter().count(graph, bindings={})


def _dims(shape, op):
    """The dimensions of a fully static shape of `op`'s inputs or outputs."""
    if not shape.is_fully_defined():
        raise ValueError(
            f"{op.type} op {op.name!r} has a shape that is not static ({shape}); trace the "
            "function with fully defined input shapes to count its FLOPs."
        )
    return shape.as_list()


def _num_elements(shape, op):
    return int(np.prod(_dims(shape, op), dtype=np.int64))


def matmul_flops(op):
    a = _dims(op.inputs[0].shape, op)
    k = a[0] if op.get_attr("transpose_a") else a[1]
    return 2 * _num_elements(op.outputs[0].shape, op) * k


def batch_matmul_flops(op):
    x = _dims(op.inputs[0].shape, op)
    k = x[-2] if op.get_attr("adj_x") else x[-1]
    return 2 * _num_elements(op.outputs[0].shape, op) * k


def _window_times_channels(filter_dims):
    """kh * kw (* kd) * in-channels of a [..spatial.., in, out] filter."""
    return int(np.prod(filter_dims[:-1], dtype=np.int64))


def conv_flops(op):
    filter_dims = _dims(op.inputs[1].shape, op)
    return 2 * _num_elements(op.outputs[0].shape, op) * _window_times_channels(filter_dims)


def conv_input_grad_flops(op):
    # inputs: (input_sizes, filter, out_backprop)
    filter_dims = _dims(op.inputs[1].shape, op)
    return 2 * _num_elements(op.inputs[2].shape, op) * _window_times_channels(filter_dims)


def conv_filter_grad_flops(op):
    # inputs: (input, filter_sizes, out_backprop); the output is the filter gradient.
    filter_dims = _dims(op.outputs[0].shape, op)
    return 2 * _num_elements(op.inputs[2].shape, op) * _window_times_channels(filter_dims)


def depthwise_flops(op):
    # A depthwise filter is [kh, kw, in, multiplier]: kh * kw multiply-adds per output.
    if op.type == "DepthwiseConv2dNativeBackpropFilter":
        window = _dims(op.outputs[0].shape, op)[:2]
        elements = _num_elements(op.inputs[2].shape, op)
    elif op.type == "DepthwiseConv2dNativeBackpropInput":
        window = _dims(op.inputs[1].shape, op)[:2]
        elements = _num_elements(op.inputs[2].shape, op)
    else:
        window = _dims(op.inputs[1].shape, op)[:2]
        elements = _num_elements(op.outputs[0].shape, op)
    return 2 * elements * window[0] * window[1]


def _einsum_labels(subscripts, rank):
    """Labels of one operand, `...` expanded to per-dimension labels ("0", "1", ...)."""
    if "..." not in subscripts:
        return list(subscripts)
    head, tail = subscripts.split("...")
    num_ellipsis = rank - len(head) - len(tail)
    # Ellipsis dimensions broadcast right-aligned: name them from the right.
    return list(head) + [str(i) for i in range(num_ellipsis - 1, -1, -1)] + list(tail)


def einsum_flops(op):
    """2 * prod(sizes of all labels) for a contraction of two operands.

    Counts one multiply-add per point of the joint index space. An einsum
    with no contracted label (an outer or elementwise product) is one
    multiply per output element; one-operand einsums (transposes,
    reductions) are not counted.
    """
    equation = op.get_attr("equation").decode().replace(" ", "")
    inputs_part, output_part = equation.split("->")
    operands = inputs_part.split(",")
    if len(operands) != 2:
        return 0
    sizes = {}
    for subscripts, tensor in zip(operands, op.inputs):
        dims = _dims(tensor.shape, op)
        for label, dim in zip(_einsum_labels(subscripts, len(dims)), dims):
            sizes[label] = max(sizes.get(label, 1), dim)
    output_rank = op.outputs[0].shape.rank
    output_labels = set(_einsum_labels(output_part, output_rank))
    joint = int(np.prod(list(sizes.values()), dtype=np.int64))
    contracted = set(sizes) - output_labels
    return 2 * joint if contracted else joint


DENSE_OP_FLOPS = {
    **{t: matmul_flops for t in MATMUL_OPS},
    **{t: batch_matmul_flops for t in BATCH_MATMUL_OPS},
    **{t: conv_flops for t in CONV_OPS},
    **{t: conv_input_grad_flops for t in CONV_INPUT_GRAD_OPS},
    **{t: conv_filter_grad_flops for t in CONV_FILTER_GRAD_OPS},
    **{t: depthwise_flops for t in DEPTHWISE_OPS},
    "Einsum": einsum_flops,
}

# Name-scope components that say where an op sits, not which network it belongs to.
_SCOPE_PREFIXES = re.compile(
    r"^(cond|while|gradient_tape|StatefulPartitionedCall|PartitionedCall)(_\d+)?$"
)


def _scope_path(op):
    """The op's name scopes without control-flow prefixes and Keras call suffixes."""
    parts = op.name.split("/")[:-1]
    return tuple(re.sub(r"_\d+$", "", p) for p in parts if not _SCOPE_PREFIXES.match(p))


def live_ops(graph):
    """Ops of `graph` that run: those its outputs, control outputs or stateful ops need.

    TensorFlow prunes the rest when it instantiates a function (and XLA
    drops them too), e.g. the filter gradients of a frozen network that a
    tape differentiates through, or the input gradient of a first layer.
    """
    roots = [t.op for t in graph.outputs] + list(getattr(graph, "control_outputs", []))
    roots += [op for op in graph.get_operations() if op.op_def.is_stateful]
    live, stack = set(), list(roots)
    while stack:
        op = stack.pop()
        if op.name in live:
            continue
        live.add(op.name)
        stack.extend(t.op for t in op.inputs)
        stack.extend(op.control_inputs)
    return live


class _Counter:
    """Walks a graph and the function bodies its ops call."""

    def __init__(self):
        self._cache = {}

    def count(self, graph, bindings, scope=(), backward=False):
        """FLOPs of the live ops of `graph`.

        Args:
            bindings: maps (graph id, placeholder name) to the outer tensor
                it stands for, to read static values across function calls.
            scope: name-scope path of the op that called this graph.
            backward: the calling op belongs to a gradient computation.
        """
        result = FlopCount()
        live = live_ops(graph)
        for op in graph.get_operations():
            if op.name not in live:
                continue
            op_backward = backward or op.name.startswith("gradient_tape/")
            path = scope + _scope_path(op)
            if op.type in DENSE_OP_FLOPS:
                flops = DENSE_OP_FLOPS[op.type](op)
                direction = "backward" if op_backward or "Backprop" in op.type else "forward"
                result.add(op.type, (direction,) + path, flops)
            elif op.type in CONDITIONAL_OPS or op.type in CASE_OPS:
                result.merge(self._conditional(op, bindings, path, op_backward))
            elif op.type in CALL_OPS:
                body = self._function_graph(op, op.get_attr("f").name)
                bound = self._bind(body, op.inputs, bindings)
                result.merge(self.count(body, bound, path, op_backward))
            elif op.type in WHILE_OPS:
                result.merge(self._while(op, bindings, path, op_backward))
        return result

    def _conditional(self, op, bindings, scope, backward):
        if op.type in CASE_OPS:
            names = [f.name for f in op.get_attr("branches")]
        else:
            names = [op.get_attr(attr).name for attr in CONDITIONAL_OPS[op.type]]
        counts = []
        for name in names:
            body = self._function_graph(op, name)
            # Input 0 is the predicate / branch index; the rest are the branch arguments.
            bound = self._bind(body, op.inputs[1:], bindings)
            counts.append(self.count(body, bound, scope, backward))
        return max(counts, key=lambda c: c.total)

    def _while(self, op, bindings, scope, backward):
        body = self._function_graph(op, op.get_attr("body").name)
        per_iteration = self.count(body, {}, scope, backward)
        if per_iteration.total == 0:
            return per_iteration
        trips = self._trip_count(op, bindings)
        if trips is None:
            per_iteration.unknown_trip_counts.append(op.name)
            return per_iteration
        return per_iteration.scaled(trips)

    def _trip_count(self, op, bindings):
        """Static iterations of a while_v2 loop (inputs: counter, maximum_iterations, vars...)."""
        bounds = []
        maximum = self._static_value(op.inputs[1], bindings)
        if maximum is not None and maximum >= 0:
            bounds.append(int(maximum))
        cond = self._function_graph(op, op.get_attr("cond").name)
        for cond_op in cond.get_operations():
            if cond_op.type not in ("Less", "LessEqual"):
                continue
            left, right = cond_op.inputs
            names = [t.name for t in cond.inputs]
            if left.op.type != "Placeholder" or left.name not in names:
                continue
            start = self._static_value(op.inputs[names.index(left.name)], bindings)
            limit = self._static_value(right, {})
            if start is not None and limit is not None:
                bounds.append(max(0, int(limit) - int(start) + (cond_op.type == "LessEqual")))
        return min(bounds) if bounds else None

    def _static_value(self, tensor, bindings, depth=0):
        """The value of a small integer tensor known when tracing, else None."""
        if depth > 20:
            return None
        value = tensor_util.constant_value(tensor)
        if value is not None:
            return np.asarray(value)
        op = tensor.op
        if op.type in ("Identity", "Cast"):
            return self._static_value(op.inputs[0], bindings, depth + 1)
        if op.type in ("Max", "Min", "Sum", "Prod"):
            values = self._static_value(op.inputs[0], bindings, depth + 1)
            if values is None:
                return None
            reduce = {"Max": np.max, "Min": np.min, "Sum": np.sum, "Prod": np.prod}[op.type]
            result = reduce(values)
            return result if tensor.shape.rank == 0 else None
        if op.type == "Placeholder":
            outer = bindings.get((id(tensor.graph), tensor.name))
            if outer is not None:
                return self._static_value(outer, bindings, depth + 1)
        return None

    def _bind(self, body, outer_inputs, bindings):
        """Maps the function's argument placeholders to the caller's input tensors."""
        bound = dict(bindings)
        for placeholder, outer in zip(body.inputs, outer_inputs):
            bound[(id(body), placeholder.name)] = outer
        return bound

    def _function_graph(self, op, name):
        """The FuncGraph of function `name` called by `op` (looked up in enclosing graphs)."""
        graph = op.graph
        while graph is not None:
            function = graph._get_function(name)  # pylint: disable=protected-access
            if function is not None:
                break
            graph = getattr(graph, "outer_graph", None)
        if graph is None:
            raise ValueError(f"{op.type} op {op.name!r} calls function {name!r}, not found.")
        if name not in self._cache:
            self._cache[name] = function.graph
        return self._cache[name]


def breakdown_table(breakdown, total, limit=None):
    """Lines "name  GFLOP  share of `total`" of a breakdown dict, largest first."""
    items = sorted(breakdown.items(), key=lambda kv: -kv[1])
    if limit:
        items = items[:limit]
    total = max(total, 1)
    width = max([len(k) for k, _ in items] + [4])
    return [f"  {k:<{width}}  {v / 1e9:10.3f} GFLOP  {100.0 * v / total:5.1f} %" for k, v in items]


def by_network(count, depth=1, skip=()):
    """FLOPs per "direction/network": scope paths cut to `depth` components.

    Leading scope components named in `skip` (e.g. `damsm`, the model
    whose `train_step` was traced and which calls both encoders) are
    dropped first.
    """
    networks = collections.Counter()
    for (direction, *path), flops in count.by_scope.items():
        while path and path[0] in skip:
            path = path[1:]
        name = "/".join(path[:depth]) or "(top level)"
        networks[f"{direction}/{name}"] += flops
    return dict(networks)
