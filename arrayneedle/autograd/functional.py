"""``torch.autograd.functional``: vjp, jvp, jacobian, hessian, vhp and hvp of a function of
Tensors, with PyTorch's signatures, results and errors.

Everything is reverse mode on the one backward walk: ``jvp`` and ``hvp`` use the double-vjp
trick (the vjp is linear in its vector, so differentiating it with respect to that vector gives
the jvp), which needs backward formulas that are themselves differentiable. ``vectorize`` is
accepted and computes the same values one row at a time.
"""
from __future__ import annotations

from ..graph import grad as _grad
from ..ops import stack
from . import Tensor, enable_grad

__all__ = ["vjp", "jvp", "jacobian", "hessian", "vhp", "hvp"]


def _as_tuple(x, arg_name, fn_name):
    """``x`` as a tuple of Tensors, and whether it was a tuple (for the result's structure)."""
    is_tuple = isinstance(x, (tuple, list))
    xs = tuple(x) if is_tuple else (x,)
    for i, t in enumerate(xs):
        if not isinstance(t, Tensor):
            where = f"{arg_name}" if not is_tuple else f"{arg_name}[{i}]"
            raise TypeError(f"The {where} given to {fn_name} must be either a Tensor or a tuple "
                            f"of Tensors but the value at index {i} has type {type(t).__name__}.")
    return is_tuple, xs


def _tuple_postprocess(res, to_unpack):
    # PyTorch's structure: drop the tuples that stand for single Tensors
    if isinstance(to_unpack, tuple):
        if not to_unpack[1]:
            res = tuple(el[0] for el in res)
        if not to_unpack[0]:
            res = res[0]
    elif not to_unpack:
        res = res[0]
    return res


def _preprocess(inputs, create_graph, need_graph):
    """Inputs the function is differentiated at: views of them when a graph of the result is
    wanted (create_graph) and they require grad, otherwise detached copies that require grad."""
    out = []
    for t in inputs:
        if create_graph and t.requires_grad:
            out.append(t.view_as(t))
        else:
            out.append(t.detach().requires_grad_(need_graph))
    return tuple(out)


def _postprocess(xs, create_graph):
    if isinstance(xs[0], tuple):
        return tuple(_postprocess(x, create_graph) for x in xs)
    return tuple(x if create_graph or x is None else x.detach() for x in xs)


def _zeros_like(t, requires_grad=False):
    z = Tensor._wrap(t._device.xp.zeros(t._array.shape, dtype=t._array.dtype), t._device)
    return z.requires_grad_(True) if requires_grad else z


def _validate_v(v, other, is_other_tuple):
    if len(other) != len(v):
        if is_other_tuple:
            raise RuntimeError(f"v is a tuple of invalid length: should be {len(other)} but got "
                               f"{len(v)}.")
        raise RuntimeError("The given v should contain a single Tensor.")
    for idx, (el_v, el_other) in enumerate(zip(v, other)):
        if tuple(el_v.shape) != tuple(el_other.shape):
            prepend = f"Entry {idx} in " if is_other_tuple else ""
            raise RuntimeError(f"{prepend}v has invalid size: should be {tuple(el_other.shape)} "
                               f"but got {tuple(el_v.shape)}.")


def _check_requires_grad(xs, input_type, strict):
    if not strict:
        return
    for i, t in enumerate(xs):
        if t is None:
            raise RuntimeError(f"The output of the user-provided function is independent of "
                               f"input {i}. This is not allowed in strict mode.")
        if not t.requires_grad:
            if input_type == "hessian":
                raise RuntimeError(f"The hessian of the user-provided function with respect to "
                                   f"input {i} is independent of the input. This is not allowed "
                                   f"in strict mode.")
            if input_type == "jacobian":
                raise RuntimeError(f"The jacobian of the user-provided function with respect to "
                                   f"input {i} is independent of the input. This is not allowed "
                                   f"in strict mode.")
            raise RuntimeError(f"Output {i} of the user-provided function does not require "
                               f"gradients. The outputs must be computed in a differentiable "
                               f"manner from the input when running in strict mode.")


def _autograd_grad(outputs, inputs, grad_outputs=None, create_graph=False, retain_graph=None):
    """autograd.grad over the outputs that require grad (the others contribute nothing); None
    for every input when no output does."""
    if grad_outputs is None:
        grad_outputs = (None,) * len(outputs)
    pairs = [(o, g) for o, g in zip(outputs, grad_outputs)
             if o is not None and o.requires_grad]
    if not pairs:
        return (None,) * len(inputs)
    return _grad(tuple(o for o, _ in pairs), inputs, tuple(g for _, g in pairs),
                 retain_graph=retain_graph, create_graph=create_graph, allow_unused=True)


def _fill_in_zeros(grads, refs, strict, create_graph, stage):
    res = []
    for i, (g, r) in enumerate(zip(grads, refs)):
        if g is None:
            if strict:
                if stage == "back":
                    raise RuntimeError(f"The output of the user-provided function is independent "
                                       f"of input {i}. This is not allowed in strict mode.")
                if stage == "back_trick":
                    raise RuntimeError(f"The gradient with respect to the input is independent of "
                                       f"entry {i} in the grad_outputs when using the double "
                                       f"backward trick to compute forward mode gradients. This "
                                       f"is not allowed in strict mode.")
                if stage == "double_back":
                    raise RuntimeError(f"The jacobian of the user-provided function is "
                                       f"independent of input {i}. This is not allowed in strict "
                                       f"mode.")
                raise RuntimeError(f"The hessian of the user-provided function is independent of "
                                   f"entry {i} in the grad_jacobian. This is not allowed in "
                                   f"strict mode as it prevents from using the double backward "
                                   f"trick to replace forward mode AD.")
            g = _zeros_like(r)
        res.append(g)
    return tuple(res)


def _call(func, inputs, fn_name):
    outputs = func(*inputs)
    is_outputs_tuple, outputs = _as_tuple(outputs, "outputs of the user-provided function",
                                          fn_name)
    return is_outputs_tuple, outputs


def _v_tuple(v, fn_name):
    if v is None:
        return None
    _, v = _as_tuple(v, "v", fn_name)
    return v


def vjp(func, inputs, v=None, create_graph=False, strict=False):
    """``(func(inputs), v^T J)``: the vector-Jacobian product of ``func`` at ``inputs``, as
    ``torch.autograd.functional.vjp``. ``v`` may be omitted when ``func`` returns one element."""
    with enable_grad():
        is_inputs_tuple, inputs = _as_tuple(inputs, "inputs", "vjp")
        inputs = _preprocess(inputs, create_graph, need_graph=True)
        is_outputs_tuple, outputs = _call(func, inputs, "vjp")
        _check_requires_grad(outputs, "outputs", strict)
        v = _v_tuple(v, "vjp")
        if v is not None:
            v = _preprocess(v, create_graph, need_graph=False)
            _validate_v(v, outputs, is_outputs_tuple)
        elif len(outputs) != 1 or outputs[0].numel() != 1:
            raise RuntimeError("The vector v can only be None if the user-provided function "
                               "returns a single Tensor with a single element.")
        grad_res = _autograd_grad(outputs, inputs, v, create_graph=create_graph)
        vjp_ = _fill_in_zeros(grad_res, inputs, strict, create_graph, "back")
    outputs = _postprocess(outputs, create_graph)
    vjp_ = _postprocess(vjp_, create_graph)
    return (_tuple_postprocess(outputs, is_outputs_tuple),
            _tuple_postprocess(vjp_, is_inputs_tuple))


def jvp(func, inputs, v=None, create_graph=False, strict=False):
    """``(func(inputs), J v)``: the Jacobian-vector product of ``func`` at ``inputs``, as
    ``torch.autograd.functional.jvp`` (by the double-vjp trick). ``v`` may be omitted when the
    input has one element."""
    with enable_grad():
        is_inputs_tuple, inputs = _as_tuple(inputs, "inputs", "jvp")
        inputs = _preprocess(inputs, create_graph, need_graph=True)
        v = _v_tuple(v, "jvp")
        if v is not None:
            v = _preprocess(v, create_graph, need_graph=False)
            _validate_v(v, inputs, is_inputs_tuple)
        elif len(inputs) != 1 or inputs[0].numel() != 1:
            raise RuntimeError("The vector v can only be None if the input to the user-provided "
                               "function is a single Tensor with a single element.")
        is_outputs_tuple, outputs = _call(func, inputs, "jvp")
        _check_requires_grad(outputs, "outputs", strict)
        # the vjp u -> u^T J is linear in u: its gradient with respect to u, weighted by v, is
        # J v
        grad_outputs = tuple(_zeros_like(o, requires_grad=True) for o in outputs)
        grad_inputs = _autograd_grad(outputs, inputs, grad_outputs, create_graph=True)
        _check_requires_grad(grad_inputs, "grad_inputs", strict)
        if create_graph:
            with enable_grad():
                grad_res = _autograd_grad(grad_inputs, grad_outputs, v, create_graph=True)
                jvp_ = _fill_in_zeros(grad_res, outputs, strict, create_graph, "back_trick")
        else:
            grad_res = _autograd_grad(grad_inputs, grad_outputs, v, create_graph=False)
            jvp_ = _fill_in_zeros(grad_res, outputs, strict, create_graph, "back_trick")
    outputs = _postprocess(outputs, create_graph)
    jvp_ = _postprocess(jvp_, create_graph)
    return (_tuple_postprocess(outputs, is_outputs_tuple),
            _tuple_postprocess(jvp_, is_outputs_tuple))


def _stack_rows(rows, out, inp):
    """The Jacobian block d out / d inp from its rows (one per element of ``out``), shaped
    ``out.shape + inp.shape``."""
    shape = tuple(out.shape) + tuple(inp.shape)
    if not rows:  # an empty output
        return Tensor._wrap(inp._device.xp.zeros(shape, dtype=inp._array.dtype), inp._device)
    return stack(rows, 0).reshape(shape)


def _check_strategy(strategy, vectorize, strict, name):
    if strategy not in ("forward-mode", "reverse-mode"):
        raise ValueError(f'Expected strategy to be either "forward-mode" or "reverse-mode". '
                         f"Hint: If your {name} has a typo, use one of those two values.")
    if strategy == "forward-mode" and not vectorize:
        raise NotImplementedError("Computing Jacobian using forward-AD or forward-over-reverse "
                                  "Hessian is only implemented for `vectorize=True`.")
    if strict and vectorize:
        raise RuntimeError("torch.autograd.functional.jacobian: `strict=True` and "
                           "`vectorized=True` are not supported together. Please either set "
                           "`strict=False` or `vectorize=False`.")


def jacobian(func, inputs, create_graph=False, strict=False, vectorize=False,
             strategy="reverse-mode"):
    """The Jacobian of ``func`` at ``inputs``, as ``torch.autograd.functional.jacobian``: a
    Tensor of shape ``output.shape + input.shape``, or (nested) tuples of them when ``func``
    returns or takes tuples."""
    _check_strategy(strategy, vectorize, strict, "strategy")
    with enable_grad():
        is_inputs_tuple, inputs = _as_tuple(inputs, "inputs", "jacobian")
        inputs = _preprocess(inputs, create_graph, need_graph=True)
        is_outputs_tuple, outputs = _call(func, inputs, "jacobian")
        _check_requires_grad(outputs, "outputs", strict)
        jac = []
        for i, out in enumerate(outputs):
            rows = [[] for _ in inputs]
            flat = out.reshape(-1)
            for j in range(out.numel()):
                vj = _autograd_grad((flat[j],), inputs, retain_graph=True,
                                    create_graph=create_graph)
                for el, (g, inp) in enumerate(zip(vj, inputs)):
                    if g is None:
                        if strict and create_graph and not inp.requires_grad:
                            raise RuntimeError(f"The jacobian of the user-provided function is "
                                               f"independent of input {el}. This is not allowed "
                                               f"in strict mode when create_graph=True.")
                        if strict:
                            raise RuntimeError(f"Output {i} of the user-provided function is "
                                               f"independent of input {el}. This is not allowed "
                                               f"in strict mode.")
                        g = _zeros_like(inp)
                    rows[el].append(g)
            jac.append(tuple(_stack_rows(r, out, inp) for r, inp in zip(rows, inputs)))
    jac = _postprocess(tuple(jac), create_graph)
    return _tuple_postprocess(jac, (is_outputs_tuple, is_inputs_tuple))


def hessian(func, inputs, create_graph=False, strict=False, vectorize=False,
            outer_jacobian_strategy="reverse-mode"):
    """The Hessian of the scalar function ``func`` at ``inputs``, as
    ``torch.autograd.functional.hessian``: shape ``input.shape + input.shape`` (nested tuples
    for several inputs)."""
    _check_strategy(outer_jacobian_strategy, vectorize, strict, "outer_jacobian_strategy")
    is_inputs_tuple, inputs = _as_tuple(inputs, "inputs", "hessian")

    def ensure_single_output_function(*inp):
        out = func(*inp)
        is_out_tuple, t_out = _as_tuple(out, "outputs of the user-provided function", "hessian")
        _check_requires_grad(t_out, "outputs", strict)
        if is_out_tuple or not isinstance(out, Tensor):
            raise RuntimeError("The function given to hessian should return a single Tensor")
        if out.numel() != 1:
            raise RuntimeError("The Tensor returned by the function given to hessian should "
                               "contain a single element")
        return out.squeeze()

    def jac_func(*inp):
        jac = jacobian(ensure_single_output_function, inp, create_graph=True)
        _check_requires_grad(jac, "hessian", strict)
        return jac

    res = jacobian(jac_func, inputs, create_graph=create_graph, strict=strict,
                   vectorize=vectorize, strategy=outer_jacobian_strategy)
    return _tuple_postprocess(res, (is_inputs_tuple, is_inputs_tuple))


def _scalar_output(func, inputs, name):
    is_outputs_tuple, outputs = _call(func, inputs, name)
    if is_outputs_tuple or not isinstance(outputs[0], Tensor):
        raise RuntimeError(f"The function given to {name} should return a single Tensor")
    if outputs[0].numel() != 1:
        raise RuntimeError(f"The Tensor returned by the function given to {name} should contain "
                           f"a single element")
    return outputs


def _scalar_first_derivative(func, inputs, v, create_graph, strict, name):
    """The shared start of vhp and hvp: checked inputs and v, the scalar output and its
    gradient with a graph (to differentiate again)."""
    is_inputs_tuple, inputs = _as_tuple(inputs, "inputs", name)
    inputs = _preprocess(inputs, create_graph, need_graph=True)
    v = _v_tuple(v, name)
    if v is not None:
        v = _preprocess(v, create_graph, need_graph=False)
        _validate_v(v, inputs, is_inputs_tuple)
    elif len(inputs) != 1 or inputs[0].numel() != 1:
        raise RuntimeError("The vector v can only be None if the input to the user-provided "
                           "function is a single Tensor with a single element.")
    outputs = _scalar_output(func, inputs, name)
    _check_requires_grad(outputs, "outputs", strict)
    jac = _autograd_grad(outputs, inputs, create_graph=True)
    _check_requires_grad(jac, "jacobian", strict)
    return is_inputs_tuple, inputs, v, outputs, jac


def vhp(func, inputs, v=None, create_graph=False, strict=False):
    """``(func(inputs), v^T H)`` for a scalar ``func``, as
    ``torch.autograd.functional.vhp``."""
    with enable_grad():
        is_inputs_tuple, inputs, v, outputs, jac = _scalar_first_derivative(
            func, inputs, v, create_graph, strict, "vhp")
        grad_res = _autograd_grad(jac, inputs, v, create_graph=create_graph)
        vhp_ = _fill_in_zeros(grad_res, inputs, strict, create_graph, "double_back")
    outputs = _postprocess(outputs, create_graph)
    vhp_ = _postprocess(vhp_, create_graph)
    return outputs[0], _tuple_postprocess(vhp_, is_inputs_tuple)


def hvp(func, inputs, v=None, create_graph=False, strict=False):
    """``(func(inputs), H v)`` for a scalar ``func``, as ``torch.autograd.functional.hvp``
    (by the double-vjp trick; equal to ``vhp`` for a twice continuously differentiable
    function)."""
    with enable_grad():
        is_inputs_tuple, inputs, v, outputs, jac = _scalar_first_derivative(
            func, inputs, v, create_graph, strict, "hvp")
        grad_jac = tuple(_zeros_like(t, requires_grad=True) for t in inputs)
        double_back = _autograd_grad(jac, inputs, grad_jac, create_graph=True)
        _check_requires_grad(jac, "hessian", strict)
        grad_res = _autograd_grad(double_back, grad_jac, v, create_graph=create_graph)
        hvp_ = _fill_in_zeros(grad_res, inputs, strict, create_graph, "double_back_trick")
    outputs = _postprocess(outputs, create_graph)
    hvp_ = _postprocess(hvp_, create_graph)
    return outputs[0], _tuple_postprocess(hvp_, is_inputs_tuple)
