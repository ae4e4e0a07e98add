"""Runtime test helpers: a watch that catches tensor allocations."""

import pytest
import torch
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_leaves


class NewStorageWatch(TorchDispatchMode):
    """Records every op whose result lives in a storage that none of the known buffers owns."""

    def __init__(self, buffers):
        super().__init__()
        self.known = {b.untyped_storage().data_ptr() for b in buffers}
        self.new = []

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        result = func(*args, **(kwargs or {}))
        for t in tree_leaves(result):
            if isinstance(t, torch.Tensor) and t.untyped_storage().data_ptr() not in self.known:
                self.new.append(str(func))
        return result


@pytest.fixture
def new_storage_watch():
    """The NewStorageWatch class: `with new_storage_watch(buffers) as watch: ...; watch.new`."""
    return NewStorageWatch
