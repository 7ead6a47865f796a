"""Invalid: ``alpha -> beta -> gamma -> alpha`` is a cycle (``outside`` is not part of it).

``build()`` must raise ``CycleError`` naming alpha, beta and gamma.
"""


def alpha(gamma: int) -> int:
    return gamma + 1


def beta(alpha: int) -> int:
    return alpha + 1


def gamma(beta: int) -> int:
    return beta + 1


def outside(alpha: int) -> int:
    return alpha
