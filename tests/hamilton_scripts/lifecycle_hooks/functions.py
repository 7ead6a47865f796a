def base(x: int) -> int:
    """x plus one."""
    return x + 1


def doubled(base: int) -> int:
    return base * 2


def described(doubled: int, label: str = "n") -> str:
    return f"{label}={doubled}"


def unused(base: int) -> int:
    return -base
