import pandas as pd
from hamilton.function_modifiers import tag


@tag(owner="marketing", stage=["clean", "report"])
def avg_3wk_spend(spend: pd.Series) -> pd.Series:
    """Rolling three-week average spend."""
    return spend.rolling(3).mean()


@tag(owner="finance")
def spend_per_signup(spend: pd.Series, signups: pd.Series) -> pd.Series:
    """The cost per signup."""
    return spend / signups


def spend_mean(spend: pd.Series) -> float:
    return spend.mean()


def spend_zero_mean(spend: pd.Series, spend_mean: float) -> pd.Series:
    return spend - spend_mean


def spend_std_dev(spend: pd.Series) -> float:
    return spend.std()


def spend_zero_mean_unit_variance(spend_zero_mean: pd.Series, spend_std_dev: float) -> pd.Series:
    return spend_zero_mean / spend_std_dev
