import pandas as pd
from hamilton.function_modifiers import check_output, extract_columns


@check_output(range=(20.0, 60.0), data_type=float)
def age_mean(age: pd.Series) -> float:
    return float(age.mean())


def age_zero_mean(age: pd.Series, age_mean: float) -> pd.Series:
    return age - age_mean


def age_std_dev(age: pd.Series) -> float:
    return float(age.std())


@check_output(range=(-5.0, 5.0))
def age_zero_mean_unit_variance(age_zero_mean: pd.Series, age_std_dev: float) -> pd.Series:
    return age_zero_mean / age_std_dev


def has_children(son: pd.Series) -> pd.Series:
    return (son > 0).astype(int)


def has_pet(pet: pd.Series) -> pd.Series:
    return (pet > 0).astype(int)


def is_summer(month_of_absence: pd.Series) -> pd.Series:
    return month_of_absence.isin([6, 7, 8]).astype(int)


@extract_columns("day_of_the_week_2", "day_of_the_week_3", "day_of_the_week_4")
def day_of_week_encoded(day_of_the_week: pd.Series) -> pd.DataFrame:
    return pd.get_dummies(day_of_the_week, prefix="day_of_the_week").astype(int)


@extract_columns("seasons_1", "seasons_2", "seasons_3", "seasons_4")
def seasons_encoded(seasons: pd.Series) -> pd.DataFrame:
    return pd.get_dummies(seasons, prefix="seasons").astype(int)
