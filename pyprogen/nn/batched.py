"""A stack of S independent MLPs evaluated at once with batched matrix products (``torch.baddbmm``).

Layer ``l`` holds weights ``(S, in, out)`` and biases ``(S, 1, out)``; an input ``(S, B, in)``
becomes ``(S, B, out)``. The networks share no parameters and no inputs, so a loss that *sums*
over the network dimension gives every network exactly the gradient it would get alone — S seeds
of a small experiment train in one pass instead of S (the 1-D stability study).

Built from S ordinary ``nn.Sequential`` MLPs (:meth:`BatchedMLP.from_modules`) or from seeds
(:meth:`BatchedMLP.from_seeds`: network ``i`` is initialised exactly like
``torch.manual_seed(seeds[i]); pyprogen.nn.mlp(sizes)``), so batched and separate runs start equal.
"""
import torch
from torch import nn

from ..seeding import seeded
from .mlp import mlp


class BatchedLinear(nn.Module):
    """S independent affine maps: ``y[s] = x[s] @ weight[s] + bias[s]``."""

    def __init__(self, num_networks, in_features, out_features):
        super().__init__()
        self.weight = nn.Parameter(torch.empty(num_networks, in_features, out_features))
        self.bias = nn.Parameter(torch.empty(num_networks, 1, out_features))

    @classmethod
    def from_linears(cls, linears):
        first = linears[0]
        layer = cls(len(linears), first.in_features, first.out_features)
        with torch.no_grad():
            layer.weight.copy_(torch.stack([lin.weight.detach().t() for lin in linears]))
            layer.bias.copy_(torch.stack([lin.bias.detach().unsqueeze(0) for lin in linears]))
        return layer

    def forward(self, x, index=slice(None)):
        return torch.baddbmm(self.bias[index], x, self.weight[index])


class BatchedMLP(nn.Module):
    """S MLPs of the same ``sizes`` with stacked weights; ``forward(x[, index])``, ``x`` of shape ``(S, B, in)``.

    ``index`` (a slice) evaluates only networks ``index`` of the stack, so one stack can hold the
    networks of several experiments (e.g. two losses) while each loss sees only its own slice.
    """

    def __init__(self, layers, activations):
        super().__init__()
        self.layers = nn.ModuleList(layers)
        self.activations = nn.ModuleList(activations)
        self.num_networks = layers[0].weight.shape[0]

    @classmethod
    def from_modules(cls, modules):
        """Stack S ``nn.Sequential`` MLPs of identical structure (Linear layers and activations)."""
        modules = list(modules)
        linears = [[m for m in seq if isinstance(m, nn.Linear)] for seq in modules]
        layers = [BatchedLinear.from_linears([lin[i] for lin in linears]) for i in range(len(linears[0]))]
        acts = []  # acts[i]: the (parameter-free) modules between Linear i and Linear i+1
        for m in modules[0]:
            if isinstance(m, nn.Linear):
                acts.append([])
            elif not acts or list(m.parameters()):
                raise TypeError("BatchedMLP.from_modules: expected Linear layers with parameter-free "
                                f"activations after them, got {type(m).__name__}")
            else:
                acts[-1].append(m)
        return cls(layers, [nn.Sequential(*a) for a in acts])

    @classmethod
    def from_seeds(cls, sizes, seeds, activation=nn.Tanh, last_activation=None):
        """Network ``i`` = ``mlp(sizes, activation)`` built right after ``torch.manual_seed(seeds[i])``."""
        modules = []
        for seed in seeds:
            with seeded(int(seed)):
                modules.append(mlp(sizes, activation, last_activation))
        return cls.from_modules(modules)

    def forward(self, x, index=slice(None)):
        for i, layer in enumerate(self.layers):
            x = layer(x, index)
            x = self.activations[i](x)
        return x

    def network(self, i):
        """Network ``i`` as an ordinary ``nn.Sequential`` (a copy)."""
        seq = []
        for layer, act in zip(self.layers, self.activations):
            lin = nn.Linear(layer.weight.shape[1], layer.weight.shape[2])
            with torch.no_grad():
                lin.weight.copy_(layer.weight[i].t())
                lin.bias.copy_(layer.bias[i, 0])
            seq.append(lin)
            seq.extend(act)
        return nn.Sequential(*seq)

    def select(self, index):
        """A new stack holding copies of networks ``index`` (a list of positions)."""
        index = torch.as_tensor(index, dtype=torch.long)
        layers = []
        for layer in self.layers:
            new = BatchedLinear(len(index), layer.weight.shape[1], layer.weight.shape[2])
            with torch.no_grad():
                new.weight.copy_(layer.weight[index])
                new.bias.copy_(layer.bias[index])
            layers.append(new)
        return BatchedMLP(layers, [nn.Sequential(*a) for a in self.activations])
